//! Session-level tests against a small fake access point on 127.0.0.1, built from this module's
//! own pure functions (handshake server side, codec, login messages). They check the wiring:
//! token → stored-credentials hop, country/product info, Premium refusal, keep-alive death,
//! reconnect, shutdown. Protocol details are tested beside each module.

use std::sync::{Arc, Mutex};

use librespot_protocol::keyexchange::ErrorCode;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::codec::{Decoder, Encoder};
use super::connection::tests::server_read_login;
use super::handshake::tests::{fake_server_handshake, test_rsa_key};
use super::login::tests::{failed_packet, welcome_packet};
use super::packet::{cmd, Packet};
use super::*;

/// One login the fake AP saw: (username, auth type number, auth data, device id).
type SeenLogin = (Option<String>, i32, Vec<u8>, String);

#[derive(Clone)]
struct Behaviour {
    /// `type` in the product info; `None` sends no product info at all.
    product_type: Option<&'static str>,
    /// Answer every login with this failure.
    refuse: Option<ErrorCode>,
    /// Send pings right after login (keeps the session alive with short timeouts).
    ping: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            product_type: Some("premium"),
            refuse: None,
            ping: false,
        }
    }
}

struct FakeAp {
    addr: String,
    logins: Arc<Mutex<Vec<SeenLogin>>>,
    /// Number of connections the client has closed.
    closed: Arc<Mutex<usize>>,
}

const TOKEN: &[u8] = b"good-token";
const STORED: &[u8] = b"stored-credentials-1";

async fn fake_ap(key: &'static RsaPrivateKey, behaviour: Behaviour) -> FakeAp {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let logins = Arc::new(Mutex::new(Vec::new()));
    let closed = Arc::new(Mutex::new(0usize));
    let (l2, c2) = (logins.clone(), closed.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (l3, c3, b) = (l2.clone(), c2.clone(), behaviour.clone());
            tokio::spawn(async move { serve(stream, key, b, l3, c3).await });
        }
    });
    FakeAp {
        addr,
        logins,
        closed,
    }
}

async fn serve(
    mut s: tokio::net::TcpStream,
    key: &'static RsaPrivateKey,
    b: Behaviour,
    logins: Arc<Mutex<Vec<SeenLogin>>>,
    closed: Arc<Mutex<usize>>,
) {
    let (mut enc, mut dec) = fake_server_handshake(&mut s, key, false).await;
    let login = server_read_login(&mut s, &mut dec).await;
    let creds = &login.login_credentials;
    let typ = creds.typ.map_or(-1, |t| t.value());
    logins.lock().expect("lock").push((
        creds.username.clone(),
        typ,
        creds.auth_data().to_vec(),
        login.system_info.device_id().to_string(),
    ));
    let ok = b.refuse.is_none()
        && ((typ == 3 && creds.auth_data() == TOKEN) || (typ == 1 && creds.auth_data() == STORED));
    let mut out = Vec::new();
    let mut push = |enc: &mut Encoder, p: Packet| {
        out.extend(enc.encode(p.cmd, &p.payload).expect("encode"));
    };
    if !ok {
        let code = b.refuse.unwrap_or(ErrorCode::BadCredentials);
        push(&mut enc, failed_packet(code, None));
        let _ = s.write_all(&out).await;
        let mut sink = [0u8; 256];
        let _ = s.read(&mut sink).await;
        return;
    }
    push(&mut enc, welcome_packet("alice", STORED));
    push(&mut enc, Packet::new(cmd::COUNTRY_CODE, b"se".to_vec()));
    if let Some(t) = b.product_type {
        let xml = format!(
            "<products><product><type>{t}</type><catalogue>{t}</catalogue></product></products>"
        );
        push(&mut enc, Packet::new(cmd::PRODUCT_INFO, xml.into_bytes()));
    }
    if b.ping {
        push(&mut enc, Packet::new(cmd::PING, vec![0, 0, 0, 1]));
    }
    if s.write_all(&out).await.is_err() {
        return;
    }
    serve_packets(s, enc, dec, b, closed).await;
}

