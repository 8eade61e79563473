//! The lists the panes show, seen uniformly: which list a pane shows ([`List`]), its length,
//! cursor, rows, tracks and row texts (for the filter). Shared helpers of the other `update`
//! modules; read-only over the state.
//!
//! Part of the pure `update` (see `update.rs`): no I/O, no UI crates, no service handles.

use super::DEFAULT_PAGE;
use crate::action::{Action, Pane};
use crate::api::library::{Library, TrackInfo};
use crate::app::state::{Item, LibrarySection, ListCursor, PageData, PageKind, PageView, State};

/// The list a pane shows right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum List {
    Section(LibrarySection),
    LibraryPage,
    Results,
    SearchPage,
    Queue,
    Devices,
    Log,
}

pub(super) fn list_of(state: &State, pane: Pane) -> List {
    match pane {
        Pane::Library if state.library.pages.is_empty() => {
            List::Section(state.library.section.unwrap_or(LibrarySection::Playlists))
        }
        Pane::Library => List::LibraryPage,
        Pane::Search if state.search.pages.is_empty() => List::Results,
        Pane::Search => List::SearchPage,
        Pane::Queue => List::Queue,
        Pane::Devices => List::Devices,
        Pane::Log => List::Log,
    }
}

pub(super) fn page_items(page: Option<&PageView>) -> &[Item] {
    page.and_then(|p| p.data.as_ref())
        .map(|d| d.items.as_slice())
        .unwrap_or(&[])
}

pub(super) fn list_len(state: &State, list: List) -> usize {
    match list {
        List::Section(section) => {
            let Some(lib) = &state.library.data else {
                return 0;
            };
            match section {
                LibrarySection::Playlists => lib.playlists.len(),
                LibrarySection::LikedSongs => lib.saved_tracks.len(),
                LibrarySection::Albums => lib.saved_albums.len(),
                LibrarySection::Artists => lib.followed_artists.len(),
                LibrarySection::Podcasts => lib.saved_shows.len(),
            }
        }
        List::LibraryPage => page_items(state.library.pages.last()).len(),
        List::Results => state.search.results.len(),
        List::SearchPage => page_items(state.search.pages.last()).len(),
        List::Queue => state.queue.snapshot.items.len(),
        List::Devices => state.devices.devices.len(),
        List::Log => state.log.lines.len(),
    }
}

pub(super) fn cursor_mut(state: &mut State, list: List) -> Option<&mut ListCursor> {
    Some(match list {
        List::Section(s) => &mut state.library.cursors[s.index()],
        List::LibraryPage => &mut state.library.pages.last_mut()?.cursor,
        List::Results => &mut state.search.cursor,
        List::SearchPage => &mut state.search.pages.last_mut()?.cursor,
        List::Queue => &mut state.queue.cursor,
        List::Devices => &mut state.devices.cursor,
        List::Log => &mut state.log.cursor,
    })
}

pub(super) fn cursor_of(state: &State, list: List) -> ListCursor {
    match list {
        List::Section(s) => state.library.cursors[s.index()],
        List::LibraryPage => state
            .library
            .pages
            .last()
            .map(|p| p.cursor)
            .unwrap_or_default(),
        List::Results => state.search.cursor,
        List::SearchPage => state
            .search
            .pages
            .last()
            .map(|p| p.cursor)
            .unwrap_or_default(),
        List::Queue => state.queue.cursor,
        List::Devices => state.devices.cursor,
        List::Log => state.log.cursor,
    }
}

pub(super) fn clamp(cursor: &mut ListCursor, len: usize) {
    if cursor.selected >= len {
        cursor.selected = len.saturating_sub(1);
    }
    if cursor.offset > cursor.selected {
        cursor.offset = cursor.selected;
    }
}

/// The row of `list` an action applies to: the selected row, seen through the filter when one
/// is open on the pane.
pub(super) fn selected_row(state: &State, pane: Pane) -> Option<usize> {
    let list = list_of(state, pane);
    if let Some(f) = state.filter.as_ref().filter(|f| f.pane == pane) {
        return f.matches.get(f.cursor.selected).map(|m| m.0);
    }
    let sel = cursor_of(state, list).selected;
    (sel < list_len(state, list)).then_some(sel)
}

