//! The simulator's Web API (`/v1/...`), written from `shared/spec/spotify-web-api.openapi.yml`
//! and backed by the catalog: the current user, their library (saved tracks, albums, shows and
//! episodes, followed artists with cursor paging, playlists, recently played), playlists,
//! albums, artists, shows and episodes (`shows`, with the caller's resume points) and search,
//! plus the library and playlist writes. Every request needs
//! `Authorization: Bearer <token>` (checked in one place, [`authorize`]); failures answer with
//! the spec's error object `{"error":{"status","message"}}`, limits outside the spec's range
//! and malformed ids or JSON with 400, unknown ids with 404, and an optional per-user rate
//! limit with 429 and `Retry-After`. The injected HTTP latency applies here too (the router's
//! middleware). Files: `objects` the JSON shapes, `store` the mutable libraries, playlists and
//! resume points, `player` the `/v1/me/player*` endpoints over the Connect state, `shows` the
//! show and episode endpoints.
//! Depends on no client module.

mod objects;
pub(crate) mod player;
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
use serde_json::{json, Value};

use super::catalog::{AlbumType, Entity};
use super::ids::{self, Gid, Kind};
use super::state::Shared;
use super::SimAccount;
use crate::app::App;
use crate::respond::{json_error, percent_decode};
use crate::util::lock;
use objects::{paging, rfc3339_ms, Ctx};
pub(crate) use shows::note_player_state;
pub(crate) use store::WebApi;
use store::{now_secs, Entry, WebData, WebPlaylist};

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

fn playlists_page(r: &Req<'_>, owner: &str, path: &str, public_only: bool) -> Res {
    let data = r.data();
    let ctx = r.ctx();
    let list: Vec<usize> = data
        .libraries
        .get(owner)
        .map(|l| l.playlists.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|&i| !public_only || data.playlists.get(i).is_some_and(|p| p.public))
        .collect();
    ok(page_of(r, path, "", STD_LIMIT, list.len(), |n| {
        data.playlists
            .get(list[n])
            .map_or(Value::Null, |p| ctx.playlist_simple(p))
    })?)
}

fn my_playlists(r: &Req<'_>) -> Res {
    playlists_page(r, r.user(), "me/playlists", false)
}

fn user_playlists(r: &Req<'_>) -> Res {
    if r.shared.account(&r.id).is_none() {
        return Err(ApiErr::not_found(format!("no user {:?}", clip(&r.id))));
    }
    let own = r.id == r.user();
    playlists_page(r, &r.id.clone(), &format!("users/{}/playlists", r.id), !own)
}

