//! Synthetic pieces for the player's tests: a [`CounterSource`] whose every frame encodes its
//! track and frame index exactly in `f32`, a [`TestLoader`] that hands out such sources (with
//! per-id lengths, delays, gates and failures), a recording [`TestSink`] (unpaced, or paced by
//! a clock the test advances by hand), and a [`Harness`] that wires them to a [`Player`] and
//! waits on events with generous timeouts instead of sleeping.
//!
//! Test-only (declared by `player/tests.rs`); the player's tests and the app's one-core flow
//! test use it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::Notify;

use crate::audio::pcm::{frames_to_ms, ms_to_frames, PcmError, PcmErrorKind, PcmSource};
use crate::audio::sink::{Sink, SinkError, SinkFactory};
use crate::id::SpotifyId;
use crate::player::loader::{
    LoadError, LoadErrorKind, LoadFuture, LoadedTrack, NormalisationData, TrackInfo, TrackLoader,
};
use crate::player::{Player, PlayerConfig, PlayerEvent, PlayerStatus, QueueSnapshot};

/// Left channel: `frame / 2^24`; right channel: `track / 1024`. Both exact in `f32` for
/// frames below 2^24 and small track numbers, so the output can be decoded back exactly.
pub const FRAME_SCALE: f32 = 16_777_216.0;
pub const TRACK_SCALE: f32 = 1024.0;

/// Seeks land on multiples of this many frames at or after the asked position (≈11.6 ms).
pub const SEEK_GRANULE: u64 = 512;

pub fn id(n: u128) -> SpotifyId {
    SpotifyId(n)
}

/// A decoded (track, frame) pair from one output frame at unity gain.
pub fn decode_frame(l: f32, r: f32) -> (u128, u64) {
    (
        (r * TRACK_SCALE).round() as u128,
        (l * FRAME_SCALE).round() as u64,
    )
}

/// The exact frames `(track, first..last)` should produce.
pub fn expected(track: u128, frames: std::ops::Range<u64>) -> Vec<(u128, u64)> {
    frames.map(|f| (track, f)).collect()
}

pub struct CounterSource {
    track: u128,
    len: u64,
    pos: u64,
    fail_at: Option<u64>,
    fail_kind: PcmErrorKind,
    panic_at: Option<u64>,
}

impl CounterSource {
    pub fn new(track: u128, len: u64) -> CounterSource {
        CounterSource {
            track,
            len,
            pos: 0,
            fail_at: None,
            fail_kind: PcmErrorKind::Decode,
            panic_at: None,
        }
    }
}

impl PcmSource for CounterSource {
    fn read(&mut self, out: &mut Vec<f32>, max_frames: usize) -> Result<usize, PcmError> {
        if self.panic_at.is_some_and(|f| self.pos >= f) {
            panic!("synthetic decoder bug in track {}", self.track);
        }
        if self.fail_at.is_some_and(|f| self.pos >= f) {
            return Err(PcmError {
                kind: self.fail_kind,
                message: match self.fail_kind {
                    PcmErrorKind::Fetch => format!("the CDN stalled on track {}", self.track),
                    _ => format!("track {} is corrupt", self.track),
                },
            });
        }
        let mut end = (self.pos + max_frames as u64).min(self.len);
        if let Some(f) = self.fail_at.or(self.panic_at) {
            end = end.min(f.max(self.pos));
        }
        for f in self.pos..end {
            out.push(f as f32 / FRAME_SCALE);
            out.push(self.track as f32 / TRACK_SCALE);
        }
        let n = (end - self.pos) as usize;
        self.pos = end;
        Ok(n)
    }

    fn seek(&mut self, position_ms: u64) -> Result<u64, PcmError> {
        let f = ms_to_frames(position_ms).div_ceil(SEEK_GRANULE) * SEEK_GRANULE;
        self.pos = f.min(self.len);
        Ok(self.pos)
    }

    fn position_frames(&self) -> u64 {
        self.pos
    }

    fn duration_ms(&self) -> Option<u64> {
        Some(frames_to_ms(self.len))
    }
}

