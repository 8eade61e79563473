//! Flow tests: key strings through the real built-in keymap (`keys::feed` → `route_key` →
//! `update`), checking the resulting state and effects. Builders come from the parent module.

use super::keys::{feed, parse_key_string};
use super::*;
use crate::app::input::route_key;
use crate::keymap::Keymap;

fn keymap() -> Keymap {
    Keymap::builtin("default").unwrap()
}

fn results() -> Vec<Item> {
    vec![
        Item::Track(track(3, "One More Time", "Daft Punk", "Discovery")),
        Item::Track(track(4, "Digital Love", "Daft Punk", "Discovery")),
        Item::Artist {
            uri: uri("artist", 1),
            name: "Daft Punk".into(),
        },
    ]
}

/// Routes one key string and reports whether any step asked for a redraw.
fn redraws(s: &mut State, km: &mut Keymap, keys: &str) -> bool {
    let mut redraw = false;
    for ev in parse_key_string(keys).unwrap() {
        if let Some(msg) = route_key(s, km, &ev) {
            redraw |= update(s, msg).redraw;
        }
    }
    redraw
}

#[test]
fn search_type_debounce_results_and_play() {
    let mut s = demo_state();
    let mut km = keymap();
    let e = feed(&mut s, &mut km, "2daft");
    assert_eq!(s.focus, Pane::Search);
    assert_eq!(s.search.input, "daft");
    assert_eq!(e.len(), 4, "one debounce per keystroke: {e:?}");
    assert!(e
        .iter()
        .all(|e| matches!(e, Effect::Debounce { delay_ms: 250, .. })));
    let id = s.search.latest;
    let o = update(&mut s, Msg::SearchDue(id));
    assert_eq!(
        o.effects,
        vec![Effect::Search {
            id,
            query: "daft".into()
        }]
    );
    update(
        &mut s,
        Msg::SearchResults {
            id,
            query: "daft".into(),
            result: Ok(results()),
        },
    );
    // Enter leaves the box (the results already answer this query: no new search).
    let e = feed(&mut s, &mut km, "<enter>");
    assert!(e.is_empty(), "{e:?}");
    assert!(!s.search.editing);
    let e = feed(&mut s, &mut km, "j<enter>");
    assert_eq!(
        e,
        vec![
            // Search results are no context: whatever was reported before is cleared.
            Effect::PlayingContext {
                context_uri: String::new(),
                ids: vec![track_id(3), track_id(4)],
            },
            Effect::Player(PlayerOp::Load {
                ids: vec![track_id(3), track_id(4)],
                index: 1,
                position_ms: 0,
                play: true
            })
        ]
    );
    // The artist row opens a page on the search pane's stack.
    let e = feed(&mut s, &mut km, "j<enter>");
    assert!(matches!(
        &e[..],
        [Effect::LoadPage {
            kind: PageKind::Artist,
            ..
        }]
    ));
    assert_eq!(s.search.pages.len(), 1);
    feed(&mut s, &mut km, "q");
    assert!(s.search.pages.is_empty() && !s.quit);
    // `s` in the search pane edits the query again.
    feed(&mut s, &mut km, "s<bs><bs><bs><bs>air");
    assert_eq!(s.search.input, "air");
}

#[test]
fn search_enter_searches_at_once_and_the_timer_then_does_nothing() {
    let mut s = demo_state();
    let mut km = keymap();
    feed(&mut s, &mut km, "g s");
    assert_eq!(s.focus, Pane::Search);
    assert!(s.search.editing);
    feed(&mut s, &mut km, "justice");
    let id = s.search.latest;
    let e = feed(&mut s, &mut km, "<enter>");
    assert_eq!(
        e,
        vec![Effect::Search {
            id,
            query: "justice".into()
        }]
    );
    assert!(update(&mut s, Msg::SearchDue(id)).effects.is_empty());
    // Keys are list keys again: j moves nothing in empty results, q quits.
    feed(&mut s, &mut km, "<space>");
    assert!(
        !s.search.input.contains(' '),
        "space is play/pause outside the box"
    );
}

