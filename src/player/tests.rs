//! Player tests on synthetic audio: every output frame says which track and which frame it is,
//! so gapless joints, pauses, seeks and skips are checked sample-exactly. Tests wait on events
//! (with generous timeouts) and drive a hand-advanced sink clock; none sleeps to let time pass.
//!
//! The synthetic pieces live in `tests/testkit.rs` (also used by the app's one-core flow test).

pub(crate) mod testkit;
mod transient;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::loader::{LoadErrorKind, NormalisationData};
use super::*;
use crate::audio::pcm::{frames_to_ms, ms_to_frames, SAMPLE_RATE};
use crate::audio::sink::SinkError;
use testkit::*;

const SEC: u64 = SAMPLE_RATE as u64;

fn track_changed(n: u128) -> impl Fn(&PlayerEvent) -> bool {
    move |e| matches!(e, PlayerEvent::TrackChanged(i) if i.id == id(n))
}

fn is_end_of_queue(e: &PlayerEvent) -> bool {
    matches!(e, PlayerEvent::EndOfQueue)
}

fn is_playing(e: &PlayerEvent) -> bool {
    matches!(e, PlayerEvent::Playing { .. })
}

fn is_stopped(e: &PlayerEvent) -> bool {
    matches!(e, PlayerEvent::Stopped)
}

fn count(log: &[PlayerEvent], pred: impl Fn(&PlayerEvent) -> bool) -> usize {
    log.iter().filter(|e| pred(e)).count()
}

/// Asserts `got` is exactly the concatenation of `parts` (track, frame range).
fn assert_stream(got: &[(u128, u64)], parts: &[(u128, std::ops::Range<u64>)]) {
    let mut want = Vec::new();
    for (t, r) in parts {
        want.extend(expected(*t, r.clone()));
    }
    if got != want.as_slice() {
        let first_diff = got
            .iter()
            .zip(&want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        panic!(
            "output differs at frame {first_diff}: got {:?}, want {:?} (lengths {} / {})",
            got.get(first_diff..(first_diff + 4).min(got.len())),
            want.get(first_diff..(first_diff + 4).min(want.len())),
            got.len(),
            want.len()
        );
    }
}

fn tracks(specs: &[(u128, u64)]) -> Vec<(u128, TrackSpec)> {
    specs
        .iter()
        .map(|&(n, frames)| (n, TrackSpec::frames(frames)))
        .collect()
}

// ----- gapless -------------------------------------------------------------------------------

#[test]
fn gapless_two_tracks_join_without_gap_or_overlap() {
    let (a, b) = (3 * SEC + 123, 2 * SEC + 7);
    let mut h = Harness::new(
        Pace::Clocked(Some(4096)),
        config(),
        &tracks(&[(1, a), (2, b)]),
    );
    h.player.load(vec![id(1), id(2)], 0, 0, true);
    h.wait_for("track 1", track_changed(1));
    // The next track is preloaded right away (it is shorter than `preload_ahead`); the engine
    // can't reach the end of track 1 before the test plays it out, so it is ready in time.
    h.wait_queued(4096 - 1023);
    let deadline = std::time::Instant::now() + TIMEOUT;
    while !h.loader.calls().iter().any(|c| c.id == id(2)) {
        assert!(
            std::time::Instant::now() < deadline,
            "track 2 never preloaded"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let log = h.wait_for("end of queue", is_end_of_queue);
    assert_stream(&h.sink.frames(), &[(1, 0..a), (2, 0..b)]);
    assert_eq!(
        count(&h.log, |e| matches!(e, PlayerEvent::Buffering)),
        0,
        "{log:?}"
    );
    // Each track loaded once; no extra writes of silence.
    let calls: Vec<_> = h.loader.calls().iter().map(|c| c.id).collect();
    assert_eq!(calls, vec![id(1), id(2)]);
    let order: Vec<String> = h
        .log
        .iter()
        .filter_map(|e| match e {
            PlayerEvent::TrackChanged(i) => Some(format!("track {}", i.id.0)),
            PlayerEvent::EndOfTrack(i) => Some(format!("end {}", i.0)),
            PlayerEvent::EndOfQueue => Some("eoq".into()),
            _ => None,
        })
        .collect();
    assert_eq!(
        order,
        ["track 1", "end 1", "track 2", "end 2", "eoq"],
        "{:?}",
        h.log
    );
    h.wait_for("stopped", is_stopped);
    let status = h.player.status().borrow().clone();
    assert_eq!(status.state, PlayState::Stopped);
    assert_eq!(h.player.queue().borrow().current, None);
    h.shutdown();
}

#[test]
fn track_changed_is_emitted_when_playback_crosses_the_joint() {
    let (a, b) = (20_000, 20_000);
    let cap = 4096;
    let mut h = Harness::new(
        Pace::Clocked(Some(cap)),
        config(),
        &tracks(&[(1, a), (2, b)]),
    );
    h.player.load(vec![id(1), id(2)], 0, 0, true);
    h.wait_still("track 1", track_changed(1));
    // Lockstep: advance one step, then let the engine refill the sink (or finish writing)
    // before looking at the events. Played frames only move when the test advances them.
    let total = a + b;
    let mut seen_at = None;
    let deadline = std::time::Instant::now() + TIMEOUT;
    while seen_at.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "no TrackChanged(2): {:?}",
            h.log
        );
        h.sink.advance(h.step);
        loop {
            let (queued, written) = {
                let s = h.sink.lock();
                (s.queued.len() / 2, s.written)
            };
            if queued > cap - 1024 || written == total {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "engine stalled");
            std::thread::yield_now();
        }
        let played = h.sink.played();
        while let Ok(ev) = h.events.try_recv() {
            if track_changed(2)(&ev) {
                seen_at = Some(played);
            }
            h.log.push(ev);
        }
        // The status switches to track 2 (just before the event), never before the joint.
        let heard = h.player.status().borrow().track.as_ref().map(|t| t.id);
        if heard == Some(id(2)) {
            assert!(h.sink.played() >= a);
        } else {
            assert_eq!(heard, Some(id(1)));
        }
    }
    let at = seen_at.unwrap_or(0);
    assert!(
        at >= a,
        "TrackChanged(2) before the joint was heard ({at} < {a})"
    );
    assert!(
        at < a + 2 * h.step as u64,
        "TrackChanged(2) late: at {at}, joint {a}"
    );
    let ends: Vec<_> = h
        .log
        .iter()
        .filter(|e| matches!(e, PlayerEvent::EndOfTrack(_) | PlayerEvent::TrackChanged(_)))
        .cloned()
        .collect();
    assert!(
        matches!(ends.as_slice(), [PlayerEvent::TrackChanged(_), PlayerEvent::EndOfTrack(x), PlayerEvent::TrackChanged(_)] if *x == id(1))
    );
    h.wait_status("track 2 in status", |s| {
        s.track.as_ref().is_some_and(|t| t.id == id(2))
    });
    h.wait_for("end of queue", is_end_of_queue);
    assert_stream(&h.sink.frames(), &[(1, 0..a), (2, 0..b)]);
    h.shutdown();
}

#[test]
fn next_not_ready_emits_buffering_then_continues() {
    let gate = Arc::new(Notify::new());
    let mut slow = TrackSpec::frames(30_000);
    slow.gate = Some(Arc::clone(&gate));
    let mut h = Harness::new(
        Pace::Unpaced,
        config(),
        &[(1, TrackSpec::frames(25_000)), (2, slow)],
    );
    h.player.load(vec![id(1), id(2)], 0, 0, true);
    h.wait_for("buffering", |e| matches!(e, PlayerEvent::Buffering));
    h.wait_for(
        "end of track 1",
        |e| matches!(e, PlayerEvent::EndOfTrack(x) if *x == id(1)),
    );
    let s = h.wait_status("loading", |s| s.state == PlayState::Loading);
    assert!(s.buffering);
    assert_eq!(h.player.queue().borrow().current, Some(1));
    gate.notify_one();
    h.wait_for("track 2", track_changed(2));
    h.wait_for("playing", is_playing);
    h.wait_for("end of queue", is_end_of_queue);
    assert_stream(&h.sink.frames(), &[(1, 0..25_000), (2, 0..30_000)]);
    h.shutdown();
}

#[test]
fn preload_starts_preload_ahead_before_the_end() {
    let (a, b) = (4 * SEC, SEC);
    let mut cfg = config();
    cfg.preload_ahead = Duration::from_secs(1);
    let mut h = Harness::new(Pace::Clocked(Some(4096)), cfg, &tracks(&[(1, a), (2, b)]));
    h.player.load(vec![id(1), id(2)], 0, 0, true);
    h.wait_for("end of queue", is_end_of_queue);
    let calls = h.loader.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].id, id(2));
    // Decoding had reached 3 s (4 s − 1 s) when track 2 was asked for.
    assert!(
        calls[1].sink_written >= 3 * SEC,
        "preloaded too early: {calls:?}"
    );
    assert_stream(&h.sink.frames(), &[(1, 0..a), (2, 0..b)]);
    h.shutdown();
}

