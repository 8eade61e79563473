//! Access-point discovery (protocol spec §1): asks apresolve for access points, dealers and
//! spclients, parses the `host:port` lists (split on the last `:`, unparsable entries dropped)
//! and falls back to Spotify's well-known hosts when the request fails or a list is empty. A
//! fixed `access_points` list in the config replaces the request entirely.
//!
//! Called by `Session::connect`/`reconnect`. The parsing is a pure function; the only I/O is one
//! HTTP GET with a timeout. Must not depend on the rest of the session.

use std::time::Duration;

use crate::config::Endpoints;

/// Fallback access point when apresolve fails or returns nothing.
pub const FALLBACK_AP: (&str, u16) = ("ap.spotify.com", 443);
/// Fallback dealer.
pub const FALLBACK_DEALER: (&str, u16) = ("dealer.spotify.com", 443);
/// Fallback spclient.
pub const FALLBACK_SPCLIENT: (&str, u16) = ("spclient.wg.spotify.com", 443);

/// One `host:port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl HostPort {
    pub fn new(host: impl Into<String>, port: u16) -> HostPort {
        HostPort {
            host: host.into(),
            port,
        }
    }

    /// Parses `host:port`, splitting on the last `:`; brackets around an IPv6 host are removed.
    pub fn parse(s: &str) -> Option<HostPort> {
        let (host, port) = s.trim().rsplit_once(':')?;
        let port: u16 = port.parse().ok()?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() || host.contains(char::is_whitespace) {
            return None;
        }
        Some(HostPort::new(host, port))
    }
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The three lists apresolve answers with, in the server's order of preference.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolved {
    pub accesspoint: Vec<HostPort>,
    pub dealer: Vec<HostPort>,
    pub spclient: Vec<HostPort>,
}

impl Resolved {
    /// Appends the fallback host to every empty list.
    pub fn with_fallbacks(mut self) -> Resolved {
        for (list, (host, port)) in [
            (&mut self.accesspoint, FALLBACK_AP),
            (&mut self.dealer, FALLBACK_DEALER),
            (&mut self.spclient, FALLBACK_SPCLIENT),
        ] {
            if list.is_empty() {
                list.push(HostPort::new(host, port));
            }
        }
        self
    }
}

/// Why the apresolve answer could not be used (the caller falls back, so this is only logged).
#[derive(Debug, thiserror::Error)]
pub enum ApResolveError {
    #[error("apresolve request failed: {0}")]
    Http(String),
    #[error("apresolve answered with status {0}")]
    Status(u16),
    #[error("apresolve answer is not the expected JSON: {0}")]
    Json(String),
}

/// Parses the JSON answer. Missing keys and non-string entries give empty/shorter lists.
pub fn parse_response(body: &str) -> Result<Resolved, ApResolveError> {
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|e| ApResolveError::Json(e.to_string()))?;
    if !v.is_object() {
        return Err(ApResolveError::Json("not a JSON object".into()));
    }
    let list = |key: &str| -> Vec<HostPort> {
        v.get(key)
            .and_then(|l| l.as_array())
            .map(|l| {
                l.iter()
                    .filter_map(|e| e.as_str())
                    .filter_map(HostPort::parse)
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(Resolved {
        accesspoint: list("accesspoint"),
        dealer: list("dealer"),
        spclient: list("spclient"),
    })
}

/// The apresolve URL with the three `type` parameters appended.
pub fn request_url(base: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}type=accesspoint&type=dealer&type=spclient")
}

async fn fetch(base: &str, timeout: Duration) -> Result<Resolved, ApResolveError> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| ApResolveError::Http(e.to_string()))?;
    let resp = client
        .get(request_url(base))
        .send()
        .await
        .map_err(|e| ApResolveError::Http(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(ApResolveError::Status(resp.status().as_u16()));
    }
    let body = resp
        .text()
        .await
        .map_err(|e| ApResolveError::Http(e.to_string()))?;
    parse_response(&body)
}

