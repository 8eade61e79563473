//! Queue persistence and this install's device id, under `$XDG_STATE_HOME/tonearm`.
//!
//! Two files, so the every-second save while playing stays small whatever the queue's length:
//! `queue.json` holds the queue (track ids in play order) and is written only when the queue
//! changes; `playback.json` holds the current index and its track id, the position and the
//! volume, and is the file rewritten every second. Both are written atomically (temporary file
//! in the same directory, fsync, rename, fsync of the directory) so a kill at any moment leaves
//! the old or the new file, never half of one; the queue is written before the playback file
//! that points into it, and at load the playback file's track id is checked against the queue
//! (a kill between the two writes finds the track by id, or starts the queue's item from 0).
//! The old single-file layout (`queue.json` version 1, with the index, position and volume in
//! it) is still read. [`save_due`] decides
//! when: on every change of play state (pause, play, stop), a seek (a position that is not where
//! the last save's clock says), a volume change, and every [`SAVE_WHILE_PLAYING`] while playing
//! — so a `kill -9` at any moment restores within a second of the position. The event loop hands
//! snapshots to a [`Persister`] task, which writes on a blocking thread: file I/O never runs on
//! the loop. At start the runtime restores the queue paused.
//!
//! Called by `app::run` only; no UI crates, no service handles.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::id::SpotifyId;
use crate::player::{PlayState, PlayerStatus};

/// While playing, the position is saved at least this often.
pub const SAVE_WHILE_PLAYING: Duration = Duration::from_secs(1);
/// The loop's once-a-second wake-ups while playing (the clock tick, the player's status) land a
/// second apart give or take a few milliseconds: one a little early still saves, rather than
/// leaving the next save two seconds after the last.
const SAVE_SLACK: Duration = Duration::from_millis(100);
/// A position further than this from where the last save's clock puts it is a seek: saved.
const SEEK_TOLERANCE_MS: u64 = 500;

/// What was last saved of the player's status, for [`save_due`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SavedStatus {
    pub state: PlayState,
    pub position_ms: u64,
    pub volume: u16,
    /// When it was saved.
    pub at: Instant,
}

impl SavedStatus {
    /// `status` as saved at `now` (its position extrapolated to `now` while playing).
    pub fn of(status: &PlayerStatus, now: Instant) -> SavedStatus {
        SavedStatus {
            state: status.state,
            position_ms: position_at(status, now),
            volume: status.volume,
            at: now,
        }
    }
}

/// The position of `status` at `now`.
pub fn position_at(status: &PlayerStatus, now: Instant) -> u64 {
    match status.state {
        PlayState::Playing => status
            .position_ms
            .saturating_add(now.saturating_duration_since(status.at).as_millis() as u64),
        _ => status.position_ms,
    }
}

/// Whether `status` must be saved at `now`, given what was saved `last` (`None`: nothing yet —
/// the first status only sets the baseline, so an empty start never overwrites the saved queue).
pub fn save_due(last: Option<&SavedStatus>, status: &PlayerStatus, now: Instant) -> bool {
    let Some(last) = last else {
        return false;
    };
    if last.state != status.state || last.volume != status.volume {
        return true;
    }
    let elapsed = now.saturating_duration_since(last.at);
    let expected = match last.state {
        PlayState::Playing => last.position_ms.saturating_add(elapsed.as_millis() as u64),
        _ => last.position_ms,
    };
    if position_at(status, now).abs_diff(expected) > SEEK_TOLERANCE_MS {
        return true;
    }
    status.state == PlayState::Playing && elapsed + SAVE_SLACK >= SAVE_WHILE_PLAYING
}

/// `queue.json`'s layout: 1 was the single file (queue, index, position, volume); 2 holds the
/// queue only, beside `playback.json`. Files of other versions are refused (and moved aside).
pub const QUEUE_VERSION: u32 = 2;
const QUEUE_VERSION_SINGLE_FILE: u32 = 1;
/// `playback.json`'s layout.
pub const PLAYBACK_VERSION: u32 = 1;

