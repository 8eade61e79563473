//! Drawing primitives shared by every pane: text written straight into the frame buffer with
//! "…" truncation (never wrapping), match highlighting, m:ss durations, a bordered block with a
//! title, and the virtualised column list that every pane's list goes through.
//!
//! Called only by the other `ui` modules. Reads `State` types and the theme; never changes the
//! state and does no I/O. Writes only inside the buffer's area (out-of-range coordinates are
//! ignored), so no size of terminal can make a draw panic.

use std::borrow::Cow;

use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Block, BorderType, Borders, Widget};

use crate::app::action::Pane;
use crate::app::state::{Area, FilterState, ListArea, ListCursor};
use crate::theme::{Role, Theme};

/// Display width of `s` in terminal cells.
pub(crate) fn text_width(s: &str) -> usize {
    Span::raw(s).width()
}

/// Converts a ratatui rectangle to the state's plain [`Area`].
pub(crate) fn area(r: Rect) -> Area {
    Area {
        x: r.x,
        y: r.y,
        width: r.width,
        height: r.height,
    }
}

/// `m:ss` (or `h:mm:ss` from an hour on).
pub(crate) fn duration(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// Columns left between `x` and the right edge of both the buffer and `max`.
fn room(buf: &Buffer, x: u16, y: u16, max: u16) -> u16 {
    if !buf.area.contains(Position { x, y }) {
        return 0;
    }
    max.min(buf.area.right().saturating_sub(x))
}

/// Writes `s` at (`x`, `y`) in at most `max` columns, ending in "…" when it does not fit.
/// Returns the columns used.
pub(crate) fn put(buf: &mut Buffer, x: u16, y: u16, max: u16, s: &str, style: Style) -> u16 {
    let max = room(buf, x, y, max);
    if max == 0 {
        return 0;
    }
    if text_width(s) <= max as usize {
        let (nx, _) = buf.set_stringn(x, y, s, max as usize, style);
        return nx.saturating_sub(x);
    }
    let (nx, _) = buf.set_stringn(x, y, s, max as usize - 1, style);
    buf.set_stringn(nx, y, "…", 1, style);
    nx.saturating_sub(x) + 1
}

/// Writes `s` right-aligned so that it ends at `right` (exclusive), in at most `max` columns.
/// Returns the x where it starts.
pub(crate) fn put_right(
    buf: &mut Buffer,
    right: u16,
    y: u16,
    max: u16,
    s: &str,
    style: Style,
) -> u16 {
    let w = (text_width(s) as u16).min(max);
    let x = right.saturating_sub(w);
    put(buf, x, y, w, s, style);
    x
}

/// Like [`put`], with the chars whose index (counted from `base` at the start of `s`) is in
/// `marks` drawn in `mark_style` patched over `style`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn put_marked(
    buf: &mut Buffer,
    x: u16,
    y: u16,
    max: u16,
    s: &str,
    style: Style,
    mark_style: Style,
    marks: &[usize],
    base: usize,
) -> u16 {
    let max = room(buf, x, y, max);
    if max == 0 {
        return 0;
    }
    let n_chars = s.chars().count();
    if marks.iter().all(|m| *m < base || *m >= base + n_chars) {
        return put(buf, x, y, max, s, style);
    }
    let fits = text_width(s) <= max as usize;
    let limit = if fits { max } else { max - 1 };
    let mut cx = x;
    let mut tmp = [0u8; 4];
    for (i, ch) in s.chars().enumerate() {
        let st = if marks.contains(&(base + i)) {
            style.patch(mark_style)
        } else {
            style
        };
        let cs: &str = ch.encode_utf8(&mut tmp);
        let w = text_width(cs) as u16;
        if cx + w > x + limit {
            break;
        }
        if w > 0 {
            let (nx, _) = buf.set_stringn(cx, y, cs, w as usize, st);
            cx = nx;
        }
    }
    if !fits {
        buf.set_stringn(cx, y, "…", 1, style);
        cx += 1;
    }
    cx - x
}

/// A bordered block titled `title`, in the focused border style when `focused`. Draws it and
/// returns the inner area.
pub(crate) fn block(buf: &mut Buffer, r: Rect, title: &str, focused: bool, theme: &Theme) -> Rect {
    let r = r.intersection(buf.area);
    if r.width < 2 || r.height < 2 {
        return Rect::new(r.x, r.y, 0, 0);
    }
    let (border, title_role) = if focused {
        (Role::BorderFocused, Role::TitleFocused)
    } else {
        (Role::Border, Role::Title)
    };
    let b = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(theme.style(border));
    let inner = b.inner(r);
    b.render(r, buf);
    if !title.is_empty() && r.width > 4 {
        let t = format!(" {title} ");
        put(buf, r.x + 1, r.y, r.width - 2, &t, theme.style(title_role));
    }
    inner
}

