//! MPRIS 2 and desktop notifications (issue 14) with an independent client on a real bus: a
//! private session bus from `dbus-run-session`, the real daemon binary against a test-started
//! `tonearm sim`, the scripted phone playing the demo album on it, and Debian's `playerctl`
//! driving and reading the player. A fake notification server (zbus, in this test, on the same
//! private bus) records the `Notify` calls. Without a session bus the daemon plays on and says
//! so in one log line. The TUI (`--demo`, in tmux) announces a cover that arrives after its
//! track started: `playerctl --follow` sees `mpris:artUrl` change, and the notification is sent
//! again in place with the image.
//!
//! Needs `dbus-run-session` (Debian `dbus`) and `playerctl`, which `scripts/setup.sh test`
//! installs; under `CI=true` a missing tool fails the test, elsewhere it is skipped.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tonearm_sim::remote::{Phone, PhoneConfig};
use tonearm_testkit::dbus::SessionBus;
use tonearm_testkit::process::{account_in, endpoint_args, Home, KillOnDrop, SimProcess};
use tonearm_testkit::tmux::Tmux;
use tonearm_testkit::tools::require_tool;
use tonearm_testkit::within;
use zbus::zvariant::Value as DValue;

const BIN: &str = env!("CARGO_BIN_EXE_tonearm");
const NAME: &str = "MPRIS Daemon";

fn tools() -> bool {
    require_tool(
        "dbus-run-session",
        "the MPRIS test runs a private session bus (Debian dbus)",
    ) && require_tool(
        "playerctl",
        "the MPRIS test drives the player with playerctl",
    )
}

trait CommandFor {
    /// Another program in this home's environment.
    fn command_for(&self, program: &str) -> Command;
}

impl CommandFor for Home {
    fn command_for(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.envs(self.envs());
        c
    }
}

