//! Spotify Connect commands as the dealer delivers them from the account's other devices (or a
//! hostile server): `connect::command::parse_command` on any JSON, the strict
//! `parse_context_strict` on any bytes, and the helpers that walk a parsed context. A panic is
//! a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tonearm::connect::command::{context_tracks, ids_of, parse_command, parse_context_strict};

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = parse_command(&v);
        // The same value as a command's payload, the shape the dealer wraps it in.
        let wrapped = serde_json::json!({"command": v});
        let _ = parse_command(&wrapped);
    }
    if let Ok(ctx) = parse_context_strict(data) {
        let tracks = context_tracks(&ctx);
        let _ = ids_of(&tracks);
    }
});
