//! The simulator's Spotify Connect state service (spec §11.1, §12, §15.3): per account, the
//! registry of devices (DeviceInfo + last PlayerState, bound to the dealer connection they
//! registered through), the cluster (active device, its player state, transfer data), the live
//! dealer connections with their bounded outgoing queues, and the requests waiting for a
//! dealer `reply`. HTTP handlers: `PUT /connect-state/v1/devices/{id}` (PutStateRequest →
//! Cluster, needs `X-Spotify-Connection-Id` of a live dealer connection of the same account),
//! `PUT …/devices/{id}/inactive`, `DELETE …/devices/{id}`, `POST …/connect/transfer/from/{a}/to/{b}`,
//! `POST …/player/command/from/{a}/to/{b}`, `PUT …/connect/volume/from/{a}/to/{b}`. Every change
//! of the cluster is pushed as a `ClusterUpdate` to all dealer connections of the account. The
//! dealer websocket itself lives in `dealer`, context-resolve in `context`, the Web API player
//! endpoints in `webapi::player`; all of them go through [`Hub`]. Depends on no client module.

pub(crate) mod endpoints;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use librespot_protocol::connect::{
    Cluster, ClusterUpdate, ClusterUpdateReason, ConnectCommandOptions, DeviceInfo, PutStateReason,
    PutStateRequest, SetVolumeCommand,
};
use librespot_protocol::player::PlayerState;
use protobuf::{EnumOrUnknown, Message, MessageField};
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, oneshot};

use crate::context::transfer::transfer_state;
use crate::dealer::frames;
use crate::util::{lock, now_ms};

/// Outgoing frames queued per dealer connection before new ones are dropped.
pub(crate) const OUT_QUEUE: usize = 256;
/// Largest accepted (decompressed) request body.
const MAX_BODY: usize = 1 << 20;
/// URI of cluster pushes.
pub(crate) const CLUSTER_URI: &str = "hm://connect-state/v1/cluster";
/// URI of volume messages.
pub(crate) const VOLUME_URI: &str = "hm://connect-state/v1/connect/volume";
/// `message_ident` of player command requests.
pub(crate) const COMMAND_IDENT: &str = "hm://connect-state/v1/player/command";
/// How old the current activity must be before an activity claim without
/// `started_playing_at` takes it over.
const UNDATED_CLAIM_AFTER_MS: i64 = 2000;
/// Devices listed per account before new registrations are refused (hostile clients).
const MAX_DEVICES: usize = 64;

/// Timings the tests may shorten.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// How long devices of a closed dealer connection stay listed (a reconnecting client
    /// re-PUTs them with its new connection id meanwhile).
    pub grace: Duration,
    /// How long a dealer request waits for its `reply`.
    pub reply_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            grace: Duration::from_secs(2),
            reply_timeout: Duration::from_secs(5),
        }
    }
}

/// A live dealer connection.
struct Conn {
    username: String,
    tx: mpsc::Sender<String>,
}

/// A registered device.
struct DeviceEntry {
    info: DeviceInfo,
    player_state: Option<PlayerState>,
    /// The dealer connection it registered (or last PUT) through.
    conn_id: String,
}

/// One account's cluster.
#[derive(Default)]
struct Account {
    devices: BTreeMap<String, DeviceEntry>,
    active: Option<String>,
    /// When the active device became active (ms); older activity claims lose against it.
    active_since: i64,
    /// The cluster's player state: the active device's last one (kept when it goes away).
    player_state: Option<PlayerState>,
    /// The last active device's state when it stopped being active, offered (for resuming)
    /// only to that device in its own PUT answers.
    transfer_data: Vec<u8>,
    transfer_data_ts: u64,
    transfer_owner: Option<String>,
    changed_ms: i64,
}

struct Pending {
    conn_id: String,
    tx: oneshot::Sender<bool>,
}

#[derive(Default)]
struct HubState {
    conns: HashMap<String, Conn>,
    accounts: HashMap<String, Account>,
    pending: HashMap<String, Pending>,
}

