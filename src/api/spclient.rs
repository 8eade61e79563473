//! [`SpClient`]: requests to Spotify's spclient (protocol spec §9.2, §10.2, §13) — metadata
//! through extended-metadata with a fallback to `/metadata/4/{kind}/{hex}`, storage-resolve (v1
//! path, then v2), and a generic [`SpClient::request`] for other spclient services. Every call
//! carries `Authorization: Bearer`, `client-token` (when one can be had), `User-Agent` and the
//! `product=0&country=..&salt=..` query; 5xx, timeouts and connection errors are retried with
//! back-off (10 attempts, switching host every third failure when several are known), a 429
//! pauses every request to that host ([`http::RateGate`], shared with every other client of the
//! host) for its `Retry-After` of any length, or an exponential back-off without one, and a 401
//! refreshes the token once.
//! Metadata is cached in memory (bounded, oldest out first).
//!
//! Called by the player's track loader and the UI's effects. Depends on `tokens`, `metadata`,
//! `storage` and the session (country, apresolve's hosts); must not depend on the UI, the
//! player or the simulator.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use librespot_protocol::extended_metadata::{
    BatchedEntityRequest, BatchedExtensionResponse, EntityRequest, ExtensionQuery,
};
use librespot_protocol::extension_kind::ExtensionKind;
use protobuf::Message;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use reqwest::Method;

use super::http::{self, RetryPolicy};
use super::metadata::{Album, Artist, AudioFormat, Episode, Item, Show, Track};
use super::tokens::{Account, TokenProvider};
use super::{storage, ApiError};
use crate::config::Endpoints;
use crate::id::{FileId, ItemKind, SpotifyId};
use crate::session::Session;

/// Metadata items kept in memory.
pub const CACHE_CAPACITY: usize = 1024;

const PROTOBUF: &str = "application/x-protobuf";

/// A bounded map of fetched items, evicting the oldest insertion first.
struct MetaCache {
    map: HashMap<(ItemKind, SpotifyId), Box<dyn Any + Send + Sync>>,
    order: VecDeque<(ItemKind, SpotifyId)>,
    capacity: usize,
}

impl MetaCache {
    fn get<T: Item>(&self, id: SpotifyId) -> Option<T> {
        self.map.get(&(T::KIND, id))?.downcast_ref::<T>().cloned()
    }

    fn put<T: Item>(&mut self, id: SpotifyId, item: T) {
        let key = (T::KIND, id);
        if self.map.insert(key, Box::new(item)).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }
}

struct Inner {
    tokens: TokenProvider,
    account: Account,
    /// Base URLs (scheme://host[:port], no trailing slash); `current` indexes the one in use.
    bases: Vec<String>,
    current: AtomicUsize,
    http: reqwest::Client,
    policy: RetryPolicy,
    cache: Mutex<MetaCache>,
}

/// The spclient. Cheap to clone; clones share the cache and the token provider.
#[derive(Clone)]
pub struct SpClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpClient")
            .field("bases", &self.inner.bases)
            .finish_non_exhaustive()
    }
}

/// `https://host` (port 443) or `https://host:port`.
/// Longest value [`path_segment`] takes (device ids are 32–40 characters).
pub const MAX_SEGMENT: usize = 256;

/// A value from elsewhere (a device id from the cluster or a LAN device) as one URL path
/// segment of a request that carries our bearer token: every byte outside RFC 3986's
/// unreserved set (`A-Z a-z 0-9 - . _ ~`) becomes `%XX`, so it cannot add segments, a query or
/// a fragment. `None` for what no encoding makes safe: empty, `.` or `..` (URL parsers treat
/// `%2e%2e` as `..` too), or longer than [`MAX_SEGMENT`].
pub fn path_segment(value: &str) -> Option<String> {
    if value.is_empty() || value == "." || value == ".." || value.len() > MAX_SEGMENT {
        return None;
    }
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Some(out)
}

fn https_base(host: &str, port: u16) -> String {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    if port == 443 {
        format!("https://{host}")
    } else {
        format!("https://{host}:{port}")
    }
}

fn extension_kind(kind: ItemKind) -> ExtensionKind {
    match kind {
        ItemKind::Track => ExtensionKind::TRACK_V4,
        ItemKind::Album => ExtensionKind::ALBUM_V4,
        ItemKind::Artist => ExtensionKind::ARTIST_V4,
        ItemKind::Episode => ExtensionKind::EPISODE_V4,
        ItemKind::Show => ExtensionKind::SHOW_V4,
        ItemKind::Playlist => ExtensionKind::UNKNOWN_EXTENSION,
    }
}

