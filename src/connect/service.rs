//! The Connect service: a [`Connect`] handle and a private task that owns the dealer
//! connection and the connect-state registration (protocol spec §11.1, §12). The task
//! registers the device after every (re)connection (`PUT devices/{id}` NEW_DEVICE, with its
//! player state when active; a failed registration is retried with jittered back-off that
//! honours a 429's `Retry-After`), reports
//! player changes (PLAYER_STATE_CHANGED, throttled ~200 ms; VOLUME_CHANGED ~500 ms), follows
//! cluster pushes (device list, playback on another active device, "another device took
//! over" → [`RemoteCommand::BecameInactive`] and `PUT …/inactive`), turns dealer commands into
//! [`RemoteCommand`]s on the event channel (a worker task resolves contexts in order and
//! replies to each request), and runs the controller side (transfer, player commands, volume).
//! [`Connect::shutdown`] deregisters (`DELETE devices/{id}`).
//!
//! Called by the TUI runtime (through [`Controller`]) and `daemon.rs`. Depends on the pieces of
//! the services it uses ([`ConnectDeps`]: session, tokens, spclient, Web API, player, HTTP
//! client, the dealer URL); [`Connect::start`] takes them from the [`Services`] bundle. Never
//! depends on UI code or the simulator.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use librespot_protocol::connect::{Cluster, ClusterUpdate, PutStateReason, SetVolumeCommand};
use protobuf::Message as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::Method;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::command::{self, CommandRequest, PlayerCommand};
use super::dealer::{Dealer, DealerConfig, DealerEvent, DealerMessage, DealerRequest, TokenSource};
use super::state::{self, PutMeta, ThisDevice};
use super::{
    ConnectEvent, ConnectLink, Controller, Device, DeviceOrigin, RemoteCommand, RemoteControl,
    RemotePlayback,
};
use crate::api::{ApiError, SpClient, TokenProvider, WebApi};
use crate::id::{ItemKind, SpotifyUri};
use crate::player::{PlayState, Player, PlayerStatus, QueueSnapshot};
use crate::services::Services;
use crate::session::Session;

pub use librespot_protocol::devices::DeviceType;

/// URIs the service listens to.
pub const CLUSTER_URI: &str = "hm://connect-state/v1/cluster";
pub const VOLUME_URI: &str = "hm://connect-state/v1/connect/volume";
pub const COMMAND_URI: &str = "hm://connect-state/v1/player/command";

/// How this device presents itself and how often it reports.
#[derive(Debug, Clone)]
pub struct ConnectConfig {
    pub device_id: String,
    pub name: String,
    pub device_type: DeviceType,
    /// `0..=65535`, reported until the player says otherwise.
    pub initial_volume: u16,
    pub dealer: DealerConfig,
    /// Player-state reports are batched this long after a change (librespot: 200 ms).
    pub state_throttle: Duration,
    /// Volume reports likewise (librespot: 500 ms).
    pub volume_throttle: Duration,
    /// LAN devices found by mDNS browse, merged into the device list (those the cluster lists
    /// already are shown once). See [`lan_devices`]; `None`: cloud devices only.
    pub lan_devices: Option<watch::Receiver<Vec<Device>>>,
    /// How long a transfer to a LAN device that was just woken waits for it to show up in the
    /// cluster.
    pub wake_timeout: Duration,
}

impl ConnectConfig {
    pub fn new(device_id: impl Into<String>, name: impl Into<String>) -> ConnectConfig {
        ConnectConfig {
            device_id: device_id.into(),
            name: name.into(),
            device_type: DeviceType::COMPUTER,
            initial_volume: 32767,
            dealer: DealerConfig::default(),
            state_throttle: Duration::from_millis(200),
            volume_throttle: Duration::from_millis(500),
            lan_devices: None,
            wake_timeout: Duration::from_secs(20),
        }
    }
}

