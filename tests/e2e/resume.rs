//! Nothing lost (issue 11): the real TUI binary in tmux, signed in against `tonearm sim` (its
//! own process), started by the phone on the demo album; paused, seeked while paused and its
//! volume turned down; then `kill -9` (no exit path runs, only what was already on disk
//! counts). Started again in the same home, it restores the same track, the position within
//! 1 s, the volume and the queue, paused.
//!
//! Without tmux the test returns early with a printed reason, and fails under `CI=true`;
//! `scripts/setup.sh test` installs it.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use tonearm_sim::remote::{Phone, PhoneConfig};
use tonearm_testkit::process::{Home, SignedIn};
use tonearm_testkit::require_tool;
use tonearm_testkit::tmux::{clock_seconds, clock_times, Tmux};

const BIN: &str = env!("CARGO_BIN_EXE_tonearm");
const NAME: &str = "Resume TUI";
/// Generous: the machine running the tests may be loaded.
const WAIT: Duration = Duration::from_secs(90);

fn wait_for(tmux: &Tmux, what: &str, home: &Home, f: impl Fn(&str) -> bool) -> String {
    tmux.wait_for(what, WAIT, || format!("log:\n{}", home.log()), f)
}

/// The now-playing bar: the last lines of the screen.
fn bar(screen: &str) -> Vec<&str> {
    let lines: Vec<&str> = screen.lines().collect();
    lines[lines.len().saturating_sub(6)..].to_vec()
}

/// The first `m:ss` time on the now-playing bar (the position), in seconds.
fn bar_position(screen: &str) -> Option<u64> {
    bar(screen)
        .into_iter()
        .find_map(|line| clock_times(line).first().and_then(|t| clock_seconds(t)))
}

/// `vol N%` on the now-playing bar.
fn bar_volume(screen: &str) -> Option<u32> {
    bar(screen).iter().find_map(|l| {
        let at = l.find("vol ")?;
        let rest = &l[at + 4..];
        rest[..rest.find('%')?].trim().parse().ok()
    })
}

fn shows_track(screen: &str, name: &str) -> bool {
    bar(screen).iter().any(|l| l.contains(name))
}

/// The TUI in a fresh tmux server in `home` (the pane's process is the TUI itself: `exec`).
fn start_tui(home: &Home, args: &[String]) -> Tmux {
    home.tmux(
        (120, 40),
        &format!(
            "exec env TERM=xterm-256color {BIN} {} --sink null --device-name '{NAME}'",
            args.join(" ")
        ),
    )
}