/// Items saved with a date: `{"added_at", key: object}`.
fn saved_page(
    r: &Req<'_>,
    path: &str,
    key: &str,
    pick: impl Fn(&store::Library) -> Vec<(usize, i64)>,
    object: impl Fn(&Ctx<'_>, usize) -> Value,
) -> Res {
    let list = r
        .data()
        .libraries
        .get(r.user())
        .map(&pick)
        .unwrap_or_default();
    let ctx = r.ctx();
    ok(page_of(r, path, "", STD_LIMIT, list.len(), |n| {
        let (i, at) = list[n];
        json!({ "added_at": objects::rfc3339(at), key: object(&ctx, i) })
    })?)
}

fn saved_tracks(r: &Req<'_>) -> Res {
    saved_page(
        r,
        "me/tracks",
        "track",
        |l| l.saved_tracks.clone(),
        |c, i| c.track(i, true),
    )
}

fn saved_albums(r: &Req<'_>) -> Res {
    saved_page(
        r,
        "me/albums",
        "album",
        |l| l.saved_albums.clone(),
        |c, i| c.album(i),
    )
}

fn saved_shows(r: &Req<'_>) -> Res {
    saved_page(
        r,
        "me/shows",
        "show",
        |l| l.saved_shows.clone(),
        |c, i| c.show(i),
    )
}

fn saved_episodes(r: &Req<'_>) -> Res {
    saved_page(
        r,
        "me/episodes",
        "episode",
        |l| l.saved_episodes.clone(),
        |c, i| c.episode(i, true),
    )
}

/// `PUT`/`DELETE me/tracks|albums`.
fn save(r: &Req<'_>, kind: Kind, add: bool) -> Res {
    let ids = r.ids()?;
    let items = ids
        .iter()
        .map(|id| lookup(r, id, kind))
        .collect::<Result<Vec<usize>, ApiErr>>()?;
    let mut data = r.data();
    let lib = data.libraries.entry(r.user().to_owned()).or_default();
    let list = if kind == Kind::Track {
        &mut lib.saved_tracks
    } else {
        &mut lib.saved_albums
    };
    let now = now_secs();
    for i in items {
        let present = list.iter().any(|(x, _)| *x == i);
        if add && !present {
            list.insert(0, (i, now));
        } else if !add {
            list.retain(|(x, _)| *x != i);
        }
    }
    Ok(Reply::Empty(StatusCode::OK))
}

/// `GET me/tracks/contains?ids=`: one boolean per id, in order (at most 50; unknown ids 404
/// like the writes).
fn contains(r: &Req<'_>, kind: Kind) -> Res {
    let ids = r.ids()?;
    let items = ids
        .iter()
        .map(|id| lookup(r, id, kind))
        .collect::<Result<Vec<usize>, ApiErr>>()?;
    let data = r.data();
    let saved: Vec<bool> = match data.libraries.get(r.user()) {
        None => vec![false; items.len()],
        Some(lib) => items
            .iter()
            .map(|i| lib.saved_tracks.iter().any(|(x, _)| x == i))
            .collect(),
    };
    ok(json!(saved))
}

fn following(r: &Req<'_>) -> Res {
    match r.q("type") {
        Some("artist") => {}
        Some(_) => return Err(ApiErr::bad("type must be artist")),
        None => return Err(ApiErr::bad("missing type (expected type=artist)")),
    }
    let limit = r.limit(20, 1, 50)?;
    let list = r
        .data()
        .libraries
        .get(r.user())
        .map(|l| l.followed_artists.clone())
        .unwrap_or_default();
    let cat = &r.shared.catalog;
    let start = match r.q("after") {
        None => 0,
        Some(after) => {
            let gid = parse_id(after)?;
            list.iter()
                .position(|&a| cat.artists.get(a).is_some_and(|x| x.gid == gid))
                .map_or(list.len(), |p| p + 1)
        }
    };
    let end = list.len().min(start.saturating_add(limit));
    let ctx = r.ctx();
    let items: Vec<Value> = list[start..end].iter().map(|&a| ctx.artist(a)).collect();
    let url = |after: Option<&str>| {
        let mut u = format!("{}?type=artist&limit={limit}", r.path("me/following"));
        if let Some(a) = after {
            u.push_str(&format!("&after={}", encode(a)));
        }
        u
    };
    let mut page = json!({
        "href": url(r.q("after")),
        "items": items,
        "limit": limit,
        "total": list.len(),
        "cursors": {},
    });
    if end < list.len() && end > start {
        if let Some(last) = cat.artists.get(list[end - 1]) {
            let id = ids::to_base62(&last.gid);
            page["next"] = url(Some(&id)).into();
            page["cursors"]["after"] = id.into();
        }
    }
    ok(json!({ "artists": page }))
}

/// `PUT`/`DELETE me/following?type=artist|user&ids=`.
fn follow(r: &Req<'_>, add: bool) -> Res {
    let kind = r
        .q("type")
        .ok_or_else(|| ApiErr::bad("missing type (artist or user)"))?;
    let ids = r.ids()?;
    match kind {
        "artist" => {
            let items = ids
                .iter()
                .map(|id| lookup(r, id, Kind::Artist))
                .collect::<Result<Vec<usize>, ApiErr>>()?;
            let mut data = r.data();
            let list = &mut data
                .libraries
                .entry(r.user().to_owned())
                .or_default()
                .followed_artists;
            for i in items {
                if add && !list.contains(&i) {
                    list.push(i);
                } else if !add {
                    list.retain(|x| *x != i);
                }
            }
        }
        // Following users is accepted but not modelled.
        "user" => {}
        _ => return Err(ApiErr::bad("type must be artist or user")),
    }
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

fn recently_played(r: &Req<'_>) -> Res {
    let limit = r.limit(20, 1, 50)?;
    let after = r.int("after")?;
    let before = r.int("before")?;
    if after.is_some() && before.is_some() {
        return Err(ApiErr::bad("give after or before, not both"));
    }
    let all = r
        .data()
        .libraries
        .get(r.user())
        .map(|l| l.recently_played.clone())
        .unwrap_or_default();
    let filtered: Vec<(usize, i64)> = all
        .iter()
        .copied()
        .filter(|&(_, at)| after.is_none_or(|a| at > a) && before.is_none_or(|b| at < b))
        .collect();
    // Newest first; with `after`, the items just after the cursor.
    let chosen: &[(usize, i64)] = if after.is_some() {
        &filtered[filtered.len().saturating_sub(limit)..]
    } else {
        &filtered[..filtered.len().min(limit)]
    };
    let ctx = r.ctx();
    let items: Vec<Value> = chosen
        .iter()
        .map(|&(t, at)| {
            let album = r.shared.catalog.tracks.get(t).map(|x| x.album);
            let context = album
                .and_then(|a| r.shared.catalog.albums.get(a))
                .map(|a| {
                    let id = ids::to_base62(&a.gid);
                    json!({
                        "type": "album",
                        "href": r.path(&format!("albums/{id}")),
                        "external_urls": { "spotify": format!("https://open.spotify.com/album/{id}") },
                        "uri": format!("spotify:album:{id}"),
                    })
                })
                .unwrap_or_else(|| json!({}));
            json!({ "track": ctx.track(t, true), "played_at": rfc3339_ms(at), "context": context })
        })
        .collect();
    let base = r.path("me/player/recently-played");
    let mut href = format!("{base}?limit={limit}");
    if let Some(a) = after {
        href.push_str(&format!("&after={a}"));
    }
    if let Some(b) = before {
        href.push_str(&format!("&before={b}"));
    }
    let mut page = json!({
        "href": href,
        "items": items,
        "limit": limit,
        "total": all.len(),
        "cursors": {},
    });
    if let (Some(first), Some(last)) = (chosen.first(), chosen.last()) {
        page["cursors"] = json!({ "after": first.1.to_string(), "before": last.1.to_string() });
        if all.iter().any(|&(_, at)| at < last.1) {
            page["next"] = format!("{base}?limit={limit}&before={}", last.1).into();
        }
    }
    ok(page)
}

/// `GET /me/top/tracks` (OpenAPI `get-users-top-tracks`): a `PagingTrackObject` of the user's
/// "affinity" ranking. The simulator derives it from the user's liked songs, a different fixed
/// order per `time_range` (`short_term`: most recently liked first, `medium_term` (default):
/// the library's order, `long_term`: catalog order); another `time_range` is a 400.
fn my_top_tracks(r: &Req<'_>) -> Res {
    let range = r.q("time_range").unwrap_or("medium_term");
    let saved: Vec<usize> = r
        .data()
        .libraries
        .get(r.user())
        .map(|l| l.saved_tracks.iter().map(|&(t, _)| t).collect())
        .unwrap_or_default();
    let list: Vec<usize> = match range {
        "short_term" => saved.into_iter().rev().collect(),
        "medium_term" => saved,
        "long_term" => {
            let mut v = saved;
            v.sort_unstable();
            v
        }
        other => {
            return Err(ApiErr::bad(format!(
                "time_range must be short_term, medium_term or long_term, not {other:?}"
            )))
        }
    };
    let ctx = r.ctx();
    let extra = format!("time_range={range}");
    ok(page_of(
        r,
        "me/top/tracks",
        &extra,
        STD_LIMIT,
        list.len(),
        |n| ctx.track(list[n], true),
    )?)
}

const SEARCH_TYPES: [&str; 7] = [
    "album",
    "artist",
    "playlist",
    "track",
    "show",
    "episode",
    "audiobook",
];

/// Lower-cased query words (a `field:` prefix is dropped).
fn search_words(q: &str) -> Vec<String> {
    q.split_whitespace()
        .map(|w| match w.split_once(':') {
            Some((field, v)) if field.chars().all(|c| c.is_ascii_alphabetic()) => v,
            _ => w,
        })
        .map(|w| w.trim_matches('"').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

fn matches(words: &[String], hay: &str) -> bool {
    let hay = hay.to_lowercase();
    words.iter().all(|w| hay.contains(w.as_str()))
}

fn search(r: &Req<'_>) -> Res {
    let q = r.q("q").unwrap_or_default().trim().to_owned();
    if q.is_empty() {
        return Err(ApiErr::bad("missing q"));
    }
    let types: Vec<&str> = r
        .q("type")
        .ok_or_else(|| ApiErr::bad("missing type"))?
        .split(',')
        .map(str::trim)
        .collect();
    if let Some(bad) = types.iter().find(|t| !SEARCH_TYPES.contains(t)) {
        return Err(ApiErr::bad(format!("unknown type {:?}", clip(bad))));
    }
    let limit = r.limit(5, 1, 10)?;
    let offset = r.offset(1000)?;
    let words = search_words(&q);
    let cat = &*r.shared.catalog;
    let ctx_owned = r.ctx();
    let ctx = &ctx_owned;
    let artist_names = |list: &[usize]| -> String {
        list.iter()
            .filter_map(|&a| cat.artists.get(a).map(|x| x.name.as_str()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut out = serde_json::Map::new();
    for t in types {
        let (hits, build): (Vec<usize>, Box<dyn Fn(usize) -> Value + '_>) = match t {
            "track" => {
                let mut hits: Vec<usize> = (0..cat.tracks.len())
                    .filter(|&i| {
                        let x = &cat.tracks[i];
                        x.alternative_of.is_none() && {
                            let album = cat.albums.get(x.album).map_or("", |a| a.name.as_str());
                            matches(
                                &words,
                                &format!("{} {} {album}", x.name, artist_names(&x.artists)),
                            )
                        }
                    })
                    .collect();
                hits.sort_by_key(|&i| std::cmp::Reverse(cat.tracks[i].popularity));
                (hits, Box::new(|i| ctx.track(i, true)))
            }
            "album" => {
                let mut hits: Vec<usize> = (0..cat.albums.len())
                    .filter(|&i| {
                        let x = &cat.albums[i];
                        matches(&words, &format!("{} {}", x.name, artist_names(&x.artists)))
                    })
                    .collect();
                hits.sort_by_key(|&i| std::cmp::Reverse(cat.albums[i].popularity));
                (hits, Box::new(|i| ctx.album_simple(i)))
            }
            "artist" => {
                let mut hits: Vec<usize> = (0..cat.artists.len())
                    .filter(|&i| matches(&words, &cat.artists[i].name))
                    .collect();
                hits.sort_by_key(|&i| std::cmp::Reverse(cat.artists[i].popularity));
                (hits, Box::new(|i| ctx.artist(i)))
            }
            "show" => (
                (0..cat.shows.len())
                    .filter(|&i| {
                        let s = &cat.shows[i];
                        matches(&words, &format!("{} {}", s.name, s.publisher))
                    })
                    .collect(),
                Box::new(|i| ctx.show(i)),
            ),
            "episode" => (
                (0..cat.episodes.len())
                    .filter(|&i| matches(&words, &cat.episodes[i].name))
                    .collect(),
                Box::new(|i| ctx.episode(i, false)),
            ),
            "playlist" => {
                let data = r.data();
                let found: Vec<WebPlaylist> = data
                    .playlists
                    .iter()
                    .filter(|p| {
                        p.public && matches(&words, &format!("{} {}", p.name, p.description))
                    })
                    .cloned()
                    .collect();
                drop(data);
                let n = found.len();
                (
                    (0..n).collect(),
                    Box::new(move |i| found.get(i).map_or(Value::Null, |p| ctx.playlist_simple(p))),
                )
            }
            _ => (Vec::new(), Box::new(|_| Value::Null)),
        };
        let items: Vec<Value> = hits
            .iter()
            .skip(offset)
            .take(limit)
            .map(|&i| build(i))
            .collect();
        let extra = format!("query={}&type={t}", encode(&q));
        out.insert(
            format!("{t}s"),
            paging(&r.path("search"), &extra, items, hits.len(), offset, limit),
        );
    }
    ok(Value::Object(out))
}

fn playlist(r: &Req<'_>) -> Res {
    let data = r.data();
    let i = playlist_index(&data, &r.id)?;
    ok(r.ctx().playlist(&data.playlists[i]))
}

fn playlist_tracks(r: &Req<'_>, tail: &str, max: usize) -> Res {
    let data = r.data();
    let i = playlist_index(&data, &r.id)?;
    let p = &data.playlists[i];
    let limit = r.limit(20, 1, max)?;
    let offset = r.offset(usize::MAX)?;
    let items = r.ctx().playlist_entries(p, offset, limit);
    ok(paging(
        &r.path(&format!("playlists/{}/{tail}", r.id)),
        "",
        items,
        p.entries.len(),
        offset,
        limit,
    ))
}

fn can_edit(p: &WebPlaylist, user: &str) -> Result<(), ApiErr> {
    if p.owner == user || p.collaborative {
        Ok(())
    } else {
        Err(ApiErr::new(
            StatusCode::FORBIDDEN,
            "you cannot edit this playlist",
        ))
    }
}

/// A track URI: 400 malformed or not a track, 404 unknown.
fn track_by_uri(r: &Req<'_>, uri: &str) -> Result<usize, ApiErr> {
    let (kind, gid) =
        ids::parse_uri(uri).ok_or_else(|| ApiErr::bad(format!("invalid uri {:?}", clip(uri))))?;
    if kind != Kind::Track {
        return Err(ApiErr::bad(format!("not a track uri {:?}", clip(uri))));
    }
    match r.shared.catalog.entity(&gid) {
        Some(Entity::Track(i)) => Ok(i),
        _ => Err(ApiErr::not_found(format!("no track {:?}", clip(uri)))),
    }
}

fn playlist_add(r: &Req<'_>) -> Res {
    let body = r.json()?;
    let (uris, position) = match r.q("uris") {
        Some(s) => (
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            r.int("position")?,
        ),
        None => {
            let body = body.ok_or_else(|| ApiErr::bad("missing uris"))?;
            let position = match body.get("position") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_i64()
                        .ok_or_else(|| ApiErr::bad("position must be an integer"))?,
                ),
            };
            (string_list(body.get("uris"), "uris")?, position)
        }
    };
    let uris: Vec<String> = uris;
    if uris.is_empty() || uris.len() > 100 {
        return Err(ApiErr::bad("give 1 to 100 uris"));
    }
    let tracks = uris
        .iter()
        .map(|u| track_by_uri(r, u))
        .collect::<Result<Vec<usize>, ApiErr>>()?;
    let mut data = r.data();
    let i = playlist_index(&data, &r.id)?;
    let p = &mut data.playlists[i];
    can_edit(p, r.user())?;
    let at = match position {
        None => p.entries.len(),
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| *n <= p.entries.len())
            .ok_or_else(|| ApiErr::bad("position out of range"))?,
    };
    let now = now_secs();
    let new = tracks.into_iter().map(|track| Entry {
        track,
        added_at: now,
        added_by: r.user().to_owned(),
    });
    p.entries.splice(at..at, new);
    p.version += 1;
    Ok(Reply::Json(
        StatusCode::CREATED,
        json!({ "snapshot_id": p.snapshot_id() }),
    ))
}

fn playlist_remove(r: &Req<'_>) -> Res {
    let body = r.json()?.ok_or_else(|| ApiErr::bad("missing JSON body"))?;
    let list = body
        .get("tracks")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiErr::bad("tracks must be an array of {\"uri\"}"))?;
    if list.is_empty() || list.len() > 100 {
        return Err(ApiErr::bad("give 1 to 100 tracks"));
    }
    let tracks = list
        .iter()
        .map(|t| {
            let uri = t
                .get("uri")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiErr::bad("tracks must be an array of {\"uri\"}"))?;
            track_by_uri(r, uri)
        })
        .collect::<Result<Vec<usize>, ApiErr>>()?;
    let mut data = r.data();
    let i = playlist_index(&data, &r.id)?;
    let p = &mut data.playlists[i];
    can_edit(p, r.user())?;
    p.entries.retain(|e| !tracks.contains(&e.track));
    p.version += 1;
    ok(json!({ "snapshot_id": p.snapshot_id() }))
}

fn create_playlist(r: &Req<'_>) -> Res {
    if r.id != r.user() {
        return Err(ApiErr::new(
            StatusCode::FORBIDDEN,
            "you can only create playlists for yourself",
        ));
    }
    let body = r.json()?.ok_or_else(|| ApiErr::bad("missing JSON body"))?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiErr::bad("name is required"))?
        .to_owned();
    let flag = |key: &str, default: bool| match body.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_bool()
            .ok_or_else(|| ApiErr::bad(format!("{key} must be a boolean"))),
    };
    let public = flag("public", true)?;
    let collaborative = flag("collaborative", false)?;
    let description = match body.get("description") {
        None | Some(Value::Null) => String::new(),
        Some(v) => v
            .as_str()
            .ok_or_else(|| ApiErr::bad("description must be a string"))?
            .to_owned(),
    };
    let mut gid = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut gid);
    let p = WebPlaylist {
        gid,
        name,
        description,
        owner: r.user().to_owned(),
        public,
        collaborative,
        entries: Vec::new(),
        version: 1,
    };
    let value = r.ctx().playlist(&p);
    let mut data = r.data();
    let i = data.insert_playlist(p);
    data.libraries
        .entry(r.user().to_owned())
        .or_default()
        .playlists
        .insert(0, i);
    Ok(Reply::Json(StatusCode::CREATED, value))
}

