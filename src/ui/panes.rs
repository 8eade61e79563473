//! The five panes — Library (sections and opened pages), Search (input box, grouped results,
//! opened pages), Queue, Devices, Log — each a titled block around a virtualised column list,
//! with the fuzzy-filter box at the bottom when the filter is open on that pane.
//!
//! Called by `ui::draw`. Reads `State`; reports each pane and each list into the `HitMap`.
//! Also answers "which rows does this pane's list show" ([`with_rows`]) for the filter text.
//! Must not depend on service handles or do I/O; only `State` data types and the theme.
//! The lists' contents (columns, cells, one row source per kind of list) are in
//! `panes/rows.rs`; this file draws them.

mod rows;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

use crate::app::action::Pane;
use crate::app::state::{FilterState, HitMap, LibrarySection, ListCursor, PageView, State};
use crate::theme::{Role, Theme};

use super::widgets::{area, block, draw_list, put, put_right, text_width, Column, ListCtx};

use rows::{count, section, DEVICE_COLUMNS, ITEM_COLUMNS, LOG_COLUMNS, QUEUE_COLUMNS};
pub(crate) use rows::{percent, with_rows};

/// The filter when it is open on `pane`.
fn filter_for(state: &State, pane: Pane) -> Option<&FilterState> {
    state.filter.as_ref().filter(|f| f.pane == pane)
}

/// Draws `pane` in `r`; `focused` is whether it has keyboard focus.
pub(crate) fn draw(
    buf: &mut Buffer,
    r: Rect,
    pane: Pane,
    focused: bool,
    state: &State,
    theme: &Theme,
    hit: &mut HitMap,
) {
    let r = r.intersection(buf.area);
    if r.width == 0 || r.height == 0 {
        return;
    }
    hit.panes.push((area(r), pane));
    match pane {
        Pane::Library => library(buf, r, focused, state, theme, hit),
        Pane::Search => search(buf, r, focused, state, theme, hit),
        Pane::Queue => {
            let q = &state.queue.snapshot;
            let title = match q.items.len() {
                0 => "Queue".to_string(),
                n => format!("Queue · {}", count(n as u32, "track", "tracks")),
            };
            let inner = block(buf, r, &title, focused, theme);
            list_with_filter(
                buf,
                inner,
                pane,
                &QUEUE_COLUMNS,
                state.queue.cursor,
                focused,
                false,
                "The queue is empty — add tracks from the library or search",
                state,
                theme,
                hit,
            );
        }
        Pane::Devices => {
            let d = &state.devices;
            let title = if d.loading {
                "Devices · refreshing…"
            } else {
                "Devices"
            };
            let mut inner = block(buf, r, title, focused, theme);
            if let Some(e) = &d.error {
                inner = error_line(buf, inner, e, theme);
            }
            let empty = if d.loading {
                "Looking for devices…"
            } else {
                "No devices found"
            };
            list_with_filter(
                buf,
                inner,
                pane,
                &DEVICE_COLUMNS,
                d.cursor,
                focused,
                false,
                empty,
                state,
                theme,
                hit,
            );
        }
        Pane::Log => {
            let inner = block(buf, r, "Log", focused, theme);
            let n = state.log.lines.len();
            // Follow the tail unless the user moved the selection up in a focused log.
            let follow = !focused || state.log.cursor.selected + 1 >= n;
            list_with_filter(
                buf,
                inner,
                pane,
                &LOG_COLUMNS,
                state.log.cursor,
                focused,
                follow,
                "No log lines yet",
                state,
                theme,
                hit,
            );
        }
    }
}

/// Shows `e` on the first line of `r` and returns what is left below it.
fn error_line(buf: &mut Buffer, r: Rect, e: &str, theme: &Theme) -> Rect {
    if r.height == 0 {
        return r;
    }
    put(
        buf,
        r.x + 1,
        r.y,
        r.width.saturating_sub(2),
        e,
        theme.style(Role::Error),
    );
    Rect {
        y: r.y + 1,
        height: r.height - 1,
        ..r
    }
}

