//! The output seam: every sink (cpal device, `wav:` file, `pipe` to stdout, `null`) takes
//! interleaved stereo `f32` samples at 44.1 kHz from the player's decode thread.
//!
//! Sinks with a device keep a lock-free ring buffer between `write` and the device callback; the
//! callback never locks, allocates or logs.

use std::fmt;

/// Errors from opening or writing a sink, with a message a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("no audio output device is available ({0}); choose another sink with --sink (wav:<path>, pipe or null)")]
    NoDevice(String),
    #[error("the audio device failed: {0}")]
    Device(String),
    #[error("cannot write {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write to standard output: {0}")]
    Pipe(std::io::Error),
    #[error("unknown sink \"{0}\": use cpal, cpal:<device name>, wav:<path>, pipe or null")]
    Unknown(String),
}

/// Where audio goes. Parsed from `--sink`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkSpec {
    /// The default output device through cpal (the default), or a named one.
    Cpal(Option<String>),
    /// A WAV file (16-bit PCM, 44.1 kHz stereo), written as fast as audio is decoded.
    Wav(String),
    /// Raw s16le stereo to stdout, paced by whoever reads it (like librespot's pipe backend).
    Pipe,
    /// Discards audio in real time (the clock still advances as if it played).
    Null,
}

impl SinkSpec {
    pub fn parse(s: &str) -> Result<SinkSpec, SinkError> {
        match s {
            "" | "cpal" | "default" => Ok(SinkSpec::Cpal(None)),
            "pipe" => Ok(SinkSpec::Pipe),
            "null" => Ok(SinkSpec::Null),
            _ => {
                if let Some(dev) = s.strip_prefix("cpal:").filter(|d| !d.is_empty()) {
                    Ok(SinkSpec::Cpal(Some(dev.to_string())))
                } else if let Some(path) = s.strip_prefix("wav:").filter(|p| !p.is_empty()) {
                    Ok(SinkSpec::Wav(path.to_string()))
                } else {
                    Err(SinkError::Unknown(s.to_string()))
                }
            }
        }
    }
}

impl fmt::Display for SinkSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkSpec::Cpal(None) => f.write_str("cpal"),
            SinkSpec::Cpal(Some(d)) => write!(f, "cpal:{d}"),
            SinkSpec::Wav(p) => write!(f, "wav:{p}"),
            SinkSpec::Pipe => f.write_str("pipe"),
            SinkSpec::Null => f.write_str("null"),
        }
    }
}

/// Builds a sink on the thread that will use it: cpal streams are not `Send`, so the player
/// passes this factory to its decode thread and opens the sink there.
pub type SinkFactory = Box<dyn FnOnce() -> Result<Box<dyn Sink>, SinkError> + Send>;

/// An audio output. Created and used only on the player's decode thread (not `Send`: device
/// streams must stay on the thread that opened them).
pub trait Sink {
    /// Opens the device/file. Called before the first `write` and after `stop`.
    fn start(&mut self) -> Result<(), SinkError>;

    /// Queues interleaved stereo samples; blocks while the device's buffer is full (that
    /// back-pressure is what paces decoding for real-time sinks).
    fn write(&mut self, samples: &[f32]) -> Result<(), SinkError>;

    /// Drops samples queued but not yet played (used on seek, skip and stop) so the change is
    /// heard at once.
    fn clear(&mut self);

    /// Pauses or resumes the output clock without dropping queued samples.
    fn set_paused(&mut self, paused: bool);

    /// Finishes: plays out or flushes what is queued (wav: final header) and releases the device.
    fn stop(&mut self) -> Result<(), SinkError>;

    /// Frames actually played (or written, for file sinks) since `start`, minus those dropped by
    /// `clear`. The player's position clock is built on this.
    fn played_frames(&self) -> u64;
}

/// The 16-bit conversion every integer sink uses (WAV, pipe): clamp, scale by 32767, round.
/// Tests compare sink output against decoded PCM with this same function.
pub fn f32_to_i16(s: f32) -> i16 {
    (s.clamp(-1.0, 1.0) * 32767.0).round() as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_specs() {
        assert_eq!(SinkSpec::parse("cpal").unwrap(), SinkSpec::Cpal(None));
        assert_eq!(
            SinkSpec::parse("cpal:hw:1").unwrap(),
            SinkSpec::Cpal(Some("hw:1".into()))
        );
        assert_eq!(
            SinkSpec::parse("wav:/tmp/x.wav").unwrap(),
            SinkSpec::Wav("/tmp/x.wav".into())
        );
        assert_eq!(SinkSpec::parse("null").unwrap(), SinkSpec::Null);
        assert!(SinkSpec::parse("wav:").is_err());
        assert!(SinkSpec::parse("speaker")
            .unwrap_err()
            .to_string()
            .contains("\"speaker\""));
        for s in ["cpal", "cpal:x", "wav:/a", "pipe", "null"] {
            assert_eq!(SinkSpec::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn i16_conversion() {
        assert_eq!(f32_to_i16(0.0), 0);
        assert_eq!(f32_to_i16(1.0), 32767);
        assert_eq!(f32_to_i16(-1.0), -32767);
        assert_eq!(f32_to_i16(2.0), 32767);
        assert_eq!(f32_to_i16(0.5), 16384);
    }
}
