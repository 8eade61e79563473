//! The simulator's HTTP server (axum): the router for every HTTP endpoint — apresolve
//! (`GET /?type=accesspoint&type=dealer&type=spclient`, spec §1, answering only the requested
//! lists of `"host:port"` strings), client-token and login5 (`tokens`), spclient metadata and
//! storage-resolve (`spclient`), the CDN (`cdn`), the cover images (`covers`), the dealer websocket on `/` (`dealer`),
//! connect-state (`connect_state`), context-resolve (`context`), the admin endpoint (`admin`) —
//! behind the `gate` middleware (black holes, injected 429s, the PUT limit) — plus the injected
//! latency every response waits for, and the small response helpers they share (JSON errors, protobuf bodies). Bad
//! queries get a 400 with a JSON error. Depends on no client module.

use axum::extract::{RawQuery, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::app::App;
use crate::respond::percent_decode;
use crate::util::lock;
use crate::{
    accounts, admin, cdn, connect_state, context, covers, dealer, gate, lyrics, spclient, tokens,
    webapi,
};

/// The HTTP routes.
pub(crate) fn router(app: App) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/v1/clienttoken", post(tokens::endpoints::client_token))
        .route("/v3/login", post(tokens::endpoints::login5))
        .route(
            "/extended-metadata/v0/extended-metadata",
            post(spclient::extended_metadata),
        )
        .route("/metadata/4/{kind}/{id}", get(spclient::metadata))
        .route(
            "/storage-resolve/files/audio/{mode}/{file}",
            get(spclient::storage_resolve),
        )
        .route(
            "/storage-resolve/v2/files/audio/{mode}/{format}/{file}",
            get(spclient::storage_resolve_v2),
        )
        .route("/color-lyrics/v2/track/{id}", get(lyrics::track_lyrics))
        .route("/audio/{file}", get(cdn::serve))
        .route("/image/{file}", get(covers::serve))
        .merge(accounts::routes())
        .merge(connect_state::endpoints::routes())
        .merge(context::routes())
        .merge(webapi::routes())
        .merge(admin::routes())
        .layer(middleware::from_fn_with_state(app.clone(), latency))
        // Outermost: black holes, injected 429s and the PUT limit come before everything.
        .layer(middleware::from_fn_with_state(app.clone(), gate::gate))
        .with_state(app)
}

/// Holds every response back by the injected latency.
async fn latency(State(app): State<App>, request: Request, next: Next) -> Response {
    let delay = lock(&app.shared.http_faults).latency;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    next.run(request).await
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

/// `GET /`: the dealer websocket (`?access_token=…` or an Upgrade header), else apresolve.
async fn root(State(app): State<App>, RawQuery(query): RawQuery, request: Request) -> Response {
    if dealer::is_dealer_request(request.headers(), query.as_deref()) {
        return dealer::accept(app, query, request).await;
    }
    apresolve(State(app), RawQuery(query)).await
}

/// `GET /?type=…` → `{"accesspoint":[…], …}` with just the requested keys.
async fn apresolve(State(app): State<App>, RawQuery(query): RawQuery) -> Response {
    let endpoints = &app.endpoints;
    let query = query.unwrap_or_default();
    let mut body = Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(key), Some(value)) = (percent_decode(key), percent_decode(value)) else {
            return bad_request("query is not valid percent-encoded UTF-8".to_owned());
        };
        if key != "type" {
            continue;
        }
        let list = match value.as_str() {
            "accesspoint" => &endpoints.accesspoint,
            "dealer" => &endpoints.dealer,
            "spclient" => &endpoints.spclient,
            other => {
                let shown: String = other.chars().take(40).collect();
                return bad_request(format!("unknown type {shown:?}"));
            }
        };
        body.insert(value, Value::from(list.clone()));
    }
    if body.is_empty() {
        return bad_request("expected ?type=accesspoint|dealer|spclient".to_owned());
    }
    Json(Value::Object(body)).into_response()
}
