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

/// Applies `cmd` to `player`.
pub fn apply(player: &Player, cmd: &RemoteCommand) {
    let current = || player.status().borrow().repeat;
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
                let was = current();
                player.set_repeat(repeat_mode(
                    repeat_context.unwrap_or(was == RepeatMode::All),
                    repeat_track.unwrap_or(was == RepeatMode::One),
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
        RemoteCommand::SetRepeatContext(on) => {
            // Repeat-track wins over repeat-context while it is on, as in Spotify.
            if current() != RepeatMode::One {
                player.set_repeat(repeat_mode(*on, false));
            } else if !*on {
                tracing::debug!("repeat context off while repeating the track: kept");
            }
        }
        RemoteCommand::SetRepeatTrack(on) => {
            if *on {
                player.set_repeat(RepeatMode::One);
            } else if current() == RepeatMode::One {
                player.set_repeat(RepeatMode::Off);
            }
        }
        RemoteCommand::AddToQueue(id) => player.play_next(vec![*id]),
        RemoteCommand::SetQueue(ids) => {
            player.clear_queue();
            player.enqueue(ids.clone());
        }
        RemoteCommand::SetVolume(v) => player.set_volume(*v),
    }
}
