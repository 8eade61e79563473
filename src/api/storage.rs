//! storage-resolve answers (protocol spec §10.2): the result must be `CDN`; each URL's expiry is
//! read from its query in one of four known formats (`verify=<unix>-…`,
//! `__token__=exp=<unix>~…`, `Expires=<unix>~…`, `?<unix>_…`), and URLs that expire within
//! five minutes are dropped. When the answer's `fileid` is empty the URLs never expire.
//!
//! Pure; called by `spclient::SpClient::storage_resolve`. CDN URLs carry signed tokens, so
//! nothing here logs or reports a URL — only its host. Must not depend on HTTP or the session.

use std::time::Duration;

use librespot_protocol::storage_resolve::{storage_resolve_response, StorageResolveResponse};
use protobuf::Message;

use super::ApiError;

/// URLs expiring sooner than this are skipped.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The expiry (unix seconds) written in a CDN URL's query, if it has one of the known formats.
pub fn url_expiry(url: &str) -> Option<i64> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let query = parsed.query()?;
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let value = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let digits = |s: &str| -> Option<i64> {
        let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        s[..end].parse().ok()
    };
    if let Some(v) = value("verify") {
        // verify=1750549951-<signature>
        return digits(v);
    }
    if let Some(v) = value("__token__") {
        // __token__=exp=1688165560~hmac=…
        let start = v.find("exp=")? + 4;
        return digits(&v[start..]);
    }
    if let Some(v) = value("Expires") {
        // Expires=1688165560~FullPath~hmac=…
        return digits(v);
    }
    // ?1688165560_<signature>
    let (first, _) = query.split_once('_')?;
    first.parse().ok()
}

/// Decodes a storage-resolve answer and returns the URLs that are still good at `now_unix`,
/// in the server's order.
pub fn usable_urls(bytes: &[u8], now_unix: i64) -> Result<Vec<String>, ApiError> {
    let msg = StorageResolveResponse::parse_from_bytes(bytes)
        .map_err(|e| ApiError::Malformed(format!("cannot decode storage-resolve answer: {e}")))?;
    match msg.result.enum_value() {
        Ok(storage_resolve_response::Result::CDN) => {}
        Ok(other) => {
            return Err(ApiError::NotPlayable(format!(
                "storage-resolve answered {other:?} instead of CDN"
            )))
        }
        Err(n) => {
            return Err(ApiError::NotPlayable(format!(
                "storage-resolve answered result {n} instead of CDN"
            )))
        }
    }
    if msg.cdnurl.is_empty() {
        return Err(ApiError::NotPlayable(
            "storage-resolve returned no CDN URL".into(),
        ));
    }
    let expiring = !msg.fileid.is_empty();
    let margin = EXPIRY_MARGIN.as_secs() as i64;
    let total = msg.cdnurl.len();
    let urls: Vec<String> = msg
        .cdnurl
        .into_iter()
        .filter(|url| {
            if !expiring {
                return true;
            }
            match url_expiry(url) {
                Some(exp) if exp.saturating_sub(margin) <= now_unix => {
                    tracing::debug!(host = %host_of(url), "skipping a CDN URL that expires soon");
                    false
                }
                Some(_) => true,
                None => {
                    tracing::warn!(host = %host_of(url), "CDN URL with an unknown expiry format");
                    true
                }
            }
        })
        .collect();
    if urls.is_empty() {
        return Err(ApiError::Unavailable(format!(
            "all {total} CDN URLs expire within {} minutes",
            margin / 60
        )));
    }
    Ok(urls)
}

