//! The offline Spotify service that the end-to-end tests and the demo run against: apresolve
//! over HTTP, access points over raw TCP (handshake, Shannon framing, login, keep-alive, audio
//! keys, Mercury), built-in accounts, and runtime fault injection per AP. It is the *server*,
//! written from `shared/spec/spotify-protocol.md` alone: it never imports the client modules
//! (`session`, `id`, `config`, …), only protobuf types and crypto crates, so that a bug shared
//! with the client cannot hide. [`Simulator::start`] binds everything and returns a handle;
//! tests configure it through the handle and read [`SimStats`].
//!
//! Files: `state` shared state and persistence, `http` apresolve, `ap` listeners and
//! sessions, `handshake` the plaintext handshake and the test RSA key, `codec` Shannon
//! framing, `mercury` Mercury packets, `dh` the DH group, `phone` the Zeroconf blob encoder.

mod ap;
mod codec;
mod dh;
mod handshake;
mod http;
mod mercury;
pub mod phone;
mod state;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use state::{lock, Behaviour, CredentialStore, MercuryResource, Shared};

pub use dh::DhError;

/// How the simulator listens and behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address every listener binds (tests: always 127.0.0.1).
    pub listen: IpAddr,
    /// HTTP port (apresolve, later spclient & co.); 0 = ephemeral.
    pub http_port: u16,
    /// One AP listener per entry; 0 = ephemeral.
    pub ap_ports: Vec<u16>,
    /// Where issued stored credentials and tokens persist (JSON); `None` = memory only.
    pub state_dir: Option<PathBuf>,
    /// Delay from login to the first Ping.
    pub first_ping_after: Duration,
    /// Delay from each PongAck to the next Ping.
    pub ping_interval: Duration,
    /// Most Mercury part bytes per packet before a reply or event is split.
    pub mercury_chunk: usize,
    /// `false` mimics today's Spotify: USER_PASS logins always fail with BadCredentials.
    pub password_login: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: IpAddr::V4(Ipv4Addr::LOCALHOST),
            http_port: 0,
            ap_ports: vec![0, 0],
            state_dir: None,
            first_ping_after: Duration::from_secs(2),
            ping_interval: Duration::from_secs(60),
            mercury_chunk: 16384,
            password_login: true,
        }
    }
}

/// Misbehaviour of one AP, applied to connections accepted after [`Simulator::set_faults`].
/// Encrypted packets sent are counted from 0 (the login answer).
#[derive(Debug, Clone, Default)]
pub struct ApFaults {
    /// Close the socket after sending N encrypted packets (0 = right after the handshake).
    pub close_after_packets: Option<u32>,
    /// Delay before every reply (the APResponse, the login-failed answer, every encrypted packet).
    pub reply_delay: Duration,
    /// Flip the MAC of the N-th encrypted packet sent (0 = the login answer).
    pub corrupt_mac_at: Option<u32>,
    /// Send only the first half of the N-th encrypted packet, then close.
    pub truncate_at: Option<u32>,
    /// Send the APResponse with a length prefix of 0x7fff_ffff, then hang up.
    pub oversized_handshake: bool,
    /// Sign something other than `gs`.
    pub bad_signature: bool,
    /// Treat the client's HMAC as wrong (plaintext login_failed{ProtocolError} reply).
    pub reject_client_hmac: bool,
    /// Answer every login with APLoginFailed{TryAnotherAP}.
    pub try_another_ap: bool,
    /// Never send Ping.
    pub no_pings: bool,
    /// Delay before each audio key answer (other packets are not held up).
    pub audio_key_delay: Duration,
}

/// Where the simulator listens and what it offers; serialisable for `tonearm sim`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SimInfo {
    /// apresolve URL, `http://127.0.0.1:P/`.
    pub apresolve: String,
    /// AP addresses, `host:port`, in `ap_ports` order (= fault index).
    pub access_points: Vec<String>,
    /// spclient base URL, `http://host:port` (the HTTP server).
    pub spclient: String,
    /// dealer base URL, `ws://host:port` (the HTTP server).
    pub dealer: String,
    /// The built-in accounts.
    pub accounts: Vec<SimAccount>,
    /// The public half of the key that signs the AP handshake.
    pub ap_key: ApKeyInfo,
}

/// A built-in test account.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SimAccount {
    pub username: String,
    pub password: String,
    /// `premium` or `free`.
    pub product: String,
    /// Two-letter country code.
    pub country: String,
}

/// The AP signing key's public half (configure it as the client's trusted AP key).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApKeyInfo {
    /// Modulus, lower-case hex, big-endian (512 digits).
    pub modulus: String,
    pub exponent: u32,
}

/// Counters since start.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SimStats {
    /// TCP connections accepted by the AP listeners.
    pub connections_accepted: u64,
    /// Connections whose plaintext handshake did not complete (garbage, timeout, bad HMAC,
    /// injected handshake faults).
    pub handshakes_failed: u64,
    /// Logins answered with APWelcome.
    pub logins_ok: u64,
    /// Logins answered with APLoginFailed.
    pub logins_failed: u64,
    /// Logged-in connections currently open.
    pub active_sessions: u64,
    /// Pong packets received.
    pub pongs_received: u64,
}

/// Simulator start-up failures.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    #[error("simulator cannot listen for {what} on {addr}: {io}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        io: std::io::Error,
    },
    #[error("simulator state file {path}: {reason}")]
    State { path: PathBuf, reason: String },
    #[error("simulator AP key: {0}")]
    Key(String),
    #[error("simulator I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// A running simulator. Dropping it stops the listeners too; [`Simulator::shutdown`] also waits.
