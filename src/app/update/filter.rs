//! The fuzzy `/` filter over the focused list: opening it, typing, keeping the selection on
//! a match, and recomputing it when the list changes. The matching itself is `app::filter`.
//!
//! Part of the pure `update` (see `update.rs`): no I/O, no UI crates, no service handles.

use std::sync::Arc;

use super::lists::moved;
use super::lists::{cursor_mut, cursor_of, list_of, page_height, row_texts};
use super::{Out, DEFAULT_PAGE};
use crate::action::{Action, Pane};
use crate::app::filter::{filter as fuzzy, Matcher};
use crate::app::msg::TextInput;
use crate::app::state::{FilterState, ListCursor, State};

pub(super) fn open_filter(state: &mut State, out: &mut Out) {
    if state.help.is_some() {
        return;
    }
    let pane = state.focus;
    if let Some(f) = state.filter.as_mut().filter(|f| f.pane == pane) {
        if !f.editing {
            f.editing = true;
            out.redraw = true;
        }
        return;
    }
    // A filter on another pane's list is dropped: one filter at a time.
    state.filter = None;
    let list = list_of(state, pane);
    let haystack = Arc::new(row_texts(state, list));
    let matches = fuzzy(&haystack, "");
    let selected = cursor_of(state, list)
        .selected
        .min(matches.len().saturating_sub(1));
    state.filter = Some(FilterState {
        pane,
        query: String::new(),
        matches,
        cursor: ListCursor {
            selected,
            offset: 0,
        },
        editing: true,
        haystack,
    });
    out.redraw = true;
}

pub(super) fn filter_text(state: &mut State, t: TextInput, out: &mut Out) {
    let Some(f) = state.filter.as_mut() else {
        return;
    };
    let previous = f.query.clone();
    match t {
        TextInput::Char(c) => f.query.push(c),
        TextInput::Backspace => {
            if f.query.pop().is_none() {
                return;
            }
        }
        TextInput::Clear => {
            if f.query.is_empty() {
                return;
            }
            f.query.clear();
        }
        TextInput::Up | TextInput::Down => {
            let action = if t == TextInput::Up {
                Action::Up
            } else {
                Action::Down
            };
            let new = moved(f.cursor.selected, f.matches.len(), &action, 1);
            if new != f.cursor.selected {
                f.cursor.selected = new;
                out.redraw = true;
                sync_filter_selection(state);
            }
            return;
        }
        TextInput::Enter | TextInput::Tab => {
            f.editing = false;
            out.redraw = true;
            sync_filter_selection(state);
            return;
        }
        TextInput::Esc => {
            let pane = f.pane;
            close_filter(state, pane);
            out.redraw = true;
            return;
        }
        TextInput::Delete
        | TextInput::Left
        | TextInput::Right
        | TextInput::Home
        | TextInput::End => {
            return;
        }
    }
    f.matches = Matcher::new().refine(&f.haystack, &previous, &f.matches, &f.query);
    f.cursor = ListCursor::default();
    out.redraw = true;
    sync_filter_selection(state);
}

/// Point the underlying list's cursor at the filter's selected row, so the selection stays put
/// when the filter closes.
pub(super) fn sync_filter_selection(state: &mut State) {
    fill_filter_window(state);
    let Some(f) = &state.filter else {
        return;
    };
    let Some(row) = f.matches.get(f.cursor.selected).map(|m| m.0) else {
        return;
    };
    let list = list_of(state, f.pane);
    if let Some(c) = cursor_mut(state, list) {
        c.selected = row;
    }
}

/// Highlight positions for the matches around the filter's selection (the top matches come
/// with them; rows further down get theirs as the selection reaches them).
pub(super) fn fill_filter_window(state: &mut State) {
    let Some(pane) = state.filter.as_ref().map(|f| f.pane) else {
        return;
    };
    let reach = 2 * page_height(state, pane).max(DEFAULT_PAGE * 3);
    if let Some(f) = state.filter.as_mut() {
        let sel = f.cursor.selected;
        let haystack = Arc::clone(&f.haystack);
        Matcher::new().fill_positions(
            &haystack,
            &f.query,
            &mut f.matches,
            sel.saturating_sub(reach)..sel + reach + 1,
        );
    }
}

/// Close the filter if it is open on `pane` (the underlying selection stays on the row that was
/// selected in the filtered view).
pub(super) fn close_filter(state: &mut State, pane: Pane) {
    if state.filter.as_ref().is_some_and(|f| f.pane == pane) {
        sync_filter_selection(state);
        state.filter = None;
    }
}

/// The list under a filter changed (new library, queue, page answer...): rebuild the row texts
/// and match again, keeping the selected row when it still matches.
pub(super) fn refresh_filter(state: &mut State, pane: Pane) {
    let Some(f) = state.filter.as_ref().filter(|f| f.pane == pane) else {
        return;
    };
    let selected_row = f.matches.get(f.cursor.selected).map(|m| m.0);
    let query = f.query.clone();
    let list = list_of(state, pane);
    let haystack = Arc::new(row_texts(state, list));
    let matches = Matcher::new().filter(&haystack, &query);
    let pos = selected_row
        .and_then(|r| matches.iter().position(|m| m.0 == r))
        .unwrap_or(0);
    if let Some(f) = state.filter.as_mut() {
        f.haystack = haystack;
        f.matches = matches;
        f.cursor = ListCursor {
            selected: pos,
            offset: f.cursor.offset.min(pos),
        };
    }
    fill_filter_window(state);
}