#[test]
fn queue_editing_keys() {
    let mut s = demo_state();
    let mut km = keymap();
    let e = feed(&mut s, &mut km, "3jJ");
    assert_eq!(e, vec![Effect::Player(PlayerOp::Move { from: 1, to: 2 })]);
    assert_eq!(s.queue.cursor.selected, 2);
    let e = feed(&mut s, &mut km, "KK");
    assert_eq!(
        e,
        vec![
            Effect::Player(PlayerOp::Move { from: 2, to: 1 }),
            Effect::Player(PlayerOp::Move { from: 1, to: 0 }),
        ]
    );
    assert_eq!(s.queue.snapshot.items[0], track_id(2));
    assert_eq!(
        s.queue.snapshot.current,
        Some(1),
        "the playing entry moved down"
    );
    let e = feed(&mut s, &mut km, "d");
    assert_eq!(e, vec![Effect::Player(PlayerOp::Remove(0))]);
    let e = feed(&mut s, &mut km, "j");
    assert!(e.is_empty());
    let e = feed(&mut s, &mut km, "d");
    assert!(e.is_empty(), "the playing entry can't be removed");
    let e = feed(&mut s, &mut km, "c");
    assert_eq!(e, vec![Effect::Player(PlayerOp::ClearQueue)]);
    let e = feed(&mut s, &mut km, "G<enter>");
    assert!(matches!(
        &e[..],
        [Effect::Player(PlayerOp::Load { index: 3, .. })]
    ));
    // z in the queue pane queues nothing.
    assert!(feed(&mut s, &mut km, "z").is_empty());
}

#[test]
fn filter_then_select_plays_the_underlying_row() {
    let mut s = demo_state();
    let mut km = keymap();
    feed(&mut s, &mut km, "l"); // liked songs
    feed(&mut s, &mut km, "/morn");
    let f = s.filter.as_ref().unwrap();
    assert!(f.editing);
    assert_eq!(f.query, "morn");
    let rows: Vec<usize> = f.matches.iter().map(|m| m.0).collect();
    assert_eq!(rows.len(), 3, "{rows:?}");
    // j is a character while the box has the keys.
    feed(&mut s, &mut km, "<enter>");
    assert!(!s.filter.as_ref().unwrap().editing);
    let e = feed(&mut s, &mut km, "j<enter>");
    let Some(Effect::Player(PlayerOp::Load { ids, index, .. })) = e.get(1).cloned() else {
        panic!("{e:?}")
    };
    assert_eq!(ids[index], track_id(rows[1] as u32 + 1));
    // z queues the underlying row too.
    let e = feed(&mut s, &mut km, "z");
    assert_eq!(
        e,
        vec![Effect::Player(PlayerOp::AddToQueue(vec![track_id(
            rows[1] as u32 + 1
        )]))]
    );
    // q closes the filter, the selection stays on that row; q again quits.
    feed(&mut s, &mut km, "q");
    assert!(s.filter.is_none());
    assert_eq!(s.library.cursors[1].selected, rows[1]);
    assert!(!s.quit);
    feed(&mut s, &mut km, "/x<esc>");
    assert!(s.filter.is_none() && !s.quit);
}

