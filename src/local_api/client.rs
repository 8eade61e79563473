//! A small client for the control API: one HTTP/1.1 request per connection over the Unix
//! socket (or the token-guarded TCP listener), and the event stream as a WebSocket. Used by
//! `tonearm ctl`, the tests and the benches; it tells "nothing is running" apart from every
//! other failure, so `ctl` can say so in one line.
//!
//! Depends on `schema` and std/tokio-tungstenite only.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::schema::{Answer, Event, Request};

/// Where the API is.
#[derive(Debug, Clone)]
pub enum Target {
    Unix(PathBuf),
    Tcp { addr: SocketAddr, token: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no tonearm is running (no control socket at {0})")]
    NotRunning(PathBuf),
    #[error("cannot talk to tonearm at {at}: {source}")]
    Io {
        at: String,
        #[source]
        source: std::io::Error,
    },
    #[error("tonearm's answer is malformed: {0}")]
    Malformed(String),
    #[error("event stream: {0}")]
    Stream(String),
}

/// An answer: the HTTP status, the parsed body, and the body as sent.
#[derive(Debug, Clone)]
pub struct Reply {
    pub code: u16,
    pub answer: Answer,
    pub body: String,
}

const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read (a long queue fits easily).
const MAX_ANSWER: u64 = 16 * 1024 * 1024;

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

impl Target {
    fn describe(&self) -> String {
        match self {
            Target::Unix(p) => p.display().to_string(),
            Target::Tcp { addr, .. } => addr.to_string(),
        }
    }

    fn open(&self) -> Result<Box<dyn Stream>, ClientError> {
        let io = |source| ClientError::Io {
            at: self.describe(),
            source,
        };
        match self {
            Target::Unix(path) => {
                let s =
                    std::os::unix::net::UnixStream::connect(path).map_err(|e| match e.kind() {
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                            ClientError::NotRunning(path.clone())
                        }
                        _ => io(e),
                    })?;
                s.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
                s.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
                Ok(Box::new(s))
            }
            Target::Tcp { addr, .. } => {
                let s = std::net::TcpStream::connect_timeout(addr, TIMEOUT).map_err(io)?;
                s.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
                s.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
                Ok(Box::new(s))
            }
        }
    }

    fn host_and_auth(&self) -> (String, String) {
        match self {
            Target::Unix(_) => ("localhost".into(), String::new()),
            Target::Tcp { addr, token } => (
                addr.to_string(),
                format!("authorization: Bearer {token}\r\n"),
            ),
        }
    }

    /// One request; `body` is sent as JSON.
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> Result<Reply, ClientError> {
        let mut s = self.open()?;
        let (host, auth) = self.host_and_auth();
        let body = body.unwrap_or("");
        let content = if method == "POST" {
            format!(
                "content-type: application/json\r\ncontent-length: {}\r\n",
                body.len()
            )
        } else {
            String::new()
        };
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {host}\r\n{auth}{content}connection: close\r\n\r\n"
        );
        let io = |source| ClientError::Io {
            at: self.describe(),
            source,
        };
        s.write_all(head.as_bytes()).map_err(io)?;
        s.write_all(body.as_bytes()).map_err(io)?;
        s.flush().map_err(io)?;
        let mut raw = Vec::new();
        s.take(MAX_ANSWER).read_to_end(&mut raw).map_err(io)?;
        parse_response(&raw)
    }

    /// A command as JSON.
    pub fn command(&self, req: &Request) -> Result<Reply, ClientError> {
        let body = serde_json::to_string(req).map_err(|e| ClientError::Malformed(e.to_string()))?;
        self.call("POST", "/v1/command", Some(&body))
    }

    /// Opens the event stream; the `hello` event comes first.
    pub async fn events(&self) -> Result<Events, ClientError> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let io = |source| ClientError::Io {
            at: self.describe(),
            source,
        };
        let (host, _) = self.host_and_auth();
        let mut req = format!("ws://{host}/v1/events")
            .into_client_request()
            .map_err(|e| ClientError::Stream(e.to_string()))?;
        let stream: Box<dyn AsyncStream> = match self {
            Target::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await.map_err(
                |e| match e.kind() {
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                        ClientError::NotRunning(path.clone())
                    }
                    _ => io(e),
                },
            )?),
            Target::Tcp { addr, token } => {
                let v = format!("Bearer {token}")
                    .parse()
                    .map_err(|_| ClientError::Stream("bad token".into()))?;
                req.headers_mut().insert("authorization", v);
                Box::new(tokio::net::TcpStream::connect(addr).await.map_err(io)?)
            }
        };
        let (ws, _) = tokio_tungstenite::client_async(req, stream)
            .await
            .map_err(|e| ClientError::Stream(e.to_string()))?;
        Ok(Events { ws })
    }
}

/// An async byte stream (Unix or TCP) for the WebSocket.
pub trait AsyncStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> AsyncStream for T {}

/// The open event stream.
pub struct Events {
    ws: tokio_tungstenite::WebSocketStream<Box<dyn AsyncStream>>,
}

impl Events {
    /// The next event as sent (the JSON text) and parsed; `None` when the stream ended.
    pub async fn next(&mut self) -> Option<Result<(String, Event), ClientError>> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            match self.ws.next().await? {
                Ok(Message::Text(t)) => {
                    let text = t.to_string();
                    return Some(
                        serde_json::from_str(&text)
                            .map(|e| (text, e))
                            .map_err(|e| ClientError::Malformed(e.to_string())),
                    );
                }
                Ok(Message::Close(_)) => return None,
                Ok(_) => continue,
                Err(e) => return Some(Err(ClientError::Stream(e.to_string()))),
            }
        }
    }
}

/// Splits an HTTP/1.1 response into its status and JSON body (plain or chunked).
pub fn parse_response(raw: &[u8]) -> Result<Reply, ClientError> {
    let bad = |m: &str| ClientError::Malformed(m.to_string());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad("headers are not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let code = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| bad("no status line"))?;
    let chunked = lines.any(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("transfer-encoding:")
            .is_some_and(|v| v.contains("chunked"))
    });
    let mut body = raw[split + 4..].to_vec();
    if chunked {
        body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
    }
    let body = String::from_utf8(body).map_err(|_| bad("the body is not UTF-8"))?;
    let answer: Answer = serde_json::from_str(&body)
        .map_err(|e| ClientError::Malformed(format!("{e} (HTTP {code})")))?;
    Ok(Reply { code, answer, body })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&b[..eol])
            .ok()?
            .split(';')
            .next()?
            .trim();
        let n = usize::from_str_radix(size, 16).ok()?;
        b = &b[eol + 2..];
        if n == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..n)?);
        b = b.get(n + 2..)?;
    }
}

#[cfg(test)]
mod tests;