/// Why a request or message could not be delivered (or was refused).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Deliver {
    #[error("no device {0:?} on this account")]
    UnknownDevice(String),
    #[error("device {0:?} is offline (no dealer connection)")]
    Offline(String),
    #[error("the dealer connection of device {0:?} is congested")]
    QueueFull(String),
    #[error("device {0:?} did not answer in time")]
    Timeout(String),
    #[error("device {0:?} disconnected before answering")]
    Disconnected(String),
    #[error("device {0:?} refused the command")]
    Refused(String),
    #[error("{0}")]
    Invalid(String),
    #[error("nothing is playing on this account, so there is nothing to transfer")]
    NothingToTransfer,
}

impl Deliver {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Deliver::UnknownDevice(_) | Deliver::Offline(_) | Deliver::NothingToTransfer => {
                StatusCode::NOT_FOUND
            }
            Deliver::QueueFull(_) => StatusCode::SERVICE_UNAVAILABLE,
            Deliver::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Deliver::Disconnected(_) | Deliver::Refused(_) => StatusCode::BAD_GATEWAY,
            Deliver::Invalid(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// Why a state PUT was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PutError {
    #[error("missing X-Spotify-Connection-Id header (open the dealer websocket first)")]
    MissingConnection,
    #[error("X-Spotify-Connection-Id is not a live dealer connection of this account")]
    UnknownConnection,
    #[error("the first PUT of a device must carry device.device_info")]
    NoDeviceInfo,
    #[error("too many devices on this account")]
    TooManyDevices,
}

/// A device as the Web API and the tests see it.
#[derive(Debug, Clone)]
pub(crate) struct DeviceView {
    pub id: String,
    pub name: String,
    pub device_type: i32,
    pub volume: u32,
    pub is_active: bool,
    pub is_private_session: bool,
    pub disable_volume: bool,
    pub online: bool,
}

/// The Connect state of every account.
pub(crate) struct Hub {
    state: Mutex<HubState>,
    next: AtomicU64,
    timing: Mutex<Timing>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            state: Mutex::default(),
            next: AtomicU64::new(1),
            timing: Mutex::default(),
        }
    }
}

fn reason_of(r: &PutStateRequest) -> Option<PutStateReason> {
    r.put_state_reason.enum_value().ok()
}

impl Account {
    /// The cluster as `viewer` gets it (transfer data only for its owner; pushes: `None`).
    /// Stamps a change: strictly increasing per account (two changes in one millisecond still
    /// order), so a client can drop a cluster older than the one it holds — a PUT answer
    /// overtaken by a later push on the dealer must not win just because it arrived last.
    fn touch(&mut self) {
        self.changed_ms = now_ms().max(self.changed_ms.saturating_add(1));
    }

    fn cluster_for(&self, viewer: Option<&str>) -> Cluster {
        let mut c = self.cluster();
        if viewer.is_none() || viewer != self.transfer_owner.as_deref() {
            c.transfer_data = Vec::new();
            c.transfer_data_timestamp = 0;
        }
        c
    }

    fn cluster(&self) -> Cluster {
        let mut c = Cluster::new();
        c.changed_timestamp_ms = self.changed_ms;
        c.active_device_id = self.active.clone().unwrap_or_default();
        c.player_state = MessageField::from_option(self.player_state.clone());
        for (id, d) in &self.devices {
            let mut info = d.info.clone();
            info.device_id = id.clone();
            c.device.insert(id.clone(), info);
        }
        c.transfer_data = self.transfer_data.clone();
        c.transfer_data_timestamp = self.transfer_data_ts;
        c.server_timestamp_ms = now_ms();
        c
    }

    /// What a push would tell, as bytes: equal fingerprints = nothing to push. (Protobuf maps
    /// are hash maps, so equal states may still differ here; that only costs a push.)
    fn fingerprint(&self) -> Vec<u8> {
        let mut bytes = self.active.clone().unwrap_or_default().into_bytes();
        bytes.push(0);
        if let Some(ps) = &self.player_state {
            bytes.extend(ps.write_to_bytes().unwrap_or_default());
        }
        for (id, d) in &self.devices {
            bytes.push(0);
            bytes.extend_from_slice(id.as_bytes());
            bytes.extend(d.info.write_to_bytes().unwrap_or_default());
            if let Some(ps) = &d.player_state {
                bytes.extend(ps.write_to_bytes().unwrap_or_default());
            }
        }
        bytes
    }

