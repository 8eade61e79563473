//! Render tests: every pane, the now-playing bar, the help overlay and the login screen drawn on
//! a `TestBackend` at 80×24, 120×40, 60×16 and tiny sizes, asserting on the text, a few styles
//! and the hit map. States are built directly (public fields), with a fixed "now".

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use ratatui::Terminal;

use crate::api::library::{
    AlbumInfo, ArtistInfo, Entry, Library, LibraryPlaylist, ShowInfo, TrackInfo,
};
use crate::app::action::Pane;
use crate::app::state::*;
use crate::connect::{ConnectLink, Device, DeviceOrigin, RemotePlayback};
use crate::id::SpotifyId;
use crate::keymap::{Context, HelpEntry};
use crate::player::loader::TrackInfo as PlayerTrack;
use crate::player::{PlayState, PlayerStatus, QueueSnapshot, RepeatMode};
use crate::theme::{Role, Theme};

fn id(n: u128) -> SpotifyId {
    SpotifyId(n)
}

fn track(n: u128, name: &str, artist: &str, album: &str, ms: u64) -> TrackInfo {
    TrackInfo {
        uri: format!("spotify:track:{}", id(n).to_base62()),
        name: name.to_string(),
        artists: vec![artist.to_string()],
        album: album.to_string(),
        album_uri: String::new(),
        duration_ms: ms,
        explicit: false,
    }
}

fn library(liked: usize) -> Library {
    let mut tracks = vec![
        track(1, "Alpha Song", "Ann Artist", "First Album", 185_000),
        track(2, "Beta Tune", "Bob Band", "Second Album", 242_000),
        track(3, "Gamma Ray", "Cat Crew", "Third Album", 61_000),
    ];
    for i in 3..liked {
        tracks.push(track(
            i as u128 + 1,
            &format!("Track number {i}"),
            &format!("Artist {}", i % 97),
            &format!("Album {}", i % 31),
            120_000 + i as u64,
        ));
    }
    let saved_tracks = (0..tracks.len())
        .map(|i| Entry {
            track: i as u32,
            added_at: String::new(),
        })
        .collect();
    Library {
        liked_index: Default::default(),
        id_index: Default::default(),
        version: 1,
        username: "alice".into(),
        fetched_at: 0,
        tracks,
        playlists: vec![
            LibraryPlaylist {
                id: "p1".into(),
                uri: "spotify:playlist:p1".into(),
                name: "Morning Mix".into(),
                owner: "alice".into(),
                owner_id: "alice".into(),
                description: String::new(),
                snapshot_id: String::new(),
                total: 12,
                items: None,
            },
            LibraryPlaylist {
                id: "p2".into(),
                uri: "spotify:playlist:p2".into(),
                name: "Road Trip".into(),
                owner: "bob".into(),
                owner_id: "bob".into(),
                description: String::new(),
                snapshot_id: String::new(),
                total: 1,
                items: None,
            },
        ],
        saved_tracks,
        saved_albums: vec![AlbumInfo {
            uri: "spotify:album:a1".into(),
            name: "First Album".into(),
            artists: vec!["Ann Artist".into()],
            total_tracks: 9,
            release_date: "2021-04-01".into(),
            added_at: String::new(),
        }],
        followed_artists: vec![ArtistInfo {
            uri: "spotify:artist:r1".into(),
            name: "Ann Artist".into(),
        }],
        saved_shows: vec![ShowInfo {
            uri: "spotify:show:s1".into(),
            name: "Talk Show".into(),
            publisher: "Pod Co".into(),
            total_episodes: 40,
            added_at: String::new(),
        }],
    }
}

/// A signed-in main screen with a small library and nothing playing.
pub(crate) fn state() -> State {
    State {
        screen: Screen::Main,
        focus: Pane::Library,
        help: None,
        library: LibraryView {
            data: Some(Arc::new(library(3))),
            section: Some(LibrarySection::Playlists),
            ..Default::default()
        },
        search: SearchView::default(),
        queue: QueueView::default(),
        devices: DevicesView::default(),
        log: LogView::default(),
        filter: None,
        trust_prompt: None,
        picker: None,
        trusted: Default::default(),
        player: None,
        player_held: None,
        remote: None,
        tracks: HashMap::new(),
        resume_points: HashMap::new(),
        notifications: VecDeque::new(),
        pending_chord: None,
        session: SessionLink::Online {
            username: "alice".into(),
        },
        connect: ConnectLink::Online,
        theme: "plain".into(),
        themes: vec!["plain".into()],
        device_id: "dev-this".into(),
        device_name: "tonearm".into(),
        hitmap: HitMap::default(),
        size: (80, 24),
        next_request: 1,
        quit: false,
        memo: Default::default(),
        lyrics: None,
        art: ArtView::default(),
    }
}

fn help_entries() -> Vec<HelpEntry> {
    vec![
        HelpEntry {
            context: Context::Library,
            keys: "tab".into(),
            description: "Library: next section",
        },
        HelpEntry {
            context: Context::Global,
            keys: "j, down".into(),
            description: "Move down",
        },
        HelpEntry {
            context: Context::Global,
            keys: "space".into(),
            description: "Play/pause",
        },
        HelpEntry {
            context: Context::Queue,
            keys: "d".into(),
            description: "Remove the selected queue entry",
        },
    ]
}

/// The filter open on `pane` (one constructor, so a field added to `FilterState` is one edit).
fn filter_state(
    pane: Pane,
    query: &str,
    matches: Vec<(usize, Vec<usize>)>,
    cursor: ListCursor,
    editing: bool,
) -> FilterState {
    FilterState {
        pane,
        query: query.into(),
        matches,
        cursor,
        editing,
        haystack: Default::default(),
    }
}

