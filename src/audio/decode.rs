//! Decoding with symphonia (spec §10.7): [`SymphoniaSource`] turns any `Read + Seek` byte stream
//! (in the real pipeline the [`crate::audio::header::Subfile`] over the decrypted download) into
//! a [`PcmSource`] of interleaved stereo `f32` at 44.1 kHz. Only 44 100 Hz stereo is accepted;
//! gapless trimming is on; seeks are sample-accurate (symphonia's accurate seek, then decoded
//! frames before the target are dropped). A corrupt packet is skipped with a warning; I/O errors
//! from the stream (the network, after the fetcher's retries) end the track as `Fetch` errors.
//! Used on the player's decode thread; depends on nothing but symphonia and the PCM seam.

use std::io::{self, Read, Seek, SeekFrom};

use symphonia::core::audio::{AudioBuffer, AudioBufferRef, Signal};
use symphonia::core::codecs::{Decoder, DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::conv::IntoSample;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo};
use symphonia::core::io::{MediaSource, MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use symphonia::core::sample::Sample;
use symphonia::core::units::{Time, TimeBase};

use crate::audio::pcm::{ms_to_frames, PcmError, PcmErrorKind, PcmSource, CHANNELS, SAMPLE_RATE};

/// The container of a stream (from the chosen Spotify file format).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Ogg,
    Mp3,
    Flac,
}

impl Container {
    fn mime(self) -> &'static str {
        match self {
            Container::Ogg => "audio/ogg",
            Container::Mp3 => "audio/mpeg",
            Container::Flac => "audio/flac",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Container::Ogg => "ogg",
            Container::Mp3 => "mp3",
            Container::Flac => "flac",
        }
    }
}

/// Gives symphonia a `MediaSource` over any `Read + Seek` with the length we know.
struct Source<R> {
    inner: R,
    len: Option<u64>,
}

impl<R: Read + Seek> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<R: Read + Seek> Seek for Source<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl<R: Read + Seek + Send + Sync> MediaSource for Source<R> {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        self.len
    }
}

/// How far before the target a seek lands, so the decoder is primed at the target.
const SEEK_PREROLL_MS: u64 = 200;

/// After this many bad packets in a row the stream is declared undecodable.
const MAX_CONSECUTIVE_ERRORS: u32 = 64;

/// A symphonia-decoded track.
pub struct SymphoniaSource {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    time_base: Option<TimeBase>,
    n_frames: Option<u64>,
    /// Decoded samples not yet returned, from `pending_pos` on.
    pending: Vec<f32>,
    pending_pos: usize,
    /// The frame number of the next frame `read` returns.
    position: u64,
    eof: bool,
}

impl std::fmt::Debug for SymphoniaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SymphoniaSource")
            .field("track_id", &self.track_id)
            .field("n_frames", &self.n_frames)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

fn decode_err(message: impl Into<String>) -> PcmError {
    PcmError {
        kind: PcmErrorKind::Decode,
        message: message.into(),
    }
}

fn fetch_err(e: &io::Error) -> PcmError {
    PcmError {
        kind: PcmErrorKind::Fetch,
        message: format!("reading the audio stream failed: {e}"),
    }
}

/// Maps an error from opening/demuxing: I/O trouble (other than a clean end) is `Fetch`.
fn open_err(e: SymError) -> PcmError {
    match e {
        SymError::IoError(io) if io.kind() != io::ErrorKind::UnexpectedEof => fetch_err(&io),
        SymError::IoError(_) => decode_err("the audio stream ended before its headers"),
        other => decode_err(format!("the audio stream is not decodable: {other}")),
    }
}