#[test]
fn without_gapless_the_next_track_loads_after_the_current_played_out() {
    let mut cfg = config();
    cfg.gapless = false;
    let mut h = Harness::new(Pace::Unpaced, cfg, &tracks(&[(1, 30_000), (2, 20_000)]));
    h.player.load(vec![id(1), id(2)], 0, 0, true);
    h.wait_for("end of queue", is_end_of_queue);
    let calls = h.loader.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].sink_written, 30_000);
    assert_stream(&h.sink.frames(), &[(1, 0..30_000), (2, 0..20_000)]);
    h.shutdown();
}

// ----- pause, seek, position ----------------------------------------------------------------

#[test]
fn pause_and_resume_lose_and_repeat_nothing() {
    let a = 100_000;
    let cap = 4096;
    let mut h = Harness::new(Pace::Clocked(Some(cap)), config(), &tracks(&[(1, a)]));
    h.player.load(vec![id(1)], 0, 0, true);
    h.wait_for("playing", is_playing);
    h.play_until(30_000);
    // The engine is blocked in a full sink: the pause is taken when one step frees room.
    h.wait_queued(cap - 1023);
    h.player.pause();
    h.sink.advance(h.step);
    let evs = h.wait_still("paused", |e| matches!(e, PlayerEvent::Paused { .. }));
    let played = h.sink.played();
    let Some(PlayerEvent::Paused { position_ms }) = evs.last() else {
        panic!("{evs:?}")
    };
    assert_eq!(*position_ms, frames_to_ms(played));
    assert!(h.sink.lock().paused);
    let s = h.wait_status("paused", |s| s.state == PlayState::Paused);
    assert_eq!(s.position_ms, frames_to_ms(played));
    // While paused, the clock doesn't move and nothing more is written.
    let written = h.sink.lock().written;
    for _ in 0..20 {
        h.sink.advance(h.step);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(h.sink.played(), played);
    assert_eq!(h.sink.lock().written, written);
    h.player.play();
    let evs = h.wait_for("playing", is_playing);
    let Some(PlayerEvent::Playing { position_ms }) = evs.last() else {
        panic!("{evs:?}")
    };
    assert!(*position_ms >= frames_to_ms(played));
    // Toggle pauses and resumes too.
    h.player.toggle();
    h.wait_for("paused", |e| matches!(e, PlayerEvent::Paused { .. }));
    h.player.toggle();
    h.wait_for("playing", is_playing);
    h.wait_for("end of queue", is_end_of_queue);
    assert_stream(&h.sink.frames(), &[(1, 0..a)]);
    h.shutdown();
}

#[test]
fn seek_lands_within_20_ms_and_continues_from_there() {
    let a = 10 * SEC;
    let mut h = Harness::new(Pace::Clocked(None), config(), &tracks(&[(1, a)]));
    h.player.load(vec![id(1)], 0, 0, true);
    h.wait_for("playing", is_playing);
    h.play_until(SEC);
    let clears = h.sink.lock().clears;
    h.player.seek(5000);
    let evs = h.wait_still("seeked", |e| matches!(e, PlayerEvent::Seeked { .. }));
    let Some(PlayerEvent::Seeked { position_ms }) = evs.last() else {
        panic!("{evs:?}")
    };
    assert!((5000..=5020).contains(position_ms), "{position_ms}");
    assert_eq!(h.sink.lock().clears, clears + 1);
    let s = h.wait_status("position after seek", |s| s.position_ms == *position_ms);
    assert_eq!(s.state, PlayState::Playing);
    h.wait_for("end of queue", is_end_of_queue);
    let frames = h.sink.frames();
    let reached = frames[SEC as usize].1;
    assert!(reached >= ms_to_frames(5000) && reached <= ms_to_frames(5020));
    assert_eq!(frames_to_ms(reached), *position_ms);
    assert_stream(&frames, &[(1, 0..SEC), (1, reached..a)]);
    h.shutdown();
}

#[test]
fn seek_back_after_the_next_track_was_already_buffered() {
    let (a, b) = (2 * SEC, SEC);
    let mut h = Harness::new(Pace::Clocked(None), config(), &tracks(&[(1, a), (2, b)]));
    h.player.load(vec![id(1), id(2)], 0, 0, true);
    h.wait_for("playing", is_playing);
    // Both tracks are in the sink before anything is heard.
    h.wait_queued((a + b) as usize);
    h.play_until(1000);
    h.player.seek(1000);
    let evs = h.wait_still("seeked", |e| matches!(e, PlayerEvent::Seeked { .. }));
    assert!(
        !evs.iter()
            .any(|e| matches!(e, PlayerEvent::TrackChanged(_))),
        "{evs:?}"
    );
    h.wait_for("end of queue", is_end_of_queue);
    let frames = h.sink.frames();
    let reached = frames[1000].1;
    assert!(reached >= SEC && reached <= ms_to_frames(1020));
    assert_stream(&frames, &[(1, 0..1000), (1, reached..a), (2, 0..b)]);
    // Track 2 was loaded again (its first source had been partly decoded and dropped).
    let loads_of_2 = h.loader.calls().iter().filter(|c| c.id == id(2)).count();
    assert_eq!(loads_of_2, 2);
    assert_eq!(count(&h.log, track_changed(2)), 1);
    h.shutdown();
}

#[test]
fn status_position_follows_the_sinks_played_frames() {
    let (a, b) = (4 * SEC, 3 * SEC);
    let mut h = Harness::new(Pace::Clocked(None), config(), &tracks(&[(1, a), (2, b)]));
    h.player.load(vec![id(1), id(2)], 0, 0, true);
    h.wait_for("playing", is_playing);
    let s = h.wait_status("at 0", |s| s.state == PlayState::Playing);
    assert_eq!(s.position_ms, 0);
    h.wait_queued((a + b) as usize);
    // Everything is written; the position moves only with the (fake) clock.
    h.play_until(2 * SEC);
    let s = h.wait_status("at 2 s", |s| s.position_ms == 2000);
    assert_eq!(s.track.as_ref().map(|t| t.id), Some(id(1)));
    assert_eq!(s.state, PlayState::Playing);
    h.play_until(a + SEC / 2);
    let s = h.wait_status("0.5 s into track 2", |s| {
        s.track.as_ref().is_some_and(|t| t.id == id(2)) && s.position_ms == 500
    });
    assert_eq!(s.volume, u16::MAX);
    h.player.pause();
    h.wait_still("paused", |e| {
        matches!(e, PlayerEvent::Paused { position_ms: 500 })
    });
    let s = h.wait_status("paused", |s| s.state == PlayState::Paused);
    assert_eq!(s.position_ms, 500);
    h.shutdown();
}

// ----- next / previous / load ----------------------------------------------------------------

#[test]
fn next_previous_and_restart() {
    let n = 6 * SEC;
    let mut h = Harness::new(
        Pace::Clocked(None),
        config(),
        &tracks(&[(1, n), (2, n), (3, n)]),
    );
    h.player.load(vec![id(1), id(2), id(3)], 0, 0, true);
    h.wait_for("track 1", track_changed(1));
    h.play_until(10_000);
    h.player.next();
    h.wait_still("track 2", track_changed(2));
    assert_eq!(h.player.queue().borrow().current, Some(1));
    h.play_until(10_000 + 50_000);
    // 1.1 s in: previous goes to the previous item.
    h.player.previous();
    h.wait_still("track 1", track_changed(1));
    h.play_until(60_000 + 4 * SEC);
    // 4 s in: previous restarts the track.
    h.player.previous();
    let evs = h.wait_still("restart", |e| {
        matches!(e, PlayerEvent::Seeked { position_ms: 0 })
    });
    assert!(!evs
        .iter()
        .any(|e| matches!(e, PlayerEvent::TrackChanged(_))));
    h.play_until(60_000 + 4 * SEC + 1000);
    // At the first item with repeat off and < 3 s in: previous restarts too.
    h.player.previous();
    h.wait_still("restart", |e| {
        matches!(e, PlayerEvent::Seeked { position_ms: 0 })
    });
    h.play_until(60_000 + 4 * SEC + 2000);
    h.player.next();
    h.wait_still("track 2", track_changed(2));
    h.player.next();
    h.wait_still("track 3", track_changed(3));
    h.play_until(60_000 + 4 * SEC + 3000);
    // Next on the last item with repeat off: end of queue.
    h.player.next();
    h.wait_still("end of queue", is_end_of_queue);
    h.wait_still("stopped", is_stopped);
    assert_eq!(h.player.queue().borrow().current, None);
    assert_stream(
        &h.sink.frames(),
        &[
            (1, 0..10_000),
            (2, 0..50_000),
            (1, 0..4 * SEC),
            (1, 0..1000),
            (1, 0..1000),
            (3, 0..1000),
        ],
    );
    // Skipped tracks don't report EndOfTrack.
    assert_eq!(
        count(&h.log, |e| matches!(e, PlayerEvent::EndOfTrack(_))),
        0
    );
    // Play after the end of the queue starts from the top.
    h.player.play();
    h.wait_still("track 1", track_changed(1));
    h.shutdown();
}

#[test]
fn load_paused_at_a_position_then_load_again_cuts() {
    let n = 5 * SEC;
    let mut h = Harness::new(
        Pace::Clocked(None),
        config(),
        &tracks(&[(1, n), (2, n), (3, n)]),
    );
    h.player.load(vec![id(3), id(1)], 1, 2000, false);
    h.wait_still("track 1", track_changed(1));
    let evs = h.wait_still("paused", |e| matches!(e, PlayerEvent::Paused { .. }));
    let Some(PlayerEvent::Paused { position_ms }) = evs.last() else {
        panic!("{evs:?}")
    };
    assert!((2000..=2020).contains(position_ms));
    assert_eq!(
        *h.player.queue().borrow(),
        QueueSnapshot {
            items: vec![id(3), id(1)],
            current: Some(1)
        }
    );
    let s = h.wait_status("paused", |s| s.state == PlayState::Paused);
    assert_eq!(s.position_ms, *position_ms);
    assert_eq!(s.track.as_ref().map(|t| t.id), Some(id(1)));
    assert_eq!(h.sink.lock().written, 0, "nothing is written while paused");
    h.player.play();
    h.wait_still("playing", is_playing);
    h.play_until(1000);
    // A new load replaces the queue and is heard at once.
    h.player.load(vec![id(2)], 0, 0, true);
    h.wait_still("track 2", track_changed(2));
    h.wait_for("end of queue", is_end_of_queue);
    let start = ms_to_frames(*position_ms);
    let first = h.sink.frames()[0].1;
    assert!(first >= start && first < start + SEEK_GRANULE);
    assert_stream(&h.sink.frames(), &[(1, first..first + 1000), (2, 0..n)]);
    // An out-of-range start index sets the queue and stays stopped.
    h.player.load(vec![id(1), id(2)], 7, 0, true);
    let q = h.wait_queue("new queue", |q| q.items == vec![id(1), id(2)]);
    assert_eq!(q.current, None);
    assert_eq!(h.player.status().borrow().state, PlayState::Stopped);
    h.shutdown();
}

// ----- queue ---------------------------------------------------------------------------------

#[test]
fn added_to_queue_items_play_in_the_order_they_were_added() {
    let specs: Vec<_> = (1..=9).map(|n| (n, TrackSpec::frames(5 * SEC))).collect();
    let mut h = Harness::new(Pace::Clocked(Some(8192)), config(), &specs);
    h.player.load(vec![id(1), id(2), id(3)], 0, 0, false);
    h.wait_still("paused", |e| matches!(e, PlayerEvent::Paused { .. }));
    let ids = |v: &[u128]| v.iter().map(|&n| id(n)).collect::<Vec<_>>();
    // Spotify's queue: after the current item and after earlier additions, before the rest.
    h.player.add_to_queue(vec![id(7)]);
    h.player.add_to_queue(vec![id(8), id(9)]);
    h.wait_queue("added", |q| q.items == ids(&[1, 7, 8, 9, 2, 3]));
    // Play next still goes right after the current item, ahead of the added ones ...
    h.player.play_next(vec![id(5)]);
    h.wait_queue("play next", |q| q.items == ids(&[1, 5, 7, 8, 9, 2, 3]));
    // ... and a later addition still follows the earlier ones.
    h.player.add_to_queue(vec![id(6)]);
    h.wait_queue("added after", |q| q.items == ids(&[1, 5, 7, 8, 9, 6, 2, 3]));
    // A new queue forgets the additions.
    h.player.load(vec![id(1), id(2)], 0, 0, false);
    h.wait_queue("reloaded", |q| q.items == ids(&[1, 2]));
    h.player.add_to_queue(vec![id(4)]);
    h.wait_queue("added to the new queue", |q| q.items == ids(&[1, 4, 2]));
    h.shutdown();
}

#[test]
fn queue_edits_are_reflected_in_the_snapshot() {
    let specs: Vec<_> = (1..=9).map(|n| (n, TrackSpec::frames(5 * SEC))).collect();
    // A small sink: the next track can't be decoded into it before the test plays that far
    // (items already in the output are kept by `clear_queue`).
    let mut h = Harness::new(Pace::Clocked(Some(8192)), config(), &specs);
    h.player
        .load(vec![id(1), id(2), id(3), id(4), id(5)], 0, 0, false);
    h.wait_still("paused", |e| matches!(e, PlayerEvent::Paused { .. }));
    let ids = |v: &[u128]| v.iter().map(|&n| id(n)).collect::<Vec<_>>();

    h.wait_queue("loaded", |q| q.items == ids(&[1, 2, 3, 4, 5]));
    h.player.play_next(vec![id(9)]);
    let q = h.wait_queue("play next", |q| q.items == ids(&[1, 9, 2, 3, 4, 5]));
    assert_eq!(q.current, Some(0));
    // Bad indexes and the current item are ignored.
    h.player.remove(0);
    h.player.remove(99);
    h.player.move_item(0, 99);
    h.player.remove(2);
    let q = h.wait_queue("remove", |q| q.items == ids(&[1, 9, 3, 4, 5]));
    assert_eq!(q.current, Some(0));
    h.player.move_item(4, 1);
    h.wait_queue("move", |q| q.items == ids(&[1, 5, 9, 3, 4]));
    // Moving the current item keeps it current.
    h.player.move_item(0, 2);
    let q = h.wait_queue("move current", |q| q.items == ids(&[5, 9, 1, 3, 4]));
    assert_eq!(q.current, Some(2));
    // What plays next follows the edited queue.
    h.player.play();
    h.player.next();
    h.wait_for("track 3", track_changed(3));
    assert_eq!(h.player.queue().borrow().current, Some(3));
    h.player.clear_queue();
    let q = h.wait_queue("clear", |q| q.items == ids(&[3]));
    assert_eq!(q.current, Some(0));
    h.shutdown();
}

#[test]
fn clear_after_current_keeps_what_was_played_and_additions_follow_the_current() {
    let specs: Vec<_> = (1..=9).map(|n| (n, TrackSpec::frames(5 * SEC))).collect();
    let mut h = Harness::new(Pace::Clocked(Some(8192)), config(), &specs);
    let ids = |v: &[u128]| v.iter().map(|&n| id(n)).collect::<Vec<_>>();
    // Nothing current: everything goes.
    h.player.load(ids(&[1, 2]), 9, 0, false);
    h.wait_queue("loaded stopped", |q| q.items == ids(&[1, 2]));
    h.player.clear_after_current();
    h.wait_queue("cleared", |q| q.items.is_empty());
    h.player.load(ids(&[1, 2, 3, 4, 5]), 2, 0, false);
    h.wait_still("paused", |e| matches!(e, PlayerEvent::Paused { .. }));
    h.player.add_to_queue(vec![id(8)]);
    h.wait_queue("added", |q| q.items == ids(&[1, 2, 3, 8, 4, 5]));
    // The items before the current one stay (previous still works), the rest go ...
    h.player.clear_after_current();
    let q = h.wait_queue("after current", |q| q.items == ids(&[1, 2, 3]));
    assert_eq!(q.current, Some(2));
    // ... with the additions: new ones follow the current item, in the order added.
    h.player.add_to_queue(vec![id(6)]);
    h.player.add_to_queue(vec![id(7)]);
    h.wait_queue("added again", |q| q.items == ids(&[1, 2, 3, 6, 7]));
    h.player.previous();
    h.wait_still("track 2", track_changed(2));
    h.shutdown();
}

#[test]
fn shuffle_puts_the_current_first_and_unshuffle_restores_the_order() {
    let specs: Vec<_> = (1..=20).map(|n| (n, TrackSpec::frames(5 * SEC))).collect();
    let mut h = Harness::new(Pace::Clocked(None), config(), &specs);
    let all: Vec<_> = (1..=20).map(id).collect();
    h.player.load(all.clone(), 4, 0, false);
    h.wait_still("paused", |e| matches!(e, PlayerEvent::Paused { .. }));
    h.player.set_shuffle(true);
    let q = h.wait_queue("shuffled", |q| q.current == Some(0));
    assert_eq!(q.items[0], id(5));
    let mut sorted = q.items.clone();
    sorted.sort();
    assert_eq!(sorted, all);
    let s = h.wait_status("shuffle on", |s| s.shuffle);
    assert_eq!(s.track.as_ref().map(|t| t.id), Some(id(5)));
    // Next plays what the shuffled queue says.
    h.player.next();
    h.wait_still("shuffled next", track_changed(q.items[1].0));
    h.player.set_shuffle(false);
    let q2 = h.wait_queue("unshuffled", |q| q.items == all);
    assert_eq!(q2.current, all.iter().position(|&x| x == q.items[1]));
    h.shutdown();
}

// ----- repeat --------------------------------------------------------------------------------

#[test]
fn repeat_all_wraps_around() {
    let mut h = Harness::new(
        Pace::Clocked(Some(8192)),
        config(),
        &tracks(&[(1, 20_000), (2, 15_000)]),
    );
    h.player.set_repeat(RepeatMode::All);
    h.player.load(vec![id(1), id(2)], 0, 0, true);
    h.wait_for("1", track_changed(1));
    h.wait_for("2", track_changed(2));
    h.wait_for("1 again", track_changed(1));
    h.wait_for("2 again", track_changed(2));
    h.wait_for("1 a third time", track_changed(1));
    h.player.stop();
    h.wait_for("stopped", is_stopped);
    assert_eq!(count(&h.log, is_end_of_queue), 0);
    let frames = h.sink.frames();
    assert_stream(
        &frames[..70_000],
        &[
            (1, 0..20_000),
            (2, 0..15_000),
            (1, 0..20_000),
            (2, 0..15_000),
        ],
    );
    assert_eq!(h.player.status().borrow().repeat, RepeatMode::All);
    h.shutdown();
}

#[test]
fn repeat_one_repeats_the_track_and_next_moves_on() {
    let mut h = Harness::new(
        Pace::Clocked(Some(8192)),
        config(),
        &tracks(&[(1, 20_000), (2, 15_000)]),
    );
    h.player.set_repeat(RepeatMode::One);
    h.player.load(vec![id(1), id(2)], 0, 0, true);
    h.wait_for("1", track_changed(1));
    h.wait_for("1 again", track_changed(1));
    h.wait_for("1 a third time", track_changed(1));
    h.player.next();
    h.wait_for("2", track_changed(2));
    h.wait_for("2 again", track_changed(2));
    h.player.set_repeat(RepeatMode::Off);
    h.wait_for("end of queue", is_end_of_queue);
    let frames = h.sink.frames();
    assert_stream(&frames[..40_000], &[(1, 0..20_000), (1, 0..20_000)]);
    assert!(frames.ends_with(&expected(2, 0..15_000)));
    h.shutdown();
}

#[test]
fn repeat_off_ends_the_queue() {
    let mut h = Harness::new(Pace::Unpaced, config(), &tracks(&[(1, 10_000)]));
    h.player.load(vec![id(1)], 0, 0, true);
    h.wait_for(
        "end of track",
        |e| matches!(e, PlayerEvent::EndOfTrack(x) if *x == id(1)),
    );
    h.wait_for("end of queue", is_end_of_queue);
    h.wait_for("stopped", is_stopped);
    assert_stream(&h.sink.frames(), &[(1, 0..10_000)]);
    h.shutdown();
}

// ----- errors --------------------------------------------------------------------------------

fn failing(frames: u64, kind: LoadErrorKind) -> TrackSpec {
    let mut s = TrackSpec::frames(frames);
    s.fail = Some(kind);
    s
}

#[test]
fn unavailable_tracks_are_skipped() {
    for kind in [
        LoadErrorKind::Unavailable,
        // `Network` is transient: the track is held, not skipped (tests/transient.rs).
        LoadErrorKind::Key,
        LoadErrorKind::Decode,
    ] {
        let mut h = Harness::new(
            Pace::Unpaced,
            config(),
            &[
                (1, TrackSpec::frames(10_000)),
                (2, failing(10_000, kind)),
                (3, TrackSpec::frames(12_000)),
            ],
        );
        h.player.load(vec![id(1), id(2), id(3)], 0, 0, true);
        let evs = h.wait_for("error", |e| matches!(e, PlayerEvent::Error { .. }));
        assert!(
            matches!(evs.last(), Some(PlayerEvent::Error { id: x, skipped: true, .. }) if *x == id(2)),
            "{kind:?}: {evs:?}"
        );
        h.wait_for("track 3", track_changed(3));
        h.wait_for("end of queue", is_end_of_queue);
        assert_stream(&h.sink.frames(), &[(1, 0..10_000), (3, 0..12_000)]);
        assert_eq!(count(&h.log, track_changed(2)), 0);
        h.shutdown();
    }
}

#[test]
fn a_failing_first_track_is_skipped() {
    let mut h = Harness::new(
        Pace::Unpaced,
        config(),
        &[
            (1, failing(10_000, LoadErrorKind::Unavailable)),
            (2, TrackSpec::frames(10_000)),
        ],
    );
    h.player.load(vec![id(1), id(2)], 0, 0, true);
    h.wait_for(
        "error",
        |e| matches!(e, PlayerEvent::Error { id: x, skipped: true, .. } if *x == id(1)),
    );
    h.wait_for("track 2", track_changed(2));
    h.wait_for("end of queue", is_end_of_queue);
    assert_stream(&h.sink.frames(), &[(2, 0..10_000)]);
    h.shutdown();
}

#[test]
fn a_fatal_load_error_stops_without_skipping() {
    let mut h = Harness::new(
        Pace::Unpaced,
        config(),
        &[
            (1, TrackSpec::frames(10_000)),
            (2, failing(10_000, LoadErrorKind::Fatal)),
            (3, TrackSpec::frames(10_000)),
        ],
    );
    h.player.load(vec![id(1), id(2), id(3)], 0, 0, true);
    let evs = h.wait_for("error", |e| matches!(e, PlayerEvent::Error { .. }));
    assert!(
        matches!(evs.last(), Some(PlayerEvent::Error { id: x, skipped: false, reason }) if *x == id(2) && reason.contains("Fatal")),
        "{evs:?}"
    );
    h.wait_for("stopped", is_stopped);
    assert_eq!(count(&h.log, track_changed(3)), 0);
    assert_eq!(count(&h.log, is_end_of_queue), 0);
    assert!(h.loader.calls().iter().all(|c| c.id != id(3)));
    assert_stream(&h.sink.frames(), &[(1, 0..10_000)]);
    assert_eq!(h.player.status().borrow().state, PlayState::Stopped);

    // Fatal on a track started by hand stops too.
    h.player.load(vec![id(2), id(3)], 0, 0, true);
    h.wait_for("error", |e| {
        matches!(e, PlayerEvent::Error { skipped: false, .. })
    });
    let s = h.wait_status("stopped", |s| s.state == PlayState::Stopped && !s.buffering);
    assert!(s.track.is_none());
    h.shutdown();
}

#[test]
fn a_decode_error_mid_track_skips_to_the_next() {
    let mut bad = TrackSpec::frames(30_000);
    bad.fail_read_at = Some(10_000);
    let mut h = Harness::new(
        Pace::Unpaced,
        config(),
        &[(1, bad), (2, TrackSpec::frames(10_000))],
    );
    h.player.load(vec![id(1), id(2)], 0, 0, true);
    h.wait_for(
        "error",
        |e| matches!(e, PlayerEvent::Error { id: x, skipped: true, .. } if *x == id(1)),
    );
    h.wait_for("track 2", track_changed(2));
    h.wait_for("end of queue", is_end_of_queue);
    assert_stream(&h.sink.frames(), &[(1, 0..10_000), (2, 0..10_000)]);
    h.shutdown();
}

#[test]
fn a_failing_track_is_left_even_in_repeat_one() {
    let mut bad = TrackSpec::frames(30_000);
    bad.fail_read_at = Some(5_000);
    let mut h = Harness::new(
        Pace::Clocked(Some(8192)),
        config(),
        &[(1, bad), (2, TrackSpec::frames(3_000))],
    );
    h.player.set_repeat(RepeatMode::One);
    h.player.load(vec![id(1), id(2)], 0, 0, true);
    h.wait_for(
        "error",
        |e| matches!(e, PlayerEvent::Error { id: x, skipped: true, .. } if *x == id(1)),
    );
    h.wait_for("track 2", track_changed(2));
    h.wait_for("track 2 again", track_changed(2));
    h.wait_for("track 2 a third time", track_changed(2));
    h.player.stop();
    h.wait_for("stopped", is_stopped);
    assert_stream(
        &h.sink.frames()[..11_000],
        &[(1, 0..5_000), (2, 0..3_000), (2, 0..3_000)],
    );
    h.shutdown();
}

#[test]
fn empty_tracks_are_skipped_and_an_all_empty_queue_ends() {
    let mut h = Harness::new(
        Pace::Unpaced,
        config(),
        &tracks(&[(1, 0), (2, 4_000), (3, 0)]),
    );
    h.player.load(vec![id(1), id(2)], 0, 0, true);
    h.wait_for(
        "error",
        |e| matches!(e, PlayerEvent::Error { id: x, skipped: true, .. } if *x == id(1)),
    );
    h.wait_for("end of queue", is_end_of_queue);
    assert_stream(&h.sink.frames(), &[(2, 0..4_000)]);
    h.player.set_repeat(RepeatMode::All);
    h.player.load(vec![id(1), id(3)], 0, 0, true);
    h.wait_for("end of queue", is_end_of_queue);
    h.shutdown();
}

#[test]
fn an_all_failing_queue_on_repeat_ends_instead_of_cycling() {
    let mut h = Harness::new(
        Pace::Unpaced,
        config(),
        &[
            (1, failing(10_000, LoadErrorKind::Unavailable)),
            (2, failing(10_000, LoadErrorKind::Unavailable)),
        ],
    );
    h.player.set_repeat(RepeatMode::All);
    h.player.load(vec![id(1), id(2)], 0, 0, true);
    h.wait_for("end of queue", is_end_of_queue);
    assert_eq!(
        count(&h.log, |e| matches!(
            e,
            PlayerEvent::Error { skipped: true, .. }
        )),
        2
    );
    h.shutdown();
}

#[test]
fn a_sink_error_is_reported_and_stops() {
    let mut h = Harness::new(
        Pace::Clocked(Some(4096)),
        config(),
        &tracks(&[(1, 5 * SEC)]),
    );
    h.player.load(vec![id(1)], 0, 0, true);
    h.wait_for("playing", is_playing);
    h.wait_queued(4096 - 1023);
    h.sink.lock().fail_write = Some("the headphones were unplugged".into());
    let evs = h.wait_for("error", |e| matches!(e, PlayerEvent::Error { .. }));
    assert!(
        matches!(evs.last(), Some(PlayerEvent::Error { id: x, skipped: false, reason }) if *x == id(1) && reason.contains("unplugged")),
        "{evs:?}"
    );
    h.wait_for("stopped", is_stopped);
    assert_eq!(h.sink.lock().stops, 1);
    // Playing again reopens the sink.
    h.player.play();
    h.wait_for("track 1", track_changed(1));
    assert_eq!(h.sink.lock().starts, 2);
    h.shutdown();
}

#[test]
fn a_sink_that_cannot_open_is_reported() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let loader = Arc::new(TestLoader::default());
    loader.set(1, TrackSpec::frames(1000));
    let factory: crate::audio::sink::SinkFactory =
        Box::new(|| Err(SinkError::NoDevice("no ALSA devices".into())));
    let (player, mut events) = Player::spawn(loader, factory, config(), rt.handle().clone());
    let next = |events: &mut tokio::sync::mpsc::UnboundedReceiver<PlayerEvent>| {
        rt.block_on(async { tokio::time::timeout(TIMEOUT, events.recv()).await })
            .unwrap()
            .unwrap()
    };
    let e = next(&mut events);
    assert!(
        matches!(&e, PlayerEvent::Error { skipped: false, reason, .. } if reason.contains("no ALSA devices")),
        "{e:?}"
    );
    player.load(vec![id(1)], 0, 0, true);
    let e = next(&mut events);
    assert!(
        matches!(&e, PlayerEvent::Error { id: x, skipped: false, .. } if *x == id(1)),
        "{e:?}"
    );
    rt.block_on(player.shutdown());
    assert_eq!(player.status().borrow().state, PlayState::Stopped);
}

