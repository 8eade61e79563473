//! The library and the pages pushed on a pane's stack: opening a page (prefilled from the
//! cached library when it can be), the tracks of a container, and the answers (`Msg::Library`,
//! `Msg::Page`) — including page loads made only to queue a container's tracks.
//!
//! Part of the pure `update` (see `update.rs`): no I/O, no UI crates, no service handles.

use std::sync::Arc;

use super::filter::{close_filter, refresh_filter};
use super::lists::{clamp, page_tracks, playlist_page};
use super::queue::{ask_queue_names, queue_tracks};
use super::{new_id, notify, Out, Target};
use crate::action::Pane;
use crate::api::library::Library;
use crate::app::effect::Effect;
use crate::app::state::{Level, LibrarySection, ListCursor, PageData, PageKind, PageView, State};

/// Push a page for `uri` on the pane's stack and ask for its content. A playlist whose items
/// the cached library already holds is shown at once (and still refreshed).
pub(super) fn open_page(state: &mut State, pane: Pane, kind: PageKind, uri: String, out: &mut Out) {
    close_filter(state, pane);
    let id = new_id(state);
    let prefill = match kind {
        PageKind::Playlist => state
            .library
            .data
            .as_ref()
            .and_then(|lib| playlist_page(lib, &uri)),
        _ => None,
    };
    let page = PageView {
        kind,
        uri: uri.clone(),
        request: id,
        loading: true,
        error: None,
        data: prefill,
        cursor: ListCursor::default(),
    };
    match pane {
        Pane::Search => state.search.pages.push(page),
        _ => {
            state.focus = Pane::Library;
            state.library.pages.push(page);
        }
    }
    out.effect(Effect::LoadPage { id, kind, uri });
    out.redraw = true;
}

pub(super) fn library_msg(state: &mut State, result: Result<Arc<Library>, String>, out: &mut Out) {
    state.library.loading = false;
    match result {
        Ok(lib) => {
            for s in LibrarySection::ALL {
                let len = s.len_in(&lib);
                clamp(&mut state.library.cursors[s.index()], len);
            }
            // Queued tracks are named from the library (`State::track`): the ones this version
            // no longer has keep the names the previous one gave them.
            if let Some(old) = state.library.data.take() {
                for id in &state.queue.snapshot.items {
                    if state.tracks.contains_key(id) || lib.track_by_id(id).is_some() {
                        continue;
                    }
                    if let Some(t) = old.track_by_id(id) {
                        state.tracks.insert(*id, t.clone());
                    }
                }
            }
            state.library.data = Some(lib);
            state.library.error = None;
            if state.library.section.is_none() {
                state.library.section = Some(LibrarySection::Playlists);
            }
            refresh_filter(state, Pane::Library);
        }
        Err(e) => {
            notify(state, Level::Error, format!("Library: {e}"));
            state.library.error = Some(e);
        }
    }
    // Names for the queue rows the library does not have (a restored queue waited for it).
    ask_queue_names(state, out);
    out.redraw = true;
}

pub(super) fn page_msg(
    state: &mut State,
    id: u64,
    result: Result<PageData, String>,
    out: &mut Out,
) {
    let in_library = state.library.pages.iter().any(|p| p.request == id);
    let in_search = state.search.pages.iter().any(|p| p.request == id);
    if in_library || in_search {
        let pages = if in_library {
            &mut state.library.pages
        } else {
            &mut state.search.pages
        };
        let mut failed = None;
        if let Some(page) = pages.iter_mut().find(|p| p.request == id) {
            page.loading = false;
            match result {
                Ok(data) => {
                    page.error = None;
                    let len = data.items.len();
                    page.data = Some(data);
                    clamp(&mut page.cursor, len);
                }
                Err(e) => {
                    page.error = Some(e.clone());
                    failed = Some(e);
                }
            }
        }
        if let Some(e) = failed {
            notify(state, Level::Error, format!("Couldn't load the page: {e}"));
        }
        let pane = if in_library {
            Pane::Library
        } else {
            Pane::Search
        };
        refresh_filter(state, pane);
        out.redraw = true;
        return;
    }
    if let Some(mode) = state.memo.queue_pages.remove(&id) {
        match result {
            Ok(data) => {
                let target = if state.remote.is_some() {
                    Target::Remote
                } else {
                    Target::Local
                };
                queue_tracks(state, page_tracks(&data), mode, target, out);
            }
            Err(e) => {
                notify(
                    state,
                    Level::Error,
                    format!("Couldn't load the tracks: {e}"),
                );
                out.redraw = true;
            }
        }
    }
    // Otherwise: an answer for a page that was closed meanwhile; dropped.
}
