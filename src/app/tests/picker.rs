//! The add-to-playlist picker: only the user's own playlists, narrowed by the fuzzy filter;
//! enter adds through an effect whose answer updates the cached playlist (items, total, snapshot
//! id) and its open page; "New playlist…" names, creates, then adds. And removing from a
//! playlist of another user is refused at once with a clear message.

use super::*;
use crate::app::state::PickerRow;

fn key(s: &mut State, t: TextInput) -> Outcome {
    update(s, Msg::Text(t))
}

fn row_names(s: &State) -> Vec<String> {
    s.picker
        .as_ref()
        .unwrap()
        .rows
        .iter()
        .map(|r| match r {
            PickerRow::New => "+".to_string(),
            PickerRow::Playlist { name, .. } => name.clone(),
        })
        .collect()
}

/// Liked Songs, the first track (Morning Glory) selected.
fn liked_first() -> State {
    let mut s = demo_state();
    act(&mut s, Action::NextSection);
    s
}

#[test]
fn add_to_an_own_playlist_through_the_filter() {
    let mut s = liked_first();
    let o = act(&mut s, Action::AddToPlaylist);
    assert!(o.redraw && o.effects.is_empty());
    assert!(s.text_input_active(), "the picker takes the keys");
    // Only own playlists ("Not Loaded Yet" is someone else's), "New playlist…" first.
    assert_eq!(row_names(&s), ["+", "Daft Punk Essentials"]);
    typed(&mut s, "dpe");
    assert_eq!(row_names(&s), ["Daft Punk Essentials"]);
    match &s.picker.as_ref().unwrap().rows[0] {
        PickerRow::Playlist { positions, .. } => assert_eq!(positions.len(), 3),
        other => panic!("{other:?}"),
    }
    typed(&mut s, "zz");
    assert!(row_names(&s).is_empty(), "nothing matches");
    key(&mut s, TextInput::Backspace);
    key(&mut s, TextInput::Backspace);
    let o = key(&mut s, TextInput::Enter);
    let (id, tracks) = match o.effects.as_slice() {
        [Effect::AddToPlaylist {
            playlist_id,
            name,
            tracks,
        }] => {
            assert_eq!(name, "Daft Punk Essentials");
            (playlist_id.clone(), tracks.clone())
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(id, "p1");
    assert_eq!(tracks.len(), 1);
    assert_eq!(tracks[0].name, "Morning Glory");
    assert!(s.picker.is_none(), "closed");

    // Refused: nothing changes, the reason is shown.
    update(
        &mut s,
        Msg::AddedToPlaylist {
            playlist_id: id.clone(),
            name: "Daft Punk Essentials".into(),
            tracks: tracks.clone(),
            result: Err("only the owner can edit this playlist".into()),
        },
    );
    assert!(
        last_note(&s).contains("only the owner"),
        "{}",
        last_note(&s)
    );
    assert_eq!(s.library.data.as_ref().unwrap().playlists[0].total, 3);

    // Accepted: the cached playlist gains the track and the new snapshot id.
    update(
        &mut s,
        Msg::AddedToPlaylist {
            playlist_id: id,
            name: "Daft Punk Essentials".into(),
            tracks,
            result: Ok("s2".into()),
        },
    );
    let lib = s.library.data.as_ref().unwrap();
    let p = &lib.playlists[0];
    assert_eq!((p.total, p.snapshot_id.as_str()), (4, "s2"));
    let names: Vec<_> = lib.playlist_tracks(p).map(|t| t.name.clone()).collect();
    assert_eq!(names.last().map(String::as_str), Some("Morning Glory"));
    assert!(
        last_note(&s).contains("Added “Morning Glory”"),
        "{}",
        last_note(&s)
    );
}

#[test]
fn an_open_page_of_the_playlist_follows_the_add() {
    let mut s = demo_state();
    act(&mut s, Action::Select); // Daft Punk Essentials' page: tracks 3, 4, 5
    act(&mut s, Action::Down);
    act(&mut s, Action::AddToPlaylist); // Digital Love, to the same playlist
    key(&mut s, TextInput::Down);
    let o = key(&mut s, TextInput::Enter);
    let [Effect::AddToPlaylist {
        playlist_id,
        name,
        tracks,
    }] = o.effects.as_slice()
    else {
        panic!("{:?}", o.effects)
    };
    update(
        &mut s,
        Msg::AddedToPlaylist {
            playlist_id: playlist_id.clone(),
            name: name.clone(),
            tracks: tracks.clone(),
            result: Ok("s3".into()),
        },
    );
    let data = s.library.pages[0].data.as_ref().unwrap();
    let names: Vec<&str> = data.items.iter().map(|i| i.name()).collect();
    assert_eq!(
        names,
        [
            "One More Time",
            "Digital Love",
            "Harder, Better, Faster, Stronger",
            "Digital Love"
        ]
    );
}

#[test]
fn new_playlist_is_named_created_then_filled() {
    let mut s = liked_first();
    act(&mut s, Action::Down); // Tomorrow Never Knows
    act(&mut s, Action::AddToPlaylist);
    let o = key(&mut s, TextInput::Enter); // "New playlist…"
    assert!(o.effects.is_empty());
    assert_eq!(s.picker.as_ref().unwrap().naming.as_deref(), Some(""));
    // An empty name is not sent.
    let o = key(&mut s, TextInput::Enter);
    assert!(o.effects.is_empty() && s.picker.is_some());
    typed(&mut s, "Road Tripx");
    key(&mut s, TextInput::Backspace);
    // Esc goes back to the list, and enter on "New playlist…" starts a fresh name.
    key(&mut s, TextInput::Esc);
    assert!(s.picker.as_ref().unwrap().naming.is_none());
    key(&mut s, TextInput::Enter);
    typed(&mut s, "Road Trip");
    let o = key(&mut s, TextInput::Enter);
    let tracks = match o.effects.as_slice() {
        [Effect::CreatePlaylist { user, name, tracks }] => {
            assert_eq!((user.as_str(), name.as_str()), ("demo", "Road Trip"));
            tracks.clone()
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(tracks[0].name, "Tomorrow Never Knows");
    assert!(s.picker.is_none());
    update(
        &mut s,
        Msg::PlaylistCreated {
            name: "Road Trip".into(),
            result: Ok(LibraryPlaylist {
                id: "p9".into(),
                uri: uri("playlist", 9),
                name: "Road Trip".into(),
                owner: "demo".into(),
                owner_id: "demo".into(),
                description: String::new(),
                snapshot_id: "n1".into(),
                total: 0,
                items: Some(vec![]),
            }),
        },
    );
    update(
        &mut s,
        Msg::AddedToPlaylist {
            playlist_id: "p9".into(),
            name: "Road Trip".into(),
            tracks,
            result: Ok("n2".into()),
        },
    );
    let lib = s.library.data.as_ref().unwrap();
    let p = &lib.playlists[0];
    assert_eq!(p.name, "Road Trip");
    assert_eq!((p.total, p.snapshot_id.as_str()), (1, "n2"));
    // The picker offers it next time.
    act(&mut s, Action::AddToPlaylist);
    assert_eq!(row_names(&s), ["+", "Road Trip", "Daft Punk Essentials"]);
    key(&mut s, TextInput::Esc);
    assert!(s.picker.is_none());

    // A failed create says why.
    update(
        &mut s,
        Msg::PlaylistCreated {
            name: "X".into(),
            result: Err("HTTP 403".into()),
        },
    );
    assert!(
        last_note(&s).contains("Could not create “X”"),
        "{}",
        last_note(&s)
    );
}

#[test]
fn the_picker_takes_every_key_and_needs_a_track() {
    let mut s = liked_first();
    act(&mut s, Action::AddToPlaylist);
    // Keys and clicks go to the picker, not the list under it.
    let before = s.library.cursors[1];
    key(&mut s, TextInput::Char('j'));
    let o = update(
        &mut s,
        Msg::Mouse {
            kind: MouseKind::Click,
            x: 3,
            y: 5,
        },
    );
    assert!(o.effects.is_empty());
    assert_eq!(s.library.cursors[1], before);
    assert_eq!(s.picker.as_ref().unwrap().query, "j");
    key(&mut s, TextInput::Esc);
    assert!(s.picker.is_none());

    // Nothing selected and nothing playing: said, no picker.
    let mut s = demo_state();
    s.player = None;
    s.focus = Pane::Devices;
    act(&mut s, Action::AddToPlaylist);
    assert!(s.picker.is_none());
    assert!(
        last_note(&s).contains("Select a track"),
        "{}",
        last_note(&s)
    );
}

#[test]
fn removing_from_another_users_playlist_is_refused_at_once() {
    let mut s = demo_state();
    act(&mut s, Action::Down);
    act(&mut s, Action::Select); // "Not Loaded Yet", someone's
    let id = s.library.pages[0].request;
    let t = s.library.data.as_ref().unwrap().tracks[0].clone();
    update(
        &mut s,
        Msg::Page {
            id,
            result: Ok(PageData {
                kind: PageKind::Playlist,
                uri: uri("playlist", 2),
                title: "Not Loaded Yet".into(),
                subtitle: String::new(),
                items: vec![Item::Track(t)],
            }),
        },
    );
    let o = act(&mut s, Action::RemoveFromPlaylist);
    assert!(o.effects.is_empty(), "nothing sent: {:?}", o.effects);
    assert!(
        last_note(&s).contains("belongs to someone"),
        "{}",
        last_note(&s)
    );
    assert_eq!(s.library.pages[0].data.as_ref().unwrap().items.len(), 1);
}

/// `g r` / `g t`: the recently played and top tracks pages open in the library pane, load through
/// an effect, and play like any track list (no context: they have no URI).
#[test]
fn recently_played_and_top_tracks_pages_open_and_play() {
    for (action, kind) in [
        (Action::OpenRecentlyPlayed, PageKind::RecentlyPlayed),
        (Action::OpenTopTracks, PageKind::TopTracks),
    ] {
        let mut s = demo_state();
        s.focus = Pane::Queue;
        let o = act(&mut s, action);
        let id = match o.effects.as_slice() {
            [Effect::LoadPage { id, kind: k, uri }] if *k == kind && uri.is_empty() => *id,
            other => panic!("{other:?}"),
        };
        assert_eq!(s.focus, Pane::Library);
        assert!(s.library.pages[0].loading);
        let lib = s.library.data.as_ref().unwrap().clone();
        let items: Vec<Item> = lib.tracks[2..4].iter().cloned().map(Item::Track).collect();
        update(
            &mut s,
            Msg::Page {
                id,
                result: Ok(PageData {
                    kind,
                    uri: String::new(),
                    title: "Top tracks".into(),
                    subtitle: String::new(),
                    items,
                }),
            },
        );
        act(&mut s, Action::Down);
        let o = act(&mut s, Action::Select);
        match o.effects.as_slice() {
            [Effect::PlayingContext { context_uri, .. }, Effect::Player(PlayerOp::Load { ids, index, .. })] =>
            {
                assert!(context_uri.is_empty(), "{context_uri}");
                assert_eq!((ids.clone(), *index), (vec![track_id(3), track_id(4)], 1));
            }
            other => panic!("{other:?}"),
        }
        // Back closes the page.
        act(&mut s, Action::Close);
        assert!(s.library.pages.is_empty());
    }
}
