//! The queue: queueing the selection (z / Z: Spotify's queue order or play next, on this
//! device or the active remote one), removing and moving entries, and the player's queue
//! snapshots (asking for the names of unknown tracks in view).
//!
//! Part of the pure `update` (see `update.rs`): no I/O, no UI crates, no service handles.

use super::filter::refresh_filter;
use super::lists::known_tracks;
use super::lists::{clamp, item_at, list_of, selected_row};
use super::playback::local;
use super::{new_id, notify, playable_id, remember, Out, Target};
use crate::action::Pane;
use crate::api::library::TrackInfo;
use crate::app::effect::Effect;
use crate::app::state::{Item, Level, PageKind, QueueMode, State};
use crate::connect::RemoteControl;
use crate::control::Intent;
use crate::id::SpotifyId;

/// z / Z: the selected track, or every track of the selected container, to the queue. A
/// container whose tracks aren't known yet is loaded first (the answer queues them).
pub(super) fn queue_selection(state: &mut State, mode: QueueMode, target: Target, out: &mut Out) {
    if state.help.is_some() {
        return;
    }
    let pane = state.focus;
    if !matches!(pane, Pane::Library | Pane::Search) {
        return;
    }
    let Some(row) = selected_row(state, pane) else {
        return;
    };
    let list = list_of(state, pane);
    let Some(item) = item_at(state, list, row) else {
        return;
    };
    let (kind, uri) = match item {
        Item::Track(t) | Item::Episode(t) => {
            queue_tracks(state, vec![t], mode, target, out);
            return;
        }
        Item::Playlist { uri, .. } => (PageKind::Playlist, uri),
        Item::Album { uri, .. } => (PageKind::Album, uri),
        Item::Artist { uri, .. } => (PageKind::Artist, uri),
        Item::Show { uri, .. } => (PageKind::Show, uri),
    };
    if let Some(tracks) = known_tracks(state, &uri) {
        queue_tracks(state, tracks, mode, target, out);
        return;
    }
    let id = new_id(state);
    state.memo.queue_pages.insert(id, mode);
    out.effect(Effect::LoadPage { id, kind, uri });
    notify(
        state,
        Level::Info,
        "Loading tracks for the queue…".to_string(),
    );
    out.redraw = true;
}

pub(super) fn queue_tracks(
    state: &mut State,
    tracks: Vec<TrackInfo>,
    mode: QueueMode,
    target: Target,
    out: &mut Out,
) {
    let mut ids = Vec::with_capacity(tracks.len());
    for t in &tracks {
        if let Some(id) = playable_id(&t.uri) {
            ids.push(id);
            remember(state, t);
        }
    }
    if ids.is_empty() {
        notify(state, Level::Warn, "Nothing playable to queue".to_string());
        out.redraw = true;
        return;
    }
    let what = if tracks.len() == 1 {
        format!("“{}”", tracks[0].name)
    } else {
        format!("{} tracks", ids.len())
    };
    match (target, state.remote.as_ref()) {
        (Target::Remote, Some(r)) => {
            // A remote device only offers "add to queue"; play-next is appended there too.
            let device_id = r.device_id.clone();
            for t in &tracks {
                if playable_id(&t.uri).is_some() {
                    out.effect(Effect::Remote {
                        device_id: device_id.clone(),
                        control: RemoteControl::AddToQueue(t.uri.clone()),
                    });
                }
            }
            notify(state, Level::Info, format!("Added {what} to the queue"));
        }
        _ => match mode {
            QueueMode::AddToQueue => {
                local(state, Intent::AddToQueue(ids), out);
                notify(state, Level::Info, format!("Added {what} to the queue"));
            }
            QueueMode::PlayNext => {
                local(state, Intent::PlayNext(ids), out);
                notify(state, Level::Info, format!("{what} will play next"));
            }
        },
    }
    out.redraw = true;
}

