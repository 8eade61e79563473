//! The zeroconf receiver against a hostile LAN (issue 12): the accept policy, the endpoint's
//! hygiene and its per-address limits, end to end.
//!
//! * The endpoint alone (in-process, 127.0.0.1): the policy's answers, POST-only `addUser`, the
//!   `Host` check, and 64 idle connections from 127.0.0.2 that do not keep a phone on
//!   127.0.0.3 from `getInfo` + `addUser` (clients bound to those source addresses).
//! * The daemon binary signed in with `tonearm login`'s stored credentials against the
//!   in-process simulator (zeroconf bound to 127.0.0.1, so nothing is advertised): a second
//!   account's phone is refused by default and the daemon keeps playing in the first account's
//!   device list; with `--zeroconf-accept any` the same handover switches accounts and the
//!   handed-over credentials land in their own store entry; a forged login (right user name,
//!   garbage credentials) leaves the session playing; CR/LF in `userName` forges no log line;
//!   the log file is 0600.
//! * The TUI (`--demo --zeroconf`, in tmux): refuses another account by default, switches to
//!   it with `--zeroconf-accept any`.
//!
//! No mDNS is involved, so plain loopback is enough (the mDNS tests run in network namespaces,
//! in `zeroconf.rs`).

use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonearm::config::ZeroconfAccept;
use tonearm::connect::discovery::{Discovery, DiscoveryConfig, HEAD_DEADLINE, MAX_PER_IP};
use tonearm::connect::wake;
use tonearm::session::{AuthType, Credentials};
use tonearm_sim::remote::{Phone, PhoneConfig};
use tonearm_testkit::lan::{connect_from, http_from};
use tonearm_testkit::process::{endpoint_args, info_json, Home, Running};
use tonearm_testkit::zeroconf::{get_info, http, port_in, post};
use tonearm_testkit::{credentials, sign_in_with, within};

use crate::common::sim;

const RECEIVER_ID: &str = "9011c7009011c7009011c7009011c7009011c700";

fn local_cfg(name: &str, accept: Option<ZeroconfAccept>) -> DiscoveryConfig {
    let mut c = DiscoveryConfig::new(name, RECEIVER_ID);
    c.bind = "127.0.0.1".parse().unwrap();
    c.advertise = false;
    c.accept = accept;
    c
}

/// A phone's `addUser` for `user` with `auth_type`/`auth_data`, encoded by the simulator's
/// phone (an encoder independent of ours) for the receiver at `addr`. Returns the HTTP status
/// and the JSON answer.
async fn hand_over(
    http: &reqwest::Client,
    addr: SocketAddr,
    user: &str,
    auth_type: u32,
    auth_data: &[u8],
) -> (u16, Value) {
    let info = get_info(http, addr, None).await;
    let inner = tonearm_sim::phone::encode_inner_blob(
        user,
        auth_type,
        auth_data,
        info["deviceID"].as_str().unwrap(),
    )
    .unwrap();
    let key = B64.decode(info["publicKey"].as_str().unwrap()).unwrap();
    let (blob, client_key) = tonearm_sim::phone::encode_outer_blob(&inner, &key).unwrap();
    post(
        http,
        addr,
        &[
            ("action", "addUser"),
            ("userName", user),
            ("blob", &blob),
            ("clientKey", &client_key),
            ("deviceName", "A phone"),
        ],
    )
    .await
}

