//! The decoded-audio seam: a [`PcmSource`] yields interleaved stereo `f32` frames at 44.1 kHz.
//! The decoder implements it for real tracks; tests implement it with synthetic signals so the
//! player can be tested sample-exactly without the network.

use std::fmt;

/// Spotify streams are 44.1 kHz stereo; other rates are refused by the decoder.
pub const SAMPLE_RATE: u32 = 44_100;
pub const CHANNELS: usize = 2;

/// Frames ↔ milliseconds at [`SAMPLE_RATE`]. Computed in `u128` and saturated, because
/// positions come from remote peers (a Connect `seek_to` of `i64::MAX`): `ms * 44100` must
/// never overflow, whatever the input.
pub fn frames_to_ms(frames: u64) -> u64 {
    saturate(u128::from(frames) * 1000 / u128::from(SAMPLE_RATE))
}

pub fn ms_to_frames(ms: u64) -> u64 {
    saturate(u128::from(ms) * u128::from(SAMPLE_RATE) / 1000)
}

fn saturate(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// Why a source could not produce audio. `message` is for people; no secrets in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcmError {
    pub kind: PcmErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PcmErrorKind {
    /// Network or CDN trouble that outlasted the retries.
    Fetch,
    /// The stream is not decodable (corrupt data, wrong key, unsupported format).
    Decode,
    /// Seek failed.
    Seek,
}

impl fmt::Display for PcmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PcmError {}

/// A decoded track. Used from the player's decode thread: calls may block on the network.
pub trait PcmSource: Send {
    /// Appends up to `max_frames` interleaved stereo frames to `out` and returns how many frames
    /// were appended; `Ok(0)` means the end of the track.
    fn read(&mut self, out: &mut Vec<f32>, max_frames: usize) -> Result<usize, PcmError>;

    /// Seeks so that the next `read` starts at `position_ms` (or as close as the format allows,
    /// never later than 20 ms past it); returns the position actually reached, in frames.
    fn seek(&mut self, position_ms: u64) -> Result<u64, PcmError>;

    /// The frame position of the next frame `read` will return.
    fn position_frames(&self) -> u64;

    /// The track length when known.
    fn duration_ms(&self) -> Option<u64>;
}
