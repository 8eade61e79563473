//! Unit tests of the OAuth flows: the authorize URL, PKCE, the loopback redirect handler over
//! raw TCP, and both flows end to end against a fake accounts service (axum, in the test,
//! written from RFC 6749/7636/8628 rather than from the simulator).

mod hardening;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::json;
use sha2::Digest as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::loopback::{parse_request_head, Incoming};
use super::*;

const CLIENT: &str = "test-client-id";

fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

fn query_of(url: &str) -> HashMap<String, String> {
    Url::parse(url)
        .expect("url")
        .query_pairs()
        .into_owned()
        .collect()
}

#[test]
fn authorize_url_has_every_parameter() {
    let url = authorize_url(
        "http://127.0.0.1:9/accounts/",
        CLIENT,
        &["streaming", "user-read-private"],
        "http://127.0.0.1:4242/login",
        "st@te",
        "chal",
    )
    .expect("url");
    assert!(
        url.starts_with("http://127.0.0.1:9/accounts/authorize?"),
        "{url}"
    );
    let q = query_of(&url);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT);
    assert_eq!(q["state"], "st@te");
    assert_eq!(q["code_challenge"], "chal");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["redirect_uri"], "http://127.0.0.1:4242/login");
    assert_eq!(q["scope"], "streaming user-read-private");
    assert_eq!(q.len(), 7);
    // The redirect URI and the scope are encoded, not pasted raw.
    assert!(!url.contains("redirect_uri=http://"), "{url}");
}

#[test]
fn authorize_url_rejects_bad_bases() {
    assert!(matches!(
        authorize_url("not a url", CLIENT, &[], "r", "s", "c"),
        Err(AuthError::BadUrl(_))
    ));
    assert!(matches!(
        authorize_url("ftp://x", CLIENT, &[], "r", "s", "c"),
        Err(AuthError::BadUrl(_))
    ));
}

#[test]
fn default_scopes_are_the_librespot_list() {
    assert_eq!(DEFAULT_SCOPES.len(), 26);
    assert!(DEFAULT_SCOPES.contains(&"streaming"));
    assert!(DEFAULT_SCOPES.contains(&"user-read-private"));
    let mut sorted = DEFAULT_SCOPES.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), DEFAULT_SCOPES.len());
}

#[test]
fn pkce_known_answer_from_rfc7636() {
    // RFC 7636 appendix B.
    assert_eq!(
        s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

#[test]
fn pkce_pairs_are_random_and_s256() {
    let a = Pkce::new_random();
    let b = Pkce::new_random();
    assert_ne!(a.verifier(), b.verifier());
    for p in [&a, &b] {
        let v = p.verifier();
        assert!((43..=128).contains(&v.len()), "{}", v.len());
        assert!(v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c)));
        assert_eq!(p.challenge(), s256(v));
    }
    let dbg = format!("{a:?}");
    assert!(!dbg.contains(a.verifier()), "{dbg}");
    assert_ne!(random_state(), random_state());
    assert!(random_state().len() >= 22);
}

#[test]
fn token_debug_is_redacted() {
    let t = OAuthToken {
        access_token: "AT-secret".into(),
        refresh_token: Some("RT-secret".into()),
        expires_at: SystemTime::UNIX_EPOCH,
        scopes: vec!["streaming".into()],
        username: Some("alice".into()),
    };
    let dbg = format!("{t:?}");
    assert!(
        !dbg.contains("AT-secret") && !dbg.contains("RT-secret"),
        "{dbg}"
    );
    assert!(dbg.contains("alice") && dbg.contains("streaming"), "{dbg}");
}

#[test]
fn request_heads_are_parsed() {
    assert!(matches!(
        parse_request_head(b"GET /login?code=a%20b&state=s HTTP/1.1\r\nHost: x"),
        Incoming::Get { ref path, ref query }
            if path == "/login" && query.contains(&("code".into(), "a b".into()))
    ));
    assert!(matches!(
        parse_request_head(b"POST /login HTTP/1.1"),
        Incoming::OtherMethod
    ));
    assert!(matches!(
        parse_request_head(b"GET login HTTP/1.1"),
        Incoming::Malformed
    ));
    assert!(matches!(
        parse_request_head(b"GET /login"),
        Incoming::Malformed
    ));
    assert!(matches!(
        parse_request_head(&[0xff, 0xfe]),
        Incoming::Malformed
    ));
}

