//! TokenProvider, client-token and login5 against in-test axum servers on 127.0.0.1.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use librespot_protocol::clienttoken_http::{
    challenge, client_token_request, ChallengeType, ClientTokenRequest, ClientTokenRequestType,
    ClientTokenResponse, ClientTokenResponseType, HashCashParameters,
};
use librespot_protocol::connectivity::platform_specific_data;
use librespot_protocol::login5::{
    challenge_solution, login_request, Challenge, LoginError, LoginRequest, LoginResponse,
};
use protobuf::Message;
use sha1::{Digest, Sha1};

use super::*;
use crate::api::hashcash;
use crate::api::tests::{
    account, endpoints, fast_timing, granted, login_ok, serve, TokenCounters, STORED,
};

fn provider(base: &str) -> TokenProvider {
    TokenProvider::with_account(account(), endpoints(base), reqwest::Client::new())
        .with_timing(fast_timing())
}

/// A server whose login5 handler is `login` (request, headers, n-th call) and whose
/// client-token always grants `ct-1`.
async fn login_server<F>(login: F) -> (String, Arc<AtomicUsize>)
where
    F: Fn(LoginRequest, HeaderMap, usize) -> (StatusCode, Vec<u8>) + Send + Sync + 'static,
{
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let login = Arc::new(login);
    let router = Router::new()
        .route(
            "/v1/clienttoken",
            post(|| async { (StatusCode::OK, granted("ct-1", 7200)) }),
        )
        .route(
            "/v3/login",
            post(move |headers: HeaderMap, body: Bytes| {
                let c = c.clone();
                let login = login.clone();
                async move {
                    let n = c.fetch_add(1, Ordering::SeqCst) + 1;
                    let req = LoginRequest::parse_from_bytes(&body).expect("a LoginRequest");
                    login(req, headers, n)
                }
            }),
        );
    (serve(router).await, count)
}

fn login_error(e: LoginError) -> Vec<u8> {
    let mut r = LoginResponse::new();
    r.set_error(e);
    r.write_to_bytes().expect("encode")
}

#[tokio::test]
async fn client_token_request_shape_and_caching() {
    let seen: Arc<Mutex<Vec<(ClientTokenRequest, HeaderMap)>>> = Arc::default();
    let s = seen.clone();
    let router = Router::new().route(
        "/v1/clienttoken",
        post(move |headers: HeaderMap, body: Bytes| {
            let s = s.clone();
            async move {
                let req = ClientTokenRequest::parse_from_bytes(&body).expect("request");
                s.lock().expect("lock").push((req, headers));
                (StatusCode::OK, granted("ct-secret", 7200))
            }
        }),
    );
    let base = serve(router).await;
    let p = provider(&base);
    assert_eq!(p.client_token().await.expect("token"), "ct-secret");
    assert_eq!(p.clone().client_token().await.expect("cached"), "ct-secret");
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), 1, "the second call must come from the cache");
    let (req, headers) = &seen[0];
    assert_eq!(
        req.request_type.enum_value(),
        Ok(ClientTokenRequestType::REQUEST_CLIENT_DATA_REQUEST)
    );
    let Some(client_token_request::Request::ClientData(data)) = &req.request else {
        panic!("client data expected");
    };
    assert_eq!(data.client_version, "1.2.52.442");
    assert_eq!(data.client_id, crate::config::SPOTIFY_CLIENT_ID);
    let sdk = data.connectivity_sdk_data();
    assert_eq!(sdk.device_id, "d".repeat(40));
    let Some(platform_specific_data::Data::DesktopLinux(linux)) = &sdk.platform_specific_data.data
    else {
        panic!("desktop_linux expected");
    };
    assert_eq!(linux.system_name, "Linux");
    assert!(!linux.hardware.is_empty());
    assert_eq!(headers["accept"], "application/x-protobuf");
    assert!(headers.get("content-type").is_none());
    assert!(headers["user-agent"]
        .to_str()
        .expect("ascii")
        .starts_with("Spotify/"));
}

