//! The terminal UI end to end, through tmux: `tonearm --demo` in a detached tmux pane (the
//! embedded simulator, audio to a WAV file), driven with `send-keys` and read with
//! `capture-pane`. Audio goes to the null sink, which is paced to real time (a WAV file is
//! written as fast as audio decodes, so the position would race to the end). Also: an invalid user keymap stops `tonearm` before it touches the terminal.
//!
//! Without tmux the TUI test returns early with a printed reason, and fails under `CI=true`;
//! `scripts/setup.sh test` installs it.

use std::time::Duration;

use tonearm_testkit::process::Home;
use tonearm_testkit::require_tool;
use tonearm_testkit::tmux::{clock_times, Tmux};

const BIN: &str = env!("CARGO_BIN_EXE_tonearm");
/// Generous: the machine running the tests may be loaded.
const WAIT: Duration = Duration::from_secs(90);

fn home() -> Home {
    Home::new(BIN)
}

/// A tmux server of our own (socket in `home`) with one 120×40 session running `sh`.
fn tmux(home: &Home) -> Tmux {
    home.tmux((120, 40), "PS1='$ ' sh")
}

/// Polls the screen until `f` holds; panics with the last screen and the log after [`WAIT`].
fn wait_for(tmux: &Tmux, what: &str, home: &Home, f: impl Fn(&str) -> bool) -> String {
    tmux.wait_for(what, WAIT, || format!("log:\n{}", home.log()), f)
}

/// The `m:ss` times in the bottom lines of the screen (the now-playing bar's progress).
fn bar_times(screen: &str) -> Vec<String> {
    let lines: Vec<&str> = screen.lines().collect();
    // The bar sits at the bottom: look at the last lines of the screen.
    lines
        .iter()
        .rev()
        .take(8)
        .flat_map(|line| clock_times(line))
        .map(str::to_owned)
        .collect()
}

#[test]
fn demo_tui_search_play_pause_quit() {
    if !require_tool(
        "tmux",
        "the terminal UI test types into a tmux pane (scripts/setup.sh test installs it)",
    ) {
        return;
    }
    let home = home();
    let tmux = tmux(&home);
    // Type only once the shell shows its prompt: keys typed earlier are echoed by the terminal
    // before the shell runs, and the marker's line then starts with the late prompt.
    wait_for(&tmux, "the prompt", &home, |s| s.trim_end() == "$");
    tmux.type_text("echo PRE-TUI-MARKER");
    tmux.keys(&["Enter"]);
    wait_for(&tmux, "the shell", &home, |s| {
        s.contains("\nPRE-TUI-MARKER")
    });
    tmux.type_text(&format!(
        "TERM=xterm-256color {BIN} --demo --sink null; echo TUI-EXIT=$?"
    ));
    tmux.keys(&["Enter"]);

    // The library: the demo account's playlists.
    wait_for(&tmux, "the demo library", &home, |s| {
        s.contains("Demo Mix") && s.contains("Edge Cases Mix")
    });

    // Search for a demo track and play it.
    tmux.keys(&["2"]); // focuses the search box, ready to type
    tmux.type_text("Middle C Sunrise");
    wait_for(&tmux, "search results", &home, |s| {
        s.matches("Middle C Sunrise").count() >= 2
    });
    tmux.keys(&["Enter"]); // leave the search box, onto the results
    tmux.keys(&["Enter"]); // play the selected (first) result: the track
    let playing = wait_for(&tmux, "the now-playing bar", &home, |s| {
        s.lines()
            .rev()
            .take(6)
            .any(|l| l.contains("Middle C Sunrise"))
            && !bar_times(s).is_empty()
    });
    let before = bar_times(&playing);
    let moved = wait_for(&tmux, "the progress to move", &home, |s| {
        let now = bar_times(s);
        !now.is_empty() && now != before
    });

    // Pause: the position stops.
    tmux.keys(&["Space"]);
    std::thread::sleep(Duration::from_millis(1500));
    let paused_a = bar_times(&tmux.capture());
    std::thread::sleep(Duration::from_millis(2500));
    let paused_b = bar_times(&tmux.capture());
    assert!(
        !paused_a.is_empty(),
        "no progress times on screen after pausing:\n{}",
        tmux.capture()
    );
    assert_eq!(
        paused_a, paused_b,
        "the progress moved while paused; playing screen:\n{moved}"
    );

    // Quit: the shell comes back with the pre-TUI content, and the exit status is 0.
    tmux.keys(&["C-c"]);
    // (The typed command line also contains "TUI-EXIT=$?": look for the echoed status line.)
    let after = wait_for(&tmux, "the shell after quitting", &home, |s| {
        s.lines().any(|l| l.starts_with("TUI-EXIT="))
    });
    assert!(
        after.lines().any(|l| l.trim() == "TUI-EXIT=0"),
        "exit status:\n{after}"
    );
    assert!(
        after.lines().any(|l| l.trim() == "PRE-TUI-MARKER"),
        "the main screen was not restored:\n{after}"
    );
    assert!(
        !after.contains("Demo Mix"),
        "the TUI is still on screen:\n{after}"
    );
    let log = home.log();
    assert!(
        log.contains("INFO"),
        "the TUI wrote no log (so a panic would go unseen):\n{log}"
    );
    assert!(!log.contains("panicked"), "log:\n{log}");
    // The demo wrote only the queue file, and only to its temporary place.
    assert!(!home.path().join("cache/tonearm").exists());
    assert!(!home.path().join("config/tonearm").exists());
}

#[test]
fn invalid_keymap_is_refused_before_the_terminal_is_touched() {
    let home = home();
    let dir = home.path().join("config/tonearm");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("keymap.toml"),
        "[global]\nj = \"down\"\nx = \"no_such_action\"\n",
    )
    .unwrap();

    let out = home.command().arg("--check-config").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "--check-config accepted it: {out:?}");
    assert!(err.contains("keymap.toml:3"), "no file:line in: {err}");
    assert!(err.contains("no_such_action"), "no bad value in: {err}");

    // `tonearm` refuses to start: same message, and no escape sequence reached the terminal.
    let out = home.command().output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "tonearm started anyway: {out:?}");
    assert!(err.contains("keymap.toml:3"), "no file:line in: {err}");
    assert!(
        !out.stdout.contains(&0x1b),
        "the terminal was touched: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );

    // A valid config passes --check-config with a summary.
    std::fs::write(dir.join("keymap.toml"), "[global]\nx = \"down\"\n").unwrap();
    let out = home.command().arg("--check-config").output().unwrap();
    assert!(out.status.success(), "valid config refused: {out:?}");
    assert!(!out.stdout.is_empty(), "no summary printed");
}
