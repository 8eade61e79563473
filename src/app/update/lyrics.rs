//! The lyrics overlay: opening and closing it (`y`), fetching the playing track's lyrics when
//! it opens and again when the track changes while it is open, the fetch's answer, and its keys
//! (up/down/page/top/bottom choose a line, `enter` seeks there through the core's Seek intent
//! and the view follows the sung line again, esc/`q`/`y` close; every other key falls through),
//! and the mouse over it (a click on a line seeks there, the wheel moves the choice).
//!
//! Part of the pure `update` (see `update.rs`): no I/O, no UI crates, no service handles.

use super::playback::position_and_duration;
use super::{new_id, playable_id, Out, Target, DEFAULT_PAGE};
use crate::action::Action;
use crate::api::lyrics::{current_line, Lyrics};
use crate::app::effect::Effect;
use crate::app::msg::MouseKind;
use crate::app::state::{LyricsView, State};
use crate::id::SpotifyId;

/// The track being heard: the active remote device's, else the local player's.
pub(super) fn playing_track(state: &State) -> Option<SpotifyId> {
    match &state.remote {
        Some(r) => playable_id(&r.track_uri),
        None => state.player.as_ref()?.track.as_ref().map(|t| t.id),
    }
}

fn target(state: &State) -> Target {
    if state.remote.is_some() {
        Target::Remote
    } else {
        Target::Local
    }
}

/// Opens the overlay (fetching the playing track's lyrics) or closes it.
pub(super) fn toggle(state: &mut State, out: &mut Out) {
    out.redraw = true;
    if state.lyrics.take().is_some() {
        return;
    }
    state.lyrics = Some(LyricsView::default());
    fetch_for(state, playing_track(state), out);
}

/// Points the open view at `track` and asks for its lyrics.
fn fetch_for(state: &mut State, track: Option<SpotifyId>, out: &mut Out) {
    let id = track.map(|_| new_id(state));
    let Some(view) = &mut state.lyrics else {
        return;
    };
    *view = LyricsView {
        track,
        ..LyricsView::default()
    };
    if let (Some(track), Some(id)) = (track, id) {
        view.request = id;
        view.loading = true;
        out.effect(Effect::FetchLyrics { id, track });
    }
    out.redraw = true;
}

/// After any message: when the open view shows another track than the one playing, fetch the
/// new one's lyrics.
pub(super) fn follow_track(state: &mut State, out: &mut Out) {
    let Some(view) = &state.lyrics else {
        return;
    };
    let playing = playing_track(state);
    if view.track != playing {
        fetch_for(state, playing, out);
    }
}

/// The answer to a fetch; answers to older fetches are dropped.
pub(super) fn lyrics_msg(
    state: &mut State,
    id: u64,
    result: Result<Lyrics, String>,
    out: &mut Out,
) {
    let Some(view) = &mut state.lyrics else {
        return;
    };
    if view.request != id || id == 0 {
        return;
    }
    view.loading = false;
    match result {
        Ok(lyrics) => view.lyrics = Some(lyrics),
        Err(e) => view.error = Some(e),
    }
    out.redraw = true;
}

/// The line being sung now, if the lyrics are synced.
fn sung_line(state: &State) -> Option<usize> {
    let Some(Lyrics::Text { synced, lines }) = state.lyrics.as_ref()?.lyrics.as_ref() else {
        return None;
    };
    let (pos, _) = position_and_duration(state, target(state));
    current_line(lines, *synced, pos)
}

/// A key while the overlay is open: `None` when it was handled here, else the action to carry
/// out as usual (playback keys, help, quit …).
pub(super) fn lyrics_action(state: &mut State, action: Action, out: &mut Out) -> Option<Action> {
    let Some(view) = &state.lyrics else {
        return Some(action);
    };
    let lines = match &view.lyrics {
        Some(Lyrics::Text { lines, .. }) => lines.clone(),
        _ => Vec::new(),
    };
    match action {
        Action::Back | Action::Close | Action::ToggleLyrics => {
            state.lyrics = None;
            out.redraw = true;
            None
        }
        Action::Up
        | Action::Down
        | Action::PageUp
        | Action::PageDown
        | Action::Top
        | Action::Bottom => {
            if lines.is_empty() {
                return None;
            }
            let from = view.selected.or_else(|| sung_line(state)).unwrap_or(0);
            let last = lines.len() - 1;
            let to = match action {
                Action::Up => from.saturating_sub(1),
                Action::Down => (from + 1).min(last),
                Action::PageUp => from.saturating_sub(DEFAULT_PAGE),
                Action::PageDown => (from + DEFAULT_PAGE).min(last),
                Action::Top => 0,
                _ => last,
            };
            if let Some(view) = &mut state.lyrics {
                view.selected = Some(to);
            }
            out.redraw = true;
            None
        }
        Action::Select => {
            let chosen = view.selected.or_else(|| sung_line(state));
            if let Some(view) = &mut state.lyrics {
                view.selected = None;
            }
            out.redraw = true;
            // Seeking goes through the usual playback path (the core's Seek intent, or the
            // remote device), so it is the same as a click on the progress bar.
            chosen
                .and_then(|i| lines.get(i))
                .map(|l| Action::SeekTo(l.start_ms))
        }
        // Lists under the overlay are not reachable while it is open.
        Action::SelectRow { .. } | Action::ActivateRow { .. } | Action::Scroll { .. } => None,
        other => Some(other),
    }
}

/// The mouse while the overlay is open: a click on a line seeks there, the wheel moves the
/// chosen line. `false` when the event is not the overlay's (e.g. the progress bar).
pub(super) fn lyrics_mouse(
    state: &mut State,
    kind: MouseKind,
    x: u16,
    y: u16,
    out: &mut Out,
) -> bool {
    let action = match kind {
        MouseKind::ScrollUp => Action::Up,
        MouseKind::ScrollDown => Action::Down,
        MouseKind::Click | MouseKind::DoubleClick => {
            let line = state
                .hitmap
                .lyrics
                .iter()
                .find(|(a, _)| a.contains(x, y))
                .map(|(_, i)| *i);
            let Some(line) = line else {
                return false;
            };
            if let Some(view) = &mut state.lyrics {
                view.selected = Some(line);
            }
            Action::Select
        }
    };
    if let Some(seek) = lyrics_action(state, action, out) {
        let target = target(state);
        super::apply(state, seek, target, out);
    }
    true
}
