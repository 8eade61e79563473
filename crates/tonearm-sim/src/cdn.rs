//! The simulator's audio CDN (spec §10.3): `GET /audio/{40 hex}?__token__=exp=<unix>~hmac=<hex>`
//! serves the encrypted file (Spotify header + Ogg, see `media`) with `Range: bytes=s-e`
//! (inclusive), `bytes=s-` and `bytes=-n` → 206 + `Content-Range`, a range starting past the end
//! → 416, no Range → 200 with the whole file; a missing, forged or expired token → 403. The URLs
//! are signed here (HMAC-SHA1 with a per-run secret) for storage-resolve. CDN faults: 503s,
//! 429s with Retry-After, bodies cut off halfway (connection closed), bodies trickling 16 KiB at
//! a time, and the runtime `StallCdn` fault (headers, then no body byte until the stall ends).
//! Depends on no client module.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use http_body::{Frame, SizeHint};
use sha1::Sha1;

use super::ids::{self, FileId};
use super::state::{Counters, Shared};
use crate::app::App;
use crate::respond::{json_error, percent_decode};
use crate::util::lock;

/// Bytes between two pauses of a slow body (and the chunk size of streamed bodies).
const CHUNK: usize = 16 * 1024;
/// Pause before a cut-short body fails, so the bytes before the cut reach the client.
const FLUSH_PAUSE: Duration = Duration::from_millis(20);

fn signature(shared: &Shared, file_hex: &str, exp: u64) -> Option<Hmac<Sha1>> {
    let mut mac = Hmac::<Sha1>::new_from_slice(&shared.cdn_secret).ok()?;
    mac.update(file_hex.as_bytes());
    mac.update(b":");
    mac.update(exp.to_string().as_bytes());
    Some(mac)
}

/// A CDN URL for `file_id` that expires at unix time `exp`.
pub(crate) fn signed_url(shared: &Shared, file_id: &FileId, exp: u64) -> String {
    let file_hex = hex::encode(file_id);
    let hmac = signature(shared, &file_hex, exp)
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default();
    format!(
        "{}/audio/{file_hex}?__token__=exp={exp}~hmac={hmac}",
        shared.behaviour.http_base
    )
}

/// Why a token is refused.
#[derive(Debug, PartialEq, Eq)]
enum TokenError {
    Missing,
    Forged,
    Expired,
}

fn check_token(shared: &Shared, file_hex: &str, query: Option<&str>) -> Result<(), TokenError> {
    let token = query
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "__token__")
        .and_then(|(_, v)| percent_decode(v))
        .ok_or(TokenError::Missing)?;
    let mut exp = None;
    let mut hmac = None;
    for part in token.split('~') {
        match part.split_once('=') {
            Some(("exp", v)) => exp = v.parse::<u64>().ok(),
            Some(("hmac", v)) => hmac = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(exp), Some(hmac)) = (exp, hmac) else {
        return Err(TokenError::Forged);
    };
    let mac = signature(shared, file_hex, exp).ok_or(TokenError::Forged)?;
    mac.verify_slice(&hmac).map_err(|_| TokenError::Forged)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if exp <= now {
        return Err(TokenError::Expired);
    }
    Ok(())
}

/// Why a Range header cannot be served.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RangeError {
    /// Not `bytes=s-e`, `bytes=s-` or `bytes=-n` (or s > e, or several ranges).
    Malformed,
    /// Starts at or past the end of the file.
    Unsatisfiable,
}

/// Parses a single byte range against a file of `total` bytes → inclusive (start, end).
pub(crate) fn parse_range(value: &str, total: u64) -> Result<(u64, u64), RangeError> {
    let spec = value
        .trim()
        .strip_prefix("bytes=")
        .ok_or(RangeError::Malformed)?
        .trim();
    if spec.contains(',') {
        return Err(RangeError::Malformed);
    }
    let (start, end) = spec.split_once('-').ok_or(RangeError::Malformed)?;
    let number = |s: &str| -> Result<u64, RangeError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RangeError::Malformed);
        }
        s.parse::<u64>().map_err(|_| RangeError::Malformed)
    };
    if start.is_empty() {
        let n = number(end)?;
        if n == 0 || total == 0 {
            return Err(RangeError::Unsatisfiable);
        }
        return Ok((total.saturating_sub(n), total - 1));
    }
    let start = number(start)?;
    let end = if end.is_empty() {
        None
    } else {
        Some(number(end)?)
    };
    if end.is_some_and(|e| e < start) {
        return Err(RangeError::Malformed);
    }
    if start >= total {
        return Err(RangeError::Unsatisfiable);
    }
    Ok((start, end.map_or(total - 1, |e| e.min(total - 1))))
}

/// A body that can pause every [`CHUNK`] bytes and can stop early with an error (which makes
/// the server drop the connection before the promised length).
struct CdnBody {
    data: Arc<[u8]>,
    pos: usize,
    end: usize,
    stop: usize,
    pause: Option<Duration>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Whether the pause before cutting the body short (so the server flushes what it has
    /// already written) is over.
    flushed: bool,
    shared: Arc<Shared>,
}

impl http_body::Body for CdnBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        if let Some(sleep) = this.sleep.as_mut() {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.sleep = None;
        }
        if this.pos >= this.stop {
            if this.stop < this.end {
                if !this.flushed {
                    // Pending makes the server flush the bytes it holds; then fail the body.
                    this.flushed = true;
                    let mut sleep = Box::pin(tokio::time::sleep(FLUSH_PAUSE));
                    if sleep.as_mut().poll(cx).is_pending() {
                        this.sleep = Some(sleep);
                        return Poll::Pending;
                    }
                }
                this.end = this.stop;
                return Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "body cut short (injected fault)",
                ))));
            }
            return Poll::Ready(None);
        }
        let n = CHUNK.min(this.stop - this.pos);
        let chunk = this
            .data
            .get(this.pos..this.pos + n)
            .map(Bytes::copy_from_slice)
            .unwrap_or_default();
        this.pos += n;
        this.shared
            .counters
            .cdn_bytes
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        if let Some(pause) = this.pause {
            if this.pos < this.stop {
                this.sleep = Some(Box::pin(tokio::time::sleep(pause)));
            }
        }
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.pos >= self.end
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact((self.end - self.pos) as u64)
    }
}