/// How one id behaves in the [`TestLoader`].
#[derive(Clone)]
pub struct TrackSpec {
    pub frames: u64,
    pub delay: Duration,
    /// The load waits until this is notified.
    pub gate: Option<Arc<Notify>>,
    pub fail: Option<LoadErrorKind>,
    /// The source returns an error (of `fail_read_kind`) once it reaches this frame.
    pub fail_read_at: Option<u64>,
    pub fail_read_kind: PcmErrorKind,
    /// The source panics once it reaches this frame (a decoder bug).
    pub panic_at: Option<u64>,
    pub normalisation: NormalisationData,
}

impl TrackSpec {
    pub fn frames(frames: u64) -> TrackSpec {
        TrackSpec {
            frames,
            delay: Duration::ZERO,
            gate: None,
            fail: None,
            fail_read_at: None,
            fail_read_kind: PcmErrorKind::Decode,
            panic_at: None,
            normalisation: NormalisationData::default(),
        }
    }
}

/// One call to [`TestLoader::load`]: the id and the sink's written frame count at that moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadCall {
    pub id: SpotifyId,
    pub sink_written: u64,
}

pub struct TestLoader {
    specs: Mutex<HashMap<SpotifyId, TrackSpec>>,
    calls: Mutex<Vec<LoadCall>>,
    sink: Mutex<Option<Arc<SinkShared>>>,
    /// The session the loads "depend on" (connected unless a test says otherwise).
    pub session: tokio::sync::watch::Sender<crate::session::SessionState>,
}

impl Default for TestLoader {
    fn default() -> Self {
        TestLoader {
            specs: Mutex::default(),
            calls: Mutex::default(),
            sink: Mutex::default(),
            session: tokio::sync::watch::channel(crate::session::SessionState::Connected).0,
        }
    }
}

impl TestLoader {
    pub fn set(&self, n: u128, spec: TrackSpec) {
        lock(&self.specs).insert(id(n), spec);
    }

    pub fn calls(&self) -> Vec<LoadCall> {
        lock(&self.calls).clone()
    }
}

impl TrackLoader for TestLoader {
    fn load(&self, id: SpotifyId) -> LoadFuture {
        let spec = lock(&self.specs).get(&id).cloned();
        let sink_written = lock(&self.sink).as_ref().map_or(0, |s| s.lock().written);
        lock(&self.calls).push(LoadCall { id, sink_written });
        Box::pin(async move {
            let Some(spec) = spec else {
                return Err(LoadError {
                    kind: LoadErrorKind::Unavailable,
                    message: format!("no such track {id:?}"),
                });
            };
            if let Some(gate) = &spec.gate {
                gate.notified().await;
            }
            if !spec.delay.is_zero() {
                tokio::time::sleep(spec.delay).await;
            }
            if let Some(kind) = spec.fail {
                return Err(LoadError {
                    kind,
                    message: format!("track {} failed ({kind:?})", id.0),
                });
            }
            let mut source = CounterSource::new(id.0, spec.frames);
            source.fail_at = spec.fail_read_at;
            source.fail_kind = spec.fail_read_kind;
            source.panic_at = spec.panic_at;
            Ok(LoadedTrack {
                info: info(id.0, spec.frames),
                normalisation: spec.normalisation,
                source: Box::new(source),
            })
        })
    }

    fn session_state(&self) -> Option<tokio::sync::watch::Receiver<crate::session::SessionState>> {
        Some(self.session.subscribe())
    }
}

