//! A whole signed-in tonearm Connect device in one call, as the e2e Connect tests and the
//! Connect bench need it: the premium account's session, [`Services`] over a real-time
//! [`Tape`], the Connect service registered under a device name, and the command loop that
//! carries every phone command to the player (what the daemon does) and reports it. Also the
//! options of an in-process headless daemon ([`daemon_options`]) and the daemon itself run on
//! a task ([`spawn_daemon`]).
//!
//! The command loop is the one place here that turns a Connect command into player
//! operations; keep it the only one. Depends on `tonearm` (services, connect, player) and the
//! simulator's info.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};
use tonearm::api::metadata::Bitrate;
use tonearm::audio::sink::SinkSpec;
use tonearm::config::Config;
use tonearm::connect::{Connect, ConnectConfig, ConnectEvent, RemoteCommand};
use tonearm::player::{Player, PlayerStatus};
use tonearm::services::{PlaybackOptions, Services};
use tonearm::session::{Credentials, SessionConfig};
use tonearm_sim::Simulator;

use crate::sink::{Recording, Tape};

/// How a [`Node`] differs from the default (the simulator's dealer, a real-time sink).
#[derive(Debug, Clone, Default)]
pub struct NodeOptions {
    /// Reach the dealer here (e.g. a proxy the test can cut) instead of the simulator's.
    pub dealer: Option<String>,
}

/// A signed-in tonearm: services over a recording sink, Connect, and a command loop.
pub struct Node {
    /// The Connect device id (derived from the name).
    pub id: String,
    pub services: Services,
    pub connect: Arc<Connect>,
    /// What the player wrote, paced at real time.
    pub recording: Arc<Mutex<Recording>>,
    /// Every command the node applied, in order.
    pub applied: mpsc::UnboundedReceiver<RemoteCommand>,
}

impl Node {
    /// A node called `name` on `sim`'s premium account.
    pub async fn start(sim: &Simulator, name: &str) -> Node {
        Node::start_with(sim, name, NodeOptions::default()).await
    }

    /// [`Node::start`] with `opts`.
    pub async fn start_with(sim: &Simulator, name: &str, opts: NodeOptions) -> Node {
        let mut session_config = crate::session_config(sim, name);
        if opts.dealer.is_some() {
            session_config.endpoints.dealer = opts.dealer;
        }
        Node::start_signed_in(session_config, crate::premium_credentials(sim), name).await
    }

    /// A node called `name` on the premium account of the simulator that `info` describes (a
    /// `tonearm sim` child process, [`crate::process::SimProcess`]: one a test or bench can
    /// stop and start again on the same ports).
    pub async fn start_from_info(info: &serde_json::Value, name: &str) -> Node {
        let mut session_config = SessionConfig::new(
            crate::process::endpoints_from_info(info),
            tonearm::config::device_id_for(name),
        );
        session_config.timeouts.connect = std::time::Duration::from_secs(3);
        let (username, password) = crate::process::account_in(info, "premium");
        let credentials = Credentials::with_password(&username, &password);
        Node::start_signed_in(session_config, credentials, name).await
    }

    async fn start_signed_in(
        session_config: SessionConfig,
        credentials: Credentials,
        name: &str,
    ) -> Node {
        let endpoints = session_config.endpoints.clone();
        let device_id = session_config.device_id.clone();
        let session = crate::sign_in_with(session_config, credentials).await;
        let (factory, recording) = Tape::real_time().factory();
        let config = device_config(name, &device_id, endpoints);
        let playback = tape_playback();
        let (services, mut player_events) =
            Services::start_with_sink(config, session, &playback, factory);
        tokio::spawn(async move { while player_events.recv().await.is_some() {} });
        let mut cc = ConnectConfig::new(device_id.clone(), name);
        cc.initial_volume = u16::MAX;
        let (connect, events) = crate::within(20, Connect::start(&services, cc))
            .await
            .expect("connect starts");
        let (tx, applied) = mpsc::unbounded_channel();
        tokio::spawn(command_loop(services.player.clone(), events, tx));
        Node {
            id: device_id,
            services,
            connect,
            recording,
            applied,
        }
    }

