//! Rendering (ratatui): [`draw`] paints the whole screen from the [`State`] and returns the
//! [`HitMap`] of where panes, tabs, lists and the progress bar went, for mouse hit-testing.
//!
//! Called by the event loop (`app::run`) after each batch of messages that changed something,
//! and by render tests and `benches/tui_render.rs` on a `TestBackend`. It reads the state and
//! never changes it, does no I/O, and takes "now" as an argument (the progress bar and
//! notification expiry are computed at draw time), so a frame is a pure function of its inputs.
//! Lists are virtualised: only the visible window of rows is ever built.
//!
//! Submodules: `widgets` (text, blocks, the column list), `panes` (library, search, queue,
//! devices, log), `now_playing` (the bar), `overlay` (help popup and the login screen), `trust`
//! (the trust prompt's dialog), `lyrics` (the lyrics overlay), `picker` (the add-to-playlist
//! popup), `art` (covers: slots and placeholders in the text pass, the pictures in the image
//! pass of [`draw_with_art`]).
//! Must not depend on service handles (only on their data types inside `State`).

pub mod art;
mod lyrics;
mod now_playing;
mod overlay;
mod panes;
mod picker;
mod trust;
mod widgets;

#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::Frame;

use crate::app::action::Pane;
use crate::app::state::{HitMap, Level, LoginStage, Screen, State};
use crate::keymap::HelpEntry;
use crate::theme::{Role, Theme};

use widgets::{area, put, put_right};

/// How long a notification stays in the status line.
const NOTICE_FOR: Duration = Duration::from_secs(5);
const ERROR_FOR: Duration = Duration::from_secs(10);

/// Terminals at least this wide show the queue beside the focused pane.
const WIDE: u16 = 120;

/// Draws one frame of `state` and reports where things went.
pub fn draw(
    frame: &mut Frame,
    state: &State,
    theme: &Theme,
    help: &[HelpEntry],
    now: Instant,
) -> HitMap {
    let full = frame.area();
    draw_buffer(frame.buffer_mut(), full, state, theme, help, now)
}

/// [`draw`], then the covers: the image pass puts each ready cover over the slot the text pass
/// left for it (`renderer` keeps the encoded pictures between frames). [`draw`] alone shows
/// the placeholders only.
pub fn draw_with_art(
    frame: &mut Frame,
    state: &State,
    theme: &Theme,
    help: &[HelpEntry],
    now: Instant,
    renderer: &mut art::ArtRenderer,
) -> HitMap {
    let hit = draw(frame, state, theme, help, now);
    // Overlays (help, lyrics, trust prompt) cover the slots: no picture over them.
    if state.help.is_none() && state.lyrics.is_none() && state.trust_prompt.is_none() {
        renderer.draw(frame.buffer_mut(), &hit.covers, state);
    }
    hit
}