/// Draws the list `pane` shows into `r`, with the filter box on the last line when the filter
/// is open on it, and records the list in the hit map.
#[allow(clippy::too_many_arguments)]
fn list_with_filter(
    buf: &mut Buffer,
    r: Rect,
    pane: Pane,
    columns: &[Column],
    cursor: ListCursor,
    focused: bool,
    follow_tail: bool,
    empty: &str,
    state: &State,
    theme: &Theme,
    hit: &mut HitMap,
) {
    if r.width == 0 || r.height == 0 {
        return;
    }
    let filter = filter_for(state, pane);
    let mut list_r = r;
    if let Some(f) = filter {
        if r.height >= 2 {
            list_r.height -= 1;
            let total = with_rows(state, pane, |rows| rows.len());
            filter_box(
                buf,
                Rect::new(r.x, r.bottom() - 1, r.width, 1),
                f,
                total,
                theme,
            );
        }
    }
    let la = with_rows(state, pane, |rows| {
        let ctx = ListCtx {
            pane,
            columns,
            cursor,
            focused,
            filter,
            follow_tail: follow_tail && filter.is_none(),
            empty: if filter.is_some() {
                "No matches"
            } else {
                empty
            },
        };
        draw_list(buf, list_r, rows, &ctx, theme)
    });
    hit.lists.push(la);
}

/// "/query" with a cursor while editing, and the match count on the right.
fn filter_box(buf: &mut Buffer, r: Rect, f: &FilterState, total: usize, theme: &Theme) {
    let counts = format!("{}/{} ", f.matches.len(), total);
    let cw = text_width(&counts) as u16;
    let right = r.right();
    let text_w = r.width.saturating_sub(cw + 2);
    let x = r.x + 1.min(r.width);
    let input = theme.style(Role::Input);
    let used = put(buf, x, r.y, text_w, &format!("/{}", f.query), input);
    if f.editing && used < text_w {
        put(
            buf,
            x + used,
            r.y,
            1,
            " ",
            input.add_modifier(ratatui::style::Modifier::REVERSED),
        );
    }
    if r.width > cw + 4 {
        put_right(buf, right, r.y, cw, &counts, theme.style(Role::Dim));
    }
}

fn library(
    buf: &mut Buffer,
    r: Rect,
    focused: bool,
    state: &State,
    theme: &Theme,
    hit: &mut HitMap,
) {
    let lib = &state.library;
    let title = if lib.loading && lib.data.is_some() {
        "Library · refreshing…"
    } else {
        "Library"
    };
    let inner = block(buf, r, title, focused, theme);
    if inner.width == 0 || inner.height == 0 {
        return;
    }
    let Some(data) = &lib.data else {
        let (msg, role) = match (&lib.error, lib.loading) {
            (Some(e), _) => (format!("Could not load the library: {e}"), Role::Error),
            (None, true) => ("Loading…".to_string(), Role::Dim),
            (None, false) => ("The library is not loaded yet".to_string(), Role::Dim),
        };
        put(
            buf,
            inner.x + 1,
            inner.y,
            inner.width.saturating_sub(2),
            &msg,
            theme.style(role),
        );
        return;
    };
    let mut inner = inner;
    if let Some(e) = &lib.error {
        inner = error_line(buf, inner, e, theme);
    }
    let current = section(state);
    // Sections on the left when there is room, else one line on top.
    let list_r = if inner.width >= 56 && inner.height >= LibrarySection::ALL.len() as u16 {
        let w = 21u16;
        for (i, s) in LibrarySection::ALL.iter().enumerate() {
            let y = inner.y + i as u16;
            let n = s.len_in(data).to_string();
            let selected = *s == current && lib.pages.is_empty();
            let style = if *s == current {
                theme.style(Role::Heading)
            } else {
                theme.style(Role::Base)
            };
            let marker = if *s == current { "▸" } else { " " };
            put(buf, inner.x, y, 1, marker, style);
            put(buf, inner.x + 2, y, w - 9, s.title(), style);
            put_right(buf, inner.x + w - 2, y, 6, &n, theme.style(Role::Dim));
            if selected && !focused {
                buf.set_style(
                    Rect::new(inner.x, y, w - 1, 1),
                    theme.style(Role::RowSelectedUnfocused),
                );
            }
        }
        for y in inner.y..inner.bottom() {
            put(buf, inner.x + w, y, 1, "│", theme.style(Role::Border));
        }
        Rect::new(inner.x + w + 1, inner.y, inner.width - w - 1, inner.height)
    } else {
        let line = format!("‹ {} ({}) ›", current.title(), current.len_in(data));
        put(
            buf,
            inner.x + 1,
            inner.y,
            inner.width.saturating_sub(2),
            &line,
            theme.style(Role::Heading),
        );
        Rect {
            y: inner.y + 1,
            height: inner.height.saturating_sub(1),
            ..inner
        }
    };
    match lib.pages.last() {
        Some(page) => page_view(buf, list_r, Pane::Library, page, focused, state, theme, hit),
        None => list_with_filter(
            buf,
            list_r,
            Pane::Library,
            &ITEM_COLUMNS,
            lib.cursors[current.index()],
            focused,
            false,
            "Nothing here yet",
            state,
            theme,
            hit,
        ),
    }
}

