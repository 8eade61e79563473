//! The player with the real loader against the simulator: WAV output is sample-exact, two
//! tracks join gaplessly, a refused key is skipped, pause/resume loses nothing, seeks land
//! within 20 ms.

use std::sync::Arc;
use std::time::Duration;

use tonearm::api::metadata::Bitrate;
use tonearm::audio::sink::{f32_to_i16, SinkSpec};
use tonearm::player::{Player, PlayerConfig, PlayerEvent};
use tonearm_sim::SimConfig;

use crate::audio::{id_of, loader, reference_pcm};
use tonearm_testkit::{player_errors, recv_until, Tape};

use crate::common::sim_with;

fn config() -> PlayerConfig {
    PlayerConfig {
        initial_volume: u16::MAX,
        ..PlayerConfig::default()
    }
}

fn read_wav_i16(path: &std::path::Path) -> Vec<i16> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[0..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WAVE");
    let data_at = bytes.windows(4).position(|w| w == b"data").unwrap();
    let len = u32::from_le_bytes(bytes[data_at + 4..data_at + 8].try_into().unwrap()) as usize;
    bytes[data_at + 8..data_at + 8 + len]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

#[tokio::test]
async fn wav_output_is_the_decoded_source_and_tracks_join_gaplessly() {
    let s = sim_with(SimConfig::default()).await;
    let l = loader(&s, Bitrate::B160).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.wav");
    let spec = SinkSpec::Wav(path.display().to_string());
    let (player, mut events) = Player::spawn(
        Arc::new(l),
        tonearm::audio::output::factory(spec),
        config(),
        tokio::runtime::Handle::current(),
    );
    let t0 = s.info().demo_tracks[0].uri.clone();
    let t1 = s.info().demo_tracks[1].uri.clone();
    player.load(vec![id_of(&t0), id_of(&t1)], 0, 0, true);
    let seen = recv_until(&mut events, 60, |e| matches!(e, PlayerEvent::EndOfQueue)).await;
    let changed = seen
        .iter()
        .filter(|e| matches!(e, PlayerEvent::TrackChanged(_)))
        .count();
    assert_eq!(changed, 2, "{seen:?}");
    assert!(
        !seen.iter().any(|e| matches!(e, PlayerEvent::Error { .. })),
        "{seen:?}"
    );
    player.shutdown().await;
    let got = read_wav_i16(&path);
    let mut want: Vec<i16> = reference_pcm(&s, &t0, 1)
        .into_iter()
        .map(f32_to_i16)
        .collect();
    let first_len = want.len();
    want.extend(reference_pcm(&s, &t1, 1).into_iter().map(f32_to_i16));
    assert_eq!(
        got.len(),
        want.len(),
        "no inserted silence, no dropped samples"
    );
    assert!(got[..first_len] == want[..first_len], "first track exact");
    assert!(got == want, "the joint and the second track exact");
}

#[tokio::test]
async fn refused_key_is_skipped_and_playback_goes_on() {
    let s = sim_with(SimConfig::default()).await;
    let l = loader(&s, Bitrate::B96).await;
    let (factory, out) = Tape::unpaced().factory();
    let (player, mut events) = Player::spawn(
        Arc::new(l),
        factory,
        config(),
        tokio::runtime::Handle::current(),
    );
    let good = s.info().demo_tracks[4].uri.clone();
    let bad = s.info().special_tracks.key_refused.clone();
    let restricted = s.info().special_tracks.restricted_in_se.clone();
    player.load(
        vec![id_of(&bad), id_of(&good), id_of(&restricted)],
        0,
        0,
        true,
    );
    let seen = recv_until(&mut events, 60, |e| matches!(e, PlayerEvent::EndOfQueue)).await;
    let errors = player_errors(&seen);
    assert_eq!(errors.len(), 2, "{seen:?}");
    assert!(errors.iter().all(|(_, skipped)| *skipped));
    assert!(errors[0].0.contains("decryption key"), "{errors:?}");
    assert!(errors[1].0.contains("country"), "{errors:?}");
    player.shutdown().await;
    assert!(out.lock().unwrap().samples == reference_pcm(&s, &good, 0));
}

#[tokio::test]
async fn pause_and_resume_lose_nothing() {
    let s = sim_with(SimConfig::default()).await;
    let l = loader(&s, Bitrate::B160).await;
    let (factory, out) = Tape::at_speed(20.0).factory();
    let (player, mut events) = Player::spawn(
        Arc::new(l),
        factory,
        config(),
        tokio::runtime::Handle::current(),
    );
    let uri = s.info().demo_tracks[6].uri.clone();
    player.load(vec![id_of(&uri)], 0, 0, true);
    recv_until(&mut events, 60, |e| {
        matches!(e, PlayerEvent::TrackChanged(_))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    player.pause();
    recv_until(&mut events, 60, |e| matches!(e, PlayerEvent::Paused { .. })).await;
    let during = out.lock().unwrap().samples.len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        out.lock().unwrap().samples.len(),
        during,
        "nothing written while paused"
    );
    player.play();
    recv_until(&mut events, 60, |e| matches!(e, PlayerEvent::EndOfQueue)).await;
    player.shutdown().await;
    assert!(out.lock().unwrap().samples == reference_pcm(&s, &uri, 1));
}

#[tokio::test]
async fn seeks_land_within_20_ms() {
    let s = sim_with(SimConfig::default()).await;
    let l = loader(&s, Bitrate::B160).await;
    let (factory, out) = Tape::at_speed(10.0).factory();
    let (player, mut events) = Player::spawn(
        Arc::new(l),
        factory,
        config(),
        tokio::runtime::Handle::current(),
    );
    let uri = s.info().demo_tracks[2].uri.clone();
    let reference = reference_pcm(&s, &uri, 1);
    // Start part-way through.
    player.load(vec![id_of(&uri)], 0, 4_000, true);
    recv_until(&mut events, 60, |e| {
        matches!(e, PlayerEvent::TrackChanged(_))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let first: Vec<f32> = out.lock().unwrap().samples[..4096].to_vec();
    let start: usize = 4_000 * 44_100 / 1000 * 2;
    let found = (start.saturating_sub(1764)..start + 1764)
        .step_by(2)
        .find(|&i| reference[i..i + 4096] == first[..])
        .expect("the first samples are the audio at 4 s ± 20 ms");
    assert!(found.abs_diff(start) <= 1764);
    player.seek(9_000);
    let seen = recv_until(&mut events, 60, |e| matches!(e, PlayerEvent::Seeked { .. })).await;
    let Some(PlayerEvent::Seeked { position_ms }) = seen.last() else {
        unreachable!()
    };
    assert!(position_ms.abs_diff(9_000) <= 20, "{position_ms}");
    recv_until(&mut events, 60, |e| matches!(e, PlayerEvent::EndOfQueue)).await;
    player.shutdown().await;
}
