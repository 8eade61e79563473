//! The connect-state HTTP endpoints (spec §11.1, §12): device registration (`PUT
//! /connect-state/v1/devices/{id}`, `…/inactive`, `DELETE`), transfer, player commands and
//! volume between devices, each checked (Bearer token, connection id, body) and handed to the
//! [`Hub`]; an accepted PUT's player state also gives the Web API the user's resume point in
//! an episode (`webapi::note_player_state`). Depends on the hub (its parent module), the shared
//! state, `auth`, `respond` and that one Web API function.

use super::*;
use crate::app::App;
use crate::auth::auth;
use crate::respond::{json_error, protobuf_response, HttpErr};

// ---------------------------------------------------------------------------------------------
// HTTP

/// The connect-state routes (merged into the simulator's router).
pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route(
            "/connect-state/v1/devices/{id}",
            put(put_device).delete(delete_device),
        )
        .route(
            "/connect-state/v1/devices/{id}/inactive",
            put(inactive_device),
        )
        .route(
            "/connect-state/v1/connect/transfer/from/{from}/to/{to}",
            post(transfer),
        )
        .route(
            "/connect-state/v1/player/command/from/{from}/to/{to}",
            post(command),
        )
        .route(
            "/connect-state/v1/connect/volume/from/{from}/to/{to}",
            put(volume),
        )
        .route("/connect-state/v1/cluster/wake-devices", post(wake_devices))
        .route("/connect-state/v1/{*rest}", axum::routing::any(unknown))
        .route("/connect-state/{*rest}", axum::routing::any(unknown))
}

async fn unknown() -> Response {
    json_error(StatusCode::NOT_FOUND, "unknown connect-state endpoint")
}

/// The body, gunzipped when a (X-)Transfer-Encoding or Content-Encoding header says gzip.
pub(crate) fn body_bytes(headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, HttpErr> {
    let gzip = [
        "content-encoding",
        "x-transfer-encoding",
        "transfer-encoding",
    ]
    .iter()
    .any(|h| {
        headers
            .get(*h)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("gzip"))
    });
    if !gzip {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    let limit = u64::try_from(MAX_BODY + 1).unwrap_or(u64::MAX);
    match flate2::read::GzDecoder::new(body)
        .take(limit)
        .read_to_end(&mut out)
    {
        Ok(_) if out.len() <= MAX_BODY => Ok(out),
        Ok(_) => Err(HttpErr(
            StatusCode::PAYLOAD_TOO_LARGE,
            "decompressed body too large".to_owned(),
        )),
        Err(_) => Err(HttpErr::bad("body is not valid gzip")),
    }
}

fn valid_device_id(id: &str) -> Result<(), HttpErr> {
    if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(HttpErr::bad(
            "device id must be 1-128 printable ASCII characters",
        ));
    }
    Ok(())
}

fn deliver_error(e: &Deliver) -> Response {
    json_error(e.status(), &e.to_string())
}

