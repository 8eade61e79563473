//! The five panes — Library (sections and opened pages), Search (input box, grouped results,
//! opened pages), Queue, Devices, Log — each a titled block around a virtualised column list,
//! with the fuzzy-filter box at the bottom when the filter is open on that pane.
//!
//! Called by `ui::draw`. Reads `State`; reports each pane and each list into the `HitMap`.
//! Also answers "which rows does this pane's list show" ([`with_rows`]) for the filter text.
//! Must not depend on service handles or do I/O; only `State` data types and the theme.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

use crate::api::library::{Library, TrackInfo};
use crate::app::action::Pane;
use crate::app::state::{
    FilterState, HitMap, Item, Level, LibrarySection, ListCursor, LogLine, PageView, State,
};
use crate::connect::{Device, DeviceOrigin};
use crate::id::{SpotifyId, SpotifyUri};
use crate::theme::{Role, Theme};

use super::widgets::{
    area, block, draw_list, duration, put, put_right, text_width, Cell, Column, ListCtx, RowCells,
    Rows,
};

/// Name / detail / detail / right-aligned figure: the layout of track and item lists.
const ITEM_COLUMNS: [Column; 4] = [
    Column::flex(4, 0),
    Column::flex(3, 44),
    Column::flex(3, 58),
    Column::fit(12, true, 0),
];

/// Queue: number or ▶, then the item columns.
const QUEUE_COLUMNS: [Column; 5] = [
    Column::fit(6, true, 0),
    Column::flex(4, 0),
    Column::flex(3, 44),
    Column::flex(3, 80),
    Column::fit(8, true, 0),
];

/// Devices: active marker, name, type, where it was found, volume.
const DEVICE_COLUMNS: [Column; 5] = [
    Column::fit(1, false, 0),
    Column::flex(3, 0),
    Column::flex(2, 64),
    Column::fit(20, false, 36),
    Column::fit(8, true, 0),
];

/// Log: level, target, text.
const LOG_COLUMNS: [Column; 3] = [
    Column::fit(5, false, 0),
    Column::flex(1, 0),
    Column::fit(24, false, 70),
];

/// The base62 id of what is playing (remote device first, then the local player): list rows
/// whose uri ends in it are marked.
pub(crate) fn now_id(state: &State) -> Option<String> {
    if let Some(r) = &state.remote {
        return r.track_uri.rsplit(':').next().map(str::to_string);
    }
    state
        .player
        .as_ref()
        .and_then(|p| p.track.as_ref())
        .map(|t| t.id.to_base62())
}

fn is_now(uri: &str, now: Option<&str>) -> Option<Role> {
    match now {
        Some(id) if !id.is_empty() && uri.rsplit(':').next() == Some(id) => Some(Role::NowPlaying),
        _ => None,
    }
}

fn join_artists(a: &[String]) -> Cow<'_, str> {
    match a {
        [] => Cow::Borrowed(""),
        [one] => Cow::Borrowed(one.as_str()),
        many => Cow::Owned(many.join(", ")),
    }
}

/// A track's row; `liked` puts a ♥ before the length (Liked Songs itself, and tracks of pages
/// and results that the cached library has liked).
fn track_cells<'a>(t: &'a TrackInfo, now: Option<&str>, liked: bool) -> RowCells<'a> {
    let length = if liked {
        format!("♥ {}", duration(t.duration_ms))
    } else {
        duration(t.duration_ms)
    };
    RowCells {
        cells: vec![
            Cell::text(t.name.as_str()),
            Cell::text(join_artists(&t.artists)),
            Cell::styled(t.album.as_str(), Role::Dim),
            Cell::deco(length, Some(Role::Dim)),
        ],
        row_role: is_now(&t.uri, now),
    }
}