/// The extended-metadata request for one entity and one extension.
pub fn extended_request(uri: &str, kind: ExtensionKind) -> BatchedEntityRequest {
    let mut query = ExtensionQuery::new();
    query.extension_kind = kind.into();
    let mut entity = EntityRequest::new();
    entity.entity_uri = uri.to_string();
    entity.query.push(query);
    let mut req = BatchedEntityRequest::new();
    req.entity_request.push(entity);
    req
}

/// Picks the entry for `uri` from an extended-metadata answer (else, as librespot, the last
/// array's last entry), checks its status and returns the `Any.value` bytes.
pub fn extension_payload(bytes: &[u8], uri: &str) -> Result<Vec<u8>, ApiError> {
    let resp = BatchedExtensionResponse::parse_from_bytes(bytes)
        .map_err(|e| ApiError::Malformed(format!("cannot decode extended-metadata answer: {e}")))?;
    let entry = resp
        .extended_metadata
        .iter()
        .flat_map(|a| a.extension_data.iter())
        .find(|d| d.entity_uri == uri)
        .or_else(|| {
            resp.extended_metadata
                .last()
                .and_then(|a| a.extension_data.last())
        })
        .ok_or_else(|| {
            ApiError::Malformed(format!("extended-metadata answer has no entry for {uri}"))
        })?;
    let status = entry.header.as_ref().map_or(0, |h| h.status_code);
    if status != 0 && !(200..300).contains(&status) {
        return Err(match status {
            404 | 410 => ApiError::NotFound(uri.to_string()),
            s if s >= 500 => {
                ApiError::Unavailable(format!("extended-metadata status {s} for {uri}"))
            }
            s => ApiError::Http {
                status: u16::try_from(s).unwrap_or(0),
                url_path: format!("extended-metadata {uri}"),
            },
        });
    }
    let any = entry.extension_data.as_ref().ok_or_else(|| {
        ApiError::Malformed(format!("extended-metadata entry for {uri} has no data"))
    })?;
    Ok(any.value.clone())
}

/// After a primary attempt and its fallback both failed: a missing endpoint (404 / other HTTP
/// status) on the primary says less than whatever the fallback found, so report the fallback's.
fn pick_error(primary: ApiError, fallback: ApiError) -> ApiError {
    match primary {
        ApiError::NotFound(_) | ApiError::Http { .. } => fallback,
        other => other,
    }
}

/// Errors another endpoint will not fix.
fn final_for_fallback(e: &ApiError) -> bool {
    matches!(
        e,
        ApiError::Unauthorized
            | ApiError::RateLimited { .. }
            | ApiError::BadCredentials(_)
            | ApiError::Login5(_)
            | ApiError::TokenRefused { .. }
    )
}

