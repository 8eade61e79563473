//! Ranged streaming download of an audio file from the CDN (spec §10.3). [`StreamingFile::open`]
//! makes the first request (`bytes=0-65535`, which must answer `206` with a `Content-Range` that
//! gives the file size), then a tokio task downloads the rest in chunks (whole file, read-ahead
//! first: the chunk at the reader's position is always fetched next) into one buffer of the
//! file's size. The [`StreamingFile`] itself is a blocking `Read + Seek` for the player's decode
//! thread: a read waits (on a `Condvar`) until its bytes are there, for at most the stall
//! timeout; a seek into a missing region makes the task fetch there next.
//!
//! Resilience: 5xx, timeouts, connection errors and truncated bodies are retried with back-off
//! (a short body keeps what arrived and the rest is asked for again); a URL that keeps failing,
//! or answers 4xx / 200-instead-of-206 / a bad `Content-Range`, is dropped for the next one.
//! A `429` is obeyed whatever its `Retry-After` (bounded by [`crate::api::RETRY_AFTER_CAP`]):
//! the CDN host's [`RateGate`] — the one shared pause per host the Web API and spclient use —
//! is closed for that long, which announces waits over 10 s on
//! [`crate::api::rate_limit_notices`] like theirs, and every request to the host (this file's
//! and any other's) waits at the gate. The wait is never counted as a failure of the URL, and
//! it is cancellable: dropping the `open` future or the `StreamingFile` ends it. (A reader
//! blocked on missing bytes still gives up after the stall timeout, so the player holds the
//! track and asks again instead of freezing its decode thread for the whole pause.)
//!
//! Uses `reqwest`, `tokio` and the API layer's per-host [`RateGate`] only. CDN URLs carry
//! tokens in their query, so logs and errors show them without it.

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_RANGE, RANGE};
use reqwest::StatusCode;

use crate::api::RateGate;

/// Timeouts, sizes and retry policy of a download.
#[derive(Debug, Clone)]
pub struct FetchParams {
    /// Size of the first request (spec: 64 KiB, `bytes=0-65535`).
    pub first_request_bytes: u64,
    /// Size of each later request.
    pub chunk_size: u64,
    /// How long to wait for a response's headers (spec: 10 s for the first response).
    pub response_timeout: Duration,
    /// How long a response body may go without delivering bytes.
    pub body_timeout: Duration,
    /// Consecutive failures tolerated on one URL before moving to the next.
    pub max_retries: u32,
    /// First back-off delay; doubled per consecutive failure up to `retry_max_delay`.
    pub retry_base_delay: Duration,
    pub retry_max_delay: Duration,
    /// How long a `read` waits for missing bytes before failing.
    pub stall_timeout: Duration,
    /// Files announced larger than this are refused (memory safety against a bad header).
    pub max_file_size: u64,
}

impl Default for FetchParams {
    fn default() -> Self {
        FetchParams {
            first_request_bytes: 64 * 1024,
            chunk_size: 512 * 1024,
            response_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_retries: 5,
            retry_base_delay: Duration::from_millis(250),
            retry_max_delay: Duration::from_secs(4),
            stall_timeout: Duration::from_secs(30),
            max_file_size: 1 << 30,
        }
    }
}

/// Why a download could not start (or, as text, why it stopped).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("no CDN URLs to download the audio file from")]
    NoUrls,
    #[error("the CDN answered HTTP {status} for {url}")]
    Status { status: u16, url: String },
    #[error("the CDN at {url} ignored the range request (HTTP 200 instead of 206)")]
    NotPartial { url: String },
    #[error("the CDN at {url} sent a bad Content-Range: {detail}")]
    BadRange { url: String, detail: String },
    #[error("the CDN at {url} did not answer within {secs} s")]
    Timeout { url: String, secs: u64 },
    #[error("network error talking to {url}: {detail}")]
    Network { url: String, detail: String },
    #[error("the CDN at {url} is rate limiting (HTTP 429)")]
    RateLimited { url: String },
    #[error("the CDN at {url} sent a truncated body ({got} of {expected} bytes)")]
    Truncated {
        url: String,
        got: u64,
        expected: u64,
    },
    #[error("the audio file is too large ({size} bytes)")]
    TooLarge { size: u64 },
    #[error("all {tried} CDN URLs failed; the last: {last}")]
    AllUrlsFailed { tried: usize, last: Box<FetchError> },
}

