//! The simulated accounts service (accounts.spotify.com, spec §4.4): OAuth 2.0 sign-in with
//! the authorization-code grant and PKCE S256 (RFC 6749, RFC 7636), refresh tokens (rotated on
//! every use) and the device authorization grant (RFC 8628). `GET /authorize` shows a real HTML
//! sign-in and consent page, `POST /authorize` checks the built-in accounts and redirects to the
//! loopback `redirect_uri` with a one-time code, `POST /api/token` exchanges codes, refresh
//! tokens and device codes for access tokens, `POST /oauth2/device/authorize` starts a device
//! sign-in and `GET|POST /pair` is the page where the user approves it. Issued access tokens
//! are registered with the AP (SPOTIFY_TOKEN logins) and carry scopes and an expiry that
//! [`Shared::validate_web_token`](super::state::Shared::validate_web_token) checks for the Web
//! API. Errors at the token endpoint are RFC 6749 JSON (`{"error", "error_description"}`);
//! bad page parameters get a 400 page, never a redirect. The `revoke_tokens` fault (`faults`)
//! revokes every access and refresh token ([`OAuthState::revoke_tokens`]). Secrets never reach
//! the logs. Depends on no client module.

mod grants;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::{Rng, RngCore};
use reqwest::Url;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::App;
use crate::state::Shared;
use crate::util::lock;
use grants::{AuthCode, DeviceGrant, DeviceStatus, OAuthToken, RefreshGrant};
pub(crate) use grants::{OAuthState, KNOWN_SCOPES};

/// How long an authorization code stays valid.
const CODE_TTL: Duration = Duration::from_secs(60);
/// Largest accepted request body (forms are tiny).
const MAX_BODY: usize = 16 * 1024;
/// Longest accepted value of any single parameter.
const MAX_PARAM: usize = 2048;
/// The device flow's grant type.
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Alphabet of user codes (consonants only, RFC 8628 §6.1).
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

/// The accounts routes (merged into the simulator's router).
pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/authorize", get(authorize_page).post(authorize_submit))
        .route("/api/token", post(token))
        .route("/oauth2/device/authorize", post(device_authorize))
        .route("/pair", get(pair_page).post(pair_submit))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Escapes text for HTML bodies and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An HTML page with the security headers every page gets.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} – Spotify (simulated)</title>\n<style>\n\
         body{{font-family:system-ui,sans-serif;background:#121212;color:#fff;margin:0;\
         display:flex;justify-content:center}}\n\
         main{{max-width:28rem;width:100%;padding:2rem 1.5rem}}\n\
         h1{{font-size:1.6rem}} label{{display:block;margin-top:1rem;font-weight:600}}\n\
         input{{width:100%;box-sizing:border-box;padding:.6rem;margin-top:.3rem;border-radius:4px;\
         border:1px solid #777;background:#222;color:#fff;font-size:1rem}}\n\
         .buttons{{display:flex;gap:1rem;margin-top:1.5rem}}\n\
         button{{padding:.7rem 1.6rem;border-radius:2rem;border:0;font-size:1rem;font-weight:700;\
         cursor:pointer}}\n\
         button.primary{{background:#1ed760;color:#000}} button.secondary{{background:#333;\
         color:#fff;border:1px solid #777}}\n\
         button:focus-visible,input:focus-visible{{outline:3px solid #fff;outline-offset:2px}}\n\
         .error{{background:#e91429;color:#fff;padding:.7rem;border-radius:4px}}\n\
         code{{font-size:1.2rem}}\n</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n",
        title = esc(title),
    );
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            ),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        Html(html),
    )
        .into_response()
}

fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<h1>Something went wrong</h1>\n<p class=\"error\" role=\"alert\">{}</p>",
        esc(message)
    );
    page(status, "Error", &body)
}

/// A form value, bounded in length; missing = empty.
fn param<'a>(form: &'a HashMap<String, String>, key: &str) -> Result<&'a str, String> {
    let value = form.get(key).map(String::as_str).unwrap_or_default();
    if value.len() > MAX_PARAM {
        return Err(format!("parameter {key} is too long"));
    }
    Ok(value)
}

