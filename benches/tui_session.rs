//! TUI benchmarks (issue 5 §4), on the release binary in a tmux pane against a simulator that
//! runs in this bench process (so the client's CPU and memory are measured alone):
//!
//! * start → first full frame with a cached library: the runtime logs the time from process
//!   start to the first frame that shows the library at info, "startup: first frame with the
//!   library" (the library comes from the cache on disk; the network is still connecting then);
//! * CPU (utime + stime from `/proc/<pid>/stat`) over 30 s while idle, while playing, and while
//!   paused, with the TUI open;
//! * RSS (`VmRSS`) while playing with a 10k-track library;
//! * wake-ups while playing: context switches per second of each thread (what costs CPU);
//! * RSS while playing again after a restart that restores the 10k-track queue the previous
//!   phase left in `queue.json` (a restored queue must cost what a fresh one does).
//!
//! Needs tmux (`make bench` installs it); prints why and exits otherwise, and fails under
//! `CI=true`.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::process::Stdio;
use std::time::Duration;

use tonearm_sim::{CatalogSpec, SimConfig};
use tonearm_testkit::process::{endpoint_args, info_json, output_with_stdin, Home};
use tonearm_testkit::tmux::Tmux;
use tonearm_testkit::{cpu_percent, vm_mib, wait_until_blocking};

const BIN: &str = env!("CARGO_BIN_EXE_tonearm");
const LIBRARY_TRACKS: usize = 10_000;
const WINDOW: Duration = Duration::from_secs(30);
const STARTS: usize = 5;

/// The shell command line that runs the TUI (with `extra_env`, `VAR=value …`) against the
/// simulator.
fn tui_line(endpoint_args: &[String], extra_env: &str) -> String {
    let mut line = format!("exec env TERM=xterm-256color {extra_env} {BIN}");
    for a in endpoint_args {
        line.push_str(&format!(" '{a}'"));
    }
    // The budget (product.md: "CPU while playing 160 kbps with the TUI open ≤ 1 %") is for
    // 160 kbps; the default (320 kbps) costs the decoder about a third more.
    line.push_str(" --sink null --bitrate 160");
    line
}

/// The last "startup: first frame with the library" figure in the log.
fn library_frame_ms(log: &str) -> Option<f64> {
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("startup: first frame with the library"))?;
    let at = line.find("ms=")? + 3;
    line[at..].split_whitespace().next()?.parse().ok()
}

/// Context switches (voluntary + involuntary) of each thread of `pid`, by thread name.
fn thread_switches(pid: u32) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let dir = task.path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        let n = status
            .lines()
            .filter(|l| l.contains("ctxt_switches"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum();
        out.push((name.trim().to_string(), n));
    }
    out
}

