//! Tests of the accounts service over real sockets on 127.0.0.1: the authorize page and
//! form, the token endpoint (PKCE, refresh), the device flow at /pair, and their refusals.

use super::super::{SimConfig, Simulator};
use super::*;

const CLIENT: &str = "65b708073fc0480ea92a077233ca87bd";
const SCOPE: &str = "streaming user-read-private playlist-read-private";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn start(cfg: SimConfig) -> Simulator {
    Simulator::start(SimConfig {
        ap_ports: vec![0],
        ..cfg
    })
    .await
    .unwrap()
}

fn pkce() -> (String, String) {
    let verifier = random_token("v");
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn auth_params<'a>(redirect: &'a str, challenge: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", CLIENT),
        ("redirect_uri", redirect),
        ("state", "st&ate=1"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("scope", SCOPE),
    ]
}

/// Submits the sign-in form; returns the response.
async fn submit(
    base: &str,
    redirect: &str,
    challenge: &str,
    user: &str,
    pass: &str,
    consent: &str,
) -> reqwest::Response {
    let mut form = auth_params(redirect, challenge);
    form.extend([("username", user), ("password", pass), ("consent", consent)]);
    client()
        .post(format!("{base}/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

fn location(resp: &reqwest::Response) -> Url {
    assert_eq!(resp.status(), StatusCode::FOUND);
    let loc = resp.headers()[header::LOCATION].to_str().unwrap();
    Url::parse(loc).unwrap()
}

fn query_value(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

async fn get_code(base: &str, redirect: &str, challenge: &str) -> String {
    let resp = submit(
        base,
        redirect,
        challenge,
        "tonearm-demo",
        "tonearm-demo-pass",
        "accept",
    )
    .await;
    let url = location(&resp);
    assert!(url.as_str().starts_with(redirect), "{url}");
    assert_eq!(query_value(&url, "state").as_deref(), Some("st&ate=1"));
    query_value(&url, "code").unwrap()
}

async fn token_req(base: &str, form: &[(&str, &str)]) -> (StatusCode, serde_json::Value) {
    let resp = client()
        .post(format!("{base}/api/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

async fn exchange(
    base: &str,
    code: &str,
    redirect: &str,
    verifier: &str,
) -> (StatusCode, serde_json::Value) {
    token_req(
        base,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("client_id", CLIENT),
            ("code_verifier", verifier),
        ],
    )
    .await
}

#[test]
fn pkce_known_answer() {
    // RFC 7636 Appendix B.
    assert!(pkce_matches(
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    ));
    assert!(!pkce_matches(
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    ));
}

#[test]
fn redirect_uris() {
    for ok in [
        "http://127.0.0.1:5588/login",
        "http://localhost:8898/callback?x=1",
        "http://[::1]:1234/",
    ] {
        assert!(check_redirect_uri(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "https://127.0.0.1:5588/login",
        "http://127.0.0.1/login",
        "http://example.com:5588/login",
        "http://127.0.0.2:5588/login",
        "http://u:p@127.0.0.1:5588/",
        "http://127.0.0.1:5588/#frag",
        "not a url",
    ] {
        assert!(check_redirect_uri(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn authorize_page_renders_and_validates() {
    let sim = start(SimConfig::default()).await;
    let base = sim.info().accounts_url.clone();
    let (_, challenge) = pkce();
    let redirect = "http://127.0.0.1:5588/login";
    let resp = client()
        .get(format!("{base}/authorize"))
        .query(&auth_params(redirect, &challenge))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    for needle in [
        "<form method=\"post\" action=\"/authorize\">",
        "name=\"username\"",
        "name=\"password\" type=\"password\"",
        "id=\"consent\"",
        "value=\"deny\"",
        "<code>streaming</code>",
        "<code>user-read-private</code>",
        "value=\"st&amp;ate=1\"",
        &format!("value=\"{challenge}\""),
    ] {
        assert!(html.contains(needle), "{needle} missing from {html}");
    }
    // Each broken parameter: a 400 page, never a redirect.
    let cases: &[(&str, &str, &str)] = &[
        ("redirect_uri", "https://evil.example/cb", "redirect URI"),
        ("redirect_uri", "http://127.0.0.1/login", "redirect URI"),
        ("response_type", "token", "response_type"),
        ("client_id", "", "client_id"),
        ("code_challenge_method", "plain", "S256"),
        ("code_challenge", "", "code_challenge"),
        ("scope", "streaming bogus-scope", "invalid_scope"),
    ];
    for (key, value, message) in cases {
        let mut params = auth_params(redirect, &challenge);
        params.retain(|(k, _)| k != key);
        params.push((key, value));
        let resp = client()
            .get(format!("{base}/authorize"))
            .query(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{key}={value}");
        assert!(resp.headers().get(header::LOCATION).is_none());
        let html = resp.text().await.unwrap();
        assert!(html.contains(message), "{key}: {html}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn code_flow_with_pkce_and_refresh() {
    let sim = start(SimConfig::default()).await;
    let base = sim.info().accounts_url.clone();
    let redirect = "http://127.0.0.1:5588/login";
    let (verifier, challenge) = pkce();
    let code = get_code(&base, redirect, &challenge).await;
    let (status, body) = exchange(&base, &code, redirect, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["username"], "tonearm-demo");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], SCOPE);
    let access = body["access_token"].as_str().unwrap().to_owned();
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    // The AP accepts the token for SPOTIFY_TOKEN logins; the Web API validates it.
    assert_eq!(
        lock(&sim.shared.store).token_owner(&access),
        Some("tonearm-demo")
    );
    let (user, scopes) = sim.shared.validate_web_token(&access).unwrap();
    assert_eq!(user, "tonearm-demo");
    assert!(scopes.iter().any(|s| s == "streaming"));
    assert!(sim.shared.validate_web_token("sim-at-forged").is_none());
    let l5 = sim.issue_login5_token("alice").unwrap();
    assert_eq!(sim.shared.validate_web_token(&l5).unwrap().0, "alice");

    // Reusing the code fails and revokes what it bought.
    let (status, body) = exchange(&base, &code, redirect, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert!(sim.shared.validate_web_token(&access).is_none());
    assert_eq!(lock(&sim.shared.store).token_owner(&access), None);
    let (status, body) = token_req(
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", CLIENT),
        ],
    )
    .await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    // A fresh sign-in for the refresh checks below.
    let code = get_code(&base, redirect, &challenge).await;
    let (status, body) = exchange(&base, &code, redirect, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["access_token"].as_str().unwrap().to_owned();
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();

    // Refresh: new tokens, the old refresh token is spent, client_id must match.
    let (status, body) = token_req(
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", "someoneelse"),
        ],
    )
    .await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    let (status, body) = token_req(
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", CLIENT),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["username"], "tonearm-demo");
    assert_eq!(body["scope"], SCOPE);
    let access2 = body["access_token"].as_str().unwrap();
    assert_ne!(access2, access);
    assert!(sim.shared.validate_web_token(access2).is_some());
    assert_ne!(body["refresh_token"].as_str().unwrap(), refresh);
    let (status, body) = token_req(
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", CLIENT),
        ],
    )
    .await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );

    // Garbage at the token endpoint.
    let (status, body) =
        token_req(&base, &[("grant_type", "password"), ("client_id", CLIENT)]).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("unsupported_grant_type"))
    );
    let resp = client()
        .post(format!("{base}/api/token"))
        .body(vec![b'a'; MAX_BODY * 2])
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error());
    sim.shutdown().await;
}

#[tokio::test]
async fn wrong_verifier_and_redirect_are_invalid_grant() {
    let sim = start(SimConfig::default()).await;
    let base = sim.info().accounts_url.clone();
    let redirect = "http://localhost:40123/cb";
    let (verifier, challenge) = pkce();
    let (other_verifier, _) = pkce();
    let code = get_code(&base, redirect, &challenge).await;
    let (status, body) = exchange(&base, &code, redirect, &other_verifier).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    // The code was spent by the failed attempt.
    let (_, body) = exchange(&base, &code, redirect, &verifier).await;
    assert_eq!(body["error"], "invalid_grant");
    let code = get_code(&base, redirect, &challenge).await;
    let (status, body) = exchange(&base, &code, "http://localhost:40124/cb", &verifier).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    let (_, body) = exchange(&base, "AQnonsense", redirect, &verifier).await;
    assert_eq!(body["error"], "invalid_grant");
    sim.shutdown().await;
}

#[tokio::test]
async fn wrong_password_rerenders_and_deny_redirects() {
    let sim = start(SimConfig::default()).await;
    let base = sim.info().accounts_url.clone();
    let redirect = "http://127.0.0.1:5588/login";
    let (_, challenge) = pkce();
    let resp = submit(&base, redirect, &challenge, "alice", "wrong", "accept").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Incorrect username or password"), "{html}");
    assert!(html.contains("value=\"alice\""), "{html}");
    let resp = submit(&base, redirect, &challenge, "", "", "deny").await;
    let url = location(&resp);
    assert_eq!(query_value(&url, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_value(&url, "state").as_deref(), Some("st&ate=1"));
    assert_eq!(query_value(&url, "code"), None);
    // A tampered hidden redirect_uri is refused without redirecting.
    let resp = submit(
        &base,
        "http://evil.example:80/",
        &challenge,
        "alice",
        "alice-pass",
        "accept",
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    sim.shutdown().await;
}

fn device_cfg(ttl: Duration) -> SimConfig {
    SimConfig {
        device_code_interval: Duration::from_millis(100),
        device_code_ttl: ttl,
        ..SimConfig::default()
    }
}

async fn device_start(base: &str) -> serde_json::Value {
    let resp = client()
        .post(format!("{base}/oauth2/device/authorize"))
        .form(&[("client_id", CLIENT), ("scope", SCOPE)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

async fn poll(base: &str, device_code: &str) -> (StatusCode, serde_json::Value) {
    token_req(
        base,
        &[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", CLIENT),
        ],
    )
    .await
}

async fn pair(base: &str, code: &str, user: &str, pass: &str, action: &str) -> String {
    let resp = client()
        .post(format!("{base}/pair"))
        .form(&[
            ("code", code),
            ("username", user),
            ("password", pass),
            ("action", action),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.text().await.unwrap()
}

#[tokio::test]
async fn device_flow() {
    let sim = start(device_cfg(Duration::from_secs(600))).await;
    let base = sim.info().accounts_url.clone();
    let start = device_start(&base).await;
    let user_code = start["user_code"].as_str().unwrap().to_owned();
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert_eq!(start["verification_uri"], format!("{base}/pair"));
    assert_eq!(
        start["verification_uri_complete"],
        format!("{base}/pair?code={user_code}")
    );
    assert_eq!(start["expires_in"], 600);
    assert_eq!(start["interval"], 1);
    let device_code = start["device_code"].as_str().unwrap().to_owned();

    let (status, body) = poll(&base, &device_code).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("authorization_pending"))
    );
    let (_, body) = poll(&base, &device_code).await;
    assert_eq!(body["error"], "slow_down");

    // The pair page pre-fills the code.
    let html = client()
        .get(start["verification_uri_complete"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!("value=\"{user_code}\"")), "{html}");
    assert!(html.contains("id=\"approve\"") && html.contains("id=\"deny\""));
    let html = pair(&base, &user_code, "alice", "nope", "approve").await;
    assert!(html.contains("Incorrect username or password"), "{html}");
    let html = pair(&base, "BBBB-BBBB", "alice", "alice-pass", "approve").await;
    assert!(html.contains("not valid"), "{html}");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (_, body) = poll(&base, &device_code).await;
    assert_eq!(body["error"], "authorization_pending");
    // Lower case without the dash works too.
    let typed = user_code.replace('-', "").to_lowercase();
    let html = pair(&base, &typed, "alice", "alice-pass", "approve").await;
    assert!(html.contains("Device connected"), "{html}");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (status, body) = poll(&base, &device_code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["username"], "alice");
    assert_eq!(body["scope"], SCOPE);
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(lock(&sim.shared.store).token_owner(access), Some("alice"));
    // The device code is spent.
    let (_, body) = poll(&base, &device_code).await;
    assert_eq!(body["error"], "invalid_grant");

    // Denied.
    let start = device_start(&base).await;
    let device_code = start["device_code"].as_str().unwrap();
    let html = pair(&base, start["user_code"].as_str().unwrap(), "", "", "deny").await;
    assert!(html.contains("denied"), "{html}");
    let (_, body) = poll(&base, device_code).await;
    assert_eq!(body["error"], "access_denied");
    sim.shutdown().await;
}

#[tokio::test]
async fn device_code_expires() {
    let sim = start(device_cfg(Duration::from_millis(300))).await;
    let base = sim.info().accounts_url.clone();
    let start = device_start(&base).await;
    let device_code = start["device_code"].as_str().unwrap();
    let (_, body) = poll(&base, device_code).await;
    assert_eq!(body["error"], "authorization_pending");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let html = pair(
        &base,
        start["user_code"].as_str().unwrap(),
        "alice",
        "alice-pass",
        "approve",
    )
    .await;
    assert!(html.contains("expired"), "{html}");
    let (_, body) = poll(&base, device_code).await;
    assert_eq!(body["error"], "expired_token");
    sim.shutdown().await;
}
