//! `make bench`: recovery from server-side faults (issue 11), on loopback against the simulator.
//!
//! * Recovery — `tonearm sim` in its own process (restarted on the same ports with its
//!   `--state-dir`, so the account and its credentials survive) and a tonearm Connect device in
//!   this process: services over a real-time recording sink, Connect, and the shared supervisor
//!   with the production back-off (what the daemon runs). The phone starts the demo album on
//!   it; then, `OUTAGES` times, the simulator is killed for `OUTAGE` and started again. Measured
//!   from its return (the restarted simulator's first line: it listens) to (a) the device in the
//!   phone's device list again (a fresh phone polls every 250 ms, its own sign-in included) and
//!   (b) the first sample of the held track reaching the sink. Right after the kill the player
//!   is told to play an album track it has not loaded (what a skip or the end of the buffered
//!   audio comes to), so (b) always measures a real resumption: a 10 s outage is otherwise
//!   covered by the buffered track and its preloaded successor, and nothing would be heard
//!   missing. Median and p90; the goal is ≤ 5 s for both. Between outages the device plays on
//!   for `TONEARM_BENCH_SETTLE_SECS` (default 20): each restart of the simulator forgets every
//!   token it issued, so each outage costs the client one re-mint of its token chain, and the
//!   token provider allows 4 re-mints a minute (`api::tokens::MAX_REMINTS`) before it pauses
//!   minting — outages back to back (settle 0) measure that pause (tens of seconds), not the
//!   recovery. `TONEARM_BENCH_OUTAGE_SECS` (default 10) and `TONEARM_BENCH_OUTAGES` (default
//!   10) shorten a quick run; `TONEARM_BENCH_LOG=FILE` writes the client's log (info) there, to see where
//!   a slow recovery spent its time.
//! * Token storm — the in-process simulator's dealer closes every websocket 100 ms after it
//!   opens, for `TONEARM_BENCH_FLAP_SECS` (default 120); a Connect device with the production
//!   dealer back-off rides it out. Counted at the simulator (`GET /_sim/stats`): login5
//!   requests and dealer connections per minute, against what the back-off schedule allows
//!   (each reconnect at the shortest jittered wait, one token per reconnect at worst).
//!
//! A plain bench binary (no criterion) to keep the build lean; figures go to the CHANGELOG.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use tonearm::connect::dealer::DealerConfig;
use tonearm::id::SpotifyUri;
use tonearm::player::{PlayState, RepeatMode};
use tonearm_sim::remote::{Phone, PhoneConfig};
use tonearm_sim::{DealerFlap, Fault};
use tonearm_testkit::process::{account_in, Home, SimProcess};
use tonearm_testkit::{ms, poll_until, summary, Node};

const BIN: &str = env!("CARGO_BIN_EXE_tonearm");
const NAME: &str = "bench-recovery";