    /// Clears the active device, keeping its state as transfer data (for auto-resume).
    fn clear_active(&mut self) {
        if let Some(owner) = self.active.take() {
            if let Some(ps) = &self.player_state {
                if let Ok(bytes) = transfer_state(ps, None).write_to_bytes() {
                    self.transfer_data = bytes;
                    self.transfer_data_ts = u64::try_from(now_ms()).unwrap_or(0);
                    self.transfer_owner = Some(owner);
                }
            }
        }
    }

    fn make_active(&mut self, id: &str, since: i64) {
        self.active = Some(id.to_owned());
        self.active_since = since;
        if let Some(ps) = self.devices.get(id).and_then(|d| d.player_state.clone()) {
            if ps.track.is_some() {
                self.player_state = Some(ps);
            }
        }
    }
}

impl HubState {
    /// Stamps a change of `user`'s cluster and queues a `ClusterUpdate` to every connection of
    /// `user`.
    fn broadcast(&mut self, user: &str, reason: ClusterUpdateReason, changed: Vec<String>) {
        if let Some(acc) = self.accounts.get_mut(user) {
            acc.touch();
        }
        self.push(user, reason, changed);
    }

    /// Queues a `ClusterUpdate` of `user`'s cluster, already stamped, to every connection.
    fn push(&mut self, user: &str, reason: ClusterUpdateReason, changed: Vec<String>) {
        let Some(acc) = self.accounts.get_mut(user) else {
            return;
        };
        let mut update = ClusterUpdate::new();
        update.cluster = MessageField::some(acc.cluster_for(None));
        update.update_reason = EnumOrUnknown::new(reason);
        update.devices_that_changed = changed;
        let bytes = match update.write_to_bytes() {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "cannot encode a ClusterUpdate");
                return;
            }
        };
        let frame = frames::message_frame(CLUSTER_URI, &bytes);
        for (id, conn) in &self.conns {
            if conn.username == user && conn.tx.try_send(frame.clone()).is_err() {
                tracing::warn!(conn = %id, "dealer queue full or closed: cluster update dropped");
            }
        }
    }
}

impl Hub {
    pub(crate) fn timing(&self) -> Timing {
        *lock(&self.timing)
    }

    pub(crate) fn set_timing(&self, t: Timing) {
        *lock(&self.timing) = t;
    }