/// A raw HTTP/1.1 exchange (for methods and headers a client library would fix up).
async fn raw(addr: SocketAddr, request: &str) -> String {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    within(20, tcp.read_to_end(&mut out)).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// A form `POST /` with the `Host` header `host`, over [`raw`]: the whole answer.
async fn form_post(addr: SocketAddr, host: &str, body: &str) -> String {
    let head = "Content-Type: application/x-www-form-urlencoded";
    raw(
        addr,
        &format!(
            "POST / HTTP/1.1\r\nHost: {host}\r\n{head}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await
}

fn refused_by_policy(status: u16, json: &Value) -> bool {
    status == 200
        && json["status"] == 102
        && json["statusString"]
            .as_str()
            .is_some_and(|s| s.starts_with("ERROR-LOGIN-NOT-ALLOWED"))
}

#[tokio::test]
async fn the_endpoint_applies_the_policy_before_any_work() {
    let http = http();
    // Default policy, no account yet: anyone (the first login makes the device theirs).
    let (d, mut rx) = Discovery::start(local_cfg("Policy", None)).await.unwrap();
    let addr = d.local_addr();
    assert_eq!(d.policy(), ZeroconfAccept::Any);
    let (st, json) = hand_over(&http, addr, "bob", 1, b"bob-secret").await;
    assert_eq!((st, json["status"].clone()), (200, 101.into()), "{json}");
    assert_eq!(
        within(10, rx.recv())
            .await
            .unwrap()
            .credentials
            .username
            .as_deref(),
        Some("bob")
    );
    // Once it belongs to an account: that account only (names compared ignoring case).
    d.set_account(Some("alice"));
    assert_eq!(d.policy(), ZeroconfAccept::SameAccount);
    let (st, json) = hand_over(&http, addr, "bob", 1, b"bob-secret").await;
    assert!(refused_by_policy(st, &json), "{st} {json}");
    assert!(
        rx.try_recv().is_err(),
        "a refused login never reaches the owner"
    );
    let (st, json) = hand_over(&http, addr, "ALICE", 1, b"alice-secret").await;
    assert_eq!(json["status"], 101, "{st} {json}");
    assert!(within(10, rx.recv()).await.is_some());
    // Our own controller reads the refusal as a refusal (not as "busy, retry").
    let r = wake::add_user(
        &http,
        addr,
        "/",
        &Credentials::stored("mallory", b"x".to_vec()),
        "ctl",
        "ctl-id",
    )
    .await;
    assert!(
        matches!(&r, Err(wake::WakeError::Refused { status: 102, text }) if text.starts_with("ERROR-LOGIN-NOT-ALLOWED")),
        "{r:?}"
    );
    d.shutdown().await;

    // `none`: nobody, not even the same account.
    let (d, mut rx) = Discovery::start(local_cfg("Closed", Some(ZeroconfAccept::Nobody)))
        .await
        .unwrap();
    d.set_account(Some("alice"));
    let (st, json) = hand_over(&http, d.local_addr(), "alice", 1, b"alice").await;
    assert!(refused_by_policy(st, &json), "{st} {json}");
    assert!(rx.try_recv().is_err());
    d.shutdown().await;

    // `any`: another account too.
    let (d, mut rx) = Discovery::start(local_cfg("Open", Some(ZeroconfAccept::Any)))
        .await
        .unwrap();
    d.set_account(Some("alice"));
    let (_, json) = hand_over(&http, d.local_addr(), "bob", 1, b"bob").await;
    assert_eq!(json["status"], 101, "{json}");
    assert!(within(10, rx.recv()).await.is_some());
    d.shutdown().await;
}

#[tokio::test]
async fn add_user_needs_post_and_a_local_host_name() {
    let (d, mut rx) = Discovery::start(local_cfg("Kitchen Speaker", None))
        .await
        .unwrap();
    let addr = d.local_addr();
    let info = get_info(&http(), addr, None).await;
    let inner = tonearm_sim::phone::encode_inner_blob("bob", 1, b"s", RECEIVER_ID).unwrap();
    let key = B64.decode(info["publicKey"].as_str().unwrap()).unwrap();
    let (blob, client_key) = tonearm_sim::phone::encode_outer_blob(&inner, &key).unwrap();
    let query = format!(
        "action=addUser&userName=bob&blob={}&clientKey={}",
        blob.replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D"),
        client_key
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D")
    );
    // A valid addUser by GET (what an <img> in a web page could send): refused.
    let r = http()
        .get(format!("http://{addr}/?{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, POST");
    let json: Value = r.json().await.unwrap();
    assert_eq!(json["status"], 102);
    assert!(json["statusString"]
        .as_str()
        .unwrap()
        .starts_with("ERROR-METHOD-NOT-ALLOWED"));
    // Other methods too.
    let resp = raw(
        addr,
        &format!("PUT /?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 405"), "{resp}");
    assert!(rx.try_recv().is_err(), "no login by GET or PUT");

    // DNS rebinding: a name that is not ours, not local, not an address.
    let body = query.clone();
    for host in [
        "attacker.example",
        "attacker.example:80",
        "127.0.0.1.nip.io",
    ] {
        let resp = form_post(addr, host, &body).await;
        assert!(resp.starts_with("HTTP/1.1 403"), "{host}: {resp}");
        assert!(resp.contains("ERROR-FORBIDDEN-HOST"), "{resp}");
    }
    // getInfo from such a page is refused as well.
    let resp = raw(
        addr,
        "GET /?action=getInfo HTTP/1.1\r\nHost: attacker.example\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");
    assert!(rx.try_recv().is_err(), "no login from a rebinding page");
    // Addresses, .local names and the advertised name (any case) are served.
    for host in [
        format!("{addr}"),
        "[::1]:80".to_string(),
        "kitchen-speaker.local".to_string(),
        "KITCHEN SPEAKER".to_string(),
    ] {
        let resp = raw(
            addr,
            &format!("GET /?action=getInfo HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        )
        .await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{host}: {resp}");
    }
    // And the POST from a proper host goes through.
    let resp = form_post(addr, &addr.to_string(), &body).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("\"status\":101"), "{resp}");
    assert!(within(10, rx.recv()).await.is_some());
    d.shutdown().await;
}

/// 64 idle connections from 127.0.0.2 (connected, nothing sent) hold at most [`MAX_PER_IP`]
/// slots: the others are closed at once, and a phone on 127.0.0.3 completes `getInfo` and
/// `addUser` while they are open — well before the request-head deadline would have freed
/// anything.
#[tokio::test]
async fn idle_connections_from_one_host_do_not_lock_out_another() {
    let (d, mut rx) = Discovery::start(local_cfg("Crowded", None)).await.unwrap();
    let addr = d.local_addr();
    let flooder: IpAddr = "127.0.0.2".parse().unwrap();
    let phone: IpAddr = "127.0.0.3".parse().unwrap();
    let mut idle = Vec::new();
    for _ in 0..64 {
        idle.push(connect_from(flooder, addr).await.unwrap());
    }
    let t0 = Instant::now();
    let http = http_from(phone, Duration::from_secs(20));
    let info = get_info(&http, addr, None).await;
    assert_eq!(info["deviceID"], RECEIVER_ID);
    let (st, json) = hand_over(&http, addr, "phone-user", 1, b"phone-secret").await;
    assert_eq!((st, json["status"].clone()), (200, 101.into()), "{json}");
    let took = t0.elapsed();
    assert!(
        took < HEAD_DEADLINE,
        "the phone waited {took:?}: the idle connections held the slots"
    );
    assert_eq!(
        within(10, rx.recv())
            .await
            .unwrap()
            .credentials
            .username
            .as_deref(),
        Some("phone-user")
    );
    // Of the idle ones, all but MAX_PER_IP were closed at once (end of file or reset, no
    // answer); the ones kept are cut off by the request-head deadline, not held for 10 s.
    let mut open = Vec::new();
    for mut s in idle {
        let mut buf = [0u8; 64];
        match tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {}
            Ok(Ok(n)) => panic!("an idle connection got {n} bytes"),
            Err(_) => open.push(s),
        }
    }
    assert!(open.len() <= MAX_PER_IP, "{} of 64 kept open", open.len());
    for mut s in open {
        let mut buf = Vec::new();
        let _ = within(10, s.read_to_end(&mut buf)).await;
        let text = String::from_utf8_lossy(&buf);
        assert!(text.is_empty() || text.starts_with("HTTP/1.1 4"), "{text}");
    }
    assert!(
        t0.elapsed() < HEAD_DEADLINE + Duration::from_secs(3),
        "the head deadline cut the idle connections off"
    );
    d.shutdown().await;
}

// ---- the daemon binary ---------------------------------------------------------------------

const DAEMON: &str = "Policy Daemon";

/// A home where `tonearm login` stored `user`'s credentials (file store) for `sim`.
fn logged_in_home(sim: &tonearm_sim::Simulator, user: &str, password: &str) -> Home {
    let home = Home::new(env!("CARGO_BIN_EXE_tonearm"));
    home.login(&info_json(sim), user, password);
    home
}

/// `tonearm daemon` in `home` against `sim`, zeroconf on 127.0.0.1; returns the process and
/// the zeroconf address once it is up.
fn spawn_daemon(
    sim: &tonearm_sim::Simulator,
    home: &Home,
    extra: &[&str],
) -> (Running, SocketAddr) {
    let mut cmd = home.command();
    cmd.args(endpoint_args(&info_json(sim)))
        .args([
            "daemon",
            "--sink",
            "null",
            "--name",
            DAEMON,
            "--zeroconf",
            "--zeroconf-bind",
            "127.0.0.1",
        ])
        .args(extra)
        .stderr(Stdio::piped());
    let mut daemon = Running::spawn(cmd);
    let line = daemon.line(|l| l.contains("zeroconf port"));
    let port: u16 = port_in(&line).unwrap_or_else(|| panic!("no port in {line:?}"));
    (daemon, SocketAddr::from(([127, 0, 0, 1], port)))
}

async fn phone_of(sim: &tonearm_sim::Simulator, user: &str) -> Phone {
    let a = sim
        .info()
        .accounts
        .iter()
        .find(|a| a.username == user)
        .expect("account");
    within(
        20,
        Phone::connect(PhoneConfig::new(&sim.info().spclient, user, &a.password)),
    )
    .await
    .expect("the phone signs in")
}

async fn listed(phone: &Phone) -> bool {
    phone
        .devices()
        .await
        .is_ok_and(|l| l.iter().any(|d| d.name == DAEMON))
}

/// Polls (≤ 4 a second) until `f` holds for the phone's status; panics after `secs`.
async fn wait_status(phone: &Phone, secs: u64, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let t0 = Instant::now();
    let mut last = Value::Null;
    while t0.elapsed() < Duration::from_secs(secs) {
        if let Ok(st) = phone.status().await {
            if f(&st) {
                return st;
            }
            last = st;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("timed out waiting for {what}; last status {last}");
}

async fn wait_listed(phone: &Phone, secs: u64, want: bool, what: &str, home: &Home) {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(secs) {
        if listed(phone).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("timed out waiting for {what}\nlog:\n{}", home.log());
}

fn playing_here(st: &Value) -> bool {
    st["active_device_name"] == DAEMON && st["is_playing"] == true
}

/// The demo account's daemon plays the demo album, started from that account's phone.
async fn start_playing(sim: &tonearm_sim::Simulator, home: &Home) -> Phone {
    let owner = phone_of(sim, "tonearm-demo").await;
    wait_listed(&owner, 60, true, "the daemon in its account's list", home).await;
    let album = sim.info().demo_album.clone();
    within(20, owner.play(Some(DAEMON), &album, Some(0), None))
        .await
        .expect("the phone starts the daemon");
    wait_status(&owner, 30, "the daemon playing", playing_here).await;
    owner
}

/// Alice's stored credentials (what her phone would hand over).
async fn alice_stored(sim: &tonearm_sim::Simulator) -> Credentials {
    let alice = tonearm_testkit::account_named(sim, "alice");
    let s = sign_in_with(
        tonearm_testkit::session_config(sim, "alice-phone"),
        credentials(alice),
    )
    .await;
    let c = s.reusable_credentials();
    s.shutdown().await;
    assert_eq!(c.auth_type, AuthType::StoredSpotifyCredentials);
    c
}

/// The demo account's daemon (signed in by `tonearm login`, with `extra` flags) playing the
/// demo album, started from that account's phone; the main store entry as it was before the
/// daemon started.
struct Playing {
    s: tonearm_sim::Simulator,
    home: Home,
    daemon: Running,
    addr: SocketAddr,
    owner: Phone,
    stored_before: Vec<u8>,
}

impl Playing {
    async fn start(extra: &[&str]) -> Playing {
        let s = sim().await;
        let home = logged_in_home(&s, "tonearm-demo", "tonearm-demo-pass");
        let stored_before = std::fs::read(home.path().join(MAIN_CREDS)).unwrap();
        let (daemon, addr) = spawn_daemon(&s, &home, extra);
        let owner = start_playing(&s, &home).await;
        Playing {
            s,
            home,
            daemon,
            addr,
            owner,
            stored_before,
        }
    }

    /// Alice's phone hands her stored credentials to the daemon: the HTTP status and answer.
    async fn alice_hands_over(&self) -> (u16, Value) {
        let alice = alice_stored(&self.s).await;
        hand_over(
            &http(),
            self.addr,
            "alice",
            alice.auth_type.as_u32(),
            &alice.auth_data,
        )
        .await
    }

    /// `tonearm login`'s entry is what it was before the daemon started.
    fn main_store_untouched(&self) {
        let now = std::fs::read(self.home.path().join(MAIN_CREDS)).unwrap();
        assert_eq!(now, self.stored_before);
    }
}

const MAIN_CREDS: &str = "state/tonearm/credentials.json";
const ZEROCONF_CREDS: &str = "state/tonearm/zeroconf-credentials.json";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_accounts_phone_is_refused_by_default_and_the_daemon_plays_on() {
    let p = Playing::start(&["--store-credentials"]).await;
    let (st, json) = p.alice_hands_over().await;
    assert!(refused_by_policy(st, &json), "{st} {json}");
    // Three seconds later: still the owner's, still playing, not in Alice's list.
    tokio::time::sleep(Duration::from_secs(3)).await;
    wait_status(&p.owner, 5, "the daemon still playing", playing_here).await;
    assert!(listed(&p.owner).await, "still in the owner's device list");
    let alice_phone = phone_of(&p.s, "alice").await;
    assert!(!listed(&alice_phone).await, "not in Alice's device list");
    assert_eq!(
        get_info(&http(), p.addr, None).await["activeUser"],
        "tonearm-demo"
    );
    p.main_store_untouched();
    assert!(!p.home.path().join(ZEROCONF_CREDS).exists());
    let log = p.home.log();
    assert!(
        log.contains("refused by the accept policy (same-account)"),
        "{log}"
    );
    assert!(log.contains("user=alice"), "{log}");
    alice_phone.close().await;
    p.owner.close().await;
    drop(p.daemon);
    p.s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_accept_any_the_same_handover_switches_accounts() {
    let p = Playing::start(&["--zeroconf-accept", "any", "--store-credentials"]).await;
    let (st, json) = p.alice_hands_over().await;
    assert_eq!((st, json["status"].clone()), (200, 101.into()), "{json}");
    let alice_phone = phone_of(&p.s, "alice").await;
    wait_listed(
        &alice_phone,
        60,
        true,
        "the daemon in Alice's list",
        &p.home,
    )
    .await;
    wait_listed(
        &p.owner,
        30,
        false,
        "the daemon gone from the owner's list",
        &p.home,
    )
    .await;
    assert_eq!(get_info(&http(), p.addr, None).await["activeUser"], "alice");
    // Alice's credentials went to their own entry; `tonearm login`'s are untouched.
    let zc = std::fs::read_to_string(p.home.path().join(ZEROCONF_CREDS))
        .expect("the handed-over credentials are stored");
    assert!(zc.contains("\"alice\""), "{zc}");
    p.main_store_untouched();
    alice_phone.close().await;
    let Playing {
        s,
        home,
        daemon,
        owner,
        ..
    } = p;
    owner.close().await;
    drop(daemon);
    // `tonearm logout` removes both entries.
    let out = home.command().arg("logout").output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("zeroconf-credentials.json"), "{said}");
    assert!(!home.path().join(MAIN_CREDS).exists());
    assert!(!home.path().join(ZEROCONF_CREDS).exists());
    s.shutdown().await;
}

/// Forged logins and hostile fields against the signed-in daemon (default policy).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_logins_leave_the_session_playing_and_forge_no_log_lines() {
    let Playing {
        s,
        home,
        daemon,
        addr,
        owner,
        ..
    } = Playing::start(&[]).await;
    let http = http();

    // The owner's user name with garbage credentials passes the policy, is tried on a session
    // of its own, fails there — and the playing session is never stopped.
    let (st, json) = hand_over(&http, addr, "tonearm-demo", 1, b"garbage credentials").await;
    assert_eq!((st, json["status"].clone()), (200, 101.into()), "{json}");
    // A password login with a wrong password, likewise.
    let (_, json) = hand_over(&http, addr, "tonearm-demo", 0, b"wrong-password").await;
    assert_eq!(json["status"], 101, "{json}");
    // An inner blob that is not a blob at all: refused at the door.
    let info = get_info(&http, addr, None).await;
    let key = B64.decode(info["publicKey"].as_str().unwrap()).unwrap();
    let (blob, ck) = tonearm_sim::phone::encode_outer_blob("Z2FyYmFnZQ", &key).unwrap();
    let (st, json) = post(
        &http,
        addr,
        &[
            ("action", "addUser"),
            ("userName", "tonearm-demo"),
            ("blob", &blob),
            ("clientKey", &ck),
        ],
    )
    .await;
    assert_eq!(st, 400, "{json}");
    // GET addUser and a rebinding Host: refused.
    let r = http
        .get(format!(
            "http://{addr}/?action=addUser&userName=tonearm-demo&blob=AA&clientKey=AA"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let resp = raw(
        addr,
        "POST / HTTP/1.1\r\nHost: attacker.example\r\nContent-Length: 14\r\n\r\naction=addUser",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");
    // CR/LF in userName: the refusal is logged with the name escaped.
    let forged = "mallory\r\n2026-01-01T00:00:00.000000Z  INFO tonearm: FORGED-LINE";
    let (st, json) = hand_over(&http, addr, forged, 1, b"x").await;
    assert!(refused_by_policy(st, &json), "{st} {json}");

    // Both failed logins were tried and given up on (logged), and the daemon plays on.
    let t0 = Instant::now();
    loop {
        let log = home.log();
        if log.matches("keeping the current session").count() >= 2 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(40),
            "the forged logins were not given up on:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    wait_status(&owner, 5, "the daemon still playing", playing_here).await;
    assert!(listed(&owner).await, "still listed");
    assert_eq!(
        get_info(&http, addr, None).await["activeUser"],
        "tonearm-demo"
    );

    let log = home.log();
    assert!(
        !log.lines()
            .any(|l| l.contains("FORGED-LINE") && !l.contains("mallory")),
        "a forged log line:\n{log}"
    );
    assert!(
        log.contains("mallory\\r\\n2026-01-01"),
        "escaped in place:\n{log}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.log_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "log file mode {mode:o}");
    }
    owner.close().await;
    drop(daemon);
    s.shutdown().await;
}

// ---- the TUI ---------------------------------------------------------------------------------

/// A free port on 127.0.0.1 (bound, read, released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `tonearm --demo --zeroconf` in tmux, zeroconf on 127.0.0.1: Alice's phone (her password in
/// the blob: the demo's simulator is the TUI's own) is refused by default and switches the TUI
/// to her account with `--zeroconf-accept any`.
#[test]
fn the_tui_serves_zeroconf_under_the_same_policy() {
    if !tonearm_testkit::require_tool(
        "tmux",
        "the TUI zeroconf test runs the TUI in a tmux pane (scripts/setup.sh test installs it)",
    ) {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (extra, switches) in [("", false), (" --zeroconf-accept any", true)] {
        let home = Home::new(env!("CARGO_BIN_EXE_tonearm"));
        let tmux = home.tmux((120, 40), "PS1='$ ' sh");
        let port = free_port();
        tmux.type_text(&format!(
            "{} --demo --sink null --zeroconf --zeroconf-bind 127.0.0.1 --zeroconf-port {port}{extra}",
            env!("CARGO_BIN_EXE_tonearm")
        ));
        tmux.keys(&["Enter"]);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = || home.log();
        tonearm_testkit::wait_until_blocking("the TUI signed in", 60, || {
            log().contains("zeroconf: the TUI is a LAN Connect target")
                && rt
                    .block_on(async {
                        tokio::time::timeout(Duration::from_secs(5), get_info(&http(), addr, None))
                            .await
                    })
                    .is_ok_and(|i| i["activeUser"] == "tonearm-demo")
        });
        let (st, json) = rt.block_on(hand_over(&http(), addr, "alice", 0, b"alice-pass"));
        if switches {
            assert_eq!(json["status"], 101, "{st} {json}");
            tonearm_testkit::wait_until_blocking("the TUI switched to Alice", 60, || {
                rt.block_on(get_info(&http(), addr, None))["activeUser"] == "alice"
            });
            assert!(log().contains("handed_over=true"), "{}", log());
        } else {
            assert!(refused_by_policy(st, &json), "{st} {json}");
            std::thread::sleep(Duration::from_secs(2));
            assert_eq!(
                rt.block_on(get_info(&http(), addr, None))["activeUser"],
                "tonearm-demo"
            );
            assert!(log().contains("refused by the accept policy"), "{}", log());
            // A log line only: nothing about it on the screen.
            assert!(!tmux.capture().contains("alice"), "{}", tmux.capture());
        }
        tmux.keys(&["C-c"]);
    }
}