#[tokio::test]
async fn client_token_refreshes_after_refresh_after() {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let router = Router::new().route(
        "/v1/clienttoken",
        post(move || {
            let c = c.clone();
            async move {
                let n = c.fetch_add(1, Ordering::SeqCst) + 1;
                (StatusCode::OK, granted(&format!("ct-{n}"), 1))
            }
        }),
    );
    let p = provider(&serve(router).await);
    assert_eq!(p.client_token().await.expect("1"), "ct-1");
    assert_eq!(p.client_token().await.expect("cached"), "ct-1");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(p.client_token().await.expect("2"), "ct-2");
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

fn ct_challenge(state: &str, prefix_hex: &str, length: i32) -> Vec<u8> {
    let mut r = ClientTokenResponse::new();
    r.response_type = ClientTokenResponseType::RESPONSE_CHALLENGES_RESPONSE.into();
    let c = r.mut_challenges();
    c.state = state.into();
    let mut ch = librespot_protocol::clienttoken_http::Challenge::new();
    ch.type_ = ChallengeType::CHALLENGE_HASH_CASH.into();
    let mut p = HashCashParameters::new();
    p.prefix = prefix_hex.into();
    p.length = length;
    ch.parameters = Some(challenge::Parameters::EvaluateHashcashParameters(p));
    c.challenges.push(ch);
    r.write_to_bytes().expect("encode")
}

#[tokio::test]
async fn client_token_answers_a_hashcash_challenge() {
    const PREFIX: &str = "0123456789ABCDEF0123456789abcdef";
    let answers: Arc<Mutex<Vec<String>>> = Arc::default();
    let a = answers.clone();
    let router = Router::new().route(
        "/v1/clienttoken",
        post(move |body: Bytes| {
            let a = a.clone();
            async move {
                let req = ClientTokenRequest::parse_from_bytes(&body).expect("request");
                match req.request {
                    Some(client_token_request::Request::ClientData(_)) => {
                        (StatusCode::OK, ct_challenge("state-7", PREFIX, 12))
                    }
                    Some(client_token_request::Request::ChallengeAnswers(ans)) => {
                        assert_eq!(
                            req.request_type.enum_value(),
                            Ok(ClientTokenRequestType::REQUEST_CHALLENGE_ANSWERS_REQUEST)
                        );
                        assert_eq!(ans.state, "state-7");
                        let answer = &ans.answers[0];
                        assert_eq!(
                            answer.ChallengeType.enum_value(),
                            Ok(ChallengeType::CHALLENGE_HASH_CASH)
                        );
                        let suffix = answer.hash_cash().suffix.clone();
                        a.lock().expect("lock").push(suffix.clone());
                        let bytes = hex::decode(&suffix).expect("hex");
                        let prefix = hex::decode(PREFIX).expect("hex");
                        if suffix.len() == 32
                            && suffix == suffix.to_uppercase()
                            && hashcash::verify(&prefix, &bytes, 12)
                        {
                            (StatusCode::OK, granted("ct-earned", 7200))
                        } else {
                            (StatusCode::BAD_REQUEST, Vec::new())
                        }
                    }
                    _ => (StatusCode::BAD_REQUEST, Vec::new()),
                }
            }
        }),
    );
    let p = provider(&serve(router).await);
    assert_eq!(p.client_token().await.expect("granted"), "ct-earned");
    // Known answer from assets/fixtures/hashcash_kat.py (empty ctx, this prefix, 12 bits).
    assert_eq!(
        answers.lock().expect("lock").as_slice(),
        ["95601890AFD81E910000000000001788"]
    );
}

#[tokio::test]
async fn client_token_gives_up_after_three_answers() {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let router = Router::new().route(
        "/v1/clienttoken",
        post(move || {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                (StatusCode::OK, ct_challenge("s", "00", 1))
            }
        }),
    );
    let p = provider(&serve(router).await);
    let e = p.client_token().await.expect_err("never granted");
    assert!(matches!(e, ApiError::ClientToken(_)), "{e:?}");
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn client_token_rejects_bad_prefix_and_garbage() {
    let router = Router::new().route(
        "/v1/clienttoken",
        post(|| async { (StatusCode::OK, ct_challenge("s", "not hex", 1)) }),
    );
    let e = provider(&serve(router).await)
        .client_token()
        .await
        .expect_err("bad prefix");
    assert!(matches!(e, ApiError::ClientToken(_)), "{e:?}");
    let router = Router::new().route(
        "/v1/clienttoken",
        post(|| async { (StatusCode::OK, vec![0xff, 0xff, 0xff]) }),
    );
    let e = provider(&serve(router).await)
        .client_token()
        .await
        .expect_err("garbage");
    assert!(matches!(e, ApiError::Malformed(_)), "{e:?}");
}

#[tokio::test]
async fn login5_request_shape_and_caching() {
    let (base, count) = login_server(|req, headers, _| {
        assert_eq!(req.client_info.client_id, crate::config::SPOTIFY_CLIENT_ID);
        assert_eq!(req.client_info.device_id, "d".repeat(40));
        let Some(login_request::Login_method::StoredCredential(c)) = &req.login_method else {
            panic!("stored credential expected");
        };
        assert_eq!(c.username, "alice");
        assert_eq!(c.data, STORED);
        assert_eq!(headers["client-token"], "ct-1");
        assert_eq!(headers["accept"], "application/x-protobuf");
        assert!(headers.get("content-type").is_none());
        assert!(headers.contains_key("user-agent"));
        (StatusCode::OK, login_ok("at-secret", 3600))
    })
    .await;
    let p = provider(&base);
    let before = Instant::now();
    let t = p.access_token().await.expect("token");
    assert_eq!(t.token, "at-secret");
    assert!(t.expires_at >= before + Duration::from_secs(3590));
    assert_eq!(p.access_token().await.expect("cached"), t);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    // Nothing secret in Debug.
    let dbg = format!("{t:?} {p:?} {:?}", account());
    assert!(
        !dbg.contains("at-secret") && !dbg.contains("stored-credential"),
        "{dbg}"
    );
}

#[tokio::test]
async fn login5_solves_a_hashcash_challenge() {
    let prefix = hex::decode("00112233445566778899aabbccddeeff").expect("hex");
    let p2 = prefix.clone();
    let (base, count) = login_server(move |req, _, n| {
        if n == 1 {
            assert!(req.login_context.is_empty());
            let mut r = LoginResponse::new();
            r.login_context = b"login-context-1".to_vec();
            let mut ch = Challenge::new();
            ch.mut_hashcash().prefix = p2.clone();
            ch.mut_hashcash().length = 10;
            r.mut_challenges().challenges.push(ch);
            return (StatusCode::OK, r.write_to_bytes().expect("encode"));
        }
        assert_eq!(req.login_context, b"login-context-1");
        let sols = &req.challenge_solutions.solutions;
        assert_eq!(sols.len(), 1);
        let Some(challenge_solution::Solution::Hashcash(h)) = &sols[0].solution else {
            panic!("hashcash solution expected");
        };
        assert!(h.duration.is_some());
        // Checked from first principles: trailing zero bits, and target = SHA1(ctx)[12..20].
        assert!(hashcash::verify(&p2, &h.suffix, 10));
        let digest = Sha1::digest(b"login-context-1");
        let target = i64::from_be_bytes(digest[12..20].try_into().expect("8"));
        let first = i64::from_be_bytes(h.suffix[..8].try_into().expect("8"));
        let counter = i64::from_be_bytes(h.suffix[8..].try_into().expect("8"));
        assert_eq!(first, target.wrapping_add(counter));
        // And the known answer from assets/fixtures/hashcash_kat.py.
        assert_eq!(hex::encode(&h.suffix), "fd0b7400f60946ba0000000000000019");
        (StatusCode::OK, login_ok("at-earned", 3600))
    })
    .await;
    let _ = prefix;
    let t = provider(&base).access_token().await.expect("token");
    assert_eq!(t.token, "at-earned");
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn login5_waits_after_timeout_errors() {
    let (base, count) = login_server(|_, _, n| match n {
        1 => (StatusCode::OK, login_error(LoginError::TIMEOUT)),
        2 => (StatusCode::OK, login_error(LoginError::TOO_MANY_ATTEMPTS)),
        _ => (StatusCode::OK, login_ok("at-3", 3600)),
    })
    .await;
    let started = Instant::now();
    let t = provider(&base)
        .access_token()
        .await
        .expect("third time lucky");
    assert_eq!(t.token, "at-3");
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "two 50 ms waits"
    );
}

#[tokio::test]
async fn login5_gives_up_after_three_requests() {
    let (base, count) =
        login_server(|_, _, _| (StatusCode::OK, login_error(LoginError::TOO_MANY_ATTEMPTS))).await;
    let e = provider(&base).access_token().await.expect_err("gives up");
    assert!(matches!(e, ApiError::Login5(_)), "{e:?}");
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn login5_errors_are_final_and_clear() {
    for (code, check) in [
        (
            LoginError::INVALID_CREDENTIALS,
            (|e: &ApiError| matches!(e, ApiError::BadCredentials(_))) as fn(&ApiError) -> bool,
        ),
        (LoginError::BAD_REQUEST, |e| {
            matches!(e, ApiError::Login5(_))
        }),
        (LoginError::TRY_AGAIN_LATER, |e| {
            matches!(e, ApiError::Unavailable(_))
        }),
    ] {
        let (base, count) = login_server(move |_, _, _| (StatusCode::OK, login_error(code))).await;
        let e = provider(&base).access_token().await.expect_err("refused");
        assert!(check(&e), "{code:?} → {e:?}");
        assert!(!e.to_string().contains("stored-credential"));
        assert_eq!(count.load(Ordering::SeqCst), 1, "{code:?} is not retried");
    }
    // A code challenge cannot be answered.
    let (base, _) = login_server(|_, _, _| {
        let mut r = LoginResponse::new();
        let mut ch = Challenge::new();
        ch.mut_code();
        r.mut_challenges().challenges.push(ch);
        (StatusCode::OK, r.write_to_bytes().expect("encode"))
    })
    .await;
    let e = provider(&base).access_token().await.expect_err("code");
    assert!(
        matches!(e, ApiError::Login5(ref m) if m.contains("code")),
        "{e:?}"
    );
    // Garbage and HTTP errors.
    let (base, _) = login_server(|_, _, _| (StatusCode::OK, vec![0xff; 3])).await;
    let e = provider(&base).access_token().await.expect_err("garbage");
    assert!(matches!(e, ApiError::Malformed(_)), "{e:?}");
    let (base, _) = login_server(|_, _, _| (StatusCode::SERVICE_UNAVAILABLE, Vec::new())).await;
    let e = provider(&base).access_token().await.expect_err("503");
    assert!(matches!(e, ApiError::Unavailable(_)), "{e:?}");
}

#[tokio::test]
async fn login5_needs_a_client_token() {
    let logins = Arc::new(AtomicUsize::new(0));
    let l = logins.clone();
    let router = Router::new()
        .route(
            "/v1/clienttoken",
            post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, Vec::new()) }),
        )
        .route(
            "/v3/login",
            post(move || {
                let l = l.clone();
                async move {
                    l.fetch_add(1, Ordering::SeqCst);
                    (StatusCode::OK, login_ok("at", 3600))
                }
            }),
        );
    let e = provider(&serve(router).await)
        .access_token()
        .await
        .expect_err("no client token");
    assert!(matches!(e, ApiError::Unavailable(_)), "{e:?}");
    assert_eq!(logins.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn single_flight_under_concurrency() {
    let counters = Arc::new(TokenCounters::default());
    let (c1, c2) = (counters.clone(), counters.clone());
    // A slow login5 so that all callers arrive while the first request is in flight.
    let router = Router::new()
        .route(
            "/v1/clienttoken",
            post(move || {
                let c = c1.clone();
                async move {
                    c.client_tokens.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    (StatusCode::OK, granted("ct-1", 7200))
                }
            }),
        )
        .route(
            "/v3/login",
            post(move || {
                let c = c2.clone();
                async move {
                    let n = c.logins.fetch_add(1, Ordering::SeqCst) + 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    (StatusCode::OK, login_ok(&format!("at-{n}"), 3600))
                }
            }),
        );
    let p = provider(&serve(router).await);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { p.access_token().await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.expect("join").expect("token").token, "at-1");
    }
    assert_eq!(counters.logins(), 1);
    assert_eq!(counters.client_tokens(), 1);
}

