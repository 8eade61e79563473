//! Moving around: cursor keys and pages, focus, mouse selection and scrolling, back/close,
//! and Enter (open a container, play a track, jump in the queue, transfer to a device).
//!
//! Part of the pure `update` (see `update.rs`): no I/O, no UI crates, no service handles.

use super::filter::{close_filter, sync_filter_selection};
use super::library::open_page;
use super::lists::{
    cursor_mut, item_at, list_len, list_of, list_tracks, moved, page_height, scrolled,
    selected_row, List,
};
use super::playback::local;
use super::{notify, playable_id, remember, Out, DEFAULT_PAGE};
use crate::action::{Action, Pane};
use crate::app::effect::Effect;
use crate::app::state::{Item, Level, PageKind, State};
use crate::control::Intent;

pub(super) fn focus(state: &mut State, pane: Pane, out: &mut Out) {
    if state.focus != pane {
        state.focus = pane;
        out.redraw = true;
    }
    if pane == Pane::Search && state.search.input.is_empty() && !state.search.editing {
        state.search.editing = true;
        state.search.input_cursor = 0;
        out.redraw = true;
    }
}

pub(super) fn navigate(state: &mut State, action: &Action, out: &mut Out) {
    if let Some(help) = &mut state.help {
        let new = moved(help.selected, state.memo.help_len, action, DEFAULT_PAGE);
        if new != help.selected {
            help.selected = new;
            out.redraw = true;
        }
        return;
    }
    let pane = state.focus;
    let page = page_height(state, pane);
    if let Some(f) = state.filter.as_mut().filter(|f| f.pane == pane) {
        let new = moved(f.cursor.selected, f.matches.len(), action, page);
        if new != f.cursor.selected {
            f.cursor.selected = new;
            out.redraw = true;
            sync_filter_selection(state);
        }
        return;
    }
    let list = list_of(state, pane);
    let len = list_len(state, list);
    if let Some(c) = cursor_mut(state, list) {
        let new = moved(c.selected, len, action, page);
        if new != c.selected {
            c.selected = new;
            out.redraw = true;
        }
    }
}

/// Mouse: select `row` (an index into the unfiltered list) of the list in `pane`, focusing the
/// pane. Returns whether the row exists (in the filtered view when a filter is open).
pub(super) fn select_row(state: &mut State, pane: Pane, row: usize, out: &mut Out) -> bool {
    if state.focus != pane {
        state.focus = pane;
        out.redraw = true;
    }
    if pane == Pane::Search && state.search.editing {
        // Clicking a result hands the keys back to the list.
        state.search.editing = false;
        out.redraw = true;
    }
    if let Some(f) = state.filter.as_mut().filter(|f| f.pane == pane) {
        let Some(pos) = f.matches.iter().position(|m| m.0 == row) else {
            return false;
        };
        if f.cursor.selected != pos {
            f.cursor.selected = pos;
            out.redraw = true;
        }
        sync_filter_selection(state);
        return true;
    }
    let list = list_of(state, pane);
    let len = list_len(state, list);
    if row >= len {
        return false;
    }
    if let Some(c) = cursor_mut(state, list) {
        if c.selected != row {
            c.selected = row;
            out.redraw = true;
        }
    }
    true
}

pub(super) fn scroll(state: &mut State, pane: Pane, delta: i32, out: &mut Out) {
    if let Some(help) = &mut state.help {
        let new = scrolled(help.selected, state.memo.help_len, delta);
        if new != help.selected {
            help.selected = new;
            out.redraw = true;
        }
        return;
    }
    if let Some(f) = state.filter.as_mut().filter(|f| f.pane == pane) {
        let new = scrolled(f.cursor.selected, f.matches.len(), delta);
        if new != f.cursor.selected {
            f.cursor.selected = new;
            out.redraw = true;
            sync_filter_selection(state);
        }
        return;
    }
    let list = list_of(state, pane);
    let len = list_len(state, list);
    if let Some(c) = cursor_mut(state, list) {
        let new = scrolled(c.selected, len, delta);
        if new != c.selected {
            c.selected = new;
            out.redraw = true;
        }
    }
}

