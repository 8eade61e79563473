//! The local control API: HTTP/JSON and a WebSocket event stream on a Unix socket (and, when
//! configured, a loopback TCP listener behind a bearer token), for `tonearm ctl` and scripts.
//! The TUI and the daemon both serve it; a front end of the one core like keys and Connect:
//! player commands become [`Intent`]s that go to the host ([`LocalApi::next_intents`]), which
//! feeds them into the same path as every other front end (`update` in the TUI,
//! [`crate::control::apply_intents`] in the daemon). Nothing here drives the player directly.
//!
//! * [`schema`]: the versioned wire format and the request parser.
//! * [`events`]: the state behind `status` and the one event bus (later also the guests', the
//!   device guard's and the hooks').
//! * [`server`]: the listeners (socket file safety, `SO_PEERCRED`, bearer token, Origin/Host
//!   checks) and the request handling.
//! * [`client`]: the small client `tonearm ctl` and the tests use.
//!
//! The guest remote ([`crate::guests`]) is built on this one: it hands its intents in through
//! [`LocalApi::submit`], reads the queue here, and registers itself as the [`GuestAdmin`] the
//! owner's `guests` commands reach (a trait, so this module never imports the guests').
//!
//! Called by `daemon.rs` and `app/run.rs` (start, attach the services, take intents, report
//! the session link and errors) and by `cli::ctl`. Depends on the services, the player,
//! Connect and the core; never on `app`, `ui` or `cli`.

pub mod client;
pub mod events;
pub mod schema;
pub mod server;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::ControlSettings;
use crate::connect::Controller;
use crate::control::Intent;
use crate::services::Services;

pub use schema::{Event, Link};

/// The socket's file name inside its directory.
pub const SOCKET_NAME: &str = "control.sock";

