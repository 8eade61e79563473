//! Episodes' resume points on this install: `resume_points.json` in the state directory, a
//! bounded map from episode id to where playback stopped (and when that was saved), so an
//! episode started again — by `tonearm play`, the TUI or the daemon, in this process or the
//! next — starts where the user left it. Spotify keeps the same point on its side (the Web
//! API's `resume_point`, from what devices report); this local copy answers offline and at
//! once, and the remote one is the fallback for an episode this install never played.
//!
//! Written atomically like the TUI's queue files (temporary file, fsync, rename, fsync of the
//! directory). An episode played to within [`END_MARGIN_MS`] of its end is forgotten: it starts
//! from the top next time, as Spotify does for a fully played episode. Pure data and file I/O
//! over the player's status; never imports the app, the UI or the CLI (the daemon uses it too).
//! Called by `cli::play`, the TUI's runtime (`app::run`) and the daemon.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::id::SpotifyId;

/// The most episodes remembered; the least recently saved goes first.
pub const MAX_RESUME_POINTS: usize = 200;
/// Within this much of the end an episode counts as fully played.
pub const END_MARGIN_MS: u64 = 2_000;
const VERSION: u32 = 1;

/// Moves the unusable file `path` aside before a save can overwrite it; says where it went.
fn set_aside(path: &Path) -> String {
    match crate::paths::quarantine(path) {
        Ok(moved) => format!("kept as {}", moved.display()),
        Err(e) => format!("could not move it aside: {e}"),
    }
}

/// Where the resume points live in `state_dir`.
pub fn resume_file(state_dir: &Path) -> PathBuf {
    state_dir.join("resume_points.json")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Point {
    position_ms: u64,
    /// A save counter: larger is more recent (eviction order).
    seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct File {
    version: u32,
    /// Base-62 episode id → point.
    episodes: HashMap<String, Point>,
}

impl Default for File {
    fn default() -> File {
        File {
            version: VERSION,
            episodes: HashMap::new(),
        }
    }
}

/// The resume points, in memory; [`ResumePoints::save`] writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumePoints {
    file: File,
}

impl ResumePoints {
    /// Reads `path`; a missing file is empty, and so is an unreadable or malformed one (logged:
    /// losing resume points must never stop playback). A malformed file, or one of another
    /// version, is first moved aside to `resume_points.json.corrupt-<unix time>`
    /// ([`crate::paths::quarantine`]), like the queue's files, since the next save replaces it.
    pub fn load(path: &Path) -> ResumePoints {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return ResumePoints::default(),
            Err(e) => {
                tracing::warn!("cannot read {}: {e}", path.display());
                return ResumePoints::default();
            }
        };
        match serde_json::from_slice::<File>(&bytes) {
            Ok(file) if file.version == VERSION => ResumePoints { file },
            Ok(file) => {
                let kept = set_aside(path);
                tracing::warn!(
                    "{}: unknown version {}; starting empty ({kept})",
                    path.display(),
                    file.version
                );
                ResumePoints::default()
            }
            Err(e) => {
                let kept = set_aside(path);
                tracing::warn!(
                    "{} is malformed ({e}); starting empty ({kept})",
                    path.display()
                );
                ResumePoints::default()
            }
        }
    }

    /// Where episode `id` was left, when it was.
    pub fn get(&self, id: SpotifyId) -> Option<u64> {
        self.file
            .episodes
            .get(&id.to_base62())
            .map(|p| p.position_ms)
    }

    /// Records that episode `id` (`duration_ms` long; 0 when unknown) stopped at
    /// `position_ms`. Near the end it is forgotten instead (fully played). Returns whether
    /// anything changed.
    pub fn set(&mut self, id: SpotifyId, position_ms: u64, duration_ms: u64) -> bool {
        let key = id.to_base62();
        let done = duration_ms > 0 && position_ms.saturating_add(END_MARGIN_MS) >= duration_ms;
        if done || position_ms == 0 {
            return self.file.episodes.remove(&key).is_some();
        }
        if self.file.episodes.get(&key).map(|p| p.position_ms) == Some(position_ms) {
            return false;
        }
        let seq = self
            .file
            .episodes
            .values()
            .map(|p| p.seq)
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        self.file.episodes.insert(key, Point { position_ms, seq });
        while self.file.episodes.len() > MAX_RESUME_POINTS {
            let oldest = self
                .file
                .episodes
                .iter()
                .min_by_key(|(_, p)| p.seq)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => self.file.episodes.remove(&k),
                None => break,
            };
        }
        true
    }

    pub fn len(&self) -> usize {
        self.file.episodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.file.episodes.is_empty()
    }

    /// Writes the points to `path` atomically (creating its directory).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = File {
            version: VERSION,
            episodes: self.file.episodes.clone(),
        };
        let bytes = serde_json::to_vec(&file).map_err(std::io::Error::other)?;
        write_atomic(path, &bytes)
    }
}