pub(super) fn back(state: &mut State, out: &mut Out, may_quit: bool) {
    if state.help.take().is_some() {
        out.redraw = true;
        return;
    }
    let pane = state.focus;
    if state.filter.as_ref().is_some_and(|f| f.pane == pane) {
        out.redraw = true;
        close_filter(state, pane);
        return;
    }
    match pane {
        Pane::Library if !state.library.pages.is_empty() => {
            state.library.pages.pop();
        }
        Pane::Search if !state.search.pages.is_empty() => {
            state.search.pages.pop();
        }
        Pane::Search if state.search.editing => {
            state.search.editing = false;
        }
        _ if may_quit => state.quit = true,
        // Nothing to close: nothing changes.
        _ => return,
    }
    out.redraw = true;
}

/// Enter: open a container, play a track, jump in the queue, transfer to a device.
pub(super) fn select(state: &mut State, out: &mut Out) {
    if state.help.is_some() {
        return;
    }
    let pane = state.focus;
    let Some(row) = selected_row(state, pane) else {
        return;
    };
    let list = list_of(state, pane);
    match list {
        List::Queue => {
            let ids = state.queue.snapshot.items.clone();
            local(
                state,
                Intent::Load {
                    ids,
                    index: row,
                    position_ms: 0,
                    play: true,
                },
                out,
            );
        }
        List::Devices => transfer(state, out),
        List::Log => {}
        _ => {
            let Some(item) = item_at(state, list, row) else {
                return;
            };
            match item {
                Item::Track(_) | Item::Episode(_) => play_from(state, list, row, out),
                Item::Playlist { uri, .. } => open_page(state, pane, PageKind::Playlist, uri, out),
                Item::Album { uri, .. } => open_page(state, pane, PageKind::Album, uri, out),
                Item::Artist { uri, .. } => open_page(state, pane, PageKind::Artist, uri, out),
                Item::Show { uri, .. } => open_page(state, pane, PageKind::Show, uri, out),
            }
        }
    }
}

/// Play every track of `list` starting at `row`.
pub(super) fn play_from(state: &mut State, list: List, row: usize, out: &mut Out) {
    let tracks = list_tracks(state, list);
    let mut ids = Vec::with_capacity(tracks.len());
    let mut index = None;
    let mut position_ms = 0;
    for (r, t) in &tracks {
        let Some(id) = playable_id(&t.uri) else {
            continue;
        };
        if *r == row {
            index = Some(ids.len());
            // An episode starts where it was left.
            if t.uri.starts_with("spotify:episode:") {
                position_ms = state.resume_points.get(&id).copied().unwrap_or(0);
            }
        }
        ids.push(id);
    }
    let Some(index) = index else {
        notify(state, Level::Warn, "This item can't be played".to_string());
        out.redraw = true;
        return;
    };
    for (_, t) in &tracks {
        remember(state, t);
    }
    // A page is a context Spotify knows (album, playlist, artist, show): reported as where the
    // queue came from. Other lists (search results, library sections) are none.
    let page = match list {
        List::LibraryPage => state.library.pages.last(),
        List::SearchPage => state.search.pages.last(),
        _ => None,
    };
    let context_uri = page.map(|p| p.uri.clone()).unwrap_or_default();
    out.effect(Effect::PlayingContext {
        context_uri,
        ids: ids.clone(),
    });
    local(
        state,
        Intent::Load {
            ids,
            index,
            position_ms,
            play: true,
        },
        out,
    );
}

pub(super) fn transfer(state: &mut State, out: &mut Out) {
    if state.focus != Pane::Devices {
        return;
    }
    let Some(row) = selected_row(state, Pane::Devices) else {
        return;
    };
    let Some(device) = state.devices.devices.get(row).cloned() else {
        return;
    };
    if device.is_active {
        notify(
            state,
            Level::Info,
            format!("{} is already the active device", device.name),
        );
    } else if super::trust::hands_over_login(&device) {
        // Waking it hands it our login: asked first (or answered before).
        super::trust::transfer_with_login(state, device, out);
    } else {
        notify(
            state,
            Level::Info,
            format!("Transferring playback to {}…", device.name),
        );
        out.effect(Effect::Transfer { device });
    }
    out.redraw = true;
}
