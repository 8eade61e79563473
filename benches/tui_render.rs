//! `make bench`: frame time of the TUI renderer (product budget, product.md §3: one frame with
//! 10k rows in a list ≤ 2 ms). Draws full 120×40 frames of the Liked Songs list (10k rows, then
//! 100k rows) on ratatui's `TestBackend` — layout, the virtualised list, the now-playing bar,
//! the side queue and the backend diff — moving the selection each frame so every frame differs,
//! and prints the median and p90 over 500 frames. Also one frame with the fuzzy filter open
//! on the 100k list (highlights drawn), since that is what a keystroke in the filter redraws.
//! And frames with an album cover in the now-playing bar, drawn with half-blocks and with the
//! kitty protocol (decoding is not in the frame: it happens off the UI thread).
//!
//! A plain bench binary (no criterion) to keep the build lean.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use ratatui::backend::TestBackend;
use ratatui::Terminal;

use ratatui_image::picker::{Picker, ProtocolType};
use tonearm::api::library::{Entry, Library, TrackInfo};
use tonearm::app::action::Pane;
use tonearm::app::state::{
    CoverState, DevicesView, FilterState, HitMap, LibrarySection, LibraryView, ListCursor, LogView,
    QueueView, Screen, SearchView, SessionLink, State,
};
use tonearm::connect::ConnectLink;
use tonearm::id::SpotifyId;
use tonearm::player::loader::TrackInfo as PlayerTrack;
use tonearm::player::{PlayState, PlayerStatus, QueueSnapshot, RepeatMode};
use tonearm::theme::Theme;
use tonearm::ui::art::ArtRenderer;
use tonearm_testkit::{ms, summary};

const FRAMES: usize = 500;

fn library(n: usize) -> Library {
    let tracks: Vec<TrackInfo> = (0..n)
        .map(|i| TrackInfo {
            uri: format!("spotify:track:{}", SpotifyId(i as u128 + 1).to_base62()),
            name: format!("Track number {i} (remastered {})", 1960 + i % 60),
            artists: vec![format!("Artist {}", i % 997), format!("Guest {}", i % 13)],
            album: format!("Album {} — deluxe edition", i % 3001),
            album_uri: String::new(),
            duration_ms: 120_000 + (i as u64 * 7919) % 240_000,
            explicit: i % 5 == 0,
        })
        .collect();
    let saved_tracks = (0..n)
        .map(|i| Entry {
            track: i as u32,
            added_at: String::new(),
        })
        .collect();
    Library {
        liked_index: Default::default(),
        id_index: Default::default(),
        version: 1,
        username: "bench".into(),
        fetched_at: 0,
        tracks,
        playlists: Vec::new(),
        saved_tracks,
        saved_albums: Vec::new(),
        followed_artists: Vec::new(),
        saved_shows: Vec::new(),
    }
}

fn state(n: usize) -> State {
    let lib = library(n);
    let mut tracks = HashMap::new();
    let mut queue = Vec::new();
    for t in lib.tracks.iter().take(200) {
        let id = SpotifyId::from_base62(t.uri.rsplit(':').next().unwrap()).unwrap();
        tracks.insert(id, t.clone());
        queue.push(id);
    }
    State {
        screen: Screen::Main,
        focus: Pane::Library,
        help: None,
        library: LibraryView {
            data: Some(Arc::new(lib)),
            section: Some(LibrarySection::LikedSongs),
            ..Default::default()
        },
        search: SearchView::default(),
        queue: QueueView {
            snapshot: QueueSnapshot {
                items: queue,
                current: Some(3),
            },
            cursor: ListCursor::default(),
        },
        devices: DevicesView::default(),
        log: LogView::default(),
        filter: None,
        trust_prompt: None,
        picker: None,
        trusted: Default::default(),
        player_held: None,
        player: Some(PlayerStatus {
            state: PlayState::Playing,
            track: Some(PlayerTrack {
                id: SpotifyId(4),
                played_id: SpotifyId(4),
                name: "Track number 3".into(),
                artists: vec!["Artist 3".into()],
                album: "Album 3".into(),
                duration_ms: 200_000,
            }),
            position_ms: 30_000,
            at: Instant::now(),
            volume: 40_000,
            buffering: false,
            repeat: RepeatMode::All,
            shuffle: false,
        }),
        remote: None,
        tracks,
        resume_points: HashMap::new(),
        notifications: VecDeque::new(),
        pending_chord: None,
        session: SessionLink::Online {
            username: "bench".into(),
        },
        connect: ConnectLink::Online,
        theme: "plain".into(),
        themes: vec!["plain".into()],
        device_id: "this".into(),
        device_name: "tonearm".into(),
        hitmap: HitMap::default(),
        size: (120, 40),
        next_request: 1,
        quit: false,
        memo: Default::default(),
        lyrics: None,
        art: Default::default(),
    }
}