// ----- volume and normalisation --------------------------------------------------------------

#[test]
fn volume_zero_silences() {
    let mut cfg = config();
    cfg.initial_volume = 0;
    let mut h = Harness::new(Pace::Unpaced, cfg, &tracks(&[(1, 10_000)]));
    h.player.load(vec![id(1)], 0, 0, true);
    h.wait_for("end of queue", is_end_of_queue);
    let s = h.sink.lock();
    assert_eq!(s.out.len(), 20_000);
    assert!(s.out.iter().all(|&x| x == 0.0));
    drop(s);
    h.shutdown();
}

#[test]
fn volume_changes_apply_from_the_next_chunk() {
    let a = 60_000u64;
    let cap = 2048;
    let mut h = Harness::new(Pace::Clocked(Some(cap)), config(), &tracks(&[(1, a)]));
    h.player.load(vec![id(1)], 0, 0, true);
    h.wait_for("playing", is_playing);
    h.play_until(10_000);
    h.wait_queued(cap - 1023);
    let written_before = h.sink.lock().written;
    h.player.set_volume(32768);
    h.wait_for("volume", |e| matches!(e, PlayerEvent::VolumeChanged(32768)));
    h.wait_status("volume", |s| s.volume == 32768);
    h.wait_for("end of queue", is_end_of_queue);
    let g = super::gain::volume_gain(32768);
    let out = h.sink.lock().out.clone();
    assert_eq!(out.len(), 2 * a as usize);
    let unity_r = 1.0 / TRACK_SCALE;
    let switch = out
        .chunks_exact(2)
        .position(|c| c[1] != unity_r)
        .unwrap_or(a as usize) as u64;
    // The change applies on a chunk boundary after what was already in the sink.
    assert_eq!(switch % 1024, 0, "switch at {switch}");
    assert!(switch >= written_before, "{switch} < {written_before}");
    assert!(
        switch <= written_before + 2 * 1024,
        "{switch} vs {written_before}"
    );
    for (f, c) in out.chunks_exact(2).enumerate() {
        let f = f as u64;
        if f < switch {
            assert_eq!(decode_frame(c[0], c[1]), (1, f));
        } else {
            assert_eq!(c[1], unity_r * g, "frame {f}");
            assert_eq!(c[0], (f as f32 / FRAME_SCALE) * g, "frame {f}");
        }
    }
    h.shutdown();
}

