//! The add-to-playlist picker (`a`): the selected (or playing) track goes to one of the user's
//! own playlists, picked from a list narrowed with the fuzzy filter, or to a new playlist named
//! in the picker ("New playlist…", first). The Web API writes are effects; their answers
//! update the cached library in place (items, total and snapshot id) and an open page of that
//! playlist.
//!
//! Part of the pure `update` (see `update.rs`): no I/O, no UI crates, no service handles.

use std::sync::Arc;

use super::library_edits::target_track;
use super::{notify, Out};
use crate::api::library::{LibraryPlaylist, TrackInfo};
use crate::app::effect::Effect;
use crate::app::filter::filter;
use crate::app::msg::TextInput;
use crate::app::state::{Item, Level, PickerRow, PlaylistPicker, State};

/// Longest playlist name the picker takes (Spotify's own limit is larger; this keeps the
/// prompt on one line and a runaway paste bounded).
pub const NAME_MAX: usize = 100;

/// `a`: opens the picker for the track `f` would like (the selected row, else the playing one).
pub(super) fn open(state: &mut State, out: &mut Out) {
    if state.help.is_some() {
        return;
    }
    out.redraw = true;
    let Some(track) = target_track(state) else {
        notify(
            state,
            Level::Info,
            "Select a track to add it to a playlist".to_string(),
        );
        return;
    };
    if state.library.data.is_none() {
        notify(
            state,
            Level::Warn,
            "The library is not loaded yet".to_string(),
        );
        return;
    }
    let mut picker = PlaylistPicker {
        tracks: vec![track],
        query: String::new(),
        rows: Vec::new(),
        cursor: Default::default(),
        naming: None,
    };
    picker.rows = rows(state, &picker.query);
    state.picker = Some(picker);
}

/// The playlists the user may add to: their own (Spotify refuses the others).
fn own(state: &State) -> Vec<&LibraryPlaylist> {
    let Some(lib) = state.library.data.as_ref() else {
        return Vec::new();
    };
    lib.playlists
        .iter()
        .filter(|p| p.owner_id == lib.username)
        .collect()
}

/// "New playlist…" (unless a filter is typed: then only what matches), then the own playlists
/// matching `query`, best first.
fn rows(state: &State, query: &str) -> Vec<PickerRow> {
    let own = own(state);
    let names: Vec<String> = own.iter().map(|p| p.name.clone()).collect();
    let mut out = Vec::with_capacity(own.len() + 1);
    if query.trim().is_empty() {
        out.push(PickerRow::New);
    }
    for (i, positions) in filter(&names, query) {
        let p = own[i];
        out.push(PickerRow::Playlist {
            id: p.id.clone(),
            uri: p.uri.clone(),
            name: p.name.clone(),
            positions,
        });
    }
    out
}

/// A key while the picker is open.
pub(super) fn key(state: &mut State, t: TextInput, out: &mut Out) {
    let Some(mut picker) = state.picker.take() else {
        return;
    };
    out.redraw = true;
    if let Some(name) = picker.naming.as_mut() {
        match t {
            TextInput::Char(c) if !c.is_control() && name.chars().count() < NAME_MAX => {
                name.push(c)
            }
            TextInput::Backspace => {
                name.pop();
            }
            TextInput::Clear => name.clear(),
            TextInput::Esc => picker.naming = None,
            TextInput::Enter => {
                let name = name.trim().to_string();
                if name.is_empty() {
                    notify(
                        state,
                        Level::Info,
                        "Type a name for the playlist".to_string(),
                    );
                } else if let Some(user) = state.library.data.as_ref().map(|l| l.username.clone()) {
                    notify(state, Level::Info, format!("Creating “{name}”…"));
                    out.effect(Effect::CreatePlaylist {
                        user,
                        name,
                        tracks: picker.tracks,
                    });
                    return; // closed
                }
            }
            _ => {}
        }
        state.picker = Some(picker);
        return;
    }
    match t {
        TextInput::Esc => return, // closed
        TextInput::Char(c) if !c.is_control() => {
            picker.query.push(c);
            refilter(state, &mut picker);
        }
        TextInput::Backspace if picker.query.pop().is_some() => refilter(state, &mut picker),
        TextInput::Clear => {
            picker.query.clear();
            refilter(state, &mut picker);
        }
        TextInput::Up => {
            picker.cursor.selected = picker.cursor.selected.saturating_sub(1);
        }
        TextInput::Down | TextInput::Tab if picker.cursor.selected + 1 < picker.rows.len() => {
            picker.cursor.selected += 1;
        }
        TextInput::Enter => match picker.rows.get(picker.cursor.selected).cloned() {
            Some(PickerRow::New) => picker.naming = Some(String::new()),
            Some(PickerRow::Playlist { id, name, .. }) => {
                out.effect(Effect::AddToPlaylist {
                    playlist_id: id,
                    name,
                    tracks: picker.tracks,
                });
                return; // closed
            }
            None => {}
        },
        _ => {}
    }
    state.picker = Some(picker);
}

fn refilter(state: &State, picker: &mut PlaylistPicker) {
    picker.rows = rows(state, &picker.query);
    picker.cursor = Default::default();
}

/// The answer to [`Effect::AddToPlaylist`]: the cached playlist (and its open page) gain the
/// tracks and take the new snapshot id.
pub(super) fn added(
    state: &mut State,
    playlist_id: String,
    name: String,
    tracks: Vec<TrackInfo>,
    result: Result<String, String>,
    out: &mut Out,
) {
    out.redraw = true;
    let what = match tracks.as_slice() {
        [one] => format!("“{}”", one.name),
        more => format!("{} tracks", more.len()),
    };
    let snapshot = match result {
        Ok(s) => s,
        Err(e) => {
            notify(
                state,
                Level::Error,
                format!("Could not add {what} to “{name}”: {e}"),
            );
            return;
        }
    };
    let mut uri = None;
    if let Some(lib) = state.library.data.as_mut() {
        let lib = Arc::make_mut(lib);
        if lib.playlist_added(&playlist_id, &tracks, &snapshot) {
            uri = lib
                .playlists
                .iter()
                .find(|p| p.id == playlist_id)
                .map(|p| p.uri.clone());
        }
    }
    if let Some(uri) = uri {
        let pages = state
            .library
            .pages
            .iter_mut()
            .chain(state.search.pages.iter_mut());
        for page in pages.filter(|p| p.uri == uri) {
            if let Some(data) = page.data.as_mut() {
                data.items.extend(tracks.iter().cloned().map(Item::Track));
            }
        }
    }
    notify(state, Level::Info, format!("Added {what} to “{name}”"));
}

/// The answer to [`Effect::CreatePlaylist`]: the new playlist joins the cached library (first,
/// as Spotify lists the newest); the add that follows answers with `Msg::AddedToPlaylist`.
pub(super) fn created(
    state: &mut State,
    name: String,
    result: Result<LibraryPlaylist, String>,
    out: &mut Out,
) {
    out.redraw = true;
    match result {
        Ok(p) => {
            if let Some(lib) = state.library.data.as_mut() {
                Arc::make_mut(lib).playlist_created(p);
            }
            notify(state, Level::Info, format!("Created “{name}”"));
        }
        Err(e) => notify(
            state,
            Level::Error,
            format!("Could not create “{name}”: {e}"),
        ),
    }
}
