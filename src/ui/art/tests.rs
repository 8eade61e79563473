//! Render tests of covers on a `TestBackend` at 80×24 and 120×40: with half-blocks the cover's
//! four colours land in the right cells of the now-playing slot and of an album page's; with
//! the kitty protocol (a picker forced to kitty, as when the terminal answers the graphics
//! query) the kitty escape sequence is in the rendered cells; a cover that is loading, missing
//! (404) or corrupt leaves a placeholder and the frame is drawn all the same.

use std::sync::Arc;
use std::time::Instant;

use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;
use ratatui::Terminal;
use ratatui_image::picker::{Picker, ProtocolType};

use super::*;
use crate::app::state::{Area, CoverState, HitMap, ListCursor, PageKind, PageView, State};
use crate::art::Cover;
use crate::id::SpotifyId;
use crate::player::loader::TrackInfo as PlayerTrack;
use crate::player::{PlayState, PlayerStatus, RepeatMode};
use crate::theme::Theme;

const TL: [u8; 3] = [220, 30, 30];
const TR: [u8; 3] = [30, 200, 30];
const BL: [u8; 3] = [30, 30, 220];
const BR: [u8; 3] = [230, 230, 40];
const ALBUM: &str = "spotify:album:0000000000000000000042";

fn cover_image(side: u32) -> image::RgbImage {
    image::RgbImage::from_fn(side, side, |x, y| {
        image::Rgb(match (y < side / 2, x < side / 2) {
            (true, true) => TL,
            (true, false) => TR,
            (false, true) => BL,
            (false, false) => BR,
        })
    })
}

fn ready(side: u32) -> CoverState {
    CoverState::Ready(Cover {
        url: "http://127.0.0.1:1/image/x".into(),
        path: None,
        image: Arc::new(cover_image(side)),
    })
}

/// Something playing, its cover in `cover`.
fn playing(cover: CoverState) -> State {
    let mut s = crate::ui::tests::state();
    s.player = Some(PlayerStatus {
        state: PlayState::Paused,
        track: Some(PlayerTrack {
            id: SpotifyId(1),
            played_id: SpotifyId(1),
            name: "Alpha Song".into(),
            artists: vec!["Ann Artist".into()],
            album: "First Album".into(),
            duration_ms: 185_000,
        }),
        position_ms: 0,
        at: Instant::now(),
        volume: 32768,
        buffering: false,
        repeat: RepeatMode::Off,
        shuffle: false,
    });
    s.art.enabled = true;
    s.art.now = Some(ALBUM.into());
    s.art.covers.insert(ALBUM.into(), cover);
    s
}

fn draw(s: &State, w: u16, h: u16, r: &mut ArtRenderer) -> (Buffer, HitMap) {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    let theme = Theme::plain();
    let mut hit = HitMap::default();
    term.draw(|f| hit = crate::ui::draw_with_art(f, s, &theme, &[], Instant::now(), r))
        .unwrap();
    (term.backend().buffer().clone(), hit)
}

fn rgb(c: [u8; 3]) -> Color {
    Color::Rgb(c[0], c[1], c[2])
}

/// The (top, bottom) pixel colours of half-block cell (x, y): `▀` is fg over bg, `▄` bg over
/// fg, a space (both halves the same colour) bg.
fn halves(buf: &Buffer, x: u16, y: u16) -> (Color, Color) {
    let c = &buf[(x, y)];
    match c.symbol() {
        "▀" => (c.fg, c.bg),
        "▄" => (c.bg, c.fg),
        " " => (c.bg, c.bg),
        other => panic!("cell ({x},{y}) is not a half block: {other:?}"),
    }
}

/// Which of the four cover colours `c` is closest to.
fn nearest(c: Color) -> [u8; 3] {
    let Color::Rgb(r, g, b) = c else {
        panic!("not a true colour: {c:?}");
    };
    let d = |q: [u8; 3]| {
        [r.abs_diff(q[0]), g.abs_diff(q[1]), b.abs_diff(q[2])]
            .iter()
            .map(|&x| u32::from(x) * u32::from(x))
            .sum::<u32>()
    };
    [TL, TR, BL, BR].into_iter().min_by_key(|&q| d(q)).unwrap()
}

