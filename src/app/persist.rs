//! Queue persistence and this install's device id, under `$XDG_STATE_HOME/tonearm`.
//!
//! `queue.json` holds the queue (track ids in play order), the current index, the position and
//! the volume. It is written atomically (temporary file in the same directory, fsync, rename) so
//! a kill at any moment leaves the old or the new file, never half of one. [`save_due`] decides
//! when: on every change of play state (pause, play, stop), a seek (a position that is not where
//! the last save's clock says), a volume change, and every [`SAVE_WHILE_PLAYING`] while playing
//! — so a `kill -9` at any moment restores within a second of the position. The event loop hands
//! snapshots to a [`Persister`] task, which writes on a blocking thread: file I/O never runs on
//! the loop. At start the runtime restores the queue paused.
//!
//! Called by `app::run` only; no UI crates, no service handles.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::id::SpotifyId;
use crate::player::{PlayState, PlayerStatus};

/// While playing, the position is saved at least this often.
pub const SAVE_WHILE_PLAYING: Duration = Duration::from_secs(1);
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
    status.state == PlayState::Playing && elapsed >= SAVE_WHILE_PLAYING
}

/// Bumped when the layout changes; files of other versions are ignored with a warning.
pub const QUEUE_VERSION: u32 = 1;

/// What survives a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedQueue {
    pub version: u32,
    /// Track ids, base62, in play order.
    pub items: Vec<String>,
    pub current: Option<usize>,
    pub position_ms: u64,
    /// `0..=65535`.
    pub volume: u16,
}

impl SavedQueue {
    pub fn new(items: &[SpotifyId], current: Option<usize>, position_ms: u64, volume: u16) -> Self {
        SavedQueue {
            version: QUEUE_VERSION,
            items: items.iter().map(|id| id.to_base62()).collect(),
            current,
            position_ms,
            volume,
        }
    }

