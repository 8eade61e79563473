//! Zeroconf (spec §5): our receiver takes a login from the simulator's independent phone encoder
//! and logs in with it; malformed, oversized and flooding requests get the error answers and the
//! endpoint keeps serving; our controller wakes our receiver; our controller's blobs match an
//! independent pure-Python oracle (`assets/fixtures/gen_zeroconf.py` →
//! `tests/fixtures/zeroconf_blob.json`, and the oracle decodes a fresh blob at test time); and
//! an independent mDNS browser (python3-zeroconf) and our own `browse()` see the advertisement.
//! Network tests use 127.0.0.1, except the mDNS ones, which run in two network namespaces the
//! test creates (a veth pair with multicast on; `tonearm_testkit::netns`), so they run for real
//! and never touch the host's network; they need root and `ip` (and python3-zeroconf), return
//! early with a printed reason without them, and fail without them under `CI=true`.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tonearm::connect::blob;
use tonearm::connect::discovery::{Discovery, DiscoveryConfig, LanEvent, ZeroconfLogin};
use tonearm::connect::wake;
use tonearm::session::dh::DhKeys;
use tonearm::session::{AuthType, Credentials};

use tonearm_testkit::netns::NetnsPair;
use tonearm_testkit::process::Running;
use tonearm_testkit::require;
use tonearm_testkit::tools::python_with;
use tonearm_testkit::zeroconf::{get_info, http, post};

use crate::common::{premium_session, sim, try_sign_in, within};

const RECEIVER_ID: &str = "5eceb1e5eceb1e5eceb1e5eceb1e5eceb1e5eceb";

fn local_cfg(name: &str) -> DiscoveryConfig {
    let mut c = DiscoveryConfig::new(name, RECEIVER_ID);
    c.bind = "127.0.0.1".parse().unwrap();
    c.advertise = false;
    c.device_type = "Speaker".into();
    c.client_id = "65b708073fc0480ea92a077233ca87bd".into();
    c
}

/// Signs in to the simulator with a password and returns the stored (reusable) credentials.
async fn stored_credentials(s: &tonearm_sim::Simulator) -> Credentials {
    let session = premium_session(s).await;
    let stored = session.reusable_credentials();
    session.shutdown().await;
    assert_eq!(stored.auth_type, AuthType::StoredSpotifyCredentials);
    stored
}

/// A valid `addUser` for our receiver, built by the simulator's phone (independent encoder).
fn phone_blob(info: &Value, creds: &Credentials) -> (String, String) {
    let inner = tonearm_sim::phone::encode_inner_blob(
        creds.username.as_deref().unwrap(),
        creds.auth_type.as_u32(),
        &creds.auth_data,
        info["deviceID"].as_str().unwrap(),
    )
    .expect("inner blob");
    let key = B64.decode(info["publicKey"].as_str().unwrap()).unwrap();
    tonearm_sim::phone::encode_outer_blob(&inner, &key).expect("outer blob")
}

async fn next_login(rx: &mut mpsc::Receiver<ZeroconfLogin>) -> ZeroconfLogin {
    within(10, rx.recv()).await.expect("a login arrives")
}

