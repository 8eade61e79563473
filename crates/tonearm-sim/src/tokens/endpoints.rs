//! The token endpoints (spec §8): `POST /v1/clienttoken` and `POST /v3/login` (login5), each
//! optionally behind a hashcash challenge, issuing into the [`TokenTable`]. Depends on the
//! table (its parent module), the shared state and `respond`; tokens never reach a log line.

use super::*;
use crate::app::App;
use crate::respond::{json_error, protobuf_response};
use crate::state::{Counters, Shared};
use crate::util::lock;

fn clienttoken_bad_request(message: &str) -> Response {
    json_error(StatusCode::BAD_REQUEST, message)
}

fn granted(shared: &Shared) -> ct::ClientTokenResponse {
    let token = lock(&shared.tokens).issue_client_token();
    let mut g = ct::GrantedTokenResponse::new();
    g.token = token;
    g.expires_after_seconds = CLIENT_TOKEN_EXPIRES;
    g.refresh_after_seconds = CLIENT_TOKEN_REFRESH;
    for d in ["spotify.com", "spotify.net"] {
        let mut domain = ct::TokenDomain::new();
        domain.domain = d.to_owned();
        g.domains.push(domain);
    }
    let mut r = ct::ClientTokenResponse::new();
    r.response_type =
        EnumOrUnknown::new(ct::ClientTokenResponseType::RESPONSE_GRANTED_TOKEN_RESPONSE);
    r.set_granted_token(g);
    r
}

/// `POST /v1/clienttoken`.
pub(crate) async fn client_token(State(app): State<App>, body: Bytes) -> Response {
    let shared = &app.shared;
    let Ok(req) = ct::ClientTokenRequest::parse_from_bytes(&body) else {
        return clienttoken_bad_request("body is not a ClientTokenRequest protobuf");
    };
    let kind = req.request_type.enum_value();
    let response = match kind {
        Ok(ct::ClientTokenRequestType::REQUEST_CLIENT_DATA_REQUEST) => {
            if !req.has_client_data() {
                return clienttoken_bad_request("client data request without client_data");
            }
            if shared.behaviour.client_token_hashcash {
                let challenge = TokenTable::new_challenge(CLIENT_TOKEN_HASHCASH_LENGTH);
                let state = hex::encode(random_bytes::<16>());
                let mut params = ct::HashCashParameters::new();
                params.length = challenge.length;
                params.prefix = hex::encode_upper(&challenge.prefix);
                {
                    let mut tokens = lock(&shared.tokens);
                    let now = Instant::now();
                    prune(&mut tokens.client_token_challenges, now, |c| c.expires);
                    tokens
                        .client_token_challenges
                        .insert(state.clone(), challenge);
                }
                let mut c = ct::Challenge::new();
                c.type_ = EnumOrUnknown::new(ct::ChallengeType::CHALLENGE_HASH_CASH);
                c.set_evaluate_hashcash_parameters(params);
                let mut challenges = ct::ChallengesResponse::new();
                challenges.state = state;
                challenges.challenges.push(c);
                let mut r = ct::ClientTokenResponse::new();
                r.response_type =
                    EnumOrUnknown::new(ct::ClientTokenResponseType::RESPONSE_CHALLENGES_RESPONSE);
                r.set_challenges(challenges);
                tracing::info!("client-token: hashcash challenge sent");
                r
            } else {
                tracing::info!("client-token granted");
                granted(shared)
            }
        }
        Ok(ct::ClientTokenRequestType::REQUEST_CHALLENGE_ANSWERS_REQUEST) => {
            if !req.has_challenge_answers() {
                return clienttoken_bad_request("answers request without challenge_answers");
            }
            let answers = req.challenge_answers();
            let challenge = {
                let mut tokens = lock(&shared.tokens);
                tokens.client_token_challenges.remove(&answers.state)
            };
            let Some(challenge) = challenge.filter(|c| c.expires > Instant::now()) else {
                return clienttoken_bad_request("unknown or expired challenge state");
            };
            let suffix = answers
                .answers
                .iter()
                .find(|a| {
                    a.ChallengeType.value() == ct::ChallengeType::CHALLENGE_HASH_CASH.value()
                        && a.has_hash_cash()
                })
                .map(|a| a.hash_cash().suffix.as_str());
            let Some(suffix) = suffix else {
                return clienttoken_bad_request("no hashcash answer");
            };
            let upper_hex = suffix.len() == 32
                && suffix
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
            let decoded = if upper_hex {
                hex::decode(suffix).ok()
            } else {
                None
            };
            let Some(decoded) = decoded else {
                return clienttoken_bad_request(
                    "hashcash suffix must be 32 upper-case hex digits (16 bytes)",
                );
            };
            if !hashcash_ok(b"", &challenge.prefix, challenge.length, &decoded) {
                tracing::info!("client-token: wrong hashcash answer");
                return clienttoken_bad_request("hashcash answer rejected");
            }
            tracing::info!("client-token granted after hashcash");
            granted(shared)
        }
        _ => return clienttoken_bad_request("unsupported request_type"),
    };
    protobuf_response(StatusCode::OK, &response)
}

