use std::time::Duration;

use super::*;

fn track(id: u128, duration_ms: u64) -> TrackInfo {
    TrackInfo {
        id: SpotifyId(id),
        played_id: SpotifyId(id),
        name: "Title".into(),
        artists: vec!["One".into(), "Two".into()],
        album: "Album".into(),
        duration_ms,
    }
}

fn status(state: PlayState, t: Option<TrackInfo>, position_ms: u64, at: Instant) -> PlayerStatus {
    PlayerStatus {
        state,
        track: t,
        position_ms,
        at,
        volume: 32768,
        buffering: false,
        repeat: RepeatMode::Off,
        shuffle: false,
    }
}

#[test]
fn track_ids_are_valid_object_paths() {
    for id in [0u128, 1, u128::MAX, 0x9a1b1cfbc6f244569ae0356c77bbe9d8] {
        let p = track_path(SpotifyId(id));
        assert!(p.as_str().starts_with("/org/tonearm/track/"), "{p}");
        // Parsing again checks the object path grammar.
        assert!(ObjectPath::try_from(p.as_str()).is_ok(), "{p}");
        assert_ne!(p.as_str(), NO_TRACK);
    }
    assert_ne!(track_path(SpotifyId(1)), track_path(SpotifyId(2)));
}

#[test]
fn lengths_are_microseconds_and_saturate() {
    assert_eq!(ms_to_us(0), 0);
    assert_eq!(ms_to_us(215_000), 215_000_000);
    assert_eq!(ms_to_us(u64::MAX), i64::MAX);
    assert_eq!(us_to_ms(30_000_000), 30_000);
    assert_eq!(us_to_ms(-5), 0);
    assert_eq!(us_to_ms(i64::MIN), 0);
}

#[test]
fn metadata_maps_the_track() {
    let m = metadata(Some(&track(7, 215_000)));
    let s = |k: &str| m.get(k).map(|v| format!("{:?}", **v)).unwrap_or_default();
    assert!(s("mpris:trackid").contains("/org/tonearm/track/"));
    assert_eq!(
        i64::try_from(m["mpris:length"].try_clone().unwrap()).ok(),
        Some(215_000_000)
    );
    assert_eq!(
        String::try_from(m["xesam:title"].try_clone().unwrap())
            .ok()
            .as_deref(),
        Some("Title")
    );
    assert_eq!(
        String::try_from(m["xesam:album"].try_clone().unwrap())
            .ok()
            .as_deref(),
        Some("Album")
    );
    let artists: Vec<String> = m["xesam:artist"]
        .try_clone()
        .unwrap()
        .try_into()
        .unwrap_or_default();
    assert_eq!(artists, vec!["One".to_string(), "Two".to_string()]);
    // No length when unknown; the no-track id alone without a track.
    assert!(!metadata(Some(&track(7, 0))).contains_key("mpris:length"));
    let empty = metadata(None);
    assert_eq!(empty.len(), 1);
    assert!(format!("{:?}", *empty["mpris:trackid"]).contains("NoTrack"));
}

#[test]
fn art_url_is_the_recorded_cover_of_that_track_only() {
    // Track ids of their own: the record is process-wide.
    let t = track(0x00A7_0001, 1000);
    assert!(!metadata(Some(&t)).contains_key("mpris:artUrl"));
    crate::art::set_now_art(t.id, "file:///cache/tonearm/art/x.img".into());
    let m = metadata(Some(&t));
    assert_eq!(
        String::try_from(m["mpris:artUrl"].try_clone().unwrap())
            .ok()
            .as_deref(),
        Some("file:///cache/tonearm/art/x.img")
    );
    // Another track: no cover until its own is recorded.
    assert!(!metadata(Some(&track(0x00A7_0002, 1000))).contains_key("mpris:artUrl"));
}

#[test]
fn odd_values_do_not_panic() {
    let mut t = track(u128::MAX, u64::MAX);
    t.name = "\u{0}\u{202e}".into();
    t.artists = vec![String::new()];
    let m = metadata(Some(&t));
    assert_eq!(
        i64::try_from(m["mpris:length"].try_clone().unwrap()).ok(),
        Some(i64::MAX)
    );
    let at = Instant::now();
    let s = status(PlayState::Playing, Some(t), u64::MAX, at);
    assert_eq!(position_us(&s, at + Duration::from_secs(5)), i64::MAX);
    assert!(seek_intent(&s, i64::MIN, at).is_some());
    assert!(seek_intent(&s, i64::MAX, at).is_some());
    assert_eq!(set_position_intent(&s, "/not/it", 5), None);
    assert_eq!(volume_from(f64::NAN), None);
    assert_eq!(volume_from(f64::INFINITY), Some(65535));
    assert_eq!(volume_from(-3.0), Some(0));
    assert_eq!(volume_from(0.5), Some(32768));
    assert!((volume_value(65535) - 1.0).abs() < f64::EPSILON);
}

