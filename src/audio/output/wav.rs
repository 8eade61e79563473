//! `wav:<path>`: a RIFF/WAVE file, 16-bit PCM, 44.1 kHz stereo, written as fast as samples
//! arrive (no pacing) with [`f32_to_i16`]. The header's sizes are written as 0 at first and
//! patched on `stop` (and on drop), so an interrupted run still leaves a file most tools read.
//! A `start` after `stop` appends to the same file. Used on the player's decode thread.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::PathBuf;

use crate::audio::pcm::{CHANNELS, SAMPLE_RATE};
use crate::audio::sink::{f32_to_i16, Sink, SinkError};

const HEADER_LEN: u64 = 44;
const BYTES_PER_FRAME: u64 = 2 * CHANNELS as u64;

/// The 44-byte canonical WAV header for `data_len` bytes of 16-bit stereo PCM at 44.1 kHz.
pub fn header(data_len: u32) -> [u8; 44] {
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data_len.saturating_add(36).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&(CHANNELS as u16).to_le_bytes());
    h[24..28].copy_from_slice(&SAMPLE_RATE.to_le_bytes());
    h[28..32].copy_from_slice(&(SAMPLE_RATE * BYTES_PER_FRAME as u32).to_le_bytes());
    h[32..34].copy_from_slice(&(BYTES_PER_FRAME as u16).to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_len.to_le_bytes());
    h
}

pub struct WavSink {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    /// Bytes of sample data in the file (across restarts).
    data_len: u64,
    created: bool,
    frames_since_start: u64,
    scratch: Vec<u8>,
}

impl WavSink {
    /// Nothing is touched until `start`.
    pub fn new(path: impl Into<PathBuf>) -> WavSink {
        WavSink {
            path: path.into(),
            out: None,
            data_len: 0,
            created: false,
            frames_since_start: 0,
            scratch: Vec::new(),
        }
    }

    fn err(&self, source: io::Error) -> SinkError {
        SinkError::File {
            path: self.path.display().to_string(),
            source,
        }
    }

    fn patch_header(&mut self) -> io::Result<()> {
        let data_len = u32::try_from(self.data_len).unwrap_or(u32::MAX);
        if let Some(out) = &mut self.out {
            out.flush()?;
            let f = out.get_mut();
            f.seek(SeekFrom::Start(0))?;
            f.write_all(&header(data_len))?;
            f.seek(SeekFrom::Start(HEADER_LEN + self.data_len))?;
            f.flush()?;
        }
        Ok(())
    }
}

impl Sink for WavSink {
    fn start(&mut self) -> Result<(), SinkError> {
        self.frames_since_start = 0;
        if self.out.is_some() {
            return Ok(());
        }
        let opened = if self.created {
            OpenOptions::new()
                .write(true)
                .open(&self.path)
                .and_then(|mut f| {
                    f.seek(SeekFrom::Start(HEADER_LEN + self.data_len))?;
                    Ok(f)
                })
        } else {
            File::create(&self.path).and_then(|mut f| {
                f.write_all(&header(0))?;
                Ok(f)
            })
        };
        let f = opened.map_err(|e| self.err(e))?;
        self.created = true;
        self.out = Some(BufWriter::with_capacity(64 * 1024, f));
        Ok(())
    }

    fn write(&mut self, samples: &[f32]) -> Result<(), SinkError> {
        if self.out.is_none() {
            self.start()?;
        }
        let frames = (samples.len() / CHANNELS) as u64;
        let samples = &samples[..frames as usize * CHANNELS];
        let bytes = frames * BYTES_PER_FRAME;
        if HEADER_LEN + self.data_len + bytes > u64::from(u32::MAX) {
            return Err(self.err(io::Error::other("the WAV file reached its 4 GiB limit")));
        }
        self.scratch.clear();
        self.scratch.reserve(samples.len() * 2);
        for s in samples {
            self.scratch
                .extend_from_slice(&f32_to_i16(*s).to_le_bytes());
        }
        let result = match &mut self.out {
            Some(out) => out.write_all(&self.scratch),
            None => Ok(()),
        };
        result.map_err(|e| self.err(e))?;
        self.data_len += bytes;
        self.frames_since_start += frames;
        Ok(())
    }

