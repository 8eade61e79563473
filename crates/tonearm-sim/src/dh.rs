//! Diffie-Hellman over the 768-bit MODP group ("Oakley group 1", generator 2) that the access
//! point handshake (spec §2.2) and the Zeroconf blob (§5.3) use, written for the simulator's
//! server side. Public keys and shared secrets are minimal big-endian byte strings. Used by
//! [`super::handshake`] and [`super::phone`]; depends on no client module.

use std::sync::OnceLock;

use num_bigint::BigUint;
use rand::RngCore;

/// The group prime, 96 bytes big-endian (spec §2.2).
const PRIME_HEX: &str = "ffffffffffffffffc90fdaa22168c234c4c6628b80dc1cd129024e088a67cc74\
020bbea63b139b22514a08798e3404ddef9519b3cd3a431b302b0a6df25f14374fe1356d6d51c245e485b576\
625e7ec6f44c42e9a63a3620ffffffffffffffff";

/// Number of random bytes in a private key (librespot uses 95).
const PRIVATE_KEY_LEN: usize = 95;

/// The group prime as a number.
pub(crate) fn prime() -> &'static BigUint {
    static PRIME: OnceLock<BigUint> = OnceLock::new();
    PRIME.get_or_init(|| {
        BigUint::parse_bytes(PRIME_HEX.as_bytes(), 16).expect("the group prime is valid hex")
    })
}

/// Why a peer's public key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DhError {
    /// The peer sent no key bytes at all.
    #[error("empty Diffie-Hellman public key")]
    Empty,
    /// The key is 0, 1, p-1 or not below the prime.
    #[error("Diffie-Hellman public key out of range")]
    OutOfRange,
}

/// One side's key pair.
pub(crate) struct DhKeys {
    private: BigUint,
    public: Vec<u8>,
}

impl DhKeys {
    /// A fresh random key pair.
    pub(crate) fn random() -> Self {
        let mut bytes = [0u8; PRIVATE_KEY_LEN];
        rand::thread_rng().fill_bytes(&mut bytes);
        Self::from_private(&bytes)
    }

    /// A key pair from big-endian private key bytes (tests use fixed keys).
    pub(crate) fn from_private(bytes: &[u8]) -> Self {
        let private = BigUint::from_bytes_be(bytes);
        let public = BigUint::from(2u32).modpow(&private, prime()).to_bytes_be();
        DhKeys { private, public }
    }

    /// Our public key, minimal big-endian.
    pub(crate) fn public_key(&self) -> &[u8] {
        &self.public
    }

    /// The shared secret with a peer's public key (any length, leading zeros allowed),
    /// minimal big-endian.
    pub(crate) fn shared_secret(&self, remote_public: &[u8]) -> Result<Vec<u8>, DhError> {
        if remote_public.is_empty() {
            return Err(DhError::Empty);
        }
        let p = prime();
        let remote = BigUint::from_bytes_be(remote_public);
        let one = BigUint::from(1u32);
        if remote <= one || remote >= p - &one {
            return Err(DhError::OutOfRange);
        }
        Ok(remote.modpow(&self.private, p).to_bytes_be())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn prime_is_768_bits() {
        assert_eq!(prime().bits(), 768);
        assert_eq!(prime().to_bytes_be().len(), 96);
    }

    #[test]
    fn both_sides_agree() {
        let a = DhKeys::random();
        let b = DhKeys::random();
        let s1 = a.shared_secret(b.public_key()).unwrap();
        let s2 = b.shared_secret(a.public_key()).unwrap();
        assert_eq!(s1, s2);
        assert!(s1.len() <= 96);
        assert_ne!(
            s1.first(),
            Some(&0),
            "minimal big-endian has no leading zero"
        );
    }

    #[test]
    fn small_private_key_gives_short_public_key() {
        // 2^5 = 32: a one-byte public key, which a server must accept.
        let a = DhKeys::from_private(&[5]);
        assert_eq!(a.public_key(), &[32]);
        let b = DhKeys::random();
        let padded: Vec<u8> = std::iter::repeat_n(0u8, 95).chain([32]).collect();
        assert_eq!(
            b.shared_secret(a.public_key()).unwrap(),
            b.shared_secret(&padded).unwrap()
        );
        assert_eq!(
            a.shared_secret(b.public_key()).unwrap(),
            b.shared_secret(&[32]).unwrap()
        );
    }

    #[test]
    fn degenerate_keys_are_refused() {
        let a = DhKeys::random();
        assert_eq!(a.shared_secret(&[]), Err(DhError::Empty));
        assert_eq!(a.shared_secret(&[0]), Err(DhError::OutOfRange));
        assert_eq!(a.shared_secret(&[1]), Err(DhError::OutOfRange));
        let p = prime().to_bytes_be();
        assert_eq!(a.shared_secret(&p), Err(DhError::OutOfRange));
        assert_eq!(a.shared_secret(&[0xff; 97]), Err(DhError::OutOfRange));
    }
}
