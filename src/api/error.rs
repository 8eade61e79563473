//! The API layer's error type, [`ApiError`], and how each case maps to the crate-wide
//! [`crate::ErrorKind`] (retry, sign in again, tell the user, stop). Built by every file in
//! `api/`; callers outside see it through `crate::Error::Api`. Pure: depends on nothing but
//! `crate::ErrorKind`. Messages never contain a token, a credential or a signed CDN URL.

use std::time::Duration;

/// Errors of the HTTP services (tokens, spclient, metadata, storage-resolve).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// A non-2xx answer that has no more specific case (403, 400, 3xx, …).
    #[error("HTTP {status} from {url_path}")]
    Http { status: u16, url_path: String },
    /// 401 (also 407/511), still after refreshing the access token once.
    #[error("the server refused our access token (HTTP 401) even after refreshing it")]
    Unauthorized,
    /// 429 with no `Retry-After`, or one longer than we are willing to wait (10 s).
    #[error("rate limited by Spotify{}", retry_after_text(.retry_after))]
    RateLimited { retry_after: Option<Duration> },
    /// 404/410, or an extended-metadata entity with status 404.
    #[error("not found: {0}")]
    NotFound(String),
    /// 5xx (or an entity error status) after all retries.
    #[error("Spotify's service is unavailable: {0}")]
    Unavailable(String),
    /// Connection refused, reset, timed out, TLS failure… after all retries.
    #[error("network error: {0}")]
    Network(String),
    /// An answer we could not parse or that breaks the protocol's constraints.
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// login5 failed in a way retrying will not fix (bad request, unsupported challenge, …).
    #[error("login5 failed: {0}")]
    Login5(String),
    /// login5 refused the stored credentials: the user has to sign in again.
    #[error("Spotify refused the saved credentials ({0}); sign in again with `tonearm login`")]
    BadCredentials(String),
    /// The client-token service failed (unknown answer, unsolvable challenge, retries used up).
    #[error("client-token failed: {0}")]
    ClientToken(String),
    /// Tokens were refused too often lately; no new one is minted for `retry_in` (so no
    /// caller loops on a chain the server keeps refusing).
    #[error("Spotify keeps refusing our tokens; trying again in {} s", .retry_in.as_secs().max(1))]
    TokenRefused { retry_in: Duration },
    /// The item exists but cannot be played (restricted file, no CDN answer, no usable URL).
    #[error("not playable: {0}")]
    NotPlayable(String),
}

fn retry_after_text(d: &Option<Duration>) -> String {
    match d {
        Some(d) => format!(" (retry after {} s)", d.as_secs()),
        None => String::new(),
    }
}

impl ApiError {
    /// What the caller should do about this error.
    pub fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind;
        match self {
            ApiError::Unauthorized | ApiError::BadCredentials(_) => ErrorKind::Relogin,
            ApiError::RateLimited { .. }
            | ApiError::Unavailable(_)
            | ApiError::Network(_)
            | ApiError::ClientToken(_)
            | ApiError::TokenRefused { .. } => ErrorKind::Retry,
            ApiError::Http { .. }
            | ApiError::NotFound(_)
            | ApiError::Malformed(_)
            | ApiError::NotPlayable(_) => ErrorKind::Notify,
            ApiError::Login5(_) => ErrorKind::Fatal,
        }
    }

    /// True for failures another attempt may fix (5xx, network trouble, timeouts).
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self, ApiError::Unavailable(_) | ApiError::Network(_))
    }
}

/// Turns a reqwest error into [`ApiError::Network`] without the URL (query strings can carry
/// signed tokens) — only what went wrong.
pub(crate) fn network_error(e: &reqwest::Error) -> ApiError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else if e.is_request() {
        "the request failed"
    } else {
        "transport error"
    };
    let host = e
        .url()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    let detail = std::error::Error::source(e)
        .map(|s| format!(": {s}"))
        .unwrap_or_default();
    ApiError::Network(format!("{what} ({host}){detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn kinds() {
        assert_eq!(ApiError::Unauthorized.kind(), ErrorKind::Relogin);
        assert_eq!(
            ApiError::RateLimited { retry_after: None }.kind(),
            ErrorKind::Retry
        );
        assert_eq!(ApiError::NotFound("x".into()).kind(), ErrorKind::Notify);
        assert_eq!(ApiError::Login5("x".into()).kind(), ErrorKind::Fatal);
        assert_eq!(
            ApiError::BadCredentials("x".into()).kind(),
            ErrorKind::Relogin
        );
        assert!(ApiError::Unavailable("x".into()).is_transient());
        assert!(!ApiError::Malformed("x".into()).is_transient());
    }

    #[test]
    fn messages() {
        let e = ApiError::RateLimited {
            retry_after: Some(Duration::from_secs(30)),
        };
        assert_eq!(e.to_string(), "rate limited by Spotify (retry after 30 s)");
        let e = ApiError::Http {
            status: 403,
            url_path: "/metadata/4/track/00".into(),
        };
        assert_eq!(e.to_string(), "HTTP 403 from /metadata/4/track/00");
    }
}
