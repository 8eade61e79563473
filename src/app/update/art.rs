//! Album covers in the state: which covers the screen wants (the playing track's album in the
//! now-playing bar, the open album pages), asking for each one once (`Effect::FetchArt`), the
//! answers, and forgetting covers no longer wanted (so at most a handful of decoded images are
//! held). A failed fetch stays `Missing` (a placeholder) until the cover leaves the screen.
//!
//! Part of the pure `update` (see `update.rs`): no I/O, no UI crates, no service handles.

use std::collections::BTreeSet;

use super::lyrics::playing_track;
use super::Out;
use crate::app::effect::Effect;
use crate::app::state::{CoverState, PageKind, State};

/// The key of the playing track's cover: its album's URI when known, else its own URI (the
/// fetch looks the album up).
pub(super) fn now_key(state: &State) -> Option<String> {
    let id = playing_track(state)?;
    let album = state
        .tracks
        .get(&id)
        .map(|t| t.album_uri.as_str())
        .filter(|u| !u.is_empty());
    Some(match album {
        Some(uri) => uri.to_string(),
        None => format!("spotify:track:{}", id.to_base62()),
    })
}

/// The album pages on top of the library and search panes.
fn page_keys(state: &State) -> impl Iterator<Item = String> + '_ {
    [state.library.pages.last(), state.search.pages.last()]
        .into_iter()
        .flatten()
        .filter(|p| p.kind == PageKind::Album && !p.uri.is_empty())
        .map(|p| p.uri.clone())
}

/// After every message: asks for covers newly wanted, drops the ones no longer wanted.
pub(super) fn follow(state: &mut State, out: &mut Out) {
    if !state.art.enabled {
        return;
    }
    let now = now_key(state);
    let wanted: BTreeSet<String> = now.iter().cloned().chain(page_keys(state)).collect();
    for key in &wanted {
        if !state.art.covers.contains_key(key) {
            state.art.covers.insert(key.clone(), CoverState::Loading);
            out.effect(Effect::FetchArt { key: key.clone() });
        }
    }
    let before = state.art.covers.len();
    state.art.covers.retain(|k, _| wanted.contains(k));
    if state.art.now != now || state.art.covers.len() != before {
        state.art.now = now;
        out.redraw = true;
    }
}

/// The answer to a cover fetch (dropped when the cover is no longer wanted).
pub(super) fn art_msg(
    state: &mut State,
    key: String,
    result: Result<crate::art::Cover, String>,
    out: &mut Out,
) {
    let Some(slot) = state.art.covers.get_mut(&key) else {
        return;
    };
    *slot = match result {
        Ok(cover) => CoverState::Ready(cover),
        Err(e) => {
            tracing::debug!(key = %key, error = %crate::logging::escaped(&e), "no cover");
            CoverState::Missing(e)
        }
    };
    out.redraw = true;
}
