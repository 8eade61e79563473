//! The Web API player endpoints (`/v1/me/player*`, from `shared/spec/spotify-web-api.openapi.yml`
//! and spec §12) backed by the same Connect state as connect-state: playback state (204 when no
//! device is active), devices, transfer, play/pause, next/previous, seek, volume, shuffle,
//! repeat, the queue. Commands travel as the same dealer requests a phone's would (sender id
//! [`WEB_API_SENDER`]) to `?device_id=` or the active device and answer 204 once the device
//! acknowledged; no active device → 404, a refusal → 502, no answer → 504. Volume goes out as
//! the `connect/volume` message. Called by the `webapi` router; depends on no client module.

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use librespot_protocol::devices::DeviceType;
use librespot_protocol::player::PlayerState;
use protobuf::Enum;
use serde_json::{json, Map, Value};

use super::super::catalog::Entity;
use super::super::connect_state::{Deliver, DeviceView};
use super::super::context;
use super::super::ids;
use super::super::state::Shared;
use super::super::SimAccount;
use super::objects::Ctx;
use super::{authorize, parse_query, ApiErr};
use crate::app::App;
use crate::util::lock;
use crate::util::now_ms;

/// `sent_by_device_id` of commands the Web API sends.
pub(crate) const WEB_API_SENDER: &str = "sim-web-api";

/// The player routes (merged into the Web API's).
pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/v1/me/player", get(state).put(transfer))
        .route("/v1/me/player/currently-playing", get(currently_playing))
        .route("/v1/me/player/devices", get(devices))
        .route("/v1/me/player/play", put(play))
        .route("/v1/me/player/pause", put(pause))
        .route("/v1/me/player/next", post(next))
        .route("/v1/me/player/previous", post(previous))
        .route("/v1/me/player/seek", put(seek))
        .route("/v1/me/player/volume", put(volume))
        .route("/v1/me/player/shuffle", put(shuffle))
        .route("/v1/me/player/repeat", put(repeat))
        .route("/v1/me/player/queue", get(queue).post(add_to_queue))
}

/// One authorised player request.
struct Call {
    account: SimAccount,
    query: HashMap<String, String>,
}

fn prelude(shared: &Shared, headers: &HeaderMap, raw: Option<&str>) -> Result<Call, ApiErr> {
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
    Ok(Call {
        account,
        query: parse_query(raw)?,
    })
}

fn finish(r: Result<Response, ApiErr>) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

fn deliver_err(e: Deliver) -> ApiErr {
    let message = match &e {
        Deliver::UnknownDevice(_) | Deliver::Offline(_) => "Device not found".to_owned(),
        other => other.to_string(),
    };
    ApiErr::new(e.status(), message)
}

fn premium(call: &Call) -> Result<(), ApiErr> {
    if call.account.product == "premium" {
        Ok(())
    } else {
        Err(ApiErr::new(
            StatusCode::FORBIDDEN,
            "Player command failed: Premium required",
        ))
    }
}

/// `?device_id=` (must be a device of the account) or the active device.
fn target(shared: &Shared, call: &Call) -> Result<String, ApiErr> {
    let user = &call.account.username;
    match call.query.get("device_id").filter(|d| !d.is_empty()) {
        Some(id) => {
            if shared.connect.devices(user).iter().any(|d| &d.id == id) {
                Ok(id.clone())
            } else {
                Err(ApiErr::not_found("Device not found"))
            }
        }
        None => shared
            .connect
            .playback(user)
            .0
            .ok_or_else(|| ApiErr::not_found("Player command failed: No active device found")),
    }
}

