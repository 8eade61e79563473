//! The Connect service: a [`Connect`] handle and a private task that owns the dealer
//! connection and the connect-state registration (protocol spec §11.1, §12). The task
//! registers the device after every (re)connection (`PUT devices/{id}` NEW_DEVICE, with its
//! player state when active; a failed registration is retried with jittered back-off that
//! honours a 429's `Retry-After`), reports player changes (PLAYER_STATE_CHANGED, throttled
//! ~200 ms; VOLUME_CHANGED ~500 ms), follows cluster pushes (device list, playback on another
//! active device, "another device took over" →
//! [`BecameInactive`](super::RemoteCommand::BecameInactive) and `PUT …/inactive`), turns dealer
//! commands into [`RemoteCommand`](super::RemoteCommand)s on the event channel (a worker task
//! resolves contexts in order and replies to each request), and runs the controller side
//! (transfer, player commands, volume). [`Connect::shutdown`] deregisters (`DELETE
//! devices/{id}`).
//!
//! Called by the TUI runtime (through [`Controller`]) and `daemon.rs`. Depends on the pieces of
//! the services it uses ([`ConnectDeps`]: session, tokens, spclient, Web API, player, HTTP
//! client, the dealer URL); [`Connect::start`] takes them from the [`Services`] bundle. Never
//! depends on UI code or the simulator.
//!
//! This file holds the handle, its configuration and the start-up; the parts run in
//! `service/commands.rs` (the worker turning dealer command requests into remote commands),
//! `service/task.rs` (the task: registration, state reports, cluster pushes, the published
//! device list and remote playback) and `service/control.rs` (the task's controller requests:
//! transfer, commands and volume to other devices).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use super::dealer::{Dealer, DealerConfig, TokenSource};
use super::state::{self, ThisDevice};
use super::{
    ConnectEvent, ConnectLink, Controller, Device, DeviceOrigin, RemoteControl, RemotePlayback,
};
use crate::api::{ApiError, SpClient, TokenProvider, WebApi};
use crate::player::Player;
use crate::services::Services;
use crate::session::Session;

mod commands;
mod control;
mod task;

pub use librespot_protocol::devices::DeviceType;

use commands::Worker;
use task::Task;

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
