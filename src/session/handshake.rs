//! The plaintext part of an access-point connection (protocol spec §2): ClientHello, the
//! APResponse with its server signature check, the HMAC key derivation over the raw packets, and
//! ClientResponsePlaintext. It ends with the Shannon [`Encoder`]/[`Decoder`] pair for the rest of
//! the connection. Also decides whether the AP's first answer after the handshake is a normal
//! encrypted packet or a plaintext `APResponseMessage{login_failed}` ([`classify_first_answer`]).
//!
//! Called by `connection.rs` on a freshly connected stream (any `AsyncRead + AsyncWrite`, so
//! tests run it over an in-memory pipe). Builds on `dh.rs` and `codec.rs`; must not depend on the
//! session task, Mercury or the public `Session`.

use hmac::{Hmac, Mac};
use librespot_protocol::keyexchange::{
    APResponseMessage, BuildInfo, ClientHello, ClientResponsePlaintext, CryptoResponseUnion,
    Cryptosuite, LoginCryptoDiffieHellmanHello, LoginCryptoDiffieHellmanResponse,
    LoginCryptoHelloUnion, LoginCryptoResponseUnion, Platform, PoWResponseUnion, Product,
    ProductFlags,
};
use protobuf::{EnumOrUnknown, Message, MessageField};
use rand::RngCore;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use sha1::Sha1;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::codec::{Decoder, Encoder, Peek};
use super::dh::{self, DhKeys};
use super::login::LoginFailure;
use super::packet::cmd;

/// Desktop client version the APs expect in `BuildInfo.version` (1.2.52.442, as librespot).
pub const CLIENT_VERSION: u64 = 124_200_290;
/// Upper bound for a plaintext handshake message from the AP. Real ones are well under 1 KiB;
/// anything larger is refused before allocating.
pub const MAX_HANDSHAKE_MESSAGE: u32 = 64 * 1024;
/// A plaintext `APResponseMessage{login_failed}` is tiny; a first answer whose first four bytes
/// claim more than this is never taken for one.
pub const MAX_PLAINTEXT_FAILURE: u32 = 1024;

/// Why the handshake failed. Messages contain no key material.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("network error during the access-point handshake: {0}")]
    Io(#[from] std::io::Error),
    #[error("access point sent a handshake message of {len} bytes (limit {max})")]
    MessageTooLarge { len: u32, max: u32 },
    #[error("access point sent an impossible handshake message length {0}")]
    BadLength(u32),
    #[error("access point sent a malformed handshake message: {0}")]
    Malformed(String),
    #[error("access point sent no Diffie-Hellman challenge")]
    NoChallenge,
    #[error(
        "the access point's handshake signature does not verify against the trusted key \
             (not a genuine access point, or `ap_key_modulus`/`ap_key_exponent` is wrong)"
    )]
    BadServerSignature,
    #[error("the configured access-point key is not a usable RSA public key: {0}")]
    BadTrustedKey(String),
    #[error("access point sent an invalid Diffie-Hellman public key")]
    BadServerKey,
    #[error("access point refused the connection: {0}")]
    Refused(LoginFailure),
    #[error("cannot encode handshake message: {0}")]
    Encode(String),
}

/// The three values derived from the shared secret and the handshake transcript (§2.6).
#[derive(Clone, PartialEq, Eq)]
pub struct DerivedKeys {
    /// HMAC sent back in ClientResponsePlaintext.
    pub challenge: [u8; 20],
    /// Client→AP Shannon key.
    pub send_key: [u8; 32],
    /// AP→client Shannon key.
    pub recv_key: [u8; 32],
}

impl std::fmt::Debug for DerivedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DerivedKeys { <redacted> }")
    }
}

type HmacSha1 = Hmac<Sha1>;

fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    let mut mac = HmacSha1::new_from_slice(key).expect("HMAC accepts keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Key derivation (§2.6): `shared` is the minimal big-endian DH shared secret, `acc` the raw
/// ClientHello packet as sent followed by the raw APResponse packet as received.
pub fn derive_keys(shared: &[u8], acc: &[u8]) -> DerivedKeys {
    let mut data = [0u8; 100];
    for i in 0..5u8 {
        let block = hmac_sha1(shared, &[acc, &[i + 1]]);
        let at = usize::from(i) * 20;
        data[at..at + 20].copy_from_slice(&block);
    }
    let challenge = hmac_sha1(&data[..20], &[acc]);
    let mut send_key = [0u8; 32];
    send_key.copy_from_slice(&data[20..52]);
    let mut recv_key = [0u8; 32];
    recv_key.copy_from_slice(&data[52..84]);
    DerivedKeys {
        challenge,
        send_key,
        recv_key,
    }
}

/// The platform reported in `BuildInfo` for the target we are built for (§2.3). Android is
/// reported as Linux on purpose: the APs answer `TryAnotherAP` to the Android platform.
pub fn platform() -> Platform {
    let arch = std::env::consts::ARCH;
    match std::env::consts::OS {
        "windows" => match arch {
            "x86_64" => Platform::PLATFORM_WIN32_X86_64,
            "arm" | "aarch64" => Platform::PLATFORM_WINDOWS_CE_ARM,
            _ => Platform::PLATFORM_WIN32_X86,
        },
        "macos" => match arch {
            "x86_64" | "aarch64" => Platform::PLATFORM_OSX_X86_64,
            "powerpc" | "powerpc64" => Platform::PLATFORM_OSX_PPC,
            _ => Platform::PLATFORM_OSX_X86,
        },
        "freebsd" => match arch {
            "x86_64" => Platform::PLATFORM_FREEBSD_X86_64,
            _ => Platform::PLATFORM_FREEBSD_X86,
        },
        // linux, android and everything else
        _ => match arch {
            "x86_64" => Platform::PLATFORM_LINUX_X86_64,
            "arm" | "aarch64" => Platform::PLATFORM_LINUX_ARM,
            "mips" | "mips64" => Platform::PLATFORM_LINUX_MIPS,
            _ => Platform::PLATFORM_LINUX_X86,
        },
    }
}

/// ClientHello exactly as §2.3 describes it.
pub fn build_client_hello(public_key: &[u8], nonce: [u8; 16]) -> ClientHello {
    let mut build = BuildInfo::new();
    build.set_product(Product::PRODUCT_CLIENT);
    let flag = if cfg!(debug_assertions) {
        ProductFlags::PRODUCT_FLAG_DEV_BUILD
    } else {
        ProductFlags::PRODUCT_FLAG_NONE
    };
    build.product_flags.push(EnumOrUnknown::new(flag));
    build.set_platform(platform());
    build.set_version(CLIENT_VERSION);

    let mut dh = LoginCryptoDiffieHellmanHello::new();
    dh.set_gc(public_key.to_vec());
    dh.set_server_keys_known(1);
    let mut crypto_hello = LoginCryptoHelloUnion::new();
    crypto_hello.diffie_hellman = MessageField::some(dh);

    let mut hello = ClientHello::new();
    hello.build_info = MessageField::some(build);
    hello
        .cryptosuites_supported
        .push(EnumOrUnknown::new(Cryptosuite::CRYPTO_SUITE_SHANNON));
    hello.login_crypto_hello = MessageField::some(crypto_hello);
    hello.set_client_nonce(nonce.to_vec());
    hello.set_padding(vec![0x1e]);
    hello
}

/// `00 04 ‖ u32be(total) ‖ proto`, total counting the whole packet.
pub fn frame_client_hello(hello: &ClientHello) -> Result<Vec<u8>, HandshakeError> {
    let proto = hello
        .write_to_bytes()
        .map_err(|e| HandshakeError::Encode(e.to_string()))?;
    frame_plain(&[0x00, 0x04], &proto)
}

/// `u32be(total) ‖ proto` (ClientResponsePlaintext, and the AP's messages).
pub fn frame_plain(prefix: &[u8], proto: &[u8]) -> Result<Vec<u8>, HandshakeError> {
    let total = prefix.len() + 4 + proto.len();
    let total32 = u32::try_from(total).map_err(|_| HandshakeError::Encode("too long".into()))?;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(prefix);
    out.extend_from_slice(&total32.to_be_bytes());
    out.extend_from_slice(proto);
    Ok(out)
}

/// ClientResponsePlaintext with every required field set (§2.7).
pub fn build_client_response(challenge: &[u8; 20]) -> ClientResponsePlaintext {
    let mut dh = LoginCryptoDiffieHellmanResponse::new();
    dh.set_hmac(challenge.to_vec());
    let mut login = LoginCryptoResponseUnion::new();
    login.diffie_hellman = MessageField::some(dh);
    let mut resp = ClientResponsePlaintext::new();
    resp.login_crypto_response = MessageField::some(login);
    resp.pow_response = MessageField::some(PoWResponseUnion::new());
    resp.crypto_response = MessageField::some(CryptoResponseUnion::new());
    resp
}

/// Reads one length-prefixed plaintext message, returning the raw packet (prefix included).
/// The length is checked before anything is allocated.
pub async fn read_plain_message<R: AsyncRead + Unpin>(
    r: &mut R,
    max: u32,
) -> Result<Vec<u8>, HandshakeError> {
    let mut len_bytes = [0u8; 4];
    r.read_exact(&mut len_bytes).await?;
    let total = u32::from_be_bytes(len_bytes);
    if total < 4 {
        return Err(HandshakeError::BadLength(total));
    }
    if total > max {
        return Err(HandshakeError::MessageTooLarge { len: total, max });
    }
    let mut raw = vec![0u8; total as usize];
    raw[..4].copy_from_slice(&len_bytes);
    r.read_exact(&mut raw[4..]).await?;
    Ok(raw)
}

/// Builds the verifier for the configured trusted key (big-endian modulus, exponent).
pub fn trusted_key(modulus: &[u8], exponent: u32) -> Result<RsaPublicKey, HandshakeError> {
    RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(modulus),
        rsa::BigUint::from(exponent),
    )
    .map_err(|e| HandshakeError::BadTrustedKey(e.to_string()))
}