/// The device list of an mDNS browse ([`super::mdns::browse`]) as a watch for
/// [`ConnectConfig::lan_devices`]. The task ends when the browse does.
pub fn lan_devices(
    mut events: mpsc::Receiver<super::mdns::LanEvent>,
) -> watch::Receiver<Vec<Device>> {
    use super::mdns::LanEvent;
    let (tx, rx) = watch::channel(Vec::new());
    tokio::spawn(async move {
        // Keyed by instance name (what `Lost` names).
        let mut found: std::collections::BTreeMap<String, Device> = Default::default();
        while let Some(ev) = events.recv().await {
            match ev {
                LanEvent::Found(d) => {
                    found.insert(
                        d.name.clone(),
                        Device {
                            id: d.device_id.clone(),
                            name: d.name.clone(),
                            kind: d.device_type.clone(),
                            is_active: false,
                            volume: None,
                            origin: DeviceOrigin::Lan {
                                addr: d.addr,
                                cpath: d.cpath.clone(),
                                active_user: d.active_user.clone(),
                            },
                        },
                    );
                }
                LanEvent::Lost(name) => {
                    found.remove(&name);
                }
            }
            if tx.send(found.values().cloned().collect()).is_err() {
                break;
            }
        }
    });
    rx
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConnectError {
    #[error("no client token, so Spotify Connect cannot start: {0}")]
    ClientToken(ApiError),
    #[error("the device id must not be empty")]
    NoDeviceId,
}

enum Ctl {
    Transfer(Device),
    Control(String, RemoteControl),
    Refresh,
    /// A transfer/play arrived: this device is active now, playing from `context_uri`.
    Activated {
        context_uri: String,
        by: String,
        message_id: u32,
    },
    /// The queue was loaded locally from this context (empty: none).
    Context(String),
    /// Another command arrived (recorded as the last command in the state).
    Commanded {
        by: String,
        message_id: u32,
    },
    Shutdown(oneshot::Sender<()>),
}

/// The Connect service handle. Calls are fire-and-forget; see [`Controller`].
pub struct Connect {
    ctl: mpsc::UnboundedSender<Ctl>,
    devices: watch::Receiver<Vec<Device>>,
    remote: watch::Receiver<Option<RemotePlayback>>,
    link: watch::Receiver<ConnectLink>,
    device_id: String,
    dealer: Dealer,
}

impl std::fmt::Debug for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connect")
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

/// What the Connect service uses of the signed-in services: these pieces, not the whole
/// [`Services`] bundle (so its tasks depend on exactly what they call). Cheap to clone.
#[derive(Clone)]
pub struct ConnectDeps {
    /// The AP session: apresolve's dealers, the credentials a woken LAN device gets.
    pub session: Session,
    /// Access and client tokens (the dealer's and connect-state's).
    pub tokens: TokenProvider,
    /// connect-state, context-resolve, metadata.
    pub spclient: SpClient,
    /// Playlist and album lookups for contexts.
    pub web_api: WebApi,
    /// What this device plays.
    pub player: Player,
    /// Zeroconf requests to LAN devices.
    pub http: reqwest::Client,
    /// The configured dealer base URL; `None`: apresolve's first dealer.
    pub dealer_url: Option<String>,
}

impl From<&Services> for ConnectDeps {
    fn from(s: &Services) -> ConnectDeps {
        ConnectDeps {
            session: s.session.clone(),
            tokens: s.tokens.clone(),
            spclient: s.spclient.clone(),
            web_api: s.web_api.clone(),
            player: s.player.clone(),
            http: s.http.clone(),
            dealer_url: s.config.endpoints.dealer.clone(),
        }
    }
}

/// The dealer base URL: the configured one, else apresolve's first dealer.
fn dealer_base(deps: &ConnectDeps) -> String {
    if let Some(d) = &deps.dealer_url {
        return d.clone();
    }
    let resolved = deps.session.resolved().with_fallbacks();
    match resolved.dealer.first() {
        Some(hp) if hp.port == 443 => format!("wss://{}", hp.host),
        Some(hp) => format!("wss://{}:{}", hp.host, hp.port),
        None => {
            let (h, p) = crate::session::apresolve::FALLBACK_DEALER;
            format!("wss://{h}:{p}")
        }
    }
}

impl Connect {
    /// [`Connect::start_with`] over the pieces of `services` it uses.
    pub async fn start(
        services: &Services,
        cfg: ConnectConfig,
    ) -> Result<(Arc<Connect>, mpsc::UnboundedReceiver<ConnectEvent>), ConnectError> {
        Connect::start_with(ConnectDeps::from(services), cfg).await
    }

    /// Starts the service: checks that a client token can be had (as librespot does), opens
    /// the dealer and registers the device once it has a connection id. Commands arrive on the
    /// returned channel as [`ConnectEvent::Command`].
    pub async fn start_with(
        deps: ConnectDeps,
        cfg: ConnectConfig,
    ) -> Result<(Arc<Connect>, mpsc::UnboundedReceiver<ConnectEvent>), ConnectError> {
        if cfg.device_id.is_empty() {
            return Err(ConnectError::NoDeviceId);
        }
        deps.tokens
            .client_token()
            .await
            .map_err(ConnectError::ClientToken)?;
        let tokens = deps.tokens.clone();
        let source: TokenSource = Arc::new(move |refused: Option<String>| {
            let tokens = tokens.clone();
            Box::pin(async move {
                // Only the token the dealer refused goes; one another service minted since
                // is kept (and the outage counts one re-mint, not one per service).
                if let Some(refused) = refused {
                    tokens.invalidate(&refused);
                }
                tokens
                    .access_token()
                    .await
                    .map(|t| t.token)
                    .map_err(|e| e.to_string())
            })
        });
        let (dealer, dealer_events) = Dealer::start(dealer_base(&deps), source, cfg.dealer);
        let cluster_rx = dealer.listen(CLUSTER_URI);
        let volume_rx = dealer.listen(VOLUME_URI);
        let commands_rx = dealer.handle_requests(COMMAND_URI);

        let me = ThisDevice {
            device_id: cfg.device_id.clone(),
            name: cfg.name.clone(),
            device_type: cfg.device_type,
            client_id: crate::config::SPOTIFY_CLIENT_ID.to_string(),
        };
        let device_id = cfg.device_id.clone();
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let this = this_device(&me, false, Some(cfg.initial_volume));
        let (devices_tx, devices_rx) = watch::channel(vec![this]);
        let (remote_tx, remote_rx) = watch::channel(None);
        let (link_tx, link_rx) = watch::channel(ConnectLink::Connecting);
        let (lookup_tx, lookup_rx) = mpsc::unbounded_channel();

        let worker = Worker {
            deps: deps.clone(),
            dealer: dealer.clone(),
            events: events_tx.clone(),
            ctl: ctl_tx.clone(),
        };
        tokio::spawn(worker.run(commands_rx));

        let player = deps.player.clone();
        let status = player.status();
        let queue = player.queue();
        let volume = status.borrow().volume;
        let task = Task {
            deps,
            me,
            cfg,
            dealer: dealer.clone(),
            events: events_tx,
            ctl_self: ctl_tx.clone(),
            devices_tx,
            remote_tx,
            link_tx,
            conn_id: None,
            active: false,
            started_playing_at: 0,
            context_uri: String::new(),
            last_command: None,
            message_id: 0,
            cluster: None,
            state_due: None,
            register_due: None,
            register_failures: 0,
            volume_due: None,
            reported: None,
            queue_gen: 0,
            reported_volume: volume,
            prev_state: status.borrow().state,
            titles: HashMap::new(),
            lookups: HashSet::new(),
            lookup_tx,
        };
        tokio::spawn(task.run(
            dealer_events,
            cluster_rx,
            volume_rx,
            ctl_rx,
            status,
            queue,
            lookup_rx,
        ));
        Ok((
            Arc::new(Connect {
                ctl: ctl_tx,
                devices: devices_rx,
                remote: remote_rx,
                link: link_rx,
                device_id,
                dealer,
            }),
            events_rx,
        ))
    }

    /// This device's Connect id.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// Drops the dealer connection (it reconnects with back-off and re-registers).
    pub fn reconnect(&self) {
        self.dealer.reconnect();
    }

    /// Deregisters the device (`DELETE devices/{id}`) and stops the service.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.ctl.send(Ctl::Shutdown(tx)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(10), rx).await;
        }
    }
}

