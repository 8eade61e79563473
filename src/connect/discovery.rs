//! The zeroconf receiver (protocol spec §5.1–§5.4): an HTTP server answering `getInfo` and
//! `addUser` on any path, with one DH key pair per [`Discovery`] instance, and (optionally) its
//! mDNS advertisement. A phone (or another tonearm) hands over its login with `addUser`; each
//! accepted login comes out of the channel [`Discovery::start`] returns as a [`ZeroconfLogin`],
//! and the owner (the Connect service / the daemon) logs in with it.
//!
//! The endpoint is built to face a hostile LAN: bounded bodies (413), a deadline per connection
//! and per request, a cap on open connections (further ones wait in the kernel backlog), typed
//! error answers for every malformed request, and it keeps serving after each of them. Secrets
//! (blobs, keys, credentials) are never logged.
//!
//! Called by the Connect service and the daemon; the LAN browser lives in `mdns` and is
//! re-exported here. Depends on `session` (credentials, DH) and `blob`; never on the UI, the app
//! state or the simulator.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use super::blob::{decrypt_outer, OuterError};
use super::mdns::Advertisement;
use crate::session::dh::DhKeys;
use crate::session::Credentials;

pub use super::mdns::{browse, LanDevice, LanEvent, MdnsError};

/// Largest request body accepted (a real `addUser` is well under 2 KiB).
pub const MAX_BODY: usize = 64 * 1024;
/// Connections served at once; more wait in the kernel's accept backlog.
pub const MAX_CONNECTIONS: usize = 64;
/// A connection (headers, body, answer) must be done within this; slow clients are cut off.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(10);
/// Reading and answering one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Logins not yet taken by the owner; more `addUser`s meanwhile are answered "busy".
const LOGIN_QUEUE: usize = 4;

/// What the receiver announces and where it listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// The display name (mDNS instance name and `getInfo`'s `remoteName`).
    pub name: String,
    /// `getInfo`'s `deviceID`; the inner blob is keyed by it.
    pub device_id: String,
    /// `getInfo`'s `deviceType` ("Computer", "Speaker", ...).
    pub device_type: String,
    /// HTTP port; 0 picks a free one.
    pub port: u16,
    pub bind: IpAddr,
    /// Announce the service over mDNS (never when `bind` is a loopback address: nobody else
    /// could reach it).
    pub advertise: bool,
    /// `getInfo`'s `clientID`.
    pub client_id: String,
}

impl DiscoveryConfig {
    /// A "Computer" on a random port on all IPv4 interfaces, advertised, with no client id.
    pub fn new(name: impl Into<String>, device_id: impl Into<String>) -> DiscoveryConfig {
        DiscoveryConfig {
            name: name.into(),
            device_id: device_id.into(),
            device_type: "Computer".into(),
            port: 0,
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            advertise: true,
            client_id: String::new(),
        }
    }
}

/// A login handed over by a controller with `addUser`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZeroconfLogin {
    /// `Debug` of [`Credentials`] redacts the secret.
    pub credentials: Credentials,
    /// The controller's `deviceName` form field, when sent.
    pub device_name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("cannot listen for zeroconf requests on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Mdns(#[from] MdnsError),
}

impl DiscoveryError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            // A taken port or a missing network is for the user to fix.
            DiscoveryError::Bind { .. } | DiscoveryError::Mdns(MdnsError::Daemon(_)) => {
                crate::ErrorKind::Notify
            }
            DiscoveryError::Mdns(MdnsError::NoRuntime) => crate::ErrorKind::Fatal,
        }
    }
}

struct Shared {
    name: String,
    device_id: String,
    device_type: String,
    client_id: String,
    keys: DhKeys,
    public_key_b64: String,
    active_user: Mutex<String>,
    logins: mpsc::Sender<ZeroconfLogin>,
}

