//! The simulator acting as a phone that hands its login to a Spotify Connect receiver over
//! Zeroconf (`addUser`, spec §5.3–§5.4): the encoder side of the credentials blob. The inner
//! layer is keyed by the receiver's device id and the username (PBKDF2 → AES-192-ECB with the
//! forward XOR chain); the outer layer is DH with the receiver's public key, AES-128-CTR and an
//! HMAC-SHA1 checksum. Tests of the client's receiver use these; depends on no client module.

use aes::cipher::{BlockEncrypt, KeyInit, KeyIvInit, StreamCipher};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::{Digest, Sha1};

use super::dh::{DhError, DhKeys};

type HmacSha1 = Hmac<Sha1>;
type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// Largest value the blob's varint may carry (two 7-bit groups).
pub const MAX_VARINT: usize = 0x3fff;
/// Tag bytes written before each field (readers ignore them).
const TAG_USERNAME: u8 = 0x0a;
const TAG_AUTH_TYPE: u8 = 0x10;
const TAG_AUTH_DATA: u8 = 0x1a;

/// Input the blob format cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    /// A length or the auth type exceeds the 2-byte varint.
    #[error("{what} is {value}, more than the blob's varint can hold ({MAX_VARINT})")]
    TooLong { what: &'static str, value: usize },
    /// The receiver's public key is not a usable DH key.
    #[error("receiver public key unusable: {0}")]
    ReceiverKey(#[from] DhError),
}

fn put_varint(out: &mut Vec<u8>, what: &'static str, value: usize) -> Result<(), BlobError> {
    if value > MAX_VARINT {
        return Err(BlobError::TooLong { what, value });
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

/// The AES-192 key of the inner blob: `SHA1(PBKDF2-HMAC-SHA1(SHA1(device_id), username, 256,
/// 20)) || u32be(20)`.
fn inner_key(username: &str, device_id: &str) -> [u8; 24] {
    let secret = Sha1::digest(device_id.as_bytes());
    let mut base = [0u8; 20];
    pbkdf2::pbkdf2_hmac::<Sha1>(&secret, username.as_bytes(), 256, &mut base);
    let hashed = Sha1::digest(base);
    let mut key = [0u8; 24];
    key[..20].copy_from_slice(&hashed);
    key[20..].copy_from_slice(&20u32.to_be_bytes());
    key
}

/// Builds the inner credentials blob (base64 text) that a receiver with `device_id` decodes
/// into `Credentials{username, auth_type, auth_data}`.
pub fn encode_inner_blob(
    username: &str,
    auth_type: u32,
    auth_data: &[u8],
    device_id: &str,
) -> Result<String, BlobError> {
    let mut plain = Vec::with_capacity(username.len() + auth_data.len() + 16);
    plain.push(TAG_USERNAME);
    put_varint(&mut plain, "username length", username.len())?;
    plain.extend_from_slice(username.as_bytes());
    plain.push(TAG_AUTH_TYPE);
    let auth_type_value = usize::try_from(auth_type).unwrap_or(usize::MAX);
    put_varint(&mut plain, "auth type", auth_type_value)?;
    plain.push(TAG_AUTH_DATA);
    put_varint(&mut plain, "auth data length", auth_data.len())?;
    plain.extend_from_slice(auth_data);
    plain.resize(plain.len().div_ceil(16) * 16, 0);
    for j in 16..plain.len() {
        plain[j] ^= plain[j - 16];
    }
    let cipher = aes::Aes192::new(&inner_key(username, device_id).into());
    for block in plain.chunks_exact_mut(16) {
        cipher.encrypt_block(block.into());
    }
    Ok(B64.encode(plain))
}

/// Wraps an inner blob for a receiver whose `getInfo` returned `receiver_public_key` (raw
/// bytes, minimal big-endian). Returns `(blob, clientKey)`, both base64, as the `addUser` form
/// fields.
pub fn encode_outer_blob(
    inner_b64: &str,
    receiver_public_key: &[u8],
) -> Result<(String, String), BlobError> {
    let mut iv = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut iv);
    encode_outer_with(inner_b64, receiver_public_key, &DhKeys::random(), iv)
}

/// [`encode_outer_blob`] with a given DH key pair and IV.
fn encode_outer_with(
    inner_b64: &str,
    receiver_public_key: &[u8],
    keys: &DhKeys,
    iv: [u8; 16],
) -> Result<(String, String), BlobError> {
    let shared = keys.shared_secret(receiver_public_key)?;
    let base_key = &Sha1::digest(&shared)[..16];
    let checksum_key = hmac_sha1(base_key, b"checksum");
    let encryption_key = hmac_sha1(base_key, b"encryption");
    let mut cipher = inner_b64.as_bytes().to_vec();
    let mut ctr = Aes128Ctr::new(encryption_key[..16].into(), &iv.into());
    ctr.apply_keystream(&mut cipher);
    let mac = hmac_sha1(&checksum_key, &cipher);
    let mut blob = Vec::with_capacity(16 + cipher.len() + 20);
    blob.extend_from_slice(&iv);
    blob.extend_from_slice(&cipher);
    blob.extend_from_slice(&mac);
    Ok((B64.encode(blob), B64.encode(keys.public_key())))
}

fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    let mut mac = <HmacSha1 as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aes::cipher::BlockDecrypt;

    /// The receiver's decoder, written from spec §5.4 (walk from the end, original values).
    fn decode_inner(username: &str, blob_b64: &str, device_id: &str) -> (u32, Vec<u8>) {
        let mut d = B64.decode(blob_b64).unwrap();
        assert_eq!(d.len() % 16, 0);
        let cipher = aes::Aes192::new(&inner_key(username, device_id).into());
        for block in d.chunks_exact_mut(16) {
            cipher.decrypt_block(block.into());
        }
        let len = d.len();
        for i in 0..len.saturating_sub(16) {
            d[len - 1 - i] ^= d[len - 17 - i];
        }
        let mut pos = 0;
        let byte = |pos: &mut usize| {
            let b = d[*pos];
            *pos += 1;
            b
        };
        let varint = |pos: &mut usize| {
            let lo = byte(pos);
            if lo & 0x80 == 0 {
                usize::from(lo)
            } else {
                usize::from(lo & 0x7f) | (usize::from(byte(pos)) << 7)
            }
        };
        let _tag = d[pos];
        pos += 1;
        let ulen = varint(&mut pos);
        assert_eq!(&d[pos..pos + ulen], username.as_bytes());
        pos += ulen + 1;
        let auth_type = varint(&mut pos);
        pos += 1;
        let dlen = varint(&mut pos);
        (auth_type as u32, d[pos..pos + dlen].to_vec())
    }

    /// The receiver's outer decoder from spec §5.3.
    fn decode_outer(receiver: &DhKeys, blob_b64: &str, client_key_b64: &str) -> String {
        let enc = B64.decode(blob_b64).unwrap();
        let client_key = B64.decode(client_key_b64).unwrap();
        let shared = receiver.shared_secret(&client_key).unwrap();
        let base_key = &Sha1::digest(&shared)[..16];
        let (iv, rest) = enc.split_at(16);
        let (cipher, mac) = rest.split_at(rest.len() - 20);
        assert_eq!(hmac_sha1(&hmac_sha1(base_key, b"checksum"), cipher), mac);
        let key = hmac_sha1(base_key, b"encryption");
        let mut plain = cipher.to_vec();
        Aes128Ctr::new(key[..16].into(), iv.into()).apply_keystream(&mut plain);
        String::from_utf8(plain).unwrap()
    }

    #[test]
    fn inner_round_trip_for_many_lengths() {
        for len in [
            0usize, 1, 5, 15, 16, 17, 100, 127, 128, 300, 1000, MAX_VARINT,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
            let blob = encode_inner_blob("alice", 1, &data, "dev-1234").unwrap();
            assert_eq!(
                decode_inner("alice", &blob, "dev-1234"),
                (1, data),
                "len {len}"
            );
        }
    }

    #[test]
    fn inner_blob_known_answer() {
        // Computed independently with Python (hashlib PBKDF2 + `cryptography` AES-192-ECB).
        let data: Vec<u8> = (0..200u8).collect();
        let blob = encode_inner_blob("alice", 1, &data, "dev-1234").unwrap();
        assert_eq!(
            blob,
            "iCMByQRGlKqHKkobJs44G4rMTiGC68NTLDSq/xKP8XP5Zp/eW/CgKNEm079bilJSaaoUO5ZeoE2EDpj0TAa7Vfzk\
             Slpf6xmBJZhcOEuSj85+lnS2ucyN7zc/qBQWLFrW/cW3kw2W1KroEgWz5b0XCUOa3T/JKbgdRNooJ5EvQla8Zkf\
             KMxBu78DPXgOvYZSa7iki+y0HODmjPjM9Qg7/06iRmohZdXVQi4i0q/lMTZrHkYTmfTrvUEZw/2DinFthrEDGiK\
             H/IKdGItNMo2q6u0A2tHV9Zcgn3UasKz9C9rs="
        );
    }

    #[test]
    fn inner_blob_depends_on_device_and_user() {
        let a = encode_inner_blob("alice", 1, b"secret", "dev-a").unwrap();
        let b = encode_inner_blob("alice", 1, b"secret", "dev-b").unwrap();
        let c = encode_inner_blob("alicf", 1, b"secret", "dev-a").unwrap();
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn varint_limits() {
        let long = vec![0u8; MAX_VARINT + 1];
        assert_eq!(
            encode_inner_blob("u", 1, &long, "d"),
            Err(BlobError::TooLong {
                what: "auth data length",
                value: MAX_VARINT + 1
            })
        );
        assert!(matches!(
            encode_inner_blob("u", 70000, b"x", "d"),
            Err(BlobError::TooLong {
                what: "auth type",
                ..
            })
        ));
        let mut out = Vec::new();
        put_varint(&mut out, "x", 300).unwrap();
        assert_eq!(out, vec![0xac, 0x02]);
    }

    #[test]
    fn outer_round_trip() {
        let receiver = DhKeys::random();
        let inner = encode_inner_blob("tonearm-demo", 1, b"stored-bytes", "device").unwrap();
        let (blob, client_key) = encode_outer_blob(&inner, receiver.public_key()).unwrap();
        assert_eq!(decode_outer(&receiver, &blob, &client_key), inner);
        let (blob2, _) = encode_outer_blob(&inner, receiver.public_key()).unwrap();
        assert_ne!(blob, blob2, "fresh IV and DH key each time");
    }

    #[test]
    fn outer_known_answer() {
        // Computed independently with Python (pow, hashlib, hmac, `cryptography` AES-CTR); the IV
        // makes the 128-bit counter carry across the 64-bit halves.
        let receiver = DhKeys::from_private(&(1..96).collect::<Vec<u8>>());
        let client = DhKeys::from_private(&(100..195).collect::<Vec<u8>>());
        assert_eq!(
            hex::encode(receiver.public_key()),
            "67fc0ff26b0890085f41ce5a9e85b60bd921034ba1f26c752b5c7b582b41aa68043655712a895c7d2b305c\
             6b84dff1b5060056ab43b89934a56241e8a289a2ed4ea5c8fc941850cb36675b10b689e6827cd6cdc8237c6\
             b72c381319ecba20f40"
        );
        let mut iv = [0xff; 16];
        iv[..8].copy_from_slice(&[0xf0; 8]);
        let inner = "SGVsbG8gd29ybGQsIHRoaXMgaXMgdGhlIGlubmVyIGJsb2I=";
        let (blob, key) = encode_outer_with(inner, receiver.public_key(), &client, iv).unwrap();
        assert_eq!(
            blob,
            "8PDw8PDw8PD//////////5TyX3d53HsIQh66BhQA+fdR2oXQAJaQ2/A+VsB3970Y3hILr81IluAf9am4K7bDvAu\
             S9MBZdx+42G5CK3H4M5KzCDct"
        );
        assert_eq!(
            key,
            "ocuhUAOTU59bBn1WPpmT3pigeGxRDd70rztjVYO1qMz7Qj8/9ueUCIyAGNDa78EAMj9f2W3aEu/nwY8Sq6jTByZ\
             Qgl6xnF6H3mQ91zTSZ1Pl+XPjY1xDYFonsa64ubmj"
        );
    }

    #[test]
    fn outer_rejects_bad_receiver_key() {
        assert_eq!(
            encode_outer_blob("x", &[]),
            Err(BlobError::ReceiverKey(DhError::Empty))
        );
        assert_eq!(
            encode_outer_blob("x", &[1]),
            Err(BlobError::ReceiverKey(DhError::OutOfRange))
        );
    }
}
