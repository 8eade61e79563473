//! `pipe`: raw interleaved s16le stereo at 44.1 kHz to standard output, flushed on every write
//! (librespot's pipe backend), converted with [`f32_to_i16`]. Pacing is whoever reads the pipe.
//! A closed pipe (the reader went away) is [`SinkError::Pipe`]. Generic over the writer so tests
//! (and anything else) can use it with any `Write`.

use std::io::{self, Write};

use crate::audio::pcm::CHANNELS;
use crate::audio::sink::{f32_to_i16, Sink, SinkError};

pub struct PipeSink<W: Write = io::Stdout> {
    out: W,
    frames: u64,
    scratch: Vec<u8>,
}

impl PipeSink<io::Stdout> {
    pub fn stdout() -> PipeSink<io::Stdout> {
        PipeSink::new(io::stdout())
    }
}

impl<W: Write> PipeSink<W> {
    pub fn new(out: W) -> PipeSink<W> {
        PipeSink {
            out,
            frames: 0,
            scratch: Vec::new(),
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Sink for PipeSink<W> {
    fn start(&mut self) -> Result<(), SinkError> {
        self.frames = 0;
        Ok(())
    }

    fn write(&mut self, samples: &[f32]) -> Result<(), SinkError> {
        let frames = samples.len() / CHANNELS;
        self.scratch.clear();
        self.scratch.reserve(frames * CHANNELS * 2);
        for s in &samples[..frames * CHANNELS] {
            self.scratch
                .extend_from_slice(&f32_to_i16(*s).to_le_bytes());
        }
        self.out
            .write_all(&self.scratch)
            .and_then(|()| self.out.flush())
            .map_err(SinkError::Pipe)?;
        self.frames += frames as u64;
        Ok(())
    }

    fn clear(&mut self) {}

    fn set_paused(&mut self, _paused: bool) {}

    fn stop(&mut self) -> Result<(), SinkError> {
        self.out.flush().map_err(SinkError::Pipe)
    }

    fn played_frames(&self) -> u64 {
        self.frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_s16le_interleaved() {
        let mut p = PipeSink::new(Vec::new());
        p.start().unwrap();
        p.write(&[0.0, 1.0, -1.0, 0.5, 2.0, -0.25]).unwrap();
        // An odd trailing sample (half a frame) is not written.
        p.write(&[0.1]).unwrap();
        assert_eq!(p.played_frames(), 3);
        p.stop().unwrap();
        let bytes = p.into_inner();
        let got: Vec<i16> = bytes
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        // f32_to_i16: ×32767, rounded, clamped: 0.5 → 16384 (16383.5 rounds away from zero),
        // −0.25 → −8192 (−8191.75).
        assert_eq!(got, vec![0, 32767, -32767, 16384, 32767, -8192]);
    }

    #[test]
    fn closed_pipe_is_a_pipe_error() {
        // A real pipe whose reader exits after 100 bytes.
        if !tonearm_testkit::require_tool("head", "the reader that closes the pipe") {
            return;
        }
        let mut child = std::process::Command::new("head")
            .args(["-c", "100"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut p = PipeSink::new(stdin);
        p.start().unwrap();
        let block = vec![0.25f32; 4096];
        let mut err = None;
        for _ in 0..1000 {
            if let Err(e) = p.write(&block) {
                err = Some(e);
                break;
            }
        }
        child.wait().unwrap();
        let e = err.expect("writes to a closed pipe must fail");
        assert!(matches!(e, SinkError::Pipe(_)), "{e}");
        assert!(e.to_string().contains("standard output"));
    }
}
