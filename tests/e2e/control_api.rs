//! The local control API end to end: `tonearm ctl` (the real binary) against a running
//! `tonearm --demo daemon` and against the TUI in tmux, each with its own embedded simulator in
//! a private home (the socket under the home's `XDG_RUNTIME_DIR`). Every JSON answer and event
//! is checked against the published schema (docs/control-api/schema.json). Also: the event
//! stream's latency after a phone's pause, the socket's permissions, and a connection from
//! another uid (run with `setpriv` as nobody; needs root, `setpriv` and `curl`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tonearm::local_api::client::Target;
use tonearm::local_api::Event;
use tonearm_sim::remote::{Phone, PhoneConfig};
use tonearm_testkit::json_schema::assert_conforms;
use tonearm_testkit::process::{Home, KillOnDrop};
use tonearm_testkit::{require, require_tool, within};

const BIN: &str = env!("CARGO_BIN_EXE_tonearm");

fn schema() -> Value {
    serde_json::from_str(include_str!("../../docs/control-api/schema.json")).unwrap()
}

/// The demo catalog's album and its tracks (the embedded simulator builds the same catalog).
async fn demo_uris() -> (String, Vec<String>) {
    let sim = tonearm_testkit::sim().await;
    let album = sim.info().demo_album.clone();
    let catalog = sim.catalog();
    let tracks = catalog
        .demo_tracks
        .iter()
        .map(|&t| catalog.uri(tonearm_sim::catalog::Entity::Track(t)).unwrap())
        .collect();
    sim.shutdown().await;
    (album, tracks)
}

/// `tonearm ctl ARGS` in `home`.
fn ctl(home: &Home, args: &[&str]) -> Output {
    home.command().arg("ctl").args(args).output().unwrap()
}

/// `tonearm ctl ARGS --json`: must succeed; the answer is checked against the schema.
fn ctl_json(home: &Home, args: &[&str]) -> Value {
    let out = ctl(home, &[args, &["--json"]].concat());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ctl {args:?}: {:?}\n{text}\n{}\nlog:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        home.log()
    );
    let v: Value = serde_json::from_str(text.trim()).unwrap();
    assert_conforms(&schema(), "Answer", &v);
    assert_eq!(v["ok"], true, "{v}");
    v
}

