//! Transient is not unavailable: a load or a read that fails for a transient reason (network,
//! session down, CDN stall) holds the track and its position and resumes it — the queue never
//! advances for an outage — and skips only after `transient_give_up`; an account that gets no
//! audio keys is reported once and stops; a decoder panic skips only its track.
//!
//! Test-only (declared by `player/tests.rs`), on the synthetic testkit.

use super::*;

fn is_reconnecting(n: u128) -> impl Fn(&PlayerEvent) -> bool {
    move |e| matches!(e, PlayerEvent::Reconnecting { id: x, .. } if *x == id(n))
}

fn is_error(e: &PlayerEvent) -> bool {
    matches!(e, PlayerEvent::Error { .. })
}

fn stalling(frames: u64, at: u64) -> TrackSpec {
    let mut s = TrackSpec::frames(frames);
    s.fail_read_at = Some(at);
    s.fail_read_kind = crate::audio::pcm::PcmErrorKind::Fetch;
    s
}

#[test]
fn a_transient_load_failure_holds_the_track_and_resumes_at_its_position() {
    let mut h = Harness::new(
        Pace::Clocked(Some(8192)),
        config(),
        &[
            (1, TrackSpec::frames(10 * SEC)),
            (2, failing(10 * SEC, LoadErrorKind::Network)),
            (3, TrackSpec::frames(10 * SEC)),
        ],
    );
    h.player.load(vec![id(1), id(2), id(3)], 1, 3000, true);
    // Retried, not skipped: two rounds of "reconnecting" for the same track.
    h.wait_for("a first retry", is_reconnecting(2));
    h.wait_for("a second retry", is_reconnecting(2));
    let s = h.wait_status("held", |s| s.buffering);
    assert_eq!((s.state, s.position_ms), (PlayState::Loading, 3000));
    assert_eq!(h.player.queue().borrow().current, Some(1));
    // The fault clears: the same track starts where it was asked to.
    h.loader.set(2, TrackSpec::frames(10 * SEC));
    h.wait_for("track 2", track_changed(2));
    h.wait_status("playing", |s| s.state == PlayState::Playing && !s.buffering);
    h.play_until(SEC / 2);
    let frames = h.sink.frames();
    let (track, first) = frames[0];
    assert_eq!(track, 2);
    assert!(
        first >= ms_to_frames(3000) && first <= ms_to_frames(3020),
        "{first}"
    );
    assert_eq!(count(&h.log, is_error), 0, "{:?}", h.log);
    assert_eq!(count(&h.log, track_changed(3)), 0);
    h.shutdown();
}

