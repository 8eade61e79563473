//! The dealer's JSON frames (spec §11.1 "Dealer websocket wire format"): a `message` with a
//! gzip'd protobuf payload, a `request` with a gzip'd JSON command, and the `pusher` frame that
//! opens every connection. Built here for the websocket (`dealer`) and the Connect hub
//! (`connect_state`), which pushes them; depends on flate2, base64 and serde_json only.

use std::io::Write;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    if enc.write_all(bytes).is_err() {
        return Vec::new();
    }
    enc.finish().unwrap_or_default()
}

/// A `type: "message"` frame with one gzip'd protobuf payload.
pub(crate) fn message_frame(uri: &str, payload: &[u8]) -> String {
    json!({
        "type": "message",
        "uri": uri,
        "method": "PUT",
        "headers": {
            "Content-Type": "application/x-protobuf",
            "Transfer-Encoding": "gzip",
        },
        "payloads": [B64.encode(gzip(payload))],
    })
    .to_string()
}

/// A `type: "request"` frame: `payload.compressed` = base64(gzip(JSON)).
pub(crate) fn request_frame(key: &str, ident: &str, body: &Value) -> String {
    let raw = body.to_string();
    json!({
        "type": "request",
        "key": key,
        "message_ident": ident,
        "headers": { "Transfer-Encoding": "gzip" },
        "payload": { "compressed": B64.encode(gzip(raw.as_bytes())) },
    })
    .to_string()
}

/// The first frame of every connection.
pub(crate) fn pusher_frame(conn_id: &str) -> String {
    json!({
        "type": "message",
        "uri": format!("hm://pusher/v1/connections/{conn_id}"),
        "method": "PUT",
        "headers": { "Spotify-Connection-Id": conn_id },
    })
    .to_string()
}