#[test]
fn pane_switching_and_chords() {
    let mut s = demo_state();
    let mut km = keymap();
    feed(&mut s, &mut km, "3");
    assert_eq!(s.focus, Pane::Queue);
    feed(&mut s, &mut km, "4");
    assert_eq!(s.focus, Pane::Devices);
    feed(&mut s, &mut km, "1");
    assert_eq!(s.focus, Pane::Library);
    feed(&mut s, &mut km, "g");
    assert_eq!(s.pending_chord.as_deref(), Some("g"));
    feed(&mut s, &mut km, "q");
    assert_eq!(s.focus, Pane::Queue, "g q");
    assert!(
        s.pending_chord.is_none(),
        "the hint is cleared by the action"
    );
    feed(&mut s, &mut km, "g d");
    assert_eq!(s.focus, Pane::Devices);
    feed(&mut s, &mut km, "g l");
    assert_eq!(s.focus, Pane::Library);
    feed(&mut s, &mut km, "<tab><tab>");
    assert_eq!(
        s.focus,
        Pane::Queue,
        "the first tab enters the empty search box, the second leaves it for the queue"
    );
    feed(&mut s, &mut km, "<backtab>");
    assert_eq!(s.focus, Pane::Search);
    feed(&mut s, &mut km, "<esc>D");
    assert_eq!(s.focus, Pane::Devices);
    feed(&mut s, &mut km, "5");
    assert_eq!(s.focus, Pane::Log);
    // g g / G: top and bottom.
    feed(&mut s, &mut km, "1lG");
    assert_eq!(s.library.cursors[1].selected, 5);
    feed(&mut s, &mut km, "g g");
    assert_eq!(s.library.cursors[1].selected, 0);
    // An unbound key says so in the status line.
    feed(&mut s, &mut km, "x");
    assert!(last_note(&s).contains('x'));
}

#[test]
fn help_overlay_keys() {
    let mut s = demo_state();
    let mut km = keymap();
    feed(&mut s, &mut km, "?");
    assert!(s.help.is_some());
    assert_eq!(s.key_context(), crate::keymap::Context::Help);
    feed(&mut s, &mut km, "jj");
    assert_eq!(s.help.unwrap().selected, 2);
    assert_eq!(
        s.library.cursors[0].selected, 0,
        "the list underneath doesn't move"
    );
    feed(&mut s, &mut km, "?");
    assert!(s.help.is_none());
    feed(&mut s, &mut km, "?q");
    assert!(s.help.is_none() && !s.quit);
    feed(&mut s, &mut km, "?<esc>");
    assert!(s.help.is_none() && !s.quit);
}

#[test]
fn playback_keys_local() {
    let mut s = demo_state();
    let mut km = keymap();
    let e = feed(&mut s, &mut km, "<space>np<gt><lt><lt>+-<C-s><C-r><C-r>");
    assert_eq!(
        player(&e),
        vec![
            PlayerOp::Toggle,
            PlayerOp::Next,
            PlayerOp::Previous,
            PlayerOp::Seek(15_000),
            PlayerOp::Seek(10_000),
            PlayerOp::Seek(5_000),
            PlayerOp::SetVolume(32768 + 3277),
            PlayerOp::SetVolume(32768),
            PlayerOp::SetShuffle(true),
            PlayerOp::SetRepeat(RepeatMode::All),
            PlayerOp::SetRepeat(RepeatMode::One),
        ]
    );
}

#[test]
fn playback_keys_with_a_remote_device_active() {
    let mut s = demo_state();
    let mut km = keymap();
    update(&mut s, Msg::Remote(Some(kitchen_playback())));
    let e = feed(&mut s, &mut km, "<space>n<gt>+<C-s>");
    assert_eq!(
        remote_controls(&e),
        vec![
            RemoteControl::Resume,
            RemoteControl::SkipNext,
            RemoteControl::SeekTo(65_000),
            RemoteControl::SetVolume(20000 + 3277),
            RemoteControl::SetShuffle(true),
        ]
    );
    // Transfer back to this device from the devices pane.
    let e = feed(&mut s, &mut km, "4j<enter>");
    assert_eq!(
        e,
        vec![Effect::Transfer {
            device: demo_devices()[1].clone()
        }]
    );
    let e = feed(&mut s, &mut km, "r");
    assert_eq!(e, vec![Effect::RefreshDevices]);
}