impl FetchError {
    /// What to do about it: 4xx from every URL means the URLs are stale (resolve again),
    /// the rest is transient.
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            FetchError::AllUrlsFailed { last, .. } => last.kind(),
            FetchError::NoUrls | FetchError::TooLarge { .. } => crate::ErrorKind::Notify,
            _ => crate::ErrorKind::Retry,
        }
    }
}

/// A URL without its query (where CDN tokens live), for logs and errors.
fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            let _ = u.set_password(None);
            let _ = u.set_username("");
            u.to_string()
        }
        Err(_) => "<unparsable url>".to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Downloaded ranges

/// Sorted, non-overlapping, non-adjacent half-open byte ranges.
#[derive(Debug, Default, Clone)]
struct RangeSet {
    ranges: Vec<(u64, u64)>,
}

impl RangeSet {
    /// Adds `[start, end)`; returns how many bytes were new.
    fn insert(&mut self, start: u64, end: u64) -> u64 {
        if start >= end {
            return 0;
        }
        let before = self.total();
        let mut s = start;
        let mut e = end;
        let mut out = Vec::with_capacity(self.ranges.len() + 1);
        let mut placed = false;
        for &(a, b) in &self.ranges {
            if b < s {
                out.push((a, b));
            } else if a > e {
                if !placed {
                    out.push((s, e));
                    placed = true;
                }
                out.push((a, b));
            } else {
                s = s.min(a);
                e = e.max(b);
            }
        }
        if !placed {
            out.push((s, e));
        }
        self.ranges = out;
        self.total() - before
    }

    fn total(&self) -> u64 {
        self.ranges.iter().map(|(a, b)| b - a).sum()
    }

    /// The end of the range containing `pos`, if `pos` is downloaded.
    fn end_of_range_at(&self, pos: u64) -> Option<u64> {
        self.ranges
            .iter()
            .find(|&&(a, b)| a <= pos && pos < b)
            .map(|&(_, b)| b)
    }

    /// The first missing byte at or after `from` (below `size`) and where that gap ends.
    fn first_gap_from(&self, from: u64, size: u64) -> Option<(u64, u64)> {
        let mut p = from;
        for &(a, b) in &self.ranges {
            if b <= p {
                continue;
            }
            if a > p {
                return (p < size).then_some((p, a.min(size)));
            }
            p = b;
        }
        (p < size).then_some((p, size))
    }
}

// ---------------------------------------------------------------------------------------------
// Shared state between the reader and the download task

struct State {
    data: Vec<u8>,
    ranges: RangeSet,
    /// Set when the task gave up: every URL failed.
    failed: Option<String>,
}

struct Shared {
    size: u64,
    state: Mutex<State>,
    arrived: Condvar,
    downloaded: AtomicU64,
    /// Where the reader is (or wants to be): the task fetches from here first.
    reader_pos: AtomicU64,
    /// Bumped on every seek/blocked read so the task can notice the reader moved.
    reader_moved: AtomicU64,
    cancelled: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state inconsistent in a way that
        // matters (bytes and ranges are updated together); carry on.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores bytes received for `[offset, offset + bytes.len())`.
    fn store(&self, offset: u64, bytes: &[u8]) {
        let end = offset.saturating_add(bytes.len() as u64).min(self.size);
        if offset >= end {
            return;
        }
        let n = (end - offset) as usize;
        let mut st = self.lock();
        let (Ok(o), Ok(e)) = (usize::try_from(offset), usize::try_from(end)) else {
            return;
        };
        if let (Some(dst), Some(src)) = (st.data.get_mut(o..e), bytes.get(..n)) {
            dst.copy_from_slice(src);
            let added = st.ranges.insert(offset, end);
            self.downloaded.fetch_add(added, Ordering::Relaxed);
        }
        drop(st);
        self.arrived.notify_all();
    }

    fn fail(&self, message: String) {
        self.lock().failed = Some(message);
        self.arrived.notify_all();
    }
}

// ---------------------------------------------------------------------------------------------
// One HTTP attempt

/// How an attempt failed, and so what to do next.
enum Failure {
    /// Transient: back off and retry the same URL (counts towards `max_retries`).
    Retry(FetchError),
    /// `429` with a `Retry-After` (of any length): the host pauses that long, then retry.
    RetryAfter(Duration, FetchError),
    /// This URL will not work: go to the next.
    NextUrl(FetchError),
}