fn device_type_name(t: i32) -> &'static str {
    match DeviceType::from_i32(t) {
        Some(DeviceType::COMPUTER) => "Computer",
        Some(DeviceType::TABLET) => "Tablet",
        Some(DeviceType::SMARTPHONE) => "Smartphone",
        Some(DeviceType::SPEAKER) => "Speaker",
        Some(DeviceType::TV) => "TV",
        Some(DeviceType::AVR) => "AVR",
        Some(DeviceType::STB) => "STB",
        Some(DeviceType::AUDIO_DONGLE) => "AudioDongle",
        Some(DeviceType::GAME_CONSOLE) => "GameConsole",
        Some(DeviceType::CAST_VIDEO) => "CastVideo",
        Some(DeviceType::CAST_AUDIO) => "CastAudio",
        Some(DeviceType::AUTOMOBILE) => "Automobile",
        Some(DeviceType::SMARTWATCH) => "Smartwatch",
        Some(DeviceType::CHROMEBOOK) => "Chromebook",
        _ => "Unknown",
    }
}

/// `DeviceObject`.
pub(crate) fn device_json(d: &DeviceView) -> Value {
    let percent = (u64::from(d.volume.min(65535)) * 100 + 32767) / 65535;
    json!({
        "id": d.id,
        "is_active": d.is_active,
        "is_private_session": d.is_private_session,
        "is_restricted": false,
        "name": d.name,
        "type": device_type_name(d.device_type),
        "volume_percent": if d.disable_volume { Value::Null } else { percent.into() },
        "supports_volume": !d.disable_volume,
    })
}

/// The position now: extrapolated while playing, capped at the duration.
pub(crate) fn progress_ms(ps: &PlayerState, now: i64) -> i64 {
    let mut p = ps.position_as_of_timestamp;
    if ps.is_playing && !ps.is_paused && ps.timestamp > 0 {
        let speed = if ps.playback_speed > 0.0 {
            ps.playback_speed
        } else {
            1.0
        };
        // Both values come from a client's PUT: saturate rather than overflow.
        let gap = now.saturating_sub(ps.timestamp).max(0);
        p = p.saturating_add((gap as f64 * speed) as i64);
    }
    if ps.duration > 0 {
        p = p.min(ps.duration);
    }
    p.max(0)
}

fn item_json(shared: &Shared, account: &SimAccount, uri: &str) -> (Value, &'static str) {
    let ctx = Ctx {
        cat: &shared.catalog,
        base: &format!("{}/v1", shared.behaviour.http_base),
        country: &account.country,
    };
    match shared.catalog.by_uri(uri) {
        Some(Entity::Track(i)) => (ctx.track(i, true), "track"),
        Some(Entity::Episode(i)) => (ctx.episode(i, true), "episode"),
        _ => (Value::Null, "unknown"),
    }
}

fn context_json(shared: &Shared, uri: &str) -> Value {
    match ids::parse_uri(uri) {
        Some((kind, gid)) => {
            let id = ids::to_base62(&gid);
            let k = kind.as_str();
            json!({
                "type": k,
                "href": format!("{}/v1/{k}s/{id}", shared.behaviour.http_base),
                "external_urls": { "spotify": format!("https://open.spotify.com/{k}/{id}") },
                "uri": uri,
            })
        }
        None => Value::Null,
    }
}

/// `CurrentlyPlayingContextObject`; `None` when no device is active.
fn playback_json(shared: &Shared, account: &SimAccount, with_device: bool) -> Option<Value> {
    let user = &account.username;
    let (active, ps) = shared.connect.playback(user);
    let active = active?;
    let ps = ps.unwrap_or_default();
    let device = shared
        .connect
        .devices(user)
        .into_iter()
        .find(|d| d.id == active)?;
    let opts = ps.options.clone().unwrap_or_default();
    let repeat = if opts.repeating_track {
        "track"
    } else if opts.repeating_context {
        "context"
    } else {
        "off"
    };
    let track_uri = ps.track.as_ref().map(|t| t.uri.clone()).unwrap_or_default();
    let (item, kind) = item_json(shared, account, &track_uri);
    let playing = ps.is_playing && !ps.is_paused;
    let mut m = Map::new();
    if with_device {
        m.insert("device".into(), device_json(&device));
    }
    m.insert("repeat_state".into(), repeat.into());
    m.insert("shuffle_state".into(), opts.shuffling_context.into());
    m.insert("context".into(), context_json(shared, &ps.context_uri));
    m.insert(
        "timestamp".into(),
        (if ps.timestamp > 0 {
            ps.timestamp
        } else {
            now_ms()
        })
        .into(),
    );
    m.insert(
        "progress_ms".into(),
        if item.is_null() {
            Value::Null
        } else {
            progress_ms(&ps, now_ms()).into()
        },
    );
    m.insert("is_playing".into(), playing.into());
    m.insert("item".into(), item);
    m.insert("currently_playing_type".into(), kind.into());
    m.insert(
        "actions".into(),
        json!({ "pausing": !playing, "resuming": playing }),
    );
    Some(Value::Object(m))
}

