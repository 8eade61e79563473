//! The sinks behind [`crate::audio::sink::Sink`]: [`cpal`] (the default or a named device
//! through a lock-free ring buffer), [`wav`] (a 16-bit PCM file, as fast as samples come),
//! [`pipe`] (raw s16le stereo to stdout) and [`null`] (discards, paced to real time).
//! [`factory`] turns a `--sink` spec into the [`SinkFactory`] the player calls on its decode
//! thread (cpal streams must stay on the thread that opened them). Depends on the sink seam only.

pub mod cpal;
pub mod null;
pub mod pipe;
pub mod wav;

use crate::audio::sink::{Sink, SinkFactory, SinkSpec};

/// A factory that opens the sink `spec` names when called (on the thread that will use it).
pub fn factory(spec: SinkSpec) -> SinkFactory {
    Box::new(
        move || -> Result<Box<dyn Sink>, crate::audio::sink::SinkError> {
            Ok(match spec {
                SinkSpec::Cpal(name) => Box::new(cpal::CpalSink::open(name.as_deref())?),
                SinkSpec::Wav(path) => Box::new(wav::WavSink::new(path)),
                SinkSpec::Pipe => Box::new(pipe::PipeSink::stdout()),
                SinkSpec::Null => Box::new(null::NullSink::new()),
            })
        },
    )
}

/// Checks that a sink can be opened (for cpal: that the device exists and accepts the format),
/// then releases it. Lets the CLI report "no audio device" before playback starts.
pub fn probe(spec: &SinkSpec) -> Result<(), crate::audio::sink::SinkError> {
    match spec {
        SinkSpec::Cpal(name) => cpal::CpalSink::open(name.as_deref()).map(drop),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factory_builds_each_file_sink() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.wav");
        let mut s = factory(SinkSpec::Wav(path.display().to_string()))().unwrap();
        s.start().unwrap();
        s.write(&[0.5, -0.5]).unwrap();
        s.stop().unwrap();
        assert_eq!(s.played_frames(), 1);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 44 + 4);
        let mut n = factory(SinkSpec::Null)().unwrap();
        n.start().unwrap();
        n.write(&[0.0; 64]).unwrap();
        assert!(n.played_frames() <= 32);
        n.stop().unwrap();
        // The pipe sink opens without touching stdout until written to.
        let _p = factory(SinkSpec::Pipe)().unwrap();
    }
}
