//! The access-point session: the public, cheap-to-clone [`Session`] handle and its configuration
//! and errors. `Session::connect` resolves the access points, connects, runs the handshake and
//! the login (for an access token: a second login with the stored credentials it yields, as
//! librespot does), spawns the connection task, and waits briefly for the product info to refuse
//! non-Premium accounts. Mercury and audio keys ride on the connection; `reconnect` moves them
//! to a fresh one.
//!
//! Called by the CLI, the API layer (country, username, Mercury) and the audio fetcher (audio
//! keys). Submodules, bottom-up: `dh`, `codec`, `handshake`, `credentials`, `login`,
//! `apresolve`, `product` (pure), `connection` (one logged-in connection), `task` (the running
//! connection), `mercury`, `audio_key`, `keepalive`. Must not depend on the UI or any other
//! service.

pub mod apresolve;
pub mod audio_key;
pub mod codec;
pub mod connection;
pub mod credentials;
pub mod dh;
pub mod handshake;
pub mod keepalive;
pub mod login;
pub mod mercury;
pub mod packet;
pub mod product;
mod task;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rsa::RsaPublicKey;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use credentials::{AuthType, BlobError, Credentials};

use crate::config::Endpoints;
use crate::id::{FileId, SpotifyId};
use apresolve::{HostPort, Resolved};
use audio_key::{AudioKey, AudioKeyError, AudioKeys};
use codec::CodecError;
use connection::Connection;
use login::{ApErrorCode, LoginFailure, Welcome};
use mercury::Mercury;
use task::{dead_tx, SessionData, Shared};

/// Timeouts of the session. The defaults are librespot's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect + handshake, and separately the wait for the login answer (5 s).
    pub connect: Duration,
    pub keepalive: keepalive::KeepAliveTimeouts,
    /// One audio key request (1.5 s).
    pub audio_key: Duration,
    /// One Mercury request (10 s).
    pub mercury: Duration,
    /// How long `connect` waits for the product info before going on without it (3 s).
    pub product_info: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            keepalive: keepalive::KeepAliveTimeouts::default(),
            audio_key: Duration::from_millis(1500),
            mercury: Duration::from_secs(10),
            product_info: Duration::from_secs(3),
        }
    }
}

/// What a session needs to connect.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub endpoints: Endpoints,
    /// Sent in the login's SystemInfo; 40 lower-case hex chars by convention.
    pub device_id: String,
    /// The OAuth client id the credentials belong to (used by the token services, not the AP).
    pub client_id: String,
    pub timeouts: Timeouts,
}

impl SessionConfig {
    /// Spotify's desktop client id and default timeouts.
    pub fn new(endpoints: Endpoints, device_id: String) -> SessionConfig {
        SessionConfig {
            endpoints,
            device_id,
            client_id: crate::config::SPOTIFY_CLIENT_ID.to_string(),
            timeouts: Timeouts::default(),
        }
    }
}

/// The connection state, published through [`Session::state`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    Connected,
    /// The connection failed (lost keep-alive, MAC mismatch, closed by the AP, …); the text says
    /// why. [`Session::reconnect`] makes a new one.
    Dead(String),
    /// [`Session::shutdown`] was called.
    Closed,
}

fn bad_credentials_message(t: AuthType) -> &'static str {
    match t {
        AuthType::UserPass => {
            "Spotify refused the user name and password: Spotify no longer accepts password \
             logins from clients like tonearm. Sign in with `tonearm login` instead (it uses \
             the browser or a device code)."
        }
        AuthType::SpotifyToken => {
            "Spotify refused the access token (expired or revoked?). Sign in again with \
             `tonearm login`."
        }
        AuthType::StoredSpotifyCredentials | AuthType::StoredFacebookCredentials => {
            "Spotify refused the saved credentials (revoked, or made for another client?). \
             Sign in again with `tonearm login`."
        }
        AuthType::FacebookToken => {
            "Spotify refused the Facebook token. Sign in again with `tonearm login`."
        }
    }
}

fn premium_message(account_type: &Option<String>) -> String {
    let what = match account_type {
        Some(t) => format!("this is a \"{t}\" account"),
        None => "this account is not a Premium account".to_string(),
    };
    format!(
        "Spotify Premium is required to stream audio, and {what}. Free accounts will still be \
         able to use the Web API features (browsing, search, library) when they are available."
    )
}

fn no_ap_message(attempts: usize, last: &Option<Box<SessionError>>) -> String {
    match last {
        Some(e) => format!(
            "could not log in to any access point after {attempts} attempts; last error: {e}"
        ),
        None => "no access point to connect to".to_string(),
    }
}

