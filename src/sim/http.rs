//! The simulator's HTTP server (axum): today apresolve (`GET /?type=accesspoint&type=dealer&
//! type=spclient`, spec §1), answering only the requested lists of `"host:port"` strings; later
//! work adds spclient, login5, client-token and the dealer on the same router. Bad queries get a
//! 400 with a JSON error. Depends on no client module.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

/// What apresolve hands out.
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    pub accesspoint: Vec<String>,
    pub dealer: Vec<String>,
    pub spclient: Vec<String>,
}

/// The HTTP routes.
pub(crate) fn router(endpoints: Arc<Endpoints>) -> Router {
    Router::new()
        .route("/", get(apresolve))
        .with_state(endpoints)
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

/// Decodes `%XX` and `+` in a query component; `None` for broken escapes or non-UTF-8.
fn percent_decode(s: &str) -> Option<String> {
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

/// `GET /?type=…` → `{"accesspoint":[…], …}` with just the requested keys.
async fn apresolve(State(endpoints): State<Arc<Endpoints>>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let mut body = Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(key), Some(value)) = (percent_decode(key), percent_decode(value)) else {
            return bad_request("query is not valid percent-encoded UTF-8".to_owned());
        };
        if key != "type" {
            continue;
        }
        let list = match value.as_str() {
            "accesspoint" => &endpoints.accesspoint,
            "dealer" => &endpoints.dealer,
            "spclient" => &endpoints.spclient,
            other => {
                let shown: String = other.chars().take(40).collect();
                return bad_request(format!("unknown type {shown:?}"));
            }
        };
        body.insert(value, Value::from(list.clone()));
    }
    if body.is_empty() {
        return bad_request("expected ?type=accesspoint|dealer|spclient".to_owned());
    }
    Json(Value::Object(body)).into_response()
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