fn count(n: u32, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

fn year(date: &str) -> &str {
    date.get(..4).unwrap_or(date)
}

/// An episode's row: laid out like a track (name, publisher, show), with the time left instead
/// of the length when it was left part-way (its resume point), as Spotify's apps show it.
fn episode_cells<'a>(
    t: &'a TrackInfo,
    now: Option<&str>,
    resume: &HashMap<SpotifyId, u64>,
) -> RowCells<'a> {
    let mut row = track_cells(t, now, false);
    let left = (!resume.is_empty())
        .then(|| SpotifyUri::parse(&t.uri).ok())
        .flatten()
        .and_then(|u| resume.get(&u.id))
        .map(|&at| t.duration_ms.saturating_sub(at));
    if let (Some(left), Some(cell)) = (left, row.cells.last_mut()) {
        *cell = Cell::deco(format!("{} left", duration(left)), Some(Role::Dim));
    }
    row
}

fn item_cells<'a>(
    item: &'a Item,
    now: Option<&str>,
    lib: Option<&Library>,
    resume: &HashMap<SpotifyId, u64>,
) -> RowCells<'a> {
    let blank = || Cell::deco("", None);
    match item {
        Item::Track(t) => track_cells(t, now, lib.is_some_and(|l| l.is_liked(&t.uri))),
        Item::Episode(t) => episode_cells(t, now, resume),
        Item::Album {
            name,
            artists,
            year: y,
            ..
        } => RowCells {
            cells: vec![
                Cell::text(name.as_str()),
                Cell::text(join_artists(artists)),
                Cell::deco(format!("album · {}", year(y)), Some(Role::Dim)),
                blank(),
            ],
            row_role: None,
        },
        Item::Artist { name, .. } => RowCells {
            cells: vec![
                Cell::text(name.as_str()),
                Cell::deco("artist", Some(Role::Dim)),
                blank(),
                blank(),
            ],
            row_role: None,
        },
        Item::Playlist {
            name, owner, total, ..
        } => RowCells {
            cells: vec![
                Cell::text(name.as_str()),
                Cell::styled(owner.as_str(), Role::Dim),
                blank(),
                Cell::deco(count(*total, "track", "tracks"), Some(Role::Dim)),
            ],
            row_role: None,
        },
        Item::Show {
            name, publisher, ..
        } => RowCells {
            cells: vec![
                Cell::text(name.as_str()),
                Cell::styled(publisher.as_str(), Role::Dim),
                blank(),
                Cell::deco("podcast", Some(Role::Dim)),
            ],
            row_role: None,
        },
    }
}

/// Page items or search results.
struct ItemRows<'a> {
    items: &'a [Item],
    now: Option<&'a str>,
    grouped: bool,
    /// For the ♥ on liked tracks.
    lib: Option<&'a Library>,
    /// Episodes' resume points (the time left on a started episode).
    resume: &'a HashMap<SpotifyId, u64>,
}

impl Rows for ItemRows<'_> {
    fn len(&self) -> usize {
        self.items.len()
    }
    fn row(&self, i: usize) -> RowCells<'_> {
        self.items
            .get(i)
            .map(|it| item_cells(it, self.now, self.lib, self.resume))
            .unwrap_or_default()
    }
    fn heading(&self, i: usize) -> Option<&'static str> {
        let g = self.items.get(i)?.group();
        match i {
            0 => Some(g),
            _ => (self.items.get(i - 1)?.group() != g).then_some(g),
        }
    }
    fn has_headings(&self) -> bool {
        self.grouped
    }
}

/// One section of the library.
struct SectionRows<'a> {
    lib: &'a Library,
    section: LibrarySection,
    now: Option<&'a str>,
}

fn section_len(lib: &Library, s: LibrarySection) -> usize {
    match s {
        LibrarySection::Playlists => lib.playlists.len(),
        LibrarySection::LikedSongs => lib.saved_tracks.len(),
        LibrarySection::Albums => lib.saved_albums.len(),
        LibrarySection::Artists => lib.followed_artists.len(),
        LibrarySection::Podcasts => lib.saved_shows.len(),
    }
}

