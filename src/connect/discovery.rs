//! The zeroconf receiver (protocol spec §5.1–§5.4): an HTTP server answering `getInfo` and
//! `addUser` on any path, with one DH key pair per [`Discovery`] instance, and (optionally) its
//! mDNS advertisement. A phone (or another tonearm) hands over its login with `addUser`; each
//! accepted login comes out of the channel [`Discovery::start`] returns as a [`ZeroconfLogin`],
//! and the owner (the Connect service / the daemon) logs in with it.
//!
//! The endpoint is built to face a hostile LAN (SECURITY.md, issue 12): an accept policy decides
//! whose `addUser` is taken at all ([`policy`]: `any`, `same-account`, `none`; refused ones get
//! an error answer and never reach the owner); `addUser` is taken by POST only; a `Host` header
//! that is not an IP literal, `localhost`, a `.local` name or the advertised name is refused
//! before any work (DNS rebinding); connections are capped globally and per address, the
//! request head has a short deadline and the whole exchange a longer one ([`limits`]); bodies
//! are bounded (413); every malformed request gets a typed error answer, and the endpoint keeps
//! serving after each. Secrets (blobs, keys, credentials) are never logged, and network text
//! that is logged (`userName`, `deviceName`) goes through the log escaper.
//!
//! Called by the daemon and the TUI runtime; the LAN browser lives in `mdns` and is re-exported
//! here. Depends on `session` (credentials, DH), `blob`, `config` (the policy type) and
//! `logging` (the escaper); never on the UI, the app state or the simulator.

mod limits;
pub mod policy;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::blob::{decrypt_outer, OuterError};
use super::mdns::Advertisement;
use crate::config::ZeroconfAccept;
use crate::logging::escaped;
use crate::session::dh::DhKeys;
use crate::session::{Credentials, Session, SessionConfig, SessionError};

pub use super::mdns::{browse, LanDevice, LanEvent, MdnsError};
pub use limits::{CONNECTION_DEADLINE, HEAD_DEADLINE, MAX_CONNECTIONS, MAX_PER_IP};

/// Largest request body accepted (a real `addUser` is well under 2 KiB).
pub const MAX_BODY: usize = 64 * 1024;
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
    /// Whose `addUser` is accepted; `None`: the default (same-account once the receiver
    /// belongs to an account, see [`Discovery::set_account`]; any before).
    pub accept: Option<ZeroconfAccept>,
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
            accept: None,
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

/// Why a handed-over login was not switched to ([`try_handover`]).
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    #[error("the handed-over login failed: {0}")]
    Login(#[from] SessionError),
    #[error("the handed-over login did not finish within {0:?}")]
    Timeout(Duration),
    #[error("the handed-over credentials signed in as another account ({user})")]
    OtherAccount { user: String },
}

/// How long a handed-over login may take before it counts as failed.
pub const HANDOVER_LOGIN: Duration = Duration::from_secs(30);