impl Drop for Connect {
    /// The last handle is gone without [`Connect::shutdown`]: deregister and stop anyway (the
    /// task does it on its own).
    fn drop(&mut self) {
        let (tx, _rx) = oneshot::channel();
        let _ = self.ctl.send(Ctl::Shutdown(tx));
    }
}

impl Controller for Connect {
    fn devices(&self) -> watch::Receiver<Vec<Device>> {
        self.devices.clone()
    }

    fn remote(&self) -> watch::Receiver<Option<RemotePlayback>> {
        self.remote.clone()
    }

    fn link(&self) -> watch::Receiver<ConnectLink> {
        self.link.clone()
    }

    fn transfer(&self, device: Device) {
        let _ = self.ctl.send(Ctl::Transfer(device));
    }

    fn control(&self, device_id: String, control: RemoteControl) {
        let _ = self.ctl.send(Ctl::Control(device_id, control));
    }

    fn refresh(&self) {
        let _ = self.ctl.send(Ctl::Refresh);
    }

    fn playing_context(&self, context_uri: String) {
        let _ = self.ctl.send(Ctl::Context(context_uri));
    }
}

fn this_device(me: &ThisDevice, active: bool, volume: Option<u16>) -> Device {
    Device {
        id: me.device_id.clone(),
        name: me.name.clone(),
        kind: state::device_type_name(me.device_type).into(),
        is_active: active,
        volume,
        origin: DeviceOrigin::This,
    }
}

/// Turns dealer command requests into [`RemoteCommand`]s, one at a time (so a `play` whose
/// context is being resolved is not overtaken by the `pause` after it), and replies.
struct Worker {
    deps: ConnectDeps,
    dealer: Dealer,
    events: mpsc::UnboundedSender<ConnectEvent>,
    ctl: mpsc::UnboundedSender<Ctl>,
}

impl Worker {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<DealerRequest>) {
        while let Some(req) = rx.recv().await {
            let ok = match command::parse_command(&req.payload) {
                Ok(cmd) => {
                    let endpoint = cmd.endpoint.clone();
                    match self.handle(cmd).await {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::warn!(%endpoint, "player command failed: {e}");
                            false
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!("player command refused: {e}");
                    false
                }
            };
            self.dealer.reply(&req.key, ok);
        }
    }

    fn emit(&self, cmd: RemoteCommand) -> Result<(), String> {
        self.events
            .send(ConnectEvent::Command(cmd))
            .map_err(|_| "nobody takes commands any more".to_string())
    }

