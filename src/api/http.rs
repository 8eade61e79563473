//! Small HTTP helpers shared by the token services and spclient (protocol spec §13): the
//! `User-Agent`, the mapping of status codes to [`ApiError`], `Retry-After` parsing, the retry
//! policy with its back-off, the `product=0&country=..&salt=..` query, and the platform facts
//! the client-token request describes.
//!
//! Internal to `api`. Must not depend on the session or any other service.

use std::time::Duration;

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

/// The longest `Retry-After` we wait out before giving up with [`ApiError::RateLimited`].
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

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

/// The largest `Retry-After` believed: longer ones count as this (callers give up past
/// [`MAX_RETRY_AFTER`] anyway; the bound keeps the number sane wherever it is shown or added).
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
