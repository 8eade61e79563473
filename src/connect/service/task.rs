//! The Connect service's task: the one owner of the dealer connection's state. It registers
//! the device after every (re)connection (retrying a failed registration with jittered
//! back-off), reports player changes to connect-state (throttled), follows cluster pushes (the
//! device list, playback on another device, "another device took over"), looks up the titles
//! of what another device plays, and deregisters on shutdown. Its controller requests
//! (transfer, commands to other devices) are in `control.rs`, an `impl Task` beside it.
//!
//! Started by [`super::Connect::start_with`], driven by the handle's `Ctl` messages. Never
//! depends on UI code or the simulator.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use librespot_protocol::connect::{Cluster, ClusterUpdate, PutStateReason, SetVolumeCommand};
use protobuf::Message as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::Method;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::{this_device, ConnectConfig, ConnectDeps, Ctl};
use crate::connect::dealer::{Dealer, DealerEvent, DealerMessage};
use crate::connect::state::{self, PutMeta, ThisDevice};
use crate::connect::{ConnectEvent, ConnectLink, Device, RemoteCommand, RemotePlayback};
use crate::id::{ItemKind, SpotifyUri};
use crate::player::{PlayState, PlayerStatus, QueueSnapshot};

/// What a player-state report depends on (position aside).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Reported {
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

pub(super) struct Task {
    pub(super) deps: ConnectDeps,
    pub(super) me: ThisDevice,
    pub(super) cfg: ConnectConfig,
    pub(super) dealer: Dealer,
    pub(super) events: mpsc::UnboundedSender<ConnectEvent>,
    pub(super) ctl_self: mpsc::UnboundedSender<Ctl>,
    pub(super) devices_tx: watch::Sender<Vec<Device>>,
    pub(super) remote_tx: watch::Sender<Option<RemotePlayback>>,
    pub(super) link_tx: watch::Sender<ConnectLink>,
    pub(super) conn_id: Option<String>,
    pub(super) active: bool,
    pub(super) started_playing_at: u64,
    pub(super) context_uri: String,
    pub(super) last_command: Option<(String, u32)>,
    pub(super) message_id: u32,
    pub(super) cluster: Option<Cluster>,
    pub(super) state_due: Option<Instant>,
    pub(super) volume_due: Option<Instant>,
    /// When to try the registration (NEW_DEVICE PUT) again after it failed on this dealer
    /// connection; without it a device whose first PUT after a server outage failed would
    /// stay invisible until the dealer reconnected.
    pub(super) register_due: Option<Instant>,
    /// Failed registrations in a row (the retry's back-off).
    pub(super) register_failures: u32,
    pub(super) reported: Option<Reported>,
    /// Queue changes seen on the task's queue watch. A report records the generation current
    /// when it was made; the queue it sent may be newer (read afterwards), which costs at most
    /// one redundant report, never a missed one.
    pub(super) queue_gen: u64,
    pub(super) reported_volume: u16,
    pub(super) prev_state: PlayState,
    /// Track URI → (title, artists, album) looked up for remote playback.
    pub(super) titles: HashMap<String, TrackText>,
    pub(super) lookups: HashSet<String>,
    pub(super) lookup_tx: mpsc::UnboundedSender<Lookup>,
}

/// (title, artists, album) of a track.
pub(super) type TrackText = (String, Vec<String>, String);
/// A finished lookup: the track URI and what was found.
pub(super) type Lookup = (String, Option<TrackText>);

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
    pub(super) async fn run(
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