#[test]
fn remote_commands_take_the_same_path_as_keys() {
    let pairs: Vec<(RemoteCommand, &str)> = vec![
        (RemoteCommand::SkipNext, "n"),
        (RemoteCommand::SkipPrev, "p"),
        (RemoteCommand::SetShuffle(true), "<C-s>"),
        (RemoteCommand::SetRepeatContext(true), "<C-r>"),
        (RemoteCommand::SeekTo(15_000), "<gt>"),
        (RemoteCommand::SetVolume(32768 + 3277), "+"),
    ];
    for (cmd, keys) in pairs {
        let mut by_key = demo_state();
        let mut km = keymap();
        let key_effects = feed(&mut by_key, &mut km, keys);
        let mut by_remote = demo_state();
        let remote_effects = update(&mut by_remote, Msg::RemoteCommand(cmd.clone())).effects;
        assert_eq!(remote_effects, key_effects, "{cmd:?} vs {keys:?}");
        assert!(!key_effects.is_empty());
    }
}

#[test]
fn library_keys_open_pages_and_queue() {
    let mut s = demo_state();
    let mut km = keymap();
    let e = feed(&mut s, &mut km, "<enter>");
    assert!(matches!(
        &e[..],
        [Effect::LoadPage {
            kind: PageKind::Playlist,
            ..
        }]
    ));
    let e = feed(&mut s, &mut km, "jZ");
    assert_eq!(
        e,
        vec![Effect::Player(PlayerOp::PlayNext(vec![track_id(4)]))]
    );
    // Enter on a track of the page plays the page, reported as the context it came from.
    let page_uri = s.library.pages[0].uri.clone();
    let e = feed(&mut s, &mut km, "<enter>");
    match &e[..] {
        [Effect::PlayingContext { context_uri, ids }, Effect::Player(PlayerOp::Load {
            ids: loaded,
            index,
            play: true,
            ..
        })] => {
            assert_eq!(context_uri, &page_uri);
            assert_eq!(ids, loaded);
            assert_eq!(loaded[*index], track_id(4));
        }
        other => panic!("{other:?}"),
    }
    feed(&mut s, &mut km, "q");
    assert!(s.library.pages.is_empty());
    feed(&mut s, &mut km, "]]");
    assert_eq!(s.library.section, Some(LibrarySection::Albums));
    feed(&mut s, &mut km, "h");
    assert_eq!(s.library.section, Some(LibrarySection::LikedSongs));
    let e = feed(&mut s, &mut km, "R");
    assert_eq!(e, vec![Effect::LoadLibrary { refresh: true }]);
    feed(&mut s, &mut km, "T");
    assert_eq!(s.theme, "light");
}

#[test]
fn redraw_only_on_change() {
    let mut s = demo_state();
    let mut km = keymap();
    assert!(redraws(&mut s, &mut km, "l"));
    assert!(redraws(&mut s, &mut km, "G"));
    assert!(!redraws(&mut s, &mut km, "j"), "Down at the last row");
    assert!(redraws(&mut s, &mut km, "g g"), "to the top");
    assert!(!redraws(&mut s, &mut km, "k"), "Up at the top");
    assert!(redraws(&mut s, &mut km, "g"), "the chord hint shows");
}

#[test]
fn quit_from_the_top_level() {
    let mut s = demo_state();
    let mut km = keymap();
    feed(&mut s, &mut km, "q");
    assert!(s.quit);
    let mut s = demo_state();
    feed(&mut s, &mut km, "<C-c>");
    assert!(s.quit);
}

#[test]
fn login_screen_keys() {
    let mut km = keymap();
    let mut s = login_state();
    let e = feed(&mut s, &mut km, "j<enter>");
    assert_eq!(e, vec![Effect::Login(LoginRequest::DeviceCode)]);
    let e = feed(&mut s, &mut km, "<esc>");
    assert_eq!(e, vec![Effect::CancelLogin]);
    let e = feed(
        &mut s,
        &mut km,
        "jj<enter>alice<tab>pa ss<space>word<bs><enter>",
    );
    assert_eq!(
        e,
        vec![Effect::Login(LoginRequest::Password {
            username: "alice".into(),
            password: "pass wor".into()
        })]
    );
    let mut s = login_state();
    feed(&mut s, &mut km, "q");
    assert!(s.quit);
}
