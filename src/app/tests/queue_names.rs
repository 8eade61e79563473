//! Names for the queue's rows (`Effect::FetchTracks`): asked only for the rows the screen can
//! show, and not before the library has been read — a restored 10k-track queue must not fetch
//! and keep metadata for every track (issue 10's RSS budget).

use super::*;
use crate::app::update::QUEUE_NAME_REACH;

/// A state as at start with stored credentials: no library yet, its cached copy being read.
fn starting_state() -> State {
    let mut s = State::new(
        "this".into(),
        "tonearm".into(),
        "default".into(),
        vec!["default".into()],
        Screen::Main,
    );
    s.library.loading = true;
    s
}

fn queue_of(n: u32, current: Option<usize>) -> QueueSnapshot {
    QueueSnapshot {
        items: (1..=n).map(track_id).collect(),
        current,
    }
}

/// The ids asked for by `effects`, in order.
fn asked(effects: &[Effect]) -> Vec<SpotifyId> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::FetchTracks(ids) => Some(ids.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Track ids `from..=to` (queue rows `from-1..=to-1`).
fn ids(from: u32, to: u32) -> Vec<SpotifyId> {
    (from..=to).map(track_id).collect()
}

#[test]
fn a_restored_queue_waits_for_the_library_and_then_asks_nothing_it_names() {
    let mut s = starting_state();
    let o = update(&mut s, Msg::Queue(queue_of(2_000, Some(1_500))));
    assert!(
        asked(&o.effects).is_empty(),
        "the library is still being read"
    );
    assert!(s.memo.asked.is_empty());

    // The cached library has every queued track: nothing to fetch, nothing kept twice.
    let mut lib = demo_library();
    lib.tracks = (1..=2_000).map(|n| track(n, "T", "A", "B")).collect();
    let o = update(&mut s, Msg::Library(Ok(Arc::new(lib))));
    assert!(asked(&o.effects).is_empty(), "{:?}", o.effects);
    assert!(s.tracks.is_empty());
    assert!(s.memo.asked.is_empty());
}

#[test]
fn a_long_queue_asks_names_only_around_the_selection_and_the_playing_row() {
    let mut s = starting_state();
    update(&mut s, Msg::Queue(queue_of(10_000, Some(5_000))));
    // The library names tracks 1..=6 only.
    let o = update(&mut s, Msg::Library(Ok(Arc::new(demo_library()))));
    let reach = QUEUE_NAME_REACH as u32;
    let mut want = ids(7, reach + 1); // rows 0..=reach around the selection (row 0)
    want.extend(ids(5_001 - reach, 5_001 + reach)); // around row 5000
    assert_eq!(asked(&o.effects), want);
    assert_eq!(s.memo.asked.len(), want.len());

    // Going to the bottom of the queue asks for the rows that come into view, once.
    act(&mut s, Action::Focus(Pane::Queue));
    let o = act(&mut s, Action::Bottom);
    assert_eq!(s.queue.cursor.selected, 9_999);
    assert_eq!(asked(&o.effects), ids(10_000 - reach, 10_000));
    let o = act(&mut s, Action::Up);
    assert_eq!(
        asked(&o.effects),
        ids(9_999 - reach, 9_999 - reach),
        "one row more"
    );
    let o = act(&mut s, Action::Down);
    assert!(asked(&o.effects).is_empty(), "already asked");

    // A taller terminal shows more rows: its height is the reach (selection at row 9999).
    let tall = 80;
    let o = update(&mut s, Msg::Resize(120, tall as u16));
    let mut want = ids(5_001 - tall, 5_000 - reach);
    want.extend(ids(5_002 + reach, 5_001 + tall));
    want.extend(ids(10_000 - tall, 9_998 - reach));
    assert_eq!(asked(&o.effects), want);
    // The first screen's rows, then both windows at the new reach: a few hundred, not 10k.
    let total = (reach + 1 - 6) + (2 * tall + 1) + (tall + 1);
    assert_eq!(s.memo.asked.len() as u32, total);
}

#[test]
fn a_filter_on_the_queue_asks_for_every_name_it_matches_against() {
    let mut s = starting_state();
    update(&mut s, Msg::Library(Ok(Arc::new(demo_library()))));
    let o = update(&mut s, Msg::Queue(queue_of(500, Some(0))));
    assert_eq!(asked(&o.effects).len(), QUEUE_NAME_REACH + 1 - 6);
    act(&mut s, Action::Focus(Pane::Queue));
    let o = act(&mut s, Action::OpenFilter);
    assert_eq!(asked(&o.effects), ids(QUEUE_NAME_REACH as u32 + 2, 500));
}

#[test]
fn a_failed_library_read_still_lets_the_queue_ask_for_names() {
    let mut s = starting_state();
    update(&mut s, Msg::Queue(queue_of(3, Some(0))));
    let o = update(&mut s, Msg::Library(Err("offline".into())));
    assert_eq!(asked(&o.effects), ids(1, 3));
}

#[test]
fn without_a_cached_library_the_queue_does_not_wait_for_the_refresh() {
    let mut s = starting_state();
    update(&mut s, Msg::Queue(queue_of(1_000, Some(0))));
    let o = update(&mut s, Msg::NoCachedLibrary);
    assert_eq!(asked(&o.effects), ids(1, QUEUE_NAME_REACH as u32 + 1));
    assert!(s.library.loading, "the refresh is still on its way");
}