impl Rows for SectionRows<'_> {
    fn len(&self) -> usize {
        section_len(self.lib, self.section)
    }
    fn row(&self, i: usize) -> RowCells<'_> {
        let blank = || Cell::deco("", None);
        let lib = self.lib;
        match self.section {
            LibrarySection::Playlists => match lib.playlists.get(i) {
                Some(p) => RowCells {
                    cells: vec![
                        Cell::text(p.name.as_str()),
                        Cell::styled(p.owner.as_str(), Role::Dim),
                        blank(),
                        Cell::deco(count(p.total, "track", "tracks"), Some(Role::Dim)),
                    ],
                    row_role: None,
                },
                None => RowCells::default(),
            },
            LibrarySection::LikedSongs => {
                match lib.saved_tracks.get(i).and_then(|e| lib.track(e)) {
                    Some(t) => track_cells(t, self.now, true),
                    None => RowCells {
                        cells: vec![Cell::styled("(unavailable)", Role::Dim)],
                        row_role: None,
                    },
                }
            }
            LibrarySection::Albums => match lib.saved_albums.get(i) {
                Some(a) => RowCells {
                    cells: vec![
                        Cell::text(a.name.as_str()),
                        Cell::text(join_artists(&a.artists)),
                        Cell::deco(year(&a.release_date), Some(Role::Dim)),
                        Cell::deco(count(a.total_tracks, "track", "tracks"), Some(Role::Dim)),
                    ],
                    row_role: None,
                },
                None => RowCells::default(),
            },
            LibrarySection::Artists => match lib.followed_artists.get(i) {
                Some(a) => RowCells {
                    cells: vec![Cell::text(a.name.as_str())],
                    row_role: None,
                },
                None => RowCells::default(),
            },
            LibrarySection::Podcasts => match lib.saved_shows.get(i) {
                Some(s) => RowCells {
                    cells: vec![
                        Cell::text(s.name.as_str()),
                        Cell::styled(s.publisher.as_str(), Role::Dim),
                        blank(),
                        Cell::deco(
                            count(s.total_episodes, "episode", "episodes"),
                            Some(Role::Dim),
                        ),
                    ],
                    row_role: None,
                },
                None => RowCells::default(),
            },
        }
    }
}

struct QueueRows<'a> {
    items: &'a [SpotifyId],
    current: Option<usize>,
    state: &'a State,
}

impl Rows for QueueRows<'_> {
    fn len(&self) -> usize {
        self.items.len()
    }
    fn row(&self, i: usize) -> RowCells<'_> {
        let Some(id) = self.items.get(i) else {
            return RowCells::default();
        };
        let playing = self.current == Some(i);
        let marker = if playing {
            Cell::deco("▶", Some(Role::NowPlaying))
        } else {
            Cell::deco((i + 1).to_string(), Some(Role::Dim))
        };
        let mut cells = match self.state.track(id) {
            Some(t) => track_cells(t, None, false).cells,
            None => vec![
                Cell::styled(id.to_base62(), Role::Dim),
                Cell::deco("", None),
                Cell::deco("", None),
                Cell::deco("", None),
            ],
        };
        cells.insert(0, marker);
        RowCells {
            cells,
            row_role: playing.then_some(Role::NowPlaying),
        }
    }
}

struct DeviceRows<'a> {
    devices: &'a [Device],
    this_id: &'a str,
}

impl Rows for DeviceRows<'_> {
    fn len(&self) -> usize {
        self.devices.len()
    }
    fn row(&self, i: usize) -> RowCells<'_> {
        let Some(d) = self.devices.get(i) else {
            return RowCells::default();
        };
        let this = matches!(d.origin, DeviceOrigin::This) || d.id == self.this_id;
        let (origin, role) = match &d.origin {
            _ if this => (Cow::Borrowed("this device"), Role::Info),
            DeviceOrigin::This => (Cow::Borrowed("this device"), Role::Info),
            DeviceOrigin::Cloud => (Cow::Borrowed("online"), Role::Dim),
            DeviceOrigin::Lan { active_user, .. } if active_user.is_empty() => {
                (Cow::Borrowed("LAN · not signed in"), Role::Warning)
            }
            DeviceOrigin::Lan { active_user, .. } => {
                (Cow::Owned(format!("LAN · {active_user}")), Role::Dim)
            }
        };
        let volume = d
            .volume
            .map(|v| format!("vol {}%", percent(v)))
            .unwrap_or_default();
        RowCells {
            cells: vec![
                if d.is_active {
                    Cell::deco("●", Some(Role::NowPlaying))
                } else {
                    Cell::deco(" ", None)
                },
                Cell::text(d.name.as_str()),
                Cell::styled(d.kind.as_str(), Role::Dim),
                Cell::deco(origin, Some(role)),
                Cell::deco(volume, Some(Role::Dim)),
            ],
            row_role: d.is_active.then_some(Role::NowPlaying),
        }
    }
}

