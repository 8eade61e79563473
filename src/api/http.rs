//! Small HTTP helpers shared by the token services and spclient (protocol spec §13): the
//! `User-Agent`, the mapping of status codes to [`ApiError`], `Retry-After` parsing, the retry
//! policy with its back-off, the shared per-host rate-limit pause ([`RateGate`]: a 429 from a
//! host makes every request to that host wait, for a `Retry-After` of any length or, without
//! one, an exponential back-off; waits over [`MAX_RETRY_AFTER`] are announced on
//! [`rate_limit_notices`]), the `product=0&country=..&salt=..` query, and the platform facts
//! the client-token request describes.
//!
//! Internal to `api`. Must not depend on the session or any other service.

use crate::server_time::Later as _;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

// Tokio's clock, so that tests with paused time see pauses end.
use tokio::time::Instant;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use super::ApiError;

/// What we send as `User-Agent` (the `Spotify/<build> Linux/0` prefix is what Spotify expects).
pub fn user_agent() -> String {
    format!(
        "Spotify/124200290 Linux/0 (tonearm/{})",
        env!("CARGO_PKG_VERSION")
    )
}

/// Pauses longer than this are announced ([`rate_limit_notices`]): people should know why
/// nothing happens. (Every `Retry-After` is obeyed, whatever its length.)
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// A 429 without `Retry-After`: the first pause, doubled for each one in a row, up to
/// [`RATE_BACKOFF_MAX`].
pub const RATE_BACKOFF_FIRST: Duration = Duration::from_secs(1);
pub const RATE_BACKOFF_MAX: Duration = Duration::from_secs(60);

/// A long rate-limit pause, for the front ends to show ("Spotify asked us to wait 15 s").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitNotice {
    /// `scheme://host:port` of the service that asked.
    pub host: String,
    pub wait: Duration,
}

fn notices() -> &'static tokio::sync::broadcast::Sender<RateLimitNotice> {
    static TX: OnceLock<tokio::sync::broadcast::Sender<RateLimitNotice>> = OnceLock::new();
    TX.get_or_init(|| tokio::sync::broadcast::channel(16).0)
}

/// Long (over [`MAX_RETRY_AFTER`]) rate-limit pauses, from every host, as they start.
pub fn rate_limit_notices() -> tokio::sync::broadcast::Receiver<RateLimitNotice> {
    notices().subscribe()
}

#[derive(Debug, Default)]
struct GateState {
    until: Option<Instant>,
    /// 429s without `Retry-After` in a row (for the back-off).
    unhinted: u32,
}

/// One shared rate-limit pause per host: every client of the host (the Web API's, spclient's,
/// clones of either) waits on the same gate, so a 429 pauses them all instead of each
/// multiplying the load. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RateGate {
    host: String,
    state: Arc<Mutex<GateState>>,
}

