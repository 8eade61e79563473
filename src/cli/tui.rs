//! `tonearm` without a subcommand: the terminal UI ([`crate::app::run`]), and
//! `tonearm --check-config`. The UI config (keymap, themes, `[ui]`) is loaded and checked
//! before the terminal is touched, so an invalid file stops start-up with its location and a
//! non-zero exit. Called by `main.rs`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;

use super::args::Cli;
use super::output::say;
use crate::audio::sink::SinkSpec;
use crate::audio::volume;
use crate::config::Config;

/// tonearm's config directory (`keymap.toml`, `themes/`): the `--config` file's directory, or
/// `$XDG_CONFIG_HOME/tonearm`.
fn ui_config_dir(cli: &Cli) -> Option<PathBuf> {
    match &cli.config {
        Some(file) => Some(
            file.parent()
                .map(|p| p.to_path_buf())
                .unwrap_or_else(|| PathBuf::from(".")),
        ),
        None => crate::paths::config_dir(),
    }
}

/// `tonearm --check-config`: validates everything the TUI would load and says what it found.
pub fn check_config(cli: &Cli, cfg: &Config) -> Result<()> {
    let summary = crate::uiconf::check(cfg, ui_config_dir(cli).as_deref())?;
    say!("{summary}")
}

/// `tonearm`: runs the TUI on `runtime` until the user quits. `started`: when the process
/// started (the first frame's timing is measured from it).
pub fn run(
    cli: &Cli,
    cfg: Config,
    runtime: &tokio::runtime::Runtime,
    started: Instant,
) -> Result<()> {
    let ui = crate::uiconf::load(&cfg, ui_config_dir(cli).as_deref())?;
    let bitrate = cli
        .tui
        .bitrate
        .parse()
        .map_err(|e| anyhow::anyhow!("--bitrate: {e}"))?;
    let sink = SinkSpec::parse(&cli.tui.sink)?;
    // Off unless asked for (flag or `[connect] zeroconf = true`): a plain TUI never advertises.
    let zeroconf = (cli.tui.zeroconf || cfg.connect.zeroconf == Some(true)).then(|| {
        crate::app::zeroconf::ZeroconfOptions {
            port: cli.tui.zeroconf_port,
            bind: cli.tui.zeroconf_bind,
            accept: cli.tui.zeroconf_accept.or(cfg.connect.zeroconf_accept),
        }
    });
    let opts = crate::app::run::RunOptions {
        config: cfg,
        ui,
        demo: cli.demo,
        sink,
        bitrate,
        volume: cli.tui.volume.map(volume::from_percent),
        normalisation: Default::default(),
        started,
        connect: true,
        zeroconf,
    };
    runtime.block_on(crate::app::run::run(opts))?;
    Ok(())
}
