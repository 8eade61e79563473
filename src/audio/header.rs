//! The Spotify header at the start of a decrypted Ogg Vorbis file (spec §10.6): a 167-byte
//! Ogg page carrying a seek table and the normalisation values (four `f32le` at offset 144:
//! track gain dB, track peak, album gain dB, album peak). [`read_header`] reads it and returns a
//! [`Subfile`] presenting the real Ogg stream from byte 167 as offset 0; a stream that starts
//! directly with a Vorbis BOS page (or is FLAC/MP3) has no Spotify page and is used from byte 0.
//! Sits between the decrypter and the decoder; depends only on `std`. Owns the
//! [`NormalisationData`] value type that the normaliser consumes and the player's loader hands
//! on with each track.

use std::io::{self, Read, Seek, SeekFrom};

/// Normalisation values from the Spotify file header (§10.6); defaults gain 0 dB, peak 1.0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormalisationData {
    pub track_gain_db: f32,
    pub track_peak: f32,
    pub album_gain_db: f32,
    pub album_peak: f32,
}

impl Default for NormalisationData {
    fn default() -> Self {
        NormalisationData {
            track_gain_db: 0.0,
            track_peak: 1.0,
            album_gain_db: 0.0,
            album_peak: 1.0,
        }
    }
}

/// Length of the Spotify page before the real Ogg stream.
pub const SPOTIFY_HEADER_LEN: u64 = 167;
/// Where the four normalisation `f32le` values start.
pub const NORMALISATION_OFFSET: usize = 144;

/// Gains beyond this many dB either way are treated as corrupt.
const MAX_ABS_GAIN_DB: f32 = 60.0;
/// Peaks (linear) beyond this are treated as corrupt (real ones are around 0.1..2).
const MAX_PEAK: f32 = 16.0;

/// Parses the normalisation values from the first 167 (at least 160) bytes of a decrypted file.
/// Non-finite or absurd values fall back to the defaults (gain 0 dB, peak 1.0) per pair (track,
/// album), with a warning; a buffer too short for them gives the defaults.
pub fn parse_normalisation(header: &[u8]) -> NormalisationData {
    let Some(raw) = header.get(NORMALISATION_OFFSET..NORMALISATION_OFFSET + 16) else {
        tracing::warn!(
            len = header.len(),
            "audio header too short for normalisation data; using defaults"
        );
        return NormalisationData::default();
    };
    let f = |i: usize| {
        let mut b = [0u8; 4];
        b.copy_from_slice(&raw[i * 4..i * 4 + 4]);
        f32::from_le_bytes(b)
    };
    let defaults = NormalisationData::default();
    let sane = |gain: f32, peak: f32| {
        gain.is_finite()
            && gain.abs() <= MAX_ABS_GAIN_DB
            && peak.is_finite()
            && peak > 0.0
            && peak <= MAX_PEAK
    };
    let (mut tg, mut tp, mut ag, mut ap) = (f(0), f(1), f(2), f(3));
    if !sane(tg, tp) {
        tracing::warn!(
            gain_db = tg,
            peak = tp,
            "implausible track normalisation values; using defaults"
        );
        tg = defaults.track_gain_db;
        tp = defaults.track_peak;
    }
    if !sane(ag, ap) {
        tracing::warn!(
            gain_db = ag,
            peak = ap,
            "implausible album normalisation values; using defaults"
        );
        ag = defaults.album_gain_db;
        ap = defaults.album_peak;
    }
    NormalisationData {
        track_gain_db: tg,
        track_peak: tp,
        album_gain_db: ag,
        album_peak: ap,
    }
}

/// What the start of a decrypted stream looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStart {
    /// Spotify's page, then the Ogg stream at byte 167.
    SpotifyHeader,
    /// An Ogg stream whose first page is the Vorbis BOS page (no Spotify page).
    PlainOgg,
    /// A FLAC or MP3 stream (no Spotify page).
    Other,
}

/// Classifies the first bytes (up to 167) of a decrypted stream.
pub fn classify(start: &[u8]) -> StreamStart {
    if is_vorbis_bos_page(start) {
        StreamStart::PlainOgg
    } else if start.starts_with(b"fLaC")
        || start.starts_with(b"ID3")
        || (start.len() >= 2 && start[0] == 0xff && start[1] & 0xe0 == 0xe0)
    {
        StreamStart::Other
    } else {
        StreamStart::SpotifyHeader
    }
}

/// An Ogg page with the BOS flag whose first packet is the Vorbis identification header.
fn is_vorbis_bos_page(b: &[u8]) -> bool {
    if b.len() < 27 || &b[0..4] != b"OggS" || b[5] & 0x02 == 0 {
        return false;
    }
    let segments = usize::from(b[26]);
    let packet = 27 + segments;
    b.get(packet..packet + 7)
        .is_some_and(|p| p == b"\x01vorbis")
}

