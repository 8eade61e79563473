//! What tonearm's end-to-end tests (`tests/e2e`) and benchmarks (`benches/`) both need, written
//! once: a simulator on 127.0.0.1 and the client configuration that reaches it, a signed-in
//! session, a recording sink ([`sink`]), a private D-Bus session bus ([`dbus`]), headless chromium over DevTools ([`chromium`]), a whole signed-in Connect device ([`node`]), the
//! binary run in a private home and `tonearm sim` as a child process ([`process`]), tmux
//! ([`tmux`]), network namespaces for LAN tests ([`netns`]), clients with a chosen loopback
//! source address ([`lan`]), a JSON Schema subset checker ([`json_schema`]), the check for
//! external tools ([`tools`]), a phone's HTTP side of a zeroconf receiver ([`zeroconf`]) and the
//! small measuring helpers ([`measure`]).
//!
//! A dev-dependency of `tonearm` only; it is never part of the shipped library or binary, and
//! the library never depends on it. Helpers panic with a message on failure: they run inside
//! tests and benches.
#![allow(clippy::unwrap_used)]

pub mod chromium;
pub mod dbus;
pub mod json_schema;
pub mod lan;
pub mod measure;
pub mod netns;
pub mod node;
pub mod process;
pub mod sink;
pub mod tmux;
pub mod tools;
pub mod zeroconf;

use std::time::{Duration, Instant};

use tonearm::api::{SpClient, TokenProvider};
use tonearm::config::Endpoints;
use tonearm::session::{Credentials, Session, SessionConfig};
use tonearm_sim::{SimAccount, SimConfig, Simulator};

pub use measure::{
    cpu_percent, cpu_seconds, median, ms, percentile, poll_fast, poll_until, run_bench, summary,
    summary_line, vm_mib, Summary,
};
pub use node::{Node, NodeOptions};
pub use sink::{Recording, Tape};
pub use tools::{require, require_tool};

/// A simulator on 127.0.0.1 with its defaults (the demo catalog, ephemeral ports).
pub async fn sim() -> Simulator {
    sim_with(SimConfig::default()).await
}

/// A simulator on 127.0.0.1 with `cfg` (its `listen` is forced to loopback).
pub async fn sim_with(mut cfg: SimConfig) -> Simulator {
    cfg.listen = "127.0.0.1".parse().unwrap();
    Simulator::start(cfg).await.expect("simulator starts")
}

/// The simulator's first account of `product` (`premium` or `free`).
pub fn account<'a>(sim: &'a Simulator, product: &str) -> &'a SimAccount {
    sim.info()
        .accounts
        .iter()
        .find(|a| a.product == product)
        .expect("the simulator has an account of that product")
}

/// The simulator's account called `username` (`tonearm-demo`, `alice`, `frank-free`, …).
pub fn account_named<'a>(sim: &'a Simulator, username: &str) -> &'a SimAccount {
    sim.info()
        .accounts
        .iter()
        .find(|a| a.username == username)
        .expect("the simulator has an account of that name")
}

/// The simulator's premium account (what most tests sign in with; the demo account, the one
/// the scale settings fill).
pub fn premium(sim: &Simulator) -> &SimAccount {
    account(sim, "premium")
}

/// Client endpoints that reach `sim`.
pub fn endpoints(sim: &Simulator) -> Endpoints {
    tonearm::demo::endpoints_for(sim).expect("simulator endpoints")
}

/// A session config for a device called `device` (its id derives from the name), with a short
/// connect timeout so a broken simulator fails a test quickly.
pub fn session_config(sim: &Simulator, device: &str) -> SessionConfig {
    let mut c = SessionConfig::new(endpoints(sim), tonearm::config::device_id_for(device));
    c.timeouts.connect = Duration::from_secs(3);
    c
}

/// The password credentials of `account`.
pub fn credentials(account: &SimAccount) -> Credentials {
    Credentials::with_password(&account.username, &account.password)
}

/// The premium account's password credentials.
pub fn premium_credentials(sim: &Simulator) -> Credentials {
    credentials(premium(sim))
}

/// A session signed in as the premium account, for a device called `device`.
pub async fn sign_in(sim: &Simulator, device: &str) -> Session {
    sign_in_with(session_config(sim, device), premium_credentials(sim)).await
}

/// A session signed in with `config` and `credentials` (20 s at most).
pub async fn sign_in_with(config: SessionConfig, credentials: Credentials) -> Session {
    within(20, Session::connect(config, credentials))
        .await
        .expect("the account signs in")
}

/// A token provider and an spclient over `session` (what the loader and the Web API use).
pub fn spclient(session: &Session, endpoints: &Endpoints) -> SpClient {
    let http = reqwest::Client::new();
    let tokens = TokenProvider::new(session.clone(), endpoints.clone(), http.clone());
    SpClient::from_session(session.clone(), tokens, endpoints, http)
}

/// Runs a future with a deadline so a hung test fails instead of blocking CI.
pub async fn within<T>(secs: u64, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .expect("timed out")
}

/// Receives from `events` until one satisfies `f` (or the channel closes); everything received,
/// that one last. Panics after `secs`.
pub async fn recv_until<T>(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<T>,
    secs: u64,
    mut f: impl FnMut(&T) -> bool,
) -> Vec<T> {
    let mut seen = Vec::new();
    within(secs, async {
        while let Some(ev) = events.recv().await {
            let done = f(&ev);
            seen.push(ev);
            if done {
                break;
            }
        }
    })
    .await;
    seen
}

/// The player's error events among `seen` (from [`recv_until`]): (reason, skipped), in order.
pub fn player_errors(seen: &[tonearm::player::PlayerEvent]) -> Vec<(String, bool)> {
    seen.iter()
        .filter_map(|e| match e {
            tonearm::player::PlayerEvent::Error {
                reason, skipped, ..
            } => Some((reason.clone(), *skipped)),
            _ => None,
        })
        .collect()
}

/// Polls `f` every 20 ms until it holds; panics naming `what` after `secs`.
pub async fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// [`wait_until`] for code outside a runtime: blocks the thread between polls (100 ms).
pub fn wait_until_blocking(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The scripted phone's settings for `sim`'s premium account.
pub fn phone_config(sim: &Simulator) -> tonearm_sim::remote::PhoneConfig {
    let a = premium(sim);
    tonearm_sim::remote::PhoneConfig::new(&sim.info().spclient, &a.username, &a.password)
}

/// The PCM of a demo track's unencrypted source file (`format`: 0 = 96, 1 = 160, 2 = 320 kbps),
/// decoded directly: what the whole pipeline must reproduce sample for sample.
pub fn reference_pcm(sim: &Simulator, uri: &str, format: i32) -> Vec<f32> {
    use tonearm::audio::decode::{Container, SymphoniaSource};
    use tonearm::audio::pcm::PcmSource;
    let bytes = sim.demo_audio(uri, format).expect("demo audio");
    let mut src = SymphoniaSource::new(
        std::io::Cursor::new(bytes),
        Container::Ogg,
        Some(bytes.len() as u64),
    )
    .expect("decode source");
    let mut out = Vec::new();
    while src.read(&mut out, 4096).expect("read") > 0 {}
    out
}