/// RSASSA-PKCS1-v1_5 with SHA-1 over `gs` (§2.5).
pub fn verify_server_signature(
    key: &RsaPublicKey,
    gs: &[u8],
    signature: &[u8],
) -> Result<(), HandshakeError> {
    let sig = Signature::try_from(signature).map_err(|_| HandshakeError::BadServerSignature)?;
    VerifyingKey::<Sha1>::new(key.clone())
        .verify(gs, &sig)
        .map_err(|_| HandshakeError::BadServerSignature)
}

/// The DH challenge of an APResponse: (gs, gs_signature).
fn challenge_of(resp: &APResponseMessage) -> Result<(&[u8], &[u8]), HandshakeError> {
    let dh = resp
        .challenge
        .as_ref()
        .and_then(|c| c.login_crypto_challenge.as_ref())
        .and_then(|l| l.diffie_hellman.as_ref());
    match dh {
        Some(dh) => Ok((dh.gs(), dh.gs_signature())),
        None => match resp.login_failed.as_ref() {
            Some(f) => Err(HandshakeError::Refused(LoginFailure::from_proto(f))),
            None => Err(HandshakeError::NoChallenge),
        },
    }
}

/// Runs the handshake on a connected stream and returns the Shannon codec pair.
pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    server_key: &RsaPublicKey,
) -> Result<(Encoder, Decoder), HandshakeError> {
    let keys = DhKeys::random();
    let mut nonce = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut nonce);
    let hello_packet = frame_client_hello(&build_client_hello(&keys.public_key(), nonce))?;
    stream.write_all(&hello_packet).await?;
    stream.flush().await?;

    let resp_packet = read_plain_message(stream, MAX_HANDSHAKE_MESSAGE).await?;
    let resp = APResponseMessage::parse_from_bytes(&resp_packet[4..])
        .map_err(|e| HandshakeError::Malformed(e.to_string()))?;
    let (gs, signature) = challenge_of(&resp)?;
    verify_server_signature(server_key, gs, signature)?;
    if !dh::is_valid_peer_key(gs) {
        return Err(HandshakeError::BadServerKey);
    }
    let shared = keys.shared_secret(gs);
    let mut acc = hello_packet;
    acc.extend_from_slice(&resp_packet);
    let derived = derive_keys(&shared, &acc);

    let proto = build_client_response(&derived.challenge)
        .write_to_bytes()
        .map_err(|e| HandshakeError::Encode(e.to_string()))?;
    stream.write_all(&frame_plain(&[], &proto)?).await?;
    stream.flush().await?;
    Ok((
        Encoder::new(&derived.send_key),
        Decoder::new(&derived.recv_key),
    ))
}

