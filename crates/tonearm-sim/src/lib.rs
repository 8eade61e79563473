//! The offline Spotify service that the end-to-end tests and the demo run against: apresolve,
//! the OAuth accounts service, client-token, login5, spclient (extended metadata, legacy
//! metadata, storage-resolve) and an audio CDN over HTTP; access points over raw TCP
//! (handshake, Shannon framing, login, keep-alive, audio keys, Mercury); built-in accounts; a
//! catalog with embedded demo audio; and runtime fault injection per AP and for HTTP. It is the
//! *server*,
//! written from `shared/spec/spotify-protocol.md` alone: it never imports the client modules
//! (`session`, `id`, `config`, …), only protobuf types and crypto crates, so that a bug shared
//! with the client cannot hide. [`Simulator::start`] binds everything and returns a handle;
//! tests configure it through the handle and read [`SimStats`].
//!
//! Files: `state` shared state and persistence, `app` what every HTTP handler gets, `http` the
//! router (apresolve, latency), `respond` the response helpers, `auth` Bearer tokens and 401s,
//! `util` the poison-free lock and the clock, `tokens` the token table and (`tokens::endpoints`)
//! client-token and login5, `accounts` the OAuth accounts service (authorize page, token
//! endpoint, device flow; `accounts::grants` what it remembers), `spclient` metadata and
//! storage-resolve, `cdn` the audio CDN, `covers` the generated album covers and their image route, `catalog` the music catalog, `metadata` catalog →
//! protobufs, `media` the embedded audio, Spotify's header page and AES-CTR, `ids` gids and
//! base62, `ap` listeners and sessions, `handshake` the plaintext handshake and the test RSA
//! key, `codec` Shannon framing, `mercury` Mercury packets, `dh` the DH group, `phone` the
//! Zeroconf blob encoder; Spotify Connect: `dealer` the dealer websocket (`dealer::frames` its
//! JSON frames), `connect_state` the hub of devices, clusters, transfers, commands and volume
//! (`connect_state::endpoints` its HTTP side), `context` context-resolve (`context::transfer`
//! the TransferState), `webapi::player` the Web API player endpoints, `remote` the scripted
//! phone that drives them.
//!
//! The files import each other without cycles (tonearm's `tests/e2e/layering.rs` checks it):
//! leaves (`util`, `respond`, `ids`, codecs, the hub's frames and transfer state) under the
//! service state (`state` and the state types it holds), under `auth` and `app`, under the
//! endpoints, under the router.

mod accounts;
pub mod admin;
mod ap;
mod app;
mod auth;
pub mod catalog;
mod cdn;
mod codec;
mod connect_state;
mod context;
pub mod covers;
mod dealer;
mod dh;
mod faults;
mod gate;
mod handshake;
mod http;
mod ids;
mod lyrics;
pub mod media;
mod mercury;
mod metadata;
pub mod phone;
mod put_limit;
pub mod remote;
mod respond;
mod spclient;
mod state;
mod tokens;
mod util;
mod webapi;

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

use rand::RngCore;
use state::{Behaviour, CredentialStore, MercuryResource, Shared};
use util::lock;

