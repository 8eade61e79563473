//! The device sink: cpal's default host (ALSA on Linux), the default or a named output device,
//! 44.1 kHz stereo as `f32` when the device takes it, else `i16` via [`f32_to_i16`].
//!
//! Between [`Sink::write`] (the player's decode thread) and the device callback sits an `rtrb`
//! single-producer/single-consumer ring of [`RING_MS`] of samples. `write` sleeps briefly while
//! the ring is full — that back-pressure paces decoding. The callback pops what it can and
//! zero-fills the rest (underrun), counts played frames in an `AtomicU64`, outputs silence
//! without consuming while paused, and honours a clear request (an atomic generation it
//! acknowledges after dropping everything queued). The callback takes no locks, allocates
//! nothing and logs nothing. Stream errors set an atomic flag (the message goes through a
//! `try_lock`ed slot in the separate error callback) and are returned by the next `write`.
//! No usable device is [`SinkError::NoDevice`], never a panic.
//!
//! While paused the callback consumes nothing, so a `write` that does not fit in the ring
//! waits until playback resumes: the player stops writing while paused. A device that stops
//! consuming while not paused makes `write` fail after a few seconds instead of hanging.
//!
//! alsa-lib's own error messages (a machine without a sound card gets a dozen "ALSA lib …
//! cannot find card" lines) go to the log, not to stderr: [`alsa_log`] routes them on the thread
//! that opens the device and, from the first callback on, on cpal's stream thread.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use ::cpal::{
    BufferSize, Device, OutputCallbackInfo, SampleFormat, SampleRate, Stream, StreamConfig,
    StreamError,
};

use crate::audio::pcm::{CHANNELS, SAMPLE_RATE};
use crate::audio::sink::{f32_to_i16, Sink, SinkError};

#[cfg(target_os = "linux")]
mod alsa_log;

/// Elsewhere cpal does not use ALSA: nothing to route.
#[cfg(not(target_os = "linux"))]
mod alsa_log {
    pub fn route_this_thread() {}
}

/// Length of the ring buffer between `write` and the device callback.
pub const RING_MS: u64 = 400;
const RING_SAMPLES: usize = (SAMPLE_RATE as u64 * RING_MS / 1000) as usize * CHANNELS;
/// How long `write` may wait without the device consuming anything before giving up.
const DEVICE_STALL: Duration = Duration::from_secs(3);
/// How long `clear` waits for the callback to acknowledge.
const CLEAR_WAIT: Duration = Duration::from_millis(500);

/// State shared with the device callback: atomics only (plus the error slot, which only the
/// error callback and the decode thread touch).
struct Shared {
    played_frames: AtomicU64,
    paused: AtomicBool,
    clear_requested: AtomicU64,
    clear_done: AtomicU64,
    /// Device latency (callback → playback) in ns, as last reported by the callback.
    latency_ns: AtomicU64,
    failed: AtomicBool,
    failure: Mutex<Option<String>>,
}

impl Shared {
    fn new() -> Shared {
        Shared {
            played_frames: AtomicU64::new(0),
            paused: AtomicBool::new(false),
            clear_requested: AtomicU64::new(0),
            clear_done: AtomicU64::new(0),
            latency_ns: AtomicU64::new(0),
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
        }
    }
}

/// The sample type the device stream uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceFormat {
    F32,
    I16,
}

struct Running {
    stream: Stream,
    producer: rtrb::Producer<f32>,
}

/// Audio through cpal. Not `Send` (cpal streams stay on the thread that opened them).
pub struct CpalSink {
    device: Device,
    device_name: String,
    format: DeviceFormat,
    shared: Arc<Shared>,
    running: Option<Running>,
    paused: bool,
}

fn no_device(what: impl Into<String>) -> SinkError {
    SinkError::NoDevice(what.into())
}

impl CpalSink {
    /// Finds the device (`None`: the default output) and a 44.1 kHz stereo format for it.
    /// The stream itself is built by `start`.
    pub fn open(name: Option<&str>) -> Result<CpalSink, SinkError> {
        alsa_log::route_this_thread();
        let host = ::cpal::default_host();
        let device = match name {
            None => host
                .default_output_device()
                .ok_or_else(|| no_device("the system has no default output device"))?,
            Some(wanted) => {
                let devices = host
                    .output_devices()
                    .map_err(|e| no_device(format!("cannot list output devices: {e}")))?;
                let mut names = Vec::new();
                let mut found = None;
                for d in devices {
                    let n = d.name().unwrap_or_default();
                    if n == wanted {
                        found = Some(d);
                        break;
                    }
                    names.push(n);
                }
                found.ok_or_else(|| {
                    no_device(format!(
                        "no output device named \"{wanted}\" (available: {})",
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    ))
                })?
            }
        };
        let device_name = device.name().unwrap_or_else(|_| "unknown".into());
        let format = pick_format(&device).map_err(|e| {
            no_device(format!(
                "output device \"{device_name}\" is not usable: {e}"
            ))
        })?;
        tracing::info!(device = %device_name, ?format, "audio output device");
        Ok(CpalSink {
            device,
            device_name,
            format,
            shared: Arc::new(Shared::new()),
            running: None,
            paused: false,
        })
    }

    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    pub fn format(&self) -> DeviceFormat {
        self.format
    }

