//! OAuth 2.0 sign-in against Spotify's accounts service (protocol spec §4.4): the browser flow
//! (authorization code + PKCE S256 with a one-shot loopback redirect listener on 127.0.0.1) and
//! the device-authorization flow (RFC 8628) for SSH and headless machines. Both end in an
//! [`OAuthToken`] whose access token logs the AP session in once (`SPOTIFY_TOKEN`); the AP then
//! hands out the reusable credentials that the credential store keeps.
//!
//! Called by `main.rs` (`tonearm login`). The HTTP to the accounts service is done by hand with
//! reqwest (Spotify returns an extra `username` field); only PKCE and `state` generation come
//! from the `oauth2` crate. Nothing here prints or logs: the caller shows the URL or the user
//! code. Tokens, codes and verifiers never appear in `Debug`, errors or logs. Must not depend on
//! UI modules.
//!
//! This file holds the token exchange, PKCE, the authorize URL and the browser flow; the
//! loopback redirect listener is `oauth/loopback.rs`, the device flow `oauth/device.rs`.

mod device;
mod loopback;

use std::fmt;
use std::time::{Duration, SystemTime};

use crate::server_time::{Later as _, SecsBounds};

use reqwest::Url;
use serde::Deserialize;

pub use device::{
    device_code, device_code_with, poll_device_token, request_device_code, DeviceCode,
    DeviceOptions,
};
pub use loopback::{Loopback, Page, Redirect};

/// The scopes librespot and go-librespot request (protocol spec §4.4 item 5).
pub const DEFAULT_SCOPES: &[&str] = &[
    "app-remote-control",
    "playlist-modify",
    "playlist-modify-private",
    "playlist-modify-public",
    "playlist-read",
    "playlist-read-collaborative",
    "playlist-read-private",
    "streaming",
    "ugc-image-upload",
    "user-follow-modify",
    "user-follow-read",
    "user-library-modify",
    "user-library-read",
    "user-modify",
    "user-modify-playback-state",
    "user-modify-private",
    "user-personalized",
    "user-read-birthdate",
    "user-read-currently-playing",
    "user-read-email",
    "user-read-play-history",
    "user-read-playback-position",
    "user-read-playback-state",
    "user-read-private",
    "user-read-recently-played",
    "user-top-read",
];

/// The path of the loopback redirect URI (as librespot and go-librespot use).
pub const REDIRECT_PATH: &str = "/login";
/// The largest redirect request the loopback listener reads (request line + headers).
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// How long one browser connection may take to send its request.
const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How many browser connections may be open at once (browsers open speculative ones).
const MAX_CONNECTIONS: usize = 16;
/// Timeout of each HTTP request to the accounts service.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// An access token's lifetime as the server states it (`expires_in`): one hour when missing,
/// at most a day (Spotify's are an hour; the value is only shown, never waited on).
const TOKEN_LIFETIME: SecsBounds = SecsBounds::new(
    Duration::from_secs(3600),
    Duration::from_secs(1),
    Duration::from_secs(24 * 3600),
);
/// The longest device-code lifetime believed (RFC 8628's examples use 30 min).
pub const MAX_DEVICE_CODE_LIFETIME: Duration = Duration::from_secs(3600);
/// The longest polling interval believed, also after `slow_down`s.
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(60);