fn album(r: &Req<'_>) -> Res {
    let i = lookup(r, &r.id, Kind::Album)?;
    ok(r.ctx().album(i))
}

fn album_tracks(r: &Req<'_>) -> Res {
    let i = lookup(r, &r.id, Kind::Album)?;
    let tracks = &r.shared.catalog.albums[i].tracks;
    let ctx = r.ctx();
    ok(page_of(
        r,
        &format!("albums/{}/tracks", r.id),
        "",
        STD_LIMIT,
        tracks.len(),
        |n| ctx.track(tracks[n], false),
    )?)
}

fn artist(r: &Req<'_>) -> Res {
    let i = lookup(r, &r.id, Kind::Artist)?;
    ok(r.ctx().artist(i))
}

fn artist_albums(r: &Req<'_>) -> Res {
    let i = lookup(r, &r.id, Kind::Artist)?;
    let groups: Vec<String> = match r.q("include_groups") {
        None => ["album", "single", "compilation", "appears_on"]
            .map(str::to_owned)
            .to_vec(),
        Some(s) => s.split(',').map(|g| g.trim().to_owned()).collect(),
    };
    let known = ["album", "single", "compilation", "appears_on"];
    if let Some(bad) = groups.iter().find(|g| !known.contains(&g.as_str())) {
        return Err(ApiErr::bad(format!(
            "unknown include_groups {:?}",
            clip(bad)
        )));
    }
    let cat = &*r.shared.catalog;
    let mut list: Vec<(usize, &str)> = Vec::new();
    for &a in &cat.artists[i].albums {
        let g = match cat.albums[a].album_type {
            AlbumType::Album => "album",
            AlbumType::Single => "single",
            AlbumType::Compilation => "compilation",
        };
        if groups.iter().any(|x| x == g) {
            list.push((a, g));
        }
    }
    if groups.iter().any(|x| x == "appears_on") {
        for (a, album) in cat.albums.iter().enumerate() {
            let guest = !album.artists.contains(&i)
                && album
                    .tracks
                    .iter()
                    .any(|&t| cat.tracks.get(t).is_some_and(|t| t.artists.contains(&i)));
            if guest {
                list.push((a, "appears_on"));
            }
        }
    }
    let ctx = r.ctx();
    let extra = match r.q("include_groups") {
        Some(g) => format!("include_groups={}", encode(g)),
        None => String::new(),
    };
    ok(page_of(
        r,
        &format!("artists/{}/albums", r.id),
        &extra,
        (5, 0, 10),
        list.len(),
        |n| ctx.album_discography(list[n].0, list[n].1),
    )?)
}

fn top_tracks(r: &Req<'_>) -> Res {
    let i = lookup(r, &r.id, Kind::Artist)?;
    let ctx = r.ctx();
    let tracks: Vec<Value> = r.shared.catalog.artists[i]
        .top_tracks
        .iter()
        .map(|&t| ctx.track(t, true))
        .collect();
    ok(json!({ "tracks": tracks }))
}
