//! The gate every HTTP request passes before its handler (an axum middleware installed by
//! `http::router`): it classifies the request by service, counts client-token and login5
//! requests, holds requests while the HTTP listener is black-holed and answers injected 429s
//! (`Fault::RateLimit`). The admin endpoint (`/_sim/…`) is never held or
//! limited, so a black hole can always be lifted. Depends on no client module.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::faults::Service;
use super::http::{json_error, App};
use super::state::Counters;

/// Which service `path` belongs to.
pub(crate) fn classify(method: &Method, path: &str, upgrade: bool) -> Service {
    const SPCLIENT: &[&str] = &[
        "/extended-metadata/",
        "/metadata/",
        "/storage-resolve/",
        "/connect-state/",
        "/context-resolve/",
    ];
    const ACCOUNTS: &[&str] = &["/authorize", "/api/token", "/oauth2/", "/pair"];
    if path.starts_with("/_sim/") {
        Service::Admin
    } else if path == "/v1/clienttoken" {
        Service::ClientToken
    } else if path == "/v3/login" {
        Service::Login5
    } else if path.starts_with("/v1/") {
        Service::WebApi
    } else if path.starts_with("/audio/") {
        Service::Cdn
    } else if SPCLIENT.iter().any(|p| path.starts_with(p)) {
        Service::Spclient
    } else if ACCOUNTS.iter().any(|p| path.starts_with(p)) {
        Service::Accounts
    } else if path == "/" && (upgrade || method != Method::GET) {
        Service::Dealer
    } else {
        Service::Apresolve
    }
}

/// A 429 with the service's error body and, when given, `Retry-After`.
fn too_many(message: &str, retry_after: Option<u64>) -> Response {
    let mut r = json_error(StatusCode::TOO_MANY_REQUESTS, message);
    if let Some(secs) = retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

/// The middleware.
pub(crate) async fn gate(State(app): State<App>, request: Request, next: Next) -> Response {
    let shared = &app.shared;
    let upgrade = request.headers().contains_key(header::UPGRADE);
    let service = classify(request.method(), request.uri().path(), upgrade);
    if service == Service::Admin {
        return next.run(request).await;
    }
    match service {
        Service::ClientToken => Counters::bump(&shared.counters.client_token_requests),
        Service::Login5 => Counters::bump(&shared.counters.login5_requests),
        _ => {}
    }
    if shared.live.http_held() {
        Counters::bump(&shared.counters.black_holed);
        shared.live.http_hold().await;
    }
    let path = request.uri().path();
    if let Some(retry_after) = shared.live.take_429(service, path) {
        Counters::bump(&shared.counters.injected_429s);
        // The Web API's documented body; spclient's is not documented, so the same shape.
        return too_many("API rate limit exceeded", retry_after);
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classified_by_service() {
        let get = Method::GET;
        for (path, want) in [
            ("/_sim/fault/clear", Service::Admin),
            ("/v1/clienttoken", Service::ClientToken),
            ("/v3/login", Service::Login5),
            ("/v1/me/player", Service::WebApi),
            ("/audio/00", Service::Cdn),
            (
                "/storage-resolve/files/audio/interactive/00",
                Service::Spclient,
            ),
            ("/connect-state/v1/devices/x", Service::Spclient),
            ("/context-resolve/v1/spotify:album:x", Service::Spclient),
            ("/metadata/4/track/00", Service::Spclient),
            ("/extended-metadata/v0/extended-metadata", Service::Spclient),
            ("/api/token", Service::Accounts),
            ("/", Service::Apresolve),
        ] {
            assert_eq!(classify(&get, path, false), want, "{path}");
        }
        assert_eq!(classify(&get, "/", true), Service::Dealer);
    }
}