/// Resolves the services: the configured `access_points` if set (no request), else apresolve;
/// any failure or empty list falls back to the well-known hosts. Never fails.
pub async fn resolve(endpoints: &Endpoints, timeout: Duration) -> Resolved {
    if let Some(aps) = &endpoints.access_points {
        let accesspoint: Vec<HostPort> = aps.iter().filter_map(|a| HostPort::parse(a)).collect();
        if accesspoint.is_empty() {
            tracing::warn!("no usable entry in the configured access_points; using the fallback");
        }
        return Resolved {
            accesspoint,
            ..Resolved::default()
        }
        .with_fallbacks();
    }
    match fetch(&endpoints.apresolve, timeout).await {
        Ok(r) => {
            tracing::debug!(
                aps = r.accesspoint.len(),
                dealers = r.dealer.len(),
                spclients = r.spclient.len(),
                "apresolve answered"
            );
            r.with_fallbacks()
        }
        Err(e) => {
            tracing::warn!("{e}; using fallback hosts");
            Resolved::default().with_fallbacks()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_shaped_answer() {
        let body = r#"{"accesspoint":["ap-gew4.spotify.com:4070","ap-gew4.spotify.com:443","ap-gew4.spotify.com:80"],
                       "dealer":["gew4-dealer.spotify.com:443"],
                       "spclient":["gew4-spclient.spotify.com:443"]}"#;
        let r = parse_response(body).expect("parse");
        assert_eq!(
            r.accesspoint,
            vec![
                HostPort::new("ap-gew4.spotify.com", 4070),
                HostPort::new("ap-gew4.spotify.com", 443),
                HostPort::new("ap-gew4.spotify.com", 80),
            ]
        );
        assert_eq!(
            r.dealer,
            vec![HostPort::new("gew4-dealer.spotify.com", 443)]
        );
        assert_eq!(
            r.spclient,
            vec![HostPort::new("gew4-spclient.spotify.com", 443)]
        );
    }

    #[test]
    fn drops_unparsable_entries_and_splits_on_last_colon() {
        let body = r#"{"accesspoint":["nohost", ":443", "h:notaport", "h:70000", 5, null, "[::1]:4070", "a:b:4070"],
                       "dealer":"not a list"}"#;
        let r = parse_response(body).expect("parse");
        assert_eq!(
            r.accesspoint,
            vec![HostPort::new("::1", 4070), HostPort::new("a:b", 4070)]
        );
        assert!(r.dealer.is_empty());
        assert!(r.spclient.is_empty());
        assert_eq!(HostPort::new("::1", 4070).to_string(), "[::1]:4070");
        assert_eq!(HostPort::new("h", 1).to_string(), "h:1");
    }

    #[test]
    fn fallbacks_fill_empty_lists() {
        let r = parse_response(r#"{"accesspoint":["ap:4070"]}"#)
            .expect("parse")
            .with_fallbacks();
        assert_eq!(r.accesspoint, vec![HostPort::new("ap", 4070)]);
        assert_eq!(r.dealer, vec![HostPort::new("dealer.spotify.com", 443)]);
        assert_eq!(
            r.spclient,
            vec![HostPort::new("spclient.wg.spotify.com", 443)]
        );
        let r = Resolved::default().with_fallbacks();
        assert_eq!(r.accesspoint, vec![HostPort::new("ap.spotify.com", 443)]);
    }

    #[test]
    fn bad_json_is_an_error() {
        assert!(parse_response("not json").is_err());
        assert!(parse_response("[1,2]").is_err());
        assert!(parse_response("{}").is_ok());
    }

    #[test]
    fn url_building() {
        assert_eq!(
            request_url("https://apresolve.spotify.com/"),
            "https://apresolve.spotify.com/?type=accesspoint&type=dealer&type=spclient"
        );
        assert_eq!(
            request_url("http://127.0.0.1:1/?x=1"),
            "http://127.0.0.1:1/?x=1&type=accesspoint&type=dealer&type=spclient"
        );
    }

    #[tokio::test]
    async fn configured_access_points_skip_the_request() {
        let ep = Endpoints {
            apresolve: "http://127.0.0.1:9/unreachable".into(),
            access_points: Some(vec!["127.0.0.1:4070".into(), "bad".into()]),
            ..Endpoints::default()
        };
        let r = resolve(&ep, Duration::from_millis(100)).await;
        assert_eq!(r.accesspoint, vec![HostPort::new("127.0.0.1", 4070)]);
        assert_eq!(r.dealer, vec![HostPort::new("dealer.spotify.com", 443)]);
    }

    #[tokio::test]
    async fn failed_request_falls_back() {
        // Port 9 (discard) on localhost: connection refused or timeout, either way a fallback.
        let ep = Endpoints {
            apresolve: "http://127.0.0.1:9/".into(),
            ..Endpoints::default()
        };
        let r = resolve(&ep, Duration::from_millis(500)).await;
        assert_eq!(r.accesspoint, vec![HostPort::new("ap.spotify.com", 443)]);
    }

    #[tokio::test]
    async fn fetches_from_a_local_http_server() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut buf = vec![0u8; 2048];
            let n = s.read(&mut buf).await.expect("read");
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let body =
                r#"{"accesspoint":["127.0.0.1:4070"],"dealer":[],"spclient":["127.0.0.1:8080"]}"#;
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                body.len(),
                body
            );
            s.write_all(resp.as_bytes()).await.expect("write");
            req
        });
        let ep = Endpoints {
            apresolve: format!("http://{addr}/"),
            ..Endpoints::default()
        };
        let r = resolve(&ep, Duration::from_secs(5)).await;
        let req = server.await.expect("server");
        assert!(
            req.starts_with("GET /?type=accesspoint&type=dealer&type=spclient "),
            "{req}"
        );
        assert_eq!(r.accesspoint, vec![HostPort::new("127.0.0.1", 4070)]);
        assert_eq!(r.dealer, vec![HostPort::new("dealer.spotify.com", 443)]);
        assert_eq!(r.spclient, vec![HostPort::new("127.0.0.1", 8080)]);
    }
}
