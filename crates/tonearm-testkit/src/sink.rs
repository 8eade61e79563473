//! A recording sink for the player: [`Tape`] makes sinks that keep every sample (or only the
//! timing of each write) in a shared [`Recording`], unpaced or paced at a multiple of real time.
//! Used by the e2e player and Connect tests, the Connect [`crate::node::Node`] and the benches.
//! Depends on `tonearm::audio::sink` only.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tonearm::audio::sink::{Sink, SinkError, SinkFactory};

/// What a [`Tape`] sink received: every sample (unless timing only), and when each write
/// happened (instant, index of its first sample, sample count).
#[derive(Default)]
pub struct Recording {
    pub samples: Vec<f32>,
    pub writes: Vec<(Instant, usize, usize)>,
}

impl Recording {
    /// When the last write happened.
    pub fn last_write(&self) -> Option<Instant> {
        self.writes.last().map(|w| w.0)
    }

    /// The first write at or after `t0`.
    pub fn first_write_after(&self, t0: Instant) -> Option<Instant> {
        self.writes.iter().map(|w| w.0).find(|t| *t >= t0)
    }

    /// How many samples were written (also when only the timing is kept).
    pub fn len(&self) -> usize {
        self.writes.last().map_or(0, |w| w.1 + w.2)
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

/// How the sinks of a [`Tape::factory`] behave. `Tape::default()`: unpaced, keeping samples.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tape {
    speed: Option<f64>,
    timing_only: bool,
}

impl Tape {
    /// Writes return at once: the player runs as fast as it decodes.
    pub fn unpaced() -> Tape {
        Tape::default()
    }

    /// Each write sleeps as long as its audio lasts (44.1 kHz stereo), so pause and seek mean
    /// what they do on a sound card.
    pub fn real_time() -> Tape {
        Tape::at_speed(1.0)
    }

    /// Paced at `speed` × real time.
    pub fn at_speed(speed: f64) -> Tape {
        Tape {
            speed: Some(speed),
            timing_only: false,
        }
    }

    /// Keeps when each write happened but not the samples (a bench that reports the process's
    /// peak memory must not count a recording).
    pub fn timing_only(self) -> Tape {
        Tape {
            timing_only: true,
            ..self
        }
    }

    /// A factory for the player, and the shared recording its sinks fill.
    pub fn factory(self) -> (SinkFactory, Arc<Mutex<Recording>>) {
        let recording = Arc::new(Mutex::new(Recording::default()));
        let r = recording.clone();
        let factory: SinkFactory = Box::new(move || {
            Ok(Box::new(TapeSink {
                recording: r.clone(),
                tape: self,
                frames: 0,
            }) as Box<dyn Sink>)
        });
        (factory, recording)
    }
}

struct TapeSink {
    recording: Arc<Mutex<Recording>>,
    tape: Tape,
    frames: u64,
}

impl Sink for TapeSink {
    fn start(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    fn write(&mut self, samples: &[f32]) -> Result<(), SinkError> {
        {
            let mut r = self.recording.lock().unwrap();
            let at = r.len();
            if !self.tape.timing_only {
                r.samples.extend_from_slice(samples);
            }
            r.writes.push((Instant::now(), at, samples.len()));
        }
        self.frames += (samples.len() / 2) as u64;
        if let Some(speed) = self.tape.speed {
            std::thread::sleep(Duration::from_secs_f64(
                samples.len() as f64 / 2.0 / 44_100.0 / speed,
            ));
        }
        Ok(())
    }
    fn clear(&mut self) {}
    fn set_paused(&mut self, _paused: bool) {}
    fn stop(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    fn played_frames(&self) -> u64 {
        self.frames
    }
}

/// A sink that accepts everything at once and keeps nothing but the count (`played_frames` =
/// frames written): the player runs as fast as it decodes, with no cost of its own to measure.
#[derive(Debug, Default)]
pub struct Discard {
    frames: u64,
}

impl Discard {
    /// A factory for the player.
    pub fn factory() -> SinkFactory {
        Box::new(|| Ok(Box::new(Discard::default()) as Box<dyn Sink>))
    }
}

impl Sink for Discard {
    fn start(&mut self) -> Result<(), SinkError> {
        self.frames = 0;
        Ok(())
    }
    fn write(&mut self, samples: &[f32]) -> Result<(), SinkError> {
        self.frames += (samples.len() / 2) as u64;
        Ok(())
    }
    fn clear(&mut self) {}
    fn set_paused(&mut self, _paused: bool) {}
    fn stop(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    fn played_frames(&self) -> u64 {
        self.frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discard_is_instant() {
        let mut s = Discard::default();
        s.start().unwrap();
        let t0 = Instant::now();
        for _ in 0..100 {
            s.write(&vec![0.0f32; 2 * 44_100]).unwrap();
        }
        assert!(t0.elapsed() < Duration::from_millis(500));
        assert_eq!(s.played_frames(), 4_410_000);
    }

    #[test]
    fn tapes_record_samples_or_only_timing() {
        let (f, rec) = Tape::unpaced().factory();
        let mut s = f().unwrap();
        s.write(&[0.5; 8]).unwrap();
        s.write(&[0.25; 4]).unwrap();
        let r = rec.lock().unwrap();
        assert_eq!(r.samples.len(), 12);
        assert_eq!((r.writes[1].1, r.writes[1].2), (8, 4));
        assert_eq!(r.len(), 12);
        drop(r);
        let (f, rec) = Tape::unpaced().timing_only().factory();
        let mut s = f().unwrap();
        s.write(&[0.5; 8]).unwrap();
        s.write(&[0.25; 4]).unwrap();
        let r = rec.lock().unwrap();
        assert!(r.samples.is_empty());
        assert_eq!(r.len(), 12);
        assert_eq!(s.played_frames(), 6);
    }
}
