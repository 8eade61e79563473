//! What each pane's list shows: the column layouts, the cells of tracks, episodes, albums,
//! shows, playlists, queue entries, devices and log lines, and one [`Rows`] source per kind of
//! list (a library section, an opened page or the search results, the queue, the devices, the
//! log). [`with_rows`] picks the one a pane currently shows, for drawing and for the filter.
//!
//! Used by `ui::panes` (drawing) and `ui` (the filter's matches). Reads `State` only; no
//! drawing, no service handles, no I/O.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};

use crate::api::library::{Library, TrackInfo};
use crate::app::action::Pane;
use crate::app::state::{Item, Level, LibrarySection, LogLine, PageView, State};
use crate::connect::{Device, DeviceOrigin};
use crate::id::{SpotifyId, SpotifyUri};
use crate::theme::Role;
use crate::ui::widgets::{duration, Cell, Column, RowCells, Rows};

/// Name / detail / detail / right-aligned figure: the layout of track and item lists.
pub(super) const ITEM_COLUMNS: [Column; 4] = [
    Column::flex(4, 0),
    Column::flex(3, 44),
    Column::flex(3, 58),
    Column::fit(12, true, 0),
];

/// Queue: number or ▶, then the item columns.
pub(super) const QUEUE_COLUMNS: [Column; 5] = [
    Column::fit(6, true, 0),
    Column::flex(4, 0),
    Column::flex(3, 44),
    Column::flex(3, 80),
    Column::fit(8, true, 0),
];

/// Devices: active marker, name, type, where it was found, volume.
pub(super) const DEVICE_COLUMNS: [Column; 5] = [
    Column::fit(1, false, 0),
    Column::flex(3, 0),
    Column::flex(2, 64),
    Column::fit(20, false, 36),
    Column::fit(8, true, 0),
];

/// Log: level, target, text.
pub(super) const LOG_COLUMNS: [Column; 3] = [
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

pub(super) fn count(n: u32, one: &str, many: &str) -> String {
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

impl Rows for SectionRows<'_> {
    fn len(&self) -> usize {
        self.section.len_in(self.lib)
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
pub(super) fn section(state: &State) -> LibrarySection {
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