fn login_error(error: l5::LoginError) -> Response {
    let mut r = l5::LoginResponse::new();
    r.set_error(error);
    protobuf_response(StatusCode::OK, &r)
}

/// `POST /v3/login` (login5).
pub(crate) async fn login5(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let shared = &app.shared;
    let client_token_ok = headers
        .get("client-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| lock(&shared.tokens).client_token_valid(t));
    if !client_token_ok {
        return json_error(
            StatusCode::UNAUTHORIZED,
            "missing or unknown client-token header",
        );
    }
    let Ok(req) = l5::LoginRequest::parse_from_bytes(&body) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "body is not a LoginRequest protobuf",
        );
    };
    if let Some(length) = shared.behaviour.login5_hashcash {
        if req.login_context.is_empty() {
            let challenge = TokenTable::new_challenge(length);
            let context = random_bytes::<16>().to_vec();
            let mut hashcash = librespot_protocol::hashcash::HashcashChallenge::new();
            hashcash.prefix = challenge.prefix.clone();
            hashcash.length = length;
            {
                let mut tokens = lock(&shared.tokens);
                prune(&mut tokens.login5_challenges, Instant::now(), |c| c.expires);
                tokens.login5_challenges.insert(context.clone(), challenge);
            }
            let mut c = l5::Challenge::new();
            c.set_hashcash(hashcash);
            let mut challenges = l5::Challenges::new();
            challenges.challenges.push(c);
            let mut r = l5::LoginResponse::new();
            r.set_challenges(challenges);
            r.login_context = context;
            tracing::info!("login5: hashcash challenge sent");
            return protobuf_response(StatusCode::OK, &r);
        }
        let challenge = lock(&shared.tokens)
            .login5_challenges
            .remove(&req.login_context);
        let Some(challenge) = challenge.filter(|c| c.expires > Instant::now()) else {
            tracing::info!("login5: unknown login_context");
            return login_error(l5::LoginError::BAD_REQUEST);
        };
        let solved = req
            .challenge_solutions
            .as_ref()
            .map(|s| s.solutions.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|s| s.has_hashcash())
            .any(|s| {
                hashcash_ok(
                    &req.login_context,
                    &challenge.prefix,
                    challenge.length,
                    &s.hashcash().suffix,
                )
            });
        if !solved {
            tracing::info!("login5: hashcash solution rejected");
            return login_error(l5::LoginError::BAD_REQUEST);
        }
    }
    let (username, stored) = match &req.login_method {
        Some(Login_method::StoredCredential(c)) => {
            let store = lock(&shared.store);
            if store.stored_owner(&c.data) == Some(c.username.as_str()) {
                (c.username.clone(), c.data.clone())
            } else {
                drop(store);
                tracing::info!("login5: stored credentials refused");
                return login_error(l5::LoginError::INVALID_CREDENTIALS);
            }
        }
        Some(Login_method::Password(p)) => {
            let account = shared.account(&p.id).filter(|a| {
                shared.behaviour.password_login
                    && bool::from(a.password.as_bytes().ct_eq(p.password.as_bytes()))
            });
            match account {
                Some(a) => {
                    let username = a.username.clone();
                    let stored = lock(&shared.store).issue_stored(&username);
                    (username, stored)
                }
                None => {
                    tracing::info!("login5: password refused");
                    return login_error(l5::LoginError::INVALID_CREDENTIALS);
                }
            }
        }
        Some(_) => return login_error(l5::LoginError::UNSUPPORTED_LOGIN_PROTOCOL),
        None => return login_error(l5::LoginError::BAD_REQUEST),
    };
    let ttl = shared.behaviour.token_ttl;
    let token = lock(&shared.tokens).issue_access(&username, ttl);
    Counters::bump(&shared.counters.login5_logins);
    tracing::info!(user = %username, "login5 login accepted");
    let mut ok = l5::LoginOk::new();
    ok.username = username;
    ok.access_token = token;
    ok.stored_credential = stored;
    ok.access_token_expires_in = i32::try_from(ttl.as_secs()).unwrap_or(i32::MAX);
    let mut r = l5::LoginResponse::new();
    r.set_ok(ok);
    protobuf_response(StatusCode::OK, &r)
}
