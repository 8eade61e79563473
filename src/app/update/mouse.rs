//! Mouse events: clicks on tabs, the progress bar and list rows (through the hit map the
//! renderer reported), double clicks, and the wheel — mapped to the same actions as keys.
//!
//! Part of the pure `update` (see `update.rs`): no I/O, no UI crates, no service handles.

use super::navigation::scroll;
use super::playback::position_and_duration;
use super::{apply, Out, Target, WHEEL_ROWS};
use crate::action::Action;
use crate::app::msg::MouseKind;
use crate::app::state::{Screen, State};

pub(super) fn mouse(state: &mut State, kind: MouseKind, x: u16, y: u16, out: &mut Out) {
    if !matches!(state.screen, Screen::Main) {
        return;
    }
    if state.help.is_some() {
        // The overlay covers the panes: the wheel scrolls it, a click closes it.
        match kind {
            MouseKind::ScrollUp => scroll(state, state.focus, -WHEEL_ROWS, out),
            MouseKind::ScrollDown => scroll(state, state.focus, WHEEL_ROWS, out),
            MouseKind::Click | MouseKind::DoubleClick => {
                state.help = None;
                out.redraw = true;
            }
        }
        return;
    }
    if state.lyrics.is_some() && super::lyrics::lyrics_mouse(state, kind, x, y, out) {
        return;
    }
    let hit = &state.hitmap;
    let list = hit.lists.iter().find(|l| l.area.contains(x, y)).cloned();
    let pane_at = hit
        .panes
        .iter()
        .find(|(a, _)| a.contains(x, y))
        .map(|(_, p)| *p);
    match kind {
        MouseKind::ScrollUp | MouseKind::ScrollDown => {
            let delta = if kind == MouseKind::ScrollUp {
                -WHEEL_ROWS
            } else {
                WHEEL_ROWS
            };
            if let Some(pane) = list.as_ref().map(|l| l.pane).or(pane_at) {
                apply(state, Action::Scroll { pane, delta }, Target::Local, out);
            }
        }
        MouseKind::Click | MouseKind::DoubleClick => {
            if let Some((_, pane)) = hit.tabs.iter().find(|(a, _)| a.contains(x, y)) {
                let pane = *pane;
                apply(state, Action::Focus(pane), Target::Local, out);
                return;
            }
            if let Some(area) = hit.progress.filter(|a| a.contains(x, y) && a.width > 0) {
                let target = if state.remote.is_some() {
                    Target::Remote
                } else {
                    Target::Local
                };
                let (_, duration) = position_and_duration(state, target);
                if duration > 0 {
                    let frac = (x - area.x) as f64 / area.width as f64;
                    let pos = (frac * duration as f64) as u64;
                    apply(state, Action::SeekTo(pos), target, out);
                }
                return;
            }
            if let Some(l) = list {
                let line = (y - l.area.y) as usize;
                match l.rows.get(line).copied().flatten() {
                    Some(row) => {
                        let action = if kind == MouseKind::Click {
                            Action::SelectRow { pane: l.pane, row }
                        } else {
                            Action::ActivateRow { pane: l.pane, row }
                        };
                        apply(state, action, Target::Local, out);
                    }
                    None => {
                        if state.focus != l.pane {
                            state.focus = l.pane;
                            out.redraw = true;
                        }
                    }
                }
                return;
            }
            if let Some(pane) = pane_at {
                if state.focus != pane {
                    state.focus = pane;
                    out.redraw = true;
                }
            }
        }
    }
}
