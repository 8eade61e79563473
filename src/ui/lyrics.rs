//! The lyrics overlay: a popup over the panes with the playing track's lyrics, the line being
//! sung highlighted (from the position at `now`), the line chosen with the keys marked, and the
//! view scrolled so that the followed line stays in the middle (auto-scrolling while playing);
//! or "Loading lyrics…", the fetch's error, "No lyrics for this track", "Nothing is playing".
//!
//! Called by `ui::draw` when `State::lyrics` is open. Reads the state only; no I/O. Must not
//! depend on service handles.

use std::time::Instant;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

use crate::api::lyrics::{current_line, Lyrics};
use crate::app::state::{Area, LyricsView, State};
use crate::theme::{Role, Theme};

use super::now_playing::playing;
use super::widgets::{area as area_of, block, centered, clear, put};

/// The first line shown when `len` lines go in `height` rows and line `focus` should be in the
/// middle (clamped so the window never runs past either end).
pub(crate) fn first_row(len: usize, height: usize, focus: usize) -> usize {
    if height == 0 || len <= height {
        return 0;
    }
    focus.saturating_sub(height / 2).min(len - height)
}

/// Draws the overlay over `area` (the panes; the now-playing bar stays visible below) and
/// returns where each visible line went (with its index), for clicks.
pub(crate) fn draw(
    buf: &mut Buffer,
    area: Rect,
    view: &LyricsView,
    state: &State,
    theme: &Theme,
    now: Instant,
) -> Vec<(Area, usize)> {
    let mut hits = Vec::new();
    let w = area.width.saturating_sub(2).min(90);
    let h = area.height;
    if w < 12 || h < 3 {
        return hits;
    }
    let r = centered(area, w, h);
    clear(buf, r, theme.style(Role::Base));
    let now_playing = playing(state, now);
    let title = match &now_playing {
        Some(p) if !p.title.is_empty() => format!("Lyrics · {}", p.title),
        _ => "Lyrics".to_string(),
    };
    let inner = block(buf, r, &title, true, theme);
    if inner.height == 0 || inner.width < 3 {
        return hits;
    }
    let mut body = inner;
    if inner.height >= 4 {
        body.height -= 1;
        put(
            buf,
            inner.x + 1,
            inner.bottom() - 1,
            inner.width.saturating_sub(2),
            "↑↓ choose · enter seek there · y or esc close",
            theme.style(Role::Dim),
        );
    }
    let x = body.x + 1;
    let width = body.width.saturating_sub(2);
    let message = |buf: &mut Buffer, text: &str, role: Role| {
        put(buf, x, body.y, width, text, theme.style(role));
        Vec::new()
    };
    if view.track.is_none() {
        return message(buf, "Nothing is playing", Role::Dim);
    }
    if view.loading {
        return message(buf, "Loading lyrics…", Role::Dim);
    }
    if let Some(e) = &view.error {
        return message(buf, &format!("Cannot load the lyrics: {e}"), Role::Error);
    }
    let (synced, lines) = match &view.lyrics {
        Some(Lyrics::Text { synced, lines }) if !lines.is_empty() => (*synced, lines),
        _ => return message(buf, "No lyrics for this track", Role::Dim),
    };
    let position = now_playing.as_ref().map_or(0, |p| p.position_ms);
    let sung = current_line(lines, synced, position);
    let focus = view.selected.or(sung).unwrap_or(0);
    let height = usize::from(body.height);
    let first = first_row(lines.len(), height, focus);
    for (row, (i, line)) in lines
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .enumerate()
    {
        let role = if Some(i) == view.selected {
            Role::RowSelected
        } else if Some(i) == sung {
            Role::NowPlaying
        } else {
            Role::Base
        };
        let marker = if Some(i) == sung { "▶ " } else { "  " };
        let y = body.y + u16::try_from(row).unwrap_or(u16::MAX);
        let text = format!("{marker}{}", line.words);
        if role == Role::RowSelected {
            buf.set_style(Rect::new(body.x, y, body.width, 1), theme.style(role));
        }
        put(buf, x, y, width, &text, theme.style(role));
        hits.push((area_of(Rect::new(body.x, y, body.width, 1)), i));
    }
    hits
}
