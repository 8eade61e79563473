//! Library edits from the TUI: like/unlike the selected track (or, with no track selected, the
//! one playing). The cached library changes at once (optimistic) and the Web API write follows
//! as an effect; a failed write rolls the change back and says why in a notification.
//!
//! Part of the pure `update` (see `update.rs`): no I/O, no UI crates, no service handles.

use std::sync::Arc;

use super::lists::{item_at, list_of, selected_row};
use super::{notify, Out};
use crate::action::Pane;
use crate::api::library::TrackInfo;
use crate::app::effect::Effect;
use crate::app::state::{Item, Level, State};

/// The track `f` acts on: the selected row when it is a track, else the playing track.
fn target_track(state: &State) -> Option<TrackInfo> {
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
    if let Some(t) = state.tracks.get(&p.id) {
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
