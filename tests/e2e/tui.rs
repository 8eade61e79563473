//! The terminal UI end to end, through tmux: `tonearm --demo` in a detached tmux pane (the
//! embedded simulator, audio to a WAV file), driven with `send-keys` and read with
//! `capture-pane`. Audio goes to the null sink, which is paced to real time (a WAV file is
//! written as fast as audio decodes, so the position would race to the end). Also: an invalid user keymap stops `tonearm` before it touches the terminal.
//!
//! Skipped (with a printed reason) when tmux is not installed; `scripts/setup.sh test` installs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tonearm");
/// Generous: the machine running the tests may be loaded.
const WAIT: Duration = Duration::from_secs(90);

/// A temporary home: HOME and the XDG directories point into it, so nothing real is touched.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["config", "cache", "state", "data", "tmp"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        Home { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn envs(&self) -> Vec<(&'static str, PathBuf)> {
        let p = self.path();
        vec![
            ("HOME", p.to_path_buf()),
            ("XDG_CONFIG_HOME", p.join("config")),
            ("XDG_CACHE_HOME", p.join("cache")),
            ("XDG_STATE_HOME", p.join("state")),
            ("XDG_DATA_HOME", p.join("data")),
            ("TMPDIR", p.join("tmp")),
        ]
    }

    fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        for (k, v) in self.envs() {
            c.env(k, v);
        }
        c.env("TONEARM_CREDENTIAL_STORE", "file");
        c.env_remove("TONEARM_LOG");
        c
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path().join("state/tonearm/tonearm.log")).unwrap_or_default()
    }
}

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A tmux server of our own (private socket) with one 120×40 session running `sh`.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn start(home: &Home) -> Tmux {
        let socket = home.path().join("tmux.sock");
        let t = Tmux { socket };
        let mut c = t.cmd();
        for (k, v) in home.envs() {
            c.env(k, v);
        }
        c.env("TONEARM_CREDENTIAL_STORE", "file")
            .env("PS1", "$ ")
            .env_remove("TONEARM_LOG")
            .args(["-f", "/dev/null", "new-session", "-d", "-s", "tui"])
            .args(["-x", "120", "-y", "40", "sh"]);
        let out = c.output().unwrap();
        assert!(out.status.success(), "tmux new-session: {out:?}");
        // Keep the pane after the shell's command ends, at this size.
        t.run(&["set-option", "-t", "tui", "remain-on-exit", "on"]);
        t
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd().args(args).output().unwrap();
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        out
    }

    /// Types text literally.
    fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "tui", "-l", text]);
    }

    /// Sends key names (`Enter`, `Space`, `C-c`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "tui"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// The visible screen (the alternate screen while the TUI is up).
    fn capture(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", "tui"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls the screen until `f` holds; panics with the last screen after [`WAIT`].
    fn wait_for(&self, what: &str, home: &Home, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.capture();
            if f(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; screen:\n{screen}\n--- log:\n{}",
                    home.log()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

/// The `m:ss` times in the bottom lines of the screen (the now-playing bar's progress).
fn bar_times(screen: &str) -> Vec<String> {
    let lines: Vec<&str> = screen.lines().collect();
    let mut times = Vec::new();
    // The bar sits at the bottom: look at the last lines of the screen.
    for line in lines.iter().rev().take(8) {
        let b = line.as_bytes();
        for i in 0..b.len() {
            let is_time = i + 4 <= b.len()
                && b[i].is_ascii_digit()
                && b[i + 1] == b':'
                && b[i + 2].is_ascii_digit()
                && b.get(i + 3).is_some_and(u8::is_ascii_digit)
                && (i == 0 || !b[i - 1].is_ascii_digit());
            if is_time {
                times.push(line[i..i + 4].to_string());
            }
        }
    }
    times
}

#[test]
fn demo_tui_search_play_pause_quit() {
    if !tmux_available() {
        eprintln!("skipped: tmux is not installed (scripts/setup.sh test installs it)");
        return;
    }
    let home = Home::new();
    let tmux = Tmux::start(&home);
    tmux.type_text("echo PRE-TUI-MARKER");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the shell", &home, |s| s.contains("\nPRE-TUI-MARKER"));
    tmux.type_text(&format!(
        "TERM=xterm-256color {BIN} --demo --sink null; echo TUI-EXIT=$?"
    ));
    tmux.keys(&["Enter"]);

    // The library: the demo account's playlists.
    tmux.wait_for("the demo library", &home, |s| {
        s.contains("Demo Mix") && s.contains("Edge Cases Mix")
    });

    // Search for a demo track and play it.
    tmux.keys(&["2"]); // focuses the search box, ready to type
    tmux.type_text("Middle C Sunrise");
    tmux.wait_for("search results", &home, |s| {
        s.matches("Middle C Sunrise").count() >= 2
    });
    tmux.keys(&["Enter"]); // leave the search box, onto the results
    tmux.keys(&["Enter"]); // play the selected (first) result: the track
    let playing = tmux.wait_for("the now-playing bar", &home, |s| {
        s.lines()
            .rev()
            .take(6)
            .any(|l| l.contains("Middle C Sunrise"))
            && !bar_times(s).is_empty()
    });
    let before = bar_times(&playing);
    let moved = tmux.wait_for("the progress to move", &home, |s| {
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
    let after = tmux.wait_for("the shell after quitting", &home, |s| {
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
    let home = Home::new();
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
