//! Tests of the lyrics overlay in `update`: opening with the built-in key fetches the playing
//! track's lyrics, answers fill it (stale ones dropped), the keys choose a line and `enter` seeks
//! there through the core, a track change while open fetches again, and closing.

use super::*;
use crate::api::lyrics::{Line, Lyrics};
use crate::app::state::LyricsView;
use crate::app::tests::keys::feed;
use crate::keymap::Keymap;

fn lines() -> Lyrics {
    Lyrics::Text {
        synced: true,
        lines: (0..30)
            .map(|n| Line {
                start_ms: n * 8000,
                words: format!("line {n}"),
            })
            .collect(),
    }
}

fn fetches(e: &[Effect]) -> Vec<(u64, SpotifyId)> {
    e.iter()
        .filter_map(|e| match e {
            Effect::FetchLyrics { id, track } => Some((*id, *track)),
            _ => None,
        })
        .collect()
}

/// Opens the overlay with `y` and answers its fetch with [`lines`].
fn opened(s: &mut State) -> u64 {
    let mut keymap = Keymap::builtin("default").unwrap();
    let f = fetches(&feed(s, &mut keymap, "y"));
    assert_eq!(f.len(), 1, "one fetch");
    assert_eq!(f[0].1, track_id(1), "of the playing track");
    let view = s.lyrics.as_ref().unwrap();
    assert!(view.loading && view.track == Some(track_id(1)));
    assert_eq!(s.key_context(), crate::keymap::Context::Lyrics);
    let out = update(
        s,
        Msg::Lyrics {
            id: f[0].0,
            result: Ok(lines()),
        },
    );
    assert!(out.redraw && out.effects.is_empty());
    f[0].0
}

#[test]
fn open_fetch_answer_and_close() {
    let mut s = demo_state();
    opened(&mut s);
    let view = s.lyrics.as_ref().unwrap();
    assert!(!view.loading);
    assert_eq!(view.lyrics, Some(lines()));
    // Esc closes; `y` toggles.
    act(&mut s, Action::Close);
    assert!(s.lyrics.is_none());
    assert_eq!(s.key_context(), crate::keymap::Context::Library);
    opened(&mut s);
    act(&mut s, Action::ToggleLyrics);
    assert!(s.lyrics.is_none());
}

#[test]
fn stale_answers_and_errors() {
    let mut s = demo_state();
    let id = opened(&mut s);
    let out = update(
        &mut s,
        Msg::Lyrics {
            id: id + 100,
            result: Ok(Lyrics::None),
        },
    );
    assert!(!out.redraw, "an answer to another fetch is dropped");
    assert_eq!(s.lyrics.as_ref().unwrap().lyrics, Some(lines()));
    act(&mut s, Action::ToggleLyrics);
    let f = fetches(&act(&mut s, Action::ToggleLyrics).effects);
    update(
        &mut s,
        Msg::Lyrics {
            id: f[0].0,
            result: Err("HTTP 500".into()),
        },
    );
    let view = s.lyrics.as_ref().unwrap();
    assert_eq!(view.error.as_deref(), Some("HTTP 500"));
    assert!(!view.loading);
}

#[test]
fn keys_choose_a_line_and_enter_seeks_there() {
    let mut s = demo_state();
    opened(&mut s);
    // The paused player is at 10 s: line 1 (8 s) is sung; moving starts from there.
    act(&mut s, Action::Down);
    assert_eq!(s.lyrics.as_ref().unwrap().selected, Some(2));
    act(&mut s, Action::PageDown);
    assert_eq!(s.lyrics.as_ref().unwrap().selected, Some(12));
    act(&mut s, Action::Bottom);
    assert_eq!(s.lyrics.as_ref().unwrap().selected, Some(29));
    act(&mut s, Action::Top);
    act(&mut s, Action::Down);
    act(&mut s, Action::Down);
    act(&mut s, Action::Down);
    assert_eq!(s.lyrics.as_ref().unwrap().selected, Some(3));
    let out = act(&mut s, Action::Select);
    assert_eq!(player(&out.effects), vec![PlayerOp::Seek(24_000)]);
    assert_eq!(
        s.lyrics.as_ref().unwrap().selected,
        None,
        "follows the sung line again"
    );
    // Enter with no choice restarts the sung line: line 3 now, as the seek is anticipated in
    // the shown status.
    assert_eq!(s.player.as_ref().unwrap().position_ms, 24_000);
    let out = act(&mut s, Action::Select);
    assert_eq!(player(&out.effects), vec![PlayerOp::Seek(24_000)]);
    // Other keys still work under the overlay; the lists under it do not move.
    let selected = s.library.cursors;
    assert_eq!(
        player(&act(&mut s, Action::TogglePlay).effects),
        vec![PlayerOp::Toggle]
    );
    assert_eq!(s.library.cursors, selected);
}