/// Why a sign-in failed. Messages never contain tokens, codes or verifiers; text that comes from
/// the server is reduced to a short, printable error code.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the sign-in was refused (access denied)")]
    Denied,
    /// Only redirects with another sign-in attempt's `state` arrived before the time ran out
    /// (each was answered with an error page while the wait went on).
    #[error(
        "no sign-in redirect from this sign-in attempt arrived within {waited_secs} s; {refused} \
         redirect(s) carried the wrong `state` and were refused (an old browser tab, or another \
         program); run `tonearm login` again"
    )]
    StateMismatch { refused: u32, waited_secs: u64 },
    #[error("the sign-in redirect carried no authorization code")]
    MissingCode,
    #[error("the accounts service reported an error: {0}")]
    Authorize(String),
    #[error("cannot listen on 127.0.0.1 for the sign-in redirect: {0}")]
    Listen(std::io::Error),
    #[error("no sign-in redirect arrived within {0} s; run `tonearm login` again")]
    RedirectTimeout(u64),
    #[error("the pairing code expired before it was approved; run `tonearm login --device` again")]
    Expired,
    #[error("cannot reach the accounts service at {url}: {reason}")]
    Network { url: String, reason: String },
    #[error("the accounts service refused the request (HTTP {status}): {error}")]
    Refused { status: u16, error: String },
    #[error("the accounts service sent an unexpected answer: {0}")]
    BadResponse(String),
    #[error("invalid accounts service URL \"{0}\"")]
    BadUrl(String),
}

impl AuthError {
    /// What the caller should do about it.
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            AuthError::Network { .. } => crate::ErrorKind::Retry,
            AuthError::Refused { status, .. } if *status >= 500 => crate::ErrorKind::Retry,
            AuthError::BadUrl(_) | AuthError::Listen(_) => crate::ErrorKind::Fatal,
            _ => crate::ErrorKind::Notify,
        }
    }
}

/// The result of a sign-in. `Debug` hides the tokens.
#[derive(Clone)]
pub struct OAuthToken {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_at: SystemTime,
    pub scopes: Vec<String>,
    /// Spotify returns the canonical username for the keymaster client id.
    pub username: Option<String>,
}

impl fmt::Debug for OAuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthToken")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .field("username", &self.username)
            .finish()
    }
}

/// A PKCE S256 pair: a random verifier (kept secret, sent only with the token request) and its
/// challenge `BASE64URL(SHA-256(verifier))` (sent in the authorize URL).
pub struct Pkce {
    verifier: String,
    challenge: String,
}

impl Pkce {
    /// A fresh verifier from 32 random bytes (43 base64url characters).
    pub fn new_random() -> Pkce {
        let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
        Pkce {
            verifier: verifier.secret().clone(),
            challenge: challenge.as_str().to_string(),
        }
    }

    pub fn challenge(&self) -> &str {
        &self.challenge
    }

    /// The secret half. Only for the token request (and tests).
    pub fn verifier(&self) -> &str {
        &self.verifier
    }
}

impl fmt::Debug for Pkce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkce")
            .field("verifier", &"<redacted>")
            .field("challenge", &self.challenge)
            .finish()
    }
}

/// A random `state` value (128 bits, base64url).
pub fn random_state() -> String {
    oauth2::CsrfToken::new_random().secret().clone()
}

fn base(accounts_base: &str) -> &str {
    accounts_base.trim_end_matches('/')
}

fn endpoint(accounts_base: &str, path: &str) -> Result<Url, AuthError> {
    let text = format!("{}{path}", base(accounts_base));
    let url = Url::parse(&text).map_err(|_| AuthError::BadUrl(accounts_base.to_string()))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        _ => Err(AuthError::BadUrl(accounts_base.to_string())),
    }
}

