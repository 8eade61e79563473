//! The simulator's Web API (`/v1/...`), written from `shared/spec/spotify-web-api.openapi.yml`
//! and backed by the catalog: the current user, their library (saved tracks, albums, shows and
//! episodes, followed artists with cursor paging, playlists, recently played), playlists,
//! albums, artists, shows and episodes (`shows`, with the caller's resume points) and search,
//! plus the library and playlist writes. Every request needs
//! `Authorization: Bearer <token>` (checked in one place, [`authorize`]); failures answer with
//! the spec's error object `{"error":{"status","message"}}`, limits outside the spec's range
//! and malformed ids or JSON with 400, unknown ids with 404, and an optional per-user rate
//! limit with 429 and `Retry-After`. The injected HTTP latency applies here too (the router's
//! middleware). This file holds the router, the request checks and the helpers every handler
//! shares; the handlers live by resource: `library` (the caller's saved items, follows, recently
//! played, top tracks), `playlists`, `search`, `albums` (albums and artists), `shows` (shows and
//! episodes), `player` (the `/v1/me/player*` endpoints over the Connect state); `objects` holds
//! the JSON shapes, `store` the mutable libraries, playlists and resume points.
//! Depends on no client module.

mod albums;
mod library;
mod objects;
pub(crate) mod player;
mod playlists;
mod search;
mod shows;
mod store;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;

use super::catalog::Entity;
use super::ids::{self, Gid, Kind};
use super::state::Shared;
use super::SimAccount;
use crate::app::App;
use crate::respond::{json_error, percent_decode};
use crate::util::lock;
use albums::{album, album_tracks, artist, artist_albums, top_tracks};
use library::{
    contains, follow, following, my_top_tracks, recently_played, save, saved_albums,
    saved_episodes, saved_shows, saved_tracks,
};
use objects::{paging, Ctx};
use playlists::{
    create_playlist, my_playlists, playlist, playlist_add, playlist_remove, playlist_tracks,
    user_playlists,
};
use search::search;
pub(crate) use shows::note_player_state;
pub(crate) use store::WebApi;
use store::WebData;

/// A refusal: status, message, and for 429 the seconds to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiErr {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiErr {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiErr {
        ApiErr {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
    fn bad(message: impl Into<String>) -> ApiErr {
        ApiErr::new(StatusCode::BAD_REQUEST, message)
    }
    fn not_found(message: impl Into<String>) -> ApiErr {
        ApiErr::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for ApiErr {
    fn into_response(self) -> Response {
        let mut r = json_error(self.status, &self.message);
        if let Some(secs) = self.retry_after {
            if let Ok(v) = secs.to_string().parse() {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}

/// Who is calling.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub username: String,
}

/// The one place the Web API checks `Authorization: Bearer`. Today: login5 access tokens
/// (with expiry) through `tokens::bearer_user`. When the accounts/OAuth work lands its shared
/// validation function, call it here instead — nothing else changes.
pub(crate) fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<Caller, ApiErr> {
    // Both the accounts service's OAuth tokens and login5 tokens (what librespot-style clients
    // use for everything) are accepted, as Spotify's Web API does.
    let token = crate::auth::bearer_token(headers)
        .map_err(|reason| ApiErr::new(StatusCode::UNAUTHORIZED, reason))?;
    shared
        .validate_web_token(token)
        .map(|(username, _scopes)| Caller { username })
        .ok_or_else(|| ApiErr::new(StatusCode::UNAUTHORIZED, "invalid or expired access token"))
}

/// A successful answer.
enum Reply {
    Json(StatusCode, Value),
    Empty(StatusCode),
}

/// One authorised request.
struct Req<'a> {
    shared: &'a Shared,
    account: SimAccount,
    base: String,
    query: HashMap<String, String>,
    id: String,
    body: &'a [u8],
}

type Res = Result<Reply, ApiErr>;

fn ok(v: Value) -> Res {
    Ok(Reply::Json(StatusCode::OK, v))
}

impl Req<'_> {
    fn user(&self) -> &str {
        &self.account.username
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            cat: &self.shared.catalog,
            base: &self.base,
            country: &self.account.country,
        }
    }

    fn data(&self) -> std::sync::MutexGuard<'_, WebData> {
        lock(&self.shared.web.data)
    }

    fn q(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str)
    }

    fn int(&self, key: &str) -> Result<Option<i64>, ApiErr> {
        self.q(key)
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| ApiErr::bad(format!("{key} must be an integer")))
            })
            .transpose()
    }

    /// `limit` within `[min, max]`, else 400.
    fn limit(&self, default: usize, min: usize, max: usize) -> Result<usize, ApiErr> {
        match self.int("limit")? {
            None => Ok(default),
            Some(n) => usize::try_from(n)
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| ApiErr::bad(format!("limit must be between {min} and {max}"))),
        }
    }

    /// `offset` ≥ 0 (and ≤ `max`), else 400.
    fn offset(&self, max: usize) -> Result<usize, ApiErr> {
        match self.int("offset")? {
            None => Ok(0),
            Some(n) => usize::try_from(n)
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| ApiErr::bad(format!("offset must be between 0 and {max}"))),
        }
    }

    /// The JSON body (`None` when empty), 400 when malformed.
    fn json(&self) -> Result<Option<Value>, ApiErr> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(self.body)
            .map(Some)
            .map_err(|_| ApiErr::bad("malformed JSON body"))
    }

    /// `ids` from the query (comma-separated) or the JSON body `{"ids": [...]}`; 1–50.
    fn ids(&self) -> Result<Vec<String>, ApiErr> {
        let list: Vec<String> = match self.q("ids") {
            Some(s) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            None => match self.json()? {
                Some(v) => string_list(v.get("ids"), "ids")?,
                None => Vec::new(),
            },
        };
        if list.is_empty() {
            return Err(ApiErr::bad("missing ids"));
        }
        if list.len() > 50 {
            return Err(ApiErr::bad("too many ids (at most 50)"));
        }
        Ok(list)
    }

    fn path(&self, rest: &str) -> String {
        format!("{}/{rest}", self.base)
    }
}

