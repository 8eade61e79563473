//! The pure state machine: `update(&mut State, Msg) -> Outcome`. No I/O, no `.await`; effects
//! are returned as data.

use crate::app::effect::Outcome;
use crate::app::msg::Msg;
use crate::app::state::State;

/// Applies one message.
pub fn update(state: &mut State, msg: Msg) -> Outcome {
    let _ = (state, msg);
    Outcome::default()
}
