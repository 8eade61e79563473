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

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::server_time::{Later as _, SecsBounds};

use reqwest::Url;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

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

// ---------------------------------------------------------------------------------------------
// The loopback redirect listener.

/// A page shown to the browser at the end of the flow.
#[derive(Debug, Clone)]
pub struct Page {
    status: &'static str,
    title: String,
    message: String,
}

impl Page {
    fn new(status: &'static str, title: &str, message: &str) -> Page {
        Page {
            status,
            title: title.to_string(),
            message: message.to_string(),
        }
    }

    pub fn success() -> Page {
        Page::new(
            "200 OK",
            "Signed in to tonearm",
            "Signed in to tonearm — you can close this tab and go back to the terminal.",
        )
    }

    pub fn failure(title: &str, message: &str) -> Page {
        Page::new("400 Bad Request", title, message)
    }

    /// The answer to a `/login` with the wrong (or no) `state`; the sign-in goes on.
    fn wrong_state() -> Page {
        Page::failure(
            "Not this sign-in",
            "This sign-in redirect carried the wrong `state`: it did not come from the sign-in \
             tonearm is waiting for, so it was refused. tonearm is still waiting — finish \
             signing in in the tab that `tonearm login` opened (or with the address it printed).",
        )
    }

    fn html(&self) -> String {
        format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>{t}</title></head>\n<body style=\"font-family: sans-serif; margin: 3em\">\
             <h1>{t}</h1>\n<p>{m}</p>\n</body></html>\n",
            t = html_escape(&self.title),
            m = html_escape(&self.message)
        )
    }

    async fn write_to(&self, stream: &mut TcpStream) {
        let body = self.html();
        let head = format!(
            "HTTP/1.1 {}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n",
            self.status,
            body.len()
        );
        let write = async {
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(body.as_bytes()).await?;
            stream.flush().await?;
            stream.shutdown().await
        };
        if let Err(e) = tokio::time::timeout(Duration::from_secs(5), write)
            .await
            .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
        {
            tracing::debug!(error = %e, "cannot answer the browser");
        }
    }
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The one-shot redirect listener on `127.0.0.1:{free port}`.
pub struct Loopback {
    listener: TcpListener,
    port: u16,
}

/// A redirect that carried the right `state` and a code; the browser waits for
/// [`Redirect::finish`].
pub struct Redirect {
    code: String,
    stream: TcpStream,
}

impl fmt::Debug for Redirect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redirect")
            .field("code", &"<redacted>")
            .finish()
    }
}

impl Redirect {
    /// The authorization code (secret).
    pub fn code(&self) -> &str {
        &self.code
    }

    /// Answers the browser and closes the connection.
    pub async fn finish(mut self, page: Page) {
        page.write_to(&mut self.stream).await;
    }
}

/// What one browser connection sent.
enum Incoming {
    Get {
        path: String,
        query: Vec<(String, String)>,
    },
    OtherMethod,
    TooLarge,
    Malformed,
}