#[test]
fn normalisation_factor_is_applied_when_enabled() {
    let norm = NormalisationData {
        track_gain_db: -6.0,
        track_peak: 0.5,
        ..Default::default()
    };
    for enabled in [false, true] {
        let mut spec = TrackSpec::frames(5000);
        spec.normalisation = norm;
        let mut cfg = config();
        cfg.normalisation.enabled = enabled;
        // The basic method: a plain factor, no limiter, so the expected values are exact.
        cfg.normalisation.method = crate::audio::normalise::NormalisationMethod::Basic;
        let mut h = Harness::new(Pace::Unpaced, cfg, &[(1, spec)]);
        h.player.load(vec![id(1)], 0, 0, true);
        h.wait_for("end of queue", is_end_of_queue);
        let factor = if enabled {
            10f32.powf(-6.0 / 20.0)
        } else {
            1.0
        };
        let out = h.sink.lock().out.clone();
        assert_eq!(out.len(), 10_000);
        for (f, c) in out.chunks_exact(2).enumerate() {
            let want_r = (1.0 / TRACK_SCALE) * factor;
            assert!(
                (c[1] - want_r).abs() <= want_r * 1e-6,
                "frame {f}: {} vs {want_r}",
                c[1]
            );
            let want_l = (f as f32 / FRAME_SCALE) * factor;
            assert!((c[0] - want_l).abs() <= want_l.abs() * 1e-6 + 1e-12);
        }
        h.shutdown();
    }
}

