//! `tonearm --demo status` (and `make demo` without a terminal): the protocol tour. Starts the
//! simulator in-process, signs in each way the protocol allows and shows each step with its
//! timing: password, stored credentials, Mercury, an audio key, a reconnect, a refused password.
//! Built only with the `demo` feature; called by [`super::status`].

use std::time::Instant;

use anyhow::Result;

use super::output::say;
use super::session_config;
use crate::config::Config;
use crate::session::{Credentials, Session};

pub async fn run(cfg: Config) -> Result<()> {
    let d = crate::demo::start(cfg).await?;
    let result = steps(&d).await;
    d.shutdown().await;
    result
}

async fn steps(d: &crate::demo::Demo) -> Result<()> {
    let info = d.sim.info();
    say!(
        "simulator   apresolve {}  access points {}",
        info.apresolve,
        info.access_points.join(", ")
    )?;

    let t = Instant::now();
    let creds = Credentials::with_password(&d.account.username, &d.account.password);
    let session = Session::connect(session_config(&d.config), creds).await?;
    say!(
        "password    signed in as {} ({}, {}) via {} in {} ms",
        session.username(),
        session.product().get("type").map_or("?", |s| s.as_str()),
        session.country().unwrap_or_default(),
        session.ap_address(),
        t.elapsed().as_millis()
    )?;
    let stored = session.reusable_credentials();
    session.shutdown().await;

    let t = Instant::now();
    let session = Session::connect(session_config(&d.config), stored).await?;
    let result = with_session(d, &session, t).await;
    session.shutdown().await;
    result?;
    say!(
        "done: the session layer works end to end against the simulator. To see the TUI, run \
         `tonearm --demo` (or `make demo`) in a terminal."
    )
}

/// The steps over the session signed in with stored credentials (`t`: when it started).
async fn with_session(d: &crate::demo::Demo, session: &Session, t: Instant) -> Result<()> {
    say!(
        "stored      signed in again with the reusable credentials in {} ms",
        t.elapsed().as_millis()
    )?;

    let uri = "hm://tonearm-demo/hello";
    d.sim.put_mercury(
        uri,
        "text/plain",
        b"hello from the simulated access point".to_vec(),
    );
    let t = Instant::now();
    let resp = session.mercury().get(uri).await?;
    let body: Vec<u8> = resp.payload.concat();
    say!(
        "mercury     GET {uri} -> {} \"{}\" in {} ms",
        resp.status_code,
        String::from_utf8_lossy(&body),
        t.elapsed().as_millis()
    )?;

    let track = crate::id::SpotifyId(0x9a1b1cfbc6f244569ae0356c77bbe9d8);
    let file = crate::id::FileId([7; 20]);
    d.sim.add_audio_key(file.0, track.to_raw(), [0x42; 16]);
    let t = Instant::now();
    let key_ok = session.audio_key(track, file).await.is_ok();
    say!(
        "audio key   track {} file {}: {} in {} ms",
        track.to_base62(),
        &file.to_base16()[..8],
        if key_ok { "received" } else { "refused" },
        t.elapsed().as_millis()
    )?;

    let t = Instant::now();
    session.reconnect().await?;
    say!(
        "reconnect   new connection, same credentials and device, in {} ms",
        t.elapsed().as_millis()
    )?;

    let bad = Credentials::with_password(&d.account.username, "wrong password");
    match Session::connect(session_config(&d.config), bad).await {
        Ok(s) => {
            s.shutdown().await;
            say!("wrong pass  unexpectedly accepted")
        }
        Err(e) => say!("wrong pass  refused: {e}"),
    }
}