pub use catalog::{Catalog, CatalogSpec};
pub use dh::DhError;
pub use faults::{
    BlackHole, CdnStall, DealerFlap, Fault, FaultAck, FaultError, LimitedService, RateLimit,
};
pub use put_limit::PutLimit;

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
    /// `false` mimics today's Spotify: USER_PASS logins always fail with BadCredentials
    /// (over the AP and login5 alike).
    pub password_login: bool,
    /// Which catalog to serve.
    pub catalog: CatalogSpec,
    /// Lifetime of login5 access tokens.
    pub token_ttl: Duration,
    /// Trailing zero bits login5's hashcash challenge demands (once per login); `None` = no
    /// challenge.
    pub login5_hashcash: Option<i32>,
    /// Whether client-token answers with a hashcash challenge before granting a token.
    pub client_token_hashcash: bool,
    /// The accounts service's device-flow polling interval (`slow_down` when polled faster;
    /// advertised rounded up to whole seconds).
    pub device_code_interval: Duration,
    /// How long device codes (RFC 8628) stay valid.
    pub device_code_ttl: Duration,
    /// Web API scale: the demo account (`tonearm-demo`) gets this many saved tracks, taken from
    /// the catalog in order (0 = the demo library; more than the catalog lists is a
    /// configuration error, so pair it with `CatalogSpec::Synthetic`).
    pub library_tracks: usize,
    /// Web API scale: the demo account gets this many playlists of ten tracks each (0 = the
    /// demo playlists).
    pub library_playlists: usize,
    /// Web API rate limit: requests per window per user; beyond it 429 with `Retry-After`.
    pub web_api_rate: Option<(u32, Duration)>,
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
            catalog: CatalogSpec::Demo,
            token_ttl: Duration::from_secs(3600),
            login5_hashcash: None,
            client_token_hashcash: false,
            device_code_interval: Duration::from_secs(5),
            device_code_ttl: Duration::from_secs(600),
            library_tracks: 0,
            library_playlists: 0,
            web_api_rate: None,
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

/// Misbehaviour of the HTTP services, applied from [`Simulator::set_http_faults`] on. Counted
/// faults (`cdn_5xx`, `cdn_429`, `cdn_truncate`, `metadata_5xx`) fire for the next N matching
/// requests and then stop.
#[derive(Debug, Clone)]
pub struct HttpFaults {
    /// Added before every HTTP response (apresolve, tokens, spclient, CDN).
    pub latency: Duration,
    /// The next N CDN requests answer 503 (checked before `cdn_429`).
    pub cdn_5xx: u32,
    /// The next N CDN bodies stop after half the promised bytes and the connection is closed.
    pub cdn_truncate: u32,
    /// CDN bodies trickle: this pause after every 16 KiB.
    pub cdn_slow: Option<Duration>,
    /// The next N CDN requests answer 429 with `Retry-After: retry_after_secs`.
    pub cdn_429: u32,
    /// Value of Retry-After on injected 429s (default 1).
    pub retry_after_secs: u64,
    /// storage-resolve lists an already-expired URL first (403 from the CDN), then a valid one.
    pub expired_cdn_urls: bool,
    /// The next N metadata requests (extended-metadata and /metadata/4) answer 503.
    pub metadata_5xx: u32,
}

impl Default for HttpFaults {
    fn default() -> Self {
        HttpFaults {
            latency: Duration::ZERO,
            cdn_5xx: 0,
            cdn_truncate: 0,
            cdn_slow: None,
            cdn_429: 0,
            retry_after_secs: 1,
            expired_cdn_urls: false,
            metadata_5xx: 0,
        }
    }
}

/// One of the eight demo tracks.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DemoTrack {
    pub uri: String,
    pub name: String,
    pub album: String,
    pub artists: Vec<String>,
    /// The loudest partial of the recording.
    pub fundamental_hz: f32,
    pub duration_ms: u64,
    /// The replay-gain values in the file's Spotify header (offset 144).
    pub track_gain_db: f32,
    pub track_peak: f32,
    pub album_gain_db: f32,
    pub album_peak: f32,
}

/// URIs of the tracks that exercise the hard paths.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SpecialTracks {
    /// No files; its one alternative (a hidden remaster) has files.
    pub unplayable_with_alternative: String,
    /// `countries_forbidden` includes "SE", the demo premium account's country.
    pub restricted_in_se: String,
    /// Has files, but the AP answers its audio key requests with an error (the CDN serves
    /// these files unencrypted, so a client that plays on without a key still decodes them).
    pub key_refused: String,
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
    /// login5 endpoint, `http://host:port/v3/login`.
    pub login5: String,
    /// client-token endpoint, `http://host:port/v1/clienttoken`.
    pub client_token: String,
    /// Accounts service base URL (`http://host:port`: `/authorize`, `/api/token`,
    /// `/oauth2/device/authorize`, `/pair`).
    pub accounts_url: String,
    /// URI of the main demo album.
    pub demo_album: String,
    pub demo_tracks: Vec<DemoTrack>,
    pub special_tracks: SpecialTracks,
    /// Web API base URL, `http://host:port/v1`.
    pub web_api: String,
    /// URI of the demo podcast ("Tonearm Test Radio").
    pub demo_show: String,
    /// Its episodes in the show's order (newest first), with real audio like the tracks.
    pub demo_episodes: Vec<DemoEpisode>,
    /// URI of the demo account's first playlist ("Demo Mix").
    pub demo_playlist: String,
}

