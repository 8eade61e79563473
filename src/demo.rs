//! `--demo`: starts the simulator in-process on 127.0.0.1 and returns a config whose endpoints
//! point at it, plus the premium demo account. Nothing on disk or in the keyring is touched.
//!
//! This is the one place (besides tests) where the client side and the simulator meet; the
//! simulator itself never imports client modules.

use crate::config::{Config, Endpoints};
use crate::sim::{SimAccount, SimConfig, SimError, Simulator};

/// A running in-process simulator and the client settings that reach it.
pub struct Demo {
    pub sim: Simulator,
    pub config: Config,
    /// The premium demo account.
    pub account: SimAccount,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot start the embedded simulator: {0}")]
    Sim(#[from] SimError),
    #[error("the simulator has no premium account")]
    NoPremiumAccount,
    #[error("the simulator's AP key is not valid hex")]
    BadKey,
}

/// Client endpoints for a running simulator.
pub fn endpoints_for(sim: &Simulator) -> Result<Endpoints, DemoError> {
    let info = sim.info();
    Ok(Endpoints {
        apresolve: info.apresolve.clone(),
        access_points: None,
        ap_key_modulus: hex::decode(&info.ap_key.modulus).map_err(|_| DemoError::BadKey)?,
        ap_key_exponent: info.ap_key.exponent,
        login5: info.login5.clone(),
        client_token: info.client_token.clone(),
        spclient: Some(info.spclient.clone()),
        dealer: Some(info.dealer.clone()),
        web_api: info.web_api.clone(),
        ..Endpoints::default()
    })
}

/// Starts the simulator with its defaults (ephemeral ports on 127.0.0.1).
pub async fn start(base: Config) -> Result<Demo, DemoError> {
    let sim = Simulator::start(SimConfig::default()).await?;
    let account = sim
        .info()
        .accounts
        .iter()
        .find(|a| a.product == "premium")
        .cloned()
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