/// The position of `status` at `now` (extrapolated while playing).
fn position_at(status: &crate::player::PlayerStatus, now: std::time::Instant) -> u64 {
    match status.state {
        crate::player::PlayState::Playing => status
            .position_ms
            .saturating_add(now.saturating_duration_since(status.at).as_millis() as u64),
        _ => status.position_ms,
    }
}

/// `bytes` to `path` so that a crash leaves the old file or the new one, never half of one.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".resume_points.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        crate::paths::sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Keeps the resume points of a playing front end up to date: told which queue entries are
/// episodes, it records the heard position of the current episode from the player's status
/// and writes the file at most once per [`SAVE_EVERY`] while it changes, and at [`finish`].
/// An episode that played to its end is forgotten ([`ResumeKeeper::ended`]).
///
/// [`finish`]: ResumeKeeper::finish
#[derive(Debug)]
pub struct ResumeKeeper {
    path: Option<PathBuf>,
    points: ResumePoints,
    episodes: std::collections::HashSet<SpotifyId>,
    dirty: bool,
    saved_at: Option<std::time::Instant>,
    /// Bumped per write; the writer skips a write older than the last one done (writes may run
    /// on tokio's blocking pool and finish out of order).
    seq: u64,
    written: std::sync::Arc<std::sync::Mutex<u64>>,
}

/// While an episode plays, its point is written at most this often.
pub const SAVE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl ResumeKeeper {
    /// Over the file at `path` (`None`: kept in memory only, e.g. no state directory).
    pub fn open(path: Option<PathBuf>) -> ResumeKeeper {
        let points = path.as_deref().map(ResumePoints::load).unwrap_or_default();
        ResumeKeeper {
            path,
            points,
            episodes: Default::default(),
            dirty: false,
            saved_at: None,
            seq: 0,
            written: Default::default(),
        }
    }

    /// `ids` are episodes (others are tracks and have no resume point).
    pub fn note_episodes(&mut self, ids: impl IntoIterator<Item = SpotifyId>) {
        self.episodes.extend(ids);
    }

    /// Whether `id` is an episode: noted here, or known to the process (`id::episodes`).
    pub fn is_episode(&self, id: SpotifyId) -> bool {
        self.episodes.contains(&id) || crate::id::episodes::is_episode(id)
    }

    /// Where episode `id` was left on this install.
    pub fn get(&self, id: SpotifyId) -> Option<u64> {
        self.points.get(id)
    }

    /// Records the player's `status` at `now` when its current item is an episode; writes the
    /// file when due. Returns whether the episode's point changed.
    pub fn observe(
        &mut self,
        status: &crate::player::PlayerStatus,
        now: std::time::Instant,
    ) -> bool {
        let Some(t) = &status.track else {
            return false;
        };
        if !self.is_episode(t.id) || status.buffering {
            return false;
        }
        let mut position = position_at(status, now);
        if t.duration_ms > 0 {
            position = position.min(t.duration_ms);
        }
        let changed = self.points.set(t.id, position, t.duration_ms);
        self.dirty |= changed;
        let due = self
            .saved_at
            .is_none_or(|at| now.saturating_duration_since(at) >= SAVE_EVERY);
        if self.dirty && due {
            self.write(now);
        }
        changed
    }

    /// Episode `id` played to its end: next time it starts from the top.
    pub fn ended(&mut self, id: SpotifyId) {
        if self.is_episode(id) && self.points.set(id, 0, 0) {
            self.dirty = true;
        }
    }

    /// Every remembered point (for a front end's own copy).
    pub fn all(&self) -> std::collections::HashMap<SpotifyId, u64> {
        self.points
            .file
            .episodes
            .iter()
            .filter_map(|(k, p)| Some((SpotifyId::from_base62(k).ok()?, p.position_ms)))
            .collect()
    }

    /// Writes what is not written yet, before returning (the way out).
    pub fn finish(&mut self) {
        if self.dirty {
            self.dirty = false;
            if let Some(job) = self.job() {
                job();
            }
        }
    }

    /// A periodic write: on tokio's blocking pool when there is a runtime (file I/O never runs
    /// on an event loop), else here.
    fn write(&mut self, now: std::time::Instant) {
        self.saved_at = Some(now);
        self.dirty = false;
        let Some(job) = self.job() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(job)),
            Err(_) => job(),
        }
    }

    /// The write of the points as they are now, skipped if a later one was done first.
    fn job(&mut self) -> Option<impl FnOnce() + Send + 'static> {
        let path = self.path.clone()?;
        self.seq += 1;
        let seq = self.seq;
        let points = self.points.clone();
        let written = std::sync::Arc::clone(&self.written);
        Some(move || {
            let mut last = written.lock().unwrap_or_else(|p| p.into_inner());
            if *last >= seq {
                return;
            }
            match points.save(&path) {
                Ok(()) => *last = seq,
                Err(e) => tracing::warn!("cannot save resume points to {}: {e}", path.display()),
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