/// Draws `state` at `w`×`h` and returns the buffer and the hit map.
fn render_at(state: &State, w: u16, h: u16, now: Instant) -> (Buffer, HitMap) {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    let theme = Theme::plain();
    let help = help_entries();
    let mut hit = HitMap::default();
    term.draw(|f| hit = super::draw(f, state, &theme, &help, now))
        .expect("draw");
    (term.backend().buffer().clone(), hit)
}

fn render(state: &State, w: u16, h: u16) -> (Buffer, HitMap) {
    render_at(state, w, h, Instant::now())
}

/// The buffer as text lines (wide chars' trailing cells skipped).
fn lines(buf: &Buffer) -> Vec<String> {
    let a = buf.area;
    (a.y..a.bottom())
        .map(|y| {
            let mut s = String::new();
            let mut skip = 0;
            for x in a.x..a.right() {
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                let sym = buf[(x, y)].symbol();
                s.push_str(sym);
                skip = ratatui::text::Span::raw(sym).width().saturating_sub(1);
            }
            s
        })
        .collect()
}

fn text(buf: &Buffer) -> String {
    lines(buf).join("\n")
}

/// The (x, y) where `needle` starts on screen.
fn find(buf: &Buffer, needle: &str) -> Option<(u16, u16)> {
    for (y, line) in lines(buf).iter().enumerate() {
        if let Some(byte) = line.find(needle) {
            let x = ratatui::text::Span::raw(&line[..byte]).width();
            return Some((x as u16, y as u16));
        }
    }
    None
}

fn assert_has(buf: &Buffer, needle: &str) {
    assert!(
        find(buf, needle).is_some(),
        "{needle:?} not on screen:\n{}",
        text(buf)
    );
}

fn is_reversed(buf: &Buffer, x: u16, y: u16) -> bool {
    buf[(x, y)].modifier.contains(Modifier::REVERSED)
}

const SIZES: [(u16, u16); 3] = [(80, 24), (120, 40), (60, 16)];

#[test]
fn library_sections_show_counts_and_the_selected_list() {
    let mut s = state();
    s.library.data = Some(Arc::new(library(10)));
    s.library.section = Some(LibrarySection::LikedSongs);
    s.library.cursors[LibrarySection::LikedSongs.index()].selected = 1;
    for (w, h) in SIZES {
        let (buf, hit) = render(&s, w, h);
        assert_has(&buf, "Library");
        assert_has(&buf, "Liked Songs");
        assert_has(&buf, "Beta Tune");
        let list = hit
            .lists
            .iter()
            .find(|l| l.pane == Pane::Library)
            .expect("library list");
        assert_eq!(list.rows[0], Some(0));
        // The selected row (row 1) is reversed in the focused pane.
        let y = list.area.y + list.rows.iter().position(|r| *r == Some(1)).expect("row 1") as u16;
        assert!(is_reversed(&buf, list.area.x + 2, y), "{w}x{h}");
        assert!(hit.panes.iter().any(|(_, p)| *p == Pane::Library));
    }
    // Wide: sections on the left with their counts; durations as m:ss.
    let (buf, _) = render(&s, 120, 40);
    assert_has(&buf, "Playlists");
    assert_has(&buf, "Podcasts");
    assert_has(&buf, "3:05");
    assert_has(&buf, "Ann Artist");
    let (x, y) = find(&buf, "Liked Songs").expect("section");
    assert!(
        buf[(x, y)].style().fg == Some(Color::Yellow),
        "current section as heading"
    );
    let line = &lines(&buf)[y as usize];
    assert!(line.contains("10"), "count of liked songs: {line}");
}

#[test]
fn library_open_page_shows_title_subtitle_and_items() {
    let mut s = state();
    s.library.pages.push(PageView {
        kind: PageKind::Album,
        uri: "spotify:album:a1".into(),
        request: 3,
        loading: false,
        error: None,
        data: Some(PageData {
            kind: PageKind::Album,
            uri: "spotify:album:a1".into(),
            title: "First Album".into(),
            subtitle: "Album · Ann Artist · 2021 · 2 tracks".into(),
            items: vec![
                Item::Track(track(1, "Alpha Song", "Ann Artist", "First Album", 185_000)),
                Item::Track(track(2, "Beta Tune", "Ann Artist", "First Album", 61_000)),
            ],
        }),
        cursor: ListCursor::default(),
    });
    for (w, h) in SIZES {
        let (buf, hit) = render(&s, w, h);
        assert_has(&buf, "First Album");
        assert_has(&buf, "Alpha Song");
        assert_has(&buf, "1:01");
        let list = hit
            .lists
            .iter()
            .find(|l| l.pane == Pane::Library)
            .expect("list");
        assert_eq!(&list.rows[..2], &[Some(0), Some(1)]);
    }
    let (buf, _) = render(&s, 120, 40);
    assert_has(&buf, "Album · Ann Artist · 2021 · 2 tracks");

    s.library.pages[0].loading = true;
    s.library.pages[0].data = None;
    let (buf, _) = render(&s, 80, 24);
    assert_has(&buf, "Loading…");
    s.library.pages[0].error = Some("page failed: 404".into());
    let (buf, _) = render(&s, 80, 24);
    assert_has(&buf, "page failed: 404");
}

#[test]
fn library_loading_and_error_states() {
    let mut s = state();
    s.library.data = None;
    s.library.loading = true;
    let (buf, _) = render(&s, 80, 24);
    assert_has(&buf, "Loading…");
    s.library.loading = false;
    s.library.error = Some("network down".into());
    let (buf, _) = render(&s, 80, 24);
    assert_has(&buf, "network down");
    let (x, y) = find(&buf, "network down").expect("error");
    assert_eq!(buf[(x, y)].style().fg, Some(Color::Red));
}

