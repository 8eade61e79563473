//! The simulator's audio files (spec §10.5, §10.6): the eight demo Ogg Vorbis tracks embedded
//! from `assets/audio/` (this crate's) (three formats each), the little Ogg reading the catalog needs (sample
//! rate, channels, exact length from the last granule position), the Ogg CRC, Spotify's 167-byte
//! header page (seek table, replay gain at offset 144, the 0xffffffff segment), AES-128-CTR with
//! Spotify's IV over the whole file, and a lazily filled cache of the served (encrypted or plain)
//! files, one per (demo audio, format), shared by every track that reuses that audio. Used by the
//! catalog and the CDN; depends on no client module.

use std::sync::{Arc, OnceLock};

use aes::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};

/// Spotify's AES-CTR initial counter block.
pub const AUDIO_IV: [u8; 16] = [
    0x72, 0xe0, 0x67, 0xfb, 0xdd, 0xcb, 0xcf, 0x77, 0xeb, 0xe8, 0xbc, 0x64, 0x3f, 0x63, 0x0d, 0x93,
];
/// Length of Spotify's header page in front of the Ogg Vorbis stream.
pub const HEADER_LEN: usize = 167;
/// Offset of the four f32le replay-gain values inside the header.
pub const REPLAY_GAIN_OFFSET: usize = 144;
/// The formats every demo audio exists in: OGG_VORBIS_96, _160, _320 (= the index).
pub const FORMATS: [i32; 3] = [0, 1, 2];
/// Nominal bitrates of [`FORMATS`], kbit/s.
pub const BITRATES: [u32; 3] = [96, 160, 320];
/// Sample rate of every demo file.
pub const SAMPLE_RATE: u64 = 44_100;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// Loudness values written into the header (spec §10.6).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ReplayGain {
    pub track_gain_db: f32,
    pub track_peak: f32,
    pub album_gain_db: f32,
    pub album_peak: f32,
}

/// One embedded demo recording in its three formats.
pub struct DemoAudio {
    /// The drone's fundamental, the loudest partial.
    pub fundamental_hz: f32,
    /// The Ogg Vorbis files, indexed like [`FORMATS`].
    pub files: [&'static [u8]; 3],
    pub gain: ReplayGain,
}

macro_rules! demo_audio {
    ($n:literal, $hz:expr, $tg:expr, $tp:expr, $ag:expr, $ap:expr) => {
        DemoAudio {
            fundamental_hz: $hz,
            files: [
                include_bytes!(concat!("../assets/audio/track", $n, "-096.ogg")),
                include_bytes!(concat!("../assets/audio/track", $n, "-160.ogg")),
                include_bytes!(concat!("../assets/audio/track", $n, "-320.ogg")),
            ],
            gain: ReplayGain {
                track_gain_db: $tg,
                track_peak: $tp,
                album_gain_db: $ag,
                album_peak: $ap,
            },
        }
    };
}

/// The demo recordings (see `assets/audio/generate.sh`). Album values: recordings 1–4, 5–6 and
/// 7–8 are the three demo albums.
pub static DEMO_AUDIO: [DemoAudio; 8] = [
    demo_audio!("1", 220.0, -6.2, 0.93, -5.4, 0.99),
    demo_audio!("2", 246.94, -4.8, 0.88, -5.4, 0.99),
    demo_audio!("3", 261.63, -7.5, 0.99, -5.4, 0.99),
    demo_audio!("4", 293.66, -3.1, 0.71, -5.4, 0.99),
    demo_audio!("5", 329.63, 1.7, 0.52, 0.9, 0.64),
    demo_audio!("6", 349.23, 0.4, 0.64, 0.9, 0.64),
    demo_audio!("7", 392.0, -1.9, 0.79, -2.6, 0.86),
    demo_audio!("8", 440.0, 2.6, 0.86, -2.6, 0.86),
];

/// Ogg's CRC-32: polynomial 0x04c11db7, initial value 0, no reflection, no final XOR.
pub fn ogg_crc(data: &[u8]) -> u32 {
    static TABLE: OnceLock<[u32; 256]> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table = [0u32; 256];
        for (i, slot) in (0u32..).zip(table.iter_mut()) {
            let mut r = i << 24;
            for _ in 0..8 {
                r = if r & 0x8000_0000 != 0 {
                    (r << 1) ^ 0x04c1_1db7
                } else {
                    r << 1
                };
            }
            *slot = r;
        }
        table
    });
    data.iter().fold(0u32, |crc, &b| {
        (crc << 8) ^ table[usize::from(((crc >> 24) as u8) ^ b)]
    })
}

