//! Property tests for the audio module: no input — bytes, ranges, samples, volumes — makes the
//! parsers, the decoder or the DSP panic, and the small data structures agree with naive models.

use std::io::{Cursor, Read, Seek, SeekFrom};

use proptest::prelude::*;

use crate::audio::decode::tests::fixture;
use crate::audio::decode::{Container, SymphoniaSource};
use crate::audio::header::{classify, parse_normalisation, read_header, Subfile};
use crate::audio::normalise::{Limiter, NormalisationConfig};
use crate::audio::pcm::PcmSource;

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn header_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = classify(&bytes);
        let d = parse_normalisation(&bytes);
        prop_assert!(d.track_gain_db.is_finite() && d.track_peak > 0.0);
        prop_assert!(d.album_gain_db.is_finite() && d.album_peak > 0.0);
        if let Ok((_, mut sub)) = read_header(Cursor::new(bytes.clone())) {
            let mut all = Vec::new();
            sub.read_to_end(&mut all).unwrap();
            prop_assert_eq!(all.len() as u64 + sub.offset(), bytes.len() as u64);
        }
    }

    #[test]
    fn subfile_seeks_match_a_model(
        len in 0usize..500,
        offset in 0u64..100,
        ops in proptest::collection::vec((0u8..3, -600i64..600), 1..30),
    ) {
        let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let offset = offset.min(len as u64);
        let mut sub = Subfile::new(Cursor::new(data.clone()), offset).unwrap();
        let sublen = len as i64 - offset as i64;
        let mut pos: i64 = 0;
        for (kind, d) in ops {
            let (from, r) = match kind {
                0 => (d.max(0), sub.seek(SeekFrom::Start(d.max(0) as u64))),
                1 => (pos + d, sub.seek(SeekFrom::Current(d))),
                _ => (sublen + d, sub.seek(SeekFrom::End(d))),
            };
            if from < 0 {
                prop_assert!(r.is_err());
            } else {
                prop_assert_eq!(r.unwrap(), from as u64);
                pos = from;
            }
            let mut b = [0u8; 7];
            let n = sub.read(&mut b).unwrap();
            let abs = (offset as i64 + pos) as usize;
            let expect = &data[abs.min(len)..(abs + 7).min(len)];
            prop_assert_eq!(&b[..n], expect);
            pos += n as i64;
        }
    }

    #[test]
    fn limiter_never_panics_and_bounds_finite_input(
        samples in proptest::collection::vec(-4.0f32..4.0, 0..2000),
        factor in 0.0f32..4.0,
    ) {
        let mut l = Limiter::new(&NormalisationConfig::default());
        let mut s = samples.clone();
        l.process(&mut s, factor);
        for v in &s {
            prop_assert!(v.is_finite());
            // Never louder than the input scaled by the factor.
            prop_assert!(v.abs() <= 4.0 * factor + 1e-3);
        }
        prop_assert!(l.gain_reduction_db() >= 0.0 && l.gain_reduction_db().is_finite());
    }

    #[test]
    fn volume_gain_is_monotonic(a in any::<u16>(), b in any::<u16>()) {
        let (lo, hi) = (a.min(b), a.max(b));
        prop_assert!(crate::audio::volume::gain(lo) <= crate::audio::volume::gain(hi));
    }
}

proptest! {
    // Each case decodes a whole (corrupted) file: keep the count small.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn corrupted_ogg_never_panics(
        // Mostly inside the audio pages (the packet-skipping path); corruption of the header pages
        // (the first ~10 KB here: the Vorbis setup header) is an open error.
        edits in proptest::collection::vec((12_000usize..65_000, any::<u8>()), 1..40),
        edge_edit in proptest::option::weighted(0.2, (0usize..75_000, any::<u8>())),
        cut in proptest::option::weighted(0.3, 0usize..80_000),
        seek_ms in 0u64..8000,
    ) {
        let mut bytes = fixture("vorbis_44k_stereo.ogg");
        for (at, v) in edits.into_iter().chain(edge_edit) {
            if at < bytes.len() {
                bytes[at] = v;
            }
        }
        if let Some(cut) = cut {
            bytes.truncate(cut);
        }
        let len = bytes.len() as u64;
        let opened = SymphoniaSource::new(Cursor::new(bytes), Container::Ogg, Some(len));
        if let Ok(mut s) = opened {
            let mut out = Vec::new();
            let mut reads = 0;
            while let Ok(n) = s.read(&mut out, 8192) {
                reads += 1;
                if n == 0 || reads > 200 {
                    break;
                }
                out.clear();
            }
            let _ = s.seek(seek_ms);
            let _ = s.read(&mut out, 100);
        }
    }
}
