//! The covers' disk cache: one file per image URL (named by the SHA-1 of the URL, so no part
//! of a server's URL becomes a path) in `$XDG_CACHE_HOME/tonearm/art/`, under a size cap
//! (`[ui] art_cache_mb`): after each write the least recently used files (oldest mtime; a read
//! touches the file) are removed until the directory fits. Errors are logged and treated as a
//! miss: the cache is an optimisation, never a reason not to show a cover.
//!
//! Blocking file I/O: called by [`super::ArtService`] on tokio's blocking pool. Depends on std
//! and `sha1` only.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha1::{Digest as _, Sha1};

/// A size-capped directory of cached covers.
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
    cap_bytes: u64,
}

impl DiskCache {
    pub fn new(dir: PathBuf, cap_bytes: u64) -> DiskCache {
        DiskCache { dir, cap_bytes }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the image from `url` is kept.
    pub fn path_for(&self, url: &str) -> PathBuf {
        let hash = Sha1::digest(url.as_bytes());
        self.dir.join(format!("{}.img", hex::encode(hash)))
    }

    /// The cached bytes of `url` and their file; touches the file (it was just used).
    pub fn get(&self, url: &str) -> Option<(Vec<u8>, PathBuf)> {
        let path = self.path_for(url);
        let bytes = fs::read(&path).ok()?;
        if let Ok(f) = fs::File::options().write(true).open(&path) {
            let _ = f.set_modified(SystemTime::now());
        }
        Some((bytes, path))
    }

    /// Stores `bytes` for `url` (a temporary file renamed into place, so a reader never sees
    /// half a file), then trims the directory to the cap. `None` when it could not be kept
    /// (or is alone larger than the cap).
    pub fn put(&self, url: &str, bytes: &[u8]) -> Option<PathBuf> {
        if bytes.len() as u64 > self.cap_bytes {
            return None;
        }
        let path = self.path_for(url);
        let written = (|| {
            fs::create_dir_all(&self.dir)?;
            let tmp = path.with_extension("tmp");
            let mut f = fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)
        })();
        if let Err(e) = written {
            tracing::warn!(error = %e, dir = %self.dir.display(), "cannot write the cover cache");
            return None;
        }
        self.trim(Some(&path));
        path.exists().then_some(path)
    }

    /// The cached files' total size.
    pub fn size(&self) -> u64 {
        self.entries().iter().map(|(_, len, _)| len).sum()
    }

    /// Removes the least recently used files until the total fits the cap; `keep` (the file
    /// just written) goes last.
    pub fn trim(&self, keep: Option<&Path>) {
        let mut entries = self.entries();
        let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
        if total <= self.cap_bytes {
            return;
        }
        entries.sort_by_key(|(mtime, _, path)| (Some(path.as_path()) == keep, *mtime));
        for (_, len, path) in entries {
            if total <= self.cap_bytes {
                break;
            }
            match fs::remove_file(&path) {
                Ok(()) => total = total.saturating_sub(len),
                Err(e) => tracing::debug!(error = %e, "cannot remove a cached cover"),
            }
        }
    }

    /// `(mtime, size, path)` of each cached file.
    fn entries(&self) -> Vec<(SystemTime, u64, PathBuf)> {
        let Ok(dir) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        dir.filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "img"))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                Some((mtime, meta.len(), e.path()))
            })
            .collect()
    }
}
