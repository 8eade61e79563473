//! The `tonearm` binary: parses the command line (clap), sets up logging to a file, loads the
//! config, builds the tokio runtime and hands the command to its module in [`tonearm::cli`].
//! Nothing else lives here. `anyhow` is used only at this edge (and in `cli`); everything below
//! returns typed errors.

use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;

use tonearm::cli::args::{Cli, Command};
use tonearm::cli::{self, output};

fn main() {
    let started = Instant::now();
    malloc_tuning::apply();
    let cli = Cli::parse();
    match run(cli, started) {
        Ok(()) => {}
        // The reader of our output went away (`tonearm … | head`): it has what it wanted.
        Err(e) if output::is_closed(&e) => {}
        Err(e) => {
            output::note_line(format_args!("tonearm: {e:#}"));
            std::process::exit(1);
        }
    }
}

fn run(cli: Cli, started: Instant) -> Result<()> {
    // The small clients write no log and start no services.
    match &cli.command {
        Some(Command::Completions(args)) => return cli::completions(args),
        Some(Command::Ctl(args)) => return cli::ctl::run(&cli::load_config(&cli)?, args),
        _ => {}
    }
    let log_file = cli
        .log_file
        .clone()
        .or_else(tonearm::logging::default_log_file)
        .context("cannot find a place for the log file: set HOME or pass --log-file")?;
    tonearm::logging::init(&log_file, &cli.log_level)
        .with_context(|| format!("cannot open the log file {}", log_file.display()))?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "tonearm starting");

    let cfg = cli::load_config(&cli)?;
    if cli.tui.check_config {
        return cli::tui::check_config(&cli, &cfg);
    }
    // Every client command runs on one worker thread (the TUI's loop and the CLI's futures on
    // the main thread, via `block_on`; the worker runs spawned network work; the player decodes
    // on its own thread). More threads only mean more stacks and allocator caches resident
    // (the RSS budget). The simulator, a server, gets the default pool.
    let runtime = if matches!(cli.command, Some(Command::Sim(_))) {
        tokio::runtime::Runtime::new()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
    }
    .context("cannot start the async runtime")?;
    let demo = cli.demo;
    match cli.command {
        Some(Command::Sim(args)) => runtime.block_on(cli::sim::run(args)),
        Some(Command::Login(args)) => runtime.block_on(cli::login::run(demo, cfg, args)),
        Some(Command::Logout) => cli::login::logout(demo),
        Some(Command::Status) => runtime.block_on(cli::status::run(demo, cfg)),
        Some(Command::Play(args)) => runtime.block_on(cli::play::run(demo, cfg, args)),
        Some(Command::Library(args)) => runtime.block_on(cli::library::run(demo, cfg, args)),
        Some(Command::Search(args)) => runtime.block_on(cli::search::run(demo, cfg, args)),
        Some(Command::Daemon(args)) => runtime.block_on(cli::daemon::run(demo, cfg, args)),
        Some(Command::Ctl(_) | Command::Completions(_)) => Ok(()),
        None => cli::tui::run(&cli, cfg, &runtime, started),
    }
}

/// glibc malloc settings for a long-running, many-threaded process with a small memory budget.
///
/// One of tonearm's two places with `unsafe` (the other routes alsa-lib's error messages into
/// the log, `audio/output/cpal/alsa_log.rs`): `mallopt` is a plain C call with integer
/// arguments, made once at the start of `main` before any other thread exists (glibc reads
/// these settings under its own lock; calling it early means no allocation is in flight on
/// another thread).
/// Measured with `make bench` (TUI playing, 10k-track library): glibc's default of up to 8
/// arenas per core kept ~7.5 MB of freed memory resident, and its dynamic mmap threshold let
/// large transient buffers (Web API pages, audio files) fragment the heap.
mod malloc_tuning {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    pub fn apply() {
        // One arena (each thread still has its lock-free tcache for small blocks): more only
        // hoard freed memory.
        // SAFETY: mallopt takes two ints and touches only allocator settings; called before
        // any thread is spawned.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
            // A fixed threshold (which also stops glibc raising it after each free): blocks of
            // 128 KiB and more are mmapped and go back to the OS when freed.
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        }
    }

    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    pub fn apply() {}
}
