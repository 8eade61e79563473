//! Guest tokens: `<guest id>.<expiry>.<key generation>.<HMAC-SHA256>`, signed with a key that
//! lives in memory only ([`Key::random`] at each start), so a restart refuses every token handed
//! out before it. The token carries who the guest is and until when; what they may do lives in
//! the guest table, so a grant or a ban acts at once.
//!
//! Pure functions over bytes and numbers; used by `guests::server`. Depends on `hmac`/`sha2`
//! only.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// A token longer than this is not one of ours (checked before any parsing).
const MAX_TOKEN: usize = 160;

/// Why a token was refused (always a 401 to the guest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a guest token")]
    Malformed,
    #[error("the token's signature does not match (tonearm restarted since it was issued?)")]
    BadSignature,
    #[error("the token was issued under an earlier key")]
    OldKey,
    #[error("the token has expired")]
    Expired,
}

/// The signing key and its generation.
pub struct Key {
    /// One SHA-256 block: HMAC's own key size, so no hashing or padding of the key.
    secret: [u8; 64],
    generation: u32,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret itself.
        f.debug_struct("Key")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// A fresh random key.
    pub fn random(generation: u32) -> Key {
        Key {
            secret: {
                let mut k = [0u8; 64];
                rand::Rng::fill(&mut rand::thread_rng(), &mut k[..]);
                k
            },
            generation,
        }
    }

    fn mac(&self, guest: u64, expires: u64, generation: u32) -> HmacSha256 {
        let mut mac = <HmacSha256 as hmac::digest::KeyInit>::new(&self.secret.into());
        mac.update(b"tonearm-guest-v1|");
        mac.update(&guest.to_be_bytes());
        mac.update(&expires.to_be_bytes());
        mac.update(&generation.to_be_bytes());
        mac
    }

    /// A token for `guest`, valid until the Unix time `expires` (seconds).
    pub fn sign(&self, guest: u64, expires: u64) -> String {
        let tag = self.mac(guest, expires, self.generation).finalize();
        format!(
            "{guest:x}.{expires}.{}.{}",
            self.generation,
            hex::encode(tag.into_bytes())
        )
    }

    /// The guest id in `token` when it is ours, current and unexpired at Unix time `now`.
    pub fn verify(&self, token: &str, now: u64) -> Result<u64, TokenError> {
        if token.len() > MAX_TOKEN {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(g), Some(e), Some(n), Some(t), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(TokenError::Malformed);
        };
        let guest = u64::from_str_radix(g, 16).map_err(|_| TokenError::Malformed)?;
        let expires: u64 = e.parse().map_err(|_| TokenError::Malformed)?;
        let generation: u32 = n.parse().map_err(|_| TokenError::Malformed)?;
        let tag = hex::decode(t).map_err(|_| TokenError::Malformed)?;
        // Constant-time comparison of the tag (hmac's verify_slice).
        self.mac(guest, expires, generation)
            .verify_slice(&tag)
            .map_err(|_| TokenError::BadSignature)?;
        if generation != self.generation {
            return Err(TokenError::OldKey);
        }
        if now >= expires {
            return Err(TokenError::Expired);
        }
        Ok(guest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let k = Key::random(1);
        let t = k.sign(42, 1000);
        assert_eq!(k.verify(&t, 999), Ok(42));
        assert_eq!(k.verify(&t, 1000), Err(TokenError::Expired));
    }

    #[test]
    fn tampered_tokens_are_refused() {
        let k = Key::random(1);
        let t = k.sign(42, 1000);
        // Another guest id, a later expiry, a flipped tag bit: all fail the signature.
        let parts: Vec<&str> = t.split('.').collect();
        let other_guest = format!("2b.{}.{}.{}", parts[1], parts[2], parts[3]);
        assert_eq!(k.verify(&other_guest, 0), Err(TokenError::BadSignature));
        let later = format!("{}.99999.{}.{}", parts[0], parts[2], parts[3]);
        assert_eq!(k.verify(&later, 0), Err(TokenError::BadSignature));
        let mut tag = hex::decode(parts[3]).unwrap();
        tag[0] ^= 1;
        let flipped = format!(
            "{}.{}.{}.{}",
            parts[0],
            parts[1],
            parts[2],
            hex::encode(tag)
        );
        assert_eq!(k.verify(&flipped, 0), Err(TokenError::BadSignature));
        for junk in [
            "",
            "a.b.c.d",
            "1.2.3",
            "1.2.3.4.5",
            &"x".repeat(500),
            "1.2.3.zz",
        ] {
            assert_eq!(k.verify(junk, 0), Err(TokenError::Malformed), "{junk}");
        }
    }

    #[test]
    fn another_key_or_generation_is_refused() {
        let a = Key::random(1);
        let b = Key::random(1);
        assert_eq!(b.verify(&a.sign(1, 10), 0), Err(TokenError::BadSignature));
        // The same secret under a later generation refuses the earlier generation's tokens.
        let newer = Key {
            secret: a.secret,
            generation: 2,
        };
        assert_eq!(newer.verify(&a.sign(1, 10), 0), Err(TokenError::OldKey));
        assert!(!format!("{a:?}").contains(&hex::encode(a.secret)));
    }
}
