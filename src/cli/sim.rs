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

    match args.action {
        Some(SimAction::Phone(phone)) => return phone::run(phone).await,
        Some(SimAction::Fault(fault)) => return admin::fault(fault).await,
        Some(SimAction::Stats(a)) => return admin::stats(a).await,
        None => {}
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
        library_tracks: args.library_tracks,
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
mod admin {
    //! `tonearm sim fault …` / `tonearm sim stats`: the simulator's admin endpoint, for people
    //! and scripts driving recovery by hand.

    use anyhow::{Context, Result};
    use tonearm_sim::Fault;

    use super::super::args::{FaultArgs, SimAdminArgs};
    use super::super::output::say;

    fn base(a: SimAdminArgs) -> Result<String> {
        a.sim_url.context(
            "pass --sim http://127.0.0.1:PORT (the `spclient` URL `tonearm sim` prints) or set TONEARM_SIM",
        )
    }

    /// `KEY=VALUE` pairs as one JSON object; a value that is not JSON is a string.
    pub(super) fn params(pairs: &[String]) -> Result<serde_json::Value> {
        let mut map = serde_json::Map::new();
        for pair in pairs {
            let (k, v) = pair
                .split_once('=')
                .with_context(|| format!("--param {pair:?}: expected KEY=VALUE"))?;
            let value =
                serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_owned()));
            map.insert(k.to_owned(), value);
        }
        Ok(serde_json::Value::Object(map))
    }

    pub async fn fault(args: FaultArgs) -> Result<()> {
        let fault = Fault::parse(&args.name, params(&args.params)?)?;
        let ack = tonearm_sim::admin::fault(&base(args.admin)?, fault).await?;
        say!("{}", serde_json::to_string(&ack)?)
    }

    pub async fn stats(args: SimAdminArgs) -> Result<()> {
        let stats = tonearm_sim::admin::stats(&base(args)?).await?;
        say!("{}", serde_json::to_string(&stats)?)
    }

    #[cfg(test)]
    mod tests {
        use super::params;

        #[test]
        fn params_read_json_values_and_fall_back_to_strings() {
            let p = params(&["times=20".into(), "service=both".into(), "http=true".into()])
                .expect("params");
            assert_eq!(
                p,
                serde_json::json!({"times": 20, "service": "both", "http": true})
            );
            assert!(params(&["novalue".into()]).is_err());
        }
    }
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
