//! Who is calling, for every HTTP service of the simulator: the token of an
//! `Authorization: Bearer` header, the user behind a login5 token (spclient) or behind any Web
//! token, login5 or OAuth (connect-state, context-resolve), and the 401 answers. Shared here so
//! the services do not import each other for it. Depends on the state and `respond`.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::respond::{json_error, HttpErr};
use crate::state::Shared;
use crate::util::lock;

/// The token of an `Authorization: Bearer …` header.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<&str, &'static str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or("missing Authorization header (expected Bearer token)")?;
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or("Authorization is not a Bearer token")
}

/// The user behind `Authorization: Bearer <login5 token>`, or why there is none (answer with
/// [`unauthorized`]).
pub(crate) fn bearer_user(shared: &Shared, headers: &HeaderMap) -> Result<String, &'static str> {
    let token = bearer_token(headers)?;
    lock(&shared.tokens)
        .access_user(token)
        .map(str::to_owned)
        .ok_or("invalid or expired access token")
}

/// The 401 for a [`bearer_user`] refusal.
pub(crate) fn unauthorized(reason: &str) -> Response {
    json_error(StatusCode::UNAUTHORIZED, reason)
}

/// The user behind a Bearer token (login5 or OAuth), or the 401.
pub(crate) fn auth(shared: &Shared, headers: &HeaderMap) -> Result<String, HttpErr> {
    let unauthorized = |m: &str| HttpErr(StatusCode::UNAUTHORIZED, m.to_owned());
    let token = bearer_token(headers).map_err(unauthorized)?;
    shared
        .validate_web_token(token)
        .map(|(user, _)| user)
        .ok_or_else(|| unauthorized("invalid or expired access token"))
}
