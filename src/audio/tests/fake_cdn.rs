//! A fake CDN for the audio tests (compiled only for tests): an in-process server on
//! 127.0.0.1 (axum) that serves byte ranges and injects faults — wrong statuses, `429` with
//! `Retry-After`, range-ignoring `200`s, short or broken bodies, stalls, slow delivery — and
//! records the ranges asked for. Used by the fetch tests and the whole-pipeline test.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// What to do to one request.
#[derive(Debug, Clone)]
pub(crate) enum Fault {
    /// Serve it normally.
    None,
    /// Answer this status with an empty body.
    Status(u16),
    /// `429` with `Retry-After: <secs>`.
    RateLimit(u64),
    /// `200` with the whole file (a server ignoring `Range`).
    IgnoreRange,
    /// `206` without `Content-Range`.
    NoContentRange,
    /// `206` with the right headers but only the first n bytes, then a clean end of body.
    Short(usize),
    /// `206` declaring the full length, the first n bytes, then the connection breaks.
    Reset(usize),
    /// Wait this long before answering (then serve normally).
    Stall(Duration),
}

#[derive(Default)]
struct FileEntry {
    data: Arc<Vec<u8>>,
    faults: VecDeque<Fault>,
    always: Option<Fault>,
    /// Deliver bodies in pieces of this size with this delay between them.
    pacing: Option<(usize, Duration)>,
    /// Ranges asked for (inclusive ends, as sent).
    requests: Vec<(u64, u64)>,
}

#[derive(Default)]
struct CdnState {
    files: Mutex<HashMap<String, FileEntry>>,
}

pub(crate) struct FakeCdn {
    base: String,
    state: Arc<CdnState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeCdn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeCdn {
    pub(crate) async fn start() -> FakeCdn {
        let state = Arc::new(CdnState::default());
        let app = Router::new()
            .route("/audio/{name}", get(serve))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeCdn {
            base: format!("http://{addr}"),
            state,
            task,
        }
    }

    /// The URL of a file, with a token in the query like real CDN URLs.
    pub(crate) fn url(&self, name: &str) -> String {
        format!(
            "{}/audio/{name}?__token__=exp=9999999999~hmac=SECRETTOKEN",
            self.base
        )
    }

    pub(crate) fn add(&self, name: &str, data: Vec<u8>) {
        self.state.files.lock().unwrap().insert(
            name.to_string(),
            FileEntry {
                data: Arc::new(data),
                ..FileEntry::default()
            },
        );
    }

    /// Faults for the next requests to `name`, in order (one per request).
    pub(crate) fn push_faults(&self, name: &str, faults: impl IntoIterator<Item = Fault>) {
        let mut files = self.state.files.lock().unwrap();
        let f = files.get_mut(name).unwrap();
        f.faults.extend(faults);
    }

    /// A fault for every request once the queued ones are used up (`None`: serve normally).
    pub(crate) fn set_always(&self, name: &str, fault: Option<Fault>) {
        self.state
            .files
            .lock()
            .unwrap()
            .get_mut(name)
            .unwrap()
            .always = fault;
    }

    pub(crate) fn set_pacing(&self, name: &str, pacing: Option<(usize, Duration)>) {
        self.state
            .files
            .lock()
            .unwrap()
            .get_mut(name)
            .unwrap()
            .pacing = pacing;
    }

    pub(crate) fn requests(&self, name: &str) -> Vec<(u64, u64)> {
        self.state.files.lock().unwrap()[name].requests.clone()
    }
}

fn parse_range(headers: &HeaderMap, len: u64) -> Option<(u64, u64)> {
    let v = headers.get(header::RANGE)?.to_str().ok()?;
    let (s, e) = v.strip_prefix("bytes=")?.split_once('-')?;
    let s: u64 = s.parse().ok()?;
    let e: u64 = if e.is_empty() {
        len.checked_sub(1)?
    } else {
        e.parse().ok()?
    };
    Some((s, e))
}

fn paced_body(data: Vec<u8>, chunk: usize, delay: Duration, then_fail: bool) -> Body {
    let stream = futures_util::stream::unfold((data, 0usize), move |(data, at)| async move {
        if at >= data.len() {
            if then_fail && at != usize::MAX {
                // Let what was sent reach the client before the connection breaks.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Some((
                    Err(std::io::Error::other("injected connection reset")),
                    (data, usize::MAX),
                ));
            }
            return None;
        }
        if at > 0 && !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let end = (at + chunk.max(1)).min(data.len());
        let piece = Bytes::copy_from_slice(&data[at..end]);
        Some((Ok::<Bytes, std::io::Error>(piece), (data, end)))
    });
    Body::from_stream(stream)
}

async fn serve(
    State(state): State<Arc<CdnState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (data, fault, pacing, range) = {
        let mut files = state.files.lock().unwrap();
        let Some(f) = files.get_mut(&name) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let len = f.data.len() as u64;
        let range = parse_range(&headers, len);
        f.requests.push(range.unwrap_or((0, u64::MAX)));
        let fault = f
            .faults
            .pop_front()
            .or_else(|| f.always.clone())
            .unwrap_or(Fault::None);
        (f.data.clone(), fault, f.pacing, range)
    };
    let len = data.len() as u64;
    let mut fault = fault;
    if let Fault::Stall(d) = fault {
        tokio::time::sleep(d).await;
        fault = Fault::None;
    }
    match fault {
        Fault::Status(code) => {
            return StatusCode::from_u16(code)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                .into_response()
        }
        Fault::RateLimit(secs) => {
            let mut r = StatusCode::TOO_MANY_REQUESTS.into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            return r;
        }
        Fault::IgnoreRange => return (StatusCode::OK, data.to_vec()).into_response(),
        _ => {}
    }
    let Some((s, e)) = range else {
        return (StatusCode::OK, data.to_vec()).into_response();
    };
    if s >= len || e < s {
        let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
        r.headers_mut().insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!("bytes */{len}")).unwrap(),
        );
        return r;
    }
    let e = e.min(len - 1);
    let full = data[s as usize..=e as usize].to_vec();
    let (body, declared_len) = match fault {
        Fault::Short(n) => {
            let part = full[..n.min(full.len())].to_vec();
            // Streamed (chunked): the body simply ends early.
            (paced_body(part, 16 * 1024, Duration::ZERO, false), None)
        }
        Fault::Reset(n) => {
            let part = full[..n.min(full.len())].to_vec();
            (
                paced_body(part, 16 * 1024, Duration::ZERO, true),
                Some(full.len()),
            )
        }
        _ => match pacing {
            Some((chunk, delay)) => {
                let n = full.len();
                (paced_body(full, chunk, delay, false), Some(n))
            }
            None => {
                let n = full.len();
                (Body::from(full), Some(n))
            }
        },
    };
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::PARTIAL_CONTENT;
    if !matches!(fault, Fault::NoContentRange) {
        r.headers_mut().insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!("bytes {s}-{e}/{len}")).unwrap(),
        );
    }
    if let Some(n) = declared_len {
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    r
}

/// Deterministic pseudo-random bytes (xorshift), so tests need no RNG crate state.
pub(crate) fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