/// The authorize URL: `{accounts}/authorize?response_type=code&client_id&state&code_challenge
/// &code_challenge_method=S256&redirect_uri&scope` (scopes space-separated).
pub fn authorize_url(
    accounts_base: &str,
    client_id: &str,
    scopes: &[&str],
    redirect_uri: &str,
    state: &str,
    code_challenge: &str,
) -> Result<String, AuthError> {
    let mut url = endpoint(accounts_base, "/authorize")?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("state", state)
        .append_pair("code_challenge", code_challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", &scopes.join(" "));
    Ok(url.to_string())
}

/// Opens `url` with the platform's opener (`xdg-open`, `open`, `cmd /c start`) without waiting
/// for it. Returns whether the opener could be started; a failure never ends the sign-in, since
/// the caller also shows the URL.
pub fn open_in_browser(url: &str) -> bool {
    use std::process::{Command, Stdio};
    let mut cmd = if cfg!(target_os = "macos") {
        let mut c = Command::new("open");
        c.arg(url);
        c
    } else if cfg!(windows) {
        let mut c = Command::new("cmd");
        // `start` treats a first quoted argument as the window title; `^&` keeps cmd from
        // splitting the query string.
        c.args(["/C", "start", ""]).arg(url.replace('&', "^&"));
        c
    } else {
        let mut c = Command::new("xdg-open");
        c.arg(url);
        c
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match cmd.spawn() {
        Ok(mut child) => {
            // Reap it in the background so it does not linger as a zombie.
            std::thread::spawn(move || {
                let _ = child.wait();
            });
            true
        }
        Err(e) => {
            tracing::debug!(error = %e, "cannot start the browser opener");
            false
        }
    }
}

/// Settings of the browser flow.
#[derive(Debug, Clone)]
pub struct BrowserOptions {
    /// How long to wait for the browser to come back to the loopback listener.
    pub redirect_timeout: Duration,
}

impl Default for BrowserOptions {
    fn default() -> Self {
        BrowserOptions {
            redirect_timeout: Duration::from_secs(300),
        }
    }
}

/// Browser sign-in with the default options: see [`browser_pkce_with`].
pub async fn browser_pkce(
    accounts_base: &str,
    client_id: &str,
    scopes: &[&str],
    opener: impl FnOnce(&str),
) -> Result<OAuthToken, AuthError> {
    browser_pkce_with(
        &BrowserOptions::default(),
        accounts_base,
        client_id,
        scopes,
        opener,
    )
    .await
}

/// Browser sign-in: listens on `127.0.0.1:{free port}`, calls `opener` with the authorize URL
/// (the caller opens a browser and shows the URL), serves the one redirect to
/// `http://127.0.0.1:{port}/login`, checks `state`, exchanges the code with the PKCE verifier,
/// and only then answers the browser with a page saying whether the sign-in worked.
pub async fn browser_pkce_with(
    options: &BrowserOptions,
    accounts_base: &str,
    client_id: &str,
    scopes: &[&str],
    opener: impl FnOnce(&str),
) -> Result<OAuthToken, AuthError> {
    let listener = Loopback::bind().await?;
    let redirect_uri = listener.redirect_uri();
    let pkce = Pkce::new_random();
    let state = random_state();
    let url = authorize_url(
        accounts_base,
        client_id,
        scopes,
        &redirect_uri,
        &state,
        pkce.challenge(),
    )?;
    let http = http_client()?;
    opener(&url);
    let redirect = listener
        .wait_for_code(&state, options.redirect_timeout)
        .await?;
    let result = exchange_code(
        &http,
        accounts_base,
        client_id,
        redirect.code(),
        pkce.verifier(),
        &redirect_uri,
    )
    .await;
    match &result {
        Ok(_) => redirect.finish(Page::success()).await,
        Err(e) => {
            redirect
                .finish(Page::failure(
                    "The sign-in could not be completed",
                    &e.to_string(),
                ))
                .await
        }
    }
    result
}

/// A reqwest client for the accounts service: bounded time, no redirects.
pub fn http_client() -> Result<reqwest::Client, AuthError> {
    reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| AuthError::Network {
            url: String::new(),
            reason: describe_reqwest(&e),
        })
}

/// The token request of the browser flow: `POST {accounts}/api/token` with the form
/// `grant_type=authorization_code, code, code_verifier, redirect_uri, client_id` (no secret).
pub async fn exchange_code(
    http: &reqwest::Client,
    accounts_base: &str,
    client_id: &str,
    code: &str,
    code_verifier: &str,
    redirect_uri: &str,
) -> Result<OAuthToken, AuthError> {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("code_verifier", code_verifier),
        ("redirect_uri", redirect_uri),
        ("client_id", client_id),
    ];
    match token_request(http, accounts_base, &form).await? {
        TokenAnswer::Token(t) => Ok(t),
        TokenAnswer::Error { status, error } => Err(refusal(status, error)),
    }
}