#[derive(Debug, thiserror::Error)]
pub enum LocalApiError {
    #[error("another tonearm is already serving the control socket {0} (stop it, or pass --control-socket PATH / --no-control-socket)")]
    InUse(PathBuf),
    #[error("{0} exists and is not a socket; not replacing it")]
    NotASocket(PathBuf),
    #[error("the control socket directory {0} belongs to another user")]
    ForeignDir(PathBuf),
    #[error("no place for the control socket: set XDG_RUNTIME_DIR or HOME, or pass --control-socket PATH")]
    NoPath,
    #[error("cannot set up the control socket {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen on {addr} for the control API: {source}")]
    Tcp {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// The default socket: `$XDG_RUNTIME_DIR/tonearm/control.sock`, or `<state dir>/run/control.sock`
/// when `XDG_RUNTIME_DIR` is unset (or not absolute). `tonearm ctl` looks in the same place.
pub fn default_socket_path() -> Option<PathBuf> {
    match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => Some(dir.join("tonearm").join(SOCKET_NAME)),
        _ => crate::paths::state_dir().map(|d| d.join("run").join(SOCKET_NAME)),
    }
}

/// Where the socket goes for these settings.
pub fn socket_path(settings: &ControlSettings) -> Option<PathBuf> {
    settings.socket.clone().or_else(default_socket_path)
}

/// The owner's side of the guest remote, as the `guests*` commands need it. Errors are the
/// answer's message (a 404: no guest of that name).
pub trait GuestAdmin: Send + Sync {
    fn list(&self) -> Vec<schema::Guest>;
    fn grant(&self, name: &str, permission: schema::Permission) -> Result<schema::Guest, String>;
    fn revoke(&self, name: &str, permission: schema::Permission) -> Result<schema::Guest, String>;
    fn ban(&self, name: &str) -> Result<schema::Guest, String>;
    /// Fills `added_by` for the items guests added.
    fn annotate(&self, queue: &mut schema::Queue);
}

/// Who this instance is, for `status.device`.
#[derive(Debug, Clone)]
pub struct Identity {
    pub device_id: String,
    pub device_name: String,
}

/// Where the API listens once started.
#[derive(Debug, Clone)]
pub struct Listening {
    pub socket: PathBuf,
    pub tcp: Option<std::net::SocketAddr>,
    /// The file holding the TCP bearer token (when the token was generated).
    pub token_file: Option<PathBuf>,
}

pub(crate) struct Inner {
    hub: Arc<events::Hub>,
    intents: mpsc::UnboundedSender<Vec<Intent>>,
    intents_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Vec<Intent>>>,
    services: Mutex<Option<Services>>,
    controller: Mutex<Option<Arc<dyn Controller>>>,
    /// The player's and Connect's watchers.
    watchers: Mutex<[Option<JoinHandle<()>>; 2]>,
    stop: tokio::sync::watch::Sender<bool>,
    socket: Mutex<Option<server::SocketFile>>,
    listening: Listening,
    guests: Mutex<Option<Arc<dyn GuestAdmin>>>,
}

/// The running API; cheap to clone. [`LocalApi::shutdown`] stops the listeners and removes
/// the socket.
#[derive(Clone)]
pub struct LocalApi {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LocalApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalApi")
            .field("listening", &self.inner.listening)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LocalApi {
    /// Binds the socket (and the TCP listener when configured) and starts serving. `None` when
    /// the settings say not to serve.
    pub async fn start(
        settings: &ControlSettings,
        identity: Identity,
    ) -> Result<Option<LocalApi>, LocalApiError> {
        if !settings.serve || settings.disabled {
            return Ok(None);
        }
        let path = socket_path(settings).ok_or(LocalApiError::NoPath)?;
        LocalApi::start_at(&path, settings, identity)
            .await
            .map(Some)
    }

    /// [`LocalApi::start`] on the socket `path`.
    pub async fn start_at(
        path: &Path,
        settings: &ControlSettings,
        identity: Identity,
    ) -> Result<LocalApi, LocalApiError> {
        let default_dir = settings.socket.is_none();
        let (unix, socket) = server::bind_unix(path, default_dir)?;
        let (tcp, token_file) = match settings.tcp {
            Some(addr) => {
                let (token, file) = server::tcp_token(settings.token.as_deref(), path)?;
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| LocalApiError::Tcp { addr, source })?;
                let local = listener
                    .local_addr()
                    .map_err(|source| LocalApiError::Tcp { addr, source })?;
                (Some((listener, local, token)), file)
            }
            None => (None, None),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let (stop, _) = tokio::sync::watch::channel(false);
        let hub = Arc::new(events::Hub::new(schema::DeviceRef {
            id: identity.device_id,
            name: identity.device_name,
        }));
        let inner = Arc::new(Inner {
            hub,
            intents: tx,
            intents_rx: tokio::sync::Mutex::new(rx),
            services: Mutex::new(None),
            controller: Mutex::new(None),
            watchers: Mutex::new([None, None]),
            stop,
            socket: Mutex::new(Some(socket)),
            listening: Listening {
                socket: path.to_path_buf(),
                tcp: tcp.as_ref().map(|t| t.1),
                token_file,
            },
            guests: Mutex::new(None),
        });
        server::spawn_unix(inner.clone(), unix);
        if let Some((listener, local, token)) = tcp {
            server::spawn_tcp(inner.clone(), listener, local, token);
        }
        tracing::info!(socket = %path.display(), "control API listening");
        Ok(LocalApi { inner })
    }

    pub fn listening(&self) -> &Listening {
        &self.inner.listening
    }

    /// The services are up: commands reach their player, `status` follows it.
    pub fn attach(&self, services: &Services) {
        *lock(&self.inner.services) = Some(services.clone());
        let w = events::watch_player(self.inner.hub.clone(), services.player.clone());
        self.replace_watcher(0, w);
    }

    /// Spotify Connect is up: devices, transfer and the Connect link.
    pub fn attach_connect(&self, controller: Arc<dyn Controller>) {
        *lock(&self.inner.controller) = Some(controller.clone());
        let w = events::watch_connect(self.inner.hub.clone(), controller);
        self.replace_watcher(1, w);
    }

    /// The services stopped (signed out, switching account): commands wait for the next ones.
    pub fn detach(&self) {
        *lock(&self.inner.services) = None;
        *lock(&self.inner.controller) = None;
        for w in lock(&self.inner.watchers).iter_mut() {
            if let Some(w) = w.take() {
                w.abort();
            }
        }
        self.inner.hub.detached();
    }

    fn replace_watcher(&self, slot: usize, w: JoinHandle<()>) {
        if let Some(old) = lock(&self.inner.watchers)[slot].replace(w) {
            old.abort();
        }
    }

    /// The session's link, for `status.connection` and the `connection` event.
    pub fn set_session(&self, link: Link) {
        self.inner.hub.on_session(link);
    }

    /// A remote loaded these tracks from `context` (an album, artist or playlist URI; empty:
    /// none) — `status.context` until the queue no longer holds them.
    pub fn loaded(&self, context: &str, ids: &[crate::id::SpotifyId]) {
        let c = ids
            .first()
            .filter(|_| !context.is_empty())
            .map(|id| (context.to_string(), *id));
        self.inner.hub.set_context(c);
    }

    /// An error the user should hear of (a track that failed, …): an `error` event.
    pub fn error(&self, message: impl Into<String>) {
        self.inner.hub.publish(Event::Error {
            message: message.into(),
        });
    }

    /// The device guard's report, as an `intruder` event.
    pub fn intruder(&self, i: &crate::guard::Intruder) {
        self.inner.hub.publish(Event::Intruder {
            device_id: i.device_id.clone(),
            device_name: i.device_name.clone(),
            action: i.response.as_str().to_string(),
        });
    }

    /// The bus, for front ends built on this one (guests, the guard, hooks) and tests.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.inner.hub.subscribe()
    }

