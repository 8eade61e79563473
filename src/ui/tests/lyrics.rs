//! Render tests of the lyrics overlay: the sung line marked and highlighted from the position
//! at "now", auto-scrolled to the middle, the chosen line in the selection style, the
//! loading / none / error / nothing-playing states, tiny sizes, and the lists' hit areas hidden.

use super::*;
use crate::api::lyrics::{Line, Lyrics};
use crate::ui::lyrics::first_row;

fn synced(n: u64) -> Lyrics {
    Lyrics::Text {
        synced: true,
        lines: (0..n)
            .map(|i| Line {
                start_ms: i * 5000,
                words: format!("Verse line {i}"),
            })
            .collect(),
    }
}

fn open(lyrics: Option<Lyrics>) -> State {
    let mut s = state();
    let now = Instant::now();
    // Paused at 60 s: with a line every 5 s, line 12 is sung.
    s.player = Some(player_status(PlayState::Paused, now));
    s.lyrics = Some(LyricsView {
        track: Some(id(1)),
        request: 1,
        loading: false,
        error: None,
        lyrics,
        selected: None,
    });
    s
}

#[test]
fn first_row_centres_and_clamps() {
    assert_eq!(first_row(5, 10, 3), 0, "everything fits");
    assert_eq!(first_row(100, 10, 0), 0);
    assert_eq!(first_row(100, 10, 50), 45);
    assert_eq!(first_row(100, 10, 99), 90, "never past the end");
    assert_eq!(first_row(100, 0, 50), 0);
}

#[test]
fn sung_line_is_highlighted_and_scrolled_into_view() {
    let s = open(Some(synced(60)));
    for (w, h) in SIZES {
        let (buf, hit) = render(&s, w, h);
        assert_has(&buf, "Lyrics · Alpha Song");
        assert_has(&buf, "▶ Verse line 12");
        let (x, y) = find(&buf, "Verse line 12").unwrap();
        assert_eq!(
            buf[(x, y)].fg,
            Color::Green,
            "{w}x{h}: the sung line's style"
        );
        assert!(
            find(&buf, "Verse line 0 ").is_none() || h >= 40,
            "{w}x{h}: scrolled"
        );
        assert!(find(&buf, "Verse line 59").is_none(), "{w}x{h}");
        assert!(
            hit.lists.is_empty(),
            "{w}x{h}: the lists under it take no clicks"
        );
        let (a, _) = hit
            .lyrics
            .iter()
            .find(|(_, i)| *i == 12)
            .expect("line 12's hit area");
        assert_eq!(a.y, y, "{w}x{h}: a click on the sung line's row picks it");
    }
}

#[test]
fn the_chosen_line_is_selected_and_followed() {
    let mut s = open(Some(synced(60)));
    if let Some(v) = &mut s.lyrics {
        v.selected = Some(40);
    }
    let (buf, _) = render(&s, 80, 24);
    let (x, y) = find(&buf, "Verse line 40").unwrap();
    assert!(is_reversed(&buf, x, y), "{}", text(&buf));
    assert!(
        find(&buf, "Verse line 12").is_none(),
        "the view follows the choice"
    );
}

#[test]
fn states_without_lines() {
    let cases = [
        (open(Some(Lyrics::None)), "No lyrics for this track"),
        (open(None), "No lyrics for this track"),
        (
            {
                let mut s = open(None);
                s.lyrics.as_mut().unwrap().loading = true;
                s
            },
            "Loading lyrics…",
        ),
        (
            {
                let mut s = open(None);
                s.lyrics.as_mut().unwrap().error = Some("HTTP 500 from /x".into());
                s
            },
            "Cannot load the lyrics: HTTP 500",
        ),
        (
            {
                let mut s = state();
                s.lyrics = Some(LyricsView::default());
                s
            },
            "Nothing is playing",
        ),
    ];
    for (s, want) in cases {
        let (buf, _) = render(&s, 80, 24);
        assert_has(&buf, want);
    }
}

#[test]
fn unsynced_lyrics_have_no_sung_line_and_tiny_sizes_do_not_panic() {
    let s = open(Some(Lyrics::Text {
        synced: false,
        lines: vec![
            Line {
                start_ms: 0,
                words: "Plain one".into(),
            },
            Line {
                start_ms: 0,
                words: "Plain two".into(),
            },
        ],
    }));
    let (buf, _) = render(&s, 80, 24);
    assert_has(&buf, "  Plain one");
    assert!(find(&buf, "▶").is_none());
    for (w, h) in [(1, 1), (10, 3), (20, 5), (14, 8)] {
        let _ = render(&open(Some(synced(3))), w, h);
    }
}