/// An opened page: title and subtitle, then its items (or loading / the error).
#[allow(clippy::too_many_arguments)]
fn page_view(
    buf: &mut Buffer,
    r: Rect,
    pane: Pane,
    page: &PageView,
    focused: bool,
    state: &State,
    theme: &Theme,
    hit: &mut HitMap,
) {
    if r.width == 0 || r.height == 0 {
        return;
    }
    // An album's cover top left, the title and subtitle beside it (`ui::art`).
    let cover = super::art::page_slot(state, page, r);
    let (x, w) = match cover {
        Some(c) => (c.right() + 2, r.right().saturating_sub(c.right() + 3)),
        None => (r.x + 1, r.width.saturating_sub(2)),
    };
    let mut rest = r;
    let (title, subtitle) = match &page.data {
        Some(d) => (d.title.as_str(), d.subtitle.as_str()),
        None => (page.uri.as_str(), ""),
    };
    put(buf, x, r.y, w, title, theme.style(Role::Title));
    rest.y += 1;
    rest.height -= 1;
    if rest.height >= 4 && !subtitle.is_empty() {
        put(buf, x, rest.y, w, subtitle, theme.style(Role::Dim));
        rest.y += 1;
        rest.height -= 1;
    }
    if rest.height >= 4 {
        rest.y += 1;
        rest.height -= 1;
    }
    if let Some(c) = cover {
        super::art::placeholder(buf, c, state.art.covers.get(&page.uri), theme);
        hit.covers.push((area(c), page.uri.clone()));
        // The list starts below the cover (one blank row between).
        let below = (c.bottom() + 1).min(r.bottom());
        if below > rest.y {
            rest.height = rest.height.saturating_sub(below - rest.y);
            rest.y = below;
        }
    }
    let (x, w) = (r.x + 1, r.width.saturating_sub(2));
    if let Some(e) = &page.error {
        put(buf, x, rest.y, w, e, theme.style(Role::Error));
        return;
    }
    if page.loading && page.data.is_none() {
        put(buf, x, rest.y, w, "Loading…", theme.style(Role::Dim));
        return;
    }
    list_with_filter(
        buf,
        rest,
        pane,
        &ITEM_COLUMNS,
        page.cursor,
        focused,
        false,
        "This page is empty",
        state,
        theme,
        hit,
    );
}