    /// Intents from another front end built on this API (the guest remote): the same path as
    /// the API's own commands. `false`: the host no longer takes intents.
    pub fn submit(&self, intents: Vec<Intent>) -> bool {
        self.inner.intents.send(intents).is_ok()
    }

    /// The services, while they are up.
    pub fn services(&self) -> Option<Services> {
        lock(&self.inner.services).clone()
    }

    /// The queue as `queue` answers it (with `added_by` when the guest remote runs).
    pub fn queue(&self) -> schema::Queue {
        self.inner.queue()
    }

    /// The player's queue as the hub holds it (no `added_by`).
    pub fn player_queue(&self) -> schema::Queue {
        self.inner.hub.queue()
    }

    pub fn status(&self) -> schema::Status {
        self.inner.hub.status()
    }

    /// Puts an event on the bus.
    pub fn publish(&self, event: Event) {
        self.inner.hub.publish(event);
    }

    /// The guest remote is up: the owner's `guests*` commands reach it.
    pub fn set_guests(&self, admin: Arc<dyn GuestAdmin>) {
        *lock(&self.inner.guests) = Some(admin);
    }

    /// Resolves once the API is shut down (for listeners that live as long as it does).
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut stop = self.inner.stop.subscribe();
        async move {
            let _ = stop.wait_for(|s| *s).await;
        }
    }

    /// The next batch of intents from a client, in arrival order (never returns once the API
    /// is shut down).
    pub async fn next_intents(&self) -> Vec<Intent> {
        match self.inner.intents_rx.lock().await.recv().await {
            Some(i) => i,
            None => std::future::pending().await,
        }
    }

    /// Stops the listeners and removes the socket file (if it is still ours).
    pub fn shutdown(&self) {
        let _ = self.inner.stop.send(true);
        self.detach();
        if let Some(s) = lock(&self.inner.socket).take() {
            s.remove();
        }
    }
}

impl Inner {
    fn queue(&self) -> schema::Queue {
        let mut q = self.hub.queue();
        if let Some(g) = lock(&self.guests).clone() {
            g.annotate(&mut q);
        }
        q
    }

    fn guests(&self) -> Option<Arc<dyn GuestAdmin>> {
        lock(&self.guests).clone()
    }
}

/// [`LocalApi::next_intents`] when there is an API; never resolves otherwise (for a
/// `select!` arm).
pub async fn next_intents(api: Option<&LocalApi>) -> Vec<Intent> {
    match api {
        Some(a) => a.next_intents().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
