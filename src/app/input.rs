//! Key routing: while a text box has focus keys become [`TextInput`]s; otherwise the keymap
//! resolves them in the state's context to an action, a pending chord, or nothing.
//!
//! Shared by the event loop (`route_key` on each crossterm key event) and the flow tests (which
//! drive key strings through it and `update`). Depends on the keymap, the app's message types
//! and crossterm's key event type (data only: no terminal I/O here).

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::app::msg::{Msg, TextInput};
use crate::app::state::State;
use crate::keymap::{Key, Keymap, Resolved};

/// Turns a key press into a message: an editing key while a text box is active, else what the
/// keymap says in the state's context. Key releases/repeats of non-press kinds give `None`.
pub fn route_key(state: &State, keymap: &mut Keymap, key: &KeyEvent) -> Option<Msg> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if state.text_input_active() {
        // A chord started before the box opened can't continue inside it.
        keymap.reset();
        return text_input(key).map(Msg::Text);
    }
    let k = Key::from_event(key)?;
    Some(match keymap.resolve(state.key_context(), k) {
        Resolved::Action(action) => Msg::Action(action),
        Resolved::Pending(hint) => Msg::Chord(Some(hint)),
        Resolved::Unbound(keys) => Msg::Unbound(keys),
    })
}

/// The editing meaning of a key in a text box (`None`: ignored there).
pub fn text_input(key: &KeyEvent) -> Option<TextInput> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    Some(match key.code {
        KeyCode::Char('u') if ctrl => TextInput::Clear,
        KeyCode::Char(_) if ctrl || alt => return None,
        KeyCode::Char(c) => TextInput::Char(c),
        KeyCode::Backspace => TextInput::Backspace,
        KeyCode::Delete => TextInput::Delete,
        KeyCode::Left => TextInput::Left,
        KeyCode::Right => TextInput::Right,
        KeyCode::Home => TextInput::Home,
        KeyCode::End => TextInput::End,
        KeyCode::Up => TextInput::Up,
        KeyCode::Down => TextInput::Down,
        KeyCode::Tab | KeyCode::BackTab => TextInput::Tab,
        KeyCode::Enter => TextInput::Enter,
        KeyCode::Esc => TextInput::Esc,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_keys() {
        let ev = |code, m| KeyEvent::new(code, m);
        assert_eq!(
            text_input(&ev(KeyCode::Char('u'), KeyModifiers::CONTROL)),
            Some(TextInput::Clear)
        );
        assert_eq!(
            text_input(&ev(KeyCode::Char('x'), KeyModifiers::CONTROL)),
            None
        );
        assert_eq!(
            text_input(&ev(KeyCode::Char('É'), KeyModifiers::SHIFT)),
            Some(TextInput::Char('É'))
        );
        assert_eq!(
            text_input(&ev(KeyCode::Esc, KeyModifiers::NONE)),
            Some(TextInput::Esc)
        );
        assert_eq!(text_input(&ev(KeyCode::F(1), KeyModifiers::NONE)), None);
    }
}