#[tokio::test]
async fn get_info_has_librespots_fields() {
    let (d, _rx) = Discovery::start(local_cfg("Kitchen")).await.unwrap();
    let info = get_info(&http(), d.local_addr(), Some("2.7.1")).await;
    // Any path works (librespot accepts any), and POST with a form body too.
    let r = http()
        .post(format!("http://{}/some/cpath", d.local_addr()))
        .form(&[("action", "getInfo")])
        .send()
        .await
        .unwrap();
    let again: Value = r.json().await.unwrap();
    assert_eq!(info, again, "one key pair per instance");
    for (k, v) in [
        ("status", Value::from(101)),
        ("statusString", "OK".into()),
        ("spotifyError", 0.into()),
        ("version", "2.9.0".into()),
        ("deviceID", RECEIVER_ID.into()),
        ("deviceType", "Speaker".into()),
        ("remoteName", "Kitchen".into()),
        ("resolverVersion", "1".into()),
        ("groupStatus", "NONE".into()),
        ("tokenType", "default".into()),
        ("clientID", "65b708073fc0480ea92a077233ca87bd".into()),
        ("productID", 0.into()),
        ("scope", "streaming".into()),
        ("availability", "".into()),
        ("supported_capabilities", 1.into()),
        ("accountReq", "PREMIUM".into()),
        ("activeUser", "".into()),
    ] {
        assert_eq!(info[k], v, "{k}");
    }
    for k in [
        "brandDisplayName",
        "modelDisplayName",
        "libraryVersion",
        "supported_drm_media_formats",
        "aliases",
    ] {
        assert!(info.get(k).is_some(), "{k} present");
    }
    let pk = B64.decode(info["publicKey"].as_str().unwrap()).unwrap();
    assert!(tonearm::session::dh::is_valid_peer_key(&pk));
    assert_ne!(pk[0], 0, "minimal big-endian");
    d.set_active_user("alice");
    let info = get_info(&http(), d.local_addr(), Some("2.7.1")).await;
    assert_eq!(info["activeUser"], "alice");
    // The typed client sees the same.
    let typed = wake::get_info(&http(), d.local_addr(), "/").await.unwrap();
    assert_eq!(typed.device_id, RECEIVER_ID);
    assert_eq!(typed.active_user, "alice");
    assert_eq!(typed.remote_name, "Kitchen");
    assert_eq!(typed.public_key_bytes().unwrap(), pk);
    // The port is taken while it runs...
    let mut same = local_cfg("Twin");
    same.port = d.local_addr().port();
    let err = Discovery::start(same.clone())
        .await
        .expect_err("port in use");
    assert!(
        matches!(
            err,
            tonearm::connect::discovery::DiscoveryError::Bind { .. }
        ),
        "{err}"
    );
    // ...and free again, with nobody answering, after shutdown.
    let addr = d.local_addr();
    d.shutdown().await;
    let err = wake::get_info(&http(), addr, "/")
        .await
        .expect_err("stopped");
    assert!(matches!(err, wake::WakeError::Unreachable { .. }), "{err}");
    let (again, _rx) = Discovery::start(same).await.expect("port reusable");
    assert_eq!(again.local_addr(), addr);
    // A receiver bound to loopback is never advertised.
    let mut lo = local_cfg("Loopback");
    lo.advertise = true;
    let (lo, _rx) = Discovery::start(lo).await.unwrap();
    assert!(!lo.is_advertised());
    lo.shutdown().await;
    again.shutdown().await;
}