/// A running zeroconf receiver. Dropping it without [`Discovery::shutdown`] aborts the HTTP
/// server task and queues the mDNS goodbye without waiting for it.
pub struct Discovery {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    mdns: Option<Advertisement>,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("addr", &self.addr)
            .field("name", &self.shared.name)
            .field("advertised", &self.mdns.is_some())
            .finish()
    }
}

impl Discovery {
    /// Binds the HTTP server, starts serving, and advertises over mDNS when asked. mDNS
    /// failures are logged and leave the HTTP endpoint running (it is still reachable
    /// directly); only a failed bind is an error.
    pub async fn start(
        cfg: DiscoveryConfig,
    ) -> Result<(Discovery, mpsc::Receiver<ZeroconfLogin>), DiscoveryError> {
        let want = SocketAddr::new(cfg.bind, cfg.port);
        let listener = TcpListener::bind(want)
            .await
            .map_err(|source| DiscoveryError::Bind { addr: want, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| DiscoveryError::Bind { addr: want, source })?;
        let keys = DhKeys::random();
        let public_key_b64 = base64::engine::general_purpose::STANDARD.encode(keys.public_key());
        let (tx, rx) = mpsc::channel(LOGIN_QUEUE);
        let shared = Arc::new(Shared {
            name: cfg.name.clone(),
            device_id: cfg.device_id.clone(),
            device_type: cfg.device_type.clone(),
            client_id: cfg.client_id.clone(),
            keys,
            public_key_b64,
            active_user: Mutex::new(String::new()),
            logins: tx,
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let listener = LimitedListener {
            inner: listener,
            permits: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        };
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!("zeroconf: HTTP server ended: {e}");
            }
        });
        tracing::info!("zeroconf: serving getInfo/addUser on {addr}");
        let mdns = if cfg.advertise {
            match Advertisement::start(&cfg.name, &cfg.device_id, cfg.bind, addr.port()) {
                Ok(ad) => ad,
                Err(e) => {
                    tracing::warn!("zeroconf: not advertised over mDNS: {e}");
                    None
                }
            }
        } else {
            None
        };
        let d = Discovery {
            addr,
            shared,
            stop: Some(stop_tx),
            server: Some(server),
            mdns,
        };
        Ok((d, rx))
    }

    /// Where the HTTP server listens (the real port when `port` was 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the service is announced over mDNS right now.
    pub fn is_advertised(&self) -> bool {
        self.mdns.is_some()
    }

    /// `getInfo`'s `activeUser` (empty: nobody logged in).
    pub fn set_active_user(&self, username: &str) {
        let mut u = self
            .shared
            .active_user
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *u = username.to_string();
    }

