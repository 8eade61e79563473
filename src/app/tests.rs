//! Tests of the pure state machine: message-level unit tests of `update`, and flow tests that
//! drive key strings through the real built-in keymap (`keys::feed`). Also the reusable state
//! builders other test modules may use ([`demo_state`], [`demo_library`], [`track_id`]).
//!
//! Test-only (`#[cfg(test)]` in `app.rs`); no I/O, no terminal.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Instant;

use crate::action::{Action, Pane};
use crate::api::library::{
    AlbumInfo, ArtistInfo, Entry, Library, LibraryPlaylist, ShowInfo, TrackInfo,
};
use crate::app::effect::{Effect, LoginRequest, Outcome};
use crate::app::msg::{MouseKind, Msg, TextInput};
use crate::app::state::{
    Area, HitMap, Item, Level, LibrarySection, ListArea, LogLine, LoginStage, PageData, PageKind,
    Screen, State, LOG_LINES,
};
use crate::app::update::update;
use crate::connect::{Device, DeviceOrigin, RemoteCommand, RemoteControl, RemotePlayback};
use crate::id::{SpotifyId, SpotifyUri};
use crate::player::loader::TrackInfo as PlayedTrack;
use crate::player::{PlayState, PlayerEvent, PlayerOp, PlayerStatus, QueueSnapshot, RepeatMode};

mod flows;
mod held;
mod keys;
mod library_edits;
mod lyrics;
mod one_core;
mod picker;
mod queue_names;
mod shows;

/// A valid URI of `kind` for the small number `n` (base62 digits only).
pub fn uri(kind: &str, n: u32) -> String {
    format!("spotify:{kind}:{n:0>22}")
}

/// The id of track `n` as built by [`uri`].
pub fn track_id(n: u32) -> SpotifyId {
    SpotifyUri::parse(&uri("track", n)).unwrap().id
}

pub fn track(n: u32, name: &str, artist: &str, album: &str) -> TrackInfo {
    TrackInfo {
        uri: uri("track", n),
        name: name.into(),
        artists: vec![artist.into()],
        album: album.into(),
        album_uri: uri("album", 1),
        duration_ms: 200_000,
        explicit: false,
    }
}

/// Six tracks (Liked Songs in this order), two playlists (one with its items cached), an
/// album, an artist and a show.
pub fn demo_library() -> Library {
    let tracks = vec![
        track(
            1,
            "Morning Glory",
            "Oasis",
            "(What's the Story) Morning Glory?",
        ),
        track(2, "Tomorrow Never Knows", "The Beatles", "Revolver"),
        track(3, "One More Time", "Daft Punk", "Discovery"),
        track(4, "Digital Love", "Daft Punk", "Discovery"),
        track(
            5,
            "Harder, Better, Faster, Stronger",
            "Daft Punk",
            "Discovery",
        ),
        track(6, "Lemon", "U2", "Zooropa"),
    ];
    let entry = |t: u32| Entry {
        track: t,
        added_at: String::new(),
    };
    Library {
        liked_index: Default::default(),
        id_index: Default::default(),
        version: 1,
        username: "demo".into(),
        fetched_at: 0,
        tracks,
        playlists: vec![
            LibraryPlaylist {
                id: "p1".into(),
                uri: uri("playlist", 1),
                name: "Daft Punk Essentials".into(),
                owner: "demo".into(),
                owner_id: "demo".into(),
                description: String::new(),
                snapshot_id: "s1".into(),
                total: 3,
                items: Some(vec![entry(2), entry(3), entry(4)]),
            },
            LibraryPlaylist {
                id: "p2".into(),
                uri: uri("playlist", 2),
                name: "Not Loaded Yet".into(),
                owner: "someone".into(),
                owner_id: "someone".into(),
                description: String::new(),
                snapshot_id: "s2".into(),
                total: 40,
                items: None,
            },
        ],
        saved_tracks: (0..6).map(entry).collect(),
        saved_albums: vec![AlbumInfo {
            uri: uri("album", 1),
            name: "Discovery".into(),
            artists: vec!["Daft Punk".into()],
            total_tracks: 14,
            release_date: "2001-03-12".into(),
            added_at: String::new(),
        }],
        followed_artists: vec![ArtistInfo {
            uri: uri("artist", 1),
            name: "Daft Punk".into(),
        }],
        saved_shows: vec![ShowInfo {
            uri: uri("show", 1),
            name: "The Daily".into(),
            publisher: "NYT".into(),
            total_episodes: 3,
            added_at: String::new(),
        }],
    }
}

pub fn demo_devices() -> Vec<Device> {
    vec![
        Device {
            id: "this".into(),
            name: "tonearm".into(),
            kind: "Computer".into(),
            is_active: true,
            volume: Some(32768),
            origin: DeviceOrigin::This,
        },
        Device {
            id: "kitchen".into(),
            name: "Kitchen".into(),
            kind: "Speaker".into(),
            is_active: false,
            volume: Some(20000),
            origin: DeviceOrigin::Cloud,
        },
    ]
}

/// A paused local player on track 1, 10 s in, volume 50 %.
pub fn paused_player() -> PlayerStatus {
    PlayerStatus {
        state: PlayState::Paused,
        track: Some(PlayedTrack {
            id: track_id(1),
            played_id: track_id(1),
            name: "Morning Glory".into(),
            artists: vec!["Oasis".into()],
            album: "(What's the Story) Morning Glory?".into(),
            duration_ms: 200_000,
        }),
        position_ms: 10_000,
        at: Instant::now(),
        volume: 32768,
        buffering: false,
        repeat: RepeatMode::Off,
        shuffle: false,
    }
}

/// Playback paused on the Kitchen speaker, 60 s into a 180 s track.
pub fn kitchen_playback() -> RemotePlayback {
    RemotePlayback {
        device_id: "kitchen".into(),
        device_name: "Kitchen".into(),
        track_uri: uri("track", 3),
        title: "One More Time".into(),
        artists: vec!["Daft Punk".into()],
        album: "Discovery".into(),
        duration_ms: 180_000,
        is_playing: false,
        position_ms: 60_000,
        at: Instant::now(),
        volume: Some(20000),
        shuffle: false,
        repeat_context: false,
        repeat_track: false,
    }
}

/// The main screen with the demo library loaded, the devices listed, a paused local player and
/// a queue of tracks 1..=4 playing the first.
pub fn demo_state() -> State {
    let mut s = State::new(
        "this".into(),
        "tonearm".into(),
        "default".into(),
        vec!["default".into(), "light".into(), "gruvbox".into()],
        Screen::Main,
    );
    update(&mut s, Msg::Library(Ok(Arc::new(demo_library()))));
    update(&mut s, Msg::Devices(Ok(demo_devices())));
    update(&mut s, Msg::PlayerStatus(paused_player()));
    for n in 1..=4 {
        let t = demo_library().tracks[n - 1].clone();
        s.tracks.insert(track_id(n as u32), t);
    }
    update(
        &mut s,
        Msg::Queue(QueueSnapshot {
            items: (1..=4).map(track_id).collect(),
            current: Some(0),
        }),
    );
    s.notifications.clear();
    s
}

pub fn act(s: &mut State, a: Action) -> Outcome {
    update(s, Msg::Action(a))
}

pub fn typed(s: &mut State, text: &str) -> Vec<Effect> {
    text.chars()
        .flat_map(|c| update(s, Msg::Text(TextInput::Char(c))).effects)
        .collect()
}