/// RFC 7636 `code_verifier` / `code_challenge` syntax: 43–128 unreserved characters.
fn pkce_syntax_ok(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// BASE64URL-NOPAD(SHA256(verifier)) == challenge, in constant time.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

/// A loopback redirect URI with an explicit port, or why not.
fn check_redirect_uri(raw: &str) -> Result<Url, String> {
    if raw.is_empty() {
        return Err("redirect_uri is missing".to_owned());
    }
    let bad = || {
        format!(
            "INVALID_CLIENT: Invalid redirect URI {raw:?}: only loopback addresses \
             (http://127.0.0.1:PORT/…, http://localhost:PORT/… or http://[::1]:PORT/…) are allowed"
        )
    };
    let url = Url::parse(raw).map_err(|_| bad())?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if url.scheme() != "http"
        || !loopback
        || url.port().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
        || url.fragment().is_some()
    {
        return Err(bad());
    }
    Ok(url)
}

/// Splits and checks a space-separated scope list.
fn parse_scopes(raw: &str) -> Result<Vec<String>, String> {
    let mut scopes: Vec<String> = Vec::new();
    for s in raw.split([' ', '+', ',']).filter(|s| !s.is_empty()) {
        if !KNOWN_SCOPES.contains(&s) {
            let shown: String = s.chars().take(60).collect();
            return Err(format!("invalid_scope: unknown scope {shown:?}"));
        }
        if !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_owned());
        }
    }
    Ok(scopes)
}

/// Validated parameters of an authorization request.
#[derive(Debug, Clone)]
struct AuthRequest {
    client_id: String,
    redirect_uri: String,
    redirect: Url,
    state: String,
    code_challenge: String,
    scopes: Vec<String>,
}

fn check_client_id(client_id: &str) -> Result<(), String> {
    if client_id.is_empty() {
        return Err("INVALID_CLIENT: client_id is missing".to_owned());
    }
    if client_id.len() > 64 || !client_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("INVALID_CLIENT: Invalid client_id".to_owned());
    }
    Ok(())
}

fn check_auth_request(form: &HashMap<String, String>) -> Result<AuthRequest, String> {
    let client_id = param(form, "client_id")?;
    check_client_id(client_id)?;
    let redirect_uri = param(form, "redirect_uri")?;
    let redirect = check_redirect_uri(redirect_uri)?;
    let response_type = param(form, "response_type")?;
    if response_type != "code" {
        return Err(format!(
            "unsupported_response_type: response_type must be \"code\" (got {:?})",
            response_type.chars().take(40).collect::<String>()
        ));
    }
    let method = param(form, "code_challenge_method")?;
    if method != "S256" {
        return Err(
            "invalid_request: code_challenge_method must be S256 (PKCE is required)".into(),
        );
    }
    let code_challenge = param(form, "code_challenge")?;
    if !pkce_syntax_ok(code_challenge) {
        return Err(
            "invalid_request: code_challenge must be 43–128 characters of [A-Za-z0-9-._~]".into(),
        );
    }
    let state = param(form, "state")?;
    if state.len() > 512 {
        return Err("invalid_request: state is too long".into());
    }
    let scopes = parse_scopes(param(form, "scope")?)?;
    Ok(AuthRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        redirect,
        state: state.to_owned(),
        code_challenge: code_challenge.to_owned(),
        scopes,
    })
}

fn scope_list(scopes: &[String]) -> String {
    if scopes.is_empty() {
        return "<p>Only your public profile information.</p>".to_owned();
    }
    let items: String = scopes
        .iter()
        .map(|s| format!("<li><code>{}</code></li>", esc(s)))
        .collect();
    format!("<ul id=\"scopes\">{items}</ul>")
}

fn error_block(error: Option<&str>) -> String {
    error
        .map(|e| {
            format!(
                "<p class=\"error\" role=\"alert\" id=\"error\">{}</p>\n",
                esc(e)
            )
        })
        .unwrap_or_default()
}

