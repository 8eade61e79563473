//! The binary: `tonearm sim` announces itself with one JSON line that another client can use,
//! `--demo status` runs the protocol tour, a bad config stops start-up with its location, a
//! reader that closes standard output ends a command quietly, and alsa-lib's own error lines go
//! to the log instead of the terminal.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use tonearm::session::{Credentials, Session, SessionConfig};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tonearm"));
    let tmp = std::env::temp_dir().join(format!("tonearm-cli-{}", std::process::id()));
    c.env("HOME", &tmp)
        .env("XDG_STATE_HOME", tmp.join("state"))
        .env("XDG_CONFIG_HOME", tmp.join("config"))
        // Never touch the developer's real keyring.
        .env("TONEARM_CREDENTIAL_STORE", "file")
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
        .env_remove("TONEARM_LOG");
    c
}

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn sim_prints_its_endpoints_and_serves_a_client() {
    let (_child, info) = spawn_sim(&[]).await;
    let ap_key = hex::decode(info["ap_key"]["modulus"].as_str().unwrap()).unwrap();
    assert_eq!(ap_key.len(), 256, "RSA-2048 modulus");
    let acct = info["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["product"] == "premium")
        .unwrap()
        .clone();
    let endpoints = tonearm::config::Endpoints {
        apresolve: info["apresolve"].as_str().unwrap().to_string(),
        ap_key_modulus: ap_key,
        ap_key_exponent: info["ap_key"]["exponent"].as_u64().unwrap() as u32,
        ..tonearm::config::Endpoints::default()
    };
    let cfg = SessionConfig::new(endpoints, tonearm::config::device_id_for("cli-test"));
    let creds = Credentials::with_password(
        acct["username"].as_str().unwrap(),
        acct["password"].as_str().unwrap(),
    );
    let session = crate::common::within(20, Session::connect(cfg, creds))
        .await
        .expect("login");
    assert_eq!(session.username(), acct["username"].as_str().unwrap());
}

#[test]
fn demo_status_runs_the_protocol_tour() {
    let out = bin().args(["--demo", "status"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "password",
        "stored",
        "mercury",
        "audio key   track",
        "received",
        "reconnect",
        "refused",
        "done",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }
    // The last line points at the TUI, which exists.
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.contains("`tonearm --demo`") && !last.contains("later"),
        "{last}"
    );
}

#[test]
fn invalid_config_stops_with_file_line_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, "[endpoints]\napresolve = \"ftp://nope\"\n").unwrap();
    let out = bin()
        .args(["--config", path.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"ftp://nope\"") && err.contains("endpoints.apresolve"),
        "{err}"
    );
    std::fs::write(&path, "[endpoints\n").unwrap();
    let out = bin()
        .args(["--config", path.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("config.toml:1:"));
}

#[test]
fn status_without_credentials_says_how_to_sign_in() {
    let out = bin().arg("status").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tonearm login"));
}