fn search_state() -> State {
    let mut s = state();
    s.focus = Pane::Search;
    s.search.input = "alp".into();
    s.search.input_cursor = 3;
    s.search.editing = true;
    s.search.shown_query = "alp".into();
    s.search.results = vec![
        Item::Track(track(1, "Alpha Song", "Ann Artist", "First Album", 185_000)),
        Item::Track(track(2, "Alpine Air", "Bob Band", "Hills", 200_000)),
        Item::Artist {
            uri: "spotify:artist:r1".into(),
            name: "Alpha Band".into(),
        },
        Item::Album {
            uri: "spotify:album:a9".into(),
            name: "Alps".into(),
            artists: vec!["Cat Crew".into()],
            year: "1999".into(),
        },
    ];
    s
}

#[test]
fn search_shows_input_with_cursor_and_grouped_results() {
    let s = search_state();
    for (w, h) in SIZES {
        let (buf, hit) = render(&s, w, h);
        assert_has(&buf, "alp");
        assert_has(&buf, "Tracks");
        assert_has(&buf, "Artists");
        assert_has(&buf, "Albums");
        assert_has(&buf, "Alpha Band");
        let list = hit
            .lists
            .iter()
            .find(|l| l.pane == Pane::Search)
            .expect("list");
        // Heading, two tracks, blank + heading, the artist, blank + heading, the album.
        // Short lists leave out the blank lines between groups.
        let want = if list.area.height >= 12 {
            vec![
                None,
                Some(0),
                Some(1),
                None,
                None,
                Some(2),
                None,
                None,
                Some(3),
            ]
        } else {
            vec![None, Some(0), Some(1), None, Some(2), None, Some(3)]
        };
        let rows: Vec<Option<usize>> = list.rows.iter().copied().take(want.len()).collect();
        assert_eq!(rows, want, "{w}x{h}");
    }
    // The cursor cell after "alp" is reversed while editing.
    let (buf, _) = render(&s, 80, 24);
    let (x, y) = find(&buf, "› alp").expect("input");
    assert!(is_reversed(&buf, x + 5, y));
}

#[test]
fn search_searching_and_no_results() {
    let mut s = search_state();
    s.search.results.clear();
    s.search.loading = true;
    let (buf, _) = render(&s, 80, 24);
    assert_has(&buf, "Searching…");
    s.search.loading = false;
    let (buf, _) = render(&s, 80, 24);
    assert_has(&buf, "No results for “alp”");
}

#[test]
fn queue_marks_now_playing_and_dims_unknown_ids() {
    let mut s = state();
    s.focus = Pane::Queue;
    let t1 = track(1, "Alpha Song", "Ann Artist", "First Album", 185_000);
    s.tracks.insert(id(1), t1);
    s.tracks.insert(
        id(2),
        track(2, "Beta Tune", "Bob Band", "Second Album", 242_000),
    );
    s.queue.snapshot = QueueSnapshot {
        items: vec![id(1), id(2), id(77)],
        current: Some(1),
    };
    for (w, h) in SIZES {
        let (buf, hit) = render(&s, w, h);
        assert_has(&buf, "Queue · 3 tracks");
        assert_has(&buf, "▶");
        let (x, y) = find(&buf, "Beta Tune").expect("current");
        assert_eq!(
            buf[(x, y)].style().fg,
            Some(Color::Green),
            "now playing role"
        );
        let line = &lines(&buf)[y as usize];
        assert!(line.contains('▶'), "{line}");
        let unknown = id(77).to_base62();
        let (x, y) = find(&buf, &unknown[..8]).expect("unknown id as base62");
        assert_eq!(buf[(x, y)].style().fg, Some(Color::DarkGray));
        assert_has(&buf, "1 ");
        let list = hit
            .lists
            .iter()
            .find(|l| l.pane == Pane::Queue)
            .expect("list");
        assert_eq!(&list.rows[..3], &[Some(0), Some(1), Some(2)]);
    }
}

#[test]
fn queue_beside_the_main_pane_on_wide_terminals() {
    let mut s = state();
    s.queue.snapshot.items = vec![id(1)];
    let (buf, hit) = render(&s, 140, 40);
    assert_has(&buf, "Queue");
    let panes: Vec<Pane> = hit.panes.iter().map(|(_, p)| *p).collect();
    assert_eq!(panes, vec![Pane::Library, Pane::Queue]);
    let (_, narrow_hit) = render(&s, 100, 40);
    assert_eq!(narrow_hit.panes.len(), 1);
}

#[test]
fn devices_mark_active_this_device_and_lan() {
    let mut s = state();
    s.focus = Pane::Devices;
    s.devices.devices = vec![
        Device {
            id: "dev-this".into(),
            name: "tonearm".into(),
            kind: "Computer".into(),
            is_active: false,
            volume: Some(65535),
            origin: DeviceOrigin::This,
        },
        Device {
            id: "dev-phone".into(),
            name: "Alice's Phone".into(),
            kind: "Smartphone".into(),
            is_active: true,
            volume: Some(32768),
            origin: DeviceOrigin::Cloud,
        },
        Device {
            id: "dev-lan".into(),
            name: "Kitchen Speaker".into(),
            kind: "Speaker".into(),
            is_active: false,
            volume: None,
            origin: DeviceOrigin::Lan {
                addr: "192.168.1.9:4070".parse().expect("addr"),
                cpath: "/zc".into(),
                active_user: String::new(),
            },
        },
    ];
    for (w, h) in SIZES {
        let (buf, hit) = render(&s, w, h);
        assert_has(&buf, "Alice's Phone");
        assert_has(&buf, "Kitchen Speaker");
        assert_has(&buf, "this device");
        assert_has(&buf, "LAN · not signed in");
        assert_has(&buf, "●");
        let list = hit
            .lists
            .iter()
            .find(|l| l.pane == Pane::Devices)
            .expect("list");
        assert_eq!(&list.rows[..3], &[Some(0), Some(1), Some(2)]);
    }
    let (buf, _) = render(&s, 120, 40);
    assert_has(&buf, "vol 50%");
    assert_has(&buf, "Smartphone");
}

