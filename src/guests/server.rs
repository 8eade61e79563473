//! The guest remote's listener: the page (`GET /`, `/page.js`, `/page.css`, compiled in, with a
//! `default-src 'self'` CSP) and the JSON API under `/api/` (docs/control-api.md, "The guest
//! remote's API").
//!
//! **Rules for every request** (the Mopidy analysis): the `Host` header must name this listener
//! — an IP literal (any of the machine's when listening on `0.0.0.0`/`::`), `localhost` or
//! the host's name — with its port (DNS rebinding, 403); an `Origin`, when sent, must be the
//! page's own (`http://` + that Host; 403); a POST must be `Content-Type: application/json`
//! (415: a form on another site cannot post here), its body at most [`MAX_BODY`] bytes (413);
//! JSON is parsed strictly (400 with the reason). Guests authenticate with
//! `Authorization: Bearer <token>` (401 when missing, forged, expired or from before a
//! restart); each guest has a request budget (429 with `Retry-After`), a bound on their
//! additions in the queue, and the party a bound on guests. Answers carry nothing of the
//! owner's: no tokens, usernames or other devices' ids — only track names, guest names and the
//! queue.
//!
//! Called by `guests.rs`. Depends on the table, the token, the control API's wire types and the
//! services (search, track metadata).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Query, Request as HttpRequest, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::table::{JoinError, Refusal, Who};
use super::{lock, now_s, Label, Remote};
use crate::control::Intent;
use crate::id::{ItemKind, SpotifyUri};
use crate::local_api::schema::{self, Permission};

/// The largest request body (a name or a URI fits many times over).
pub const MAX_BODY: usize = 4 * 1024;
/// Connections served at once (200 polling phones fit; more wait in the backlog).
const MAX_CONNECTIONS: usize = 1024;
/// A connection without a byte either way for this long is closed (slowloris).
const IDLE: Duration = Duration::from_secs(30);
/// Search results per query.
const SEARCH_LIMIT: u32 = 10;
/// A request (a search, a track lookup) must be answered within this.
const DEADLINE: Duration = Duration::from_secs(15);

const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("page.js");
const STYLE: &str = include_str!("page.css");
const CSP: &str = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

type Shared = Arc<Remote>;

pub(super) fn spawn(remote: Shared, listener: tokio::net::TcpListener) {
    let stopped = remote.api.stopped();
    let app = router(remote);
    tokio::spawn(async move {
        let listener = super::conn::Listener::new(listener, MAX_CONNECTIONS, IDLE);
        // The peer's address reaches `join` (the per-address join limit).
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<super::conn::Peer>(),
        )
        .with_graceful_shutdown(stopped)
        .await;
    });
}

pub fn router(remote: Shared) -> Router {
    let listen = remote.listen;
    Router::new()
        .route(
            "/",
            get(|| async { asset(PAGE, "text/html; charset=utf-8") }),
        )
        .route(
            "/page.js",
            get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/page.css",
            get(|| async { asset(STYLE, "text/css; charset=utf-8") }),
        )
        .route("/api/join", post(join))
        .route("/api/me", get(me))
        .route("/api/search", get(search))
        .route("/api/queue", get(queue))
        .route("/api/enqueue", post(enqueue))
        .route("/api/remove", post(remove))
        .route("/api/move", post(move_item))
        .route("/api/volume", post(volume))
        .route(
            "/api/next",
            post(|s: State<Shared>, h: HeaderMap, b: Body| {
                simple(s, h, b, Permission::Skip, Intent::Next)
            }),
        )
        .route(
            "/api/prev",
            post(|s: State<Shared>, h: HeaderMap, b: Body| {
                simple(s, h, b, Permission::Skip, Intent::Previous)
            }),
        )
        .route(
            "/api/pause",
            post(|s: State<Shared>, h: HeaderMap, b: Body| {
                simple(s, h, b, Permission::Pause, Intent::Pause)
            }),
        )
        .route(
            "/api/play",
            post(|s: State<Shared>, h: HeaderMap, b: Body| {
                simple(s, h, b, Permission::Pause, Intent::Play)
            }),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such page") })
        .layer(middleware::from_fn(
            move |req: HttpRequest, next: Next| async move { checks(listen, req, next).await },
        ))
        .with_state(remote)
}

fn asset(body: &'static str, kind: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    r
}

fn error(code: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let body = json!({"ok": false, "error": {"code": kind, "message": message.into()}});
    (code, Json(body)).into_response()
}

fn ok(mut v: Value) -> Response {
    if let Some(o) = v.as_object_mut() {
        o.insert("ok".into(), Value::Bool(true));
    }
    (StatusCode::OK, Json(v)).into_response()
}

/// Whether `host` (a Host header) names a listener on `listen`.
pub fn host_allowed(host: &str, listen: SocketAddr, hostname: Option<&str>) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if !n.ends_with(']') || n.starts_with('[') => match p.parse::<u16>() {
            Ok(p) => (n, p),
            Err(_) => return false,
        },
        _ => (host, 80),
    };
    if port != listen.port() {
        return false;
    }
    let name = name.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = name.parse::<IpAddr>() {
        return listen.ip().is_unspecified() || ip == listen.ip();
    }
    let name = name.to_ascii_lowercase();
    if name == "localhost" {
        return listen.ip().is_loopback() || listen.ip().is_unspecified();
    }
    hostname.is_some_and(|h| {
        let h = h.to_ascii_lowercase();
        name == h || name == format!("{h}.local")
    })
}