/// Logs in with a handed-over login on a session of its own, while the owner's current session
/// (if any) keeps playing, and checks the session's canonical user name against the policy
/// once more (`accept`, and `account`: the receiver's account when the login arrived). The
/// owner switches to the returned session; on an error it keeps what it has.
pub async fn try_handover(
    config: SessionConfig,
    login: Credentials,
    accept: Option<ZeroconfAccept>,
    account: Option<String>,
) -> Result<Session, HandoverError> {
    let session = tokio::time::timeout(HANDOVER_LOGIN, Session::connect(config, login))
        .await
        .map_err(|_| HandoverError::Timeout(HANDOVER_LOGIN))??;
    let user = session.username();
    if policy::admits(accept, account.as_deref(), &user).is_err() {
        // The form's userName passed, the account behind the credentials is another one.
        tokio::spawn(async move { session.shutdown().await });
        return Err(HandoverError::OtherAccount { user });
    }
    Ok(session)
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("cannot listen for zeroconf requests on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
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
    accept: Option<ZeroconfAccept>,
    /// The canonical user name of the account this receiver belongs to (see [`policy`]).
    account: Mutex<Option<String>>,
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
        let listener =
            listen(want).map_err(|source| DiscoveryError::Bind { addr: want, source })?;
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
            accept: cfg.accept,
            account: Mutex::new(None),
            logins: tx,
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let listener = limits::LimitedListener::new(listener);
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

    /// The account this receiver belongs to (its canonical user name): from then on the
    /// default policy accepts only that account's logins. Set it from the stored credentials
    /// before their session is up, so there is no window in which any account is accepted;
    /// `None` only when the owner has no account at all.
    pub fn set_account(&self, username: Option<&str>) {
        let mut a = self
            .shared
            .account
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *a = username.map(str::to_string).filter(|u| !u.is_empty());
    }

    /// The account this receiver belongs to.
    pub fn account(&self) -> Option<String> {
        self.shared
            .account
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The configured policy (`None`: the default).
    pub fn configured_policy(&self) -> Option<ZeroconfAccept> {
        self.shared.accept
    }

    /// The policy in force now (the configured one, or the default for the current account).
    pub fn policy(&self) -> ZeroconfAccept {
        policy::effective(self.shared.accept, self.account().as_deref())
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

/// Connections the kernel queues for `accept`. Larger than tokio's default (1024): under a
/// connection flood a full queue drops new SYNs, and a phone's dropped SYN is retried only
/// after a second. (The kernel caps it at `net.core.somaxconn`.)
const LISTEN_BACKLOG: u32 = 4096;

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As `TcpListener::bind` does: a restarted receiver gets its port back at once.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

impl Drop for Discovery {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
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

/// A method other than GET/POST, or `addUser` by GET.
fn method_not_allowed() -> Response {
    let mut r = answer(
        StatusCode::METHOD_NOT_ALLOWED,
        STATUS_ERROR,
        0,
        "ERROR-METHOD-NOT-ALLOWED: addUser needs POST",
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
    r
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
    // DNS rebinding: a page on a name that resolves to us sends that name. Refused before the
    // body is read or anything else is done.
    if let Some(host) = parts.headers.get(header::HOST) {
        let ok = host
            .to_str()
            .is_ok_and(|h| policy::host_allowed(h, &shared.name));
        if !ok {
            tracing::warn!(
                host = %escaped(&String::from_utf8_lossy(host.as_bytes())),
                "zeroconf: request refused: Host is not an address or a local name"
            );
            return answer(
                StatusCode::FORBIDDEN,
                STATUS_ERROR,
                0,
                "ERROR-FORBIDDEN-HOST",
            );
        }
    }
    let post = parts.method == Method::POST;
    if !post && parts.method != Method::GET {
        return method_not_allowed();
    }
    // Refuse a declared oversized body at once instead of waiting for it.
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return too_large();
    }
    // Spec §5.2: parameters come from the query string and, for a POST, the form body (which
    // wins); a GET's body is not read.
    let mut params = parts.uri.query().map(parse_form).unwrap_or_default();
    if post {
        let body = match axum::body::to_bytes(Body::new(body), MAX_BODY).await {
            Ok(b) => b,
            Err(_) => return too_large(),
        };
        if !body.is_empty() {
            let text = String::from_utf8_lossy(&body);
            params.extend(parse_form(&text));
        }
    }
    match params.get("action").map(String::as_str) {
        None | Some("") => bad_request("ERROR-MISSING-ACTION"),
        Some("getInfo") => get_info(shared),
        // A login changes what the device plays: never by a GET (a link or an <img> in a web
        // page could send one).
        Some("addUser") if !post => method_not_allowed(),
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
    let from = field("deviceName").unwrap_or("an unnamed controller");
    // The policy first: a refused login costs no DH and no decryption.
    let account = shared
        .account
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if let Err(refusal) = policy::admits(shared.accept, account.as_deref(), username) {
        tracing::warn!(
            user = %escaped(username),
            from = %escaped(from),
            "zeroconf: addUser refused by the accept policy ({})",
            policy::effective(shared.accept, account.as_deref()).as_str()
        );
        // HTTP 200 with the error in the JSON status, like librespot's ERROR-MAC: controllers
        // read the status (an HTTP 403 reads as "busy, retry" to some of them).
        return answer(StatusCode::OK, STATUS_ERROR, 0, refusal.status_string());
    }
    let Some(blob) = decode_b64(blob) else {
        return bad_request("ERROR-INVALID-ARGUMENT: blob is not base64");
    };
    let Some(client_key) = decode_b64(client_key) else {
        return bad_request("ERROR-INVALID-ARGUMENT: clientKey is not base64");
    };
    let inner = match decrypt_outer(&shared.keys, &blob, &client_key) {
        Ok(inner) => inner,
        Err(OuterError::Mac) => {
            tracing::warn!(from = %escaped(from), "zeroconf: addUser refused: checksum mismatch");
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
                user = %escaped(username),
                from = %escaped(from),
                "zeroconf: login handed over"
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
mod tests;
