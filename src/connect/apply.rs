//! Applies a [`RemoteCommand`] to the local [`Player`]: what the headless daemon (and tests)
//! do with each command a phone sends. The TUI maps the same commands to its Actions, which end
//! in the same player calls.
//!
//! Called by `daemon.rs` and tests. Depends only on the player handle; never on UI code.

use super::RemoteCommand;
use crate::player::{Player, RepeatMode};

fn repeat_mode(context: bool, track: bool) -> RepeatMode {
    if track {
        RepeatMode::One
    } else if context {
        RepeatMode::All
    } else {
        RepeatMode::Off
    }
}

/// Applies `cmd` to `player`. Repeat commands set the mode outright (the player's status may
/// not show the previous command yet, so nothing here reads it): repeat-context on → all, off
/// → off; repeat-track on → one, off → off. The Connect service orders `set_options` so the
/// combination comes out right.
pub fn apply(player: &Player, cmd: &RemoteCommand) {
    match cmd {
        RemoteCommand::Load {
            ids,
            index,
            position_ms,
            play,
            shuffle,
            repeat_context,
            repeat_track,
            ..
        } => {
            player.load(ids.clone(), *index, *position_ms, *play);
            if repeat_context.is_some() || repeat_track.is_some() {
                player.set_repeat(repeat_mode(
                    repeat_context.unwrap_or(false),
                    repeat_track.unwrap_or(false),
                ));
            }
            if let Some(on) = shuffle {
                player.set_shuffle(*on);
            }
        }
        RemoteCommand::Pause | RemoteCommand::BecameInactive => player.pause(),
        RemoteCommand::Resume => player.play(),
        RemoteCommand::SeekTo(ms) => player.seek(*ms),
        RemoteCommand::SkipNext => player.next(),
        RemoteCommand::SkipPrev => player.previous(),
        RemoteCommand::SetShuffle(on) => player.set_shuffle(*on),
        RemoteCommand::SetRepeatContext(on) => player.set_repeat(repeat_mode(*on, false)),
        RemoteCommand::SetRepeatTrack(on) => player.set_repeat(repeat_mode(false, *on)),
        RemoteCommand::AddToQueue(id) => player.add_to_queue(vec![*id]),
        RemoteCommand::SetQueue(ids) => {
            player.clear_queue();
            player.enqueue(ids.clone());
        }
        RemoteCommand::SetVolume(v) => player.set_volume(*v),
    }
}