    fn clear(&mut self) {}

    fn set_paused(&mut self, _paused: bool) {}

    fn stop(&mut self) -> Result<(), SinkError> {
        let r = self.patch_header();
        self.out = None;
        r.map_err(|e| self.err(e))
    }

    fn played_frames(&self) -> u64 {
        self.frames_since_start
    }
}

impl Drop for WavSink {
    fn drop(&mut self) {
        if self.out.is_some() {
            if let Err(e) = self.patch_header() {
                tracing::warn!(path = %self.path.display(), "could not finish the WAV file: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a canonical 16-bit stereo WAV file: (sample rate, channels, samples).
    fn read_wav(path: &std::path::Path) -> (u32, u16, Vec<i16>) {
        let b = std::fs::read(path).unwrap();
        assert_eq!(&b[0..4], b"RIFF");
        assert_eq!(
            u32::from_le_bytes(b[4..8].try_into().unwrap()) as usize,
            b.len() - 8
        );
        assert_eq!(&b[8..16], b"WAVEfmt ");
        assert_eq!(u16::from_le_bytes([b[20], b[21]]), 1);
        let channels = u16::from_le_bytes([b[22], b[23]]);
        let rate = u32::from_le_bytes(b[24..28].try_into().unwrap());
        assert_eq!(u32::from_le_bytes(b[28..32].try_into().unwrap()), rate * 4);
        assert_eq!(u16::from_le_bytes([b[32], b[33]]), 4);
        assert_eq!(u16::from_le_bytes([b[34], b[35]]), 16);
        assert_eq!(&b[36..40], b"data");
        let n = u32::from_le_bytes(b[40..44].try_into().unwrap()) as usize;
        assert_eq!(n, b.len() - 44);
        let samples = b[44..]
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        (rate, channels, samples)
    }

    fn signal(frames: usize) -> Vec<f32> {
        (0..frames)
            .flat_map(|i| {
                let t = i as f32 / 44_100.0;
                [
                    (t * 440.0 * std::f32::consts::TAU).sin() * 0.8,
                    (t * 660.0 * std::f32::consts::TAU).sin() * 1.2, // clips
                ]
            })
            .collect()
    }

    #[test]
    fn writes_exact_samples() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.wav");
        let sig = signal(10_000);
        let mut s = WavSink::new(&path);
        s.start().unwrap();
        for chunk in sig.chunks(2 * 333) {
            s.write(chunk).unwrap();
        }
        assert_eq!(s.played_frames(), 10_000);
        s.stop().unwrap();
        let (rate, ch, got) = read_wav(&path);
        assert_eq!((rate, ch), (44_100, 2));
        let expect: Vec<i16> = sig.iter().map(|s| f32_to_i16(*s)).collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn restart_appends_and_drop_patches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.wav");
        let sig = signal(1000);
        {
            let mut s = WavSink::new(&path);
            s.start().unwrap();
            s.write(&sig[..1000]).unwrap();
            s.stop().unwrap();
            s.start().unwrap();
            assert_eq!(s.played_frames(), 0);
            s.write(&sig[1000..]).unwrap();
            assert_eq!(s.played_frames(), 500);
            // Dropped without stop: the header is patched anyway.
        }
        let (_, _, got) = read_wav(&path);
        let expect: Vec<i16> = sig.iter().map(|s| f32_to_i16(*s)).collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn unwritable_path_is_a_file_error() {
        let mut s = WavSink::new("/nonexistent-dir/x.wav");
        let e = s.start().unwrap_err();
        assert!(matches!(e, SinkError::File { .. }));
        assert!(e.to_string().contains("/nonexistent-dir/x.wav"));
    }

    #[test]
    fn header_layout() {
        let h = header(400);
        assert_eq!(&h[0..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(h[4..8].try_into().unwrap()), 436);
        assert_eq!(u32::from_le_bytes(h[24..28].try_into().unwrap()), 44_100);
        assert_eq!(u32::from_le_bytes(h[28..32].try_into().unwrap()), 176_400);
    }
}
