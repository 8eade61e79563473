//! Hashcash proof-of-work (protocol spec §8.1, §8.2): find a 16-byte suffix so that
//! `SHA1(prefix || suffix)` ends in at least `length` zero bits (read as a big-endian i64 over
//! digest bytes 12..20). The suffix is `i64be(target + counter) || i64be(counter)` with
//! `target = i64be(SHA1(ctx)[12..20])`. Two callers, two variants: login5 passes its
//! `login_context` as `ctx` ([`solve_login5`]); client-token passes an empty `ctx` and a prefix
//! it hex-decoded ([`solve_client_token`]).
//!
//! Pure and synchronous; bounded by both wall time (5 s, as librespot) and an iteration cap, so
//! an absurd `length` returns `None` instead of spinning. Callers in `tokens` run it on a
//! blocking thread. Depends on nothing but `sha1`.

use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};

/// librespot gives up after 5 s.
pub const TIME_LIMIT: Duration = Duration::from_secs(5);
/// Independent of the clock: 2^26 SHA-1s (a 26-bit challenge takes ~2^26 tries on average;
/// real challenges ask for 10–20 bits).
pub const MAX_ITERATIONS: u64 = 1 << 26;

/// The login5 variant: `ctx` is the response's `login_context`.
pub fn solve_login5(ctx: &[u8], prefix: &[u8], length: i32) -> Option<[u8; 16]> {
    solve(ctx, prefix, length, TIME_LIMIT, MAX_ITERATIONS)
}

/// The client-token variant: empty `ctx`; `prefix` is already hex-decoded by the caller, which
/// sends the answer as upper-case hex.
pub fn solve_client_token(prefix: &[u8], length: i32) -> Option<[u8; 16]> {
    solve(&[], prefix, length, TIME_LIMIT, MAX_ITERATIONS)
}

/// The solver with explicit bounds. A negative `length` is treated as 0; a `length` above 64 can
/// never be met (there are only 64 bits to look at) and returns `None` at once.
pub fn solve(
    ctx: &[u8],
    prefix: &[u8],
    length: i32,
    time_limit: Duration,
    max_iterations: u64,
) -> Option<[u8; 16]> {
    let length = u32::try_from(length).unwrap_or(0);
    if length > 64 {
        return None;
    }
    let ctx_digest = Sha1::digest(ctx);
    let target = i64::from_be_bytes(tail8(&ctx_digest));
    let start = Instant::now();
    let mut base = Sha1::new();
    base.update(prefix);
    let mut counter: i64 = 0;
    while (counter as u64) < max_iterations {
        // Checking the clock costs more than a hash; look every 4096 tries.
        if counter & 0xfff == 0 && counter > 0 && start.elapsed() >= time_limit {
            return None;
        }
        let mut suffix = [0u8; 16];
        suffix[..8].copy_from_slice(&target.wrapping_add(counter).to_be_bytes());
        suffix[8..].copy_from_slice(&counter.to_be_bytes());
        let digest = base.clone().chain_update(suffix).finalize();
        if i64::from_be_bytes(tail8(&digest)).trailing_zeros() >= length {
            return Some(suffix);
        }
        counter += 1;
    }
    None
}

/// Digest bytes 12..20.
fn tail8(digest: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[12..20]);
    out
}

/// Whether `suffix` answers the challenge (the API tests check solutions with it).
#[cfg(test)]
pub(crate) fn verify(prefix: &[u8], suffix: &[u8], length: i32) -> bool {
    let digest = Sha1::new()
        .chain_update(prefix)
        .chain_update(suffix)
        .finalize();
    let length = u32::try_from(length).unwrap_or(0);
    i64::from_be_bytes(tail8(&digest)).trailing_zeros() >= length
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("test hex")
    }

    // Known answers computed independently by assets/fixtures/hashcash_kat.py (hashlib).
    #[test]
    fn known_answers_login5() {
        let s = solve_login5(
            b"login-context-1",
            &unhex("00112233445566778899aabbccddeeff"),
            10,
        )
        .expect("solvable");
        assert_eq!(hex::encode(s), "fd0b7400f60946ba0000000000000019"); // counter 25
        let ctx: Vec<u8> = (0u8..32).collect();
        let s = solve_login5(&ctx, b"prefix", 14).expect("solvable");
        assert_eq!(hex::encode(s), "680a781392f9daee00000000000034ac"); // counter 13484
    }

    #[test]
    fn known_answers_client_token() {
        let s =
            solve_client_token(&unhex("0123456789abcdef0123456789abcdef"), 12).expect("solvable");
        assert_eq!(
            hex::encode_upper(s),
            "95601890AFD81E910000000000001788" // counter 6024
        );
        let s = solve_client_token(&unhex("deadbeef"), 0).expect("length 0 takes counter 0");
        assert_eq!(hex::encode(s), "95601890afd807090000000000000000");
    }

    #[test]
    fn properties() {
        for (ctx, prefix, len) in [
            (&b""[..], &b"abc"[..], 8),
            (&b"ctx"[..], &b""[..], 12),
            (&b"\xff\xff"[..], &b"\x00"[..], 1),
        ] {
            let s = solve(ctx, prefix, len, TIME_LIMIT, MAX_ITERATIONS).expect("solvable");
            assert!(verify(prefix, &s, len));
            // The counter half and the target half agree: first = target + counter.
            let target = i64::from_be_bytes(tail8(&Sha1::digest(ctx)));
            let first = i64::from_be_bytes(s[..8].try_into().expect("8"));
            let counter = i64::from_be_bytes(s[8..].try_into().expect("8"));
            assert_eq!(first, target.wrapping_add(counter));
            // It is the *first* answer: no smaller counter works.
            for c in 0..counter {
                let mut t = [0u8; 16];
                t[..8].copy_from_slice(&target.wrapping_add(c).to_be_bytes());
                t[8..].copy_from_slice(&c.to_be_bytes());
                assert!(!verify(prefix, &t, len));
            }
        }
    }

    #[test]
    fn bounded() {
        assert_eq!(solve(b"", b"x", 65, TIME_LIMIT, MAX_ITERATIONS), None);
        // 40 bits cannot be found in 1000 tries (2^-40 per try).
        assert_eq!(solve(b"", b"x", 40, TIME_LIMIT, 1000), None);
        let t = Instant::now();
        assert_eq!(
            solve(b"", b"x", 60, Duration::from_millis(50), u64::MAX),
            None
        );
        assert!(t.elapsed() < Duration::from_secs(2));
        // Negative lengths are 0: the first counter wins.
        let s = solve(b"", b"x", -5, TIME_LIMIT, 10).expect("trivial");
        assert_eq!(&s[8..], &[0u8; 8]);
    }
}
