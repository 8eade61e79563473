//! login5 (protocol spec §8.1): trades the session's stored credentials for an access token.
//! `LoginRequest{client_info{client_id, device_id}, stored_credential{username, data}}` is
//! POSTed with the client token; hashcash challenges are solved with `ctx = login_context` and
//! the request is resent with the solutions and that context; `TIMEOUT`/`TOO_MANY_ATTEMPTS`
//! wait 3 s and resend; other errors are final. At most three requests.
//!
//! Called only by `tokens::TokenProvider`, which caches the token. Takes plain values so tests
//! can drive it against a fake server; must not depend on the session. Neither the
//! credentials nor the token ever reach a log line or an error.

use std::time::{Duration, Instant};

use librespot_protocol::credentials::StoredCredential;
use librespot_protocol::hashcash::HashcashSolution;
use librespot_protocol::login5::{
    challenge, login_response, ChallengeSolution, LoginError, LoginRequest, LoginResponse,
};
use protobuf::well_known_types::duration::Duration as ProtoDuration;
use protobuf::{Message, MessageField};

use super::{hashcash, http, ApiError};

/// Requests sent before giving up.
pub const MAX_TRIES: usize = 3;
/// Used when the server's `access_token_expires_in` is missing or not positive.
pub const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(3600);
/// The longest token lifetime believed (Spotify's are an hour).
pub const MAX_EXPIRES_IN: Duration = Duration::from_secs(24 * 3600);

/// The token lifetime the server stated, bounded: not positive → [`DEFAULT_EXPIRES_IN`], at
/// most [`MAX_EXPIRES_IN`] (the expiry is added to an `Instant`).
pub(crate) fn lifetime(access_token_expires_in: i32) -> Duration {
    crate::server_time::SecsBounds::new(DEFAULT_EXPIRES_IN, Duration::from_secs(1), MAX_EXPIRES_IN)
        .secs_i64(Some(i64::from(access_token_expires_in)).filter(|s| *s > 0))
}

/// Who logs in. `Debug` hides the credential.
pub struct Login<'a> {
    pub client_id: &'a str,
    pub device_id: &'a str,
    pub username: &'a str,
    /// The AP's reusable (stored) credentials.
    pub stored_credential: &'a [u8],
    /// Sent as the `client-token` header (required by login5).
    pub client_token: &'a str,
}

impl std::fmt::Debug for Login<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("client_id", &self.client_id)
            .field("device_id", &self.device_id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A login5 access token. `Debug` hides the token.
pub struct Token {
    pub access_token: String,
    pub expires_in: Duration,
    /// When the answer arrived (the expiry counts from here).
    pub received: Instant,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// The first request.
pub fn request(login: &Login<'_>) -> LoginRequest {
    let mut req = LoginRequest::new();
    let info = req.client_info.mut_or_insert_default();
    info.client_id = login.client_id.to_string();
    info.device_id = login.device_id.to_string();
    let mut cred = StoredCredential::new();
    cred.username = login.username.to_string();
    cred.data = login.stored_credential.to_vec();
    req.set_stored_credential(cred);
    req
}

/// Runs the exchange against `url`; `retry_delay` is the wait after TIMEOUT/TOO_MANY_ATTEMPTS
/// (3 s in production).
pub async fn login(
    client: &reqwest::Client,
    url: &str,
    login: &Login<'_>,
    timeout: Duration,
    retry_delay: Duration,
) -> Result<Token, ApiError> {
    let mut req = request(login);
    let headers = [("client-token", login.client_token.to_string())];
    for attempt in 1..=MAX_TRIES {
        let body = req
            .write_to_bytes()
            .map_err(|e| ApiError::Login5(format!("cannot encode the request: {e}")))?;
        let bytes = http::post_protobuf(client, url, body, &headers, timeout).await?;
        let resp = LoginResponse::parse_from_bytes(&bytes)
            .map_err(|e| ApiError::Malformed(format!("cannot decode login5 answer: {e}")))?;
        match resp.response {
            Some(login_response::Response::Ok(ok)) => {
                if ok.access_token.is_empty() {
                    return Err(ApiError::Malformed(
                        "login5 sent an empty access token".into(),
                    ));
                }
                let expires_in = lifetime(ok.access_token_expires_in);
                tracing::debug!(attempt, ?expires_in, "login5 access token received");
                return Ok(Token {
                    access_token: ok.access_token,
                    expires_in,
                    received: Instant::now(),
                });
            }
            Some(login_response::Response::Error(code)) => match code.enum_value() {
                Ok(LoginError::TIMEOUT | LoginError::TOO_MANY_ATTEMPTS) => {
                    tracing::debug!(attempt, "login5 asks us to wait ({:?})", code);
                    if attempt < MAX_TRIES {
                        tokio::time::sleep(retry_delay).await;
                    }
                }
                Ok(e @ (LoginError::INVALID_CREDENTIALS | LoginError::UNKNOWN_IDENTIFIER)) => {
                    return Err(ApiError::BadCredentials(format!("login5: {e:?}")));
                }
                Ok(LoginError::TRY_AGAIN_LATER) => {
                    return Err(ApiError::Unavailable("login5 says try again later".into()));
                }
                Ok(e) => return Err(ApiError::Login5(format!("the server answered {e:?}"))),
                Err(n) => return Err(ApiError::Login5(format!("the server answered error {n}"))),
            },
            Some(login_response::Response::Challenges(ch)) => {
                if attempt == MAX_TRIES {
                    break;
                }
                let ctx = resp.login_context.clone();
                let mut solutions = Vec::new();
                for c in &ch.challenges {
                    let Some(challenge::Challenge::Hashcash(h)) = &c.challenge else {
                        return Err(ApiError::Login5(
                            "the server asks for a code challenge, which tonearm cannot answer"
                                .into(),
                        ));
                    };
                    let (ctx, prefix, length) = (ctx.clone(), h.prefix.clone(), h.length);
                    let started = Instant::now();
                    let suffix = tokio::task::spawn_blocking(move || {
                        hashcash::solve_login5(&ctx, &prefix, length)
                    })
                    .await
                    .map_err(|_| ApiError::Login5("the hashcash task failed".into()))?
                    .ok_or_else(|| {
                        ApiError::Login5(format!(
                            "could not solve a {length}-bit hashcash challenge in time"
                        ))
                    })?;
                    let took = started.elapsed();
                    let mut sol = HashcashSolution::new();
                    sol.suffix = suffix.to_vec();
                    let mut d = ProtoDuration::new();
                    d.seconds = took.as_secs() as i64;
                    d.nanos = took.subsec_nanos() as i32;
                    sol.duration = MessageField::some(d);
                    let mut s = ChallengeSolution::new();
                    s.set_hashcash(sol);
                    solutions.push(s);
                }
                if solutions.is_empty() {
                    return Err(ApiError::Malformed(
                        "login5 sent an empty list of challenges".into(),
                    ));
                }
                tracing::debug!(count = solutions.len(), "login5 hashcash solved");
                // Solutions answer this round's context; earlier ones are dropped.
                req.challenge_solutions.mut_or_insert_default().solutions = solutions;
                req.login_context = ctx;
            }
            _ => {
                return Err(ApiError::Malformed(
                    "login5 answer has no ok, error or challenges".into(),
                ))
            }
        }
    }
    Err(ApiError::Login5(format!(
        "no access token after {MAX_TRIES} requests"
    )))
}
