//! The credential store against a real Secret Service (issue 12), not only the in-memory fake
//! of the unit tests: Debian's `gnome-keyring-daemon` on a private session bus made with
//! `dbus-run-session`, with a temporary HOME, driven through the real binary against the
//! simulator. Unlocked: `tonearm login` stores into the keyring, `status` reads it, `logout`
//! removes it (each checked on the bus with `dbus-send`, independently of tonearm). Locked:
//! a forced keyring is an error naming the lock, and `auto` says it falls back to the file —
//! never a silent switch, never a hang on an unlock prompt.
//!
//! Needs `dbus-run-session`, `dbus-send` (Debian `dbus`) and `gnome-keyring-daemon` (Debian
//! `gnome-keyring`), which `scripts/setup.sh test` installs. Under `CI=true` a missing tool
//! fails the test; elsewhere the test is skipped with the reason printed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tonearm_sim::Simulator;

use tonearm_testkit::dbus::SessionBus;

use crate::common;

const TOOLS: [(&str, &str); 3] = [
    ("dbus-run-session", "dbus"),
    ("dbus-send", "dbus"),
    ("gnome-keyring-daemon", "gnome-keyring"),
];
const KEYRING_PASSWORD: &str = "test-keyring-password";
const LOGIN_COLLECTION: &str = "/org/freedesktop/secrets/collection/login";

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

