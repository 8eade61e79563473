//! Key strings for flow tests: [`parse_key_string`] turns `"/daft<enter>jj<space>"` into key
//! events and [`feed`] drives them through the loop's key routing (`input::route_key`) and
//! `update`. Test-only (declared by the app's `tests.rs`): nothing here ships in the library.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::app::effect::Effect;
use crate::app::input::route_key;
use crate::app::state::State;
use crate::app::update::update;
use crate::keymap::Keymap;

/// Why a key string given to [`parse_key_string`] is malformed.
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
pub fn parse_key_string(keys: &str) -> Result<Vec<KeyEvent>, KeyStringError> {
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

/// Routes and applies every key of `keys` (see [`parse_key_string`]) as the loop does,
/// returning all effects in order. Panics on a malformed key string (it is test input).
pub fn feed(state: &mut State, keymap: &mut Keymap, keys: &str) -> Vec<Effect> {
    let events = match parse_key_string(keys) {
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

#[test]
fn parses_chars_names_and_chords() {
    let k = parse_key_string("/da<enter>g l<C-s><space>G<lt><").unwrap();
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
        parse_key_string("<nope>"),
        Err(KeyStringError::UnknownName("nope".into()))
    );
}
