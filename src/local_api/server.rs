//! The control API's listeners and request handling.
//!
//! **The socket file.** Bound in a fresh 0700 directory beside the target, made 0600, then
//! hard-linked into place — `link` fails when the name exists, so two instances can't both
//! take it, and the socket is never reachable with looser permissions. The default directory
//! (`$XDG_RUNTIME_DIR/tonearm`) is created 0700 and must be ours. A socket left by a dead
//! process (connecting is refused) is replaced; a live one is an error; anything that is not a
//! socket is left alone. On shutdown the file is removed only if it is still the one we bound.
//!
//! **Who may connect.** On the socket: the peer's uid from `SO_PEERCRED` must be ours or root
//! (a 403 otherwise, even if the file's mode was loosened). On the optional TCP listener (a
//! loopback address only): `Authorization: Bearer <token>` compared in constant time (401
//! otherwise), and a `Host` that names the listener (DNS rebinding). Everywhere: a request with
//! an `Origin` header is refused (403: browsers must not drive it), commands are POSTed as
//! `application/json` only (415: no form posts), bodies are bounded (413), connections and
//! event streams are capped.
//!
//! Called by `local_api.rs`. Depends on `schema`, `events`, the services and the id parser.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Request as HttpRequest, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::net::{TcpListener, UnixListener, UnixStream};
use tokio::sync::{broadcast, Semaphore};

use super::schema::{self, parse_request, Answer, Event, Request};
use super::{lock, Inner, LocalApiError};
use crate::control::Intent;
use crate::id::{ItemKind, SpotifyUri};
use crate::services::ResolveError;

/// Event streams open at once.
const MAX_STREAMS: usize = 32;
/// Connections served at once per listener (more wait in the kernel backlog).
const MAX_CONNECTIONS: usize = 64;
/// A request (resolving an album included) must be answered within this.
const REQUEST_DEADLINE: Duration = Duration::from_secs(20);

/// The socket file we bound, removed on shutdown only while it is still ours.
pub struct SocketFile {
    path: PathBuf,
    dev_ino: (u64, u64),
}

impl SocketFile {
    pub fn remove(self) {
        if let Ok(m) = std::fs::symlink_metadata(&self.path) {
            if (m.dev(), m.ino()) == self.dev_ino {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> LocalApiError + '_ {
    move |source| LocalApiError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// This process's effective uid (from `/proc/self/status`, no `unsafe`).
fn own_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|e| e.parse().ok())
}

/// Binds the socket at `path` safely (see the module docs). `default_dir`: the directory is
/// ours to create and tighten.
pub fn bind_unix(
    path: &Path,
    default_dir: bool,
) -> Result<(UnixListener, SocketFile), LocalApiError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let uid = own_uid();
    if default_dir {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_err(dir))?;
        let m = std::fs::metadata(dir).map_err(io_err(dir))?;
        if uid.is_some_and(|u| u != m.uid()) {
            return Err(LocalApiError::ForeignDir(dir.to_path_buf()));
        }
        if m.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io_err(dir))?;
        }
    }
    clear_stale(path)?;
    // Bind in a private directory, tighten, then link into place atomically.
    let tmp = dir.join(format!(".{}.{}.tmp", SOCKET_TMP, std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&tmp)
            .map_err(io_err(&tmp))?;
    }
    let tmp_sock = tmp.join("s");
    let result = (|| {
        let listener = std::os::unix::net::UnixListener::bind(&tmp_sock).map_err(io_err(path))?;
        std::fs::set_permissions(&tmp_sock, std::fs::Permissions::from_mode(0o600))
            .map_err(io_err(path))?;
        std::fs::hard_link(&tmp_sock, path).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                LocalApiError::InUse(path.to_path_buf())
            } else {
                io_err(path)(e)
            }
        })?;
        Ok(listener)
    })();
    let _ = std::fs::remove_file(&tmp_sock);
    let _ = std::fs::remove_dir(&tmp);
    let listener = result?;
    listener.set_nonblocking(true).map_err(io_err(path))?;
    let listener = UnixListener::from_std(listener).map_err(io_err(path))?;
    let m = std::fs::symlink_metadata(path).map_err(io_err(path))?;
    Ok((
        listener,
        SocketFile {
            path: path.to_path_buf(),
            dev_ino: (m.dev(), m.ino()),
        },
    ))
}

const SOCKET_TMP: &str = "tonearm-control";