#[test]
fn kill_9_while_paused_after_a_seek_restores_track_position_volume_and_queue() {
    if !require_tool(
        "tmux",
        "the kill -9 test runs the TUI in a tmux pane (scripts/setup.sh test installs it)",
    ) {
        return;
    }
    let (home, sim, args, user, password) = SignedIn::start(BIN).into_parts();
    let tracks: Vec<(String, String, u64)> = sim.info["demo_tracks"]
        .as_array()
        .expect("demo tracks")
        .iter()
        .map(|t: &Value| {
            (
                t["uri"].as_str().expect("uri").to_owned(),
                t["name"].as_str().expect("name").to_owned(),
                t["duration_ms"].as_u64().expect("duration"),
            )
        })
        .collect();
    let album = sim.info["demo_album"].as_str().expect("album").to_owned();
    // The second track of the album: not the queue's first, long enough to seek 5 s in.
    let (_, title, duration_ms) = tracks[1].clone();
    assert!(duration_ms >= 10_000, "{title} is {duration_ms} ms");

    let tmux = start_tui(&home, &args);
    wait_for(&tmux, "the library", &home, |s| s.contains("Demo Mix"));

    // The phone starts the album on the TUI at its second track.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let base = sim.info["spclient"].as_str().expect("spclient").to_owned();
    rt.block_on(async {
        let phone = tonearm_testkit::within(
            20,
            Phone::connect(PhoneConfig::new(&base, &user, &password)),
        )
        .await
        .expect("the phone signs in");
        let t0 = Instant::now();
        while !phone
            .devices()
            .await
            .is_ok_and(|l| l.iter().any(|d| d.name == NAME))
        {
            assert!(t0.elapsed() < WAIT, "the TUI registers\n{}", home.log());
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        tonearm_testkit::within(20, phone.play(Some(NAME), &album, Some(1), None))
            .await
            .expect("the phone starts the TUI");
        phone.close().await;
    });
    wait_for(&tmux, "the second track playing", &home, |s| {
        shows_track(s, &title) && bar_position(s).is_some_and(|p| p >= 2)
    });

    // Pause, then seek while paused (+5 s) and turn the volume down three steps.
    tmux.keys(&["Space"]);
    // The pause landed (the bar's ⏸), however long a loaded machine takes.
    let paused = wait_for(&tmux, "the pause on screen", &home, |s| {
        bar(s).iter().any(|l| l.contains('⏸')) && bar_position(s).is_some()
    });
    let paused_at = bar_position(&paused).expect("a position");
    tmux.keys(&[">"]);
    for _ in 0..3 {
        tmux.keys(&["-"]);
        std::thread::sleep(Duration::from_millis(150));
    }
    let before = wait_for(&tmux, "the seek and the volume on screen", &home, |s| {
        bar_position(s).is_some_and(|p| p >= paused_at + 4) && bar_volume(s).is_some()
    });
    // Settled (no more changes on the way), and paused: the position stays put.
    std::thread::sleep(Duration::from_millis(1500));
    let before_b = tmux.capture();
    let position = bar_position(&before_b).expect("a position");
    let volume = bar_volume(&before_b).expect("a volume");
    assert_eq!(bar_position(&before), Some(position), "paused: {before_b}");
    assert!(volume < 60, "three steps down from 60 %: {before_b}");
    assert!(shows_track(&before_b, &title), "{before_b}");

    // kill -9: no exit path, no final save.
    let pid = tmux.pane_pid();
    let killed = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let t0 = Instant::now();
    // Gone, or a zombie until tmux reaps it.
    let alive = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
            st.rsplit(')')
                .next()
                .is_some_and(|r| !r.trim_start().starts_with('Z'))
        })
    };
    while alive() {
        assert!(t0.elapsed() < Duration::from_secs(10), "the TUI is gone");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(tmux);

    // Started again: the same track, paused, within 1 s of the position, the same volume.
    let tmux = start_tui(&home, &args);
    let after = wait_for(&tmux, "the restored track", &home, |s| {
        shows_track(s, &title) && bar_position(s).is_some() && bar_volume(s).is_some()
    });
    let restored = bar_position(&after).expect("a position");
    assert!(
        restored.abs_diff(position) <= 1,
        "restored at {restored} s, killed at {position} s\n{after}"
    );
    assert_eq!(bar_volume(&after), Some(volume), "{after}");
    std::thread::sleep(Duration::from_millis(1500));
    let still = tmux.capture();
    assert_eq!(
        bar_position(&still),
        Some(restored),
        "restored paused: {still}"
    );
    // The queue: the album's tracks, in order, in the queue pane.
    tmux.keys(&["3"]);
    let queue = wait_for(&tmux, "the queue pane", &home, |s| {
        tracks[..4].iter().all(|(_, n, _)| s.contains(n.as_str()))
    });
    let rows: Vec<usize> = tracks[..4]
        .iter()
        .filter_map(|(_, n, _)| queue.lines().position(|l| l.contains(n.as_str())))
        .collect();
    assert_eq!(rows.len(), 4, "{queue}");
    assert!(
        rows.windows(2).all(|w| w[0] < w[1]),
        "in album order: {queue}"
    );
    assert!(!home.log().contains("panicked"), "{}", home.log());
}
