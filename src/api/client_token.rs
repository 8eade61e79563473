//! The client-token exchange (protocol spec §8.2): `POST {client_token}` with a
//! `ClientTokenRequest` describing this client (version, client id, Linux platform data, device
//! id); a hashcash challenge is answered with an empty `ctx`, the hex-decoded prefix and the
//! suffix in upper-case hex. At most three answers are read before giving up.
//!
//! Called only by `tokens::TokenProvider`, which caches the result. Takes plain values (URL,
//! device id, client id) so tests can drive it against a fake server; must not depend on the
//! session. The token itself never reaches a log line or an error.

use std::time::Duration;

use librespot_protocol::clienttoken_http::{
    challenge, client_token_response, ChallengeAnswer, ChallengeType, ClientTokenRequest,
    ClientTokenRequestType, ClientTokenResponse,
};
use protobuf::Message;

use super::{hashcash, http, ApiError};

/// The desktop client version librespot 0.8.0 announces.
pub const CLIENT_VERSION: &str = "1.2.52.442";
/// Answers read before giving up.
pub const MAX_TRIES: usize = 3;
/// Used when the server gives no (or a non-positive) `refresh_after_seconds`.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(7200);
/// The longest refresh delay believed.
pub const MAX_REFRESH: Duration = Duration::from_secs(7 * 24 * 3600);

/// The server's `refresh_after_seconds`, bounded: not positive → [`DEFAULT_REFRESH`], at most
/// [`MAX_REFRESH`] (it is added to an `Instant`).
pub(crate) fn refresh_delay(refresh_after_seconds: i32) -> Duration {
    crate::server_time::SecsBounds::new(DEFAULT_REFRESH, Duration::from_secs(1), MAX_REFRESH)
        .secs_i64(Some(i64::from(refresh_after_seconds)).filter(|s| *s > 0))
}

/// A granted client token.
pub struct Granted {
    pub token: String,
    /// Ask again after this long.
    pub refresh_after: Duration,
}

impl std::fmt::Debug for Granted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Granted")
            .field("token", &"<redacted>")
            .field("refresh_after", &self.refresh_after)
            .finish()
    }
}

/// The first request: `REQUEST_CLIENT_DATA_REQUEST` with `desktop_linux` platform data.
pub fn data_request(client_id: &str, device_id: &str) -> ClientTokenRequest {
    let mut req = ClientTokenRequest::new();
    req.request_type = ClientTokenRequestType::REQUEST_CLIENT_DATA_REQUEST.into();
    let data = req.mut_client_data();
    data.client_version = CLIENT_VERSION.to_string();
    data.client_id = client_id.to_string();
    let sdk = data.mut_connectivity_sdk_data();
    sdk.device_id = device_id.to_string();
    let linux = sdk
        .platform_specific_data
        .mut_or_insert_default()
        .mut_desktop_linux();
    let (name, release, version, hardware) = http::platform();
    linux.system_name = name;
    linux.system_release = release;
    linux.system_version = version;
    linux.hardware = hardware;
    req
}

/// The answer to a hashcash challenge.
pub fn answer_request(state: &str, suffix: &[u8; 16]) -> ClientTokenRequest {
    let mut req = ClientTokenRequest::new();
    req.request_type = ClientTokenRequestType::REQUEST_CHALLENGE_ANSWERS_REQUEST.into();
    let answers = req.mut_challenge_answers();
    answers.state = state.to_string();
    let mut answer = ChallengeAnswer::new();
    answer.ChallengeType = ChallengeType::CHALLENGE_HASH_CASH.into();
    answer.mut_hash_cash().suffix = hex::encode_upper(suffix);
    answers.answers.push(answer);
    req
}

/// What one answer from the service means.
enum Step {
    Granted(Granted),
    /// A hashcash challenge: (state, prefix bytes, length).
    Hashcash(String, Vec<u8>, i32),
}

fn interpret(bytes: &[u8]) -> Result<Step, ApiError> {
    let msg = ClientTokenResponse::parse_from_bytes(bytes)
        .map_err(|e| ApiError::Malformed(format!("cannot decode client-token answer: {e}")))?;
    match msg.response {
        Some(client_token_response::Response::GrantedToken(g)) => {
            if g.token.is_empty() {
                return Err(ApiError::Malformed(
                    "client-token granted an empty token".into(),
                ));
            }
            let refresh_after = refresh_delay(g.refresh_after_seconds);
            Ok(Step::Granted(Granted {
                token: g.token,
                refresh_after,
            }))
        }
        Some(client_token_response::Response::Challenges(c)) => {
            let hashcash = c.challenges.iter().find_map(|ch| match &ch.parameters {
                Some(challenge::Parameters::EvaluateHashcashParameters(p)) => Some(p),
                _ => None,
            });
            let Some(p) = hashcash else {
                let kinds: Vec<String> = c
                    .challenges
                    .iter()
                    .map(|ch| format!("{:?}", ch.type_))
                    .collect();
                return Err(ApiError::ClientToken(format!(
                    "unsupported challenge(s) {kinds:?}; only hashcash is supported"
                )));
            };
            let prefix = hex::decode(&p.prefix)
                .map_err(|e| ApiError::ClientToken(format!("hashcash prefix is not hex: {e}")))?;
            Ok(Step::Hashcash(c.state, prefix, p.length))
        }
        _ => Err(ApiError::ClientToken(format!(
            "answer of type {:?} has neither a token nor challenges",
            msg.response_type
        ))),
    }
}

/// Runs the exchange against `url`.
pub async fn fetch(
    client: &reqwest::Client,
    url: &str,
    client_id: &str,
    device_id: &str,
    timeout: Duration,
) -> Result<Granted, ApiError> {
    let request = data_request(client_id, device_id)
        .write_to_bytes()
        .map_err(|e| ApiError::ClientToken(format!("cannot encode the request: {e}")))?;
    let mut response = http::post_protobuf(client, url, request.clone(), &[], timeout).await?;
    for attempt in 1..=MAX_TRIES {
        match interpret(&response)? {
            Step::Granted(g) => {
                tracing::debug!(attempt, "client token granted");
                return Ok(g);
            }
            Step::Hashcash(_, _, _) if attempt == MAX_TRIES => break,
            Step::Hashcash(state, prefix, length) => {
                tracing::debug!(length, "client-token hashcash challenge");
                let solved = tokio::task::spawn_blocking(move || {
                    hashcash::solve_client_token(&prefix, length)
                })
                .await
                .map_err(|_| ApiError::ClientToken("the hashcash task failed".into()))?;
                response = match solved {
                    Some(suffix) => {
                        let answer =
                            answer_request(&state, &suffix)
                                .write_to_bytes()
                                .map_err(|e| {
                                    ApiError::ClientToken(format!("cannot encode the answer: {e}"))
                                })?;
                        match http::post_protobuf(client, url, answer, &[], timeout).await {
                            Ok(r) => r,
                            Err(e) => {
                                tracing::debug!("hashcash answer not accepted: {e}");
                                http::post_protobuf(client, url, request.clone(), &[], timeout)
                                    .await?
                            }
                        }
                    }
                    None => {
                        tracing::debug!(length, "could not solve the hashcash in time");
                        http::post_protobuf(client, url, request.clone(), &[], timeout).await?
                    }
                };
            }
        }
    }
    Err(ApiError::ClientToken(format!(
        "no token after {MAX_TRIES} answers"
    )))
}
