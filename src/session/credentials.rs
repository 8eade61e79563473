//! Login credentials for the access point (protocol spec §4.1, §4.5, §5.4): the [`AuthType`]
//! numbers, the [`Credentials`] value (whose `Debug` never shows the secret), its constructors,
//! and the decoder for the inner Zeroconf blob a Spotify Connect controller hands to a speaker.
//!
//! Called by the login step (`login.rs`), by `Session`, and later by the credential store and
//! the Connect receiver. Pure data and crypto; no I/O, no dependency on the rest of the session.

use std::fmt;

use aes::cipher::{generic_array::GenericArray, BlockDecrypt, KeyInit};
use aes::Aes192;
use base64::Engine;
use sha1::{Digest, Sha1};

/// `AuthenticationType` of the login protobuf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    UserPass = 0,
    StoredSpotifyCredentials = 1,
    StoredFacebookCredentials = 2,
    SpotifyToken = 3,
    FacebookToken = 4,
}

impl AuthType {
    /// The protocol number.
    pub fn as_u32(self) -> u32 {
        self as u32
    }

    /// From the protocol number; `None` for numbers this client does not know.
    pub fn from_u32(n: u32) -> Option<AuthType> {
        Some(match n {
            0 => AuthType::UserPass,
            1 => AuthType::StoredSpotifyCredentials,
            2 => AuthType::StoredFacebookCredentials,
            3 => AuthType::SpotifyToken,
            4 => AuthType::FacebookToken,
            _ => return None,
        })
    }
}

/// What the AP login sends. `auth_data` is the secret (password, token or stored credentials);
/// it never appears in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Omitted from the login when `None` (access-token logins).
    pub username: Option<String>,
    pub auth_type: AuthType,
    pub auth_data: Vec<u8>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("auth_type", &self.auth_type)
            .field(
                "auth_data",
                &format_args!("<redacted {} bytes>", self.auth_data.len()),
            )
            .finish()
    }
}

impl Credentials {
    /// Username + password (`USER_PASS`). Spotify's APs have refused these since 2024; kept for
    /// completeness and for the simulator.
    pub fn with_password(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            username: Some(username.into()),
            auth_type: AuthType::UserPass,
            auth_data: password.into().into_bytes(),
        }
    }

    /// An OAuth access token (`SPOTIFY_TOKEN`), sent without a username.
    pub fn with_access_token(token: impl Into<String>) -> Credentials {
        Credentials {
            username: None,
            auth_type: AuthType::SpotifyToken,
            auth_data: token.into().into_bytes(),
        }
    }

    /// Reusable stored credentials from an earlier APWelcome (`STORED_SPOTIFY_CREDENTIALS`).
    pub fn stored(username: impl Into<String>, data: Vec<u8>) -> Credentials {
        Credentials {
            username: Some(username.into()),
            auth_type: AuthType::StoredSpotifyCredentials,
            auth_data: data,
        }
    }

    /// Decodes the inner Zeroconf blob (§5.4). `blob_b64` is the base64 *text* that the outer
    /// layer decrypts to; `device_id` is the receiving device's id string.
    pub fn from_zeroconf_blob(
        username: &str,
        blob_b64: &str,
        device_id: &str,
    ) -> Result<Credentials, BlobError> {
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        let data = engine
            .decode(blob_b64.trim())
            .map_err(|_| BlobError::Base64)?;
        if data.is_empty() || data.len() % 16 != 0 {
            return Err(BlobError::Length(data.len()));
        }
        let plain = decrypt_blob(username, &data, device_id);
        parse_blob(username, &plain)
    }
}

/// Why a Zeroconf blob could not be decoded. No blob content in the messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    #[error("the credentials blob is not valid base64")]
    Base64,
    #[error("the credentials blob is {0} bytes long; it must be a non-zero multiple of 16")]
    Length(usize),
    #[error("the credentials blob ends early (reading {0}); wrong device id or user name?")]
    Truncated(&'static str),
    #[error("the credentials blob names unknown login type {0}; wrong device id or user name?")]
    UnknownAuthType(u32),
}

/// The inner blob's AES-192 key (§5.4): SHA1(PBKDF2-HMAC-SHA1(SHA1(device_id), username, 256
/// iterations, 20 bytes)) followed by u32be(20).
pub(crate) fn blob_key(username: &str, device_id: &str) -> [u8; 24] {
    let secret = Sha1::digest(device_id.as_bytes());
    let mut base = [0u8; 20];
    pbkdf2::pbkdf2_hmac::<Sha1>(&secret, username.as_bytes(), 256, &mut base);
    let mut key = [0u8; 24];
    key[..20].copy_from_slice(&Sha1::digest(base));
    key[20..].copy_from_slice(&20u32.to_be_bytes());
    key
}