fn sign_in_page(req: &AuthRequest, username: &str, error: Option<&str>) -> Response {
    let hidden = [
        ("response_type", "code"),
        ("client_id", req.client_id.as_str()),
        ("redirect_uri", req.redirect_uri.as_str()),
        ("state", req.state.as_str()),
        ("code_challenge", req.code_challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("scope", &req.scopes.join(" ")),
    ]
    .iter()
    .map(|(k, v)| {
        format!(
            "<input type=\"hidden\" name=\"{k}\" value=\"{}\">\n",
            esc(v)
        )
    })
    .collect::<String>();
    let body = format!(
        "<h1>Log in to Spotify</h1>\n{error}\
         <form method=\"post\" action=\"/authorize\">\n{hidden}\
         <label for=\"username\">Email address or username</label>\n\
         <input id=\"username\" name=\"username\" type=\"text\" autocomplete=\"username\" \
         required value=\"{username}\">\n\
         <label for=\"password\">Password</label>\n\
         <input id=\"password\" name=\"password\" type=\"password\" \
         autocomplete=\"current-password\">\n\
         <section aria-labelledby=\"consent-heading\">\n\
         <h2 id=\"consent-heading\">Allow application <code>{client}</code> to:</h2>\n{scopes}\n\
         <p>You can remove this access at any time.</p>\n</section>\n\
         <div class=\"buttons\">\n\
         <button type=\"submit\" name=\"consent\" value=\"accept\" id=\"consent\" \
         class=\"primary\">Agree</button>\n\
         <button type=\"submit\" name=\"consent\" value=\"deny\" id=\"cancel\" \
         class=\"secondary\" formnovalidate>Cancel</button>\n</div>\n</form>",
        error = error_block(error),
        username = esc(username),
        client = esc(&req.client_id),
        scopes = scope_list(&req.scopes),
    );
    page(StatusCode::OK, "Log in", &body)
}

fn redirect(mut url: Url, pairs: &[(&str, &str)]) -> Response {
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, url.to_string()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
    )
        .into_response()
}

/// `GET /authorize?response_type=code&client_id&redirect_uri&state&code_challenge&…`.
async fn authorize_page(query: Result<Query<HashMap<String, String>>, QueryRejection>) -> Response {
    let Ok(Query(query)) = query else {
        return error_page(StatusCode::BAD_REQUEST, "The query string is malformed.");
    };
    match check_auth_request(&query) {
        Ok(req) => sign_in_page(&req, "", None),
        Err(message) => error_page(StatusCode::BAD_REQUEST, &message),
    }
}

/// Checks a username and password against the built-in accounts.
fn credentials_ok(shared: &Shared, username: &str, password: &str) -> Option<String> {
    let account = shared.account(username.trim())?;
    bool::from(account.password.as_bytes().ct_eq(password.as_bytes()))
        .then(|| account.username.clone())
}

/// `POST /authorize` (the sign-in form).
async fn authorize_submit(
    State(app): State<App>,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Expected an application/x-www-form-urlencoded form.",
        );
    };
    let req = match check_auth_request(&form) {
        Ok(req) => req,
        Err(message) => return error_page(StatusCode::BAD_REQUEST, &message),
    };
    let (username, password) = match (param(&form, "username"), param(&form, "password")) {
        (Ok(u), Ok(p)) => (u, p),
        (Err(e), _) | (_, Err(e)) => return error_page(StatusCode::BAD_REQUEST, &e),
    };
    let state = req.state.clone();
    match form.get("consent").map(String::as_str) {
        Some("deny") => {
            tracing::info!(client_id = %req.client_id, "sim accounts: sign-in denied");
            let mut pairs = vec![("error", "access_denied")];
            if !state.is_empty() {
                pairs.push(("state", &state));
            }
            redirect(req.redirect.clone(), &pairs)
        }
        Some("accept") => {
            let Some(user) = credentials_ok(&app.shared, username, password) else {
                return sign_in_page(&req, username, Some("Incorrect username or password."));
            };
            let code = random_token("AQ");
            let now = Instant::now();
            {
                let mut oauth = lock(&app.shared.oauth);
                oauth.prune(now);
                oauth.codes.insert(
                    code.clone(),
                    AuthCode {
                        client_id: req.client_id.clone(),
                        redirect_uri: req.redirect_uri.clone(),
                        challenge: req.code_challenge.clone(),
                        username: user.clone(),
                        scopes: req.scopes.clone(),
                        expires: now + CODE_TTL,
                    },
                );
            }
            tracing::info!(client_id = %req.client_id, user = %user, "sim accounts: code issued");
            let mut pairs = vec![("code", code.as_str())];
            if !state.is_empty() {
                pairs.push(("state", &state));
            }
            redirect(req.redirect.clone(), &pairs)
        }
        _ => error_page(
            StatusCode::BAD_REQUEST,
            "consent must be \"accept\" or \"deny\".",
        ),
    }
}

/// An RFC 6749 §5.2 error.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

fn invalid_grant(description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

fn invalid_request(description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description)
}