    fn next_id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers a new dealer connection of `user`: its id and the receiving end of its queue.
    pub(crate) fn open_connection(&self, user: &str) -> (String, mpsc::Receiver<String>) {
        let mut raw = [0u8; 24];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut raw);
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let (tx, rx) = mpsc::channel(OUT_QUEUE);
        lock(&self.state).conns.insert(
            id.clone(),
            Conn {
                username: user.to_owned(),
                tx,
            },
        );
        (id, rx)
    }

    /// Forgets a closed connection; its pending requests fail at once. The caller removes its
    /// devices with [`Hub::expire_connection`] after the grace period.
    pub(crate) fn close_connection(&self, conn_id: &str) {
        let mut st = lock(&self.state);
        st.conns.remove(conn_id);
        st.pending.retain(|_, p| p.conn_id != conn_id);
    }

    /// Removes the devices still bound to a closed connection and pushes the change.
    pub(crate) fn expire_connection(&self, conn_id: &str) {
        let mut st = lock(&self.state);
        if st.conns.contains_key(conn_id) {
            return;
        }
        let users: Vec<String> = st.accounts.keys().cloned().collect();
        for user in users {
            let Some(acc) = st.accounts.get_mut(&user) else {
                continue;
            };
            let gone: Vec<String> = acc
                .devices
                .iter()
                .filter(|(_, d)| d.conn_id == conn_id)
                .map(|(id, _)| id.clone())
                .collect();
            if gone.is_empty() {
                continue;
            }
            for id in &gone {
                acc.devices.remove(id);
                if acc.active.as_deref() == Some(id.as_str()) {
                    acc.clear_active();
                }
            }
            tracing::info!(user = %user, devices = gone.len(), "dealer connection gone: devices removed");
            st.broadcast(&user, ClusterUpdateReason::DEVICES_DISAPPEARED, gone);
        }
    }

    /// A dealer `reply` on connection `conn_id`.
    pub(crate) fn reply(&self, conn_id: &str, key: &str, success: bool) {
        let mut st = lock(&self.state);
        match st.pending.get(key) {
            Some(p) if p.conn_id == conn_id => {
                if let Some(p) = st.pending.remove(key) {
                    let _ = p.tx.send(success);
                }
            }
            Some(_) => tracing::info!("dealer reply for a request of another connection ignored"),
            None => tracing::info!("dealer reply with an unknown or expired key ignored"),
        }
    }

    /// `PUT /connect-state/v1/devices/{id}`.
    pub(crate) fn put_state(
        &self,
        user: &str,
        device_id: &str,
        conn_id: Option<&str>,
        req: PutStateRequest,
    ) -> Result<Cluster, PutError> {
        let mut st = lock(&self.state);
        let conn_id = conn_id.ok_or(PutError::MissingConnection)?;
        if st.conns.get(conn_id).is_none_or(|c| c.username != user) {
            return Err(PutError::UnknownConnection);
        }
        let acc = st.accounts.entry(user.to_owned()).or_default();
        let before = acc.fingerprint();
        let reason = reason_of(&req);
        let device = req.device.into_option().unwrap_or_default();
        let is_new = !acc.devices.contains_key(device_id);
        if is_new && acc.devices.len() >= MAX_DEVICES {
            return Err(PutError::TooManyDevices);
        }
        let entry = match acc.devices.get_mut(device_id) {
            Some(e) => {
                if let Some(info) = device.device_info.clone().into_option() {
                    if !req.only_write_player_state {
                        e.info = info;
                    }
                }
                e.conn_id = conn_id.to_owned();
                e
            }
            None => {
                let info = device
                    .device_info
                    .clone()
                    .into_option()
                    .ok_or(PutError::NoDeviceInfo)?;
                acc.devices
                    .entry(device_id.to_owned())
                    .or_insert(DeviceEntry {
                        info,
                        player_state: None,
                        conn_id: conn_id.to_owned(),
                    })
            }
        };
        if let Some(ps) = device.player_state.into_option() {
            entry.player_state = Some(ps);
        }
        let mut changed = vec![device_id.to_owned()];
        if req.is_active {
            if acc.active.as_deref() == Some(device_id) {
                if let Some(ps) = acc
                    .devices
                    .get(device_id)
                    .and_then(|d| d.player_state.clone())
                {
                    acc.player_state = Some(ps);
                }
            } else {
                // A claim older than the current activity (a late PUT from the device playback
                // was just transferred away from) must not steal it back. Without
                // `started_playing_at` the age is unknown: such claims only win once the
                // current activity is a little older than a push round trip.
                // A claim from the future (a bad clock or a hostile client) counts as now, so
                // it cannot hold the active device forever.
                let started = i64::try_from(req.started_playing_at)
                    .unwrap_or(i64::MAX)
                    .min(now_ms());
                let fresh = if started == 0 {
                    now_ms() - acc.active_since >= UNDATED_CLAIM_AFTER_MS
                } else {
                    started >= acc.active_since
                };
                if acc.active.is_none() || fresh {
                    if let Some(old) = acc.active.clone() {
                        changed.push(old);
                    }
                    let since = if started == 0 { now_ms() } else { started };
                    acc.make_active(device_id, since);
                } else {
                    tracing::info!(device = %device_id, "stale activity claim ignored");
                }
            }
        } else if acc.active.as_deref() == Some(device_id)
            && reason == Some(PutStateReason::BECAME_INACTIVE)
        {
            acc.clear_active();
        }
        let update_reason = match reason {
            _ if is_new => ClusterUpdateReason::NEW_DEVICE_APPEARED,
            Some(PutStateReason::NEW_DEVICE) => ClusterUpdateReason::NEW_DEVICE_APPEARED,
            Some(PutStateReason::VOLUME_CHANGED) => ClusterUpdateReason::DEVICE_VOLUME_CHANGED,
            Some(PutStateReason::NEW_CONNECTION) => ClusterUpdateReason::DEVICE_NEW_CONNECTION,
            Some(PutStateReason::ALIAS_CHANGED) => ClusterUpdateReason::DEVICE_ALIAS_CHANGED,
            _ => ClusterUpdateReason::DEVICE_STATE_CHANGED,
        };
        // A PUT that changes nothing is not pushed (a client answering pushes with PUTs must
        // not start a storm).
        // The answer carries the same stamp as the push of this change, so the device can
        // order the two whichever arrives first.
        let unchanged = acc.fingerprint() == before;
        if !unchanged {
            acc.touch();
        }
        let cluster = acc.cluster_for(Some(device_id));
        if !unchanged {
            st.push(user, update_reason, changed);
        }
        Ok(cluster)
    }

    /// `PUT …/devices/{id}/inactive`; `false` for unknown devices.
    pub(crate) fn set_inactive(&self, user: &str, device_id: &str) -> bool {
        let mut st = lock(&self.state);
        let Some(acc) = st.accounts.get_mut(user) else {
            return false;
        };
        if !acc.devices.contains_key(device_id) {
            return false;
        }
        if acc.active.as_deref() == Some(device_id) {
            acc.clear_active();
        }
        st.broadcast(
            user,
            ClusterUpdateReason::DEVICE_STATE_CHANGED,
            vec![device_id.to_owned()],
        );
        true
    }

    /// `DELETE …/devices/{id}`; `false` if it was not registered.
    pub(crate) fn remove_device(&self, user: &str, device_id: &str) -> bool {
        let mut st = lock(&self.state);
        let Some(acc) = st.accounts.get_mut(user) else {
            return false;
        };
        if acc.devices.remove(device_id).is_none() {
            return false;
        }
        if acc.active.as_deref() == Some(device_id) {
            acc.clear_active();
        }
        st.broadcast(
            user,
            ClusterUpdateReason::DEVICES_DISAPPEARED,
            vec![device_id.to_owned()],
        );
        true
    }

    /// The account's cluster (empty for accounts without devices).
    pub(crate) fn cluster(&self, user: &str) -> Cluster {
        lock(&self.state)
            .accounts
            .get(user)
            .map(Account::cluster)
            .unwrap_or_default()
    }

    /// The account's devices.
    pub(crate) fn devices(&self, user: &str) -> Vec<DeviceView> {
        let st = lock(&self.state);
        let Some(acc) = st.accounts.get(user) else {
            return Vec::new();
        };
        acc.devices
            .iter()
            .map(|(id, d)| DeviceView {
                id: id.clone(),
                name: d.info.name.clone(),
                device_type: d.info.device_type.value(),
                volume: d.info.volume,
                is_active: acc.active.as_deref() == Some(id.as_str()),
                is_private_session: d.info.is_private_session,
                disable_volume: d.info.capabilities.disable_volume,
                online: st.conns.contains_key(&d.conn_id),
            })
            .collect()
    }

    /// The active device and the cluster's player state.
    pub(crate) fn playback(&self, user: &str) -> (Option<String>, Option<PlayerState>) {
        let st = lock(&self.state);
        match st.accounts.get(user) {
            Some(acc) => (acc.active.clone(), acc.player_state.clone()),
            None => (None, None),
        }
    }

    /// Sends a dealer request to `device_id` of `user` and waits for its reply; `Ok(key)` on
    /// `success: true`.
    pub(crate) async fn request(
        &self,
        user: &str,
        device_id: &str,
        ident: &str,
        body: &Value,
    ) -> Result<String, Deliver> {
        let (key, rx) = {
            let mut st = lock(&self.state);
            let conn_id = st
                .accounts
                .get(user)
                .and_then(|a| a.devices.get(device_id))
                .map(|d| d.conn_id.clone())
                .ok_or_else(|| Deliver::UnknownDevice(device_id.to_owned()))?;
            let conn = st
                .conns
                .get(&conn_id)
                .ok_or_else(|| Deliver::Offline(device_id.to_owned()))?;
            let key = format!(
                "sim-{}/{}",
                self.next_id(),
                hex::encode(rand::random::<[u8; 6]>())
            );
            let frame = frames::request_frame(&key, ident, body);
            conn.tx
                .try_send(frame)
                .map_err(|_| Deliver::QueueFull(device_id.to_owned()))?;
            let (tx, rx) = oneshot::channel();
            st.pending.insert(key.clone(), Pending { conn_id, tx });
            (key, rx)
        };
        match tokio::time::timeout(self.timing().reply_timeout, rx).await {
            Ok(Ok(true)) => Ok(key),
            Ok(Ok(false)) => Err(Deliver::Refused(device_id.to_owned())),
            Ok(Err(_)) => Err(Deliver::Disconnected(device_id.to_owned())),
            Err(_) => {
                lock(&self.state).pending.remove(&key);
                Err(Deliver::Timeout(device_id.to_owned()))
            }
        }
    }

    /// Sends a (fire-and-forget) dealer message with a protobuf payload to one device.
    pub(crate) fn message(
        &self,
        user: &str,
        device_id: &str,
        uri: &str,
        payload: &[u8],
    ) -> Result<(), Deliver> {
        let st = lock(&self.state);
        let conn_id = st
            .accounts
            .get(user)
            .and_then(|a| a.devices.get(device_id))
            .map(|d| d.conn_id.clone())
            .ok_or_else(|| Deliver::UnknownDevice(device_id.to_owned()))?;
        let conn = st
            .conns
            .get(&conn_id)
            .ok_or_else(|| Deliver::Offline(device_id.to_owned()))?;
        conn.tx
            .try_send(frames::message_frame(uri, payload))
            .map_err(|_| Deliver::QueueFull(device_id.to_owned()))
    }

    /// Marks `device_id` active (after it acknowledged a transfer or a play command).
    fn activate(&self, user: &str, device_id: &str) {
        let mut st = lock(&self.state);
        let Some(acc) = st.accounts.get_mut(user) else {
            return;
        };
        if !acc.devices.contains_key(device_id) || acc.active.as_deref() == Some(device_id) {
            return;
        }
        let mut changed = vec![device_id.to_owned()];
        if let Some(old) = acc.active.take() {
            changed.push(old);
        }
        acc.active = Some(device_id.to_owned());
        acc.active_since = now_ms();
        st.broadcast(user, ClusterUpdateReason::DEVICE_STATE_CHANGED, changed);
    }

    /// The player state a transfer from `from` carries: `from`'s own when it has a track,
    /// else the cluster's (`from == to` pulls from the active device).
    fn transfer_source(&self, user: &str, from: Option<&str>) -> Option<PlayerState> {
        let st = lock(&self.state);
        let acc = st.accounts.get(user)?;
        let own = from
            .and_then(|f| acc.devices.get(f))
            .and_then(|d| d.player_state.clone())
            .filter(|ps| ps.track.is_some() && !ps.track.uri.is_empty());
        let active = acc
            .active
            .as_ref()
            .and_then(|a| acc.devices.get(a))
            .and_then(|d| d.player_state.clone())
            .filter(|ps| ps.track.is_some() && !ps.track.uri.is_empty());
        let cluster = acc
            .player_state
            .clone()
            .filter(|ps| ps.track.is_some() && !ps.track.uri.is_empty());
        let from_active = from.is_some() && from == acc.active.as_deref();
        if from_active || from.is_none() {
            active.or(cluster).or(own)
        } else {
            own.or(active).or(cluster)
        }
    }

    /// Transfers playback to `to` (from `from`, or from whoever is active when `from` is
    /// `None` or equals `to`); `sender` is the requesting device (`sent_by_device_id`),
    /// `options` are the transfer options (strings). Returns the ack id.
    pub(crate) async fn transfer(
        &self,
        catalog: &super::Catalog,
        user: &str,
        from: Option<&str>,
        sender: &str,
        to: &str,
        options: Map<String, Value>,
    ) -> Result<String, Deliver> {
        let from = from.filter(|f| *f != to);
        let source = self
            .transfer_source(user, from)
            .ok_or(Deliver::NothingToTransfer)?;
        let state = transfer_state(&source, Some(catalog));
        let data = state
            .write_to_bytes()
            .map_err(|e| Deliver::Invalid(format!("cannot encode the TransferState: {e}")))?;
        let mut opts = Map::new();
        opts.insert("restore_paused".into(), "restore".into());
        opts.insert("restore_position".into(), "extrapolate".into());
        opts.insert("restore_track".into(), "only_current".into());
        for (k, v) in options {
            opts.insert(k, v);
        }
        let body = json!({
            "message_id": self.next_message_id(),
            "target_alias_id": null,
            "sent_by_device_id": sender,
            "command": {
                "endpoint": "transfer",
                "data": B64.encode(data),
                "options": Value::Object(opts),
                "from_device_identifier": sender,
                "logging_params": {},
            },
        });
        let ack = self.request(user, to, COMMAND_IDENT, &body).await?;
        self.activate(user, to);
        Ok(ack)
    }

    fn next_message_id(&self) -> u32 {
        u32::try_from(self.next_id() % u64::from(u32::MAX)).unwrap_or(1)
    }

    /// Forwards a player command (the `command` object) from `from` to `to`; returns the ack
    /// id. A successful `play` makes `to` the active device.
    pub(crate) async fn command(
        &self,
        user: &str,
        from: &str,
        to: &str,
        command: Value,
    ) -> Result<String, Deliver> {
        let Value::Object(mut cmd) = command else {
            return Err(Deliver::Invalid("command must be a JSON object".into()));
        };
        let endpoint = match cmd.get("endpoint").and_then(Value::as_str) {
            Some(e) if !e.is_empty() => e.to_owned(),
            _ => return Err(Deliver::Invalid("command.endpoint must be a string".into())),
        };
        // The official desktop's names (spec §11.1, uncertain) map to what receivers know.
        let endpoint = match endpoint.as_str() {
            "next_track" => "skip_next".to_owned(),
            _ => endpoint,
        };
        cmd.insert("endpoint".into(), endpoint.clone().into());
        if !cmd.contains_key("options") {
            if let Some(o) = cmd.remove("play_options") {
                cmd.insert("options".into(), o);
            }
        }
        if !cmd.get("logging_params").is_some_and(Value::is_object) {
            cmd.insert("logging_params".into(), json!({}));
        }
        let body = json!({
            "message_id": self.next_message_id(),
            "target_alias_id": null,
            "sent_by_device_id": from,
            "command": Value::Object(cmd),
        });
        let ack = self.request(user, to, COMMAND_IDENT, &body).await?;
        if endpoint == "play" {
            self.activate(user, to);
        }
        Ok(ack)
    }

    /// Sends a `SetVolumeCommand` (0..=65535) to `to`; returns an ack id.
    pub(crate) fn volume(&self, user: &str, to: &str, volume: u32) -> Result<String, Deliver> {
        let volume = i32::try_from(volume.min(65535)).unwrap_or(65535);
        let message_id = self.next_message_id();
        let mut cmd = SetVolumeCommand::new();
        cmd.volume = volume;
        let mut options = ConnectCommandOptions::new();
        options.message_id = i32::try_from(message_id).unwrap_or(0);
        cmd.command_options = MessageField::some(options);
        let bytes = cmd
            .write_to_bytes()
            .map_err(|e| Deliver::Invalid(format!("cannot encode SetVolumeCommand: {e}")))?;
        self.message(user, to, VOLUME_URI, &bytes)?;
        Ok(format!("sim-volume-{message_id}"))
    }
}