    async fn handle(&self, req: CommandRequest) -> Result<(), String> {
        tracing::info!(endpoint = %req.endpoint, from = %req.sent_by_device_id, "player command");
        let sp = &self.deps.spclient;
        let by = req.sent_by_device_id.clone();
        let message_id = req.message_id;
        let mut activated = None;
        let cmds: Vec<RemoteCommand> = match req.command {
            PlayerCommand::Transfer {
                state,
                restore_paused,
            } => {
                let load = command::transfer_to_load(
                    sp,
                    &state,
                    restore_paused.as_deref(),
                    state::unix_ms(),
                )
                .await
                .map_err(|e| e.to_string())?;
                activated = Some(load_context(&load));
                vec![load]
            }
            PlayerCommand::Play { context, options } => {
                let load = command::play_to_load(sp, &context, &options)
                    .await
                    .map_err(|e| e.to_string())?;
                activated = Some(load_context(&load));
                vec![load]
            }
            PlayerCommand::Pause => vec![RemoteCommand::Pause],
            PlayerCommand::Resume => vec![RemoteCommand::Resume],
            PlayerCommand::SeekTo { value, relative } => {
                let st = self.deps.player.status().borrow().clone();
                let now = state::position_now(&st, std::time::Instant::now());
                vec![RemoteCommand::SeekTo(command::seek_target(
                    value, relative, now,
                ))]
            }
            PlayerCommand::SkipNext => vec![RemoteCommand::SkipNext],
            PlayerCommand::SkipPrev => vec![RemoteCommand::SkipPrev],
            PlayerCommand::SetShuffle(on) => vec![RemoteCommand::SetShuffle(on)],
            PlayerCommand::SetRepeatContext(on) => vec![RemoteCommand::SetRepeatContext(on)],
            PlayerCommand::SetRepeatTrack(on) => vec![RemoteCommand::SetRepeatTrack(on)],
            PlayerCommand::SetOptions {
                shuffle,
                repeat_context,
                repeat_track,
            } => {
                let mut v = Vec::new();
                if let Some(on) = shuffle {
                    v.push(RemoteCommand::SetShuffle(on));
                }
                // Repeat-track wins while on; so its "off" goes first and the context's state
                // last, and its "on" last.
                match (repeat_context, repeat_track) {
                    (c, Some(true)) => {
                        if let Some(c) = c {
                            v.push(RemoteCommand::SetRepeatContext(c));
                        }
                        v.push(RemoteCommand::SetRepeatTrack(true));
                    }
                    (c, t) => {
                        if let Some(t) = t {
                            v.push(RemoteCommand::SetRepeatTrack(t));
                        }
                        if let Some(c) = c {
                            v.push(RemoteCommand::SetRepeatContext(c));
                        }
                    }
                }
                v
            }
            PlayerCommand::AddToQueue(t) => {
                let id = command::track_id(&t).ok_or("add_to_queue: not a track")?;
                vec![RemoteCommand::AddToQueue(id)]
            }
            PlayerCommand::SetQueue { next } => {
                let (ids, _) = command::ids_of(&next);
                vec![RemoteCommand::SetQueue(ids)]
            }
            PlayerCommand::UpdateContext(ctx) => {
                // The context changed (e.g. a playlist was edited): what follows the current
                // track becomes the new context's tracks after it.
                let tracks = command::tracks_of(sp, &ctx)
                    .await
                    .map_err(|e| e.to_string())?;
                let (ids, _) = command::ids_of(&tracks);
                let current = self
                    .deps
                    .player
                    .status()
                    .borrow()
                    .track
                    .as_ref()
                    .map(|t| t.id);
                let after = match current.and_then(|c| ids.iter().position(|&i| i == c)) {
                    Some(at) => ids[at + 1..].to_vec(),
                    None => ids,
                };
                vec![RemoteCommand::SetQueue(after)]
            }
        };
        match activated {
            Some(context_uri) => {
                let _ = self.ctl.send(Ctl::Activated {
                    context_uri,
                    by,
                    message_id,
                });
            }
            None => {
                let _ = self.ctl.send(Ctl::Commanded { by, message_id });
            }
        }
        for c in cmds {
            self.emit(c)?;
        }
        Ok(())
    }
}

fn load_context(cmd: &RemoteCommand) -> String {
    match cmd {
        RemoteCommand::Load { context_uri, .. } => context_uri.clone(),
        _ => String::new(),
    }
}

/// What a player-state report depends on (position aside).
#[derive(Debug, Clone, PartialEq)]
struct Reported {
    state: PlayState,
    track: Option<crate::id::SpotifyId>,
    buffering: bool,
    repeat: crate::player::RepeatMode,
    shuffle: bool,
    /// The queue as a generation ([`Task::queue_gen`]), not a copy: the status changes every
    /// second while playing and a 10k-track queue is ~160 KB to clone and compare each time;
    /// the engine publishes the queue only when it changed, so a new generation is a change.
    queue_gen: u64,
    /// Position at `at` (extrapolated while playing) to spot seeks.
    position_ms: u64,
    at: std::time::Instant,
}

impl Reported {
    fn of(st: &PlayerStatus, queue_gen: u64) -> Reported {
        Reported {
            state: st.state,
            track: st.track.as_ref().map(|t| t.id),
            buffering: st.buffering,
            repeat: st.repeat,
            shuffle: st.shuffle,
            queue_gen,
            position_ms: st.position_ms,
            at: st.at,
        }
    }

    /// Differs enough to report: anything but the position, or a position jump of over 1.5 s
    /// from where the last report would have put it.
    fn differs(&self, other: &Reported) -> bool {
        if self.state != other.state
            || self.track != other.track
            || self.buffering != other.buffering
            || self.repeat != other.repeat
            || self.shuffle != other.shuffle
            || self.queue_gen != other.queue_gen
        {
            return true;
        }
        let expect = |r: &Reported, at: std::time::Instant| -> i128 {
            let base = i128::from(r.position_ms);
            if r.state == PlayState::Playing {
                base + i128::try_from(at.saturating_duration_since(r.at).as_millis()).unwrap_or(0)
                    - i128::try_from(r.at.saturating_duration_since(at).as_millis()).unwrap_or(0)
            } else {
                base
            }
        };
        (expect(self, other.at) - i128::from(other.position_ms)).abs() > 1500
    }
}

struct Task {
    deps: ConnectDeps,
    me: ThisDevice,
    cfg: ConnectConfig,
    dealer: Dealer,
    events: mpsc::UnboundedSender<ConnectEvent>,
    ctl_self: mpsc::UnboundedSender<Ctl>,
    devices_tx: watch::Sender<Vec<Device>>,
    remote_tx: watch::Sender<Option<RemotePlayback>>,
    link_tx: watch::Sender<ConnectLink>,
    conn_id: Option<String>,
    active: bool,
    started_playing_at: u64,
    context_uri: String,
    last_command: Option<(String, u32)>,
    message_id: u32,
    cluster: Option<Cluster>,
    state_due: Option<Instant>,
    volume_due: Option<Instant>,
    /// When to try the registration (NEW_DEVICE PUT) again after it failed on this dealer
    /// connection; without it a device whose first PUT after a server outage failed would
    /// stay invisible until the dealer reconnected.
    register_due: Option<Instant>,
    /// Failed registrations in a row (the retry's back-off).
    register_failures: u32,
    reported: Option<Reported>,
    /// Queue changes seen on the task's queue watch. A report records the generation current
    /// when it was made; the queue it sent may be newer (read afterwards), which costs at most
    /// one redundant report, never a missed one.
    queue_gen: u64,
    reported_volume: u16,
    prev_state: PlayState,
    /// Track URI → (title, artists, album) looked up for remote playback.
    titles: HashMap<String, TrackText>,
    lookups: HashSet<String>,
    lookup_tx: mpsc::UnboundedSender<Lookup>,
}