/// Issues an access token (registered with the AP too) and a refresh token; `code` is the
/// authorization code they are redeemed for, if any.
fn issue_tokens(
    shared: &Shared,
    client_id: &str,
    username: &str,
    scopes: &[String],
    code: Option<&str>,
) -> Response {
    let ttl = shared.behaviour.token_ttl;
    let access = lock(&shared.store).issue_token(username);
    let refresh = random_token("sim-rt-");
    {
        let now = Instant::now();
        let mut oauth = lock(&shared.oauth);
        oauth.prune(now);
        oauth.access.insert(
            access.clone(),
            OAuthToken {
                username: username.to_owned(),
                scopes: scopes.to_vec(),
                expires: now + ttl,
            },
        );
        oauth.refresh.insert(
            refresh.clone(),
            RefreshGrant {
                client_id: client_id.to_owned(),
                username: username.to_owned(),
                scopes: scopes.to_vec(),
            },
        );
        if let Some(code) = code {
            oauth.spent.insert(
                code.to_owned(),
                (
                    now + Duration::from_secs(3600),
                    access.clone(),
                    refresh.clone(),
                ),
            );
        }
    }
    tracing::info!(client_id, user = %username, "sim accounts: tokens issued");
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": ttl.as_secs(),
            "refresh_token": refresh,
            "scope": scopes.join(" "),
            "username": username,
        })),
    )
        .into_response()
}

/// `POST /api/token` (form): the three grants.
async fn token(
    State(app): State<App>,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return invalid_request("expected an application/x-www-form-urlencoded body");
    };
    if form.values().any(|v| v.len() > MAX_PARAM) {
        return invalid_request("a parameter is too long");
    }
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let client_id = get("client_id");
    if client_id.is_empty() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "client_id is missing",
        );
    }
    if check_client_id(client_id).is_err() {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_client", "Invalid client");
    }
    let shared = &app.shared;
    match get("grant_type") {
        "authorization_code" => {
            let (code, verifier, redirect_uri) =
                (get("code"), get("code_verifier"), get("redirect_uri"));
            if code.is_empty() || redirect_uri.is_empty() {
                return invalid_request("code and redirect_uri are required");
            }
            if verifier.is_empty() {
                return invalid_request("code_verifier is required");
            }
            // One attempt per code: whatever the outcome, the code is spent.
            let grant = {
                let mut oauth = lock(&shared.oauth);
                let grant = oauth.codes.remove(code);
                if grant.is_none() {
                    if let Some((_, access, refresh)) = oauth.spent.remove(code) {
                        // A replayed code: revoke what it bought.
                        oauth.access.remove(&access);
                        oauth.refresh.remove(&refresh);
                        drop(oauth);
                        lock(&shared.store).revoke_token(&access);
                        tracing::warn!("sim accounts: authorization code replayed; tokens revoked");
                    }
                }
                grant
            };
            let Some(grant) = grant else {
                return invalid_grant("Invalid authorization code");
            };
            if grant.expires <= Instant::now() {
                return invalid_grant("Authorization code expired");
            }
            if grant.client_id != client_id {
                return invalid_grant("Authorization code was issued to another client");
            }
            if grant.redirect_uri != redirect_uri {
                return invalid_grant("Invalid redirect URI");
            }
            if !pkce_syntax_ok(verifier) || !pkce_matches(verifier, &grant.challenge) {
                return invalid_grant("code_verifier was incorrect");
            }
            issue_tokens(
                shared,
                client_id,
                &grant.username,
                &grant.scopes,
                Some(code),
            )
        }
        "refresh_token" => {
            let refresh = get("refresh_token");
            if refresh.is_empty() {
                return invalid_request("refresh_token is required");
            }
            let requested = match parse_scopes(get("scope")) {
                Ok(s) => s,
                Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", &e),
            };
            let grant = {
                let mut oauth = lock(&shared.oauth);
                match oauth.refresh.get(refresh) {
                    Some(g) if g.client_id == client_id => oauth.refresh.remove(refresh),
                    _ => None,
                }
            };
            let Some(grant) = grant else {
                if lock(&shared.oauth).revoked_refresh.contains(refresh) {
                    return invalid_grant("Refresh token revoked");
                }
                return invalid_grant("Invalid refresh token");
            };
            let scopes = if requested.is_empty() {
                grant.scopes.clone()
            } else if requested.iter().all(|s| grant.scopes.contains(s)) {
                requested
            } else {
                // Not spent after all.
                lock(&shared.oauth)
                    .refresh
                    .insert(refresh.to_owned(), grant);
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "scope exceeds the original grant",
                );
            };
            issue_tokens(shared, client_id, &grant.username, &scopes, None)
        }
        DEVICE_GRANT => device_poll(shared, client_id, get("device_code")),
        "" => invalid_request("grant_type is required"),
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code, refresh_token or \
             urn:ietf:params:oauth:grant-type:device_code",
        ),
    }
}

