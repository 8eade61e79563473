//! The response helpers every HTTP service of the simulator shares: the Web API's JSON error
//! shape, protobuf bodies, a refused request as a value ([`HttpErr`]), and query-component
//! percent-decoding. A leaf: depends on axum, protobuf and serde_json only.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// `{"error": {"status": N, "message": "…"}}` (the Web API's error shape).
pub(crate) fn json_error(status: StatusCode, message: &str) -> Response {
    let body = json!({ "error": { "status": status.as_u16(), "message": message } });
    (status, Json(body)).into_response()
}

/// A protobuf body with `Content-Type: application/x-protobuf`.
pub(crate) fn protobuf_response(status: StatusCode, message: &impl protobuf::Message) -> Response {
    match message.write_to_bytes() {
        Ok(bytes) => protobuf_bytes(status, bytes),
        Err(e) => {
            tracing::warn!(error = %e, "simulator could not encode a protobuf response");
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot encode the response",
            )
        }
    }
}

/// Already-encoded protobuf bytes.
pub(crate) fn protobuf_bytes(status: StatusCode, bytes: Vec<u8>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        bytes,
    )
        .into_response()
}

/// Decodes `%XX` and `+` in a query component; `None` for broken escapes or non-UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// A refused HTTP request: status and message (answered as `{"error": {status, message}}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpErr(pub StatusCode, pub String);

impl HttpErr {
    pub(crate) fn bad(message: &str) -> HttpErr {
        HttpErr(StatusCode::BAD_REQUEST, message.to_owned())
    }
}

impl IntoResponse for HttpErr {
    fn into_response(self) -> Response {
        json_error(self.0, &self.1)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c").as_deref(), Some("a b c"));
        assert_eq!(percent_decode("%7"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(percent_decode("%C3%A9").as_deref(), Some("é"));
    }
}
