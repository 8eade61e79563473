//! The access point's side of the plaintext handshake (spec §2): read `00 04`+len+ClientHello,
//! answer an APResponseMessage whose every required field is set and whose `gs` is signed with
//! the simulator's RSA key (RSASSA-PKCS1-v1_5-SHA1), derive the Shannon keys from the raw bytes
//! of both packets, and check the client's HMAC (a mismatch is answered with a plaintext
//! `APResponseMessage{login_failed}`). Also owns the embedded test key pair. Used by
//! [`super::ap`]; depends on no client module.

use hmac::{Hmac, Mac};
use librespot_protocol::keyexchange::{
    APChallenge, APLoginFailed, APResponseMessage, ClientHello, ClientResponsePlaintext, ErrorCode,
};
use protobuf::Message;
use rand::RngCore;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding as _, Signer as _};
use rsa::traits::PublicKeyParts;
use sha1::Sha1;
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::dh::{DhError, DhKeys};
use super::{ApFaults, ApKeyInfo};

type HmacSha1 = Hmac<Sha1>;

/// The simulator's test key pair (not a secret: it only has to differ from Spotify's).
const AP_KEY_PEM: &str = include_str!("../assets/ap_key.pem");
/// Largest handshake message accepted from a client (protobuf bytes).
pub(crate) const MAX_HANDSHAKE_MESSAGE: usize = 64 * 1024;

/// The RSA key that signs `gs`, with its public half for clients' configuration.
pub(crate) struct ApKey {
    signing: SigningKey<Sha1>,
    pub(crate) info: ApKeyInfo,
}

impl ApKey {
    /// Parses the embedded key.
    pub(crate) fn load() -> Result<ApKey, String> {
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(AP_KEY_PEM)
            .map_err(|e| format!("embedded AP key does not parse: {e}"))?;
        let modulus = hex::encode(key.n().to_bytes_be());
        let exponent = key
            .e()
            .to_bytes_be()
            .iter()
            .try_fold(0u32, |acc, b| {
                acc.checked_mul(256).map(|a| a | u32::from(*b))
            })
            .ok_or_else(|| "embedded AP key has a huge exponent".to_owned())?;
        Ok(ApKey {
            signing: SigningKey::<Sha1>::new(key),
            info: ApKeyInfo { modulus, exponent },
        })
    }

    /// PKCS#1 v1.5 SHA-1 signature over `data`.
    pub(crate) fn sign(&self, data: &[u8]) -> Result<Vec<u8>, String> {
        self.signing
            .try_sign(data)
            .map(|s| s.to_vec())
            .map_err(|e| format!("signing: {e}"))
    }
}

/// Why a handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandshakeError {
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    #[error("client hello does not start with 00 04")]
    BadPrefix,
    #[error("handshake message length {0} out of bounds")]
    BadLength(u64),
    #[error("{0} does not parse")]
    BadProto(&'static str),
    #[error("client DH key: {0}")]
    BadKey(#[from] DhError),
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("client HMAC mismatch")]
    HmacMismatch,
    #[error("fault injected: {0}")]
    Injected(&'static str),
}

/// Shannon keys of a connection.
pub(crate) struct SessionKeys {
    /// client → AP (the server decrypts with it).
    pub send_key: [u8; 32],
    /// AP → client (the server encrypts with it).
    pub recv_key: [u8; 32],
}

/// `challenge, send_key, recv_key` from the shared secret and the raw packet bytes (§2.6).
pub(crate) fn derive_keys(shared: &[u8], acc: &[u8]) -> ([u8; 20], SessionKeys) {
    let mut data = Vec::with_capacity(100);
    for i in 1..=5u8 {
        let mut mac =
            <HmacSha1 as Mac>::new_from_slice(shared).expect("HMAC takes keys of any length");
        mac.update(acc);
        mac.update(&[i]);
        data.extend_from_slice(&mac.finalize().into_bytes());
    }
    let mut mac =
        <HmacSha1 as Mac>::new_from_slice(&data[..20]).expect("HMAC takes keys of any length");
    mac.update(acc);
    let challenge: [u8; 20] = mac.finalize().into_bytes().into();
    let mut send_key = [0u8; 32];
    let mut recv_key = [0u8; 32];
    send_key.copy_from_slice(&data[20..52]);
    recv_key.copy_from_slice(&data[52..84]);
    (challenge, SessionKeys { send_key, recv_key })
}

/// Reads `u32be total_len` + message where `total_len` includes `header_len` bytes already in
/// `raw` plus the 4-byte length itself; appends everything to `raw` and returns the message.
async fn read_message<S: AsyncRead + Unpin>(
    stream: &mut S,
    raw: &mut Vec<u8>,
) -> Result<Vec<u8>, HandshakeError> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await?;
    raw.extend_from_slice(&len);
    let total = u64::from(u32::from_be_bytes(len));
    let header = raw.len() as u64;
    let body = total
        .checked_sub(header)
        .filter(|b| *b > 0 && *b <= MAX_HANDSHAKE_MESSAGE as u64)
        .ok_or(HandshakeError::BadLength(total))?;
    let mut msg = vec![0u8; body as usize];
    stream.read_exact(&mut msg).await?;
    raw.extend_from_slice(&msg);
    Ok(msg)
}

