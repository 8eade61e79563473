//! The session layer against the simulated access point: every credential kind, refusals,
//! AP failover, hostile servers and clients, keep-alive, Mercury, audio keys, reconnect.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonearm::id::{FileId, SpotifyId};
use tonearm::session::{Credentials, Session, SessionState};
use tonearm::ErrorKind;
use tonearm_sim::{ApFaults, SimConfig};

use tonearm_testkit::{credentials, premium_credentials};

use crate::common::{
    account, config, premium_session, sim, sim_with, try_sign_in, wait_state, within,
};

#[tokio::test]
async fn password_login_reports_account_country_and_product() {
    let s = sim().await;
    let a = account(&s, "premium").clone();
    let session = premium_session(&s).await;
    assert_eq!(session.username(), a.username);
    assert_eq!(session.country().as_deref(), Some(a.country.as_str()));
    assert_eq!(
        session.product().get("type").map(String::as_str),
        Some("premium")
    );
    assert!(matches!(*session.state().borrow(), SessionState::Connected));
    assert!(s.info().access_points.contains(&session.ap_address()));
    session.shutdown().await;
    assert!(matches!(*session.state().borrow(), SessionState::Closed));
}

#[tokio::test]
async fn stored_credentials_log_in_again() {
    let s = sim().await;
    let first = premium_session(&s).await;
    let stored = first.reusable_credentials();
    assert_eq!(stored.username.as_deref(), Some(first.username().as_str()));
    assert!(!stored.auth_data.is_empty());
    first.shutdown().await;
    let again = try_sign_in(&s, stored).await.expect("stored login");
    assert_eq!(again.username(), first.username());
}

#[tokio::test]
async fn access_token_login_then_reconnects_with_stored_credentials() {
    let s = sim().await;
    let a = account(&s, "premium").clone();
    let token = s
        .issue_access_token(&a.username)
        .expect("token for a known user");
    let before = s.stats().logins_ok;
    let session = try_sign_in(&s, Credentials::with_access_token(&token))
        .await
        .expect("token login");
    assert_eq!(session.username(), a.username);
    // librespot's flow: the token logs in once, then a second connection uses the stored
    // credentials from that first APWelcome.
    assert_eq!(s.stats().logins_ok - before, 2);
    assert_eq!(
        session.reusable_credentials().auth_type,
        tonearm::session::AuthType::StoredSpotifyCredentials
    );
}

#[tokio::test]
async fn unknown_access_token_is_refused() {
    let s = sim().await;
    let err = try_sign_in(&s, Credentials::with_access_token("nope"))
        .await
        .expect_err("unknown token");
    assert_eq!(err.kind(), ErrorKind::Relogin, "{err}");
}

#[tokio::test]
async fn zeroconf_blob_login() {
    let s = sim().await;
    let first = premium_session(&s).await;
    let stored = first.reusable_credentials();
    let user = first.username();
    first.shutdown().await;
    let cfg = config(&s);
    // The simulator plays the phone: it builds the blob for our device id.
    let blob = tonearm_sim::phone::encode_inner_blob(
        &user,
        stored.auth_type as u32,
        &stored.auth_data,
        &cfg.device_id,
    )
    .expect("encode blob");
    let creds = Credentials::from_zeroconf_blob(&user, &blob, &cfg.device_id).expect("decode");
    let session = within(10, Session::connect(cfg.clone(), creds))
        .await
        .expect("blob login");
    assert_eq!(session.username(), user);
    // The same blob decoded for another device id is garbage and must not log in.
    let wrong = Credentials::from_zeroconf_blob(&user, &blob, "another-device");
    if let Ok(c) = wrong {
        assert!(within(10, Session::connect(cfg, c)).await.is_err());
    }
}

#[tokio::test]
async fn wrong_password_says_what_to_do() {
    let s = sim().await;
    let a = account(&s, "premium");
    let err = try_sign_in(
        &s,
        Credentials::with_password(&a.username, "hunter2-secret"),
    )
    .await
    .expect_err("wrong password");
    assert_eq!(err.kind(), ErrorKind::Relogin);
    let msg = err.to_string();
    assert!(msg.contains("tonearm login"), "{msg}");
    assert!(
        !msg.contains("hunter2"),
        "the password must not appear: {msg}"
    );
}

#[tokio::test]
async fn free_account_is_refused_with_a_clear_message() {
    let s = sim().await;
    let err = try_sign_in(&s, credentials(account(&s, "free")))
        .await
        .expect_err("free account");
    assert_eq!(err.kind(), ErrorKind::Notify);
    assert!(err.to_string().contains("Premium"), "{err}");
}