/// `PUT /connect-state/v1/devices/{id}`.
async fn put_device(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let user = match auth(&app.shared, &headers) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    if let Err(r) = valid_device_id(&id) {
        return r.into_response();
    }
    let bytes = match body_bytes(&headers, &body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let Ok(req) = PutStateRequest::parse_from_bytes(&bytes) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "body is not a PutStateRequest protobuf",
        );
    };
    let reported = req.device.player_state.clone().into_option();
    let conn = headers
        .get("x-spotify-connection-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    match app.shared.connect.put_state(&user, &id, conn, req) {
        Ok(cluster) => {
            // An episode's place is kept per user, as Spotify does, from what devices report.
            if let Some(ps) = &reported {
                crate::webapi::note_player_state(&app.shared, &user, ps, crate::util::now_ms());
            }
            protobuf_response(StatusCode::OK, &cluster)
        }
        Err(e @ PutError::TooManyDevices) => {
            json_error(StatusCode::TOO_MANY_REQUESTS, &e.to_string())
        }
        Err(e) => json_error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

/// `PUT /connect-state/v1/devices/{id}/inactive` → 204.
async fn inactive_device(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let user = match auth(&app.shared, &headers) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    if app.shared.connect.set_inactive(&user, &id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        json_error(StatusCode::NOT_FOUND, "no such device on this account")
    }
}

/// `DELETE /connect-state/v1/devices/{id}` → 204 (also for devices already gone).
async fn delete_device(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let user = match auth(&app.shared, &headers) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    app.shared.connect.remove_device(&user, &id);
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /connect-state/v1/cluster/wake-devices` → 204 (nothing to wake in the simulator).
async fn wake_devices(State(app): State<App>, headers: HeaderMap) -> Response {
    match auth(&app.shared, &headers) {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r.into_response(),
    }
}

fn parse_json_body(headers: &HeaderMap, body: &[u8]) -> Result<Option<Value>, HttpErr> {
    let bytes = body_bytes(headers, body)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|_| HttpErr::bad("malformed JSON body"))
}

/// The sender id: any well-formed device id. (It need not be registered: a pure controller may
/// command devices; an unknown sender just has no state of its own to transfer.)
fn check_sender(from: &str) -> Result<(), HttpErr> {
    valid_device_id(from)
}

/// `POST /connect-state/v1/connect/transfer/from/{from}/to/{to}` → `{"ack_id"}`.
async fn transfer(
    State(app): State<App>,
    Path((from, to)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let shared = &app.shared;
    let user = match auth(shared, &headers) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    if let Err(r) = check_sender(&from) {
        return r.into_response();
    }
    let parsed = match parse_json_body(&headers, &body) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    // librespot sends {"transfer_options": {...}}, the desktop {"options": {...}}.
    let mut options = Map::new();
    if let Some(v) = &parsed {
        for key in ["transfer_options", "options"] {
            if let Some(Value::Object(o)) = v.get(key) {
                for (k, v) in o {
                    options.insert(k.clone(), v.clone());
                }
            }
        }
    }
    match shared
        .connect
        .transfer(&shared.catalog, &user, Some(&from), &from, &to, options)
        .await
    {
        Ok(ack) => Json(json!({ "ack_id": ack })).into_response(),
        Err(e) => deliver_error(&e),
    }
}

/// `POST /connect-state/v1/player/command/from/{from}/to/{to}` body `{"command": {...}}` →
/// `{"ack_id"}`.
async fn command(
    State(app): State<App>,
    Path((from, to)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let shared = &app.shared;
    let user = match auth(shared, &headers) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    if let Err(r) = check_sender(&from) {
        return r.into_response();
    }
    let command = match parse_json_body(&headers, &body) {
        Ok(Some(Value::Object(mut o))) => match o.remove("command") {
            Some(c @ Value::Object(_)) => c,
            _ => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    "body must be {\"command\": {\"endpoint\": ...}}",
                )
            }
        },
        Ok(_) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "body must be {\"command\": {\"endpoint\": ...}}",
            )
        }
        Err(r) => return r.into_response(),
    };
    match shared.connect.command(&user, &from, &to, command).await {
        Ok(ack) => Json(json!({ "ack_id": ack })).into_response(),
        Err(e) => deliver_error(&e),
    }
}

/// `PUT /connect-state/v1/connect/volume/from/{from}/to/{to}` body `{"volume": 0..65535}` →
/// `{"ack_id"}`.
async fn volume(
    State(app): State<App>,
    Path((from, to)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let shared = &app.shared;
    let user = match auth(shared, &headers) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    if let Err(r) = check_sender(&from) {
        return r.into_response();
    }
    let volume = match parse_json_body(&headers, &body) {
        Ok(Some(v)) => v.get("volume").and_then(Value::as_u64),
        Ok(None) => None,
        Err(r) => return r.into_response(),
    };
    let Some(volume) = volume.filter(|v| *v <= 65535) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "body must be {\"volume\": 0..65535}",
        );
    };
    let volume = u32::try_from(volume).unwrap_or(65535);
    match shared.connect.volume(&user, &to, volume) {
        Ok(ack) => Json(json!({ "ack_id": ack })).into_response(),
        Err(e) => deliver_error(&e),
    }
}