/// Starts `tonearm sim` as a child process and returns it with its announced endpoints.
async fn spawn_sim(extra: &[&str]) -> (Kill, serde_json::Value) {
    let mut child = Kill(
        bin()
            .args(["sim", "--listen", "127.0.0.1"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut l = String::new();
        BufReader::new(stdout).read_line(&mut l).unwrap();
        l
    })
    .await
    .unwrap();
    (
        child,
        serde_json::from_str(&line).expect("first line is JSON"),
    )
}

#[tokio::test]
async fn login_status_logout_through_the_binary() {
    use std::io::Write;
    let (_sim, info) = spawn_sim(&[]).await;
    let home = tempfile::tempdir().unwrap();
    let acct = info["accounts"][0].clone();
    let endpoint_args = [
        "--apresolve-url".to_string(),
        info["apresolve"].as_str().unwrap().to_string(),
        "--ap-key-modulus".to_string(),
        info["ap_key"]["modulus"].as_str().unwrap().to_string(),
    ];
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tonearm"));
        c.env("HOME", home.path())
            .env("XDG_STATE_HOME", home.path().join("state"))
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("TONEARM_CREDENTIAL_STORE", "file")
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
            .args(&endpoint_args)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    };
    let user = acct["username"].as_str().unwrap();
    let password = format!("{}\n", acct["password"].as_str().unwrap());
    let out = run(
        &["login", "--username", user, "--password-stdin"],
        Some(&password),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let creds = home.path().join("state/tonearm/credentials.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let stored = std::fs::read_to_string(&creds).unwrap();
    assert!(
        !stored.contains(acct["password"].as_str().unwrap()),
        "password must not be stored"
    );
    let log = std::fs::read_to_string(home.path().join("state/tonearm/tonearm.log")).unwrap();
    assert!(
        !log.contains(acct["password"].as_str().unwrap()),
        "password must not be logged"
    );

    let out = run(&["status"], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("account:   {user}")), "{stdout}");

    let out = run(
        &["login", "--username", user, "--password-stdin"],
        Some("not-it\n"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no longer accepts password logins"));

    let out = run(&["logout"], None);
    assert!(out.status.success());
    assert!(!creds.exists());
    let out = run(&["status"], None);
    assert!(!out.status.success());
}

#[test]
fn demo_play_writes_the_demo_album_to_a_wav_file() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("demo.wav");
    let out = bin()
        .args([
            "play",
            "--demo",
            "--bitrate",
            "96",
            "--sink",
            &format!("wav:{}", wav.display()),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.matches("▶ ").count(),
        4,
        "four album tracks:\n{stdout}"
    );
    // 45 s of 44.1 kHz stereo 16-bit audio (12 + 11 + 12 + 10 s) plus the 44-byte header.
    let len = std::fs::metadata(&wav).unwrap().len();
    let secs = (len - 44) as f64 / 176_400.0;
    assert!((secs - 45.0).abs() < 0.1, "{secs} s");
}

#[test]
fn play_rejects_bad_input_clearly() {
    let out = bin()
        .args(["play", "--demo", "--sink", "speakers"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown sink \"speakers\""));
    let out = bin()
        .args(["play", "--demo", "--bitrate", "128"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bitrate"));
    let out = bin()
        .args(["play", "--demo", "spotify:track:nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"spotify:track:nope\""));
}

#[test]
fn play_names_what_it_cannot_load() {
    // Playlists play now (tests/e2e/podcasts.rs); one the catalog does not have is named.
    let uri = "spotify:playlist:37i9dQZF1DXcBWIGoYBM5M";
    let out = bin().args(["play", "--demo", uri]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot load the playlist {uri}")),
        "{err}"
    );
}

#[tokio::test]
async fn sim_serves_a_synthetic_catalog() {
    let (_child, info) = spawn_sim(&["--catalog-tracks", "10000"]).await;
    assert!(info["apresolve"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
}

/// Waits up to `secs` for the child to exit; kills it (and fails) when it does not.
fn wait_exit(child: &mut std::process::Child, secs: u64) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tonearm did not exit within {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_reader_that_closes_stdout_ends_play_quietly() {
    use std::io::Read;
    // The null sink plays in real time: the demo album takes 45 s, its first track 12 s, so the
    // line of the second track is written long after the reader below has gone.
    let started = std::time::Instant::now();
    let mut child = bin()
        .args(["--demo", "play", "--sink", "null"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    {
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        reader.read_line(&mut first).unwrap();
        // Dropping the reader closes the pipe, like `| head -1`.
    }
    assert!(first.starts_with("Playing 4 track(s)"), "{first:?}");
    let status = wait_exit(&mut child, 40);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe") && stderr.is_empty(),
        "stderr: {stderr}"
    );
    assert!(status.success(), "{status:?}; stderr: {stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "play went on for {:?} after its reader had gone",
        started.elapsed()
    );
}

#[test]
fn alsa_errors_go_to_the_log_not_the_terminal() {
    // An ALSA configuration whose default device is a card that does not exist: alsa-lib then
    // reports "Cannot get card index for tonearm_no_such_card" through its error handler (on
    // stderr unless tonearm routes it), on any machine, with or without a sound card.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("asound.conf");
    std::fs::write(
        &conf,
        "pcm.!default { type hw card \"tonearm_no_such_card\" }\n\
         ctl.!default { type hw card \"tonearm_no_such_card\" }\n",
    )
    .unwrap();
    let log = dir.path().join("tonearm.log");
    let mut child = Kill(
        bin()
            .args(["--demo", "play", "--log-file", log.to_str().unwrap()])
            .env("ALSA_CONFIG_PATH", &conf)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // The device is probed before anything plays: once "Playing" is printed, every ALSA
    // message there is to see has been written.
    let mut stdout = String::new();
    {
        let mut reader = BufReader::new(child.0.stdout.take().unwrap());
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                break;
            }
            stdout.push_str(&line);
            if line.starts_with("Playing") {
                break;
            }
        }
    }
    let _ = child.0.kill();
    let _ = child.0.wait();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut out).unwrap();
    assert!(
        stdout.contains("no audio output device is available")
            && stdout.contains("Demo: playing to the null sink instead"),
        "the device must have been refused: {stdout}"
    );
    assert!(!out.contains("ALSA lib"), "ALSA on the terminal:\n{out}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged
            .lines()
            .any(|l| l.contains("ALSA lib") && l.contains("tonearm_no_such_card")),
        "no ALSA line in the log:\n{logged}"
    );
}