// --- the loopback listener over raw TCP ------------------------------------------------------

/// Sends `request` to the listener and returns the whole answer.
async fn send_raw(port: u16, request: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.write_all(request).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

async fn get(port: u16, target: &str) -> String {
    send_raw(
        port,
        format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes(),
    )
    .await
}

async fn listen(timeout: Duration) -> (u16, tokio::task::JoinHandle<Result<Redirect, AuthError>>) {
    let lb = Loopback::bind().await.expect("bind");
    let port = lb.port();
    assert_eq!(lb.redirect_uri(), format!("http://127.0.0.1:{port}/login"));
    let task = tokio::spawn(lb.wait_for_code("good-state", timeout));
    (port, task)
}

#[tokio::test]
async fn good_redirect_after_favicon_and_idle_connection() {
    let (port, task) = listen(Duration::from_secs(10)).await;
    // A speculative connection that never sends anything must not block the real one.
    let _idle = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let fav = get(port, "/favicon.ico").await;
    assert!(fav.starts_with("HTTP/1.1 404"), "{fav}");
    let other = get(port, "/elsewhere").await;
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");
    let post = send_raw(port, b"POST /login HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    assert!(!task.is_finished());

    let browser =
        tokio::spawn(async move { get(port, "/login?code=the-code&state=good-state").await });
    let redirect = task.await.expect("join").expect("redirect");
    assert_eq!(redirect.code(), "the-code");
    assert!(!format!("{redirect:?}").contains("the-code"));
    redirect.finish(Page::success()).await;
    let page = browser.await.expect("join");
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    assert!(
        page.contains("Signed in to tonearm — you can close this tab"),
        "{page}"
    );
    assert!(page.contains("Cache-Control: no-store"), "{page}");
}

#[tokio::test]
async fn state_mismatch_is_refused_with_a_page() {
    let (port, task) = listen(Duration::from_secs(10)).await;
    let page = get(port, "/login?code=the-code&state=evil").await;
    assert!(page.starts_with("HTTP/1.1 400"), "{page}");
    assert!(page.contains("wrong"), "{page}");
    assert!(!page.contains("the-code"), "{page}");
    // Refused, but the sign-in goes on (issue 12): the right redirect still completes it.
    assert!(!task.is_finished());
    let browser = tokio::spawn(async move { get(port, "/login?code=c3&state=good-state").await });
    let redirect = task.await.expect("join").expect("redirect");
    assert_eq!(redirect.code(), "c3");
    redirect.finish(Page::success()).await;
    browser.await.expect("join");
}

#[tokio::test]
async fn missing_state_is_a_mismatch() {
    let (port, task) = listen(Duration::from_millis(1500)).await;
    let page = get(port, "/login?code=c").await;
    assert!(page.starts_with("HTTP/1.1 400"), "{page}");
    assert!(matches!(
        task.await.expect("join"),
        Err(AuthError::StateMismatch { refused: 1, .. })
    ));
}

#[tokio::test]
async fn access_denied_is_reported() {
    let (port, task) = listen(Duration::from_secs(10)).await;
    let page = get(port, "/login?error=access_denied&state=good-state").await;
    assert!(page.starts_with("HTTP/1.1 400"), "{page}");
    assert!(page.contains("access denied"), "{page}");
    assert!(matches!(task.await.expect("join"), Err(AuthError::Denied)));
}

#[tokio::test]
async fn other_errors_are_sanitised() {
    let (port, task) = listen(Duration::from_secs(10)).await;
    let page = get(
        port,
        "/login?error=invalid_scope%3Cscript%3E&state=good-state",
    )
    .await;
    assert!(!page.contains("<script>"), "{page}");
    match task.await.expect("join") {
        Err(AuthError::Authorize(e)) => assert_eq!(e, "invalid_scopescript"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn missing_code_is_reported() {
    let (port, task) = listen(Duration::from_secs(10)).await;
    let page = get(port, "/login?state=good-state").await;
    assert!(page.contains("no authorization code"), "{page}");
    assert!(matches!(
        task.await.expect("join"),
        Err(AuthError::MissingCode)
    ));
}

#[tokio::test]
async fn oversized_requests_are_refused_and_the_wait_goes_on() {
    let (port, task) = listen(Duration::from_secs(10)).await;
    let mut big = b"GET /login?state=good-state&code=x HTTP/1.1\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 3 * MAX_REQUEST_BYTES));
    big.extend_from_slice(b"\r\n\r\n");
    let answer = send_raw(port, &big).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    let garbage = send_raw(port, b"\x16\x03\x01 hello\r\n\r\n").await;
    assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
    assert!(!task.is_finished());
    let browser = tokio::spawn(async move { get(port, "/login?code=c2&state=good-state").await });
    let redirect = task.await.expect("join").expect("redirect");
    assert_eq!(redirect.code(), "c2");
    redirect.finish(Page::success()).await;
    browser.await.expect("join");
}

#[tokio::test]
async fn no_redirect_times_out() {
    let (_port, task) = listen(Duration::from_millis(200)).await;
    assert!(matches!(
        task.await.expect("join"),
        Err(AuthError::RedirectTimeout(_))
    ));
}

// --- a fake accounts service -------------------------------------------------------------------

#[derive(Default)]
struct Fake {
    /// code → (challenge, redirect_uri) as registered at "consent".
    codes: HashMap<String, (String, String)>,
    /// Scripted answers of the device poll, in order; the last one repeats.
    device_script: Vec<&'static str>,
    polls: Vec<Instant>,
    device_requests: Vec<HashMap<String, String>>,
}

type Shared = Arc<Mutex<Fake>>;

fn oauth_error(status: StatusCode, error: &str) -> axum::response::Response {
    (
        status,
        Json(json!({"error": error, "error_description": "from the fake"})),
    )
        .into_response()
}

fn token_json() -> axum::response::Response {
    Json(json!({
        "access_token": "fake-access-token",
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": "fake-refresh-token",
        "scope": "streaming user-read-private",
        "username": "alice"
    }))
    .into_response()
}

async fn token(
    State(fake): State<Shared>,
    Form(form): Form<HashMap<String, String>>,
) -> axum::response::Response {
    let mut fake = fake.lock().expect("lock");
    if form.get("client_id").map(String::as_str) != Some(CLIENT) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some((challenge, redirect)) = form.get("code").and_then(|c| fake.codes.remove(c))
            else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            if s256(&verifier) != challenge || form.get("redirect_uri") != Some(&redirect) {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            token_json()
        }
        Some(DEVICE_GRANT) => {
            if form.get("device_code").map(String::as_str) != Some("dev-code-secret") {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            fake.polls.push(Instant::now());
            let n = fake.polls.len();
            let step = fake
                .device_script
                .get(n - 1)
                .or(fake.device_script.last())
                .copied()
                .unwrap_or("authorization_pending");
            match step {
                "ok" => token_json(),
                e => oauth_error(StatusCode::BAD_REQUEST, e),
            }
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
}

async fn device_authorize(
    State(fake): State<Shared>,
    Form(form): Form<HashMap<String, String>>,
) -> axum::response::Response {
    let expires = form
        .get("scope")
        .map_or(30, |s| if s.contains("short-lived") { 1 } else { 30 });
    fake.lock().expect("lock").device_requests.push(form);
    Json(json!({
        "device_code": "dev-code-secret",
        "user_code": "ABCD-EFGH",
        "verification_uri": "http://127.0.0.1/pair",
        "verification_uri_complete": "http://127.0.0.1/pair?code=ABCD-EFGH",
        "expires_in": expires,
        "interval": 0
    }))
    .into_response()
}

async fn fake_accounts(fake: Shared) -> String {
    let app = Router::new()
        .route("/api/token", post(token))
        .route("/oauth2/device/authorize", post(device_authorize))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// Plays the browser after consent: registers a code for the URL's challenge at the fake and
/// follows the redirect (optionally with another `state`). Returns the page the client served.
fn browser(
    fake: Shared,
    state_override: Option<&'static str>,
) -> (impl FnOnce(&str), tokio::sync::oneshot::Receiver<String>) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let opener = move |url: &str| {
        let q = query_of(url);
        let redirect = q["redirect_uri"].clone();
        fake.lock().expect("lock").codes.insert(
            "code-1".into(),
            (q["code_challenge"].clone(), redirect.clone()),
        );
        let state = state_override.map_or(q["state"].clone(), str::to_string);
        let port = Url::parse(&redirect)
            .expect("redirect")
            .port()
            .expect("port");
        tokio::spawn(async move {
            let page = get(port, &format!("/login?code=code-1&state={state}")).await;
            let _ = tx.send(page);
        });
    };
    (opener, rx)
}

#[tokio::test]
async fn browser_flow_end_to_end_against_a_fake() {
    let fake = Shared::default();
    let base = fake_accounts(fake.clone()).await;
    let (opener, page) = browser(fake.clone(), None);
    let token = browser_pkce(&base, CLIENT, DEFAULT_SCOPES, opener)
        .await
        .expect("signed in");
    assert_eq!(token.access_token, "fake-access-token");
    assert_eq!(token.refresh_token.as_deref(), Some("fake-refresh-token"));
    assert_eq!(token.username.as_deref(), Some("alice"));
    assert_eq!(token.scopes, ["streaming", "user-read-private"]);
    assert!(token.expires_at > SystemTime::now() + Duration::from_secs(3000));
    let page = page.await.expect("page");
    assert!(page.contains("Signed in to tonearm"), "{page}");
}

#[tokio::test]
async fn browser_flow_with_wrong_state_never_exchanges_the_code() {
    let fake = Shared::default();
    let base = fake_accounts(fake.clone()).await;
    let (opener, page) = browser(fake.clone(), Some("forged"));
    let options = BrowserOptions {
        redirect_timeout: Duration::from_secs(2),
    };
    let err = browser_pkce_with(&options, &base, CLIENT, DEFAULT_SCOPES, opener)
        .await
        .expect_err("refused");
    assert!(
        matches!(err, AuthError::StateMismatch { refused: 1, .. }),
        "{err}"
    );
    assert!(page.await.expect("page").starts_with("HTTP/1.1 400"));
    // The code was not spent.
    assert!(fake.lock().expect("lock").codes.contains_key("code-1"));
}

#[tokio::test]
async fn wrong_verifier_is_refused_and_the_browser_is_told() {
    let fake = Shared::default();
    let base = fake_accounts(fake.clone()).await;
    fake.lock().expect("lock").codes.insert(
        "c".into(),
        (s256("right-verifier"), "http://r/login".into()),
    );
    let http = http_client().expect("client");
    let err = exchange_code(
        &http,
        &base,
        CLIENT,
        "c",
        "wrong-verifier",
        "http://r/login",
    )
    .await
    .expect_err("refused");
    match &err {
        AuthError::Refused { status: 400, error } => assert!(error.contains("invalid_grant")),
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains("wrong-verifier"));

    // In the flow: the token endpoint refuses, so the browser page says it failed.
    let (opener, page) = {
        let fake = fake.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let opener = move |url: &str| {
            let q = query_of(url);
            let redirect = q["redirect_uri"].clone();
            // Registered with another challenge: the client's verifier cannot match.
            fake.lock()
                .expect("lock")
                .codes
                .insert("code-1".into(), (s256("other"), redirect.clone()));
            let port = Url::parse(&redirect).expect("url").port().expect("port");
            let state = q["state"].clone();
            tokio::spawn(async move {
                let _ = tx.send(get(port, &format!("/login?code=code-1&state={state}")).await);
            });
        };
        (opener, rx)
    };
    let err = browser_pkce(&base, CLIENT, DEFAULT_SCOPES, opener)
        .await
        .expect_err("refused");
    assert!(matches!(err, AuthError::Refused { .. }), "{err}");
    let page = page.await.expect("page");
    assert!(page.contains("could not be completed"), "{page}");
    assert!(page.contains("invalid_grant"), "{page}");
}

#[tokio::test]
async fn unreachable_accounts_service_is_a_network_error() {
    let http = http_client().expect("client");
    // A port nobody listens on (bound then dropped).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let err = exchange_code(
        &http,
        &format!("http://127.0.0.1:{port}"),
        CLIENT,
        "code",
        "verifier",
        "r",
    )
    .await
    .expect_err("no server");
    assert!(matches!(err, AuthError::Network { .. }), "{err}");
    assert_eq!(err.kind(), crate::ErrorKind::Retry);
}

// --- device flow ---------------------------------------------------------------------------------

fn quick() -> DeviceOptions {
    DeviceOptions {
        default_interval: Duration::from_millis(20),
        slow_down_step: Duration::from_millis(300),
        min_interval: Duration::from_millis(20),
        ..DeviceOptions::default()
    }
}

async fn run_device(
    script: Vec<&'static str>,
    scopes: &[&str],
) -> (Result<OAuthToken, AuthError>, Shared, Option<String>) {
    let fake = Shared::default();
    fake.lock().expect("lock").device_script = script;
    let base = fake_accounts(fake.clone()).await;
    let mut shown = None;
    let result = device_code_with(&quick(), &base, CLIENT, scopes, |code| {
        assert!(!format!("{code:?}").contains("ABCD-EFGH"));
        assert!(!format!("{code:?}").contains("dev-code-secret"));
        shown = Some(format!("{} {}", code.verification_uri, code.user_code));
    })
    .await;
    (result, fake, shown)
}

#[tokio::test]
async fn device_flow_pending_then_slow_down_then_success() {
    let (result, fake, shown) = run_device(
        vec![
            "authorization_pending",
            "slow_down",
            "authorization_pending",
            "ok",
        ],
        &["streaming"],
    )
    .await;
    let token = result.expect("token");
    assert_eq!(token.username.as_deref(), Some("alice"));
    assert_eq!(shown.as_deref(), Some("http://127.0.0.1/pair ABCD-EFGH"));
    let fake = fake.lock().expect("lock");
    assert_eq!(fake.device_requests[0]["client_id"], CLIENT);
    assert_eq!(fake.device_requests[0]["scope"], "streaming");
    assert_eq!(fake.polls.len(), 4);
    // After slow_down, each gap grows by the step.
    let gap = |i: usize| fake.polls[i] - fake.polls[i - 1];
    assert!(gap(1) < Duration::from_millis(250), "{:?}", gap(1));
    assert!(gap(2) >= Duration::from_millis(300), "{:?}", gap(2));
    assert!(gap(3) >= Duration::from_millis(300), "{:?}", gap(3));
}

#[tokio::test]
async fn device_flow_expired_token_stops() {
    let (result, fake, _) = run_device(vec!["authorization_pending", "expired_token"], &[]).await;
    let err = result.expect_err("expired");
    assert!(matches!(err, AuthError::Expired), "{err}");
    assert!(err.to_string().contains("--device"));
    assert_eq!(fake.lock().expect("lock").polls.len(), 2);
}

#[tokio::test]
async fn device_flow_access_denied_stops() {
    let (result, _, _) = run_device(vec!["access_denied"], &[]).await;
    assert!(matches!(result, Err(AuthError::Denied)));
}

#[tokio::test]
async fn device_flow_unknown_error_stops() {
    let (result, _, _) = run_device(vec!["invalid_client"], &[]).await;
    match result {
        Err(AuthError::Refused { error, .. }) => assert!(error.contains("invalid_client")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn device_flow_gives_up_when_the_code_lifetime_ends() {
    // The fake gives a 1 s lifetime for this scope and never approves.
    let started = Instant::now();
    let (result, fake, _) = run_device(vec!["authorization_pending"], &["short-lived"]).await;
    assert!(matches!(result, Err(AuthError::Expired)));
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(!fake.lock().expect("lock").polls.is_empty());
}
