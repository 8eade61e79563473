//! The scripted phone: a Spotify Connect *controller* that behaves like the phone app against a
//! running simulator (spec §8.1, §11.1, §12), for demos (`tonearm sim phone …`) and for
//! end-to-end tests that drive a receiver in-process. It signs in as a phone app does
//! (client-token, then login5 with the account's password; when the simulator refuses password
//! logins, the accounts service's browser sign-in with PKCE instead), opens the dealer
//! websocket, registers itself as a SMARTPHONE device (NEW_DEVICE, never a playback target),
//! follows the cluster pushes, and uses connect-state's transfer / player command / volume
//! endpoints with `from` = its own device id. In receiver mode (`PhoneConfig::receiver`) it is
//! instead a scripted stand-in speaker that accepts commands and reports a given state. It
//! speaks plain HTTP and websocket (reqwest, tokio-tungstenite) built from the spec; it never
//! imports client modules (nor, beyond the protobuf types, the simulator's server code). The
//! sign-in (client token, login5 with hashcash, the browser sign-in) is in `remote/signin.rs`.

mod signin;

use std::io::Read;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use librespot_protocol::connect::{
    Capabilities, Cluster, ClusterUpdate, Device, DeviceInfo, MemberType, PutStateReason,
    PutStateRequest, SetVolumeCommand,
};
use librespot_protocol::devices::DeviceType;
use librespot_protocol::player::PlayerState;
use protobuf::{Enum, EnumOrUnknown, Message, MessageField};
use rand::RngCore;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as Ws;

use signin::{browser_sign_in, login5};

/// The client id the phone presents (any non-empty id works with the simulator).
const CLIENT_ID: &str = "9a8d2f0ce77a4e248bb71fefcb557637";
/// How long one HTTP call or the dealer hello may take.
const TIMEOUT: Duration = Duration::from_secs(15);
const CLUSTER_URI: &str = "hm://connect-state/v1/cluster";
const VOLUME_URI: &str = "hm://connect-state/v1/connect/volume";
/// JSON keep-alive interval (go-librespot style).
const PING_EVERY: Duration = Duration::from_secs(30);

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum PhoneError {
    #[error("cannot reach the simulator: {0}")]
    Http(String),
    #[error("sign-in refused: {0}")]
    Login(String),
    #[error("dealer websocket: {0}")]
    Dealer(String),
    #[error("the simulator answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("no device named or with id {0:?} on this account")]
    NoDevice(String),
    #[error("no active device: transfer playback somewhere first (or pass a target device)")]
    NoActiveDevice,
    #[error("unexpected answer from the simulator: {0}")]
    Protocol(String),
}

impl From<reqwest::Error> for PhoneError {
    fn from(e: reqwest::Error) -> Self {
        // reqwest's message names the URL but never a header or body.
        PhoneError::Http(e.without_url().to_string())
    }
}

/// How the phone signs in and shows up.
#[derive(Debug, Clone)]
pub struct PhoneConfig {
    /// The simulator's HTTP base URL, `http://127.0.0.1:PORT` (its `spclient` in `SimInfo`).
    pub base: String,
    pub username: String,
    pub password: String,
    /// The name in device lists.
    pub device_name: String,
    /// `None` = a random 40-hex-digit id.
    pub device_id: Option<String>,
    /// Default SMARTPHONE.
    pub device_type: DeviceType,
    /// `false` (the phone): a controller only, it refuses every request. `true`: a scripted
    /// *receiver* that accepts every command and volume message and hands them to
    /// [`Phone::next_event`] (tests use it as a stand-in speaker); it plays nothing itself but
    /// can report a state with [`Phone::put_player_state`].
    pub receiver: bool,
}