impl Failure {
    fn error(&self) -> &FetchError {
        match self {
            Failure::Retry(e) | Failure::RetryAfter(_, e) | Failure::NextUrl(e) => e,
        }
    }
}

/// A `206` response for `[start, end)` with the file's total size.
struct Partial {
    response: reqwest::Response,
    start: u64,
    end: u64,
    total: u64,
}

/// Parses `bytes <s>-<e>/<total>` into `(s, e_inclusive, total)`.
fn parse_content_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (s, e) = range.split_once('-')?;
    let s: u64 = s.trim().parse().ok()?;
    let e: u64 = e.trim().parse().ok()?;
    let total: u64 = total.trim().parse().ok()?;
    (s <= e && e < total).then_some((s, e, total))
}

/// The wait a `429` asks for: `Retry-After` (seconds), else `X-RateLimit-Next` or
/// `Fastly-RateLimit-Reset` (spec §10.3). A number above 10⁹ is read as a Unix time (Fastly's
/// reset header), a smaller one as seconds; the HTTP-date form is not used by CDNs and ignored.
/// At most [`crate::api::RETRY_AFTER_CAP`] (the bound every server-given wait gets).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let cap = crate::api::RETRY_AFTER_CAP.as_secs_f64();
    ["retry-after", "x-ratelimit-next", "fastly-ratelimit-reset"]
        .iter()
        .find_map(|name| {
            let v = headers.get(*name)?.to_str().ok()?;
            let n: f64 = v.trim().parse().ok()?;
            if !n.is_finite() || n < 0.0 {
                return None;
            }
            if n > 1e9 {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()?
                    .as_secs_f64();
                Some(Duration::from_secs_f64((n - now).clamp(0.0, cap)))
            } else {
                Some(Duration::from_secs_f64(n.min(cap)))
            }
        })
}

