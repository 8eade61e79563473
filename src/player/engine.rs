//! The engine: the player's state and decode loop, on its own OS thread (`tonearm-player`).
//!
//! Each turn of the loop takes the commands and finished loads that have arrived, notes what
//! the sink has played (track boundaries, end of queue), starts the next track's preload when
//! it is due, publishes the status, and — while playing — reads one chunk (~1024 frames) from
//! the track being decoded, applies normalisation × volume and writes it to the sink. The
//! sink's blocking `write` paces the loop; when there is nothing to decode the loop sleeps on
//! its channel (10 ms polls only while the sink still has audio to play out; otherwise no
//! wake-ups at all).
//!
//! The sink's contents are modelled as a queue of [`Segment`]s, one per track written: the
//! front one is being heard, the back one (when not ended) is being decoded. A segment records
//! the sink frame at which its first sample was written, so positions and `TrackChanged` follow
//! [`Sink::played_frames`]. A gapless successor is simply a new segment appended when the
//! previous source returns 0 frames; seeking, skipping and loading cut: `sink.clear()` and drop
//! the segments.
//!
//! Loads never block this thread: they run on the player's tokio task (`task`), which sends
//! the result back as an [`EngineMsg::Loaded`] with the request number.
//!
//! This file holds the engine's state, its loop, status publishing and the output side
//! (writing, following what the sink has played, the drain); `engine/ops.rs` applies the
//! [`PlayerOp`](super::PlayerOp)s and `engine/loading.rs` the loads and preloads.

mod loading;
mod ops;

use std::collections::VecDeque;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::gain::{volume_gain, GainStage};
use super::loader::{LoadError, LoadErrorKind, LoadedTrack, TrackInfo};
use super::msg::{Command, EngineMsg, LoaderRequest};
use super::output::{Output, Started};
use super::queue::Queue;
use super::{PlayState, PlayerConfig, PlayerEvent, PlayerStatus, QueueSnapshot, RepeatMode};
use crate::audio::pcm::{frames_to_ms, PcmError, PcmErrorKind, PcmSource, CHANNELS};
use crate::audio::sink::{Sink, SinkError};
use crate::id::SpotifyId;

/// Frames read from the source per chunk (~23 ms).
const CHUNK_FRAMES: usize = 1024;
/// How often the loop looks at the sink while it plays out audio it already has.
const DRAIN_POLL: Duration = Duration::from_millis(10);
/// Status updates while playing steadily, this often. Consumers extrapolate the position from
/// `PlayerStatus::at`, so a steady update only corrects clock drift and keeps the persisted
/// position fresh; every update wakes the TUI, the Connect service and the control API's hub
/// (the CPU budget while playing is 1 % of a core). A position that strays further than
/// [`STATUS_DRIFT_MS`] from the last status's extrapolation is published at once.
const STATUS_INTERVAL: Duration = Duration::from_secs(1);
/// How far the heard position may stray from the last status's extrapolation (an underrun, a
/// sink whose clock runs differently) before a status goes out before [`STATUS_INTERVAL`].
const STATUS_DRIFT_MS: u64 = 100;
/// `previous` restarts the track when it is further in than this.
const RESTART_THRESHOLD_MS: u64 = 3000;
/// Positions are clamped to this (a day) before they reach a source of unknown length.
const MAX_POSITION_MS: u64 = 24 * 3600 * 1000;
/// A sink that stops advancing while it should be playing out is treated as drained after this
/// long (so a wedged device can't hang the end of the queue forever).
const DRAIN_STALL: Duration = Duration::from_secs(10);
/// Transient-failure retries: the first after this long, doubling up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// At least this many retries before a transient failure may skip a track (with the time
/// bound, `PlayerConfig::transient_give_up`).
const RETRY_MIN_ATTEMPTS: u32 = 3;
/// Audio keys refused for this many tracks in a row, none granted: the account gets no keys
/// (Spotify does this to some accounts); say so once and stop instead of skipping through.
const KEY_REFUSALS_FOR_ACCOUNT: usize = 3;
/// A continuation seeks this far before the frame it resumes at (seeks land up to 20 ms late).
const RESUME_SEEK_LEAD_MS: u64 = 50;

/// The engine's ends of its channels.
pub(super) struct Channels {
    pub messages: std_mpsc::Receiver<EngineMsg>,
    pub events: mpsc::UnboundedSender<PlayerEvent>,
    pub status: watch::Sender<PlayerStatus>,
    pub queue: watch::Sender<QueueSnapshot>,
    pub loads: mpsc::UnboundedSender<LoaderRequest>,
}

