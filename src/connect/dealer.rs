//! The dealer websocket client (protocol spec §11.1): connects to
//! `{dealer}/?access_token=<login5 token>`, waits for the connection id
//! (`hm://pusher/v1/connections/…`), decodes messages (base64 payloads, gunzipped when
//! `Transfer-Encoding: gzip`) and requests (`payload.compressed`, or inline JSON), hands them to
//! listeners registered by URI prefix, and sends replies. Keep-alive in both styles: a websocket
//! Ping frame and the JSON `{"type":"ping"}` every `ping_interval`; no pong within
//! `pong_timeout` → reconnect. Reconnects with jittered back-off (1 s doubling to 30 s, each
//! wait uniformly between half and all of it) that starts over only after a connection stayed
//! up for `stable_after` (60 s), or when the owner says the server is back after an outage
//! ([`Dealer::server_back`]: the access point reconnected), which also ends a pending wait; a
//! fresh token is asked for only after the dealer refused the last one (HTTP 401), naming the
//! refused token so that a token minted since by another service is kept — a flapping dealer
//! costs no login5 requests. Messages and frames are
//! capped at [`MAX_PAYLOAD`] (8 MiB, what the parser accepts). The owner learns about each
//! (re)connection through [`DealerEvent::Connected`] and re-registers the device then.
//!
//! Called by the Connect service (`service.rs`). Depends on no other tonearm module except
//! through the token callback; never imports UI code or the simulator. Tokens never appear in
//! logs or errors: connection errors are described without the URL.

use std::collections::HashMap;
use std::io::Read;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// Largest decompressed payload accepted (a cluster with many devices is a few KiB).
pub const MAX_PAYLOAD: usize = 8 * 1024 * 1024;

/// The URI prefix of the connection-id message.
pub const CONNECTION_ID_URI: &str = "hm://pusher/v1/connections/";

/// Why a frame or a connection failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DealerError {
    #[error("malformed dealer frame: {0}")]
    Malformed(String),
    #[error("cannot connect to the dealer: {0}")]
    Connect(String),
    #[error("no access token for the dealer: {0}")]
    Token(String),
    #[error("the dealer sent no connection id in time")]
    NoConnectionId,
    #[error("the dealer did not answer a ping in time")]
    PongTimeout,
    #[error("the dealer closed the connection")]
    Closed,
}

/// A server → client message.
#[derive(Debug, Clone, PartialEq)]
pub struct DealerMessage {
    pub uri: String,
    pub method: String,
    /// Header names as sent (look them up with [`DealerMessage::header`]).
    pub headers: HashMap<String, String>,
    /// The payloads decoded (base64 → bytes, gunzipped as the headers say) and concatenated.
    pub payload: Vec<u8>,
}

impl DealerMessage {
    /// A header value, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// A server → client request; answer it with [`Dealer::reply`].
#[derive(Debug, Clone, PartialEq)]
pub struct DealerRequest {
    pub key: String,
    pub message_ident: String,
    /// The decoded JSON body.
    pub payload: Value,
}

/// One decoded text frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Message(DealerMessage),
    Request(DealerRequest),
    Ping,
    Pong,
    /// A frame type we do not know (logged and ignored).
    Other(String),
}

/// What happened to the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DealerEvent {
    /// Connected and given this connection id (after every reconnect, too).
    Connected { connection_id: String },
    /// The connection was lost; reconnect attempt `attempt` follows after the back-off.
    Disconnected { attempt: u32, reason: String },
}

/// Timing of the keep-alive and the reconnects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DealerConfig {
    pub ping_interval: Duration,
    pub pong_timeout: Duration,
    pub connect_timeout: Duration,
    /// How long to wait for the connection-id message after the websocket opened.
    pub connection_id_timeout: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// The back-off starts over only after a connection stayed up this long (60 s): a dealer
    /// that accepts and then closes must not earn a reconnect (and a token) every second.
    pub stable_after: Duration,
}

impl Default for DealerConfig {
    fn default() -> Self {
        DealerConfig {
            ping_interval: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(10),
            connection_id_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            stable_after: Duration::from_secs(60),
        }
    }
}