fn run(label: &str, s: State) {
    run_with(label, s, None);
}

/// A 300 px four-colour cover (what the simulator serves) as the playing track's, ready.
fn with_cover(mut s: State) -> State {
    let image = image::RgbImage::from_fn(300, 300, |x, y| {
        let c = match (y < 150, x < 150) {
            (true, true) => [200, 40, 40],
            (true, false) => [40, 200, 40],
            (false, true) => [40, 40, 200],
            (false, false) => [200, 200, 40],
        };
        image::Rgb(c)
    });
    let key = "spotify:album:bench".to_string();
    s.art.enabled = true;
    s.art.now = Some(key.clone());
    s.art.covers.insert(
        key,
        CoverState::Ready(tonearm::art::Cover {
            url: "http://127.0.0.1/image/bench".into(),
            path: None,
            image: Arc::new(image),
        }),
    );
    s
}

/// Frames drawn with `renderer` (the image pass over the covers) when given.
fn run_with(label: &str, mut s: State, mut renderer: Option<ArtRenderer>) {
    let theme = Theme::plain();
    let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let n = tonearm::ui::list_len(&s, Pane::Library);
    let mut times = Vec::with_capacity(FRAMES);
    for i in 0..FRAMES + 20 {
        // Move through the list like someone holding `j`, with jumps, so the window moves.
        let sel = (i * 37) % n.max(1);
        match &mut s.filter {
            Some(f) => f.cursor.selected = i % f.matches.len().max(1),
            None => s.library.cursors[LibrarySection::LikedSongs.index()].selected = sel,
        }
        let start = Instant::now();
        let mut hit = HitMap::default();
        term.draw(|f| {
            hit = match renderer.as_mut() {
                Some(r) => tonearm::ui::draw_with_art(f, &s, &theme, &[], Instant::now(), r),
                None => tonearm::ui::draw(f, &s, &theme, &[], Instant::now()),
            }
        })
        .unwrap();
        let took = start.elapsed();
        s.hitmap = hit;
        if i >= 20 {
            times.push(took);
        }
    }
    if renderer.is_some() {
        // The frames measured did draw a cover (a slot was filled, not skipped).
        assert_eq!(s.hitmap.covers.len(), 1, "{label}: no cover on screen");
    }
    let t = summary(&mut times);
    println!(
        "{label:<48} median {:>7.3} ms   p90 {:>7.3} ms   max {:>7.3} ms   (bar ≤ 2 ms)",
        ms(t.median),
        ms(t.p90),
        ms(t.max),
    );
}

fn main() {
    println!("tui_render: full 120×40 frames on TestBackend, {FRAMES} frames each");
    run("liked songs, 10k rows", state(10_000));
    run("liked songs, 100k rows", state(100_000));
    let mut s = state(100_000);
    // Every third row matches, with three highlighted chars each.
    s.filter = Some(FilterState {
        pane: Pane::Library,
        query: "trk".into(),
        matches: (0..100_000)
            .step_by(3)
            .map(|i| (i, vec![0, 2, 6]))
            .collect(),
        cursor: ListCursor::default(),
        editing: true,
        haystack: Default::default(),
    });
    run("liked songs, 100k rows, filter open (33k hits)", s);
    // Album art on screen (the now-playing cover; its protocol is encoded on the first frame
    // and kept, as in the TUI): half-blocks, and kitty (escape sequences in the cells).
    run_with(
        "liked songs, 10k rows, cover (half-blocks)",
        with_cover(state(10_000)),
        Some(ArtRenderer::halfblocks()),
    );
    let mut kitty = Picker::halfblocks();
    kitty.set_protocol_type(ProtocolType::Kitty);
    run_with(
        "liked songs, 10k rows, cover (kitty)",
        with_cover(state(10_000)),
        Some(ArtRenderer::with_picker(kitty)),
    );
}