#[tokio::test]
async fn add_user_from_the_phone_logs_in_as_that_user() {
    let s = sim().await;
    let stored = stored_credentials(&s).await;
    let (d, mut rx) = Discovery::start(local_cfg("Living room")).await.unwrap();
    let http = http();
    let info = get_info(&http, d.local_addr(), Some("2.7.1")).await;
    let (blob, client_key) = phone_blob(&info, &stored);
    let user = stored.username.clone().unwrap();
    let (status, answer) = post(
        &http,
        d.local_addr(),
        &[
            ("action", "addUser"),
            ("userName", &user),
            ("blob", &blob),
            ("clientKey", &client_key),
            ("deviceName", "Sim phone"),
            ("deviceId", "phone-1"),
            ("version", "2.7.1"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        serde_json::json!({"status":101,"spotifyError":0,"statusString":"OK"})
    );
    let login = next_login(&mut rx).await;
    assert_eq!(login.device_name.as_deref(), Some("Sim phone"));
    assert_eq!(login.credentials, stored);
    // The handed-over credentials log in to the simulated AP as that user.
    let session = try_sign_in(&s, login.credentials)
        .await
        .expect("zeroconf login");
    assert_eq!(session.username(), user);
    session.shutdown().await;
    d.shutdown().await;
}

/// (form, HTTP status, JSON status, spotifyError, statusString prefix)
type ErrorCase<'a> = (Vec<(String, String)>, u16, i64, i64, &'a str);

#[tokio::test]
async fn malformed_requests_get_error_answers_and_the_server_keeps_serving() {
    let (d, mut rx) = Discovery::start(local_cfg("Hostile LAN")).await.unwrap();
    let addr = d.local_addr();
    let http = http();
    let info = get_info(&http, addr, Some("2.7.1")).await;
    let creds = Credentials::stored("mallory", b"stored-secret".to_vec());
    let (blob, client_key) = phone_blob(&info, &creds);
    let raw = B64.decode(&blob).unwrap();

    let mut wrong_mac = raw.clone();
    *wrong_mac.last_mut().unwrap() ^= 0x01;
    let wrong_mac = B64.encode(wrong_mac);
    let mut wrong_cipher = raw.clone();
    wrong_cipher[20] ^= 0x80;
    let wrong_cipher = B64.encode(wrong_cipher);
    let short = B64.encode(&raw[..35]);
    // A correctly wrapped inner blob whose length is not a multiple of 16.
    let pk = B64.decode(info["publicKey"].as_str().unwrap()).unwrap();
    let (odd_inner, odd_key) = tonearm_sim::phone::encode_outer_blob("YWJj", &pk).unwrap();
    // Another receiver's key: the MAC cannot match.
    let other = DhKeys::random();
    let (other_blob, other_key) =
        tonearm_sim::phone::encode_outer_blob("YWJj", &other.public_key()).unwrap();
    let _ = other_key;
    let bad_key = B64.encode([1u8]);

    let base = |b: &str, k: &str| -> Vec<(String, String)> {
        vec![
            ("action".into(), "addUser".into()),
            ("userName".into(), "mallory".into()),
            ("blob".into(), b.into()),
            ("clientKey".into(), k.into()),
        ]
    };
    let without = |k: &str| -> Vec<(String, String)> {
        base(&blob, &client_key)
            .into_iter()
            .filter(|(n, _)| n != k)
            .collect()
    };
    // (form, HTTP status, JSON status, spotifyError, statusString prefix)
    let cases: Vec<ErrorCase> = vec![
        (base(&wrong_mac, &client_key), 200, 102, 1, "ERROR-MAC"),
        (base(&wrong_cipher, &client_key), 200, 102, 1, "ERROR-MAC"),
        (base(&other_blob, &client_key), 200, 102, 1, "ERROR-MAC"),
        (
            base("%%%not base64%%%", &client_key),
            400,
            102,
            0,
            "ERROR-INVALID-ARGUMENT: blob is not base64",
        ),
        (
            base(&blob, "***"),
            400,
            102,
            0,
            "ERROR-INVALID-ARGUMENT: clientKey",
        ),
        (
            base(&blob, &bad_key),
            400,
            102,
            0,
            "ERROR-INVALID-ARGUMENT: the client key",
        ),
        (
            base(&short, &client_key),
            400,
            102,
            0,
            "ERROR-INVALID-ARGUMENT: the blob is 35 bytes long",
        ),
        (
            base("", &client_key),
            400,
            102,
            0,
            "ERROR-MISSING-ARGUMENT: blob",
        ),
        (
            base(&odd_inner, &odd_key),
            400,
            102,
            0,
            "ERROR-INVALID-BLOB: the credentials blob is 3 bytes long",
        ),
        (
            without("userName"),
            400,
            102,
            0,
            "ERROR-MISSING-ARGUMENT: userName",
        ),
        (without("blob"), 400, 102, 0, "ERROR-MISSING-ARGUMENT: blob"),
        (
            without("clientKey"),
            400,
            102,
            0,
            "ERROR-MISSING-ARGUMENT: clientKey",
        ),
        (without("action"), 400, 102, 0, "ERROR-MISSING-ACTION"),
        (
            vec![("action".into(), "resetUsers".into())],
            404,
            102,
            0,
            "ERROR-INVALID-ACTION",
        ),
    ];
    for (form, http_status, status, spotify_error, text) in cases {
        let form_ref: Vec<(&str, &str)> =
            form.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let (got_http, json) = post(&http, addr, &form_ref).await;
        assert_eq!(got_http, http_status, "{text}: {json}");
        assert_eq!(json["status"], status, "{text}: {json}");
        assert_eq!(json["spotifyError"], spotify_error, "{text}: {json}");
        let got = json["statusString"].as_str().unwrap();
        assert!(got.starts_with(text), "{got} should start with {text}");
        assert!(!got.contains(&blob), "no blob echoed");
        // Still serving after each.
        assert_eq!(
            get_info(&http, addr, Some("2.7.1")).await["deviceID"],
            RECEIVER_ID
        );
    }
    assert!(rx.try_recv().is_err(), "no login from bad requests");

    // Unknown action via GET too.
    let r = http
        .get(format!("http://{addr}/?action=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Oversized body → 413 (the body is a valid-looking form, just far too big).
    let big = format!("action=addUser&userName=x&blob={}", "A".repeat(200 * 1024));
    let r = http
        .post(format!("http://{addr}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await;
    match r {
        Ok(r) => assert_eq!(r.status(), 413),
        // The server may close before the client finished sending the body; it must not
        // have accepted it either way.
        Err(e) => eprintln!("oversized body: connection closed early ({e})"),
    }
    // A declared-oversized body is refused from the header alone.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10000000\r\n\r\naction=addUser",
    )
    .await
    .unwrap();
    let mut resp = Vec::new();
    let _ = within(20, tcp.read_to_end(&mut resp)).await;
    let resp = String::from_utf8_lossy(&resp);
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");

    // A slow client holding a half-sent request does not block others.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /?action=getInfo HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    assert_eq!(
        get_info(&http, addr, Some("2.7.1")).await["deviceID"],
        RECEIVER_ID
    );

    // Raw garbage that is not HTTP at all.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(&[0xffu8; 3000]).await.unwrap();
    let mut sink = Vec::new();
    // Either a 400 or the connection is closed (a reset counts as closed); never a success.
    let _closed_or_answered = within(20, tcp.read_to_end(&mut sink)).await;
    let answer = String::from_utf8_lossy(&sink);
    assert!(
        sink.is_empty() || answer.starts_with("HTTP/1.1 4"),
        "garbage got: {answer}"
    );

    // A flood of 500 concurrent garbage requests: every one gets an answer, nothing panics.
    // They come from 125 loopback addresses, 4 each: the per-address cap closes a fifth
    // connection from one address at once (the policy tests cover that).
    let mut tasks = Vec::new();
    let clients: Vec<reqwest::Client> = (1..=125)
        .map(|n| {
            tonearm_testkit::lan::http_from(
                tonearm_testkit::lan::loopback_host(9, n),
                Duration::from_secs(100),
            )
        })
        .collect();
    for i in 0..500usize {
        let http = clients[i / 4].clone();
        let client_key = client_key.clone();
        let wrong_mac = wrong_mac.clone();
        tasks.push(tokio::spawn(async move {
            let form: Vec<(&str, String)> = match i % 4 {
                0 => vec![("action", "addUser".into()), ("blob", "!!".into())],
                1 => vec![
                    ("action", "addUser".into()),
                    ("userName", format!("u{i}")),
                    ("blob", wrong_mac),
                    ("clientKey", client_key),
                ],
                2 => vec![("action", format!("garbage{i}"))],
                _ => vec![("junk", "\u{0}\u{1}%%%".into())],
            };
            let r = http
                .post(format!("http://{addr}/x{i}"))
                .form(&form)
                .timeout(Duration::from_secs(100))
                .send()
                .await
                .expect("flood request answered");
            r.status().as_u16()
        }));
    }
    let mut statuses = std::collections::BTreeMap::new();
    for t in tasks {
        let st = within(120, t).await.expect("no panic");
        *statuses.entry(st).or_insert(0) += 1;
    }
    assert_eq!(statuses.get(&200), Some(&125), "{statuses:?}"); // ERROR-MAC answers
    assert_eq!(statuses.get(&400), Some(&250), "{statuses:?}");
    assert_eq!(statuses.get(&404), Some(&125), "{statuses:?}");
    drop(slow);

    // Still serving, and a valid login still goes through afterwards.
    let info = get_info(&http, addr, Some("2.7.1")).await;
    assert_eq!(info["deviceID"], RECEIVER_ID);
    let (good, good_key) = phone_blob(&info, &creds);
    let (st, json) = post(
        &http,
        addr,
        &[
            ("action", "addUser"),
            ("userName", "mallory"),
            ("blob", &good),
            ("clientKey", &good_key),
        ],
    )
    .await;
    assert_eq!((st, json["status"].as_i64()), (200, Some(101)));
    assert_eq!(next_login(&mut rx).await.credentials, creds);
    d.shutdown().await;
}

#[tokio::test]
async fn logins_beyond_the_queue_are_answered_busy_and_a_closed_owner_refuses() {
    let (d, rx) = Discovery::start(local_cfg("Busy")).await.unwrap();
    let http = http();
    let creds = Credentials::stored("bob", b"abc".to_vec());
    let mut answers = Vec::new();
    for _ in 0..6 {
        let r = wake::add_user(&http, d.local_addr(), "/", &creds, "ctl", "ctl-id").await;
        answers.push(r);
    }
    assert!(answers[0].is_ok());
    assert!(
        matches!(answers.last(), Some(Err(wake::WakeError::Busy))),
        "{answers:?}"
    );
    drop(rx);
    let r = wake::add_user(&http, d.local_addr(), "/", &creds, "ctl", "ctl-id").await;
    assert!(matches!(r, Err(wake::WakeError::Busy)), "{r:?}");
    d.shutdown().await;
}

#[tokio::test]
async fn our_controller_wakes_our_receiver_and_the_login_works() {
    let s = sim().await;
    let stored = stored_credentials(&s).await;
    let (d, mut rx) = Discovery::start(local_cfg("Bedroom")).await.unwrap();
    let http = http();
    wake::add_user(
        &http,
        d.local_addr(),
        "/",
        &stored,
        "tonearm controller",
        "c0ffee",
    )
    .await
    .expect("wake");
    let login = next_login(&mut rx).await;
    assert_eq!(login.device_name.as_deref(), Some("tonearm controller"));
    assert_eq!(login.credentials, stored);
    let session = try_sign_in(&s, login.credentials)
        .await
        .expect("login with the handed-over credentials");
    assert_eq!(session.username(), stored.username.clone().unwrap());
    d.set_active_user(&session.username());
    session.shutdown().await;
    let info = wake::get_info(&http, d.local_addr(), "/").await.unwrap();
    assert_eq!(info.active_user, stored.username.clone().unwrap());
    d.shutdown().await;
    // A stopped receiver is a typed "unreachable" error, not a hang or panic.
    let err = wake::add_user(&http, d_addr_closed().await, "/", &stored, "x", "y")
        .await
        .expect_err("nobody listens");
    assert!(matches!(err, wake::WakeError::Unreachable { .. }), "{err}");
    assert!(!format!("{err}").contains(&B64.encode(&stored.auth_data)));
}

/// An address nobody listens on.
async fn d_addr_closed() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a
}

#[tokio::test]
async fn wake_maps_refusals_to_typed_errors() {
    use axum::routing::any;
    // A fake device: getInfo gives a bad public key on one path, ERROR-MAC on another, 403 on a
    // third.
    async fn fake(
        axum::extract::Path(p): axum::extract::Path<String>,
        axum::extract::RawQuery(q): axum::extract::RawQuery,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        let pk = B64.encode(DhKeys::random().public_key());
        if q.unwrap_or_default().contains("getInfo") {
            let key = if p == "badkey" {
                "AQ==".to_string()
            } else {
                pk
            };
            return axum::Json(serde_json::json!({"status":101,"deviceID":"dev","publicKey":key}))
                .into_response();
        }
        match p.as_str() {
            "mac" => axum::Json(
                serde_json::json!({"status":102,"spotifyError":1,"statusString":"ERROR-MAC"}),
            )
            .into_response(),
            "forbidden" => axum::http::StatusCode::FORBIDDEN.into_response(),
            _ => axum::Json(
                serde_json::json!({"status":105,"spotifyError":0,"statusString":"ERROR-LOGIN-FAILED"}),
            )
            .into_response(),
        }
    }
    let app = axum::Router::new().route("/{p}", any(fake));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(l, app).await });
    let http = http();
    let creds = Credentials::stored("u", b"x".to_vec());
    let r = |p: &'static str| {
        let http = http.clone();
        let creds = creds.clone();
        async move { wake::add_user(&http, addr, p, &creds, "n", "i").await }
    };
    assert!(matches!(
        r("/badkey").await,
        Err(wake::WakeError::BadPublicKey)
    ));
    assert!(matches!(r("/mac").await, Err(wake::WakeError::Mac)));
    assert!(matches!(r("/forbidden").await, Err(wake::WakeError::Busy)));
    assert!(matches!(
        r("/other").await,
        Err(wake::WakeError::Refused { status: 105, .. })
    ));
    let tok = Credentials::with_access_token("t");
    assert!(matches!(
        wake::add_user(&http, addr, "/x", &tok, "n", "i").await,
        Err(wake::WakeError::Encode(_))
    ));
    server.abort();
}

