//! Tests of the AP connection: connect with fallback over several access points, the
//! login exchange and the framed transport, against in-process fake servers on 127.0.0.1.
//! Shared with the other session tests (`pub(crate)`).

use super::*;
use crate::session::credentials::AuthType;
use crate::session::handshake::tests::{fake_server_handshake, plain_failure, test_rsa_key};
use crate::session::login::tests::{failed_packet, welcome_packet};
use librespot_protocol::authentication::ClientResponseEncrypted;
use librespot_protocol::keyexchange::ErrorCode;
use protobuf::Message;
use std::sync::{Arc, Mutex};

/// Reads the client's login packet on the server side and returns it.
pub(crate) async fn server_read_login<S: AsyncRead + Unpin>(
    s: &mut S,
    dec: &mut Decoder,
) -> ClientResponseEncrypted {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(p) = dec.next_packet().expect("client MAC") {
            assert_eq!(p.cmd, cmd::LOGIN);
            return ClientResponseEncrypted::parse_from_bytes(&p.payload).expect("login");
        }
        let n = s.read(&mut buf).await.expect("read");
        assert!(n > 0, "client closed before login");
        dec.feed(&buf[..n]);
    }
}

fn key() -> RsaPublicKey {
    RsaPublicKey::from(test_rsa_key())
}

const T: Duration = Duration::from_secs(5);

#[tokio::test]
async fn stored_login_succeeds() {
    let (client, mut server) = tokio::io::duplex(8192);
    let srv = tokio::spawn(async move {
        let (mut enc, mut dec) = fake_server_handshake(&mut server, test_rsa_key(), false).await;
        let login = server_read_login(&mut server, &mut dec).await;
        let p = welcome_packet("alice", b"reusable");
        let mut out = enc.encode(p.cmd, &p.payload).expect("encode");
        // Something right behind the welcome must stay buffered for the task.
        out.extend(enc.encode(cmd::COUNTRY_CODE, b"SE").expect("encode"));
        server.write_all(&out).await.expect("write");
        (login, server)
    });
    let creds = Credentials::stored("alice", b"secret".to_vec());
    let (mut conn, welcome) = establish(client, "fake", &key(), &creds, "dev1", T)
        .await
        .expect("login");
    let (login, _server) = srv.await.expect("server");
    assert_eq!(login.login_credentials.username(), "alice");
    assert_eq!(login.login_credentials.auth_data(), b"secret");
    assert_eq!(login.system_info.device_id(), "dev1");
    assert_eq!(welcome.canonical_username, "alice");
    assert_eq!(welcome.reusable.auth_data, b"reusable");
    assert_eq!(
        conn.decoder.next_packet().expect("mac"),
        Some(Packet::new(cmd::COUNTRY_CODE, b"SE".to_vec()))
    );
}

async fn refused_with(code: ErrorCode, creds: Credentials) -> SessionError {
    let (client, mut server) = tokio::io::duplex(8192);
    tokio::spawn(async move {
        let (mut enc, mut dec) = fake_server_handshake(&mut server, test_rsa_key(), false).await;
        let _ = server_read_login(&mut server, &mut dec).await;
        let p = failed_packet(code, None);
        server
            .write_all(&enc.encode(p.cmd, &p.payload).expect("encode"))
            .await
            .expect("write");
        let mut sink = [0u8; 64];
        let _ = server.read(&mut sink).await;
    });
    establish(client, "fake", &key(), &creds, "dev", T)
        .await
        .expect_err("refused")
}

#[tokio::test]
async fn password_refusal_explains_what_to_do() {
    let e = refused_with(
        ErrorCode::BadCredentials,
        Credentials::with_password("alice", "hunter2"),
    )
    .await;
    assert!(matches!(
        e,
        SessionError::BadCredentials {
            auth_type: AuthType::UserPass
        }
    ));
    let msg = e.to_string();
    assert!(msg.contains("no longer accepts password"), "{msg}");
    assert!(msg.contains("tonearm login"), "{msg}");
    assert!(!msg.contains("hunter2"));
    assert_eq!(e.kind(), crate::ErrorKind::Relogin);
}

#[tokio::test]
async fn premium_refusal_maps_to_premium_required() {
    let e = refused_with(
        ErrorCode::PremiumAccountRequired,
        Credentials::stored("a", vec![1]),
    )
    .await;
    assert!(matches!(e, SessionError::PremiumRequired { .. }), "{e:?}");
    assert_eq!(e.kind(), crate::ErrorKind::Notify);
}