/// What survives a restart (both files together; what the runtime saves and restores).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedQueue {
    pub version: u32,
    /// Track ids in play order (base62 strings in the file). Shared: the every-second save
    /// while playing hands the same items on, and an unchanged queue compares by pointer. Ids,
    /// not strings: a 10k-track queue held as 10k base62 strings is 10k more allocations (about
    /// 0.5 MB) for as long as it is the queue, and made again each time it is restored.
    pub items: Arc<[SpotifyId]>,
    pub current: Option<usize>,
    pub position_ms: u64,
    /// `0..=65535`.
    pub volume: u16,
}

impl SavedQueue {
    pub fn new(items: &[SpotifyId], current: Option<usize>, position_ms: u64, volume: u16) -> Self {
        SavedQueue::with_items(items.into(), current, position_ms, volume)
    }

    /// With items already shared (the runtime keeps the last saved ones).
    pub fn with_items(
        items: Arc<[SpotifyId]>,
        current: Option<usize>,
        position_ms: u64,
        volume: u16,
    ) -> Self {
        SavedQueue {
            version: QUEUE_VERSION,
            items,
            current,
            position_ms,
            volume,
        }
    }

    /// The small half: where in the queue, how far in, how loud.
    fn playback(&self) -> SavedPlayback {
        SavedPlayback {
            version: PLAYBACK_VERSION,
            current: self.current,
            track: self
                .current
                .and_then(|c| self.items.get(c))
                .map(|id| id.to_base62()),
            position_ms: self.position_ms,
            volume: self.volume,
        }
    }
}

/// `queue.json` as read: version 2 has `items` only; version 1 (the single file) has the rest.
#[derive(Debug, Deserialize)]
struct QueueFile {
    version: u32,
    items: Vec<Base62>,
    #[serde(default)]
    current: Option<usize>,
    #[serde(default)]
    position_ms: u64,
    #[serde(default)]
    volume: Option<u16>,
}

/// `queue.json` as written (version 2).
#[derive(Serialize)]
struct QueueFileOut<'a> {
    version: u32,
    #[serde(serialize_with = "base62_items")]
    items: &'a [SpotifyId],
}

/// The ids as base62 strings, one at a time (never a second copy of the whole queue).
fn base62_items<S: serde::Serializer>(items: &&[SpotifyId], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(items.iter().map(|id| id.to_base62()))
}

/// A track id read from its base62 string (no string kept per item).
#[derive(Debug)]
struct Base62(SpotifyId);

impl<'de> Deserialize<'de> for Base62 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Base62;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a base62 track id")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Base62, E> {
                SpotifyId::from_base62(s)
                    .map(Base62)
                    .map_err(|_| E::custom(format!("\"{s}\" is not a track id")))
            }
        }
        d.deserialize_str(Visit)
    }
}

/// `playback.json`: the file saved every second while playing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPlayback {
    pub version: u32,
    pub current: Option<usize>,
    /// The current item's id (base62): checks `current` against the queue it points into.
    pub track: Option<String>,
    pub position_ms: u64,
    pub volume: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a saved queue ({reason}); starting with an empty queue", path.display())]
    Corrupt { path: PathBuf, reason: String },
}

/// `<state dir>/queue.json`.
pub fn queue_file(state_dir: &Path) -> PathBuf {
    state_dir.join("queue.json")
}

/// `playback.json` beside the queue file `queue_path`.
pub fn playback_file(queue_path: &Path) -> PathBuf {
    queue_path.with_file_name("playback.json")
}

