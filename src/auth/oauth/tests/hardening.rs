//! Tests of what issue 12 asked of the OAuth code: a `/login` with a wrong or missing `state`
//! (from any local process or web page) is answered 400 and never ends the sign-in, and every
//! duration the accounts service sends (`expires_in`, the device flow's `expires_in` and
//! `interval`) is bounded before it meets a clock — property tests over those fields.

use proptest::prelude::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::super::device::{parse_device_code, slowed_down};
use super::super::loopback::check_redirect;
use super::super::*;

async fn get(port: u16, target: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.write_all(format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

async fn listen(timeout: Duration) -> (u16, tokio::task::JoinHandle<Result<Redirect, AuthError>>) {
    let lb = Loopback::bind().await.expect("bind");
    let port = lb.port();
    (
        port,
        tokio::spawn(lb.wait_for_code("the-right-state", timeout)),
    )
}

#[tokio::test]
async fn stray_redirects_get_400_and_the_sign_in_goes_on() {
    let (port, task) = listen(Duration::from_secs(20)).await;
    for stray in [
        "/login?state=wrong",
        "/login?state=wrong&code=attacker-code",
        // A forged refusal must not end the sign-in either.
        "/login?state=wrong&error=access_denied",
        "/login?error=server_error",
        "/login?code=c",
        // Same length as the right state, one byte off.
        "/login?state=the-right-statf&code=c",
        "/login?state=the-right-state-and-more&code=c",
        "/login?state=&code=c",
    ] {
        let page = get(port, stray).await;
        assert!(
            page.starts_with("HTTP/1.1 400 Bad Request"),
            "{stray}: {page}"
        );
        assert!(page.contains("wrong `state`"), "{stray}: {page}");
        assert!(page.contains("still waiting"), "{stray}: {page}");
        assert!(!page.contains("attacker-code"), "{page}");
        assert!(!task.is_finished(), "{stray} ended the wait");
    }
    let browser =
        tokio::spawn(async move { get(port, "/login?code=the-code&state=the-right-state").await });
    let redirect = task.await.expect("join").expect("the right redirect wins");
    assert_eq!(redirect.code(), "the-code");
    redirect.finish(Page::success()).await;
    assert!(browser.await.expect("join").starts_with("HTTP/1.1 200 OK"));
}

#[tokio::test]
async fn a_burst_of_wrong_states_does_not_lock_out_the_browser() {
    let (port, task) = listen(Duration::from_secs(30)).await;
    let strays: Vec<_> = (0..64)
        .map(|i| tokio::spawn(async move { get(port, &format!("/login?state=x{i}")).await }))
        .collect();
    for s in strays {
        let page = s.await.expect("join");
        // A connection may be dropped when all slots are busy; none may end the sign-in.
        assert!(
            page.is_empty() || page.starts_with("HTTP/1.1 400"),
            "{page}"
        );
    }
    assert!(!task.is_finished());
    let browser =
        tokio::spawn(async move { get(port, "/login?code=c9&state=the-right-state").await });
    let redirect = task.await.expect("join").expect("redirect");
    assert_eq!(redirect.code(), "c9");
    redirect.finish(Page::success()).await;
    browser.await.expect("join");
}

#[tokio::test]
async fn the_timeout_after_refusals_says_so() {
    let (port, task) = listen(Duration::from_millis(1500)).await;
    get(port, "/login?state=old-tab&code=c").await;
    get(port, "/login?state=older-tab&code=c").await;
    let err = task.await.expect("join").expect_err("no right redirect");
    assert!(
        matches!(
            err,
            AuthError::StateMismatch {
                refused: 2,
                waited_secs: 1
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("2 redirect(s) carried the wrong `state`"),
        "{text}"
    );
    // Nothing refused: the plain timeout.
    let (_port, task) = listen(Duration::from_millis(200)).await;
    assert!(matches!(
        task.await.expect("join"),
        Err(AuthError::RedirectTimeout(0))
    ));
}

#[test]
fn a_huge_timeout_does_not_panic() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let lb = Loopback::bind().await.expect("bind");
        let port = lb.port();
        let task = tokio::spawn(lb.wait_for_code("s", Duration::MAX));
        let browser = tokio::spawn(async move { get(port, "/login?code=c&state=s").await });
        let redirect = task.await.expect("join").expect("redirect");
        redirect.finish(Page::success()).await;
        browser.await.expect("join");
    });
}

fn device_body(expires_in: &serde_json::Value, interval: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "device_code": "d",
        "user_code": "U-C",
        "verification_uri": "http://127.0.0.1/pair",
        "expires_in": expires_in,
        "interval": interval,
    }))
    .expect("json")
}