/// Every half-block pixel of the slot shows its quadrant's colour (the pixels next to the
/// quadrant borders are left out: the half-block encoder's resize filter blends them); the
/// corners are exact.
fn assert_quadrants(buf: &Buffer, a: &Area, label: &str) {
    let (w, h) = (a.width, a.height * 2);
    let mut checked = 0;
    for py in 0..h {
        for px in 0..w {
            let near = |p: u16, n: u16| p + 1 == n / 2 || p == n / 2;
            if (w > 4 && near(px, w)) || (h > 4 && near(py, h)) {
                continue;
            }
            let (top, bottom) = halves(buf, a.x + px, a.y + py / 2);
            let c = if py % 2 == 0 { top } else { bottom };
            let want = match (py < h / 2, px < w / 2) {
                (true, true) => TL,
                (true, false) => TR,
                (false, true) => BL,
                (false, false) => BR,
            };
            assert_eq!(nearest(c), want, "{label}: pixel ({px},{py}) is {c:?}");
            checked += 1;
        }
    }
    assert!(checked >= 16, "{label}: {checked} pixels");
    assert_eq!(halves(buf, a.x, a.y).0, rgb(TL), "{label}: top left corner");
    assert_eq!(
        halves(buf, a.x + w - 1, a.y).0,
        rgb(TR),
        "{label}: top right corner"
    );
    let last = a.y + a.height - 1;
    assert_eq!(
        halves(buf, a.x, last).1,
        rgb(BL),
        "{label}: bottom left corner"
    );
    assert_eq!(
        halves(buf, a.x + w - 1, last).1,
        rgb(BR),
        "{label}: bottom right corner"
    );
}

fn text(buf: &Buffer) -> String {
    buf.content.iter().map(|c| c.symbol()).collect()
}

#[test]
fn halfblock_cover_in_the_now_playing_bar_at_80x24_and_120x40() {
    let s = playing(ready(300));
    for (w, h) in [(80, 24), (120, 40)] {
        let (buf, hit) = draw(&s, w, h, &mut ArtRenderer::halfblocks());
        let [(a, key)] = hit.covers.as_slice() else {
            panic!("{w}x{h}: one cover slot, got {:?}", hit.covers);
        };
        assert_eq!(key, ALBUM);
        assert_eq!((a.width, a.height), (4, 2), "{w}x{h}");
        // 4×2 cells = 4×4 half-block pixels, 2×2 per quadrant.
        assert_quadrants(&buf, a, &format!("now playing {w}x{h}"));
        // The text moved right of the cover and is whole.
        let row: String = (0..w).map(|x| buf[(x, a.y)].symbol().to_string()).collect();
        assert!(row.contains("Alpha Song"), "{row}");
        assert!(
            row.find("Alpha").unwrap() > usize::from(a.x + a.width),
            "{row}"
        );
    }
}

#[test]
fn halfblock_cover_on_an_album_page() {
    let mut s = crate::ui::tests::state();
    s.art.enabled = true;
    s.art.covers.insert(ALBUM.into(), ready(300));
    s.library.pages.push(PageView {
        kind: PageKind::Album,
        uri: ALBUM.into(),
        request: 1,
        loading: false,
        error: None,
        data: Some(crate::app::state::PageData {
            kind: PageKind::Album,
            uri: ALBUM.into(),
            title: "First Album".into(),
            subtitle: "Album · Ann Artist · 2021 · 0 tracks".into(),
            items: Vec::new(),
        }),
        cursor: ListCursor::default(),
    });
    for (w, h) in [(80, 24), (120, 40)] {
        let (buf, hit) = draw(&s, w, h, &mut ArtRenderer::halfblocks());
        let (a, _) = hit
            .covers
            .iter()
            .find(|(_, k)| k == ALBUM)
            .expect("page slot");
        assert!(a.height >= 3 && a.width == a.height * 2, "{w}x{h}: {a:?}");
        assert_quadrants(&buf, a, &format!("album page {w}x{h}"));
        // Title beside it, on the cover's first row.
        let row: String = (0..w).map(|x| buf[(x, a.y)].symbol().to_string()).collect();
        assert!(row.contains("First Album"), "{row}");
    }
}

#[test]
fn kitty_protocol_emits_its_escape_sequence() {
    let s = playing(ready(300));
    let mut picker = Picker::halfblocks();
    picker.set_protocol_type(ProtocolType::Kitty);
    let mut r = ArtRenderer::with_picker(picker);
    assert_eq!(r.protocol_name(), "kitty");
    let (buf, hit) = draw(&s, 120, 40, &mut r);
    let (a, _) = &hit.covers[0];
    let first = buf[(a.x, a.y)].symbol().to_string();
    // The APC graphics command transmitting the image (`a=T`, `U=1`: a virtual placement) …
    assert!(first.contains("\x1b_G"), "{first:?}");
    assert!(first.contains("a=T") && first.contains("U=1"), "{first:?}");
    // … and the unicode placeholder the image is placed on.
    assert!(first.contains('\u{10EEEE}'), "{first:?}");
    // Kept between frames: the second frame only places it (no second transmission).
    let (buf, _) = draw(&s, 120, 40, &mut r);
    let again = buf[(a.x, a.y)].symbol().to_string();
    assert!(!again.contains("a=T"), "transmitted twice");
    assert!(again.contains('\u{10EEEE}'));
    // No half blocks were drawn.
    assert!(!text(&buf).contains('▀'));
}

