//! XDG base directories for tonearm (`$XDG_CONFIG_HOME/tonearm`, `$XDG_CACHE_HOME/tonearm`,
//! `$XDG_STATE_HOME/tonearm`), with the XDG defaults under `$HOME` when the variables are unset,
//! and the two file-system helpers every state file shares: [`quarantine`] (a corrupt state
//! file is moved aside to `<name>.corrupt-<unix time>` before anything overwrites it) and
//! [`sync_dir`] (a rename survives a crash only once its directory is fsynced).
//!
//! Called by the credential store, the queue persistence, the library cache, logging and the
//! config. Depends on nothing else of the crate; the directory functions only compute paths.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

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

/// The name a quarantined copy of `path` gets at `unix_secs`: `<name>.corrupt-<unix_secs>`
/// beside it (the prefix [`quarantined_copies`] looks for).
pub fn quarantine_name(path: &Path, unix_secs: u64) -> Option<PathBuf> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    Some(path.with_file_name(format!("{name}.corrupt-{unix_secs}")))
}

/// Moves the corrupt state file `path` aside to `<name>.corrupt-<unix time>` in the same
/// directory (with `-2`, `-3` … appended when that name is taken), so the file that replaces it
/// does not destroy what was there — the user (or a bug report) can still look at it. The move
/// is a rename: the copy keeps the file's mode (a 0600 credential file stays 0600). Logs a
/// warning naming both paths and returns the new one.
pub fn quarantine(path: &Path) -> std::io::Result<PathBuf> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let first = quarantine_name(path, now)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"))?;
    let mut target = first.clone();
    let mut n = 1u32;
    while target.try_exists()? {
        n += 1;
        let mut name = first.as_os_str().to_os_string();
        name.push(format!("-{n}"));
        target = PathBuf::from(name);
    }
    std::fs::rename(path, &target)?;
    tracing::warn!(
        from = %path.display(),
        to = %target.display(),
        "moved a corrupt state file aside"
    );
    Ok(target)
}

/// The quarantined copies of `path` ([`quarantine`]'s `<name>.corrupt-*`), oldest name first.
pub fn quarantined_copies(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let prefix = format!("{}.corrupt-", name.to_string_lossy());
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// Fsyncs the directory `dir`, so a rename or creation in it survives a crash (the file's own
/// fsync does not cover its directory entry). A no-op where directories cannot be opened as
/// files (Windows).
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(test)]
    tests::DIR_SYNCS.with(|n| n.set(n.get() + 1));
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// How many [`sync_dir`] calls this thread made (tests of the callers check they sync).
#[cfg(test)]
pub(crate) fn dir_syncs() -> u32 {
    tests::DIR_SYNCS.with(std::cell::Cell::get)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    thread_local! {
        pub(super) static DIR_SYNCS: Cell<u32> = const { Cell::new(0) };
    }

    #[test]
    fn quarantine_moves_the_file_aside_with_a_unique_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("queue.json");
        std::fs::write(&path, "{broken").expect("write");
        let a = quarantine(&path).expect("moved");
        assert!(!path.exists());
        let name = a.file_name().expect("name").to_string_lossy().into_owned();
        assert!(name.starts_with("queue.json.corrupt-"), "{name}");
        let secs: u64 = name["queue.json.corrupt-".len()..]
            .parse()
            .expect("unix time");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        assert!(secs <= now && now - secs < 60, "{secs} vs {now}");
        assert_eq!(std::fs::read_to_string(&a).expect("kept"), "{broken");
        // A second one in the same second gets its own name; nothing is overwritten.
        std::fs::write(&path, "{also broken").expect("write");
        let b = quarantine(&path).expect("moved again");
        assert_ne!(a, b);
        assert_eq!(std::fs::read_to_string(&a).expect("kept"), "{broken");
        assert_eq!(std::fs::read_to_string(&b).expect("kept"), "{also broken");
        let copies = quarantined_copies(&path);
        assert_eq!(copies.len(), 2, "{copies:?}");
        assert!(copies.contains(&a) && copies.contains(&b));
        // A missing file is an error, not a silent success.
        assert!(quarantine(&path).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn quarantine_keeps_the_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("credentials.json");
        std::fs::write(&path, "x").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let moved = quarantine(&path).expect("moved");
        let mode = std::fs::metadata(&moved)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn sync_dir_syncs_a_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let before = dir_syncs();
        sync_dir(dir.path()).expect("fsync");
        assert_eq!(dir_syncs(), before + 1);
        #[cfg(unix)]
        assert!(sync_dir(&dir.path().join("missing")).is_err());
    }
}
