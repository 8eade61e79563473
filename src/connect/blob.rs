//! The zeroconf credentials blobs (protocol spec §5.3, §5.4) in both directions: the receiver's
//! outer-layer decoder (DH shared secret → 16-byte base key → HMAC-SHA1 checksum checked in
//! constant time → AES-128-CTR) and the controller's encoders (inner blob keyed by the
//! receiver's device id and the user name; outer layer with a fresh DH key pair and IV).
//!
//! Called by `discovery` (receiver) and `wake` (controller). Pure crypto on byte strings: no I/O,
//! no logging (everything here is secret), no dependency on the rest of `connect` or on the
//! simulator. The inner decoder lives in `session::credentials` and is reused, not duplicated.

use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit, KeyIvInit, StreamCipher};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use crate::session::credentials::blob_key;
use crate::session::dh::{is_valid_peer_key, DhKeys, PRIVATE_KEY_LEN};
use crate::session::Credentials;

type HmacSha1 = Hmac<Sha1>;
type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// IV length at the front of the outer blob.
pub const IV_LEN: usize = 16;
/// HMAC-SHA1 length at the end of the outer blob.
pub const MAC_LEN: usize = 20;
/// The blob varint carries at most two 7-bit groups.
const MAX_VARINT: usize = 0x3fff;
/// Tag bytes before each inner field. Every known reader ignores them (§5.4); these are the
/// protobuf-style keys of fields 1, 2 and 3.
const TAG_USERNAME: u8 = 0x0a;
const TAG_AUTH_TYPE: u8 = 0x10;
const TAG_AUTH_DATA: u8 = 0x1a;

/// Why an outer blob was refused. The messages name no secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OuterError {
    #[error("the client key is not a usable Diffie-Hellman public key")]
    ClientKey,
    #[error("the blob is {0} bytes long; it needs at least {min} (IV + MAC)", min = IV_LEN + MAC_LEN)]
    TooShort(usize),
    #[error("the blob's checksum does not match (wrong key or damaged blob)")]
    Mac,
    #[error("the decrypted blob is not ASCII base64 text")]
    NotText,
}

/// Why a blob could not be built for a receiver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("the receiver's public key is not a usable Diffie-Hellman public key")]
    ReceiverKey,
    #[error("the credentials have no user name")]
    NoUsername,
    #[error("{0} is too long for the blob format")]
    TooLong(&'static str),
}

fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    let mut mac = <HmacSha1 as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// `(checksum_key, encryption_key)` from the DH shared secret (§5.3; note the 16-byte base key).
fn outer_keys(shared: &[u8]) -> ([u8; 20], [u8; 16]) {
    let digest = Sha1::digest(shared);
    let base_key = &digest[..16];
    let checksum_key = hmac_sha1(base_key, b"checksum");
    let enc = hmac_sha1(base_key, b"encryption");
    let mut encryption_key = [0u8; 16];
    encryption_key.copy_from_slice(&enc[..16]);
    (checksum_key, encryption_key)
}

/// The receiver's side of §5.3: `blob` and `client_key` are already base64-decoded. Returns the
/// inner blob's base64 text.
pub fn decrypt_outer(keys: &DhKeys, blob: &[u8], client_key: &[u8]) -> Result<String, OuterError> {
    if !is_valid_peer_key(client_key) {
        return Err(OuterError::ClientKey);
    }
    if blob.len() < IV_LEN + MAC_LEN {
        return Err(OuterError::TooShort(blob.len()));
    }
    let (checksum_key, encryption_key) = outer_keys(&keys.shared_secret(client_key));
    let (iv, rest) = blob.split_at(IV_LEN);
    let (cipher, mac) = rest.split_at(rest.len() - MAC_LEN);
    let expected = hmac_sha1(&checksum_key, cipher);
    if !bool::from(expected.ct_eq(mac)) {
        return Err(OuterError::Mac);
    }
    let mut plain = cipher.to_vec();
    Aes128Ctr::new(
        GenericArray::from_slice(&encryption_key),
        GenericArray::from_slice(iv),
    )
    .apply_keystream(&mut plain);
    if !plain.is_ascii() {
        return Err(OuterError::NotText);
    }
    String::from_utf8(plain).map_err(|_| OuterError::NotText)
}