impl DealerConfig {
    /// The wait before reconnect attempt `attempt` (1-based): `min` doubling up to `max`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let shift = attempt.saturating_sub(1).min(16);
        self.backoff_min
            .saturating_mul(1u32 << shift)
            .min(self.backoff_max)
    }

    /// [`DealerConfig::backoff`] with jitter: a uniformly random wait between half of it and
    /// all of it, so that many clients dropped at once do not come back in lock-step.
    pub fn jittered_backoff(&self, attempt: u32) -> Duration {
        use rand::Rng;
        self.backoff(attempt)
            .mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }
}

/// A future giving an access token.
pub type TokenFuture = Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send>>;
/// Gives access tokens to the dealer task. `Some(refused)`: the dealer refused that token
/// (HTTP 401 on the upgrade); the source drops it, if it is still the current one, and gives
/// another. `None`: any usable token (the cached one).
pub type TokenSource = Arc<dyn Fn(Option<String>) -> TokenFuture + Send + Sync>;

fn header<'a>(headers: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn b64_decode(s: &str) -> Result<Vec<u8>, DealerError> {
    let s = s.trim();
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(s))
        .map_err(|e| DealerError::Malformed(format!("bad base64 payload: {e}")))
}

/// Gunzips at most [`MAX_PAYLOAD`] bytes.
pub fn gunzip(data: &[u8]) -> Result<Vec<u8>, DealerError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .take(MAX_PAYLOAD as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| DealerError::Malformed(format!("bad gzip payload: {e}")))?;
    if out.len() > MAX_PAYLOAD {
        return Err(DealerError::Malformed("payload too large".into()));
    }
    Ok(out)
}

fn is_gzip(headers: &HashMap<String, String>) -> bool {
    header(headers, "Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("gzip"))
}

fn string_map(v: Option<&Value>) -> HashMap<String, String> {
    let Some(Value::Object(map)) = v else {
        return HashMap::new();
    };
    map.iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), s)
        })
        .collect()
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Decodes one text frame (lenient: unknown keys are ignored; missing parts are errors only
/// where they make the frame useless).
pub fn parse_frame(text: &str) -> Result<Frame, DealerError> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| DealerError::Malformed(format!("not JSON: {e}")))?;
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| DealerError::Malformed("no `type`".into()))?
        .to_ascii_lowercase();
    match kind.as_str() {
        "ping" => Ok(Frame::Ping),
        "pong" => Ok(Frame::Pong),
        "message" => {
            let uri = str_field(&v, "uri")
                .ok_or_else(|| DealerError::Malformed("message without `uri`".into()))?;
            let headers = string_map(v.get("headers"));
            let gzip = is_gzip(&headers);
            let mut payload = Vec::new();
            if let Some(Value::Array(parts)) = v.get("payloads") {
                for part in parts {
                    match part {
                        Value::String(s) => {
                            let raw = b64_decode(s)?;
                            let bytes = if gzip { gunzip(&raw)? } else { raw };
                            payload.extend_from_slice(&bytes);
                        }
                        Value::Null => {}
                        other => payload.extend_from_slice(other.to_string().as_bytes()),
                    }
                    if payload.len() > MAX_PAYLOAD {
                        return Err(DealerError::Malformed("payload too large".into()));
                    }
                }
            }
            Ok(Frame::Message(DealerMessage {
                uri,
                method: str_field(&v, "method").unwrap_or_default(),
                headers,
                payload,
            }))
        }
        "request" => {
            let key = str_field(&v, "key")
                .ok_or_else(|| DealerError::Malformed("request without `key`".into()))?;
            let message_ident = str_field(&v, "message_ident").unwrap_or_default();
            let headers = string_map(v.get("headers"));
            let payload = match v.get("payload") {
                Some(p) => match p.get("compressed") {
                    Some(Value::String(s)) => {
                        let raw = b64_decode(s)?;
                        let bytes = if is_gzip(&headers) {
                            gunzip(&raw)?
                        } else {
                            raw
                        };
                        serde_json::from_slice(&bytes).map_err(|e| {
                            DealerError::Malformed(format!("request payload is not JSON: {e}"))
                        })?
                    }
                    Some(_) => {
                        return Err(DealerError::Malformed(
                            "`payload.compressed` is not a string".into(),
                        ))
                    }
                    None => p.clone(),
                },
                None => Value::Null,
            };
            Ok(Frame::Request(DealerRequest {
                key,
                message_ident,
                payload,
            }))
        }
        other => Ok(Frame::Other(other.to_string())),
    }
}