/// Reads the start of `inner` (from byte 0), returns the normalisation data (defaults when there
/// is no Spotify page) and the stream positioned at the start of the real audio.
/// Errors: I/O errors of `inner`; a stream too short to hold the Spotify page and not a
/// recognised plain stream → `InvalidData`.
pub fn read_header<R: Read + Seek>(mut inner: R) -> io::Result<(NormalisationData, Subfile<R>)> {
    inner.seek(SeekFrom::Start(0))?;
    let mut buf = [0u8; SPOTIFY_HEADER_LEN as usize];
    let got = read_full(&mut inner, &mut buf)?;
    let start = &buf[..got];
    match classify(start) {
        StreamStart::PlainOgg | StreamStart::Other => {
            tracing::debug!("audio stream has no Spotify header; decoding from byte 0");
            Ok((NormalisationData::default(), Subfile::new(inner, 0)?))
        }
        StreamStart::SpotifyHeader => {
            if got < SPOTIFY_HEADER_LEN as usize {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("audio file too short ({got} bytes) for the 167-byte Spotify header"),
                ));
            }
            if &start[0..4] != b"OggS" {
                // librespot does not validate the page either; a wrong key looks like this.
                tracing::warn!("audio header does not start with an Ogg page (wrong key?)");
            }
            let data = parse_normalisation(start);
            Ok((data, Subfile::new(inner, SPOTIFY_HEADER_LEN)?))
        }
    }
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// `inner` from byte `offset` on, presented as a stream starting at 0 (`Read + Seek`;
/// `SeekFrom::End` is relative to the end of `inner`). Seeking before its start is an error.
#[derive(Debug)]
pub struct Subfile<R> {
    inner: R,
    offset: u64,
}

impl<R: Read + Seek> Subfile<R> {
    /// Positions `inner` at `offset` (position 0 of the subfile).
    pub fn new(mut inner: R, offset: u64) -> io::Result<Subfile<R>> {
        inner.seek(SeekFrom::Start(offset))?;
        Ok(Subfile { inner, offset })
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    pub fn into_inner(self) -> R {
        self.inner
    }

    fn current(&mut self) -> io::Result<u64> {
        Ok(self.inner.stream_position()?.saturating_sub(self.offset))
    }
}

impl<R: Read + Seek> Read for Subfile<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<R: Read + Seek> Seek for Subfile<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let before = |what: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("seek before the start of the stream ({what})"),
            )
        };
        let target = match to {
            SeekFrom::Start(p) => p,
            SeekFrom::Current(d) => {
                let cur = self.current()?;
                cur.checked_add_signed(d)
                    .ok_or_else(|| before("relative"))?
            }
            SeekFrom::End(d) => {
                let cur = self.inner.stream_position()?;
                let end = self.inner.seek(SeekFrom::End(0))?;
                let len = end.saturating_sub(self.offset);
                match len.checked_add_signed(d) {
                    Some(t) => t,
                    None => {
                        self.inner.seek(SeekFrom::Start(cur))?;
                        return Err(before("from the end"));
                    }
                }
            }
        };
        let abs = self
            .offset
            .checked_add(target)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek overflow"))?;
        self.inner.seek(SeekFrom::Start(abs))?;
        Ok(target)
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        self.current()
    }
}