/// The item at `row` of a library/search list (library rows are built from the cached library).
pub(super) fn item_at(state: &State, list: List, row: usize) -> Option<Item> {
    match list {
        List::Section(section) => {
            let lib = state.library.data.as_ref()?;
            Some(match section {
                LibrarySection::Playlists => {
                    let p = lib.playlists.get(row)?;
                    Item::Playlist {
                        uri: p.uri.clone(),
                        name: p.name.clone(),
                        owner: p.owner.clone(),
                        total: p.total,
                    }
                }
                LibrarySection::LikedSongs => {
                    Item::Track(lib.track(lib.saved_tracks.get(row)?)?.clone())
                }
                LibrarySection::Albums => {
                    let a = lib.saved_albums.get(row)?;
                    Item::Album {
                        uri: a.uri.clone(),
                        name: a.name.clone(),
                        artists: a.artists.clone(),
                        year: a.release_date.chars().take(4).collect(),
                    }
                }
                LibrarySection::Artists => {
                    let a = lib.followed_artists.get(row)?;
                    Item::Artist {
                        uri: a.uri.clone(),
                        name: a.name.clone(),
                    }
                }
                LibrarySection::Podcasts => {
                    let s = lib.saved_shows.get(row)?;
                    Item::Show {
                        uri: s.uri.clone(),
                        name: s.name.clone(),
                        publisher: s.publisher.clone(),
                    }
                }
            })
        }
        List::LibraryPage => page_items(state.library.pages.last()).get(row).cloned(),
        List::Results => state.search.results.get(row).cloned(),
        List::SearchPage => page_items(state.search.pages.last()).get(row).cloned(),
        List::Queue | List::Devices | List::Log => None,
    }
}

/// The playable rows (tracks and episodes) of a list, with their row index, in list order.
pub(super) fn list_tracks(state: &State, list: List) -> Vec<(usize, TrackInfo)> {
    let from_items = |items: &[Item]| -> Vec<(usize, TrackInfo)> {
        items
            .iter()
            .enumerate()
            .filter_map(|(i, it)| match it {
                Item::Track(t) | Item::Episode(t) => Some((i, t.clone())),
                _ => None,
            })
            .collect()
    };
    match list {
        List::Section(LibrarySection::LikedSongs) => match &state.library.data {
            Some(lib) => lib
                .saved_tracks
                .iter()
                .enumerate()
                .filter_map(|(i, e)| lib.track(e).map(|t| (i, t.clone())))
                .collect(),
            None => Vec::new(),
        },
        List::Section(_) | List::Queue | List::Devices | List::Log => Vec::new(),
        List::LibraryPage => from_items(page_items(state.library.pages.last())),
        List::Results => from_items(&state.search.results),
        List::SearchPage => from_items(page_items(state.search.pages.last())),
    }
}

/// The row texts the filter matches against (each starts with the row's name, so highlight
/// positions below the name's length fall on the name).
pub(super) fn row_texts(state: &State, list: List) -> Vec<String> {
    match list {
        List::Section(section) => {
            let Some(lib) = &state.library.data else {
                return Vec::new();
            };
            match section {
                LibrarySection::Playlists => lib
                    .playlists
                    .iter()
                    .map(|p| join(&[&p.name, &p.owner]))
                    .collect(),
                LibrarySection::LikedSongs => lib
                    .saved_tracks
                    .iter()
                    .map(|e| lib.track(e).map(track_text).unwrap_or_default())
                    .collect(),
                LibrarySection::Albums => lib
                    .saved_albums
                    .iter()
                    .map(|a| join(&[&a.name, &a.artists.join(", ")]))
                    .collect(),
                LibrarySection::Artists => lib
                    .followed_artists
                    .iter()
                    .map(|a| a.name.clone())
                    .collect(),
                LibrarySection::Podcasts => lib
                    .saved_shows
                    .iter()
                    .map(|s| join(&[&s.name, &s.publisher]))
                    .collect(),
            }
        }
        List::LibraryPage => page_items(state.library.pages.last())
            .iter()
            .map(item_text)
            .collect(),
        List::Results => state.search.results.iter().map(item_text).collect(),
        List::SearchPage => page_items(state.search.pages.last())
            .iter()
            .map(item_text)
            .collect(),
        List::Queue => state
            .queue
            .snapshot
            .items
            .iter()
            .map(|id| match state.track(id) {
                Some(t) => track_text(t),
                None => id.to_base62(),
            })
            .collect(),
        List::Devices => state
            .devices
            .devices
            .iter()
            .map(|d| join(&[&d.name, &d.kind]))
            .collect(),
        List::Log => state
            .log
            .lines
            .iter()
            .map(|l| join(&[&l.text, &l.target]))
            .collect(),
    }
}

