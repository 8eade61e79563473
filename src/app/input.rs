//! Key routing: while a text box has focus keys become [`TextInput`]s; otherwise the keymap
//! resolves them in the state's context to an action, a pending chord, or nothing.
//!
//! Shared by the event loop (`route_key` on each crossterm key event) and the flow tests
//! ([`feed`] drives a key string through routing and `update`). Depends on the keymap, the
//! app's message types and crossterm's key event type (data only: no terminal I/O here).

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::app::effect::Effect;
use crate::app::msg::{Msg, TextInput};
use crate::app::state::State;
use crate::app::update::update;
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

/// Why a key string given to [`parse_keys`] is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyStringError {
    #[error("unknown key name <{0}>")]
    UnknownName(String),
}

/// Parses a test key string: every char is a key press except a plain space, which only
/// separates keys (`"g l"` is the chord g, l); named keys go in angle brackets: `<enter>`,
/// `<esc>`, `<tab>`, `<backtab>`, `<space>`, `<bs>`, `<del>`, `<up>`, `<down>`, `<left>`,
/// `<right>`, `<home>`, `<end>`, `<pgup>`, `<pgdn>`, `<lt>`, `<gt>`, `<C-x>` (Ctrl), `<A-x>`
/// (Alt). A `<` that doesn't open a bracketed name is the `<` key itself. Upper-case letters
/// carry Shift, as terminals report them.
pub fn parse_keys(keys: &str) -> Result<Vec<KeyEvent>, KeyStringError> {
    let chars: Vec<char> = keys.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '<' {
            if let Some(len) = chars[i + 1..].iter().position(|&c| c == '>') {
                let name: String = chars[i + 1..i + 1 + len].iter().collect();
                if len > 0 && !name.contains(' ') && !name.contains('<') {
                    out.push(named_key(&name)?);
                    i += len + 2;
                    continue;
                }
            }
        }
        if c != ' ' {
            out.push(char_key(c, KeyModifiers::NONE));
        }
        i += 1;
    }
    Ok(out)
}

fn char_key(c: char, mods: KeyModifiers) -> KeyEvent {
    let mods = if c.is_uppercase() {
        mods | KeyModifiers::SHIFT
    } else {
        mods
    };
    KeyEvent::new(KeyCode::Char(c), mods)
}

fn named_key(name: &str) -> Result<KeyEvent, KeyStringError> {
    let plain = |code| Ok(KeyEvent::new(code, KeyModifiers::NONE));
    match name.to_ascii_lowercase().as_str() {
        "enter" | "cr" | "ret" => return plain(KeyCode::Enter),
        "esc" => return plain(KeyCode::Esc),
        "tab" => return plain(KeyCode::Tab),
        "backtab" | "s-tab" => return Ok(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT)),
        "space" => return plain(KeyCode::Char(' ')),
        "bs" | "backspace" => return plain(KeyCode::Backspace),
        "del" | "delete" => return plain(KeyCode::Delete),
        "up" => return plain(KeyCode::Up),
        "down" => return plain(KeyCode::Down),
        "left" => return plain(KeyCode::Left),
        "right" => return plain(KeyCode::Right),
        "home" => return plain(KeyCode::Home),
        "end" => return plain(KeyCode::End),
        "pgup" | "pageup" => return plain(KeyCode::PageUp),
        "pgdn" | "pagedown" => return plain(KeyCode::PageDown),
        "lt" => return plain(KeyCode::Char('<')),
        "gt" => return plain(KeyCode::Char('>')),
        _ => {}
    }
    let mut parts = name.splitn(2, '-');
    let (Some(m), Some(rest)) = (parts.next(), parts.next()) else {
        return Err(KeyStringError::UnknownName(name.to_string()));
    };
    let mods = match m {
        "C" | "c" => KeyModifiers::CONTROL,
        "A" | "a" | "M" | "m" => KeyModifiers::ALT,
        _ => return Err(KeyStringError::UnknownName(name.to_string())),
    };
    let mut rest_chars = rest.chars();
    match (rest_chars.next(), rest_chars.next()) {
        (Some(c), None) => Ok(char_key(c, mods)),
        _ => {
            let base = named_key(rest)?;
            Ok(KeyEvent::new(base.code, base.modifiers | mods))
        }
    }
}

/// Test helper: routes and applies every key of `keys` (see [`parse_keys`]), returning all
/// effects in order. Panics on a malformed key string (it is test input).
pub fn feed(state: &mut State, keymap: &mut Keymap, keys: &str) -> Vec<Effect> {
    let events = match parse_keys(keys) {
        Ok(ev) => ev,
        Err(e) => panic!("bad key string {keys:?}: {e}"),
    };
    let mut effects = Vec::new();
    for ev in events {
        if let Some(msg) = route_key(state, keymap, &ev) {
            effects.extend(update(state, msg).effects);
        }
    }
    effects
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_chars_names_and_chords() {
        let k = parse_keys("/da<enter>g l<C-s><space>G<lt><").unwrap();
        let codes: Vec<KeyCode> = k.iter().map(|e| e.code).collect();
        assert_eq!(
            codes,
            vec![
                KeyCode::Char('/'),
                KeyCode::Char('d'),
                KeyCode::Char('a'),
                KeyCode::Enter,
                KeyCode::Char('g'),
                KeyCode::Char('l'),
                KeyCode::Char('s'),
                KeyCode::Char(' '),
                KeyCode::Char('G'),
                KeyCode::Char('<'),
                KeyCode::Char('<'),
            ]
        );
        assert_eq!(k[6].modifiers, KeyModifiers::CONTROL);
        assert_eq!(k[8].modifiers, KeyModifiers::SHIFT);
        assert_eq!(
            parse_keys("<nope>"),
            Err(KeyStringError::UnknownName("nope".into()))
        );
    }

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