/// Errors of the session layer. No message ever contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("network error talking to the access point {ap}: {source}")]
    Io { ap: String, source: std::io::Error },
    #[error("timed out {what} ({ap})")]
    Timeout { ap: String, what: &'static str },
    #[error("the access point {ap} broke the protocol: {detail}")]
    Protocol { ap: String, detail: String },
    #[error("the connection to {ap} failed: {source}")]
    Codec { ap: String, source: CodecError },
    #[error(
        "{ap} is not a genuine access point: its handshake signature does not verify against \
         the trusted key (check `ap_key_modulus` / `ap_key_exponent` in the config)"
    )]
    BadServerSignature { ap: String },
    #[error("the configured access-point key is unusable: {0}")]
    BadTrustedKey(String),
    #[error("the access point {ap} asked us to try another one")]
    TryAnotherAp { ap: String },
    #[error("{}", bad_credentials_message(*auth_type))]
    BadCredentials { auth_type: AuthType },
    #[error("{}", premium_message(account_type))]
    PremiumRequired { account_type: Option<String> },
    #[error("Spotify refused the login: {0}")]
    LoginRefused(LoginFailure),
    #[error("{}", no_ap_message(*attempts, last))]
    NoAccessPoint {
        attempts: usize,
        last: Option<Box<SessionError>>,
    },
    #[error("the access-point connection was lost: {0}")]
    Dead(String),
    #[error("the session is closed")]
    Closed,
}

impl SessionError {
    /// What the caller should do: sign in again for refused credentials, tell the user about
    /// Premium and other account problems, retry network trouble, give up on protocol or trust
    /// failures.
    pub fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind;
        match self {
            SessionError::Io { .. }
            | SessionError::Timeout { .. }
            | SessionError::Codec { .. }
            | SessionError::TryAnotherAp { .. }
            | SessionError::Dead(_)
            | SessionError::Closed => ErrorKind::Retry,
            SessionError::Protocol { .. }
            | SessionError::BadServerSignature { .. }
            | SessionError::BadTrustedKey(_) => ErrorKind::Fatal,
            SessionError::BadCredentials { .. } => ErrorKind::Relogin,
            SessionError::PremiumRequired { .. } => ErrorKind::Notify,
            SessionError::LoginRefused(f) => match f.code {
                ApErrorCode::TryAnotherAp
                | ApErrorCode::BadConnectionId
                | ApErrorCode::CouldNotValidateCredentials => ErrorKind::Retry,
                ApErrorCode::ProtocolError | ApErrorCode::InvalidAppKey => ErrorKind::Fatal,
                ApErrorCode::BadCredentials => ErrorKind::Relogin,
                _ => ErrorKind::Notify,
            },
            SessionError::NoAccessPoint { last, .. } => {
                last.as_ref().map_or(ErrorKind::Retry, |e| e.kind())
            }
        }
    }
}

/// The running connection task of a session.
struct ConnHandle {
    stop: oneshot::Sender<()>,
    join: JoinHandle<task::Exit>,
}

struct Inner {
    config: SessionConfig,
    server_key: RsaPublicKey,
    shared: Arc<Shared>,
    /// The current connection task; also serialises `reconnect` and `shutdown`.
    conn: tokio::sync::Mutex<Option<ConnHandle>>,
    /// Cuts a reconnect back-off short (see [`Session::nudge_reconnect`]).
    nudge: tokio::sync::Notify,
}

/// A logged-in access-point session. Clones share the connection; dropping the last clone
/// closes it.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = self.inner.shared.data();
        f.debug_struct("Session")
            .field("username", &d.username)
            .field("ap", &d.ap_address)
            .field("country", &d.country)
            .field("state", &*self.inner.shared.state_tx.borrow())
            .finish_non_exhaustive()
    }
}

/// Connects and logs in, following the access-token → stored-credentials hop.
async fn login_anywhere(
    config: &SessionConfig,
    server_key: &RsaPublicKey,
    aps: &[HostPort],
    credentials: &Credentials,
) -> Result<(Connection<tokio::net::TcpStream>, Welcome, HostPort), SessionError> {
    let attempt = |creds: Credentials| {
        move |ap: HostPort| {
            let creds = creds.clone();
            async move {
                connection::establish_tcp(
                    &ap,
                    server_key,
                    &creds,
                    &config.device_id,
                    config.timeouts.connect,
                )
                .await
            }
        }
    };
    let (conn, welcome, ap) = connection::connect_any(aps, attempt(credentials.clone())).await?;
    if credentials.auth_type != AuthType::SpotifyToken {
        return Ok((conn, welcome, ap));
    }
    // Token-authenticated connections cannot do everything; like librespot, log in again with
    // the stored credentials the token login just gave us and keep that connection.
    tracing::debug!("token login done; reconnecting with the stored credentials");
    drop(conn);
    connection::connect_any(aps, attempt(welcome.reusable)).await
}

