//! `tonearm library`: prints the cached library at once (when there is one), then refreshes the
//! cache through the Web API; with `--refresh` (or no cache) fetches first. `--demo` reads and
//! writes no cache. The clients come from [`crate::services::Clients`], as the TUI's do.
//! Called by `main.rs`.

use std::time::{Instant, SystemTime};

use anyhow::{Context, Result};

use super::args::LibraryArgs;
use super::output::{self, note, say, Stdout};
use super::{stored_credentials, SignedIn};
use crate::api::library::{self, Library};
use crate::config::Config;
use crate::services::Clients;

pub async fn run(demo: bool, cfg: Config, args: LibraryArgs) -> Result<()> {
    let cache_path = if demo {
        None
    } else {
        stored_credentials()?
            .username
            .as_deref()
            .and_then(library::default_cache_file)
    };
    let cached = cache_path.as_deref().and_then(library::load_cached);
    let shown = match (&cached, args.refresh) {
        (Some(lib), false) => {
            print(lib, args.json, true)?;
            true
        }
        _ => false,
    };

    let started = Instant::now();
    let fresh = match refresh(demo, cfg, cached.as_ref()).await {
        Ok(f) => f,
        // The cached copy is already on screen: say why it could not be refreshed.
        Err(e) if shown => {
            note!("tonearm: showing the cached library; refreshing it failed: {e:#}");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        tracks = fresh.tracks.len(),
        "library refreshed"
    );
    if let Some(path) = &cache_path {
        if let Err(e) = fresh.save(path) {
            note!(
                "tonearm: cannot write the library cache {}: {e}",
                path.display()
            );
        }
    }
    if !shown {
        return print(&fresh, args.json, false);
    }
    if cached
        .as_ref()
        .is_some_and(|c| output::library_changed(c, &fresh))
    {
        note!(
            "The library changed since it was cached; the cache is updated (run again to see it)."
        );
    } else {
        note!("The cached library is up to date.");
    }
    Ok(())
}

/// Signs in and fetches the library (incrementally over `cached`).
async fn refresh(demo: bool, cfg: Config, cached: Option<&Library>) -> Result<Library> {
    let signed = SignedIn::connect(demo, cfg).await?;
    let clients = Clients::new(&signed.config, &signed.session);
    let fresh = library::refresh(&clients.web_api, cached).await;
    signed.close().await;
    fresh.context("cannot load the library")
}

fn print(lib: &Library, json: bool, cached: bool) -> Result<()> {
    if json {
        return say!("{}", output::library_json(lib, cached));
    }
    output::written(output::write_library(
        &mut Stdout,
        lib,
        cached,
        SystemTime::now(),
    ))
}
