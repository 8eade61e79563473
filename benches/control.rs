//! `make bench`: the local control API's latencies on loopback, measured at the audio output
//! (a real-time-paced recording sink) of a signed-in tonearm that serves the API the way the
//! daemon does (its intents applied through `control::apply_intents`):
//!
//! * `pause` over the API (the HTTP request `tonearm ctl` makes, on the Unix socket) → the
//!   answer, the player's status saying paused, and the sink's last samples (0 when the pause
//!   landed before the sink's next real-time chunk was due); median over 100;
//! * `tonearm ctl pause` as a process (start-up included) → the sink stops; median over 30;
//! * a phone's `pause` (phone → simulator → dealer → tonearm) → the `paused` event on the
//!   WebSocket stream; median over 100.
//!
//! A plain bench binary (no criterion); figures go to README/CHANGELOG.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use tonearm::config::ControlSettings;
use tonearm::local_api::client::{Events, Target};
use tonearm::local_api::schema::Request;
use tonearm::local_api::{Event, Identity, LocalApi};
use tonearm::player::PlayState;
use tonearm_sim::remote::Phone;
use tonearm_testkit::process::Home;
use tonearm_testkit::{phone_config, poll_fast, run_bench, summary_line, Node};

fn stats(name: &str, v: Vec<Duration>) {
    println!("{}", summary_line(name, 48, v));
}

/// Reads the event stream until an event `want` accepts (10 s for each).
async fn next_event(events: &mut Events, want: impl Fn(&Event) -> bool) {
    loop {
        let (_, ev) = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if want(&ev) {
            return;
        }
    }
}

/// Waits until no sample has reached the sink for 150 ms; returns when the last one did.
async fn silent_since(node: &Node, t0: Instant) -> Duration {
    loop {
        let last = node.recording.lock().unwrap().last_write().unwrap();
        if last.elapsed() > Duration::from_millis(150) {
            return last.saturating_duration_since(t0);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn resume(node: &Node, target: &Target) {
    let t = target.clone();
    tokio::task::spawn_blocking(move || t.command(&Request::Play).unwrap())
        .await
        .unwrap();
    let t0 = Instant::now();
    poll_fast("audio after resume", || {
        node.recording
            .lock()
            .unwrap()
            .first_write_after(t0)
            .is_some()
    })
    .await;
}

async fn run() {
    let sim = tonearm_testkit::sim().await;
    let album = sim.info().demo_album.clone();
    let node = Node::start(&sim, "bench-control").await;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("control.sock");
    let settings = ControlSettings {
        serve: true,
        socket: Some(socket.clone()),
        ..ControlSettings::default()
    };
    let api = LocalApi::start_at(
        &socket,
        &settings,
        Identity {
            device_id: node.id.clone(),
            device_name: "bench-control".into(),
        },
    )
    .await
    .unwrap();
    api.attach(&node.services);
    api.attach_connect(node.connect.clone());
    // The daemon's hook: the API's intents through the one core.
    let (a, player) = (api.clone(), node.services.player.clone());
    tokio::spawn(async move {
        loop {
            let intents = a.next_intents().await;
            tonearm::control::apply_intents(&player, intents);
        }
    });
    let target = Target::Unix(socket.clone());
    let t = target.clone();
    let uri = album.clone();
    tokio::task::spawn_blocking(move || {
        t.command(&Request::PlayUri {
            uris: vec![uri],
            index: 0,
        })
        .unwrap()
    })
    .await
    .unwrap();
    poll_fast("playing", || {
        node.status().borrow().state == PlayState::Playing
    })
    .await;
    // Stay on this track whatever happens.
    let t = target.clone();
    tokio::task::spawn_blocking(move || {
        t.command(&Request::Repeat {
            mode: tonearm::local_api::schema::Repeat::One,
        })
        .unwrap()
    })
    .await
    .unwrap();

    // The API's pause, as `ctl` sends it.
    let mut api_pauses = Vec::new();
    let mut answered = Vec::new();
    let mut status_paused = Vec::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(60)).await;
        let t = target.clone();
        let t0 = Instant::now();
        tokio::task::spawn_blocking(move || t.command(&Request::Pause).unwrap())
            .await
            .unwrap();
        answered.push(t0.elapsed());
        poll_fast("the player paused", || {
            node.status().borrow().state == PlayState::Paused
        })
        .await;
        status_paused.push(t0.elapsed());
        api_pauses.push(silent_since(&node, t0).await);
        resume(&node, &target).await;
    }

    // `tonearm ctl pause`, the process.
    let home = Home::new(env!("CARGO_BIN_EXE_tonearm"));
    let mut ctl_pauses = Vec::new();
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(60)).await;
        let mut cmd = home.command();
        cmd.arg("--control-socket")
            .arg(&socket)
            .args(["ctl", "pause"]);
        let t0 = Instant::now();
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        ctl_pauses.push(silent_since(&node, t0).await);
        resume(&node, &target).await;
    }

    // A phone's pause → the `paused` event.
    let phone = Phone::connect(phone_config(&sim)).await.unwrap();
    let mut events = target.events().await.unwrap();
    let mut event_latency = Vec::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(60)).await;
        let t0 = Instant::now();
        phone.pause(Some(&node.id)).await.unwrap();
        next_event(&mut events, |ev| matches!(ev, Event::Paused { .. })).await;
        event_latency.push(t0.elapsed());
        phone.resume(Some(&node.id)).await.unwrap();
        next_event(&mut events, |ev| matches!(ev, Event::Playing { .. })).await;
    }

    println!("Local control API on loopback (Unix socket, HTTP/JSON + WebSocket events)");
    stats("API pause → answer", answered);
    stats("API pause → player status paused", status_paused);
    stats("API pause → sink stops receiving samples", api_pauses);
    stats("`tonearm ctl pause` (process) → sink stops", ctl_pauses);
    stats("phone pause → `paused` event on the stream", event_latency);

    phone.close().await;
    api.shutdown();
    node.stop().await;
    sim.shutdown().await;
}

fn main() {
    run_bench(run());
}
