//! The TUI as a LAN Connect target (`tonearm --zeroconf`, `[connect] zeroconf = true`): the
//! zeroconf receiver ([`crate::connect::discovery`]) with the same accept policy as the daemon,
//! and a task that tries each accepted login on a session of its own
//! ([`crate::connect::discovery::try_handover`]) while the current one keeps playing. A login
//! that comes up is handed to the runtime, which switches to it the way a sign-in does (the
//! shared supervisor then watches the new session); a refused or failed one is a log line and
//! nothing else (no notification: a stranger on the LAN must not be able to put text on the
//! owner's screen).
//!
//! Started and stopped by `app::run`. Depends on `connect::discovery` and `session`; never on
//! the UI.

use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{Config, ZeroconfAccept};
use crate::connect::discovery::{try_handover, Discovery, DiscoveryConfig, DiscoveryError};
use crate::session::{Session, SessionConfig};

/// What the TUI's receiver is started with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZeroconfOptions {
    pub port: u16,
    /// Where it listens; a loopback address is never advertised.
    pub bind: IpAddr,
    pub accept: Option<ZeroconfAccept>,
}

/// The running receiver and its login task.
pub struct TuiZeroconf {
    discovery: Arc<Discovery>,
    task: JoinHandle<()>,
}

impl TuiZeroconf {
    /// Starts the receiver as this TUI's device (`config`'s name and id) and the task that
    /// tries its logins; sessions that came up arrive on the returned channel. `account`: the
    /// stored credentials' user (the receiver belongs to it from the start).
    pub async fn start(
        config: &Config,
        opts: ZeroconfOptions,
        account: Option<&str>,
    ) -> Result<(TuiZeroconf, mpsc::UnboundedReceiver<Session>), DiscoveryError> {
        let (discovery, mut logins) = Discovery::start(DiscoveryConfig {
            name: config.device_name.clone(),
            device_id: config.device_id.clone(),
            device_type: "Computer".into(),
            port: opts.port,
            bind: opts.bind,
            advertise: true,
            client_id: crate::config::SPOTIFY_CLIENT_ID.into(),
            accept: opts.accept,
        })
        .await?;
        discovery.set_account(account);
        tracing::info!(
            addr = %discovery.local_addr(),
            policy = discovery.policy().as_str(),
            "zeroconf: the TUI is a LAN Connect target"
        );
        let discovery = Arc::new(discovery);
        let (tx, rx) = mpsc::unbounded_channel();
        let d = Arc::clone(&discovery);
        let session_config = SessionConfig::new(config.endpoints.clone(), config.device_id.clone());
        // One login at a time: more wait in the receiver's small queue (beyond it phones are
        // answered "busy").
        let task = tokio::spawn(async move {
            while let Some(login) = logins.recv().await {
                let account = d.account();
                match try_handover(
                    session_config.clone(),
                    login.credentials,
                    d.configured_policy(),
                    account,
                )
                .await
                {
                    Ok(session) => {
                        tracing::info!(user = %session.username(), "zeroconf: a handed-over login is up; switching to it");
                        if let Err(e) = tx.send(session) {
                            // The runtime is gone: close the session that nobody will use.
                            e.0.shutdown().await;
                            return;
                        }
                    }
                    Err(e) => tracing::warn!("zeroconf: {e}; keeping the current session"),
                }
            }
        });
        Ok((TuiZeroconf { discovery, task }, rx))
    }

    /// The session of `username` is the TUI's now: `getInfo` shows it and the default policy
    /// accepts only its account from now on.
    pub fn signed_in(&self, username: &str) {
        self.discovery.set_active_user(username);
        self.discovery.set_account(Some(username));
    }

    /// Signed out: nobody is active (the account stays the receiver's).
    pub fn signed_out(&self) {
        self.discovery.set_active_user("");
    }

    /// Stops the login task and the receiver (with the mDNS goodbye).
    pub async fn shutdown(self) {
        self.task.abort();
        let _ = self.task.await;
        match Arc::try_unwrap(self.discovery) {
            Ok(d) => d.shutdown().await,
            // Not reachable once the task has ended; dropping aborts the server anyway.
            Err(d) => drop(d),
        }
    }
}