/// Whether the environment carries a hint ratatui-image prefers over the terminal's answer.
fn env_hint() -> bool {
    [
        "KITTY_WINDOW_ID",
        "ITERM_SESSION_ID",
        "WEZTERM_EXECUTABLE",
        "LC_TERMINAL",
        "TERM_PROGRAM",
    ]
    .iter()
    .any(|k| std::env::var(k).is_ok_and(|v| !v.is_empty() && v != "tmux"))
}

#[test]
fn a_kitty_answer_picks_kitty_and_the_cover_is_sent_with_its_escape_sequence() {
    // What kitty answers the start-up query: graphics OK, device attributes, 10×20 px cells,
    // then the status report that ends the answer.
    let kitty = b"\x1b_Gi=31;OK\x1b\\\x1b[?62;22;52c\x1b[6;20;10t\x1b[0n";
    let a = detect::interpret(kitty);
    assert!(a.kitty && !a.sixel && a.complete, "{a:?}");
    assert_eq!(a.cell, Some((10, 20)));
    let mut r = ArtRenderer::from_answer(&a);
    if env_hint() {
        return; // an outer terminal named in the environment wins, as in ratatui-image
    }
    assert_eq!(r.protocol_name(), "kitty");
    let (buf, hit) = draw(&playing(ready(300)), 80, 24, &mut r);
    let (a, _) = &hit.covers[0];
    assert!(buf[(a.x, a.y)].symbol().contains("\x1b_G"));
}

#[test]
fn other_answers_pick_sixel_or_half_blocks() {
    // xterm with sixel (attribute 4) and a cell size.
    let a = detect::interpret(b"\x1b[?63;1;4c\x1b[6;16;8t\x1b[0n");
    assert!(a.sixel && !a.kitty && a.complete);
    if !env_hint() {
        assert_eq!(ArtRenderer::from_answer(&a).protocol_name(), "sixel");
    }
    // A terminal without graphics, or one that does not tell its cell size: half-blocks.
    let plain = detect::interpret(b"\x1b[?62;22c\x1b[6;16;8t\x1b[0n");
    assert!(!plain.kitty && !plain.sixel);
    if !env_hint() {
        assert!(detect::picker_for(&plain).is_none());
    }
    let no_size = detect::interpret(b"\x1b_Gi=31;OK\x1b\\\x1b[?62c\x1b[0n");
    assert!(no_size.kitty && no_size.cell.is_none());
    assert!(detect::picker_for(&no_size).is_none());
    assert_eq!(
        ArtRenderer::from_answer(&no_size).protocol_name(),
        "halfblocks"
    );
    // Cut short (no status report): not complete; garbage is no capability.
    assert!(!detect::interpret(b"\x1b[?62;4c").complete);
    let junk = detect::interpret(b"\x1b[\x1b_G;;\xff\x00 abc");
    assert!(!junk.kitty && !junk.sixel && !junk.complete && junk.cell.is_none());
}

#[test]
fn loading_missing_and_corrupt_covers_show_a_placeholder() {
    let corrupt = crate::art::decode(b"\x89PNG\r\n\x1a\nnot really").unwrap_err();
    let cases = [
        (CoverState::Loading, "…"),
        (
            CoverState::Missing(crate::art::ArtError::Status(404).to_string()),
            "♪",
        ),
        (CoverState::Missing(corrupt.to_string()), "♪"),
    ];
    for (cover, mark) in cases {
        let s = playing(cover.clone());
        for (w, h) in [(80, 24), (120, 40)] {
            let (buf, hit) = draw(&s, w, h, &mut ArtRenderer::halfblocks());
            let (a, _) = &hit.covers[0];
            let slot: String = (a.y..a.y + a.height)
                .flat_map(|y| (a.x..a.x + a.width).map(move |x| (x, y)))
                .map(|p| buf[p].symbol().to_string())
                .collect();
            assert!(slot.contains(mark), "{cover:?} {w}x{h}: {slot:?}");
            assert!(!slot.contains('▀'));
            assert!(text(&buf).contains("Alpha Song"));
        }
    }
}

#[test]
fn covers_off_leave_no_slot() {
    let mut s = playing(ready(300));
    s.art.enabled = false;
    let (buf, hit) = draw(&s, 120, 40, &mut ArtRenderer::off());
    assert!(hit.covers.is_empty());
    assert!(!text(&buf).contains('▀'));
    // Renderer off but covers on: placeholders only, never a picture.
    s.art.enabled = true;
    let (buf, hit) = draw(&s, 120, 40, &mut ArtRenderer::off());
    assert_eq!(hit.covers.len(), 1);
    assert!(!text(&buf).contains('▀'));
}
