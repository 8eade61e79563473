//! The trust prompt (issue 12): moving playback to a LAN device nobody is signed in to wakes it
//! with our reusable Spotify login (zeroconf `addUser`), which hands that device — whoever
//! answered on the LAN — the means to act as us. So it is asked first: "Hand your Spotify login
//! to NAME at IP (device ID)?" with `y` (yes, this time), `a` (always for this device id), `n`
//! or Esc (no, this time) and `N` (never for this device id). "Always" and "never" are kept in
//! [`State::trusted`] and written with [`Effect::SaveTrust`]; a remembered answer skips the
//! prompt. While the prompt is open it takes every key (`State::text_input_active`), mouse
//! input is ignored and only Quit/Close/Back act.
//!
//! Part of the pure `update` (see `update.rs`): no I/O, no UI crates, no service handles.

use super::{notify, Out};
use crate::action::Action;
use crate::app::effect::Effect;
use crate::app::msg::TextInput;
use crate::app::state::{Level, State, Trust, TrustPrompt};
use crate::connect::mdns::validate::check_device_id;
use crate::connect::{Device, DeviceOrigin};

/// Whether moving playback to `device` hands it our login (a LAN device nobody is signed in
/// to is woken with `addUser`).
pub(super) fn hands_over_login(device: &Device) -> bool {
    matches!(&device.origin, DeviceOrigin::Lan { active_user, .. } if active_user.is_empty())
}

fn start(state: &mut State, device: TrustPrompt, out: &mut Out) {
    let name = device.device.name.clone();
    notify(
        state,
        Level::Info,
        format!("Waking {name} with your login…"),
    );
    out.effect(Effect::Transfer {
        device: device.device,
    });
}

/// A transfer to a device that would get our login: by the remembered answer, or the prompt.
pub(super) fn transfer_with_login(state: &mut State, device: Device, out: &mut Out) {
    out.redraw = true;
    if check_device_id(&device.id).is_err() {
        notify(
            state,
            Level::Warn,
            format!(
                "{} has no usable device id; not handing it your login",
                device.name
            ),
        );
        return;
    }
    match state.trusted.get(&device.id) {
        Some(Trust::Always) => start(state, TrustPrompt { device }, out),
        Some(Trust::Never) => notify(
            state,
            Level::Warn,
            format!(
                "You chose never to hand your login to {} (device {})",
                device.name, device.id
            ),
        ),
        None => state.trust_prompt = Some(TrustPrompt { device }),
    }
}

fn remember(state: &mut State, id: &str, trust: Trust, out: &mut Out) {
    state.trusted.insert(id.to_string(), trust);
    out.effect(Effect::SaveTrust(state.trusted.clone()));
}

/// A key while the prompt is open.
pub(super) fn trust_key(state: &mut State, t: TextInput, out: &mut Out) {
    let Some(prompt) = state.trust_prompt.take() else {
        return;
    };
    out.redraw = true;
    let name = prompt.device.name.clone();
    match t {
        TextInput::Char('y' | 'Y') => start(state, prompt, out),
        TextInput::Char('a' | 'A') => {
            remember(state, &prompt.device.id.clone(), Trust::Always, out);
            start(state, prompt, out);
        }
        TextInput::Char('N') => {
            remember(state, &prompt.device.id, Trust::Never, out);
            notify(
                state,
                Level::Info,
                format!("{name} will never get your login"),
            );
        }
        TextInput::Char('n') | TextInput::Esc => notify(
            state,
            Level::Info,
            format!("Not handing your login to {name}"),
        ),
        _ => {
            // Anything else leaves the question open.
            state.trust_prompt = Some(prompt);
            out.redraw = false;
        }
    }
}