#[test]
fn log_follows_the_tail_coloured_by_level() {
    let mut s = state();
    s.focus = Pane::Log;
    for i in 0..100 {
        s.log.lines.push_back(LogLine {
            level: if i == 99 { Level::Error } else { Level::Info },
            target: "tonearm::player".into(),
            text: format!("line {i}"),
        });
    }
    s.log.cursor.selected = 99;
    let (buf, hit) = render(&s, 80, 24);
    assert_has(&buf, "line 99");
    assert!(find(&buf, "line 0 ").is_none());
    let (x, y) = find(&buf, "ERROR").expect("level");
    assert_eq!(buf[(x, y)].style().fg, Some(Color::Red));
    let list = hit
        .lists
        .iter()
        .find(|l| l.pane == Pane::Log)
        .expect("list");
    assert_eq!(list.rows.last(), Some(&Some(99)));
    // Scrolled up: the selection stays in view.
    s.log.cursor.selected = 3;
    let (buf, _) = render(&s, 80, 24);
    assert_has(&buf, "line 3");
}

#[test]
fn help_overlay_lists_entries_grouped_by_context() {
    let mut s = state();
    s.help = Some(ListCursor::default());
    for (w, h) in SIZES {
        let (buf, _) = render(&s, w, h);
        assert_has(&buf, "Keys");
        assert_has(&buf, "Everywhere");
        assert_has(&buf, "j, down");
        assert_has(&buf, "Move down");
        assert_has(&buf, "Remove the selected queue entry");
        // Global before Library before Queue, whatever the input order.
        let (_, g) = find(&buf, "Everywhere").expect("global");
        let (_, l) = find(&buf, "Library: next section").expect("library");
        let (_, q) = find(&buf, "Remove the selected").expect("queue");
        assert!(g < l && l < q);
        let (x, y) = find(&buf, "space").expect("key");
        assert_eq!(
            buf[(x, y)].style().fg,
            Some(Color::Cyan),
            "keys in the key role"
        );
    }
}

fn player_status(state: PlayState, at: Instant) -> PlayerStatus {
    PlayerStatus {
        state,
        track: Some(PlayerTrack {
            id: id(1),
            played_id: id(1),
            name: "Alpha Song".into(),
            artists: vec!["Ann Artist".into()],
            album: "First Album".into(),
            duration_ms: 185_000,
        }),
        position_ms: 60_000,
        at,
        volume: 32768,
        buffering: false,
        repeat: RepeatMode::All,
        shuffle: true,
    }
}

#[test]
fn now_playing_local_extrapolates_progress() {
    let mut s = state();
    let at = Instant::now();
    let now = at + Duration::from_secs(5);
    s.player = Some(player_status(PlayState::Playing, at));
    for (w, h) in SIZES {
        let (buf, hit) = render_at(&s, w, h, now);
        assert_has(&buf, "Alpha Song");
        assert_has(&buf, "1:05");
        assert_has(&buf, "3:05");
        let p = hit.progress.expect("progress area");
        assert!(p.width > 10, "{w}x{h}: {p:?}");
        // The filled part is in the filled role, the rest empty.
        assert_eq!(buf[(p.x, p.y)].symbol(), "━");
        assert_eq!(buf[(p.x + p.width - 1, p.y)].symbol(), "─");
    }
    let (buf, _) = render_at(&s, 120, 40, now);
    assert_has(&buf, "Alpha Song ♥ — Ann Artist · First Album"); // liked in `state()`
    assert_has(&buf, "vol 50%");
    assert_has(&buf, "↻ all");
    assert_has(&buf, "● online alice");
    // Past the end: clamped to the duration.
    let (buf, _) = render_at(&s, 120, 40, at + Duration::from_secs(600));
    assert!(lines(&buf).iter().any(|l| l.matches("3:05").count() == 2));
    // Paused: no extrapolation.
    s.player = Some(player_status(PlayState::Paused, at));
    let (buf, _) = render_at(&s, 120, 40, now);
    assert_has(&buf, "1:00");
}

#[test]
fn now_playing_remote_shows_the_device() {
    let mut s = state();
    let at = Instant::now();
    s.remote = Some(RemotePlayback {
        device_id: "dev-phone".into(),
        device_name: "Alice's Phone".into(),
        track_uri: format!("spotify:track:{}", id(2).to_base62()),
        title: "Beta Tune".into(),
        artists: vec!["Bob Band".into()],
        album: "Second Album".into(),
        duration_ms: 242_000,
        is_playing: true,
        position_ms: 10_000,
        at,
        volume: Some(65535),
        shuffle: false,
        repeat_context: false,
        repeat_track: true,
    });
    s.connect = ConnectLink::Reconnecting(2);
    let (buf, hit) = render_at(&s, 120, 40, at + Duration::from_millis(2500));
    assert_has(&buf, "Playing on Alice's Phone");
    assert_has(&buf, "Beta Tune ♥ — Bob Band · Second Album");
    assert_has(&buf, "0:12");
    assert_has(&buf, "4:02");
    assert_has(&buf, "vol 100%");
    assert_has(&buf, "↻ one");
    assert_has(&buf, "reconnecting (2)");
    assert!(hit.progress.is_some());
    // The library row of that track is marked as playing.
    s.library.section = Some(LibrarySection::LikedSongs);
    let (buf, _) = render_at(&s, 120, 40, at);
    let (x, y) = find(&buf, "Beta Tune").expect("row");
    assert_eq!(buf[(x, y)].style().fg, Some(Color::Green));
}