/// AES-192-ECB decryption with the key derived from the device id and user name, then the
/// XOR walk from the end (§5.4). `data.len()` is a multiple of 16.
fn decrypt_blob(username: &str, data: &[u8], device_id: &str) -> Vec<u8> {
    let cipher = Aes192::new(GenericArray::from_slice(&blob_key(username, device_id)));
    let mut d = data.to_vec();
    for block in d.chunks_exact_mut(16) {
        cipher.decrypt_block(GenericArray::from_mut_slice(block));
    }
    let len = d.len();
    for i in 0..len.saturating_sub(16) {
        d[len - 1 - i] ^= d[len - 17 - i];
    }
    d
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn u8(&mut self, what: &'static str) -> Result<u8, BlobError> {
        let b = *self.data.get(self.pos).ok_or(BlobError::Truncated(what))?;
        self.pos += 1;
        Ok(b)
    }

    /// One or two bytes: `lo` alone if its top bit is clear, else `(lo & 0x7f) | hi << 7`.
    fn varint(&mut self, what: &'static str) -> Result<u32, BlobError> {
        let lo = self.u8(what)?;
        if lo & 0x80 == 0 {
            return Ok(u32::from(lo));
        }
        let hi = self.u8(what)?;
        Ok(u32::from(lo & 0x7f) | (u32::from(hi) << 7))
    }

    fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], BlobError> {
        let len = self.varint(what)? as usize;
        let end = self
            .pos
            .checked_add(len)
            .ok_or(BlobError::Truncated(what))?;
        let out = self
            .data
            .get(self.pos..end)
            .ok_or(BlobError::Truncated(what))?;
        self.pos = end;
        Ok(out)
    }
}

