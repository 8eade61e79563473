//! Tests of the places where the simulator now behaves like Spotify (issue 11 items 8, 9 and
//! the keyless account of item 4), over real sockets on 127.0.0.1: the scripted phone starts
//! playback on an idle device and extrapolates the position it shows; connect-state answers a
//! PUT loop with 429 and a penalty; the dealer answers a Close frame; Mercury keymaster tokens
//! answer 403; the `keyless` account is refused every audio key.

use std::time::Duration;

use futures_util::SinkExt;
use librespot_protocol::connect::PutStateReason;
use librespot_protocol::devices::DeviceType;
use librespot_protocol::player::{PlayerState, ProvidedTrack};
use protobuf::MessageField;
use reqwest::StatusCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as Ws;

use super::client::{client_token, login5_stored, put_state, Ap, Dealer, Login5, USER_PASS, WAIT};
use crate::remote::{position_now, Phone, PhoneConfig, PhoneError, PhoneEvent};
use crate::{PutLimit, SimConfig, Simulator};

async fn start() -> Simulator {
    Simulator::start(SimConfig {
        first_ping_after: Duration::from_secs(30),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn unix_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// A scripted stand-in speaker named `name` on alice's account.
async fn speaker(base: &str, name: &str) -> Phone {
    let mut cfg = PhoneConfig::new(base, "alice", "alice-pass");
    cfg.device_name = name.to_owned();
    cfg.device_type = DeviceType::SPEAKER;
    cfg.receiver = true;
    Phone::connect(cfg).await.unwrap()
}

async fn next_command(p: &mut Phone) -> serde_json::Value {
    match p.next_event(WAIT).await {
        Some(PhoneEvent::Command(c)) => c,
        other => panic!("expected a command, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Item 8: the phone on an idle account

#[tokio::test]
async fn the_phone_starts_playback_on_an_idle_device() {
    let sim = start().await;
    let base = sim.info().spclient.clone();
    let album = sim.info().demo_album.clone();
    let mut kitchen = speaker(&base, "Kitchen").await;
    let mut phone = Phone::connect(PhoneConfig::new(&base, "alice", "alice-pass"))
        .await
        .unwrap();
    // Nothing has ever played on the account.
    assert!(phone.status().await.unwrap()["active_device_id"].is_null());
    assert!(matches!(
        phone.play(None, &album, None, None).await,
        Err(PhoneError::NoActiveDevice)
    ));
    assert!(matches!(
        phone.play(Some("Attic"), &album, None, None).await,
        Err(PhoneError::NoDevice(_))
    ));

    // Pick the speaker, press play: the Web API starts it.
    let answer = phone
        .play(Some("kitchen"), &album, Some(2), Some(1500))
        .await
        .unwrap();
    assert_eq!(answer["device_id"], kitchen.device_id());
    assert_eq!(answer["started"], true);
    let cmd = next_command(&mut kitchen).await;
    assert_eq!(cmd["sent_by_device_id"], "sim-web-api");
    let c = &cmd["command"];
    assert_eq!(c["endpoint"], "play");
    assert_eq!(c["context"]["uri"], album.as_str());
    assert_eq!(c["options"]["skip_to"]["track_index"], 2);
    assert_eq!(c["options"]["seek_to"], 1500);
    assert!(c["logging_params"].is_object());
    let id = kitchen.device_id().to_owned();
    phone
        .wait_for(WAIT, |c| c.active_device_id == id)
        .await
        .unwrap();

    // Now something is active: play without a target is a connect-state command to it.
    let answer = phone.play(None, &album, Some(0), None).await.unwrap();
    assert!(answer["ack_id"].is_string(), "{answer}");
    let cmd = next_command(&mut kitchen).await;
    assert_eq!(cmd["sent_by_device_id"], phone.device_id());
    assert_eq!(cmd["command"]["endpoint"], "play");
}

fn playing(sim: &Simulator, position: i64, age_ms: i64, paused: bool) -> PlayerState {
    let info = sim.info();
    let mut ps = PlayerState::new();
    ps.timestamp = unix_ms() - age_ms;
    ps.context_uri = info.demo_album.clone();
    ps.is_playing = true;
    ps.is_paused = paused;
    ps.is_buffering = paused;
    ps.playback_speed = if paused { 0.0 } else { 1.0 };
    ps.position_as_of_timestamp = position;
    ps.duration = 30_000;
    let mut t = ProvidedTrack::new();
    t.uri = info.demo_tracks[1].uri.clone();
    ps.track = MessageField::some(t);
    ps
}

#[tokio::test]
async fn phone_status_extrapolates_the_position_like_a_phone_screen() {
    let sim = start().await;
    let base = sim.info().spclient.clone();
    let kitchen = speaker(&base, "Kitchen").await;
    let phone = Phone::connect(PhoneConfig::new(&base, "alice", "alice-pass"))
        .await
        .unwrap();
    let position = |v: &serde_json::Value| v["position_ms"].as_i64().unwrap();

    // Reported 4 s ago at 1 s, playing: the phone shows about 5 s.
    kitchen
        .put_player_state(playing(&sim, 1000, 4000, false), true)
        .await
        .unwrap();
    let st = phone.status().await.unwrap();
    assert_eq!(st["is_playing"], true);
    assert_eq!(st["duration_ms"], 30_000);
    let first = position(&st);
    assert!((5000..6500).contains(&first), "{first}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = position(&phone.status().await.unwrap());
    assert!(later >= first + 250, "{first} → {later}");

    // Paused: exactly what was reported.
    kitchen
        .put_player_state(playing(&sim, 1000, 4000, true), true)
        .await
        .unwrap();
    assert_eq!(position(&phone.status().await.unwrap()), 1000);

    // Near the end: never past the duration.
    kitchen
        .put_player_state(playing(&sim, 29_000, 5000, false), true)
        .await
        .unwrap();
    assert_eq!(position(&phone.status().await.unwrap()), 30_000);
}

#[test]
fn position_extrapolation_saturates_and_clamps() {
    let mut ps = PlayerState::new();
    ps.is_playing = true;
    ps.timestamp = 1;
    ps.position_as_of_timestamp = i64::MAX - 5;
    assert_eq!(position_now(&ps, i64::MAX), i64::MAX, "no overflow");
    ps.duration = 10_000;
    assert_eq!(position_now(&ps, i64::MAX), 10_000);
    ps.position_as_of_timestamp = -50;
    ps.timestamp = 1000;
    assert_eq!(position_now(&ps, 1010), 0, "never negative");
    // A timestamp in the future (a fast device clock) does not move the position back.
    ps.position_as_of_timestamp = 500;
    assert_eq!(position_now(&ps, 900), 500);
    // Double speed.
    ps.playback_speed = 2.0;
    assert_eq!(position_now(&ps, 2000), 2500);
    // Buffering (loading) does not advance.
    ps.is_buffering = true;
    assert_eq!(position_now(&ps, 2000), 500);
}

// ---------------------------------------------------------------------------------------------
// Item 9: three places where the simulator was kinder than Spotify

#[tokio::test]
async fn connect_state_answers_a_put_loop_with_429_and_penalises_the_account() {
    let sim = start().await;
    let http = reqwest::Client::new();
    let base = sim.info().spclient.clone();
    let alice = sim.issue_login5_token("alice").unwrap();
    let d = Dealer::open(&sim.info().dealer, &alice).await;
    let mut refused = None;
    for i in 0..300 {
        let r = put_state(
            &http,
            &base,
            &alice,
            &d.conn_id,
            "looper",
            PutStateReason::PLAYER_STATE_CHANGED,
        )
        .await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            let v: serde_json::Value = r.json().await.unwrap();
            assert_eq!(v["error"]["status"], 429);
            refused = Some((i, retry));
            break;
        }
        assert_eq!(r.status(), StatusCode::OK, "PUT {i}");
    }
    let (at, retry) = refused.expect("a PUT loop gets 429");
    // The first PUT over the connection is free, then `device_puts` in the window.
    assert_eq!(at, PutLimit::default().device_puts as usize + 1);
    assert!((1..=30).contains(&retry), "{retry}");
    // The account is penalised: another device of it is refused too…
    let r = put_state(
        &http,
        &base,
        &alice,
        &d.conn_id,
        "kitchen",
        PutStateReason::NEW_DEVICE,
    )
    .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // …other accounts are not.
    let demo = sim.issue_login5_token("tonearm-demo").unwrap();
    let d2 = Dealer::open(&sim.info().dealer, &demo).await;
    let r = put_state(
        &http,
        &base,
        &demo,
        &d2.conn_id,
        "desk",
        PutStateReason::NEW_DEVICE,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let st = sim.stats();
    assert_eq!(st.connect_state_puts_limited, 2);
    assert_eq!(st.connect_state_puts, at as u64 + 3);
    // The limit can be lifted (tests that need a looping client).
    sim.set_put_limit(None);
    let r = put_state(
        &http,
        &base,
        &alice,
        &d.conn_id,
        "kitchen",
        PutStateReason::NEW_DEVICE,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_device_answering_a_command_flood_with_puts_is_not_limited() {
    let sim = start().await;
    let base = sim.info().spclient.clone();
    let mut kitchen = speaker(&base, "Kitchen").await;
    let phone = Phone::connect(PhoneConfig::new(&base, "alice", "alice-pass"))
        .await
        .unwrap();
    // Far more commands than the plain limit, each answered with two state PUTs (buffering,
    // then playing), as fast as the round trips allow.
    let commands = PutLimit::default().device_puts + 20;
    for i in 0..commands {
        let sent = phone.pause(Some("Kitchen"));
        let (answer, event) = tokio::join!(sent, kitchen.next_event(WAIT));
        answer.unwrap_or_else(|e| panic!("command {i}: {e}"));
        assert!(matches!(event, Some(PhoneEvent::Command(_))), "{i}");
        for paused in [true, false] {
            kitchen
                .put_player_state(playing(&sim, 1000, 0, paused), true)
                .await
                .unwrap_or_else(|e| panic!("PUT after command {i}: {e}"));
        }
    }
    assert_eq!(sim.stats().connect_state_puts_limited, 0);
}

#[tokio::test]
async fn the_dealer_answers_a_close_frame_before_closing() {
    let sim = start().await;
    let token = sim.issue_login5_token("alice").unwrap();
    for (code, reason) in [(1000u16, "bye"), (4000, "client restarts")] {
        let mut d = Dealer::open(&sim.info().dealer, &token).await;
        d.ws.send(Ws::Close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        })))
        .await
        .unwrap();
        // RFC 6455 §5.5.1: the server echoes the status code before the TCP connection goes.
        assert_eq!(
            d.close_frame_within(WAIT).await,
            Some((code, reason.to_owned()))
        );
    }
}

#[tokio::test]
async fn mercury_keymaster_tokens_answer_403() {
    let sim = start().await;
    let mut ap = Ap::connect(&sim.info().access_points[0]).await;
    ap.login("alice", USER_PASS, b"alice-pass").await.unwrap();
    let header = ap
        .mercury_get(
            1,
            "hm://keymaster/token/authenticated?scope=playlist-read&client_id=\
             65b708073fc0480ea92a077233ca87bd&device_id=0123456789abcdef",
        )
        .await;
    assert_eq!(header.status_code(), 403);
    // Other unknown resources are still 404.
    assert_eq!(
        ap.mercury_get(2, "hm://nothing/here").await.status_code(),
        404
    );
}

// ---------------------------------------------------------------------------------------------
// Item 4: the account whose audio keys are always refused

#[tokio::test]
async fn the_keyless_account_is_refused_every_audio_key() {
    let sim = start().await;
    let account = sim
        .info()
        .accounts
        .iter()
        .find(|a| a.username == "keyless")
        .cloned()
        .unwrap();
    assert_eq!(account.product, "premium");
    let cat = sim.catalog();
    let track = &cat.tracks[cat.demo_tracks[0]];
    let (file, gid) = (track.files[1].file_id, track.gid);

    let mut ap = Ap::connect(&sim.info().access_points[0]).await;
    let stored = ap
        .login("keyless", USER_PASS, account.password.as_bytes())
        .await
        .unwrap();
    // Everything up to the key works: login5, storage-resolve…
    let http = reqwest::Client::new();
    let base = sim.info().spclient.clone();
    let ct = client_token(&http, &base).await.unwrap();
    let Login5::Ok(token) = login5_stored(&http, &base, &ct, "keyless", &stored).await else {
        panic!("login5 refused the keyless account");
    };
    let r = http
        .get(format!(
            "{base}/storage-resolve/files/audio/interactive/{}",
            hex::encode(file)
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // …but every audio key is refused with the AP's key-error packet (code 1).
    for (seq, t) in cat.demo_tracks.iter().take(3).enumerate() {
        let t = &cat.tracks[*t];
        let seq = u32::try_from(seq).unwrap();
        assert_eq!(ap.audio_key(t.files[1].file_id, t.gid, seq).await, Err(1));
    }
    // The same key for another account.
    let mut other = Ap::connect(&sim.info().access_points[1]).await;
    other
        .login("alice", USER_PASS, b"alice-pass")
        .await
        .unwrap();
    assert_eq!(other.audio_key(file, gid, 7).await.unwrap().len(), 16);
    let st = sim.stats();
    assert_eq!((st.audio_key_requests, st.audio_keys_refused), (4, 3));
}