impl SymphoniaSource {
    /// Opens a stream of the given container. `byte_len` (the stream's length) lets the demuxer
    /// bisect when seeking. Refuses anything but 44.1 kHz stereo.
    pub fn new<R>(
        reader: R,
        hint: Container,
        byte_len: Option<u64>,
    ) -> Result<SymphoniaSource, PcmError>
    where
        R: Read + Seek + Send + Sync + 'static,
    {
        let mss = MediaSourceStream::new(
            Box::new(Source {
                inner: reader,
                len: byte_len,
            }),
            MediaSourceStreamOptions::default(),
        );
        let fmt_opts = FormatOptions {
            enable_gapless: true,
            ..FormatOptions::default()
        };
        let format: Box<dyn FormatReader> = match hint {
            Container::Ogg => Box::new(
                symphonia::default::formats::OggReader::try_new(mss, &fmt_opts)
                    .map_err(open_err)?,
            ),
            Container::Flac => Box::new(
                symphonia::default::formats::FlacReader::try_new(mss, &fmt_opts)
                    .map_err(open_err)?,
            ),
            Container::Mp3 => {
                // The probe skips ID3v2 tags in front of the first frame.
                let mut h = Hint::new();
                h.mime_type(hint.mime()).with_extension(hint.extension());
                symphonia::default::get_probe()
                    .format(&h, mss, &fmt_opts, &MetadataOptions::default())
                    .map_err(open_err)?
                    .format
            }
        };
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| decode_err("the audio stream has no decodable track"))?;
        let params = &track.codec_params;
        let rate = params.sample_rate;
        let channels = params.channels.map(|c| c.count());
        if rate != Some(SAMPLE_RATE) || channels.is_some_and(|c| c != CHANNELS) {
            return Err(decode_err(format!(
                "unsupported audio format: {} Hz, {} channel(s) (only 44100 Hz stereo is supported)",
                rate.map_or("unknown".to_string(), |r| r.to_string()),
                channels.map_or("unknown".to_string(), |c| c.to_string()),
            )));
        }
        let decoder = symphonia::default::get_codecs()
            .make(params, &DecoderOptions::default())
            .map_err(|e| decode_err(format!("no decoder for the audio stream: {e}")))?;
        Ok(SymphoniaSource {
            track_id: track.id,
            time_base: params.time_base,
            n_frames: params.n_frames,
            format,
            decoder,
            pending: Vec::new(),
            pending_pos: 0,
            position: 0,
            eof: false,
        })
    }

    /// Frames in the track, when the container says.
    pub fn n_frames(&self) -> Option<u64> {
        self.n_frames
    }

    fn ts_to_frames(&self, ts: u64) -> u64 {
        match self.time_base {
            Some(tb) if !(tb.numer == 1 && tb.denom == SAMPLE_RATE) => {
                let t = tb.calc_time(ts);
                t.seconds
                    .saturating_mul(u64::from(SAMPLE_RATE))
                    .saturating_add((t.frac * f64::from(SAMPLE_RATE)).round() as u64)
            }
            _ => ts,
        }
    }

    /// Decodes the next packet of our track into `pending` (replacing what was there). Returns
    /// the packet's start frame (container timestamp), or `None` at the end of the stream.
    fn decode_next(&mut self) -> Result<Option<u64>, PcmError> {
        let mut errors = 0u32;
        loop {
            if errors >= MAX_CONSECUTIVE_ERRORS {
                return Err(decode_err(
                    "the audio stream is corrupt (too many undecodable packets in a row)",
                ));
            }
            let packet = match self.format.next_packet() {
                Ok(p) => p,
                Err(SymError::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Ok(None)
                }
                Err(SymError::IoError(e)) => return Err(fetch_err(&e)),
                // A chained/new logical stream: Spotify files have one; treat as the end.
                Err(SymError::ResetRequired) => return Ok(None),
                Err(SymError::DecodeError(msg)) => {
                    tracing::warn!("skipping a corrupt part of the audio stream: {msg}");
                    errors += 1;
                    continue;
                }
                Err(e) => return Err(decode_err(format!("demuxing failed: {e}"))),
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let start = self.ts_to_frames(packet.ts());
            match self.decoder.decode(&packet) {
                Ok(buf) => {
                    self.pending.clear();
                    self.pending_pos = 0;
                    append_interleaved(&buf, &mut self.pending)?;
                    return Ok(Some(start));
                }
                Err(SymError::DecodeError(msg)) => {
                    tracing::warn!("skipping an undecodable audio packet: {msg}");
                    errors += 1;
                }
                Err(SymError::IoError(e)) => {
                    // Bit-reader underruns inside a packet: the packet is malformed.
                    tracing::warn!("skipping a malformed audio packet: {e}");
                    errors += 1;
                }
                Err(SymError::ResetRequired) => {
                    self.decoder.reset();
                    errors += 1;
                }
                Err(e) => return Err(decode_err(format!("decoding failed: {e}"))),
            }
        }
    }

    fn pending_frames(&self) -> usize {
        (self.pending.len() - self.pending_pos.min(self.pending.len())) / CHANNELS
    }
}