/// (title, artists, album) of a track.
type TrackText = (String, Vec<String>, String);
/// A finished lookup: the track URI and what was found.
type Lookup = (String, Option<TrackText>);

/// The wait before registration attempt `failures + 1`: 1 s doubling to 30 s with jitter
/// (half to all of it), and never shorter than a 429's `Retry-After` — the server penalises a
/// device that re-PUTs in a loop.
fn register_retry_wait(failures: u32, e: &crate::api::ApiError) -> Duration {
    use rand::Rng;
    let shift = failures.saturating_sub(1).min(5);
    let base = Duration::from_secs(1u64 << shift).min(Duration::from_secs(30));
    let wait = base.mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
    match e {
        crate::api::ApiError::RateLimited {
            retry_after: Some(d),
        } => wait.max(*d),
        _ => wait,
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

async fn changed_or_pending<T>(rx: &mut Option<watch::Receiver<T>>) {
    match rx {
        Some(r) => {
            if r.changed().await.is_err() {
                *rx = None;
            }
        }
        None => std::future::pending().await,
    }
}

fn unix_ms_u64() -> u64 {
    u64::try_from(state::unix_ms()).unwrap_or(0)
}

impl Task {
    #[allow(clippy::too_many_arguments)]
    async fn run(
        mut self,
        mut dealer_events: mpsc::UnboundedReceiver<DealerEvent>,
        mut cluster_rx: mpsc::UnboundedReceiver<DealerMessage>,
        mut volume_rx: mpsc::UnboundedReceiver<DealerMessage>,
        mut ctl_rx: mpsc::UnboundedReceiver<Ctl>,
        mut status: watch::Receiver<PlayerStatus>,
        mut queue: watch::Receiver<QueueSnapshot>,
        mut lookup_rx: mpsc::UnboundedReceiver<Lookup>,
    ) {
        let mut lan = self.cfg.lan_devices.clone();
        let mut player_alive = true;
        // The access point coming back means the network and the server are back: a dealer
        // waiting out its back-off tries again at once instead (the recovery goal is seconds).
        let mut session_state = Some(self.deps.session.state());
        let mut session_was_up = true;
        loop {
            tokio::select! {
                _ = changed_or_pending(&mut session_state) => {
                    let up = session_state
                        .as_ref()
                        .is_some_and(|rx| *rx.borrow() == crate::session::SessionState::Connected);
                    if up && !session_was_up {
                        // Also when the dealer is connected (it may have come back first): the
                        // back-off it grew during the outage starts over either way.
                        tracing::info!("the access point is back; the dealer retries now");
                        self.dealer.server_back();
                    }
                    session_was_up = up;
                }
                ev = dealer_events.recv() => match ev {
                    Some(DealerEvent::Connected { connection_id }) => {
                        // Every new connection id re-registers the device and, when it is the
                        // active one, republishes its player state (put_state carries both), so
                        // a phone sees it again after any outage.
                        self.conn_id = Some(connection_id);
                        // A new connection may be a restarted server with its own clock: the
                        // cluster stamps of the old one mean nothing to it.
                        self.cluster = None;
                        self.register_due = None;
                        // The server answers again: an access-point reconnect waiting out its
                        // back-off can try now.
                        if *self.deps.session.state().borrow() != crate::session::SessionState::Connected {
                            self.deps.session.nudge_reconnect();
                        }
                        self.register_failures = 0;
                        self.put_state(PutStateReason::NEW_DEVICE).await;
                    }
                    Some(DealerEvent::Disconnected { attempt, reason }) => {
                        self.conn_id = None;
                        self.register_due = None;
                        let _ = self.link_tx.send(ConnectLink::Reconnecting(attempt));
                        if attempt == 1 {
                            let _ = self.events.send(ConnectEvent::Notice {
                                error: true,
                                text: format!("Spotify Connect: lost the dealer ({reason}); reconnecting"),
                            });
                        }
                    }
                    None => break,
                },
                Some(msg) = cluster_rx.recv() => {
                    match ClusterUpdate::parse_from_bytes(&msg.payload) {
                        Ok(update) => {
                            let cluster = update.cluster.into_option().unwrap_or_default();
                            self.on_cluster(cluster).await;
                        }
                        Err(e) => tracing::warn!("bad cluster update ignored: {e}"),
                    }
                }
                Some(msg) = volume_rx.recv() => {
                    match SetVolumeCommand::parse_from_bytes(&msg.payload) {
                        Ok(v) => {
                            let vol = u16::try_from(v.volume.clamp(0, 65535)).unwrap_or(u16::MAX);
                            tracing::info!(volume = vol, "volume command");
                            let _ = self.events.send(ConnectEvent::Command(RemoteCommand::SetVolume(vol)));
                        }
                        Err(e) => tracing::warn!("bad volume command ignored: {e}"),
                    }
                }
                ctl = ctl_rx.recv() => match ctl {
                    None => break,
                    Some(Ctl::Shutdown(ack)) => {
                        self.shutdown().await;
                        let _ = ack.send(());
                        return;
                    }
                    Some(c) => self.on_ctl(c).await,
                },
                r = status.changed(), if player_alive => {
                    if r.is_err() {
                        player_alive = false;
                        continue;
                    }
                    let st = status.borrow_and_update().clone();
                    self.on_player(&st);
                }
                r = queue.changed(), if player_alive => {
                    if r.is_err() {
                        player_alive = false;
                        continue;
                    }
                    queue.borrow_and_update();
                    self.queue_gen = self.queue_gen.wrapping_add(1);
                    let st = status.borrow().clone();
                    self.on_player(&st);
                }
                _ = changed_or_pending(&mut lan) => self.publish_devices(),
                Some((uri, found)) = lookup_rx.recv() => {
                    self.lookups.remove(&uri);
                    if let Some(t) = found {
                        self.titles.insert(uri, t);
                        self.publish_remote();
                    }
                }
                _ = sleep_until_opt(self.state_due) => {
                    self.state_due = None;
                    self.volume_due = None; // the state report carries the volume too
                    self.put_state(PutStateReason::PLAYER_STATE_CHANGED).await;
                }
                _ = sleep_until_opt(self.volume_due) => {
                    self.volume_due = None;
                    self.put_state(PutStateReason::VOLUME_CHANGED).await;
                }
                _ = sleep_until_opt(self.register_due) => {
                    self.register_due = None;
                    self.put_state(PutStateReason::NEW_DEVICE).await;
                }
            }
        }
        self.shutdown().await;
    }

    fn on_player(&mut self, st: &PlayerStatus) {
        let now = Instant::now();
        if st.state == PlayState::Playing && self.prev_state != PlayState::Playing && !self.active {
            // Local playback (the TUI) makes this device the active one.
            tracing::info!("local playback: this device becomes active");
            self.set_active(true);
        }
        self.prev_state = st.state;
        let r = Reported::of(st, self.queue_gen);
        let changed = match &self.reported {
            None => true,
            Some(prev) => prev.differs(&r),
        };
        if changed && self.state_due.is_none() {
            self.state_due = Some(now + self.cfg.state_throttle);
        }
        if st.volume != self.reported_volume && self.volume_due.is_none() {
            self.volume_due = Some(now + self.cfg.volume_throttle);
        }
    }

    fn set_active(&mut self, on: bool) {
        if on && !self.active {
            self.started_playing_at = unix_ms_u64();
        }
        if !on {
            self.started_playing_at = 0;
        }
        self.active = on;
    }

    async fn on_ctl(&mut self, ctl: Ctl) {
        match ctl {
            Ctl::Activated {
                context_uri,
                by,
                message_id,
            } => {
                self.set_active(true);
                self.context_uri = context_uri;
                self.last_command = Some((by, message_id));
                // Report soon even if the player has not moved yet.
                if self.state_due.is_none() {
                    self.state_due = Some(Instant::now() + self.cfg.state_throttle);
                }
            }
            Ctl::Commanded { by, message_id } => {
                self.last_command = Some((by, message_id));
            }
            Ctl::Context(context_uri) => {
                if context_uri != self.context_uri {
                    self.context_uri = context_uri;
                    // Active already (playing on here): the new context is reported soon. Else
                    // the playback that follows makes this device active and reports it.
                    if self.active && self.state_due.is_none() {
                        self.state_due = Some(Instant::now() + self.cfg.state_throttle);
                    }
                }
            }
            Ctl::Refresh => self.put_state(PutStateReason::PLAYER_STATE_CHANGED).await,
            Ctl::Transfer(device) => {
                // The transfer carries our last reported state: report a pending change first.
                if self.state_due.take().is_some() {
                    self.put_state(PutStateReason::PLAYER_STATE_CHANGED).await;
                }
                self.transfer(device)
            }
            Ctl::Control(id, c) => self.control(id, c),
            Ctl::Shutdown(_) => {}
        }
    }

    fn headers(&self, content_type: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        h.insert(ACCEPT, HeaderValue::from_static("application/x-protobuf"));
        if let Some(id) = &self.conn_id {
            if let Ok(v) = HeaderValue::from_str(id) {
                h.insert(HeaderName::from_static("x-spotify-connection-id"), v);
            }
        }
        h
    }

    async fn put_state(&mut self, reason: PutStateReason) {
        if self.conn_id.is_none() {
            return; // registered (NEW_DEVICE) as soon as the dealer is back
        }
        let st = self.deps.player.status().borrow().clone();
        let now = std::time::Instant::now();
        let now_ms = state::unix_ms();
        let ps = self.active.then(|| {
            // Read in place: the report takes the next tracks it needs, not the whole queue.
            let q = self.deps.player.queue();
            let q = q.borrow();
            state::player_state(&st, &q, &self.context_uri, now_ms, now)
        });
        self.message_id = self.message_id.wrapping_add(1);
        let req = state::put_state_request(
            &self.me,
            st.volume,
            reason,
            ps,
            &PutMeta {
                is_active: self.active,
                started_playing_at: self.started_playing_at,
                message_id: self.message_id,
                last_command: self.last_command.clone(),
                now_ms: u64::try_from(now_ms).unwrap_or(0),
            },
        );
        let body = match req.write_to_bytes() {
            Ok(b) => b,
            Err(e) => {
                tracing::error!("cannot encode the device state: {e}");
                return;
            }
        };
        self.reported = Some(Reported::of(&st, self.queue_gen));
        self.reported_volume = st.volume;
        let path = format!("/connect-state/v1/devices/{}", self.me.device_id);
        let headers = self.headers("application/x-protobuf");
        match self
            .deps
            .spclient
            .request(Method::PUT, &path, headers, Some(body))
            .await
        {
            Ok(bytes) => {
                if reason == PutStateReason::NEW_DEVICE {
                    self.register_failures = 0;
                    tracing::info!(device = %self.me.device_id, "registered with connect-state");
                    let _ = self.link_tx.send(ConnectLink::Online);
                }
                match Cluster::parse_from_bytes(&bytes) {
                    Ok(cluster) => self.on_cluster(cluster).await,
                    Err(e) => tracing::warn!("bad cluster in the state answer: {e}"),
                }
            }
            Err(e) => {
                tracing::warn!(?reason, "connect-state PUT failed: {e}");
                if reason == PutStateReason::NEW_DEVICE {
                    self.register_failures = self.register_failures.saturating_add(1);
                    let wait = register_retry_wait(self.register_failures, &e);
                    tracing::info!(?wait, "registering again later");
                    self.register_due = Some(Instant::now() + wait);
                    if self.register_failures == 1 {
                        let _ = self.events.send(ConnectEvent::Notice {
                            error: true,
                            text: format!("Spotify Connect: cannot register this device: {e}"),
                        });
                    }
                }
            }
        }
    }

    async fn on_cluster(&mut self, cluster: Cluster) {
        // A state PUT's answer can arrive after the push of a later change (another device
        // registered or took over meanwhile); the older cluster must not undo what we know.
        if let Some(held) = &self.cluster {
            if cluster.changed_timestamp_ms < held.changed_timestamp_ms {
                tracing::debug!("an older cluster than the one held ignored");
                return;
            }
        }
        let active_id = cluster.active_device_id.clone();
        self.cluster = Some(cluster);
        if self.active && !active_id.is_empty() && active_id != self.me.device_id {
            tracing::info!(now_active = %active_id, "another device became active");
            self.set_active(false);
            let _ = self
                .events
                .send(ConnectEvent::Command(RemoteCommand::BecameInactive));
            self.put_inactive().await;
        }
        self.publish_devices();
        self.publish_remote();
    }

    async fn put_inactive(&mut self) {
        if self.conn_id.is_none() {
            return;
        }
        let path = format!(
            "/connect-state/v1/devices/{}/inactive?notify=false",
            self.me.device_id
        );
        let headers = self.headers("application/x-protobuf");
        if let Err(e) = self
            .deps
            .spclient
            .request(Method::PUT, &path, headers, None)
            .await
        {
            tracing::warn!("connect-state inactive PUT failed: {e}");
        }
    }

    fn publish_devices(&mut self) {
        let volume = self.deps.player.status().borrow().volume;
        let mut list = vec![this_device(&self.me, self.active, Some(volume))];
        if let Some(c) = &self.cluster {
            list.extend(state::cluster_devices(c, &self.me.device_id));
        }
        if let Some(lan) = &self.cfg.lan_devices {
            let lan = lan.borrow().clone();
            for d in lan {
                if !list.iter().any(|x| x.id == d.id) {
                    list.push(d);
                }
            }
        }
        self.devices_tx.send_if_modified(|cur| {
            if *cur == list {
                false
            } else {
                *cur = list;
                true
            }
        });
    }

    fn publish_remote(&mut self) {
        let remote = self.cluster.as_ref().and_then(|c| {
            state::remote_playback(
                c,
                &self.me.device_id,
                state::unix_ms(),
                std::time::Instant::now(),
            )
        });
        let remote = remote.map(|mut r| {
            if r.title.is_empty() && !r.track_uri.is_empty() {
                if let Some((t, a, al)) = self.titles.get(&r.track_uri) {
                    r.title = t.clone();
                    r.artists = a.clone();
                    r.album = al.clone();
                } else {
                    self.look_up(&r.track_uri);
                }
            }
            r
        });
        let _ = self.remote_tx.send(remote);
    }

    fn look_up(&mut self, uri: &str) {
        if !self.lookups.insert(uri.to_string()) {
            return;
        }
        let Ok(parsed) = SpotifyUri::parse(uri) else {
            return;
        };
        if parsed.kind != ItemKind::Track {
            return;
        }
        let sp = self.deps.spclient.clone();
        let tx = self.lookup_tx.clone();
        let uri = uri.to_string();
        tokio::spawn(async move {
            let found = match sp.track(parsed.id).await {
                Ok(t) => Some((
                    t.name.clone(),
                    t.artists.iter().map(|a| a.name.clone()).collect(),
                    t.album.name.clone(),
                )),
                Err(e) => {
                    tracing::debug!(%uri, "track lookup for the remote device failed: {e}");
                    None
                }
            };
            let _ = tx.send((uri, found));
        });
    }

    fn transfer(&mut self, device: Device) {
        let own = self.me.device_id.clone();
        let wake = match &device.origin {
            DeviceOrigin::Lan {
                addr,
                cpath,
                active_user,
            } if active_user.is_empty() => Some((*addr, cpath.clone())),
            _ => None,
        };
        let sp = self.deps.spclient.clone();
        let events = self.events.clone();
        // To our own id: "pull playback from whoever is active" (as librespot does).
        let to = device.id.clone();
        let name = device.name.clone();
        let ctl = self.ctl_self.clone();
        let mut devices = self.devices_tx.subscribe();
        let creds = self.deps.session.reusable_credentials();
        let our_name = self.me.name.clone();
        let wake_timeout = self.cfg.wake_timeout;
        tokio::spawn(async move {
            let notice = |text: String| {
                let _ = events.send(ConnectEvent::Notice { error: true, text });
            };
            // The ids go into a path that carries our bearer token: one encoded segment each,
            // or no request at all.
            let (Some(from_seg), Some(to_seg)) = (
                crate::api::path_segment(&own),
                crate::api::path_segment(&to),
            ) else {
                notice(format!(
                    "Cannot move playback to {name}: its device id is not usable"
                ));
                return;
            };
            if let Some((addr, cpath)) = wake {
                // Nobody is logged in to it: hand it our login (as a phone does), then wait
                // for it to register with the cluster. The TUI asked the user first (the trust
                // prompt); the device must still be the one they said yes to, and it gets no
                // redirects to follow.
                let woken = match super::wake::client() {
                    Ok(http) => {
                        super::wake::add_user_to(
                            &http,
                            addr,
                            &cpath,
                            Some(&to),
                            &creds,
                            &our_name,
                            &own,
                        )
                        .await
                    }
                    Err(e) => Err(super::wake::WakeError::Unreachable {
                        addr,
                        reason: e.to_string(),
                    }),
                };
                if let Err(e) = woken {
                    notice(format!("Cannot wake {name}: {e}"));
                    return;
                }
                let seen = tokio::time::timeout(
                    wake_timeout,
                    devices.wait_for(|l| {
                        l.iter()
                            .any(|d| d.id == to && d.origin == DeviceOrigin::Cloud)
                    }),
                )
                .await;
                if !matches!(seen, Ok(Ok(_))) {
                    notice(format!("{name} took our login but did not come online"));
                    return;
                }
            }
            let path = format!("/connect-state/v1/connect/transfer/from/{from_seg}/to/{to_seg}");
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            let body = command::transfer_body().to_string().into_bytes();
            match sp.request(Method::POST, &path, h, Some(body)).await {
                Ok(_) => {
                    tracing::info!(%to, "transfer asked");
                    let _ = ctl.send(Ctl::Refresh);
                }
                Err(e) => notice(format!("Cannot move playback to {name}: {e}")),
            }
        });
    }

    fn control(&mut self, device_id: String, control: RemoteControl) {
        let own = self.me.device_id.clone();
        let sp = self.deps.spclient.clone();
        let web = self.deps.web_api.clone();
        let events = self.events.clone();
        tokio::spawn(async move {
            let result = match command::control_body(&control) {
                Some(body) => {
                    let (Some(from), Some(to)) = (
                        crate::api::path_segment(&own),
                        crate::api::path_segment(&device_id),
                    ) else {
                        let _ = events.send(ConnectEvent::Notice {
                            error: true,
                            text: "The remote device's id is not usable".to_string(),
                        });
                        return;
                    };
                    let path = format!("/connect-state/v1/player/command/from/{from}/to/{to}");
                    let mut h = HeaderMap::new();
                    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    sp.request(Method::POST, &path, h, Some(body.to_string().into_bytes()))
                        .await
                        .map(|_| ())
                }
                None => {
                    let RemoteControl::SetVolume(v) = control else {
                        return;
                    };
                    set_remote_volume(&sp, &web, &own, &device_id, v).await
                }
            };
            if let Err(e) = result {
                let _ = events.send(ConnectEvent::Notice {
                    error: true,
                    text: format!("The remote device did not take the command: {e}"),
                });
            }
        });
    }

    async fn shutdown(&mut self) {
        if self.conn_id.is_some() {
            let path = format!("/connect-state/v1/devices/{}", self.me.device_id);
            let headers = self.headers("application/x-protobuf");
            let sp = self.deps.spclient.clone();
            let del = sp.request(Method::DELETE, &path, headers, None);
            match tokio::time::timeout(Duration::from_secs(5), del).await {
                Ok(Ok(_)) => tracing::info!("deregistered from connect-state"),
                Ok(Err(e)) => tracing::warn!("connect-state DELETE failed: {e}"),
                Err(_) => tracing::warn!("connect-state DELETE timed out"),
            }
        }
        self.conn_id = None;
        self.dealer.shutdown();
        let _ = self.link_tx.send(ConnectLink::Off);
    }
}

/// Volume on another device: connect-state's volume endpoint (what the official clients use),
/// else the Web API's `PUT /me/player/volume?device_id=`.
async fn set_remote_volume(
    sp: &crate::api::SpClient,
    web: &crate::api::WebApi,
    own: &str,
    to: &str,
    volume: u16,
) -> Result<(), ApiError> {
    let (Some(from_seg), Some(to_seg)) =
        (crate::api::path_segment(own), crate::api::path_segment(to))
    else {
        return Err(ApiError::NotFound(format!(
            "device {}",
            crate::logging::escaped(to)
        )));
    };
    let path = format!("/connect-state/v1/connect/volume/from/{from_seg}/to/{to_seg}");
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let body = serde_json::json!({"volume": volume})
        .to_string()
        .into_bytes();
    match sp.request(Method::PUT, &path, h, Some(body)).await {
        Ok(_) => Ok(()),
        Err(ApiError::NotFound(_)) | Err(ApiError::Http { .. }) => {
            let percent = u8::try_from((u32::from(volume) * 100 + 32767) / 65535).unwrap_or(100);
            web.player_volume(percent, Some(to)).await
        }
        Err(e) => Err(e),
    }
}