/// Fills `r` with spaces in `style` (clears what was under a popup).
pub(crate) fn clear(buf: &mut Buffer, r: Rect, style: Style) {
    let r = r.intersection(buf.area);
    for y in r.top()..r.bottom() {
        for x in r.left()..r.right() {
            buf[(x, y)].reset();
            buf[(x, y)].set_style(style);
        }
    }
}

/// A rectangle of at most `w`×`h` centered in `r`.
pub(crate) fn centered(r: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(r.width);
    let h = h.min(r.height);
    Rect::new(r.x + (r.width - w) / 2, r.y + (r.height - h) / 2, w, h)
}

/// How wide a column is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Width {
    /// A share of what the fixed columns leave.
    Flex(u16),
    /// As wide as the widest visible cell, at most this many columns.
    Fit(u16),
}

/// One column of a list.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    pub width: Width,
    /// Right-aligned (numbers, durations).
    pub right: bool,
    /// Hidden when the list is narrower than this.
    pub min_list_width: u16,
}

impl Column {
    pub(crate) const fn flex(share: u16, min_list_width: u16) -> Column {
        Column {
            width: Width::Flex(share),
            right: false,
            min_list_width,
        }
    }

    pub(crate) const fn fit(max: u16, right: bool, min_list_width: u16) -> Column {
        Column {
            width: Width::Fit(max),
            right,
            min_list_width,
        }
    }
}

/// One cell of a row: its text and the role it is drawn in (`None`: the base style).
#[derive(Debug, Clone)]
pub(crate) struct Cell<'a> {
    pub text: Cow<'a, str>,
    pub role: Option<Role>,
    /// Part of the row's filter text (see [`crate::ui::filter_text`]).
    pub filtered: bool,
}

