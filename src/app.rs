//! The application: one owner of the UI [`State`](state::State), a pure
//! [`update`](update::update) that turns [`Msg`](msg::Msg)s into state changes and
//! [`Effect`](effect::Effect)s, and the event loop that feeds it (terminal events, service
//! events, watches, a clock tick armed only while something moves), runs the effects on the
//! service handles, and draws only when something changed.
//!
//! Submodules:
//! * `action`  — the [`Action`](action::Action) vocabulary shared by keys, mouse and remote commands.
//! * `state`   — the state the UI shows.
//! * `msg`     — messages into `update`.
//! * `effect`  — effects out of `update`.
//! * `update`  — the pure state machine (no I/O, no `.await`).
//! * `input`   — key routing: text boxes vs. keymap resolution (shared by the loop and flow tests).
//! * `filter`  — the fuzzy `/` filter over list rows.
//! * `remote`  — remote Connect commands → actions.
//! * `run`     — the event loop, terminal set-up/restore, effect execution, queue persistence.
//!
//! Depends on services (player, api, auth, connect, session) only through their handles and
//! data types; the services never depend on this module.

pub mod action;
pub mod effect;
pub mod filter;
pub mod input;
pub mod msg;
pub mod remote;
pub mod run;
pub mod state;
#[cfg(test)]
mod tests;
pub mod update;