/// [`draw`] on a buffer (what tests and the bench call through a `TestBackend` frame).
fn draw_buffer(
    buf: &mut Buffer,
    full: Rect,
    state: &State,
    theme: &Theme,
    help: &[HelpEntry],
    now: Instant,
) -> HitMap {
    let mut hit = HitMap::default();
    let full = full.intersection(buf.area);
    if full.width == 0 || full.height == 0 {
        return hit;
    }
    buf.set_style(full, theme.style(Role::Base));

    if let Screen::Login(stage) = &state.screen {
        let (body, status) = split_status(full);
        overlay::login(buf, body, stage, theme);
        if let Some(s) = status {
            status_line(buf, s, state, theme, now);
        }
        return hit;
    }

    let l = layout(full);
    if let Some(tabs) = l.tabs {
        tab_bar(buf, tabs, state, theme, &mut hit);
    }
    if l.body.height > 0 {
        let side =
            (l.body.width >= WIDE && state.focus != Pane::Queue && l.body.height >= 6).then(|| {
                let side_w = (l.body.width * 32 / 100).max(38);
                let main = Rect {
                    width: l.body.width - side_w,
                    ..l.body
                };
                let side = Rect {
                    x: l.body.x + main.width,
                    width: side_w,
                    ..l.body
                };
                (main, side)
            });
        match side {
            Some((main, side)) => {
                panes::draw(buf, main, state.focus, true, state, theme, &mut hit);
                panes::draw(buf, side, Pane::Queue, false, state, theme, &mut hit);
            }
            None => panes::draw(buf, l.body, state.focus, true, state, theme, &mut hit),
        }
    }
    if let Some(np) = l.now_playing {
        hit.progress = now_playing::draw(buf, np, state, theme, now, &mut hit.covers);
    }
    if let Some(s) = l.status {
        status_line(buf, s, state, theme, now);
    }
    if let Some(view) = &state.lyrics {
        hit.lyrics = lyrics::draw(buf, l.body, view, state, theme, now);
        // The lists are under the popup: clicks and wheel must not reach them.
        hit.lists.clear();
    }
    if let Some(cursor) = state.help {
        overlay::help(buf, full, help, cursor, theme);
        // The lists are under the popup: clicks and wheel must not reach them.
        hit.lists.clear();
    }
    if let Some(picker) = &state.picker {
        picker::draw(buf, full, picker, theme);
        hit.lists.clear();
    }
    if let Some(prompt) = &state.trust_prompt {
        trust::dialog(buf, full, prompt, theme);
        hit.lists.clear();
    }
    hit
}

/// The regions of the main screen.
struct Layout {
    tabs: Option<Rect>,
    body: Rect,
    now_playing: Option<Rect>,
    status: Option<Rect>,
}

/// Splits off the bottom status line when there is room for it.
fn split_status(r: Rect) -> (Rect, Option<Rect>) {
    if r.height < 2 {
        return (r, None);
    }
    let body = Rect {
        height: r.height - 1,
        ..r
    };
    (body, Some(Rect::new(r.x, r.bottom() - 1, r.width, 1)))
}

/// Tab bar on top, status line at the bottom, the now-playing bar above it (bordered when
/// there is room, two bare lines on short terminals, gone on tiny ones), the panes between.
fn layout(full: Rect) -> Layout {
    let (rest, status) = split_status(full);
    let mut y = rest.y;
    let mut h = rest.height;
    let tabs = (h >= 3).then(|| {
        y += 1;
        h -= 1;
        Rect::new(rest.x, rest.y, rest.width, 1)
    });
    let np_h = match full.height {
        14.. => 4,
        8..=13 => 2,
        5..=7 => 1,
        _ => 0,
    }
    .min(h);
    let now_playing = (np_h > 0).then(|| Rect::new(rest.x, y + h - np_h, rest.width, np_h));
    h -= np_h;
    Layout {
        tabs,
        body: Rect::new(rest.x, y, rest.width, h),
        now_playing,
        status,
    }
}

fn tab_bar(buf: &mut Buffer, r: Rect, state: &State, theme: &Theme, hit: &mut HitMap) {
    let mut x = r.x;
    let right = r.right();
    if r.width >= 80 {
        x += put(
            buf,
            x,
            r.y,
            right - x,
            " tonearm ",
            theme.style(Role::Title),
        );
        x += put(
            buf,
            x,
            r.y,
            right.saturating_sub(x),
            "│",
            theme.style(Role::Border),
        );
    }
    for (i, pane) in Pane::ALL.iter().enumerate() {
        if x >= right {
            break;
        }
        let label = if r.width >= 56 {
            format!(" {} {} ", i + 1, pane.title())
        } else {
            format!(" {} ", pane.title())
        };
        let role = if *pane == state.focus {
            Role::TabActive
        } else {
            Role::Tab
        };
        let w = put(buf, x, r.y, right - x, &label, theme.style(role));
        hit.tabs.push((area(Rect::new(x, r.y, w, 1)), *pane));
        x += w;
        if x < right {
            x += 1;
        }
    }
    // The theme name on the right when it fits, dimmed.
    if !state.theme.is_empty() {
        let t = format!("{} ", state.theme);
        let w = widgets::text_width(&t) as u16;
        if x + w + 2 <= right {
            put_right(buf, right, r.y, w, &t, theme.style(Role::Dim));
        }
    }
}