/// Whether an `Origin` header is the page's own for this `host`.
pub fn origin_allowed(origin: &str, host: &str) -> bool {
    origin.eq_ignore_ascii_case(&format!("http://{host}"))
}

/// Whether a Content-Type names JSON.
pub fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// This machine's name (read once: every request checks its Host against it).
fn hostname() -> Option<&'static str> {
    static NAME: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
    })
    .as_deref()
}

async fn checks(listen: SocketAddr, req: HttpRequest, next: Next) -> Response {
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !host_allowed(host, listen, hostname()) {
        return error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the Host header must name this listener",
        );
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let same = origin.to_str().is_ok_and(|o| origin_allowed(o, host));
        if !same {
            return error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "requests from other sites are refused",
            );
        }
    }
    if req.method() == Method::POST
        && !is_json(
            headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        )
    {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "requests are JSON: Content-Type: application/json",
        );
    }
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    r
}

/// A JSON body: bounded, strict.
async fn body<T: DeserializeOwned>(b: Body) -> Result<T, Box<Response>> {
    let bytes = axum::body::to_bytes(b, MAX_BODY).await.map_err(|_| {
        Box::new(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is larger than {MAX_BODY} bytes"),
        ))
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            "bad_json",
            format!("the body is not the JSON expected: {e}"),
        ))
    })
}