#[tokio::test]
async fn try_another_ap_moves_to_the_next_access_point() {
    let s = sim().await;
    s.set_faults(
        0,
        ApFaults {
            try_another_ap: true,
            ..ApFaults::default()
        },
    );
    let session = premium_session(&s).await;
    assert_eq!(session.ap_address(), s.info().access_points[1]);
}

#[tokio::test]
async fn all_aps_refusing_ends_with_an_error_not_a_loop() {
    let s = sim().await;
    for i in 0..2 {
        s.set_faults(
            i,
            ApFaults {
                try_another_ap: true,
                ..ApFaults::default()
            },
        );
    }
    let res = try_sign_in(&s, premium_credentials(&s)).await;
    assert!(res.is_err());
}

async fn connect_err(
    s: &tonearm_sim::Simulator,
    faults: ApFaults,
) -> tonearm::session::SessionError {
    for i in 0..2 {
        s.set_faults(i, faults.clone());
    }
    try_sign_in(s, premium_credentials(s))
        .await
        .expect_err("must fail")
}

#[tokio::test]
async fn forged_server_signature_is_rejected() {
    let s = sim().await;
    let err = connect_err(
        &s,
        ApFaults {
            bad_signature: true,
            ..ApFaults::default()
        },
    )
    .await;
    assert_eq!(err.kind(), ErrorKind::Fatal, "{err}");
    assert!(
        err.to_string().to_lowercase().contains("signature"),
        "{err}"
    );
}

#[tokio::test]
async fn untrusted_ap_key_is_rejected() {
    let s = sim().await;
    let mut cfg = config(&s);
    cfg.endpoints = tonearm::config::Endpoints::default(); // Spotify's key, not the simulator's
    cfg.endpoints.apresolve = s.info().apresolve.clone();
    let err = within(20, Session::connect(cfg, premium_credentials(&s)))
        .await
        .expect_err("simulator key is not Spotify's");
    assert!(
        err.to_string().to_lowercase().contains("signature"),
        "{err}"
    );
}

#[tokio::test]
async fn tampered_mac_on_login_answer_is_a_typed_error() {
    let s = sim().await;
    let err = connect_err(
        &s,
        ApFaults {
            corrupt_mac_at: Some(0),
            ..ApFaults::default()
        },
    )
    .await;
    assert!(err.to_string().to_lowercase().contains("mac"), "{err}");
}

#[tokio::test]
async fn tampered_mac_on_product_info_fails_the_connect() {
    let s = sim().await;
    let err = connect_err(
        &s,
        ApFaults {
            corrupt_mac_at: Some(2),
            ..ApFaults::default()
        },
    )
    .await;
    assert!(err.to_string().contains("MAC mismatch"), "{err}");
}

#[tokio::test]
async fn truncated_frame_is_a_typed_error() {
    let s = sim().await;
    let err = connect_err(
        &s,
        ApFaults {
            truncate_at: Some(0),
            ..ApFaults::default()
        },
    )
    .await;
    assert!(
        err.to_string().contains("in the middle of a packet"),
        "{err}"
    );
}

