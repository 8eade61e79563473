//! The one core: every front end's intent becomes player operations here, with one set of
//! semantics.
//!
//! **The one-core rule.** Keys, mouse clicks, Spotify Connect commands from a phone, the local
//! control API (`tonearm ctl`, [`crate::local_api`]) — and later MPRIS and guest remotes — are
//! front ends. Each turns its input into
//! an [`Intent`]; [`ops`] turns an intent into the [`PlayerOp`]s that carry it out, reading what
//! it needs of the player's current state from a [`Now`]. No front end keeps its own mapping to
//! the player: the TUI (`app::update`) and the headless daemon (`daemon.rs`, through
//! [`apply_remote`]) both call this module, so "add to queue from the phone" lands in the same
//! place whichever program runs. Semantics decided here, once:
//! * queue additions follow Spotify's queue order ([`PlayerOp::AddToQueue`]: after the current
//!   item and after earlier additions, before the rest);
//! * Connect's `set_queue` ([`Intent::SetUpNext`]) drops what is after the current item, then
//!   adds the new ids with `AddToQueue` — so a later `add_to_queue` goes after them;
//! * Connect's two repeat flags are refined against the current mode (turning the context flag
//!   on or off doesn't end "repeat one"; turning the track flag off falls back to the context);
//! * seeks, load positions and volume steps are clamped here (to the track — or a day when its
//!   length is unknown — and to `0..=65535`), whatever a remote peer sends.
//!
//! A new front end adds a mapping from its input to `Intent`s (as [`intents_for_remote`] does
//! for Connect) and nothing else. Playing on *another* device (the TUI as a Connect
//! controller) is not this module's business: those commands go to that device.
//!
//! Pure functions over data, plus [`apply_remote`] and [`apply_intents`] (the daemon's calls on
//! a [`Player`] for Connect commands and the control API's intents).
//! Depends on the player's and Connect's data types only; never on `app`, ratatui or crossterm.

use std::time::Instant;

use crate::connect::RemoteCommand;
use crate::id::SpotifyId;
use crate::player::{PlayState, Player, PlayerOp, PlayerStatus, RepeatMode};

/// Something a user wants done to playback or the queue, from whichever front end.
#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    /// Replace the queue with `ids`, start at `index`, `position_ms` in; paused unless `play`.
    Load {
        ids: Vec<SpotifyId>,
        index: usize,
        position_ms: u64,
        play: bool,
    },
    Play,
    Pause,
    Toggle,
    Next,
    Previous,
    /// Absolute position, clamped to the track's length when known.
    SeekTo(u64),
    /// Relative to the position now (negative: back), clamped to the track.
    SeekBy(i64),
    /// Absolute volume `0..=65535`.
    SetVolume(u16),
    /// Relative to the volume now, clamped to `0..=65535`.
    VolumeBy(i32),
    SetShuffle(bool),
    ToggleShuffle,
    SetRepeat(RepeatMode),
    /// Off → all → one → off.
    CycleRepeat,
    /// Spotify's "repeat context" flag on its own (Connect), refined against the current mode.
    SetRepeatContext(bool),
    /// Spotify's "repeat track" flag on its own (Connect), refined against the current mode.
    SetRepeatTrack(bool),
    /// Spotify's queue order: after the current item and earlier additions.
    AddToQueue(Vec<SpotifyId>),
    /// Right after the current item.
    PlayNext(Vec<SpotifyId>),
    /// Replace what plays after the current item (Connect's `set_queue`).
    SetUpNext(Vec<SpotifyId>),
    Remove(usize),
    Move {
        from: usize,
        to: usize,
    },
    ClearQueue,
}

/// What the core reads of the player's state to interpret an intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// The position at the moment of the intent (extrapolated while playing).
    pub position_ms: u64,
    /// The track's length (`0`: unknown, nothing is clamped).
    pub duration_ms: u64,
    pub volume: u16,
    pub shuffle: bool,
    pub repeat: RepeatMode,
}

impl Default for Now {
    /// Nothing known yet: volume in the middle, repeat and shuffle off.
    fn default() -> Self {
        Now {
            position_ms: 0,
            duration_ms: 0,
            volume: u16::MAX / 2,
            shuffle: false,
            repeat: RepeatMode::Off,
        }
    }
}

