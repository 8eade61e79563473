//! Logging set-up: `tracing` events go to one log file (never to stdout/stderr, which belong to
//! the TUI or to command output). Called once from `main.rs`.
//!
//! Secrets never reach a log line: the types that hold them (credentials, tokens) redact
//! themselves in `Debug`, and call sites log only non-secret fields.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

/// Default log file: `$XDG_STATE_HOME/tonearm/tonearm.log`.
pub fn default_log_file() -> Option<PathBuf> {
    crate::paths::state_dir().map(|d| d.join("tonearm.log"))
}

/// Installs the global subscriber writing to `path` (appending). `filter` is an `EnvFilter`
/// directive such as `info` or `tonearm=debug`; `TONEARM_LOG` overrides it.
pub fn init(path: &Path, filter: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let filter = EnvFilter::try_from_env("TONEARM_LOG")
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests, embedded use) is not an error worth failing over.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .try_init();
    Ok(())
}
