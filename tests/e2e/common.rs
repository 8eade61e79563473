//! The e2e tests' view of the shared harness (`tonearm-testkit`, also used by the benches), plus
//! the few helpers only these tests need.

use std::time::Duration;

use tonearm::session::{Credentials, Session, SessionConfig, SessionState};
pub use tonearm_testkit::{account, sim, sim_with, within};

/// The session config of the tests' default device ("e2e-test").
pub fn config(sim: &tonearm_sim::Simulator) -> SessionConfig {
    tonearm_testkit::session_config(sim, "e2e-test")
}

/// The premium account signed in on the tests' default device.
pub async fn premium_session(sim: &tonearm_sim::Simulator) -> Session {
    tonearm_testkit::sign_in(sim, "e2e-test").await
}

/// Signs in on the tests' default device with `credentials`; the error when it fails.
pub async fn try_sign_in(
    sim: &tonearm_sim::Simulator,
    credentials: Credentials,
) -> Result<Session, tonearm::session::SessionError> {
    within(20, Session::connect(config(sim), credentials)).await
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