/// 429s one request sits through (each waits out its pause) before giving up.
const MAX_RATE_LIMIT_WAITS: u32 = 30;

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl SpClient {
    /// A client for `base` (e.g. `https://spclient.wg.spotify.com`, or `http://127.0.0.1:port`
    /// in tests).
    pub fn new(
        session: Session,
        tokens: TokenProvider,
        base: String,
        http: reqwest::Client,
    ) -> SpClient {
        SpClient::build(Account::Session(session), tokens, vec![base], http)
    }

    /// `endpoints.spclient` if configured, else the hosts apresolve named (in its order).
    pub fn from_session(
        session: Session,
        tokens: TokenProvider,
        endpoints: &Endpoints,
        http: reqwest::Client,
    ) -> SpClient {
        let bases = match &endpoints.spclient {
            Some(base) => vec![base.clone()],
            None => session
                .resolved()
                .with_fallbacks()
                .spclient
                .iter()
                .map(|hp| https_base(&hp.host, hp.port))
                .collect(),
        };
        SpClient::build(Account::Session(session), tokens, bases, http)
    }

    /// A client without a session (the tests'): the country comes from the token provider's
    /// account.
    #[cfg(test)]
    pub(crate) fn with_tokens(
        tokens: TokenProvider,
        base: String,
        http: reqwest::Client,
    ) -> SpClient {
        let account = tokens.account().clone();
        SpClient::build(account, tokens, vec![base], http)
    }

    /// Replaces the retry policy. Call right after construction, before cloning.
    pub fn with_retry_policy(self, policy: RetryPolicy) -> SpClient {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.policy = policy;
                SpClient {
                    inner: Arc::new(inner),
                }
            }
            Err(inner) => {
                tracing::warn!("SpClient::with_retry_policy on a shared client; ignored");
                SpClient { inner }
            }
        }
    }

    fn build(
        account: Account,
        tokens: TokenProvider,
        bases: Vec<String>,
        http: reqwest::Client,
    ) -> SpClient {
        let mut bases: Vec<String> = bases
            .into_iter()
            .map(|b| b.trim_end_matches('/').to_string())
            .filter(|b| !b.is_empty())
            .collect();
        if bases.is_empty() {
            let (host, port) = crate::session::apresolve::FALLBACK_SPCLIENT;
            bases.push(https_base(host, port));
        }
        SpClient {
            inner: Arc::new(Inner {
                tokens,
                account,
                bases,
                current: AtomicUsize::new(0),
                http,
                policy: RetryPolicy::default(),
                cache: Mutex::new(MetaCache {
                    map: HashMap::new(),
                    order: VecDeque::new(),
                    capacity: CACHE_CAPACITY,
                }),
            }),
        }
    }

    /// The token provider this client uses.
    pub fn tokens(&self) -> &TokenProvider {
        &self.inner.tokens
    }

    /// The base URL in use.
    pub fn base(&self) -> &str {
        let bases = &self.inner.bases;
        &bases[self.inner.current.load(Ordering::Relaxed) % bases.len()]
    }

    fn switch_host(&self) {
        if self.inner.bases.len() > 1 {
            let next = self.inner.current.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::info!(
                base = %self.inner.bases[next % self.inner.bases.len()],
                "switching spclient host"
            );
        }
    }

    /// One attempt: tokens, headers, query, send; the body of a 2xx answer. `sent_with` is
    /// set to the access token the request carried (what a 401 refused).
    async fn attempt(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: Option<&Vec<u8>>,
        sent_with: &mut Option<String>,
    ) -> Result<Vec<u8>, ApiError> {
        let inner = &self.inner;
        let country = inner.account.country();
        let url = format!(
            "{}{}",
            self.base(),
            http::with_metrics(path, country.as_deref())
        );
        let gate = http::RateGate::for_url(&url);
        gate.wait().await;
        let token = inner.tokens.access_token().await?;
        *sent_with = Some(token.token.clone());
        let mut req = inner
            .http
            .request(method.clone(), &url)
            .timeout(inner.policy.request_timeout)
            .header(USER_AGENT, http::user_agent())
            .headers(headers.clone())
            .header(AUTHORIZATION, format!("Bearer {}", token.token));
        match inner.tokens.client_token().await {
            Ok(ct) => req = req.header("client-token", ct),
            Err(e) => tracing::warn!("no client token ({e}); going on without it"),
        }
        if let Some(body) = body {
            req = req.body(body.clone());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| super::error::network_error(&e))?;
        let status = resp.status();
        if status.is_success() {
            gate.passed();
            return resp
                .bytes()
                .await
                .map(|b| b.to_vec())
                .map_err(|e| super::error::network_error(&e));
        }
        Err(match status.as_u16() {
            429 => {
                // The whole host pauses (the next attempt, and everyone else's, waits).
                let hint = http::retry_after(resp.headers());
                let wait = gate.limited(hint);
                ApiError::RateLimited {
                    retry_after: Some(hint.unwrap_or(wait)),
                }
            }
            _ => http::status_error(status, path.split('?').next().unwrap_or(path)),
        })
    }

    /// A spclient request with the retry rules above; returns the body of the 2xx answer.
    /// `headers` are added to ours (e.g. `Content-Type`, `X-Spotify-Connection-Id`).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: HeaderMap,
        body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, ApiError> {
        let policy = self.inner.policy;
        let mut tries = 0;
        let mut refreshed = false;
        let mut transient_failures = 0u32;
        let mut rate_waits = 0u32;
        let mut sent_with = None;
        loop {
            tries += 1;
            let attempt = self.attempt(&method, path, &headers, body.as_ref(), &mut sent_with);
            let err = match attempt.await {
                Ok(bytes) => return Ok(bytes),
                Err(e) => e,
            };
            let more = tries < policy.max_tries;
            match err {
                ApiError::Unauthorized if !refreshed && more => {
                    tracing::debug!(path, "401: refreshing the access token");
                    // Only the refused token goes: one minted since by another caller stays.
                    if let Some(refused) = sent_with.take() {
                        self.inner.tokens.invalidate(&refused);
                    }
                    refreshed = true;
                }
                // The host's gate holds the pause; the next attempt waits on it. Rate limits
                // don't use up the attempts: obeying them is the point.
                ApiError::RateLimited { .. } if rate_waits < MAX_RATE_LIMIT_WAITS => {
                    rate_waits += 1;
                    tries -= 1;
                    tracing::debug!(path, "429: waiting as asked");
                }
                e if e.is_transient() && more => {
                    transient_failures += 1;
                    if transient_failures % 3 == 0 {
                        self.switch_host();
                    }
                    let wait = policy.backoff(tries);
                    tracing::debug!(path, attempt = tries, ?wait, "retrying after: {e}");
                    tokio::time::sleep(wait).await;
                }
                e => return Err(e),
            }
        }
    }

    async fn get(&self, path: &str) -> Result<Vec<u8>, ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(PROTOBUF));
        self.request(Method::GET, path, headers, None).await
    }

    async fn post_protobuf(&self, path: &str, body: Vec<u8>) -> Result<Vec<u8>, ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(PROTOBUF));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROTOBUF));
        self.request(Method::POST, path, headers, Some(body)).await
    }

    async fn extended<T: Item>(&self, uri: &str) -> Result<T, ApiError> {
        let body = extended_request(uri, extension_kind(T::KIND))
            .write_to_bytes()
            .map_err(|e| ApiError::Malformed(format!("cannot encode the request: {e}")))?;
        let bytes = self
            .post_protobuf("/extended-metadata/v0/extended-metadata", body)
            .await?;
        T::from_bytes(&extension_payload(&bytes, uri)?)
    }

    async fn legacy<T: Item>(&self, id: SpotifyId) -> Result<T, ApiError> {
        let path = format!("/metadata/4/{}/{}", T::KIND.as_str(), id.to_base16());
        T::from_bytes(&self.get(&path).await?)
    }

    async fn item<T: Item>(&self, id: SpotifyId) -> Result<T, ApiError> {
        let cached = self
            .inner
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get::<T>(id);
        if let Some(hit) = cached {
            return Ok(hit);
        }
        let uri = format!("spotify:{}:{}", T::KIND.as_str(), id.to_base62());
        let item = match self.extended::<T>(&uri).await {
            Ok(item) => item,
            Err(e) if final_for_fallback(&e) => return Err(e),
            Err(e) => {
                tracing::debug!(%uri, "extended metadata failed ({e}); trying /metadata/4");
                self.legacy::<T>(id).await.map_err(|f| pick_error(e, f))?
            }
        };
        if item.id() != id {
            tracing::warn!(%uri, got = %item.id().to_base62(), "metadata for another id");
        }
        self.inner
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(id, item.clone());
        Ok(item)
    }

    pub async fn track(&self, id: SpotifyId) -> Result<Track, ApiError> {
        self.item(id).await
    }

    pub async fn album(&self, id: SpotifyId) -> Result<Album, ApiError> {
        self.item(id).await
    }

    pub async fn artist(&self, id: SpotifyId) -> Result<Artist, ApiError> {
        self.item(id).await
    }

    pub async fn episode(&self, id: SpotifyId) -> Result<Episode, ApiError> {
        self.item(id).await
    }

    pub async fn show(&self, id: SpotifyId) -> Result<Show, ApiError> {
        self.item(id).await
    }

    /// CDN URLs for `file` (v1 path, then v2 with the format number), expiring ones removed.
    /// The URLs carry signed tokens: do not log them.
    pub async fn storage_resolve(
        &self,
        file: FileId,
        format: AudioFormat,
    ) -> Result<Vec<String>, ApiError> {
        let hex = file.to_base16();
        let v1 = format!("/storage-resolve/files/audio/interactive/{hex}");
        let first = match self.get(&v1).await {
            Ok(bytes) => storage::usable_urls(&bytes, now_unix()),
            Err(e) => Err(e),
        };
        match first {
            Ok(urls) => Ok(urls),
            Err(e) if final_for_fallback(&e) => Err(e),
            Err(e) => {
                tracing::debug!(file = %hex, "storage-resolve v1 failed ({e}); trying v2");
                let v2 = format!(
                    "/storage-resolve/v2/files/audio/interactive/{}/{hex}",
                    format.to_proto()
                );
                let bytes = self.get(&v2).await.map_err(|f| pick_error(e.clone(), f))?;
                storage::usable_urls(&bytes, now_unix()).map_err(|f| pick_error(e, f))
            }
        }
    }
}

#[cfg(test)]
mod tests;