/// One poll of the device flow at the token endpoint.
fn device_poll(shared: &Shared, client_id: &str, device_code: &str) -> Response {
    if device_code.is_empty() {
        return invalid_request("device_code is required");
    }
    let now = Instant::now();
    let outcome = {
        let mut oauth = lock(&shared.oauth);
        let Some(grant) = oauth.devices.get_mut(device_code) else {
            return invalid_grant("Invalid device code");
        };
        if grant.client_id != client_id {
            return invalid_grant("Device code was issued to another client");
        }
        if grant.expires <= now {
            oauth.devices.remove(device_code);
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "expired_token",
                "The device code has expired",
            );
        }
        let too_fast = grant
            .last_poll
            .is_some_and(|last| now.duration_since(last) < grant.interval);
        grant.last_poll = Some(now);
        if too_fast {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "slow_down",
                "Polling too fast; wait `interval` seconds between requests",
            );
        }
        match grant.status.clone() {
            DeviceStatus::Pending => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "authorization_pending",
                    "The user has not yet approved the device",
                );
            }
            DeviceStatus::Denied => {
                oauth.devices.remove(device_code);
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "access_denied",
                    "The user denied the request",
                );
            }
            DeviceStatus::Approved(user) => {
                let scopes = grant.scopes.clone();
                oauth.devices.remove(device_code);
                (user, scopes)
            }
        }
    };
    issue_tokens(shared, client_id, &outcome.0, &outcome.1, None)
}

fn new_user_code() -> String {
    let mut rng = rand::thread_rng();
    (0..8)
        .map(|_| char::from(USER_CODE_ALPHABET[rng.gen_range(0..USER_CODE_ALPHABET.len())]))
        .collect()
}

/// `ABCDEFGH` → `ABCD-EFGH`.
fn display_user_code(code: &str) -> String {
    let (a, b) = code.split_at(code.len().min(4));
    format!("{a}-{b}")
}

/// What the user typed → the stored form (upper case, no dashes or spaces).
fn normalise_user_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .take(32)
        .collect()
}

/// `POST /oauth2/device/authorize` (form: client_id, scope).
async fn device_authorize(
    State(app): State<App>,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return invalid_request("expected an application/x-www-form-urlencoded body");
    };
    let client_id = match param(&form, "client_id") {
        Ok(c) => c,
        Err(e) => return invalid_request(&e),
    };
    if let Err(e) = check_client_id(client_id) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_client", &e);
    }
    let scopes = match param(&form, "scope").and_then(parse_scopes) {
        Ok(s) => s,
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", &e),
    };
    let behaviour = &app.shared.behaviour;
    let device_code = random_token("sim-dc-");
    let now = Instant::now();
    let user_code = {
        let mut oauth = lock(&app.shared.oauth);
        oauth.prune(now);
        let mut user_code = new_user_code();
        while oauth.devices.values().any(|d| d.user_code == user_code) {
            user_code = new_user_code();
        }
        oauth.devices.insert(
            device_code.clone(),
            DeviceGrant {
                client_id: client_id.to_owned(),
                user_code: user_code.clone(),
                scopes,
                expires: now + behaviour.device_code_ttl,
                interval: behaviour.device_code_interval,
                last_poll: None,
                status: DeviceStatus::Pending,
            },
        );
        user_code
    };
    tracing::info!(client_id, "sim accounts: device authorization started");
    let shown = display_user_code(&user_code);
    let verification_uri = format!("{}/pair", behaviour.http_base);
    // Whole seconds on the wire; sub-second test intervals round up to 1.
    let interval = behaviour.device_code_interval.as_secs_f64().ceil().max(1.0) as u64;
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "device_code": device_code,
            "user_code": shown,
            "verification_uri": verification_uri,
            "verification_uri_complete": format!("{verification_uri}?code={shown}"),
            "expires_in": behaviour.device_code_ttl.as_secs(),
            "interval": interval,
        })),
    )
        .into_response()
}

