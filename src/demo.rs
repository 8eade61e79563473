//! `--demo`: starts the simulator (`tonearm-sim`) in-process on 127.0.0.1 and returns a config
//! whose endpoints point at it, plus the premium demo account. Nothing on disk or in the keyring
//! is touched.
//!
//! This is the one place (besides tests, benches and `tonearm sim`) where the client and the
//! simulator meet; the simulator is its own crate and cannot import client code. Built only with
//! the default `demo` feature: without it [`start`] answers [`DemoError::NotBuilt`] so `--demo`
//! fails with a clear message instead of not existing.

use crate::config::Config;
#[cfg(feature = "demo")]
use crate::config::Endpoints;
#[cfg(feature = "demo")]
use tonearm_sim::{SimConfig, Simulator};

/// The demo account's sign-in.
#[derive(Clone)]
pub struct DemoAccount {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for DemoAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoAccount")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A running in-process simulator and the client settings that reach it.
pub struct Demo {
    #[cfg(feature = "demo")]
    pub sim: Simulator,
    pub config: Config,
    /// The premium demo account.
    pub account: DemoAccount,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[cfg(feature = "demo")]
    #[error("cannot start the embedded simulator: {0}")]
    Sim(#[from] tonearm_sim::SimError),
    #[error("the simulator has no premium account")]
    NoPremiumAccount,
    #[error("the simulator's AP key is not valid hex")]
    BadKey,
    #[error("this tonearm was built without the simulator (cargo feature `demo`), so --demo and `tonearm sim` are not available")]
    NotBuilt,
}

/// Client endpoints for a running simulator.
#[cfg(feature = "demo")]
pub fn endpoints_for(sim: &Simulator) -> Result<Endpoints, DemoError> {
    endpoints_from(sim.info())
}

/// Client endpoints from the simulator's self-description (as `tonearm sim` prints it).
#[cfg(feature = "demo")]
pub fn endpoints_from(info: &tonearm_sim::SimInfo) -> Result<Endpoints, DemoError> {
    Ok(Endpoints {
        apresolve: info.apresolve.clone(),
        access_points: None,
        ap_key_modulus: hex::decode(&info.ap_key.modulus).map_err(|_| DemoError::BadKey)?,
        ap_key_exponent: info.ap_key.exponent,
        accounts: info.accounts_url.clone(),
        web_api: info.web_api.clone(),
        login5: info.login5.clone(),
        client_token: info.client_token.clone(),
        spclient: Some(info.spclient.clone()),
        dealer: Some(info.dealer.clone()),
    })
}

/// Starts the simulator (ephemeral ports on 127.0.0.1) with the demo catalog.
#[cfg(feature = "demo")]
pub async fn start(base: Config) -> Result<Demo, DemoError> {
    let sim = Simulator::start(SimConfig::default()).await?;
    let account = sim
        .info()
        .accounts
        .iter()
        .find(|a| a.product == "premium")
        .map(|a| DemoAccount {
            username: a.username.clone(),
            password: a.password.clone(),
        })
        .ok_or(DemoError::NoPremiumAccount)?;
    let config = Config {
        endpoints: endpoints_for(&sim)?,
        ..base
    };
    Ok(Demo {
        sim,
        config,
        account,
    })
}

/// Without the `demo` feature there is no simulator to start.
#[cfg(not(feature = "demo"))]
pub async fn start(_base: Config) -> Result<Demo, DemoError> {
    Err(DemoError::NotBuilt)
}

impl Demo {
    /// The demo album's URI (what `tonearm --demo play` plays by default).
    pub fn demo_album(&self) -> Option<String> {
        #[cfg(feature = "demo")]
        return Some(self.sim.info().demo_album.clone());
        #[cfg(not(feature = "demo"))]
        None
    }

    /// Stops the simulator.
    pub async fn shutdown(self) {
        #[cfg(feature = "demo")]
        self.sim.shutdown().await;
    }
}
