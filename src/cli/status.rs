//! `tonearm status`: connects with the stored credentials and shows the session. With `--demo`
//! it runs the protocol tour instead ([`super::tour`]; without the `demo` feature, the error
//! that this build has no simulator). Called by `main.rs`.

use std::time::Instant;

use anyhow::Result;

use super::output::{self, Stdout};
use super::{session_config, stored_credentials};
use crate::config::Config;
use crate::session::Session;

pub async fn run(demo: bool, cfg: Config) -> Result<()> {
    if demo {
        #[cfg(feature = "demo")]
        return super::tour::run(cfg).await;
        #[cfg(not(feature = "demo"))]
        return Err(crate::demo::DemoError::NotBuilt.into());
    }
    let creds = stored_credentials()?;
    let started = Instant::now();
    let session = Session::connect(session_config(&cfg), creds).await?;
    let shown = output::written(output::write_session(
        &mut Stdout,
        &session,
        started.elapsed(),
    ));
    session.shutdown().await;
    shown
}