/// The reply frame for a request.
pub fn reply_frame(key: &str, success: bool) -> String {
    serde_json::json!({"type": "reply", "key": key, "payload": {"success": success}}).to_string()
}

/// The connection id of a `hm://pusher/v1/connections/…` message: the `Spotify-Connection-Id`
/// header, else the URI suffix.
pub fn connection_id(msg: &DealerMessage) -> Option<String> {
    if !msg.uri.starts_with(CONNECTION_ID_URI) {
        return None;
    }
    if let Some(id) = msg
        .header("Spotify-Connection-Id")
        .filter(|s| !s.is_empty())
    {
        return Some(id.to_string());
    }
    let suffix = &msg.uri[CONNECTION_ID_URI.len()..];
    (!suffix.is_empty()).then(|| suffix.to_string())
}

/// `hm://a/b/` matches `hm://a/b/c`; a prefix without a trailing slash matches itself and
/// anything below it (`hm://a/b` matches `hm://a/b` and `hm://a/b/c`, not `hm://a/bc`).
pub fn uri_matches(prefix: &str, uri: &str) -> bool {
    if prefix.ends_with('/') {
        return uri.starts_with(prefix);
    }
    uri == prefix
        || (uri.starts_with(prefix) && uri.as_bytes().get(prefix.len()).is_some_and(|&b| b == b'/'))
}

#[derive(Default)]
struct Listeners {
    messages: Vec<(String, mpsc::UnboundedSender<DealerMessage>)>,
    requests: Vec<(String, mpsc::UnboundedSender<DealerRequest>)>,
}

enum Outgoing {
    Reply { key: String, success: bool },
    Reconnect,
    ServerBack,
}

/// The dealer handle; cheap to clone. Dropping every clone does not stop the task: call
/// [`Dealer::shutdown`].
#[derive(Clone)]
pub struct Dealer {
    out: mpsc::UnboundedSender<Outgoing>,
    listeners: Arc<Mutex<Listeners>>,
    stop: watch::Sender<bool>,
}

impl Dealer {
    /// Starts the connection task for `base` (`wss://host:port` or `ws://…` in tests).
    pub fn start(
        base: String,
        tokens: TokenSource,
        config: DealerConfig,
    ) -> (Dealer, mpsc::UnboundedReceiver<DealerEvent>) {
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = watch::channel(false);
        let listeners = Arc::new(Mutex::new(Listeners::default()));
        let task = Task {
            base,
            tokens,
            config,
            out: out_rx,
            events: ev_tx,
            listeners: listeners.clone(),
            stop: stop_rx,
            server_back: false,
        };
        tokio::spawn(task.run());
        (
            Dealer {
                out: out_tx,
                listeners,
                stop: stop_tx,
            },
            ev_rx,
        )
    }

    /// Messages whose URI matches `prefix` (see [`uri_matches`]).
    pub fn listen(&self, prefix: &str) -> mpsc::UnboundedReceiver<DealerMessage> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().messages.push((prefix.to_string(), tx));
        rx
    }

    /// Requests whose `message_ident` matches `prefix`. Requests nobody handles are answered
    /// `success: false`.
    pub fn handle_requests(&self, prefix: &str) -> mpsc::UnboundedReceiver<DealerRequest> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().requests.push((prefix.to_string(), tx));
        rx
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Listeners> {
        self.listeners.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers a request (dropped with a log line when the connection is down).
    pub fn reply(&self, key: &str, success: bool) {
        let _ = self.out.send(Outgoing::Reply {
            key: key.to_string(),
            success,
        });
    }

    /// Drops the connection and reconnects (after the shortest back-off); while waiting out a
    /// back-off, tries again now.
    pub fn reconnect(&self) {
        let _ = self.out.send(Outgoing::Reconnect);
    }

    /// The server is reachable again after an outage (the access point reconnected): the
    /// back-off grown while it was away starts over and a pending wait ends now, so the
    /// dealer is back within a second of the server. A dealer that flaps while the access
    /// point stays up never gets this, and keeps backing off.
    pub fn server_back(&self) {
        let _ = self.out.send(Outgoing::ServerBack);
    }

    /// Closes the connection and ends the task.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }
}

