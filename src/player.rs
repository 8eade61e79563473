//! The player: a handle/task pair. The handle sends commands; an engine on its own OS thread
//! owns the queue, the current and preloaded tracks, normalisation and volume, and the sink.
//! Events and the position clock flow back to the caller.
//!
//! Never imports UI modules or the simulator; tracks come through [`loader::TrackLoader`].
//!
//! Pieces: [`Player`] (this file) is the cheap-to-clone handle, and [`PlayerOp`] the one
//! vocabulary of operations on it; `engine` is the decode loop on the `tonearm-player` thread
//! (it opens the sink through the [`SinkFactory`], pulls ~1024-frame chunks from the current
//! [`PcmSource`](crate::audio::pcm::PcmSource), applies normalisation × volume (`gain`), writes
//! to the sink (`output`: the sink and its lifecycle), and polls its command channel between
//! chunks); `task` is the tokio task that runs loader futures and hands the loaded tracks to the
//! engine; `msg` holds the messages between the three (so engine and task never import each
//! other); `queue` is the play-order arithmetic. Status (position, volume, state) and the queue
//! are published through `tokio::sync::watch`; discrete happenings go out as [`PlayerEvent`]s.
//!
//! Position and track changes follow what is *heard*: the engine notes the sink frame (in
//! [`Sink::played_frames`](crate::audio::sink::Sink::played_frames) terms) at which each
//! track's first sample was written; `TrackChanged` for a gapless successor is emitted once
//! `played_frames` has crossed that frame, checked after every chunk written and every 10 ms
//! while the sink drains — so it comes at most one chunk (~23 ms) plus one poll late.
//! `EndOfTrack`/`EndOfQueue` are likewise sent when the last sample has been played, not
//! decoded. The status and queue watch values are published before each event, so a consumer
//! reacting to an event already sees them updated.
//!
//! Queue items already written to the sink or being loaded for it (the heard track, and near
//! a joint its gapless successor) can't be removed, and `clear_queue` keeps them.

mod engine;
mod gain;
pub mod loader;
mod msg;
mod output;
mod queue;
pub mod spotify;
mod task;
#[cfg(test)]
pub(crate) mod tests;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::audio::sink::SinkFactory;
use crate::id::SpotifyId;
use engine::Engine;
use loader::{TrackInfo, TrackLoader};
use msg::{Command, EngineMsg};

/// How the player behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayerConfig {
    /// Software volume at start, `0..=65535` (default 60 %: `65535 * 6 / 10`).
    pub initial_volume: u16,
    /// Normalisation (off by default, like librespot).
    pub normalisation: crate::audio::normalise::NormalisationConfig,
    /// Start loading the next track this long before the current one ends (default 15 s).
    pub preload_ahead: Duration,
    /// Play the next track in the same output stream, sample-exactly (default true). When off,
    /// the next track is loaded only once the current one has been played out.
    pub gapless: bool,
    /// A track that keeps failing for transient reasons (network, session down, CDN stall, rate
    /// limit) is held and retried this long before it is skipped (default 2 minutes).
    pub transient_give_up: Duration,
}

