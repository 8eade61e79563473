//! The simulator's admin endpoint on its HTTP listener, so a test or a person can fault a
//! simulator running in its own process (`FAULTS.md`): `POST /_sim/fault/{name}` with the
//! fault's JSON parameters (an empty body = none) applies a [`Fault`] and answers its
//! [`FaultAck`]; `GET /_sim/stats` answers [`SimStats`]. Only loopback peers are served (403
//! otherwise); bad input gets a JSON error `{"error": {"status", "message"}}` (404 for an
//! unknown fault, 400 for bad parameters). The `gate` never holds or limits these routes.
//! `GET /_sim/endpoints` answers the client endpoints ([`crate::SimEndpoints`], what `tonearm
//! --sim URL` configures itself from); it is served to any peer, as apresolve is (nothing in it
//! is secret, and a simulator listening on a LAN address is reached from other machines).
//! Also the small client the `tonearm sim fault …` command uses: [`fault`] and [`stats`].
//! Depends on no client module.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

use super::faults::{self, Fault, FaultAck, FaultError};
use super::SimStats;
use crate::app::App;
use crate::respond::json_error;

/// Largest accepted parameter body.
const MAX_BODY: usize = 16 * 1024;
/// How long one admin call may take (the client side).
const TIMEOUT: Duration = Duration::from_secs(10);

/// The admin routes (merged into the simulator's router).
pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/_sim/fault/{name}", post(fault_route))
        .route("/_sim/stats", get(stats_route))
        .route("/_sim/endpoints", get(endpoints_route))
}

async fn endpoints_route(State(app): State<App>) -> Response {
    Json(app.client_endpoints.as_ref().clone()).into_response()
}

/// `Some(403)` unless the peer is a loopback address (or cannot be known).
fn refuse_remote(request: &Request) -> Option<Response> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical());
    match peer {
        Some(ip) if ip.is_loopback() => None,
        Some(ip) => {
            tracing::warn!(%ip, "admin request from a non-loopback address refused");
            Some(json_error(
                StatusCode::FORBIDDEN,
                "the admin endpoint only serves loopback clients",
            ))
        }
        None => Some(json_error(
            StatusCode::FORBIDDEN,
            "the admin endpoint cannot tell where this request comes from",
        )),
    }
}

async fn fault_route(
    State(app): State<App>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    if let Some(refused) = refuse_remote(&request) {
        return refused;
    }
    let Ok(body) = axum::body::to_bytes(request.into_body(), MAX_BODY).await else {
        return json_error(StatusCode::PAYLOAD_TOO_LARGE, "parameters too large");
    };
    let params = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => v,
            Err(_) => return json_error(StatusCode::BAD_REQUEST, "the body is not JSON"),
        }
    };
    match Fault::parse(&name, params) {
        Ok(fault) => Json(faults::apply(&app.shared, fault)).into_response(),
        Err(e @ FaultError::Unknown(_)) => json_error(StatusCode::NOT_FOUND, &e.to_string()),
        Err(e) => json_error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

async fn stats_route(State(app): State<App>, request: Request) -> Response {
    if let Some(refused) = refuse_remote(&request) {
        return refused;
    }
    Json(app.shared.counters.snapshot()).into_response()
}

/// Why an admin call failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot reach the simulator: {0}")]
    Http(String),
    #[error("the simulator answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("unexpected answer from the simulator: {0}")]
    Protocol(String),
}

impl From<reqwest::Error> for AdminError {
    fn from(e: reqwest::Error) -> Self {
        AdminError::Http(e.without_url().to_string())
    }
}

fn client() -> Result<reqwest::Client, AdminError> {
    Ok(reqwest::Client::builder().timeout(TIMEOUT).build()?)
}

async fn answer<T: serde::de::DeserializeOwned>(r: reqwest::Response) -> Result<T, AdminError> {
    let status = r.status();
    if !status.is_success() {
        let body: Value = r.json().await.unwrap_or(Value::Null);
        let message = body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("(no message)")
            .to_owned();
        return Err(AdminError::Refused {
            status: status.as_u16(),
            message,
        });
    }
    r.json()
        .await
        .map_err(|e| AdminError::Protocol(e.without_url().to_string()))
}

/// Applies `fault` to the simulator whose HTTP base URL (`SimInfo::spclient`,
/// `http://127.0.0.1:PORT`) is `base_url`.
pub async fn fault(base_url: &str, fault: Fault) -> Result<FaultAck, AdminError> {
    let url = format!(
        "{}/_sim/fault/{}",
        base_url.trim_end_matches('/'),
        fault.name()
    );
    let r = client()?.post(url).json(&fault.params()).send().await?;
    answer(r).await
}

/// The counters of the simulator at `base_url`.
pub async fn stats(base_url: &str) -> Result<SimStats, AdminError> {
    let url = format!("{}/_sim/stats", base_url.trim_end_matches('/'));
    let r = client()?.get(url).send().await?;
    answer(r).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn from(peer: Option<&str>) -> Request {
        let mut r = Request::new(Body::empty());
        if let Some(p) = peer {
            r.extensions_mut()
                .insert(ConnectInfo(p.parse::<SocketAddr>().unwrap()));
        }
        r
    }

    #[test]
    fn only_loopback_peers_are_served() {
        for ok in [
            "127.0.0.1:5",
            "127.9.9.9:5",
            "[::1]:5",
            "[::ffff:127.0.0.1]:5",
        ] {
            assert!(refuse_remote(&from(Some(ok))).is_none(), "{ok}");
        }
        for bad in [
            "192.168.1.2:5",
            "10.0.0.1:80",
            "[fe80::1]:5",
            "[::ffff:10.0.0.1]:5",
        ] {
            let r = refuse_remote(&from(Some(bad))).unwrap();
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{bad}");
        }
        assert_eq!(
            refuse_remote(&from(None)).unwrap().status(),
            StatusCode::FORBIDDEN
        );
    }
}
