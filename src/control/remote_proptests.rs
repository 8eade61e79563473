//! Property test for the remote path's numbers: every numeric field a Connect peer controls
//! (`seek_to`'s value, relative or not; `play`'s `seek_to` and `skip_to.track_index`; the
//! transfer/load position) goes through parsing (`connect::command`), the core ([`super`]) and a
//! real [`Player`] without a panic or an overflow, and the player ends up inside the track.
//!
//! Test-only (declared by `control.rs`); drives the player's synthetic testkit, never the network.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;

use super::*;
use crate::connect::command::{parse_command, seek_target, PlayerCommand};
use crate::player::tests::testkit::{config, id, Harness, Pace, TrackSpec};

/// 10 s per track: long enough that nothing ends while the (paused) test runs.
const TRACK_FRAMES: u64 = 10 * 44_100;
const TRACK_MS: u64 = 10_000;

/// Numbers a hostile or buggy peer may send: the edges, and anything.
fn numeric() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(i64::MAX),
        Just(i64::MIN),
        Just(i64::MAX - 1),
        Just(-1),
        Just(0),
        0i64..=20_000,
        any::<i64>(),
    ]
}

/// The same `seek_to` through the JSON a dealer delivers: parsed, then turned into the
/// remote command the Connect service sends on (`seek_target`).
fn seek_command(value: i64, relative: bool, now_ms: u64) -> RemoteCommand {
    let mut cmd = json!({"endpoint": "seek_to", "value": value});
    if relative {
        cmd["relative"] = json!("current");
    }
    match parse_command(&json!({ "command": cmd })).map(|r| r.command) {
        Ok(PlayerCommand::SeekTo { value, relative }) => {
            RemoteCommand::SeekTo(seek_target(value, relative, now_ms))
        }
        other => panic!("seek_to parsed as {other:?}"),
    }
}

/// A `play` with the given numeric options, parsed; the load it stands for (as
/// `command::play_to_load` builds it, over a two-track context).
fn play_command(seek: i64, index: i64) -> RemoteCommand {
    let v = json!({"command": {
        "endpoint": "play",
        "context": {"uri": "spotify:album:x", "pages": []},
        "options": {"seek_to": seek, "skip_to": {"track_index": index}, "initially_paused": true},
    }});
    match parse_command(&v).map(|r| r.command) {
        Ok(PlayerCommand::Play { options, .. }) => RemoteCommand::Load {
            context_uri: "spotify:album:x".into(),
            ids: vec![id(1), id(2)],
            index: options.skip_to_index.filter(|&i| i < 2).unwrap_or(0),
            position_ms: options.seek_to.unwrap_or(0),
            play: false,
            shuffle: None,
            repeat_context: None,
            repeat_track: None,
        },
        other => panic!("play parsed as {other:?}"),
    }
}

#[test]
fn every_remote_numeric_field_is_clamped_without_overflow() {
    // Plain arithmetic first: the conversions themselves saturate.
    use crate::audio::pcm::{frames_to_ms, ms_to_frames};
    assert_eq!(ms_to_frames(u64::MAX), u64::MAX);
    assert_eq!(
        frames_to_ms(u64::MAX),
        (u128::from(u64::MAX) * 1000 / 44_100) as u64
    );
    assert_eq!(seek_target(i64::MAX, true, u64::MAX), i64::MAX as u64);
    assert_eq!(seek_target(i64::MIN, false, 0), 0);
    assert_eq!(seek_target(-5, true, 3), 0);

    let specs = [
        (1, TrackSpec::frames(TRACK_FRAMES)),
        (2, TrackSpec::frames(TRACK_FRAMES)),
    ];
    let mut h = Harness::new(Pace::Clocked(Some(8192)), config(), &specs);
    apply_remote(&h.player, &play_command(0, 0));
    h.wait_status("the first track loaded", |s| {
        s.track.as_ref().is_some_and(|t| t.duration_ms == TRACK_MS)
    });

    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    // `run` takes a `Fn`: the harness and the marker are borrowed through cells.
    let harness = std::cell::RefCell::new(h);
    let marker = std::cell::Cell::new(0u16);
    let strategy = (numeric(), any::<bool>(), any::<u64>(), numeric(), numeric());
    let result = runner.run(&strategy, |(seek, relative, now_ms, play_seek, index)| {
        let mut h = harness.borrow_mut();
        for cmd in [
            seek_command(seek, relative, now_ms),
            play_command(play_seek, index),
            seek_command(seek, relative, now_ms),
        ] {
            // The core's own clamp, before the player sees it.
            let now = Now::of(Some(&h.player.status().borrow()), Instant::now());
            for op in ops_for_remote(&cmd, &now) {
                match op {
                    PlayerOp::Seek(ms)
                    | PlayerOp::Load {
                        position_ms: ms, ..
                    } => {
                        prop_assert!(ms <= MAX_POSITION_MS, "{cmd:?} → {ms}");
                    }
                    _ => {}
                }
            }
            apply_remote(&h.player, &cmd);
            // A volume change after it is a marker: once the status shows it, the player has
            // taken the command.
            let m = marker.get().wrapping_add(1);
            marker.set(m);
            h.player.apply(PlayerOp::SetVolume(m));
            // (While a load is in flight the length is unknown and only a day bounds the
            // position; once the track is there, the track does.)
            let s = h.wait_status("the marker, loaded", |s| {
                s.volume == m && !s.buffering && s.track.is_some()
            });
            prop_assert!(
                s.position_ms <= TRACK_MS,
                "{cmd:?} left the player at {} ms of {TRACK_MS}",
                s.position_ms
            );
        }
        Ok(())
    });
    harness.into_inner().shutdown();
    if let Err(e) = result {
        panic!("{e}");
    }
}