/// One demo episode, as tests need it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DemoEpisode {
    pub uri: String,
    pub name: String,
    pub duration_ms: u64,
}

/// The endpoints a client needs (the subset of [`SimInfo`] without accounts or catalog), as
/// `GET /_sim/endpoints` serves them so that `tonearm --sim URL` configures itself from the
/// one URL. Field names are [`SimInfo`]'s.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SimEndpoints {
    pub apresolve: String,
    pub ap_key: ApKeyInfo,
    pub login5: String,
    pub client_token: String,
    pub accounts_url: String,
    pub spclient: String,
    pub dealer: String,
    pub web_api: String,
}

impl SimInfo {
    /// The client endpoints of this simulator.
    pub fn endpoints(&self) -> SimEndpoints {
        SimEndpoints {
            apresolve: self.apresolve.clone(),
            ap_key: self.ap_key.clone(),
            login5: self.login5.clone(),
            client_token: self.client_token.clone(),
            accounts_url: self.accounts_url.clone(),
            spclient: self.spclient.clone(),
            dealer: self.dealer.clone(),
            web_api: self.web_api.clone(),
        }
    }
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

/// Counters since start (also served as JSON by `GET /_sim/stats`, see [`admin::stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
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
    /// Requests to the CDN (all, including refused and faulted ones).
    pub cdn_requests: u64,
    /// Audio bytes the CDN sent.
    pub cdn_bytes: u64,
    /// extended-metadata and /metadata/4 requests (all).
    pub metadata_requests: u64,
    /// storage-resolve requests (all).
    pub storage_resolves: u64,
    /// Successful login5 logins.
    pub login5_logins: u64,
    /// `POST /v1/clienttoken` requests (all, including refused ones).
    pub client_token_requests: u64,
    /// `POST /v3/login` requests (all, including refused ones and challenge rounds).
    pub login5_requests: u64,
    /// Dealer websockets opened.
    pub dealer_connections: u64,
    /// Dealer websockets closed by [`Fault::DealerFlap`].
    pub dealer_closed_by_fault: u64,
    /// AP connections closed by [`Fault::DropApConnections`].
    pub ap_connections_dropped: u64,
    /// AP connections and HTTP requests (dealer websockets included) that met a black hole.
    pub black_holed: u64,
    /// 429s answered by [`Fault::RateLimit`].
    pub injected_429s: u64,
    /// CDN responses held by [`Fault::StallCdn`].
    pub cdn_stalled: u64,
    /// `PUT /connect-state/v1/devices/{id}` requests with a valid token (all).
    pub connect_state_puts: u64,
    /// Of those, the ones refused with 429 by the PUT rate limit ([`PutLimit`]).
    pub connect_state_puts_limited: u64,
    /// Audio key requests (0x0c) over the APs.
    pub audio_key_requests: u64,
    /// Audio key requests answered with the key-error packet (0x0e).
    pub audio_keys_refused: u64,
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

/// The built-in test accounts (usernames, passwords, products) every simulator serves.
pub fn builtin_accounts() -> Vec<SimAccount> {
    let account = |username: &str, password: &str, product: &str, country: &str| SimAccount {
        username: username.to_owned(),
        password: password.to_owned(),
        product: product.to_owned(),
        country: country.to_owned(),
    };
    vec![
        account("tonearm-demo", "tonearm-demo-pass", "premium", "SE"),
        account("alice", "alice-pass", "premium", "GB"),
        account("frank-free", "frank-pass", "free", "US"),
        // Premium, but the AP refuses every audio key it asks for (FAULTS.md, "keyless").
        account(state::KEYLESS_ACCOUNT, "keyless-pass", "premium", "SE"),
    ]
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
        let accounts = builtin_accounts();
        let catalog = Arc::new(Catalog::build(cfg.catalog));
        let info = SimInfo {
            apresolve: format!("http://{http_addr}/"),
            access_points: access_points.clone(),
            spclient: format!("http://{http_addr}"),
            dealer: format!("ws://{http_addr}"),
            accounts: accounts.clone(),
            ap_key: ap_key.info.clone(),
            login5: format!("http://{http_addr}/v3/login"),
            client_token: format!("http://{http_addr}/v1/clienttoken"),
            accounts_url: format!("http://{http_addr}"),
            demo_album: catalog
                .uri(catalog::Entity::Album(catalog.demo_album))
                .unwrap_or_default(),
            demo_tracks: demo_tracks(&catalog),
            special_tracks: SpecialTracks {
                unplayable_with_alternative: catalog
                    .track_uri(catalog.specials.unplayable_with_alternative),
                restricted_in_se: catalog.track_uri(catalog.specials.restricted_in_se),
                key_refused: catalog.track_uri(catalog.specials.key_refused),
            },
            web_api: format!("http://{http_addr}/v1"),
            demo_show: catalog.uri(catalog::Entity::Show(0)).unwrap_or_default(),
            demo_episodes: catalog
                .shows
                .first()
                .map(|s| s.episodes.clone())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|i| {
                    let e = catalog.episodes.get(i)?;
                    Some(DemoEpisode {
                        uri: catalog.uri(catalog::Entity::Episode(i))?,
                        name: e.name.clone(),
                        duration_ms: e.duration_ms,
                    })
                })
                .collect(),
            demo_playlist: catalog
                .uri(catalog::Entity::Playlist(0))
                .unwrap_or_default(),
        };
        let web = webapi::WebApi::new(
            &catalog,
            &accounts,
            cfg.library_tracks,
            cfg.library_playlists,
            cfg.web_api_rate,
        )?;
        let mut cdn_secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut cdn_secret);
        let shared = Arc::new(Shared {
            behaviour: Behaviour {
                first_ping_after: cfg.first_ping_after,
                ping_interval: cfg.ping_interval,
                mercury_chunk: cfg.mercury_chunk,
                password_login: cfg.password_login,
                http_base: format!("http://{http_addr}"),
                token_ttl: cfg.token_ttl,
                login5_hashcash: cfg.login5_hashcash,
                client_token_hashcash: cfg.client_token_hashcash,
                device_code_interval: cfg.device_code_interval,
                device_code_ttl: cfg.device_code_ttl,
            },
            accounts,
            ap_key,
            store: Mutex::new(store),
            audio_keys: Mutex::default(),
            mercury: Mutex::default(),
            sessions: Mutex::default(),
            faults: Mutex::new(vec![ApFaults::default(); cfg.ap_ports.len()]),
            http_faults: Mutex::default(),
            tokens: Mutex::default(),
            catalog,
            media: media::Media::default(),
            cdn_secret,
            counters: state::Counters::default(),
            oauth: Mutex::default(),
            next_session_id: AtomicU64::new(0),
            next_event_seq: AtomicU64::new(0),
            web,
            connect: connect_state::Hub::default(),
            live: faults::Live::default(),
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        let endpoints = app::Endpoints {
            accesspoint: access_points,
            dealer: vec![http_addr.to_string()],
            spclient: vec![http_addr.to_string()],
        };
        let router = http::router(app::App {
            endpoints: Arc::new(endpoints),
            client_endpoints: Arc::new(info.endpoints()),
            shared: Arc::clone(&shared),
        });
        let mut http_shutdown = shutdown_rx.clone();
        tasks.push(tokio::spawn(async move {
            let signal = async move {
                let _ = http_shutdown.changed().await;
            };
            // The peer address lets the admin endpoint refuse non-loopback callers.
            let service = router.into_make_service_with_connect_info::<SocketAddr>();
            if let Err(e) = axum::serve(http_listener, service)
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

    /// Spotify Connect timings: how long devices of a closed dealer connection stay listed,
    /// and how long dealer requests wait for a reply (defaults 2 s and 5 s).
    pub fn set_connect_timing(&self, grace: Duration, reply_timeout: Duration) {
        self.shared.connect.set_timing(connect_state::Timing {
            grace,
            reply_timeout,
        });
    }

    /// The Spotify Connect cluster of `username` (devices, active device, its player state,
    /// and the last transfer data, which connect-state offers only to its owner; empty for
    /// accounts without devices).
    pub fn connect_cluster(&self, username: &str) -> librespot_protocol::connect::Cluster {
        self.shared.connect.cluster(username)
    }

    /// Sets the HTTP faults (replacing the previous ones; counted faults restart from the new
    /// values).
    pub fn set_http_faults(&self, faults: HttpFaults) {
        *lock(&self.shared.http_faults) = faults;
    }

    /// The catalog being served.
    pub fn catalog(&self) -> Arc<Catalog> {
        Arc::clone(&self.shared.catalog)
    }

    /// The unencrypted source Ogg Vorbis file (without Spotify's header) behind a track or
    /// episode URI in `format` (0 = OGG_VORBIS_96, 1 = 160, 2 = 320); `None` for unknown URIs,
    /// items without files and other formats.
    pub fn demo_audio(&self, track_uri: &str, format: i32) -> Option<&'static [u8]> {
        let catalog = &self.shared.catalog;
        let audio = match catalog.by_uri(track_uri)? {
            catalog::Entity::Track(i) => {
                let t = catalog.tracks.get(i)?;
                if t.files.is_empty() {
                    return None;
                }
                t.audio?
            }
            catalog::Entity::Episode(i) => catalog.episodes.get(i)?.audio?,
            _ => return None,
        };
        let format = usize::try_from(format).ok()?;
        media::DEMO_AUDIO.get(audio)?.files.get(format).copied()
    }

    /// A new login5 access token for `username` (valid for `token_ttl`), as if it had logged in
    /// through login5; `None` for unknown users.
    pub fn issue_login5_token(&self, username: &str) -> Option<String> {
        self.shared.account(username)?;
        let ttl = self.shared.behaviour.token_ttl;
        Some(lock(&self.shared.tokens).issue_access(username, ttl))
    }

    /// Counters since start.
    pub fn stats(&self) -> SimStats {
        self.shared.counters.snapshot()
    }

    /// Applies a runtime fault (see [`Fault`] and `FAULTS.md`); the same as
    /// `POST /_sim/fault/{name}` on the HTTP listener.
    pub fn fault(&self, fault: Fault) -> FaultAck {
        faults::apply(&self.shared, fault)
    }

    /// Sets (or with `None` lifts) connect-state's PUT rate limit; forgets past PUTs and
    /// penalties. The default is [`PutLimit::default`].
    pub fn set_put_limit(&self, limit: Option<PutLimit>) {
        self.shared.live.set_put_limit(limit);
    }

    /// Stops every listener and connection and waits for them (at most a few seconds).
    pub async fn shutdown(self) {
        // Requests held by a black hole or a CDN stall must not hold up the graceful stop.
        faults::apply(&self.shared, Fault::Clear);
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

/// The eight demo tracks as [`SimInfo`] lists them.
fn demo_tracks(catalog: &Catalog) -> Vec<DemoTrack> {
    catalog
        .demo_tracks
        .iter()
        .filter_map(|&i| {
            let t = catalog.tracks.get(i)?;
            let audio = media::DEMO_AUDIO.get(t.audio?)?;
            Some(DemoTrack {
                uri: catalog.track_uri(i),
                name: t.name.clone(),
                album: catalog.albums.get(t.album)?.name.clone(),
                artists: t
                    .artists
                    .iter()
                    .filter_map(|&a| catalog.artists.get(a).map(|a| a.name.clone()))
                    .collect(),
                fundamental_hz: audio.fundamental_hz,
                duration_ms: t.duration_ms,
                track_gain_db: audio.gain.track_gain_db,
                track_peak: audio.gain.track_peak,
                album_gain_db: audio.gain.album_gain_db,
                album_peak: audio.gain.album_peak,
            })
        })
        .collect()
}
