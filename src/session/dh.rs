//! Diffie-Hellman over the 768-bit MODP group used by the access-point handshake (protocol spec
//! §2.2): a key pair, its public key and the shared secret, both as *minimal* big-endian bytes
//! (no left zero padding), which is exactly the form the handshake sends and the HMAC derivation
//! uses as its key.
//!
//! Called by `handshake.rs`; pure arithmetic, no I/O. Must not depend on the rest of the session.

use std::fmt;

use num_bigint::BigUint;
use rand::RngCore;

/// The group prime (RFC 2409 "Oakley group 1"), 96 bytes big-endian.
pub const DH_PRIME: [u8; 96] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc9, 0x0f, 0xda, 0xa2, 0x21, 0x68, 0xc2, 0x34,
    0xc4, 0xc6, 0x62, 0x8b, 0x80, 0xdc, 0x1c, 0xd1, 0x29, 0x02, 0x4e, 0x08, 0x8a, 0x67, 0xcc, 0x74,
    0x02, 0x0b, 0xbe, 0xa6, 0x3b, 0x13, 0x9b, 0x22, 0x51, 0x4a, 0x08, 0x79, 0x8e, 0x34, 0x04, 0xdd,
    0xef, 0x95, 0x19, 0xb3, 0xcd, 0x3a, 0x43, 0x1b, 0x30, 0x2b, 0x0a, 0x6d, 0xf2, 0x5f, 0x14, 0x37,
    0x4f, 0xe1, 0x35, 0x6d, 0x6d, 0x51, 0xc2, 0x45, 0xe4, 0x85, 0xb5, 0x76, 0x62, 0x5e, 0x7e, 0xc6,
    0xf4, 0x4c, 0x42, 0xe9, 0xa6, 0x3a, 0x36, 0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
];

/// The group generator.
pub const DH_GENERATOR: u32 = 2;

/// Number of random bytes in a private key (as librespot).
pub const PRIVATE_KEY_LEN: usize = 95;

/// A Diffie-Hellman key pair. `Debug` never shows the private key.
#[derive(Clone)]
pub struct DhKeys {
    private: BigUint,
    public: BigUint,
}

impl fmt::Debug for DhKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DhKeys")
            .field("private", &"<redacted>")
            .field("public", &hex::encode(self.public.to_bytes_be()))
            .finish()
    }
}

fn prime() -> BigUint {
    BigUint::from_bytes_be(&DH_PRIME)
}

impl DhKeys {
    /// A fresh key pair from 95 random bytes.
    pub fn random() -> DhKeys {
        let mut bytes = [0u8; PRIVATE_KEY_LEN];
        rand::thread_rng().fill_bytes(&mut bytes);
        DhKeys::from_private(&bytes)
    }

    /// A key pair from a private key given as **big-endian** bytes (any length). Known-answer
    /// tests use this; the handshake uses [`DhKeys::random`].
    pub fn from_private(bytes: &[u8]) -> DhKeys {
        let private = BigUint::from_bytes_be(bytes);
        let public = BigUint::from(DH_GENERATOR).modpow(&private, &prime());
        DhKeys { private, public }
    }

    /// `g^x mod p` as minimal big-endian bytes.
    pub fn public_key(&self) -> Vec<u8> {
        self.public.to_bytes_be()
    }

    /// `peer^x mod p` as minimal big-endian bytes. `peer` is minimal or zero-padded big-endian;
    /// leading zero bytes make no difference. Use [`is_valid_peer_key`] first on untrusted input.
    pub fn shared_secret(&self, peer: &[u8]) -> Vec<u8> {
        BigUint::from_bytes_be(peer)
            .modpow(&self.private, &prime())
            .to_bytes_be()
    }
}

/// A peer public key is usable when `1 < key < p - 1` (rules out the degenerate values 0, 1 and
/// p-1 that would make the shared secret predictable, and anything outside the group).
pub fn is_valid_peer_key(peer: &[u8]) -> bool {
    let key = BigUint::from_bytes_be(peer);
    let one = BigUint::from(1u32);
    let p_minus_one = prime() - &one;
    key > one && key < p_minus_one
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_agree() {
        let a = DhKeys::random();
        let b = DhKeys::random();
        let s1 = a.shared_secret(&b.public_key());
        let s2 = b.shared_secret(&a.public_key());
        assert_eq!(s1, s2);
        assert!(!s1.is_empty() && s1.len() <= 96);
    }

    #[test]
    fn small_known_values() {
        // 2^1 = 2, 2^10 = 1024 = 0x0400 (minimal: two bytes, no padding).
        assert_eq!(DhKeys::from_private(&[1]).public_key(), vec![2]);
        assert_eq!(DhKeys::from_private(&[10]).public_key(), vec![0x04, 0x00]);
        // shared = peer^x: 3^2 = 9, and leading zero bytes in the peer key are ignored.
        let k = DhKeys::from_private(&[0, 0, 2]);
        assert_eq!(k.shared_secret(&[0, 0, 3]), vec![9]);
    }

    #[test]
    fn public_key_is_minimal_big_endian() {
        for _ in 0..20 {
            let k = DhKeys::random();
            let pk = k.public_key();
            assert_ne!(pk.first(), Some(&0), "leading zero byte");
            assert!(pk.len() <= 96);
        }
    }

    #[test]
    fn degenerate_peer_keys_are_rejected() {
        assert!(!is_valid_peer_key(&[]));
        assert!(!is_valid_peer_key(&[0]));
        assert!(!is_valid_peer_key(&[1]));
        assert!(!is_valid_peer_key(&DH_PRIME));
        let mut p_minus_one = DH_PRIME;
        p_minus_one[95] -= 1;
        assert!(!is_valid_peer_key(&p_minus_one));
        assert!(is_valid_peer_key(&[2]));
        assert!(is_valid_peer_key(&DhKeys::random().public_key()));
    }

    #[test]
    fn debug_hides_private_key() {
        let k = DhKeys::from_private(&[0x42; 95]);
        let dbg = format!("{k:?}");
        assert!(dbg.contains("<redacted>"));
        assert!(!dbg.contains(&"42".repeat(10)));
    }
}