pub struct Simulator {
    info: SimInfo,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("apresolve", &self.info.apresolve)
            .finish_non_exhaustive()
    }
}

/// The address to advertise for a bound socket (an unspecified bind address becomes loopback).
fn advertised(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

async fn bind(
    what: &'static str,
    ip: IpAddr,
    port: u16,
) -> Result<(TcpListener, SocketAddr), SimError> {
    let addr = SocketAddr::new(ip, port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|io| SimError::Bind { what, addr, io })?;
    let local = listener.local_addr()?;
    Ok((listener, advertised(local)))
}

impl Simulator {
    /// Binds the HTTP server and the APs and starts serving.
    pub async fn start(cfg: SimConfig) -> Result<Simulator, SimError> {
        if cfg.ap_ports.is_empty() {
            return Err(SimError::Config(
                "ap_ports must list at least one port".to_owned(),
            ));
        }
        let ap_key = handshake::ApKey::load().map_err(SimError::Key)?;
        let store = CredentialStore::open(cfg.state_dir.as_deref())?;
        let (http_listener, http_addr) = bind("HTTP", cfg.listen, cfg.http_port).await?;
        let mut ap_listeners = Vec::with_capacity(cfg.ap_ports.len());
        for port in &cfg.ap_ports {
            ap_listeners.push(bind("an access point", cfg.listen, *port).await?);
        }
        let access_points: Vec<String> = ap_listeners
            .iter()
            .map(|(_, addr)| addr.to_string())
            .collect();
        let accounts = state::builtin_accounts();
        let info = SimInfo {
            apresolve: format!("http://{http_addr}/"),
            access_points: access_points.clone(),
            spclient: format!("http://{http_addr}"),
            dealer: format!("ws://{http_addr}"),
            accounts: accounts.clone(),
            ap_key: ap_key.info.clone(),
        };
        let shared = Arc::new(Shared {
            behaviour: Behaviour {
                first_ping_after: cfg.first_ping_after,
                ping_interval: cfg.ping_interval,
                mercury_chunk: cfg.mercury_chunk,
                password_login: cfg.password_login,
                http_base: format!("http://{http_addr}"),
            },
            accounts,
            ap_key,
            store: Mutex::new(store),
            audio_keys: Mutex::default(),
            mercury: Mutex::default(),
            sessions: Mutex::default(),
            faults: Mutex::new(vec![ApFaults::default(); cfg.ap_ports.len()]),
            counters: state::Counters::default(),
            next_session_id: AtomicU64::new(0),
            next_event_seq: AtomicU64::new(0),
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        let endpoints = http::Endpoints {
            accesspoint: access_points,
            dealer: vec![http_addr.to_string()],
            spclient: vec![http_addr.to_string()],
        };
        let router = http::router(Arc::new(endpoints));
        let mut http_shutdown = shutdown_rx.clone();
        tasks.push(tokio::spawn(async move {
            let signal = async move {
                let _ = http_shutdown.changed().await;
            };
            if let Err(e) = axum::serve(http_listener, router)
                .with_graceful_shutdown(signal)
                .await
            {
                tracing::warn!(error = %e, "simulator HTTP server stopped");
            }
        }));
        for (index, (listener, addr)) in ap_listeners.into_iter().enumerate() {
            tracing::info!(ap = index, %addr, "simulated access point listening");
            tasks.push(tokio::spawn(ap::serve(
                listener,
                index,
                Arc::clone(&shared),
                shutdown_rx.clone(),
            )));
        }
        tracing::info!(apresolve = %info.apresolve, "simulator started");
        Ok(Simulator {
            info,
            shared,
            shutdown,
            tasks,
        })
    }

    /// Addresses, accounts and the AP key.
    pub fn info(&self) -> &SimInfo {
        &self.info
    }

    /// Sets the faults of AP `ap_index` for connections accepted from now on.
    pub fn set_faults(&self, ap_index: usize, faults: ApFaults) {
        match lock(&self.shared.faults).get_mut(ap_index) {
            Some(slot) => *slot = faults,
            None => tracing::warn!(ap_index, "set_faults: no such access point"),
        }
    }

    /// A new access token for an AP `SPOTIFY_TOKEN` login; `None` for unknown users.
    pub fn issue_access_token(&self, username: &str) -> Option<String> {
        self.shared.account(username)?;
        Some(lock(&self.shared.store).issue_token(username))
    }

    /// Makes the AP answer audio key requests for (file, track) with `key`.
    pub fn add_audio_key(&self, file_id: [u8; 20], track_gid: [u8; 16], key: [u8; 16]) {
        lock(&self.shared.audio_keys).insert((file_id, track_gid), key);
    }

    /// Serves `body` for Mercury GET (and SEND) requests to `uri` (query strings are ignored
    /// when no resource has the full URI).
    pub fn put_mercury(&self, uri: &str, content_type: &str, body: Vec<u8>) {
        let resource = MercuryResource {
            content_type: content_type.to_owned(),
            body,
        };
        lock(&self.shared.mercury).insert(uri.to_owned(), resource);
    }

    /// Pushes a Mercury event (0xb5) to every session of `username` subscribed to a prefix of
    /// `uri`; returns how many sessions it was queued for.
    pub fn publish_mercury(&self, username: &str, uri: &str, payloads: Vec<Vec<u8>>) -> usize {
        ap::publish(&self.shared, username, uri, payloads)
    }

    /// Counters since start.
    pub fn stats(&self) -> SimStats {
        self.shared.counters.snapshot()
    }

    /// Stops every listener and connection and waits for them (at most a few seconds).
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(3), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        tracing::info!("simulator stopped");
    }
}
