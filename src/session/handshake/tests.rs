//! Tests of the plaintext handshake: a fake server side (shared with the connection and
//! session tests), known-answer key derivation, signature checks, hostile answers.

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
