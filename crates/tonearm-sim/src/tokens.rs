//! The simulator's token services (spec §8): client-token (`POST /v1/clienttoken`, optionally
//! behind a hashcash challenge) and login5 (`POST /v3/login`: stored credentials the AP issued,
//! or a password when password logins are on; optionally behind a hashcash challenge), the
//! table of issued client tokens and login5 access tokens with their users and expiry (which
//! spclient — and later the Web API — check through [`bearer_user`]), and the hashcash check
//! itself. Tokens never reach a log line. Depends on no client module.

pub(crate) mod endpoints;

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