fn refused(r: Refusal) -> Response {
    match r {
        Refusal::Unknown => {
            let mut resp = error(StatusCode::UNAUTHORIZED, "unauthorized", r.to_string());
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            resp
        }
        Refusal::Banned => error(StatusCode::FORBIDDEN, "banned", r.to_string()),
        Refusal::RateLimited { retry_after_s } => {
            let mut resp = error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", r.to_string());
            if let Ok(v) = HeaderValue::from_str(&retry_after_s.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
        Refusal::Forbidden(_) => error(StatusCode::FORBIDDEN, "forbidden", r.to_string()),
        Refusal::TooMany(_) => error(StatusCode::TOO_MANY_REQUESTS, "limit", r.to_string()),
    }
}

/// The guest behind the request's bearer token, charged one request.
fn guest(remote: &Remote, headers: &HeaderMap) -> Result<Who, Box<Response>> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("");
    let now = now_s();
    let id = remote
        .key
        .verify(token.trim(), now)
        .map_err(|_| Box::new(refused(Refusal::Unknown)))?;
    lock(&remote.table)
        .authorize(id, now, Instant::now())
        .map_err(|r| Box::new(refused(r)))
}

fn require(who: &Who, p: Permission, what: &'static str) -> Result<(), Box<Response>> {
    if who.may(p) {
        Ok(())
    } else {
        Err(Box::new(refused(Refusal::Forbidden(what))))
    }
}

fn me_json(who: &Who) -> Value {
    json!({
        "name": who.name,
        "permissions": who.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
    })
}

/// Hands intents to the host: the same path as every front end.
fn submit(remote: &Remote, intents: Vec<Intent>) -> Response {
    if remote.api.submit(intents) {
        ok(json!({}))
    } else {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the player is not running",
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinBody {
    name: String,
}

async fn join(
    State(r): State<Shared>,
    ConnectInfo(super::conn::Peer(peer)): ConnectInfo<super::conn::Peer>,
    req: HttpRequest,
) -> Response {
    let b: JoinBody = match body(req.into_body()).await {
        Ok(b) => b,
        Err(e) => return *e,
    };
    let now = now_s();
    let joined = lock(&r.table).join_from(peer.ip(), &b.name, now, Instant::now());
    let who = match joined {
        Ok(w) => w,
        Err(e) => {
            let code = match e {
                JoinError::Length | JoinError::Control => StatusCode::BAD_REQUEST,
                JoinError::Taken => StatusCode::CONFLICT,
                JoinError::Banned => StatusCode::FORBIDDEN,
                JoinError::Full(_) => StatusCode::SERVICE_UNAVAILABLE,
                JoinError::TooFast(_) => StatusCode::TOO_MANY_REQUESTS,
            };
            let kind = match e {
                JoinError::Length | JoinError::Control => "invalid",
                JoinError::Taken => "taken",
                JoinError::Banned => "banned",
                JoinError::Full(_) => "full",
                JoinError::TooFast(_) => "rate_limited",
            };
            let mut resp = error(code, kind, e.to_string());
            if let JoinError::TooFast(wait) = e {
                if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            return resp;
        }
    };
    let expires = lock(&r.table).expiry(now);
    tracing::info!(guest = %crate::logging::escaped(&who.name), "guest remote: a guest joined");
    r.api.publish(schema::Event::GuestJoined {
        name: who.name.clone(),
    });
    let mut v = me_json(&who);
    v["token"] = json!(r.key.sign(who.id, expires));
    v["expires_at"] = json!(expires);
    ok(v)
}

async fn me(State(r): State<Shared>, headers: HeaderMap) -> Response {
    match guest(&r, &headers) {
        Ok(who) => ok(me_json(&who)),
        Err(e) => *e,
    }
}

#[derive(Deserialize)]
struct SearchQuery {
    q: String,
}

async fn search(
    State(r): State<Shared>,
    headers: HeaderMap,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(e) = guest(&r, &headers) {
        return *e;
    }
    let Ok(Query(SearchQuery { q })) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid",
            "q: the search text is missing",
        );
    };
    let q = q.trim();
    if q.is_empty() || q.len() > 200 {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid",
            "q: must be 1..=200 bytes",
        );
    }
    let Some(services) = r.api.services() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "not signed in yet",
        );
    };
    let found = tokio::time::timeout(
        DEADLINE,
        services
            .web_api
            .search(q, &[crate::api::webapi::SearchType::Track], SEARCH_LIMIT, 0),
    )
    .await;
    let tracks = match found {
        Ok(Ok(res)) => res.tracks.map(|p| p.items).unwrap_or_default(),
        Ok(Err(e)) => {
            tracing::warn!("guest remote: search failed: {e}");
            return error(StatusCode::BAD_GATEWAY, "failed", "the search failed");
        }
        Err(_) => {
            return error(
                StatusCode::GATEWAY_TIMEOUT,
                "failed",
                "the search took too long",
            )
        }
    };
    let results: Vec<Value> = tracks
        .into_iter()
        .filter(|t| SpotifyUri::parse(&t.uri).is_ok_and(|u| u.kind == ItemKind::Track))
        .map(|t| {
            let label = Label {
                name: t.name.clone(),
                artists: t.artists.iter().map(|a| a.name.clone()).collect(),
            };
            r.remember(t.uri.clone(), label.clone());
            json!({
                "uri": t.uri,
                "name": label.name,
                "artists": label.artists,
                "album": t.album.map(|a| a.name).unwrap_or_default(),
                "duration_ms": t.duration_ms,
            })
        })
        .collect();
    ok(json!({ "results": results }))
}