    fn check_failed(&self) -> Result<(), SinkError> {
        if self.shared.failed.load(Ordering::Acquire) {
            let msg = self
                .shared
                .failure
                .lock()
                .ok()
                .and_then(|g| g.clone())
                .unwrap_or_else(|| "the output stream failed".to_string());
            return Err(SinkError::Device(msg));
        }
        Ok(())
    }

    fn build(&self, producer_consumer: rtrb::Consumer<f32>) -> Result<Stream, SinkError> {
        let config = StreamConfig {
            channels: CHANNELS as u16,
            sample_rate: SampleRate(SAMPLE_RATE),
            buffer_size: BufferSize::Default,
        };
        let err_shared = self.shared.clone();
        let on_error = move |e: StreamError| {
            alsa_log::route_this_thread();
            // Not the audio callback: a non-blocking lock is fine here.
            if let Ok(mut slot) = err_shared.failure.try_lock() {
                if slot.is_none() {
                    *slot = Some(match e {
                        StreamError::DeviceNotAvailable => {
                            "the audio device is no longer available".to_string()
                        }
                        other => other.to_string(),
                    });
                }
            }
            err_shared.failed.store(true, Ordering::Release);
        };
        let shared = self.shared.clone();
        let result = match self.format {
            DeviceFormat::F32 => {
                let mut cb = Callback::new(producer_consumer, shared);
                self.device.build_output_stream(
                    &config,
                    move |out: &mut [f32], info: &OutputCallbackInfo| {
                        cb.fill_f32(out, latency(info))
                    },
                    on_error,
                    None,
                )
            }
            DeviceFormat::I16 => {
                let mut cb = Callback::new(producer_consumer, shared);
                self.device.build_output_stream(
                    &config,
                    move |out: &mut [i16], info: &OutputCallbackInfo| {
                        cb.fill_i16(out, latency(info))
                    },
                    on_error,
                    None,
                )
            }
        };
        result.map_err(|e| {
            no_device(format!(
                "cannot open output device \"{}\": {e}",
                self.device_name
            ))
        })
    }

    /// Waits (bounded) until the callback has taken everything queued.
    fn drain(&mut self) {
        let Some(running) = &self.running else {
            return;
        };
        let deadline = Instant::now() + Duration::from_millis(RING_MS) + Duration::from_secs(2);
        let mut last_played = self.shared.played_frames.load(Ordering::Acquire);
        let mut last_progress = Instant::now();
        while running.producer.slots() < RING_SAMPLES
            && Instant::now() < deadline
            && !self.paused
            && !self.shared.failed.load(Ordering::Acquire)
        {
            std::thread::sleep(Duration::from_millis(5));
            let played = self.shared.played_frames.load(Ordering::Acquire);
            if played != last_played {
                last_played = played;
                last_progress = Instant::now();
            } else if last_progress.elapsed() > DEVICE_STALL {
                break;
            }
        }
        // What the callback handed over is still in the device's own buffer.
        let latency = Duration::from_nanos(self.shared.latency_ns.load(Ordering::Acquire))
            .min(Duration::from_secs(1));
        std::thread::sleep(latency + Duration::from_millis(20));
    }
}

/// Finds a 44.1 kHz stereo output config: `f32` preferred, else `i16`.
fn pick_format(device: &Device) -> Result<DeviceFormat, String> {
    let configs = device
        .supported_output_configs()
        .map_err(|e| e.to_string())?;
    let mut has_f32 = false;
    let mut has_i16 = false;
    let mut seen = Vec::new();
    for c in configs {
        seen.push(format!(
            "{}ch {}-{} Hz {:?}",
            c.channels(),
            c.min_sample_rate().0,
            c.max_sample_rate().0,
            c.sample_format()
        ));
        if usize::from(c.channels()) != CHANNELS
            || c.min_sample_rate().0 > SAMPLE_RATE
            || c.max_sample_rate().0 < SAMPLE_RATE
        {
            continue;
        }
        match c.sample_format() {
            SampleFormat::F32 => has_f32 = true,
            SampleFormat::I16 => has_i16 = true,
            _ => {}
        }
    }
    if has_f32 {
        Ok(DeviceFormat::F32)
    } else if has_i16 {
        Ok(DeviceFormat::I16)
    } else {
        Err(format!(
            "no 44100 Hz stereo f32/i16 output format (supported: {})",
            if seen.is_empty() {
                "none".to_string()
            } else {
                seen.join("; ")
            }
        ))
    }
}

/// Callback → playback delay reported by the backend.
fn latency(info: &OutputCallbackInfo) -> Option<Duration> {
    let ts = info.timestamp();
    ts.playback.duration_since(&ts.callback)
}

/// The device callback's state. Runs on the audio thread: no locks, no allocation, no logging.
struct Callback {
    consumer: rtrb::Consumer<f32>,
    shared: Arc<Shared>,
    clear_seen: u64,
    /// alsa-lib's messages on this (cpal's stream) thread go to the log: set on the first call,
    /// before cpal can report an underrun from here.
    alsa_routed: bool,
}