    /// The ids, checked.
    pub fn ids(&self) -> Result<Vec<SpotifyId>, PersistError> {
        self.items
            .iter()
            .map(|s| {
                SpotifyId::from_base62(s).map_err(|_| PersistError::Corrupt {
                    path: PathBuf::new(),
                    reason: format!("\"{s}\" is not a track id"),
                })
            })
            .collect()
    }
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

/// The saved queue: `Ok(None)` when there is none, an error when the file is unreadable or
/// corrupt (the caller warns and goes on without it). A corrupt one (or one of another layout
/// version) is first moved aside to `queue.json.corrupt-<unix time>`
/// ([`crate::paths::quarantine`]), since the next save would overwrite it.
pub fn load_queue(path: &Path) -> Result<Option<SavedQueue>, PersistError> {
    match read_queue(path) {
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

fn read_queue(path: &Path) -> Result<Option<SavedQueue>, PersistError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(PersistError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let corrupt = |reason: String| PersistError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let q: SavedQueue = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if q.version != QUEUE_VERSION {
        return Err(corrupt(format!("version {}", q.version)));
    }
    q.ids().map_err(|e| match e {
        PersistError::Corrupt { reason, .. } => corrupt(reason),
        other => other,
    })?;
    if q.current.is_some_and(|c| c >= q.items.len()) {
        return Err(corrupt("the current index is past the end".into()));
    }
    Ok(Some(q))
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

pub fn save_queue(path: &Path, q: &SavedQueue) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(q).map_err(std::io::Error::other)?;
    write_atomic(path, &bytes)
}

/// Writes queue snapshots on a background task; the loop only hands over the latest one
/// (a watch: a burst of changes becomes one write).
pub struct Persister {
    tx: watch::Sender<Option<SavedQueue>>,
    task: tokio::task::JoinHandle<()>,
    last: Option<SavedQueue>,
}

impl Persister {
    /// Spawns the writer task for `path`.
    pub fn spawn(path: PathBuf) -> Persister {
        let (tx, mut rx) = watch::channel::<Option<SavedQueue>>(None);
        let task = tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let Some(q) = rx.borrow_and_update().clone() else {
                    continue;
                };
                let p = path.clone();
                let res = tokio::task::spawn_blocking(move || save_queue(&p, &q)).await;
                match res {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
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
mod tests {
    use super::*;

    #[test]
    fn queue_round_trips_and_corruption_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = queue_file(dir.path());
        assert!(load_queue(&path).expect("missing is fine").is_none());
        let ids = [SpotifyId(1), SpotifyId(0x1234_5678_9abc)];
        let q = SavedQueue::new(&ids, Some(1), 42_000, 30_000);
        save_queue(&path, &q).expect("save");
        let back = load_queue(&path).expect("load").expect("present");
        assert_eq!(back, q);
        assert_eq!(back.ids().expect("ids"), ids.to_vec());

        std::fs::write(&path, b"{\"version\":1,\"items\":[\"x").expect("write");
        assert!(matches!(
            load_queue(&path),
            Err(PersistError::Corrupt { .. })
        ));
        // Moved aside before the next save could overwrite it.
        assert!(!path.exists());
        let kept = crate::paths::quarantined_copies(&path);
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(
            std::fs::read(&kept[0]).expect("kept"),
            b"{\"version\":1,\"items\":[\"x"
        );
        std::fs::write(
            &path,
            br#"{"version":1,"items":["not an id!"],"current":0,"position_ms":0,"volume":1}"#,
        )
        .expect("write");
        assert!(load_queue(&path).is_err());
        let q = SavedQueue::new(&ids, Some(5), 0, 0);
        save_queue(&path, &q).expect("save");
        assert!(load_queue(&path).is_err(), "current past the end");
    }

    fn status(state: PlayState, position_ms: u64, volume: u16, at: Instant) -> PlayerStatus {
        PlayerStatus {
            state,
            track: None,
            position_ms,
            at,
            volume,
            buffering: false,
            repeat: crate::player::RepeatMode::Off,
            shuffle: false,
        }
    }

    #[test]
    fn saves_on_pause_seek_volume_and_every_second_while_playing() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let playing = status(PlayState::Playing, 10_000, 100, t0);
        // The first status is only the baseline.
        assert!(!save_due(None, &playing, t0));
        let last = SavedStatus::of(&playing, t0);
        // Playing on: nothing new until a second has passed, then the position.
        let later = status(PlayState::Playing, 10_250, 100, t0 + ms(250));
        assert!(!save_due(Some(&last), &later, t0 + ms(250)));
        let later = status(PlayState::Playing, 11_000, 100, t0 + ms(1000));
        assert!(save_due(Some(&last), &later, t0 + ms(1000)));
        // Paused: saved at once; then nothing while it stays paused …
        let paused = status(PlayState::Paused, 10_300, 100, t0 + ms(300));
        assert!(save_due(Some(&last), &paused, t0 + ms(300)));
        let last = SavedStatus::of(&paused, t0 + ms(300));
        assert!(!save_due(Some(&last), &paused, t0 + ms(60_000)));
        // … except a seek while paused (the position lost before) and a volume change.
        let seeked = status(PlayState::Paused, 95_000, 100, t0 + ms(400));
        assert!(save_due(Some(&last), &seeked, t0 + ms(400)));
        let louder = status(PlayState::Paused, 10_300, 200, t0 + ms(400));
        assert!(save_due(Some(&last), &louder, t0 + ms(400)));
        // A seek while playing is saved at once too.
        let last = SavedStatus::of(&playing, t0);
        let jumped = status(PlayState::Playing, 60_000, 100, t0 + ms(200));
        assert!(save_due(Some(&last), &jumped, t0 + ms(200)));
    }

    #[test]
    fn device_id_is_stable_and_replaced_when_malformed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = device_id(dir.path());
        assert_eq!(a.len(), 40);
        assert_eq!(device_id(dir.path()), a);
        std::fs::write(dir.path().join("device_id"), "nope").expect("write");
        let b = device_id(dir.path());
        assert_eq!(b.len(), 40);
        assert_ne!(a, b);
    }
}