/// One track's stretch of the output stream.
struct Segment {
    info: TrackInfo,
    /// Its queue item.
    index: Option<usize>,
    source: Box<dyn PcmSource>,
    normalisation: f32,
    /// The sink frame (in `played_frames` terms) where its first sample (after a seek: the
    /// first sample after the seek) was written …
    sink_start: u64,
    /// … and that sample's frame in the source.
    src_start: u64,
    /// Set when the source has ended: the sink frame after its last sample.
    sink_end: Option<u64>,
    /// The continuation of the segment before it, reloaded after a transient failure: the
    /// same track heard on, so no end-of-track / track-changed between them.
    resumed: bool,
    /// Source frames before this one are decoded and dropped (a continuation's exact start).
    skip_to: Option<u64>,
}

/// How a new track joins the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Join {
    /// After `sink.clear()`: heard at once (load, next, previous, play from stopped).
    Cut,
    /// Appended after what the sink holds (gapless successor, or after a drain).
    Append,
}

/// A load the output is waiting for.
struct Pending {
    req: u64,
    index: usize,
    id: SpotifyId,
    position_ms: u64,
    join: Join,
    /// Held after transient failures (`req` is 0 while waiting for `retry_at`).
    transient: Option<Transient>,
}

/// The retry state of a held track.
#[derive(Debug, Clone, Copy)]
struct Transient {
    since: Instant,
    attempts: u32,
    /// When to ask the loader again; `None` while a load is in flight.
    retry_at: Option<Instant>,
    /// The source frame a track that failed mid-way resumes at (sample-exact continuation).
    resume_frame: Option<u64>,
}

/// The wait before retry number `attempt` (1-based): doubling from [`RETRY_FIRST`], capped.
fn retry_delay(attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(16);
    RETRY_FIRST.saturating_mul(1 << doublings).min(RETRY_MAX)
}

enum PreloadState {
    Loading,
    Ready(LoadedTrack),
    Failed(LoadError),
}

/// The next item, loaded ahead.
struct Preload {
    req: u64,
    index: usize,
    id: SpotifyId,
    state: PreloadState,
}

/// What the engine's loop is doing, which decides how it waits for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activity {
    /// Reading from a source and writing to the sink (the sink's blocking `write` paces the
    /// loop): messages are only polled between chunks.
    Decoding,
    /// Nothing to decode, but the sink is still playing out what it holds: poll every
    /// `DRAIN_POLL` to follow track boundaries and the end of the queue.
    Draining,
    /// Stopped, paused, or waiting for a load: sleep until a message comes (no wake-ups).
    Idle,
}

/// What to do once the sink has played everything out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterDrain {
    /// Go on with what follows this item (evaluated then, so queue edits count); `manual`:
    /// move on even in repeat One (the item failed).
    Advance {
        from: Option<usize>,
        manual: bool,
    },
    EndOfQueue,
}

pub(super) struct Engine {
    ch: Channels,
    /// The last item added with `AddToQueue` that is still ahead: the next one goes after it,
    /// so several additions play in the order they were made (Spotify's queue semantics).
    queued_end: Option<usize>,
    config: PlayerConfig,
    normalisation: crate::audio::normalise::NormalisationConfig,
    output: Output,
    /// Frames written, in `played_frames` terms (reset to `played_frames` after each clear).
    written: u64,
    /// Drain-stall detection: the last `played_frames` seen and since when.
    last_played: (u64, Instant),
    queue: Queue,
    repeat: RepeatMode,
    segments: VecDeque<Segment>,
    pending: Option<Pending>,
    preload: Option<Preload>,
    after_drain: Option<AfterDrain>,
    /// The user's intent: paused (also while loading).
    paused: bool,
    volume: u16,
    next_req: u64,
    /// Items skipped for errors in a row (stops an all-failing queue from cycling forever).
    skip_failures: usize,
    /// Tracks whose audio key was refused since a key was last granted (item, id, reason):
    /// reported as skipped once a later track loads, or as the account's problem after
    /// [`KEY_REFUSALS_FOR_ACCOUNT`].
    key_refused: Vec<(usize, SpotifyId, String)>,
    /// The state last announced, and whether to announce it again (after a cut load).
    state: PlayState,
    announce: bool,
    buffering: bool,
    status_dirty: bool,
    queue_dirty: bool,
    last_status: Instant,
    /// The position in the last published status (for [`Engine::drifted`]).
    last_position_ms: u64,
    shutting_down: bool,
    buf: Vec<f32>,
    gain: GainStage,
}