fn oracle_fixture() -> Value {
    serde_json::from_str(include_str!("../fixtures/zeroconf_blob.json")).unwrap()
}

fn hexf(v: &Value, k: &str) -> Vec<u8> {
    hex::decode(v[k].as_str().unwrap()).unwrap()
}

#[test]
fn controller_blobs_are_byte_identical_to_the_python_oracle() {
    let f = oracle_fixture();
    let cases = f["cases"].as_array().unwrap();
    assert!(cases.len() >= 3);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let user = c["username"].as_str().unwrap();
        let device_id = c["device_id"].as_str().unwrap();
        let creds = Credentials {
            username: Some(user.to_string()),
            auth_type: AuthType::from_u32(c["auth_type"].as_u64().unwrap() as u32).unwrap(),
            auth_data: hexf(c, "auth_data"),
        };
        // Our encoder, with the oracle's randomness injected.
        let inner = blob::encode_inner(&creds, device_id).unwrap();
        assert_eq!(inner, c["inner_blob"].as_str().unwrap(), "{name}: inner");
        let receiver = DhKeys::from_private(&hexf(c, "receiver_private_be"));
        assert_eq!(receiver.public_key(), hexf(c, "receiver_public"), "{name}");
        let iv: [u8; 16] = hexf(c, "iv").try_into().unwrap();
        let outer = blob::encrypt_outer_with(
            &inner,
            &receiver.public_key(),
            &hexf(c, "client_private_be"),
            iv,
        )
        .unwrap();
        assert_eq!(outer.blob, c["blob"].as_str().unwrap(), "{name}: blob");
        assert_eq!(
            outer.client_key,
            c["client_key"].as_str().unwrap(),
            "{name}: clientKey"
        );
        // And our receiver decodes the oracle's blob back to the credentials.
        let plain = blob::decrypt_outer(
            &receiver,
            &B64.decode(c["blob"].as_str().unwrap()).unwrap(),
            &B64.decode(c["client_key"].as_str().unwrap()).unwrap(),
        )
        .unwrap();
        let back = Credentials::from_zeroconf_blob(user, &plain, device_id).unwrap();
        assert_eq!(back, creds, "{name}: decoded");
    }
}

