//! The gate every HTTP request passes before its handler (an axum middleware installed by
//! `http::router`): it classifies the request by service, counts client-token and login5
//! requests, holds requests while the HTTP listener is black-holed, answers injected 429s
//! (`Fault::RateLimit`) and applies connect-state's PUT rate limit (`put_limit`) to
//! `PUT /connect-state/v1/devices/{id}`, crediting the devices that commands (connect-state
//! command/transfer/volume, Web API player commands) are sent to. The admin endpoint (`/_sim/…`) is never held or
//! limited, so a black hole can always be lifted. Depends on no client module.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::faults::Service;
use super::state::Counters;
use crate::app::App;
use crate::respond::json_error;

/// Which service `path` belongs to.
pub(crate) fn classify(method: &Method, path: &str, upgrade: bool) -> Service {
    const SPCLIENT: &[&str] = &[
        "/extended-metadata/",
        "/metadata/",
        "/storage-resolve/",
        "/connect-state/",
        "/context-resolve/",
        "/color-lyrics/",
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

/// The device id of `PUT /connect-state/v1/devices/{id}` (not `…/{id}/inactive`).
fn put_state_device<'a>(method: &Method, path: &'a str) -> Option<&'a str> {
    if *method != Method::PUT {
        return None;
    }
    path.strip_prefix("/connect-state/v1/devices/")
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// Whether the request commands devices (their state changes will be PUT): connect-state's
/// command, transfer and volume endpoints, and the Web API's player commands.
fn is_command(method: &Method, path: &str) -> bool {
    const CONNECT: &[&str] = &[
        "/connect-state/v1/player/command/from/",
        "/connect-state/v1/connect/transfer/from/",
        "/connect-state/v1/connect/volume/from/",
    ];
    CONNECT.iter().any(|p| path.starts_with(p))
        || (*method != Method::GET
            && (path == "/v1/me/player" || path.starts_with("/v1/me/player/")))
}

/// The devices a command request reaches: `…/from/{a}/to/{b}` → both (a transfer makes the
/// source PUT too); a Web API player command → its `device_id` and the active device, and for
/// a Web API transfer (`PUT /v1/me/player`, target in the body) every device of the account.
fn commanded_devices(
    shared: &super::state::Shared,
    user: &str,
    path: &str,
    query: Option<&str>,
) -> Vec<String> {
    if let Some(rest) = path.strip_prefix("/connect-state/v1/") {
        let mut parts = rest.split('/').skip_while(|p| *p != "from").skip(1);
        let from = parts.next();
        let to = parts.nth(1);
        return from.into_iter().chain(to).map(str::to_owned).collect();
    }
    if path == "/v1/me/player" {
        return shared
            .connect
            .devices(user)
            .into_iter()
            .map(|d| d.id)
            .collect();
    }
    let mut devices: Vec<String> = shared.connect.playback(user).0.into_iter().collect();
    let target = query
        .unwrap_or_default()
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == "device_id")
        .and_then(|(_, v)| crate::respond::percent_decode(v));
    devices.extend(target);
    devices
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
    let limited = put_state_device(request.method(), path);
    let commanded = limited.is_none() && is_command(request.method(), path);
    if limited.is_some() || commanded {
        let user = crate::auth::bearer_token(request.headers())
            .ok()
            .and_then(|t| shared.validate_web_token(t))
            .map(|(user, _)| user);
        // Unauthenticated requests go on to the handler's 401 and do not count.
        if let Some(user) = user {
            if let Some(device) = limited {
                Counters::bump(&shared.counters.connect_state_puts);
                let conn = request
                    .headers()
                    .get("x-spotify-connection-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::trim);
                if let Err(secs) = shared.live.check_put(&user, device, conn) {
                    Counters::bump(&shared.counters.connect_state_puts_limited);
                    return too_many(
                        "too many device state updates: slow down (PUT rate limit)",
                        Some(secs),
                    );
                }
            } else {
                let query = request.uri().query();
                for device in commanded_devices(shared, &user, path, query) {
                    shared.live.credit_put(&user, &device);
                }
            }
        }
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

    #[test]
    fn commands_are_recognised() {
        for (m, p) in [
            (Method::POST, "/connect-state/v1/player/command/from/a/to/b"),
            (
                Method::POST,
                "/connect-state/v1/connect/transfer/from/a/to/b",
            ),
            (Method::PUT, "/connect-state/v1/connect/volume/from/a/to/b"),
            (Method::PUT, "/v1/me/player/play"),
            (Method::POST, "/v1/me/player/next"),
            (Method::PUT, "/v1/me/player"),
        ] {
            assert!(is_command(&m, p), "{m} {p}");
        }
        for (m, p) in [
            (Method::GET, "/v1/me/player"),
            (Method::GET, "/v1/me/player/devices"),
            (Method::PUT, "/connect-state/v1/devices/a"),
            (Method::PUT, "/v1/me/tracks"),
        ] {
            assert!(!is_command(&m, p), "{m} {p}");
        }
    }

    #[test]
    fn only_device_state_puts_are_limited() {
        let put = Method::PUT;
        assert_eq!(
            put_state_device(&put, "/connect-state/v1/devices/abc"),
            Some("abc")
        );
        assert_eq!(
            put_state_device(&put, "/connect-state/v1/devices/abc/inactive"),
            None
        );
        assert_eq!(put_state_device(&put, "/connect-state/v1/devices/"), None);
        assert_eq!(
            put_state_device(&Method::DELETE, "/connect-state/v1/devices/abc"),
            None
        );
    }
}
