//! The device guard (issue 13 §3): two tonearm daemons (in process, each with its own session,
//! Connect device and null sink) signed in to the same simulator account; the scripted phone
//! starts the second one playing. With `action = "pause"` the first pauses it within
//! `interval_s + 2` s and again after the phone resumes it; with `notify` nothing is paused but
//! the `intruder` event arrives on the guarding daemon's control-API stream; a device allowed by
//! id is left alone. The phone watches the cluster through its own dealer pushes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use librespot_protocol::connect::Cluster;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonearm::config::{Config, ControlSettings, GuardAction, GuardSettings};
use tonearm::daemon::{DaemonOptions, Started};
use tonearm::local_api::client::Target;
use tonearm::local_api::schema::Event;
use tonearm_sim::remote::Phone;
use tonearm_sim::Simulator;
use tonearm_testkit::phone_config;

use crate::common::{sim, within};

const INTERVAL_S: u64 = 2;

/// A running in-process daemon; stopped (and awaited) by [`Daemon::stop`]. Also used by the
/// hooks test.
pub(crate) struct Daemon {
    pub(crate) id: String,
    pub(crate) started: Started,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Daemon {
    async fn start(
        s: &Simulator,
        name: &str,
        guard: Option<GuardSettings>,
        socket: Option<PathBuf>,
    ) -> Daemon {
        Daemon::start_with(s, name, socket, |c| c.guard = guard).await
    }

    /// A daemon named `name` signed in to the premium account, serving the control API on
    /// `socket` when given; `tweak` sets the rest of its config.
    pub(crate) async fn start_with(
        s: &Simulator,
        name: &str,
        socket: Option<PathBuf>,
        tweak: impl FnOnce(&mut Config),
    ) -> Daemon {
        let id = tonearm::config::device_id_for(name);
        let mut config = Config {
            device_name: name.into(),
            device_id: id.clone(),
            endpoints: tonearm_testkit::endpoints(s),
            control: ControlSettings {
                serve: socket.is_some(),
                socket,
                ..Default::default()
            },
            ..Default::default()
        };
        tweak(&mut config);
        let opts = DaemonOptions {
            name: name.into(),
            device_id: id.clone(),
            device_type: tonearm::connect::service::DeviceType::SPEAKER,
            playback: tonearm::services::PlaybackOptions {
                sink: tonearm::audio::sink::SinkSpec::Null,
                bitrate: tonearm::api::metadata::Bitrate::B160,
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
        };
        let credentials = tonearm_testkit::premium_credentials(s);
        let (started_tx, started_rx) = oneshot::channel::<Started>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let r = tonearm::daemon::run(
                config,
                Some(credentials),
                None,
                opts,
                move |st| {
                    let _ = started_tx.send(st.clone());
                },
                async move {
                    let _ = stop_rx.await;
                },
            )
            .await;
            if let Err(e) = r {
                panic!("daemon failed: {e}");
            }
        });
        let started = within(30, started_rx).await.unwrap();
        Daemon {
            id,
            started,
            stop: Some(stop_tx),
            task,
        }
    }

    pub(crate) async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(15), &mut self.task).await;
    }
}

fn guard(action: GuardAction, allowed: &[&str]) -> GuardSettings {
    GuardSettings {
        allowed: allowed.iter().map(|s| s.to_string()).collect(),
        action,
        interval: Duration::from_secs(INTERVAL_S),
    }
}

pub(crate) fn active_is(c: &Cluster, id: &str) -> bool {
    c.active_device_id == id
}

pub(crate) fn playing(c: &Cluster) -> bool {
    c.player_state
        .as_ref()
        .is_some_and(|p| p.is_playing && !p.is_paused)
}

