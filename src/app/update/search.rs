//! The search pane: typing in its box (debounced), sending the search, and its results.
//!
//! Part of the pure `update` (see `update.rs`): no I/O, no UI crates, no service handles.

use super::filter::close_filter;
use super::lists::moved;
use super::{apply, new_id, notify, Out, Target, SEARCH_DEBOUNCE_MS};
use crate::action::{Action, Pane};
use crate::app::effect::Effect;
use crate::app::msg::TextInput;
use crate::app::state::{Item, Level, ListCursor, State};

pub(super) fn search_due(state: &mut State, id: u64, out: &mut Out) {
    if id != state.search.latest || id == state.memo.search_sent {
        return;
    }
    let query = state.search.input.trim().to_string();
    if query.is_empty() {
        if !state.search.results.is_empty() || !state.search.shown_query.is_empty() {
            close_filter(state, Pane::Search);
            state.search.results.clear();
            state.search.shown_query.clear();
            state.search.cursor = ListCursor::default();
            state.search.error = None;
            out.redraw = true;
        }
        return;
    }
    send_search(state, id, query, out);
}

pub(super) fn send_search(state: &mut State, id: u64, query: String, out: &mut Out) {
    state.memo.search_sent = id;
    state.search.loading = true;
    state.search.error = None;
    out.effect(Effect::Search { id, query });
    out.redraw = true;
}

pub(super) fn search_results(
    state: &mut State,
    id: u64,
    query: String,
    result: Result<Vec<Item>, String>,
    out: &mut Out,
) {
    if id != state.search.latest {
        return;
    }
    state.search.loading = false;
    match result {
        Ok(items) => {
            close_filter(state, Pane::Search);
            state.search.results = items;
            state.search.shown_query = query;
            state.search.cursor = ListCursor::default();
            state.search.error = None;
            state.search.pages.clear();
        }
        Err(e) => {
            notify(state, Level::Error, format!("Search failed: {e}"));
            state.search.error = Some(e);
        }
    }
    out.redraw = true;
}

pub(super) fn byte_at(s: &str, char_idx: usize) -> usize {
    s.char_indices()
        .nth(char_idx)
        .map(|(b, _)| b)
        .unwrap_or(s.len())
}

pub(super) fn search_text(state: &mut State, t: TextInput, out: &mut Out) {
    let s = &mut state.search;
    let len = s.input.chars().count();
    s.input_cursor = s.input_cursor.min(len);
    let mut changed = false;
    match t {
        TextInput::Char(c) => {
            let at = byte_at(&s.input, s.input_cursor);
            s.input.insert(at, c);
            s.input_cursor += 1;
            changed = true;
        }
        TextInput::Backspace => {
            if s.input_cursor > 0 {
                let at = byte_at(&s.input, s.input_cursor - 1);
                s.input.remove(at);
                s.input_cursor -= 1;
                changed = true;
            }
        }
        TextInput::Delete => {
            if s.input_cursor < len {
                let at = byte_at(&s.input, s.input_cursor);
                s.input.remove(at);
                changed = true;
            }
        }
        TextInput::Clear => {
            if !s.input.is_empty() {
                s.input.clear();
                s.input_cursor = 0;
                changed = true;
            }
        }
        TextInput::Left | TextInput::Right | TextInput::Home | TextInput::End => {
            let new = match t {
                TextInput::Left => s.input_cursor.saturating_sub(1),
                TextInput::Right => (s.input_cursor + 1).min(len),
                TextInput::Home => 0,
                _ => len,
            };
            if new != s.input_cursor {
                s.input_cursor = new;
                out.redraw = true;
            }
        }
        TextInput::Up | TextInput::Down => {
            let action = if t == TextInput::Up {
                Action::Up
            } else {
                Action::Down
            };
            let new = moved(s.cursor.selected, s.results.len(), &action, 1);
            if new != s.cursor.selected {
                s.cursor.selected = new;
                out.redraw = true;
            }
        }
        TextInput::Enter => {
            s.editing = false;
            out.redraw = true;
            let query = s.input.trim().to_string();
            let stale = query != s.shown_query || s.error.is_some();
            if !query.is_empty() && stale && !(s.loading && state.memo.search_sent == s.latest) {
                // Search now instead of waiting for the debounce (its timer then does nothing).
                if s.latest == 0 || state.memo.search_sent == s.latest {
                    let id = new_id(state);
                    state.search.latest = id;
                }
                let id = state.search.latest;
                send_search(state, id, query, out);
            }
        }
        TextInput::Esc => {
            s.editing = false;
            out.redraw = true;
        }
        TextInput::Tab => {
            s.editing = false;
            out.redraw = true;
            apply(state, Action::FocusNext, Target::Local, out);
        }
    }
    if changed {
        let id = new_id(state);
        state.search.latest = id;
        out.effect(Effect::Debounce {
            id,
            delay_ms: SEARCH_DEBOUNCE_MS,
        });
        out.redraw = true;
    }
}