fn player(e: &[Effect]) -> Vec<PlayerOp> {
    e.iter()
        .filter_map(|e| match e {
            Effect::Player(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

fn last_note(s: &State) -> String {
    s.notifications
        .back()
        .map(|n| n.text.clone())
        .unwrap_or_default()
}

// --- state queries

#[test]
fn new_state_and_queries() {
    let s = State::new("d".into(), "n".into(), "t".into(), vec![], Screen::Main);
    assert_eq!(s.focus, Pane::Library);
    assert_eq!(s.library.section, Some(LibrarySection::Playlists));
    assert!(!s.text_input_active());
    assert!(!s.animating());
    assert_eq!(s.key_context(), crate::keymap::Context::Library);

    let mut s = demo_state();
    s.help = Some(Default::default());
    assert_eq!(s.key_context(), crate::keymap::Context::Help);
    s.help = None;
    s.focus = Pane::Queue;
    assert_eq!(s.key_context(), crate::keymap::Context::Queue);
    let login = State::new(
        "d".into(),
        "n".into(),
        "t".into(),
        vec![],
        Screen::Login(LoginStage::Password {
            username: String::new(),
            password: String::new(),
            field: 0,
        }),
    );
    assert_eq!(login.key_context(), crate::keymap::Context::Login);
    assert!(login.text_input_active());
}

#[test]
fn a_position_report_on_the_extrapolated_course_draws_no_frame() {
    let mut s = demo_state();
    let mut p = paused_player();
    p.state = PlayState::Playing;
    assert!(update(&mut s, Msg::PlayerStatus(p.clone())).redraw);
    // 250 ms later, 250 ms further: what the screen already extrapolates.
    let mut on_course = p.clone();
    on_course.at = p.at + std::time::Duration::from_millis(250);
    on_course.position_ms = p.position_ms + 250;
    assert!(!update(&mut s, Msg::PlayerStatus(on_course.clone())).redraw);
    assert_eq!(s.player.as_ref().map(|x| x.position_ms), Some(10_250));
    // A jump (a seek, or the player catching up after a stall) is drawn.
    let mut jumped = on_course.clone();
    jumped.at = on_course.at + std::time::Duration::from_millis(250);
    jumped.position_ms = 42_000;
    assert!(update(&mut s, Msg::PlayerStatus(jumped.clone())).redraw);
    // So is anything else that changed, e.g. the volume.
    let mut louder = jumped.clone();
    louder.volume = 65535;
    assert!(update(&mut s, Msg::PlayerStatus(louder)).redraw);
}

#[test]
fn the_tick_lands_when_the_clock_changes_and_the_bar_moves_with_it() {
    use std::time::Duration;
    let mut s = demo_state();
    s.size = (100, 30);
    assert_eq!(s.tick_in(Instant::now()), None, "paused: nothing moves");
    let mut p = paused_player();
    p.state = PlayState::Playing;
    p.position_ms = 10_300;
    let now = p.at;
    update(&mut s, Msg::PlayerStatus(p.clone()));
    // 200 s over 100 columns: a cell is 2 s, so the clock's next second (0.7 s away) comes first.
    assert_eq!(s.tick_in(now), Some(Duration::from_millis(705)));
    // A 10 s track: a cell is 100 ms, but the bar moves with the clock, once a second.
    let mut short = p.clone();
    if let Some(t) = short.track.as_mut() {
        t.duration_ms = 10_000;
    }
    short.position_ms = 1_100;
    update(&mut s, Msg::PlayerStatus(short));
    assert_eq!(s.tick_in(now), Some(Duration::from_millis(905)));
    // Synced lyrics open: the next line's start when it comes before the clock's second.
    update(&mut s, Msg::PlayerStatus(p.clone()));
    let line = |start_ms| crate::api::lyrics::Line {
        start_ms,
        words: "la".into(),
    };
    s.lyrics = Some(crate::app::state::LyricsView {
        lyrics: Some(crate::api::lyrics::Lyrics::Text {
            synced: true,
            lines: vec![line(9_000), line(10_500), line(12_000)],
        }),
        ..Default::default()
    });
    assert_eq!(s.tick_in(now), Some(Duration::from_millis(205)));
    s.lyrics = None;
    // Loading spins at 4 Hz.
    let mut loading = p;
    loading.state = PlayState::Loading;
    update(&mut s, Msg::PlayerStatus(loading));
    assert_eq!(s.tick_in(now), Some(crate::app::state::SPINNER_TICK));
}

#[test]
fn animating_follows_playback_and_spinners() {
    let mut s = demo_state();
    assert!(!s.animating(), "paused and nothing loading");
    let mut p = paused_player();
    p.state = PlayState::Playing;
    update(&mut s, Msg::PlayerStatus(p));
    assert!(s.animating());
    update(&mut s, Msg::PlayerStatus(paused_player()));
    assert!(!s.animating());
    let mut r = kitchen_playback();
    r.is_playing = true;
    update(&mut s, Msg::Remote(Some(r)));
    assert!(s.animating());
    update(&mut s, Msg::Remote(None));
    act(&mut s, Action::RefreshDevices);
    assert!(s.animating(), "device spinner");
    assert!(update(&mut s, Msg::Tick(Instant::now())).redraw);
    update(&mut s, Msg::Devices(Ok(demo_devices())));
    assert!(!s.animating());
    assert!(!update(&mut s, Msg::Tick(Instant::now())).redraw);
}

// --- navigation

#[test]
fn navigation_clamps_and_reports_no_ops() {
    let mut s = demo_state();
    act(&mut s, Action::NextSection); // liked songs: 6 rows
    assert_eq!(s.library.section, Some(LibrarySection::LikedSongs));
    assert!(!act(&mut s, Action::Up).redraw, "already at the top");
    assert!(act(&mut s, Action::Down).redraw);
    assert_eq!(s.library.cursors[1].selected, 1);
    assert!(act(&mut s, Action::Bottom).redraw);
    assert_eq!(s.library.cursors[1].selected, 5);
    let o = act(&mut s, Action::Down);
    assert!(
        !o.redraw && o.effects.is_empty(),
        "Down at the last row is a no-op"
    );
    act(&mut s, Action::Top);
    assert_eq!(s.library.cursors[1].selected, 0);
    // PageDown steps by the list's drawn height (3 here), default 10.
    s.hitmap.lists.push(ListArea {
        pane: Pane::Library,
        area: Area {
            x: 0,
            y: 2,
            width: 40,
            height: 3,
        },
        rows: vec![Some(0), Some(1), Some(2)],
    });
    act(&mut s, Action::PageDown);
    assert_eq!(s.library.cursors[1].selected, 3);
    act(&mut s, Action::PageDown);
    assert_eq!(s.library.cursors[1].selected, 5);
    act(&mut s, Action::PageUp);
    assert_eq!(s.library.cursors[1].selected, 2);
    // Sections keep their own cursor.
    act(&mut s, Action::PrevSection);
    assert_eq!(s.library.cursors[0].selected, 0);
    act(&mut s, Action::PrevSection);
    assert_eq!(s.library.section, Some(LibrarySection::Podcasts));
}

#[test]
fn focus_cycles_and_back_unwinds_then_quits() {
    let mut s = demo_state();
    act(&mut s, Action::FocusNext);
    assert_eq!(s.focus, Pane::Search);
    assert!(
        s.search.editing,
        "empty search box: focusing it starts editing"
    );
    update(&mut s, Msg::Text(TextInput::Esc));
    act(&mut s, Action::FocusNext);
    assert_eq!(s.focus, Pane::Queue);
    act(&mut s, Action::FocusPrev);
    act(&mut s, Action::FocusPrev);
    assert_eq!(s.focus, Pane::Library);
    act(&mut s, Action::FocusPrev);
    assert_eq!(s.focus, Pane::Log);
    act(&mut s, Action::Focus(Pane::Library));

    // Back: help → filter → page → quit.
    act(&mut s, Action::Select); // open the first playlist
    act(&mut s, Action::OpenFilter);
    update(&mut s, Msg::Text(TextInput::Enter));
    act(&mut s, Action::ToggleHelp);
    act(&mut s, Action::Back);
    assert!(s.help.is_none() && s.filter.is_some());
    act(&mut s, Action::Back);
    assert!(s.filter.is_none() && s.library.pages.len() == 1);
    act(&mut s, Action::Back);
    assert!(s.library.pages.is_empty() && !s.quit);
    act(&mut s, Action::Back);
    assert!(s.quit);
}

#[test]
fn close_unwinds_like_back_but_never_quits() {
    let mut s = demo_state();
    act(&mut s, Action::Select); // open the first playlist
    act(&mut s, Action::ToggleHelp);
    act(&mut s, Action::Close);
    assert!(s.help.is_none() && s.library.pages.len() == 1);
    let o = act(&mut s, Action::Close);
    assert!(o.redraw && s.library.pages.is_empty());
    // Nothing left to close: Esc once too often is a no-op, not the end of the app.
    let o = act(&mut s, Action::Close);
    assert!(!o.redraw && !s.quit);
    let mut k = crate::keymap::Keymap::builtin("default").expect("built-in keymap");
    keys::feed(&mut s, &mut k, "<esc><esc>");
    assert!(!s.quit);
    keys::feed(&mut s, &mut k, "q");
    assert!(s.quit);
}

#[test]
fn toggle_log_returns_to_the_previous_pane() {
    let mut s = demo_state();
    act(&mut s, Action::Focus(Pane::Devices));
    act(&mut s, Action::ToggleLog);
    assert_eq!(s.focus, Pane::Log);
    act(&mut s, Action::ToggleLog);
    assert_eq!(s.focus, Pane::Devices);
}

// --- library pages and playing

#[test]
fn playlist_with_cached_items_opens_at_once_and_still_refreshes() {
    let mut s = demo_state();
    let o = act(&mut s, Action::Select);
    let page = s.library.pages.last().unwrap();
    assert_eq!(page.kind, PageKind::Playlist);
    assert!(page.loading);
    let data = page.data.as_ref().unwrap();
    assert_eq!(data.items.len(), 3);
    assert_eq!(data.items[0].name(), "One More Time");
    assert_eq!(
        o.effects,
        vec![Effect::LoadPage {
            id: page.request,
            kind: PageKind::Playlist,
            uri: uri("playlist", 1)
        }]
    );
}

fn album_page(uri_: String) -> PageData {
    let lib = demo_library();
    PageData {
        kind: PageKind::Album,
        uri: uri_,
        title: "Discovery".into(),
        subtitle: "Album · Daft Punk · 2001".into(),
        items: lib.tracks[2..5].iter().cloned().map(Item::Track).collect(),
    }
}

#[test]
fn page_answers_fill_the_matching_page_only() {
    let mut s = demo_state();
    act(&mut s, Action::NextSection);
    act(&mut s, Action::NextSection); // albums
    let o = act(&mut s, Action::Select);
    let Some(Effect::LoadPage { id, kind, uri: u }) = o.effects.first().cloned() else {
        panic!("no LoadPage: {:?}", o.effects)
    };
    assert_eq!(kind, PageKind::Album);
    assert!(s.library.pages[0].data.is_none());
    // A stale answer (another id) is dropped without a redraw.
    let o = update(
        &mut s,
        Msg::Page {
            id: id + 100,
            result: Ok(album_page(u.clone())),
        },
    );
    assert!(!o.redraw);
    assert!(s.library.pages[0].data.is_none());
    let o = update(
        &mut s,
        Msg::Page {
            id,
            result: Ok(album_page(u)),
        },
    );
    assert!(o.redraw);
    assert!(!s.library.pages[0].loading);
    // Play the second track of the page: every track of the page, index 1.
    act(&mut s, Action::Down);
    let o = act(&mut s, Action::Select);
    assert_eq!(
        player(&o.effects),
        vec![PlayerOp::Load {
            ids: vec![track_id(3), track_id(4), track_id(5)],
            index: 1,
            position_ms: 0,
            play: true
        }]
    );
}

#[test]
fn page_error_is_shown() {
    let mut s = demo_state();
    act(&mut s, Action::Down); // the playlist without cached items
    let o = act(&mut s, Action::Select);
    let Some(Effect::LoadPage { id, .. }) = o.effects.first().cloned() else {
        panic!()
    };
    assert!(s.library.pages[0].data.is_none());
    update(
        &mut s,
        Msg::Page {
            id,
            result: Err("HTTP 500".into()),
        },
    );
    assert_eq!(s.library.pages[0].error.as_deref(), Some("HTTP 500"));
    assert!(last_note(&s).contains("HTTP 500"));
    assert_eq!(s.notifications.back().unwrap().level, Level::Error);
}

#[test]
fn liked_song_plays_the_whole_list_and_names_are_remembered() {
    let mut s = demo_state();
    s.tracks.clear();
    act(&mut s, Action::NextSection);
    act(&mut s, Action::Down);
    act(&mut s, Action::Down);
    let o = act(&mut s, Action::Select);
    assert_eq!(
        player(&o.effects),
        vec![PlayerOp::Load {
            ids: (1..=6).map(track_id).collect(),
            index: 2,
            position_ms: 0,
            play: true
        }]
    );
    assert_eq!(
        s.track(&track_id(6)).map(|t| t.name.as_str()),
        Some("Lemon")
    );
    // Named from the library itself: its tracks are not copied (a 10k-track list would be
    // held twice).
    assert!(s.tracks.is_empty(), "{} tracks copied", s.tracks.len());
    // A refreshed library without them: the queued ones keep their names.
    update(
        &mut s,
        Msg::Queue(QueueSnapshot {
            items: (1..=6).map(track_id).collect(),
            current: Some(2),
        }),
    );
    let without_lemon = Library {
        saved_tracks: Vec::new(),
        tracks: demo_library().tracks[..5].to_vec(),
        ..demo_library()
    };
    update(&mut s, Msg::Library(Ok(Arc::new(without_lemon))));
    assert_eq!(
        s.track(&track_id(6)).map(|t| t.name.as_str()),
        Some("Lemon")
    );
    assert_eq!(
        s.tracks.len(),
        1,
        "only the one the new library lacks is kept"
    );
}

#[test]
fn queueing_tracks_and_containers() {
    let mut s = demo_state();
    // A playlist whose items are cached: queued at once.
    let o = act(&mut s, Action::AddToQueue);
    assert_eq!(
        player(&o.effects),
        vec![PlayerOp::AddToQueue(vec![
            track_id(3),
            track_id(4),
            track_id(5)
        ])]
    );
    // One whose items aren't: loaded first, queued when the answer comes.
    act(&mut s, Action::Down);
    let o = act(&mut s, Action::PlayNext);
    let Some(Effect::LoadPage { id, kind, .. }) = o.effects.first().cloned() else {
        panic!("{:?}", o.effects)
    };
    assert_eq!(kind, PageKind::Playlist);
    assert!(s.library.pages.is_empty(), "no page is opened for it");
    let o = update(
        &mut s,
        Msg::Page {
            id,
            result: Ok(PageData {
                kind: PageKind::Playlist,
                uri: uri("playlist", 2),
                title: "Not Loaded Yet".into(),
                subtitle: String::new(),
                items: vec![Item::Track(track(6, "Lemon", "U2", "Zooropa"))],
            }),
        },
    );
    assert_eq!(
        player(&o.effects),
        vec![PlayerOp::PlayNext(vec![track_id(6)])]
    );
    assert!(s.memo.queue_pages.is_empty());
    // A single track.
    act(&mut s, Action::NextSection);
    let o = act(&mut s, Action::AddToQueue);
    assert_eq!(
        player(&o.effects),
        vec![PlayerOp::AddToQueue(vec![track_id(1)])]
    );
    assert!(last_note(&s).contains("Morning Glory"));
}

// --- search

#[test]
fn search_debounce_latest_wins_and_stale_answers_are_dropped() {
    let mut s = demo_state();
    act(&mut s, Action::OpenSearch);
    assert!(s.text_input_active());
    let e = typed(&mut s, "daft");
    assert_eq!(e.len(), 4);
    let ids: Vec<u64> = e
        .iter()
        .map(|e| match e {
            Effect::Debounce { id, delay_ms: 250 } => *id,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(s.search.latest, ids[3]);
    // An older timer does nothing.
    let o = update(&mut s, Msg::SearchDue(ids[1]));
    assert!(o.effects.is_empty() && !o.redraw);
    let o = update(&mut s, Msg::SearchDue(ids[3]));
    assert_eq!(
        o.effects,
        vec![Effect::Search {
            id: ids[3],
            query: "daft".into()
        }]
    );
    assert!(s.search.loading);
    // The same timer twice does nothing more.
    assert!(update(&mut s, Msg::SearchDue(ids[3])).effects.is_empty());
    // Keep typing: the answer to the old search is stale.
    typed(&mut s, " punk");
    let o = update(
        &mut s,
        Msg::SearchResults {
            id: ids[3],
            query: "daft".into(),
            result: Ok(vec![Item::Track(track(9, "Old", "x", "y"))]),
        },
    );
    assert!(!o.redraw);
    assert!(s.search.results.is_empty());
    let latest = s.search.latest;
    update(&mut s, Msg::SearchDue(latest));
    let o = update(
        &mut s,
        Msg::SearchResults {
            id: latest,
            query: "daft punk".into(),
            result: Ok(vec![
                Item::Track(track(3, "One More Time", "Daft Punk", "Discovery")),
                Item::Artist {
                    uri: uri("artist", 1),
                    name: "Daft Punk".into(),
                },
            ]),
        },
    );
    assert!(o.redraw);
    assert_eq!(s.search.results.len(), 2);
    assert_eq!(s.search.shown_query, "daft punk");
    assert!(!s.search.loading);
}

#[test]
fn search_box_editing_is_cursor_aware() {
    let mut s = demo_state();
    act(&mut s, Action::OpenSearch);
    typed(&mut s, "dft");
    update(&mut s, Msg::Text(TextInput::Left));
    update(&mut s, Msg::Text(TextInput::Left));
    typed(&mut s, "a");
    assert_eq!(s.search.input, "daft");
    assert_eq!(s.search.input_cursor, 2);
    update(&mut s, Msg::Text(TextInput::Backspace));
    assert_eq!(s.search.input, "dft");
    update(&mut s, Msg::Text(TextInput::Delete));
    assert_eq!(s.search.input, "dt");
    update(&mut s, Msg::Text(TextInput::Home));
    typed(&mut s, "é");
    assert_eq!(s.search.input, "édt");
    update(&mut s, Msg::Text(TextInput::End));
    assert_eq!(s.search.input_cursor, 3);
    let o = update(&mut s, Msg::Text(TextInput::Right));
    assert!(!o.redraw, "already at the end");
    update(&mut s, Msg::Text(TextInput::Clear));
    assert_eq!(s.search.input, "");
    // Due with an empty box: nothing to search.
    let latest = s.search.latest;
    assert!(update(&mut s, Msg::SearchDue(latest)).effects.is_empty());
}

#[test]
fn search_error_is_a_notification() {
    let mut s = demo_state();
    act(&mut s, Action::OpenSearch);
    typed(&mut s, "x");
    let id = s.search.latest;
    update(&mut s, Msg::SearchDue(id));
    update(
        &mut s,
        Msg::SearchResults {
            id,
            query: "x".into(),
            result: Err("rate limited".into()),
        },
    );
    assert_eq!(s.search.error.as_deref(), Some("rate limited"));
    assert!(!s.search.loading);
    assert!(last_note(&s).contains("rate limited"));
}

// --- filter

#[test]
fn filter_narrows_maps_selection_back_and_closes() {
    let mut s = demo_state();
    act(&mut s, Action::NextSection); // liked songs
    act(&mut s, Action::OpenFilter);
    assert!(s.text_input_active());
    assert_eq!(s.filter.as_ref().unwrap().matches.len(), 6);
    typed(&mut s, "morn");
    let f = s.filter.as_ref().unwrap();
    let rows: Vec<usize> = f.matches.iter().map(|m| m.0).collect();
    assert_eq!(
        rows.len(),
        3,
        "Morning Glory, Tomorrow Never Knows, One More Time: {rows:?}"
    );
    assert!(rows.contains(&0) && rows.contains(&1) && rows.contains(&2));
    update(&mut s, Msg::Text(TextInput::Backspace));
    assert!(
        s.filter.as_ref().unwrap().matches.len() > 3,
        "Lemon · U2 · Zooropa has m-o-r"
    );
    typed(&mut s, "n");
    update(&mut s, Msg::Text(TextInput::Down));
    let second = s.filter.as_ref().unwrap().matches[1].0;
    assert_eq!(
        s.library.cursors[1].selected, second,
        "underlying cursor follows"
    );
    update(&mut s, Msg::Text(TextInput::Enter));
    assert!(!s.text_input_active());
    let o = act(&mut s, Action::Select);
    let Some(PlayerOp::Load { ids, index, .. }) = player(&o.effects).first().cloned() else {
        panic!()
    };
    assert_eq!(ids.len(), 6, "the whole list plays");
    assert_eq!(ids[index], track_id(second as u32 + 1));
    act(&mut s, Action::Back);
    assert!(s.filter.is_none());
    assert_eq!(s.library.cursors[1].selected, second);
}

#[test]
fn filter_esc_and_no_matches() {
    let mut s = demo_state();
    act(&mut s, Action::NextSection);
    act(&mut s, Action::OpenFilter);
    typed(&mut s, "zzzz");
    assert!(s.filter.as_ref().unwrap().matches.is_empty());
    update(&mut s, Msg::Text(TextInput::Enter));
    let o = act(&mut s, Action::Select);
    assert!(o.effects.is_empty(), "nothing selected");
    assert!(!act(&mut s, Action::Down).redraw);
    act(&mut s, Action::OpenFilter);
    update(&mut s, Msg::Text(TextInput::Esc));
    assert!(s.filter.is_none());
}

// --- queue

#[test]
fn queue_snapshot_asks_names_once_per_id() {
    let mut s = demo_state();
    let snap = QueueSnapshot {
        items: vec![track_id(1), track_id(7), track_id(8), track_id(7)],
        current: Some(0),
    };
    let o = update(&mut s, Msg::Queue(snap.clone()));
    assert_eq!(
        o.effects,
        vec![Effect::FetchTracks(vec![track_id(7), track_id(8)])]
    );
    let o = update(&mut s, Msg::Queue(snap.clone()));
    assert!(!o.redraw && o.effects.is_empty(), "same snapshot: nothing");
    let mut snap2 = snap;
    snap2.current = Some(1);
    let o = update(&mut s, Msg::Queue(snap2));
    assert!(o.redraw);
    assert!(o.effects.is_empty(), "ids already asked for");
    let o = update(
        &mut s,
        Msg::Tracks(vec![(track_id(7), track(7, "Seven", "x", "y"))]),
    );
    assert!(o.redraw);
    assert_eq!(s.tracks[&track_id(7)].name, "Seven");
}

#[test]
fn queue_editing_moves_selection_with_the_item() {
    let mut s = demo_state();
    act(&mut s, Action::Focus(Pane::Queue));
    act(&mut s, Action::Down);
    let o = act(&mut s, Action::MoveDown);
    assert_eq!(player(&o.effects), vec![PlayerOp::Move { from: 1, to: 2 }]);
    assert_eq!(s.queue.cursor.selected, 2);
    assert_eq!(s.queue.snapshot.items[2], track_id(2));
    let o = act(&mut s, Action::MoveUp);
    assert_eq!(player(&o.effects), vec![PlayerOp::Move { from: 2, to: 1 }]);
    act(&mut s, Action::Top);
    assert!(
        act(&mut s, Action::MoveUp).effects.is_empty(),
        "top can't go up"
    );
    // The playing entry moves with its `current`.
    act(&mut s, Action::MoveDown);
    assert_eq!(s.queue.snapshot.current, Some(1));
    // Removing the playing entry is refused; another one is removed.
    let o = act(&mut s, Action::RemoveFromQueue);
    assert!(o.effects.is_empty());
    act(&mut s, Action::Bottom);
    let o = act(&mut s, Action::RemoveFromQueue);
    assert_eq!(player(&o.effects), vec![PlayerOp::Remove(3)]);
    let o = act(&mut s, Action::ClearQueue);
    assert_eq!(player(&o.effects), vec![PlayerOp::ClearQueue]);
    let o = act(&mut s, Action::Select);
    assert_eq!(
        player(&o.effects),
        vec![PlayerOp::Load {
            ids: s.queue.snapshot.items.clone(),
            index: 3,
            position_ms: 0,
            play: true
        }]
    );
}

// --- playback

#[test]
fn local_playback_commands() {
    let mut s = demo_state();
    let p = |s: &mut State, a| player(&act(s, a).effects);
    assert_eq!(p(&mut s, Action::TogglePlay), vec![PlayerOp::Toggle]);
    assert_eq!(p(&mut s, Action::Next), vec![PlayerOp::Next]);
    assert_eq!(p(&mut s, Action::Previous), vec![PlayerOp::Previous]);
    assert_eq!(p(&mut s, Action::SeekForward), vec![PlayerOp::Seek(15_000)]);
    assert_eq!(
        p(&mut s, Action::SeekBackward),
        vec![PlayerOp::Seek(10_000)]
    );
    assert_eq!(p(&mut s, Action::SeekBackward), vec![PlayerOp::Seek(5_000)]);
    assert_eq!(p(&mut s, Action::SeekBackward), vec![PlayerOp::Seek(0)]);
    assert_eq!(
        p(&mut s, Action::SeekBackward),
        vec![PlayerOp::Seek(0)],
        "clamped at 0"
    );
    assert_eq!(
        p(&mut s, Action::SeekTo(199_000)),
        vec![PlayerOp::Seek(199_000)]
    );
    assert_eq!(
        p(&mut s, Action::SeekForward),
        vec![PlayerOp::Seek(200_000)],
        "clamped at the end"
    );
    assert_eq!(
        p(&mut s, Action::VolumeUp),
        vec![PlayerOp::SetVolume(32768 + 3277)]
    );
    assert_eq!(
        p(&mut s, Action::VolumeUp),
        vec![PlayerOp::SetVolume(32768 + 2 * 3277)]
    );
    assert_eq!(
        p(&mut s, Action::SetVolume(65000)),
        vec![PlayerOp::SetVolume(65000)]
    );
    assert_eq!(
        p(&mut s, Action::VolumeUp),
        vec![PlayerOp::SetVolume(65535)]
    );
    assert_eq!(
        p(&mut s, Action::SetVolume(1000)),
        vec![PlayerOp::SetVolume(1000)]
    );
    assert_eq!(p(&mut s, Action::VolumeDown), vec![PlayerOp::SetVolume(0)]);
    assert_eq!(
        p(&mut s, Action::ToggleShuffle),
        vec![PlayerOp::SetShuffle(true)]
    );
    assert_eq!(
        p(&mut s, Action::ToggleShuffle),
        vec![PlayerOp::SetShuffle(false)]
    );
    assert_eq!(
        p(&mut s, Action::CycleRepeat),
        vec![PlayerOp::SetRepeat(RepeatMode::All)]
    );
    assert_eq!(
        p(&mut s, Action::CycleRepeat),
        vec![PlayerOp::SetRepeat(RepeatMode::One)]
    );
    assert_eq!(
        p(&mut s, Action::CycleRepeat),
        vec![PlayerOp::SetRepeat(RepeatMode::Off)]
    );
    assert_eq!(p(&mut s, Action::Pause), vec![PlayerOp::Pause]);
    assert_eq!(p(&mut s, Action::Play), vec![PlayerOp::Play]);
}

fn remote_controls(e: &[Effect]) -> Vec<RemoteControl> {
    e.iter()
        .map(|e| match e {
            Effect::Remote { device_id, control } => {
                assert_eq!(device_id, "kitchen");
                control.clone()
            }
            other => panic!("not a remote effect: {other:?}"),
        })
        .collect()
}

#[test]
fn playback_goes_to_the_active_remote_device() {
    let mut s = demo_state();
    update(&mut s, Msg::Remote(Some(kitchen_playback())));
    let r = |s: &mut State, a| remote_controls(&act(s, a).effects);
    assert_eq!(r(&mut s, Action::TogglePlay), vec![RemoteControl::Resume]);
    assert_eq!(r(&mut s, Action::Pause), vec![RemoteControl::Pause]);
    assert_eq!(r(&mut s, Action::Play), vec![RemoteControl::Resume]);
    assert_eq!(r(&mut s, Action::Next), vec![RemoteControl::SkipNext]);
    assert_eq!(r(&mut s, Action::Previous), vec![RemoteControl::SkipPrev]);
    assert_eq!(
        r(&mut s, Action::SeekForward),
        vec![RemoteControl::SeekTo(65_000)]
    );
    assert_eq!(
        r(&mut s, Action::SeekTo(500_000)),
        vec![RemoteControl::SeekTo(180_000)]
    );
    assert_eq!(
        r(&mut s, Action::VolumeDown),
        vec![RemoteControl::SetVolume(20000 - 3277)]
    );
    assert_eq!(
        r(&mut s, Action::ToggleShuffle),
        vec![RemoteControl::SetShuffle(true)]
    );
    assert_eq!(
        r(&mut s, Action::CycleRepeat),
        vec![RemoteControl::SetRepeatContext(true)]
    );
    assert_eq!(
        r(&mut s, Action::CycleRepeat),
        vec![RemoteControl::SetRepeatTrack(true)]
    );
    assert_eq!(
        r(&mut s, Action::CycleRepeat),
        vec![
            RemoteControl::SetRepeatContext(false),
            RemoteControl::SetRepeatTrack(false)
        ]
    );
    // Queueing a track adds it on the remote device.
    act(&mut s, Action::NextSection);
    assert_eq!(
        r(&mut s, Action::AddToQueue),
        vec![RemoteControl::AddToQueue(uri("track", 1))]
    );
    // The playing state toggles the other way once the device reports it plays.
    let mut k = kitchen_playback();
    k.is_playing = true;
    update(&mut s, Msg::Remote(Some(k)));
    assert_eq!(r(&mut s, Action::TogglePlay), vec![RemoteControl::Pause]);
}

#[test]
fn remote_commands_apply_locally_like_keys() {
    let mut s = demo_state();
    let cases: Vec<(RemoteCommand, Vec<PlayerOp>)> = vec![
        (RemoteCommand::Pause, vec![PlayerOp::Pause]),
        (RemoteCommand::Resume, vec![PlayerOp::Play]),
        (RemoteCommand::SkipNext, vec![PlayerOp::Next]),
        (RemoteCommand::SkipPrev, vec![PlayerOp::Previous]),
        (RemoteCommand::SeekTo(42_000), vec![PlayerOp::Seek(42_000)]),
        (
            RemoteCommand::SetVolume(100),
            vec![PlayerOp::SetVolume(100)],
        ),
        (
            RemoteCommand::SetShuffle(true),
            vec![PlayerOp::SetShuffle(true)],
        ),
        (
            RemoteCommand::SetRepeatContext(true),
            vec![PlayerOp::SetRepeat(RepeatMode::All)],
        ),
        (
            RemoteCommand::SetRepeatTrack(true),
            vec![PlayerOp::SetRepeat(RepeatMode::One)],
        ),
        // Context off while repeating one track: still one.
        (RemoteCommand::SetRepeatContext(false), vec![]),
        (
            RemoteCommand::SetRepeatTrack(false),
            vec![PlayerOp::SetRepeat(RepeatMode::All)],
        ),
        (
            RemoteCommand::AddToQueue(track_id(9)),
            vec![PlayerOp::AddToQueue(vec![track_id(9)])],
        ),
        (RemoteCommand::BecameInactive, vec![PlayerOp::Pause]),
    ];
    for (cmd, want) in cases {
        let o = update(&mut s, Msg::RemoteCommand(cmd.clone()));
        assert_eq!(player(&o.effects), want, "{cmd:?}");
        assert!(o.redraw);
        assert!(!s.notifications.is_empty());
    }
    assert_eq!(last_note(&s), "Playback moved to another device");
    update(&mut s, Msg::RemoteCommand(RemoteCommand::Pause));
    assert_eq!(last_note(&s), "Paused from a remote");

    // A load with shuffle and repeat settings.
    let o = update(
        &mut s,
        Msg::RemoteCommand(RemoteCommand::Load {
            context_uri: uri("album", 1),
            ids: vec![track_id(3), track_id(4)],
            index: 1,
            position_ms: 1234,
            play: true,
            shuffle: Some(false),
            repeat_context: Some(false),
            repeat_track: Some(false),
        }),
    );
    assert_eq!(
        player(&o.effects),
        vec![
            PlayerOp::Load {
                ids: vec![track_id(3), track_id(4)],
                index: 1,
                position_ms: 1234,
                play: true
            },
            PlayerOp::SetShuffle(false),
            PlayerOp::SetRepeat(RepeatMode::Off),
        ]
    );
    // set_queue: drop what follows the current entry (in the player, against its queue as it
    // is then), then add in Spotify's queue order.
    let o = update(
        &mut s,
        Msg::RemoteCommand(RemoteCommand::SetQueue(vec![track_id(9)])),
    );
    assert_eq!(
        player(&o.effects),
        vec![
            PlayerOp::ClearAfterCurrent,
            PlayerOp::AddToQueue(vec![track_id(9)])
        ]
    );
    // Even while another device is shown as active, a command for this one is local.
    update(&mut s, Msg::Remote(Some(kitchen_playback())));
    let o = update(&mut s, Msg::RemoteCommand(RemoteCommand::Pause));
    assert_eq!(player(&o.effects), vec![PlayerOp::Pause]);
}

// --- devices

#[test]
fn devices_transfer_and_refresh() {
    let mut s = demo_state();
    act(&mut s, Action::Focus(Pane::Devices));
    let o = act(&mut s, Action::Transfer);
    assert!(o.effects.is_empty(), "this device is already active");
    assert!(last_note(&s).contains("already"));
    act(&mut s, Action::Down);
    let o = act(&mut s, Action::Transfer);
    assert_eq!(
        o.effects,
        vec![Effect::Transfer {
            device: demo_devices()[1].clone()
        }]
    );
    let o = act(&mut s, Action::RefreshDevices);
    assert_eq!(o.effects, vec![Effect::RefreshDevices]);
    assert!(s.devices.loading);
    update(&mut s, Msg::Devices(Err("offline".into())));
    assert!(!s.devices.loading);
    assert_eq!(s.devices.error.as_deref(), Some("offline"));
    assert!(last_note(&s).contains("offline"));
}

// --- player events, log, notifications, theme, misc

#[test]
fn player_events_and_status() {
    let mut s = demo_state();
    let o = update(
        &mut s,
        Msg::PlayerEvent(PlayerEvent::Error {
            id: track_id(2),
            reason: "no audio file".into(),
            skipped: true,
        }),
    );
    assert!(o.redraw);
    let n = s.notifications.back().unwrap();
    assert_eq!(n.level, Level::Warn);
    assert!(n.text.contains("Tomorrow Never Knows") && n.text.contains("no audio file"));
    update(
        &mut s,
        Msg::PlayerEvent(PlayerEvent::Error {
            id: SpotifyId(0),
            reason: "sink gone".into(),
            skipped: false,
        }),
    );
    assert_eq!(s.notifications.back().unwrap().level, Level::Error);
    let played = PlayedTrack {
        id: track_id(42),
        played_id: track_id(42),
        name: "Forty-two".into(),
        artists: vec![],
        album: String::new(),
        duration_ms: 1,
    };
    assert!(
        update(
            &mut s,
            Msg::PlayerEvent(PlayerEvent::TrackChanged(played.clone()))
        )
        .redraw
    );
    assert_eq!(s.tracks[&track_id(42)].name, "Forty-two");
    assert!(!update(&mut s, Msg::PlayerEvent(PlayerEvent::TrackChanged(played))).redraw);
    assert!(!update(&mut s, Msg::PlayerEvent(PlayerEvent::Buffering)).redraw);
    // The same status again is not a change.
    let st = s.player.clone().unwrap();
    assert!(!update(&mut s, Msg::PlayerStatus(st.clone())).redraw);
    let mut st2 = st;
    st2.volume = 1;
    assert!(update(&mut s, Msg::PlayerStatus(st2)).redraw);
}

#[test]
fn log_and_notifications_are_capped() {
    let mut s = demo_state();
    for i in 0..LOG_LINES + 5 {
        update(
            &mut s,
            Msg::Log(LogLine {
                level: Level::Info,
                target: "t".into(),
                text: format!("line {i}"),
            }),
        );
    }
    assert_eq!(s.log.lines.len(), LOG_LINES);
    assert_eq!(s.log.lines.front().unwrap().text, "line 5");
    assert_eq!(s.log.cursor.selected, LOG_LINES - 1, "follows the tail");
    for i in 0..80 {
        update(
            &mut s,
            Msg::Notify {
                level: Level::Info,
                text: format!("n{i}"),
                at: Instant::now(),
            },
        );
    }
    assert_eq!(s.notifications.len(), 50);
    assert_eq!(last_note(&s), "n79");
}

#[test]
fn themes_help_refresh_chords() {
    let mut s = demo_state();
    act(&mut s, Action::NextTheme);
    assert_eq!(s.theme, "light");
    act(&mut s, Action::NextTheme);
    act(&mut s, Action::NextTheme);
    assert_eq!(s.theme, "default");
    act(&mut s, Action::SetTheme("gruvbox".into()));
    assert_eq!(s.theme, "gruvbox");
    assert!(!act(&mut s, Action::SetTheme("gruvbox".into())).redraw);
    act(&mut s, Action::ToggleHelp);
    assert!(s.help.is_some());
    act(&mut s, Action::Down);
    assert_eq!(s.help.unwrap().selected, 1, "keys scroll the overlay");
    act(&mut s, Action::ToggleHelp);
    assert!(s.help.is_none());
    let o = act(&mut s, Action::Refresh);
    assert_eq!(o.effects, vec![Effect::LoadLibrary { refresh: true }]);
    assert!(s.library.loading);
    assert!(update(&mut s, Msg::Chord(Some("g".into()))).redraw);
    assert!(!update(&mut s, Msg::Chord(Some("g".into()))).redraw);
    act(&mut s, Action::Focus(Pane::Queue));
    assert!(s.pending_chord.is_none(), "an action ends the chord hint");
    update(&mut s, Msg::Library(Err("offline".into())));
    assert!(!s.library.loading);
    assert!(s.library.data.is_some(), "the cached copy stays");
}

// --- mouse

fn demo_hitmap() -> HitMap {
    let area = |x, y, width, height| Area {
        x,
        y,
        width,
        height,
    };
    HitMap {
        panes: vec![
            (area(0, 1, 40, 20), Pane::Library),
            (area(40, 1, 40, 20), Pane::Queue),
        ],
        tabs: vec![
            (area(0, 0, 10, 1), Pane::Library),
            (area(10, 0, 10, 1), Pane::Devices),
        ],
        lists: vec![
            ListArea {
                pane: Pane::Library,
                area: area(0, 2, 40, 7),
                // A header line, then rows 0..=5.
                rows: vec![None, Some(0), Some(1), Some(2), Some(3), Some(4), Some(5)],
            },
            ListArea {
                pane: Pane::Queue,
                area: area(40, 2, 40, 4),
                rows: vec![Some(0), Some(1), Some(2), Some(3)],
            },
        ],
        progress: Some(area(10, 22, 100, 1)),
        lyrics: Vec::new(),
        covers: Vec::new(),
    }
}

fn click(s: &mut State, kind: MouseKind, x: u16, y: u16) -> Outcome {
    update(s, Msg::Mouse { kind, x, y })
}

#[test]
fn mouse_clicks_wheel_double_click_and_progress() {
    let mut s = demo_state();
    s.hitmap = demo_hitmap();
    act(&mut s, Action::NextSection); // liked songs
                                      // A tab focuses its pane.
    click(&mut s, MouseKind::Click, 12, 0);
    assert_eq!(s.focus, Pane::Devices);
    // A row in the queue list: focus + select; header lines are ignored.
    click(&mut s, MouseKind::Click, 45, 4);
    assert_eq!(s.focus, Pane::Queue);
    assert_eq!(s.queue.cursor.selected, 2);
    click(&mut s, MouseKind::Click, 5, 2); // the header line of the library list
    assert_eq!(s.focus, Pane::Library);
    assert_eq!(s.library.cursors[1].selected, 0);
    click(&mut s, MouseKind::Click, 5, 4);
    assert_eq!(s.library.cursors[1].selected, 1);
    // Wheel: three rows, clamped.
    click(&mut s, MouseKind::ScrollDown, 5, 5);
    assert_eq!(s.library.cursors[1].selected, 4);
    click(&mut s, MouseKind::ScrollDown, 5, 5);
    assert_eq!(s.library.cursors[1].selected, 5);
    assert!(!click(&mut s, MouseKind::ScrollDown, 5, 5).redraw);
    click(&mut s, MouseKind::ScrollUp, 45, 3);
    assert_eq!(s.queue.cursor.selected, 0);
    // Double click plays the row.
    let o = click(&mut s, MouseKind::DoubleClick, 5, 5);
    assert_eq!(
        player(&o.effects),
        vec![PlayerOp::Load {
            ids: (1..=6).map(track_id).collect(),
            index: 2,
            position_ms: 0,
            play: true
        }]
    );
    // Progress bar: x = 10 + 25 of width 100 → a quarter of 200 s.
    let o = click(&mut s, MouseKind::Click, 35, 22);
    assert_eq!(player(&o.effects), vec![PlayerOp::Seek(50_000)]);
    // Nothing under the pointer: nothing happens.
    let o = click(&mut s, MouseKind::Click, 200, 200);
    assert!(!o.redraw && o.effects.is_empty());
}

#[test]
fn mouse_on_a_filtered_list_uses_underlying_rows() {
    let mut s = demo_state();
    s.hitmap = demo_hitmap();
    act(&mut s, Action::NextSection);
    act(&mut s, Action::OpenFilter);
    typed(&mut s, "daft");
    update(&mut s, Msg::Text(TextInput::Enter));
    let rows: Vec<usize> = s
        .filter
        .as_ref()
        .unwrap()
        .matches
        .iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(rows.len(), 3);
    // The renderer reports underlying row indexes for the filtered view.
    s.hitmap.lists[0].rows = vec![None, Some(rows[0]), Some(rows[1]), Some(rows[2])];
    let o = click(&mut s, MouseKind::DoubleClick, 5, 5);
    let Some(PlayerOp::Load { ids, index, .. }) = player(&o.effects).first().cloned() else {
        panic!("{:?}", o.effects)
    };
    assert_eq!(ids[index], track_id(rows[2] as u32 + 1));
}

// --- login

fn login_state() -> State {
    State::new(
        "this".into(),
        "tonearm".into(),
        "default".into(),
        vec![],
        Screen::Login(LoginStage::Choose { selected: 0 }),
    )
}

#[test]
fn login_browser_device_code_and_back() {
    let mut s = login_state();
    assert!(!s.text_input_active());
    let o = act(&mut s, Action::Select);
    assert_eq!(o.effects, vec![Effect::Login(LoginRequest::Browser)]);
    assert!(matches!(
        s.screen,
        Screen::Login(LoginStage::Working { .. })
    ));
    assert!(s.animating(), "spinner while working");
    update(
        &mut s,
        Msg::Login(LoginStage::Browser {
            url: "http://x".into(),
        }),
    );
    let o = act(&mut s, Action::Back);
    assert_eq!(o.effects, vec![Effect::CancelLogin]);
    assert_eq!(s.screen, Screen::Login(LoginStage::Choose { selected: 0 }));
    act(&mut s, Action::Down);
    assert!(
        !act(&mut s, Action::TogglePlay).redraw,
        "playback keys do nothing here"
    );
    let o = act(&mut s, Action::Select);
    assert_eq!(o.effects, vec![Effect::Login(LoginRequest::DeviceCode)]);
    update(
        &mut s,
        Msg::Login(LoginStage::Failed {
            message: "denied".into(),
            selected: 1,
        }),
    );
    act(&mut s, Action::Down);
    assert!(matches!(
        &s.screen,
        Screen::Login(LoginStage::Failed { selected: 2, .. })
    ));
    assert!(!act(&mut s, Action::Down).redraw, "last method");
    let o = update(
        &mut s,
        Msg::LoggedIn {
            username: "demo".into(),
        },
    );
    assert_eq!(s.screen, Screen::Main);
    assert_eq!(o.effects, vec![Effect::LoadLibrary { refresh: false }]);
    assert!(s.library.loading);
}

/// The screen numbers its options 1-3: the number keys (as the built-in keymaps resolve them
/// on this screen) pick them; other numbers do nothing.
#[test]
fn login_number_keys_pick_the_numbered_option() {
    use crate::keymap::{Keymap, Resolved};
    use std::str::FromStr;
    for name in crate::keymap::BUILTIN_NAMES {
        let mut keymap = Keymap::builtin(name).expect("builtin keymap");
        let mut key = |s: &mut State, k: &str| -> Outcome {
            let key = crate::keymap::Key::from_str(k).expect("key");
            match keymap.resolve(s.key_context(), key) {
                Resolved::Action(a) => act(s, a),
                other => panic!("{name}: {k} on the sign-in screen resolved to {other:?}"),
            }
        };
        let mut s = login_state();
        let o = key(&mut s, "2");
        assert_eq!(
            o.effects,
            vec![Effect::Login(LoginRequest::DeviceCode)],
            "{name}"
        );
        let mut s = login_state();
        let o = key(&mut s, "1");
        assert_eq!(
            o.effects,
            vec![Effect::Login(LoginRequest::Browser)],
            "{name}"
        );
        let mut s = login_state();
        key(&mut s, "3");
        assert!(
            matches!(s.screen, Screen::Login(LoginStage::Password { .. })),
            "{name}: {:?}",
            s.screen
        );
        // From the failed screen too (it lists the same options).
        let mut s = login_state();
        s.screen = Screen::Login(LoginStage::Failed {
            message: "denied".into(),
            selected: 0,
        });
        let o = key(&mut s, "2");
        assert_eq!(
            o.effects,
            vec![Effect::Login(LoginRequest::DeviceCode)],
            "{name}"
        );
    }
    // An option the screen does not have does nothing.
    let mut s = login_state();
    let o = act(&mut s, Action::PickOption(4));
    assert!(o.effects.is_empty() && !o.redraw);
    assert_eq!(s.screen, Screen::Login(LoginStage::Choose { selected: 0 }));
    // On the main screen the action is inert.
    let mut s = demo_state();
    let o = act(&mut s, Action::PickOption(1));
    assert!(o.effects.is_empty());
}

#[test]
fn login_password_stage() {
    let mut s = login_state();
    act(&mut s, Action::Bottom);
    act(&mut s, Action::Select);
    assert!(s.text_input_active());
    typed(&mut s, "alice");
    update(&mut s, Msg::Text(TextInput::Tab));
    typed(&mut s, "secret");
    update(&mut s, Msg::Text(TextInput::Backspace));
    let o = update(&mut s, Msg::Text(TextInput::Enter));
    assert_eq!(
        o.effects,
        vec![Effect::Login(LoginRequest::Password {
            username: "alice".into(),
            password: "secre".into()
        })]
    );
    // Esc from the password form goes back to choosing; Back there quits.
    let mut s = login_state();
    act(&mut s, Action::Bottom);
    act(&mut s, Action::Select);
    typed(&mut s, "bob");
    let o = update(&mut s, Msg::Text(TextInput::Enter));
    assert!(
        o.effects.is_empty(),
        "Enter on the username goes to the password"
    );
    update(&mut s, Msg::Text(TextInput::Esc));
    assert_eq!(s.screen, Screen::Login(LoginStage::Choose { selected: 2 }));
    act(&mut s, Action::Back);
    assert!(s.quit);
}

#[test]
fn clicking_a_search_result_leaves_the_box() {
    let mut s = demo_state();
    act(&mut s, Action::OpenSearch);
    typed(&mut s, "daft");
    let id = s.search.latest;
    update(
        &mut s,
        Msg::SearchResults {
            id,
            query: "daft".into(),
            result: Ok(vec![
                Item::Track(track(3, "One More Time", "Daft Punk", "Discovery")),
                Item::Track(track(4, "Digital Love", "Daft Punk", "Discovery")),
            ]),
        },
    );
    s.hitmap.lists.push(ListArea {
        pane: Pane::Search,
        area: Area {
            x: 0,
            y: 5,
            width: 40,
            height: 3,
        },
        rows: vec![None, Some(0), Some(1)],
    });
    assert!(s.text_input_active());
    let o = click(&mut s, MouseKind::Click, 3, 7);
    assert!(o.redraw);
    assert!(!s.text_input_active());
    assert_eq!(s.search.cursor.selected, 1);
}

/// Any sequence of user input keeps the state consistent: no panic, selections inside their
/// lists, the filter's selection inside its matches.
#[test]
fn random_input_never_breaks_the_state() {
    let actions: Vec<Action> = crate::action::bindable()
        .iter()
        .map(|b| b.action.clone())
        .filter(|a| *a != Action::Quit)
        .collect();
    let texts = [
        TextInput::Char('a'),
        TextInput::Char('m'),
        TextInput::Char('é'),
        TextInput::Backspace,
        TextInput::Delete,
        TextInput::Left,
        TextInput::Right,
        TextInput::Home,
        TextInput::End,
        TextInput::Up,
        TextInput::Down,
        TextInput::Tab,
        TextInput::Enter,
        TextInput::Esc,
        TextInput::Clear,
    ];
    let kinds = [
        MouseKind::Click,
        MouseKind::DoubleClick,
        MouseKind::ScrollUp,
        MouseKind::ScrollDown,
    ];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as usize
    };
    let mut s = demo_state();
    s.hitmap = demo_hitmap();
    for step in 0..5000 {
        let msg = match next() % 6 {
            0 | 1 => Msg::Action(actions[next() % actions.len()].clone()),
            2 => Msg::Text(texts[next() % texts.len()].clone()),
            3 => Msg::Mouse {
                kind: kinds[next() % kinds.len()],
                x: (next() % 120) as u16,
                y: (next() % 30) as u16,
            },
            4 => {
                let id = s.search.latest;
                if next() % 2 == 0 {
                    Msg::SearchDue(id)
                } else {
                    Msg::SearchResults {
                        id,
                        query: s.search.input.clone(),
                        result: Ok(vec![
                            Item::Track(track(3, "One More Time", "Daft Punk", "Discovery")),
                            Item::Album {
                                uri: uri("album", 1),
                                name: "Discovery".into(),
                                artists: vec![],
                                year: "2001".into(),
                            },
                        ]),
                    }
                }
            }
            _ => {
                let n = next() % 6;
                Msg::Queue(QueueSnapshot {
                    items: (1..=n as u32).map(track_id).collect(),
                    current: (n > 0).then(|| next() % n),
                })
            }
        };
        update(&mut s, msg);
        s.quit = false;
        if let Some(f) = &s.filter {
            assert!(
                f.matches.is_empty() || f.cursor.selected < f.matches.len(),
                "step {step}"
            );
        }
        assert!(
            s.queue.cursor.selected < s.queue.snapshot.items.len().max(1),
            "step {step}"
        );
        assert!(s.devices.cursor.selected < s.devices.devices.len().max(1));
        assert!(
            s.search.input_cursor <= s.search.input.chars().count(),
            "step {step}"
        );
    }
}