/// How to read the AP's first answer after the handshake (see [`classify_first_answer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstAnswer {
    /// Not decidable yet: read more bytes.
    NeedMore,
    /// Treat the stream as Shannon frames (the normal case; the decoder reports any error).
    Encrypted,
    /// The AP rejected the handshake in plaintext.
    PlainLoginFailed(LoginFailure),
}

/// Decides whether the bytes buffered in `decoder` (the first bytes after ClientResponsePlaintext)
/// are a normal Shannon frame or a plaintext length-prefixed `APResponseMessage{login_failed}`.
///
/// The frame's MAC is authoritative: a frame whose MAC verifies is encrypted, full stop. The
/// plaintext reading is only considered while the first four bytes are a plausible small length
/// (5..=1024) and only accepted when those bytes decode as an APResponseMessage with
/// `login_failed` set *and* the encrypted reading is ruled out (bad MAC, or a first command that
/// is not a login answer) or the stream has ended. `eof` = no more bytes will come (closed or
/// timed out).
pub fn classify_first_answer(decoder: &Decoder, eof: bool) -> FirstAnswer {
    enum Plain {
        Maybe,
        No,
        Yes(LoginFailure),
    }
    let buf = decoder.buffer();
    let plain = if buf.len() < 4 {
        Plain::Maybe
    } else {
        let total = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        if !(5..=MAX_PLAINTEXT_FAILURE).contains(&total) {
            Plain::No
        } else if buf.len() < total as usize {
            Plain::Maybe
        } else {
            match APResponseMessage::parse_from_bytes(&buf[4..total as usize]) {
                Ok(m) => match m.login_failed.as_ref() {
                    Some(f) => Plain::Yes(LoginFailure::from_proto(f)),
                    None => Plain::No,
                },
                Err(_) => Plain::No,
            }
        }
    };
    let peek = decoder.peek();
    match (peek, plain) {
        (Peek::Valid { .. }, _) => FirstAnswer::Encrypted,
        (_, Plain::No) => FirstAnswer::Encrypted,
        (Peek::BadMac, Plain::Yes(f)) => FirstAnswer::PlainLoginFailed(f),
        (Peek::Incomplete { cmd: c, .. }, Plain::Yes(f))
            if eof || (c != cmd::AP_WELCOME && c != cmd::AUTH_FAILURE) =>
        {
            FirstAnswer::PlainLoginFailed(f)
        }
        (Peek::NeedHeader, Plain::Yes(f)) => FirstAnswer::PlainLoginFailed(f),
        _ if eof => FirstAnswer::Encrypted,
        _ => FirstAnswer::NeedMore,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::session::login::ApErrorCode;
    use librespot_protocol::keyexchange::{
        APChallenge, APLoginFailed, CryptoChallengeUnion, ErrorCode, FingerprintChallengeUnion,
        LoginCryptoChallengeUnion, LoginCryptoDiffieHellmanChallenge, PoWChallengeUnion,
    };
    use rsa::pkcs1v15::SigningKey;
    use rsa::signature::{SignatureEncoding, Signer};
    use rsa::RsaPrivateKey;
    use std::sync::OnceLock;

    /// A test RSA key (1024 bits keeps debug-build tests fast).
    pub(crate) fn test_rsa_key() -> &'static RsaPrivateKey {
        static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
        KEY.get_or_init(|| {
            RsaPrivateKey::new(&mut rand::thread_rng(), 1024).expect("generate test RSA key")
        })
    }

    pub(crate) fn sign(key: &RsaPrivateKey, data: &[u8]) -> Vec<u8> {
        SigningKey::<Sha1>::new(key.clone()).sign(data).to_vec()
    }

    pub(crate) fn ap_response(gs: &[u8], sig: &[u8]) -> APResponseMessage {
        let mut dh = LoginCryptoDiffieHellmanChallenge::new();
        dh.set_gs(gs.to_vec());
        dh.set_server_signature_key(0);
        dh.set_gs_signature(sig.to_vec());
        let mut lc = LoginCryptoChallengeUnion::new();
        lc.diffie_hellman = MessageField::some(dh);
        let mut ch = APChallenge::new();
        ch.login_crypto_challenge = MessageField::some(lc);
        ch.fingerprint_challenge = MessageField::some(FingerprintChallengeUnion::new());
        ch.pow_challenge = MessageField::some(PoWChallengeUnion::new());
        ch.crypto_challenge = MessageField::some(CryptoChallengeUnion::new());
        ch.set_server_nonce(vec![3; 16]);
        let mut resp = APResponseMessage::new();
        resp.challenge = MessageField::some(ch);
        resp
    }

    pub(crate) fn plain_failure(code: ErrorCode) -> Vec<u8> {
        let mut f = APLoginFailed::new();
        f.set_error_code(code);
        let mut resp = APResponseMessage::new();
        resp.login_failed = MessageField::some(f);
        frame_plain(&[], &resp.write_to_bytes().expect("encode")).expect("frame")
    }

    /// The server side of the handshake, written from the same pure functions: reads the
    /// ClientHello, answers, checks the client's HMAC, returns the server's codec pair
    /// (encoder with recv_key, decoder with send_key).
    pub(crate) async fn fake_server_handshake<S: AsyncRead + AsyncWrite + Unpin>(
        s: &mut S,
        key: &RsaPrivateKey,
        tamper_signature: bool,
    ) -> (Encoder, Decoder) {
        let mut head = [0u8; 6];
        s.read_exact(&mut head).await.expect("read hello header");
        assert_eq!(&head[..2], &[0, 4]);
        let total = u32::from_be_bytes([head[2], head[3], head[4], head[5]]) as usize;
        let mut hello_packet = head.to_vec();
        hello_packet.resize(total, 0);
        s.read_exact(&mut hello_packet[6..])
            .await
            .expect("read hello");
        let hello = ClientHello::parse_from_bytes(&hello_packet[6..]).expect("parse hello");
        let gc = hello.login_crypto_hello.diffie_hellman.gc().to_vec();
        let server = DhKeys::random();
        let gs = server.public_key();
        let mut sig = sign(key, &gs);
        if tamper_signature {
            sig[10] ^= 1;
        }
        let resp_packet = frame_plain(
            &[],
            &ap_response(&gs, &sig).write_to_bytes().expect("encode"),
        )
        .expect("frame");
        s.write_all(&resp_packet).await.expect("write resp");
        let mut acc = hello_packet.clone();
        acc.extend_from_slice(&resp_packet);
        let derived = derive_keys(&server.shared_secret(&gc), &acc);
        let reply = read_plain_message(s, MAX_HANDSHAKE_MESSAGE)
            .await
            .expect("read client response");
        let reply = ClientResponsePlaintext::parse_from_bytes(&reply[4..]).expect("parse");
        assert_eq!(
            reply.login_crypto_response.diffie_hellman.hmac(),
            &derived.challenge[..]
        );
        (
            Encoder::new(&derived.recv_key),
            Decoder::new(&derived.send_key),
        )
    }

    #[test]
    fn client_hello_matches_spec() {
        let hello = build_client_hello(&[1, 2, 3], [9; 16]);
        let packet = frame_client_hello(&hello).expect("frame");
        assert_eq!(&packet[..2], &[0, 4]);
        let total = u32::from_be_bytes([packet[2], packet[3], packet[4], packet[5]]) as usize;
        assert_eq!(total, packet.len());
        let parsed = ClientHello::parse_from_bytes(&packet[6..]).expect("all required set");
        assert_eq!(parsed.build_info.version(), 124200290);
        assert_eq!(parsed.build_info.product(), Product::PRODUCT_CLIENT);
        assert_eq!(parsed.build_info.product_flags.len(), 1);
        assert_eq!(
            parsed.cryptosuites_supported,
            vec![EnumOrUnknown::new(Cryptosuite::CRYPTO_SUITE_SHANNON)]
        );
        let dh = &parsed.login_crypto_hello.diffie_hellman;
        assert_eq!(dh.gc(), &[1, 2, 3]);
        assert_eq!(dh.server_keys_known(), 1);
        assert_eq!(parsed.client_nonce(), &[9; 16]);
        assert_eq!(parsed.padding(), &[0x1e]);
        assert!(parsed.fingerprints_supported.is_empty());
        assert!(parsed.powschemes_supported.is_empty());
        assert!(parsed.feature_set.is_none());
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        assert_eq!(
            parsed.build_info.platform(),
            Platform::PLATFORM_LINUX_X86_64
        );
        // The repeated enum is not packed: tag (30 << 3 | 0) = 0xf0 0x01, value 0.
        assert!(packet.windows(3).any(|w| w == [0xf0, 0x01, 0x00]));
    }

    #[test]
    fn client_response_has_required_fields() {
        let bytes = build_client_response(&[7; 20])
            .write_to_bytes()
            .expect("required fields set");
        let parsed = ClientResponsePlaintext::parse_from_bytes(&bytes).expect("parse");
        assert_eq!(parsed.login_crypto_response.diffie_hellman.hmac(), &[7; 20]);
        assert!(parsed.pow_response.is_some());
        assert!(parsed.crypto_response.is_some());
    }

    #[test]
    fn derive_keys_layout() {
        // Recompute by hand from the definition.
        let shared = [0x11u8; 96];
        let acc = b"client hello bytes then ap response bytes";
        let d = derive_keys(&shared, acc);
        let mut data = Vec::new();
        for i in 1..=5u8 {
            let mut m = HmacSha1::new_from_slice(&shared).expect("key");
            m.update(acc);
            m.update(&[i]);
            data.extend_from_slice(&m.finalize().into_bytes());
        }
        let mut m = HmacSha1::new_from_slice(&data[..20]).expect("key");
        m.update(acc);
        assert_eq!(d.challenge[..], m.finalize().into_bytes()[..]);
        assert_eq!(d.send_key[..], data[20..52]);
        assert_eq!(d.recv_key[..], data[52..84]);
        assert_eq!(format!("{d:?}"), "DerivedKeys { <redacted> }");
    }

    #[test]
    fn derive_keys_known_answer() {
        // Vector computed with Python's hmac/hashlib (independent of this code):
        // shared = bytes(range(1, 97)), acc = b"tonearm"
        let shared: Vec<u8> = (1..=96).collect();
        let d = derive_keys(&shared, b"tonearm");
        assert_eq!(
            hex::encode(d.challenge),
            "e8a710d886dd85787ca6a3ad18c06b40b7aa8f1d"
        );
        assert_eq!(
            hex::encode(d.send_key),
            "9df15d224834e46862b849ee956741003cfbb7ac8e223a36e51093b1aa4724b5"
        );
        assert_eq!(
            hex::encode(d.recv_key),
            "6ce2da5efa7f5291f9d7774ff01a1101e1fc4eebcdc797b0142b113e2307c47b"
        );
    }

    #[test]
    fn signature_verification() {
        let key = test_rsa_key();
        let public = RsaPublicKey::from(key);
        let gs = DhKeys::random().public_key();
        let sig = sign(key, &gs);
        assert!(verify_server_signature(&public, &gs, &sig).is_ok());
        let mut bad = sig.clone();
        bad[0] ^= 0x80;
        assert!(matches!(
            verify_server_signature(&public, &gs, &bad),
            Err(HandshakeError::BadServerSignature)
        ));
        assert!(matches!(
            verify_server_signature(&public, &gs, &[]),
            Err(HandshakeError::BadServerSignature)
        ));
        let mut other_gs = gs.clone();
        other_gs[5] ^= 1;
        assert!(matches!(
            verify_server_signature(&public, &other_gs, &sig),
            Err(HandshakeError::BadServerSignature)
        ));
        // The real Spotify key parses.
        let ep = crate::config::Endpoints::default();
        assert!(trusted_key(&ep.ap_key_modulus, ep.ap_key_exponent).is_ok());
        assert!(matches!(
            trusted_key(&[], 65537),
            Err(HandshakeError::BadTrustedKey(_))
        ));
    }

    #[tokio::test]
    async fn absurd_length_is_rejected_without_allocating() {
        let (mut a, mut b) = tokio::io::duplex(64);
        b.write_all(&[0x7f, 0xff, 0xff, 0xff]).await.expect("write");
        match read_plain_message(&mut a, MAX_HANDSHAKE_MESSAGE).await {
            Err(HandshakeError::MessageTooLarge { len, .. }) => assert_eq!(len, 0x7fff_ffff),
            other => panic!("unexpected {other:?}"),
        }
        b.write_all(&[0, 0, 0, 2]).await.expect("write");
        assert!(matches!(
            read_plain_message(&mut a, MAX_HANDSHAKE_MESSAGE).await,
            Err(HandshakeError::BadLength(2))
        ));
    }

    #[tokio::test]
    async fn handshake_round_trip_with_fake_server() {
        let key = test_rsa_key();
        let public = RsaPublicKey::from(key);
        let (mut client, mut server) = tokio::io::duplex(4096);
        let server_task =
            tokio::spawn(async move { fake_server_handshake(&mut server, key, false).await });
        let (mut enc, mut dec) = handshake(&mut client, &public).await.expect("handshake");
        let (mut s_enc, mut s_dec) = server_task.await.expect("server");
        // Keys line up in both directions.
        s_dec.feed(&enc.encode(0xab, b"login").expect("encode"));
        assert_eq!(
            s_dec.next_packet().expect("mac"),
            Some(crate::session::packet::Packet::new(0xab, b"login".to_vec()))
        );
        dec.feed(&s_enc.encode(0xac, b"welcome").expect("encode"));
        assert_eq!(
            dec.next_packet().expect("mac"),
            Some(crate::session::packet::Packet::new(
                0xac,
                b"welcome".to_vec()
            ))
        );
    }

    #[tokio::test]
    async fn bad_server_signature_is_a_typed_error() {
        let key = test_rsa_key();
        let public = RsaPublicKey::from(key);
        let (mut client, mut server) = tokio::io::duplex(4096);
        tokio::spawn(async move {
            // The server will block on reading the client's response; that's fine.
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(2),
                fake_server_handshake(&mut server, key, true),
            )
            .await;
        });
        assert!(matches!(
            handshake(&mut client, &public).await,
            Err(HandshakeError::BadServerSignature)
        ));
    }

    #[tokio::test]
    async fn untrusted_key_is_rejected() {
        let key = test_rsa_key();
        let spotify = crate::config::Endpoints::default();
        let trusted = trusted_key(&spotify.ap_key_modulus, spotify.ap_key_exponent).expect("key");
        let (mut client, mut server) = tokio::io::duplex(4096);
        tokio::spawn(async move {
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(2),
                fake_server_handshake(&mut server, key, false),
            )
            .await;
        });
        assert!(matches!(
            handshake(&mut client, &trusted).await,
            Err(HandshakeError::BadServerSignature)
        ));
    }

    #[tokio::test]
    async fn refused_handshake_maps_login_failed() {
        let public = RsaPublicKey::from(test_rsa_key());
        let (mut client, mut server) = tokio::io::duplex(4096);
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let _ = server.read(&mut buf).await;
            let _ = server
                .write_all(&plain_failure(ErrorCode::TryAnotherAP))
                .await;
        });
        match handshake(&mut client, &public).await {
            Err(HandshakeError::Refused(f)) => assert_eq!(f.code, ApErrorCode::TryAnotherAp),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn first_answer_encrypted_frame_wins() {
        let mut enc = Encoder::new(&[5; 32]);
        let mut dec = Decoder::new(&[5; 32]);
        assert_eq!(classify_first_answer(&dec, false), FirstAnswer::NeedMore);
        let frame = enc.encode(cmd::AP_WELCOME, &[0; 40]).expect("encode");
        dec.feed(&frame[..2]);
        // Two bytes: could still be either.
        let early = classify_first_answer(&dec, false);
        assert!(
            early == FirstAnswer::NeedMore || early == FirstAnswer::Encrypted,
            "{early:?}"
        );
        dec.feed(&frame[2..]);
        assert_eq!(classify_first_answer(&dec, false), FirstAnswer::Encrypted);
    }

    #[test]
    fn first_answer_plaintext_failure_detected() {
        let dec_key = [6u8; 32];
        let plain = plain_failure(ErrorCode::BadCredentials);
        // Partial: undecided.
        let mut dec = Decoder::new(&dec_key);
        dec.feed(&plain[..3]);
        assert_eq!(classify_first_answer(&dec, false), FirstAnswer::NeedMore);
        // Whole: unless the garbage header happens to look like a login answer, decided now;
        // at EOF decided in every case.
        dec.feed(&plain[3..]);
        let now = classify_first_answer(&dec, false);
        assert!(
            matches!(
                now,
                FirstAnswer::PlainLoginFailed(_) | FirstAnswer::NeedMore
            ),
            "{now:?}"
        );
        match classify_first_answer(&dec, true) {
            FirstAnswer::PlainLoginFailed(f) => {
                assert_eq!(f.code, ApErrorCode::BadCredentials)
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn first_answer_never_misreads_encrypted_frames() {
        // Many random keys: a genuine encrypted login answer must always be read as encrypted.
        for i in 0..2000u32 {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&i.to_be_bytes());
            let mut enc = Encoder::new(&key);
            let mut dec = Decoder::new(&key);
            let frame = enc
                .encode(cmd::AP_WELCOME, &vec![0x42; (i % 300) as usize])
                .expect("encode");
            dec.feed(&frame);
            assert_eq!(classify_first_answer(&dec, false), FirstAnswer::Encrypted);
            assert_eq!(classify_first_answer(&dec, true), FirstAnswer::Encrypted);
        }
    }

    #[test]
    fn first_answer_plaintext_without_login_failed_is_encrypted() {
        // A plausible length prefix whose body is not a login failure: encrypted reading.
        let body = APResponseMessage::new().write_to_bytes().expect("encode");
        let mut framed = frame_plain(&[], &body).expect("frame");
        framed.extend_from_slice(&[1, 2, 3, 4]);
        let mut dec = Decoder::new(&[1; 32]);
        dec.feed(&framed);
        assert_eq!(classify_first_answer(&dec, false), FirstAnswer::Encrypted);
    }
}
