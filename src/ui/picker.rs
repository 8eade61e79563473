//! The add-to-playlist picker's popup: what is being added, the filter box, and the rows ("New
//! playlist…" first, then the user's own playlists with the filter's matches highlighted); while
//! a new playlist is being named, the name box instead.
//!
//! Called by `ui::draw` while `State::picker` is set. Reads the picker and the theme only (the
//! names come from the Web API and are drawn through `put`, which keeps them in their cells).
//! No I/O.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;

use crate::app::state::{PickerRow, PlaylistPicker};
use crate::theme::{Role, Theme};

use super::widgets::{block, centered, clear, put};

/// The first row's text.
pub const NEW_PLAYLIST: &str = "New playlist…";

/// Draws the popup centred in `full`.
pub(crate) fn draw(buf: &mut Buffer, full: Rect, picker: &PlaylistPicker, theme: &Theme) {
    let full = full.intersection(buf.area);
    let w = full.width.min(60);
    let list_h = picker.rows.len().clamp(1, 12) as u16;
    let h = (list_h + 4).min(full.height);
    let r = centered(full, w, h);
    clear(buf, r, theme.style(Role::Base));
    let inner = block(buf, r, "Add to playlist", true, theme);
    if inner.width < 3 || inner.height == 0 {
        return;
    }
    let (x, tw) = (inner.x + 1, inner.width.saturating_sub(2));
    let bottom = inner.bottom();
    let mut y = inner.y;
    let what = match picker.tracks.as_slice() {
        [one] => format!("“{}”", one.name),
        more => format!("{} tracks", more.len()),
    };
    put(buf, x, y, tw, &what, theme.style(Role::Dim));
    y += 1;
    if y >= bottom {
        return;
    }
    if let Some(name) = &picker.naming {
        let n = put(buf, x, y, tw, "Name: ", theme.style(Role::Key));
        put(
            buf,
            x + n,
            y,
            tw.saturating_sub(n),
            &format!("{name}▏"),
            theme.style(Role::Input),
        );
        if y + 2 < bottom {
            put(
                buf,
                x,
                y + 2,
                tw,
                "enter: create and add · esc: back",
                theme.style(Role::Dim),
            );
        }
        return;
    }
    let n = put(buf, x, y, tw, "/", theme.style(Role::Key));
    put(
        buf,
        x + n,
        y,
        tw.saturating_sub(n),
        &format!("{}▏", picker.query),
        theme.style(Role::Input),
    );
    y += 1;
    let visible = usize::from(bottom.saturating_sub(y));
    if picker.rows.is_empty() && y < bottom {
        put(
            buf,
            x,
            y,
            tw,
            "No playlist of yours matches",
            theme.style(Role::Dim),
        );
        return;
    }
    // Keep the selection in view.
    let first = picker
        .cursor
        .selected
        .saturating_sub(visible.saturating_sub(1));
    for (i, row) in picker.rows.iter().enumerate().skip(first).take(visible) {
        let selected = i == picker.cursor.selected;
        let base = if selected {
            theme.style(Role::RowSelected)
        } else {
            theme.style(Role::Base)
        };
        if selected {
            for cx in x..x + tw {
                if let Some(cell) = buf.cell_mut((cx, y)) {
                    cell.set_style(base);
                }
            }
        }
        match row {
            PickerRow::New => {
                put(
                    buf,
                    x,
                    y,
                    tw,
                    NEW_PLAYLIST,
                    base.add_modifier(Modifier::ITALIC),
                );
            }
            PickerRow::Playlist {
                name, positions, ..
            } => {
                let highlight = base.patch(theme.style(Role::Highlight));
                let mut cx = x;
                for (ci, ch) in name.chars().enumerate() {
                    if cx >= x + tw {
                        break;
                    }
                    let style = if positions.contains(&ci) {
                        highlight
                    } else {
                        base
                    };
                    cx += put(buf, cx, y, x + tw - cx, &ch.to_string(), style);
                }
            }
        }
        y += 1;
    }
}