#[test]
fn connection_states() {
    let mut s = state();
    s.session = SessionLink::Reconnecting { attempt: 3 };
    let (buf, _) = render(&s, 80, 24);
    assert_has(&buf, "◌ reconnecting (3)");
    s.session = SessionLink::Offline;
    let (buf, _) = render(&s, 80, 24);
    assert_has(&buf, "offline");
    assert_has(&buf, "Nothing playing");
}

#[test]
fn status_line_notifications_expire_and_chords_show() {
    let mut s = state();
    let at = Instant::now();
    s.notifications.push_back(Notification {
        level: Level::Info,
        text: "Added 3 tracks".into(),
        at,
    });
    let (buf, _) = render_at(&s, 80, 24, at + Duration::from_secs(1));
    assert_eq!(lines(&buf)[23].trim(), "Added 3 tracks");
    let (buf, _) = render_at(&s, 80, 24, at + Duration::from_secs(6));
    assert!(!text(&buf).contains("Added 3 tracks"));
    assert!(lines(&buf)[23].contains("? help"));
    // Errors stay longer.
    s.notifications.push_back(Notification {
        level: Level::Error,
        text: "Playback failed".into(),
        at,
    });
    let (buf, _) = render_at(&s, 80, 24, at + Duration::from_secs(8));
    assert!(lines(&buf)[23].contains("Playback failed"));
    s.notifications.clear();
    s.pending_chord = Some("g".into());
    let (buf, _) = render_at(&s, 80, 24, at);
    assert!(lines(&buf)[23].contains("g-"), "{}", lines(&buf)[23]);
}

#[test]
fn tabs_are_reported_and_the_focused_one_highlighted() {
    let mut s = state();
    s.focus = Pane::Devices;
    let (buf, hit) = render(&s, 80, 24);
    let tabs: Vec<Pane> = hit.tabs.iter().map(|(_, p)| *p).collect();
    assert_eq!(tabs, Pane::ALL.to_vec());
    let (a, _) = hit
        .tabs
        .iter()
        .find(|(_, p)| *p == Pane::Devices)
        .expect("tab");
    assert!(is_reversed(&buf, a.x + 1, a.y));
    let (a, _) = hit
        .tabs
        .iter()
        .find(|(_, p)| *p == Pane::Library)
        .expect("tab");
    assert!(!is_reversed(&buf, a.x + 1, a.y));
    let label: String = (a.x..a.x + a.width)
        .map(|x| buf[(x, a.y)].symbol().to_string())
        .collect();
    assert!(label.contains("Library"), "{label}");
}

#[test]
fn filter_shows_only_matches_with_highlights_and_a_filter_box() {
    let mut s = state();
    s.library.data = Some(Arc::new(library(10)));
    s.library.section = Some(LibrarySection::LikedSongs);
    // "gam" matches row 2 ("Gamma Ray ...") at chars 0..3; row 0 matched at 'a' of "Alpha".
    s.filter = Some(filter_state(
        Pane::Library,
        "gam",
        vec![(2, vec![0, 1, 2]), (0, vec![0]), (1, vec![12])],
        ListCursor {
            selected: 1,
            offset: 0,
        },
        true,
    ));
    for (w, h) in SIZES {
        let (buf, hit) = render(&s, w, h);
        let list = hit
            .lists
            .iter()
            .find(|l| l.pane == Pane::Library)
            .expect("list");
        assert_eq!(list.rows, vec![Some(2), Some(0), Some(1)], "{w}x{h}");
        assert_has(&buf, "/gam");
        assert_has(&buf, "3/10");
        // Position 12 of "Beta Tune · Bob Band · Second Album" is the B of "Bob Band".
        if w >= 80 {
            let (x, y) = find(&buf, "Bob Band").expect("artist cell");
            assert_eq!(buf[(x, y)].style().fg, Some(Color::Magenta), "{w}x{h}");
            assert_ne!(buf[(x + 1, y)].style().fg, Some(Color::Magenta));
        }
        assert!(
            find(&buf, "Track number").is_none(),
            "non-matching rows hidden"
        );
        let (x, y) = find(&buf, "Gamma Ray").expect("match");
        for dx in 0..3 {
            assert_eq!(
                buf[(x + dx, y)].style().fg,
                Some(Color::Magenta),
                "highlighted char"
            );
        }
        assert_ne!(buf[(x + 3, y)].style().fg, Some(Color::Magenta));
        // The filter's selection (second match: row 0) is the reversed line.
        assert!(is_reversed(&buf, list.area.x + 2, list.area.y + 1));
        assert!(!is_reversed(&buf, list.area.x + 2, list.area.y));
    }
    // The filter text the highlights index into.
    assert_eq!(
        super::filter_text(&s, Pane::Library, 2).as_deref(),
        Some("Gamma Ray · Cat Crew · Third Album")
    );
    assert_eq!(super::list_len(&s, Pane::Library), 10);
}

#[test]
fn long_lists_are_virtualised_around_the_selection() {
    let mut s = state();
    s.library.data = Some(Arc::new(library(10_000)));
    s.library.section = Some(LibrarySection::LikedSongs);
    s.library.cursors[LibrarySection::LikedSongs.index()] = ListCursor {
        selected: 5000,
        offset: 0,
    };
    let (buf, hit) = render(&s, 120, 40);
    let list = hit
        .lists
        .iter()
        .find(|l| l.pane == Pane::Library)
        .expect("list");
    assert_eq!(list.rows.len(), list.area.height as usize);
    assert_eq!(list.rows.last(), Some(&Some(5000)));
    assert_has(&buf, "Track number 5000");
    // An offset that already shows the selection is kept.
    s.library.cursors[LibrarySection::LikedSongs.index()].offset = 4990;
    let (_, hit) = render(&s, 120, 40);
    let list = hit
        .lists
        .iter()
        .find(|l| l.pane == Pane::Library)
        .expect("list");
    assert_eq!(list.rows[0], Some(4990));
}