/// Sends `GET url` with `Range: bytes=start-(end-1)` and checks the answer is a usable `206`.
async fn request(
    client: &reqwest::Client,
    url: &str,
    start: u64,
    end: u64,
    params: &FetchParams,
) -> Result<Partial, Failure> {
    let shown = redact(url);
    // The host may be paused by a 429 (to this file or another): wait it out first.
    RateGate::for_url(url).wait().await;
    let send = client
        .get(url)
        .header(RANGE, format!("bytes={}-{}", start, end - 1))
        .send();
    let response = match tokio::time::timeout(params.response_timeout, send).await {
        Err(_) => {
            return Err(Failure::Retry(FetchError::Timeout {
                url: shown,
                secs: params.response_timeout.as_secs(),
            }))
        }
        Ok(Err(e)) => {
            let err = if e.is_timeout() {
                FetchError::Timeout {
                    url: shown,
                    secs: params.response_timeout.as_secs(),
                }
            } else {
                FetchError::Network {
                    url: shown,
                    detail: error_chain(&e),
                }
            };
            return Err(if e.is_builder() {
                Failure::NextUrl(err)
            } else {
                Failure::Retry(err)
            });
        }
        Ok(Ok(r)) => r,
    };
    let status = response.status();
    if status == StatusCode::PARTIAL_CONTENT {
        let Some(cr) = response
            .headers()
            .get(CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
        else {
            return Err(Failure::NextUrl(FetchError::BadRange {
                url: shown,
                detail: "missing".into(),
            }));
        };
        let Some((s, e, total)) = parse_content_range(cr) else {
            return Err(Failure::NextUrl(FetchError::BadRange {
                url: shown,
                detail: format!("unparsable {cr:?}"),
            }));
        };
        // `end > start` always; a shorter answer (the file ends earlier) is fine.
        if s != start || e > end - 1 {
            return Err(Failure::NextUrl(FetchError::BadRange {
                url: shown,
                detail: format!("asked for {}-{}, got {cr:?}", start, end - 1),
            }));
        }
        return Ok(Partial {
            response,
            start: s,
            end: e + 1,
            total,
        });
    }
    if status == StatusCode::OK {
        return Err(Failure::NextUrl(FetchError::NotPartial { url: shown }));
    }
    let err = FetchError::Status {
        status: status.as_u16(),
        url: shown.clone(),
    };
    if status == StatusCode::TOO_MANY_REQUESTS {
        let limited = FetchError::RateLimited { url: shown };
        return Err(match retry_after(response.headers()) {
            Some(d) => Failure::RetryAfter(d, limited),
            None => Failure::Retry(limited),
        });
    }
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        Err(Failure::Retry(err))
    } else {
        // 403 (expired token), 404, 410, 416, 3xx without redirect…: this URL is no good.
        Err(Failure::NextUrl(err))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    // reqwest includes the URL (with its token) in its messages: strip queries.
    strip_queries(&s)
}

fn strip_queries(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_query = false;
    for c in s.chars() {
        if in_query {
            if c.is_whitespace() || c == ')' {
                in_query = false;
                out.push(c);
            }
            continue;
        }
        if c == '?' {
            in_query = true;
            continue;
        }
        out.push(c);
    }
    out
}

/// What happened to a body being received.
enum BodyEnd {
    /// All of `[start, end)` arrived.
    Complete,
    /// The reader moved elsewhere: stopped early on purpose (what arrived is kept).
    Interrupted,
}

/// Streams a `206` body into the shared buffer. On failure, returns how many bytes arrived.
async fn receive(
    shared: &Shared,
    partial: Partial,
    url: &str,
    params: &FetchParams,
) -> Result<BodyEnd, (u64, Failure)> {
    let Partial {
        mut response,
        start,
        end,
        ..
    } = partial;
    let expected = end - start;
    let moved_at_start = shared.reader_moved.load(Ordering::Acquire);
    let mut at = start;
    loop {
        if shared.cancelled.load(Ordering::Relaxed) {
            return Ok(BodyEnd::Interrupted);
        }
        let chunk = match tokio::time::timeout(params.body_timeout, response.chunk()).await {
            Err(_) => {
                let e = FetchError::Timeout {
                    url: redact(url),
                    secs: params.body_timeout.as_secs(),
                };
                return Err((at - start, Failure::Retry(e)));
            }
            Ok(Err(e)) => {
                let e = FetchError::Network {
                    url: redact(url),
                    detail: error_chain(&e),
                };
                return Err((at - start, Failure::Retry(e)));
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(bytes))) => bytes,
        };
        let room = (end - at) as usize;
        let take = chunk.len().min(room);
        shared.store(at, &chunk[..take]);
        at += take as u64;
        if at >= end {
            return Ok(BodyEnd::Complete);
        }
        // The reader jumped to a gap this request will not fill: go there instead.
        if shared.reader_moved.load(Ordering::Acquire) != moved_at_start {
            let want = shared.reader_pos.load(Ordering::Acquire);
            let covered = (at..end).contains(&want);
            let have = shared.lock().ranges.end_of_range_at(want).is_some();
            if !covered && !have && want < shared.size {
                return Ok(BodyEnd::Interrupted);
            }
        }
    }
    if at >= end {
        return Ok(BodyEnd::Complete);
    }
    let e = FetchError::Truncated {
        url: redact(url),
        got: at - start,
        expected,
    };
    Err((at - start, Failure::Retry(e)))
}

/// Obeys a `429`'s `Retry-After` of `asked`: closes the host's gate for that long (announced
/// when long, as for the Web API) and waits at it. `in_a_row` (1-based) counts the 429s since
/// the last success: a CDN answering `Retry-After: 0` in a loop still gets the back-off.
async fn rate_limited(url: &str, asked: Duration, params: &FetchParams, in_a_row: u32) {
    let gate = RateGate::for_url(url);
    gate.limited(Some(asked.max(backoff(params, in_a_row))));
    gate.wait().await;
}

fn backoff(params: &FetchParams, failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    params
        .retry_base_delay
        .saturating_mul(factor)
        .min(params.retry_max_delay)
}

// ---------------------------------------------------------------------------------------------
// The streaming file

/// A CDN file being downloaded: a blocking `Read + Seek` over what has arrived.
pub struct StreamingFile {
    shared: Arc<Shared>,
    pos: u64,
    stall_timeout: Duration,
    task: tokio::task::AbortHandle,
}

impl fmt::Debug for StreamingFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamingFile")
            .field("size", &self.shared.size)
            .field("downloaded", &self.downloaded())
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

