//! XDG base directories for tonearm (`$XDG_CONFIG_HOME/tonearm`, `$XDG_CACHE_HOME/tonearm`,
//! `$XDG_STATE_HOME/tonearm`), with the XDG defaults under `$HOME` when the variables are unset.
//! Pure path computation: nothing here creates directories or touches files.

use std::path::PathBuf;

const APP: &str = "tonearm";

fn xdg(var: &str, fallback: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        // The XDG spec says relative values are invalid and must be ignored.
        Some(v) if PathBuf::from(&v).is_absolute() => Some(PathBuf::from(v).join(APP)),
        _ => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(fallback).join(APP)),
    }
}

/// `$XDG_CONFIG_HOME/tonearm` (default `~/.config/tonearm`).
pub fn config_dir() -> Option<PathBuf> {
    xdg("XDG_CONFIG_HOME", ".config")
}

/// `$XDG_CACHE_HOME/tonearm` (default `~/.cache/tonearm`).
pub fn cache_dir() -> Option<PathBuf> {
    xdg("XDG_CACHE_HOME", ".cache")
}

/// `$XDG_STATE_HOME/tonearm` (default `~/.local/state/tonearm`).
pub fn state_dir() -> Option<PathBuf> {
    xdg("XDG_STATE_HOME", ".local/state")
}