async fn state(State(app): State<App>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    finish((|| {
        let call = prelude(&app.shared, &headers, q.as_deref())?;
        Ok(match playback_json(&app.shared, &call.account, true) {
            Some(v) => axum::Json(v).into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        })
    })())
}

async fn currently_playing(
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    finish((|| {
        let call = prelude(&app.shared, &headers, q.as_deref())?;
        Ok(match playback_json(&app.shared, &call.account, false) {
            Some(v) => axum::Json(v).into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        })
    })())
}

async fn devices(State(app): State<App>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    finish((|| {
        let call = prelude(&app.shared, &headers, q.as_deref())?;
        let list: Vec<Value> = app
            .shared
            .connect
            .devices(&call.account.username)
            .iter()
            .filter(|d| d.online)
            .map(device_json)
            .collect();
        Ok(axum::Json(json!({ "devices": list })).into_response())
    })())
}

fn json_body(body: &[u8]) -> Result<Option<Value>, ApiErr> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|_| ApiErr::bad("malformed JSON body"))
}

/// `PUT /v1/me/player` `{"device_ids": ["id"], "play": bool}`.
async fn transfer(
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let shared = &app.shared;
    let run = async {
        let call = prelude(shared, &headers, q.as_deref())?;
        premium(&call)?;
        let v = json_body(&body)?.unwrap_or(Value::Null);
        let ids = v
            .get("device_ids")
            .and_then(Value::as_array)
            .ok_or_else(|| ApiErr::bad("device_ids must be an array with one device id"))?;
        let [id] = ids.as_slice() else {
            return Err(ApiErr::bad("device_ids must contain exactly one device id"));
        };
        let id = id
            .as_str()
            .ok_or_else(|| ApiErr::bad("device_ids must contain strings"))?;
        let play = match v.get("play") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(ApiErr::bad("play must be a boolean")),
        };
        let user = &call.account.username;
        if !shared.connect.devices(user).iter().any(|d| d.id == id) {
            return Err(ApiErr::not_found("Device not found"));
        }
        let mut options = Map::new();
        if play {
            options.insert("restore_paused".into(), "resume".into());
        }
        shared
            .connect
            .transfer(&shared.catalog, user, None, WEB_API_SENDER, id, options)
            .await
            .map_err(deliver_err)?;
        Ok(StatusCode::NO_CONTENT.into_response())
    };
    finish(run.await)
}

