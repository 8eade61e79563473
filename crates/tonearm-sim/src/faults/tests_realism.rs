//! Tests of the places where the simulator now behaves like Spotify (issue 11 item 8), over
//! real sockets on 127.0.0.1: the scripted phone starts playback on an idle device and
//! extrapolates the position it shows.

use std::time::Duration;

use librespot_protocol::devices::DeviceType;
use librespot_protocol::player::{PlayerState, ProvidedTrack};
use protobuf::MessageField;

use super::super::remote::{position_now, Phone, PhoneConfig, PhoneError, PhoneEvent};
use super::super::{SimConfig, Simulator};
use super::test_client::WAIT;

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