impl Loopback {
    /// Binds `127.0.0.1:0` (a free port chosen by the OS).
    pub async fn bind() -> Result<Loopback, AuthError> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .map_err(AuthError::Listen)?;
        let port = listener.local_addr().map_err(AuthError::Listen)?.port();
        Ok(Loopback { listener, port })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:{port}/login`.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{REDIRECT_PATH}", self.port)
    }

    /// Serves browser requests until the redirect to `/login` with this attempt's `state`
    /// arrives or `timeout` passes. `/favicon.ico` and other paths get a 404, oversized or
    /// malformed requests a 4xx, and the listener keeps waiting. A `/login` whose `state` is
    /// wrong or missing did not come from this attempt — any local process or web page can send
    /// one — so it gets a 400 page and the wait goes on (its `error` or `code` are not looked
    /// at); when the time runs out after such refusals the error is
    /// [`AuthError::StateMismatch`], else [`AuthError::RedirectTimeout`]. The redirect with the
    /// right `state` ends the wait: `error=access_denied` (→ [`AuthError::Denied`]), any other
    /// `error`, or a missing code is answered with an error page; a good one is returned with
    /// the connection still open so the caller can say how the sign-in ended.
    pub async fn wait_for_code(
        self,
        expected_state: &str,
        timeout: Duration,
    ) -> Result<Redirect, AuthError> {
        let deadline = tokio::time::Instant::now().later_by(timeout);
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        // Each request travels with its connection slot, which is held until it is answered:
        // a flood of requests waits for slots instead of piling up unanswered connections.
        let (tx, mut rx) =
            mpsc::channel::<(TcpStream, Incoming, OwnedSemaphorePermit)>(MAX_CONNECTIONS);
        let mut refused = 0u32;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {
                    let waited_secs = timeout.as_secs();
                    return Err(if refused > 0 {
                        AuthError::StateMismatch { refused, waited_secs }
                    } else {
                        AuthError::RedirectTimeout(waited_secs)
                    });
                }
                accepted = self.listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    // Too many open connections: drop this one (the browser retries).
                    let Ok(permit) = slots.clone().try_acquire_owned() else { continue };
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let mut stream = stream;
                        let read = tokio::time::timeout(
                            REQUEST_READ_TIMEOUT,
                            read_request(&mut stream),
                        )
                        .await;
                        if let Ok(Some(incoming)) = read {
                            let _ = tx.send((stream, incoming, permit)).await;
                        }
                    });
                }
                Some((mut stream, incoming, permit)) = rx.recv() => {
                    let page = match incoming {
                        Incoming::Get { path, query } if path == REDIRECT_PATH => {
                            match check_redirect(&query, expected_state) {
                                Ok(Some(code)) => return Ok(Redirect { code, stream }),
                                Ok(None) => {
                                    refused = refused.saturating_add(1);
                                    tracing::info!(
                                        refused,
                                        "a sign-in redirect with the wrong state was refused; \
                                         still waiting for the right one"
                                    );
                                    Page::wrong_state()
                                }
                                Err(e) => {
                                    Page::failure("Sign-in failed", &e.to_string())
                                        .write_to(&mut stream)
                                        .await;
                                    return Err(e);
                                }
                            }
                        }
                        Incoming::Get { .. } => Page::new("404 Not Found", "Not found",
                            "This address only receives the tonearm sign-in redirect."),
                        Incoming::OtherMethod => Page::new("405 Method Not Allowed",
                            "Method not allowed", "Only GET is accepted here."),
                        Incoming::TooLarge => Page::new("431 Request Header Fields Too Large",
                            "Request too large", "The request was larger than tonearm accepts."),
                        Incoming::Malformed => Page::new("400 Bad Request", "Bad request",
                            "The request could not be understood."),
                    };
                    tokio::spawn(async move {
                        page.write_to(&mut stream).await;
                        drop(permit);
                    });
                }
            }
        }
    }
}

/// Checks the redirect's query: `state` first (constant time), then `error`, then `code`.
/// `Ok(None)` when `state` is wrong or missing: the request is not this attempt's redirect and
/// says nothing about how the sign-in went.
fn check_redirect(
    query: &[(String, String)],
    expected_state: &str,
) -> Result<Option<String>, AuthError> {
    use subtle::ConstantTimeEq as _;
    let get = |k: &str| query.iter().find(|(name, _)| name == k).map(|(_, v)| v);
    let state_ok = get("state").is_some_and(|s| {
        s.len() == expected_state.len() && bool::from(s.as_bytes().ct_eq(expected_state.as_bytes()))
    });
    if !state_ok {
        return Ok(None);
    }
    if let Some(error) = get("error") {
        if error == "access_denied" {
            return Err(AuthError::Denied);
        }
        return Err(AuthError::Authorize(sanitize(error, 64)));
    }
    match get("code") {
        Some(code) if !code.is_empty() => Ok(Some(code.clone())),
        _ => Err(AuthError::MissingCode),
    }
}

/// Reads one request head (up to [`MAX_REQUEST_BYTES`]). `None` when the peer went away.
async fn read_request(stream: &mut TcpStream) -> Option<Incoming> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = find_head_end(&buf) {
            return Some(parse_request_head(&buf[..end]));
        }
        if buf.len() > MAX_REQUEST_BYTES {
            return Some(Incoming::TooLarge);
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .filter(|&p| p + 4 <= MAX_REQUEST_BYTES)
}

fn parse_request_head(head: &[u8]) -> Incoming {
    let Ok(text) = std::str::from_utf8(head) else {
        return Incoming::Malformed;
    };
    let line = text.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Incoming::Malformed;
    };
    if parts.next().is_some() || !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Incoming::Malformed;
    }
    if method != "GET" {
        return Incoming::OtherMethod;
    }
    let Ok(url) = Url::parse(&format!("http://127.0.0.1{target}")) else {
        return Incoming::Malformed;
    };
    Incoming::Get {
        path: url.path().to_string(),
        query: url.query_pairs().into_owned().collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// The device-authorization flow (RFC 8628).

/// What the user needs to approve this device. `Debug` hides the codes.
#[derive(Clone)]
pub struct DeviceCode {
    device_code: String,
    /// The code the user types at `verification_uri`.
    pub user_code: String,
    pub verification_uri: String,
    /// The same page with the code filled in, when the server offers it.
    pub verification_uri_complete: Option<String>,
    /// How long the codes stay valid.
    pub expires_in: Duration,
    /// The polling interval the server asked for.
    pub interval: Duration,
}

impl fmt::Debug for DeviceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCode")
            .field("device_code", &"<redacted>")
            .field("user_code", &"<redacted>")
            .field("verification_uri", &self.verification_uri)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish()
    }
}

#[derive(Deserialize)]
struct DeviceResponse {
    device_code: String,
    user_code: String,
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    /// Any JSON number (clamped, see [`device_timing`]).
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    interval: Option<serde_json::Value>,
}

/// Polling settings of the device flow.
#[derive(Debug, Clone)]
pub struct DeviceOptions {
    /// Interval when the server names none (RFC 8628: 5 s).
    pub default_interval: Duration,
    /// Added to the interval on each `slow_down` (RFC 8628: 5 s).
    pub slow_down_step: Duration,
    /// Never poll faster than this, whatever the server says.
    pub min_interval: Duration,
    /// Code lifetime when the server names none.
    pub default_expiry: Duration,
    /// Consecutive network failures tolerated while polling.
    pub max_network_failures: u32,
}

impl Default for DeviceOptions {
    fn default() -> Self {
        DeviceOptions {
            default_interval: Duration::from_secs(5),
            slow_down_step: Duration::from_secs(5),
            min_interval: Duration::from_secs(1),
            default_expiry: Duration::from_secs(600),
            max_network_failures: 3,
        }
    }
}

/// Device-code sign-in with the default options: see [`device_code_with`].
pub async fn device_code(
    accounts_base: &str,
    client_id: &str,
    scopes: &[&str],
    on_code: impl FnOnce(&DeviceCode),
) -> Result<OAuthToken, AuthError> {
    device_code_with(
        &DeviceOptions::default(),
        accounts_base,
        client_id,
        scopes,
        on_code,
    )
    .await
}

/// Device-code sign-in: `POST {accounts}/oauth2/device/authorize` (client_id, scope), hands the
/// user code to `on_code` (the caller shows it with the verification URI), then polls the token
/// endpoint with `grant_type=urn:ietf:params:oauth:grant-type:device_code` every `interval`
/// (plus `slow_down_step` for each `slow_down`) until the user approves, refuses
/// (`access_denied` → [`AuthError::Denied`]) or the code expires (→ [`AuthError::Expired`]).
pub async fn device_code_with(
    options: &DeviceOptions,
    accounts_base: &str,
    client_id: &str,
    scopes: &[&str],
    on_code: impl FnOnce(&DeviceCode),
) -> Result<OAuthToken, AuthError> {
    let http = http_client()?;
    let code = request_device_code(&http, options, accounts_base, client_id, scopes).await?;
    on_code(&code);
    poll_device_token(&http, options, accounts_base, client_id, &code).await
}

/// Step one of the device flow.
pub async fn request_device_code(
    http: &reqwest::Client,
    options: &DeviceOptions,
    accounts_base: &str,
    client_id: &str,
    scopes: &[&str],
) -> Result<DeviceCode, AuthError> {
    let url = endpoint(accounts_base, "/oauth2/device/authorize")?;
    let scope = scopes.join(" ");
    let (status, body) =
        post_form(http, &url, &[("client_id", client_id), ("scope", &scope)]).await?;
    if status != 200 {
        return Err(match serde_json::from_slice::<ServerError>(&body) {
            Ok(error) => refusal(status, error),
            Err(_) => AuthError::Refused {
                status,
                error: "no OAuth error in the answer".into(),
            },
        });
    }
    parse_device_code(&body, options)
}

/// The device-authorization answer (a 200's body) as a [`DeviceCode`], with its durations
/// bounded by [`device_timing`].
fn parse_device_code(body: &[u8], options: &DeviceOptions) -> Result<DeviceCode, AuthError> {
    let d: DeviceResponse =
        serde_json::from_slice(body).map_err(|e| AuthError::BadResponse(describe_json(&e)))?;
    if d.device_code.is_empty() || d.user_code.is_empty() || d.verification_uri.is_empty() {
        return Err(AuthError::BadResponse(
            "the device code answer has empty fields".into(),
        ));
    }
    let (expires_in, interval) = device_timing(options, d.expires_in.as_ref(), d.interval.as_ref());
    Ok(DeviceCode {
        device_code: d.device_code,
        user_code: d.user_code,
        verification_uri: d.verification_uri,
        verification_uri_complete: d.verification_uri_complete.filter(|u| !u.is_empty()),
        expires_in,
        interval,
    })
}

/// The server's `expires_in` and `interval`, bounded: a missing or non-positive lifetime is
/// `default_expiry`, any lifetime at most [`MAX_DEVICE_CODE_LIFETIME`]; a missing interval is
/// `default_interval`, any interval between `min_interval` and [`MAX_POLL_INTERVAL`].
fn device_timing(
    options: &DeviceOptions,
    expires_in: Option<&serde_json::Value>,
    interval: Option<&serde_json::Value>,
) -> (Duration, Duration) {
    let positive = expires_in.filter(|v| v.as_f64().is_some_and(|f| f > 0.0));
    let lifetime = SecsBounds::new(
        options.default_expiry,
        Duration::from_secs(1),
        MAX_DEVICE_CODE_LIFETIME,
    );
    let polling = SecsBounds::new(
        options.default_interval,
        options.min_interval,
        MAX_POLL_INTERVAL,
    );
    (lifetime.secs_json(positive), polling.secs_json(interval))
}

/// The polling interval after one more `slow_down`, never past [`MAX_POLL_INTERVAL`].
fn slowed_down(interval: Duration, step: Duration) -> Duration {
    interval.saturating_add(step).min(MAX_POLL_INTERVAL)
}

/// Step two of the device flow: polls until approved, refused or expired.
pub async fn poll_device_token(
    http: &reqwest::Client,
    options: &DeviceOptions,
    accounts_base: &str,
    client_id: &str,
    code: &DeviceCode,
) -> Result<OAuthToken, AuthError> {
    let deadline = tokio::time::Instant::now().later_by(code.expires_in);
    let mut interval = code
        .interval
        .max(options.min_interval)
        .min(MAX_POLL_INTERVAL);
    let mut failures = 0u32;
    let form = [
        ("grant_type", DEVICE_GRANT),
        ("device_code", code.device_code.as_str()),
        ("client_id", client_id),
    ];
    loop {
        if tokio::time::Instant::now().later_by(interval) > deadline {
            return Err(AuthError::Expired);
        }
        tokio::time::sleep(interval).await;
        match token_request(http, accounts_base, &form).await {
            Ok(TokenAnswer::Token(t)) => return Ok(t),
            Ok(TokenAnswer::Error { status, error }) => {
                failures = 0;
                match error.error.as_str() {
                    "authorization_pending" => {}
                    "slow_down" => {
                        interval = slowed_down(interval, options.slow_down_step);
                        tracing::debug!(interval_ms = interval.as_millis() as u64, "slow_down");
                    }
                    "expired_token" => return Err(AuthError::Expired),
                    _ => return Err(refusal(status, error)),
                }
            }
            Err(e @ AuthError::Network { .. }) => {
                failures += 1;
                if failures > options.max_network_failures {
                    return Err(e);
                }
                tracing::debug!(error = %e, "device poll failed; will retry");
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests;