/// `GET /audio/{file}`.
pub(crate) async fn serve(
    State(app): State<App>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let shared = &app.shared;
    Counters::bump(&shared.counters.cdn_requests);
    if shared.take_fault(|f| &mut f.cdn_5xx) {
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "CDN unavailable (injected fault)",
        );
    }
    if shared.take_fault(|f| &mut f.cdn_429) {
        let secs = lock(&shared.http_faults).retry_after_secs;
        let mut response = json_error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate limited (injected fault)",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return response;
    }
    let Some(file_id) = ids::from_hex::<20>(&file) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "the file id must be 40 hexadecimal digits",
        );
    };
    let file_hex = hex::encode(file_id);
    match check_token(shared, &file_hex, query.as_deref()) {
        Ok(()) => {}
        Err(TokenError::Missing) => return json_error(StatusCode::FORBIDDEN, "missing __token__"),
        Err(TokenError::Forged) => return json_error(StatusCode::FORBIDDEN, "invalid token"),
        Err(TokenError::Expired) => return json_error(StatusCode::FORBIDDEN, "URL expired"),
    }
    let Some(file_ref) = shared.catalog.file(&file_id) else {
        return json_error(StatusCode::NOT_FOUND, "no such file");
    };
    let Some(data) = shared
        .media
        .served(file_ref.audio, file_ref.format, file_ref.plain)
    else {
        return json_error(StatusCode::NOT_FOUND, "no such file");
    };
    let total = data.len() as u64;
    let range = match headers.get(header::RANGE) {
        None => None,
        Some(value) => {
            let parsed = value
                .to_str()
                .map_err(|_| RangeError::Malformed)
                .and_then(|v| parse_range(v, total));
            match parsed {
                Ok(range) => Some(range),
                Err(RangeError::Malformed) => {
                    return json_error(
                        StatusCode::BAD_REQUEST,
                        "unsupported Range (expected one bytes=s-e, bytes=s- or bytes=-n)",
                    )
                }
                Err(RangeError::Unsatisfiable) => {
                    let mut response =
                        json_error(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable");
                    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{total}")) {
                        response.headers_mut().insert(header::CONTENT_RANGE, v);
                    }
                    return response;
                }
            }
        }
    };
    let (start, end) = range.unwrap_or((0, total.saturating_sub(1)));
    // Both fit in usize: they index `data`.
    let (start, end_exclusive) = (start as usize, (end as usize + 1).min(data.len()));
    let faults = lock(&shared.http_faults).clone();
    let truncate = shared.take_fault(|f| &mut f.cdn_truncate);
    let body = if truncate || faults.cdn_slow.is_some() {
        let stop = if truncate {
            start + (end_exclusive - start) / 2
        } else {
            end_exclusive
        };
        Body::new(CdnBody {
            data,
            pos: start,
            end: end_exclusive,
            stop,
            pause: faults.cdn_slow,
            sleep: None,
            flushed: false,
            shared: Arc::clone(shared),
        })
    } else {
        let bytes = Bytes::copy_from_slice(data.get(start..end_exclusive).unwrap_or_default());
        shared
            .counters
            .cdn_bytes
            .fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Body::from(bytes)
    };
    // `Fault::StallCdn`: the headers go out, the body waits.
    let body = super::faults::cdn_body(shared, body);
    let mut response = (
        if range.is_some() {
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        },
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::ACCEPT_RANGES, "bytes"),
        ],
        body,
    )
        .into_response();
    if range.is_some() {
        let content_range = format!("bytes {start}-{}/{total}", end_exclusive - 1);
        if let Ok(v) = HeaderValue::from_str(&content_range) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-65535", 100_000), Ok((0, 65535)));
        assert_eq!(parse_range("bytes=0-65535", 1000), Ok((0, 999)));
        assert_eq!(parse_range("bytes=10-", 1000), Ok((10, 999)));
        assert_eq!(parse_range("bytes=-10", 1000), Ok((990, 999)));
        assert_eq!(parse_range("bytes=-5000", 1000), Ok((0, 999)));
        assert_eq!(parse_range("bytes=999-999", 1000), Ok((999, 999)));
        assert_eq!(
            parse_range("bytes=1000-", 1000),
            Err(RangeError::Unsatisfiable)
        );
        assert_eq!(
            parse_range("bytes=-0", 1000),
            Err(RangeError::Unsatisfiable)
        );
        for bad in [
            "bytes=5-4",
            "bytes=a-b",
            "bytes=1-2,3-4",
            "items=0-1",
            "bytes=-",
            "bytes=+1-2",
            "bytes=99999999999999999999999-",
            "",
        ] {
            assert_eq!(parse_range(bad, 1000), Err(RangeError::Malformed), "{bad}");
        }
    }
}