/// The phone, once both devices are on the account's cluster.
pub(crate) async fn phone_seeing(s: &Simulator, ids: &[&str]) -> Phone {
    let p = within(20, Phone::connect(phone_config(s)))
        .await
        .expect("the phone signs in");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = p.devices().await.expect("devices");
        if ids.iter().all(|id| list.iter().any(|d| d.id == *id)) {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "devices never registered: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Plays the demo album on `id` and waits (pushes) until the cluster shows it active and playing.
pub(crate) async fn play_on(p: &mut Phone, s: &Simulator, id: &str) -> Instant {
    let album = s.info().demo_album.clone();
    within(20, p.play(Some(id), &album, Some(0), None))
        .await
        .expect("the phone starts the device");
    let t0 = Instant::now();
    p.wait_for(Duration::from_secs(15), |c| active_is(c, id) && playing(c))
        .await
        .expect("the device plays");
    t0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_guard_pauses_an_intruder_and_again_after_it_is_resumed() {
    let s = sim().await;
    let warden = Daemon::start(
        &s,
        "e2e-guard-warden",
        Some(guard(GuardAction::Pause, &[])),
        None,
    )
    .await;
    let intruder = Daemon::start(&s, "e2e-guard-intruder", None, None).await;
    let mut p = phone_seeing(&s, &[&warden.id, &intruder.id]).await;
    let limit = Duration::from_secs(INTERVAL_S + 2);

    let t0 = play_on(&mut p, &s, &intruder.id).await;
    p.wait_for(limit, |c| active_is(c, &intruder.id) && !playing(c))
        .await
        .expect("the guard pauses the intruder within interval_s + 2 s");
    let first = t0.elapsed();

    // The phone resumes it: paused again (when the interval since the last pause is up).
    within(20, p.resume(Some(&intruder.id)))
        .await
        .expect("resume");
    p.wait_for(Duration::from_secs(10), |c| {
        active_is(c, &intruder.id) && playing(c)
    })
    .await
    .expect("the resume lands");
    let t1 = Instant::now();
    p.wait_for(limit, |c| active_is(c, &intruder.id) && !playing(c))
        .await
        .expect("the guard pauses the resumed intruder again within interval_s + 2 s");
    eprintln!(
        "guard: first pause {first:?} after the play, again {:?} after the resume",
        t1.elapsed()
    );
    intruder.stop().await;
    warden.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notify_reports_on_the_event_stream_and_pauses_nothing() {
    let s = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("control.sock");
    // The intruder event reaches the event hooks too.
    let hook_out = dir.path().join("hook-lines");
    let hook = dir.path().join("hook.sh");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\necho \"$TONEARM_EVENT|$TONEARM_DEVICE_ID|$TONEARM_DEVICE_NAME|$TONEARM_GUARD_ACTION\" >> {}\n",
            hook_out.display()
        ),
    )
    .unwrap();
    let warden = Daemon::start_with(&s, "e2e-guard-notifier", Some(socket.clone()), |c| {
        c.guard = Some(guard(GuardAction::Notify, &["some other device"]));
        c.hooks = Some(tonearm::config::HookSettings {
            argv: vec!["/bin/sh".into(), hook.display().to_string()],
            timeout: Duration::from_secs(10),
        });
    })
    .await;
    assert_eq!(
        warden.started.control_socket.as_deref(),
        Some(socket.as_path())
    );
    let intruder = Daemon::start(&s, "e2e-guard-visitor", None, None).await;
    let mut p = phone_seeing(&s, &[&warden.id, &intruder.id]).await;
    let mut events = Target::Unix(socket)
        .events()
        .await
        .expect("the event stream opens");

    play_on(&mut p, &s, &intruder.id).await;
    let got = within(15, async {
        loop {
            match events.next().await {
                Some(Ok((
                    _,
                    Event::Intruder {
                        device_id,
                        device_name,
                        action,
                    },
                ))) => break (device_id, device_name, action),
                Some(Ok(_)) => continue,
                other => panic!("the stream ended before an intruder event: {other:?}"),
            }
        }
    })
    .await;
    assert_eq!(
        got,
        (
            intruder.id.clone(),
            "e2e-guard-visitor".to_string(),
            "notified".to_string()
        )
    );
    // Nothing pauses it: still playing well past interval_s + 2 s.
    tokio::time::sleep(Duration::from_secs(INTERVAL_S + 3)).await;
    let lines = std::fs::read_to_string(&hook_out).unwrap_or_default();
    assert!(
        lines.contains(&format!(
            "intruder|{}|e2e-guard-visitor|notified",
            intruder.id
        )),
        "the intruder hook ran: {lines}"
    );
    let st = p.status().await.expect("status");
    assert_eq!(st["active_device_id"], intruder.id.as_str(), "{st}");
    assert_eq!(st["is_playing"], true, "notify must not pause: {st}");
    intruder.stop().await;
    warden.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_device_allowed_by_id_is_left_alone() {
    let s = sim().await;
    let guest_id = tonearm::config::device_id_for("e2e-guard-friend");
    let warden = Daemon::start(
        &s,
        "e2e-guard-keeper",
        Some(guard(GuardAction::Pause, &[&guest_id])),
        None,
    )
    .await;
    let friend = Daemon::start(&s, "e2e-guard-friend", None, None).await;
    assert_eq!(friend.id, guest_id);
    let mut p = phone_seeing(&s, &[&warden.id, &friend.id]).await;
    play_on(&mut p, &s, &friend.id).await;
    let paused = p
        .wait_for(Duration::from_secs(INTERVAL_S + 3), |c| {
            active_is(c, &friend.id) && !playing(c)
        })
        .await;
    assert!(paused.is_err(), "the allowed device was paused");
    let st = p.status().await.expect("status");
    assert_eq!(st["is_playing"], true, "{st}");
    friend.stop().await;
    warden.stop().await;
}

/// The TUI guards too: `tonearm` in tmux (signed in to a `tonearm sim` process, `[guard]
/// action = "pause"` in its config file) pauses a Connect node the phone starts, and says so on
/// its screen.
#[test]
fn the_tui_pauses_an_intruder_and_shows_it() {
    use tonearm_testkit::process::{
        account_in, endpoint_args, output_with_stdin, Home, SimProcess,
    };
    const BIN: &str = env!("CARGO_BIN_EXE_tonearm");
    if !tonearm_testkit::require_tool("tmux", "the TUI runs in a tmux pane") {
        return;
    }
    let home = Home::new(BIN);
    let mut sim_cmd = home.command();
    sim_cmd.arg("sim");
    let sim = SimProcess::spawn(sim_cmd);
    let args = endpoint_args(&sim.info);
    let (user, password) = account_in(&sim.info, "premium");
    let mut login = home.command();
    login
        .args(&args)
        .args(["login", "--username", &user, "--password-stdin"]);
    let out = output_with_stdin(&mut login, Some(&format!("{password}\n")));
    assert!(out.status.success(), "login: {out:?}");
    std::fs::create_dir_all(home.path().join("config/tonearm")).unwrap();
    std::fs::write(
        home.path().join("config/tonearm/config.toml"),
        format!("[guard]\naction = \"pause\"\ninterval_s = {INTERVAL_S}\n"),
    )
    .unwrap();
    let tmux = home.tmux(
        (160, 40),
        &format!(
            "exec env TERM=xterm-256color {BIN} {} --sink null --device-name 'Guard TUI'",
            args.join(" ")
        ),
    );
    let wait = |what: &str, f: &dyn Fn(&str) -> bool| {
        tmux.wait_for(
            what,
            Duration::from_secs(90),
            || format!("log:\n{}", home.log()),
            f,
        )
    };
    wait("the library", &|s| s.contains("Demo Mix"));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let base = sim.info["spclient"].as_str().unwrap().to_owned();
    let album = sim.info["demo_album"].as_str().unwrap().to_owned();
    let node = rt.block_on(async {
        let node = tonearm_testkit::Node::start_from_info(&sim.info, "e2e-tui-intruder").await;
        let mut p = within(
            20,
            Phone::connect(tonearm_sim::remote::PhoneConfig::new(
                &base, &user, &password,
            )),
        )
        .await
        .expect("the phone signs in");
        let tui_id = loop {
            let list = p.devices().await.expect("devices");
            if let Some(d) = list.iter().find(|d| d.name == "Guard TUI") {
                if list.iter().any(|d| d.id == node.id) {
                    break d.id.clone();
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        assert_ne!(tui_id, node.id);
        within(20, p.play(Some(&node.id), &album, Some(0), None))
            .await
            .expect("the phone starts the node");
        p.wait_for(Duration::from_secs(15), |c| {
            active_is(c, &node.id) && playing(c)
        })
        .await
        .expect("the node plays");
        let t0 = Instant::now();
        p.wait_for(Duration::from_secs(INTERVAL_S + 2), |c| {
            active_is(c, &node.id) && !playing(c)
        })
        .await
        .expect("the TUI's guard pauses the node within interval_s + 2 s");
        eprintln!(
            "TUI guard: paused {:?} after the node was seen playing",
            t0.elapsed()
        );
        node
    });
    wait("the guard's notification", &|s| {
        s.contains("is playing on your account")
    });
    tmux.keys(&["C-c"]);
    rt.block_on(node.stop());
}