/// `true` when the tools are here; `false` (skip, with the reason printed) when they are not
/// and this is not CI; a panic when they are not and this is CI.
fn tools_available() -> bool {
    let missing: Vec<String> = TOOLS
        .iter()
        .filter(|(tool, _)| !on_path(tool))
        .map(|(tool, pkg)| format!("{tool} (Debian package {pkg})"))
        .collect();
    if missing.is_empty() {
        return true;
    }
    let reason = format!(
        "the Secret Service test needs {}; `scripts/setup.sh test` installs them",
        missing.join(", ")
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{reason}");
    eprintln!("skipping: {reason}");
    false
}

/// A private session bus (`dbus-run-session`) and a temporary HOME for everything on it, so
/// nothing — not even a keyring daemon the bus starts by activation — touches the real ones.
struct Desktop {
    home: tempfile::TempDir,
    bus: SessionBus,
    keyring: Option<Child>,
}

impl Desktop {
    fn start() -> Desktop {
        let home = tempfile::tempdir().unwrap();
        let bus = SessionBus::start_with(|c| {
            with_home(c, home.path());
        });
        Desktop {
            home,
            bus,
            keyring: None,
        }
    }

    fn home(&self) -> &Path {
        self.home.path()
    }

    /// A command with this desktop's HOME and bus.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        with_home(&mut c, self.home.path()).env("DBUS_SESSION_BUS_ADDRESS", self.bus.address());
        c
    }

    /// Starts `gnome-keyring-daemon` (secrets only) in the foreground; with `unlock` it reads
    /// the password on stdin, creating and unlocking the `login` keyring. Waits until it owns
    /// `org.freedesktop.secrets`.
    fn start_keyring(&mut self, unlock: bool) {
        self.stop_keyring();
        let mut cmd = self.command("gnome-keyring-daemon");
        cmd.args(["--foreground", "--components=secrets"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if unlock {
            cmd.arg("--unlock").stdin(Stdio::piped());
        } else {
            cmd.stdin(Stdio::null());
        }
        let mut child = cmd.spawn().expect("start gnome-keyring-daemon");
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(KEYRING_PASSWORD.as_bytes()).unwrap();
        }
        self.keyring = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self
            .dbus_send(&[
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.secrets",
            ])
            .contains("boolean true")
        {
            assert!(
                Instant::now() < deadline,
                "gnome-keyring-daemon did not appear on the bus"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop_keyring(&mut self) {
        if let Some(mut k) = self.keyring.take() {
            let _ = k.kill();
            let _ = k.wait();
        }
    }

    /// `dbus-send --session --print-reply …`; the reply text (empty on an error).
    fn dbus_send(&self, args: &[&str]) -> String {
        let out = self
            .command("dbus-send")
            .args(["--session", "--print-reply"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Whether the keyring holds tonearm's item, asked on the bus (SearchItems lists both
    /// unlocked and locked matches).
    fn has_tonearm_item(&self) -> bool {
        self.dbus_send(&[
            "--dest=org.freedesktop.secrets",
            "/org/freedesktop/secrets",
            "org.freedesktop.Secret.Service.SearchItems",
            "dict:string:string:service,tonearm",
        ])
        .contains(LOGIN_COLLECTION)
    }

    fn login_collection_locked(&self) -> bool {
        self.dbus_send(&[
            "--dest=org.freedesktop.secrets",
            LOGIN_COLLECTION,
            "org.freedesktop.DBus.Properties.Get",
            "string:org.freedesktop.Secret.Collection",
            "string:Locked",
        ])
        .contains("boolean true")
    }

    /// Locks the `login` collection through the Secret Service API (no prompt needed).
    fn lock(&self) {
        self.dbus_send(&[
            "--dest=org.freedesktop.secrets",
            "/org/freedesktop/secrets",
            "org.freedesktop.Secret.Service.Lock",
            &format!("array:objpath:{LOGIN_COLLECTION}"),
        ]);
        assert!(self.login_collection_locked(), "the keyring did not lock");
    }

    fn credential_file(&self) -> PathBuf {
        self.home().join("state/tonearm/credentials.json")
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        self.stop_keyring();
        // The bus (a field) closes after the keyring it activated has stopped.
    }
}

fn with_home<'c>(c: &'c mut Command, home: &Path) -> &'c mut Command {
    let runtime = home.join("run");
    let _ = std::fs::create_dir_all(&runtime);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700));
    }
    c.env("HOME", home)
        .env("XDG_DATA_HOME", home.join("share"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_RUNTIME_DIR", runtime)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("TONEARM_LOG")
}

/// Runs `tonearm` on `desktop` against `sim`; `store` sets `TONEARM_CREDENTIAL_STORE` (None:
/// unset, i.e. auto). Returns (output, seconds it took).
fn tonearm(
    desktop: &Desktop,
    sim: &Simulator,
    store: Option<&str>,
    args: &[&str],
    stdin: &str,
) -> (Output, f64) {
    let info = sim.info();
    let mut c = desktop.command(env!("CARGO_BIN_EXE_tonearm"));
    match store {
        Some(s) => c.env("TONEARM_CREDENTIAL_STORE", s),
        None => c.env_remove("TONEARM_CREDENTIAL_STORE"),
    };
    c.args(["--apresolve-url", &info.apresolve])
        .args(["--ap-key-modulus", &info.ap_key.modulus])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (out, started.elapsed().as_secs_f64())
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn login(desktop: &Desktop, sim: &Simulator, store: Option<&str>) -> (Output, f64) {
    let acct = common::account(sim, "premium");
    tonearm(
        desktop,
        sim,
        store,
        &["login", "--username", &acct.username, "--password-stdin"],
        &format!("{}\n", acct.password),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_status_logout_with_a_real_secret_service() {
    if !tools_available() {
        return;
    }
    let sim = common::sim().await;
    let user = common::account(&sim, "premium").username.clone();
    tokio::task::spawn_blocking(move || {
        let mut desktop = Desktop::start();
        desktop.start_keyring(true);
        assert!(!desktop.login_collection_locked());
        assert!(!desktop.has_tonearm_item());

        let (out, _) = login(&desktop, &sim, Some("keyring"));
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(
            stdout.contains("Stored reusable credentials in the system keyring (Secret Service)."),
            "{stdout}"
        );
        assert!(desktop.has_tonearm_item(), "not on the bus after login");
        assert!(!desktop.credential_file().exists());

        // `status` reads them back from the keyring (forced, and chosen by auto).
        for store in [Some("keyring"), None] {
            let (out, _) = tonearm(&desktop, &sim, store, &["status"], "");
            let (stdout, stderr) = text(&out);
            assert!(out.status.success(), "{store:?}: {stdout}\n{stderr}");
            assert!(stdout.contains(&format!("account:   {user}")), "{stdout}");
            assert!(!stderr.contains("warning"), "{stderr}");
        }

        let (out, _) = tonearm(&desktop, &sim, Some("keyring"), &["logout"], "");
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(
            stdout.contains("Removed the entry in the system keyring (Secret Service)."),
            "{stdout}"
        );
        assert!(!desktop.has_tonearm_item(), "still on the bus after logout");
        let (out, _) = tonearm(&desktop, &sim, Some("keyring"), &["status"], "");
        let (_, stderr) = text(&out);
        assert!(!out.status.success());
        assert!(stderr.contains("not signed in"), "{stderr}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_keyring_is_reported_not_silently_replaced() {
    if !tools_available() {
        return;
    }
    let sim = common::sim().await;
    tokio::task::spawn_blocking(move || {
        let mut desktop = Desktop::start();
        desktop.start_keyring(true);
        let (out, _) = login(&desktop, &sim, Some("keyring"));
        assert!(out.status.success(), "{:?}", text(&out));
        desktop.lock();
        assert!(desktop.has_tonearm_item());

        // Forced keyring: an error that names the lock, quickly (no unlock prompt to wait on).
        let (out, secs) = tonearm(&desktop, &sim, Some("keyring"), &["status"], "");
        let (stdout, stderr) = text(&out);
        assert!(!out.status.success(), "{stdout}");
        assert!(
            stderr.contains("TONEARM_CREDENTIAL_STORE=keyring") && stderr.contains("it is locked"),
            "{stderr}"
        );
        assert!(secs < 8.0, "took {secs} s");

        // Auto: the fallback to the file is announced, naming the file.
        let file = desktop.credential_file();
        let (out, secs) = tonearm(&desktop, &sim, None, &["status"], "");
        let (_, stderr) = text(&out);
        assert!(stderr.contains("warning:"), "{stderr}");
        assert!(stderr.contains("it is locked"), "{stderr}");
        assert!(
            stderr.contains(&file.display().to_string()),
            "the warning must name the file: {stderr}"
        );
        assert!(stderr.contains("not signed in"), "{stderr}");
        assert!(secs < 8.0, "took {secs} s");

        // A login while it is locked stores in the file — and says why, twice.
        let (out, _) = login(&desktop, &sim, None);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(
            stderr.contains("warning:") && stderr.contains("it is locked"),
            "{stderr}"
        );
        assert!(
            stdout.contains("Stored reusable credentials in the file")
                && stdout.contains("cannot be used: it is locked"),
            "{stdout}"
        );
        assert!(file.exists());
        // The keyring was not unlocked behind the user's back, nor its item touched.
        assert!(desktop.login_collection_locked());
        assert!(desktop.has_tonearm_item());

        // Logout clears the file and reports the locked keyring as not checked.
        let (out, _) = tonearm(&desktop, &sim, None, &["logout"], "");
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("Removed the file"), "{stdout}");
        assert!(
            stdout.contains("Not checked: the system keyring"),
            "{stdout}"
        );
        assert!(desktop.login_collection_locked());

        // Restarted without the password (a keyring that exists but was never unlocked, as
        // after an auto-login): the same report.
        desktop.start_keyring(false);
        assert!(desktop.login_collection_locked());
        let (out, _) = tonearm(&desktop, &sim, Some("keyring"), &["status"], "");
        let (_, stderr) = text(&out);
        assert!(!out.status.success());
        assert!(stderr.contains("it is locked"), "{stderr}");
    })
    .await
    .unwrap();
}