impl Engine {
    pub fn new(
        ch: Channels,
        sink: Result<Box<dyn Sink>, SinkError>,
        config: PlayerConfig,
    ) -> Engine {
        let normalisation = config.normalisation;
        Engine {
            normalisation,
            volume: config.initial_volume,
            config,
            ch,
            output: Output::new(sink),
            written: 0,
            last_played: (0, Instant::now()),
            queue: Queue::default(),
            repeat: RepeatMode::Off,
            segments: VecDeque::new(),
            pending: None,
            preload: None,
            after_drain: None,
            queued_end: None,
            paused: false,
            next_req: 1,
            skip_failures: 0,
            key_refused: Vec::new(),
            state: PlayState::Stopped,
            announce: false,
            buffering: false,
            status_dirty: true,
            queue_dirty: true,
            last_status: Instant::now(),
            last_position_ms: 0,
            shutting_down: false,
            buf: Vec::with_capacity(CHUNK_FRAMES * CHANNELS),
            gain: GainStage::new(&normalisation),
        }
    }

    /// The loop; returns at shutdown (or when every handle is gone).
    pub fn run(mut self) {
        if let Some(reason) = self.output.missing().map(str::to_owned) {
            self.emit(PlayerEvent::Error {
                id: SpotifyId(0),
                reason,
                skipped: false,
            });
        }
        self.refresh();
        loop {
            let first = match self.activity() {
                Activity::Decoding => match self.ch.messages.try_recv() {
                    Ok(m) => Some(m),
                    Err(std_mpsc::TryRecvError::Empty) => None,
                    Err(std_mpsc::TryRecvError::Disconnected) => break,
                },
                Activity::Draining => match self.ch.messages.recv_timeout(DRAIN_POLL) {
                    Ok(m) => Some(m),
                    Err(std_mpsc::RecvTimeoutError::Timeout) => None,
                    Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
                },
                Activity::Idle => match self.retry_wait() {
                    // A held track's retry is due then: wake up for it.
                    Some(wait) => match self.ch.messages.recv_timeout(wait) {
                        Ok(m) => Some(m),
                        Err(std_mpsc::RecvTimeoutError::Timeout) => None,
                        Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
                    },
                    None => match self.ch.messages.recv() {
                        Ok(m) => Some(m),
                        Err(_) => break,
                    },
                },
            };
            if let Some(m) = first {
                self.handle(m);
                while !self.shutting_down {
                    match self.ch.messages.try_recv() {
                        Ok(m) => self.handle(m),
                        Err(_) => break,
                    }
                }
            }
            if self.shutting_down {
                break;
            }
            self.retry_due();
            self.check_boundaries();
            self.sync_preload();
            self.refresh();
            if self.decoding() {
                self.decode_chunk();
                self.check_boundaries();
                self.refresh();
            }
        }
        self.finish();
    }

    // ----- state --------------------------------------------------------------------------

    /// What the loop does between messages, derived from the state each time (never stored,
    /// so it can't disagree with the segments, the sink or the pause).
    fn activity(&self) -> Activity {
        if self.paused || self.segments.is_empty() {
            Activity::Idle
        } else if self.output.missing().is_none()
            && self.segments.back().is_some_and(|s| s.sink_end.is_none())
        {
            Activity::Decoding
        } else {
            Activity::Draining
        }
    }

    /// Reading from a source and writing to the sink right now.
    fn decoding(&self) -> bool {
        self.activity() == Activity::Decoding
    }

    fn derived_state(&self) -> PlayState {
        if !self.segments.is_empty() {
            if self.paused {
                PlayState::Paused
            } else {
                PlayState::Playing
            }
        } else if self.pending.is_some() {
            PlayState::Loading
        } else {
            PlayState::Stopped
        }
    }

    fn played(&self) -> u64 {
        self.output.played()
    }

    /// The heard position in the heard track (or where a load will start).
    fn position_ms(&self) -> u64 {
        if let Some(f) = self.segments.front() {
            let heard = self.played().saturating_sub(f.sink_start);
            let limit = f
                .sink_end
                .unwrap_or(self.written)
                .saturating_sub(f.sink_start);
            frames_to_ms(f.src_start + heard.min(limit))
        } else if let Some(p) = &self.pending {
            p.position_ms
        } else {
            0
        }
    }