/// "name n/s" for each thread name (summed over threads of that name) between two readings.
fn switches_per_second(
    before: &[(String, u64)],
    after: &[(String, u64)],
    window: Duration,
) -> String {
    let total = |list: &[(String, u64)], name: &str| -> u64 {
        list.iter().filter(|(n, _)| n == name).map(|(_, c)| c).sum()
    };
    let mut by_name: Vec<(String, u64)> = Vec::new();
    for (name, _) in after {
        if !by_name.iter().any(|(b, _)| b == name) {
            let n = total(after, name).saturating_sub(total(before, name));
            by_name.push((name.clone(), n));
        }
    }
    by_name
        .iter()
        .map(|(name, n)| format!("{name} {:.1}/s", *n as f64 / window.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Once the library refresh the TUI started (its log past `log_from`) is done: the library
/// pane, next section, into Liked Songs, play it (the whole list becomes the queue).
fn play_liked_songs(home: &Home, tmux: &Tmux, log_from: usize) {
    wait_until_blocking("the library refresh", 120, || {
        home.log()[log_from..].contains("library refreshed")
    });
    for key in ["1", "l", "Enter", "Enter"] {
        tmux.keys(&[key]);
    }
}

fn main() {
    if !tonearm_testkit::require_tool(
        "tmux",
        "the TUI bench runs tonearm in a tmux pane (make bench installs it)",
    ) {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt.block_on(tonearm_testkit::sim_with(SimConfig {
        catalog: CatalogSpec::Synthetic {
            tracks: LIBRARY_TRACKS,
        },
        library_tracks: LIBRARY_TRACKS,
        ..SimConfig::default()
    }));
    let account = tonearm_testkit::premium(&sim).clone();
    let home = Home::new(BIN);
    let endpoint_args = endpoint_args(&info_json(&sim));
    let command = || {
        let mut c = home.command();
        c.args(&endpoint_args);
        c
    };

    // Sign in and fill the library cache with the CLI.
    let login = output_with_stdin(
        command().args(["login", "--username", &account.username, "--password-stdin"]),
        Some(&format!("{}\n", account.password)),
    );
    assert!(login.status.success(), "login failed");
    let lib = command()
        .args(["library", "--refresh"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(lib.success(), "library failed");

    // Start → first frame with the cached library, a few times.
    let mut firsts = Vec::new();
    for _ in 0..STARTS {
        let before = home.log().len();
        let tmux = home.tmux((120, 40), &tui_line(&endpoint_args, ""));
        wait_until_blocking("the first frame with the library", 60, || {
            library_frame_ms(&home.log()[before..]).is_some()
        });
        firsts.push(library_frame_ms(&home.log()[before..]).unwrap());
        tmux.keys(&["C-c"]);
        std::thread::sleep(Duration::from_millis(500));
        drop(tmux);
    }
    firsts.sort_by(f64::total_cmp);
    println!(
        "tui_session: start → first frame with a cached library ({LIBRARY_TRACKS} tracks): \
         median {:.1} ms (min {:.1}, max {:.1}; target ≤ 50 ms)",
        firsts[firsts.len() / 2],
        firsts[0],
        firsts[firsts.len() - 1]
    );

    // CPU idle, playing, paused; RSS while playing.
    let before = home.log().len();
    // `TUI_BENCH_ENV="MALLOC_ARENA_MAX=2"` and the like: A/B runs of the same measurement.
    let extra = std::env::var("TUI_BENCH_ENV").unwrap_or_default();
    let tmux = home.tmux((120, 40), &tui_line(&endpoint_args, &extra));
    let pid = tmux.pane_pid();
    wait_until_blocking("the library refresh", 120, || {
        home.log()[before..].contains("library refreshed")
    });
    std::thread::sleep(Duration::from_secs(2));
    let idle = cpu_percent(pid, WINDOW);
    println!("tui_session: CPU idle with the TUI open over 30 s: {idle:.2} % (target ~0)");

    // Play Liked Songs (the whole 10k-track list becomes the queue, so playback goes on for the
    // whole window): the library pane, next section, into the list, play.
    tmux.keys(&["1"]);
    tmux.keys(&["l"]);
    tmux.keys(&["Enter"]);
    tmux.keys(&["Enter"]);
    let bar = |glyph: &str| {
        tmux.capture()
            .lines()
            .rev()
            .take(6)
            .any(|l| l.contains(glyph))
    };
    wait_until_blocking("playback", 60, || bar("▶"));
    std::thread::sleep(Duration::from_secs(2));
    let rss0 = vm_mib(pid, "VmRSS");
    let switches0 = thread_switches(pid);
    let playing = cpu_percent(pid, WINDOW);
    let switches1 = thread_switches(pid);
    let rss = vm_mib(pid, "VmRSS").max(rss0);
    // Code and other file pages (the binary's text: scripts/hot-text.ld) against the heap.
    let (anon, file) = (vm_mib(pid, "RssAnon"), vm_mib(pid, "RssFile"));
    println!("tui_session: CPU while playing 160 kbps over 30 s: {playing:.2} % (target ≤ 1 %)");
    println!(
        "tui_session: wake-ups while playing (context switches per second, by thread): {}",
        switches_per_second(&switches0, &switches1, WINDOW)
    );
    println!(
        "tui_session: RSS while playing with a {LIBRARY_TRACKS}-track library: {rss:.1} MB \
         (target ≤ 30 MB; at the end {anon:.1} MB anonymous, {file:.1} MB file-backed)"
    );

    tmux.keys(&["Space"]);
    wait_until_blocking("pause", 30, || bar("⏸"));
    std::thread::sleep(Duration::from_secs(2));
    let paused = cpu_percent(pid, WINDOW);
    println!("tui_session: CPU paused with the TUI open over 30 s: {paused:.2} % (target ~0)");

    tmux.keys(&["C-c"]);
    std::thread::sleep(Duration::from_millis(500));
    drop(tmux);

    desktop_phase(&home, &endpoint_args, &extra);
    restored_phase(&home, &endpoint_args, &extra);
    rt.block_on(sim.shutdown());
}

/// Issue 14's rows: CPU while playing and RSS with MPRIS served on a (private) session bus and
/// the playing track's cover on screen and cached on disk (half-blocks: tmux passes no
/// graphics protocol through).
fn desktop_phase(home: &Home, endpoint_args: &[String], extra: &str) {
    if !tonearm_testkit::require_tool(
        "dbus-run-session",
        "the MPRIS phase runs a private session bus (make bench installs dbus)",
    ) {
        return;
    }
    let bus = tonearm_testkit::dbus::SessionBus::start(home);
    let before = home.log().len();
    let env = format!("DBUS_SESSION_BUS_ADDRESS={} {extra}", bus.address());
    let tmux = home.tmux((120, 40), &tui_line(endpoint_args, &env));
    let pid = tmux.pane_pid();
    play_liked_songs(home, &tmux, before);
    wait_until_blocking("playback", 60, || {
        tmux.capture()
            .lines()
            .rev()
            .take(6)
            .any(|l| l.contains('▶'))
    });
    // The measurement is only what it says when MPRIS is on the bus and a cover is cached.
    let names = std::process::Command::new("dbus-send")
        .env("DBUS_SESSION_BUS_ADDRESS", bus.address())
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.ListNames",
        ])
        .output()
        .expect("dbus-send runs");
    assert!(
        String::from_utf8_lossy(&names.stdout).contains("org.mpris.MediaPlayer2.tonearm"),
        "tonearm is not on the session bus:\n{}",
        &home.log()[before..]
    );
    let art = home.path().join("cache").join("tonearm").join("art");
    wait_until_blocking("the cover cached", 60, || {
        std::fs::read_dir(&art).is_ok_and(|d| d.count() > 0)
    });
    std::thread::sleep(Duration::from_secs(2));
    let rss0 = vm_mib(pid, "VmRSS");
    let playing = cpu_percent(pid, WINDOW);
    let rss = vm_mib(pid, "VmRSS").max(rss0);
    println!(
        "tui_session: CPU while playing 160 kbps with MPRIS on a session bus and the cover on \
         screen, over 30 s: {playing:.2} % (target ≤ 1 %)"
    );
    println!(
        "tui_session: RSS while playing with MPRIS and a cover cached: {rss:.1} MB \
         (target ≤ 30 MB)"
    );
    tmux.keys(&["C-c"]);
    std::thread::sleep(Duration::from_millis(500));
    drop(tmux);
    drop(bus);
}

/// RSS while playing Liked Songs after a restart on the same home: the queue the previous
/// phase played (10k tracks) is restored from `queue.json`, paused, before Liked Songs
/// replaces it.
fn restored_phase(home: &Home, endpoint_args: &[String], extra: &str) {
    let queue_file = home.path().join("state").join("tonearm").join("queue.json");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&queue_file).expect("queue.json was saved"))
            .expect("queue.json is JSON");
    let restored = saved["items"].as_array().map_or(0, Vec::len);
    assert!(
        restored >= LIBRARY_TRACKS,
        "the previous phase left a {restored}-track queue"
    );
    let before = home.log().len();
    let tmux = home.tmux((120, 40), &tui_line(endpoint_args, extra));
    let pid = tmux.pane_pid();
    let title = format!("Queue · {restored} tracks");
    wait_until_blocking("the restored queue on screen", 60, || {
        tmux.capture().contains(&title)
    });
    play_liked_songs(home, &tmux, before);
    // The bar's line under "Now playing" (the restored queue's rows show ▶ at its current
    // item, which may be among the last lines on screen).
    wait_until_blocking("playback", 60, || {
        tmux.capture()
            .lines()
            .skip_while(|l| !l.contains("Now playing"))
            .nth(1)
            .is_some_and(|l| l.contains('▶'))
    });
    std::thread::sleep(Duration::from_secs(2));
    let rss0 = vm_mib(pid, "VmRSS");
    // Measured over the same window as the fresh start's figure.
    std::thread::sleep(WINDOW);
    let rss = vm_mib(pid, "VmRSS").max(rss0);
    println!(
        "tui_session: RSS while playing after a restart with a restored {restored}-track \
         queue: {rss:.1} MB (target ≤ 30 MB)"
    );
    tmux.keys(&["C-c"]);
    std::thread::sleep(Duration::from_millis(500));
    drop(tmux);
}