fn refusal(status: u16, error: ServerError) -> AuthError {
    if error.error == "access_denied" {
        return AuthError::Denied;
    }
    AuthError::Refused {
        status,
        error: error.describe(),
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    /// Any JSON number (clamped by [`TOKEN_LIFETIME`]); not `u64`, so `-5` or `1e300` from a
    /// broken server is not a parse error.
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

/// An OAuth error body (`{"error": "...", "error_description": "..."}`).
#[derive(Deserialize)]
struct ServerError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl ServerError {
    fn describe(&self) -> String {
        let code = sanitize(&self.error, 64);
        match self.error_description.as_deref().map(|d| sanitize(d, 160)) {
            Some(d) if !d.is_empty() => format!("{code} ({d})"),
            _ => code,
        }
    }
}

/// Keeps server text short and printable so it is safe to show and log.
fn sanitize(text: &str, max: usize) -> String {
    let cleaned: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || " _-.,:;'()/".contains(*c))
        .take(max)
        .collect();
    if cleaned.is_empty() {
        "unknown error".into()
    } else {
        cleaned
    }
}

/// Describes a reqwest error with its causes, without the URL (the caller names it).
fn describe_reqwest(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Describes a JSON error by position only (serde's message can quote values).
fn describe_json(e: &serde_json::Error) -> String {
    format!(
        "not the expected JSON ({:?} error at line {} column {})",
        e.classify(),
        e.line(),
        e.column()
    )
}

enum TokenAnswer {
    Token(OAuthToken),
    Error { status: u16, error: ServerError },
}

async fn token_request(
    http: &reqwest::Client,
    accounts_base: &str,
    form: &[(&str, &str)],
) -> Result<TokenAnswer, AuthError> {
    let url = endpoint(accounts_base, "/api/token")?;
    let (status, body) = post_form(http, &url, form).await?;
    if status == 200 {
        return parse_token(&body).map(TokenAnswer::Token);
    }
    match serde_json::from_slice::<ServerError>(&body) {
        Ok(error) => Ok(TokenAnswer::Error { status, error }),
        Err(_) => Err(AuthError::Refused {
            status,
            error: "no OAuth error in the answer".into(),
        }),
    }
}

async fn post_form(
    http: &reqwest::Client,
    url: &Url,
    form: &[(&str, &str)],
) -> Result<(u16, Vec<u8>), AuthError> {
    let network = |e: reqwest::Error| AuthError::Network {
        url: url.to_string(),
        reason: describe_reqwest(&e),
    };
    let resp = http
        .post(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .form(form)
        .send()
        .await
        .map_err(network)?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(network)?;
    Ok((status, body.to_vec()))
}

fn parse_token(body: &[u8]) -> Result<OAuthToken, AuthError> {
    let t: TokenResponse =
        serde_json::from_slice(body).map_err(|e| AuthError::BadResponse(describe_json(&e)))?;
    if let Some(tt) = &t.token_type {
        if !tt.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::BadResponse(format!(
                "token type \"{}\" instead of Bearer",
                sanitize(tt, 32)
            )));
        }
    }
    if t.access_token.is_empty() {
        return Err(AuthError::BadResponse("empty access token".into()));
    }
    Ok(OAuthToken {
        access_token: t.access_token,
        refresh_token: t.refresh_token.filter(|r| !r.is_empty()),
        expires_at: SystemTime::now().later_by(TOKEN_LIFETIME.secs_json(t.expires_in.as_ref())),
        scopes: t
            .scope
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
        username: t.username.filter(|u| !u.is_empty()),
    })
}

#[cfg(test)]
mod tests;
