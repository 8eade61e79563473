//! [`WebApi`]: the typed Spotify Web API client (`api.spotify.com/v1`, or the simulator's base),
//! authorised with the login5 access token from [`TokenProvider`] (protocol spec §8.3).
//!
//! Every call goes through one request loop: a `429` pauses every request to the host
//! ([`http::RateGate`], shared by all clients of that host, so a storm pauses everyone rather
//! than multiplying the load) for its `Retry-After` of any length — announced when over 10 s —
//! or an exponential back-off without one; too many 429s for one request →
//! [`ApiError::RateLimited`];
//! a `401` drops the refused token ([`TokenProvider::invalidate`]) and retries once; 5xx and network
//! errors retry with doubling back-off. At most [`WebApiPolicy::max_in_flight`] requests are on
//! the wire at once.
//!
//! Offset-paged lists come back as [`Pages`]: the first page (limit 50) is fetched, then the
//! remaining offsets concurrently (bounded), and pages are delivered *in order* through a channel
//! as they complete — [`Pages::next_page`] for a UI that shows items as they arrive,
//! [`Pages::all`] to collect. Cursor-paged lists (`/me/following`) use the same type, fetched
//! one page after another. Models live in `webapi/models.rs`.
//!
//! Called by `library` and the CLI (later the UI's effects). Depends on `tokens` and `http`;
//! must not depend on the UI, the player or the simulator. Tokens never reach logs or errors.

pub mod models;
pub mod player;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

use super::http;
use super::tokens::TokenProvider;
use super::ApiError;
pub use models::*;

/// Items asked for per page of a paged list (the Web API's maximum for most lists).
pub const PAGE_LIMIT: u32 = 50;
/// `GET /artists/{id}/albums` takes at most 10 a page (the OpenAPI document: "Default: 5.
/// Minimum: 1. Maximum: 10."); more is a 400.
pub const ARTIST_ALBUMS_MAX_LIMIT: u32 = 10;

/// How patient and how parallel the client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebApiPolicy {
    /// Attempts in all for 5xx / network failures.
    pub max_tries: u32,
    /// Back-off before the second attempt; doubles up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// One request's time limit.
    pub request_timeout: Duration,
    /// How many 429s one request sits through before giving up.
    pub max_rate_limit_waits: u32,
    /// Requests on the wire at once (whole client), and pages fetched at once per list.
    pub max_in_flight: usize,
    /// Items per page for paged lists.
    pub page_limit: u32,
}

impl Default for WebApiPolicy {
    fn default() -> Self {
        WebApiPolicy {
            max_tries: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
            request_timeout: Duration::from_secs(15),
            max_rate_limit_waits: 30,
            max_in_flight: 8,
            page_limit: PAGE_LIMIT,
        }
    }
}

impl WebApiPolicy {
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Which playlist-items path the server answers: not yet known, `/items` (current), or
/// `/tracks` (deprecated, older servers).
const ITEMS_UNKNOWN: u8 = 0;
const ITEMS_NEW: u8 = 1;
const ITEMS_OLD: u8 = 2;

struct Inner {
    tokens: TokenProvider,
    base: String,
    http: reqwest::Client,
    policy: WebApiPolicy,
    in_flight: Arc<Semaphore>,
    /// The host's shared rate-limit pause.
    gate: http::RateGate,
    items_path: AtomicU8,
}

/// The Web API client. Cheap to clone; clones share the token provider, the in-flight bound
/// and the rate-limit pause.
#[derive(Clone)]
pub struct WebApi {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for WebApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebApi")
            .field("base", &self.inner.base)
            .finish_non_exhaustive()
    }
}

/// What a request sends.
enum Body {
    None,
    Json(serde_json::Value),
}

/// One page from [`Pages`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Position of the first item in the whole list.
    pub offset: u32,
    /// Items in the whole list, as the first page said (cursor lists: when known).
    pub total: Option<u32>,
}

/// A list arriving page by page, in order. Dropping it stops the fetching.
pub struct Pages<T> {
    rx: mpsc::Receiver<Result<Page<T>, ApiError>>,
    /// Filled in once the first page arrived (`None` before, or for cursor lists without it).
    total: Option<u32>,
    failed: bool,
}