#[tokio::test]
async fn expiry_margin_and_invalidate() {
    // A token that lives 5 s is inside the 10 s margin: never served from the cache.
    let (base, count) =
        login_server(|_, _, n| (StatusCode::OK, login_ok(&format!("at-{n}"), 5))).await;
    let p = provider(&base);
    assert_eq!(p.access_token().await.expect("1").token, "at-1");
    assert_eq!(p.access_token().await.expect("2").token, "at-2");
    assert_eq!(count.load(Ordering::SeqCst), 2);

    // expires_in 0 means the default hour; invalidate forces a new login.
    let (base, count) =
        login_server(|_, _, n| (StatusCode::OK, login_ok(&format!("at-{n}"), 0))).await;
    let p = provider(&base);
    let t = p.access_token().await.expect("1");
    assert!(t.expires_at > Instant::now() + Duration::from_secs(3500));
    assert_eq!(p.access_token().await.expect("cached").token, "at-1");
    assert!(p.invalidate(&t.token));
    assert_eq!(p.access_token().await.expect("new").token, "at-2");
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn invalidate_re_mints_the_client_token_too() {
    let counters = Arc::new(TokenCounters::default());
    let base = serve(crate::api::tests::token_routes(counters.clone())).await;
    let p = provider(&base);
    assert_eq!(p.access_token().await.expect("1").token, "at-1");
    assert!(p.invalidate("at-1"));
    assert_eq!(p.access_token().await.expect("2").token, "at-2");
    assert_eq!(counters.client_tokens(), 2, "the client-token is re-minted");
    assert_eq!(counters.logins(), 2);
}

#[tokio::test]
async fn a_refused_client_token_is_re_minted_once_by_login5() {
    // login5 answers 401 to the first request (a revoked client-token), then grants.
    let cts = Arc::new(AtomicUsize::new(0));
    let c = cts.clone();
    let logins = Arc::new(AtomicUsize::new(0));
    let l = logins.clone();
    let router = Router::new()
        .route(
            "/v1/clienttoken",
            post(move || {
                let c = c.clone();
                async move {
                    let n = c.fetch_add(1, Ordering::SeqCst) + 1;
                    (StatusCode::OK, granted(&format!("ct-{n}"), 7200))
                }
            }),
        )
        .route(
            "/v3/login",
            post(move |headers: HeaderMap| {
                let l = l.clone();
                async move {
                    l.fetch_add(1, Ordering::SeqCst);
                    match headers.get("client-token").and_then(|v| v.to_str().ok()) {
                        Some("ct-1") => (StatusCode::UNAUTHORIZED, Vec::new()),
                        _ => (StatusCode::OK, login_ok("at-ok", 3600)),
                    }
                }
            }),
        );
    let p = provider(&serve(router).await);
    assert_eq!(p.access_token().await.expect("healed").token, "at-ok");
    assert_eq!(cts.load(Ordering::SeqCst), 2);
    assert_eq!(logins.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn re_mints_after_refusals_are_bounded_per_window() {
    let counters = Arc::new(TokenCounters::default());
    let base = serve(crate::api::tests::token_routes(counters.clone())).await;
    let p = provider(&base).with_remint_window(Duration::from_millis(400));
    for _ in 0..MAX_REMINTS {
        let t = p.access_token().await.expect("token");
        assert!(p.invalidate(&t.token));
    }
    let before = counters.logins();
    let e = p.access_token().await.expect_err("budget spent");
    assert!(matches!(e, ApiError::TokenRefused { .. }), "{e:?}");
    assert_eq!(e.kind(), crate::ErrorKind::Retry);
    // Invalidating with nothing cached does not count again, and nothing reached the server.
    assert!(!p.invalidate("at-1"));
    assert_eq!(counters.logins(), before);
    tokio::time::sleep(Duration::from_millis(450)).await;
    p.access_token().await.expect("the window has room again");
    assert_eq!(counters.logins(), before + 1);
}

fn refusals(p: &TokenProvider) -> usize {
    lock(&p.inner.refusals).len()
}

/// Two callers refused with the same token (an outage ended: the server forgot it) cost one
/// re-mint, whether the second one reports it before or after the first one's new token.
#[tokio::test]
async fn two_callers_refused_with_the_same_token_re_mint_once() {
    let counters = Arc::new(TokenCounters::default());
    let base = serve(crate::api::tests::token_routes(counters.clone())).await;
    let p = provider(&base);
    let t1 = p.access_token().await.expect("1");

    // Both report the refusal before either asks again; then both ask at once.
    assert!(p.invalidate(&t1.token), "the first report drops it");
    assert!(!p.invalidate(&t1.token), "the second finds nothing to drop");
    let (a, b) = tokio::join!(p.access_token(), p.access_token());
    assert_eq!(a.expect("a").token, "at-2");
    assert_eq!(b.expect("b").token, "at-2");
    assert_eq!(counters.logins(), 2);
    assert_eq!(counters.client_tokens(), 2);
    assert_eq!(refusals(&p), 1, "one re-mint counted");
}

/// A caller whose request carried an old token reports the refusal after another caller has
/// already minted a new one: the new token stays, nothing is minted, nothing is counted.
#[tokio::test]
async fn a_refusal_of_an_old_token_keeps_the_new_one() {
    let counters = Arc::new(TokenCounters::default());
    let base = serve(crate::api::tests::token_routes(counters.clone())).await;
    let p = provider(&base);
    let t1 = p.access_token().await.expect("1");
    assert!(p.invalidate(&t1.token));
    let t2 = p.access_token().await.expect("2");
    assert_eq!(t2.token, "at-2");

    assert!(!p.invalidate(&t1.token), "a stale refusal drops nothing");
    assert_eq!(p.access_token().await.expect("cached").token, "at-2");
    assert_eq!(counters.logins(), 2, "no re-mint");
    assert_eq!(counters.client_tokens(), 2, "the client-token stays too");
    assert_eq!(refusals(&p), 1);
    // Many more stale reports (every service saw the outage) spend no budget.
    for _ in 0..(MAX_REMINTS * 3) {
        assert!(!p.invalidate(&t1.token));
    }
    assert_eq!(refusals(&p), 1);
    assert_eq!(p.access_token().await.expect("still cached").token, "at-2");
}

/// A server that refuses every token it hands out (each new one is refused as soon as it is
/// used): a caller that keeps asking is stopped by the re-mint budget, without another
/// request to the server, and the answer says when to try again.
#[tokio::test]
async fn a_real_refusal_loop_is_stopped_by_the_budget() {
    let counters = Arc::new(TokenCounters::default());
    let base = serve(crate::api::tests::token_routes(counters.clone())).await;
    let p = provider(&base);
    let mut refused = 0;
    let mut stopped = None;
    for _ in 0..20 {
        match p.access_token().await {
            Ok(t) => {
                // The server said 401 to it.
                assert!(p.invalidate(&t.token));
                refused += 1;
            }
            Err(e) => {
                stopped = Some(e);
                break;
            }
        }
    }
    assert_eq!(refused, MAX_REMINTS, "each refused token counts once");
    assert_eq!(
        counters.logins(),
        MAX_REMINTS,
        "no login5 request past the budget"
    );
    match stopped {
        Some(ApiError::TokenRefused { retry_in }) => {
            assert!(
                retry_in > Duration::ZERO && retry_in <= REMINT_WINDOW,
                "{retry_in:?}"
            );
        }
        other => panic!("the loop was not stopped: {other:?}"),
    }
    // Still stopped on the next ask, and still without reaching the server.
    assert!(matches!(
        p.access_token().await,
        Err(ApiError::TokenRefused { .. })
    ));
    assert_eq!(counters.logins(), MAX_REMINTS);
}