/// After login: answer audio key requests, PongAck every Pong, ping again after each ack.
async fn serve_packets(
    mut s: tokio::net::TcpStream,
    mut enc: Encoder,
    mut dec: Decoder,
    b: Behaviour,
    closed: Arc<Mutex<usize>>,
) {
    let mut buf = [0u8; 4096];
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) | Err(_) => {
                *closed.lock().expect("lock") += 1;
                return;
            }
            Ok(n) => n,
        };
        dec.feed(&buf[..n]);
        while let Ok(Some(p)) = dec.next_packet() {
            let mut replies = Vec::new();
            match p.cmd {
                cmd::REQUEST_KEY => {
                    let mut r = p.payload[36..40].to_vec();
                    r.extend_from_slice(&[0x5a; 16]);
                    replies.push(Packet::new(cmd::AES_KEY, r));
                }
                cmd::PONG => {
                    replies.push(Packet::new(cmd::PONG_ACK, vec![]));
                    if b.ping {
                        replies.push(Packet::new(cmd::PING, vec![0, 0, 0, 2]));
                    }
                }
                _ => {}
            }
            for r in replies {
                let f = enc.encode(r.cmd, &r.payload).expect("encode");
                if s.write_all(&f).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn config_for(addrs: &[&str], key: &RsaPrivateKey) -> SessionConfig {
    let public = RsaPublicKey::from(key);
    let endpoints = Endpoints {
        apresolve: "http://127.0.0.1:9/never-used".into(),
        access_points: Some(addrs.iter().map(|a| a.to_string()).collect()),
        ap_key_modulus: public.n().to_bytes_be(),
        ap_key_exponent: public
            .e()
            .to_bytes_be()
            .iter()
            .fold(0u32, |acc, b| (acc << 8) | u32::from(*b)),
        ..Endpoints::default()
    };
    let mut c = SessionConfig::new(endpoints, "0123456789abcdef0123456789abcdef01234567".into());
    c.timeouts.connect = Duration::from_secs(5);
    c.timeouts.product_info = Duration::from_secs(3);
    c
}

async fn wait_closed(ap: &FakeAp, n: usize) {
    for _ in 0..200 {
        if *ap.closed.lock().expect("lock") >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "server saw {} closed connections, wanted {n}",
        ap.closed.lock().expect("lock")
    );
}

#[test]
fn config_defaults() {
    let c = SessionConfig::new(Endpoints::default(), "dev".into());
    assert_eq!(c.client_id, crate::config::SPOTIFY_CLIENT_ID);
    assert_eq!(c.timeouts.connect, Duration::from_secs(5));
    assert_eq!(c.timeouts.audio_key, Duration::from_millis(1500));
    assert_eq!(c.timeouts.mercury, Duration::from_secs(10));
    assert_eq!(c.timeouts.product_info, Duration::from_secs(3));
    assert_eq!(c.timeouts.keepalive.first_ping, Duration::from_secs(20));
}

#[test]
fn error_kinds_and_messages() {
    use crate::ErrorKind;
    let e = SessionError::BadCredentials {
        auth_type: AuthType::UserPass,
    };
    assert_eq!(e.kind(), ErrorKind::Relogin);
    assert!(e.to_string().contains("no longer accepts password logins"));
    assert!(e.to_string().contains("`tonearm login`"));
    let e = SessionError::PremiumRequired {
        account_type: Some("free".into()),
    };
    assert_eq!(e.kind(), ErrorKind::Notify);
    assert!(e.to_string().contains("Premium is required"), "{e}");
    assert!(e.to_string().contains("Web API"), "{e}");
    assert_eq!(
        SessionError::BadServerSignature { ap: "x:1".into() }.kind(),
        ErrorKind::Fatal
    );
    assert_eq!(SessionError::Dead("x".into()).kind(), ErrorKind::Retry);
    assert_eq!(
        SessionError::Timeout {
            ap: "x:1".into(),
            what: "connecting"
        }
        .kind(),
        ErrorKind::Retry
    );
    let e = SessionError::NoAccessPoint {
        attempts: 6,
        last: Some(Box::new(SessionError::BadServerSignature {
            ap: "x:1".into(),
        })),
    };
    assert_eq!(e.kind(), ErrorKind::Fatal);
    assert!(e.to_string().contains("after 6 attempts"), "{e}");
    // The crate error carries the kind through.
    assert_eq!(crate::Error::from(e).kind(), ErrorKind::Fatal);
}

#[tokio::test]
async fn token_login_hops_to_stored_credentials() {
    let key = test_rsa_key();
    let ap = fake_ap(key, Behaviour::default()).await;
    let session = Session::connect(
        config_for(&[&ap.addr], key),
        Credentials::with_access_token("good-token"),
    )
    .await
    .expect("connect");
    let logins = ap.logins.lock().expect("lock").clone();
    assert_eq!(logins.len(), 2, "{logins:?}");
    assert_eq!(logins[0].0, None);
    assert_eq!(logins[0].1, 3);
    assert_eq!(logins[0].2, TOKEN);
    assert_eq!(logins[1].0.as_deref(), Some("alice"));
    assert_eq!(logins[1].1, 1);
    assert_eq!(logins[1].2, STORED);
    assert_eq!(logins[1].3, "0123456789abcdef0123456789abcdef01234567");
    // The first connection is dropped.
    wait_closed(&ap, 1).await;

    assert_eq!(session.username(), "alice");
    assert_eq!(
        session.reusable_credentials(),
        Credentials::stored("alice", STORED.to_vec())
    );
    assert_eq!(session.country().as_deref(), Some("SE"));
    assert_eq!(
        session.product().get("type").map(String::as_str),
        Some("premium")
    );
    assert_eq!(session.ap_address(), ap.addr);
    assert_eq!(
        session.device_id(),
        "0123456789abcdef0123456789abcdef01234567"
    );
    assert_eq!(*session.state().borrow(), SessionState::Connected);
    let key = session
        .audio_key(SpotifyId(7), FileId([3; 20]))
        .await
        .expect("audio key");
    assert_eq!(key.0, [0x5a; 16]);
    // No secret in Debug.
    let dbg = format!("{session:?}");
    assert!(!dbg.contains("stored-credentials"), "{dbg}");
}

#[tokio::test]
async fn free_account_is_refused_and_closed() {
    let key = test_rsa_key();
    let ap = fake_ap(
        key,
        Behaviour {
            product_type: Some("free"),
            ..Behaviour::default()
        },
    )
    .await;
    let e = Session::connect(
        config_for(&[&ap.addr], key),
        Credentials::stored("alice", STORED.to_vec()),
    )
    .await
    .expect_err("free account");
    match &e {
        SessionError::PremiumRequired { account_type } => {
            assert_eq!(account_type.as_deref(), Some("free"))
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(e.kind(), crate::ErrorKind::Notify);
    wait_closed(&ap, 1).await;
}

#[tokio::test]
async fn premium_refusal_in_login_is_the_same_error() {
    let key = test_rsa_key();
    let ap = fake_ap(
        key,
        Behaviour {
            refuse: Some(ErrorCode::PremiumAccountRequired),
            ..Behaviour::default()
        },
    )
    .await;
    let e = Session::connect(
        config_for(&[&ap.addr], key),
        Credentials::stored("alice", STORED.to_vec()),
    )
    .await
    .expect_err("refused");
    assert!(matches!(e, SessionError::PremiumRequired { .. }), "{e:?}");
}

#[tokio::test]
async fn password_login_is_refused_with_guidance() {
    let key = test_rsa_key();
    let ap = fake_ap(key, Behaviour::default()).await;
    let e = Session::connect(
        config_for(&[&ap.addr], key),
        Credentials::with_password("alice", "hunter2"),
    )
    .await
    .expect_err("refused");
    assert!(matches!(e, SessionError::BadCredentials { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("tonearm login") && !msg.contains("hunter2"),
        "{msg}"
    );
    // Refused credentials are not retried elsewhere.
    assert_eq!(ap.logins.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn missing_product_info_does_not_block_forever() {
    let key = test_rsa_key();
    let ap = fake_ap(
        key,
        Behaviour {
            product_type: None,
            ..Behaviour::default()
        },
    )
    .await;
    let mut config = config_for(&[&ap.addr], key);
    config.timeouts.product_info = Duration::from_millis(200);
    let session = Session::connect(config, Credentials::stored("alice", STORED.to_vec()))
        .await
        .expect("connect without product info");
    assert!(session.product().is_empty());
    assert_eq!(session.country().as_deref(), Some("SE"));
}

#[tokio::test]
async fn try_another_ap_moves_to_the_next_one() {
    let key = test_rsa_key();
    let bad = fake_ap(
        key,
        Behaviour {
            refuse: Some(ErrorCode::TryAnotherAP),
            ..Behaviour::default()
        },
    )
    .await;
    let good = fake_ap(key, Behaviour::default()).await;
    let session = Session::connect(
        config_for(&[&bad.addr, &good.addr], key),
        Credentials::stored("alice", STORED.to_vec()),
    )
    .await
    .expect("second AP works");
    assert_eq!(session.ap_address(), good.addr);
    assert_eq!(bad.logins.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn untrusted_server_is_refused() {
    let key = test_rsa_key();
    let ap = fake_ap(key, Behaviour::default()).await;
    // Trust Spotify's real key instead of the fake AP's.
    let mut config = config_for(&[&ap.addr], key);
    let real = Endpoints::default();
    config.endpoints.ap_key_modulus = real.ap_key_modulus;
    config.endpoints.ap_key_exponent = real.ap_key_exponent;
    let e = Session::connect(config, Credentials::stored("alice", STORED.to_vec()))
        .await
        .expect_err("bad signature");
    assert!(
        matches!(e, SessionError::BadServerSignature { .. }),
        "{e:?}"
    );
    assert_eq!(e.kind(), crate::ErrorKind::Fatal);
}

#[tokio::test]
async fn keepalive_miss_then_reconnect() {
    let key = test_rsa_key();
    let ap = fake_ap(key, Behaviour::default()).await;
    let mut config = config_for(&[&ap.addr], key);
    config.timeouts.keepalive.first_ping = Duration::from_millis(300);
    let session = Session::connect(config, Credentials::stored("alice", STORED.to_vec()))
        .await
        .expect("connect");
    let mut state = session.state();
    let dead = tokio::time::timeout(
        Duration::from_secs(5),
        state.wait_for(|s| matches!(s, SessionState::Dead(_))),
    )
    .await
    .expect("dies within 5 s")
    .expect("state")
    .clone();
    match dead {
        SessionState::Dead(r) => assert!(r.contains("lost connection"), "{r}"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        session.audio_key(SpotifyId(1), FileId([1; 20])).await,
        Err(AudioKeyError::Disconnected)
    );

    session.reconnect().await.expect("reconnect");
    assert_eq!(*session.state().borrow(), SessionState::Connected);
    let logins = ap.logins.lock().expect("lock").clone();
    assert_eq!(logins.len(), 2);
    assert_eq!(logins[1].1, 1, "reconnect uses the stored credentials");
    assert_eq!(logins[1].3, session.device_id());
    let key = session
        .audio_key(SpotifyId(7), FileId([3; 20]))
        .await
        .expect("audio key after reconnect");
    assert_eq!(key.0, [0x5a; 16]);
}

#[tokio::test]
async fn pings_keep_the_session_alive() {
    let key = test_rsa_key();
    let ap = fake_ap(
        key,
        Behaviour {
            ping: true,
            ..Behaviour::default()
        },
    )
    .await;
    let mut config = config_for(&[&ap.addr], key);
    config.timeouts.keepalive = keepalive::KeepAliveTimeouts {
        first_ping: Duration::from_millis(500),
        pong_delay: Duration::from_millis(50),
        pong_ack: Duration::from_millis(500),
        next_ping: Duration::from_millis(500),
    };
    let session = Session::connect(config, Credentials::stored("alice", STORED.to_vec()))
        .await
        .expect("connect");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(*session.state().borrow(), SessionState::Connected);
    assert!(session.server_time_delta().is_some());
}

#[tokio::test]
async fn reconnect_replaces_a_live_connection() {
    let key = test_rsa_key();
    let ap = fake_ap(key, Behaviour::default()).await;
    let session = Session::connect(
        config_for(&[&ap.addr], key),
        Credentials::stored("alice", STORED.to_vec()),
    )
    .await
    .expect("connect");
    session.reconnect().await.expect("reconnect");
    wait_closed(&ap, 1).await;
    assert_eq!(*session.state().borrow(), SessionState::Connected);
    assert!(session
        .audio_key(SpotifyId(7), FileId([3; 20]))
        .await
        .is_ok());
}

#[tokio::test]
async fn shutdown_closes_and_drop_closes() {
    let key = test_rsa_key();
    let ap = fake_ap(key, Behaviour::default()).await;
    let config = config_for(&[&ap.addr], key);
    let session = Session::connect(
        config.clone(),
        Credentials::stored("alice", STORED.to_vec()),
    )
    .await
    .expect("connect");
    let clone = session.clone();
    session.shutdown().await;
    assert_eq!(*clone.state().borrow(), SessionState::Closed);
    wait_closed(&ap, 1).await;
    assert_eq!(
        clone.audio_key(SpotifyId(1), FileId([1; 20])).await,
        Err(AudioKeyError::Disconnected)
    );

    // Dropping every handle closes the connection too.
    let session = Session::connect(config, Credentials::stored("alice", STORED.to_vec()))
        .await
        .expect("connect");
    drop(session);
    drop(clone);
    wait_closed(&ap, 2).await;
}
