//! Headless chromium (Debian's `chromium`) driven over the DevTools protocol on a pipe
//! (`--remote-debugging-pipe`): open a tab, evaluate JavaScript in it, wait for a condition.
//! Used by the sign-in test and the guest-remote test; callers check for the browser first with
//! [`crate::require_tool`]`(CHROMIUM, …)`. Blocking (the pipe is read synchronously): run it on
//! a thread of its own, or from `spawn_blocking`, inside async tests.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Where Debian installs the browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A headless chromium whose DevTools protocol runs over a pipe: `sh` maps our stdin/stdout to
/// the fds 3 and 4 chromium expects, so no unsafe fd juggling is needed here.
pub struct Chromium {
    child: Child,
    stdin: ChildStdin,
    out: BufReader<ChildStdout>,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Chromium {
    pub fn launch() -> Chromium {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("exec \"$@\" 3<&0 4>&1 </dev/null >/dev/null")
            .arg("sh")
            .arg(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            // Chromium's own D-Bus noise must not reach a real session bus either.
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        let stdin = child.stdin.take().unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        Chromium {
            child,
            stdin,
            out,
            next_id: 0,
            _profile: profile,
        }
    }

    /// One DevTools command; returns its `result` (panics on a protocol error).
    pub fn call(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.stdin.write_all(&bytes).unwrap();
        self.stdin.flush().unwrap();
        loop {
            let mut frame = Vec::new();
            let n = self.out.read_until(0, &mut frame).unwrap();
            assert!(n > 0, "chromium closed the DevTools pipe");
            frame.pop();
            let v: Value = serde_json::from_slice(&frame).unwrap();
            if v["id"].as_u64() == Some(id) {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Opens `url` in a new tab; returns the DevTools session attached to it.
    pub fn open(&mut self, url: &str) -> String {
        let target = self.call("Target.createTarget", json!({"url": url}), None);
        let attached = self.call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
            None,
        );
        attached["sessionId"].as_str().unwrap().to_string()
    }

    pub fn eval(&mut self, session: &str, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
            Some(session),
        );
        r["result"]["value"].clone()
    }

    /// Evaluates `expression` until it returns a non-empty string; returns it.
    pub fn wait_for(&mut self, session: &str, expression: &str, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.eval(session, expression).as_str() {
                if !s.is_empty() {
                    return s.to_string();
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromium: timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        self.next_id += 1;
        let close = json!({"id": self.next_id, "method": "Browser.close", "params": {}});
        let _ = self
            .stdin
            .write_all(&[serde_json::to_vec(&close).unwrap(), vec![0]].concat());
        let _ = self.stdin.flush();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Chromium {
    /// A fresh browser with `url` open in a tab once `ready` (an expression, as for
    /// [`Chromium::wait_for`]) holds. Headless chromium sometimes dies at start-up on a loaded
    /// 2-core machine (the DevTools pipe closes before the page loads): only this start-up is
    /// tried again, up to three times with a fresh browser each, so a page that never gets
    /// ready still fails.
    pub fn open_when_ready(url: &str, ready: &str, what: &str) -> (Chromium, String) {
        let mut attempt = 1;
        loop {
            let tried = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut b = Chromium::launch();
                let tab = b.open(url);
                b.wait_for(&tab, ready, what);
                (b, tab)
            }));
            match tried {
                Ok(r) => return r,
                Err(e) if attempt >= 3 => std::panic::resume_unwind(e),
                Err(_) => {
                    eprintln!("chromium start-up attempt {attempt} failed; a fresh browser");
                    attempt += 1;
                }
            }
        }
    }
}