fn search(
    buf: &mut Buffer,
    r: Rect,
    focused: bool,
    state: &State,
    theme: &Theme,
    hit: &mut HitMap,
) {
    let s = &state.search;
    let title = if s.shown_query.is_empty() {
        "Search".to_string()
    } else {
        format!("Search · “{}”", s.shown_query)
    };
    let inner = block(buf, r, &title, focused, theme);
    if inner.width == 0 || inner.height == 0 {
        return;
    }
    // The input: a small bordered box when there is room, else one bare line.
    let (input_line, rest) = if inner.height >= 10 {
        let boxr = Rect::new(inner.x, inner.y, inner.width, 3);
        let line = block(buf, boxr, "", s.editing && focused, theme);
        (
            line,
            Rect::new(inner.x, inner.y + 3, inner.width, inner.height - 3),
        )
    } else {
        (
            Rect::new(inner.x, inner.y, inner.width, 1),
            Rect::new(inner.x, inner.y + 1, inner.width, inner.height - 1),
        )
    };
    input_box(buf, input_line, s, theme);
    if rest.height == 0 {
        return;
    }
    if let Some(page) = s.pages.last() {
        page_view(buf, rest, Pane::Search, page, focused, state, theme, hit);
        return;
    }
    let x = rest.x + 1;
    let w = rest.width.saturating_sub(2);
    if let Some(e) = &s.error {
        put(buf, x, rest.y, w, e, theme.style(Role::Error));
        return;
    }
    if s.results.is_empty() {
        let msg = if s.loading {
            "Searching…".to_string()
        } else if s.shown_query.is_empty() {
            "Type to search Spotify: tracks, artists, albums, playlists, podcasts".to_string()
        } else {
            format!("No results for “{}”", s.shown_query)
        };
        put(buf, x, rest.y, w, &msg, theme.style(Role::Dim));
        return;
    }
    let mut list_r = rest;
    if s.loading && rest.height >= 3 {
        put(buf, x, rest.y, w, "Searching…", theme.style(Role::Dim));
        list_r.y += 1;
        list_r.height -= 1;
    }
    list_with_filter(
        buf,
        list_r,
        Pane::Search,
        &ITEM_COLUMNS,
        s.cursor,
        focused,
        false,
        "",
        state,
        theme,
        hit,
    );
}

/// The search text with a block cursor at `input_cursor` while editing; scrolled so the
/// cursor stays in view.
fn input_box(buf: &mut Buffer, r: Rect, s: &crate::app::state::SearchView, theme: &Theme) {
    if r.width < 3 || r.height == 0 {
        return;
    }
    let x = r.x + 1;
    let w = r.width - 2;
    let prompt = "› ";
    let pw = put(buf, x, r.y, w, prompt, theme.style(Role::Dim));
    let x = x + pw;
    let w = w.saturating_sub(pw);
    if s.input.is_empty() && !s.editing {
        put(buf, x, r.y, w, "search…", theme.style(Role::Dim));
        return;
    }
    let style = if s.editing {
        theme.style(Role::Input)
    } else {
        theme.style(Role::Base)
    };
    let chars: Vec<char> = s.input.chars().collect();
    let cur = s.input_cursor.min(chars.len());
    // Keep the cursor within the box: drop chars from the left until it fits.
    let mut start = 0;
    while start < cur
        && chars[start..cur]
            .iter()
            .map(|c| text_width(c.encode_utf8(&mut [0u8; 4])) as u16)
            .sum::<u16>()
            + 1
            > w
    {
        start += 1;
    }
    let before: String = chars[start..cur].iter().collect();
    let at: String = chars.get(cur).map(|c| c.to_string()).unwrap_or(" ".into());
    let after: String = chars
        .get(cur + 1..)
        .map(|c| c.iter().collect())
        .unwrap_or_default();
    let mut cx = x;
    cx += put(buf, cx, r.y, w, &before, style);
    if s.editing {
        cx += put(
            buf,
            cx,
            r.y,
            (x + w).saturating_sub(cx),
            &at,
            style.add_modifier(ratatui::style::Modifier::REVERSED),
        );
    } else {
        cx += put(buf, cx, r.y, (x + w).saturating_sub(cx), &at, style);
    }
    put(buf, cx, r.y, (x + w).saturating_sub(cx), &after, style);
}