#[test]
fn long_text_is_truncated_with_an_ellipsis() {
    let mut s = state();
    let mut lib = library(3);
    lib.playlists[0].name =
        "A very long playlist name that goes on and on and on and never stops at all, really"
            .into();
    s.library.data = Some(Arc::new(lib));
    let (buf, _) = render(&s, 80, 24);
    assert_has(&buf, "…");
    assert_has(&buf, "A very long playlist");
}

fn login_state(stage: LoginStage) -> State {
    let mut s = state();
    s.screen = Screen::Login(stage);
    s
}

#[test]
fn login_choose_offers_three_methods() {
    let s = login_state(LoginStage::Choose { selected: 1 });
    for (w, h) in SIZES {
        let (buf, hit) = render(&s, w, h);
        assert_has(&buf, "Sign in to Spotify");
        assert_has(&buf, "Sign in with your browser");
        assert_has(&buf, "Pair with a code");
        assert_has(&buf, "Username and password");
        assert_has(&buf, "headless");
        let (x, y) = find(&buf, "2. Pair with a code").expect("selected");
        assert!(is_reversed(&buf, x, y));
        let (x, y) = find(&buf, "1. Sign in").expect("other");
        assert!(!is_reversed(&buf, x, y));
        assert!(hit.lists.is_empty());
    }
}

#[test]
fn login_stages_render() {
    let url = "https://accounts.spotify.com/authorize?client_id=65b708073fc0480ea92a077233ca87bd&response_type=code";
    let (buf, _) = render(
        &login_state(LoginStage::Browser { url: url.into() }),
        120,
        40,
    );
    assert!(text(&buf).replace(['\n', ' ', '│'], "").contains(url));
    let s = login_state(LoginStage::DeviceCode {
        url: "https://spotify.com/pair".into(),
        code: "ABCD-EFGH".into(),
    });
    for (w, h) in SIZES {
        let (buf, _) = render(&s, w, h);
        assert_has(&buf, "https://spotify.com/pair");
        assert_has(&buf, "A B C D - E F G H");
    }
    let (buf, _) = render(
        &login_state(LoginStage::Working {
            message: "Connecting".into(),
        }),
        80,
        24,
    );
    assert_has(&buf, "Connecting…");
    let (buf, _) = render(
        &login_state(LoginStage::Failed {
            message: "Bad credentials".into(),
            selected: 0,
        }),
        80,
        24,
    );
    let (x, y) = find(&buf, "Bad credentials").expect("error");
    assert_eq!(buf[(x, y)].style().fg, Some(Color::Red));
}

#[test]
fn login_password_is_never_drawn() {
    let s = login_state(LoginStage::Password {
        username: "alice".into(),
        password: "hunter2secret".into(),
        field: 1,
    });
    for (w, h) in [(80, 24), (120, 40), (60, 16), (30, 8), (200, 50)] {
        let (buf, _) = render(&s, w, h);
        let t = text(&buf);
        assert!(!t.contains("hunter2"), "password on screen at {w}x{h}");
        assert!(!t.contains("secret"));
        if w >= 60 {
            assert_has(&buf, "alice");
            assert_has(&buf, &"•".repeat(13));
        }
    }
}

fn busy_state() -> State {
    let mut s = search_state();
    s.library.data = Some(Arc::new(library(50)));
    s.player = Some(player_status(PlayState::Playing, Instant::now()));
    s.queue.snapshot = QueueSnapshot {
        items: vec![id(1), id(2)],
        current: Some(0),
    };
    s.log.lines.push_back(LogLine {
        level: Level::Warn,
        target: "x".into(),
        text: "w".into(),
    });
    s.notifications.push_back(Notification {
        level: Level::Info,
        text: "hello".into(),
        at: Instant::now(),
    });
    s.filter = Some(filter_state(
        Pane::Search,
        "a",
        vec![(0, vec![0]), (99, vec![1])],
        ListCursor {
            selected: 7,
            offset: 40,
        },
        false,
    ));
    s
}

#[test]
fn no_panic_at_any_size() {
    let mut states = vec![busy_state(), state()];
    let mut h = busy_state();
    h.help = Some(ListCursor {
        selected: 100,
        offset: 50,
    });
    states.push(h);
    for stage in [
        LoginStage::Choose { selected: 9 },
        LoginStage::DeviceCode {
            url: "u".into(),
            code: "c".into(),
        },
        LoginStage::Password {
            username: "u".into(),
            password: "p".into(),
            field: 5,
        },
    ] {
        states.push(login_state(stage));
    }
    for pane in Pane::ALL {
        let mut s = busy_state();
        s.focus = pane;
        states.push(s);
    }
    for s in &states {
        for (w, h) in [
            (0, 0),
            (1, 1),
            (2, 2),
            (20, 5),
            (10, 3),
            (60, 16),
            (61, 17),
            (119, 13),
            (120, 8),
            (300, 4),
            (40, 100),
        ] {
            let _ = render(s, w, h);
        }
    }
}

#[test]
fn no_panic_over_a_grid_of_sizes() {
    let mut wide_help = busy_state();
    wide_help.help = Some(ListCursor::default());
    let mut stale = busy_state();
    stale.focus = Pane::Library;
    stale.filter = Some(filter_state(
        Pane::Library,
        "x",
        vec![(1_000_000, vec![0, 99]), (0, vec![500])],
        ListCursor {
            selected: 1,
            offset: 0,
        },
        true,
    ));
    for s in [busy_state(), wide_help, stale] {
        for w in (0..=130).step_by(7) {
            for h in (0..=45).step_by(3) {
                let (_, hit) = render(&s, w, h);
                for l in &hit.lists {
                    assert!(l.rows.len() <= l.area.height as usize);
                }
            }
        }
    }
}

