//! Dealer websocket frames from the server (`connect::dealer::parse_frame`): JSON with base64
//! and optionally gzipped payloads, and the gzip reader on its own (bounded output). Whatever a
//! parsed message carries is also run through `connection_id` and `uri_matches`. A panic is a
//! crash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tonearm::connect::dealer::{connection_id, gunzip, parse_frame, uri_matches, Frame};

fuzz_target!(|data: &[u8]| {
    if let Ok(out) = gunzip(data) {
        assert!(out.len() <= 1 << 24, "gunzip must stay bounded");
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(Frame::Message(m)) = parse_frame(&text) {
        let _ = connection_id(&m);
        let _ = uri_matches("hm://connect-state/v1/", &m.uri);
        let _ = uri_matches(&m.uri, "hm://connect-state/v1/cluster");
    }
});