impl StreamingFile {
    /// Makes the first range request against `urls` in order (each with its retries) and, once
    /// one answers a usable `206`, returns the file while a background task downloads the rest.
    /// Must be called inside a tokio runtime (the task is spawned on it).
    pub async fn open(
        http: reqwest::Client,
        urls: Vec<String>,
        params: FetchParams,
    ) -> Result<StreamingFile, FetchError> {
        if urls.is_empty() {
            return Err(FetchError::NoUrls);
        }
        let first_len = params.first_request_bytes.max(1);
        let mut last: Option<FetchError> = None;
        for (idx, url) in urls.iter().enumerate() {
            let mut failures = 0u32;
            let mut limited = 0u32;
            loop {
                match request(&http, url, 0, first_len, &params).await {
                    Ok(partial) => {
                        if partial.total > params.max_file_size {
                            return Err(FetchError::TooLarge {
                                size: partial.total,
                            });
                        }
                        return Ok(Self::start(http, urls, idx, partial, params));
                    }
                    Err(f) => {
                        tracing::debug!(error = %f.error(), "first audio range request failed");
                        match f {
                            Failure::NextUrl(e) => {
                                last = Some(e);
                                break;
                            }
                            Failure::Retry(e) => {
                                failures += 1;
                                last = Some(e);
                                if failures >= params.max_retries {
                                    break;
                                }
                                tokio::time::sleep(backoff(&params, failures)).await;
                            }
                            Failure::RetryAfter(d, e) => {
                                // Not the URL's fault: waited out, whatever its length.
                                limited = limited.saturating_add(1);
                                tracing::debug!(error = %e, wait_s = d.as_secs(), "the CDN asked us to wait");
                                rate_limited(url, d, &params, limited).await;
                            }
                        }
                    }
                }
            }
        }
        let last = last.unwrap_or(FetchError::NoUrls);
        Err(if urls.len() == 1 {
            last
        } else {
            FetchError::AllUrlsFailed {
                tried: urls.len(),
                last: Box::new(last),
            }
        })
    }

    fn start(
        http: reqwest::Client,
        urls: Vec<String>,
        url_idx: usize,
        first: Partial,
        params: FetchParams,
    ) -> StreamingFile {
        let size = first.total;
        let shared = Arc::new(Shared {
            size,
            state: Mutex::new(State {
                data: vec![0u8; size as usize],
                ranges: RangeSet::default(),
                failed: None,
            }),
            arrived: Condvar::new(),
            downloaded: AtomicU64::new(0),
            reader_pos: AtomicU64::new(0),
            reader_moved: AtomicU64::new(0),
            cancelled: AtomicBool::new(false),
        });
        let task_shared = shared.clone();
        let stall_timeout = params.stall_timeout;
        let task = tokio::spawn(async move {
            download(task_shared, http, urls, url_idx, Some(first), params).await;
        })
        .abort_handle();
        StreamingFile {
            shared,
            pos: 0,
            stall_timeout,
            task,
        }
    }

    /// Bytes downloaded so far.
    pub fn downloaded(&self) -> u64 {
        self.shared.downloaded.load(Ordering::Relaxed)
    }

    /// The file's size (from the first response's `Content-Range`).
    pub fn size(&self) -> u64 {
        self.shared.size
    }

    pub fn is_complete(&self) -> bool {
        self.downloaded() >= self.shared.size
    }

    /// Why the download stopped for good, if it did.
    pub fn failure(&self) -> Option<String> {
        self.shared.lock().failed.clone()
    }

    /// Blocks until the whole file is downloaded (or `timeout` passes / the download fails).
    #[cfg(test)]
    pub(crate) fn wait_complete(&self, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        loop {
            if self.is_complete() {
                return Ok(());
            }
            if let Some(f) = &st.failed {
                return Err(io::Error::other(f.clone()));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the audio download did not finish in time",
                ));
            }
            st = self
                .shared
                .arrived
                .wait_timeout(st, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    fn note_reader_at(&self, pos: u64) {
        self.shared.reader_pos.store(pos, Ordering::Release);
        self.shared.reader_moved.fetch_add(1, Ordering::AcqRel);
    }
}

impl Read for StreamingFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let size = self.shared.size;
        if buf.is_empty() || self.pos >= size {
            return Ok(0);
        }
        let mut st = self.shared.lock();
        let mut waited_since: Option<Instant> = None;
        loop {
            if let Some(end) = st.ranges.end_of_range_at(self.pos) {
                let n = ((end - self.pos) as usize).min(buf.len());
                let from = self.pos as usize;
                let src = st.data.get(from..from + n).ok_or_else(|| {
                    io::Error::other("audio download buffer out of range (internal error)")
                })?;
                buf[..n].copy_from_slice(src);
                self.pos += n as u64;
                return Ok(n);
            }
            if let Some(f) = &st.failed {
                return Err(io::Error::other(format!(
                    "audio download failed at byte {} of {size}: {f}",
                    self.pos
                )));
            }
            let since = *waited_since.get_or_insert_with(|| {
                self.note_reader_at(self.pos);
                Instant::now()
            });
            let elapsed = since.elapsed();
            if elapsed >= self.stall_timeout {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "audio download stalled: no data at byte {} of {size} for {} s ({} bytes downloaded)",
                        self.pos,
                        self.stall_timeout.as_secs(),
                        self.downloaded()
                    ),
                ));
            }
            st = self
                .shared
                .arrived
                .wait_timeout(st, self.stall_timeout - elapsed)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