/// An action while the prompt is open: Quit quits, Close/Back answer "no", the rest waits.
pub(super) fn trust_action(state: &mut State, action: &Action, out: &mut Out) {
    match action {
        Action::Quit => {
            state.trust_prompt = None;
            state.quit = true;
            out.redraw = true;
        }
        Action::Close | Action::Back => trust_key(state, TextInput::Esc, out),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Pane;
    use crate::app::effect::Outcome;
    use crate::app::msg::Msg;
    use crate::app::state::Screen;
    use crate::app::update::update;

    const ID: &str = "0123456789abcdef0123456789abcdef01234567";

    fn lan(id: &str, active_user: &str) -> Device {
        Device {
            id: id.into(),
            name: "Kitchen".into(),
            kind: "Speaker".into(),
            is_active: false,
            volume: None,
            origin: DeviceOrigin::Lan {
                addr: "192.168.1.9:4070".parse().expect("addr"),
                cpath: "/".into(),
                active_user: active_user.into(),
            },
        }
    }

    fn state_with(device: Device) -> State {
        let mut s = State::new(
            "me".into(),
            "tonearm".into(),
            "default".into(),
            vec![],
            Screen::Main,
        );
        s.focus = Pane::Devices;
        s.devices.devices = vec![device];
        s
    }

    fn transfers(o: &Outcome) -> usize {
        o.effects
            .iter()
            .filter(|e| matches!(e, Effect::Transfer { .. }))
            .count()
    }

    fn saved(o: &Outcome) -> Option<Trust> {
        o.effects.iter().find_map(|e| match e {
            Effect::SaveTrust(m) => m.get(ID).copied(),
            _ => None,
        })
    }

    fn key(s: &mut State, c: char) -> Outcome {
        update(s, Msg::Text(TextInput::Char(c)))
    }

    #[test]
    fn waking_a_lan_device_asks_first_and_yes_is_one_off() {
        let mut s = state_with(lan(ID, ""));
        let o = update(&mut s, Msg::Action(Action::Transfer));
        assert_eq!(transfers(&o), 0, "nothing is sent before the answer");
        let prompt = s.trust_prompt.clone().expect("asked");
        assert_eq!(
            prompt.question(),
            format!("Hand your Spotify login to Kitchen at 192.168.1.9 (device {ID})?")
        );
        // The prompt takes every key; keys that are no answer leave it open.
        assert!(s.text_input_active());
        let o = key(&mut s, 'q');
        assert!(s.trust_prompt.is_some());
        assert!(o.effects.is_empty());
        let o = key(&mut s, 'y');
        assert_eq!(transfers(&o), 1);
        assert_eq!(saved(&o), None);
        assert!(s.trust_prompt.is_none());
        assert!(s.trusted.is_empty());
        // Asked again next time.
        update(&mut s, Msg::Action(Action::Transfer));
        assert!(s.trust_prompt.is_some());
    }

    #[test]
    fn always_is_remembered_and_skips_the_prompt() {
        let mut s = state_with(lan(ID, ""));
        update(&mut s, Msg::Action(Action::Transfer));
        let o = key(&mut s, 'a');
        assert_eq!(transfers(&o), 1);
        assert_eq!(saved(&o), Some(Trust::Always));
        assert_eq!(s.trusted.get(ID), Some(&Trust::Always));
        let o = update(&mut s, Msg::Action(Action::Transfer));
        assert!(s.trust_prompt.is_none());
        assert_eq!(transfers(&o), 1);
    }

    #[test]
    fn no_never_and_escape_send_nothing() {
        let mut s = state_with(lan(ID, ""));
        update(&mut s, Msg::Action(Action::Transfer));
        let o = key(&mut s, 'n');
        assert_eq!(transfers(&o), 0);
        assert_eq!(saved(&o), None);
        update(&mut s, Msg::Action(Action::Transfer));
        let o = update(&mut s, Msg::Text(TextInput::Esc));
        assert_eq!((transfers(&o), s.trust_prompt.is_none()), (0, true));
        update(&mut s, Msg::Action(Action::Transfer));
        let o = update(&mut s, Msg::Action(Action::Close));
        assert_eq!((transfers(&o), s.trust_prompt.is_none()), (0, true));
        update(&mut s, Msg::Action(Action::Transfer));
        let o = key(&mut s, 'N');
        assert_eq!(transfers(&o), 0);
        assert_eq!(saved(&o), Some(Trust::Never));
        // Never: not asked again, not sent.
        let o = update(&mut s, Msg::Action(Action::Transfer));
        assert!(s.trust_prompt.is_none());
        assert_eq!(transfers(&o), 0);
        let last = s.notifications.back().expect("told").text.clone();
        assert!(last.contains("never"), "{last}");
    }

    #[test]
    fn the_prompt_ignores_mouse_and_other_actions() {
        let mut s = state_with(lan(ID, ""));
        update(&mut s, Msg::Action(Action::Transfer));
        let o = update(
            &mut s,
            Msg::Mouse {
                kind: crate::app::msg::MouseKind::DoubleClick,
                x: 5,
                y: 5,
            },
        );
        assert!(o.effects.is_empty() && s.trust_prompt.is_some());
        let o = update(&mut s, Msg::Action(Action::TogglePlay));
        assert!(o.effects.is_empty() && s.trust_prompt.is_some());
        update(&mut s, Msg::Action(Action::Quit));
        assert!(s.quit && s.trust_prompt.is_none());
    }

    #[test]
    fn devices_in_use_and_cloud_devices_are_not_asked_about() {
        let mut s = state_with(lan(ID, "carol"));
        let o = update(&mut s, Msg::Action(Action::Transfer));
        assert!(s.trust_prompt.is_none());
        assert_eq!(transfers(&o), 1);
        let mut cloud = lan(ID, "");
        cloud.origin = DeviceOrigin::Cloud;
        let mut s = state_with(cloud);
        let o = update(&mut s, Msg::Action(Action::Transfer));
        assert!(s.trust_prompt.is_none());
        assert_eq!(transfers(&o), 1);
    }

    #[test]
    fn a_device_without_a_usable_id_is_refused_without_asking() {
        let mut s = state_with(lan("../../x", ""));
        let o = update(&mut s, Msg::Action(Action::Transfer));
        assert!(s.trust_prompt.is_none());
        assert_eq!(transfers(&o), 0);
    }
}
