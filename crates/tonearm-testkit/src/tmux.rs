//! A private tmux server (its own socket) with one detached session, for the terminal UI test
//! and the TUI session bench: start a command in a pane of a fixed size, type text and keys,
//! read the screen, wait for something to appear, find the `m:ss` times on it. The server is
//! killed when dropped.
//!
//! Needs the `tmux` binary; callers check with [`crate::tools::require_tool`] first.
//! Depends on std only.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const SESSION: &str = "t";

/// A tmux server of our own with one session.
pub struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// Starts a server whose socket (a new one each time) lives in `dir`, with one `cols`×`rows` session running
    /// `command` (a shell command line) in this process's environment plus `envs`, less the
    /// variables named in `cleared`. The pane stays after the command ends, so its last screen
    /// can still be read. (tmux sets `TERM` in the pane itself: set it in `command`.)
    pub fn start<K, V>(
        dir: &Path,
        envs: impl IntoIterator<Item = (K, V)>,
        cleared: &[&str],
        (cols, rows): (u16, u16),
        command: &str,
    ) -> Tmux
    where
        K: AsRef<std::ffi::OsStr>,
        V: AsRef<std::ffi::OsStr>,
    {
        // A socket of its own for every server: a test that starts the TUI again in the same
        // directory must not reach the previous server while it is still exiting ("server
        // exited unexpectedly").
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = Tmux {
            socket: dir.join(format!("tmux-{n}.sock")),
        };
        let (cols, rows) = (cols.to_string(), rows.to_string());
        let mut c = t.cmd();
        c.envs(envs);
        for k in cleared {
            c.env_remove(k);
        }
        let out = c
            .args(["-f", "/dev/null", "new-session", "-d", "-s", SESSION])
            .args(["-x", &cols, "-y", &rows, command])
            .output()
            .unwrap();
        assert!(out.status.success(), "tmux new-session: {out:?}");
        t.run(&["set-option", "-t", SESSION, "remain-on-exit", "on"]);
        t
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket);
        c
    }

    /// Runs a tmux command against this server; panics when it fails.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd().args(args).output().unwrap();
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        out
    }

    /// The pid of the process in the pane (the command, when it `exec`s).
    pub fn pane_pid(&self) -> u32 {
        let out = self.run(&["display-message", "-p", "-t", SESSION, "#{pane_pid}"]);
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("pane pid")
    }

    /// Types text literally.
    pub fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", SESSION, "-l", text]);
    }

    /// Sends key names (`Enter`, `Space`, `C-c`).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", SESSION];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// The visible screen (the alternate screen while a full-screen program is up).
    pub fn capture(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", SESSION]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls the screen every 250 ms until `f` holds and returns it; after `timeout` panics
    /// with the last screen and `context()` (e.g. the program's log).
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        context: impl Fn() -> String,
        f: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.capture();
            if f(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; screen:\n{screen}\n---\n{}",
                    context()
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

/// The `m:ss` clock times in a line of screen text (one-digit minutes, not preceded by a digit),
/// left to right: what the now-playing bar shows as position and duration.
pub fn clock_times(line: &str) -> Vec<&str> {
    let b = line.as_bytes();
    let mut times = Vec::new();
    for i in 0..b.len() {
        let is_time = i + 4 <= b.len()
            && b[i].is_ascii_digit()
            && b[i + 1] == b':'
            && b[i + 2].is_ascii_digit()
            && b[i + 3].is_ascii_digit()
            && (i == 0 || !b[i - 1].is_ascii_digit());
        if is_time {
            times.push(&line[i..i + 4]);
        }
    }
    times
}

/// Seconds of an `m:ss` time from [`clock_times`].
pub fn clock_seconds(time: &str) -> Option<u64> {
    let (m, s) = time.split_once(':')?;
    Some(m.parse::<u64>().ok()? * 60 + s.parse::<u64>().ok()?)
}