#[test]
fn seek_past_the_end_is_next_and_set_position_checks_the_track() {
    let at = Instant::now();
    let s = status(PlayState::Paused, Some(track(3, 100_000)), 10_000, at);
    assert_eq!(seek_intent(&s, 5_000_000, at), Some(Intent::SeekBy(5000)));
    assert_eq!(
        seek_intent(&s, -20_000_000, at),
        Some(Intent::SeekBy(-20_000))
    );
    assert_eq!(seek_intent(&s, 95_000_000, at), Some(Intent::Next));
    let id = track_path(SpotifyId(3));
    assert_eq!(
        set_position_intent(&s, id.as_str(), 30_000_000),
        Some(Intent::SeekTo(30_000))
    );
    // Another track's id, a negative position, past the end: nothing.
    let other = track_path(SpotifyId(4));
    assert_eq!(set_position_intent(&s, other.as_str(), 30_000_000), None);
    assert_eq!(set_position_intent(&s, id.as_str(), -1), None);
    assert_eq!(set_position_intent(&s, id.as_str(), 100_000_001), None);
    let stopped = status(PlayState::Stopped, None, 0, at);
    assert_eq!(seek_intent(&stopped, 1, at), None);
    assert_eq!(set_position_intent(&stopped, NO_TRACK, 0), None);
}

#[test]
fn status_strings() {
    let at = Instant::now();
    let t = Some(track(1, 1000));
    assert_eq!(
        playback_status(&status(PlayState::Playing, t.clone(), 0, at)),
        "Playing"
    );
    assert_eq!(
        playback_status(&status(PlayState::Paused, t.clone(), 0, at)),
        "Paused"
    );
    assert_eq!(
        playback_status(&status(PlayState::Loading, t, 0, at)),
        "Playing"
    );
    assert_eq!(
        playback_status(&status(PlayState::Loading, None, 0, at)),
        "Stopped"
    );
    assert_eq!(
        playback_status(&status(PlayState::Stopped, None, 0, at)),
        "Stopped"
    );
    for mode in [RepeatMode::Off, RepeatMode::All, RepeatMode::One] {
        assert_eq!(repeat_for(loop_status(mode)), Some(mode));
    }
    assert_eq!(repeat_for("none"), None);
}

#[test]
fn changes_and_seeks_are_detected() {
    let at = Instant::now();
    let a = status(PlayState::Playing, Some(track(1, 200_000)), 10_000, at);
    // Playing on: no seek, nothing changed.
    let mut b = a.clone();
    b.position_ms = 12_000;
    b.at = at + Duration::from_secs(2);
    assert!(!seeked(&a, &b));
    assert!(changed_properties(&a, &b, [false; 2]).is_empty());
    // A jump is a seek.
    b.position_ms = 60_000;
    assert!(seeked(&a, &b));
    // A new track: metadata and the Can* flags, no seek.
    let mut c = a.clone();
    c.track = Some(track(2, 200_000));
    c.position_ms = 0;
    assert!(!seeked(&a, &c));
    let names: Vec<&str> = changed_properties(&a, &c, [false; 2])
        .iter()
        .map(|(n, _)| *n)
        .collect();
    assert!(
        names.contains(&"Metadata") && names.contains(&"CanSeek"),
        "{names:?}"
    );
    // Pause, volume, shuffle, repeat.
    let mut d = a.clone();
    d.state = PlayState::Paused;
    d.volume = 1;
    d.shuffle = true;
    d.repeat = RepeatMode::One;
    let names: Vec<&str> = changed_properties(&a, &d, [false; 2])
        .iter()
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(
        names,
        vec!["PlaybackStatus", "Volume", "Shuffle", "LoopStatus"]
    );
}

/// `Stop` pauses at the start; the latch reports that pause as "Stopped" until playback starts
/// again or another track comes, and a stop's pause that has not landed yet is not undone by
/// the playing statuses still on their way.
#[test]
fn stop_reports_stopped_until_playing_again() {
    let at = Instant::now();
    let playing = status(PlayState::Playing, Some(track(1, 200_000)), 10_000, at);
    let paused_at_0 = status(PlayState::Paused, Some(track(1, 200_000)), 0, at);
    let latch = StopLatch::default();
    assert!(!latch.follow(&playing));
    latch.arm(&playing);
    // A playing report published before the pause landed: still armed, still "Playing".
    assert!(!latch.follow(&playing));
    assert!(!latch.applies(&playing));
    assert_eq!(
        playback_status_of(&playing, latch.applies(&playing)),
        "Playing"
    );
    // The pause lands: "Stopped", and the change is signalled as such.
    assert!(latch.follow(&paused_at_0));
    assert!(latch.applies(&paused_at_0));
    assert_eq!(playback_status_of(&paused_at_0, true), "Stopped");
    let changed = changed_properties(&playing, &paused_at_0, [false, true]);
    assert_eq!(changed[0].0, "PlaybackStatus");
    assert_eq!(changed[0].1, Value::from("Stopped"));
    // Play: playing again, the stop is over (and a later plain pause is "Paused").
    assert!(!latch.follow(&playing));
    let changed = changed_properties(&paused_at_0, &playing, [true, false]);
    assert_eq!(changed[0].1, Value::from("Playing"));
    assert!(!latch.follow(&paused_at_0));
    assert_eq!(
        playback_status_of(&paused_at_0, latch.applies(&paused_at_0)),
        "Paused"
    );
    // Stop while paused is stopped at once; another track ends it.
    latch.arm(&paused_at_0);
    assert!(latch.applies(&paused_at_0));
    let other = status(PlayState::Paused, Some(track(2, 200_000)), 0, at);
    assert!(!latch.applies(&other));
    assert!(!latch.follow(&other));
    assert!(!latch.applies(&paused_at_0), "the new track ended the stop");
    // Nothing loaded: nothing to latch ("Stopped" anyway).
    let none = status(PlayState::Stopped, None, 0, at);
    latch.arm(&none);
    assert!(!latch.follow(&none));
    assert_eq!(playback_status_of(&none, false), "Stopped");
}