#[tokio::test]
async fn oversized_handshake_length_is_refused_quickly() {
    let s = sim().await;
    let started = std::time::Instant::now();
    let err = connect_err(
        &s,
        ApFaults {
            oversized_handshake: true,
            ..ApFaults::default()
        },
    )
    .await;
    // Refused from the length prefix alone (no 2 GiB allocation, no waiting for the body).
    assert!(err.to_string().contains("2147483647 bytes (limit"), "{err}");
    assert_eq!(err.kind(), ErrorKind::Fatal, "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn plaintext_login_failed_after_handshake_is_detected() {
    let s = sim().await;
    let err = connect_err(
        &s,
        ApFaults {
            reject_client_hmac: true,
            ..ApFaults::default()
        },
    )
    .await;
    let msg = err.to_string().to_lowercase();
    assert!(
        msg.contains("handshake") || msg.contains("protocol"),
        "{msg}"
    );
}

#[tokio::test]
async fn corrupted_mac_after_login_kills_the_session_with_a_reason() {
    // Packets 0..=2 are APWelcome, CountryCode and ProductInfo (which connect waits for);
    // packet 3 is the first Ping, after the session is up.
    let s = sim_with(SimConfig {
        first_ping_after: Duration::from_millis(300),
        ..SimConfig::default()
    })
    .await;
    for i in 0..2 {
        s.set_faults(
            i,
            ApFaults {
                corrupt_mac_at: Some(3),
                ..ApFaults::default()
            },
        );
    }
    let session = premium_session(&s).await;
    let mut rx = session.state();
    let st = wait_state(&mut rx, 10, |st| matches!(st, SessionState::Dead(_))).await;
    let SessionState::Dead(reason) = st else {
        unreachable!()
    };
    assert!(reason.to_lowercase().contains("mac"), "{reason}");
}

#[tokio::test]
async fn simulator_survives_hostile_clients() {
    let s = sim().await;
    let ap = s.info().access_points[0].clone();
    // Garbage before the handshake.
    let mut c = tokio::net::TcpStream::connect(&ap).await.unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let _ = within(10, c.read(&mut buf)).await;
    // A huge declared ClientHello length, then silence.
    let mut c2 = tokio::net::TcpStream::connect(&ap).await.unwrap();
    c2.write_all(&[0, 4, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3])
        .await
        .unwrap();
    let _ = within(10, c2.read(&mut buf)).await;
    // A truncated hello, then close.
    let mut c3 = tokio::net::TcpStream::connect(&ap).await.unwrap();
    c3.write_all(&[0, 4, 0, 0, 0, 50, 1, 2]).await.unwrap();
    drop(c3);
    // A real client still gets in, on the same AP.
    let session = premium_session(&s).await;
    assert_eq!(session.ap_address(), ap);
    assert!(s.stats().handshakes_failed >= 2, "{:?}", s.stats());
}

#[tokio::test]
async fn missing_pings_mark_the_session_dead() {
    let s = sim().await;
    for i in 0..2 {
        s.set_faults(
            i,
            ApFaults {
                no_pings: true,
                ..ApFaults::default()
            },
        );
    }
    let mut cfg = config(&s);
    cfg.timeouts.keepalive.first_ping = Duration::from_millis(700);
    let session = within(20, Session::connect(cfg, premium_credentials(&s)))
        .await
        .expect("login");
    let mut rx = session.state();
    let st = wait_state(&mut rx, 10, |st| matches!(st, SessionState::Dead(_))).await;
    let SessionState::Dead(reason) = st else {
        unreachable!()
    };
    assert!(reason.to_lowercase().contains("ping"), "{reason}");
}

#[tokio::test]
async fn keepalive_cycle_keeps_the_session_up() {
    let s = sim_with(SimConfig {
        first_ping_after: Duration::from_millis(100),
        ping_interval: Duration::from_millis(300),
        ..SimConfig::default()
    })
    .await;
    let mut cfg = config(&s);
    cfg.timeouts.keepalive.pong_delay = Duration::from_millis(100);
    cfg.timeouts.keepalive.pong_ack = Duration::from_millis(1000);
    cfg.timeouts.keepalive.next_ping = Duration::from_millis(2000);
    let session = within(20, Session::connect(cfg, premium_credentials(&s)))
        .await
        .expect("login");
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert!(s.stats().pongs_received >= 2, "{:?}", s.stats());
    assert!(matches!(*session.state().borrow(), SessionState::Connected));
    assert!(session.server_time_delta().is_some());
}

#[tokio::test]
async fn closed_connection_marks_the_session_dead() {
    let s = sim().await;
    for i in 0..2 {
        s.set_faults(
            i,
            ApFaults {
                close_after_packets: Some(3),
                ..ApFaults::default()
            },
        );
    }
    let session = premium_session(&s).await;
    let mut rx = session.state();
    wait_state(&mut rx, 10, |st| matches!(st, SessionState::Dead(_))).await;
    // Requests on a dead session fail promptly instead of hanging.
    assert!(within(5, session.mercury().get("hm://x/y")).await.is_err());
}

#[tokio::test]
async fn mercury_get_404_and_multipart() {
    let s = sim_with(SimConfig {
        mercury_chunk: 100,
        ..SimConfig::default()
    })
    .await;
    let session = premium_session(&s).await;
    let body: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    s.put_mercury(
        "hm://tonearm-test/big",
        "application/octet-stream",
        body.clone(),
    );
    s.put_mercury("hm://tonearm-test/small", "text/plain", b"hi".to_vec());
    let m = session.mercury();
    let small = within(10, m.get("hm://tonearm-test/small"))
        .await
        .expect("small");
    assert_eq!(small.status_code, 200);
    assert_eq!(small.payload.concat(), b"hi");
    let big = within(10, m.get("hm://tonearm-test/big"))
        .await
        .expect("big");
    assert_eq!(big.payload.concat(), body, "multipart reassembly");
    let missing = within(10, m.get("hm://tonearm-test/missing")).await;
    assert!(missing.is_err(), "404 must be an error");
    // Concurrent requests are matched by sequence number.
    let (a, b) = tokio::join!(
        m.get("hm://tonearm-test/small"),
        m.get("hm://tonearm-test/big")
    );
    assert_eq!(a.expect("a").payload.concat(), b"hi");
    assert_eq!(b.expect("b").payload.concat(), body);
}

#[tokio::test]
async fn mercury_subscription_receives_events() {
    let s = sim().await;
    let session = premium_session(&s).await;
    let mut events = within(10, session.mercury().subscribe("hm://tonearm-test/events/"))
        .await
        .expect("subscribe");
    let user = session.username();
    let reached = s.publish_mercury(&user, "hm://tonearm-test/events/1", vec![b"one".to_vec()]);
    assert_eq!(reached, 1);
    let ev = within(10, events.recv()).await.expect("event");
    assert_eq!(ev.uri, "hm://tonearm-test/events/1");
    assert_eq!(ev.payload.concat(), b"one");
    // Other prefixes do not reach this subscription: a non-matching event published first
    // would arrive first (one connection, in order), so the next event must be the matching one.
    s.publish_mercury(&user, "hm://other/1", vec![b"x".to_vec()]);
    s.publish_mercury(&user, "hm://tonearm-test/events/2", vec![b"two".to_vec()]);
    let ev = within(10, events.recv()).await.expect("event");
    assert_eq!(
        ev.uri, "hm://tonearm-test/events/2",
        "a non-matching event leaked through"
    );
    assert_eq!(ev.payload.concat(), b"two");
    within(
        10,
        session.mercury().unsubscribe("hm://tonearm-test/events/"),
    )
    .await
    .expect("unsub");
}

#[tokio::test]
async fn audio_keys_success_refusal_and_timeout() {
    let s = sim().await;
    let track = SpotifyId::from_base62("4GNcXTGWmnZ3ySrqvol3o4").unwrap();
    let file = FileId([9; 20]);
    s.add_audio_key(file.0, track.to_raw(), [0x5a; 16]);
    let session = premium_session(&s).await;
    let key = within(10, session.audio_key(track, file))
        .await
        .expect("key");
    assert_eq!(key.0, [0x5a; 16]);
    let other = FileId([1; 20]);
    let err = within(10, session.audio_key(track, other))
        .await
        .expect_err("unknown pair");
    assert!(
        matches!(
            err,
            tonearm::session::audio_key::AudioKeyError::Refused { .. }
        ),
        "{err}"
    );
    // Slow key server: the client gives up after its timeout (1.5 s by default).
    for i in 0..2 {
        s.set_faults(
            i,
            ApFaults {
                audio_key_delay: Duration::from_secs(3),
                ..ApFaults::default()
            },
        );
    }
    let slow = premium_session(&s).await;
    let err = within(10, slow.audio_key(track, file))
        .await
        .expect_err("timeout");
    assert!(
        matches!(err, tonearm::session::audio_key::AudioKeyError::Timeout),
        "{err}"
    );
}

#[tokio::test]
async fn reconnect_keeps_identity_and_services() {
    let s = sim().await;
    let session = premium_session(&s).await;
    let device = session.device_id();
    let user = session.username();
    let mercury = session.mercury(); // a handle taken before the reconnect keeps working
    s.put_mercury("hm://tonearm-test/r", "text/plain", b"r".to_vec());
    let before = s.stats().logins_ok;
    within(10, session.reconnect()).await.expect("reconnect");
    assert_eq!(s.stats().logins_ok, before + 1);
    assert_eq!(session.device_id(), device);
    assert_eq!(session.username(), user);
    assert!(matches!(*session.state().borrow(), SessionState::Connected));
    let r = within(10, mercury.get("hm://tonearm-test/r"))
        .await
        .expect("mercury after reconnect");
    assert_eq!(r.payload.concat(), b"r");
}

#[tokio::test]
async fn many_sessions_at_once() {
    let s = sim().await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let cfg = config(&s);
        let creds = premium_credentials(&s);
        tasks.push(tokio::spawn(Session::connect(cfg, creds)));
    }
    for t in tasks {
        within(20, t).await.unwrap().expect("concurrent login");
    }
}