/// Any JSON a server might put in a number-of-seconds field.
fn seconds_value() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        any::<u64>().prop_map(|v| json!(v)),
        any::<i64>().prop_map(|v| json!(v)),
        any::<f64>().prop_map(|v| json!(v)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(1e300)),
        Just(json!(-1e300)),
        Just(json!(null)),
        Just(json!("3600")),
        Just(json!(true)),
    ]
}

#[test]
fn known_device_timings() {
    let o = DeviceOptions::default();
    let code =
        parse_device_code(&device_body(&json!(u64::MAX), &json!(u64::MAX)), &o).expect("parses");
    assert_eq!(code.expires_in, MAX_DEVICE_CODE_LIFETIME);
    assert_eq!(code.interval, MAX_POLL_INTERVAL);
    let code = parse_device_code(&device_body(&json!(-5), &json!(-5)), &o).expect("parses");
    assert_eq!(code.expires_in, o.default_expiry);
    assert_eq!(code.interval, o.min_interval);
    let code = parse_device_code(&device_body(&json!(900), &json!(7)), &o).expect("parses");
    assert_eq!(code.expires_in, Duration::from_secs(900));
    assert_eq!(code.interval, Duration::from_secs(7));
    assert_eq!(
        slowed_down(Duration::from_secs(58), Duration::from_secs(5)),
        MAX_POLL_INTERVAL
    );
    let token = parse_token(br#"{"access_token":"a","expires_in":1e300}"#).expect("token");
    assert!(token.expires_at <= SystemTime::now() + Duration::from_secs(24 * 3600));
    let token = parse_token(br#"{"access_token":"a","expires_in":-7}"#).expect("token");
    assert!(token.expires_at <= SystemTime::now() + Duration::from_secs(2));
}

proptest! {
    /// No query without the right `state` ends the wait, whatever else it carries.
    #[test]
    fn no_query_without_the_state_ends_the_wait(
        pairs in proptest::collection::vec(
            (prop_oneof![
                Just("state".to_string()),
                Just("code".to_string()),
                Just("error".to_string()),
                "[a-z_]{1,8}",
            ], "[ -~]{0,24}"),
            0..6,
        )
    ) {
        // Longer than any generated value, so never among them.
        let expected = "Zq3_right-state-0123456789abcdef";
        prop_assert!(matches!(check_redirect(&pairs, expected), Ok(None)));
    }

    /// With the right `state` first, the answer is decided by `error` and `code` only.
    #[test]
    fn the_right_state_decides(code in "[ -~]{0,24}", error in proptest::option::of("[a-z_]{1,12}")) {
        let expected = "right";
        let mut pairs = vec![("state".to_string(), expected.to_string())];
        pairs.push(("code".to_string(), code.clone()));
        if let Some(e) = &error {
            pairs.push(("error".to_string(), e.clone()));
        }
        match (check_redirect(&pairs, expected), error) {
            (Err(AuthError::Denied), Some(e)) => prop_assert_eq!(e, "access_denied"),
            (Err(AuthError::Authorize(_)), Some(e)) => prop_assert_ne!(e, "access_denied"),
            (Ok(Some(c)), None) => prop_assert_eq!(c, code),
            (Err(AuthError::MissingCode), None) => prop_assert!(code.is_empty()),
            (other, e) => prop_assert!(false, "{other:?} for error {e:?}"),
        }
    }

    /// Every `expires_in` a token answer can carry gives a token whose expiry is at most a day
    /// away; none panics.
    #[test]
    fn token_lifetimes_are_bounded(v in seconds_value()) {
        let body = serde_json::to_vec(&json!({"access_token": "a", "expires_in": v}))
            .expect("json");
        let before = SystemTime::now();
        let token = parse_token(&body).expect("a token whatever expires_in says");
        prop_assert!(token.expires_at >= before);
        prop_assert!(token.expires_at <= SystemTime::now() + Duration::from_secs(24 * 3600));
    }

    /// Every device-code `expires_in`/`interval` pair is bounded, and the polling arithmetic on
    /// it (deadline, interval, any number of `slow_down`s) never panics or leaves the bounds.
    #[test]
    fn device_timings_are_bounded(e in seconds_value(), i in seconds_value(), slow_downs in 0usize..40) {
        let o = DeviceOptions::default();
        let code = parse_device_code(&device_body(&e, &i), &o).expect("parses");
        prop_assert!(code.expires_in >= Duration::from_secs(1));
        prop_assert!(code.expires_in <= MAX_DEVICE_CODE_LIFETIME);
        prop_assert!(code.interval >= o.min_interval && code.interval <= MAX_POLL_INTERVAL);
        let now = tokio::time::Instant::now();
        let deadline = now.later_by(code.expires_in);
        prop_assert_eq!(deadline, now + code.expires_in);
        let mut interval = code.interval;
        for _ in 0..slow_downs {
            interval = slowed_down(interval, o.slow_down_step);
            prop_assert!(interval <= MAX_POLL_INTERVAL);
            let _ = now.later_by(interval) > deadline;
        }
    }
}