/// Sends `command` to the target device; 204 on success.
async fn send(shared: &Shared, call: &Call, command: Value) -> Result<Response, ApiErr> {
    premium(call)?;
    let to = target(shared, call)?;
    shared
        .connect
        .command(&call.account.username, WEB_API_SENDER, &to, command)
        .await
        .map_err(deliver_err)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The `play` command for a Web API play body.
fn play_command(shared: &Shared, v: &Value) -> Result<Option<Value>, ApiErr> {
    let context_uri = v.get("context_uri").and_then(Value::as_str);
    let uris = v.get("uris");
    let context = match (context_uri, uris) {
        (Some(_), Some(_)) => {
            return Err(ApiErr::bad("give context_uri or uris, not both"));
        }
        (Some(uri), None) => {
            if context::context_tracks(shared, uri).is_none() {
                return Err(ApiErr::bad("Invalid context uri"));
            }
            json!({ "uri": uri, "url": format!("context://{uri}"), "metadata": {} })
        }
        (None, Some(list)) => {
            let list = list
                .as_array()
                .filter(|l| !l.is_empty())
                .ok_or_else(|| ApiErr::bad("uris must be a non-empty array"))?;
            let mut tracks = Vec::new();
            for (i, u) in list.iter().enumerate() {
                let u = u
                    .as_str()
                    .filter(|u| {
                        matches!(
                            shared.catalog.by_uri(u),
                            Some(Entity::Track(_) | Entity::Episode(_))
                        )
                    })
                    .ok_or_else(|| ApiErr::bad("uris must be track or episode URIs"))?;
                tracks.push(json!({ "uri": u, "uid": context::uid_for("", i) }));
            }
            json!({ "uri": "", "url": "", "metadata": {}, "pages": [ { "tracks": tracks } ] })
        }
        (None, None) => return Ok(None),
    };
    let mut options = Map::new();
    if let Some(offset) = v.get("offset").filter(|o| !o.is_null()) {
        if let Some(p) = offset.get("position") {
            let p = p
                .as_u64()
                .ok_or_else(|| ApiErr::bad("offset.position must be a non-negative integer"))?;
            options.insert("skip_to".into(), json!({ "track_index": p }));
        } else if let Some(u) = offset.get("uri") {
            let u = u
                .as_str()
                .ok_or_else(|| ApiErr::bad("offset.uri must be a string"))?;
            options.insert("skip_to".into(), json!({ "track_uri": u }));
        } else {
            return Err(ApiErr::bad("offset needs position or uri"));
        }
    }
    if let Some(p) = v.get("position_ms").filter(|p| !p.is_null()) {
        let p = p
            .as_u64()
            .ok_or_else(|| ApiErr::bad("position_ms must be a non-negative integer"))?;
        options.insert("seek_to".into(), p.into());
    }
    options.insert("initially_paused".into(), false.into());
    Ok(Some(json!({
        "endpoint": "play",
        "context": context,
        "play_origin": { "feature_identifier": "web-api", "feature_version": "sim" },
        "options": Value::Object(options),
        "logging_params": {},
    })))
}

/// `PUT /v1/me/player/play`: a new context, or resume (transferring to `device_id` first
/// when it is not the active device).
async fn play(
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let shared = &app.shared;
    let run = async {
        let call = prelude(shared, &headers, q.as_deref())?;
        premium(&call)?;
        let v = json_body(&body)?.unwrap_or(Value::Null);
        if let Some(cmd) = play_command(shared, &v)? {
            return send(shared, &call, cmd).await;
        }
        let to = target(shared, &call)?;
        let user = &call.account.username;
        if shared.connect.playback(user).0.as_deref() != Some(to.as_str()) {
            let mut options = Map::new();
            options.insert("restore_paused".into(), "resume".into());
            shared
                .connect
                .transfer(&shared.catalog, user, None, WEB_API_SENDER, &to, options)
                .await
                .map_err(deliver_err)?;
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        send(
            shared,
            &call,
            json!({ "endpoint": "resume", "logging_params": {} }),
        )
        .await
    };
    finish(run.await)
}

macro_rules! simple {
    ($name:ident, $build:expr) => {
        async fn $name(
            State(app): State<App>,
            headers: HeaderMap,
            RawQuery(q): RawQuery,
        ) -> Response {
            let shared = &app.shared;
            let run = async {
                let call = prelude(shared, &headers, q.as_deref())?;
                let build: fn(&Call) -> Result<Value, ApiErr> = $build;
                let cmd = build(&call)?;
                send(shared, &call, cmd).await
            };
            finish(run.await)
        }
    };
}

fn required<'a>(call: &'a Call, key: &str) -> Result<&'a str, ApiErr> {
    call.query
        .get(key)
        .map(String::as_str)
        .ok_or_else(|| ApiErr::bad(format!("missing {key}")))
}