#[test]
fn the_python_oracle_decodes_a_fresh_blob_from_our_controller() {
    let py = python_with("hashlib");
    if !require(
        py.is_some(),
        "python3",
        "the independent blob oracle is a Python script",
    ) {
        return;
    }
    let py = py.unwrap();
    let receiver_private: Vec<u8> = (0..95u8).map(|i| i.wrapping_mul(31) ^ 0x5a).collect();
    let receiver = DhKeys::from_private(&receiver_private);
    let device_id = "f00dfacef00dfacef00dfacef00dfacef00dface";
    let creds = Credentials::stored(
        "oracle-user",
        (0..173u32).map(|i| (i * 11 % 251) as u8).collect(),
    );
    let inner = blob::encode_inner(&creds, device_id).unwrap();
    let outer = blob::encrypt_outer(&inner, &receiver.public_key()).unwrap();
    let req = serde_json::json!({
        "receiver_private_be": hex::encode(&receiver_private),
        "blob": outer.blob,
        "client_key": outer.client_key,
        "username": "oracle-user",
        "device_id": device_id,
    });
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/fixtures/gen_zeroconf.py"
    );
    let mut child = std::process::Command::new(py)
        .args([script, "decode"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(req.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "oracle refused our blob: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["auth_type"], 1);
    assert_eq!(got["auth_data"], hex::encode(&creds.auth_data));
}

// ---- mDNS, in network namespaces of its own ----------------------------------------------------
//
// Each test makes two namespaces joined by a veth pair (tonearm_testkit::netns): our
// advertiser runs in `a` (this test binary re-run for the `mdns_helper_advertise` helper), the
// browser in `b` (python3-zeroconf, or our `browse()` through `mdns_helper_browse`). Multicast
// works there by construction, so nothing is skipped for the network's sake, and no packet
// leaves the pair.

/// Browses with python3-zeroconf for the instance `argv[1]` for up to `argv[2]` seconds and
/// prints what it resolved (port, TXT, IPv4 addresses) as one JSON line.
const PY_BROWSER: &str = r#"
import json, socket, sys, time
from zeroconf import Zeroconf, ServiceBrowser, IPVersion
TYPE = "_spotify-connect._tcp.local."
want, timeout = sys.argv[1] + "." + TYPE, float(sys.argv[2])
zc = Zeroconf(ip_version=IPVersion.V4Only)
names = []
def on_change(zeroconf, service_type, name, state_change):
    names.append(name)
ServiceBrowser(zc, TYPE, handlers=[on_change])
deadline = time.time() + timeout
found = None
while time.time() < deadline and found is None:
    if want in names:
        info = zc.get_service_info(TYPE, want, timeout=3000)
        if info is not None:
            found = {"port": info.port,
                     "txt": {k.decode(): (v.decode() if v is not None else None)
                             for k, v in info.properties.items()},
                     "addresses": [socket.inet_ntoa(a) for a in info.addresses if len(a) == 4]}
    time.sleep(0.2)
print(json.dumps({"found": found, "names": names}))
zc.close()
"#;

/// What the helpers print before their JSON (the test harness may have written "test … ... "
/// on the same line).
const MARK: &str = "MDNS-HELPER ";

/// The JSON a helper printed on `line`.
fn helper_json(line: &str) -> Value {
    let at = line.find(MARK).expect("a helper line") + MARK.len();
    serde_json::from_str(&line[at..]).unwrap()
}

/// Our advertiser in namespace `a` (the helper below): name, device id, and "carol" signed in.
fn advertiser(net: &NetnsPair, name: &str, id: &str) -> (Running, Value) {
    let mut cmd = net.a.rerun("zeroconf::mdns_helper_advertise");
    cmd.env("TONEARM_MDNS_NAME", name)
        .env("TONEARM_MDNS_ID", id)
        .env("TONEARM_MDNS_BIND", net.a.addr().to_string());
    let mut adv = Running::spawn_with_stdin(cmd);
    let line = adv.line_within(Duration::from_secs(60), |l| l.contains(MARK));
    let started = helper_json(&line);
    assert_eq!(started["advertised"], true, "{started}");
    (adv, started)
}

/// Helper, run inside a namespace by the mDNS tests (does nothing elsewhere): advertises a
/// receiver bound to `TONEARM_MDNS_BIND`, prints its port, and on end of stdin shuts it down
/// (the mDNS goodbye) and prints that it did.
#[tokio::test]
#[ignore = "a helper the mDNS tests run inside a network namespace"]
// Its stdout is how it reports to the test that runs it.
#[allow(clippy::print_stdout)]
async fn mdns_helper_advertise() {
    let (Ok(name), Ok(id), Ok(bind)) = (
        std::env::var("TONEARM_MDNS_NAME"),
        std::env::var("TONEARM_MDNS_ID"),
        std::env::var("TONEARM_MDNS_BIND"),
    ) else {
        return;
    };
    let mut c = DiscoveryConfig::new(&name, &id);
    c.bind = bind.parse().unwrap();
    c.advertise = true;
    c.device_type = "Speaker".into();
    let (d, _rx) = Discovery::start(c).await.unwrap();
    d.set_active_user("carol");
    let port = d.local_addr().port();
    println!(
        "{MARK}{}",
        json!({"port": port, "advertised": d.is_advertised()})
    );
    // Until the test closes our stdin (or a minute, should it never).
    let eof = tokio::task::spawn_blocking(|| {
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new())
    });
    let _ = tokio::time::timeout(Duration::from_secs(60), eof).await;
    d.shutdown().await;
    println!("{MARK}{}", json!({"stopped": true}));
}

/// Helper, run inside a namespace by the mDNS tests (does nothing elsewhere): our `browse()`
/// until the instance `TONEARM_MDNS_NAME` is found (printed as JSON) and then lost (printed),
/// or a minute passes.
#[tokio::test]
#[ignore = "a helper the mDNS tests run inside a network namespace"]
// Its stdout is how it reports to the test that runs it.
#[allow(clippy::print_stdout)]
async fn mdns_helper_browse() {
    let Ok(name) = std::env::var("TONEARM_MDNS_NAME") else {
        return;
    };
    let mut rx = tonearm::connect::discovery::browse().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(ev) = rx.recv().await {
            match ev {
                LanEvent::Found(dev) if dev.name == name => println!(
                    "{MARK}{}",
                    json!({"found": {
                        "addr": dev.addr.to_string(), "cpath": dev.cpath,
                        "device_id": dev.device_id, "device_type": dev.device_type,
                        "active_user": dev.active_user,
                    }})
                ),
                LanEvent::Lost(n) if n == name => {
                    println!("{MARK}{}", json!({"lost": n}));
                    return;
                }
                _ => {}
            }
        }
    })
    .await;
}