#[test]
fn no_lyrics_and_nothing_playing() {
    let mut s = demo_state();
    let f = fetches(&act(&mut s, Action::ToggleLyrics).effects);
    update(
        &mut s,
        Msg::Lyrics {
            id: f[0].0,
            result: Ok(Lyrics::None),
        },
    );
    assert_eq!(s.lyrics.as_ref().unwrap().lyrics, Some(Lyrics::None));
    let out = act(&mut s, Action::Down);
    assert!(out.effects.is_empty());
    assert!(player(&act(&mut s, Action::Select).effects).is_empty());
    act(&mut s, Action::Close);
    s.player = None;
    let out = act(&mut s, Action::ToggleLyrics);
    assert!(fetches(&out.effects).is_empty());
    assert_eq!(s.lyrics, Some(LyricsView::default()));
}

#[test]
fn a_track_change_while_open_fetches_the_new_lyrics() {
    let mut s = demo_state();
    let first = opened(&mut s);
    let mut next = paused_player();
    if let Some(t) = &mut next.track {
        t.id = track_id(2);
        t.played_id = track_id(2);
    }
    let out = update(&mut s, Msg::PlayerStatus(next.clone()));
    let f = fetches(&out.effects);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].1, track_id(2));
    assert_ne!(f[0].0, first);
    assert!(s.lyrics.as_ref().unwrap().loading);
    // The same track again: no new fetch.
    assert!(fetches(&update(&mut s, Msg::PlayerStatus(next)).effects).is_empty());
    // Playback moving to another device follows its track.
    let out = update(&mut s, Msg::Remote(Some(kitchen_playback())));
    let remote = SpotifyUri::parse(&kitchen_playback().track_uri).unwrap().id;
    assert_eq!(fetches(&out.effects)[0].1, remote);
    // Closed: track changes fetch nothing.
    act(&mut s, Action::Close);
    assert!(fetches(&update(&mut s, Msg::Remote(None)).effects).is_empty());
}

#[test]
fn a_click_on_a_line_seeks_there_and_the_wheel_moves_the_choice() {
    let mut s = demo_state();
    opened(&mut s);
    let row = |y| {
        (
            Area {
                x: 10,
                y,
                width: 50,
                height: 1,
            },
            usize::from(y),
        )
    };
    s.hitmap.lyrics = (0..10).map(row).collect();
    let out = update(
        &mut s,
        Msg::Mouse {
            kind: MouseKind::Click,
            x: 20,
            y: 5,
        },
    );
    assert_eq!(player(&out.effects), vec![PlayerOp::Seek(40_000)]);
    // The wheel moves the choice from the sung line (5 now) without seeking.
    let out = update(
        &mut s,
        Msg::Mouse {
            kind: MouseKind::ScrollDown,
            x: 20,
            y: 5,
        },
    );
    assert!(player(&out.effects).is_empty());
    assert_eq!(s.lyrics.as_ref().unwrap().selected, Some(6));
    // A click outside the lines is not the overlay's: it does not seek or close it.
    let out = update(
        &mut s,
        Msg::Mouse {
            kind: MouseKind::Click,
            x: 70,
            y: 5,
        },
    );
    assert!(player(&out.effects).is_empty());
    assert!(s.lyrics.is_some());
}