/// Appends a decoded buffer as interleaved stereo f32.
fn append_interleaved(buf: &AudioBufferRef<'_>, out: &mut Vec<f32>) -> Result<(), PcmError> {
    fn copy<S: Sample + IntoSample<f32>>(
        b: &AudioBuffer<S>,
        out: &mut Vec<f32>,
    ) -> Result<(), PcmError> {
        let spec = b.spec();
        if spec.channels.count() != CHANNELS || spec.rate != SAMPLE_RATE {
            return Err(decode_err(format!(
                "the audio stream changed format mid-track ({} Hz, {} channels)",
                spec.rate,
                spec.channels.count()
            )));
        }
        let (l, r) = (b.chan(0), b.chan(1));
        out.reserve(l.len() * CHANNELS);
        for (a, c) in l.iter().zip(r) {
            out.push((*a).into_sample());
            out.push((*c).into_sample());
        }
        Ok(())
    }
    match buf {
        AudioBufferRef::U8(b) => copy(b, out),
        AudioBufferRef::U16(b) => copy(b, out),
        AudioBufferRef::U24(b) => copy(b, out),
        AudioBufferRef::U32(b) => copy(b, out),
        AudioBufferRef::S8(b) => copy(b, out),
        AudioBufferRef::S16(b) => copy(b, out),
        AudioBufferRef::S24(b) => copy(b, out),
        AudioBufferRef::S32(b) => copy(b, out),
        AudioBufferRef::F32(b) => copy(b, out),
        AudioBufferRef::F64(b) => copy(b, out),
    }
}

impl PcmSource for SymphoniaSource {
    fn read(&mut self, out: &mut Vec<f32>, max_frames: usize) -> Result<usize, PcmError> {
        if max_frames == 0 {
            return Ok(0);
        }
        while self.pending_frames() == 0 {
            if self.eof {
                return Ok(0);
            }
            if self.decode_next()?.is_none() {
                self.eof = true;
                self.pending.clear();
                self.pending_pos = 0;
                return Ok(0);
            }
        }
        let n = self.pending_frames().min(max_frames);
        let end = self.pending_pos + n * CHANNELS;
        out.extend_from_slice(&self.pending[self.pending_pos..end]);
        self.pending_pos = end;
        self.position += n as u64;
        Ok(n)
    }

    fn seek(&mut self, position_ms: u64) -> Result<u64, PcmError> {
        let target = ms_to_frames(position_ms);
        self.pending.clear();
        self.pending_pos = 0;
        if let Some(n) = self.n_frames {
            if target >= n {
                // At (or past) the end: nothing more to play.
                self.position = n;
                self.eof = true;
                return Ok(n);
            }
        }
        // Land a little early: decoders need the packet(s) before the target to prime their
        // overlap (Vorbis) or bit reservoir (MP3); the frames up to the target are dropped below.
        let from_ms = position_ms.saturating_sub(SEEK_PREROLL_MS);
        let time = Time::new(from_ms / 1000, (from_ms % 1000) as f64 / 1000.0);
        let seeked = self
            .format
            .seek(
                SeekMode::Accurate,
                SeekTo::Time {
                    time,
                    track_id: Some(self.track_id),
                },
            )
            .map_err(|e| match e {
                SymError::IoError(io) if io.kind() != io::ErrorKind::UnexpectedEof => {
                    fetch_err(&io)
                }
                other => PcmError {
                    kind: PcmErrorKind::Seek,
                    message: format!("cannot seek to {position_ms} ms: {other}"),
                },
            })?;
        self.decoder.reset();
        self.eof = false;
        tracing::trace!(
            required = seeked.required_ts,
            actual = seeked.actual_ts,
            "demuxer seek"
        );
        // Decode forward, dropping frames before the target.
        loop {
            let Some(start) = self.decode_next()? else {
                self.eof = true;
                self.pending.clear();
                self.pending_pos = 0;
                self.position = self.n_frames.unwrap_or(target).max(target);
                return Ok(self.position);
            };
            let frames = (self.pending.len() / CHANNELS) as u64;
            if start.saturating_add(frames) <= target {
                continue;
            }
            if start >= target {
                // Landed at or after the target (coarse container): report where we are.
                self.position = start;
            } else {
                self.pending_pos = ((target - start) as usize) * CHANNELS;
                self.position = target;
            }
            return Ok(self.position);
        }
    }