fn put_varint(out: &mut Vec<u8>, what: &'static str, value: usize) -> Result<(), EncodeError> {
    if value > MAX_VARINT {
        return Err(EncodeError::TooLong(what));
    }
    // Both casts keep 7 bits.
    let lo = (value & 0x7f) as u8;
    if value < 0x80 {
        out.push(lo);
    } else {
        out.push(lo | 0x80);
        out.push((value >> 7) as u8);
    }
    Ok(())
}

/// The controller's inner blob (§5.4 "Encoder") as base64 text: what a receiver with
/// `device_id` decodes back into `creds`.
pub fn encode_inner(creds: &Credentials, device_id: &str) -> Result<String, EncodeError> {
    let username = creds.username.as_deref().ok_or(EncodeError::NoUsername)?;
    let mut p = Vec::with_capacity(username.len() + creds.auth_data.len() + 24);
    p.push(TAG_USERNAME);
    put_varint(&mut p, "the user name", username.len())?;
    p.extend_from_slice(username.as_bytes());
    p.push(TAG_AUTH_TYPE);
    put_varint(&mut p, "the login type", creds.auth_type.as_u32() as usize)?;
    p.push(TAG_AUTH_DATA);
    put_varint(&mut p, "the credentials", creds.auth_data.len())?;
    p.extend_from_slice(&creds.auth_data);
    p.resize(p.len().div_ceil(16) * 16, 0);
    // Forward XOR chain in increasing order: the inverse of the decoder's walk from the end.
    for j in 16..p.len() {
        p[j] ^= p[j - 16];
    }
    let cipher = aes::Aes192::new(GenericArray::from_slice(&blob_key(username, device_id)));
    for block in p.chunks_exact_mut(16) {
        cipher.encrypt_block(GenericArray::from_mut_slice(block));
    }
    Ok(B64.encode(p))
}

/// The `addUser` form fields for a receiver.
#[derive(Clone, PartialEq, Eq)]
pub struct OuterBlob {
    /// base64 of IV || ciphertext || MAC.
    pub blob: String,
    /// base64 of our DH public key (minimal big-endian).
    pub client_key: String,
}

impl std::fmt::Debug for OuterBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OuterBlob")
            .field(
                "blob",
                &format_args!("<redacted {} chars>", self.blob.len()),
            )
            .field("client_key", &self.client_key)
            .finish()
    }
}

/// The controller's outer layer (§5.3) around `inner_b64` for a receiver whose `getInfo` gave
/// `receiver_public` (raw bytes), with a fresh DH key pair and IV.
pub fn encrypt_outer(inner_b64: &str, receiver_public: &[u8]) -> Result<OuterBlob, EncodeError> {
    let mut private = [0u8; PRIVATE_KEY_LEN];
    rand::thread_rng().fill_bytes(&mut private);
    let mut iv = [0u8; IV_LEN];
    rand::thread_rng().fill_bytes(&mut iv);
    encrypt_outer_with(inner_b64, receiver_public, &private, iv)
}

