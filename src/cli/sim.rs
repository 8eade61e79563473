//! `tonearm sim`: the offline Spotify simulator (`tonearm-sim`) as a standalone process that
//! prints one JSON line with its endpoints and runs until SIGTERM/Ctrl-C; and `tonearm sim
//! phone …`, the scripted phone that sends one Connect command to a running simulator and prints
//! the answer as JSON. Built with the `demo` feature; without it the command says that this
//! build has no simulator. Called by `main.rs`.

use anyhow::Result;

use super::args::SimArgs;

/// `tonearm sim [phone …]`.
#[cfg(feature = "demo")]
pub async fn run(args: SimArgs) -> Result<()> {
    use std::time::Duration;

    use tonearm_sim::{CatalogSpec, SimConfig, Simulator};

    use super::args::SimAction;
    use super::output::say;

    if let Some(SimAction::Phone(phone)) = args.action {
        return phone::run(phone).await;
    }
    let mut sc = SimConfig {
        listen: args.listen,
        http_port: args.http_port,
        state_dir: args.state_dir,
        password_login: !args.no_password_login,
        ping_interval: Duration::from_secs(args.ping_interval.max(1)),
        catalog: if args.catalog_tracks > 0 {
            CatalogSpec::Synthetic {
                tracks: args.catalog_tracks,
            }
        } else {
            CatalogSpec::Demo
        },
        ..SimConfig::default()
    };
    if !args.ap_ports.is_empty() {
        sc.ap_ports = args.ap_ports;
    }
    let sim = Simulator::start(sc).await?;
    // Whoever started us reads this line to find the endpoints; if they are gone, so are we.
    let announced = say!("{}", serde_json::to_string(sim.info())?);
    if announced.is_ok() {
        super::wait_for_shutdown_signal().await;
    }
    sim.shutdown().await;
    announced
}

/// Without the simulator compiled in there is nothing to run.
#[cfg(not(feature = "demo"))]
pub async fn run(_args: SimArgs) -> Result<()> {
    Err(crate::demo::DemoError::NotBuilt.into())
}

#[cfg(feature = "demo")]
mod phone {
    //! `tonearm sim phone …`: one command from the scripted phone.

    use anyhow::{Context, Result};
    use tonearm_sim::remote::{Phone, PhoneConfig};

    use super::super::args::{PhoneArgs, PhoneCommand};
    use super::super::output::say;

    pub async fn run(args: PhoneArgs) -> Result<()> {
        let base = args.sim_url.context(
            "pass --sim http://127.0.0.1:PORT (the `spclient` URL `tonearm sim` prints) or set TONEARM_SIM",
        )?;
        let password = match args.password {
            Some(p) => p,
            None => tonearm_sim::builtin_accounts()
                .into_iter()
                .find(|a| a.username == args.username)
                .map(|a| a.password)
                .with_context(|| {
                    format!(
                        "{} is not a built-in account: pass --password",
                        args.username
                    )
                })?,
        };
        let mut cfg = PhoneConfig::new(&base, &args.username, &password);
        cfg.device_name = args.name;
        let phone = Phone::connect(cfg).await?;
        let target = args.device.as_deref();
        let result = match args.command {
            PhoneCommand::Devices => phone.devices().await.map(|list| {
                serde_json::Value::Array(
                    list.iter()
                        .filter_map(|d| serde_json::to_value(d).ok())
                        .collect(),
                )
            }),
            PhoneCommand::Status => phone.status().await,
            PhoneCommand::Transfer { target } => phone.transfer(&target).await,
            PhoneCommand::Play {
                context_uri,
                index,
                position,
            } => phone.play(target, &context_uri, index, position).await,
            PhoneCommand::Pause => phone.pause(target).await,
            PhoneCommand::Resume => phone.resume(target).await,
            PhoneCommand::Seek { ms } => phone.seek(target, ms).await,
            PhoneCommand::Next => phone.next(target).await,
            PhoneCommand::Prev => phone.prev(target).await,
            PhoneCommand::Volume { percent } => phone.volume(target, percent).await,
            PhoneCommand::Shuffle { state } => phone.shuffle(target, state == "on").await,
            PhoneCommand::Repeat { mode } => phone.repeat(target, &mode).await,
            PhoneCommand::Queue { uri } => phone.queue(target, &uri).await,
            PhoneCommand::SetQueue { uris } => phone.set_queue(target, &uris).await,
        };
        phone.close().await;
        match result? {
            // Devices: one JSON object per line.
            serde_json::Value::Array(items) => {
                for item in items {
                    say!("{item}")?;
                }
                Ok(())
            }
            other => say!("{other}"),
        }
    }
}
