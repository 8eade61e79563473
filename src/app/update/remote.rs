//! Remote Connect commands and the local control API's intents for this device: what they do
//! is decided by the core
//! ([`crate::control::ops_for_remote`], the same mapping the daemon uses); this module runs the
//! operations on the local player and writes the status-line note for the user.
//!
//! Part of the pure `update` (see `update.rs`): no I/O, no UI crates, no service handles.

use std::time::Instant;

use super::playback::player_ops;
use super::{notify, Out};
use crate::app::state::{Level, State};
use crate::connect::RemoteCommand;
use crate::control::{self, Now};

/// A remote controller's command for this device: the core's operations on the local player
/// (whatever device the UI shows as active), and a note in the status line.
pub(super) fn remote_command(state: &mut State, mut cmd: RemoteCommand, out: &mut Out) {
    resume_episode(state, &mut cmd);
    let at = Instant::now();
    let now = Now::of(state.player.as_ref(), at);
    player_ops(state, control::ops_for_remote(&cmd, &now), at, out);
    notify(state, Level::Info, describe(&cmd));
    out.redraw = true;
}

/// A load that starts an episode from the top starts it at its resume point (only episodes
/// have one): Spotify's apps send no start position for an episode, as the daemon knows too.
fn resume_episode(state: &State, cmd: &mut RemoteCommand) {
    if let RemoteCommand::Load {
        ids,
        index,
        position_ms: position_ms @ 0,
        ..
    } = cmd
    {
        if let Some(&at) = ids.get(*index).and_then(|id| state.resume_points.get(id)) {
            *position_ms = at;
        }
    }
}

/// Intents from the local control API: the core's operations on the local player, as for a
/// remote controller's commands (each read against the state as shown, so a burst acts on
/// what the previous one anticipated).
pub(super) fn control_intents(state: &mut State, intents: Vec<control::Intent>, out: &mut Out) {
    for intent in intents {
        super::playback::local(state, intent, out);
    }
    out.redraw = true;
}

/// The status-line text telling the user a remote controller did something here.
fn describe(cmd: &RemoteCommand) -> String {
    let what = match cmd {
        RemoteCommand::Load { ids, play, .. } => {
            let n = ids.len();
            let tracks = if n == 1 { "track" } else { "tracks" };
            if *play {
                format!("Playing {n} {tracks}")
            } else {
                format!("Loaded {n} {tracks}")
            }
        }
        RemoteCommand::Pause => "Paused".to_string(),
        RemoteCommand::Resume => "Resumed".to_string(),
        RemoteCommand::SeekTo(ms) => format!("Seeked to {}", clock(*ms)),
        RemoteCommand::SkipNext => "Skipped to the next track".to_string(),
        RemoteCommand::SkipPrev => "Back to the previous track".to_string(),
        RemoteCommand::SetShuffle(on) => format!("Shuffle {}", if *on { "on" } else { "off" }),
        RemoteCommand::SetRepeatContext(on) => {
            format!("Repeat {}", if *on { "on" } else { "off" })
        }
        RemoteCommand::SetRepeatTrack(on) => {
            format!("Repeat track {}", if *on { "on" } else { "off" })
        }
        RemoteCommand::AddToQueue(_) => "Added a track to the queue".to_string(),
        RemoteCommand::SetQueue(ids) => format!("Queue replaced ({} up next)", ids.len()),
        RemoteCommand::SetVolume(v) => format!("Volume {} %", (*v as u32 * 100 + 32767) / 65535),
        RemoteCommand::BecameInactive => {
            return "Playback moved to another device".to_string();
        }
    };
    format!("{what} from a remote")
}

/// `m:ss`.
fn clock(ms: u64) -> String {
    let s = ms / 1000;
    format!("{}:{:02}", s / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SpotifyId;

    #[test]
    fn every_command_is_described_as_from_a_remote() {
        let cmds = vec![
            RemoteCommand::Pause,
            RemoteCommand::Resume,
            RemoteCommand::SeekTo(42),
            RemoteCommand::SkipNext,
            RemoteCommand::SkipPrev,
            RemoteCommand::SetShuffle(true),
            RemoteCommand::SetRepeatContext(true),
            RemoteCommand::SetRepeatTrack(false),
            RemoteCommand::AddToQueue(SpotifyId(7)),
            RemoteCommand::SetQueue(vec![SpotifyId(7)]),
            RemoteCommand::SetVolume(1000),
        ];
        for cmd in cmds {
            assert!(describe(&cmd).ends_with("from a remote"), "{cmd:?}");
        }
        assert_eq!(
            describe(&RemoteCommand::BecameInactive),
            "Playback moved to another device"
        );
        let load = RemoteCommand::Load {
            context_uri: "spotify:album:x".into(),
            ids: vec![SpotifyId(1), SpotifyId(2)],
            index: 1,
            position_ms: 3000,
            play: true,
            shuffle: Some(true),
            repeat_context: Some(true),
            repeat_track: None,
        };
        assert_eq!(describe(&load), "Playing 2 tracks from a remote");
    }

    #[test]
    fn describe_formats() {
        assert_eq!(describe(&RemoteCommand::Pause), "Paused from a remote");
        assert_eq!(
            describe(&RemoteCommand::SeekTo(65_000)),
            "Seeked to 1:05 from a remote"
        );
        assert_eq!(
            describe(&RemoteCommand::SetVolume(65535)),
            "Volume 100 % from a remote"
        );
    }
}