impl RateGate {
    /// The gate of the host `url` is on (`scheme://host:port`); the same gate for every caller.
    pub fn for_url(url: &str) -> RateGate {
        static GATES: OnceLock<Mutex<HashMap<String, RateGate>>> = OnceLock::new();
        let host = host_of(url);
        let gates = GATES.get_or_init(Default::default);
        let mut gates = gates.lock().unwrap_or_else(|e| e.into_inner());
        gates
            .entry(host.clone())
            .or_insert_with(|| RateGate {
                host,
                state: Arc::default(),
            })
            .clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long the host's pause still lasts (`None`: not paused).
    pub fn remaining(&self) -> Option<Duration> {
        let until = self.lock().until?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// Waits until the host's pause (if any) is over; a pause extended meanwhile is waited too.
    pub async fn wait(&self) {
        while let Some(left) = self.remaining() {
            tokio::time::sleep(left).await;
        }
    }

    /// Records a 429: the host pauses for `retry_after` (any length) or, without one, for an
    /// exponential back-off; returns the pause. A pause already longer is kept.
    pub fn limited(&self, retry_after: Option<Duration>) -> Duration {
        let wait = {
            let mut s = self.lock();
            let wait = match retry_after {
                Some(d) => {
                    s.unhinted = 0;
                    d
                }
                None => {
                    s.unhinted = s.unhinted.saturating_add(1);
                    let doublings = s.unhinted.saturating_sub(1).min(16);
                    RATE_BACKOFF_FIRST
                        .saturating_mul(1 << doublings)
                        .min(RATE_BACKOFF_MAX)
                }
            };
            // `Retry-After` was bounded when parsed (server_time); still never overflow.
            let until = Instant::now().later_by(wait);
            s.until = Some(s.until.map_or(until, |u| u.max(until)));
            wait
        };
        if wait > MAX_RETRY_AFTER {
            tracing::warn!(host = %self.host, wait_s = wait.as_secs(), "rate limited by Spotify; waiting as asked");
            let _ = notices().send(RateLimitNotice {
                host: self.host.clone(),
                wait,
            });
        } else {
            tracing::debug!(host = %self.host, wait_ms = wait.as_millis() as u64, "rate limited; pausing the host");
        }
        wait
    }

    /// A request went through: the back-off for header-less 429s starts over.
    pub fn passed(&self) {
        self.lock().unhinted = 0;
    }
}

/// `scheme://host:port` of `url` (the whole string when it does not parse).
pub fn host_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}:{}",
            u.scheme(),
            u.host_str().unwrap_or_default(),
            u.port_or_known_default().unwrap_or(0)
        ),
        Err(_) => url.to_string(),
    }
}

/// How often and how patiently spclient requests are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (librespot: 10).
    pub max_tries: u32,
    /// Wait before the second attempt; doubles each time up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// One request's time limit.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_tries: 10,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// The largest `Retry-After` believed: longer ones count as this (every caller — the Web API,
/// spclient, the CDN fetcher — waits at most this long; the bound keeps the number sane
/// wherever it is shown or added).
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(24 * 3600);

/// `Retry-After` as seconds, at most [`RETRY_AFTER_CAP`] (the HTTP-date form is not used by
/// Spotify and is ignored; more digits than fit a `u64` count as the cap).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    crate::server_time::SecsBounds::new(Duration::ZERO, Duration::ZERO, RETRY_AFTER_CAP)
        .secs_text(v)
}

/// Maps a non-success status (other than 401 and 429, which callers handle) to an error.
pub fn status_error(status: StatusCode, url_path: &str) -> ApiError {
    match status.as_u16() {
        404 | 410 => ApiError::NotFound(url_path.to_string()),
        401 | 407 | 511 => ApiError::Unauthorized,
        429 => ApiError::RateLimited { retry_after: None },
        s if status.is_server_error() => ApiError::Unavailable(format!("HTTP {s} from {url_path}")),
        s => ApiError::Http {
            status: s,
            url_path: url_path.to_string(),
        },
    }
}

/// `product=0&country=<CC>&salt=<u32>` appended to `path` (country left out when unknown).
pub fn with_metrics(path: &str, country: Option<&str>) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut url = format!("{path}{sep}product=0");
    if let Some(c) = country.filter(|c| !c.is_empty()) {
        url.push_str("&country=");
        url.push_str(c);
    }
    url.push_str(&format!("&salt={}", rand::random::<u32>()));
    url
}

/// The path part of a URL (for error messages: never the query).
pub fn path_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .map(|u| u.path().to_string())
        .unwrap_or_else(|_| url.split('?').next().unwrap_or_default().to_string())
}