/// `playerctl -p tonearm ARGS` on `bus`: (success, stdout trimmed, stderr).
fn playerctl(home: &Home, bus: &SessionBus, args: &[&str]) -> (bool, String, String) {
    let out = home
        .command_for("playerctl")
        .env("DBUS_SESSION_BUS_ADDRESS", bus.address())
        .args(["-p", "tonearm"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run playerctl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

/// Polls `playerctl ARGS` until its output satisfies `ok` (≤ `secs`); the last output on
/// failure.
async fn until_playerctl(
    home: &Home,
    bus: &SessionBus,
    args: &[&str],
    secs: u64,
    ok: impl Fn(&str) -> bool,
) -> Result<String, String> {
    let t0 = Instant::now();
    let mut last = String::new();
    while t0.elapsed() < Duration::from_secs(secs) {
        let (good, out, err) = playerctl(home, bus, args);
        if good && ok(&out) {
            return Ok(out);
        }
        last = format!("{out} / {err}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(last)
}

async fn until_status(
    phone: &Phone,
    secs: u64,
    ok: impl Fn(&Value) -> bool,
) -> Result<Value, Value> {
    let t0 = Instant::now();
    let mut last = Value::Null;
    while t0.elapsed() < Duration::from_secs(secs) {
        if let Ok(st) = phone.status().await {
            if ok(&st) {
                return Ok(st);
            }
            last = st;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(last)
}

/// The simulator, a signed-in home, and the daemon on `bus` (`None`: no session bus).
struct Rig {
    home: Home,
    sim: SimProcess,
    user: String,
    password: String,
    daemon: Option<KillOnDrop>,
}

impl Rig {
    fn start(config: Option<&str>) -> Rig {
        let home = Home::new(BIN);
        let mut cmd = home.command();
        cmd.arg("sim");
        let sim = SimProcess::spawn(cmd);
        let (user, password) = account_in(&sim.info, "premium");
        home.login(&sim.info, &user, &password);
        if let Some(text) = config {
            let dir = home.path().join("config/tonearm");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("config.toml"), text).unwrap();
        }
        Rig {
            home,
            sim,
            user,
            password,
            daemon: None,
        }
    }

    fn spawn_daemon(&mut self, bus: Option<&SessionBus>) {
        let mut cmd = self.home.command();
        if let Some(b) = bus {
            cmd.env("DBUS_SESSION_BUS_ADDRESS", b.address());
        }
        let child = cmd
            .args(endpoint_args(&self.sim.info))
            .args(["--log-level", "info", "daemon", "--sink", "null"])
            .args(["--name", NAME, "--no-zeroconf"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tonearm daemon");
        self.daemon = Some(KillOnDrop(child));
    }

    async fn phone(&self) -> Phone {
        let base = self.sim.info["spclient"].as_str().unwrap();
        within(
            20,
            Phone::connect(PhoneConfig::new(base, &self.user, &self.password)),
        )
        .await
        .expect("the phone signs in")
    }

    /// The phone starts the demo album on the daemon; returns when it plays.
    async fn play_album(&self, phone: &Phone) {
        self.play_album_on(phone, NAME).await;
    }

    /// The phone starts the demo album on the device `name`; returns when it plays.
    async fn play_album_on(&self, phone: &Phone, name: &str) {
        let t0 = Instant::now();
        loop {
            if let Ok(list) = phone.devices().await {
                if list.iter().any(|d| d.name == name) {
                    break;
                }
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "{name} registers\n{}",
                self.home.log()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let album = self.sim.info["demo_album"].as_str().unwrap().to_string();
        within(20, phone.play(Some(name), &album, Some(0), None))
            .await
            .expect("the phone starts the daemon");
        until_status(phone, 30, |st| {
            st["active_device_name"] == name && st["is_playing"] == true
        })
        .await
        .unwrap_or_else(|st| panic!("{name} plays: {st}\n{}", self.home.log()));
    }

    fn track(&self, i: usize) -> &Value {
        &self.sim.info["demo_tracks"][i]
    }
}

/// One recorded `Notify` call.
#[derive(Debug, Clone)]
struct Notified {
    app: String,
    replaces: u32,
    summary: String,
    body: String,
    /// The `image-path` hint.
    image: Option<String>,
}

/// The fake `org.freedesktop.Notifications`: records calls, answers ids 1, 2, …
struct FakeNotifications {
    calls: Arc<Mutex<Vec<Notified>>>,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl FakeNotifications {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        app_name: String,
        replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        _actions: Vec<String>,
        hints: HashMap<String, DValue<'_>>,
        _expire_timeout: i32,
    ) -> u32 {
        let image = match hints.get("image-path") {
            Some(DValue::Str(s)) => Some(s.to_string()),
            _ => None,
        };
        let mut calls = self.calls.lock().unwrap();
        calls.push(Notified {
            app: app_name,
            replaces: replaces_id,
            summary,
            body,
            image,
        });
        // The server keeps an id when asked to replace it, as real servers do.
        if replaces_id != 0 {
            replaces_id
        } else {
            100 + calls.len() as u32
        }
    }

    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "fake".into(),
            "tonearm-tests".into(),
            "0".into(),
            "1.2".into(),
        )
    }
}

async fn fake_notifications(bus: &SessionBus) -> (zbus::Connection, Arc<Mutex<Vec<Notified>>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let conn = zbus::connection::Builder::address(bus.address())
        .unwrap()
        .name("org.freedesktop.Notifications")
        .unwrap()
        .serve_at(
            "/org/freedesktop/Notifications",
            FakeNotifications {
                calls: calls.clone(),
            },
        )
        .unwrap()
        .build()
        .await
        .expect("the fake notification server on the private bus");
    (conn, calls)
}

async fn until_calls(calls: &Arc<Mutex<Vec<Notified>>>, n: usize, secs: u64) -> Vec<Notified> {
    let t0 = Instant::now();
    loop {
        let got = calls.lock().unwrap().clone();
        if got.len() >= n || t0.elapsed() > Duration::from_secs(secs) {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn secs(s: &str) -> f64 {
    s.trim().parse().unwrap_or(f64::NAN)
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playerctl_reads_and_drives_the_daemon_and_track_changes_notify() {
    if !tools() {
        return;
    }
    let mut rig = Rig::start(Some("[desktop]\nnotifications = true\n"));
    let bus = SessionBus::start(&rig.home);
    let (server, calls) = fake_notifications(&bus).await;
    rig.spawn_daemon(Some(&bus));
    let phone = rig.phone().await;

    // Listed before anything plays.
    let listed = until_playerctl(&rig.home, &bus, &["-l"], 30, |o| o.contains("tonearm")).await;
    assert!(
        listed.is_ok(),
        "playerctl -l: {listed:?}\n{}",
        rig.home.log()
    );
    rig.play_album(&phone).await;

    // Metadata of the playing track.
    let first = rig.track(0).clone();
    let title = first["name"].as_str().unwrap().to_string();
    let fmt = "{{title}}|{{artist}}|{{album}}|{{mpris:length}}|{{mpris:trackid}}";
    let meta = until_playerctl(&rig.home, &bus, &["metadata", "--format", fmt], 20, |o| {
        o.starts_with(&format!("{title}|"))
    })
    .await
    .unwrap_or_else(|o| panic!("metadata shows {title:?}: {o}\n{}", rig.home.log()));
    let parts: Vec<&str> = meta.split('|').collect();
    assert_eq!(parts.len(), 5, "{meta}");
    let artist = first["artists"][0].as_str().unwrap();
    assert!(parts[1].contains(artist), "artist {artist:?} in {meta}");
    assert_eq!(parts[2], first["album"].as_str().unwrap(), "{meta}");
    let length_ms = first["duration_ms"].as_u64().unwrap();
    assert_eq!(parts[3], (length_ms * 1000).to_string(), "{meta}");
    // playerctl prints object paths quoted.
    let track_id = parts[4].trim_matches('\'');
    assert!(track_id.starts_with("/org/tonearm/track/"), "{meta}");
    let (_, title_only, _) = playerctl(&rig.home, &bus, &["metadata", "title"]);
    assert_eq!(title_only, title);

    // playerctl pause → the phone sees it paused, playerctl says so.
    let (ok, _, err) = playerctl(&rig.home, &bus, &["pause"]);
    assert!(ok, "pause: {err}");
    until_status(&phone, 15, |st| st["is_paused"] == true)
        .await
        .unwrap_or_else(|st| panic!("the phone sees the pause: {st}"));
    until_playerctl(&rig.home, &bus, &["status"], 10, |o| o == "Paused")
        .await
        .unwrap_or_else(|o| panic!("playerctl status after pause: {o}"));

    // The phone resumes, then pauses: playerctl follows (PropertiesChanged from the status).
    within(20, phone.resume(Some(NAME))).await.expect("resume");
    until_playerctl(&rig.home, &bus, &["status"], 15, |o| o == "Playing")
        .await
        .unwrap_or_else(|o| panic!("playerctl follows the phone's resume: {o}"));

    // playerctl next → the next track, at the phone and in the metadata.
    let second = rig.track(1).clone();
    let second_uri = second["uri"].as_str().unwrap().to_string();
    let second_title = second["name"].as_str().unwrap().to_string();
    let (ok, _, err) = playerctl(&rig.home, &bus, &["next"]);
    assert!(ok, "next: {err}");
    until_status(&phone, 20, |st| st["track_uri"] == second_uri.as_str())
        .await
        .unwrap_or_else(|st| panic!("the phone sees the next track: {st}"));
    until_playerctl(&rig.home, &bus, &["metadata", "title"], 10, |o| {
        o == second_title
    })
    .await
    .unwrap_or_else(|o| panic!("metadata follows next: {o}"));

    // playerctl position → the position, at playerctl and at the phone. The brief's 30 s,
    // or the middle of a shorter track.
    let len2 = second["duration_ms"].as_u64().unwrap();
    let target_s = if len2 > 40_000 { 30 } else { len2 / 2000 };
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .interface("org.mpris.MediaPlayer2.Player")
        .unwrap()
        .member("Seeked")
        .unwrap()
        .build();
    let mut seeked = zbus::MessageStream::for_match_rule(rule, &server, None)
        .await
        .expect("watch Seeked");
    let (ok, _, err) = playerctl(&rig.home, &bus, &["position", &target_s.to_string()]);
    assert!(ok, "position: {err}");
    // The jump is signalled (`Seeked`, in µs), as playing on is not.
    let signal = within(10, futures_util::StreamExt::next(&mut seeked))
        .await
        .expect("a Seeked signal")
        .expect("a message");
    let at_us: i64 = signal.body().deserialize().expect("Seeked(x)");
    assert!(
        (at_us as f64 / 1e6 - target_s as f64).abs() < 3.0,
        "Seeked({at_us}) for {target_s} s"
    );
    let want = target_s as f64;
    until_playerctl(&rig.home, &bus, &["position"], 10, |o| {
        (secs(o) - want).abs() < 3.0
    })
    .await
    .unwrap_or_else(|o| panic!("playerctl position near {want}: {o}"));
    until_status(&phone, 15, |st| {
        let p = st["position_ms"].as_u64().unwrap_or(0) as f64 / 1000.0;
        (p - want).abs() < 3.0
    })
    .await
    .unwrap_or_else(|st| panic!("the phone sees the seek to {want} s: {st}"));

    // playerctl volume 0.5 → half volume at playerctl and on the phone's device list.
    let (ok, _, err) = playerctl(&rig.home, &bus, &["volume", "0.5"]);
    assert!(ok, "volume: {err}");
    until_playerctl(&rig.home, &bus, &["volume"], 10, |o| {
        (secs(o) - 0.5).abs() < 0.01
    })
    .await
    .unwrap_or_else(|o| panic!("playerctl volume 0.5: {o}"));
    let t0 = Instant::now();
    loop {
        let vol = phone
            .devices()
            .await
            .ok()
            .and_then(|l| l.into_iter().find(|d| d.name == NAME))
            .map(|d| d.volume);
        if vol.is_some_and(|v| v.abs_diff(32768) <= 1) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "the phone sees half volume: {vol:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // playerctl stop → paused at the start of the track, reported as "Stopped"; play resumes
    // from there and says "Playing" again.
    let (ok, _, err) = playerctl(&rig.home, &bus, &["stop"]);
    assert!(ok, "stop: {err}");
    until_status(&phone, 15, |st| {
        st["is_paused"] == true && st["position_ms"].as_u64().is_some_and(|p| p < 1500)
    })
    .await
    .unwrap_or_else(|st| panic!("the phone sees the stop (paused at 0:00): {st}"));
    until_playerctl(&rig.home, &bus, &["status"], 10, |o| o == "Stopped")
        .await
        .unwrap_or_else(|o| panic!("playerctl status after stop: {o}"));
    let (ok, _, err) = playerctl(&rig.home, &bus, &["play"]);
    assert!(ok, "play: {err}");
    until_playerctl(&rig.home, &bus, &["status"], 15, |o| o == "Playing")
        .await
        .unwrap_or_else(|o| panic!("playerctl status after play: {o}"));
    until_status(&phone, 15, |st| st["is_paused"] == false)
        .await
        .unwrap_or_else(|st| panic!("the phone sees play after stop: {st}"));

    // A pause from the phone: `PropertiesChanged` says so (what widgets and media-key
    // daemons listen to), and playerctl status follows.
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .interface("org.freedesktop.DBus.Properties")
        .unwrap()
        .member("PropertiesChanged")
        .unwrap()
        .path("/org/mpris/MediaPlayer2")
        .unwrap()
        .build();
    let mut changes = zbus::MessageStream::for_match_rule(rule, &server, None)
        .await
        .expect("watch PropertiesChanged");
    within(20, phone.pause(Some(NAME))).await.expect("pause");
    within(15, async {
        loop {
            let msg = futures_util::StreamExt::next(&mut changes)
                .await
                .expect("the bus is up")
                .expect("a message");
            let (iface, changed, _): (
                String,
                HashMap<String, zbus::zvariant::OwnedValue>,
                Vec<String>,
            ) = msg
                .body()
                .deserialize()
                .expect("PropertiesChanged(sa{sv}as)");
            let status = changed
                .get("PlaybackStatus")
                .and_then(|v| String::try_from(v.try_clone().unwrap()).ok());
            if iface == "org.mpris.MediaPlayer2.Player" && status.as_deref() == Some("Paused") {
                break;
            }
        }
    })
    .await;
    until_playerctl(&rig.home, &bus, &["status"], 15, |o| o == "Paused")
        .await
        .unwrap_or_else(|o| panic!("playerctl follows the phone's pause: {o}"));

    // Notifications: one per track (two so far), the second replacing the first.
    let got = until_calls(&calls, 2, 10).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_now = calls.lock().unwrap().clone();
    assert_eq!(got_now.len(), 2, "one Notify per track change: {got_now:?}");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].app, "tonearm");
    assert_eq!(got[0].replaces, 0, "{got:?}");
    assert_eq!(got[0].summary, title);
    assert!(got[0].body.contains(artist), "{got:?}");
    assert_eq!(got[1].summary, second_title);
    assert_eq!(
        got[1].replaces, 101,
        "the second replaces the first: {got:?}"
    );

    // OpenUri with an open.spotify.com link: that track plays (through the core's Load).
    let third = rig.track(2).clone();
    let third_uri = third["uri"].as_str().unwrap().to_string();
    let link = format!(
        "https://open.spotify.com/track/{}?si=x",
        third_uri.rsplit(':').next().unwrap()
    );
    let (ok, _, err) = playerctl(&rig.home, &bus, &["open", &link]);
    assert!(ok, "open: {err}");
    until_status(&phone, 20, |st| {
        st["track_uri"] == third_uri.as_str() && st["is_playing"] == true
    })
    .await
    .unwrap_or_else(|st| panic!("the phone sees the opened track play: {st}"));
    phone.close().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_session_bus_the_daemon_plays_and_says_so_once() {
    // Home's environment points DBUS_SESSION_BUS_ADDRESS at nothing.
    let mut rig = Rig::start(None);
    rig.spawn_daemon(None);
    let phone = rig.phone().await;
    rig.play_album(&phone).await;
    let log = rig.home.log();
    let lines = log
        .lines()
        .filter(|l| l.contains("desktop integration (MPRIS, notifications) off"))
        .count();
    assert_eq!(lines, 1, "one log line about the missing bus:\n{log}");
    phone.close().await;
}

/// The TUI is a front end of MPRIS too: in tmux on the private bus, started by the phone,
/// `playerctl` reads its track and its `pause`/`next` go through `update` (`Msg::Intent`) to
/// the player — the now-playing bar and the phone both follow.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playerctl_drives_the_tui() {
    if !tools() || !require_tool("tmux", "the TUI runs in a tmux pane") {
        return;
    }
    const TUI: &str = "MPRIS TUI";
    let rig = Rig::start(None);
    let bus = SessionBus::start(&rig.home);
    let tmux = rig.home.tmux(
        (120, 40),
        &format!(
            "exec env TERM=xterm-256color DBUS_SESSION_BUS_ADDRESS='{}' {BIN} {} --sink null --device-name '{TUI}'",
            bus.address(),
            endpoint_args(&rig.sim.info).join(" ")
        ),
    );
    let log = || format!("log:\n{}", rig.home.log());
    tmux.wait_for("the library", Duration::from_secs(90), log, |s| {
        s.contains("Demo Mix")
    });
    let phone = rig.phone().await;
    rig.play_album_on(&phone, TUI).await;
    let first = rig.track(0)["name"].as_str().unwrap().to_string();
    until_playerctl(&rig.home, &bus, &["metadata", "title"], 20, |o| o == first)
        .await
        .unwrap_or_else(|o| panic!("the TUI's metadata shows {first:?}: {o}\n{}", log()));

    let (ok, _, err) = playerctl(&rig.home, &bus, &["pause"]);
    assert!(ok, "pause: {err}");
    until_status(&phone, 15, |st| st["is_paused"] == true)
        .await
        .unwrap_or_else(|st| panic!("the phone sees the TUI paused: {st}"));
    until_playerctl(&rig.home, &bus, &["status"], 10, |o| o == "Paused")
        .await
        .unwrap_or_else(|o| panic!("playerctl status: {o}"));

    let second = rig.track(1)["name"].as_str().unwrap().to_string();
    let (ok, _, err) = playerctl(&rig.home, &bus, &["next"]);
    assert!(ok, "next: {err}");
    tmux.wait_for(
        "the next track on the bar",
        Duration::from_secs(30),
        log,
        |s| s.lines().rev().take(6).any(|l| l.contains(&second)),
    );
    until_playerctl(&rig.home, &bus, &["metadata", "title"], 10, |o| o == second)
        .await
        .unwrap_or_else(|o| panic!("metadata follows next: {o}"));
    phone.close().await;
}

/// The screen of `tmux` once `f` holds (60 s), else a panic with the screen and the log.
fn screen_until(tmux: &Tmux, home: &Home, what: &str, f: impl Fn(&str) -> bool) -> String {
    tmux.wait_for(what, Duration::from_secs(60), || home.log(), f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tui_announces_a_cover_that_arrives_after_the_track_started() {
    if !tools()
        || !require_tool(
            "tmux",
            "the TUI part of the MPRIS test runs tonearm in a tmux pane",
        )
    {
        return;
    }
    let home = Home::new(BIN);
    let bus = SessionBus::start(&home);
    let (_server, calls) = fake_notifications(&bus).await;
    // An independent client following the property: it prints the artUrl at start and on
    // every PropertiesChanged (a Get would see the cover without any signal).
    let mut follow = home.command_for("playerctl");
    follow
        .env("DBUS_SESSION_BUS_ADDRESS", bus.address())
        .args(["-p", "tonearm", "--follow", "metadata", "mpris:artUrl"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = follow.spawn().expect("playerctl --follow");
    let stdout = child.stdout.take().unwrap();
    let _follow = KillOnDrop(child);
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = seen.clone();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            sink.lock().unwrap().push(line);
        }
    });

    let tmux = home.tmux(
        (120, 40),
        &format!(
            "DBUS_SESSION_BUS_ADDRESS={} TERM=xterm-256color {BIN} --demo --sink null",
            bus.address()
        ),
    );
    screen_until(&tmux, &home, "the demo library", |s| s.contains("Demo Mix"));
    tmux.keys(&["2"]);
    tmux.type_text("Middle C Sunrise");
    screen_until(&tmux, &home, "search results", |s| {
        s.matches("Middle C Sunrise").count() >= 2
    });
    tmux.keys(&["Enter"]);
    tmux.keys(&["Enter"]);
    screen_until(&tmux, &home, "the track playing", |s| {
        s.lines()
            .rev()
            .take(6)
            .any(|l| l.contains("Middle C Sunrise") && l.contains('▶'))
    });

    let t0 = Instant::now();
    let art = loop {
        let found = seen
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.starts_with("http://") || l.starts_with("file://"))
            .cloned();
        if let Some(url) = found {
            break url;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "playerctl --follow never saw an artUrl: {:?}\n{}",
            seen.lock().unwrap(),
            home.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // `--demo` stores nothing, so the cover is its URL at the simulator (`/image/{id}`).
    assert!(art.contains("/image/"), "the artUrl is the cover's: {art}");

    // The notification for the track carries the same image, at once or sent again in place.
    let t0 = Instant::now();
    let with_image = loop {
        let got = calls.lock().unwrap().clone();
        if let Some(n) = got
            .iter()
            .find(|n| n.summary == "Middle C Sunrise" && n.image.is_some())
        {
            break (n.clone(), got);
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no notification with the cover: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (n, all) = with_image;
    assert_eq!(n.app, "tonearm");
    assert_eq!(n.image.as_deref(), Some(art.as_str()), "{all:?}");
    let first = all
        .iter()
        .position(|c| c.summary == "Middle C Sunrise")
        .unwrap();
    if all[first].image.is_none() {
        assert_ne!(n.replaces, 0, "sent again in place of the first: {all:?}");
    }
    tmux.keys(&["C-c"]);
}