#[test]
fn everything_fits_at_60x16() {
    let mut s = busy_state();
    s.filter = None;
    for pane in Pane::ALL {
        s.focus = pane;
        let (buf, hit) = render(&s, 60, 16);
        assert_has(&buf, pane.title());
        assert!(hit.progress.is_some(), "{pane:?}");
        assert!(hit.lists.iter().any(|l| l.pane == pane), "{pane:?}");
        // Tab bar on top, status line at the bottom.
        assert!(lines(&buf)[0].contains("Library"));
        assert!(lines(&buf)[15].contains("hello"));
    }
}

#[test]
fn styles_use_the_theme_roles() {
    // A theme where only the focused border is coloured: the focused pane's border uses it.
    let theme = Theme::from_styles(
        "t",
        &[(
            Role::BorderFocused,
            ratatui::style::Style::default().fg(Color::Rgb(1, 2, 3)),
        )],
    );
    let s = state();
    let mut term = Terminal::new(TestBackend::new(80, 24)).expect("backend");
    let mut hit = HitMap::default();
    term.draw(|f| hit = super::draw(f, &s, &theme, &[], Instant::now()))
        .expect("draw");
    let buf = term.backend().buffer();
    let (a, _) = hit.panes[0];
    assert_eq!(buf[(a.x, a.y)].style().fg, Some(Color::Rgb(1, 2, 3)));
}

/// `cargo test --lib ui::tests::dump -- --ignored --nocapture` prints sample screens.
#[test]
#[ignore]
#[allow(clippy::print_stdout)]
fn dump() {
    let mut s = busy_state();
    s.filter = None;
    s.devices.devices = vec![Device {
        id: "dev-lan".into(),
        name: "Kitchen Speaker".into(),
        kind: "Speaker".into(),
        is_active: false,
        volume: None,
        origin: DeviceOrigin::Lan {
            addr: "192.168.1.9:4070".parse().expect("addr"),
            cpath: "/zc".into(),
            active_user: String::new(),
        },
    }];
    for (w, h) in [(120, 40), (80, 24), (60, 16)] {
        for pane in Pane::ALL {
            s.focus = pane;
            let (buf, _) = render(&s, w, h);
            println!("{}\n", text(&buf));
        }
    }
    s.library.section = Some(LibrarySection::LikedSongs);
    s.library.cursors[1].selected = 4;
    s.focus = Pane::Library;
    let (buf, _) = render(&s, 120, 30);
    println!("{}\n", text(&buf));
    s.help = Some(ListCursor::default());
    let (buf, _) = render(&s, 80, 24);
    println!("{}\n", text(&buf));
    for st in [
        LoginStage::Choose { selected: 0 },
        LoginStage::DeviceCode {
            url: "https://www.spotify.com/pair".into(),
            code: "ABCD-EFGH".into(),
        },
        LoginStage::Password {
            username: "alice".into(),
            password: "xx".into(),
            field: 1,
        },
    ] {
        let (buf, _) = render(&login_state(st), 80, 24);
        println!("{}\n", text(&buf));
    }
}

#[test]
fn unfocused_side_queue_marks_its_selection_differently() {
    let mut s = state();
    s.queue.snapshot.items = vec![id(1), id(2)];
    s.queue.cursor.selected = 1;
    let (buf, hit) = render(&s, 140, 40);
    let q = hit
        .lists
        .iter()
        .find(|l| l.pane == Pane::Queue)
        .expect("queue list");
    let y = q.area.y + 1;
    assert!(buf[(q.area.x + 2, y)]
        .modifier
        .contains(Modifier::UNDERLINED));
    assert!(!is_reversed(&buf, q.area.x + 2, y));
}

#[test]
fn narrow_library_shows_the_section_on_one_line() {
    let mut s = state();
    s.library.section = Some(LibrarySection::Albums);
    let (buf, hit) = render(&s, 50, 20);
    assert_has(&buf, "‹ Albums (1) ›");
    assert_has(&buf, "First Album");
    let list = hit
        .lists
        .iter()
        .find(|l| l.pane == Pane::Library)
        .expect("list");
    assert_eq!(list.rows[0], Some(0));
}

#[test]
fn status_hints_follow_what_has_the_keys() {
    let mut s = search_state();
    let (buf, _) = render(&s, 80, 24);
    assert!(lines(&buf)[23].contains("esc stop typing"));
    s.search.editing = false;
    s.filter = Some(filter_state(
        Pane::Search,
        "a",
        vec![(0, vec![0])],
        ListCursor::default(),
        true,
    ));
    let (buf, _) = render(&s, 80, 24);
    assert!(lines(&buf)[23].contains("esc close filter"));
}

#[test]
fn a_held_track_shows_reconnecting_in_the_bar() {
    let at = Instant::now();
    let mut s = state();
    let mut p = player_status(PlayState::Loading, at);
    p.buffering = true;
    s.player = Some(p);
    let (buf, _) = render_at(&s, 120, 40, at);
    assert_has(&buf, "◌ buffering");
    s.player_held = Some("network error".into());
    let (buf, _) = render_at(&s, 120, 40, at);
    assert_has(&buf, "◌ reconnecting/buffering");
    // Audio again: no flag.
    let mut p = player_status(PlayState::Playing, at);
    p.buffering = false;
    s.player = Some(p);
    s.player_held = None;
    let (buf, _) = render_at(&s, 120, 40, at);
    assert!(find(&buf, "buffering").is_none());
}