/// Facts for client-token's `NativeDesktopLinuxData`: (system name, kernel release, OS version,
/// hardware). Read from /proc and /etc/os-release when there, else plain defaults.
pub fn platform() -> (String, String, String, String) {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let release = read("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let version = read("/etc/os-release")
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    (
        "Linux".into(),
        release,
        version,
        std::env::consts::ARCH.into(),
    )
}

/// POSTs a protobuf body to a token service (login5, client-token) with `Accept:
/// application/x-protobuf`, our `User-Agent` and no `Content-Type` (as librespot), plus
/// `extra` headers; returns the body of a 2xx answer. No retries: the token loops decide.
pub async fn post_protobuf(
    http: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    extra: &[(&'static str, String)],
    timeout: Duration,
) -> Result<Vec<u8>, ApiError> {
    let mut req = http
        .post(url)
        .header(reqwest::header::ACCEPT, "application/x-protobuf")
        .header(reqwest::header::USER_AGENT, user_agent())
        .timeout(timeout)
        .body(body);
    for (name, value) in extra {
        req = req.header(*name, value.as_str());
    }
    let resp = req
        .send()
        .await
        .map_err(|e| super::error::network_error(&e))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(match status.as_u16() {
            429 => ApiError::RateLimited {
                retry_after: retry_after(resp.headers()),
            },
            _ => status_error(status, &path_of(url)),
        });
    }
    resp.bytes()
        .await
        .map(|b| b.to_vec())
        .map_err(|e| super::error::network_error(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_millis(250));
        assert_eq!(p.backoff(2), Duration::from_millis(500));
        assert_eq!(p.backoff(4), Duration::from_secs(2));
        assert_eq!(p.backoff(9), Duration::from_secs(4));
        assert_eq!(p.backoff(1000), Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_pauses_every_caller_of_the_host_for_any_retry_after() {
        let a = RateGate::for_url("http://gate-test.invalid:1/a?x=1");
        let b = RateGate::for_url("http://gate-test.invalid:1/b");
        let other = RateGate::for_url("http://gate-test.invalid:2/a");
        let mut notices = rate_limit_notices();
        assert_eq!(a.remaining(), None);
        assert_eq!(
            a.limited(Some(Duration::from_secs(15))),
            Duration::from_secs(15)
        );
        // The same host's other client waits too; another host does not.
        assert!(b.remaining().is_some_and(|d| d > Duration::from_secs(14)));
        assert_eq!(other.remaining(), None);
        // Over 10 s: announced with the wait.
        let n = notices.try_recv().expect("a notice");
        assert_eq!(n.wait, Duration::from_secs(15));
        assert_eq!(n.host, "http://gate-test.invalid:1");
        let t0 = tokio::time::Instant::now();
        b.wait().await;
        assert!(t0.elapsed() >= Duration::from_secs(15));
        assert_eq!(a.remaining(), None);
    }

    #[test]
    fn a_429_without_retry_after_backs_off_exponentially() {
        let g = RateGate::for_url("http://gate-backoff.invalid:1/");
        assert_eq!(g.limited(None), Duration::from_secs(1));
        assert_eq!(g.limited(None), Duration::from_secs(2));
        assert_eq!(g.limited(None), Duration::from_secs(4));
        g.passed();
        assert_eq!(g.limited(None), Duration::from_secs(1));
        for _ in 0..20 {
            g.limited(None);
        }
        assert_eq!(g.limited(None), RATE_BACKOFF_MAX);
    }

    #[test]
    fn statuses() {
        let s = |n| StatusCode::from_u16(n).expect("status");
        assert_eq!(status_error(s(404), "/a"), ApiError::NotFound("/a".into()));
        assert_eq!(status_error(s(410), "/a"), ApiError::NotFound("/a".into()));
        assert_eq!(status_error(s(511), "/a"), ApiError::Unauthorized);
        assert!(matches!(
            status_error(s(503), "/a"),
            ApiError::Unavailable(_)
        ));
        assert_eq!(
            status_error(s(403), "/a"),
            ApiError::Http {
                status: 403,
                url_path: "/a".into()
            }
        );
    }

    #[test]
    fn retry_after_header() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", "3".parse().expect("hv"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().expect("hv"),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn metrics_query() {
        let u = with_metrics("/metadata/4/track/ab", Some("SE"));
        assert!(
            u.starts_with("/metadata/4/track/ab?product=0&country=SE&salt="),
            "{u}"
        );
        let u = with_metrics("/x?a=1", None);
        assert!(u.starts_with("/x?a=1&product=0&salt="), "{u}");
        assert_eq!(path_of("http://h:1/a/b?salt=1"), "/a/b");
    }

    #[test]
    fn user_agent_shape() {
        assert!(user_agent().starts_with("Spotify/124200290 Linux/0 (tonearm/"));
        let (name, _, _, hw) = platform();
        assert_eq!(name, "Linux");
        assert!(!hw.is_empty());
    }
}
