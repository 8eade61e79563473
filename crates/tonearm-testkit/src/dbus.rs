//! A private D-Bus session bus for a test: `dbus-run-session` running `cat`, which prints the
//! bus address first and keeps the session alive until its stdin closes. Used by the MPRIS and
//! the Secret Service e2e tests so nothing they start touches the user's real bus. Depends only
//! on std and [`crate::process::Home`]; callers check for `dbus-run-session` themselves
//! ([`crate::tools::require_tool`]) before starting one.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::Home;

/// A private session bus; gone when dropped (its stdin closes, `cat` ends, the bus with it).
pub struct SessionBus {
    child: Child,
    address: String,
}

impl SessionBus {
    /// A bus whose session (and whatever it starts by activation) sees `home`'s environment.
    pub fn start(home: &Home) -> SessionBus {
        SessionBus::start_with(|c| {
            c.envs(home.envs());
        })
    }

    /// A bus started with the environment `prepare` gives `dbus-run-session`, for tests whose
    /// HOME is not a [`Home`].
    pub fn start_with(prepare: impl FnOnce(&mut Command)) -> SessionBus {
        let mut cmd = Command::new("dbus-run-session");
        prepare(&mut cmd);
        let mut child = cmd
            .args([
                "--",
                "sh",
                "-c",
                "echo \"$DBUS_SESSION_BUS_ADDRESS\"; exec cat",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-run-session");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line.trim().to_string();
        assert!(address.starts_with("unix:"), "bus address {address:?}");
        SessionBus { child, address }
    }

    /// The bus address, for `DBUS_SESSION_BUS_ADDRESS`.
    pub fn address(&self) -> &str {
        &self.address
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        // Closing `cat`'s stdin ends the session and its bus (and lets dbus-run-session clean
        // up); a kill is only the fallback.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