    /// The player.
    pub fn player(&self) -> &Player {
        &self.services.player
    }

    /// The player's status.
    pub fn status(&self) -> watch::Receiver<PlayerStatus> {
        self.services.player.status()
    }

    /// How many samples reached the sink so far.
    pub fn samples(&self) -> usize {
        self.recording.lock().unwrap().len()
    }

    /// Deregisters the device and stops the services.
    pub async fn stop(self) {
        self.connect.shutdown().await;
        self.services.shutdown().await;
    }
}

/// Carries each Connect command to the player, then reports it on `applied`; notices go to
/// stderr (the test's output).
async fn command_loop(
    player: Player,
    mut events: mpsc::UnboundedReceiver<ConnectEvent>,
    applied: mpsc::UnboundedSender<RemoteCommand>,
) {
    while let Some(ev) = events.recv().await {
        match ev {
            ConnectEvent::Command(c) => {
                tonearm::control::apply_remote(&player, &c);
                let _ = applied.send(c);
            }
            ConnectEvent::Notice { error, text } => eprintln!("notice (error {error}): {text}"),
        }
    }
}

/// The client configuration of a device called `name` with `device_id` (the session's)
/// reaching `endpoints`; everything else default.
pub fn device_config(name: &str, device_id: &str, endpoints: tonearm::config::Endpoints) -> Config {
    Config {
        device_name: name.into(),
        device_id: device_id.into(),
        endpoints,
        ..Config::default()
    }
}

/// Playback options for a device whose sink a [`Tape`] factory replaces: 160 kbps, full volume,
/// default normalisation.
pub fn tape_playback() -> PlaybackOptions {
    PlaybackOptions {
        sink: SinkSpec::Null,
        bitrate: Bitrate::B160,
        volume: u16::MAX,
        normalisation: Default::default(),
    }
}

/// The options of a headless daemon (`tonearm::daemon::run`) as the in-process tests run it: a
/// speaker called `name` with device id `id`, the null sink at 160 kbit/s and full volume;
/// zeroconf off (bound to 127.0.0.1, never advertised) unless the caller turns it on.
pub fn daemon_options(name: &str, id: &str) -> tonearm::daemon::DaemonOptions {
    tonearm::daemon::DaemonOptions {
        name: name.into(),
        device_id: id.into(),
        device_type: tonearm::connect::service::DeviceType::SPEAKER,
        playback: PlaybackOptions {
            sink: SinkSpec::Null,
            bitrate: Bitrate::B160,
            volume: u16::MAX,
            normalisation: Default::default(),
        },
        zeroconf: false,
        advertise: false,
        zeroconf_port: 0,
        zeroconf_bind: std::net::Ipv4Addr::LOCALHOST.into(),
        store_credentials: false,
        accept: None,
        zeroconf_store: None,
        resume_points: None,
    }
}

/// A headless daemon running in-process: what it reported once up, and how to stop it.
pub struct InProcessDaemon {
    pub started: tonearm::daemon::Started,
    /// Send (or drop) to stop it.
    pub stop: tokio::sync::oneshot::Sender<()>,
    /// `tonearm::daemon::run`'s result.
    pub task: tokio::task::JoinHandle<Result<(), tonearm::daemon::DaemonError>>,
}

/// Runs `tonearm::daemon::run` on a task with `config`, `credentials` (`None`: it waits for a
/// zeroconf login) and `opts`, and waits (30 s at most) until it is up.
pub async fn spawn_daemon(
    config: Config,
    credentials: Option<Credentials>,
    opts: tonearm::daemon::DaemonOptions,
) -> InProcessDaemon {
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(tonearm::daemon::run(
        config,
        credentials,
        None,
        opts,
        move |st| {
            let _ = started_tx.send(st.clone());
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    let started = crate::within(30, started_rx)
        .await
        .expect("the daemon is up (or it failed: see its task)");
    InProcessDaemon {
        started,
        stop,
        task,
    }
}