impl Now {
    /// From the player's published status (`None`: not known yet), at the instant `at`.
    pub fn of(status: Option<&PlayerStatus>, at: Instant) -> Now {
        let Some(p) = status else {
            return Now::default();
        };
        let mut position_ms = p.position_ms;
        if p.state == PlayState::Playing {
            position_ms =
                position_ms.saturating_add(at.saturating_duration_since(p.at).as_millis() as u64);
        }
        Now {
            position_ms,
            duration_ms: p.track.as_ref().map_or(0, |t| t.duration_ms),
            volume: p.volume,
            shuffle: p.shuffle,
            repeat: p.repeat,
        }
    }
}

/// The operations that carry out `intent`, in order (possibly none: an empty addition, or a
/// repeat flag that changes nothing).
pub fn ops(intent: Intent, now: &Now) -> Vec<PlayerOp> {
    let op = match intent {
        Intent::Load {
            ids,
            index,
            position_ms,
            play,
        } => PlayerOp::Load {
            ids,
            index,
            position_ms: position_ms.min(MAX_POSITION_MS),
            play,
        },
        Intent::Play => PlayerOp::Play,
        Intent::Pause => PlayerOp::Pause,
        Intent::Toggle => PlayerOp::Toggle,
        Intent::Next => PlayerOp::Next,
        Intent::Previous => PlayerOp::Previous,
        Intent::SeekTo(ms) => PlayerOp::Seek(clamp_to_track(ms, now.duration_ms)),
        Intent::SeekBy(delta) => {
            let target = if delta >= 0 {
                now.position_ms.saturating_add(delta.unsigned_abs())
            } else {
                now.position_ms.saturating_sub(delta.unsigned_abs())
            };
            PlayerOp::Seek(clamp_to_track(target, now.duration_ms))
        }
        Intent::SetVolume(v) => PlayerOp::SetVolume(v),
        Intent::VolumeBy(delta) => {
            let v = (i64::from(now.volume) + i64::from(delta)).clamp(0, i64::from(u16::MAX));
            PlayerOp::SetVolume(v as u16)
        }
        Intent::SetShuffle(on) => PlayerOp::SetShuffle(on),
        Intent::ToggleShuffle => PlayerOp::SetShuffle(!now.shuffle),
        Intent::SetRepeat(mode) => PlayerOp::SetRepeat(mode),
        Intent::CycleRepeat => PlayerOp::SetRepeat(next_repeat(now.repeat)),
        // The two flags against the current mode: the context flag doesn't end "repeat one";
        // turning the track flag off falls back to repeating the context.
        Intent::SetRepeatContext(on) => {
            if now.repeat == RepeatMode::One {
                return Vec::new();
            }
            PlayerOp::SetRepeat(repeat_mode(on, false))
        }
        Intent::SetRepeatTrack(true) => PlayerOp::SetRepeat(RepeatMode::One),
        Intent::SetRepeatTrack(false) => {
            if now.repeat != RepeatMode::One {
                return Vec::new();
            }
            PlayerOp::SetRepeat(RepeatMode::All)
        }
        Intent::AddToQueue(ids) | Intent::PlayNext(ids) if ids.is_empty() => return Vec::new(),
        Intent::AddToQueue(ids) => PlayerOp::AddToQueue(ids),
        Intent::PlayNext(ids) => PlayerOp::PlayNext(ids),
        Intent::SetUpNext(ids) => {
            let mut out = vec![PlayerOp::ClearAfterCurrent];
            if !ids.is_empty() {
                out.push(PlayerOp::AddToQueue(ids));
            }
            return out;
        }
        Intent::Remove(index) => PlayerOp::Remove(index),
        Intent::Move { from, to } => PlayerOp::Move { from, to },
        Intent::ClearQueue => PlayerOp::ClearQueue,
    };
    vec![op]
}