pub(super) fn remove_from_queue(state: &mut State, out: &mut Out) {
    if state.focus != Pane::Queue || state.help.is_some() {
        return;
    }
    let Some(row) = selected_row(state, Pane::Queue) else {
        return;
    };
    if state.queue.snapshot.current == Some(row) {
        notify(
            state,
            Level::Warn,
            "The track that is playing can't be removed".to_string(),
        );
        out.redraw = true;
        return;
    }
    local(state, Intent::Remove(row), out);
}

/// J/K: move the selected queue entry; the selection follows it. The snapshot is updated at
/// once (the player's next snapshot confirms it) so quick repeats act on what is shown.
pub(super) fn move_in_queue(state: &mut State, delta: i64, out: &mut Out) {
    if state.focus != Pane::Queue || state.help.is_some() {
        return;
    }
    if state.filter.as_ref().is_some_and(|f| f.pane == Pane::Queue) {
        notify(
            state,
            Level::Info,
            "Close the filter to reorder the queue".to_string(),
        );
        out.redraw = true;
        return;
    }
    let len = state.queue.snapshot.items.len();
    let from = state.queue.cursor.selected;
    let to = from as i64 + delta;
    if from >= len || to < 0 || to as usize >= len {
        return;
    }
    let to = to as usize;
    let snap = &mut state.queue.snapshot;
    snap.items.swap(from, to);
    snap.current = snap.current.map(|c| {
        if c == from {
            to
        } else if c == to {
            from
        } else {
            c
        }
    });
    state.queue.cursor.selected = to;
    local(state, Intent::Move { from, to }, out);
    out.redraw = true;
}

pub(super) fn queue_msg(state: &mut State, snapshot: crate::player::QueueSnapshot, out: &mut Out) {
    if state.queue.snapshot == snapshot {
        return;
    }
    state.queue.snapshot = snapshot;
    clamp(&mut state.queue.cursor, state.queue.snapshot.items.len());
    ask_queue_names(state, out);
    refresh_filter(state, Pane::Queue);
    out.redraw = true;
}

/// The fewest rows either side of the queue's selection (and of the playing item) whose names
/// are asked for; a taller terminal asks for its height. The pane never shows more rows than
/// the terminal has, wherever the list is scrolled to keep the selection in view.
pub(crate) const QUEUE_NAME_REACH: usize = 50;

/// Asks for the names (`Effect::FetchTracks`, once per id) of the queue rows the screen can show:
/// those around the selection and around the playing item, or every row while a filter on the
/// queue needs them to match. Called when the queue, the library, the selection or the
/// terminal's size changes.
///
/// Not every row: a restored 10k-track queue would fetch 10k tracks' metadata and keep 10k names
/// (about 1 KB each, still resident after the queue is replaced). And not before the cached
/// library has been read: it names most queues (`State::track`), and a restored queue arrives
/// before it. Without a cached copy (`Msg::NoCachedLibrary`) the refresh is not waited for.
pub(super) fn ask_queue_names(state: &mut State, out: &mut Out) {
    if state.library.loading && state.library.data.is_none() && !state.library.no_cache {
        return; // `library_msg` asks again
    }
    let items = &state.queue.snapshot.items;
    let filtering = state.filter.as_ref().is_some_and(|f| f.pane == Pane::Queue);
    let reach = usize::from(state.size.1).max(QUEUE_NAME_REACH);
    let around = |centre: usize| {
        centre.saturating_sub(reach)..centre.saturating_add(reach + 1).min(items.len())
    };
    let (first, second) = if filtering {
        (0..items.len(), None)
    } else {
        (
            around(state.queue.cursor.selected),
            state.queue.snapshot.current.map(around),
        )
    };
    let missing: Vec<SpotifyId> = std::iter::once(first)
        .chain(second)
        .flat_map(|r| items.get(r).unwrap_or_default())
        .filter(|id| state.track(id).is_none() && !state.memo.asked.contains(id))
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !missing.is_empty() {
        state.memo.asked.extend(missing.iter().copied());
        out.effect(Effect::FetchTracks(missing));
    }
}
