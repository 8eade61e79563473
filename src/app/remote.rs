//! Remote Connect commands → the same actions keys produce, so "pause from the phone" and
//! "pause from the keyboard" take one path through `update`.
//!
//! Pure mapping, called by `update` on `Msg::RemoteCommand`; depends only on the action and
//! connect data types (no state, no I/O, no UI crates).

use crate::app::action::Action;
use crate::connect::RemoteCommand;
use crate::player::RepeatMode;

/// The main action a remote command stands for. A `Load` also carries shuffle/repeat settings:
/// [`actions_for`] returns every part.
pub fn action_for(cmd: &RemoteCommand) -> Option<Action> {
    actions_for(cmd).into_iter().next()
}

/// Every action a remote command stands for, in the order to apply them (a `Load` with shuffle
/// and repeat settings: the load, then shuffle, then repeat).
///
/// Repeat flags are mapped without knowing the current mode (`SetRepeatTrack(false)` → `Off`);
/// `update` refines that against the player's mode (see `update::remote_repeat`).
pub fn actions_for(cmd: &RemoteCommand) -> Vec<Action> {
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
            let mut out = vec![Action::LoadQueue {
                ids: ids.clone(),
                index: *index,
                position_ms: *position_ms,
                play: *play,
            }];
            if let Some(s) = shuffle {
                out.push(Action::SetShuffle(*s));
            }
            if repeat_context.is_some() || repeat_track.is_some() {
                out.push(Action::SetRepeat(repeat_mode(
                    repeat_context.unwrap_or(false),
                    repeat_track.unwrap_or(false),
                )));
            }
            out
        }
        RemoteCommand::Pause | RemoteCommand::BecameInactive => vec![Action::Pause],
        RemoteCommand::Resume => vec![Action::Play],
        RemoteCommand::SeekTo(ms) => vec![Action::SeekTo(*ms)],
        RemoteCommand::SkipNext => vec![Action::Next],
        RemoteCommand::SkipPrev => vec![Action::Previous],
        RemoteCommand::SetShuffle(on) => vec![Action::SetShuffle(*on)],
        RemoteCommand::SetRepeatContext(on) => {
            vec![Action::SetRepeat(repeat_mode(*on, false))]
        }
        RemoteCommand::SetRepeatTrack(on) => vec![Action::SetRepeat(repeat_mode(false, *on))],
        RemoteCommand::AddToQueue(id) => vec![Action::Enqueue(vec![*id])],
        RemoteCommand::SetQueue(ids) => vec![Action::SetUpNext(ids.clone())],
        RemoteCommand::SetVolume(v) => vec![Action::SetVolume(*v)],
    }
}

/// Spotify's two repeat flags as one mode: repeating the track wins over the context.
pub fn repeat_mode(context: bool, track: bool) -> RepeatMode {
    if track {
        RepeatMode::One
    } else if context {
        RepeatMode::All
    } else {
        RepeatMode::Off
    }
}

/// The status-line text telling the user a remote controller did something here.
pub fn describe(cmd: &RemoteCommand) -> String {
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
    fn every_command_has_an_action() {
        let id = SpotifyId(7);
        let cases = vec![
            (RemoteCommand::Pause, Action::Pause),
            (RemoteCommand::BecameInactive, Action::Pause),
            (RemoteCommand::Resume, Action::Play),
            (RemoteCommand::SeekTo(42), Action::SeekTo(42)),
            (RemoteCommand::SkipNext, Action::Next),
            (RemoteCommand::SkipPrev, Action::Previous),
            (RemoteCommand::SetShuffle(true), Action::SetShuffle(true)),
            (
                RemoteCommand::SetRepeatContext(true),
                Action::SetRepeat(RepeatMode::All),
            ),
            (
                RemoteCommand::SetRepeatTrack(true),
                Action::SetRepeat(RepeatMode::One),
            ),
            (
                RemoteCommand::SetRepeatContext(false),
                Action::SetRepeat(RepeatMode::Off),
            ),
            (RemoteCommand::AddToQueue(id), Action::Enqueue(vec![id])),
            (
                RemoteCommand::SetQueue(vec![id]),
                Action::SetUpNext(vec![id]),
            ),
            (RemoteCommand::SetVolume(1000), Action::SetVolume(1000)),
        ];
        for (cmd, action) in cases {
            assert_eq!(action_for(&cmd), Some(action.clone()), "{cmd:?}");
            assert_eq!(actions_for(&cmd), vec![action], "{cmd:?}");
            assert!(describe(&cmd).contains("remote") || cmd == RemoteCommand::BecameInactive);
        }
    }

    #[test]
    fn load_carries_shuffle_and_repeat() {
        let ids = vec![SpotifyId(1), SpotifyId(2)];
        let cmd = RemoteCommand::Load {
            context_uri: "spotify:album:x".into(),
            ids: ids.clone(),
            index: 1,
            position_ms: 3000,
            play: true,
            shuffle: Some(true),
            repeat_context: Some(true),
            repeat_track: None,
        };
        let load = Action::LoadQueue {
            ids,
            index: 1,
            position_ms: 3000,
            play: true,
        };
        assert_eq!(action_for(&cmd), Some(load.clone()));
        assert_eq!(
            actions_for(&cmd),
            vec![
                load,
                Action::SetShuffle(true),
                Action::SetRepeat(RepeatMode::All)
            ]
        );
        assert_eq!(describe(&cmd), "Playing 2 tracks from a remote");
    }

    #[test]
    fn load_without_settings_is_just_the_load() {
        let cmd = RemoteCommand::Load {
            context_uri: String::new(),
            ids: vec![SpotifyId(1)],
            index: 0,
            position_ms: 0,
            play: false,
            shuffle: None,
            repeat_context: None,
            repeat_track: None,
        };
        assert_eq!(actions_for(&cmd).len(), 1);
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