impl Default for PlayerConfig {
    fn default() -> Self {
        PlayerConfig {
            initial_volume: (65535u32 * 6 / 10) as u16,
            normalisation: crate::audio::normalise::NormalisationConfig::default(),
            preload_ahead: Duration::from_secs(15),
            gapless: true,
            transient_give_up: Duration::from_secs(120),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RepeatMode {
    #[default]
    Off,
    All,
    One,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayState {
    /// Nothing loaded.
    Stopped,
    /// Waiting for a track (a load, or the next track that wasn't ready in time).
    Loading,
    Playing,
    Paused,
}

/// The player's state, published on every change and a few times a second while playing.
#[derive(Debug, Clone)]
pub struct PlayerStatus {
    pub state: PlayState,
    /// The track being heard (`None` while stopped or loading).
    pub track: Option<TrackInfo>,
    /// The position was `position_ms` at the instant `at`; extrapolate while `Playing`.
    pub position_ms: u64,
    pub at: Instant,
    pub volume: u16,
    /// Waiting for audio (a load in flight).
    pub buffering: bool,
    pub repeat: RepeatMode,
    pub shuffle: bool,
}

/// The queue in play order and the index of the current item.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueSnapshot {
    pub items: Vec<SpotifyId>,
    pub current: Option<usize>,
}

/// One operation on the player — the one vocabulary every front end's intents end in: the
/// core ([`crate::control`]) turns keys, clicks and remote commands into these, the TUI's
/// effects carry them, and [`Player::apply`] hands them to the engine. Each operation has this
/// one name from end to end.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayerOp {
    /// Replaces the queue with `ids` and starts at `index`, `position_ms` into it; paused unless
    /// `play`. An out-of-range `index` sets the queue and stays stopped.
    Load {
        ids: Vec<SpotifyId>,
        index: usize,
        position_ms: u64,
        play: bool,
    },
    /// Resumes; when stopped, starts the current item (or the first) from the beginning.
    Play,
    Pause,
    /// Pauses when playing, else plays.
    Toggle,
    /// Seeks in the track being heard; `Seeked` reports the position reached.
    Seek(u64),
    /// Skips to the next item (in repeat One too; wraps around unless repeat is off).
    Next,
    /// Restarts the track when more than 3 s in, else goes to the previous item.
    Previous,
    /// Software volume, `0..=65535`.
    SetVolume(u16),
    /// Adds to the queue the way Spotify's queue works: after the current item and after
    /// whatever was added this way before and is still ahead, so additions play in the order
    /// they were made, before the rest of the queue.
    AddToQueue(Vec<SpotifyId>),
    /// Inserts right after the current item (before earlier additions).
    PlayNext(Vec<SpotifyId>),
    /// Removes an item; the item being played (or already buffered) can't be removed.
    Remove(usize),
    /// Moves the item at `from` to index `to`.
    Move {
        from: usize,
        to: usize,
    },
    /// Removes every item except the current one.
    ClearQueue,
    /// Removes every item after the current one (what was played before it stays, so
    /// `Previous` still works). Items already in the output stay, as with `Remove`. One
    /// operation rather than a `Remove` per index: the engine applies it to its queue as it is
    /// then, so a caller's possibly stale snapshot can't remove the wrong items.
    ClearAfterCurrent,
    SetRepeat(RepeatMode),
    /// Shuffle on: the current item first, the others in random order. Off: the original order.
    SetShuffle(bool),
}

#[derive(Debug, Clone)]
pub enum PlayerEvent {
    /// A new track is heard (for gapless successors: when playback crossed into it).
    TrackChanged(TrackInfo),
    Playing {
        position_ms: u64,
    },
    Paused {
        position_ms: u64,
    },
    Seeked {
        position_ms: u64,
    },
    /// The next track was not ready when the current one ran out.
    Buffering,
    /// The track played to its end (not sent for skipped tracks).
    EndOfTrack(SpotifyId),
    EndOfQueue,
    Stopped,
    VolumeChanged(u16),
    /// A transient failure (network, session down, token refused, CDN stall, rate limit): the
    /// player holds the track and its position (the status shows buffering) and tries again in
    /// `retry_in`. It skips only when the failures outlast `PlayerConfig::transient_give_up`.
    Reconnecting {
        id: SpotifyId,
        reason: String,
        retry_in: Duration,
    },
    /// A track failed. `skipped`: the player went on with the next item; otherwise it stopped.
    /// Sink errors carry the id of the track being played (`SpotifyId(0)` when none).
    Error {
        id: SpotifyId,
        reason: String,
        skipped: bool,
    },
}

struct Shared {
    commands: std_mpsc::Sender<EngineMsg>,
    /// The repeat mode last sent ([`Player::repeat`]), as [`repeat_code`].
    repeat: AtomicU8,
    status: watch::Receiver<PlayerStatus>,
    queue: watch::Receiver<QueueSnapshot>,
    /// Becomes `true` (or closes) when the engine thread has finished.
    done: watch::Receiver<bool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Shared {
    /// The last handle is gone: stop the engine (it stops the sink and ends its thread).
    fn drop(&mut self) {
        let _ = self.commands.send(EngineMsg::Command(Command::Shutdown));
    }
}

/// The handle to the player; cheap to clone. Commands are fire-and-forget: their effects show
/// up as [`PlayerEvent`]s and in [`Player::status`] / [`Player::queue`].
#[derive(Clone)]
pub struct Player {
    shared: Arc<Shared>,
}

impl Player {
    /// Spawns the engine thread (which calls `sink_factory` to open the sink) and a tokio task on
    /// `rt` that runs loader futures. Returns the handle and the event stream.
    pub fn spawn(
        loader: Arc<dyn TrackLoader>,
        sink_factory: SinkFactory,
        config: PlayerConfig,
        rt: tokio::runtime::Handle,
    ) -> (Player, mpsc::UnboundedReceiver<PlayerEvent>) {
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let (cmd_tx, cmd_rx) = std_mpsc::channel();
        let (load_tx, load_rx) = mpsc::unbounded_channel();
        let (status_tx, status_rx) = watch::channel(PlayerStatus {
            state: PlayState::Stopped,
            track: None,
            position_ms: 0,
            at: Instant::now(),
            volume: config.initial_volume,
            buffering: false,
            repeat: RepeatMode::Off,
            shuffle: false,
        });
        let (queue_tx, queue_rx) = watch::channel(QueueSnapshot::default());
        let (done_tx, done_rx) = watch::channel(false);

        rt.spawn(task::run(loader, load_rx, cmd_tx.clone()));

        let failed_events = event_tx.clone();
        let spawned = std::thread::Builder::new()
            .name("tonearm-player".into())
            .spawn(move || {
                let sink = sink_factory();
                let engine = Engine::new(
                    engine::Channels {
                        messages: cmd_rx,
                        events: event_tx,
                        status: status_tx,
                        queue: queue_tx,
                        loads: load_tx,
                    },
                    sink,
                    config,
                );
                engine.run();
                let _ = done_tx.send(true);
            });
        let thread = match spawned {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the player thread");
                let _ = failed_events.send(PlayerEvent::Error {
                    id: SpotifyId(0),
                    reason: format!("cannot start the player thread: {e}"),
                    skipped: false,
                });
                None
            }
        };
        let player = Player {
            shared: Arc::new(Shared {
                commands: cmd_tx,
                repeat: AtomicU8::new(repeat_code(RepeatMode::Off)),
                status: status_rx,
                queue: queue_rx,
                done: done_rx,
                thread: Mutex::new(thread),
            }),
        };
        (player, event_rx)
    }

    fn send(&self, command: Command) {
        if self
            .shared
            .commands
            .send(EngineMsg::Command(command))
            .is_err()
        {
            tracing::debug!("player command after the engine has ended; ignored");
        }
    }

    /// Sends one operation to the engine (see [`PlayerOp`] for what each does).
    pub fn apply(&self, op: PlayerOp) {
        if let PlayerOp::SetRepeat(mode) = op {
            self.shared
                .repeat
                .store(repeat_code(mode), Ordering::Relaxed);
        }
        self.send(Command::Op(op));
    }

    /// [`PlayerOp::Load`].
    pub fn load(&self, ids: Vec<SpotifyId>, index: usize, position_ms: u64, play: bool) {
        self.apply(PlayerOp::Load {
            ids,
            index,
            position_ms,
            play,
        });
    }

    /// [`PlayerOp::Play`].
    pub fn play(&self) {
        self.apply(PlayerOp::Play);
    }

    /// [`PlayerOp::Pause`].
    pub fn pause(&self) {
        self.apply(PlayerOp::Pause);
    }

    /// [`PlayerOp::Toggle`].
    pub fn toggle(&self) {
        self.apply(PlayerOp::Toggle);
    }

    /// Stops playback and drops what the sink holds; the queue and its current item stay.
    /// Not a [`PlayerOp`]: no front end asks for it (a phone's "stop" is a pause); the owner of
    /// the player uses it.
    pub fn stop(&self) {
        self.send(Command::Stop);
    }

    /// [`PlayerOp::Seek`].
    pub fn seek(&self, position_ms: u64) {
        self.apply(PlayerOp::Seek(position_ms));
    }

    /// [`PlayerOp::Next`].
    pub fn next(&self) {
        self.apply(PlayerOp::Next);
    }

    /// [`PlayerOp::Previous`].
    pub fn previous(&self) {
        self.apply(PlayerOp::Previous);
    }

    /// [`PlayerOp::SetVolume`].
    pub fn set_volume(&self, volume: u16) {
        self.apply(PlayerOp::SetVolume(volume));
    }

    /// [`PlayerOp::AddToQueue`].
    pub fn add_to_queue(&self, ids: Vec<SpotifyId>) {
        self.apply(PlayerOp::AddToQueue(ids));
    }

    /// [`PlayerOp::PlayNext`].
    pub fn play_next(&self, ids: Vec<SpotifyId>) {
        self.apply(PlayerOp::PlayNext(ids));
    }

    /// [`PlayerOp::Remove`].
    pub fn remove(&self, index: usize) {
        self.apply(PlayerOp::Remove(index));
    }

    /// [`PlayerOp::Move`].
    pub fn move_item(&self, from: usize, to: usize) {
        self.apply(PlayerOp::Move { from, to });
    }

    /// [`PlayerOp::ClearQueue`].
    pub fn clear_queue(&self) {
        self.apply(PlayerOp::ClearQueue);
    }

    /// [`PlayerOp::ClearAfterCurrent`].
    pub fn clear_after_current(&self) {
        self.apply(PlayerOp::ClearAfterCurrent);
    }

    /// [`PlayerOp::SetRepeat`].
    pub fn set_repeat(&self, mode: RepeatMode) {
        self.apply(PlayerOp::SetRepeat(mode));
    }

    /// [`PlayerOp::SetShuffle`].
    pub fn set_shuffle(&self, on: bool) {
        self.apply(PlayerOp::SetShuffle(on));
    }

    /// The repeat mode as last set through any handle: what the engine has, or will have once
    /// it has taken the operations already sent (only `SetRepeat` changes it). A front end that
    /// decides from the current mode (Connect's separate repeat flags, sent back to back) reads
    /// this; the status's `repeat` lags until the engine gets to the operation.
    pub fn repeat(&self) -> RepeatMode {
        repeat_from_code(self.shared.repeat.load(Ordering::Relaxed))
    }

    pub fn status(&self) -> watch::Receiver<PlayerStatus> {
        self.shared.status.clone()
    }

    pub fn queue(&self) -> watch::Receiver<QueueSnapshot> {
        self.shared.queue.clone()
    }

    /// Stops playback, stops the sink (a wav file is finalised) and joins the engine thread.
    pub async fn shutdown(&self) {
        self.send(Command::Shutdown);
        let mut done = self.shared.done.clone();
        // An error means the thread ended without saying so (it panicked): it is gone either way.
        let _ = done.wait_for(|d| *d).await;
        let thread = match self.shared.thread.lock() {
            Ok(mut t) => t.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(thread) = thread {
            // The thread has signalled `done` as its last act, so this returns at once.
            if thread.join().is_err() {
                tracing::error!("the player thread panicked");
            }
        }
    }
}

fn repeat_code(mode: RepeatMode) -> u8 {
    match mode {
        RepeatMode::Off => 0,
        RepeatMode::All => 1,
        RepeatMode::One => 2,
    }
}

fn repeat_from_code(code: u8) -> RepeatMode {
    match code {
        1 => RepeatMode::All,
        2 => RepeatMode::One,
        _ => RepeatMode::Off,
    }
}
