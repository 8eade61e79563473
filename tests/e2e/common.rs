//! The e2e tests' view of the shared harness (`tonearm-testkit`, also used by the benches), plus
//! the few helpers only these tests need.

use std::time::Duration;

use tonearm::session::{SessionConfig, SessionState};
pub use tonearm_testkit::{account, sim, sim_with, within};

/// The session config of the tests' default device ("e2e-test").
pub fn config(sim: &tonearm_sim::Simulator) -> SessionConfig {
    tonearm_testkit::session_config(sim, "e2e-test")
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