impl PhoneConfig {
    pub fn new(base: &str, username: &str, password: &str) -> PhoneConfig {
        PhoneConfig {
            base: base.trim_end_matches('/').to_owned(),
            username: username.to_owned(),
            password: password.to_owned(),
            device_name: "Sim Phone".to_owned(),
            device_id: None,
            device_type: DeviceType::SMARTPHONE,
            receiver: false,
        }
    }
}

/// A device of the account as the phone lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PhoneDevice {
    pub id: String,
    pub name: String,
    /// `devices.DeviceType` name, e.g. `SPEAKER`, `COMPUTER`, `SMARTPHONE`.
    pub device_type: String,
    pub is_active: bool,
    /// 0..=65535.
    pub volume: u32,
    /// This phone itself.
    pub is_self: bool,
}

/// What a receiver-mode phone got over the dealer.
#[derive(Debug, Clone, PartialEq)]
pub enum PhoneEvent {
    /// A player command request (the decoded JSON: `message_id`, `sent_by_device_id`,
    /// `command`), already acknowledged with success.
    Command(Value),
    /// A `SetVolumeCommand` (0..=65535).
    Volume(i32),
}

/// A signed-in phone with its dealer connection.
pub struct Phone {
    http: reqwest::Client,
    base: String,
    token: String,
    device_id: String,
    device_name: String,
    conn_id: String,
    cluster: watch::Receiver<Cluster>,
    cluster_tx: watch::Sender<Cluster>,
    device_type: DeviceType,
    receiver: bool,
    events: mpsc::Receiver<PhoneEvent>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Phone")
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn gunzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(16 << 20)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

fn type_name(t: i32) -> String {
    DeviceType::from_i32(t).map_or_else(|| format!("TYPE_{t}"), |d| format!("{d:?}"))
}

async fn refused(r: reqwest::Response) -> PhoneError {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    let message = body
        .pointer("/error/message")
        .or_else(|| body.get("error"))
        .and_then(Value::as_str)
        .unwrap_or("(no message)")
        .to_owned();
    PhoneError::Refused { status, message }
}

impl Phone {
    /// Signs in, opens the dealer websocket and registers the phone as a device.
    pub async fn connect(cfg: PhoneConfig) -> Result<Phone, PhoneError> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let base = cfg.base.trim_end_matches('/').to_owned();
        let device_id = cfg.device_id.clone().unwrap_or_else(|| {
            let mut raw = [0u8; 20];
            rand::thread_rng().fill_bytes(&mut raw);
            hex::encode(raw)
        });
        let token = match login5(&http, &base, &cfg, &device_id).await {
            Ok(t) => t,
            Err(PhoneError::Login(reason)) => {
                tracing::info!(%reason, "phone: password login refused, trying the browser sign-in");
                browser_sign_in(&http, &base, &cfg).await?
            }
            Err(e) => return Err(e),
        };
        let ws_base = base
            .strip_prefix("http://")
            .map(|rest| format!("ws://{rest}"))
            .or_else(|| base.strip_prefix("https://").map(|r| format!("wss://{r}")))
            .ok_or_else(|| PhoneError::Http(format!("not an http(s) URL: {base}")))?;
        let (ws, _) = tokio::time::timeout(
            TIMEOUT,
            tokio_tungstenite::connect_async(format!("{ws_base}/?access_token={token}")),
        )
        .await
        .map_err(|_| PhoneError::Dealer("connect timed out".into()))?
        .map_err(|e| PhoneError::Dealer(e.to_string()))?;
        let (mut sink, mut stream) = ws.split();
        let conn_id = tokio::time::timeout(TIMEOUT, async {
            while let Some(msg) = stream.next().await {
                let Ok(Ws::Text(text)) = msg else { continue };
                let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
                    continue;
                };
                if let Some(id) = v
                    .pointer("/headers/Spotify-Connection-Id")
                    .and_then(Value::as_str)
                {
                    return Some(id.to_owned());
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .ok_or_else(|| PhoneError::Dealer("no connection id from the dealer".into()))?;
        let (cluster_tx, cluster) = watch::channel(Cluster::new());
        let (out_tx, mut out_rx) = mpsc::channel::<String>(64);
        let pushes = cluster_tx.clone();
        let (event_tx, events) = mpsc::channel::<PhoneEvent>(256);
        let receiver = cfg.receiver;
        let task = tokio::spawn(async move {
            let mut ping = tokio::time::interval(PING_EVERY);
            ping.tick().await;
            loop {
                tokio::select! {
                    _ = ping.tick() => {
                        if sink.send(Ws::Text(r#"{"type":"ping"}"#.into())).await.is_err() {
                            break;
                        }
                    }
                    out = out_rx.recv() => {
                        let Some(text) = out else { break };
                        if sink.send(Ws::Text(text.into())).await.is_err() {
                            break;
                        }
                    }
                    msg = stream.next() => match msg {
                        Some(Ok(Ws::Text(text))) => {
                            let events = receiver.then_some(&event_tx);
                            if let Some(reply) = on_frame(text.as_str(), &pushes, events) {
                                if out_tx.try_send(reply).is_err() {
                                    break;
                                }
                            }
                        }
                        Some(Ok(_)) => {}
                        None | Some(Err(_)) => break,
                    },
                }
            }
            tracing::info!("phone: dealer connection closed");
        });
        let phone = Phone {
            http,
            base,
            token,
            device_id,
            device_name: cfg.device_name,
            conn_id,
            cluster,
            cluster_tx,
            device_type: cfg.device_type,
            receiver: cfg.receiver,
            events,
            task,
        };
        phone.put_state(PutStateReason::NEW_DEVICE).await?;
        Ok(phone)
    }

    /// This phone's device id.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// The access token it signed in with (tests use it for Web API calls).
    pub fn access_token(&self) -> &str {
        &self.token
    }

    fn device_info(&self) -> DeviceInfo {
        let mut caps = Capabilities::new();
        caps.can_be_player = self.receiver;
        caps.is_controllable = self.receiver;
        caps.supports_transfer_command = self.receiver;
        caps.supports_command_request = self.receiver;
        caps.is_observable = true;
        caps.gaia_eq_connect_id = true;
        caps.supports_gzip_pushes = true;
        caps.volume_steps = 64;
        let mut info = DeviceInfo::new();
        // The phone is a controller only: nobody should transfer playback to it.
        info.can_play = self.receiver;
        info.volume = 65535;
        info.name = self.device_name.clone();
        info.device_id = self.device_id.clone();
        info.device_type = EnumOrUnknown::new(self.device_type);
        info.device_software_version =
            concat!("tonearm-sim-phone ", env!("CARGO_PKG_VERSION")).into();
        info.spirc_version = "3.2.6".into();
        info.client_id = CLIENT_ID.into();
        info.capabilities = MessageField::some(caps);
        info
    }

    /// PUTs the phone's state and takes the answered cluster.
    async fn put_state(&self, reason: PutStateReason) -> Result<Cluster, PhoneError> {
        self.put(reason, None, false).await
    }

    /// Receiver mode: reports `state` (and whether this device is the active one) with a
    /// PLAYER_STATE_CHANGED PUT; returns the answered cluster.
    pub async fn put_player_state(
        &self,
        state: PlayerState,
        is_active: bool,
    ) -> Result<Cluster, PhoneError> {
        self.put(PutStateReason::PLAYER_STATE_CHANGED, Some(state), is_active)
            .await
    }

    /// The next command or volume message a receiver-mode phone got, waiting up to `timeout`.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<PhoneEvent> {
        tokio::time::timeout(timeout, self.events.recv())
            .await
            .ok()
            .flatten()
    }

    async fn put(
        &self,
        reason: PutStateReason,
        state: Option<PlayerState>,
        is_active: bool,
    ) -> Result<Cluster, PhoneError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(0))
            .unwrap_or(0);
        let mut device = Device::new();
        device.device_info = MessageField::some(self.device_info());
        device.player_state = MessageField::from_option(state);
        let mut req = PutStateRequest::new();
        req.device = MessageField::some(device);
        req.member_type = EnumOrUnknown::new(MemberType::CONNECT_STATE);
        req.put_state_reason = EnumOrUnknown::new(reason);
        req.is_active = is_active;
        if is_active {
            req.started_playing_at = now;
        }
        req.client_side_timestamp = now;
        let body = req
            .write_to_bytes()
            .map_err(|e| PhoneError::Protocol(e.to_string()))?;
        let r = self
            .http
            .put(format!(
                "{}/connect-state/v1/devices/{}",
                self.base, self.device_id
            ))
            .bearer_auth(&self.token)
            .header("X-Spotify-Connection-Id", &self.conn_id)
            .header("Content-Type", "application/x-protobuf")
            .body(body)
            .send()
            .await?;
        if !r.status().is_success() {
            return Err(refused(r).await);
        }
        let bytes = r.bytes().await?;
        let cluster = Cluster::parse_from_bytes(&bytes)
            .map_err(|_| PhoneError::Protocol("the cluster is not a Cluster protobuf".into()))?;
        keep_newer(&self.cluster_tx, cluster.clone());
        Ok(cluster)
    }

