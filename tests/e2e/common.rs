//! Shared helpers: start a simulator on 127.0.0.1 and build client configs pointing at it.

use std::time::Duration;

use tonearm::session::{SessionConfig, SessionState};
use tonearm::sim::{SimConfig, Simulator};

/// A simulator with quick pings, for tests.
pub async fn sim() -> Simulator {
    sim_with(SimConfig::default()).await
}

pub async fn sim_with(mut cfg: SimConfig) -> Simulator {
    cfg.listen = "127.0.0.1".parse().unwrap();
    Simulator::start(cfg).await.expect("simulator starts")
}

pub fn config(sim: &Simulator) -> SessionConfig {
    let endpoints = tonearm::demo::endpoints_for(sim).expect("endpoints");
    let mut c = SessionConfig::new(endpoints, tonearm::config::device_id_for("e2e-test"));
    c.timeouts.connect = Duration::from_secs(3);
    c
}

pub fn account<'a>(sim: &'a Simulator, product: &str) -> &'a tonearm::sim::SimAccount {
    sim.info()
        .accounts
        .iter()
        .find(|a| a.product == product)
        .expect("account of that product")
}

/// Waits until the session's state satisfies `f`, or panics after `secs`.
pub async fn wait_state(
    rx: &mut tokio::sync::watch::Receiver<SessionState>,
    secs: u64,
    f: impl Fn(&SessionState) -> bool,
) -> SessionState {
    let fut = async {
        loop {
            if f(&rx.borrow_and_update()) {
                return rx.borrow().clone();
            }
            if rx.changed().await.is_err() {
                return rx.borrow().clone();
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .expect("session state did not change in time")
}

/// Runs a future with a deadline so a hung test fails instead of blocking CI.
pub async fn within<T>(secs: u64, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .expect("timed out")
}