/// Removes a socket left by a dead process; refuses a live one or a non-socket.
fn clear_stale(path: &Path) -> Result<(), LocalApiError> {
    let m = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(path)(e)),
    };
    if !m.file_type().is_socket() {
        return Err(LocalApiError::NotASocket(path.to_path_buf()));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(LocalApiError::InUse(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(socket = %path.display(), "replacing a stale control socket");
            std::fs::remove_file(path).map_err(io_err(path))
        }
        Err(e) => Err(io_err(path)(e)),
    }
}

/// The TCP bearer token: the configured one, or one generated into `<socket dir>/control.token`
/// (0600, made fresh on each start; `tonearm ctl --tcp` reads it from there).
pub fn tcp_token(
    configured: Option<&str>,
    socket: &Path,
) -> Result<(String, Option<PathBuf>), LocalApiError> {
    if let Some(t) = configured {
        return Ok((t.to_string(), None));
    }
    let file = token_file_for(socket);
    let raw: [u8; 32] = rand::random();
    let token = hex::encode(raw);
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::remove_file(&file);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .map_err(io_err(&file))?;
        f.write_all(token.as_bytes()).map_err(io_err(&file))?;
    }
    Ok((token, Some(file)))
}

/// Where a generated token for `socket` is kept.
pub fn token_file_for(socket: &Path) -> PathBuf {
    socket.with_file_name("control.token")
}

/// Serves the socket until shutdown: only our uid (or root) gets an answer.
pub(crate) fn spawn_unix(inner: Arc<Inner>, listener: UnixListener) {
    let uid = own_uid();
    let app = router(inner.clone(), None);
    let mut stop = inner.stop.subscribe();
    tokio::spawn(async move {
        let listener = PeerChecked {
            inner: listener,
            uid,
            slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        };
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
    });
}

/// Serves the loopback TCP listener until shutdown (bearer token and Host required).
pub(crate) fn spawn_tcp(
    inner: Arc<Inner>,
    listener: TcpListener,
    local: std::net::SocketAddr,
    token: String,
) {
    let app = router(inner.clone(), Some(Arc::new(TcpGate { token, local })));
    let mut stop = inner.stop.subscribe();
    tokio::spawn(async move {
        let listener = CappedTcp {
            inner: listener,
            slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        };
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
    });
    tracing::info!(%local, "control API listening on TCP (bearer token required)");
}

/// A Unix listener that answers other users' connections with a 403 and drops them.
struct PeerChecked {
    inner: UnixListener,
    uid: Option<u32>,
    slots: Arc<Semaphore>,
}

/// The TCP listener with the same cap on open connections.
struct CappedTcp {
    inner: TcpListener,
    slots: Arc<Semaphore>,
}