    /// The last cluster seen (from a push or a state PUT).
    pub fn cluster(&self) -> Cluster {
        self.cluster.borrow().clone()
    }

    /// Waits until the cluster satisfies `f` (pushes included).
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        f: impl Fn(&Cluster) -> bool,
    ) -> Result<Cluster, PhoneError> {
        let rx = &mut self.cluster;
        tokio::time::timeout(timeout, async {
            loop {
                if f(&rx.borrow_and_update()) {
                    return Ok(rx.borrow().clone());
                }
                if rx.changed().await.is_err() {
                    return Err(PhoneError::Dealer("connection closed".into()));
                }
            }
        })
        .await
        .map_err(|_| PhoneError::Protocol("the cluster did not reach the expected state".into()))?
    }

    /// The account's devices, fresh (the phone "opens the device picker").
    pub async fn devices(&self) -> Result<Vec<PhoneDevice>, PhoneError> {
        let cluster = self.put_state(PutStateReason::PICKER_OPENED).await?;
        let mut list: Vec<PhoneDevice> = cluster
            .device
            .iter()
            .map(|(id, d)| PhoneDevice {
                id: id.clone(),
                name: d.name.clone(),
                device_type: type_name(d.device_type.value()),
                is_active: cluster.active_device_id == *id,
                volume: d.volume,
                is_self: *id == self.device_id,
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Ok(list)
    }

    /// What plays where, as JSON: `{"active_device_id", "active_device_name", "context_uri",
    /// "track_uri", "is_playing", "is_paused", "position_ms", "duration_ms", "shuffle",
    /// "repeat_context", "repeat_track"}` (`null`s when nothing is active). `position_ms` is
    /// extrapolated as a phone's screen does ([`position_now`]). Each call PUTs the phone's
    /// state (PICKER_OPENED), so the connect-state PUT limit applies: poll a few times a
    /// second at most, or use [`Phone::wait_for`].
    pub async fn status(&self) -> Result<Value, PhoneError> {
        let cluster = self.put_state(PutStateReason::PICKER_OPENED).await?;
        let now = if cluster.server_timestamp_ms > 0 {
            cluster.server_timestamp_ms
        } else {
            unix_ms()
        };
        let active = Some(cluster.active_device_id.clone()).filter(|a| !a.is_empty());
        let name = active
            .as_ref()
            .and_then(|a| cluster.device.get(a))
            .map(|d| d.name.clone());
        let ps = cluster.player_state.clone().unwrap_or_default();
        let track = ps
            .track
            .as_ref()
            .map(|t| t.uri.clone())
            .filter(|u| !u.is_empty());
        let opts = ps.options.clone().unwrap_or_default();
        Ok(json!({
            "active_device_id": active,
            "active_device_name": name,
            "context_uri": Some(ps.context_uri.clone()).filter(|c| !c.is_empty()),
            "track_uri": track,
            "is_playing": ps.is_playing && !ps.is_paused,
            "is_paused": ps.is_paused,
            "position_ms": position_now(&ps, now),
            "duration_ms": Some(ps.duration).filter(|d| *d > 0),
            "shuffle": opts.shuffling_context,
            "repeat_context": opts.repeating_context,
            "repeat_track": opts.repeating_track,
        }))
    }

    /// A device id by id or (case-insensitive) name: from the cluster the pushes keep up to
    /// date, else from a fresh one (the phone "opens the device picker", a state PUT).
    pub async fn resolve(&self, target: &str) -> Result<String, PhoneError> {
        if let Ok(id) = pick(&self.cluster(), target) {
            return Ok(id);
        }
        let cluster = self.put_state(PutStateReason::PICKER_OPENED).await?;
        pick(&cluster, target)
    }

    /// `target` (name or id) or the active device. Like a phone's remote, it does not
    /// re-register before each command (connect-state limits state PUTs).
    async fn target(&self, target: Option<&str>) -> Result<String, PhoneError> {
        match target {
            Some(t) => self.resolve(t).await,
            None => {
                let active =
                    |c: &Cluster| Some(c.active_device_id.clone()).filter(|a| !a.is_empty());
                if let Some(id) = active(&self.cluster()) {
                    return Ok(id);
                }
                let cluster = self.put_state(PutStateReason::PICKER_OPENED).await?;
                active(&cluster).ok_or(PhoneError::NoActiveDevice)
            }
        }
    }

    async fn post_json(&self, path: &str, body: &Value) -> Result<Value, PhoneError> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        if !r.status().is_success() {
            return Err(refused(r).await);
        }
        r.json()
            .await
            .map_err(|_| PhoneError::Protocol("answer is not JSON".into()))
    }

    /// Transfers playback to `target` (name or id); returns the answer (`{"ack_id"}`).
    pub async fn transfer(&self, target: &str) -> Result<Value, PhoneError> {
        let to = self.resolve(target).await?;
        let body = json!({
            "transfer_options": { "restore_paused": "restore", "restore_position": "extrapolate" },
        });
        self.post_json(
            &format!(
                "/connect-state/v1/connect/transfer/from/{}/to/{to}",
                self.device_id
            ),
            &body,
        )
        .await
    }

    /// Sends a player command object (`{"endpoint": …}`) to `target` or the active device.
    pub async fn command(&self, target: Option<&str>, command: Value) -> Result<Value, PhoneError> {
        let to = self.target(target).await?;
        self.post_json(
            &format!(
                "/connect-state/v1/player/command/from/{}/to/{to}",
                self.device_id
            ),
            &json!({ "command": command }),
        )
        .await
    }

    /// Plays a context (album, playlist, artist) from track `index` at `position_ms` on
    /// `target` (name or id) or the active device. When nothing is active on the account, the
    /// phone does what the app does when you pick a speaker and press play: the Web API's
    /// `PUT /v1/me/player/play?device_id=` (spec §12), which starts the idle device; the answer
    /// is then `{"device_id", "started": true}`. Otherwise the connect-state `play` command
    /// (answer `{"ack_id"}`).
    pub async fn play(
        &self,
        target: Option<&str>,
        context_uri: &str,
        index: Option<u32>,
        position_ms: Option<u64>,
    ) -> Result<Value, PhoneError> {
        let cluster = self.put_state(PutStateReason::PICKER_OPENED).await?;
        let to = match target {
            Some(t) => Some(pick(&cluster, t)?),
            None => None,
        };
        let active = Some(cluster.active_device_id.clone()).filter(|a| !a.is_empty());
        let to = match (to, active) {
            (Some(to), None) => {
                return self
                    .web_api_play(&to, context_uri, index, position_ms)
                    .await
            }
            (None, None) => return Err(PhoneError::NoActiveDevice),
            (Some(to), Some(_)) => to,
            (None, Some(active)) => active,
        };
        let mut options = serde_json::Map::new();
        if let Some(i) = index {
            options.insert("skip_to".into(), json!({ "track_index": i }));
        }
        if let Some(p) = position_ms {
            options.insert("seek_to".into(), p.into());
        }
        options.insert("initially_paused".into(), false.into());
        let cmd = json!({
            "endpoint": "play",
            "context": { "uri": context_uri, "url": format!("context://{context_uri}"), "metadata": {} },
            "play_origin": { "feature_identifier": "sim-phone", "feature_version": env!("CARGO_PKG_VERSION") },
            "options": Value::Object(options),
            "logging_params": {},
        });
        self.post_json(
            &format!(
                "/connect-state/v1/player/command/from/{}/to/{to}",
                self.device_id
            ),
            &json!({ "command": cmd }),
        )
        .await
    }

    /// `PUT /v1/me/player/play?device_id=` with a context: starts playback on a device that
    /// is not active.
    async fn web_api_play(
        &self,
        device_id: &str,
        context_uri: &str,
        index: Option<u32>,
        position_ms: Option<u64>,
    ) -> Result<Value, PhoneError> {
        let mut body = serde_json::Map::new();
        body.insert("context_uri".into(), context_uri.into());
        if let Some(i) = index {
            body.insert("offset".into(), json!({ "position": i }));
        }
        if let Some(p) = position_ms {
            body.insert("position_ms".into(), p.into());
        }
        let url = reqwest::Url::parse_with_params(
            &format!("{}/v1/me/player/play", self.base),
            [("device_id", device_id)],
        )
        .map_err(|e| PhoneError::Http(format!("bad simulator URL: {e}")))?;
        let r = self
            .http
            .put(url)
            .bearer_auth(&self.token)
            .json(&Value::Object(body))
            .send()
            .await?;
        if !r.status().is_success() {
            return Err(refused(r).await);
        }
        Ok(json!({ "device_id": device_id, "started": true }))
    }

    pub async fn pause(&self, target: Option<&str>) -> Result<Value, PhoneError> {
        self.command(target, json!({ "endpoint": "pause" })).await
    }

    pub async fn resume(&self, target: Option<&str>) -> Result<Value, PhoneError> {
        self.command(target, json!({ "endpoint": "resume" })).await
    }

    pub async fn seek(&self, target: Option<&str>, ms: u64) -> Result<Value, PhoneError> {
        self.command(
            target,
            json!({ "endpoint": "seek_to", "value": ms, "position": ms }),
        )
        .await
    }

    pub async fn next(&self, target: Option<&str>) -> Result<Value, PhoneError> {
        self.command(target, json!({ "endpoint": "skip_next" }))
            .await
    }

    pub async fn prev(&self, target: Option<&str>) -> Result<Value, PhoneError> {
        self.command(target, json!({ "endpoint": "skip_prev" }))
            .await
    }

    pub async fn shuffle(&self, target: Option<&str>, on: bool) -> Result<Value, PhoneError> {
        self.command(
            target,
            json!({ "endpoint": "set_shuffling_context", "value": on }),
        )
        .await
    }

    /// `mode`: `off`, `context` or `track`.
    pub async fn repeat(&self, target: Option<&str>, mode: &str) -> Result<Value, PhoneError> {
        let (context, track) = match mode {
            "off" => (false, false),
            "context" => (true, false),
            "track" => (true, true),
            other => {
                return Err(PhoneError::Protocol(format!(
                    "repeat mode {other:?}: expected off, context or track"
                )))
            }
        };
        self.command(
            target,
            json!({ "endpoint": "set_options", "repeating_context": context, "repeating_track": track }),
        )
        .await
    }

    pub async fn queue(&self, target: Option<&str>, track_uri: &str) -> Result<Value, PhoneError> {
        self.command(
            target,
            json!({
                "endpoint": "add_to_queue",
                "track": { "uri": track_uri, "metadata": { "is_queued": "true" }, "provider": "queue" },
            }),
        )
        .await
    }

    /// Replaces what plays next with `uris`.
    pub async fn set_queue(
        &self,
        target: Option<&str>,
        uris: &[String],
    ) -> Result<Value, PhoneError> {
        let revision = self
            .cluster()
            .player_state
            .as_ref()
            .map(|p| p.queue_revision.clone())
            .unwrap_or_default();
        let next: Vec<Value> = uris
            .iter()
            .map(|u| json!({ "uri": u, "metadata": { "is_queued": "true" }, "provider": "queue" }))
            .collect();
        self.command(
            target,
            json!({ "endpoint": "set_queue", "next_tracks": next, "prev_tracks": [], "queue_revision": revision }),
        )
        .await
    }

    /// Sets the volume of `target` (or the active device) in percent.
    pub async fn volume(&self, target: Option<&str>, percent: u8) -> Result<Value, PhoneError> {
        let to = self.target(target).await?;
        let volume = u32::from(percent.min(100)) * 65535 / 100;
        let r = self
            .http
            .put(format!(
                "{}/connect-state/v1/connect/volume/from/{}/to/{to}",
                self.base, self.device_id
            ))
            .bearer_auth(&self.token)
            .json(&json!({ "volume": volume }))
            .send()
            .await?;
        if !r.status().is_success() {
            return Err(refused(r).await);
        }
        r.json()
            .await
            .map_err(|_| PhoneError::Protocol("answer is not JSON".into()))
    }

    /// Deregisters the phone and closes its dealer connection.
    pub async fn close(self) {
        let _ = self
            .http
            .delete(format!(
                "{}/connect-state/v1/devices/{}",
                self.base, self.device_id
            ))
            .bearer_auth(&self.token)
            .send()
            .await;
    }
}

/// A device of `cluster` by id or (case-insensitive) name (ids win; among equal names the
/// smallest id, so the choice is stable).
fn pick(cluster: &Cluster, target: &str) -> Result<String, PhoneError> {
    if cluster.device.contains_key(target) {
        return Ok(target.to_owned());
    }
    cluster
        .device
        .iter()
        .filter(|(_, d)| d.name.eq_ignore_ascii_case(target))
        .map(|(id, _)| id.clone())
        .min()
        .ok_or_else(|| PhoneError::NoDevice(target.to_owned()))
}

/// Takes `new` unless it is older than the cluster held: the answer to a state PUT can arrive
/// after a push of a later change (another device registering meanwhile), and must not hide it.
fn keep_newer(held: &watch::Sender<Cluster>, new: Cluster) {
    held.send_if_modified(|c| {
        if new.changed_timestamp_ms < c.changed_timestamp_ms {
            return false;
        }
        *c = new;
        true
    });
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The position a phone shows at `now_ms` (server clock): `position_as_of_timestamp` plus the
/// time since `timestamp` at the playback speed while playing (not paused, not buffering),
/// clamped to `[0, duration]`.
pub fn position_now(ps: &PlayerState, now_ms: i64) -> i64 {
    let mut p = ps.position_as_of_timestamp;
    if ps.is_playing && !ps.is_paused && !ps.is_buffering && ps.timestamp > 0 {
        // Clients that leave the speed out mean normal speed.
        let speed = if ps.playback_speed > 0.0 {
            ps.playback_speed
        } else {
            1.0
        };
        // Both values come from a device: saturate rather than overflow.
        let gap = now_ms.saturating_sub(ps.timestamp).max(0);
        p = p.saturating_add((gap as f64 * speed) as i64);
    }
    if ps.duration > 0 {
        p = p.min(ps.duration);
    }
    p.max(0)
}

/// Handles one dealer frame: cluster pushes update the watch; requests are refused (the phone
/// plays nothing), or, in receiver mode (`events`), accepted and handed on like volume
/// messages. Returns a frame to send back.
fn on_frame(
    text: &str,
    cluster: &watch::Sender<Cluster>,
    events: Option<&mpsc::Sender<PhoneEvent>>,
) -> Option<String> {
    let v: Value = serde_json::from_str(text).ok()?;
    let gzip = v
        .pointer("/headers/Transfer-Encoding")
        .and_then(Value::as_str)
        .is_some_and(|h| h.eq_ignore_ascii_case("gzip"));
    let uri = v.get("uri").and_then(Value::as_str).unwrap_or_default();
    match v.get("type").and_then(Value::as_str) {
        Some("message") if uri == CLUSTER_URI || uri == VOLUME_URI => {
            let raw = B64.decode(v.pointer("/payloads/0")?.as_str()?).ok()?;
            let bytes = if gzip { gunzip(&raw)? } else { raw };
            if uri == VOLUME_URI {
                if let (Some(tx), Ok(cmd)) = (events, SetVolumeCommand::parse_from_bytes(&bytes)) {
                    let _ = tx.try_send(PhoneEvent::Volume(cmd.volume));
                }
                return None;
            }
            match ClusterUpdate::parse_from_bytes(&bytes) {
                Ok(u) => keep_newer(cluster, u.cluster.unwrap_or_default()),
                Err(_) => tracing::info!("phone: undecodable cluster push ignored"),
            }
            None
        }
        Some("request") => {
            let key = v.get("key")?.as_str()?;
            let command = events.and_then(|_| {
                let raw = B64
                    .decode(v.pointer("/payload/compressed")?.as_str()?)
                    .ok()?;
                let bytes = if gzip { gunzip(&raw)? } else { raw };
                serde_json::from_slice::<Value>(&bytes).ok()
            });
            let success = match (events, command) {
                (Some(tx), Some(cmd)) => tx.try_send(PhoneEvent::Command(cmd)).is_ok(),
                _ => false,
            };
            Some(
                json!({ "type": "reply", "key": key, "payload": { "success": success } })
                    .to_string(),
            )
        }
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_handled_leniently() {
        let (tx, _rx) = watch::channel(Cluster::new());
        assert_eq!(on_frame("garbage", &tx, None), None);
        let reply = on_frame(r#"{"type":"request","key":"k","payload":{}}"#, &tx, None).unwrap();
        let v: Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(v["key"], "k");
        assert_eq!(v["payload"]["success"], false);
        assert_eq!(
            on_frame(
                r#"{"type":"message","uri":"hm://connect-state/v1/cluster","payloads":["!!"]}"#,
                &tx,
                None
            ),
            None
        );
    }

    #[test]
    fn an_older_cluster_does_not_replace_a_newer_one() {
        let stamped = |ms: i64, device: &str| {
            let mut c = Cluster::new();
            c.changed_timestamp_ms = ms;
            c.device.insert(device.to_owned(), Default::default());
            c
        };
        let (tx, rx) = watch::channel(Cluster::new());
        keep_newer(&tx, stamped(20, "with-b"));
        // The PUT answer from before B registered arrives last: ignored.
        keep_newer(&tx, stamped(10, "without-b"));
        assert!(rx.borrow().device.contains_key("with-b"));
        // The same stamp again (an unchanged PUT) and a later one are taken.
        keep_newer(&tx, stamped(20, "same"));
        assert!(rx.borrow().device.contains_key("same"));
        keep_newer(&tx, stamped(21, "later"));
        assert!(rx.borrow().device.contains_key("later"));
    }
}
