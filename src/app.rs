//! The application: one owner of the UI [`State`](state::State), a pure
//! [`update`](update::update) that turns [`Msg`](msg::Msg)s into state changes and
//! [`Effect`](effect::Effect)s, and the event loop that feeds it (terminal events, service
//! events, watches, a clock tick armed only while something moves), runs the effects on the
//! service handles, and draws only when something changed.
//!
//! Submodules:
//! * `state`   — the state the UI shows.
//! * `msg`     — messages into `update`.
//! * `effect`  — effects out of `update`.
//! * `update`  — the pure state machine (no I/O, no `.await`).
//! * `input`   — key routing: text boxes vs. keymap resolution (shared by the loop and flow tests).
//! * `filter`  — the fuzzy `/` filter over list rows.
//! * `run`     — the event loop: start-up, select!, drain, update, draw.
//! * `terminal` — raw mode / alternate screen / mouse, restored on exit, error and panic.
//! * `exec`    — effect execution on the service handles (spawned tasks, answers as `Msg`s).
//! * `persist` — queue persistence and the device id in the state directory.
//! * `trust_store` — the trust prompt's remembered answers (`trusted-devices.json`, 0600).
//! * `zeroconf` — the TUI as a LAN Connect target (`--zeroconf`): receiver + handover task.
//!
//! Depends on services (player, api, auth, connect, session) only through their handles and
//! data types; the services never depend on this module.

/// The action vocabulary lives beside the keymap, below the app (`crate::action`); re-exported
/// here so `app::action` paths keep working.
pub use crate::action;
pub mod effect;
pub mod exec;
pub mod filter;
pub mod input;
pub mod msg;
pub mod persist;
pub mod run;
pub mod state;
pub mod terminal;
#[cfg(test)]
mod tests;
pub mod trust_store;
pub mod update;
pub mod zeroconf;