/// The newest notification still showing at `now`.
fn current_notice(state: &State, now: Instant) -> Option<&crate::app::state::Notification> {
    let n = state.notifications.iter().max_by_key(|n| n.at)?;
    let ttl = if n.level >= Level::Error {
        ERROR_FOR
    } else {
        NOTICE_FOR
    };
    (now.saturating_duration_since(n.at) < ttl).then_some(n)
}

fn level_role(level: Level) -> Role {
    match level {
        Level::Debug => Role::Dim,
        Level::Info => Role::Info,
        Level::Warn => Role::Warning,
        Level::Error => Role::Error,
    }
}

fn status_line(buf: &mut Buffer, r: Rect, state: &State, theme: &Theme, now: Instant) {
    let x = r.x + 1.min(r.width);
    let w = r.width.saturating_sub(2);
    if let Some(n) = current_notice(state, now) {
        put(buf, x, r.y, w, &n.text, theme.style(level_role(n.level)));
        return;
    }
    if let Some(chord) = &state.pending_chord {
        let c = put(buf, x, r.y, w, &format!("{chord}-"), theme.style(Role::Key));
        put(
            buf,
            x + c + 1,
            r.y,
            w.saturating_sub(c + 1),
            "…",
            theme.style(Role::Dim),
        );
        return;
    }
    let hints: &[(&str, &str)] = match state.screen {
        Screen::Login(LoginStage::Choose { .. } | LoginStage::Failed { .. }) => {
            &[("↑↓", "choose"), ("enter", "continue"), ("q", "quit")]
        }
        Screen::Login(_) => &[("esc", "back"), ("q", "quit")],
        Screen::Main if state.help.is_some() => &[("?", "close help")],
        Screen::Main if state.lyrics.is_some() => {
            &[("enter", "seek to line"), ("esc", "close lyrics")]
        }
        Screen::Main if state.filter.as_ref().is_some_and(|f| f.editing) => {
            &[("enter", "keep filter"), ("esc", "close filter")]
        }
        Screen::Main if state.focus == crate::app::action::Pane::Search && state.search.editing => {
            &[("enter", "search"), ("esc", "stop typing")]
        }
        Screen::Main => &[
            ("?", "help"),
            ("/", "filter"),
            ("tab", "next pane"),
            ("q", "quit"),
        ],
    };
    let mut cx = x;
    let end = x + w;
    for (k, d) in hints {
        cx += put(
            buf,
            cx,
            r.y,
            end.saturating_sub(cx),
            k,
            theme.style(Role::Key),
        );
        cx += 1;
        cx += put(
            buf,
            cx,
            r.y,
            end.saturating_sub(cx),
            d,
            theme.style(Role::Dim),
        );
        cx += 3;
        if cx >= end {
            break;
        }
    }
}

/// The text the fuzzy filter matches for row `row` of the list currently shown in `pane`: the
/// row's non-empty text cells joined by " · " (a track: "name · artists · album"; a log line:
/// "text · target"), the same convention as `app::update`'s row texts. The renderer
/// highlights `FilterState::matches` positions as char indexes into exactly this text.
/// `None` when the row does not exist.
pub fn filter_text(state: &State, pane: Pane, row: usize) -> Option<String> {
    panes::with_rows(state, pane, |rows| {
        (row < rows.len()).then(|| widgets::joined_text(&rows.row(row)))
    })
}

/// The number of rows of the list currently shown in `pane` (what the filter runs over and
/// what cursors index).
pub fn list_len(state: &State, pane: Pane) -> usize {
    panes::with_rows(state, pane, |rows| rows.len())
}