impl Session {
    /// Resolves access points, connects and logs in, then waits up to
    /// `timeouts.product_info` for the product info: a non-Premium account is
    /// [`SessionError::PremiumRequired`] and the connection is closed.
    pub async fn connect(
        config: SessionConfig,
        credentials: Credentials,
    ) -> Result<Session, SessionError> {
        let server_key = handshake::trusted_key(
            &config.endpoints.ap_key_modulus,
            config.endpoints.ap_key_exponent,
        )
        .map_err(|e| SessionError::BadTrustedKey(e.to_string()))?;
        let resolved = apresolve::resolve(&config.endpoints, config.timeouts.connect).await;
        let (conn, welcome, ap) =
            login_anywhere(&config, &server_key, &resolved.accesspoint, &credentials).await?;

        let (tx, rx) = mpsc::unbounded_channel();
        let mercury = Mercury::new(tx.clone(), config.timeouts.mercury);
        let audio_keys = AudioKeys::new(tx, config.timeouts.audio_key);
        let shared = Arc::new(Shared::new(
            SessionData {
                username: welcome.canonical_username.clone(),
                reusable: welcome.reusable.clone(),
                ap_address: ap.to_string(),
                country: None,
                product: HashMap::new(),
                server_time_delta: None,
                resolved,
            },
            mercury,
            audio_keys,
        ));
        let gen = *shared.generation();
        let handle = spawn_task(conn, rx, shared.clone(), gen, config.timeouts.keepalive);
        let session = Session {
            inner: Arc::new(Inner {
                config,
                server_key,
                shared,
                conn: tokio::sync::Mutex::new(Some(handle)),
                nudge: tokio::sync::Notify::new(),
            }),
        };
        session.check_product(gen).await?;
        Ok(session)
    }

    /// Waits (bounded) for this connection's product info and refuses non-Premium accounts.
    async fn check_product(&self, gen: u64) -> Result<(), SessionError> {
        let shared = &self.inner.shared;
        let mut product_rx = shared.product_tx.subscribe();
        let mut state_rx = shared.state_tx.subscribe();
        let wait = async {
            loop {
                if *product_rx.borrow_and_update() == gen {
                    return Ok(true);
                }
                if let SessionState::Dead(reason) = &*state_rx.borrow_and_update() {
                    return Err(SessionError::Dead(reason.clone()));
                }
                tokio::select! {
                    r = product_rx.changed() => if r.is_err() { return Err(SessionError::Closed) },
                    r = state_rx.changed() => if r.is_err() { return Err(SessionError::Closed) },
                }
            }
        };
        let seen = match tokio::time::timeout(self.inner.config.timeouts.product_info, wait).await {
            Ok(Ok(seen)) => seen,
            Ok(Err(e)) => {
                self.shutdown().await;
                return Err(e);
            }
            Err(_) => false,
        };
        if !seen {
            tracing::warn!("no product info from the access point; not checking for Premium");
            return Ok(());
        }
        let not_premium = product::non_premium_type(&shared.data().product).map(str::to_string);
        if let Some(t) = not_premium {
            tracing::warn!(account_type = %t, "account is not Premium; closing the session");
            self.shutdown().await;
            return Err(SessionError::PremiumRequired {
                account_type: Some(t),
            });
        }
        Ok(())
    }

    /// The canonical user name from the login.
    pub fn username(&self) -> String {
        self.inner.shared.data().username.clone()
    }

    /// The account's country (two upper-case letters), once the AP has sent it.
    pub fn country(&self) -> Option<String> {
        self.inner.shared.data().country.clone()
    }

    /// The product info as a flat `element → text` map (`type`, `catalogue`, `autoplay`, …).
    pub fn product(&self) -> HashMap<String, String> {
        self.inner.shared.data().product.clone()
    }

    /// Credentials that log in again without the original secret (store these, not the token).
    pub fn reusable_credentials(&self) -> Credentials {
        self.inner.shared.data().reusable.clone()
    }

    pub fn device_id(&self) -> String {
        self.inner.config.device_id.clone()
    }

    /// `host:port` of the access point in use.
    pub fn ap_address(&self) -> String {
        self.inner.shared.data().ap_address.clone()
    }

    /// The dealer and spclient hosts apresolve named (with fallbacks), for the API layer.
    pub fn resolved(&self) -> Resolved {
        self.inner.shared.data().resolved.clone()
    }

    /// The connection state; changes are published as they happen.
    pub fn state(&self) -> watch::Receiver<SessionState> {
        self.inner.shared.state_tx.subscribe()
    }