fn string_list(v: Option<&Value>, what: &str) -> Result<Vec<String>, ApiErr> {
    let arr = v
        .and_then(Value::as_array)
        .ok_or_else(|| ApiErr::bad(format!("{what} must be an array of strings")))?;
    arr.iter()
        .map(|x| {
            x.as_str()
                .map(str::to_owned)
                .ok_or_else(|| ApiErr::bad(format!("{what} must be an array of strings")))
        })
        .collect()
}

/// A base62 id, 400 if malformed.
fn parse_id(s: &str) -> Result<Gid, ApiErr> {
    ids::from_base62(s).ok_or_else(|| ApiErr::bad(format!("invalid id {:?}", clip(s))))
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// The catalog index of a `kind` item by base62 id: 400 malformed, 404 unknown.
fn lookup(r: &Req<'_>, id: &str, kind: Kind) -> Result<usize, ApiErr> {
    let gid = parse_id(id)?;
    match r.shared.catalog.entity(&gid) {
        Some(Entity::Track(i)) if kind == Kind::Track => Ok(i),
        Some(Entity::Album(i)) if kind == Kind::Album => Ok(i),
        Some(Entity::Artist(i)) if kind == Kind::Artist => Ok(i),
        Some(Entity::Show(i)) if kind == Kind::Show => Ok(i),
        Some(Entity::Episode(i)) if kind == Kind::Episode => Ok(i),
        _ => Err(ApiErr::not_found(format!(
            "no {} with id {:?}",
            kind.as_str(),
            clip(id)
        ))),
    }
}

/// A Web API playlist by base62 id: 400 malformed, 404 unknown.
fn playlist_index(data: &WebData, id: &str) -> Result<usize, ApiErr> {
    let gid = parse_id(id)?;
    data.playlist_index
        .get(&gid)
        .copied()
        .ok_or_else(|| ApiErr::not_found(format!("no playlist with id {:?}", clip(id))))
}

/// Parses a query string; 400 for broken escapes.
fn parse_query(raw: Option<&str>) -> Result<HashMap<String, String>, ApiErr> {
    let mut out = HashMap::new();
    for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(k), Some(v)) = (percent_decode(k), percent_decode(v)) else {
            return Err(ApiErr::bad("query is not valid percent-encoded UTF-8"));
        };
        out.insert(k, v);
    }
    Ok(out)
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Auth, rate limit, query parsing, then the handler.
fn serve(
    app: &App,
    headers: &HeaderMap,
    query: Option<String>,
    id: String,
    body: &[u8],
    f: impl FnOnce(&Req<'_>) -> Res,
) -> Response {
    let shared = &*app.shared;
    let run = || -> Res {
        let caller = authorize(shared, headers)?;
        if let Some((limit, window)) = shared.web.rate {
            lock(&shared.web.data)
                .rate_check(&caller.username, limit, window, Instant::now())
                .map_err(|secs| ApiErr {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    message: "API rate limit exceeded".to_owned(),
                    retry_after: Some(secs),
                })?;
        }
        let account = shared
            .account(&caller.username)
            .cloned()
            .ok_or_else(|| ApiErr::new(StatusCode::UNAUTHORIZED, "unknown user"))?;
        let req = Req {
            shared,
            account,
            base: format!("{}/v1", shared.behaviour.http_base),
            query: parse_query(query.as_deref())?,
            id,
            body,
        };
        f(&req)
    };
    match run() {
        Ok(Reply::Json(status, v)) => (status, axum::Json(v)).into_response(),
        Ok(Reply::Empty(status)) => status.into_response(),
        Err(e) => e.into_response(),
    }
}

macro_rules! h {
    ($f:expr) => {
        |State(app): State<App>,
         headers: HeaderMap,
         RawQuery(q): RawQuery,
         body: axum::body::Bytes| async move { serve(&app, &headers, q, String::new(), &body, $f) }
    };
}

macro_rules! hid {
    ($f:expr) => {
        |State(app): State<App>,
         Path(id): Path<String>,
         headers: HeaderMap,
         RawQuery(q): RawQuery,
         body: axum::body::Bytes| async move { serve(&app, &headers, q, id, &body, $f) }
    };
}

/// The `/v1` routes (merged into the simulator's router).
pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/v1/me", get(h!(me)))
        .route("/v1/me/playlists", get(h!(my_playlists)))
        .route(
            "/v1/me/tracks",
            get(h!(saved_tracks))
                .put(h!(|r| save(r, Kind::Track, true)))
                .delete(h!(|r| save(r, Kind::Track, false))),
        )
        .route(
            "/v1/me/tracks/contains",
            get(h!(|r| contains(r, Kind::Track))),
        )
        .route(
            "/v1/me/albums",
            get(h!(saved_albums))
                .put(h!(|r| save(r, Kind::Album, true)))
                .delete(h!(|r| save(r, Kind::Album, false))),
        )
        .route(
            "/v1/me/following",
            get(h!(following))
                .put(h!(|r| follow(r, true)))
                .delete(h!(|r| follow(r, false))),
        )
        .route("/v1/me/shows", get(h!(saved_shows)))
        .route("/v1/me/episodes", get(h!(saved_episodes)))
        .route("/v1/me/player/recently-played", get(h!(recently_played)))
        .route("/v1/me/top/tracks", get(h!(my_top_tracks)))
        .route("/v1/search", get(h!(search)))
        .route("/v1/playlists/{id}", get(hid!(playlist)))
        .route(
            "/v1/playlists/{id}/tracks",
            get(hid!(|r| playlist_tracks(r, "tracks", 100)))
                .post(hid!(playlist_add))
                .delete(hid!(playlist_remove)),
        )
        .route(
            "/v1/playlists/{id}/items",
            get(hid!(|r| playlist_tracks(r, "items", 50)))
                .post(hid!(playlist_add))
                .delete(hid!(playlist_remove)),
        )
        .route(
            "/v1/users/{id}/playlists",
            get(hid!(user_playlists)).post(hid!(create_playlist)),
        )
        .route("/v1/shows/{id}", get(hid!(shows::show)))
        .route("/v1/shows/{id}/episodes", get(hid!(shows::show_episodes)))
        .route("/v1/episodes/{id}", get(hid!(shows::episode)))
        .route("/v1/albums/{id}", get(hid!(album)))
        .route("/v1/albums/{id}/tracks", get(hid!(album_tracks)))
        .route("/v1/artists/{id}", get(hid!(artist)))
        .route("/v1/artists/{id}/albums", get(hid!(artist_albums)))
        .route("/v1/artists/{id}/top-tracks", get(hid!(top_tracks)))
        .merge(player::routes())
        .route("/v1/{*rest}", axum::routing::any(unknown_endpoint))
}

/// Any other `/v1/...` path: the spec's error object (static routes elsewhere still win).
async fn unknown_endpoint() -> Response {
    ApiErr::not_found("no such Web API endpoint").into_response()
}

fn me(r: &Req<'_>) -> Res {
    ok(r.ctx().private_user(&r.account))
}

/// An offset page over `n` items built by `item(index)`.
fn page_of(
    r: &Req<'_>,
    path: &str,
    extra: &str,
    (default, min, max): (usize, usize, usize),
    total: usize,
    item: impl Fn(usize) -> Value,
) -> Result<Value, ApiErr> {
    let limit = r.limit(default, min, max)?;
    let offset = r.offset(usize::MAX)?;
    let items = (offset..total.min(offset.saturating_add(limit)))
        .map(item)
        .collect();
    Ok(paging(&r.path(path), extra, items, total, offset, limit))
}

const STD_LIMIT: (usize, usize, usize) = (20, 1, 50);