// ----- lifecycle -----------------------------------------------------------------------------

#[test]
fn shutdown_stops_the_sink_and_joins_the_thread() {
    let mut h = Harness::new(
        Pace::Clocked(Some(4096)),
        config(),
        &tracks(&[(1, 10 * SEC)]),
    );
    let clone = h.player.clone();
    h.player.load(vec![id(1)], 0, 0, true);
    h.wait_for("playing", is_playing);
    h.play_until(5000);
    h.shutdown();
    {
        let s = h.sink.lock();
        assert_eq!(s.stops, 1);
        assert_eq!(s.starts, 1);
    }
    assert!(h.log.iter().any(is_stopped));
    // The event stream has ended.
    let end =
        h.rt.block_on(async { tokio::time::timeout(TIMEOUT, h.events.recv()).await });
    assert!(matches!(end, Ok(None)), "{end:?}");
    assert_eq!(h.player.status().borrow().state, PlayState::Stopped);
    // Commands and a second shutdown after the end are harmless.
    clone.play();
    clone.next();
    h.rt.block_on(clone.shutdown());
    assert_eq!(h.sink.lock().stops, 1);
}

#[test]
fn dropping_every_handle_stops_the_engine() {
    let h = Harness::new(Pace::Unpaced, config(), &tracks(&[(1, 10_000)]));
    let Harness {
        rt,
        player,
        mut events,
        sink,
        ..
    } = h;
    player.load(vec![id(1)], 0, 0, true);
    let clone = player.clone();
    drop(player);
    drop(clone);
    // The engine ends and drops its event sender.
    let closed = rt.block_on(async {
        tokio::time::timeout(TIMEOUT, async { while events.recv().await.is_some() {} }).await
    });
    assert!(closed.is_ok());
    assert!(sink.lock().stops <= 1);
}

#[test]
fn empty_and_out_of_range_commands_do_not_panic() {
    let mut h = Harness::new(Pace::Unpaced, config(), &tracks(&[(1, 1000)]));
    h.player.play();
    h.player.pause();
    h.player.toggle();
    h.player.next();
    h.player.previous();
    h.player.seek(1_000_000);
    h.player.remove(3);
    h.player.move_item(1, 2);
    h.player.clear_queue();
    h.player.play_next(vec![]);
    h.player.load(vec![], 0, 0, true);
    h.player.stop();
    h.player.set_volume(12);
    h.wait_for("volume", |e| matches!(e, PlayerEvent::VolumeChanged(12)));
    // Seeking past the end of a track ends it.
    h.player.load(vec![id(1)], 0, 0, true);
    h.player.seek(1_000_000);
    h.wait_for("end of queue", is_end_of_queue);
    h.shutdown();
}
