//! Playback keys: on the local player through the core ([`crate::control`]: intents →
//! player operations, anticipated in the shown status), or as Connect commands to the active
//! remote device; and the player's events.
//!
//! Part of the pure `update` (see `update.rs`): no I/O, no UI crates, no service handles.

use std::time::Instant;

use super::{notify, remember_played, Out, Target, SEEK_STEP_MS, VOLUME_STEP};
use crate::action::Action;
use crate::app::effect::Effect;
use crate::app::state::{Level, State};
use crate::connect::RemoteControl;
use crate::control::{self, Intent, Now};
use crate::player::{PlayState, PlayerEvent, RepeatMode};

/// The playback position now (extrapolated while playing) and the track's duration.
pub(super) fn position_and_duration(state: &State, target: Target) -> (u64, u64) {
    let now = Instant::now();
    match (target, &state.remote) {
        (Target::Remote, Some(r)) => {
            let mut pos = r.position_ms;
            if r.is_playing {
                pos = pos.saturating_add(now.saturating_duration_since(r.at).as_millis() as u64);
            }
            (pos, r.duration_ms)
        }
        _ => match &state.player {
            Some(p) => {
                let mut pos = p.position_ms;
                if p.state == PlayState::Playing {
                    pos =
                        pos.saturating_add(now.saturating_duration_since(p.at).as_millis() as u64);
                }
                (pos, p.track.as_ref().map(|t| t.duration_ms).unwrap_or(0))
            }
            None => (0, 0),
        },
    }
}

pub(super) fn clamp_position(pos: u64, duration: u64) -> u64 {
    if duration > 0 {
        pos.min(duration)
    } else {
        pos
    }
}

pub(super) fn playback(state: &mut State, action: Action, target: Target, out: &mut Out) {
    let remote_id = match (target, &state.remote) {
        (Target::Remote, Some(r)) => Some(r.device_id.clone()),
        _ => None,
    };
    let Some(device_id) = remote_id else {
        local_playback(state, action, out);
        return;
    };
    let mut send = |control: RemoteControl| {
        out.effects.push(Effect::Remote {
            device_id: device_id.clone(),
            control,
        })
    };
    let Some(r) = state.remote.as_mut() else {
        return;
    };
    match action {
        Action::TogglePlay => send(if r.is_playing {
            RemoteControl::Pause
        } else {
            RemoteControl::Resume
        }),
        Action::Play => send(RemoteControl::Resume),
        Action::Pause => send(RemoteControl::Pause),
        Action::Next => send(RemoteControl::SkipNext),
        Action::Previous => send(RemoteControl::SkipPrev),
        Action::SeekForward | Action::SeekBackward | Action::SeekTo(_) => {
            let now = Instant::now();
            let mut pos = r.position_ms;
            if r.is_playing {
                pos = pos.saturating_add(now.saturating_duration_since(r.at).as_millis() as u64);
            }
            let new = match action {
                Action::SeekForward => pos + SEEK_STEP_MS,
                Action::SeekBackward => pos.saturating_sub(SEEK_STEP_MS),
                Action::SeekTo(p) => p,
                _ => pos,
            };
            let new = clamp_position(new, r.duration_ms);
            r.position_ms = new;
            r.at = now;
            send(RemoteControl::SeekTo(new));
            out.redraw = true;
        }
        Action::VolumeUp | Action::VolumeDown | Action::SetVolume(_) => {
            let cur = r.volume.unwrap_or(u16::MAX / 2);
            let new = match action {
                Action::VolumeUp => cur.saturating_add(VOLUME_STEP),
                Action::VolumeDown => cur.saturating_sub(VOLUME_STEP),
                Action::SetVolume(v) => v,
                _ => cur,
            };
            if r.volume != Some(new) {
                r.volume = Some(new);
                out.redraw = true;
            }
            send(RemoteControl::SetVolume(new));
        }
        Action::ToggleShuffle | Action::SetShuffle(_) => {
            let on = match action {
                Action::SetShuffle(on) => on,
                _ => !r.shuffle,
            };
            r.shuffle = on;
            send(RemoteControl::SetShuffle(on));
            out.redraw = true;
        }
        Action::CycleRepeat | Action::SetRepeat(_) => {
            let cur = control::repeat_mode(r.repeat_context, r.repeat_track);
            let new = match action {
                Action::SetRepeat(m) => m,
                _ => control::next_repeat(cur),
            };
            let (context, track) = (new != RepeatMode::Off, new == RepeatMode::One);
            if context != r.repeat_context {
                send(RemoteControl::SetRepeatContext(context));
            }
            if track != r.repeat_track {
                send(RemoteControl::SetRepeatTrack(track));
            }
            r.repeat_context = context;
            r.repeat_track = track;
            out.redraw = true;
        }
        _ => {}
    }
}