    /// Mercury over this session (follows the session across reconnects).
    pub fn mercury(&self) -> Mercury {
        self.inner.shared.mercury.clone()
    }

    /// Asks the AP for the AES key of `file` of `track`.
    pub async fn audio_key(
        &self,
        track: SpotifyId,
        file: FileId,
    ) -> Result<AudioKey, AudioKeyError> {
        self.inner.shared.audio_keys.request(track, file).await
    }

    /// Server unix time minus local unix time (seconds), from the last Ping.
    pub fn server_time_delta(&self) -> Option<i64> {
        self.inner.shared.data().server_time_delta
    }

    /// Opens a new connection with the reusable credentials and the same device id, then moves
    /// Mercury and audio keys onto it (their pending requests fail with `Disconnected`) and
    /// closes the old one. On failure the old connection, if still alive, stays in use.
    pub async fn reconnect(&self) -> Result<(), SessionError> {
        let inner = &self.inner;
        let mut conn_slot = inner.conn.lock().await;
        let (creds, aps) = {
            let d = inner.shared.data();
            (d.reusable.clone(), d.resolved.accesspoint.clone())
        };
        let (conn, welcome, ap) =
            login_anywhere(&inner.config, &inner.server_key, &aps, &creds).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let gen = {
            let mut gen = inner.shared.generation();
            *gen += 1;
            {
                let mut d = inner.shared.data_mut();
                d.username = welcome.canonical_username.clone();
                d.reusable = welcome.reusable.clone();
                d.ap_address = ap.to_string();
                d.country = None;
                d.product = HashMap::new();
                d.server_time_delta = None;
            }
            inner.shared.mercury.reset(tx.clone());
            inner.shared.audio_keys.reset(tx);
            inner.shared.state_tx.send_replace(SessionState::Connected);
            *gen
        };
        if let Some(old) = conn_slot.take() {
            stop_task(old).await;
        }
        *conn_slot = Some(spawn_task(
            conn,
            rx,
            inner.shared.clone(),
            gen,
            inner.config.timeouts.keepalive,
        ));
        drop(conn_slot);
        tracing::info!(ap = %ap, "reconnected");
        self.check_product(gen).await
    }

    /// Tells whoever waits out a reconnect back-off (the supervisor) to try now: another
    /// service just reached the server (e.g. the dealer reconnected), so it is back. A nudge
    /// with nobody waiting is kept for the next wait.
    pub fn nudge_reconnect(&self) {
        self.inner.nudge.notify_one();
    }

    /// Resolves at the next [`Session::nudge_reconnect`] (or at once for one made earlier).
    pub async fn nudged(&self) {
        self.inner.nudge.notified().await;
    }

    /// Marks a connected session dead because a service found its credentials refused (login5
    /// and then the access point, see `api::tokens`): the supervisor then tries the access
    /// point and, refused there too, signs the user out. A no-op unless connected.
    pub(crate) fn mark_dead(&self, reason: &str) {
        self.inner.shared.state_tx.send_if_modified(|s| {
            if *s == SessionState::Connected {
                *s = SessionState::Dead(reason.to_owned());
                true
            } else {
                false
            }
        });
    }

    /// Closes the connection; the state becomes [`SessionState::Closed`] and Mercury / audio
    /// key requests fail with `Disconnected` until [`Session::reconnect`].
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        let mut conn_slot = inner.conn.lock().await;
        {
            let mut gen = inner.shared.generation();
            *gen += 1;
            inner.shared.mercury.reset(dead_tx());
            inner.shared.audio_keys.reset(dead_tx());
            inner.shared.state_tx.send_replace(SessionState::Closed);
        }
        if let Some(old) = conn_slot.take() {
            stop_task(old).await;
        }
    }
}

fn spawn_task(
    conn: Connection<tokio::net::TcpStream>,
    rx: mpsc::UnboundedReceiver<packet::Packet>,
    shared: Arc<Shared>,
    gen: u64,
    keepalive: keepalive::KeepAliveTimeouts,
) -> ConnHandle {
    let (stop, stop_rx) = oneshot::channel();
    let join = tokio::spawn(task::run(conn, rx, stop_rx, shared, gen, keepalive));
    ConnHandle { stop, join }
}

/// Tells the task to stop and waits (bounded) for it to let go of the socket.
async fn stop_task(handle: ConnHandle) {
    let _ = handle.stop.send(());
    let abort = handle.join.abort_handle();
    if tokio::time::timeout(Duration::from_secs(2), handle.join)
        .await
        .is_err()
    {
        tracing::warn!("connection task did not stop in time; aborting it");
        abort.abort();
    }
}

#[cfg(test)]
mod tests;
