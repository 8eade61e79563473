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
pub(crate) mod tests;