/// Every intent a remote Connect command stands for, in the order to carry them out (a `Load`
/// with shuffle and repeat settings: the load, then shuffle, then repeat). A `Load`'s repeat
/// flags come together and set the mode outright; single flag commands are refined by [`ops`].
pub fn intents_for_remote(cmd: &RemoteCommand) -> Vec<Intent> {
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
            let mut out = vec![Intent::Load {
                ids: ids.clone(),
                index: *index,
                position_ms: *position_ms,
                play: *play,
            }];
            if let Some(s) = shuffle {
                out.push(Intent::SetShuffle(*s));
            }
            if repeat_context.is_some() || repeat_track.is_some() {
                out.push(Intent::SetRepeat(repeat_mode(
                    repeat_context.unwrap_or(false),
                    repeat_track.unwrap_or(false),
                )));
            }
            out
        }
        // Another device took over: stop making sound here, keep the queue.
        RemoteCommand::Pause | RemoteCommand::BecameInactive => vec![Intent::Pause],
        RemoteCommand::Resume => vec![Intent::Play],
        RemoteCommand::SeekTo(ms) => vec![Intent::SeekTo(*ms)],
        RemoteCommand::SkipNext => vec![Intent::Next],
        RemoteCommand::SkipPrev => vec![Intent::Previous],
        RemoteCommand::SetShuffle(on) => vec![Intent::SetShuffle(*on)],
        RemoteCommand::SetRepeatContext(on) => vec![Intent::SetRepeatContext(*on)],
        RemoteCommand::SetRepeatTrack(on) => vec![Intent::SetRepeatTrack(*on)],
        RemoteCommand::AddToQueue(id) => vec![Intent::AddToQueue(vec![*id])],
        RemoteCommand::SetQueue(ids) => vec![Intent::SetUpNext(ids.clone())],
        RemoteCommand::SetVolume(v) => vec![Intent::SetVolume(*v)],
    }
}

/// The operations a remote Connect command stands for: [`intents_for_remote`] through [`ops`].
pub fn ops_for_remote(cmd: &RemoteCommand, now: &Now) -> Vec<PlayerOp> {
    intents_for_remote(cmd)
        .into_iter()
        .flat_map(|intent| ops(intent, now))
        .collect()
}

/// Carries out a remote Connect command on the local player: the daemon's path (and that of
/// tests standing in for it). The repeat mode comes from [`Player::repeat`], not the status,
/// because Connect sends the two repeat flags back to back and the status lags behind the
/// first.
pub fn apply_remote(player: &Player, cmd: &RemoteCommand) {
    let mut now = Now::of(Some(&player.status().borrow()), Instant::now());
    now.repeat = player.repeat();
    for op in ops_for_remote(cmd, &now) {
        player.apply(op);
    }
}

/// Carries out intents from a front end without a UI of its own (the local control API in the
/// daemon) on the local player, in order, each read against the state as the player last
/// published it — the same reading [`apply_remote`] makes.
pub fn apply_intents(player: &Player, intents: impl IntoIterator<Item = Intent>) {
    let mut now = Now::of(Some(&player.status().borrow()), Instant::now());
    now.repeat = player.repeat();
    for intent in intents {
        for op in ops(intent, &now) {
            player.apply(op);
        }
    }
}