#[test]
fn the_trust_prompt_names_the_device_its_address_and_id() {
    let mut s = state();
    s.focus = Pane::Devices;
    let id = "0123456789abcdef0123456789abcdef01234567";
    s.trust_prompt = Some(TrustPrompt {
        device: Device {
            id: id.into(),
            name: "Kitchen Speaker".into(),
            kind: "Speaker".into(),
            is_active: false,
            volume: None,
            origin: DeviceOrigin::Lan {
                addr: "192.168.1.9:4070".parse().expect("addr"),
                cpath: "/zc".into(),
                active_user: String::new(),
            },
        },
    });
    for (w, h) in SIZES {
        let (buf, hit) = render(&s, w, h);
        if w < 60 || h < 16 {
            continue;
        }
        let all = text(&buf);
        let flat: String = all.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains("Hand over your login?"), "{all}");
        assert!(flat.contains("Kitchen Speaker"), "{all}");
        assert!(flat.contains("192.168.1.9"), "{all}");
        // The id may be wrapped on narrow screens: all of its characters are there in order.
        let squeezed: String = all
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '│')
            .collect();
        assert!(squeezed.contains(id), "{all}");
        for answer in ["[y]", "[a]", "[n]", "[N]"] {
            assert_has(&buf, answer);
        }
        // The lists under the dialog take no clicks.
        assert!(hit.lists.is_empty());
    }
    // Tiny terminals: drawn without panicking.
    for (w, h) in [(1, 1), (10, 3), (20, 5)] {
        render(&s, w, h);
    }
}

#[test]
fn liked_tracks_carry_a_heart() {
    // Search results: track 1 is in Liked Songs, a track outside the library is not.
    let mut s = search_state();
    s.library.data = Some(Arc::new(library(3)));
    s.search.results[1] = Item::Track(track(99, "Alpine Air", "Bob Band", "Hills", 200_000));
    let (buf, _) = render(&s, 120, 40);
    let all = lines(&buf);
    let row = |name: &str| {
        all.iter()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} not shown"))
            .clone()
    };
    assert!(
        row("Alpha Song").contains("♥ 3:05"),
        "{}",
        row("Alpha Song")
    );
    assert!(!row("Alpine Air").contains('♥'), "{}", row("Alpine Air"));
    // Liked Songs: every row.
    let mut s = state();
    s.library.data = Some(Arc::new(library(3)));
    s.library.section = Some(LibrarySection::LikedSongs);
    let (buf, _) = render(&s, 120, 40);
    assert!(lines(&buf)
        .iter()
        .filter(|l| l.contains("Gamma Ray"))
        .any(|l| l.contains("♥ 1:01")));
}

#[test]
fn the_now_playing_bar_hearts_a_liked_track() {
    let mut s = state();
    let at = Instant::now();
    s.player = Some(player_status(PlayState::Playing, at));
    s.library.data = None;
    let (buf, _) = render_at(&s, 120, 40, at);
    assert_has(&buf, "Alpha Song — Ann Artist");
    s.library.data = Some(Arc::new(library(3)));
    let (buf, _) = render_at(&s, 120, 40, at);
    assert_has(&buf, "Alpha Song ♥ — Ann Artist");
}
mod lyrics;

fn picker(naming: Option<&str>) -> PlaylistPicker {
    PlaylistPicker {
        tracks: vec![track(1, "Alpha Song", "Ann Artist", "First Album", 185_000)],
        query: "qu".into(),
        rows: vec![
            PickerRow::Playlist {
                id: "p1".into(),
                uri: "spotify:playlist:p1".into(),
                name: "Quiet Quasar".into(),
                positions: vec![0, 1],
            },
            PickerRow::Playlist {
                id: "p2".into(),
                uri: "spotify:playlist:p2".into(),
                name: "Quokka Quest".into(),
                positions: vec![0, 1],
            },
        ],
        cursor: ListCursor {
            selected: 1,
            offset: 0,
        },
        naming: naming.map(str::to_owned),
    }
}

#[test]
fn the_picker_lists_matches_highlighted_and_the_selection() {
    let mut s = state();
    s.picker = Some(picker(None));
    for (w, h) in SIZES {
        let (buf, hit) = render(&s, w, h);
        assert_has(&buf, "Add to playlist");
        assert_has(&buf, "“Alpha Song”");
        assert_has(&buf, "/qu");
        let (x, y) = find(&buf, "Quiet Quasar").expect("first row");
        let (x2, y2) = find(&buf, "Quokka Quest").expect("second row");
        assert_eq!((x, y + 1), (x2, y2), "one row each, in order");
        // The matched characters are highlighted; the selected row is the second.
        for (cx, cy) in [(x, y), (x + 1, y), (x2, y2), (x2 + 1, y2)] {
            assert_eq!(buf[(cx, cy)].style().fg, Some(Color::Magenta), "{w}x{h}");
        }
        assert_ne!(buf[(x + 2, y)].style().fg, Some(Color::Magenta));
        assert!(is_reversed(&buf, x2 + 3, y2), "the selected row at {w}x{h}");
        assert!(!is_reversed(&buf, x + 3, y), "{w}x{h}");
        assert!(
            hit.lists.is_empty(),
            "the lists under the popup take no clicks"
        );
    }
    // Naming a new playlist: the name box instead of the list.
    s.picker = Some(picker(Some("Summer")));
    let (buf, _) = render(&s, 80, 24);
    assert_has(&buf, "Name: Summer");
    assert!(find(&buf, "Quiet Quasar").is_none());
    // No playlist matches: said.
    let mut p = picker(None);
    p.rows.clear();
    s.picker = Some(p);
    let (buf, _) = render(&s, 80, 24);
    assert_has(&buf, "No playlist of yours matches");
}

mod shows;