/// [`encrypt_outer`] with the randomness given: our DH private key (big-endian bytes) and the
/// IV. Public only so known-answer tests can compare against an independent implementation.
#[doc(hidden)]
pub fn encrypt_outer_with(
    inner_b64: &str,
    receiver_public: &[u8],
    private_be: &[u8],
    iv: [u8; IV_LEN],
) -> Result<OuterBlob, EncodeError> {
    if !is_valid_peer_key(receiver_public) {
        return Err(EncodeError::ReceiverKey);
    }
    let keys = DhKeys::from_private(private_be);
    let (checksum_key, encryption_key) = outer_keys(&keys.shared_secret(receiver_public));
    let mut cipher = inner_b64.as_bytes().to_vec();
    Aes128Ctr::new(
        GenericArray::from_slice(&encryption_key),
        GenericArray::from_slice(&iv),
    )
    .apply_keystream(&mut cipher);
    let mac = hmac_sha1(&checksum_key, &cipher);
    let mut blob = Vec::with_capacity(IV_LEN + cipher.len() + MAC_LEN);
    blob.extend_from_slice(&iv);
    blob.extend_from_slice(&cipher);
    blob.extend_from_slice(&mac);
    Ok(OuterBlob {
        blob: B64.encode(blob),
        client_key: B64.encode(keys.public_key()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::session::AuthType;

    fn creds(len: usize) -> Credentials {
        Credentials::stored("alice", (0..len).map(|i| (i * 13 + 1) as u8).collect())
    }

    #[test]
    fn inner_round_trips_through_the_session_decoder() {
        for len in [0, 1, 15, 16, 17, 100, 127, 128, 300, 2000] {
            let c = creds(len);
            let b = encode_inner(&c, "dev-1").unwrap();
            let back = Credentials::from_zeroconf_blob("alice", &b, "dev-1");
            assert_eq!(back.unwrap(), c, "len {len}");
        }
        let t = Credentials {
            username: Some("bob".into()),
            auth_type: AuthType::SpotifyToken,
            auth_data: b"tok".to_vec(),
        };
        let b = encode_inner(&t, "d").unwrap();
        assert_eq!(Credentials::from_zeroconf_blob("bob", &b, "d").unwrap(), t);
    }

    #[test]
    fn inner_refuses_what_the_format_cannot_carry() {
        assert_eq!(
            encode_inner(&Credentials::with_access_token("x"), "d"),
            Err(EncodeError::NoUsername)
        );
        assert_eq!(
            encode_inner(&creds(MAX_VARINT + 1), "d"),
            Err(EncodeError::TooLong("the credentials"))
        );
    }

    #[test]
    fn outer_round_trip_and_mac_check() {
        let receiver = DhKeys::random();
        let o = encrypt_outer("aW5uZXI=", &receiver.public_key()).unwrap();
        let blob = B64.decode(&o.blob).unwrap();
        let ck = B64.decode(&o.client_key).unwrap();
        assert_eq!(decrypt_outer(&receiver, &blob, &ck).unwrap(), "aW5uZXI=");
        for i in [0, 16, blob.len() - 1] {
            let mut bad = blob.clone();
            bad[i] ^= 1;
            let r = decrypt_outer(&receiver, &bad, &ck);
            if i < 16 {
                // The IV is not covered by the MAC (as in librespot): garbage, not an error.
                assert_ne!(r.ok().as_deref(), Some("aW5uZXI="));
            } else {
                assert_eq!(r, Err(OuterError::Mac));
            }
        }
        assert_eq!(
            decrypt_outer(&receiver, &blob[..35], &ck),
            Err(OuterError::TooShort(35))
        );
        assert_eq!(
            decrypt_outer(&receiver, &blob, &[1]),
            Err(OuterError::ClientKey)
        );
        // Another receiver's key pair: wrong shared secret, so the MAC fails.
        assert_eq!(
            decrypt_outer(&DhKeys::random(), &blob, &ck),
            Err(OuterError::Mac)
        );
        assert_eq!(
            encrypt_outer("x", &[0]).map(|_| ()),
            Err(EncodeError::ReceiverKey)
        );
    }

    #[test]
    fn outer_debug_hides_blob() {
        let o = encrypt_outer("c2VjcmV0", &DhKeys::random().public_key()).unwrap();
        assert!(!format!("{o:?}").contains(&o.blob));
    }
}
