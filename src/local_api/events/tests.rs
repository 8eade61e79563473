//! The status diff (which events a change makes) and the hub's answers from what it was fed.

use super::*;
use crate::id::SpotifyId;
use crate::player::loader::TrackInfo;
use crate::player::RepeatMode;
use std::time::Duration;

fn status(state: PlayState, pos: u64, at: Instant) -> PlayerStatus {
    PlayerStatus {
        state,
        track: Some(TrackInfo {
            id: SpotifyId(1),
            played_id: SpotifyId(1),
            name: "One".into(),
            artists: vec!["A".into()],
            album: "Al".into(),
            duration_ms: 200_000,
        }),
        position_ms: pos,
        at,
        volume: 1000,
        buffering: false,
        repeat: RepeatMode::Off,
        shuffle: false,
    }
}

#[test]
fn the_first_status_announces_track_and_state() {
    let t = Instant::now();
    let ev = status_events(None, &status(PlayState::Paused, 0, t));
    assert!(matches!(ev[0], Event::Track { track: Some(_) }), "{ev:?}");
    assert_eq!(ev[1], Event::Paused { position_ms: 0 });
    assert_eq!(ev.len(), 2);
}

#[test]
fn pause_play_seek_volume_and_options_are_told_apart() {
    let t = Instant::now();
    let playing = status(PlayState::Playing, 1000, t);
    // Playing on as expected: nothing.
    let later = status(PlayState::Playing, 3000, t + Duration::from_secs(2));
    assert_eq!(status_events(Some(&playing), &later), vec![]);
    let paused = status(PlayState::Paused, 3000, t + Duration::from_secs(2));
    assert_eq!(
        status_events(Some(&later), &paused),
        vec![Event::Paused { position_ms: 3000 }]
    );
    let jumped = status(PlayState::Playing, 90_000, t + Duration::from_secs(2));
    assert_eq!(
        status_events(Some(&later), &jumped),
        vec![Event::Seek {
            position_ms: 90_000
        }]
    );
    let mut louder = later.clone();
    louder.volume = 65535;
    louder.shuffle = true;
    assert_eq!(
        status_events(Some(&later), &louder),
        vec![
            Event::Volume {
                volume: 100,
                volume_raw: 65535
            },
            Event::Options {
                shuffle: true,
                repeat: schema::Repeat::Off
            }
        ]
    );
    let mut other = later.clone();
    if let Some(tr) = other.track.as_mut() {
        tr.id = SpotifyId(2);
    }
    other.position_ms = 0;
    let ev = status_events(Some(&later), &other);
    assert!(
        matches!(&ev[..], [Event::Track { track: Some(t) }] if t.uri.ends_with(&SpotifyId(2).to_base62())),
        "{ev:?}"
    );
}

#[test]
fn hub_answers_from_what_it_was_fed() {
    let hub = Hub::new(DeviceRef {
        id: "me".into(),
        name: "Me".into(),
    });
    let mut rx = hub.subscribe();
    hub.on_player_status(status(PlayState::Paused, 5000, Instant::now()));
    hub.on_queue(QueueSnapshot {
        items: vec![SpotifyId(1), SpotifyId(2)],
        current: Some(0),
    });
    hub.on_session(Link::Online);
    let s = hub.status();
    assert_eq!(
        (s.state, s.position_ms, s.queue_length),
        (schema::State::Paused, 5000, 2)
    );
    assert_eq!(s.connection.session, Link::Online);
    let q = hub.queue();
    assert_eq!(q.items[0].name.as_deref(), Some("One"));
    assert_eq!(q.items[1].name, None);
    assert_eq!(hub.devices()[0].id, "me");
    let mut got = Vec::new();
    while let Ok(e) = rx.try_recv() {
        got.push(e);
    }
    assert!(got.contains(&Event::Queue {
        length: 2,
        index: Some(0)
    }));
    assert!(got.iter().any(|e| matches!(e, Event::Connection { .. })));
}

#[test]
fn the_context_holds_while_its_tracks_are_queued() {
    let hub = Hub::new(DeviceRef {
        id: "me".into(),
        name: "Me".into(),
    });
    let q = |ids: &[u128]| QueueSnapshot {
        items: ids.iter().map(|&i| SpotifyId(i)).collect(),
        current: Some(0),
    };
    hub.set_context(Some(("spotify:album:a".into(), SpotifyId(1))));
    hub.on_queue(q(&[1, 2]));
    // An addition keeps it.
    hub.on_queue(q(&[1, 9, 2]));
    assert_eq!(hub.status().context.as_deref(), Some("spotify:album:a"));
    // Something else loaded: gone.
    hub.on_queue(q(&[7, 8]));
    assert_eq!(hub.status().context, None);
}