/// Polls `ctl status --json` until `f` holds.
fn wait_status(home: &Home, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = ctl_json(home, &["status"])["status"].clone();
        if f(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last status {s}\nlog:\n{}",
            home.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `tonearm --demo daemon --sink null --name NAME` in `home`; its simulator's base URL once it
/// is up and its control socket exists.
async fn start_daemon(home: &Home, name: &str) -> (KillOnDrop, String) {
    start_daemon_with(home, name, &[]).await
}

/// [`start_daemon`] with global options before the subcommand.
async fn start_daemon_with(home: &Home, name: &str, global: &[&str]) -> (KillOnDrop, String) {
    use tonearm_testkit::process::{first_stdout_lines, http_url_in};
    let mut child = KillOnDrop(
        home.command()
            .args(global)
            .args(["--demo", "daemon", "--sink", "null", "--name", name])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let lines = within(60, first_stdout_lines(&mut child.0, 2)).await;
    assert_eq!(lines.len(), 2, "{lines:?}\nlog:\n{}", home.log());
    let base = http_url_in(&lines[0]).unwrap();
    let socket = home.control_socket();
    tonearm_testkit::wait_until("the control socket", 60, || socket.exists()).await;
    (child, base)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_drives_the_daemon_and_events_follow_a_phones_pause() {
    let home = Home::new(BIN);
    let (album, tracks) = demo_uris().await;

    // Nothing runs yet: one clear line, a failing exit status.
    let out = ctl(&home, &["status"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(err.contains("no tonearm is running"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let name = "Ctl Daemon";
    let (_daemon, base) = start_daemon(&home, name).await;
    let device_id = tonearm::config::device_id_for(name);
    let status = tokio::task::block_in_place(|| {
        wait_status(&home, "sign-in", |s| s["connection"]["session"] == "online")
    });
    assert_eq!(status["device"]["name"], name);
    assert_eq!(status["device"]["id"], device_id.as_str());

    tokio::task::block_in_place(|| {
        let loaded = ctl_json(&home, &["play-uri", &album]);
        assert!(loaded["tracks"].as_u64().unwrap() >= 2, "{loaded}");
        let s = wait_status(&home, "playing", |s| s["state"] == "playing");
        assert_eq!(s["context"], album.as_str());
        assert_eq!(s["queue_index"], 0);

        ctl_json(&home, &["pause"]);
        wait_status(&home, "paused", |s| s["state"] == "paused");
        ctl_json(&home, &["play"]);
        wait_status(&home, "playing again", |s| s["state"] == "playing");
        ctl_json(&home, &["next"]);
        let s = wait_status(&home, "the next track", |s| s["queue_index"] == 1);
        let before = s["queue_length"].as_u64().unwrap();
        let added = ctl_json(&home, &["queue", "add", &tracks[0]]);
        assert_eq!(added["tracks"], 1, "{added}");
        let s = wait_status(&home, "the addition", |s| {
            s["queue_length"].as_u64() == Some(before + 1)
        });
        // Spotify's order: right after the current track.
        let q = ctl_json(&home, &["queue"]);
        let at = s["queue_index"].as_u64().unwrap() as usize + 1;
        assert_eq!(q["queue"]["items"][at]["uri"], tracks[0].as_str(), "{q}");
        let devices = ctl_json(&home, &["devices"]);
        assert!(
            devices["devices"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["this"] == true),
            "{devices}"
        );
        // Human output: a line that says what plays.
        let out = ctl(&home, &["status"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("▶ playing"), "{text}");
        // A search result.
        let found = ctl_json(&home, &["play-search", "Middle", "C", "Sunrise"]);
        assert_eq!(found["tracks"], 1, "{found}");
        let s = wait_status(&home, "the search result playing", |s| {
            s["track"]["name"] == "Middle C Sunrise" && s["state"] == "playing"
        });
        assert_eq!(s["context"], Value::Null, "{s}");
        // A refused command: the error in one line, a failing exit status.
        let out = ctl(&home, &["queue", "add", "spotify:playlist:nope"]);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("uris"),
            "{out:?}"
        );
        // With --json: the refusal as the API sent it (schema-checked), still exit status 1.
        let out = ctl(&home, &["queue", "add", "spotify:playlist:nope", "--json"]);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_conforms(&schema(), "Answer", &v);
        assert_eq!(v["error"]["code"], "invalid", "{v}");
    });

    // The event stream: `paused` after a phone's pause, timed from the phone's request.
    let mut events = Target::Unix(home.control_socket()).events().await.unwrap();
    let (text, hello) = events.next().await.unwrap().unwrap();
    assert!(matches!(hello, Event::Hello { .. }), "{text}");
    assert_conforms(&schema(), "Event", &serde_json::from_str(&text).unwrap());
    let phone = Phone::connect(PhoneConfig::new(&base, "tonearm-demo", "tonearm-demo-pass"))
        .await
        .unwrap();
    let sent = Instant::now();
    phone.pause(Some(&device_id)).await.unwrap();
    let answered = sent.elapsed();
    let latency = within(10, async {
        loop {
            let (text, ev) = events.next().await.unwrap().unwrap();
            assert_conforms(&schema(), "Event", &serde_json::from_str(&text).unwrap());
            if matches!(ev, Event::Paused { .. }) {
                break sent.elapsed();
            }
        }
    })
    .await;
    eprintln!(
        "control API: phone pause -> `paused` event {:.1} ms (the phone's request answered after {:.1} ms)",
        latency.as_secs_f64() * 1000.0,
        answered.as_secs_f64() * 1000.0
    );
    assert!(latency < Duration::from_secs(2), "{latency:?}");
    phone.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_is_private_and_other_users_are_refused() {
    let home = Home::new(BIN);
    let (_daemon, _) = start_daemon(&home, "Private Daemon").await;
    let socket = home.control_socket();
    let dir = socket.parent().unwrap().to_path_buf();
    assert_eq!(mode(&socket), 0o600);
    assert_eq!(mode(&dir), 0o700);
    // A second instance leaves the live socket alone and says so (the speaker runs on
    // without the API).
    {
        use std::io::{BufRead, BufReader};
        let mut second = KillOnDrop(
            home.command()
                .args(["--demo", "daemon", "--sink", "null", "--name", "Second"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let stderr = second.0.stderr.take().unwrap();
        let line = within(
            60,
            tokio::task::spawn_blocking(move || {
                let mut line = String::new();
                BufReader::new(stderr).read_line(&mut line).unwrap();
                line
            }),
        )
        .await
        .unwrap();
        assert!(
            line.contains("control API off") && line.contains("already serving the control socket"),
            "{line}"
        );
        let v = tokio::task::block_in_place(|| ctl_json(&home, &["status"]));
        assert_eq!(v["status"]["device"]["name"], "Private Daemon", "{v}");
    }

    if !require(
        tonearm_testkit::tools::is_root(),
        "root",
        "running a client as another uid needs root",
    ) || !require_tool("setpriv", "runs the client as nobody (util-linux)")
        || !require_tool("curl", "the other user's client (curl --unix-socket)")
    {
        return;
    }
    let as_nobody = |socket: &PathBuf| {
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "curl",
                "-sS",
                "-o",
                "-",
                "-w",
                "\nHTTP %{http_code}",
                "--unix-socket",
            ])
            .arg(socket)
            .arg("http://localhost/v1/status")
            .output()
            .unwrap()
    };
    // The file system refuses first.
    let out = as_nobody(&socket);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "nobody reached the socket: {text}");
    assert!(!text.contains("\"api\""), "{text}");
    // Loosened by hand, the socket still serves its own user only (SO_PEERCRED).
    for d in [home.path(), &home.path().join("run"), &dir] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = as_nobody(&socket);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("HTTP 403"), "{text} {out:?}");
    assert!(text.contains("\"forbidden\""), "{text}");
    assert!(!text.contains("\"api\""), "{text}");
    // Our own uid is still served.
    let v = tokio::task::block_in_place(|| ctl_json(&home, &["status"]));
    assert_eq!(v["status"]["api"], 1);
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// The TUI serves the same API: `ctl pause` shows as paused on its screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_pauses_the_tui() {
    if !require_tool(
        "tmux",
        "the TUI runs in a tmux pane (scripts/setup.sh test installs it)",
    ) {
        return;
    }
    let (album, tracks) = demo_uris().await;
    let home = Home::new(BIN);
    let tmux = home.tmux((120, 40), "PS1='$ ' sh");
    tmux.type_text(&format!("TERM=xterm-256color {BIN} --demo --sink null"));
    tmux.keys(&["Enter"]);
    let wait = |what: &str, f: &dyn Fn(&str) -> bool| {
        tmux.wait_for(
            what,
            Duration::from_secs(90),
            || format!("log:\n{}", home.log()),
            f,
        )
    };
    wait("the demo library", &|s| s.contains("Demo Mix"));
    tokio::task::block_in_place(|| {
        wait_status(&home, "sign-in", |s| s["connection"]["session"] == "online");
        ctl_json(&home, &["play-uri", &album]);
        wait_status(&home, "playing", |s| s["state"] == "playing");
        let bar = |s: &str| -> String { s.lines().rev().take(6).collect::<Vec<_>>().join("\n") };
        wait("the playing indicator", &|s| bar(s).contains("▶"));
        ctl_json(&home, &["pause"]);
        wait("the paused indicator", &|s| bar(s).contains("⏸"));
        let s = wait_status(&home, "paused", |s| s["state"] == "paused");
        assert_eq!(s["device"]["id"].as_str().map(str::len), Some(40));
        ctl_json(&home, &["queue", "add", &tracks[1]]);
        ctl_json(&home, &["next"]);
        wait_status(&home, "the next track", |s| s["queue_index"] == 1);
    });
    tmux.keys(&["C-c"]);
    let socket = home.control_socket();
    tonearm_testkit::wait_until("the socket removed on exit", 30, || !socket.exists()).await;
}

/// The optional loopback TCP listener: `tonearm ctl --tcp` with the generated token file; no
/// token → 401; a page's request (Origin) → 403 even with the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tcp_listener_needs_the_token() {
    if !require_tool("curl", "the client without a token") {
        return;
    }
    let home = Home::new(BIN);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = home.path().join("config/control.toml");
    std::fs::write(&config, format!("[control]\ntcp = \"127.0.0.1:{port}\"\n")).unwrap();
    let config = config.to_str().unwrap().to_string();
    let (_daemon, _) = start_daemon_with(&home, "Tcp Daemon", &["--config", &config]).await;
    let token_file = home.control_socket().with_file_name("control.token");
    assert_eq!(mode(&token_file), 0o600);
    let addr = format!("127.0.0.1:{port}");
    tokio::task::block_in_place(|| {
        let out = home
            .command()
            .args([
                "--config", &config, "ctl", "--tcp", &addr, "status", "--json",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_conforms(&schema(), "Answer", &v);
        assert_eq!(v["status"]["device"]["name"], "Tcp Daemon");
        let curl = |extra: &[&str]| {
            let out = Command::new("curl")
                .args(["-s", "-o", "-", "-w", "\nHTTP %{http_code}"])
                .args(extra)
                .arg(format!("http://{addr}/v1/status"))
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).to_string()
        };
        let none = curl(&[]);
        assert!(
            none.ends_with("HTTP 401") && none.contains("unauthorized"),
            "{none}"
        );
        let token = std::fs::read_to_string(&token_file).unwrap();
        let auth = format!("Authorization: Bearer {}", token.trim());
        let page = curl(&["-H", &auth, "-H", "Origin: http://evil.example"]);
        assert!(page.ends_with("HTTP 403"), "{page}");
        let ok = curl(&["-H", &auth]);
        assert!(ok.ends_with("HTTP 200"), "{ok}");
    });
}

/// `tonearm completions <shell>`: a script that knows the commands, `ctl`'s included.
#[test]
fn completions_know_ctl() {
    let home = Home::new(BIN);
    for shell in ["bash", "zsh", "fish"] {
        let out = home
            .command()
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("ctl") && text.contains("queue"), "{shell}");
        assert!(text.contains("control-socket"), "{shell}");
    }
    let out = home
        .command()
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    // Neither writes a log (they start no services).
    assert!(!home.log_path().exists());
}