impl<T> std::fmt::Debug for Pages<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages")
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Pages<T> {
    /// The next page in order; `None` at the end. After an error, nothing more comes.
    pub async fn next_page(&mut self) -> Option<Result<Page<T>, ApiError>> {
        if self.failed {
            return None;
        }
        let got = self.rx.recv().await?;
        match &got {
            Ok(p) => {
                if self.total.is_none() {
                    self.total = p.total;
                }
            }
            Err(_) => self.failed = true,
        }
        Some(got)
    }

    /// The list's length, once the first page has arrived.
    pub fn total(&self) -> Option<u32> {
        self.total
    }

    /// Every item, in order.
    pub async fn all(self) -> Result<Vec<T>, ApiError> {
        self.all_mapped(|t| t).await
    }

    /// Every item passed through `f` as its page arrives, in order. Only one page of full
    /// models is alive at a time, so a 10k-item list costs what its mapped items cost, not
    /// what 10k Web API objects cost (and the allocator is not left fragmented by them).
    pub async fn all_mapped<U>(mut self, mut f: impl FnMut(T) -> U) -> Result<Vec<U>, ApiError> {
        let mut out = Vec::new();
        while let Some(page) = self.next_page().await {
            let page = page?;
            if out.is_empty() {
                if let Some(t) = page.total {
                    out.reserve(t as usize);
                }
            }
            out.extend(page.items.into_iter().map(&mut f));
        }
        Ok(out)
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters kept).
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `base62` ids from ids or `spotify:kind:id` URIs.
fn bare_id(s: &str) -> &str {
    s.rsplit(':').next().unwrap_or(s)
}

fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_string()
    } else if path.contains('?') {
        format!("{path}&{query}")
    } else {
        format!("{path}?{query}")
    }
}

/// Parses `bytes` as `T`; a failure is `Malformed` naming the request and the JSON path of the
/// bad or missing field.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        ApiError::Malformed(if path == "." || path.is_empty() {
            format!("{what}: {inner}")
        } else {
            format!("{what}: at {path}: {inner}")
        })
    })
}

impl WebApi {
    /// A client for `base` (e.g. `https://api.spotify.com/v1`).
    pub fn new(tokens: TokenProvider, base: String, http: reqwest::Client) -> WebApi {
        WebApi::with_policy(tokens, base, http, WebApiPolicy::default())
    }

