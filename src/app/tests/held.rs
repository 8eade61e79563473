//! A track held through an outage (`PlayerEvent::Reconnecting`): one notification naming the
//! track, the reason and the wait (not one per retry), the bar's buffering flag, and the hold
//! forgotten once audio comes back.

use super::*;

#[test]
fn a_held_track_is_announced_once_and_forgotten_when_audio_returns() {
    let mut s = demo_state();
    let held = |retry_ms| {
        Msg::PlayerEvent(PlayerEvent::Reconnecting {
            id: track_id(1),
            reason: "network error: connection refused".into(),
            retry_in: std::time::Duration::from_millis(retry_ms),
        })
    };
    assert!(update(&mut s, held(250)).redraw);
    let note = last_note(&s);
    assert!(note.contains("Holding “"), "{note}");
    assert!(note.contains("connection refused"), "{note}");
    assert!(
        note.contains("retrying in 0.2 s") || note.contains("retrying in 0.3 s"),
        "{note}"
    );
    let notes = s.notifications.len();
    update(&mut s, held(500));
    update(&mut s, held(1000));
    assert_eq!(s.notifications.len(), notes, "one notification per outage");
    assert!(s.player_held.is_some());

    // The status says buffering while held (the bar shows it: ui/tests.rs).
    let mut st = s.player.clone().unwrap();
    st.buffering = true;
    st.state = PlayState::Loading;
    update(&mut s, Msg::PlayerStatus(st.clone()));
    assert!(s.player_held.is_some());

    // Audio again: the hold is over, and the next outage is announced afresh.
    st.buffering = false;
    st.state = PlayState::Playing;
    update(&mut s, Msg::PlayerStatus(st));
    assert!(s.player_held.is_none());
    update(&mut s, held(250));
    assert_eq!(s.notifications.len(), notes + 1);
}
