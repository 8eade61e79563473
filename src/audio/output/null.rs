//! `null`: discards samples but behaves like a device playing them in real time, so the player's
//! clock and pacing work without audio hardware (tests, servers). Written frames never run more
//! than [`MAX_LEAD`] ahead of the clock; pausing stops the clock; `clear` drops the lead.
//! Unlike a device, a write while paused never blocks (the samples simply queue behind the
//! frozen clock), so a player that writes while paused cannot hang on it.

use std::time::{Duration, Instant};

use crate::audio::pcm::{CHANNELS, SAMPLE_RATE};
use crate::audio::sink::{Sink, SinkError};

/// How far ahead of the clock writes may run.
pub const MAX_LEAD: Duration = Duration::from_millis(100);
/// How far ahead a write that ran over [`MAX_LEAD`] sleeps down to: a device's period, not a
/// chunk's. Sleeping only the excess woke the player once per decoded chunk (~43 times a
/// second); sleeping down to this wakes it ~13 times (CPU while playing, issue 10).
const MIN_LEAD: Duration = Duration::from_millis(25);

pub struct NullSink {
    /// Frames written since `start` (minus what `clear` dropped).
    written: u64,
    /// When the last written frame will have "played".
    queued_until: Option<Instant>,
    paused_at: Option<Instant>,
}

impl Default for NullSink {
    fn default() -> Self {
        NullSink::new()
    }
}

fn frames_to_duration(frames: u64) -> Duration {
    Duration::from_nanos(frames.saturating_mul(1_000_000_000) / u64::from(SAMPLE_RATE))
}

fn duration_to_frames(d: Duration) -> u64 {
    (d.as_nanos() * u128::from(SAMPLE_RATE) / 1_000_000_000) as u64
}

impl NullSink {
    /// Paced to real time.
    pub fn new() -> NullSink {
        NullSink {
            written: 0,
            queued_until: None,
            paused_at: None,
        }
    }

    fn now(&self) -> Instant {
        self.paused_at.unwrap_or_else(Instant::now)
    }

    /// Frames written but not yet "played".
    fn queued_frames(&self) -> u64 {
        match self.queued_until {
            Some(t) => duration_to_frames(t.saturating_duration_since(self.now())),
            None => 0,
        }
    }
}

impl Sink for NullSink {
    fn start(&mut self) -> Result<(), SinkError> {
        self.written = 0;
        self.queued_until = None;
        self.paused_at = None;
        Ok(())
    }

    fn write(&mut self, samples: &[f32]) -> Result<(), SinkError> {
        let frames = (samples.len() / CHANNELS) as u64;
        self.written += frames;
        let now = self.now();
        let start = self.queued_until.map_or(now, |t| t.max(now));
        let until = start + frames_to_duration(frames);
        self.queued_until = Some(until);
        // Sleep off the lead beyond MAX_LEAD (while paused, the clock does not move: the
        // player is expected not to write then; don't sleep forever).
        if self.paused_at.is_none() {
            let lead = until.saturating_duration_since(Instant::now());
            if lead > MAX_LEAD {
                std::thread::sleep(lead - MIN_LEAD);
            }
        }
        Ok(())
    }

    fn clear(&mut self) {
        let queued = self.queued_frames();
        self.written = self.written.saturating_sub(queued);
        self.queued_until = None;
    }

    fn set_paused(&mut self, paused: bool) {
        match (paused, self.paused_at) {
            (true, None) => self.paused_at = Some(Instant::now()),
            (false, Some(at)) => {
                let frozen = at.elapsed();
                self.queued_until = self.queued_until.map(|t| t + frozen);
                self.paused_at = None;
            }
            _ => {}
        }
    }

    fn stop(&mut self) -> Result<(), SinkError> {
        // Play out what is queued, as a device would.
        if self.paused_at.is_none() {
            if let Some(t) = self.queued_until {
                std::thread::sleep(t.saturating_duration_since(Instant::now()));
            }
        }
        Ok(())
    }

    fn played_frames(&self) -> u64 {
        self.written - self.queued_frames().min(self.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paced_to_real_time() {
        let mut s = NullSink::new();
        s.start().unwrap();
        let block = vec![0.0f32; 2 * 441]; // 10 ms
        let t0 = Instant::now();
        for _ in 0..50 {
            s.write(&block).unwrap();
            // Never more than ~100 ms ahead of the clock.
            let written_ms = s.written * 1000 / 44_100;
            let elapsed_ms = t0.elapsed().as_millis() as u64;
            assert!(
                written_ms <= elapsed_ms + 115,
                "{written_ms} vs {elapsed_ms}"
            );
        }
        // 500 ms written: the loop took ≈ 400 ms (the last 100 ms are lead).
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(380) && took < Duration::from_millis(700),
            "{took:?}"
        );
        let played = s.played_frames();
        assert!((22_050 - 6000..=22_050).contains(&played), "{played}");
        s.stop().unwrap();
        assert_eq!(s.played_frames(), 22_050);
    }

    #[test]
    fn pause_stops_the_clock_and_clear_drops_the_lead() {
        let mut s = NullSink::new();
        s.start().unwrap();
        s.write(&vec![0.0f32; 2 * 4410]).unwrap(); // 100 ms, all lead
        s.set_paused(true);
        let p0 = s.played_frames();
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(s.played_frames(), p0, "paused: the clock stands still");
        s.set_paused(false);
        std::thread::sleep(Duration::from_millis(30));
        let p1 = s.played_frames();
        assert!(p1 > p0 && p1 < 4410, "{p0} {p1}");
        s.clear();
        let p2 = s.played_frames();
        assert!(p2 >= p1 && p2 < 4410);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(s.played_frames(), p2, "nothing queued after clear");
    }
}