fn length_prefixed(msg: &[u8]) -> Vec<u8> {
    let total = (4 + msg.len()) as u32;
    let mut out = Vec::with_capacity(4 + msg.len());
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(msg);
    out
}

/// The plaintext `APResponseMessage{login_failed{error_code}}` packet.
pub(crate) fn login_failed_packet(code: ErrorCode) -> Vec<u8> {
    let mut failed = APLoginFailed::new();
    failed.set_error_code(code);
    let mut msg = APResponseMessage::new();
    msg.login_failed = Some(failed).into();
    length_prefixed(&msg.write_to_bytes().unwrap_or_default())
}

/// After our last write and a write shutdown, reads and discards what the peer still sends (for
/// a short while, bounded) so that closing does not reset the connection and destroy the answer
/// before the peer has read it.
pub(crate) async fn drain_before_close<R: AsyncRead + Unpin>(reader: &mut R) {
    let mut buf = [0u8; 1024];
    let mut left: usize = 256 * 1024;
    let _ = tokio::time::timeout(std::time::Duration::from_millis(500), async {
        while left > 0 {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

/// Runs the server side of the handshake. The caller applies the overall timeout.
pub(crate) async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    key: &ApKey,
    faults: &ApFaults,
) -> Result<SessionKeys, HandshakeError> {
    // 1. ClientHello, raw bytes kept for the key derivation.
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix).await?;
    if prefix != [0, 4] {
        return Err(HandshakeError::BadPrefix);
    }
    let mut acc = prefix.to_vec();
    let hello_bytes = read_message(stream, &mut acc).await?;
    let hello = ClientHello::parse_from_bytes(&hello_bytes)
        .map_err(|_| HandshakeError::BadProto("ClientHello"))?;
    let gc = hello
        .login_crypto_hello
        .as_ref()
        .and_then(|u| u.diffie_hellman.as_ref())
        .and_then(|dh| dh.gc.clone())
        .ok_or(HandshakeError::BadProto("ClientHello without a DH key"))?;

    // 2. APResponseMessage with every required field.
    let dh = DhKeys::random();
    let shared = dh.shared_secret(&gc)?;
    let gs = dh.public_key().to_vec();
    let signed: Vec<u8> = if faults.bad_signature {
        gs.iter().map(|b| !b).collect()
    } else {
        gs.clone()
    };
    let signature = key.sign(&signed).map_err(HandshakeError::Sign)?;
    let mut nonce = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut nonce);
    let mut challenge = APChallenge::new();
    {
        let dh_challenge = challenge.login_crypto_challenge.mut_or_insert_default();
        let inner = dh_challenge.diffie_hellman.mut_or_insert_default();
        inner.set_gs(gs);
        inner.set_server_signature_key(0);
        inner.set_gs_signature(signature);
    }
    challenge.fingerprint_challenge.mut_or_insert_default();
    challenge.pow_challenge.mut_or_insert_default();
    challenge.crypto_challenge.mut_or_insert_default();
    challenge.set_server_nonce(nonce.to_vec());
    challenge.set_padding(vec![0x1e]);
    let mut response = APResponseMessage::new();
    response.challenge = Some(challenge).into();
    let response_bytes = response
        .write_to_bytes()
        .map_err(|_| HandshakeError::BadProto("APResponseMessage"))?;
    if !faults.reply_delay.is_zero() {
        tokio::time::sleep(faults.reply_delay).await;
    }
    if faults.oversized_handshake {
        let mut bogus = 0x7fff_ffffu32.to_be_bytes().to_vec();
        bogus.extend_from_slice(&response_bytes);
        stream.write_all(&bogus).await?;
        stream.flush().await?;
        let _ = stream.shutdown().await;
        drain_before_close(stream).await;
        return Err(HandshakeError::Injected("oversized APResponse"));
    }
    let response_packet = length_prefixed(&response_bytes);
    stream.write_all(&response_packet).await?;
    stream.flush().await?;
    acc.extend_from_slice(&response_packet);

    // 3. ClientResponsePlaintext and the HMAC check.
    let mut raw = Vec::new();
    let reply = read_message(stream, &mut raw).await?;
    let reply = ClientResponsePlaintext::parse_from_bytes(&reply)
        .map_err(|_| HandshakeError::BadProto("ClientResponsePlaintext"))?;
    let hmac = reply
        .login_crypto_response
        .as_ref()
        .and_then(|u| u.diffie_hellman.as_ref())
        .and_then(|dh| dh.hmac.clone())
        .unwrap_or_default();
    let (expected, keys) = derive_keys(&shared, &acc);
    let matches = bool::from(expected.as_slice().ct_eq(hmac.as_slice()));
    if !matches || faults.reject_client_hmac {
        if !faults.reply_delay.is_zero() {
            tokio::time::sleep(faults.reply_delay).await;
        }
        stream
            .write_all(&login_failed_packet(ErrorCode::ProtocolError))
            .await?;
        stream.flush().await?;
        let _ = stream.shutdown().await;
        drain_before_close(stream).await;
        return Err(if matches {
            HandshakeError::Injected("client HMAC rejected")
        } else {
            HandshakeError::HmacMismatch
        });
    }
    Ok(keys)
}