    fn position_frames(&self) -> u64 {
        self.position
    }

    fn duration_ms(&self) -> Option<u64> {
        self.n_frames.map(crate::audio::pcm::frames_to_ms)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Cursor;

    pub(crate) fn fixture(name: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets/fixtures/audio")
            .join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    pub(crate) fn decode_all(src: &mut dyn PcmSource) -> Vec<f32> {
        let mut out = Vec::new();
        loop {
            let n = src.read(&mut out, 4096).unwrap();
            if n == 0 {
                break;
            }
        }
        out
    }

    fn open(name: &str, c: Container) -> Result<SymphoniaSource, PcmError> {
        let bytes = fixture(name);
        let len = bytes.len() as u64;
        SymphoniaSource::new(Cursor::new(bytes), c, Some(len))
    }

    #[test]
    fn decodes_vorbis_gapless_exact_length() {
        let mut s = open("vorbis_44k_stereo.ogg", Container::Ogg).unwrap();
        // 7 s at 44.1 kHz = 308 700 frames; gapless trimming gives exactly that.
        assert_eq!(s.n_frames(), Some(308_700));
        assert_eq!(s.duration_ms(), Some(7000));
        let pcm = decode_all(&mut s);
        assert_eq!(pcm.len(), 308_700 * 2);
        assert_eq!(s.position_frames(), 308_700);
        // Signal present in both channels, within range.
        let peak = pcm.iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!(peak > 0.2 && peak <= 1.01, "{peak}");
        // Further reads stay at the end.
        let mut v = Vec::new();
        assert_eq!(s.read(&mut v, 10).unwrap(), 0);
    }

    #[test]
    fn reads_respect_max_frames() {
        let mut s = open("vorbis_44k_stereo.ogg", Container::Ogg).unwrap();
        let mut out = Vec::new();
        let mut total = 0;
        loop {
            let n = s.read(&mut out, 100).unwrap();
            assert!(n <= 100);
            if n == 0 {
                break;
            }
            total += n;
            assert_eq!(out.len(), total * 2);
        }
        assert_eq!(total, 308_700);
    }

    #[test]
    fn refuses_other_rates_and_channel_counts() {
        let e = open("vorbis_48k_stereo.ogg", Container::Ogg).unwrap_err();
        assert_eq!(e.kind, PcmErrorKind::Decode);
        assert!(e.message.contains("48000 Hz"), "{}", e.message);
        let e = open("vorbis_44k_mono.ogg", Container::Ogg).unwrap_err();
        assert!(e.message.contains("1 channel"), "{}", e.message);
    }

    #[test]
    fn flac_and_mp3() {
        let mut s = open("flac_44k_stereo.flac", Container::Flac).unwrap();
        let pcm = decode_all(&mut s);
        assert_eq!(pcm.len(), 44_100 * 2);
        let mut s = open("mp3_44k_stereo.mp3", Container::Mp3).unwrap();
        let pcm = decode_all(&mut s);
        // LAME's delay/padding trimmed (gapless via the Xing/LAME tag): 1 s ± one granule.
        let frames = pcm.len() / 2;
        assert!((frames as i64 - 44_100).abs() <= 1152, "{frames}");
    }

    #[test]
    fn seek_is_sample_accurate() {
        let mut s = open("vorbis_44k_stereo.ogg", Container::Ogg).unwrap();
        let all = decode_all(&mut s);
        for ms in [0u64, 10, 1234, 3000, 5999, 6990, 3000, 50] {
            let reached = s.seek(ms).unwrap();
            let target = ms_to_frames(ms);
            // Within 20 ms (we aim for exact).
            assert!(
                reached >= target && reached - target <= 882,
                "{ms}: {reached}"
            );
            assert_eq!(s.position_frames(), reached);
            let mut got = Vec::new();
            while got.len() < 2 * 4096 {
                if s.read(&mut got, 4096).unwrap() == 0 {
                    break;
                }
            }
            let start = reached as usize * 2;
            let expect = &all[start..(start + got.len()).min(all.len())];
            assert_eq!(got.len(), expect.len());
            let max_diff = got
                .iter()
                .zip(expect)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            // Bit-exact: the preroll primes the decoder exactly as continuous decoding does.
            assert_eq!(max_diff, 0.0, "seek {ms}");
        }
        // Seeking to or past the end: position = length, reads give 0.
        assert_eq!(s.seek(7000).unwrap(), 308_700);
        let mut v = Vec::new();
        assert_eq!(s.read(&mut v, 10).unwrap(), 0);
        assert_eq!(s.seek(999_999).unwrap(), 308_700);
        // And back.
        assert_eq!(s.seek(1000).unwrap(), 44_100);
        assert!(s.read(&mut v, 10).unwrap() > 0);
    }

    #[test]
    fn seek_flac_and_mp3_within_20ms() {
        for (name, c) in [
            ("flac_44k_stereo.flac", Container::Flac),
            ("mp3_44k_stereo.mp3", Container::Mp3),
        ] {
            let mut s = open(name, c).unwrap();
            let all = decode_all(&mut s);
            for ms in [500u64, 123, 900, 0] {
                let reached = s.seek(ms).unwrap();
                let target = ms_to_frames(ms);
                assert!(reached.abs_diff(target) <= 882, "{name} {ms}: {reached}");
                let mut got = Vec::new();
                s.read(&mut got, 1024).unwrap();
                let start = reached as usize * 2;
                let expect = &all[start..start + got.len()];
                let max_diff = got
                    .iter()
                    .zip(expect)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(max_diff < 0.02, "{name} seek {ms}: max diff {max_diff}");
            }
        }
    }

    #[test]
    fn garbage_and_truncation_never_panic() {
        let good = fixture("vorbis_44k_stereo.ogg");
        // Pure noise: an error, not a panic.
        let noise: Vec<u8> = (0..20_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert!(SymphoniaSource::new(Cursor::new(noise), Container::Ogg, None).is_err());
        assert!(SymphoniaSource::new(Cursor::new(Vec::new()), Container::Ogg, Some(0)).is_err());
        // Truncated at various points: either an open error or a shorter decode, never a panic.
        for cut in [10usize, 100, 4000, 20_000, 50_000] {
            let bytes = good[..cut].to_vec();
            if let Ok(mut s) =
                SymphoniaSource::new(Cursor::new(bytes), Container::Ogg, Some(cut as u64))
            {
                let mut out = Vec::new();
                while let Ok(n) = s.read(&mut out, 4096) {
                    if n == 0 {
                        break;
                    }
                }
                let _ = s.seek(3000);
            }
        }
        // Corrupted bytes in the middle: decoding goes on past them.
        let mut bad = good.clone();
        for i in (30_000..31_000).step_by(3) {
            bad[i] ^= 0x5a;
        }
        let len = bad.len() as u64;
        let mut s = SymphoniaSource::new(Cursor::new(bad), Container::Ogg, Some(len)).unwrap();
        let mut out = Vec::new();
        loop {
            match s.read(&mut out, 4096) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert!(out.len() > 200_000 * 2, "{}", out.len());
    }

    #[test]
    fn io_errors_are_fetch_errors() {
        struct Failing {
            inner: Cursor<Vec<u8>>,
            fail_after: u64,
        }
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.inner.position() >= self.fail_after {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "stalled"));
                }
                self.inner.read(buf)
            }
        }
        impl Seek for Failing {
            fn seek(&mut self, p: SeekFrom) -> io::Result<u64> {
                self.inner.seek(p)
            }
        }
        let good = fixture("vorbis_44k_stereo.ogg");
        let len = good.len() as u64;
        let mut s = SymphoniaSource::new(
            Failing {
                inner: Cursor::new(good),
                fail_after: 30_000,
            },
            Container::Ogg,
            Some(len),
        )
        .unwrap();
        let mut out = Vec::new();
        let err = loop {
            match s.read(&mut out, 4096) {
                Ok(0) => panic!("ended without the error"),
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind, PcmErrorKind::Fetch);
        assert!(err.message.contains("stalled"));
    }
}