pub fn info(n: u128, frames: u64) -> TrackInfo {
    TrackInfo {
        id: id(n),
        played_id: id(n),
        name: format!("Track {n}"),
        artists: vec!["Tester".into()],
        album: "Counters".into(),
        duration_ms: frames_to_ms(frames),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

#[derive(Debug, Default)]
pub struct SinkState {
    /// Every sample played, in order.
    pub out: Vec<f32>,
    /// Written but not yet played (paced mode).
    pub queued: VecDeque<f32>,
    pub played: u64,
    /// Frames written since start, minus cleared.
    pub written: u64,
    pub paused: bool,
    pub starts: usize,
    pub stops: usize,
    pub clears: usize,
    pub writes: usize,
    /// Fail the next write with this message.
    pub fail_write: Option<String>,
}

pub struct SinkShared {
    state: Mutex<SinkState>,
    cond: Condvar,
    /// `None`: unpaced (everything written is played at once). `Some(c)`: paced by
    /// [`SinkShared::advance`], and `write` blocks while more than `c` frames are queued.
    capacity: Option<Option<usize>>,
}

impl SinkShared {
    pub fn lock(&self) -> MutexGuard<'_, SinkState> {
        lock(&self.state)
    }

    /// Plays up to `frames` queued frames (not while paused).
    pub fn advance(&self, frames: usize) {
        let mut s = self.lock();
        if s.paused {
            return;
        }
        let n = frames.min(s.queued.len() / 2);
        for _ in 0..n * 2 {
            if let Some(x) = s.queued.pop_front() {
                s.out.push(x);
            }
        }
        s.played += n as u64;
        drop(s);
        self.cond.notify_all();
    }

    pub fn played(&self) -> u64 {
        self.lock().played
    }

    pub fn queued_frames(&self) -> usize {
        self.lock().queued.len() / 2
    }

    /// The played output decoded into (track, frame) pairs (unity gain only).
    pub fn frames(&self) -> Vec<(u128, u64)> {
        self.lock()
            .out
            .chunks_exact(2)
            .map(|c| decode_frame(c[0], c[1]))
            .collect()
    }
}

pub struct TestSink {
    shared: Arc<SinkShared>,
}

impl Sink for TestSink {
    fn start(&mut self) -> Result<(), SinkError> {
        let mut s = self.shared.lock();
        s.starts += 1;
        s.played = 0;
        s.written = 0;
        s.queued.clear();
        Ok(())
    }

    fn write(&mut self, samples: &[f32]) -> Result<(), SinkError> {
        let frames = samples.len() / 2;
        let mut s = self.shared.lock();
        if let Some(msg) = s.fail_write.take() {
            return Err(SinkError::Device(msg));
        }
        s.writes += 1;
        match self.shared.capacity {
            None => {
                s.out.extend_from_slice(samples);
                s.played += frames as u64;
            }
            Some(cap) => {
                if let Some(cap) = cap {
                    while !s.queued.is_empty() && s.queued.len() / 2 + frames > cap {
                        s = match self.shared.cond.wait(s) {
                            Ok(g) => g,
                            Err(p) => p.into_inner(),
                        };
                    }
                }
                s.queued.extend(samples.iter().copied());
            }
        }
        s.written += frames as u64;
        Ok(())
    }

    fn clear(&mut self) {
        let mut s = self.shared.lock();
        s.clears += 1;
        let dropped = s.queued.len() / 2;
        s.queued.clear();
        s.written -= dropped as u64;
        drop(s);
        self.shared.cond.notify_all();
    }

    fn set_paused(&mut self, paused: bool) {
        self.shared.lock().paused = paused;
    }

    fn stop(&mut self) -> Result<(), SinkError> {
        self.shared.lock().stops += 1;
        Ok(())
    }

    fn played_frames(&self) -> u64 {
        self.shared.lock().played
    }
}

/// Which sink a test uses.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// Plays everything the moment it is written.
    Unpaced,
    /// Plays only when the test advances the clock; `write` blocks above this many queued
    /// frames (`None`: never blocks).
    Clocked(Option<usize>),
}

pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A player wired to the test pieces, with an event log.
pub struct Harness {
    pub rt: tokio::runtime::Runtime,
    pub player: Player,
    pub events: UnboundedReceiver<PlayerEvent>,
    pub log: Vec<PlayerEvent>,
    pub sink: Arc<SinkShared>,
    pub loader: Arc<TestLoader>,
    /// Frames the clock advances per step while waiting (clocked sinks).
    pub step: usize,
}

pub fn config() -> PlayerConfig {
    PlayerConfig {
        initial_volume: u16::MAX,
        ..PlayerConfig::default()
    }
}

