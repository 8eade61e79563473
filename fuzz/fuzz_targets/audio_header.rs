//! The start of a decrypted audio file (`audio::header`): the Spotify header's normalisation
//! values, the stream classification, and `read_header` with the `Subfile` it returns read to
//! the end and seeked around — all on arbitrary bytes (a hostile CDN or a wrong key). A panic
//! is a crash; parsed normalisation values must be finite.
#![no_main]

use std::io::{Cursor, Read, Seek, SeekFrom};

use libfuzzer_sys::fuzz_target;
use tonearm::audio::header::{classify, parse_normalisation, read_header};

fuzz_target!(|data: &[u8]| {
    let n = parse_normalisation(data);
    assert!(n.track_gain_db.is_finite() && n.track_peak.is_finite());
    assert!(n.album_gain_db.is_finite() && n.album_peak.is_finite());
    let _ = classify(data);
    if let Ok((_, mut sub)) = read_header(Cursor::new(data)) {
        let mut out = Vec::new();
        let _ = sub.read_to_end(&mut out);
        assert!(out.len() <= data.len());
        for pos in [
            SeekFrom::Start(0),
            SeekFrom::End(0),
            SeekFrom::End(-1),
            SeekFrom::Current(-3),
            SeekFrom::Start(u64::MAX / 2),
            SeekFrom::End(i64::MIN / 2),
        ] {
            let _ = sub.seek(pos);
            let mut byte = [0u8; 1];
            let _ = sub.read(&mut byte);
        }
    }
});