impl Seek for StreamingFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let size = self.shared.size;
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => size.checked_add_signed(d),
        }
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the audio file",
            )
        })?;
        if target != self.pos {
            self.pos = target;
            if target < size && self.shared.lock().ranges.end_of_range_at(target).is_none() {
                self.note_reader_at(target);
            } else {
                self.shared.reader_pos.store(target, Ordering::Release);
            }
        }
        Ok(target)
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        Ok(self.pos)
    }
}

impl Drop for StreamingFile {
    fn drop(&mut self) {
        self.shared.cancelled.store(true, Ordering::Relaxed);
        self.task.abort();
    }
}

/// The download task: finishes the first response, then fetches the gaps (the reader's first)
/// until the file is complete, every URL failed, or the file is dropped.
async fn download(
    shared: Arc<Shared>,
    client: reqwest::Client,
    urls: Vec<String>,
    mut url_idx: usize,
    first: Option<Partial>,
    params: FetchParams,
) {
    let mut failures = 0u32;
    let mut limited = 0u32;
    let mut pending_first = first;
    loop {
        if shared.cancelled.load(Ordering::Relaxed) {
            return;
        }
        let Some(url) = urls.get(url_idx) else {
            return;
        };
        let result = if let Some(partial) = pending_first.take() {
            receive(&shared, partial, url, &params).await
        } else {
            // The next gap: at the reader's position first, then from the start.
            let reader = shared.reader_pos.load(Ordering::Acquire);
            let gap = {
                let st = shared.lock();
                st.ranges
                    .first_gap_from(reader, shared.size)
                    .or_else(|| st.ranges.first_gap_from(0, shared.size))
            };
            let Some((start, gap_end)) = gap else {
                tracing::debug!(size = shared.size, "audio file downloaded");
                return;
            };
            let end = gap_end.min(start.saturating_add(params.chunk_size.max(1)));
            match request(&client, url, start, end, &params).await {
                Ok(p) if p.total != shared.size => Err((
                    0,
                    Failure::NextUrl(FetchError::BadRange {
                        url: redact(url),
                        detail: format!("file size changed from {} to {}", shared.size, p.total),
                    }),
                )),
                Ok(p) => receive(&shared, p, url, &params).await,
                Err(f) => Err((0, f)),
            }
        };
        match result {
            Ok(_) => {
                failures = 0;
                limited = 0;
            }
            Err((got, failure)) => {
                tracing::debug!(error = %failure.error(), got, "audio range request failed");
                if got > 0 && matches!(failure, Failure::Retry(_)) {
                    // Progress was made (a truncated or broken body): keep it and ask for the rest.
                    failures = 0;
                    continue;
                }
                if let Failure::RetryAfter(d, e) = failure {
                    // Not the URL's fault: waited out, whatever its length.
                    tracing::debug!(error = %e, wait_s = d.as_secs(), "the CDN asked us to wait");
                    limited = limited.saturating_add(1);
                    rate_limited(url, d, &params, limited).await;
                    continue;
                }
                let (next_url, delay, err) = match failure {
                    Failure::NextUrl(e) => (true, Duration::ZERO, e),
                    Failure::Retry(e) => {
                        failures += 1;
                        (
                            failures >= params.max_retries,
                            backoff(&params, failures),
                            e,
                        )
                    }
                    Failure::RetryAfter(d, e) => (false, d, e),
                };
                if next_url {
                    url_idx += 1;
                    failures = 0;
                    if url_idx >= urls.len() {
                        tracing::warn!(error = %err, "audio download failed: no CDN URL left");
                        shared.fail(if urls.len() == 1 {
                            err.to_string()
                        } else {
                            FetchError::AllUrlsFailed {
                                tried: urls.len(),
                                last: Box::new(err),
                            }
                            .to_string()
                        });
                        return;
                    }
                    tracing::info!(error = %err, "trying the next CDN URL");
                } else {
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