/// One Ogg page as found in a byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: usize,
    pub len: usize,
    pub header_type: u8,
    pub granule: u64,
    pub serial: u32,
    /// Offset of the page's body (after the segment table).
    pub body: usize,
}

/// The page at `offset`, if a complete, well-formed one starts there.
pub fn page_at(data: &[u8], offset: usize) -> Option<Page> {
    let head = data.get(offset..offset.checked_add(27)?)?;
    if &head[..4] != b"OggS" || head[4] != 0 {
        return None;
    }
    let nseg = usize::from(head[26]);
    let lacing = data.get(offset + 27..offset + 27 + nseg)?;
    let body_len: usize = lacing.iter().map(|&b| usize::from(b)).sum();
    let len = 27 + nseg + body_len;
    data.get(offset..offset + len)?;
    let mut granule = [0u8; 8];
    granule.copy_from_slice(&head[6..14]);
    let mut serial = [0u8; 4];
    serial.copy_from_slice(&head[14..18]);
    Some(Page {
        offset,
        len,
        header_type: head[5],
        granule: u64::from_le_bytes(granule),
        serial: u32::from_le_bytes(serial),
        body: offset + 27 + nseg,
    })
}

/// Every page of an Ogg stream, in order; stops at the first malformed page.
pub fn pages(data: &[u8]) -> Vec<Page> {
    let mut out = Vec::new();
    let mut offset = 0;
    while let Some(page) = page_at(data, offset) {
        offset += page.len;
        out.push(page);
    }
    out
}

/// Checks a page's stored CRC against [`ogg_crc`] of the page with the CRC field zeroed.
pub fn page_crc_ok(data: &[u8], page: &Page) -> bool {
    let Some(bytes) = data.get(page.offset..page.offset + page.len) else {
        return false;
    };
    let mut copy = bytes.to_vec();
    let stored = u32::from_le_bytes([copy[22], copy[23], copy[24], copy[25]]);
    copy[22..26].fill(0);
    ogg_crc(&copy) == stored
}

/// What the Vorbis identification header and the last page say about a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OggInfo {
    pub channels: u8,
    pub sample_rate: u32,
    /// Exact number of samples per channel (granule position of the last page).
    pub samples: u64,
    pub serial: u32,
}

impl OggInfo {
    pub fn duration_ms(&self) -> u64 {
        (self.samples * 1000 + u64::from(self.sample_rate) / 2) / u64::from(self.sample_rate.max(1))
    }
}

/// Reads an Ogg Vorbis file's format and length; `None` if it is not one.
pub fn ogg_info(data: &[u8]) -> Option<OggInfo> {
    let all = pages(data);
    let first = all.first()?;
    let ident = data.get(first.body..first.body + 16)?;
    if ident[0] != 1 || &ident[1..7] != b"vorbis" {
        return None;
    }
    let last = all.last()?;
    Some(OggInfo {
        channels: ident[11],
        sample_rate: u32::from_le_bytes([ident[12], ident[13], ident[14], ident[15]]),
        samples: last.granule,
        serial: first.serial,
    })
}

/// Length and format of demo audio `audio` (read from its 160 kbit/s file once).
pub fn demo_info(audio: usize) -> Option<OggInfo> {
    static INFO: OnceLock<Vec<Option<OggInfo>>> = OnceLock::new();
    let all = INFO.get_or_init(|| DEMO_AUDIO.iter().map(|a| ogg_info(a.files[1])).collect());
    all.get(audio).copied().flatten()
}