struct Task {
    base: String,
    tokens: TokenSource,
    config: DealerConfig,
    out: mpsc::UnboundedReceiver<Outgoing>,
    events: mpsc::UnboundedSender<DealerEvent>,
    listeners: Arc<Mutex<Listeners>>,
    stop: watch::Receiver<bool>,
    /// [`Outgoing::ServerBack`] arrived while a connection was being made or was up: the
    /// back-off starts over at the next loss.
    server_back: bool,
}

/// How a connection ended.
enum End {
    Stop,
    Lost {
        /// How long the connection had its connection id (`None`: never got one).
        up_for: Option<Duration>,
        /// The access token the server refused (HTTP 401 on the upgrade). Never logged.
        refused: Option<String>,
        reason: String,
    },
}

/// Resolves once the stop flag is set (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

fn dealer_url(base: &str, token: &str) -> String {
    let base = base.trim_end_matches('/');
    let base = if base.contains("://") {
        base.to_string()
    } else {
        format!("wss://{base}")
    };
    format!("{base}/?access_token={token}")
}

/// Describes a connection error without the URL (it carries the token).
fn describe(e: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error as E;
    match e {
        E::Http(resp) => format!("HTTP {}", resp.status()),
        E::Io(io) => format!("I/O: {}", io.kind()),
        E::Tls(_) => "TLS error".into(),
        E::Url(_) => "bad dealer URL".into(),
        E::ConnectionClosed | E::AlreadyClosed => "closed".into(),
        E::Protocol(p) => format!("protocol: {p}"),
        E::Capacity(c) => format!("capacity: {c}"),
        _ => "websocket error".into(),
    }
}

impl Task {
    /// Drops the listeners' senders, which ends their consumers' loops.
    fn clear_listeners(&self) {
        let mut l = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        l.messages.clear();
        l.requests.clear();
    }

    async fn run(mut self) {
        let mut attempt = 0u32;
        // A fresh token is asked for only after the dealer refused the last one: every other
        // loss (closed, pong timeout, network) reuses the cached token, so a flapping dealer
        // costs no login5 requests.
        let mut refused: Option<String> = None;
        loop {
            if *self.stop.borrow() {
                self.clear_listeners();
                return;
            }
            let end = self.connect_once(refused.take()).await;
            let reason = match end {
                End::Stop => {
                    self.clear_listeners();
                    return;
                }
                End::Lost {
                    up_for,
                    refused: r,
                    reason,
                } => {
                    // Stable for long enough, or the server came back from an outage: the
                    // back-off grown before starts over.
                    let back = std::mem::take(&mut self.server_back);
                    if back || up_for.is_some_and(|d| d >= self.config.stable_after) {
                        attempt = 0;
                    }
                    refused = r;
                    reason
                }
            };
            attempt = attempt.saturating_add(1);
            tracing::info!(attempt, %reason, "dealer connection lost; reconnecting");
            let _ = self.events.send(DealerEvent::Disconnected {
                attempt,
                reason: reason.clone(),
            });
            // A refused token is not an outage: the next attempt, with a fresh token, follows
            // after the shortest wait (the token provider bounds the re-mints). Anything else
            // waits out the back-off.
            let wait = if refused.is_some() {
                self.config.jittered_backoff(1)
            } else {
                self.config.jittered_backoff(attempt)
            };
            // `Dealer::reconnect` during the wait (the owner saw the network come back, e.g.
            // the access point reconnected) cuts it short.
            let sleep = tokio::time::sleep(wait);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    out = self.out.recv() => match out {
                        Some(Outgoing::Reconnect) => {
                            tracing::debug!("dealer reconnect asked during the back-off");
                            break;
                        }
                        Some(Outgoing::ServerBack) => {
                            tracing::info!("the server is back; reconnecting the dealer now");
                            attempt = 0;
                            break;
                        }
                        Some(Outgoing::Reply { .. }) => {
                            tracing::debug!("dealer reply dropped: not connected");
                        }
                        None => {
                            self.clear_listeners();
                            return;
                        }
                    },
                    _ = stopped(&mut self.stop) => {
                        self.clear_listeners();
                        return;
                    }
                }
            }
        }
    }
}

