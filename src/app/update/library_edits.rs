//! Library edits from the TUI: like/unlike the selected track (or, with no track selected, the
//! one playing) and removing a track from the open playlist. The cached library and the page
//! change at once (optimistic) and the Web API write follows as an effect; a failed write rolls
//! the change back and says why in a notification.
//!
//! Part of the pure `update` (see `update.rs`): no I/O, no UI crates, no service handles.

use std::sync::Arc;

use super::filter::close_filter;
use super::lists::{clamp, item_at, list_of, selected_row};
use super::{notify, Out};
use crate::action::Pane;
use crate::api::library::TrackInfo;
use crate::app::effect::Effect;
use crate::app::state::{Item, Level, PageKind, PageView, State};

/// The track `f` acts on: the selected row when it is a track, else the playing track.
pub(super) fn target_track(state: &State) -> Option<TrackInfo> {
    let pane = state.focus;
    if matches!(pane, Pane::Library | Pane::Search) {
        if let Some(row) = selected_row(state, pane) {
            let list = list_of(state, pane);
            if let Some(Item::Track(t)) = item_at(state, list, row) {
                return Some(t);
            }
        }
    }
    // The player plays tracks only; the queue's names, when known, carry the album link too.
    let p = state.player.as_ref()?.track.as_ref()?;
    if let Some(t) = state.track(&p.id) {
        return Some(t.clone());
    }
    Some(TrackInfo {
        uri: format!("spotify:track:{}", p.id.to_base62()),
        name: p.name.clone(),
        artists: p.artists.clone(),
        album: p.album.clone(),
        album_uri: String::new(),
        duration_ms: p.duration_ms,
        explicit: false,
    })
}

/// `f`: like the track, or unlike it when it is already liked.
pub(super) fn toggle_like(state: &mut State, out: &mut Out) {
    if state.help.is_some() {
        return;
    }
    let Some(track) = target_track(state) else {
        notify(state, Level::Info, "Select a track to like".to_string());
        out.redraw = true;
        return;
    };
    let Some(lib) = state.library.data.as_mut() else {
        notify(
            state,
            Level::Warn,
            "The library is not loaded yet".to_string(),
        );
        out.redraw = true;
        return;
    };
    let like = !lib.is_liked(&track.uri);
    Arc::make_mut(lib).set_liked(&track, like, "");
    out.effect(Effect::Like { track, like });
    out.redraw = true;
}

/// The answer to [`Effect::Like`]: on failure the optimistic change is undone.
pub(super) fn liked(
    state: &mut State,
    track: TrackInfo,
    like: bool,
    result: Result<(), String>,
    out: &mut Out,
) {
    out.redraw = true;
    match result {
        Ok(()) => {
            let text = if like {
                format!("Added “{}” to Liked Songs", track.name)
            } else {
                format!("Removed “{}” from Liked Songs", track.name)
            };
            notify(state, Level::Info, text);
        }
        Err(e) => {
            if let Some(lib) = state.library.data.as_mut() {
                Arc::make_mut(lib).set_liked(&track, !like, "");
            }
            let verb = if like { "like" } else { "unlike" };
            notify(
                state,
                Level::Error,
                format!("Could not {verb} “{}”: {e}", track.name),
            );
        }
    }
}

fn top_page(state: &mut State, pane: Pane) -> Option<&mut PageView> {
    match pane {
        Pane::Library => state.library.pages.last_mut(),
        Pane::Search => state.search.pages.last_mut(),
        _ => None,
    }
}

/// `d` on a playlist's track: remove every occurrence of it from the playlist (as the Web API
/// does). Spotify refuses playlists of other users; the answer says so.
pub(super) fn remove_from_playlist(state: &mut State, out: &mut Out) {
    let pane = state.focus;
    if state.help.is_some() || !matches!(pane, Pane::Library | Pane::Search) {
        return;
    }
    let Some(row) = selected_row(state, pane) else {
        return;
    };
    let Some(Item::Track(track)) = item_at(state, list_of(state, pane), row) else {
        return;
    };
    close_filter(state, pane);
    let Some(page) = top_page(state, pane) else {
        return;
    };
    if page.kind != PageKind::Playlist {
        notify(
            state,
            Level::Info,
            "Open one of your playlists to remove tracks from it".to_string(),
        );
        out.redraw = true;
        return;
    }
    let playlist_uri = page.uri.clone();
    // Spotify refuses edits of other users' playlists: said at once, nothing sent.
    let owner = state.library.data.as_ref().and_then(|lib| {
        lib.playlists
            .iter()
            .find(|p| p.uri == playlist_uri)
            .filter(|p| !p.owner_id.is_empty() && p.owner_id != lib.username)
            .map(|p| p.owner.clone())
    });
    if let Some(owner) = owner {
        notify(
            state,
            Level::Warn,
            format!("This playlist belongs to {owner}: only your own playlists can be edited"),
        );
        out.redraw = true;
        return;
    }
    let Some(page) = top_page(state, pane) else {
        return;
    };
    let Some(data) = page.data.as_mut() else {
        return;
    };
    let mut removed = Vec::new();
    let mut kept = Vec::with_capacity(data.items.len());
    for (i, item) in std::mem::take(&mut data.items).into_iter().enumerate() {
        match &item {
            Item::Track(t) if t.uri == track.uri => removed.push((i, item)),
            _ => kept.push(item),
        }
    }
    data.items = kept;
    let len = data.items.len();
    clamp(&mut page.cursor, len);
    out.effect(Effect::RemoveFromPlaylist {
        playlist_uri,
        track,
        removed,
    });
    out.redraw = true;
}

/// The answer to [`Effect::RemoveFromPlaylist`]: the cached playlist follows on success; on
/// failure the rows come back where they were (when the page is still open).
pub(super) fn removed_from_playlist(
    state: &mut State,
    playlist_uri: String,
    track: TrackInfo,
    removed: Vec<(usize, Item)>,
    result: Result<String, String>,
    out: &mut Out,
) {
    out.redraw = true;
    match result {
        Ok(snapshot) => {
            if let Some(lib) = state.library.data.as_mut() {
                let id = lib
                    .playlists
                    .iter()
                    .find(|p| p.uri == playlist_uri)
                    .map(|p| p.id.clone());
                if let Some(id) = id {
                    Arc::make_mut(lib).playlist_removed(&id, &[track.uri.as_str()], &snapshot);
                }
            }
            notify(
                state,
                Level::Info,
                format!("Removed “{}” from the playlist", track.name),
            );
        }
        Err(e) => {
            let pages = state
                .library
                .pages
                .iter_mut()
                .chain(state.search.pages.iter_mut());
            for page in pages {
                if page.uri != playlist_uri {
                    continue;
                }
                if let Some(data) = page.data.as_mut() {
                    for (i, item) in &removed {
                        let at = (*i).min(data.items.len());
                        data.items.insert(at, item.clone());
                    }
                }
            }
            notify(
                state,
                Level::Error,
                format!("Could not remove “{}”: {e}", track.name),
            );
        }
    }
}