    /// Sends an event, after publishing the queue and status it goes with (so a consumer that
    /// reacts to the event finds them already updated).
    fn emit(&mut self, event: PlayerEvent) {
        self.publish_queue();
        self.publish_status();
        tracing::debug!(?event, "player event");
        // The receiver may be gone; the player runs on regardless.
        let _ = self.ch.events.send(event);
    }

    /// Announces state changes, syncs the sink's pause, publishes status and queue when due.
    fn refresh(&mut self) {
        self.output.set_paused(self.paused);
        let state = self.derived_state();
        let buffering = self.pending.is_some();
        if buffering != self.buffering {
            self.buffering = buffering;
            self.status_dirty = true;
        }
        if state != self.state || self.announce {
            let previous = self.state;
            self.state = state;
            self.announce = false;
            let event = match state {
                PlayState::Playing => Some(PlayerEvent::Playing {
                    position_ms: self.position_ms(),
                }),
                PlayState::Paused => Some(PlayerEvent::Paused {
                    position_ms: self.position_ms(),
                }),
                PlayState::Stopped if previous != PlayState::Stopped => Some(PlayerEvent::Stopped),
                _ => None,
            };
            self.status_dirty = true;
            if let Some(event) = event {
                self.emit(event);
            }
        }
        if self.status_dirty
            || (state == PlayState::Playing
                && (self.last_status.elapsed() >= STATUS_INTERVAL || self.drifted()))
        {
            self.publish_status();
        }
        self.publish_queue();
    }

    fn publish_queue(&mut self) {
        if !self.queue_dirty {
            return;
        }
        self.queue_dirty = false;
        let snapshot = QueueSnapshot {
            items: self.queue.ids(),
            current: self.queue.current,
        };
        self.ch.queue.send_if_modified(|q| {
            if *q == snapshot {
                false
            } else {
                *q = snapshot;
                true
            }
        });
    }

    /// The heard position is further than [`STATUS_DRIFT_MS`] from where the last published
    /// status, extrapolated, puts it.
    fn drifted(&self) -> bool {
        let elapsed = u64::try_from(self.last_status.elapsed().as_millis()).unwrap_or(u64::MAX);
        let expected = self.last_position_ms.saturating_add(elapsed);
        self.position_ms().abs_diff(expected) > STATUS_DRIFT_MS
    }

    fn publish_status(&mut self) {
        self.status_dirty = false;
        self.last_status = Instant::now();
        let position_ms = self.position_ms();
        self.last_position_ms = position_ms;
        let status = PlayerStatus {
            state: self.derived_state(),
            track: self.segments.front().map(|s| s.info.clone()),
            position_ms,
            at: Instant::now(),
            volume: self.volume,
            buffering: self.pending.is_some(),
            repeat: self.repeat,
            shuffle: self.queue.shuffled(),
        };
        self.ch.status.send_replace(status);
    }

    // ----- messages -----------------------------------------------------------------------

