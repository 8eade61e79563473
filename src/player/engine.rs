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

use std::collections::VecDeque;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::gain::{normalisation_factor, volume_gain, GainStage};
use super::loader::{LoadError, LoadErrorKind, LoadedTrack, TrackInfo};
use super::msg::{Command, EngineMsg, LoaderRequest};
use super::output::{Output, Started};
use super::queue::{remap, Queue, Remap};
use super::{
    PlayState, PlayerConfig, PlayerEvent, PlayerOp, PlayerStatus, QueueSnapshot, RepeatMode,
};
use crate::audio::pcm::{frames_to_ms, PcmSource, CHANNELS};
use crate::audio::sink::{Sink, SinkError};
use crate::id::SpotifyId;

/// Frames read from the source per chunk (~23 ms).
const CHUNK_FRAMES: usize = 1024;
/// How often the loop looks at the sink while it plays out audio it already has.
const DRAIN_POLL: Duration = Duration::from_millis(10);
/// Status updates while playing, at most this often.
const STATUS_INTERVAL: Duration = Duration::from_millis(250);
/// `previous` restarts the track when it is further in than this.
const RESTART_THRESHOLD_MS: u64 = 3000;
/// Positions are clamped to this (a day) before they reach a source of unknown length.
const MAX_POSITION_MS: u64 = 24 * 3600 * 1000;
/// A sink that stops advancing while it should be playing out is treated as drained after this
/// long (so a wedged device can't hang the end of the queue forever).
const DRAIN_STALL: Duration = Duration::from_secs(10);

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
    /// The state last announced, and whether to announce it again (after a cut load).
    state: PlayState,
    announce: bool,
    buffering: bool,
    status_dirty: bool,
    queue_dirty: bool,
    last_status: Instant,
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
            state: PlayState::Stopped,
            announce: false,
            buffering: false,
            status_dirty: true,
            queue_dirty: true,
            last_status: Instant::now(),
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
                Activity::Idle => match self.ch.messages.recv() {
                    Ok(m) => Some(m),
                    Err(_) => break,
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
            || (state == PlayState::Playing && self.last_status.elapsed() >= STATUS_INTERVAL)
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

    fn publish_status(&mut self) {
        self.status_dirty = false;
        self.last_status = Instant::now();
        let status = PlayerStatus {
            state: self.derived_state(),
            track: self.segments.front().map(|s| s.info.clone()),
            position_ms: self.position_ms(),
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

    fn op(&mut self, op: PlayerOp) {
        match op {
            PlayerOp::Load {
                ids,
                index,
                position_ms,
                play,
            } => self.load(ids, index, position_ms.min(MAX_POSITION_MS), play),
            PlayerOp::Play => self.play(),
            PlayerOp::Pause => {
                if self.derived_state() != PlayState::Stopped {
                    self.paused = true;
                }
            }
            PlayerOp::Toggle => match self.derived_state() {
                PlayState::Playing => self.paused = true,
                PlayState::Loading => self.paused = !self.paused,
                PlayState::Paused | PlayState::Stopped => self.play(),
            },
            PlayerOp::Seek(ms) => self.seek(ms.min(MAX_POSITION_MS)),
            PlayerOp::Next => self.next(),
            PlayerOp::Previous => self.previous(),
            PlayerOp::SetVolume(v) => {
                if v != self.volume {
                    self.volume = v;
                    self.emit(PlayerEvent::VolumeChanged(v));
                }
            }
            PlayerOp::PlayNext(ids) => {
                let pos = self.lined_up_last().map_or(0, |i| i + 1);
                let map = self.queue.insert_at(pos, ids);
                self.apply_remap(&map);
            }
            PlayerOp::AddToQueue(ids) => {
                let after = self.lined_up_last();
                let pos = match (self.queued_end, after) {
                    (Some(end), Some(a)) if end > a => end + 1,
                    (Some(end), None) => end + 1,
                    _ => after.map_or(0, |i| i + 1),
                };
                let n = ids.len();
                let map = self.queue.insert_at(pos.min(self.queue.len()), ids);
                self.apply_remap(&map);
                if n > 0 {
                    self.queued_end = Some(pos.min(self.queue.len() - n) + n - 1);
                }
            }
            PlayerOp::Remove(index) => {
                if self.protected().contains(&index) {
                    tracing::debug!(index, "not removing the item being played");
                } else if let Some(map) = self.queue.remove(index) {
                    self.apply_remap(&map);
                } else {
                    tracing::debug!(index, "remove: no such queue item");
                }
            }
            PlayerOp::Move { from, to } => match self.queue.move_item(from, to) {
                Some(map) => self.apply_remap(&map),
                None => tracing::debug!(from, to, "move: no such queue item"),
            },
            PlayerOp::ClearQueue => {
                let mut keep = self.protected();
                keep.extend(self.queue.current);
                let map = self.queue.retain(&keep);
                self.apply_remap(&map);
            }
            PlayerOp::ClearAfterCurrent => {
                let mut keep = self.protected();
                keep.extend(self.queue.current.map_or(0..0, |c| 0..c + 1));
                let map = self.queue.retain(&keep);
                self.apply_remap(&map);
            }
            PlayerOp::SetRepeat(mode) => self.repeat = mode,
            PlayerOp::SetShuffle(on) => {
                if on != self.queue.shuffled() {
                    self.queue.set_shuffled(on);
                    let map = if on {
                        let mut head: Vec<usize> = self.queue.current.into_iter().collect();
                        head.extend(self.protected());
                        self.queue.shuffle(&head)
                    } else {
                        self.queue.unshuffle()
                    };
                    self.apply_remap(&map);
                }
            }
        }
    }

    /// Queue items already in the output (or being loaded for it): not removable.
    fn protected(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.segments.iter().filter_map(|s| s.index).collect();
        v.extend(self.pending.as_ref().map(|p| p.index));
        v
    }

    /// Keeps every index the engine holds on the same entries after a queue edit.
    /// The item lined up last: it may already be in the sink after the heard one, or loading
    /// to follow it.
    fn lined_up_last(&self) -> Option<usize> {
        self.pending
            .as_ref()
            .map(|p| p.index)
            .or(self.segments.back().and_then(|s| s.index))
            .or(self.queue.current)
    }

    fn apply_remap(&mut self, map: &Remap) {
        self.queued_end = remap(map, self.queued_end);
        for s in &mut self.segments {
            s.index = remap(map, s.index);
        }
        if let Some(p) = &mut self.pending {
            match remap(map, Some(p.index)) {
                Some(i) => p.index = i,
                None => {
                    // Protected from removal, so this does not happen; drop it to be safe.
                    let req = p.req;
                    self.pending = None;
                    self.cancel(req);
                }
            }
        }
        if let Some(p) = &mut self.preload {
            match remap(map, Some(p.index)) {
                Some(i) => p.index = i,
                None => self.drop_preload(),
            }
        }
        if let Some(AfterDrain::Advance { from, .. }) = &mut self.after_drain {
            *from = remap(map, *from);
        }
        self.queue_dirty = true;
    }

    fn load(&mut self, ids: Vec<SpotifyId>, start_index: usize, position_ms: u64, play: bool) {
        self.cut();
        self.drop_preload();
        self.queue.replace(ids);
        self.queued_end = None;
        self.queue_dirty = true;
        self.paused = !play;
        self.skip_failures = 0;
        if start_index >= self.queue.len() {
            tracing::debug!(
                start_index,
                len = self.queue.len(),
                "load: start index out of range"
            );
            return;
        }
        let mut start = start_index;
        if self.queue.shuffled() {
            let map = self.queue.shuffle(&[start_index]);
            start = remap(&map, Some(start_index)).unwrap_or(0);
        }
        self.begin_track(start, Join::Cut, position_ms);
    }

    fn play(&mut self) {
        match self.derived_state() {
            PlayState::Playing => {}
            PlayState::Paused | PlayState::Loading => self.paused = false,
            PlayState::Stopped => {
                let target = self
                    .queue
                    .current
                    .filter(|&i| i < self.queue.len())
                    .or(if self.queue.is_empty() { None } else { Some(0) });
                if let Some(t) = target {
                    self.paused = false;
                    self.skip_failures = 0;
                    self.begin_track(t, Join::Cut, 0);
                }
            }
        }
    }

    fn stop(&mut self) {
        self.cut();
        self.drop_preload();
        self.paused = false;
    }

    fn seek(&mut self, ms: u64) {
        if self.segments.is_empty() {
            // Loading: the track will start there.
            if let Some(p) = &mut self.pending {
                p.position_ms = ms;
            }
            return;
        }
        self.clear_sink();
        self.segments.truncate(1);
        self.cancel_pending();
        self.after_drain = None;
        let written = self.written;
        let Some(front) = self.segments.front_mut() else {
            return;
        };
        let ms = front.source.duration_ms().map_or(ms, |d| ms.min(d));
        match front.source.seek(ms) {
            Ok(frame) => {
                front.sink_start = written;
                front.src_start = frame;
                front.sink_end = None;
                self.emit(PlayerEvent::Seeked {
                    position_ms: frames_to_ms(frame),
                });
            }
            Err(e) => {
                let id = front.info.id;
                front.sink_end = None;
                front.sink_start = written;
                self.emit(PlayerEvent::Error {
                    id,
                    reason: e.message,
                    skipped: true,
                });
                self.source_ended(true);
            }
        }
    }

    fn next(&mut self) {
        let from = self.heard_index();
        if self.queue.is_empty() {
            return;
        }
        let target = self.queue.next_index(from, self.repeat, true);
        if self.derived_state() == PlayState::Stopped {
            // From stopped, `next` starts playing; otherwise play/pause stays as it was.
            self.paused = false;
        }
        self.cut();
        self.skip_failures = 0;
        match target {
            Some(t) => self.begin_track(t, Join::Cut, 0),
            None => self.end_of_queue(),
        }
    }

    fn previous(&mut self) {
        if !self.segments.is_empty() && self.position_ms() > RESTART_THRESHOLD_MS {
            self.seek(0);
            return;
        }
        let from = self.heard_index();
        match self.queue.prev_index(from, self.repeat) {
            Some(t) => {
                if self.derived_state() == PlayState::Stopped {
                    self.paused = false;
                }
                self.cut();
                self.skip_failures = 0;
                self.begin_track(t, Join::Cut, 0);
            }
            None => {
                if !self.segments.is_empty() {
                    self.seek(0);
                }
            }
        }
    }

    /// The item being heard (or loading to be heard, or current while stopped).
    fn heard_index(&self) -> Option<usize> {
        self.segments
            .front()
            .and_then(|s| s.index)
            .or(self.pending.as_ref().map(|p| p.index))
            .or(self.queue.current)
    }

    // ----- loading ------------------------------------------------------------------------

    fn request(&mut self, id: SpotifyId) -> u64 {
        let req = self.next_req;
        self.next_req += 1;
        if self.ch.loads.send(LoaderRequest::Load { req, id }).is_err() {
            tracing::error!("the player's loader task is gone");
        }
        req
    }

    fn cancel(&self, req: u64) {
        let _ = self.ch.loads.send(LoaderRequest::Cancel { req });
    }

    fn cancel_pending(&mut self) {
        if let Some(p) = self.pending.take() {
            self.cancel(p.req);
        }
    }

    fn drop_preload(&mut self) {
        if let Some(p) = self.preload.take() {
            if matches!(p.state, PreloadState::Loading) {
                self.cancel(p.req);
            }
        }
    }

    /// Starts playing queue item `index`: from the preload when it has it, else via a load.
    fn begin_track(&mut self, index: usize, join: Join, position_ms: u64) {
        let Some(id) = self.queue.id(index) else {
            tracing::debug!(index, "begin_track: no such queue item");
            return;
        };
        self.cancel_pending();
        if join == Join::Cut || self.segments.is_empty() {
            self.queue.current = Some(index);
            self.queue_dirty = true;
        }
        let preload = match self.preload.take() {
            Some(p) if p.index == index && p.id == id => Some(p),
            other => {
                self.preload = other;
                None
            }
        };
        match preload {
            Some(Preload {
                state: PreloadState::Ready(track),
                ..
            }) => self.install(track, index, join, position_ms),
            Some(Preload {
                state: PreloadState::Failed(e),
                ..
            }) => self.load_failed(index, id, e, join),
            Some(Preload {
                req,
                state: PreloadState::Loading,
                ..
            }) => {
                self.pending = Some(Pending {
                    req,
                    index,
                    id,
                    position_ms,
                    join,
                })
            }
            None => {
                let req = self.request(id);
                self.pending = Some(Pending {
                    req,
                    index,
                    id,
                    position_ms,
                    join,
                });
            }
        }
    }

    fn loaded(&mut self, req: u64, result: Result<LoadedTrack, LoadError>) {
        if self.pending.as_ref().is_some_and(|p| p.req == req) {
            let Some(p) = self.pending.take() else {
                return;
            };
            match result {
                Ok(track) => self.install(track, p.index, p.join, p.position_ms),
                Err(e) => self.load_failed(p.index, p.id, e, p.join),
            }
        } else if let Some(p) = self.preload.as_mut().filter(|p| p.req == req) {
            p.state = match result {
                Ok(track) => PreloadState::Ready(track),
                Err(e) => PreloadState::Failed(e),
            };
        } else {
            tracing::debug!(req, "dropping a load nobody waits for any more");
        }
    }

    /// A loaded track joins the output.
    fn install(&mut self, track: LoadedTrack, index: usize, join: Join, position_ms: u64) {
        if !self.ensure_sink(Some(track.info.id)) {
            return;
        }
        let LoadedTrack {
            info,
            normalisation,
            mut source,
        } = track;
        let mut src_start = source.position_frames();
        if position_ms > 0 {
            let ms = source
                .duration_ms()
                .map_or(position_ms, |d| position_ms.min(d));
            match source.seek(ms) {
                Ok(frame) => src_start = frame,
                Err(e) => {
                    let e = LoadError {
                        kind: LoadErrorKind::Decode,
                        message: e.message,
                    };
                    self.load_failed(index, info.id, e, join);
                    return;
                }
            }
        }
        self.segments.push_back(Segment {
            normalisation: normalisation_factor(&normalisation, &self.normalisation),
            info,
            index: Some(index),
            source,
            sink_start: self.written,
            src_start,
            sink_end: None,
        });
        if self.segments.len() == 1 {
            self.became_front();
        }
        if join == Join::Cut {
            self.announce = true;
        }
    }

    fn load_failed(&mut self, index: usize, id: SpotifyId, e: LoadError, join: Join) {
        tracing::info!(?id, kind = ?e.kind, reason = %e.message, "track failed to load");
        if e.kind == LoadErrorKind::Fatal {
            self.emit(PlayerEvent::Error {
                id,
                reason: e.message,
                skipped: false,
            });
            self.cancel_pending();
            self.drop_preload();
            self.after_drain = None;
            if join == Join::Cut || self.segments.is_empty() {
                self.cut();
                self.paused = false;
            }
            // Else the track before it plays out, then the player stops.
            return;
        }
        self.emit(PlayerEvent::Error {
            id,
            reason: e.message,
            skipped: true,
        });
        self.skip_failures += 1;
        let target = if self.skip_failures >= self.queue.len().max(1) {
            None
        } else {
            self.queue.next_index(Some(index), self.repeat, true)
        };
        match target {
            Some(t) => self.begin_track(t, join, 0),
            None if self.segments.is_empty() => self.end_of_queue(),
            None => self.after_drain = Some(AfterDrain::EndOfQueue),
        }
    }

    /// Starts, cancels or keeps the preload of the item after the one being decoded.
    fn sync_preload(&mut self) {
        // (target item, whether its preload is due), from the track being decoded.
        let wanted = match self.segments.back().filter(|s| s.sink_end.is_none()) {
            Some(seg) if self.config.gapless && self.pending.is_none() => self
                .queue
                .next_index(seg.index, self.repeat, false)
                .and_then(|i| self.queue.id(i).map(|id| (i, id)))
                .map(|target| {
                    let due = match seg.source.duration_ms() {
                        Some(d) => {
                            let decoded = frames_to_ms(seg.source.position_frames());
                            d.saturating_sub(decoded)
                                <= self.config.preload_ahead.as_millis() as u64
                        }
                        // Unknown length: load the next one right away.
                        None => true,
                    };
                    (target, due)
                }),
            _ => None,
        };
        if let Some(p) = &self.preload {
            if wanted.map(|(t, _)| t) != Some((p.index, p.id)) {
                tracing::debug!(index = p.index, "dropping a stale preload");
                self.drop_preload();
            }
        }
        if let (Some(((index, id), true)), None) = (wanted, &self.preload) {
            tracing::debug!(index, ?id, "preloading the next track");
            let req = self.request(id);
            self.preload = Some(Preload {
                req,
                index,
                id,
                state: PreloadState::Loading,
            });
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
    }

    /// Reads one chunk from the track being decoded and writes it.
    fn decode_chunk(&mut self) {
        let volume = volume_gain(self.volume);
        let Some(seg) = self.segments.back_mut() else {
            return;
        };
        self.buf.clear();
        match seg.source.read(&mut self.buf, CHUNK_FRAMES) {
            Ok(0) => self.source_ended(false),
            Ok(_) => {
                // Trust the samples, not the count, and never write half a frame.
                let frames = self.buf.len() / CHANNELS;
                self.buf.truncate(frames * CHANNELS);
                if frames == 0 {
                    self.source_ended(false);
                    return;
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
            self.emit(PlayerEvent::EndOfTrack(done.info.id));
            if self.segments.is_empty() {
                if let Some(p) = &self.pending {
                    self.queue.current = Some(p.index);
                    self.queue_dirty = true;
                }
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