fn dispatch_message(listeners: &Mutex<Listeners>, msg: DealerMessage) {
    {
        let mut l = listeners.lock().unwrap_or_else(|p| p.into_inner());
        l.messages.retain(|(_, tx)| !tx.is_closed());
        let mut handled = false;
        for (prefix, tx) in &l.messages {
            if uri_matches(prefix, &msg.uri) {
                handled = true;
                let _ = tx.send(msg.clone());
            }
        }
        if !handled {
            tracing::debug!(uri = %msg.uri, "dealer message nobody listens to");
        }
    }
}

/// Hands the request to its handler; `false` when there is none.
fn dispatch_request(listeners: &Mutex<Listeners>, req: DealerRequest) -> bool {
    {
        let mut l = listeners.lock().unwrap_or_else(|p| p.into_inner());
        l.requests.retain(|(_, tx)| !tx.is_closed());
        for (prefix, tx) in &l.requests {
            if uri_matches(prefix, &req.message_ident) {
                return tx.send(req).is_ok();
            }
        }
        false
    }
}

impl Task {
    async fn connect_once(&mut self, refused: Option<String>) -> End {
        let token = tokio::select! {
            t = (self.tokens)(refused) => t,
            _ = stopped(&mut self.stop) => return End::Stop,
        };
        let token = match token {
            Ok(t) => t,
            Err(e) => {
                return End::Lost {
                    up_for: None,
                    refused: None,
                    reason: DealerError::Token(e).to_string(),
                }
            }
        };
        // The URL carries the token (Spotify's dealer wants it in the query). Never log it:
        // tungstenite traces the request line through the `log` crate, which tonearm does not
        // bridge into its log file (no `tracing-log`) — keep it that way.
        let url = dealer_url(&self.base, &token);
        // Frames and messages above what the parser accepts are refused by tungstenite
        // before they are buffered.
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(MAX_PAYLOAD))
            .max_frame_size(Some(MAX_PAYLOAD));
        let connect = tokio::time::timeout(
            self.config.connect_timeout,
            tokio_tungstenite::connect_async_with_config(url, Some(ws_config), false),
        );
        let ws = tokio::select! {
            r = connect => r,
            _ = stopped(&mut self.stop) => return End::Stop,
        };
        let mut ws = match ws {
            Ok(Ok((ws, _resp))) => ws,
            Ok(Err(e)) => {
                let was_refused = matches!(
                    &e,
                    tokio_tungstenite::tungstenite::Error::Http(resp) if resp.status() == 401
                );
                return End::Lost {
                    up_for: None,
                    refused: was_refused.then_some(token),
                    reason: DealerError::Connect(describe(&e)).to_string(),
                };
            }
            Err(_) => {
                return End::Lost {
                    up_for: None,
                    refused: None,
                    reason: DealerError::Connect("timed out".into()).to_string(),
                }
            }
        };
        // What was queued while no connection was open is stale: replies belong to requests
        // of the lost connection, and a reconnect asked meanwhile is what just happened.
        // A server-back notice still counts (the back-off starts over at the next loss).
        while let Ok(stale) = self.out.try_recv() {
            if matches!(stale, Outgoing::ServerBack) {
                self.server_back = true;
            }
        }
        tracing::debug!("dealer websocket open; waiting for the connection id");
        let mut established = false;
        let mut established_at: Option<Instant> = None;
        let id_deadline = Instant::now() + self.config.connection_id_timeout;
        let mut next_ping = Instant::now() + self.config.ping_interval;
        let mut pong_deadline: Option<Instant> = None;
        let lost = |at: Option<Instant>, reason: String| End::Lost {
            up_for: at.map(|t| t.elapsed()),
            refused: None,
            reason,
        };
        loop {
            let deadline = match (established, pong_deadline) {
                (false, _) => id_deadline.min(next_ping),
                (true, Some(p)) => p.min(next_ping),
                (true, None) => next_ping,
            };
            tokio::select! {
                _ = stopped(&mut self.stop) => {
                    let _ = ws.close(None).await;
                    return End::Stop;
                }
                out = self.out.recv() => match out {
                    Some(Outgoing::Reply { key, success }) => {
                        if let Err(e) = ws.send(Message::text(reply_frame(&key, success))).await {
                            return lost(established_at, describe(&e));
                        }
                    }
                    Some(Outgoing::Reconnect) => {
                        let _ = ws.close(None).await;
                        return lost(established_at, "reconnect asked".into());
                    }
                    Some(Outgoing::ServerBack) => self.server_back = true,
                    None => return End::Stop,
                },
                _ = tokio::time::sleep_until(deadline) => {
                    let now = Instant::now();
                    if !established && now >= id_deadline {
                        return lost(None, DealerError::NoConnectionId.to_string());
                    }
                    if pong_deadline.is_some_and(|p| now >= p) {
                        return lost(established_at, DealerError::PongTimeout.to_string());
                    }
                    if now >= next_ping {
                        next_ping = now + self.config.ping_interval;
                        if pong_deadline.is_none() {
                            pong_deadline = Some(now + self.config.pong_timeout);
                        }
                        let ping_text = Message::text(r#"{"type":"ping"}"#);
                        let sent = match ws.send(Message::Ping(Vec::new().into())).await {
                            Ok(()) => ws.send(ping_text).await,
                            Err(e) => Err(e),
                        };
                        if let Err(e) = sent {
                            return lost(established_at, describe(&e));
                        }
                    }
                }
                frame = ws.next() => {
                    let msg = match frame {
                        None => return lost(established_at, DealerError::Closed.to_string()),
                        Some(Err(e)) => return lost(established_at, describe(&e)),
                        Some(Ok(m)) => m,
                    };
                    let text = match msg {
                        Message::Text(t) => t.to_string(),
                        Message::Pong(_) => {
                            pong_deadline = None;
                            continue;
                        }
                        Message::Ping(_) => continue, // tungstenite answers pings itself
                        Message::Close(_) => {
                            return lost(established_at, DealerError::Closed.to_string())
                        }
                        Message::Binary(_) | Message::Frame(_) => {
                            tracing::debug!("binary dealer frame ignored");
                            continue;
                        }
                    };
                    match parse_frame(&text) {
                        Err(e) => tracing::warn!("dealer frame ignored: {e}"),
                        Ok(Frame::Pong) => pong_deadline = None,
                        Ok(Frame::Ping) => {
                            if let Err(e) = ws.send(Message::text(r#"{"type":"pong"}"#)).await {
                                return lost(established_at, describe(&e));
                            }
                        }
                        Ok(Frame::Other(kind)) => {
                            tracing::debug!(%kind, "dealer frame of unknown type ignored");
                        }
                        Ok(Frame::Message(m)) => {
                            if let Some(id) = connection_id(&m) {
                                established = true;
                                established_at.get_or_insert_with(Instant::now);
                                tracing::info!("dealer connected");
                                let _ = self.events.send(DealerEvent::Connected {
                                    connection_id: id,
                                });
                            } else {
                                dispatch_message(&self.listeners, m);
                            }
                        }
                        Ok(Frame::Request(r)) => {
                            let key = r.key.clone();
                            let ident = r.message_ident.clone();
                            if !dispatch_request(&self.listeners, r) {
                                tracing::info!(%ident, "dealer request nobody handles; replying failure");
                                if let Err(e) = ws.send(Message::text(reply_frame(&key, false))).await {
                                    return lost(established_at, describe(&e));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
