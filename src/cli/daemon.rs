//! `tonearm daemon`: the Spotify Connect receiver without the UI, through
//! [`crate::daemon::run`] until SIGTERM or Ctrl-C. Prints one line when it is up (and with
//! `--demo` how to drive it like a phone would). Called by `main.rs`.

use anyhow::{bail, Context, Result};

use super::args::DaemonArgs;
use super::output::{note, say};
use super::{credential_store, wait_for_shutdown_signal};
use crate::api::metadata::Bitrate;
use crate::audio::sink::SinkSpec;
use crate::audio::volume;
use crate::config::{self, Config};
use crate::daemon::{DaemonOptions, Started};
use crate::services::PlaybackOptions;
use crate::session::Credentials;

pub async fn run(demo: bool, cfg: Config, args: DaemonArgs) -> Result<()> {
    let device_type = crate::connect::state::parse_device_type(&args.device_type)
        .with_context(|| format!("--device-type: unknown device type `{}`", args.device_type))?;
    let bitrate: Bitrate = args
        .bitrate
        .parse()
        .map_err(|e| anyhow::anyhow!("--bitrate: {e}"))?;
    let sink = SinkSpec::parse(&args.sink)?;
    crate::audio::output::probe(&sink)?;
    let mut cfg = cfg;
    if let Some(name) = &args.name {
        cfg.device_id = config::device_id_for(name);
        cfg.device_name = name.clone();
    }
    // --demo touches nothing on the LAN unless --zeroconf asks for it; otherwise the config's
    // `[connect] zeroconf` (default on) decides.
    let zeroconf = if args.no_zeroconf {
        false
    } else if args.zeroconf {
        true
    } else {
        !demo && cfg.connect.zeroconf.unwrap_or(true)
    };
    let accept = args.zeroconf_accept.or(cfg.connect.zeroconf_accept);
    let (cfg, creds, store, zeroconf_store, demo_sim) = if demo {
        let d = crate::demo::start(cfg).await?;
        let creds = Credentials::with_password(&d.account.username, &d.account.password);
        (d.config.clone(), Some(creds), None, None, Some(d))
    } else {
        let store = credential_store()?;
        let mut creds = store.load()?;
        // Handed-over credentials live in their own entry; they are used at start only when
        // `tonearm login` stored none and the user asked to keep them.
        let zeroconf_store = if zeroconf && args.store_credentials {
            let z = crate::auth::store::CredentialStore::open_zeroconf()
                .context("the store for zeroconf credentials")?;
            if creds.is_none() {
                creds = z.load()?;
            }
            Some(z)
        } else {
            None
        };
        if creds.is_none() && !zeroconf {
            bail!("not signed in: run `tonearm login` first, or drop --no-zeroconf to accept a login from a phone");
        }
        (cfg, creds, Some(store), zeroconf_store, None)
    };
    let opts = DaemonOptions {
        name: cfg.device_name.clone(),
        device_id: cfg.device_id.clone(),
        device_type,
        playback: PlaybackOptions {
            sink,
            bitrate,
            volume: volume::from_percent(args.volume),
            normalisation: Default::default(),
        },
        zeroconf,
        advertise: zeroconf,
        zeroconf_port: args.zeroconf_port,
        zeroconf_bind: args.zeroconf_bind,
        store_credentials: args.store_credentials,
        accept,
        zeroconf_store,
        // `--demo` touches no files.
        resume_points: if demo {
            None
        } else {
            crate::paths::state_dir().map(|d| crate::resume::resume_file(&d))
        },
    };
    // The daemon serves whether or not anyone reads these lines: write errors are ignored.
    let on_start = |s: &Started| {
        let zc = s
            .zeroconf_port
            .map_or_else(|| "off".to_string(), |p| format!("port {p}"));
        let _ = say!(
            "tonearm daemon \"{}\" (device id {}, zeroconf {zc}){}",
            s.name,
            s.device_id,
            if s.signed_in {
                ""
            } else {
                ": waiting for a phone to log in"
            }
        );
        if let Some(e) = &s.control_error {
            note!("tonearm: control API off: {e}");
        }
    };
    #[cfg(feature = "demo")]
    if let Some(d) = &demo_sim {
        let _ = say!(
            "demo: simulator at {base} ; drive this speaker like a phone would: \
             tonearm sim phone --sim {base} devices",
            base = d.sim.info().spclient
        );
    }
    let result = crate::daemon::run(
        cfg,
        creds,
        store,
        opts,
        on_start,
        wait_for_shutdown_signal(),
    )
    .await;
    if let Some(d) = demo_sim {
        d.shutdown().await;
    }
    Ok(result?)
}
