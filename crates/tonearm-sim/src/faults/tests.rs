//! Tests of the runtime faults (issue 11 item 7) over real sockets on 127.0.0.1: a restart on
//! the same ports keeping the state dir, revoked tokens and credentials (each service's answer),
//! dropped AP connections, dealer flapping, CDN stalls, injected 429s, black holes, clearing,
//! and the loopback-only admin endpoint with its client. The test clients are in
//! `tests/client.rs`; `tests/realism.rs` holds the places where the simulator is as strict as
//! Spotify.

mod client;
mod realism;

use std::time::{Duration, Instant};

use librespot_protocol::keyexchange::ErrorCode;
use librespot_protocol::login5 as l5;
use protobuf::Message;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{BlackHole, CdnStall, DealerFlap, Fault, FaultError, LimitedService, RateLimit};
use crate::{admin, SimConfig, Simulator};
use client::{client_token, login5_stored, Ap, Dealer, Login5, STORED, USER_PASS, WAIT};

fn cfg() -> SimConfig {
    SimConfig {
        first_ping_after: Duration::from_secs(30),
        ..SimConfig::default()
    }
}

async fn start() -> Simulator {
    Simulator::start(cfg()).await.unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(WAIT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Password login at AP 0; the stored credentials.
async fn stored_for(sim: &Simulator, user: &str, pass: &str) -> Vec<u8> {
    let mut ap = Ap::connect(&sim.info().access_points[0]).await;
    ap.login(user, USER_PASS, pass.as_bytes()).await.unwrap()
}

/// client-token + login5 with stored credentials → a login5 access token.
async fn login5_token(http: &reqwest::Client, base: &str, user: &str, stored: &[u8]) -> String {
    let ct = client_token(http, base).await.unwrap();
    match login5_stored(http, base, &ct, user, stored).await {
        Login5::Ok(t) => t,
        other => panic!("{other:?}"),
    }
}

/// A demo track's first file: (hex file id).
fn demo_file(sim: &Simulator) -> String {
    let cat = sim.catalog();
    let track = &cat.tracks[cat.demo_tracks[0]];
    hex::encode(track.files[1].file_id)
}

fn port(addr: &str) -> u16 {
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn restart_on_the_same_ports_keeps_stored_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let http = http();
    let sim = Simulator::start(SimConfig {
        state_dir: Some(dir.path().to_path_buf()),
        ..cfg()
    })
    .await
    .unwrap();
    let info = sim.info().clone();
    let base = info.spclient.clone();
    let stored = stored_for(&sim, "alice", "alice-pass").await;
    let old_ct = client_token(&http, &base).await.unwrap();
    let old_token = login5_token(&http, &base, "alice", &stored).await;
    sim.shutdown().await;

    // The same ports, the same state dir: an outage, as a client sees it.
    let sim = Simulator::start(SimConfig {
        state_dir: Some(dir.path().to_path_buf()),
        http_port: port(&info.spclient),
        ap_ports: info.access_points.iter().map(|a| port(a)).collect(),
        ..cfg()
    })
    .await
    .unwrap();
    assert_eq!(sim.info().spclient, info.spclient);
    assert_eq!(sim.info().access_points, info.access_points);
    // The stored credential issued before the restart is accepted after it, by the AP…
    let mut ap = Ap::connect(&info.access_points[1]).await;
    ap.login("alice", STORED, &stored).await.unwrap();
    // …and by login5.
    let token = login5_token(&http, &base, "alice", &stored).await;
    let r = http
        .get(format!("{base}/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Tokens live in memory only: a restart forgets them (FAULTS.md), like `revoke_tokens`.
    let r = http
        .get(format!("{base}/v1/me"))
        .bearer_auth(&old_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(matches!(
        login5_stored(&http, &base, &old_ct, "alice", &stored).await,
        Login5::Http(401)
    ));
    sim.shutdown().await;
}

#[tokio::test]
async fn revoked_tokens_answer_401_everywhere_until_new_ones_are_minted() {
    let sim = start().await;
    let http = http();
    let base = sim.info().spclient.clone();
    let stored = stored_for(&sim, "alice", "alice-pass").await;
    let ct = client_token(&http, &base).await.unwrap();
    let l5 = match login5_stored(&http, &base, &ct, "alice", &stored).await {
        Login5::Ok(t) => t,
        other => panic!("{other:?}"),
    };
    let oauth = crate::accounts::sign_in_for_tests(&base, "alice", "alice-pass").await;
    let oauth_access = oauth["access_token"].as_str().unwrap().to_owned();
    let oauth_refresh = oauth["refresh_token"].as_str().unwrap().to_owned();
    let ap_token = sim.issue_access_token("alice").unwrap();
    let file = demo_file(&sim);
    let resolve = format!("{base}/storage-resolve/files/audio/interactive/{file}");
    let get = |url: String, token: String| {
        let http = http.clone();
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(get(resolve.clone(), l5.clone()).await.0, StatusCode::OK);
    assert_eq!(
        get(format!("{base}/v1/me"), l5.clone()).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get(format!("{base}/v1/me"), oauth_access.clone()).await.0,
        StatusCode::OK
    );
    let mut open_dealer = Dealer::open(&sim.info().dealer, &l5).await;
    let before = sim.stats();

    let ack = sim.fault(Fault::RevokeTokens);
    assert_eq!(ack.fault, "revoke_tokens");

    // spclient, the Web API (login5 and OAuth tokens) and the dealer: 401 with the JSON error.
    let (s, v) = get(resolve.clone(), l5.clone()).await;
    assert_eq!(
        (s, v["error"]["status"].as_u64()),
        (StatusCode::UNAUTHORIZED, Some(401))
    );
    let (s, v) = get(format!("{base}/v1/me"), l5.clone()).await;
    assert_eq!(
        (s, v["error"]["status"].as_u64()),
        (StatusCode::UNAUTHORIZED, Some(401))
    );
    let (s, _) = get(format!("{base}/v1/me"), oauth_access.clone()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let refused =
        tokio_tungstenite::connect_async(format!("{}/?access_token={l5}", sim.info().dealer)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("dealer with a revoked token: {:?}", other.map(|_| ())),
    }
    // login5 refuses the revoked client-token.
    assert!(matches!(
        login5_stored(&http, &base, &ct, "alice", &stored).await,
        Login5::Http(401)
    ));
    // The accounts service: refreshing answers invalid_grant "Refresh token revoked".
    let r = http
        .post(format!("{base}/api/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", oauth_refresh.as_str()),
            ("client_id", "65b708073fc0480ea92a077233ca87bd"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({"error": "invalid_grant", "error_description": "Refresh token revoked"})
    );
    // An access token is no AP login any more.
    let mut ap = Ap::connect(&sim.info().access_points[0]).await;
    assert_eq!(
        ap.login(
            "alice",
            librespot_protocol::authentication::AuthenticationType::AUTHENTICATION_SPOTIFY_TOKEN,
            ap_token.as_bytes()
        )
        .await,
        Err(ErrorCode::BadCredentials)
    );
    // The open dealer websocket stays up (Spotify is not known to close it on revocation).
    open_dealer.send_text(r#"{"type":"ping"}"#).await;
    assert_eq!(open_dealer.next_text(WAIT).await.unwrap()["type"], "pong");

    // Stored credentials still work: a new client-token and login5 mint a working chain.
    let fresh = login5_token(&http, &base, "alice", &stored).await;
    assert_eq!(get(resolve, fresh.clone()).await.0, StatusCode::OK);
    Dealer::open(&sim.info().dealer, &fresh).await;
    let mut ap = Ap::connect(&sim.info().access_points[1]).await;
    ap.login("alice", STORED, &stored).await.unwrap();
    let after = sim.stats();
    // Counted: two login5 requests (refused, then the fresh one), two client-token requests.
    assert_eq!(after.login5_requests - before.login5_requests, 2);
    assert_eq!(
        after.client_token_requests - before.client_token_requests,
        1
    );
    assert_eq!(after.login5_logins - before.login5_logins, 1);
}

#[tokio::test]
async fn revoked_credentials_are_refused_by_the_ap_and_login5() {
    let sim = start().await;
    let http = http();
    let base = sim.info().spclient.clone();
    let stored = stored_for(&sim, "tonearm-demo", "tonearm-demo-pass").await;
    let token = login5_token(&http, &base, "tonearm-demo", &stored).await;
    sim.fault(Fault::RevokeCredentials);
    let mut ap = Ap::connect(&sim.info().access_points[0]).await;
    assert_eq!(
        ap.login("tonearm-demo", STORED, &stored).await,
        Err(ErrorCode::BadCredentials)
    );
    let ct = client_token(&http, &base).await.unwrap();
    match login5_stored(&http, &base, &ct, "tonearm-demo", &stored).await {
        Login5::Error(e) => assert_eq!(e, l5::LoginError::INVALID_CREDENTIALS),
        other => panic!("{other:?}"),
    }
    // Tokens went with them.
    let r = http
        .get(format!("{base}/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Signing in again gives credentials that work.
    let again = stored_for(&sim, "tonearm-demo", "tonearm-demo-pass").await;
    let mut ap = Ap::connect(&sim.info().access_points[1]).await;
    ap.login("tonearm-demo", STORED, &again).await.unwrap();
}

#[tokio::test]
async fn dropping_ap_connections_closes_them_all_and_new_ones_are_served() {
    let sim = start().await;
    let aps = sim.info().access_points.clone();
    let mut logged_in = Ap::connect(&aps[0]).await;
    logged_in
        .login("alice", USER_PASS, b"alice-pass")
        .await
        .unwrap();
    let mut other = Ap::connect(&aps[1]).await;
    other
        .login("alice", USER_PASS, b"alice-pass")
        .await
        .unwrap();
    // A connection still waiting for its Login packet.
    let mut handshaken = Ap::connect(&aps[0]).await;
    let ack = sim.fault(Fault::DropApConnections);
    assert_eq!(ack.connections_closed, 3);
    for ap in [&mut logged_in, &mut other, &mut handshaken] {
        assert!(ap.closed_within(WAIT).await, "closed at once");
    }
    assert_eq!(sim.stats().ap_connections_dropped, 3);
    assert_eq!(sim.stats().active_sessions, 0);
    let mut again = Ap::connect(&aps[0]).await;
    again
        .login("alice", USER_PASS, b"alice-pass")
        .await
        .unwrap();
    assert_eq!(sim.stats().active_sessions, 1);
}

#[tokio::test]
async fn dealer_flapping_closes_now_then_each_new_websocket_k_times() {
    let sim = start().await;
    let token = sim.issue_login5_token("alice").unwrap();
    let dealer = sim.info().dealer.clone();
    let mut first = Dealer::open(&dealer, &token).await;
    let ack = sim.fault(Fault::DealerFlap(DealerFlap {
        close_after_ms: Some(300),
        times: 2,
    }));
    assert_eq!(ack.connections_closed, 1);
    assert_eq!(
        first.close_frame_within(WAIT).await,
        Some((1001, "going away".to_owned()))
    );
    for n in 0..2 {
        let opened = Instant::now();
        let mut d = Dealer::open(&dealer, &token).await;
        assert_eq!(
            d.close_frame_within(WAIT).await.map(|c| c.0),
            Some(1001),
            "{n}"
        );
        let lived = opened.elapsed();
        assert!(lived >= Duration::from_millis(250), "{n}: {lived:?}");
    }
    // The count is used up: the next websocket stays.
    let mut last = Dealer::open(&dealer, &token).await;
    assert_eq!(
        last.close_frame_within(Duration::from_millis(800)).await,
        None
    );
    last.send_text(r#"{"type":"ping"}"#).await;
    assert_eq!(last.next_text(WAIT).await.unwrap()["type"], "pong");
    let st = sim.stats();
    assert_eq!((st.dealer_connections, st.dealer_closed_by_fault), (4, 3));
}

#[tokio::test]
async fn a_stalled_cdn_sends_headers_then_nothing_until_the_stall_ends() {
    let sim = start().await;
    let http = http();
    let base = sim.info().spclient.clone();
    let token = sim.issue_login5_token("tonearm-demo").unwrap();
    let file = demo_file(&sim);
    let r = http
        .get(format!(
            "{base}/storage-resolve/files/audio/interactive/{file}"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let resolved = librespot_protocol::storage_resolve::StorageResolveResponse::parse_from_bytes(
        &r.bytes().await.unwrap(),
    )
    .unwrap();
    let url = resolved.cdnurl[0].clone();
    let fetch = |url: String| {
        let http = http.clone();
        async move {
            http.get(url)
                .header("Range", "bytes=0-65535")
                .send()
                .await
                .unwrap()
        }
    };

    sim.fault(Fault::StallCdn(CdnStall { for_ms: None }));
    let mut r = fetch(url.clone()).await;
    // The headers came…
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.content_length(), Some(65536));
    // …the body does not.
    let chunk = tokio::time::timeout(Duration::from_millis(700), r.chunk()).await;
    assert!(chunk.is_err(), "no body byte while stalled");
    assert_eq!(sim.stats().cdn_stalled, 1);
    sim.fault(Fault::Clear);
    let mut got = 0;
    while let Some(c) = r.chunk().await.unwrap() {
        got += c.len();
    }
    assert_eq!(got, 65536, "the held body continues after the stall");

    // A timed stall ends by itself.
    sim.fault(Fault::StallCdn(CdnStall { for_ms: Some(400) }));
    let started = Instant::now();
    let body = fetch(url.clone()).await.bytes().await.unwrap();
    assert_eq!(body.len(), 65536);
    assert!(started.elapsed() >= Duration::from_millis(350));
    // And after it, nothing is held.
    let started = Instant::now();
    fetch(url).await.bytes().await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(350));
}

#[tokio::test]
async fn injected_429s_follow_service_count_duration_and_prefix() {
    let sim = start().await;
    let http = http();
    let base = sim.info().spclient.clone();
    let token = sim.issue_login5_token("tonearm-demo").unwrap();
    let file = demo_file(&sim);
    let resolve = format!("{base}/storage-resolve/files/audio/interactive/{file}");
    let me = format!("{base}/v1/me");
    let call = |url: String| {
        let http = http.clone();
        let token = token.clone();
        async move { http.get(url).bearer_auth(token).send().await.unwrap() }
    };

    // spclient, two requests, Retry-After: 15.
    sim.fault(Fault::RateLimit(RateLimit {
        service: LimitedService::Spclient,
        retry_after_secs: Some(15),
        requests: Some(2),
        for_ms: None,
        path_prefix: None,
    }));
    assert_eq!(
        call(me.clone()).await.status(),
        StatusCode::OK,
        "Web API untouched"
    );
    for _ in 0..2 {
        let r = call(resolve.clone()).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], "15");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["status"], 429);
    }
    assert_eq!(call(resolve.clone()).await.status(), StatusCode::OK);

    // The Web API for a duration, without the header.
    sim.fault(Fault::RateLimit(RateLimit {
        service: LimitedService::WebApi,
        retry_after_secs: None,
        requests: None,
        for_ms: Some(400),
        path_prefix: None,
    }));
    let r = call(me.clone()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_none());
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": {"status": 429, "message": "API rate limit exceeded"}})
    );
    assert_eq!(
        call(resolve.clone()).await.status(),
        StatusCode::OK,
        "spclient untouched"
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(call(me.clone()).await.status(), StatusCode::OK);

    // Both, only under a prefix, until cleared; tokens are never limited.
    sim.fault(Fault::RateLimit(RateLimit {
        service: LimitedService::Both,
        retry_after_secs: Some(1),
        requests: None,
        for_ms: None,
        path_prefix: Some("/storage-resolve/".into()),
    }));
    assert_eq!(
        call(resolve.clone()).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(call(me.clone()).await.status(), StatusCode::OK);
    assert!(client_token(&http, &base).await.is_ok());
    sim.fault(Fault::Clear);
    assert_eq!(call(resolve).await.status(), StatusCode::OK);
    assert_eq!(sim.stats().injected_429s, 4);
}

#[tokio::test]
async fn black_holes_accept_and_never_answer_until_cleared() {
    let sim = start().await;
    let http = http();
    let base = sim.info().spclient.clone();
    let aps = sim.info().access_points.clone();
    let token = sim.issue_login5_token("alice").unwrap();
    let mut session = Ap::connect(&aps[0]).await;
    session
        .login("alice", USER_PASS, b"alice-pass")
        .await
        .unwrap();
    let mut dealer = Dealer::open(&sim.info().dealer, &token).await;

    // Only AP 1.
    sim.fault(Fault::BlackHole(BlackHole {
        ap: true,
        ap_index: Some(1),
        http: false,
    }));
    assert!(Ap::try_connect(&aps[1], Duration::from_millis(500))
        .await
        .is_none());
    Ap::connect(&aps[0]).await;

    // Every AP and the HTTP listener.
    sim.fault(Fault::BlackHole(BlackHole {
        ap: true,
        ap_index: None,
        http: true,
    }));
    // New AP connections are accepted (the TCP connect succeeds) and never answered.
    assert!(Ap::try_connect(&aps[0], Duration::from_millis(500))
        .await
        .is_none());
    // An open session goes silent.
    let cat = sim.catalog();
    let t = &cat.tracks[cat.demo_tracks[0]];
    let (file, gid) = (t.files[1].file_id, t.gid);
    let mut req = file.to_vec();
    req.extend_from_slice(&gid);
    req.extend_from_slice(&9u32.to_be_bytes());
    req.extend_from_slice(&[0, 0]);
    session.send(crate::ap::cmd::REQUEST_KEY, &req).await;
    assert!(session
        .recv_within(Duration::from_millis(500))
        .await
        .is_none());
    // HTTP requests are held…
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    assert!(quick
        .get(format!("{base}/?type=accesspoint"))
        .send()
        .await
        .is_err());
    // …the open dealer websocket goes silent…
    dealer.send_text(r#"{"type":"ping"}"#).await;
    assert!(dealer.next_text(Duration::from_millis(500)).await.is_none());
    // …but the admin endpoint answers, and lifts it.
    let stats = admin::stats(&base).await.unwrap();
    assert!(stats.black_holed >= 4, "{stats:?}");
    admin::fault(&base, Fault::Clear).await.unwrap();
    // The session wakes up and answers the request it held.
    assert_eq!(
        session.recv_kind(crate::ap::cmd::AES_KEY).await[..4],
        9u32.to_be_bytes()
    );
    assert_eq!(dealer.next_text(WAIT).await.unwrap()["type"], "pong");
    let r = http
        .get(format!("{base}/?type=accesspoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    Ap::connect(&aps[1]).await;
}

#[tokio::test]
async fn the_admin_endpoint_and_its_client() {
    let sim = start().await;
    let http = http();
    let base = sim.info().spclient.clone();
    let token = sim.issue_login5_token("alice").unwrap();
    // The client applies faults over HTTP.
    let ack = admin::fault(
        &base,
        Fault::RateLimit(RateLimit {
            service: LimitedService::WebApi,
            retry_after_secs: Some(3),
            requests: Some(1),
            for_ms: None,
            path_prefix: None,
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        (ack.fault.as_str(), ack.connections_closed),
        ("rate_limit", 0)
    );
    let r = http
        .get(format!("{base}/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "3");
    // Stats over HTTP equal the handle's.
    assert_eq!(admin::stats(&base).await.unwrap(), sim.stats());
    // JSON errors for bad input.
    let post = |path: &str, body: &str| {
        http.post(format!("{base}/_sim/fault/{path}"))
            .body(body.to_owned())
            .send()
    };
    let r = post("explode", "").await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rate_limit"),
        "{v}"
    );
    for (name, body) in [
        ("rate_limit", "{}"),
        ("rate_limit", r#"{"service": "cdn"}"#),
        ("rate_limit", r#"{"service": "spclient", "requests": 0}"#),
        ("dealer_flap", r#"{"times": 3}"#),
        ("black_hole", "{}"),
        ("revoke_tokens", r#"{"now": true}"#),
        ("stall_cdn", "not json"),
    ] {
        let r = post(name, body).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{name} {body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["status"], 400, "{name} {body}");
    }
    let r = post("clear", "").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"fault": "clear", "connections_closed": 0})
    );
    // A refusal reaches the client as an error.
    let err = admin::fault(&format!("{base}/nope"), Fault::Clear)
        .await
        .unwrap_err();
    assert!(
        matches!(err, admin::AdminError::Refused { status: 404, .. }),
        "{err}"
    );
}

#[test]
fn faults_round_trip_through_their_wire_form() {
    let all = [
        Fault::RevokeTokens,
        Fault::RevokeCredentials,
        Fault::DropApConnections,
        Fault::DealerFlap(DealerFlap {
            close_after_ms: Some(500),
            times: 20,
        }),
        Fault::DealerFlap(DealerFlap::default()),
        Fault::StallCdn(CdnStall {
            for_ms: Some(10_000),
        }),
        Fault::StallCdn(CdnStall::default()),
        Fault::RateLimit(RateLimit {
            service: LimitedService::Both,
            retry_after_secs: None,
            requests: Some(3),
            for_ms: Some(1000),
            path_prefix: Some("/metadata/".into()),
        }),
        Fault::BlackHole(BlackHole {
            ap: true,
            ap_index: Some(1),
            http: true,
        }),
        Fault::Clear,
    ];
    let mut names: Vec<&str> = Vec::new();
    for f in all {
        let back = Fault::parse(f.name(), f.params()).unwrap();
        assert_eq!(back, f);
        names.push(f.name());
    }
    names.dedup();
    assert_eq!(names, Fault::NAMES);
    assert_eq!(
        Fault::parse("rate_limit", json!({"service": "web_api"})).unwrap(),
        Fault::RateLimit(RateLimit {
            service: LimitedService::WebApi,
            retry_after_secs: None,
            requests: None,
            for_ms: None,
            path_prefix: None,
        })
    );
    assert_eq!(Fault::parse("clear", Value::Null).unwrap(), Fault::Clear);
    assert!(matches!(
        Fault::parse("nope", Value::Null),
        Err(FaultError::Unknown(_))
    ));
    assert!(matches!(
        Fault::parse("black_hole", json!({"http": false, "ap_index": 0})),
        Err(FaultError::Params { .. })
    ));
}