/// "a · b · c", skipping empty parts.
pub(super) fn join(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" · ")
}

/// A track row's text: name · artists · album.
pub(super) fn track_text(t: &TrackInfo) -> String {
    join(&[&t.name, &t.artists.join(", "), &t.album])
}

/// An item row's text, starting with its name.
pub(super) fn item_text(item: &Item) -> String {
    match item {
        Item::Track(t) | Item::Episode(t) => track_text(t),
        Item::Album { name, artists, .. } => join(&[name, &artists.join(", ")]),
        Item::Artist { name, .. } => name.clone(),
        Item::Playlist { name, owner, .. } => join(&[name, owner]),
        Item::Show {
            name, publisher, ..
        } => join(&[name, publisher]),
    }
}

/// Visible rows of a pane's list as last drawn (PageUp/PageDown step).
pub(super) fn page_height(state: &State, pane: Pane) -> usize {
    state
        .hitmap
        .lists
        .iter()
        .find(|l| l.pane == pane)
        .map(|l| l.area.height as usize)
        .filter(|h| *h > 0)
        .unwrap_or(DEFAULT_PAGE)
}

/// Where a navigation action moves a selection in a list of `len` rows.
pub(super) fn moved(sel: usize, len: usize, action: &Action, page: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let last = len - 1;
    let sel = sel.min(last);
    match action {
        Action::Up => sel.saturating_sub(1),
        Action::Down => (sel + 1).min(last),
        Action::PageUp => sel.saturating_sub(page),
        Action::PageDown => (sel + page).min(last),
        Action::Top => 0,
        Action::Bottom => last,
        _ => sel,
    }
}

pub(super) fn scrolled(sel: usize, len: usize, delta: i32) -> usize {
    if len == 0 {
        return 0;
    }
    let target = sel as i64 + delta as i64;
    target.clamp(0, len as i64 - 1) as usize
}

/// The tracks of a container when they are known without asking (cached playlist items, or an
/// open page with the same URI).
pub(super) fn known_tracks(state: &State, uri: &str) -> Option<Vec<TrackInfo>> {
    let from_page = state
        .library
        .pages
        .iter()
        .chain(state.search.pages.iter())
        .filter_map(|p| p.data.as_ref())
        .find(|d| d.uri == uri);
    let data = match from_page {
        Some(d) => Some(d.clone()),
        None => state
            .library
            .data
            .as_ref()
            .and_then(|lib| playlist_page(lib, uri)),
    }?;
    Some(page_tracks(&data))
}

/// A playlist page from the cached library, when its items are loaded there.
pub(super) fn playlist_page(lib: &Library, uri: &str) -> Option<PageData> {
    let p = lib.playlists.iter().find(|p| p.uri == uri)?;
    p.items.as_ref()?;
    let items: Vec<Item> = lib.playlist_tracks(p).cloned().map(Item::Track).collect();
    let subtitle = join(&["Playlist", &p.owner, &format!("{} tracks", items.len())]);
    Some(PageData {
        kind: PageKind::Playlist,
        uri: p.uri.clone(),
        title: p.name.clone(),
        subtitle,
        items,
    })
}

pub(super) fn page_tracks(data: &PageData) -> Vec<TrackInfo> {
    data.items
        .iter()
        .filter_map(|it| match it {
            Item::Track(t) | Item::Episode(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}