/// The host of a URL, for log lines (never the query: it is a signed token).
pub fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage_resolve_response::Result as R;

    #[test]
    fn four_formats() {
        assert_eq!(
            url_expiry("https://audio-fa.scdn.co/audio/abcd?verify=1750549951-4R3I2w2q7OBbjcq%2F"),
            Some(1_750_549_951)
        );
        assert_eq!(
            url_expiry(
                "https://audio-ak-spotify-com.akamaized.net/audio/abcd?__token__=exp=1688165560~hmac=4e66"
            ),
            Some(1_688_165_560)
        );
        assert_eq!(
            url_expiry("https://audio-ak.example/audio/abcd?__token__=exp=1688165560"),
            Some(1_688_165_560)
        );
        assert_eq!(
            url_expiry(
                "https://audio-gm-off.spotifycdn.com/audio/abcd?Expires=1688165560~FullPath~hmac=IIZA28q="
            ),
            Some(1_688_165_560)
        );
        assert_eq!(
            url_expiry("https://audio4-fa.scdn.co/audio/abcd?1688165560_0GKSyXjLaTW1BksFOyI4J7T="),
            Some(1_688_165_560)
        );
        // Unknown formats.
        assert_eq!(url_expiry("http://127.0.0.1:9/audio/abcd"), None);
        assert_eq!(url_expiry("http://127.0.0.1:9/audio/abcd?foo=bar"), None);
        assert_eq!(url_expiry("https://x/a?__token__=hmac=1"), None);
        assert_eq!(url_expiry("https://x/a?abc_def"), None);
        assert_eq!(url_expiry("not a url"), None);
    }

    fn answer(result: R, urls: &[&str], fileid: &[u8]) -> Vec<u8> {
        let mut m = StorageResolveResponse::new();
        m.result = result.into();
        m.cdnurl = urls.iter().map(|s| s.to_string()).collect();
        m.fileid = fileid.to_vec();
        m.write_to_bytes().expect("encode")
    }

    #[test]
    fn filters_expiring_urls() {
        let now = 1_700_000_000;
        let soon = format!("https://a.example/x?verify={}-sig", now + 299 + 1);
        let later = format!("https://b.example/x?__token__=exp={}~hmac=1", now + 3600);
        let past = format!("https://c.example/x?{}_sig", now - 10);
        let unknown = "https://d.example/x?foo=bar".to_string();
        let bytes = answer(R::CDN, &[&soon, &later, &past, &unknown], &[1; 20]);
        assert_eq!(usable_urls(&bytes, now), Ok(vec![later.clone(), unknown]));
        // Exactly at the margin: skipped; one second more: kept.
        let edge = format!("https://e.example/x?Expires={}~p", now + 300);
        let bytes = answer(R::CDN, &[&edge, &later], &[1; 20]);
        assert_eq!(usable_urls(&bytes, now), Ok(vec![later.clone()]));
        let edge1 = format!("https://e.example/x?Expires={}~p", now + 301);
        let bytes = answer(R::CDN, &[&edge1], &[1; 20]);
        assert_eq!(usable_urls(&bytes, now), Ok(vec![edge1]));
        // Empty fileid: nothing expires.
        let bytes = answer(R::CDN, &[&past], &[]);
        assert_eq!(usable_urls(&bytes, now), Ok(vec![past.clone()]));
        // All expiring: an error, with no URL in it.
        let bytes = answer(R::CDN, &[&past, &soon], &[1; 20]);
        let e = usable_urls(&bytes, now).expect_err("none left");
        assert!(matches!(e, ApiError::Unavailable(_)));
        assert!(!e.to_string().contains("verify"));
    }

    #[test]
    fn non_cdn_and_garbage() {
        let bytes = answer(R::RESTRICTED, &["https://a/x"], &[]);
        assert!(matches!(
            usable_urls(&bytes, 0),
            Err(ApiError::NotPlayable(_))
        ));
        let bytes = answer(R::STORAGE, &["https://a/x"], &[]);
        assert!(matches!(
            usable_urls(&bytes, 0),
            Err(ApiError::NotPlayable(_))
        ));
        let bytes = answer(R::CDN, &[], &[]);
        assert!(matches!(
            usable_urls(&bytes, 0),
            Err(ApiError::NotPlayable(_))
        ));
        assert!(matches!(
            usable_urls(&[0xff, 0xff], 0),
            Err(ApiError::Malformed(_))
        ));
    }
}