impl Callback {
    fn new(consumer: rtrb::Consumer<f32>, shared: Arc<Shared>) -> Callback {
        Callback {
            consumer,
            shared,
            clear_seen: 0,
            alsa_routed: false,
        }
    }

    /// Handles a clear request and the latency report; false while paused.
    fn prelude(&mut self, latency: Option<Duration>) -> bool {
        if !self.alsa_routed {
            alsa_log::route_this_thread();
            self.alsa_routed = true;
        }
        if let Some(lat) = latency {
            self.shared
                .latency_ns
                .store(lat.as_nanos() as u64, Ordering::Relaxed);
        }
        let req = self.shared.clear_requested.load(Ordering::Acquire);
        if req != self.clear_seen {
            let n = self.consumer.slots();
            if let Ok(chunk) = self.consumer.read_chunk(n) {
                chunk.commit_all();
            }
            self.clear_seen = req;
            self.shared.clear_done.store(req, Ordering::Release);
        }
        !self.shared.paused.load(Ordering::Acquire)
    }

    fn fill_f32(&mut self, out: &mut [f32], latency: Option<Duration>) {
        let mut filled = 0;
        if self.prelude(latency) {
            let want = out.len() - out.len() % CHANNELS;
            let (popped, _) = self.consumer.pop_partial_slice(&mut out[..want]);
            filled = popped.len();
        }
        for s in &mut out[filled..] {
            *s = 0.0;
        }
        self.count(filled);
    }

    fn fill_i16(&mut self, out: &mut [i16], latency: Option<Duration>) {
        let mut filled = 0;
        if self.prelude(latency) {
            let want = (out.len() - out.len() % CHANNELS).min(self.consumer.slots());
            if let Ok(chunk) = self.consumer.read_chunk(want) {
                let (a, b) = chunk.as_slices();
                for (o, s) in out.iter_mut().zip(a.iter().chain(b.iter())) {
                    *o = f32_to_i16(*s);
                }
                filled = chunk.len();
                chunk.commit_all();
            }
        }
        for s in &mut out[filled..] {
            *s = 0;
        }
        self.count(filled);
    }

    fn count(&self, samples: usize) {
        if samples > 0 {
            self.shared
                .played_frames
                .fetch_add((samples / CHANNELS) as u64, Ordering::Release);
        }
    }
}

impl Sink for CpalSink {
    fn start(&mut self) -> Result<(), SinkError> {
        if self.running.is_some() {
            return Ok(());
        }
        self.shared = Arc::new(Shared::new());
        self.shared.paused.store(self.paused, Ordering::Release);
        let (producer, consumer) = rtrb::RingBuffer::new(RING_SAMPLES);
        let stream = self.build(consumer)?;
        stream.play().map_err(|e| {
            SinkError::Device(format!(
                "cannot start output device \"{}\": {e}",
                self.device_name
            ))
        })?;
        self.running = Some(Running { stream, producer });
        Ok(())
    }

    fn write(&mut self, samples: &[f32]) -> Result<(), SinkError> {
        if self.running.is_none() {
            self.start()?;
        }
        let usable = samples.len() - samples.len() % CHANNELS;
        let mut rest = &samples[..usable];
        let mut last_played = self.shared.played_frames.load(Ordering::Acquire);
        let mut last_progress = Instant::now();
        while !rest.is_empty() {
            self.check_failed()?;
            let Some(running) = &mut self.running else {
                return Ok(());
            };
            let room = running.producer.slots();
            let n = rest.len().min(room - room % CHANNELS);
            if n > 0 {
                if running.producer.push_entire_slice(&rest[..n]).is_ok() {
                    rest = &rest[n..];
                }
                continue;
            }
            // Full: let the device play some. A device that stops consuming while we are not
            // paused has died without telling us.
            std::thread::sleep(Duration::from_millis(5));
            let played = self.shared.played_frames.load(Ordering::Acquire);
            if played != last_played || self.paused {
                last_played = played;
                last_progress = Instant::now();
            } else if last_progress.elapsed() > DEVICE_STALL {
                return Err(SinkError::Device(format!(
                    "the output device \"{}\" stopped taking audio",
                    self.device_name
                )));
            }
        }
        self.check_failed()
    }

    fn clear(&mut self) {
        if self.running.is_none() {
            return;
        }
        let req = self.shared.clear_requested.fetch_add(1, Ordering::AcqRel) + 1;
        let deadline = Instant::now() + CLEAR_WAIT;
        while self.shared.clear_done.load(Ordering::Acquire) < req && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        self.shared.paused.store(paused, Ordering::Release);
    }

    fn stop(&mut self) -> Result<(), SinkError> {
        if self.running.is_none() {
            return Ok(());
        }
        self.drain();
        let failed = self.check_failed();
        if let Some(r) = self.running.take() {
            let _ = r.stream.pause();
            drop(r);
        }
        failed
    }

    fn played_frames(&self) -> u64 {
        self.shared.played_frames.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests;