    fn handle(&mut self, msg: EngineMsg) {
        match msg {
            EngineMsg::Loaded { req, result } => self.loaded(req, result),
            EngineMsg::SessionUp => self.session_up(),
            EngineMsg::Command(c) => {
                tracing::debug!(command = ?c, "player command");
                self.command(c);
            }
        }
        self.status_dirty = true;
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Op(op) => self.op(op),
            Command::Stop => self.stop(),
            Command::Shutdown => self.shutting_down = true,
        }
    }

    // ----- output -------------------------------------------------------------------------

    /// Opens the sink if needed; on failure reports it and stops.
    fn ensure_sink(&mut self, track: Option<SpotifyId>) -> bool {
        match self.output.start() {
            Ok(Started::Already) => true,
            Ok(Started::Now(played)) => {
                self.written = played;
                self.last_played = (played, Instant::now());
                true
            }
            Err(reason) => {
                self.output_failed(track, reason);
                false
            }
        }
    }

    /// The sink failed: report it with the track's id (`track`, else the one heard) and stop.
    fn output_failed(&mut self, track: Option<SpotifyId>, reason: String) {
        let id = track
            .or(self.segments.front().map(|s| s.info.id))
            .or(self.pending.as_ref().map(|p| p.id))
            .unwrap_or(SpotifyId(0));
        tracing::error!(%reason, "audio output failed");
        self.emit(PlayerEvent::Error {
            id,
            reason,
            skipped: false,
        });
        self.segments.clear();
        self.cancel_pending();
        self.drop_preload();
        self.after_drain = None;
        self.paused = false;
        if let Err(e) = self.output.stop() {
            tracing::debug!(error = %e, "stopping the failed sink");
        }
    }

    /// Drops what the sink holds so the change is heard at once.
    fn clear_sink(&mut self) {
        if let Some(played) = self.output.clear() {
            self.written = played;
            self.last_played = (played, Instant::now());
        }
    }

    /// A hard cut: empty the sink and forget what was playing or about to.
    fn cut(&mut self) {
        self.gain.reset();
        self.clear_sink();
        self.segments.clear();
        self.cancel_pending();
        self.after_drain = None;
        self.key_refused.clear();
    }

    /// Reads one chunk from the track being decoded and writes it.
    fn decode_chunk(&mut self) {
        let volume = volume_gain(self.volume);
        let Some(seg) = self.segments.back_mut() else {
            return;
        };
        self.buf.clear();
        // A panic in the decoder is contained to this track: it is skipped with a message and
        // playback goes on (the source is dropped with its segment, never read again).
        let buf = &mut self.buf;
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            seg.source.read(buf, CHUNK_FRAMES)
        }))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(id = ?seg.info.id, panic = %what, "the decoder panicked");
            Err(PcmError {
                kind: PcmErrorKind::Decode,
                message: "the decoder crashed on this track".into(),
            })
        });
        match read {
            Ok(0) => self.source_ended(false),
            Ok(_) => {
                // Trust the samples, not the count, and never write half a frame.
                let mut frames = self.buf.len() / CHANNELS;
                self.buf.truncate(frames * CHANNELS);
                if frames == 0 {
                    self.source_ended(false);
                    return;
                }
                if let Some(target) = seg.skip_to {
                    // A continuation: drop what comes before its exact first frame.
                    let end = seg.source.position_frames();
                    let start = end.saturating_sub(frames as u64);
                    let drop = usize::try_from(target.saturating_sub(start))
                        .unwrap_or(usize::MAX)
                        .min(frames);
                    self.buf.drain(..drop * CHANNELS);
                    frames -= drop;
                    if end >= target {
                        seg.skip_to = None;
                    }
                    if frames == 0 {
                        return;
                    }
                }
                let normalisation = seg.normalisation;
                self.gain.process(&mut self.buf, normalisation, volume);
                if !self.ensure_sink(None) {
                    return;
                }
                match self.output.write(&self.buf) {
                    Ok(()) => {
                        self.written += frames as u64;
                        self.skip_failures = 0;
                    }
                    Err(reason) => self.output_failed(None, reason),
                }
            }
            Err(e) if e.kind == PcmErrorKind::Fetch && seg.index.is_some() => {
                // Transient (the CDN stalled past its retries): what is in the sink plays out,
                // and the same track is reloaded from where decoding stopped, to follow on
                // gaplessly if it comes back in time — never the next track.
                let index = seg.index.unwrap_or_default();
                let id = seg.info.id;
                let frame = seg.source.position_frames();
                let position_ms = frames_to_ms(frame);
                seg.sink_end = Some(self.written);
                tracing::info!(?id, position_ms, error = %e, "track stalled while decoding; holding it");
                let p = Pending {
                    req: 0,
                    index,
                    id,
                    position_ms,
                    join: Join::Append,
                    transient: Some(Transient {
                        since: Instant::now(),
                        attempts: 0,
                        retry_at: None,
                        resume_frame: Some(frame),
                    }),
                };
                self.hold(
                    p,
                    LoadError {
                        kind: LoadErrorKind::Network,
                        message: e.message,
                    },
                );
            }
            Err(e) => {
                let id = seg.info.id;
                tracing::info!(?id, error = %e, "track failed while decoding");
                self.emit(PlayerEvent::Error {
                    id,
                    reason: e.message,
                    skipped: true,
                });
                self.source_ended(true);
            }
        }
    }

    /// The track being decoded has no more audio (`failed`: it broke off with an error):
    /// close its segment and line up the next.
    fn source_ended(&mut self, failed: bool) {
        let written = self.written;
        let Some(seg) = self.segments.back_mut() else {
            return;
        };
        seg.sink_end = Some(written);
        let from = seg.index;
        let (id, empty) = (seg.info.id, written == seg.sink_start && seg.src_start == 0);
        // A track that failed or had no audio at all is moved past even in repeat One, and an
        // all-failing queue ends instead of cycling.
        let mut manual = failed;
        if empty {
            if !failed {
                self.emit(PlayerEvent::Error {
                    id,
                    reason: "the track has no audio".into(),
                    skipped: true,
                });
            }
            manual = true;
            self.skip_failures += 1;
            if self.skip_failures >= self.queue.len().max(1) {
                self.after_drain = Some(AfterDrain::EndOfQueue);
                return;
            }
        }
        if !self.config.gapless {
            self.after_drain = Some(AfterDrain::Advance { from, manual });
            return;
        }
        match self.queue.next_index(from, self.repeat, manual) {
            Some(t) => {
                self.begin_track(t, Join::Append, 0);
                if self.pending.is_some() {
                    tracing::debug!("the next track is not ready yet");
                    self.emit(PlayerEvent::Buffering);
                }
            }
            None => self.after_drain = Some(AfterDrain::Advance { from, manual }),
        }
    }

    /// Follows the sink: ends heard tracks, makes the next one current, handles the drain.
    fn check_boundaries(&mut self) {
        if self.segments.is_empty() && self.after_drain.is_none() {
            return;
        }
        let mut played = self.played();
        let decoding = self.decoding();
        if played != self.last_played.0 || self.paused || decoding {
            self.last_played = (played, Instant::now());
        } else if played < self.written && self.last_played.1.elapsed() >= DRAIN_STALL {
            tracing::warn!(
                played,
                written = self.written,
                "the sink stopped playing out; treating it as drained"
            );
            played = self.written;
        }
        while let Some(end) = self.segments.front().and_then(|s| s.sink_end) {
            if played < end {
                break;
            }
            let Some(done) = self.segments.pop_front() else {
                break;
            };
            // A track held after a transient failure goes on in its continuation: it did not
            // end, and the continuation is not a new track.
            let continued = match self.segments.front() {
                Some(next) => next.resumed && next.info.id == done.info.id,
                None => self.pending.as_ref().is_some_and(|p| {
                    p.transient.is_some() && p.join == Join::Append && p.id == done.info.id
                }),
            };
            if !continued {
                self.emit(PlayerEvent::EndOfTrack(done.info.id));
            }
            if self.segments.is_empty() {
                if let Some(p) = &self.pending {
                    self.queue.current = Some(p.index);
                    self.queue_dirty = true;
                }
            } else if continued {
                self.queue.current = self.segments.front().and_then(|s| s.index);
                self.queue_dirty = true;
            } else {
                self.became_front();
            }
            self.status_dirty = true;
        }
        if self.segments.is_empty() && self.pending.is_none() {
            match self.after_drain.take() {
                Some(AfterDrain::Advance { from, manual }) => {
                    match self.queue.next_index(from, self.repeat, manual) {
                        Some(t) => self.begin_track(t, Join::Append, 0),
                        None => self.end_of_queue(),
                    }
                }
                Some(AfterDrain::EndOfQueue) => self.end_of_queue(),
                None => {}
            }
        }
    }

    fn became_front(&mut self) {
        let Some(front) = self.segments.front() else {
            return;
        };
        let info = front.info.clone();
        self.queue.current = front.index;
        self.queue_dirty = true;
        self.emit(PlayerEvent::TrackChanged(info));
    }

    fn end_of_queue(&mut self) {
        self.cut();
        self.drop_preload();
        self.queue.current = None;
        self.queue_dirty = true;
        self.paused = false;
        self.emit(PlayerEvent::EndOfQueue);
    }

    /// Shutdown: drop the sink's contents, stop it (a wav file gets its header), publish Stopped.
    fn finish(&mut self) {
        self.cancel_pending();
        self.drop_preload();
        self.segments.clear();
        if let Err(e) = self.output.stop() {
            tracing::error!(error = %e, "stopping the audio sink");
            self.emit(PlayerEvent::Error {
                id: SpotifyId(0),
                reason: e.to_string(),
                skipped: false,
            });
        }
        self.paused = false;
        self.pending = None;
        self.refresh();
        self.publish_status();
        tracing::debug!("player engine finished");
    }
}