fn pair_form(code: &str, username: &str, error: Option<&str>) -> Response {
    let body = format!(
        "<h1>Connect a device</h1>\n{error}\
         <p>Enter the code shown on your device and log in to allow it to use your account.</p>\n\
         <form method=\"post\" action=\"/pair\">\n\
         <label for=\"code\">Code</label>\n\
         <input id=\"code\" name=\"code\" type=\"text\" required autocomplete=\"off\" \
         autocapitalize=\"characters\" placeholder=\"XXXX-XXXX\" value=\"{code}\">\n\
         <label for=\"username\">Email address or username</label>\n\
         <input id=\"username\" name=\"username\" type=\"text\" autocomplete=\"username\" \
         value=\"{username}\">\n\
         <label for=\"password\">Password</label>\n\
         <input id=\"password\" name=\"password\" type=\"password\" \
         autocomplete=\"current-password\">\n\
         <div class=\"buttons\">\n\
         <button type=\"submit\" name=\"action\" value=\"approve\" id=\"approve\" \
         class=\"primary\">Approve</button>\n\
         <button type=\"submit\" name=\"action\" value=\"deny\" id=\"deny\" \
         class=\"secondary\" formnovalidate>Deny</button>\n</div>\n</form>",
        error = error_block(error),
        code = esc(code),
        username = esc(username),
    );
    page(StatusCode::OK, "Connect a device", &body)
}

/// `GET /pair[?code=XXXX-XXXX]`.
async fn pair_page(query: Result<Query<HashMap<String, String>>, QueryRejection>) -> Response {
    let Ok(Query(query)) = query else {
        return error_page(StatusCode::BAD_REQUEST, "The query string is malformed.");
    };
    let code: String = query
        .get("code")
        .map(|c| c.chars().take(32).collect())
        .unwrap_or_default();
    pair_form(&code, "", None)
}

/// `POST /pair` (form: code, username, password, action=approve|deny).
async fn pair_submit(
    State(app): State<App>,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Expected an application/x-www-form-urlencoded form.",
        );
    };
    let (typed, username, password) = match (
        param(&form, "code"),
        param(&form, "username"),
        param(&form, "password"),
    ) {
        (Ok(c), Ok(u), Ok(p)) => (c, u, p),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            return error_page(StatusCode::BAD_REQUEST, &e)
        }
    };
    let action = form.get("action").map(String::as_str);
    if !matches!(action, Some("approve" | "deny")) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "action must be \"approve\" or \"deny\".",
        );
    }
    let user_code = normalise_user_code(typed);
    let shown: String = typed.chars().take(32).collect();
    // Check the credentials before touching the grant (approve only).
    let user = if action == Some("approve") {
        match credentials_ok(&app.shared, username, password) {
            Some(u) => Some(u),
            None => {
                return pair_form(&shown, username, Some("Incorrect username or password."));
            }
        }
    } else {
        None
    };
    let now = Instant::now();
    let mut oauth = lock(&app.shared.oauth);
    let grant = oauth
        .device_by_user_code(&user_code)
        .filter(|g| g.expires > now && g.status == DeviceStatus::Pending);
    let Some(grant) = grant else {
        drop(oauth);
        return pair_form(
            &shown,
            username,
            Some("That code is not valid or has expired. Check the code on your device."),
        );
    };
    match user {
        Some(user) => {
            grant.status = DeviceStatus::Approved(user.clone());
            drop(oauth);
            tracing::info!(user = %user, "sim accounts: device approved");
            page(
                StatusCode::OK,
                "Device connected",
                "<h1>Device connected</h1>\n<p role=\"status\" id=\"result\">You're all set. \
                 Return to your device to continue.</p>",
            )
        }
        None => {
            grant.status = DeviceStatus::Denied;
            drop(oauth);
            tracing::info!("sim accounts: device denied");
            page(
                StatusCode::OK,
                "Device not connected",
                "<h1>Device not connected</h1>\n<p role=\"status\" id=\"result\">The device \
                 was denied access to your account.</p>",
            )
        }
    }
}

/// Signs `username` in through the code flow over HTTP at `base` (the accounts URL) and
/// returns the token response (for tests elsewhere in the simulator).
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(super) async fn sign_in_for_tests(
    base: &str,
    username: &str,
    password: &str,
) -> serde_json::Value {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let verifier = random_token("v");
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let redirect = "http://127.0.0.1:5588/login";
    let client_id = "65b708073fc0480ea92a077233ca87bd";
    let resp = http
        .post(format!("{base}/authorize"))
        .form(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("scope", "streaming"),
            ("username", username),
            ("password", password),
            ("consent", "accept"),
        ])
        .send()
        .await
        .unwrap();
    let location = Url::parse(resp.headers()[header::LOCATION].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    http.post(format!("{base}/api/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", client_id),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
