//! The simulator's token services (spec §8): client-token (`POST /v1/clienttoken`, optionally
//! behind a hashcash challenge) and login5 (`POST /v3/login`: stored credentials the AP issued,
//! or a password when password logins are on; optionally behind a hashcash challenge), the
//! table of issued client tokens and login5 access tokens with their users and expiry (which
//! spclient — and later the Web API — check through [`bearer_user`]), and the hashcash check
//! itself. Tokens never reach a log line. Depends on no client module.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use librespot_protocol::clienttoken_http as ct;
use librespot_protocol::login5 as l5;
use librespot_protocol::login5::login_request::Login_method;
use protobuf::{Enum, EnumOrUnknown, Message};
use rand::RngCore;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use super::http::{json_error, protobuf_response, App};
use super::state::{lock, Counters, Shared};

/// How long a granted client token lasts, and when clients should refresh it.
const CLIENT_TOKEN_EXPIRES: i32 = 1_209_600;
const CLIENT_TOKEN_REFRESH: i32 = 7_200;
/// Trailing zero bits the client-token hashcash demands.
pub(crate) const CLIENT_TOKEN_HASHCASH_LENGTH: i32 = 10;
/// How long an unanswered challenge stays valid.
const CHALLENGE_TTL: Duration = Duration::from_secs(60);
/// Above this many entries a table drops its expired ones.
const PRUNE_AT: usize = 4096;

/// An issued login5 access token.
#[derive(Debug, Clone)]
pub(crate) struct AccessToken {
    pub username: String,
    pub expires: Instant,
}

/// An outstanding hashcash challenge.
#[derive(Debug, Clone)]
struct Challenge {
    prefix: Vec<u8>,
    length: i32,
    expires: Instant,
}

/// Issued tokens and outstanding challenges.
#[derive(Debug, Default)]
pub(crate) struct TokenTable {
    client_tokens: HashMap<String, Instant>,
    access: HashMap<String, AccessToken>,
    /// login_context → challenge.
    login5_challenges: HashMap<Vec<u8>, Challenge>,
    /// client-token challenge state → challenge.
    client_token_challenges: HashMap<String, Challenge>,
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

fn prune<K, V>(map: &mut HashMap<K, V>, now: Instant, expiry: impl Fn(&V) -> Instant) {
    if map.len() >= PRUNE_AT {
        map.retain(|_, v| expiry(v) > now);
    }
}

impl TokenTable {
    fn issue_client_token(&mut self) -> String {
        let now = Instant::now();
        prune(&mut self.client_tokens, now, |e| *e);
        let token = format!("sim-ct-{}", hex::encode(random_bytes::<24>()));
        let expires = now + Duration::from_secs(CLIENT_TOKEN_EXPIRES.unsigned_abs().into());
        self.client_tokens.insert(token.clone(), expires);
        token
    }

    fn client_token_valid(&self, token: &str) -> bool {
        self.client_tokens
            .get(token)
            .is_some_and(|e| *e > Instant::now())
    }

    /// A new login5 access token for `username`, valid for `ttl`.
    pub(crate) fn issue_access(&mut self, username: &str, ttl: Duration) -> String {
        let now = Instant::now();
        prune(&mut self.access, now, |a| a.expires);
        let token = format!("sim-l5-{}", hex::encode(random_bytes::<32>()));
        self.access.insert(
            token.clone(),
            AccessToken {
                username: username.to_owned(),
                expires: now + ttl,
            },
        );
        token
    }

    /// The user of an unexpired access token.
    pub(crate) fn access_user(&self, token: &str) -> Option<&str> {
        self.access
            .get(token)
            .filter(|a| a.expires > Instant::now())
            .map(|a| a.username.as_str())
    }

    fn new_challenge(length: i32) -> Challenge {
        Challenge {
            prefix: random_bytes::<16>().to_vec(),
            length,
            expires: Instant::now() + CHALLENGE_TTL,
        }
    }
}

fn i64_at(hash: &[u8], at: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&hash[at..at + 8]);
    i64::from_be_bytes(b)
}

/// Checks a hashcash suffix (spec §8.1): 16 bytes `i64be(target + counter) || i64be(counter)`
/// with `target = i64be(SHA1(ctx)[12..20])`, and `i64be(SHA1(prefix || suffix)[12..20])` having
/// at least `length` trailing zero bits.
pub(crate) fn hashcash_ok(ctx: &[u8], prefix: &[u8], length: i32, suffix: &[u8]) -> bool {
    if suffix.len() != 16 {
        return false;
    }
    let target = i64_at(&Sha1::digest(ctx), 12);
    let counter = i64_at(suffix, 8);
    if i64_at(suffix, 0) != target.wrapping_add(counter) {
        return false;
    }
    let hash = Sha1::new()
        .chain_update(prefix)
        .chain_update(suffix)
        .finalize();
    let zeros = i64_at(&hash, 12).trailing_zeros();
    i64::from(zeros) >= i64::from(length)
}

/// Solves a hashcash challenge the way the spec describes (tests and the demo use it).
#[cfg(test)]
pub(crate) fn solve_hashcash(ctx: &[u8], prefix: &[u8], length: i32) -> [u8; 16] {
    let target = i64_at(&Sha1::digest(ctx), 12);
    let mut counter: i64 = 0;
    loop {
        let mut suffix = [0u8; 16];
        suffix[..8].copy_from_slice(&target.wrapping_add(counter).to_be_bytes());
        suffix[8..].copy_from_slice(&counter.to_be_bytes());
        if hashcash_ok(ctx, prefix, length, &suffix) {
            return suffix;
        }
        counter += 1;
    }
}

/// The user behind `Authorization: Bearer <login5 token>`, or why there is none (answer with
/// [`unauthorized`]).
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hashcash_round_trip() {
        let ctx = b"some login context";
        let prefix = [9u8; 16];
        let suffix = solve_hashcash(ctx, &prefix, 12);
        assert!(hashcash_ok(ctx, &prefix, 12, &suffix));
        // The same suffix does not fit another context or prefix.
        assert!(!hashcash_ok(b"other", &prefix, 12, &suffix));
        let mut tampered = suffix;
        tampered[15] ^= 1;
        assert!(!hashcash_ok(ctx, &prefix, 12, &tampered));
        assert!(!hashcash_ok(ctx, &prefix, 12, &suffix[..15]));
        assert!(hashcash_ok(
            ctx,
            &prefix,
            0,
            &solve_hashcash(ctx, &prefix, 0)
        ));
        assert!(!hashcash_ok(ctx, &prefix, 65, &suffix));
    }

    #[test]
    fn hashcash_counter_zero_for_length_zero() {
        // With no difficulty the first candidate wins: counter 0, suffix = target || 0.
        let ctx = b"";
        let suffix = solve_hashcash(ctx, b"p", 0);
        let target = Sha1::digest(ctx);
        assert_eq!(&suffix[..8], &target[12..20]);
        assert_eq!(&suffix[8..], &[0u8; 8]);
    }

    #[test]
    fn tokens_expire() {
        let mut t = TokenTable::default();
        let a = t.issue_access("alice", Duration::from_secs(60));
        assert_eq!(t.access_user(&a), Some("alice"));
        let b = t.issue_access("alice", Duration::ZERO);
        assert_eq!(t.access_user(&b), None);
        assert_eq!(t.access_user("nope"), None);
        let c = t.issue_client_token();
        assert!(t.client_token_valid(&c));
        assert!(!t.client_token_valid("nope"));
    }
}