fn parse_blob(username: &str, d: &[u8]) -> Result<Credentials, BlobError> {
    let mut r = Reader { data: d, pos: 0 };
    r.u8("first tag")?;
    r.bytes("user name")?;
    r.u8("second tag")?;
    let auth_type = r.varint("login type")?;
    let auth_type = AuthType::from_u32(auth_type).ok_or(BlobError::UnknownAuthType(auth_type))?;
    r.u8("third tag")?;
    let auth_data = r.bytes("credentials")?.to_vec();
    Ok(Credentials {
        username: Some(username.to_string()),
        auth_type,
        auth_data,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aes::cipher::BlockEncrypt;

    /// Encoder per §5.4 "Encoder" (the simulator's direction), for round-trip tests.
    pub(crate) fn encode_blob(username: &str, device_id: &str, plain: &[u8]) -> String {
        let mut p = plain.to_vec();
        while p.len() % 16 != 0 || p.is_empty() {
            p.push(0);
        }
        for j in 16..p.len() {
            p[j] ^= p[j - 16];
        }
        let cipher = Aes192::new(GenericArray::from_slice(&blob_key(username, device_id)));
        for block in p.chunks_exact_mut(16) {
            cipher.encrypt_block(GenericArray::from_mut_slice(block));
        }
        base64::engine::general_purpose::STANDARD.encode(p)
    }

    fn varint(n: usize) -> Vec<u8> {
        if n < 0x80 {
            vec![n as u8]
        } else {
            vec![(n as u8 & 0x7f) | 0x80, (n >> 7) as u8]
        }
    }

    pub(crate) fn inner_plain(username: &str, auth_type: u8, data: &[u8]) -> Vec<u8> {
        let mut p = vec![0x49];
        p.extend(varint(username.len()));
        p.extend_from_slice(username.as_bytes());
        p.push(0x50);
        p.push(auth_type);
        p.push(0x51);
        p.extend(varint(data.len()));
        p.extend_from_slice(data);
        p
    }

    #[test]
    fn auth_type_numbers() {
        assert_eq!(AuthType::UserPass.as_u32(), 0);
        assert_eq!(AuthType::StoredSpotifyCredentials.as_u32(), 1);
        assert_eq!(AuthType::StoredFacebookCredentials.as_u32(), 2);
        assert_eq!(AuthType::SpotifyToken.as_u32(), 3);
        assert_eq!(AuthType::FacebookToken.as_u32(), 4);
        for n in 0..5 {
            assert_eq!(AuthType::from_u32(n).map(AuthType::as_u32), Some(n));
        }
        assert_eq!(AuthType::from_u32(5), None);
    }

    #[test]
    fn constructors() {
        let c = Credentials::with_password("alice", "hunter2");
        assert_eq!(c.username.as_deref(), Some("alice"));
        assert_eq!(c.auth_type, AuthType::UserPass);
        assert_eq!(c.auth_data, b"hunter2");
        let c = Credentials::with_access_token("tok");
        assert_eq!(c.username, None);
        assert_eq!(c.auth_type, AuthType::SpotifyToken);
        let c = Credentials::stored("bob", vec![1, 2, 3]);
        assert_eq!(c.auth_type, AuthType::StoredSpotifyCredentials);
        assert_eq!(c.auth_data, vec![1, 2, 3]);
    }

    #[test]
    fn debug_redacts_secret() {
        let c = Credentials::with_password("alice", "hunter2-secret");
        let dbg = format!("{c:?}");
        assert!(dbg.contains("alice"));
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("redacted 14 bytes"), "{dbg}");
    }

    #[test]
    fn blob_round_trip() {
        let device = "0123456789abcdef0123456789abcdef01234567";
        // 200-byte credentials exercise the two-byte varint.
        let secret: Vec<u8> = (0..200u32).map(|i| (i * 7 + 3) as u8).collect();
        let blob = encode_blob("alice", device, &inner_plain("alice", 1, &secret));
        let c = Credentials::from_zeroconf_blob("alice", &blob, device).expect("decode");
        assert_eq!(c.username.as_deref(), Some("alice"));
        assert_eq!(c.auth_type, AuthType::StoredSpotifyCredentials);
        assert_eq!(c.auth_data, secret);
        // Surrounding whitespace and missing padding are tolerated.
        let padded = format!("  {}\n", blob.trim_end_matches('='));
        assert!(Credentials::from_zeroconf_blob("alice", &padded, device).is_ok());
    }

    #[test]
    fn blob_known_answer() {
        // Produced with Python (hashlib.pbkdf2_hmac + cryptography's AES-192-ECB), independent of
        // this code: user "user", device id "device", plaintext tags 0x49/0x50/0x51, auth type 1,
        // auth data b"stored-credentials".
        let blob = KNOWN_BLOB;
        let c = Credentials::from_zeroconf_blob("user", blob, "device").expect("decode");
        assert_eq!(c.auth_type, AuthType::StoredSpotifyCredentials);
        assert_eq!(c.auth_data, b"stored-credentials");
    }

    const KNOWN_BLOB: &str = "h7oTGSxSGjMlr4uU6hs9iCcE4PtwRSKbfzCEqsdRbTY=";

    #[test]
    fn blob_errors() {
        let device = "dev";
        assert_eq!(
            Credentials::from_zeroconf_blob("u", "not base64 !!", device),
            Err(BlobError::Base64)
        );
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        assert_eq!(
            Credentials::from_zeroconf_blob("u", &b64(&[0; 15]), device),
            Err(BlobError::Length(15))
        );
        assert_eq!(
            Credentials::from_zeroconf_blob("u", "", device),
            Err(BlobError::Length(0))
        );
        // Wrong device id: decrypts to garbage, which must be a typed error (or, rarely, a
        // nonsense credential), never a panic.
        let blob = encode_blob("u", device, &inner_plain("u", 1, b"abc"));
        match Credentials::from_zeroconf_blob("u", &blob, "other device") {
            Err(_) => {}
            Ok(c) => assert_ne!(c.auth_data, b"abc"),
        }
        // Truncated field: claims 100 bytes of credentials, has 3.
        let mut p = inner_plain("u", 1, b"abc");
        let n = p.len();
        p[n - 4] = 100;
        let blob = encode_blob("u", device, &p);
        let padded_len = 16;
        assert!(p.len() <= padded_len);
        assert!(matches!(
            Credentials::from_zeroconf_blob("u", &blob, device),
            Err(BlobError::Truncated("credentials"))
        ));
        // Unknown auth type.
        let blob = encode_blob("u", device, &inner_plain("u", 9, b"abc"));
        assert_eq!(
            Credentials::from_zeroconf_blob("u", &blob, device),
            Err(BlobError::UnknownAuthType(9))
        );
    }

    proptest::proptest! {
        #[test]
        fn blob_decoder_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
                                     user in "[a-z]{0,8}") {
            let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
            let _ = Credentials::from_zeroconf_blob(&user, &b64, "dev");
            let mut r = Reader { data: &bytes, pos: 0 };
            let _ = r.bytes("x");
            let _ = parse_blob(&user, &bytes);
        }
    }
}
