//! Like/unlike and remove-from-playlist from the TUI (like: the selected track or, with none
//! selected, the playing one);
//! the cached library changes at once and a failed write rolls it back with a notification.

use super::*;

fn likes(s: &State) -> Vec<String> {
    s.library
        .data
        .as_ref()
        .unwrap()
        .liked()
        .map(|t| t.uri.clone())
        .collect()
}

fn like_effect(o: &Outcome) -> (TrackInfo, bool) {
    match o.effects.as_slice() {
        [Effect::Like { track, like }] => (track.clone(), *like),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unlike_the_selected_track_and_roll_back_on_failure() {
    let mut s = demo_state();
    act(&mut s, Action::NextSection); // liked songs
    act(&mut s, Action::Down); // track 2
    let o = act(&mut s, Action::ToggleLike);
    let (track, like) = like_effect(&o);
    assert_eq!(
        (track.uri.as_str(), like),
        (uri("track", 2).as_str(), false)
    );
    assert!(o.redraw);
    assert!(!likes(&s).contains(&uri("track", 2)), "optimistic");
    assert_eq!(likes(&s).len(), 5);

    let o = update(
        &mut s,
        Msg::Liked {
            track,
            like,
            result: Err("HTTP 503".into()),
        },
    );
    assert!(o.redraw);
    assert!(likes(&s).contains(&uri("track", 2)), "rolled back");
    assert_eq!(likes(&s).len(), 6);
    let note = s.notifications.back().unwrap();
    assert_eq!(note.level, Level::Error);
    assert!(
        note.text.contains("unlike") && note.text.contains("HTTP 503"),
        "{}",
        note.text
    );
}

#[test]
fn like_the_playing_track_when_no_track_is_selected() {
    let mut s = demo_state();
    // Track 1 (playing) not liked yet.
    let lib = Arc::make_mut(s.library.data.as_mut().unwrap());
    lib.saved_tracks.remove(0);
    lib.liked_index = Default::default();
    act(&mut s, Action::Focus(Pane::Queue));
    s.focus = Pane::Devices; // a pane without tracks: the playing track is the target
    let o = act(&mut s, Action::ToggleLike);
    let (track, like) = like_effect(&o);
    assert_eq!((track.uri.as_str(), like), (uri("track", 1).as_str(), true));
    assert_eq!(track.name, "Morning Glory");
    assert_eq!(likes(&s)[0], uri("track", 1), "newest first, at once");
    update(
        &mut s,
        Msg::Liked {
            track,
            like,
            result: Ok(()),
        },
    );
    assert_eq!(likes(&s)[0], uri("track", 1), "kept");
    let note = s.notifications.back().unwrap();
    assert_eq!(note.level, Level::Info);
    assert!(note.text.contains("Liked Songs"), "{}", note.text);
}

#[test]
fn nothing_to_like_says_so() {
    let mut s = demo_state();
    s.player = None;
    s.focus = Pane::Devices;
    let o = act(&mut s, Action::ToggleLike);
    assert!(o.effects.is_empty());
    assert!(last_note(&s).contains("Select a track"));
}

fn page_names(s: &State) -> Vec<String> {
    let data = s.library.pages.last().unwrap().data.as_ref().unwrap();
    data.items.iter().map(|i| i.name().to_string()).collect()
}

fn remove_effect(o: &Outcome) -> (String, TrackInfo, Vec<(usize, Item)>) {
    match o.effects.as_slice() {
        [Effect::RemoveFromPlaylist {
            playlist_uri,
            track,
            removed,
        }] => (playlist_uri.clone(), track.clone(), removed.clone()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn remove_from_the_open_playlist_then_roll_back_or_keep() {
    let mut s = demo_state();
    act(&mut s, Action::Select); // Daft Punk Essentials: tracks 3, 4, 5
    act(&mut s, Action::Down);
    let o = act(&mut s, Action::RemoveFromPlaylist);
    let (playlist_uri, track, removed) = remove_effect(&o);
    assert_eq!(playlist_uri, uri("playlist", 1));
    assert_eq!(track.name, "Digital Love");
    assert_eq!(
        page_names(&s),
        ["One More Time", "Harder, Better, Faster, Stronger"]
    );

    // Refused: the row comes back where it was.
    update(
        &mut s,
        Msg::RemovedFromPlaylist {
            playlist_uri: playlist_uri.clone(),
            track: track.clone(),
            removed: removed.clone(),
            result: Err("only the owner can edit this playlist".into()),
        },
    );
    assert_eq!(
        page_names(&s),
        [
            "One More Time",
            "Digital Love",
            "Harder, Better, Faster, Stronger"
        ]
    );
    assert!(
        last_note(&s).contains("only the owner"),
        "{}",
        last_note(&s)
    );

    // Accepted: the cached playlist follows, with the new snapshot.
    let o = act(&mut s, Action::RemoveFromPlaylist);
    let (playlist_uri, track, removed) = remove_effect(&o);
    update(
        &mut s,
        Msg::RemovedFromPlaylist {
            playlist_uri,
            track,
            removed,
            result: Ok("s9".into()),
        },
    );
    let lib = s.library.data.as_ref().unwrap();
    let p = &lib.playlists[0];
    let names: Vec<_> = lib.playlist_tracks(p).map(|t| t.name.clone()).collect();
    assert_eq!(names, ["One More Time", "Harder, Better, Faster, Stronger"]);
    assert_eq!((p.total, p.snapshot_id.as_str()), (2, "s9"));
    assert_eq!(page_names(&s).len(), 2);
}

#[test]
fn remove_outside_a_playlist_page_does_nothing() {
    let mut s = demo_state();
    act(&mut s, Action::NextSection); // liked songs: not a playlist
    let o = act(&mut s, Action::RemoveFromPlaylist);
    assert!(o.effects.is_empty());
    assert_eq!(likes(&s).len(), 6);
}