impl Harness {
    pub fn new(pace: Pace, config: PlayerConfig, tracks: &[(u128, TrackSpec)]) -> Harness {
        let rt = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => panic!("runtime: {e}"),
        };
        let loader = Arc::new(TestLoader::default());
        for (n, spec) in tracks {
            loader.set(*n, spec.clone());
        }
        let sink = Arc::new(SinkShared {
            state: Mutex::new(SinkState::default()),
            cond: Condvar::new(),
            capacity: match pace {
                Pace::Unpaced => None,
                Pace::Clocked(c) => Some(c),
            },
        });
        *lock(&loader.sink) = Some(Arc::clone(&sink));
        let factory_sink = Arc::clone(&sink);
        let factory: SinkFactory = Box::new(move || {
            Ok(Box::new(TestSink {
                shared: factory_sink,
            }) as Box<dyn Sink>)
        });
        let (player, events) = Player::spawn(
            Arc::clone(&loader) as Arc<dyn TrackLoader>,
            factory,
            config,
            rt.handle().clone(),
        );
        Harness {
            rt,
            player,
            events,
            log: Vec::new(),
            sink,
            loader,
            step: 1024,
        }
    }

    /// Waits for an event matching `pred` (advancing a clocked sink meanwhile); returns the
    /// events seen up to and including it. Panics after [`TIMEOUT`].
    pub fn wait_for(
        &mut self,
        what: &str,
        pred: impl Fn(&PlayerEvent) -> bool,
    ) -> Vec<PlayerEvent> {
        self.wait_inner(what, true, pred)
    }

    /// Like [`Harness::wait_for`] but never advances the clock.
    pub fn wait_still(
        &mut self,
        what: &str,
        pred: impl Fn(&PlayerEvent) -> bool,
    ) -> Vec<PlayerEvent> {
        self.wait_inner(what, false, pred)
    }

    fn wait_inner(
        &mut self,
        what: &str,
        advance: bool,
        pred: impl Fn(&PlayerEvent) -> bool,
    ) -> Vec<PlayerEvent> {
        let deadline = Instant::now() + TIMEOUT;
        let mut seen = Vec::new();
        loop {
            while let Ok(ev) = self.events.try_recv() {
                self.log.push(ev.clone());
                let hit = pred(&ev);
                seen.push(ev);
                if hit {
                    return seen;
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; saw {seen:?}; log {:?}",
                    self.log
                );
            }
            if advance && self.sink.capacity.is_some() {
                self.sink.advance(self.step);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Advances the clock until `frames` have been played in total.
    pub fn play_until(&mut self, frames: u64) {
        let deadline = Instant::now() + TIMEOUT;
        while self.sink.played() < frames {
            let left = (frames - self.sink.played()) as usize;
            self.sink.advance(left.min(self.step));
            while let Ok(ev) = self.events.try_recv() {
                self.log.push(ev);
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out playing to frame {frames}; at {}",
                    self.sink.played()
                );
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Waits (without advancing) until the sink holds at least `frames` unplayed frames.
    pub fn wait_queued(&mut self, frames: usize) {
        let deadline = Instant::now() + TIMEOUT;
        while self.sink.queued_frames() < frames {
            if Instant::now() > deadline {
                panic!("timed out waiting for {frames} queued frames");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Waits for a status matching `pred`. A blocking sink's clock is advanced meanwhile (the
    /// engine takes commands only between writes); other sinks are left alone.
    pub fn wait_status(
        &mut self,
        what: &str,
        pred: impl Fn(&PlayerStatus) -> bool,
    ) -> PlayerStatus {
        let rx = self.player.status();
        self.poll_until(what, || {
            let s = rx.borrow();
            pred(&s).then(|| s.clone())
        })
    }

    /// Waits for a queue snapshot matching `pred` (advancing a blocking sink's clock).
    pub fn wait_queue(
        &mut self,
        what: &str,
        pred: impl Fn(&QueueSnapshot) -> bool,
    ) -> QueueSnapshot {
        let rx = self.player.queue();
        self.poll_until(what, || {
            let q = rx.borrow();
            pred(&q).then(|| q.clone())
        })
    }

    fn poll_until<T>(&mut self, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(t) = check() {
                return t;
            }
            while let Ok(ev) = self.events.try_recv() {
                self.log.push(ev);
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}: status {:?}, queue {:?}; log {:?}; played {}",
                    self.player.status().borrow().clone(),
                    self.player.queue().borrow().clone(),
                    self.log,
                    self.sink.played()
                );
            }
            if matches!(self.sink.capacity, Some(Some(_))) {
                self.sink.advance(self.step);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Shuts the player down, advancing a clocked sink so a blocked write can return.
    pub fn shutdown(&mut self) {
        let player = self.player.clone();
        let done = self.rt.spawn(async move { player.shutdown().await });
        let deadline = Instant::now() + TIMEOUT;
        while !done.is_finished() {
            if self.sink.capacity.is_some() {
                self.sink.advance(self.step);
            }
            if Instant::now() > deadline {
                panic!("shutdown timed out");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        while let Ok(ev) = self.events.try_recv() {
            self.log.push(ev);
        }
    }
}