#[test]
fn mdns_advertisement_is_seen_by_an_independent_browser() {
    const ID: &str = "7e57ad7e57ad7e57ad7e57ad7e57ad7e57ad7e57";
    let py = python_with("zeroconf");
    if !require(
        py.is_some(),
        "python3-zeroconf",
        "the independent mDNS browser (scripts/setup.sh test installs it)",
    ) {
        return;
    }
    let Some(net) = NetnsPair::create() else {
        return;
    };
    let name = format!("tonearm mdns test {}", std::process::id());
    let (adv, started) = advertiser(&net, &name, ID);
    let out = net
        .b
        .command(py.unwrap())
        .args(["-c", PY_BROWSER, &name, "20"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(line) = text.lines().rev().find(|l| l.starts_with('{')) else {
        panic!(
            "the browser printed nothing: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let v: Value = serde_json::from_str(line).unwrap();
    let found = &v["found"];
    assert!(found.is_object(), "our service was not seen: {v}");
    assert_eq!(found["port"], started["port"]);
    assert_eq!(found["addresses"], json!([net.a.addr().to_string()]));
    assert_eq!(found["txt"]["VERSION"], "1.0");
    assert_eq!(found["txt"]["CPath"], "/");
    assert_eq!(found["txt"]["Stack"], "SP");
    let (ok, stdout, stderr) = adv.finish();
    assert!(ok, "advertiser:\n{stdout}\n{stderr}");
    assert!(stdout.contains("\"stopped\":true"), "{stdout}");
}

#[test]
fn browse_finds_our_own_advertisement() {
    const ID: &str = "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2";
    let Some(net) = NetnsPair::create() else {
        return;
    };
    let name = format!("tonearm browse test {}", std::process::id());
    let mut browse = net.b.rerun("zeroconf::mdns_helper_browse");
    browse.env("TONEARM_MDNS_NAME", &name);
    let mut browser = Running::spawn(browse);
    let (mut adv, started) = advertiser(&net, &name, ID);
    let line = browser.line_within(Duration::from_secs(60), |l| {
        l.contains(MARK) && l.contains("\"found\"")
    });
    let v = helper_json(&line);
    let dev = &v["found"];
    assert_eq!(
        dev["addr"],
        format!("{}:{}", net.a.addr(), started["port"]),
        "{v}"
    );
    assert_eq!(dev["cpath"], "/");
    assert_eq!(dev["device_id"], ID);
    assert_eq!(dev["device_type"], "Speaker");
    assert_eq!(dev["active_user"], "carol");
    // Shutting down sends a goodbye: browse reports the device lost.
    adv.close_stdin();
    browser.line_within(Duration::from_secs(60), |l| {
        l.contains(MARK) && l.contains("\"lost\"")
    });
    let (ok, stdout, stderr) = adv.finish();
    assert!(ok, "advertiser:\n{stdout}\n{stderr}");
    let (ok, stdout, stderr) = browser.finish();
    assert!(ok, "browser:\n{stdout}\n{stderr}");
}

/// A `MakeWriter` collecting log output in memory.
#[derive(Clone, Default)]
struct LogBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuf {
    type Writer = LogBuf;
    fn make_writer(&'a self) -> LogBuf {
        self.clone()
    }
}

/// Logs of accepted and refused logins name no secret: not the blob, not the inner blob, not
/// the credentials. Also: a form whose base64 `+` arrived unescaped (a space after form
/// decoding) is still accepted, as lenient receivers do.
#[tokio::test(flavor = "current_thread")]
async fn logs_carry_no_secrets_and_unescaped_plus_is_tolerated() {
    let logs = LogBuf::default();
    let subscriber = tracing_subscriber::layer::SubscriberExt::with(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(logs.clone())
            .with_ansi(false)
            .finish(),
        tracing_subscriber::filter::Targets::new().with_target("tonearm", tracing::Level::TRACE),
    );
    // Thread-local, and this runtime runs every task (the server too) on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);
    let (d, mut rx) = Discovery::start(local_cfg("Quiet")).await.unwrap();
    let addr = d.local_addr();
    let http = http();
    let info = get_info(&http, addr, Some("2.7.1")).await;
    let secret: Vec<u8> = b"very-secret-stored-credential-bytes+/+/".to_vec();
    let creds = Credentials::stored("quiet-user", secret.clone());
    // Find a blob with a '+' in it so the unescaped case is really exercised.
    let (blob, client_key, inner) = loop {
        let inner = tonearm_sim::phone::encode_inner_blob(
            "quiet-user",
            1,
            &secret,
            info["deviceID"].as_str().unwrap(),
        )
        .unwrap();
        let key = B64.decode(info["publicKey"].as_str().unwrap()).unwrap();
        let (b, k) = tonearm_sim::phone::encode_outer_blob(&inner, &key).unwrap();
        if b.contains('+') {
            break (b, k, inner);
        }
    };
    let body = format!(
        "action=addUser&userName=quiet-user&blob={blob}&clientKey={}",
        client_key.replace('+', "%2B")
    );
    let r = http
        .post(format!("http://{addr}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let json: Value = r.json().await.unwrap();
    assert_eq!(json["status"], 101, "{json}");
    assert_eq!(next_login(&mut rx).await.credentials, creds);
    // A refused one (wrong MAC) and a malformed inner blob.
    let mut raw = B64.decode(&blob).unwrap();
    *raw.last_mut().unwrap() ^= 1;
    let (st, _) = post(
        &http,
        addr,
        &[
            ("action", "addUser"),
            ("userName", "quiet-user"),
            ("blob", &B64.encode(raw)),
            ("clientKey", &client_key),
        ],
    )
    .await;
    assert_eq!(st, 200);
    d.shutdown().await;
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("zeroconf: login handed over"), "{text}");
    assert!(text.contains("user=quiet-user"), "{text}");
    assert!(text.contains("checksum mismatch"), "{text}");
    for needle in [
        blob.as_str(),
        &blob[..24],
        inner.as_str(),
        &inner[..24],
        "very-secret",
        &hex::encode(&secret)[..24],
        &B64.encode(&secret)[..24],
    ] {
        assert!(!text.contains(needle), "secret material in logs: {needle}");
    }
}

/// Slow clients filling every connection slot (from many addresses, so the per-address cap
/// does not stop them first) are cut off at the deadlines, and the endpoint answers again
/// afterwards (no permanent starvation, no leaked slots).
#[tokio::test]
async fn slow_clients_filling_every_slot_are_cut_off_and_service_resumes() {
    use tonearm::connect::discovery::MAX_CONNECTIONS;
    use tonearm_testkit::lan::{connect_from, loopback_host};
    let (d, _rx) = Discovery::start(local_cfg("Slowloris")).await.unwrap();
    let addr = d.local_addr();
    let mut slow = Vec::new();
    for n in 0..MAX_CONNECTIONS + 8 {
        let from = loopback_host(10, 1 + n as u16 / 2);
        let mut s = connect_from(from, addr).await.unwrap();
        s.write_all(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\naction=")
            .await
            .unwrap();
        slow.push(s);
    }
    // Waits in the backlog until the deadline frees the slots, then answers.
    let info = within(90, get_info(&http(), addr, Some("2.7.1"))).await;
    assert_eq!(info["deviceID"], RECEIVER_ID);
    // The slow connections got an answer (408) or were closed; none is served forever.
    for mut s in slow {
        let mut buf = Vec::new();
        let _ = within(90, s.read_to_end(&mut buf)).await;
        let text = String::from_utf8_lossy(&buf);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408"),
            "{text}"
        );
    }
    // And slots are free again: a burst is answered promptly.
    for _ in 0..MAX_CONNECTIONS * 2 {
        assert_eq!(
            get_info(&http(), addr, Some("2.7.1")).await["deviceID"],
            RECEIVER_ID
        );
    }
    d.shutdown().await;
}