/// `0..=65535` as a rounded percentage.
pub(crate) fn percent(v: u16) -> u32 {
    (v as u32 * 100 + 32767) / 65535
}

struct LogRows<'a> {
    lines: &'a VecDeque<LogLine>,
}

impl Rows for LogRows<'_> {
    fn len(&self) -> usize {
        self.lines.len()
    }
    fn row(&self, i: usize) -> RowCells<'_> {
        let Some(l) = self.lines.get(i) else {
            return RowCells::default();
        };
        let (tag, role) = match l.level {
            Level::Debug => ("DEBUG", Role::Dim),
            Level::Info => ("INFO", Role::Info),
            Level::Warn => ("WARN", Role::Warning),
            Level::Error => ("ERROR", Role::Error),
        };
        RowCells {
            cells: vec![
                Cell::deco(tag, Some(role)),
                Cell::text(l.text.as_str()),
                Cell::styled(l.target.as_str(), Role::Dim),
            ],
            row_role: (l.level == Level::Error).then_some(Role::Error),
        }
    }
}

struct NoRows;

impl Rows for NoRows {
    fn len(&self) -> usize {
        0
    }
    fn row(&self, _i: usize) -> RowCells<'_> {
        RowCells::default()
    }
}

/// The library section shown (none chosen yet: the first).
fn section(state: &State) -> LibrarySection {
    state.library.section.unwrap_or(LibrarySection::Playlists)
}

fn page_items(p: &PageView) -> &[Item] {
    p.data.as_ref().map(|d| d.items.as_slice()).unwrap_or(&[])
}

/// Calls `f` with the rows of the list `pane` currently shows (the innermost open page, else
/// the section / results / queue / devices / log).
pub(crate) fn with_rows<R>(state: &State, pane: Pane, f: impl FnOnce(&dyn Rows) -> R) -> R {
    let now_id = now_id(state);
    let now = now_id.as_deref();
    match pane {
        Pane::Library => match (state.library.pages.last(), &state.library.data) {
            (Some(p), _) => f(&ItemRows {
                items: page_items(p),
                now,
                grouped: false,
                lib: state.library.data.as_deref(),
                resume: &state.resume_points,
            }),
            (None, Some(lib)) => f(&SectionRows {
                lib,
                section: section(state),
                now,
            }),
            (None, None) => f(&NoRows),
        },
        Pane::Search => match state.search.pages.last() {
            Some(p) => f(&ItemRows {
                items: page_items(p),
                now,
                grouped: false,
                lib: state.library.data.as_deref(),
                resume: &state.resume_points,
            }),
            None => f(&ItemRows {
                items: &state.search.results,
                now,
                grouped: true,
                lib: state.library.data.as_deref(),
                resume: &state.resume_points,
            }),
        },
        Pane::Queue => f(&QueueRows {
            items: &state.queue.snapshot.items,
            current: state.queue.snapshot.current,
            state,
        }),
        Pane::Devices => f(&DeviceRows {
            devices: &state.devices.devices,
            this_id: &state.device_id,
        }),
        Pane::Log => f(&LogRows {
            lines: &state.log.lines,
        }),
    }
}

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
            let n = section_len(data, *s).to_string();
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
        let line = format!("‹ {} ({}) ›", current.title(), section_len(data, current));
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