simple!(pause, |_| Ok(
    json!({ "endpoint": "pause", "logging_params": {} })
));
simple!(next, |_| Ok(
    json!({ "endpoint": "skip_next", "logging_params": {} })
));
simple!(previous, |_| Ok(
    json!({ "endpoint": "skip_prev", "logging_params": {} })
));
simple!(seek, |call| {
    let p: u64 = required(call, "position_ms")?
        .trim()
        .parse()
        .map_err(|_| ApiErr::bad("position_ms must be a non-negative integer"))?;
    Ok(json!({ "endpoint": "seek_to", "value": p, "position": p, "logging_params": {} }))
});
simple!(shuffle, |call| {
    let on = match required(call, "state")? {
        "true" => true,
        "false" => false,
        _ => return Err(ApiErr::bad("state must be true or false")),
    };
    Ok(json!({ "endpoint": "set_shuffling_context", "value": on, "logging_params": {} }))
});
simple!(repeat, |call| {
    let (context, track) = match required(call, "state")? {
        "track" => (true, true),
        "context" => (true, false),
        "off" => (false, false),
        _ => return Err(ApiErr::bad("state must be track, context or off")),
    };
    Ok(json!({
        "endpoint": "set_options",
        "repeating_context": context,
        "repeating_track": track,
        "logging_params": {},
    }))
});

/// `POST /v1/me/player/queue?uri=`.
async fn add_to_queue(
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let shared = &app.shared;
    let run = async {
        let call = prelude(shared, &headers, q.as_deref())?;
        let uri = required(&call, "uri")?.to_owned();
        if !matches!(
            shared.catalog.by_uri(&uri),
            Some(Entity::Track(_) | Entity::Episode(_))
        ) {
            return Err(ApiErr::bad("uri must be a track or episode URI"));
        }
        let cmd = json!({
            "endpoint": "add_to_queue",
            "track": { "uri": uri, "metadata": { "is_queued": "true" }, "provider": "queue" },
            "logging_params": {},
        });
        send(shared, &call, cmd).await
    };
    finish(run.await)
}

/// `PUT /v1/me/player/volume?volume_percent=`.
async fn volume(State(app): State<App>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let shared = &app.shared;
    finish((|| {
        let call = prelude(shared, &headers, q.as_deref())?;
        premium(&call)?;
        let pct: u32 = required(&call, "volume_percent")?
            .trim()
            .parse()
            .ok()
            .filter(|p| *p <= 100)
            .ok_or_else(|| ApiErr::bad("volume_percent must be between 0 and 100"))?;
        let to = target(shared, &call)?;
        let volume = pct * 65535 / 100;
        shared
            .connect
            .volume(&call.account.username, &to, volume)
            .map_err(deliver_err)?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })())
}

/// `GET /v1/me/player/queue` → `{"currently_playing", "queue"}`.
async fn queue(State(app): State<App>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let shared = &app.shared;
    finish((|| {
        let call = prelude(shared, &headers, q.as_deref())?;
        let (_, ps) = shared.connect.playback(&call.account.username);
        let ps = ps.unwrap_or_default();
        let current = ps
            .track
            .as_ref()
            .map(|t| item_json(shared, &call.account, &t.uri).0)
            .unwrap_or(Value::Null);
        let upcoming: Vec<Value> = ps
            .next_tracks
            .iter()
            .map(|t| item_json(shared, &call.account, &t.uri).0)
            .filter(|v| !v.is_null())
            .collect();
        Ok(axum::Json(json!({ "currently_playing": current, "queue": upcoming })).into_response())
    })())
}