    /// A client with its own retry and concurrency policy.
    pub fn with_policy(
        tokens: TokenProvider,
        base: String,
        http: reqwest::Client,
        policy: WebApiPolicy,
    ) -> WebApi {
        let policy = WebApiPolicy {
            max_in_flight: policy.max_in_flight.max(1),
            page_limit: policy.page_limit.clamp(1, 50),
            max_tries: policy.max_tries.max(1),
            ..policy
        };
        WebApi {
            inner: Arc::new(Inner {
                tokens,
                base: base.trim_end_matches('/').to_string(),
                http,
                in_flight: Arc::new(Semaphore::new(policy.max_in_flight)),
                policy,
                gate: http::RateGate::for_url(&base),
                items_path: AtomicU8::new(ITEMS_UNKNOWN),
            }),
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.inner.base
    }

    /// The policy in use.
    pub fn policy(&self) -> &WebApiPolicy {
        &self.inner.policy
    }

    /// One attempt: token, headers, send; `(status, headers, body)`. `sent_with` is set to
    /// the access token the request carried (what a 401 refused).
    async fn attempt(
        &self,
        method: &Method,
        url: &str,
        body: &Body,
        sent_with: &mut Option<String>,
    ) -> Result<(StatusCode, reqwest::header::HeaderMap, Vec<u8>), ApiError> {
        let token = self.inner.tokens.access_token().await?;
        *sent_with = Some(token.token.clone());
        let _permit = self
            .inner
            .in_flight
            .acquire()
            .await
            .map_err(|_| ApiError::Network("the client is shutting down".into()))?;
        let mut req = self
            .inner
            .http
            .request(method.clone(), url)
            .header(AUTHORIZATION, format!("Bearer {}", token.token))
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, http::user_agent())
            .timeout(self.inner.policy.request_timeout);
        req = match body {
            Body::None => {
                if *method == Method::PUT || *method == Method::POST || *method == Method::DELETE {
                    req.header(reqwest::header::CONTENT_LENGTH, "0")
                } else {
                    req
                }
            }
            Body::Json(v) => req
                .header(CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(v).unwrap_or_default()),
        };
        let resp = req
            .send()
            .await
            .map_err(|e| super::error::network_error(&e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| super::error::network_error(&e))?;
        Ok((status, headers, bytes.to_vec()))
    }

    /// The request loop: 429 → wait `Retry-After`; 401 → refresh the token once; 5xx / network
    /// → back-off. Returns the body of a 2xx answer. `path` starts with `/` (query included).
    async fn request(&self, method: Method, path: &str, body: Body) -> Result<Vec<u8>, ApiError> {
        let url = format!("{}{}", self.inner.base, path);
        let url_path = http::path_of(&url);
        let policy = self.inner.policy;
        let mut failures = 0u32;
        let mut rate_waits = 0u32;
        let mut refreshed = false;
        let mut sent_with = None;
        loop {
            self.inner.gate.wait().await;
            let outcome = self.attempt(&method, &url, &body, &mut sent_with).await;
            let err = match outcome {
                Ok((status, _, bytes)) if status.is_success() => {
                    self.inner.gate.passed();
                    return Ok(bytes);
                }
                Ok((status, headers, bytes)) => match status.as_u16() {
                    401 => {
                        if refreshed {
                            return Err(ApiError::Unauthorized);
                        }
                        refreshed = true;
                        tracing::info!(path = %url_path, "Web API said 401; refreshing the token");
                        // Only the refused token goes: one minted since by another caller
                        // stays (and costs no second re-mint).
                        if let Some(refused) = sent_with.take() {
                            self.inner.tokens.invalidate(&refused);
                        }
                        continue;
                    }
                    429 => {
                        let hint = http::retry_after(&headers);
                        rate_waits += 1;
                        if rate_waits > policy.max_rate_limit_waits {
                            return Err(ApiError::RateLimited { retry_after: hint });
                        }
                        // Any length is obeyed (the gate announces long ones); the next
                        // attempt, and every other request to the host, waits on the gate.
                        let wait = self.inner.gate.limited(hint);
                        tracing::debug!(path = %url_path, wait_ms = wait.as_millis() as u64, "Web API rate limit; waiting");
                        continue;
                    }
                    _ => {
                        let message = serde_json::from_slice::<ErrorBody>(&bytes)
                            .ok()
                            .and_then(|b| b.error)
                            .map(|e| e.message)
                            .unwrap_or_default();
                        if !message.is_empty() {
                            tracing::debug!(path = %url_path, status = status.as_u16(), %message, "Web API error");
                        }
                        http::status_error(status, &url_path)
                    }
                },
                Err(e) => e,
            };
            if !err.is_transient() {
                return Err(err);
            }
            failures += 1;
            if failures >= policy.max_tries {
                return Err(err);
            }
            let wait = policy.backoff(failures);
            tracing::debug!(path = %url_path, error = %err, wait_ms = wait.as_millis() as u64, "Web API request failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let bytes = self.request(Method::GET, path, Body::None).await?;
        parse(
            &bytes,
            &format!("GET {}", http::path_of(&format!("http://x{path}"))),
        )
    }

    /// A write; the answer's body (often empty) is returned.
    async fn write(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Vec<u8>, ApiError> {
        let body = body.map_or(Body::None, Body::Json);
        self.request(method, path, body).await
    }

    /// One page of `path` at `offset`.
    async fn page<T: DeserializeOwned>(
        &self,
        path: &str,
        offset: u32,
        limit: u32,
    ) -> Result<Paging<T>, ApiError> {
        self.get(&with_query(path, &format!("limit={limit}&offset={offset}")))
            .await
    }

    /// An offset-paged list: the first page, then the rest concurrently (bounded), in order.
    pub fn paged<T>(&self, path: String) -> Pages<T>
    where
        T: DeserializeOwned + Send + 'static,
    {
        self.paged_at_most(path, u32::MAX)
    }

    /// [`WebApi::paged`] for an endpoint whose `limit` may not exceed `max` (the server answers
    /// 400 above it: `/artists/{id}/albums` allows 10).
    pub fn paged_at_most<T>(&self, path: String, max: u32) -> Pages<T>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(16);
        let api = self.clone();
        let limit = self.inner.policy.page_limit.min(max).max(1);
        tokio::spawn(async move {
            if let Err(e) = api.fetch_pages(path, limit, &tx).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        Pages {
            rx,
            total: None,
            failed: false,
        }
    }

    async fn fetch_pages<T>(
        &self,
        path: String,
        limit: u32,
        tx: &mpsc::Sender<Result<Page<T>, ApiError>>,
    ) -> Result<(), ApiError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let first: Paging<T> = self.page(&path, 0, limit).await?;
        let total = first.total;
        // Servers may cap `limit` lower than asked: step by what they say they used.
        let step = match first.limit {
            0 => limit,
            l => l.min(limit),
        };
        let mut next_offset = first.items.len().max(step as usize) as u32;
        if first.items.is_empty() {
            next_offset = total; // an empty first page ends the list
        }
        let first_page = Page {
            items: first.items,
            offset: 0,
            total: Some(total),
        };
        if tx.send(Ok(first_page)).await.is_err() {
            return Ok(());
        }
        let offsets: Vec<u32> = (next_offset..total).step_by(step as usize).collect();
        if offsets.is_empty() {
            return Ok(());
        }
        let bound = Arc::new(Semaphore::new(self.inner.policy.max_in_flight));
        let mut set: JoinSet<(usize, Result<Paging<T>, ApiError>)> = JoinSet::new();
        for (i, &offset) in offsets.iter().enumerate() {
            let api = self.clone();
            let path = path.clone();
            let bound = bound.clone();
            set.spawn(async move {
                let _permit = bound.acquire_owned().await;
                (i, api.page(&path, offset, step).await)
            });
        }
        let mut done: BTreeMap<usize, Paging<T>> = BTreeMap::new();
        let mut want = 0usize;
        while let Some(joined) = set.join_next().await {
            let (i, result) =
                joined.map_err(|e| ApiError::Network(format!("page task failed: {e}")))?;
            done.insert(i, result?);
            while let Some(p) = done.remove(&want) {
                let page = Page {
                    items: p.items,
                    offset: offsets[want],
                    total: Some(total),
                };
                if tx.send(Ok(page)).await.is_err() {
                    return Ok(()); // the receiver is gone; dropping `set` aborts the rest
                }
                want += 1;
            }
        }
        Ok(())
    }

    /// The followed artists, cursor-paged (`after`), one page after another.
    pub fn followed_artists(&self) -> Pages<Artist> {
        let (tx, rx) = mpsc::channel(4);
        let api = self.clone();
        tokio::spawn(async move {
            let limit = api.inner.policy.page_limit;
            let mut after: Option<String> = None;
            let mut offset = 0u32;
            loop {
                let mut path = format!("/me/following?type=artist&limit={limit}");
                if let Some(a) = &after {
                    path.push_str("&after=");
                    path.push_str(&enc(a));
                }
                let page = match api.get::<FollowedArtists>(&path).await {
                    Ok(p) => p.artists,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                let n = page.items.len() as u32;
                let next_after = page.cursors.as_ref().and_then(|c| c.after.clone());
                let more = page.next.is_some() && next_after.is_some() && n > 0;
                let out = Page {
                    items: page.items,
                    offset,
                    total: page.total,
                };
                if tx.send(Ok(out)).await.is_err() || !more {
                    return;
                }
                if next_after == after {
                    tracing::warn!("/me/following returned the same cursor twice; stopping");
                    return;
                }
                offset += n;
                after = next_after;
            }
        });
        Pages {
            rx,
            total: None,
            failed: false,
        }
    }

    // ---- reads ----

    /// `GET /me`.
    pub async fn me(&self) -> Result<User, ApiError> {
        self.get("/me").await
    }

    /// `GET /me/playlists`: the playlists the user owns or follows.
    pub fn my_playlists(&self) -> Pages<PlaylistSummary> {
        self.paged("/me/playlists".into())
    }

    /// `GET /playlists/{id}` (with the first page of items).
    pub async fn playlist(&self, id: &str) -> Result<Playlist, ApiError> {
        self.get(&format!("/playlists/{}", enc(bare_id(id)))).await
    }

    /// The playlist's items, in order. Uses `/playlists/{id}/items`, falling back to the
    /// deprecated `/tracks` when a server does not know the former (remembered afterwards).
    pub fn playlist_items(&self, id: &str) -> Pages<PlaylistItem> {
        let id = enc(bare_id(id));
        let (tx, rx) = mpsc::channel(16);
        let api = self.clone();
        tokio::spawn(async move {
            let kind = api.inner.items_path.load(Ordering::Relaxed);
            let new = format!("/playlists/{id}/items");
            let old = format!("/playlists/{id}/tracks");
            let limit = api.inner.policy.page_limit;
            let result = if kind == ITEMS_OLD {
                api.fetch_pages::<PlaylistItem>(old, limit, &tx).await
            } else {
                match api.fetch_pages::<PlaylistItem>(new, limit, &tx).await {
                    Err(ApiError::NotFound(_)) if kind == ITEMS_UNKNOWN => {
                        let r = api.fetch_pages::<PlaylistItem>(old, limit, &tx).await;
                        if r.is_ok() {
                            api.inner.items_path.store(ITEMS_OLD, Ordering::Relaxed);
                        }
                        r
                    }
                    Ok(()) => {
                        api.inner.items_path.store(ITEMS_NEW, Ordering::Relaxed);
                        Ok(())
                    }
                    other => other,
                }
            };
            if let Err(e) = result {
                let _ = tx.send(Err(e)).await;
            }
        });
        Pages {
            rx,
            total: None,
            failed: false,
        }
    }

    /// `GET /me/tracks`: Liked Songs.
    pub fn saved_tracks(&self) -> Pages<SavedTrack> {
        self.paged("/me/tracks".into())
    }

    /// `GET /me/albums`.
    pub fn saved_albums(&self) -> Pages<SavedAlbum> {
        self.paged("/me/albums".into())
    }

    /// `GET /me/shows`.
    pub fn saved_shows(&self) -> Pages<SavedShow> {
        self.paged("/me/shows".into())
    }

    /// `GET /me/episodes`.
    pub fn saved_episodes(&self) -> Pages<SavedEpisode> {
        self.paged("/me/episodes".into())
    }

    /// `GET /search`: one page (`limit`, `offset`) per type asked for.
    pub async fn search(
        &self,
        query: &str,
        types: &[SearchType],
        limit: u32,
        offset: u32,
    ) -> Result<SearchResults, ApiError> {
        let types = if types.is_empty() {
            &SearchType::ALL[..]
        } else {
            types
        };
        let type_list: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
        let path = format!(
            "/search?q={}&type={}&limit={}&offset={}",
            enc(query),
            enc(&type_list.join(",")),
            limit.max(1),
            offset
        );
        self.get(&path).await
    }

    /// `GET /albums/{id}` (with the first page of tracks).
    pub async fn album(&self, id: &str) -> Result<Album, ApiError> {
        self.get(&format!("/albums/{}", enc(bare_id(id)))).await
    }

    /// `GET /albums/{id}/tracks`: every track (simplified: no `album`).
    pub fn album_tracks(&self, id: &str) -> Pages<Track> {
        self.paged(format!("/albums/{}/tracks", enc(bare_id(id))))
    }

    /// `GET /episodes/{id}` (with its show and the user's `resume_point`).
    pub async fn episode(&self, id: &str) -> Result<Episode, ApiError> {
        self.get(&format!("/episodes/{}", enc(bare_id(id)))).await
    }

    /// `GET /shows/{id}/episodes`: every episode of a show, each with the user's `resume_point`.
    pub fn show_episodes(&self, id: &str) -> Pages<Episode> {
        self.paged(format!("/shows/{}/episodes", enc(bare_id(id))))
    }

    /// `GET /artists/{id}`.
    pub async fn artist(&self, id: &str) -> Result<Artist, ApiError> {
        self.get(&format!("/artists/{}", enc(bare_id(id)))).await
    }

    /// `GET /artists/{id}/albums`.
    pub fn artist_albums(&self, id: &str) -> Pages<AlbumRef> {
        self.paged_at_most(
            format!("/artists/{}/albums", enc(bare_id(id))),
            ARTIST_ALBUMS_MAX_LIMIT,
        )
    }

    /// `GET /artists/{id}/top-tracks?market=..` (`market` e.g. `SE`, or `from_token`).
    pub async fn artist_top_tracks(&self, id: &str, market: &str) -> Result<Vec<Track>, ApiError> {
        let t: TopTracks = self
            .get(&format!(
                "/artists/{}/top-tracks?market={}",
                enc(bare_id(id)),
                enc(market)
            ))
            .await?;
        Ok(t.tracks)
    }

    /// `GET /me/top/tracks?time_range=medium_term`: the user's top tracks (the first page, up to
    /// the page limit), best first.
    pub async fn top_tracks(&self) -> Result<Vec<Track>, ApiError> {
        let p: Paging<Track> = self
            .get(&format!(
                "/me/top/tracks?time_range=medium_term&limit={}",
                self.inner.policy.page_limit
            ))
            .await?;
        Ok(p.items)
    }

    /// `GET /me/player/recently-played`: the latest 50 plays, newest first.
    pub async fn recently_played(&self) -> Result<Vec<PlayHistory>, ApiError> {
        let p: CursorPaging<PlayHistory> = self
            .get(&format!(
                "/me/player/recently-played?limit={}",
                self.inner.policy.page_limit
            ))
            .await?;
        Ok(p.items)
    }

    // ---- writes ----

    /// A library write in chunks of 50 ids: the item-specific endpoint (`PUT|DELETE
    /// /me/tracks` …, ids in the body), or the current `/me/library?uris=` (chunks of 40) when
    /// the server no longer knows the former.
    async fn library_write(
        &self,
        method: Method,
        path: &str,
        kind: &str,
        ids: &[&str],
    ) -> Result<(), ApiError> {
        for chunk in ids.chunks(50) {
            let bare: Vec<&str> = chunk.iter().map(|s| bare_id(s)).collect();
            let body = serde_json::json!({ "ids": bare });
            match self.write(method.clone(), path, Some(body)).await {
                Ok(_) => {}
                Err(ApiError::NotFound(_)) => {
                    for part in bare.chunks(40) {
                        let uris: Vec<String> = part
                            .iter()
                            .map(|id| format!("spotify:{kind}:{id}"))
                            .collect();
                        let q = format!("/me/library?uris={}", enc(&uris.join(",")));
                        self.write(method.clone(), &q, None).await?;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Likes tracks (ids or URIs).
    pub async fn save_tracks(&self, ids: &[&str]) -> Result<(), ApiError> {
        self.library_write(Method::PUT, "/me/tracks", "track", ids)
            .await
    }

    /// Un-likes tracks.
    pub async fn remove_tracks(&self, ids: &[&str]) -> Result<(), ApiError> {
        self.library_write(Method::DELETE, "/me/tracks", "track", ids)
            .await
    }

    /// Whether each track (id or URI) is in Liked Songs, in order (`GET /me/tracks/contains`,
    /// 50 ids a call).
    pub async fn tracks_contain(&self, ids: &[&str]) -> Result<Vec<bool>, ApiError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(50) {
            let bare: Vec<&str> = chunk.iter().map(|s| bare_id(s)).collect();
            let q = format!("/me/tracks/contains?ids={}", enc(&bare.join(",")));
            let part: Vec<bool> = self.get(&q).await?;
            if part.len() != chunk.len() {
                return Err(ApiError::Malformed(format!(
                    "GET /me/tracks/contains: {} answers for {} ids",
                    part.len(),
                    chunk.len()
                )));
            }
            out.extend(part);
        }
        Ok(out)
    }

    /// Saves albums.
    pub async fn save_albums(&self, ids: &[&str]) -> Result<(), ApiError> {
        self.library_write(Method::PUT, "/me/albums", "album", ids)
            .await
    }

    /// Removes saved albums.
    pub async fn remove_albums(&self, ids: &[&str]) -> Result<(), ApiError> {
        self.library_write(Method::DELETE, "/me/albums", "album", ids)
            .await
    }

    /// Follows artists.
    pub async fn follow_artists(&self, ids: &[&str]) -> Result<(), ApiError> {
        self.library_write(Method::PUT, "/me/following?type=artist", "artist", ids)
            .await
    }

    /// Unfollows artists.
    pub async fn unfollow_artists(&self, ids: &[&str]) -> Result<(), ApiError> {
        self.library_write(Method::DELETE, "/me/following?type=artist", "artist", ids)
            .await
    }

    /// Creates a playlist for `user` (`POST /users/{user}/playlists`, falling back to the
    /// current `POST /me/playlists`).
    pub async fn create_playlist(
        &self,
        user: &str,
        name: &str,
        public: bool,
        description: Option<&str>,
    ) -> Result<Playlist, ApiError> {
        let mut body = serde_json::json!({ "name": name, "public": public });
        if let Some(d) = description {
            body["description"] = serde_json::Value::String(d.to_string());
        }
        let path = format!("/users/{}/playlists", enc(user));
        let bytes = match self.write(Method::POST, &path, Some(body.clone())).await {
            Err(ApiError::NotFound(_)) => {
                self.write(Method::POST, "/me/playlists", Some(body))
                    .await?
            }
            other => other?,
        };
        parse(&bytes, "POST create playlist")
    }

    /// Appends items (track / episode URIs) in chunks of 100; returns the last snapshot id.
    pub async fn add_to_playlist(&self, id: &str, uris: &[&str]) -> Result<String, ApiError> {
        self.playlist_write(Method::POST, id, uris, |c| serde_json::json!({ "uris": c }))
            .await
    }

    /// Removes every occurrence of the items, in chunks of 100; returns the last snapshot id.
    pub async fn remove_from_playlist(&self, id: &str, uris: &[&str]) -> Result<String, ApiError> {
        self.playlist_write(Method::DELETE, id, uris, |c| {
            // `items` for `/items`; the deprecated `/tracks` named the same list `tracks`.
            let items: Vec<_> = c.iter().map(|u| serde_json::json!({ "uri": u })).collect();
            serde_json::json!({ "items": items, "tracks": items })
        })
        .await
    }

    async fn playlist_write(
        &self,
        method: Method,
        id: &str,
        uris: &[&str],
        body: impl Fn(&[&str]) -> serde_json::Value,
    ) -> Result<String, ApiError> {
        let id = enc(bare_id(id));
        let mut snapshot = String::new();
        for chunk in uris.chunks(100) {
            let kind = self.inner.items_path.load(Ordering::Relaxed);
            let new = format!("/playlists/{id}/items");
            let old = format!("/playlists/{id}/tracks");
            let bytes = if kind == ITEMS_OLD {
                self.write(method.clone(), &old, Some(body(chunk))).await?
            } else {
                match self.write(method.clone(), &new, Some(body(chunk))).await {
                    Err(ApiError::NotFound(_)) if kind == ITEMS_UNKNOWN => {
                        self.write(method.clone(), &old, Some(body(chunk))).await?
                    }
                    other => other?,
                }
            };
            if !bytes.is_empty() {
                let s: SnapshotId = parse(&bytes, "playlist write")?;
                snapshot = s.snapshot_id;
            }
        }
        Ok(snapshot)
    }
}

#[cfg(test)]
pub(crate) mod tests;