/// What a status will show once the player has taken `op`, for a front end that shows the
/// state before the player reports it (the TUI, so that quick repeats act on what is shown).
/// Only what is certain is anticipated: position after a seek, volume, shuffle, repeat.
/// Returns whether anything shown changed.
pub fn anticipate(status: &mut PlayerStatus, op: &PlayerOp, at: Instant) -> bool {
    match op {
        PlayerOp::Seek(ms) => {
            status.position_ms = *ms;
            status.at = at;
            true
        }
        PlayerOp::SetVolume(v) => std::mem::replace(&mut status.volume, *v) != *v,
        PlayerOp::SetShuffle(on) => std::mem::replace(&mut status.shuffle, *on) != *on,
        PlayerOp::SetRepeat(mode) => std::mem::replace(&mut status.repeat, *mode) != *mode,
        _ => false,
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

/// The mode after `mode` in the off → all → one cycle.
pub fn next_repeat(mode: RepeatMode) -> RepeatMode {
    match mode {
        RepeatMode::Off => RepeatMode::All,
        RepeatMode::All => RepeatMode::One,
        RepeatMode::One => RepeatMode::Off,
    }
}

/// The furthest position any front end may ask for when the track's length is not known yet
/// (a day): positions come from remote peers, which may send anything up to `i64::MAX`.
pub const MAX_POSITION_MS: u64 = 24 * 3600 * 1000;

fn clamp_to_track(ms: u64, duration_ms: u64) -> u64 {
    if duration_ms > 0 {
        ms.min(duration_ms)
    } else {
        ms.min(MAX_POSITION_MS)
    }
}

#[cfg(test)]
mod remote_proptests;

#[cfg(test)]
mod tests {
    use super::*;

    fn now(repeat: RepeatMode) -> Now {
        Now {
            position_ms: 10_000,
            duration_ms: 200_000,
            volume: 32768,
            shuffle: false,
            repeat,
        }
    }

    #[test]
    fn every_remote_command_has_an_intent() {
        let id = SpotifyId(7);
        let cases = vec![
            (RemoteCommand::Pause, Intent::Pause),
            (RemoteCommand::BecameInactive, Intent::Pause),
            (RemoteCommand::Resume, Intent::Play),
            (RemoteCommand::SeekTo(42), Intent::SeekTo(42)),
            (RemoteCommand::SkipNext, Intent::Next),
            (RemoteCommand::SkipPrev, Intent::Previous),
            (RemoteCommand::SetShuffle(true), Intent::SetShuffle(true)),
            (
                RemoteCommand::SetRepeatContext(true),
                Intent::SetRepeatContext(true),
            ),
            (
                RemoteCommand::SetRepeatTrack(false),
                Intent::SetRepeatTrack(false),
            ),
            (RemoteCommand::AddToQueue(id), Intent::AddToQueue(vec![id])),
            (
                RemoteCommand::SetQueue(vec![id]),
                Intent::SetUpNext(vec![id]),
            ),
            (RemoteCommand::SetVolume(1000), Intent::SetVolume(1000)),
        ];
        for (cmd, intent) in cases {
            assert_eq!(intents_for_remote(&cmd), vec![intent], "{cmd:?}");
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
        assert_eq!(
            ops_for_remote(&cmd, &now(RepeatMode::One)),
            vec![
                PlayerOp::Load {
                    ids,
                    index: 1,
                    position_ms: 3000,
                    play: true
                },
                PlayerOp::SetShuffle(true),
                // Both flags together set the mode outright, whatever it was.
                PlayerOp::SetRepeat(RepeatMode::All),
            ]
        );
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
        assert_eq!(ops_for_remote(&cmd, &Now::default()).len(), 1);
    }

    #[test]
    fn repeat_flags_are_refined_against_the_current_mode() {
        let op = |i: Intent, m: RepeatMode| ops(i, &now(m));
        let set = |m: RepeatMode| vec![PlayerOp::SetRepeat(m)];
        // The context flag sets all/off, except that it doesn't end "repeat one".
        assert_eq!(
            op(Intent::SetRepeatContext(true), RepeatMode::Off),
            set(RepeatMode::All)
        );
        assert_eq!(
            op(Intent::SetRepeatContext(false), RepeatMode::All),
            set(RepeatMode::Off)
        );
        assert_eq!(op(Intent::SetRepeatContext(false), RepeatMode::One), vec![]);
        assert_eq!(op(Intent::SetRepeatContext(true), RepeatMode::One), vec![]);
        // The track flag: on is "one"; off falls back to the context, and only from "one".
        assert_eq!(
            op(Intent::SetRepeatTrack(true), RepeatMode::Off),
            set(RepeatMode::One)
        );
        assert_eq!(
            op(Intent::SetRepeatTrack(false), RepeatMode::One),
            set(RepeatMode::All)
        );
        assert_eq!(op(Intent::SetRepeatTrack(false), RepeatMode::Off), vec![]);
        assert_eq!(op(Intent::SetRepeatTrack(false), RepeatMode::All), vec![]);
        // The cycle.
        assert_eq!(
            op(Intent::CycleRepeat, RepeatMode::Off),
            set(RepeatMode::All)
        );
        assert_eq!(
            op(Intent::CycleRepeat, RepeatMode::All),
            set(RepeatMode::One)
        );
        assert_eq!(
            op(Intent::CycleRepeat, RepeatMode::One),
            set(RepeatMode::Off)
        );
    }

    #[test]
    fn set_up_next_drops_what_follows_then_adds_in_spotify_order() {
        let ids = vec![SpotifyId(8), SpotifyId(9)];
        assert_eq!(
            ops(Intent::SetUpNext(ids.clone()), &Now::default()),
            vec![PlayerOp::ClearAfterCurrent, PlayerOp::AddToQueue(ids)]
        );
        assert_eq!(
            ops(Intent::SetUpNext(vec![]), &Now::default()),
            vec![PlayerOp::ClearAfterCurrent]
        );
        // Empty additions are nothing to do.
        assert_eq!(ops(Intent::AddToQueue(vec![]), &Now::default()), vec![]);
        assert_eq!(ops(Intent::PlayNext(vec![]), &Now::default()), vec![]);
    }

    #[test]
    fn seeks_and_volume_steps_are_clamped() {
        let n = now(RepeatMode::Off);
        assert_eq!(ops(Intent::SeekBy(5000), &n), vec![PlayerOp::Seek(15_000)]);
        assert_eq!(ops(Intent::SeekBy(-20_000), &n), vec![PlayerOp::Seek(0)]);
        assert_eq!(
            ops(Intent::SeekBy(500_000), &n),
            vec![PlayerOp::Seek(200_000)]
        );
        assert_eq!(
            ops(Intent::SeekTo(250_000), &n),
            vec![PlayerOp::Seek(200_000)]
        );
        // An unknown length clamps only to a day.
        assert_eq!(
            ops(Intent::SeekTo(250_000), &Now::default()),
            vec![PlayerOp::Seek(250_000)]
        );
        assert_eq!(
            ops(Intent::SeekTo(u64::MAX), &Now::default()),
            vec![PlayerOp::Seek(MAX_POSITION_MS)]
        );
        assert_eq!(
            ops(Intent::VolumeBy(40_000), &n),
            vec![PlayerOp::SetVolume(65535)]
        );
        assert_eq!(
            ops(Intent::VolumeBy(-40_000), &n),
            vec![PlayerOp::SetVolume(0)]
        );
        assert_eq!(
            ops(Intent::ToggleShuffle, &n),
            vec![PlayerOp::SetShuffle(true)]
        );
    }

    #[test]
    fn now_extrapolates_only_while_playing() {
        let at = Instant::now();
        let mut status = PlayerStatus {
            state: PlayState::Paused,
            track: None,
            position_ms: 1000,
            at,
            volume: 7,
            buffering: false,
            repeat: RepeatMode::All,
            shuffle: true,
        };
        let later = at + std::time::Duration::from_millis(500);
        let n = Now::of(Some(&status), later);
        assert_eq!(
            (n.position_ms, n.volume, n.repeat, n.shuffle),
            (1000, 7, RepeatMode::All, true)
        );
        status.state = PlayState::Playing;
        assert_eq!(Now::of(Some(&status), later).position_ms, 1500);
        assert_eq!(Now::of(None, later), Now::default());
    }

    #[test]
    fn anticipate_reports_what_changed() {
        let at = Instant::now();
        let mut s = PlayerStatus {
            state: PlayState::Paused,
            track: None,
            position_ms: 1000,
            at,
            volume: 7,
            buffering: false,
            repeat: RepeatMode::Off,
            shuffle: false,
        };
        assert!(!anticipate(&mut s, &PlayerOp::SetVolume(7), at));
        assert!(anticipate(&mut s, &PlayerOp::SetVolume(8), at));
        assert!(anticipate(
            &mut s,
            &PlayerOp::SetRepeat(RepeatMode::One),
            at
        ));
        assert!(!anticipate(&mut s, &PlayerOp::SetShuffle(false), at));
        assert!(anticipate(&mut s, &PlayerOp::Seek(5), at));
        assert!(!anticipate(&mut s, &PlayerOp::Next, at));
        assert_eq!((s.volume, s.repeat, s.position_ms), (8, RepeatMode::One, 5));
    }
}