#[tokio::test]
async fn plaintext_refusal_after_handshake_is_recognised() {
    let (client, mut server) = tokio::io::duplex(8192);
    tokio::spawn(async move {
        let _ = fake_server_handshake(&mut server, test_rsa_key(), false).await;
        server
            .write_all(&plain_failure(ErrorCode::BadCredentials))
            .await
            .expect("write");
        // Close without reading the login.
    });
    let e = establish(
        client,
        "fake",
        &key(),
        &Credentials::with_access_token("tok"),
        "dev",
        T,
    )
    .await
    .expect_err("refused");
    assert!(
        matches!(
            e,
            SessionError::BadCredentials {
                auth_type: AuthType::SpotifyToken
            }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn closed_before_answer_is_an_io_error() {
    let (client, mut server) = tokio::io::duplex(8192);
    tokio::spawn(async move {
        let (_enc, mut dec) = fake_server_handshake(&mut server, test_rsa_key(), false).await;
        let _ = server_read_login(&mut server, &mut dec).await;
        drop(server);
    });
    let e = establish(
        client,
        "fake",
        &key(),
        &Credentials::stored("a", vec![1]),
        "d",
        T,
    )
    .await
    .expect_err("closed");
    assert!(matches!(e, SessionError::Io { .. }), "{e:?}");
    assert_eq!(policy(&e), Policy::RetrySameAp);
}

#[tokio::test(start_paused = true)]
async fn silent_server_times_out() {
    let (client, mut server) = tokio::io::duplex(8192);
    tokio::spawn(async move {
        let _ = fake_server_handshake(&mut server, test_rsa_key(), false).await;
        let _keep_open = server;
        std::future::pending::<()>().await;
    });
    let e = establish(
        client,
        "fake",
        &key(),
        &Credentials::stored("a", vec![1]),
        "d",
        T,
    )
    .await
    .expect_err("timeout");
    assert!(
        matches!(
            e,
            SessionError::Timeout {
                what: "waiting for the login answer",
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn unexpected_first_packet_is_a_protocol_error() {
    let (client, mut server) = tokio::io::duplex(8192);
    tokio::spawn(async move {
        let (mut enc, mut dec) = fake_server_handshake(&mut server, test_rsa_key(), false).await;
        let _ = server_read_login(&mut server, &mut dec).await;
        server
            .write_all(&enc.encode(cmd::PING, &[0, 0, 0, 1]).expect("encode"))
            .await
            .expect("write");
        let mut sink = [0u8; 64];
        let _ = server.read(&mut sink).await;
    });
    let e = establish(
        client,
        "fake",
        &key(),
        &Credentials::stored("a", vec![1]),
        "d",
        T,
    )
    .await
    .expect_err("bad first packet");
    assert!(matches!(e, SessionError::Protocol { .. }), "{e:?}");
}

fn hp(n: u16) -> HostPort {
    HostPort::new("ap", n)
}

fn io_err(ap: &HostPort) -> SessionError {
    SessionError::Io {
        ap: ap.to_string(),
        source: std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused"),
    }
}

fn welcome() -> Welcome {
    Welcome {
        canonical_username: "u".into(),
        reusable: Credentials::stored("u", vec![1]),
    }
}

async fn run_policy(
    aps: Vec<HostPort>,
    outcome: impl Fn(&HostPort, usize) -> Result<((), Welcome), SessionError>,
) -> (Result<((), Welcome, HostPort), SessionError>, Vec<u16>) {
    let tried = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(Mutex::new(0usize));
    let t2 = tried.clone();
    let r = connect_any(&aps, |ap| {
        t2.lock().expect("lock").push(ap.port);
        let mut c = count.lock().expect("lock");
        *c += 1;
        let res = outcome(&ap, *c);
        async move { res }
    })
    .await;
    let tried = tried.lock().expect("lock").clone();
    (r, tried)
}

#[tokio::test]
async fn io_errors_retry_each_ap_twice_and_stop_at_six() {
    let (r, tried) = run_policy(vec![hp(1), hp(2), hp(3), hp(4)], |ap, _| Err(io_err(ap))).await;
    assert_eq!(tried, vec![1, 1, 2, 2, 3, 3]);
    match r {
        Err(SessionError::NoAccessPoint { attempts: 6, last }) => {
            assert!(matches!(last.as_deref(), Some(SessionError::Io { .. })))
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn try_another_ap_moves_on_at_once() {
    let (r, tried) = run_policy(vec![hp(1), hp(2), hp(3)], |ap, n| {
        if n < 3 {
            Err(SessionError::TryAnotherAp { ap: ap.to_string() })
        } else {
            Ok(((), welcome()))
        }
    })
    .await;
    assert_eq!(tried, vec![1, 2, 3]);
    assert_eq!(r.expect("third works").2, hp(3));
}

#[tokio::test]
async fn single_ap_list_wraps_around() {
    let (r, tried) = run_policy(vec![hp(7)], |ap, _| {
        Err(SessionError::TryAnotherAp { ap: ap.to_string() })
    })
    .await;
    assert_eq!(tried, vec![7; 6]);
    assert!(matches!(r, Err(SessionError::NoAccessPoint { .. })));
}

#[tokio::test]
async fn refused_credentials_stop_immediately() {
    let (r, tried) = run_policy(vec![hp(1), hp(2)], |_, _| {
        Err(SessionError::BadCredentials {
            auth_type: AuthType::StoredSpotifyCredentials,
        })
    })
    .await;
    assert_eq!(tried, vec![1]);
    assert!(matches!(r, Err(SessionError::BadCredentials { .. })));
    let (r, tried) = run_policy(vec![hp(1), hp(2)], |ap, _| {
        Err(SessionError::BadServerSignature { ap: ap.to_string() })
    })
    .await;
    assert_eq!(tried, vec![1]);
    assert_eq!(r.expect_err("abort").kind(), crate::ErrorKind::Fatal);
}

#[tokio::test]
async fn tcp_connection_refused_is_retried() {
    // A port that was just free: connection refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let e = establish_tcp(
        &HostPort::new("127.0.0.1", port),
        &key(),
        &Credentials::stored("a", vec![1]),
        "d",
        Duration::from_secs(2),
    )
    .await
    .expect_err("refused");
    assert!(matches!(e, SessionError::Io { .. }), "{e:?}");
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
}