/// Builds a Spotify header page (167 bytes) with the given normalisation values: the layout of
/// §10.6 with a zero CRC (nobody validates it). For the audio tests' fixtures.
#[cfg(test)]
pub(crate) fn synthetic_header(data: &NormalisationData) -> [u8; SPOTIFY_HEADER_LEN as usize] {
    let mut h = [0u8; SPOTIFY_HEADER_LEN as usize];
    h[0..4].copy_from_slice(b"OggS");
    h[5] = 0x02; // BOS
    h[26] = 1; // one segment
    h[27] = 139;
    h[28] = 0x81;
    h[29..31].copy_from_slice(&110u16.to_le_bytes());
    h[31] = 0;
    h[141..143].copy_from_slice(&17u16.to_le_bytes());
    h[143] = 1;
    let vals = [
        data.track_gain_db,
        data.track_peak,
        data.album_gain_db,
        data.album_peak,
    ];
    for (i, v) in vals.iter().enumerate() {
        h[144 + 4 * i..148 + 4 * i].copy_from_slice(&v.to_le_bytes());
    }
    h[160..162].copy_from_slice(&5u16.to_le_bytes());
    h[162] = 2;
    h[163..167].copy_from_slice(&(-1i32).to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn vorbis_bos() -> Vec<u8> {
        let mut p = b"OggS\x00\x02".to_vec();
        p.extend_from_slice(&[0u8; 20]); // granule, serial, seq, crc
        p.push(1); // segments
        p.push(30);
        p.extend_from_slice(b"\x01vorbis");
        p.extend_from_slice(&[0u8; 23]);
        p
    }

    #[test]
    fn parses_values_at_144() {
        let d = NormalisationData {
            track_gain_db: -4.5,
            track_peak: 0.93,
            album_gain_db: -6.25,
            album_peak: 1.05,
        };
        let h = synthetic_header(&d);
        assert_eq!(parse_normalisation(&h), d);
        // The raw bytes: −4.5 as f32le is 00 00 90 c0.
        assert_eq!(&h[144..148], &[0x00, 0x00, 0x90, 0xc0]);
    }

    #[test]
    fn bad_values_become_defaults_per_pair() {
        let mut h = synthetic_header(&NormalisationData {
            track_gain_db: 1.0,
            track_peak: 0.5,
            album_gain_db: 2.0,
            album_peak: 0.7,
        });
        h[144..148].copy_from_slice(&f32::NAN.to_le_bytes());
        let d = parse_normalisation(&h);
        assert_eq!((d.track_gain_db, d.track_peak), (0.0, 1.0));
        assert_eq!((d.album_gain_db, d.album_peak), (2.0, 0.7));
        for (off, v) in [
            (148, f32::INFINITY),
            (148, 0.0),
            (148, -1.0),
            (144, 1000.0),
            (148, 1e9),
        ] {
            let mut h = synthetic_header(&NormalisationData::default());
            h[off..off + 4].copy_from_slice(&v.to_le_bytes());
            assert_eq!(
                parse_normalisation(&h),
                NormalisationData::default(),
                "{off} {v}"
            );
        }
        assert_eq!(
            parse_normalisation(&[0u8; 10]),
            NormalisationData::default()
        );
    }

    #[test]
    fn subfile_reads_and_seeks() {
        let d = NormalisationData {
            track_gain_db: -3.0,
            ..NormalisationData::default()
        };
        let mut file = synthetic_header(&d).to_vec();
        let body: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        file.extend_from_slice(&body);
        let (got, mut sub) = read_header(Cursor::new(file)).unwrap();
        assert_eq!(got, d);
        assert_eq!(sub.offset(), 167);
        assert_eq!(sub.stream_position().unwrap(), 0);
        let mut b = [0u8; 10];
        sub.read_exact(&mut b).unwrap();
        assert_eq!(&b, &body[..10]);
        assert_eq!(sub.seek(SeekFrom::End(0)).unwrap(), 1000);
        assert_eq!(sub.seek(SeekFrom::End(-10)).unwrap(), 990);
        sub.read_exact(&mut b).unwrap();
        assert_eq!(&b, &body[990..]);
        assert_eq!(sub.read(&mut b).unwrap(), 0);
        assert_eq!(sub.seek(SeekFrom::Current(-500)).unwrap(), 500);
        sub.read_exact(&mut b).unwrap();
        assert_eq!(&b, &body[500..510]);
        assert_eq!(sub.seek(SeekFrom::Start(3)).unwrap(), 3);
        // Before the start: errors, position kept.
        assert!(sub.seek(SeekFrom::Current(-4)).is_err());
        assert!(sub.seek(SeekFrom::End(-1001)).is_err());
        assert_eq!(sub.stream_position().unwrap(), 3);
        sub.read_exact(&mut b[..1]).unwrap();
        assert_eq!(b[0], body[3]);
        // Past the end is allowed (reads give 0), like files.
        assert_eq!(sub.seek(SeekFrom::Start(5000)).unwrap(), 5000);
        assert_eq!(sub.read(&mut b).unwrap(), 0);
    }

    #[test]
    fn plain_ogg_starts_at_zero() {
        let mut file = vorbis_bos();
        file.extend_from_slice(&[7u8; 300]);
        let (d, mut sub) = read_header(Cursor::new(file.clone())).unwrap();
        assert_eq!(d, NormalisationData::default());
        assert_eq!(sub.offset(), 0);
        let mut all = Vec::new();
        sub.read_to_end(&mut all).unwrap();
        assert_eq!(all, file);
        assert_eq!(classify(b"fLaC\0\0"), StreamStart::Other);
        assert_eq!(classify(b"ID3\x04"), StreamStart::Other);
        assert_eq!(
            classify(&synthetic_header(&NormalisationData::default())),
            StreamStart::SpotifyHeader
        );
    }

    #[test]
    fn short_and_garbage_streams_do_not_panic() {
        for len in [0usize, 1, 4, 27, 100, 166] {
            let r = read_header(Cursor::new(vec![0x5au8; len]));
            assert!(r.is_err(), "len {len}");
        }
        // Exactly a header and nothing else: fine, an empty subfile.
        let (_, mut sub) = read_header(Cursor::new(vec![0x5au8; 167])).unwrap();
        let mut v = Vec::new();
        sub.read_to_end(&mut v).unwrap();
        assert!(v.is_empty());
        // A truncated Vorbis BOS page is not mistaken for anything that panics.
        let bos = vorbis_bos();
        for cut in 0..bos.len() {
            let _ = read_header(Cursor::new(bos[..cut].to_vec()));
            let _ = classify(&bos[..cut]);
        }
    }
}