/// Spotify's 167-byte header page for `ogg` (spec §10.6), with a valid Ogg CRC.
pub fn spotify_header(ogg: &[u8], gain: &ReplayGain) -> [u8; HEADER_LEN] {
    let info = ogg_info(ogg);
    let all = pages(ogg);
    let samples = info.map_or(0, |i| i.samples);
    let vorbis_serial = info.map_or(0, |i| i.serial);
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(b"OggS");
    h[4] = 0; // version
    h[5] = 0x06; // beginning and end of its own one-page logical stream
                 // granule (6..14) = 0
    h[14..18].copy_from_slice(&(vorbis_serial ^ 0x8000_0000).to_le_bytes());
    // page sequence (18..22) = 0; CRC (22..26) filled last
    h[26] = 1; // one segment
    h[27] = 139; // packet length: bytes 28..167
    h[28] = 0x81;
    // Seek table: total samples, total bytes, offset index, 100 lookup bytes.
    h[29..31].copy_from_slice(&110u16.to_le_bytes());
    h[31] = 0;
    h[32..36].copy_from_slice(&u32::try_from(samples).unwrap_or(u32::MAX).to_le_bytes());
    h[36..40].copy_from_slice(&u32::try_from(ogg.len()).unwrap_or(u32::MAX).to_le_bytes());
    h[40] = 0;
    // Lookup table (an approximation; librespot ignores it): for each percent of the duration,
    // the byte position of the first page reaching it, scaled to 0..=255.
    let total = ogg.len().max(1) as u64;
    for (pct, slot) in (0u64..).zip(h[41..141].iter_mut()) {
        let target = samples * pct / 100;
        let offset = all
            .iter()
            .find(|p| p.granule != u64::MAX && p.granule >= target && p.granule > 0)
            .map_or(0, |p| p.offset as u64);
        *slot = u8::try_from(offset * 255 / total).unwrap_or(u8::MAX);
    }
    // Replay gain.
    h[141..143].copy_from_slice(&17u16.to_le_bytes());
    h[143] = 1;
    let values = [
        gain.track_gain_db,
        gain.track_peak,
        gain.album_gain_db,
        gain.album_peak,
    ];
    for (i, v) in values.iter().enumerate() {
        let at = REPLAY_GAIN_OFFSET + 4 * i;
        h[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    // The 0xffffffff segment.
    h[160..162].copy_from_slice(&5u16.to_le_bytes());
    h[162] = 2;
    h[163..167].copy_from_slice(&(-1i32).to_le_bytes());
    let crc = ogg_crc(&h);
    h[22..26].copy_from_slice(&crc.to_le_bytes());
    h
}

/// XORs `data` with the AES-128-CTR keystream starting at byte `offset` of the file.
pub fn apply_keystream(key: &[u8; 16], offset: u64, data: &mut [u8]) {
    let mut cipher = Aes128Ctr::new(key.into(), (&AUDIO_IV).into());
    cipher.seek(offset);
    cipher.apply_keystream(data);
}

/// The audio key of (demo audio, format): derived, so synthetic tracks share it.
pub fn audio_key(audio: usize, format: usize) -> [u8; 16] {
    let id = super::ids::file_id("audio-key", &format!("{audio}/{format}"));
    let mut key = [0u8; 16];
    key.copy_from_slice(&id[..16]);
    key
}

/// The served files, built on first use (encrypting ~4 MB takes a moment in debug builds, and
/// start-up must stay fast).
pub struct Media {
    encrypted: Vec<[OnceLock<Arc<[u8]>>; 3]>,
    plain: Vec<[OnceLock<Arc<[u8]>>; 3]>,
}

impl Default for Media {
    fn default() -> Self {
        Media {
            encrypted: DEMO_AUDIO.iter().map(|_| Default::default()).collect(),
            plain: DEMO_AUDIO.iter().map(|_| Default::default()).collect(),
        }
    }
}

impl Media {
    /// Header + Ogg for (audio, format), AES-CTR encrypted with [`audio_key`] unless `plain`.
    /// `None` for an index out of range.
    pub fn served(&self, audio: usize, format: usize, plain: bool) -> Option<Arc<[u8]>> {
        let source = DEMO_AUDIO.get(audio)?;
        let ogg = *source.files.get(format)?;
        let slots = if plain { &self.plain } else { &self.encrypted };
        let slot = slots.get(audio)?.get(format)?;
        Some(Arc::clone(slot.get_or_init(|| {
            let mut file = Vec::with_capacity(HEADER_LEN + ogg.len());
            file.extend_from_slice(&spotify_header(ogg, &source.gain));
            file.extend_from_slice(ogg);
            if !plain {
                apply_keystream(&audio_key(audio, format), 0, &mut file);
            }
            file.into()
        })))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aes::cipher::{BlockEncrypt, KeyInit};

    #[test]
    fn crc_known_answer() {
        // CRC-32/POSIX (check 0x765e7680) without its final XOR: the Ogg variant.
        assert_eq!(ogg_crc(b"123456789"), 0x89a1_897f);
        assert_eq!(ogg_crc(b""), 0);
    }

    #[test]
    fn every_embedded_page_has_a_valid_crc() {
        // oggenc wrote these pages; agreeing with it checks our CRC independently.
        for audio in &DEMO_AUDIO {
            for file in audio.files {
                let all = pages(file);
                assert!(all.len() > 3);
                assert_eq!(all.iter().map(|p| p.len).sum::<usize>(), file.len());
                for p in &all {
                    assert!(page_crc_ok(file, p), "page at {}", p.offset);
                }
            }
        }
    }

    #[test]
    fn demo_files_are_44k1_stereo_and_formats_agree_on_length() {
        for audio in &DEMO_AUDIO {
            let infos: Vec<OggInfo> = audio.files.iter().map(|f| ogg_info(f).unwrap()).collect();
            for i in &infos {
                assert_eq!((i.channels, i.sample_rate), (2, 44_100));
                assert_eq!(i.samples, infos[0].samples);
            }
            let ms = infos[0].duration_ms();
            assert!((8_000..=15_000).contains(&ms), "{ms}");
            assert_eq!(ms % 1000, 0, "the script renders whole seconds");
        }
    }

    /// Decodes an Ogg Vorbis file to interleaved f32 with symphonia.
    fn decode(ogg: &'static [u8]) -> (Vec<f32>, usize) {
        use symphonia::core::audio::SampleBuffer;
        use symphonia::core::codecs::DecoderOptions;
        use symphonia::core::formats::FormatOptions;
        use symphonia::core::io::MediaSourceStream;
        use symphonia::core::meta::MetadataOptions;
        use symphonia::core::probe::Hint;
        let mss = MediaSourceStream::new(Box::new(std::io::Cursor::new(ogg)), Default::default());
        let mut hint = Hint::new();
        hint.with_extension("ogg");
        let probed = symphonia::default::get_probe()
            .format(
                &hint,
                mss,
                &FormatOptions {
                    enable_gapless: true,
                    ..Default::default()
                },
                &MetadataOptions::default(),
            )
            .unwrap();
        let mut format = probed.format;
        let track = format.default_track().unwrap().clone();
        let mut decoder = symphonia::default::get_codecs()
            .make(&track.codec_params, &DecoderOptions::default())
            .unwrap();
        let channels = track.codec_params.channels.unwrap().count();
        let mut out = Vec::new();
        while let Ok(packet) = format.next_packet() {
            let decoded = decoder.decode(&packet).unwrap();
            let mut buf = SampleBuffer::<f32>::new(decoded.capacity() as u64, *decoded.spec());
            buf.copy_interleaved_ref(decoded);
            out.extend_from_slice(buf.samples());
        }
        (out, channels)
    }

    /// Power of one frequency in a mono signal (Goertzel).
    fn goertzel(samples: &[f32], hz: f32) -> f32 {
        let w = 2.0 * std::f32::consts::PI * hz / SAMPLE_RATE as f32;
        let c = 2.0 * w.cos();
        let (mut s1, mut s2) = (0.0f32, 0.0f32);
        for &x in samples {
            let s0 = x + c * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        s1 * s1 + s2 * s2 - c * s1 * s2
    }

    fn rms(samples: &[f32]) -> f32 {
        (samples.iter().map(|x| x * x).sum::<f32>() / samples.len().max(1) as f32).sqrt()
    }

    #[test]
    fn each_recording_is_recognisable_by_its_fundamental_and_never_silent() {
        for (i, audio) in DEMO_AUDIO.iter().enumerate() {
            for format in [0, 2] {
                let (pcm, channels) = decode(audio.files[format]);
                assert_eq!(channels, 2);
                let frames = pcm.len() / 2;
                let info = ogg_info(audio.files[format]).unwrap();
                assert_eq!(frames as u64, info.samples, "recording {i}");
                let left: Vec<f32> = pcm.iter().step_by(2).copied().collect();
                let window = &left[..2 * SAMPLE_RATE as usize];
                let own = goertzel(window, audio.fundamental_hz);
                for other in DEMO_AUDIO
                    .iter()
                    .filter(|o| o.fundamental_hz != audio.fundamental_hz)
                {
                    let theirs = goertzel(window, other.fundamental_hz);
                    assert!(
                        own > 5.0 * theirs,
                        "recording {i}: {own} vs {theirs} at {}",
                        other.fundamental_hz
                    );
                }
                assert!(own > 2.0 * goertzel(window, 2.0 * audio.fundamental_hz));
                let edge = SAMPLE_RATE as usize / 20;
                assert!(rms(&left[..edge]) > 0.1, "recording {i} starts silent");
                assert!(
                    rms(&left[left.len() - edge..]) > 0.1,
                    "recording {i} ends silent"
                );
            }
        }
    }

    #[test]
    fn header_layout() {
        let audio = &DEMO_AUDIO[2];
        let ogg = audio.files[1];
        let h = spotify_header(ogg, &audio.gain);
        let page = page_at(&h, 0).unwrap();
        assert_eq!(page.len, HEADER_LEN);
        assert_eq!(page.body, 28);
        assert!(page_crc_ok(&h, &page));
        let mut broken = h;
        broken[150] ^= 1;
        assert!(!page_crc_ok(&broken, &page));
        assert_ne!(page.serial, ogg_info(ogg).unwrap().serial);
        assert_eq!(h[27], 139);
        assert_eq!(h[28], 0x81);
        assert_eq!(u16::from_le_bytes([h[29], h[30]]), 110);
        assert_eq!(h[31], 0);
        let samples = u32::from_le_bytes(h[32..36].try_into().unwrap());
        assert_eq!(u64::from(samples), ogg_info(ogg).unwrap().samples);
        let bytes = u32::from_le_bytes(h[36..40].try_into().unwrap());
        assert_eq!(bytes as usize, ogg.len());
        assert!(h[41..141].windows(2).all(|w| w[0] <= w[1]), "monotonic");
        assert_eq!(u16::from_le_bytes([h[141], h[142]]), 17);
        assert_eq!(h[143], 1);
        let f = |at: usize| f32::from_le_bytes(h[at..at + 4].try_into().unwrap());
        assert_eq!(f(144), audio.gain.track_gain_db);
        assert_eq!(f(148), audio.gain.track_peak);
        assert_eq!(f(152), audio.gain.album_gain_db);
        assert_eq!(f(156), audio.gain.album_peak);
        assert_eq!(u16::from_le_bytes([h[160], h[161]]), 5);
        assert_eq!(h[162], 2);
        assert_eq!(&h[163..167], &[0xff; 4]);
    }

    #[test]
    fn gains_are_realistic_and_distinct() {
        for (i, a) in DEMO_AUDIO.iter().enumerate() {
            assert!((-8.0..=3.0).contains(&a.gain.track_gain_db));
            assert!((0.5..=1.0).contains(&a.gain.track_peak));
            for b in &DEMO_AUDIO[i + 1..] {
                assert_ne!(a.gain.track_gain_db, b.gain.track_gain_db);
                assert_ne!(a.fundamental_hz, b.fundamental_hz);
            }
        }
    }

    /// AES-128-CTR written out by hand from the block cipher: counter = IV + ⌊p/16⌋.
    fn reference_ctr(key: &[u8; 16], offset: u64, data: &[u8]) -> Vec<u8> {
        let cipher = aes::Aes128::new(key.into());
        let iv = u128::from_be_bytes(AUDIO_IV);
        data.iter()
            .enumerate()
            .map(|(i, b)| {
                let p = offset + i as u64;
                let counter = iv.wrapping_add(u128::from(p / 16));
                let mut block = counter.to_be_bytes().into();
                cipher.encrypt_block(&mut block);
                b ^ block[(p % 16) as usize]
            })
            .collect()
    }

    #[test]
    fn served_file_decrypts_at_arbitrary_offsets() {
        let media = Media::default();
        let served = media.served(3, 0, false).unwrap();
        let key = audio_key(3, 0);
        let ogg = DEMO_AUDIO[3].files[0];
        assert_eq!(served.len(), HEADER_LEN + ogg.len());
        for (start, len) in [(0, 200), (5, 17), (166, 3), (167, 64), (4099, 333)] {
            let plain = reference_ctr(&key, start as u64, &served[start..start + len]);
            let mut expected = spotify_header(ogg, &DEMO_AUDIO[3].gain).to_vec();
            expected.extend_from_slice(ogg);
            assert_eq!(plain, &expected[start..start + len], "at {start}");
        }
        // The seekable keystream agrees with the reference at an odd offset.
        let mut chunk = served[1000..1100].to_vec();
        apply_keystream(&key, 1000, &mut chunk);
        assert_eq!(&chunk[..], &ogg[1000 - HEADER_LEN..1100 - HEADER_LEN]);
        // The plain variant is the header and the file as is.
        let plain = media.served(3, 0, true).unwrap();
        assert_eq!(&plain[HEADER_LEN..], ogg);
        assert!(media.served(8, 0, false).is_none());
        assert!(media.served(0, 3, false).is_none());
    }

    #[test]
    fn keystream_at_a_far_offset_matches_the_reference() {
        let key = [7u8; 16];
        let offset = (1u64 << 40) + 13;
        let mut data = [0u8; 40];
        apply_keystream(&key, offset, &mut data);
        assert_eq!(data.to_vec(), reference_ctr(&key, offset, &[0u8; 40]));
    }
}