/// A playback key on the local player: its intent through the core.
pub(super) fn local_playback(state: &mut State, action: Action, out: &mut Out) {
    let intent = match action {
        Action::TogglePlay => Intent::Toggle,
        Action::Play => Intent::Play,
        Action::Pause => Intent::Pause,
        Action::Next => Intent::Next,
        Action::Previous => Intent::Previous,
        Action::SeekForward => Intent::SeekBy(SEEK_STEP_MS as i64),
        Action::SeekBackward => Intent::SeekBy(-(SEEK_STEP_MS as i64)),
        Action::SeekTo(ms) => Intent::SeekTo(ms),
        Action::VolumeUp => Intent::VolumeBy(i32::from(VOLUME_STEP)),
        Action::VolumeDown => Intent::VolumeBy(-i32::from(VOLUME_STEP)),
        Action::SetVolume(v) => Intent::SetVolume(v),
        Action::ToggleShuffle => Intent::ToggleShuffle,
        Action::SetShuffle(on) => Intent::SetShuffle(on),
        Action::CycleRepeat => Intent::CycleRepeat,
        Action::SetRepeat(mode) => Intent::SetRepeat(mode),
        _ => return,
    };
    local(state, intent, out);
}

/// Carries out an intent on the local player: the core's operations become effects, and the
/// shown status anticipates them (so quick repeats act on what is shown).
pub(super) fn local(state: &mut State, intent: Intent, out: &mut Out) {
    let at = Instant::now();
    let now = Now::of(state.player.as_ref(), at);
    player_ops(state, control::ops(intent, &now), at, out);
}

pub(super) fn player_ops(
    state: &mut State,
    ops: Vec<crate::player::PlayerOp>,
    at: Instant,
    out: &mut Out,
) {
    for op in ops {
        if let Some(p) = state.player.as_mut() {
            out.redraw |= control::anticipate(p, &op, at);
        }
        out.effect(Effect::Player(op));
    }
}

pub(super) fn player_event(state: &mut State, ev: PlayerEvent, out: &mut Out) {
    match ev {
        PlayerEvent::Error {
            id,
            reason,
            skipped,
        } => {
            let name = state
                .tracks
                .get(&id)
                .map(|t| format!("“{}”", t.name))
                .unwrap_or_else(|| "a track".to_string());
            if skipped {
                notify(state, Level::Warn, format!("Skipped {name}: {reason}"));
            } else {
                notify(
                    state,
                    Level::Error,
                    format!("Couldn't play {name}: {reason}"),
                );
            }
            out.redraw = true;
        }
        PlayerEvent::TrackChanged(info) => {
            state.player_held = None;
            out.redraw = remember_played(state, &info);
        }
        // A transient failure: the track is held, not skipped. Said once per outage (the
        // retries that follow only update the bar), with the wait before the next try.
        PlayerEvent::Reconnecting {
            id,
            reason,
            retry_in,
        } => {
            if state.player_held.is_none() {
                let name = state
                    .tracks
                    .get(&id)
                    .map(|t| format!("“{}”", t.name))
                    .unwrap_or_else(|| "the track".to_string());
                notify(
                    state,
                    Level::Warn,
                    format!(
                        "Holding {name} until it can play again ({reason}); retrying in {:.1} s",
                        retry_in.as_secs_f64()
                    ),
                );
            }
            state.player_held = Some(reason);
            out.redraw = true;
        }
        PlayerEvent::Playing { .. } | PlayerEvent::Seeked { .. } | PlayerEvent::Stopped => {
            out.redraw |= state.player_held.take().is_some();
        }
        // Position, play state and volume arrive through the status watch.
        _ => {}
    }
}
