//! The command-line edge: one module per `tonearm` command, called by `main.rs` after it has
//! parsed the arguments ([`args`]), set up logging, loaded the config ([`load_config`]) and built
//! the runtime. Each command starts its services the way the TUI and the daemon do (through
//! [`crate::services`], [`crate::daemon`], [`crate::app::run`]) and only turns their answers
//! into text ([`output`]).
//!
//! This is the binary's edge living in the library so tests can reach its pure parts (the text
//! formatting): it is the one place besides `main.rs` where `anyhow` is used, because errors here
//! end the process with a message and are never matched on. Nothing else in the crate may import
//! `cli`. What needs the simulator (`tonearm sim`, the `--demo` tour) is built only with the
//! `demo` feature; without it those say clearly that this build has none.

pub mod args;
pub mod ctl;
pub mod daemon;
pub mod library;
pub mod login;
pub mod output;
pub mod play;
pub mod search;
pub mod sim;
pub mod status;
#[cfg(feature = "demo")]
pub mod tour;
pub mod tui;

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::auth::store::CredentialStore;
use crate::config::{self, Config};
use crate::demo::Demo;
use crate::session::{Credentials, Session, SessionConfig};

use args::Cli;

/// The config the command runs with: the file (`--config` or the default place; with `--demo`
/// none unless `--config` names one), then `--device-name` and the endpoint flags over it.
/// Without the `demo` feature, `--demo` stops here with [`crate::demo::DemoError::NotBuilt`].
pub fn load_config(cli: &Cli) -> Result<Config> {
    if cli.demo && !cfg!(feature = "demo") {
        return Err(crate::demo::DemoError::NotBuilt.into());
    }
    let (path, explicit) = match &cli.config {
        Some(p) => (p.clone(), true),
        None => match config::default_path() {
            Some(p) => (p, false),
            None => (PathBuf::from("config.toml"), false),
        },
    };
    let mut cfg = if cli.demo && !explicit {
        Config::default() // --demo touches no files
    } else {
        config::load(&path, explicit)?
    };
    if let Some(name) = &cli.device_name {
        cfg.device_id = config::device_id_for(name);
        cfg.device_name = name.clone();
    }
    // The simulator's endpoints, then single endpoint flags over them. `tonearm sim` serves
    // them rather than using them, `--demo` starts a simulator of its own, and
    // `--check-config` checks the files without reaching out.
    let sim = cli.sim.clone().or_else(|| cfg.sim.clone());
    if let Some(url) = sim.filter(|_| {
        !cli.demo && !cli.tui.check_config && !matches!(cli.command, Some(args::Command::Sim(_)))
    }) {
        let body = fetch_sim_endpoints(&url)?;
        config::sim_endpoints(&mut cfg.endpoints, &body)
            .with_context(|| format!("--sim {url}: not usable"))?;
        cfg.sim = Some(url);
    }
    config::apply_endpoints(&mut cfg.endpoints, &cli.endpoints.to_raw())
        .map_err(|(k, v, r)| anyhow::anyhow!("command line: `{k}` = \"{v}\": {r}"))?;
    // The binary serves the control API unless told not to (the library's default is off).
    if let Some(p) = &cli.control_socket {
        cfg.control.socket = Some(std::path::absolute(p).unwrap_or_else(|_| p.clone()));
    }
    cfg.control.serve = !cfg.control.disabled && !cli.no_control_socket;
    if let Some(a) = cli.remote_listen {
        cfg.remote.listen = Some(a);
    }
    Ok(cfg)
}

/// How long `--sim URL` waits for the simulator's endpoints.
const SIM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `GET {url}/_sim/endpoints` of a running `tonearm sim`: the body, or why there is none (no
/// answer, or not a 200). Runs before the command's runtime exists, on a runtime of its own.
fn fetch_sim_endpoints(url: &str) -> Result<String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        anyhow::bail!("--sim {url}: must be the simulator's http URL, e.g. http://127.0.0.1:PORT");
    }
    let endpoint = format!("{}/_sim/endpoints", url.trim_end_matches('/'));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let client = reqwest::Client::builder().timeout(SIM_TIMEOUT).build()?;
        let r = client
            .get(&endpoint)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("--sim {url}: the simulator does not answer: {}", e.without_url()))?;
        let status = r.status();
        if !status.is_success() {
            anyhow::bail!(
                "--sim {url}: GET /_sim/endpoints answered {status}: is this a running `tonearm sim`?"
            );
        }
        r.text()
            .await
            .map_err(|e| anyhow::anyhow!("--sim {url}: reading the answer: {}", e.without_url()))
    })
}

/// The session settings for `cfg`'s endpoints and device.
pub(crate) fn session_config(cfg: &Config) -> SessionConfig {
    SessionConfig::new(cfg.endpoints.clone(), cfg.device_id.clone())
}

/// The keyring, or the 0600 file when no keyring service answers (`TONEARM_CREDENTIAL_STORE`
/// forces one). A keyring that is locked or does not answer is said on standard error, with
/// the file used instead.
pub(crate) fn credential_store() -> Result<CredentialStore> {
    let store = CredentialStore::open()?;
    if let Some(warning) = store.warning() {
        output::note_line(format_args!("tonearm: warning: {warning}"));
    }
    Ok(store)
}

/// The stored credentials, or the advice to sign in first.
pub(crate) fn stored_credentials() -> Result<Credentials> {
    credential_store()?
        .load()?
        .context("not signed in: run `tonearm login` first")
}

/// A connected session for a command, and with `--demo` the simulator it talks to (kept so it
/// lives as long as the session; [`SignedIn::close`] stops both).
pub(crate) struct SignedIn {
    pub session: Session,
    /// The config with the endpoints the session uses (the simulator's with `--demo`).
    pub config: Config,
    pub demo: Option<Demo>,
}

impl SignedIn {
    /// Signs in with the stored credentials, or as the premium demo account with `--demo`.
    pub async fn connect(demo: bool, cfg: Config) -> Result<SignedIn> {
        if demo {
            let d = crate::demo::start(cfg).await?;
            let creds = Credentials::with_password(&d.account.username, &d.account.password);
            let session = Session::connect(session_config(&d.config), creds).await?;
            return Ok(SignedIn {
                session,
                config: d.config.clone(),
                demo: Some(d),
            });
        }
        let creds = stored_credentials()?;
        let session = Session::connect(session_config(&cfg), creds).await?;
        Ok(SignedIn {
            session,
            config: cfg,
            demo: None,
        })
    }

    /// Closes the session, then stops the simulator.
    pub async fn close(self) {
        self.session.shutdown().await;
        if let Some(d) = self.demo {
            d.shutdown().await;
        }
    }
}

/// `tonearm completions <shell>`: the completion script for every command and flag.
pub fn completions(args: &args::CompletionsArgs) -> Result<()> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "tonearm", &mut out);
    output::say!("{}", String::from_utf8_lossy(&out).trim_end())
}

/// Resolves on Ctrl-C, or SIGTERM on Unix (how services and `tonearm sim` are stopped).
pub async fn wait_for_shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