/// The saved queue (from `queue_path` and the `playback.json` beside it): `Ok(None)` when there
/// is none, an error when the queue file is unreadable or corrupt (the caller warns and goes on
/// without it). A corrupt file (or one of another layout version) is first moved aside to
/// `<name>.corrupt-<unix time>` ([`crate::paths::quarantine`]), since the next save would
/// overwrite it; a corrupt playback file only loses the position (the queue starts at its
/// first item), with a warning in the log.
pub fn load_queue(queue_path: &Path) -> Result<Option<SavedQueue>, PersistError> {
    let Some(mut q) = quarantine_if_corrupt(read_queue(queue_path))? else {
        return Ok(None);
    };
    let playback_path = playback_file(queue_path);
    match quarantine_if_corrupt(read_playback(&playback_path)) {
        Ok(Some(p)) => apply_playback(&mut q, p),
        // Only the single-file layout carries its own position; a version-2 queue without a
        // playback file starts at its first item.
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "ignoring the saved position"),
    }
    Ok(Some(q))
}

fn quarantine_if_corrupt<T>(r: Result<T, PersistError>) -> Result<T, PersistError> {
    match r {
        Err(PersistError::Corrupt { path, reason }) => {
            let reason = match crate::paths::quarantine(&path) {
                Ok(moved) => format!("{reason}; kept as {}", moved.display()),
                Err(e) => format!("{reason}; could not move it aside: {e}"),
            };
            Err(PersistError::Corrupt { path, reason })
        }
        other => other,
    }
}

/// Puts the playback file's index, position and volume on `q`, checking its track id against
/// the queue: a mismatch (killed between the two writes) finds the track by id, or keeps the
/// index with the position from 0.
fn apply_playback(q: &mut SavedQueue, p: SavedPlayback) {
    q.volume = p.volume;
    let at = |i: usize| q.items.get(i);
    // An id that does not parse matches no item (the index is kept, from 0).
    let Some(track) = p.track.as_deref().map(SpotifyId::from_base62) else {
        q.current = p.current.filter(|&c| c < q.items.len());
        q.position_ms = 0;
        return;
    };
    let track = track.ok();
    if p.current
        .is_some_and(|c| at(c).is_some() && at(c) == track.as_ref())
    {
        q.current = p.current;
        q.position_ms = p.position_ms;
    } else if let Some(i) = track.and_then(|t| q.items.iter().position(|s| *s == t)) {
        q.current = Some(i);
        q.position_ms = p.position_ms;
    } else {
        q.current = p.current.filter(|&c| c < q.items.len()).or(q.current);
        q.position_ms = 0;
    }
}

fn read_bytes(path: &Path) -> Result<Option<Vec<u8>>, PersistError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PersistError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn read_queue(path: &Path) -> Result<Option<SavedQueue>, PersistError> {
    let Some(bytes) = read_bytes(path)? else {
        return Ok(None);
    };
    let corrupt = |reason: String| PersistError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let f: QueueFile = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    let q = match f.version {
        QUEUE_VERSION => SavedQueue {
            version: QUEUE_VERSION,
            current: (!f.items.is_empty()).then_some(0),
            items: f.items.into_iter().map(|Base62(id)| id).collect(),
            position_ms: 0,
            volume: f.volume.unwrap_or((65535u32 * 6 / 10) as u16),
        },
        QUEUE_VERSION_SINGLE_FILE => {
            let Some(volume) = f.volume else {
                return Err(corrupt("version 1 without a volume".into()));
            };
            SavedQueue {
                version: QUEUE_VERSION,
                items: f.items.into_iter().map(|Base62(id)| id).collect(),
                current: f.current,
                position_ms: f.position_ms,
                volume,
            }
        }
        v => return Err(corrupt(format!("version {v}"))),
    };
    if q.current.is_some_and(|c| c >= q.items.len()) {
        return Err(corrupt("the current index is past the end".into()));
    }
    Ok(Some(q))
}

fn read_playback(path: &Path) -> Result<Option<SavedPlayback>, PersistError> {
    let Some(bytes) = read_bytes(path)? else {
        return Ok(None);
    };
    let corrupt = |reason: String| PersistError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let p: SavedPlayback = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if p.version != PLAYBACK_VERSION {
        return Err(corrupt(format!("version {}", p.version)));
    }
    Ok(Some(p))
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename, then fsync
/// of the directory so the rename itself survives a crash.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Saves both files (the queue first, then the playback file that points into it).
pub fn save_queue(queue_path: &Path, q: &SavedQueue) -> std::io::Result<()> {
    let mut written = None;
    write_snapshot(queue_path, &mut written, q).map(|_| ())
}

/// What [`write_snapshot`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// `queue.json` too (the queue had changed), not only `playback.json`.
    pub queue: bool,
}