fn env_secs(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn stats(name: &str, mut v: Vec<Duration>) {
    if v.is_empty() {
        println!("{name:<52} no sample");
        return;
    }
    let s = summary(&mut v);
    println!(
        "{name:<52} n={:<3} median {:>7.1} ms   p90 {:>7.1} ms   max {:>7.1} ms",
        s.n,
        ms(s.median),
        ms(s.p90),
        ms(s.max)
    );
}

/// `tonearm sim` on `ports` (0: any) keeping its state in `state`.
fn spawn_sim(home: &Home, state: &std::path::Path, ports: (u16, u16)) -> SimProcess {
    let mut c = home.command();
    c.arg("sim")
        .arg("--state-dir")
        .arg(state)
        .args(["--http-port", &ports.0.to_string()])
        .args(["--ap-port", &ports.1.to_string()]);
    tokio::task::block_in_place(|| SimProcess::spawn(c))
}

fn port_of(addr: &str) -> u16 {
    addr.trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap()
}

async fn phone_for(info: &serde_json::Value) -> Phone {
    let (user, password) = account_in(info, "premium");
    let base = info["spclient"].as_str().unwrap();
    Phone::connect(PhoneConfig::new(base, &user, &password))
        .await
        .unwrap()
}

/// Polls the phone's device list (4 a second: the simulator limits a client's state PUTs)
/// until the device is in it; how long that took.
async fn until_listed(phone: &Phone, t0: Instant, limit: Duration) -> Option<Duration> {
    while t0.elapsed() < limit {
        if phone
            .devices()
            .await
            .is_ok_and(|l| l.iter().any(|d| d.name == NAME))
        {
            return Some(t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    None
}

async fn wait(what: &str, limit: Duration, f: impl FnMut() -> bool) {
    poll_until(what, limit, Duration::from_millis(5), f).await;
}

async fn recovery() {
    let outage = Duration::from_secs(env_secs("TONEARM_BENCH_OUTAGE_SECS", 10));
    let outages = env_secs("TONEARM_BENCH_OUTAGES", 10) as usize;
    let settle = Duration::from_secs(env_secs("TONEARM_BENCH_SETTLE_SECS", 20));
    let home = Home::new(BIN);
    let state = home.path().join("sim-state");
    let mut sim = spawn_sim(&home, &state, (0, 0));
    let info = sim.info.clone();
    let ports = (
        port_of(info["spclient"].as_str().unwrap()),
        port_of(info["access_points"][0].as_str().unwrap()),
    );
    let album = info["demo_album"].as_str().unwrap().to_owned();
    let album_name = info["demo_tracks"][0]["album"].clone();
    let album_ids: Vec<_> = info["demo_tracks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["album"] == album_name)
        .map(|t| SpotifyUri::parse(t["uri"].as_str().unwrap()).unwrap().id)
        .collect();

    let node = Node::start_from_info(&info, NAME).await;
    let session = node.services.session.clone();
    tokio::spawn(tonearm::supervisor::supervise(
        session.clone(),
        Duration::from_secs(1),
        Duration::from_secs(30),
        |_| true,
    ));
    let phone = phone_for(&info).await;
    until_listed(&phone, Instant::now(), Duration::from_secs(30))
        .await
        .expect("the device registers");
    phone.play(Some(NAME), &album, Some(0), None).await.unwrap();
    phone.close().await;
    // Plays on between outages (the album is under a minute long).
    node.player().set_repeat(RepeatMode::All);

    let (mut listed, mut heard) = (Vec::new(), Vec::new());
    let mut missed = 0;
    for round in 0..outages {
        if round > 0 {
            tokio::time::sleep(settle).await;
        }
        // Playing, with a second of audio heard since the last round.
        let from = node.samples();
        let mut status = node.status();
        wait("playing", Duration::from_secs(60), || {
            status.borrow_and_update().state == PlayState::Playing
                && node.samples() >= from + 88_200
        })
        .await;
        let current = node.player().queue().borrow().current.unwrap_or(0);
        drop(sim);
        // A track nothing has loaded (not the one playing, not its preloaded successor).
        let held = (current + 2) % album_ids.len();
        node.player().load(album_ids.clone(), held, 0, true);
        node.player().set_repeat(RepeatMode::All);
        tokio::time::sleep(outage).await;
        sim = spawn_sim(&home, &state, ports);
        let back = Instant::now();
        let first_sample = async {
            let t = Instant::now();
            loop {
                if let Some(at) = node.recording.lock().unwrap().first_write_after(back) {
                    return Some(at - back);
                }
                if t.elapsed() > Duration::from_secs(60) {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        };
        let visible = async {
            let phone = phone_for(&sim.info).await;
            let seen = until_listed(&phone, back, Duration::from_secs(60)).await;
            phone.close().await;
            seen
        };
        tracing::info!(round = round + 1, "bench: the simulator is back");
        let (a, b) = tokio::join!(visible, first_sample);
        match (a, b) {
            (Some(a), Some(b)) => {
                println!(
                    "  outage {:>2}: device listed after {:>6.0} ms, first sample after {:>6.0} ms",
                    round + 1,
                    ms(a),
                    ms(b)
                );
                listed.push(a);
                heard.push(b);
            }
            (a, b) => {
                println!(
                    "  outage {:>2}: not back within 60 s ({a:?}, {b:?})",
                    round + 1
                );
                missed += 1;
            }
        }
    }
    println!(
        "Recovery after a {} s outage of the simulator ({} outages {} s apart, {} not back within 60 s)",
        outage.as_secs(),
        outages,
        settle.as_secs(),
        missed
    );
    stats("return → device in the phone's device list", listed);
    stats("return → first sample of the held track", heard);
    node.stop().await;
    drop(sim);
}

/// How many reconnects the dealer's back-off schedule allows in `window` at most: every wait
/// at its shortest (half the un-jittered back-off), the attempt counter never reset (a
/// connection closed after 100 ms is never stable).
fn schedule_bound(config: &DealerConfig, window: Duration) -> u64 {
    let mut spent = Duration::ZERO;
    let mut n = 0u64;
    for attempt in 1.. {
        spent += config.backoff(attempt) / 2;
        if spent > window {
            break;
        }
        n += 1;
    }
    n
}

async fn token_storm() {
    let window = Duration::from_secs(env_secs("TONEARM_BENCH_FLAP_SECS", 120));
    let sim = tonearm_testkit::sim().await;
    let base = sim.info().spclient.clone();
    let node = Node::start(&sim, "bench-token-storm").await;
    wait("the dealer", Duration::from_secs(30), || {
        sim.stats().dealer_connections > 0
    })
    .await;
    let before = tonearm_sim::admin::stats(&base).await.unwrap();
    sim.fault(Fault::DealerFlap(DealerFlap {
        close_after_ms: Some(100),
        times: 1_000_000,
    }));
    tokio::time::sleep(window).await;
    let after = tonearm_sim::admin::stats(&base).await.unwrap();
    sim.fault(Fault::Clear);
    let minutes = window.as_secs_f64() / 60.0;
    let login5 = after.login5_requests - before.login5_requests;
    let tokens = after.client_token_requests - before.client_token_requests;
    let dealer = after.dealer_connections - before.dealer_connections;
    let bound = schedule_bound(&DealerConfig::default(), window);
    println!(
        "Token storm: the dealer closes every websocket 100 ms after it opens, for {} s",
        window.as_secs()
    );
    println!(
        "{:<52} {:>6.1} /min   ({login5} in all)",
        "login5 requests",
        login5 as f64 / minutes
    );
    println!(
        "{:<52} {:>6.1} /min   ({tokens} in all)",
        "client-token requests",
        tokens as f64 / minutes
    );
    println!(
        "{:<52} {:>6.1} /min   ({dealer} in all)",
        "dealer reconnects",
        dealer as f64 / minutes
    );
    println!(
        "{:<52} {:>6.1} /min   ({bound} in all)",
        "back-off schedule allows at most (reconnects)",
        bound as f64 / minutes
    );
    node.stop().await;
    sim.shutdown().await;
}

fn main() {
    if let Ok(path) = std::env::var("TONEARM_BENCH_LOG") {
        tonearm::logging::init(std::path::Path::new(&path), "info").unwrap();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        recovery().await;
        token_storm().await;
    });
}