#[test]
fn a_transient_failure_skips_only_after_the_give_up_time_and_says_why() {
    let cfg = PlayerConfig {
        transient_give_up: Duration::from_millis(800),
        ..config()
    };
    let mut h = Harness::new(
        Pace::Unpaced,
        cfg,
        &[
            (1, failing(10_000, LoadErrorKind::Network)),
            (2, TrackSpec::frames(10_000)),
        ],
    );
    h.player.load(vec![id(1), id(2)], 0, 0, true);
    let evs = h.wait_for("the skip", is_error);
    match evs.last() {
        Some(PlayerEvent::Error {
            id: x,
            reason,
            skipped: true,
        }) => {
            assert_eq!(*x, id(1));
            assert!(reason.contains("still failing after"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(count(&h.log, is_reconnecting(1)) >= 3, "{:?}", h.log);
    h.wait_for("track 2", track_changed(2));
    h.wait_for("end of queue", is_end_of_queue);
    assert_stream(&h.sink.frames(), &[(2, 0..10_000)]);
    h.shutdown();
}

#[test]
fn an_account_refused_every_key_is_told_once_and_the_queue_is_not_skipped_through() {
    let specs: Vec<_> = (1..=6)
        .map(|n| (n, failing(10_000, LoadErrorKind::Key)))
        .collect();
    let mut h = Harness::new(Pace::Unpaced, config(), &specs);
    h.player.load((1..=6).map(id).collect(), 0, 0, true);
    let evs = h.wait_for("the account message", is_error);
    match evs.last() {
        Some(PlayerEvent::Error {
            id: x,
            reason,
            skipped: false,
        }) => {
            assert_eq!(*x, id(1));
            assert!(
                reason.starts_with("Spotify refuses audio keys to this account"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    h.wait_status("stopped", |s| s.state == PlayState::Stopped);
    assert_eq!(h.player.queue().borrow().current, Some(0));
    // Only a few tracks were tried, and no other error was shown.
    assert_eq!(h.loader.calls().len(), 3, "{:?}", h.loader.calls());
    assert_eq!(count(&h.log, is_error), 1, "{:?}", h.log);
    h.shutdown();
}

#[test]
fn a_key_refused_for_one_track_is_still_that_tracks_skip() {
    let mut h = Harness::new(
        Pace::Unpaced,
        config(),
        &[
            (1, failing(10_000, LoadErrorKind::Key)),
            (2, TrackSpec::frames(10_000)),
        ],
    );
    h.player.load(vec![id(1), id(2)], 0, 0, true);
    h.wait_for(
        "the skip",
        |e| matches!(e, PlayerEvent::Error { id: x, skipped: true, .. } if *x == id(1)),
    );
    h.wait_for("end of queue", is_end_of_queue);
    assert_stream(&h.sink.frames(), &[(2, 0..10_000)]);
    h.shutdown();
}

#[test]
fn a_cdn_stall_with_audio_buffered_continues_sample_exactly() {
    let mut h = Harness::new(
        Pace::Clocked(Some(SEC as usize)),
        config(),
        &[(1, stalling(4 * SEC, 2 * SEC)), (2, TrackSpec::frames(SEC))],
    );
    h.step = 64;
    h.player.load(vec![id(1), id(2)], 0, 0, true);
    h.wait_still("track 1", track_changed(1));
    // Only the first source stalls; the reload is healthy.
    h.loader.set(1, TrackSpec::frames(4 * SEC));
    h.wait_for("the hold", is_reconnecting(1));
    h.wait_for("end of queue", is_end_of_queue);
    assert_stream(&h.sink.frames(), &[(1, 0..4 * SEC), (2, 0..SEC)]);
    assert_eq!(count(&h.log, is_error), 0, "{:?}", h.log);
    // The same track heard on: one track change and one end for it.
    assert_eq!(count(&h.log, track_changed(1)), 1, "{:?}", h.log);
    assert_eq!(
        count(
            &h.log,
            |e| matches!(e, PlayerEvent::EndOfTrack(x) if *x == id(1))
        ),
        1
    );
    h.shutdown();
}

#[test]
fn a_cdn_stall_without_audio_buffered_holds_the_position_until_the_fault_clears() {
    let mut h = Harness::new(
        Pace::Clocked(Some(4096)),
        config(),
        &[(1, stalling(4 * SEC, 2 * SEC)), (2, TrackSpec::frames(SEC))],
    );
    h.player.load(vec![id(1), id(2)], 0, 0, true);
    h.wait_still("track 1", track_changed(1));
    // The CDN stays down for the reloads too.
    h.loader.set(1, failing(4 * SEC, LoadErrorKind::Network));
    h.wait_for("the hold", is_reconnecting(1));
    h.wait_for("a failed retry", is_reconnecting(1));
    let s = h.wait_status("buffering at the stall", |s| {
        s.buffering && s.state == PlayState::Loading
    });
    assert_eq!(s.position_ms, frames_to_ms(2 * SEC));
    assert_eq!(h.player.queue().borrow().current, Some(0));
    assert_eq!(count(&h.log, track_changed(2)), 0);
    // The fault clears: the track goes on from the very frame it stopped at.
    h.loader.set(1, TrackSpec::frames(4 * SEC));
    h.wait_for("end of queue", is_end_of_queue);
    assert_stream(&h.sink.frames(), &[(1, 0..4 * SEC), (2, 0..SEC)]);
    assert_eq!(count(&h.log, is_error), 0, "{:?}", h.log);
    h.shutdown();
}

#[test]
fn a_decoder_panic_skips_only_its_track() {
    let mut panicking = TrackSpec::frames(10_000);
    panicking.panic_at = Some(5_000);
    let mut h = Harness::new(
        Pace::Unpaced,
        config(),
        &[(1, panicking), (2, TrackSpec::frames(10_000))],
    );
    h.player.load(vec![id(1), id(2)], 0, 0, true);
    h.wait_for(
        "the skip",
        |e| matches!(e, PlayerEvent::Error { id: x, skipped: true, reason } if *x == id(1) && reason.contains("crashed")),
    );
    h.wait_for("end of queue", is_end_of_queue);
    assert_stream(&h.sink.frames(), &[(1, 0..5_000), (2, 0..10_000)]);
    h.shutdown();
}

#[test]
fn a_held_track_resumes_when_the_session_is_back_not_at_its_next_timed_retry() {
    use crate::session::SessionState;
    let mut h = Harness::new(
        Pace::Clocked(Some(8192)),
        config(),
        &[
            (1, failing(10 * SEC, LoadErrorKind::Network)),
            (2, TrackSpec::frames(10 * SEC)),
        ],
    );
    h.loader
        .session
        .send_replace(SessionState::Dead("the access point went away".into()));
    h.player.load(vec![id(1), id(2)], 0, 4000, true);
    // Backed off until the next retry is at least 2 s away.
    h.wait_for("a long retry wait", |e| {
        matches!(e, PlayerEvent::Reconnecting { id: x, retry_in, .. }
            if *x == id(1) && *retry_in >= Duration::from_secs(2))
    });
    let calls_of_1 = |h: &Harness| h.loader.calls().iter().filter(|c| c.id == id(1)).count();
    let calls_before = calls_of_1(&h);
    // The fault clears with the session: the held track is asked for at once.
    h.loader.set(1, TrackSpec::frames(10 * SEC));
    let back = Instant::now();
    h.loader.session.send_replace(SessionState::Connected);
    h.wait_for("track 1", track_changed(1));
    let took = back.elapsed();
    assert!(
        took < Duration::from_millis(1000),
        "resumed {took:?} after the session came back (the timer said ≥ 2 s)"
    );
    assert_eq!(calls_of_1(&h), calls_before + 1);
    h.play_until(SEC / 4);
    let (track, first) = h.sink.frames()[0];
    assert_eq!(track, 1);
    assert!(
        first >= ms_to_frames(4000) && first <= ms_to_frames(4020),
        "{first}"
    );
    // Without a held track, a session coming back changes nothing.
    h.loader.session.send_replace(SessionState::Connected);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(calls_of_1(&h), calls_before + 1);
    h.shutdown();
}
