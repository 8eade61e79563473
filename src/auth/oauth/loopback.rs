//! The browser flow's loopback redirect listener (protocol spec §4.4): a one-shot HTTP listener
//! on `127.0.0.1:{free port}` that takes the accounts service's redirect to `/login`, checks
//! `state`, hands the code over, and answers the browser with a [`Page`] once the caller knows
//! whether the sign-in worked. Requests are read by hand with bounds (size, time, connections
//! at once); anything else gets a 404 or 400 and the listener keeps waiting.
//!
//! Used by `auth::oauth`'s browser flow ([`super::browser_pkce_with`]). Codes never appear in
//! `Debug`, errors or logs. Must not depend on UI modules.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::{
    sanitize, AuthError, MAX_CONNECTIONS, MAX_REQUEST_BYTES, REDIRECT_PATH, REQUEST_READ_TIMEOUT,
};
use crate::server_time::Later as _;

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
pub(super) enum Incoming {
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
pub(super) fn check_redirect(
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

pub(super) fn parse_request_head(head: &[u8]) -> Incoming {
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