impl<'a> Cell<'a> {
    pub(crate) fn text(t: impl Into<Cow<'a, str>>) -> Cell<'a> {
        Cell {
            text: t.into(),
            role: None,
            filtered: true,
        }
    }

    pub(crate) fn styled(t: impl Into<Cow<'a, str>>, role: Role) -> Cell<'a> {
        Cell {
            text: t.into(),
            role: Some(role),
            filtered: true,
        }
    }

    /// A cell that is decoration (numbers, markers, durations): not part of the filter text.
    pub(crate) fn deco(t: impl Into<Cow<'a, str>>, role: Option<Role>) -> Cell<'a> {
        Cell {
            text: t.into(),
            role,
            filtered: false,
        }
    }
}

/// A row as cells, plus a role for the whole row (e.g. the track that is playing).
#[derive(Debug, Clone, Default)]
pub(crate) struct RowCells<'a> {
    pub cells: Vec<Cell<'a>>,
    pub row_role: Option<Role>,
}

/// Joins the parts of a row's filter text (the filter's convention in `app::update`).
pub(crate) const FILTER_SEP: &str = " · ";

/// The filter text of a row: its non-empty filtered cells joined by [`FILTER_SEP`] (a track:
/// "name · artists · album"). The fuzzy filter's matched positions are char indexes into this
/// text; [`draw_list`] maps them back onto the cells.
pub(crate) fn joined_text(row: &RowCells<'_>) -> String {
    let mut out = String::new();
    for c in row
        .cells
        .iter()
        .filter(|c| c.filtered && !c.text.is_empty())
    {
        if !out.is_empty() {
            out.push_str(FILTER_SEP);
        }
        out.push_str(&c.text);
    }
    out
}

/// A list's rows, produced on demand for the visible window only.
pub(crate) trait Rows {
    fn len(&self) -> usize;
    fn row(&self, i: usize) -> RowCells<'_>;
    /// The group heading shown above row `i` when it starts a new group (unfiltered lists only).
    fn heading(&self, _i: usize) -> Option<&'static str> {
        None
    }
    /// Whether [`Rows::heading`] is ever `Some` (lists with headings lay out all their lines).
    fn has_headings(&self) -> bool {
        false
    }
}

/// The first visible line so that `selected` stays inside a window of `height` lines over
/// `len` lines, starting from the previous `offset`.
pub(crate) fn window(len: usize, height: usize, selected: usize, offset: usize) -> usize {
    if height == 0 || len == 0 {
        return 0;
    }
    let selected = selected.min(len - 1);
    let mut off = offset.min(selected);
    if selected >= off + height {
        off = selected + 1 - height;
    }
    off.min(len.saturating_sub(height))
}

/// One screen line of a list: a heading or a row.
#[derive(Clone, Copy)]
enum Line {
    Heading(&'static str),
    Row(usize),
}

/// What a list draw needs besides its rows.
pub(crate) struct ListCtx<'a> {
    pub pane: Pane,
    pub columns: &'a [Column],
    pub cursor: ListCursor,
    /// The list has keyboard focus (selected row in `RowSelected`, else `RowSelectedUnfocused`).
    pub focused: bool,
    /// The filter, when it is open on this list.
    pub filter: Option<&'a FilterState>,
    /// Keep the last row in view rather than the selection (the log's follow mode).
    pub follow_tail: bool,
    /// Shown instead of the rows when the list is empty.
    pub empty: &'a str,
}

/// Draws the visible window of a list in `r` (the rows region; the filter box line, if any, is
/// drawn by the caller) and returns where each row went.
pub(crate) fn draw_list(
    buf: &mut Buffer,
    r: Rect,
    rows: &dyn Rows,
    ctx: &ListCtx<'_>,
    theme: &Theme,
) -> ListArea {
    let r = r.intersection(buf.area);
    let mut out = ListArea {
        pane: ctx.pane,
        area: area(r),
        rows: Vec::new(),
    };
    if r.width == 0 || r.height == 0 {
        return out;
    }
    let height = r.height as usize;
    // The lines in view: (underlying row or heading, matched positions).
    let mut lines: Vec<(Line, &[usize])> = Vec::with_capacity(height);
    let selected_line: Option<usize>;
    match ctx.filter {
        Some(f) => {
            let n = f.matches.len();
            let off = window(n, height, f.cursor.selected, f.cursor.offset);
            for (row, pos) in f.matches.iter().skip(off).take(height) {
                // A stale match (the list shrank under the filter) keeps its line, blank.
                let line = if *row < rows.len() {
                    Line::Row(*row)
                } else {
                    Line::Heading("")
                };
                lines.push((line, pos.as_slice()));
            }
            selected_line = (n > 0).then(|| f.cursor.selected.min(n - 1) - off);
        }
        None if rows.has_headings() => {
            // Only short lists (search results) have headings: laying out all lines is cheap.
            let mut all = Vec::with_capacity(rows.len() + 8);
            let mut sel = 0;
            for i in 0..rows.len() {
                if let Some(h) = rows.heading(i) {
                    // A blank line between groups when there is room for it.
                    if !all.is_empty() && height >= 12 {
                        all.push(Line::Heading(""));
                    }
                    all.push(Line::Heading(h));
                }
                if i == ctx.cursor.selected.min(rows.len().saturating_sub(1)) {
                    sel = all.len();
                }
                all.push(Line::Row(i));
            }
            // The cursor's offset counts rows; start at that row's line, or at its heading.
            let mut offset = 0;
            if let Some(pos) = all
                .iter()
                .position(|l| matches!(l, Line::Row(i) if *i == ctx.cursor.offset))
            {
                offset = pos;
                if pos > 0 && matches!(all[pos - 1], Line::Heading(h) if !h.is_empty()) {
                    offset = pos - 1;
                }
            }
            let off = window(all.len(), height, sel, offset);
            lines.extend(all.iter().skip(off).take(height).map(|l| (*l, &[][..])));
            selected_line = (rows.len() > 0).then(|| sel.saturating_sub(off));
        }
        None => {
            let n = rows.len();
            let off = if ctx.follow_tail {
                n.saturating_sub(height)
            } else {
                window(n, height, ctx.cursor.selected, ctx.cursor.offset)
            };
            lines.extend((off..n.min(off + height)).map(|i| (Line::Row(i), &[][..])));
            // In follow mode the selection may be out of view: then no line is marked.
            let sel = ctx.cursor.selected.min(n.saturating_sub(1));
            selected_line = (n > 0 && sel >= off).then(|| sel - off);
        }
    }

    if lines.is_empty() {
        put(
            buf,
            r.x + 1,
            r.y,
            r.width.saturating_sub(1),
            ctx.empty,
            theme.style(Role::Dim),
        );
        return out;
    }

    // Build the visible rows' cells once, then lay out the columns from them.
    let built: Vec<Option<RowCells<'_>>> = lines
        .iter()
        .map(|(l, _)| match l {
            Line::Row(i) => Some(rows.row(*i)),
            Line::Heading(_) => None,
        })
        .collect();
    let widths = column_widths(ctx.columns, r.width, &built);

    let base = theme.style(Role::Base);
    let mark = theme.style(Role::Highlight);
    for (k, ((line, marks), cells)) in lines.iter().zip(built.iter()).enumerate() {
        let y = r.y + k as u16;
        match (line, cells) {
            (Line::Heading(h), _) => {
                put(
                    buf,
                    r.x + 1,
                    y,
                    r.width.saturating_sub(1),
                    h,
                    theme.style(Role::Heading),
                );
                out.rows.push(None);
            }
            (Line::Row(i), Some(cells)) => {
                let row_style = cells
                    .row_role
                    .map(|role| base.patch(theme.style(role)))
                    .unwrap_or(base);
                draw_row(
                    buf,
                    r.x,
                    y,
                    &widths,
                    ctx.columns,
                    cells,
                    row_style,
                    mark,
                    marks,
                    theme,
                );
                if selected_line == Some(k) {
                    let role = if ctx.focused {
                        Role::RowSelected
                    } else {
                        Role::RowSelectedUnfocused
                    };
                    buf.set_style(Rect::new(r.x, y, r.width, 1), theme.style(role));
                }
                out.rows.push(Some(*i));
            }
            (Line::Row(_), None) => out.rows.push(None),
        }
    }
    out
}

/// Gap between columns.
const GAP: u16 = 2;

/// The x offset and width of each column (width 0: hidden) for a list `total` wide.
fn column_widths(columns: &[Column], total: u16, rows: &[Option<RowCells<'_>>]) -> Vec<(u16, u16)> {
    // One column of padding on the left.
    let usable = total.saturating_sub(1);
    let shown: Vec<bool> = columns.iter().map(|c| total >= c.min_list_width).collect();
    let mut widths = vec![0u16; columns.len()];
    let mut fixed = 0u16;
    let mut n_shown = 0u16;
    for (ci, c) in columns.iter().enumerate() {
        if !shown[ci] {
            continue;
        }
        n_shown += 1;
        if let Width::Fit(max) = c.width {
            let w = rows
                .iter()
                .flatten()
                .filter_map(|r| r.cells.get(ci))
                .map(|c| text_width(&c.text) as u16)
                .max()
                .unwrap_or(0)
                .min(max);
            widths[ci] = w;
            fixed += w;
        }
    }
    let gaps = GAP * n_shown.saturating_sub(1);
    let flex_total: u16 = columns
        .iter()
        .zip(&shown)
        .filter(|(_, s)| **s)
        .filter_map(|(c, _)| match c.width {
            Width::Flex(s) => Some(s),
            Width::Fit(_) => None,
        })
        .sum();
    let left = usable.saturating_sub(fixed + gaps);
    let mut given = 0u16;
    let mut last_flex = None;
    for (ci, c) in columns.iter().enumerate() {
        if let (true, Width::Flex(s)) = (shown[ci], c.width) {
            let w = if flex_total == 0 {
                0
            } else {
                (left as u32 * s as u32 / flex_total as u32) as u16
            };
            widths[ci] = w;
            given += w;
            last_flex = Some(ci);
        }
    }
    // Rounding leftovers go to the last flexible column.
    if let Some(ci) = last_flex {
        widths[ci] += left.saturating_sub(given);
    }
    let mut x = 1u16;
    let mut out = Vec::with_capacity(columns.len());
    for (ci, w) in widths.iter().enumerate() {
        if !shown[ci] || *w == 0 {
            out.push((x, 0));
            continue;
        }
        out.push((x, *w));
        x = x.saturating_add(*w + GAP);
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn draw_row(
    buf: &mut Buffer,
    x0: u16,
    y: u16,
    widths: &[(u16, u16)],
    columns: &[Column],
    row: &RowCells<'_>,
    row_style: Style,
    mark: Style,
    marks: &[usize],
    theme: &Theme,
) {
    let mut base_char = 0usize;
    let mut first_filtered = true;
    for (ci, cell) in row.cells.iter().enumerate() {
        let char_base = if cell.filtered && !cell.text.is_empty() {
            if !first_filtered {
                base_char += FILTER_SEP.chars().count();
            }
            first_filtered = false;
            let b = base_char;
            base_char += cell.text.chars().count();
            b
        } else {
            usize::MAX / 2
        };
        let Some(&(dx, w)) = widths.get(ci) else {
            continue;
        };
        if w == 0 {
            continue;
        }
        let style = match cell.role {
            Some(role) => row_style.patch(theme.style(role)),
            None => row_style,
        };
        let x = x0.saturating_add(dx);
        let right = columns.get(ci).map(|c| c.right).unwrap_or(false);
        if right {
            put_right(buf, x + w, y, w, &cell.text, style);
        } else if cell.filtered && !marks.is_empty() {
            put_marked(buf, x, y, w, &cell.text, style, mark, marks, char_base);
        } else {
            put(buf, x, y, w, &cell.text, style);
        }
    }
}