impl axum::serve::Listener for CappedTcp {
    type Io = Slotted<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok(permit) = self.slots.clone().acquire_owned().await else {
                return std::future::pending().await;
            };
            match self.inner.accept().await {
                Ok((io, addr)) => {
                    return (
                        Slotted {
                            io,
                            _permit: permit,
                        },
                        addr,
                    )
                }
                Err(e) => {
                    tracing::warn!(error = %e, "control TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection holding one of the listener's slots until it closes.
struct Slotted<T = UnixStream> {
    io: T,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Slotted<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Slotted<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Whether a peer uid may use the API: ours, or root's.
pub fn peer_allowed(peer: u32, own: Option<u32>) -> bool {
    peer == 0 || own == Some(peer)
}

impl axum::serve::Listener for PeerChecked {
    type Io = Slotted;
    type Addr = ();

    async fn accept(&mut self) -> (Slotted, ()) {
        loop {
            let Ok(permit) = self.slots.clone().acquire_owned().await else {
                // Never closed; wait for shutdown instead of spinning.
                return std::future::pending().await;
            };
            let stream = match self.inner.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            match stream.peer_cred() {
                Ok(c) if peer_allowed(c.uid(), self.uid) => {
                    return (
                        Slotted {
                            io: stream,
                            _permit: permit,
                        },
                        (),
                    )
                }
                Ok(c) => {
                    tracing::warn!(
                        peer_uid = c.uid(),
                        peer_pid = c.pid(),
                        "control socket: refused a connection from another user"
                    );
                    tokio::spawn(refuse(stream));
                }
                Err(e) => tracing::warn!(error = %e, "control socket: no peer credentials"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<()> {
        Ok(())
    }
}

/// A 403 for a peer of another uid, then the connection closes. The request is read (up to the
/// end of its headers, 8 KiB at most) before answering: closing a socket with unread data
/// resets it, and the peer would lose the answer.
async fn refuse(mut stream: UnixStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while seen.len() < 8192 && !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let body = serde_json::to_string(&Answer::error(
        "forbidden",
        "the control socket serves its own user only",
    ))
    .unwrap_or_default();
    let reply = format!(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = stream.write_all(reply.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// What the TCP listener checks beyond the common rules.
struct TcpGate {
    token: String,
    local: std::net::SocketAddr,
}

impl TcpGate {
    fn check(&self, headers: &HeaderMap) -> Result<(), Box<Response>> {
        let host_ok = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| {
                let port = self.local.port();
                [
                    format!("127.0.0.1:{port}"),
                    format!("localhost:{port}"),
                    format!("[::1]:{port}"),
                    self.local.to_string(),
                ]
                .iter()
                .any(|ok| ok.eq_ignore_ascii_case(h))
            });
        if !host_ok {
            return Err(Box::new(answer(
                StatusCode::FORBIDDEN,
                Answer::error("forbidden", "the Host header must name this listener"),
            )));
        }
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or("");
        use subtle::ConstantTimeEq;
        let ok: bool = given.as_bytes().ct_eq(self.token.as_bytes()).into();
        if !ok {
            let mut r = answer(
                StatusCode::UNAUTHORIZED,
                Answer::error("unauthorized", "a bearer token is required"),
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            return Err(Box::new(r));
        }
        Ok(())
    }
}

#[derive(Clone)]
struct AppState {
    inner: Arc<Inner>,
    streams: Arc<Semaphore>,
}

fn router(inner: Arc<Inner>, gate: Option<Arc<TcpGate>>) -> Router {
    let state = AppState {
        inner,
        streams: Arc::new(Semaphore::new(MAX_STREAMS)),
    };
    Router::new()
        .route("/v1/command", post(command))
        .route("/v1/status", get(|s| simple(s, Request::Status)))
        .route("/v1/queue", get(|s| simple(s, Request::Queue)))
        .route("/v1/devices", get(|s| simple(s, Request::Devices)))
        .route("/v1/events", get(events))
        .fallback(|| async {
            answer(
                StatusCode::NOT_FOUND,
                Answer::error("not_found", "no such endpoint (see docs/control-api.md)"),
            )
        })
        .layer(middleware::from_fn(move |req: HttpRequest, next: Next| {
            let gate = gate.clone();
            async move { common_checks(gate.as_deref(), req, next).await }
        }))
        .with_state(state)
}

/// The rules for every request on every listener (see the module docs).
async fn common_checks(gate: Option<&TcpGate>, req: HttpRequest, next: Next) -> Response {
    if req.headers().contains_key(header::ORIGIN) {
        return answer(
            StatusCode::FORBIDDEN,
            Answer::error("forbidden", "requests from web pages are refused"),
        );
    }
    if let Some(g) = gate {
        if let Err(r) = g.check(req.headers()) {
            return *r;
        }
    }
    if req.method() == Method::POST {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return answer(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Answer::error(
                    "unsupported_media_type",
                    "commands are JSON: Content-Type: application/json",
                ),
            );
        }
    }
    next.run(req).await
}

fn answer(code: StatusCode, body: Answer) -> Response {
    (code, Json(body)).into_response()
}

async fn simple(State(s): State<AppState>, req: Request) -> Response {
    let (code, body) = handle(&s.inner, req).await;
    answer(code, body)
}

async fn command(State(s): State<AppState>, req: HttpRequest<Body>) -> Response {
    let bytes = match axum::body::to_bytes(req.into_body(), schema::MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return answer(
                StatusCode::PAYLOAD_TOO_LARGE,
                Answer::error(
                    "too_large",
                    format!("the body is larger than {} bytes", schema::MAX_BODY),
                ),
            )
        }
    };
    let parsed = match parse_request(&bytes) {
        Ok(r) => r,
        Err(e) => {
            let code = match e {
                schema::BadRequest::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_REQUEST,
            };
            return answer(code, Answer::error(e.code(), e.to_string()));
        }
    };
    let (code, body) = match tokio::time::timeout(REQUEST_DEADLINE, handle(&s.inner, parsed)).await
    {
        Ok(r) => r,
        Err(_) => (
            StatusCode::GATEWAY_TIMEOUT,
            Answer::error("failed", "the request took too long"),
        ),
    };
    answer(code, body)
}

fn not_ready() -> (StatusCode, Answer) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Answer::error(
            "not_ready",
            "not signed in yet (or reconnecting): try again",
        ),
    )
}

/// Carries out one request.
pub(super) async fn handle(inner: &Inner, req: Request) -> (StatusCode, Answer) {
    let hub = &inner.hub;
    match &req {
        Request::Status => {
            return (
                StatusCode::OK,
                Answer {
                    status: Some(hub.status()),
                    ..Answer::ok()
                },
            )
        }
        Request::Queue => {
            return (
                StatusCode::OK,
                Answer {
                    queue: Some(inner.queue()),
                    ..Answer::ok()
                },
            )
        }
        Request::Devices => {
            return (
                StatusCode::OK,
                Answer {
                    devices: Some(hub.devices()),
                    ..Answer::ok()
                },
            )
        }
        Request::Guests
        | Request::GuestGrant { .. }
        | Request::GuestRevoke { .. }
        | Request::GuestBan { .. } => return guests(inner, &req),
        _ => {}
    }
    let Some(services) = lock(&inner.services).clone() else {
        return not_ready();
    };
    if let Some(intents) = req.intents() {
        return send(inner, intents, None);
    }
    match req {
        Request::QueueAdd { uris } => match resolve(&services, &uris).await {
            Ok(ids) => {
                let n = ids.len();
                send(inner, vec![Intent::AddToQueue(ids)], Some(n))
            }
            Err(e) => e,
        },
        Request::QueuePlayNext { uris } => match resolve(&services, &uris).await {
            Ok(ids) => {
                let n = ids.len();
                send(inner, vec![Intent::PlayNext(ids)], Some(n))
            }
            Err(e) => e,
        },
        Request::PlayUri { uris, index } => {
            let ids = match resolve(&services, &uris).await {
                Ok(ids) => ids,
                Err(e) => return e,
            };
            if index >= ids.len() {
                return (
                    StatusCode::BAD_REQUEST,
                    Answer::error(
                        "invalid",
                        format!("index: {index} is past the {} tracks", ids.len()),
                    ),
                );
            }
            let context = match uris.as_slice() {
                [one] => SpotifyUri::parse(one)
                    .ok()
                    .filter(|u| u.kind != ItemKind::Track)
                    .map(|u| (u.to_uri(), ids[0])),
                _ => None,
            };
            hub.set_context(context);
            let n = ids.len();
            send(
                inner,
                vec![Intent::Load {
                    ids,
                    index,
                    position_ms: 0,
                    play: true,
                }],
                Some(n),
            )
        }
        Request::PlaySearch { query } => {
            let found = services
                .web_api
                .search(&query, &[crate::api::webapi::SearchType::Track], 1, 0)
                .await;
            let uri = match found {
                Ok(r) => r
                    .tracks
                    .and_then(|p| p.items.into_iter().next())
                    .map(|t| t.uri),
                Err(e) => {
                    return (
                        StatusCode::BAD_GATEWAY,
                        Answer::error("failed", format!("search: {e}")),
                    )
                }
            };
            let Some(uri) = uri else {
                return (
                    StatusCode::NOT_FOUND,
                    Answer::error("not_found", "the search found no track"),
                );
            };
            let ids = match resolve(&services, &[uri]).await {
                Ok(ids) => ids,
                Err(e) => return e,
            };
            hub.set_context(None);
            send(
                inner,
                vec![Intent::Load {
                    ids,
                    index: 0,
                    position_ms: 0,
                    play: true,
                }],
                Some(1),
            )
        }
        Request::Transfer { device } => {
            let Some(controller) = lock(&inner.controller).clone() else {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Answer::error("not_ready", "Spotify Connect is not running"),
                );
            };
            match hub.find_device(&device) {
                Some(d) => {
                    controller.transfer(d);
                    (StatusCode::OK, Answer::ok())
                }
                None => (
                    StatusCode::NOT_FOUND,
                    Answer::error("not_found", "no device with that id or name"),
                ),
            }
        }
        Request::Like { uri } => like(&services, hub, uri.as_deref(), true).await,
        Request::Unlike { uri } => like(&services, hub, uri.as_deref(), false).await,
        // Answered above.
        _ => (StatusCode::OK, Answer::ok()),
    }
}

/// The owner's `guests*` commands, on the guest remote's table.
fn guests(inner: &Inner, req: &Request) -> (StatusCode, Answer) {
    let Some(admin) = inner.guests() else {
        return (
            StatusCode::CONFLICT,
            Answer::error(
                "not_ready",
                "the guest remote is off (set [remote] listen or pass --remote-listen)",
            ),
        );
    };
    let one = |r: Result<schema::Guest, String>| match r {
        Ok(g) => (
            StatusCode::OK,
            Answer {
                guests: Some(vec![g]),
                ..Answer::ok()
            },
        ),
        Err(e) => (StatusCode::NOT_FOUND, Answer::error("not_found", e)),
    };
    match req {
        Request::GuestGrant { name, permission } => one(admin.grant(name, *permission)),
        Request::GuestRevoke { name, permission } => one(admin.revoke(name, *permission)),
        Request::GuestBan { name } => one(admin.ban(name)),
        _ => (
            StatusCode::OK,
            Answer {
                guests: Some(admin.list()),
                ..Answer::ok()
            },
        ),
    }
}

/// Hands intents to the host; `tracks`: how many tracks they carry.
fn send(inner: &Inner, intents: Vec<Intent>, tracks: Option<usize>) -> (StatusCode, Answer) {
    if inner.intents.send(intents).is_err() {
        return not_ready();
    }
    (
        StatusCode::OK,
        Answer {
            tracks,
            ..Answer::ok()
        },
    )
}

async fn resolve(
    services: &crate::services::Services,
    uris: &[String],
) -> Result<Vec<crate::id::SpotifyId>, (StatusCode, Answer)> {
    match services.resolve_queue(uris).await {
        Ok(ids) if ids.is_empty() => Err((
            StatusCode::BAD_REQUEST,
            Answer::error("invalid", "uris: nothing to play in them"),
        )),
        Ok(ids) => Ok(ids),
        Err(e @ ResolveError::Uri(_)) => Err((
            StatusCode::BAD_REQUEST,
            Answer::error("invalid", format!("uris: {e}")),
        )),
        Err(e) => Err((
            StatusCode::BAD_GATEWAY,
            Answer::error("failed", e.to_string()),
        )),
    }
}

async fn like(
    services: &crate::services::Services,
    hub: &super::events::Hub,
    uri: Option<&str>,
    save: bool,
) -> (StatusCode, Answer) {
    let id = match uri {
        Some(u) => match SpotifyUri::parse(u) {
            Ok(p) if p.kind == ItemKind::Track => p.id,
            Ok(_) => {
                return (
                    StatusCode::BAD_REQUEST,
                    Answer::error("invalid", "uri: only tracks can be liked here"),
                )
            }
            Err(e) => {
                return (
                    StatusCode::BAD_REQUEST,
                    Answer::error("invalid", format!("uri: {e}")),
                )
            }
        },
        None => match hub.current_track() {
            Some(id) => id,
            None => {
                return (
                    StatusCode::CONFLICT,
                    Answer::error("invalid", "nothing is playing: name a track URI"),
                )
            }
        },
    };
    let b62 = id.to_base62();
    let result = if save {
        services.web_api.save_tracks(&[&b62]).await
    } else {
        services.web_api.remove_tracks(&[&b62]).await
    };
    match result {
        Ok(()) => (
            StatusCode::OK,
            Answer {
                tracks: Some(1),
                ..Answer::ok()
            },
        ),
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            Answer::error("failed", e.to_string()),
        ),
    }
}

/// `GET /v1/events`: a WebSocket of JSON events, `hello` first.
async fn events(State(s): State<AppState>, ws: WebSocketUpgrade) -> Response {
    let Ok(permit) = s.streams.clone().try_acquire_owned() else {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            Answer::error("not_ready", "too many event streams open"),
        );
    };
    let rx = s.inner.hub.subscribe();
    let hello = Event::Hello {
        api: schema::API_VERSION,
        status: Box::new(s.inner.hub.status()),
    };
    let mut stop = s.inner.stop.subscribe();
    ws.on_upgrade(move |socket| async move {
        tokio::select! {
            _ = stream(socket, hello, rx) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
        drop(permit);
    })
}

async fn stream(mut socket: WebSocket, hello: Event, mut rx: broadcast::Receiver<Event>) {
    let text = |e: &Event| serde_json::to_string(e).unwrap_or_default();
    if socket
        .send(Message::Text(text(&hello).into()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let e = match ev {
                    Ok(e) => e,
                    Err(broadcast::error::RecvError::Lagged(missed)) => Event::Lagged { missed },
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if socket.send(Message::Text(text(&e).into())).await.is_err() {
                    return;
                }
            }
            msg = socket.recv() => match msg {
                // Clients have nothing to say on this stream; pings are answered by axum.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests;