/// Writes `q`: `queue.json` only when its items differ from `written_items` (what this writer
/// last put there, updated here), then `playback.json` always.
pub fn write_snapshot(
    queue_path: &Path,
    written_items: &mut Option<Arc<[SpotifyId]>>,
    q: &SavedQueue,
) -> std::io::Result<Written> {
    let queue = written_items.as_ref() != Some(&q.items);
    if queue {
        let bytes = serde_json::to_vec(&QueueFileOut {
            version: QUEUE_VERSION,
            items: &q.items,
        })
        .map_err(std::io::Error::other)?;
        // Forgotten first: a failed write is retried with the next snapshot.
        *written_items = None;
        write_atomic(queue_path, &bytes)?;
        *written_items = Some(q.items.clone());
    }
    let bytes = serde_json::to_vec(&q.playback()).map_err(std::io::Error::other)?;
    write_atomic(&playback_file(queue_path), &bytes)?;
    Ok(Written { queue })
}

/// Writes queue snapshots on a background task; the loop only hands over the latest one
/// (a watch: a burst of changes becomes one write). The task remembers the queue it last
/// wrote, so a snapshot that only moved the position rewrites the small file alone.
pub struct Persister {
    tx: watch::Sender<Option<SavedQueue>>,
    task: tokio::task::JoinHandle<()>,
    last: Option<SavedQueue>,
}

impl Persister {
    /// Spawns the writer task for the queue file `path` (and `playback.json` beside it).
    pub fn spawn(path: PathBuf) -> Persister {
        let (tx, mut rx) = watch::channel::<Option<SavedQueue>>(None);
        let task = tokio::spawn(async move {
            let mut written: Option<Arc<[SpotifyId]>> = None;
            while rx.changed().await.is_ok() {
                let Some(q) = rx.borrow_and_update().clone() else {
                    continue;
                };
                let p = path.clone();
                let mut w = written.take();
                let res = tokio::task::spawn_blocking(move || {
                    let r = write_snapshot(&p, &mut w, &q);
                    (w, r)
                })
                .await;
                match res {
                    Ok((w, Ok(_))) => written = w,
                    Ok((w, Err(e))) => {
                        written = w;
                        tracing::warn!(path = %path.display(), error = %e, "cannot save the queue")
                    }
                    Err(e) => tracing::warn!(error = %e, "the queue writer failed"),
                }
            }
        });
        Persister {
            tx,
            task,
            last: None,
        }
    }

    /// Hands over a snapshot; an unchanged one is not written again.
    pub fn save(&mut self, q: SavedQueue) {
        if self.last.as_ref() == Some(&q) {
            return;
        }
        self.last = Some(q.clone());
        let _ = self.tx.send(Some(q));
    }

    /// Waits until the last snapshot is on disk (on exit).
    pub async fn finish(self) {
        drop(self.tx);
        let _ = self.task.await;
    }
}

/// This install's Connect device id: a random 40-hex id kept in `<state dir>/device_id`,
/// made on first use. An unreadable or malformed file is replaced.
pub fn device_id(state_dir: &Path) -> String {
    let path = state_dir.join("device_id");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let t = text.trim();
        if t.len() == 40 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return t.to_ascii_lowercase();
        }
        tracing::warn!(path = %path.display(), "the stored device id is malformed; making a new one");
    }
    let id = random_device_id();
    if let Err(e) = write_atomic(&path, id.as_bytes()) {
        tracing::warn!(path = %path.display(), error = %e, "cannot store the device id; it will change next start");
    }
    id
}

/// A fresh random 40-hex device id.
pub fn random_device_id() -> String {
    let bytes: [u8; 20] = rand::random();
    hex::encode(bytes)
}

#[cfg(test)]
mod tests;