async fn queue(State(r): State<Shared>, headers: HeaderMap) -> Response {
    let who = match guest(&r, &headers) {
        Ok(w) => w,
        Err(e) => return *e,
    };
    let (q, owners) = r.queue();
    let status = r.api.status();
    let names: Vec<Option<String>> = {
        let t = lock(&r.table);
        owners
            .iter()
            .map(|o| o.and_then(|id| t.name(id)).map(str::to_string))
            .collect()
    };
    let items: Vec<Value> = q
        .items
        .iter()
        .zip(owners.iter().zip(names))
        .map(|(item, (owner, added_by))| {
            let label = r.label(&item.uri);
            json!({
                "index": item.index,
                "uri": item.uri,
                "name": item.name.clone().or_else(|| label.as_ref().map(|l| l.name.clone())),
                "artists": label.map(|l| l.artists).unwrap_or_default(),
                "added_by": added_by,
                "mine": *owner == Some(who.id),
            })
        })
        .collect();
    let state = match status.state {
        schema::State::Playing => "playing",
        schema::State::Paused => "paused",
        schema::State::Loading => "loading",
        schema::State::Stopped => "stopped",
    };
    ok(json!({
        "state": state,
        "volume": status.volume,
        "current": q.current,
        "items": items,
        "me": me_json(&who),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UriBody {
    uri: String,
}

async fn enqueue(State(r): State<Shared>, req: HttpRequest) -> Response {
    let who = match guest(&r, req.headers()) {
        Ok(w) => w,
        Err(e) => return *e,
    };
    if let Err(e) = require(&who, Permission::Enqueue, "add to the queue") {
        return *e;
    }
    let b: UriBody = match body(req.into_body()).await {
        Ok(b) => b,
        Err(e) => return *e,
    };
    let id = match SpotifyUri::parse(b.uri.trim()) {
        Ok(u) if u.kind == ItemKind::Track => u.id,
        Ok(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid",
                "uri: only tracks can be added",
            )
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid", format!("uri: {e}")),
    };
    let uri = format!("spotify:track:{}", id.to_base62());
    let q = r.api.player_queue();
    if let Err(e) = lock(&r.table).may_add(&who, &q, Instant::now()) {
        return refused(e);
    }
    let Some(services) = r.api.services() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "not signed in yet",
        );
    };
    // The track must exist (and its name is what the queue shows).
    match tokio::time::timeout(DEADLINE, services.spclient.track(id)).await {
        Ok(Ok(t)) => r.remember(
            uri.clone(),
            Label {
                name: t.name,
                artists: t.artists.into_iter().map(|a| a.name).collect(),
            },
        ),
        Ok(Err(_)) => return error(StatusCode::NOT_FOUND, "not_found", "no such track"),
        Err(_) => {
            return error(
                StatusCode::GATEWAY_TIMEOUT,
                "failed",
                "the lookup took too long",
            )
        }
    }
    lock(&r.table).record_addition(&who, uri.clone(), Instant::now());
    let answer = submit(&r, vec![Intent::AddToQueue(vec![id])]);
    if answer.status() == StatusCode::OK {
        tracing::info!(guest = %crate::logging::escaped(&who.name), %uri, "guest remote: enqueued");
        r.api.publish(schema::Event::GuestEnqueued {
            name: who.name.clone(),
            uri,
        });
    }
    answer
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexBody {
    index: usize,
}

async fn remove(State(r): State<Shared>, req: HttpRequest) -> Response {
    let who = match guest(&r, req.headers()) {
        Ok(w) => w,
        Err(e) => return *e,
    };
    let b: IndexBody = match body(req.into_body()).await {
        Ok(b) => b,
        Err(e) => return *e,
    };
    let (q, owners) = r.queue();
    if b.index >= q.items.len() {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid",
            "index: past the end of the queue",
        );
    }
    if Some(b.index) == q.current {
        return error(
            StatusCode::CONFLICT,
            "invalid",
            "index: that track is playing",
        );
    }
    // A guest may always remove what they added; others' additions need `remove`.
    if owners[b.index] != Some(who.id) {
        if let Err(e) = require(&who, Permission::Remove, "remove others' tracks") {
            return *e;
        }
    }
    submit(&r, vec![Intent::Remove(b.index)])
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveBody {
    from: usize,
    to: usize,
}

async fn move_item(State(r): State<Shared>, req: HttpRequest) -> Response {
    let who = match guest(&r, req.headers()) {
        Ok(w) => w,
        Err(e) => return *e,
    };
    if let Err(e) = require(&who, Permission::Move, "reorder the queue") {
        return *e;
    }
    let b: MoveBody = match body(req.into_body()).await {
        Ok(b) => b,
        Err(e) => return *e,
    };
    let len = r.api.player_queue().items.len();
    if b.from >= len || b.to >= len {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid",
            "from/to: past the end of the queue",
        );
    }
    submit(
        &r,
        vec![Intent::Move {
            from: b.from,
            to: b.to,
        }],
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VolumeBody {
    percent: u8,
}

async fn volume(State(r): State<Shared>, req: HttpRequest) -> Response {
    let who = match guest(&r, req.headers()) {
        Ok(w) => w,
        Err(e) => return *e,
    };
    if let Err(e) = require(&who, Permission::Volume, "change the volume") {
        return *e;
    }
    let b: VolumeBody = match body(req.into_body()).await {
        Ok(b) => b,
        Err(e) => return *e,
    };
    if b.percent > 100 {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid",
            "percent: must be 0..=100",
        );
    }
    submit(&r, vec![Intent::SetVolume(schema::raw_volume(b.percent))])
}

/// A command without arguments (the body, when sent, must be an empty JSON object).
async fn simple(
    State(r): State<Shared>,
    headers: HeaderMap,
    b: Body,
    p: Permission,
    intent: Intent,
) -> Response {
    let who = match guest(&r, &headers) {
        Ok(w) => w,
        Err(e) => return *e,
    };
    let what = match p {
        Permission::Skip => "skip tracks",
        _ => "play or pause",
    };
    if let Err(e) = require(&who, p, what) {
        return *e;
    }
    let bytes = match axum::body::to_bytes(b, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the body is too large",
            )
        }
    };
    if !bytes.iter().all(u8::is_ascii_whitespace) {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Empty {}
        if let Err(e) = serde_json::from_slice::<Empty>(&bytes) {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_json",
                format!("the body must be {{}}: {e}"),
            );
        }
    }
    submit(&r, vec![intent])
}