    /// Unregisters the mDNS service (a goodbye packet) and stops the HTTP server, waiting a
    /// little for answers in flight.
    pub async fn shutdown(mut self) {
        if let Some(ad) = self.mdns.take() {
            ad.stop().await;
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut server) = self.server.take() {
            if tokio::time::timeout(Duration::from_secs(2), &mut server)
                .await
                .is_err()
            {
                server.abort();
            }
        }
        tracing::info!("zeroconf: stopped");
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

// ---- connection limits -------------------------------------------------------------------

/// A listener that hands out at most [`MAX_CONNECTIONS`] connections at a time, each with a
/// hard deadline, so a flood or slow clients cannot exhaust memory or starve others forever.
struct LimitedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
}

impl axum::serve::Listener for LimitedListener {
    type Io = LimitedIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (LimitedIo, SocketAddr) {
        // The semaphore is never closed, so acquiring only waits.
        let permit = loop {
            match Arc::clone(&self.permits).acquire_owned().await {
                Ok(p) => break p,
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        };
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let io = LimitedIo {
                        stream,
                        deadline: Box::pin(tokio::time::sleep(CONNECTION_DEADLINE)),
                        _permit: permit,
                    };
                    return (io, addr);
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::debug!("zeroconf: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A TCP stream that fails every read and write once its deadline has passed (the server then
/// drops it, which releases the connection permit).
struct LimitedIo {
    stream: TcpStream,
    deadline: Pin<Box<tokio::time::Sleep>>,
    _permit: OwnedSemaphorePermit,
}

impl LimitedIo {
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn deadline_error() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "zeroconf connection deadline")
}

impl AsyncRead for LimitedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.expired(cx) {
            return Poll::Ready(Err(deadline_error()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.expired(cx) {
            return Poll::Ready(Err(deadline_error()));
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

// ---- requests ----------------------------------------------------------------------------

/// Status numbers of the zeroconf JSON answers.
const STATUS_OK: u16 = 101;
const STATUS_ERROR: u16 = 102;

/// A JSON answer `{"status", "spotifyError", "statusString"}` with an HTTP status.
fn answer(http: StatusCode, status: u16, spotify_error: u16, text: &str) -> Response {
    let body = serde_json::json!({
        "status": status,
        "spotifyError": spotify_error,
        "statusString": text,
    });
    (http, axum::Json(body)).into_response()
}

fn bad_request(text: &str) -> Response {
    answer(StatusCode::BAD_REQUEST, STATUS_ERROR, 0, text)
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let mut resp = match tokio::time::timeout(REQUEST_TIMEOUT, serve(&shared, req)).await {
        Ok(r) => r,
        Err(_) => answer(
            StatusCode::REQUEST_TIMEOUT,
            STATUS_ERROR,
            0,
            "ERROR-TIMEOUT",
        ),
    };
    // One request per connection: controllers make one-off requests, and a pooled idle
    // connection would hold one of the few connection slots until its deadline.
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

async fn serve(shared: &Shared, req: Request) -> Response {
    let too_large = || {
        answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            STATUS_ERROR,
            0,
            "ERROR-REQUEST-TOO-LARGE",
        )
    };
    let (parts, body) = req.into_parts();
    // Refuse a declared oversized body at once instead of waiting for it.
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return too_large();
    }
    let mut params = parts.uri.query().map(parse_form).unwrap_or_default();
    let body = match axum::body::to_bytes(Body::new(body), MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return too_large(),
    };
    if !body.is_empty() {
        let text = String::from_utf8_lossy(&body);
        params.extend(parse_form(&text));
    }
    match params.get("action").map(String::as_str) {
        None | Some("") => bad_request("ERROR-MISSING-ACTION"),
        Some("getInfo") => get_info(shared),
        Some("addUser") => add_user(shared, &params),
        Some(_) => answer(
            StatusCode::NOT_FOUND,
            STATUS_ERROR,
            0,
            "ERROR-INVALID-ACTION",
        ),
    }
}

/// `application/x-www-form-urlencoded` (also the query string): `+` is a space, `%XX` a byte.
/// Malformed escapes are kept literally, invalid UTF-8 replaced; never fails.
fn parse_form(s: &str) -> HashMap<String, String> {
    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push(h << 4 | l);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                },
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    fn hex_val(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    s.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(kv), String::new()),
        })
        .collect()
}

fn get_info(shared: &Shared) -> Response {
    let active_user = shared
        .active_user
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    // Field for field librespot 0.8.0's answer (spec §5.2); tokenType must stay "default".
    let body = serde_json::json!({
        "status": STATUS_OK,
        "statusString": "OK",
        "spotifyError": 0,
        "version": "2.9.0",
        "deviceID": shared.device_id,
        "deviceType": shared.device_type,
        "remoteName": shared.name,
        "publicKey": shared.public_key_b64,
        "brandDisplayName": "tonearm",
        "modelDisplayName": "tonearm",
        "libraryVersion": env!("CARGO_PKG_VERSION"),
        "resolverVersion": "1",
        "groupStatus": "NONE",
        "tokenType": "default",
        "clientID": shared.client_id,
        "productID": 0,
        "scope": "streaming",
        "availability": "",
        "supported_drm_media_formats": [],
        "supported_capabilities": 1,
        "accountReq": "PREMIUM",
        "activeUser": active_user,
        "aliases": [],
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// base64 as controllers send it: standard alphabet, padding optional, surrounding whitespace
/// ignored, and a `+` that arrived unescaped in a form (decoded to a space) restored.
fn decode_b64(s: &str) -> Option<Vec<u8>> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let fixed = s.trim().replace(' ', "+");
    engine.decode(fixed).ok()
}

fn add_user(shared: &Shared, params: &HashMap<String, String>) -> Response {
    let field = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let Some(username) = field("userName") else {
        return bad_request("ERROR-MISSING-ARGUMENT: userName");
    };
    let Some(blob) = field("blob") else {
        return bad_request("ERROR-MISSING-ARGUMENT: blob");
    };
    let Some(client_key) = field("clientKey") else {
        return bad_request("ERROR-MISSING-ARGUMENT: clientKey");
    };
    let Some(blob) = decode_b64(blob) else {
        return bad_request("ERROR-INVALID-ARGUMENT: blob is not base64");
    };
    let Some(client_key) = decode_b64(client_key) else {
        return bad_request("ERROR-INVALID-ARGUMENT: clientKey is not base64");
    };
    let inner = match decrypt_outer(&shared.keys, &blob, &client_key) {
        Ok(inner) => inner,
        Err(OuterError::Mac) => {
            tracing::warn!("zeroconf: addUser refused: checksum mismatch");
            // librespot's answer, with HTTP 200.
            return answer(StatusCode::OK, STATUS_ERROR, 1, "ERROR-MAC");
        }
        Err(e) => {
            tracing::warn!("zeroconf: addUser refused: {e}");
            return bad_request(&format!("ERROR-INVALID-ARGUMENT: {e}"));
        }
    };
    let credentials = match Credentials::from_zeroconf_blob(username, &inner, &shared.device_id) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("zeroconf: addUser refused: {e}");
            return bad_request(&format!("ERROR-INVALID-BLOB: {e}"));
        }
    };
    let login = ZeroconfLogin {
        credentials,
        device_name: field("deviceName").map(str::to_string),
    };
    match shared.logins.try_send(login) {
        Ok(()) => {
            tracing::info!(
                "zeroconf: login for {username} handed over by {}",
                field("deviceName").unwrap_or("an unnamed controller")
            );
            answer(StatusCode::OK, STATUS_OK, 0, "OK")
        }
        Err(mpsc::error::TrySendError::Full(_)) => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            STATUS_ERROR,
            0,
            "ERROR-BUSY: another login is being handled",
        ),
        Err(mpsc::error::TrySendError::Closed(_)) => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            STATUS_ERROR,
            0,
            "ERROR-NOT-ACCEPTING-LOGINS",
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn form_parsing() {
        let p = parse_form("action=addUser&blob=ab%2Bc%3D&userName=a+b&x&bad=%zz%4&e=%");
        assert_eq!(p["action"], "addUser");
        assert_eq!(p["blob"], "ab+c=");
        assert_eq!(p["userName"], "a b");
        assert_eq!(p["x"], "");
        assert_eq!(p["bad"], "%zz%4");
        assert_eq!(p["e"], "%");
        assert!(parse_form("").is_empty());
        assert_eq!(parse_form("a=%C3%A9")["a"], "é");
        assert_eq!(parse_form("a=%FF")["a"], "\u{fffd}");
    }

    #[test]
    fn base64_leniency() {
        assert_eq!(decode_b64(" YWI+Yw== "), Some(b"ab>c".to_vec()));
        assert_eq!(decode_b64("YWI Yw"), Some(b"ab>c".to_vec()));
        assert_eq!(decode_b64("!!"), None);
    }

    proptest::proptest! {
        #[test]
        fn form_parser_never_panics(s in ".{0,200}") {
            let _ = parse_form(&s);
        }

        #[test]
        fn outer_decoder_never_panics(blob in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120),
                                      key in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100)) {
            let keys = DhKeys::from_private(&[7; 20]);
            let _ = decrypt_outer(&keys, &blob, &key);
        }
    }
}
