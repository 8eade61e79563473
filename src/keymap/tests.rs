//! The keymap's tests: key parsing, chords, contexts, user files merged over the base.
use super::*;
use crate::action::Pane;

fn key(s: &str) -> Key {
    s.parse().unwrap()
}

fn press(map: &mut Keymap, ctx: Context, keys: &str) -> Resolved {
    let mut last = Resolved::Unbound(String::new());
    for k in keys.split_whitespace() {
        last = map.resolve(ctx, key(k));
    }
    last
}

#[test]
fn key_round_trips() {
    for s in [
        "a",
        "G",
        "<",
        ">",
        "?",
        "/",
        "-",
        "+",
        "1",
        "space",
        "enter",
        "esc",
        "tab",
        "backtab",
        "backspace",
        "delete",
        "up",
        "down",
        "left",
        "right",
        "home",
        "end",
        "pageup",
        "pagedown",
        "f1",
        "f12",
        "C-s",
        "A-x",
        "C-A-x",
        "S-up",
        "C--",
        "[",
    ] {
        assert_eq!(key(s).to_string(), s, "round trip of {s}");
    }
}

#[test]
fn key_aliases_normalise() {
    assert_eq!(key("M-x"), key("A-x"));
    assert_eq!(key("S-tab"), key("backtab"));
    assert_eq!(key("S-g"), key("G"));
    assert_eq!(key("Enter"), key("enter"));
    assert_eq!(key("F5").to_string(), "f5");
    assert_eq!(key("return").to_string(), "enter");
    assert_ne!(key("g"), key("G"));
}

#[test]
fn bad_keys_are_rejected_with_the_value() {
    for s in ["C-", "", "f13", "bogus", "C-bogus", "S-", " "] {
        let e = s.parse::<Key>().expect_err(s);
        assert!(e.to_string().contains(&format!("\"{s}\"")), "{e}");
    }
}

#[test]
fn from_event_normalises() {
    use crossterm::event::KeyEventState;
    let ev = |code, mods| KeyEvent::new(code, mods);
    assert_eq!(
        Key::from_event(&ev(KeyCode::Char('G'), KeyModifiers::SHIFT)),
        Some(key("G"))
    );
    assert_eq!(
        Key::from_event(&ev(KeyCode::Char('s'), KeyModifiers::CONTROL)),
        Some(key("C-s"))
    );
    assert_eq!(
        Key::from_event(&ev(KeyCode::BackTab, KeyModifiers::SHIFT)),
        Some(key("backtab"))
    );
    assert_eq!(
        Key::from_event(&ev(KeyCode::Char(' '), KeyModifiers::NONE)),
        Some(key("space"))
    );
    let release = KeyEvent {
        code: KeyCode::Char('j'),
        modifiers: KeyModifiers::NONE,
        kind: KeyEventKind::Release,
        state: KeyEventState::NONE,
    };
    assert_eq!(Key::from_event(&release), None);
    assert_eq!(
        Key::from_event(&ev(KeyCode::CapsLock, KeyModifiers::NONE)),
        None
    );
}

#[test]
fn builtin_keymaps_parse_and_name_known_actions() {
    for name in BUILTIN_NAMES {
        let map = Keymap::builtin(name).unwrap();
        assert!(map.len() > 40, "{name} has {} bindings", map.len());
        // from_toml already rejects unknown actions; check every help line has text too.
        for e in map.help_entries() {
            assert!(!e.description.is_empty());
        }
    }
    assert!(Keymap::builtin("emacs").is_err());
}

#[test]
fn default_bindings_follow_the_product_guide() {
    let mut m = Keymap::builtin("default").unwrap();
    let g = Context::Global;
    assert_eq!(press(&mut m, g, "j"), Resolved::Action(Action::Down));
    assert_eq!(press(&mut m, g, "G"), Resolved::Action(Action::Bottom));
    assert_eq!(press(&mut m, g, "g g"), Resolved::Action(Action::Top));
    assert_eq!(
        press(&mut m, g, "g q"),
        Resolved::Action(Action::Focus(Pane::Queue))
    );
    assert_eq!(
        press(&mut m, g, "space"),
        Resolved::Action(Action::TogglePlay)
    );
    assert_eq!(
        press(&mut m, g, "C-s"),
        Resolved::Action(Action::ToggleShuffle)
    );
    assert_eq!(
        press(&mut m, g, "<"),
        Resolved::Action(Action::SeekBackward)
    );
    assert_eq!(press(&mut m, g, "Z"), Resolved::Action(Action::PlayNext));
    assert_eq!(
        press(&mut m, Context::Queue, "d"),
        Resolved::Action(Action::RemoveFromQueue)
    );
    assert_eq!(
        press(&mut m, Context::Devices, "enter"),
        Resolved::Action(Action::Transfer)
    );
    assert_eq!(
        press(&mut m, Context::Library, "enter"),
        Resolved::Action(Action::Select)
    );
}

#[test]
fn chords_pend_then_resolve_or_fail() {
    let mut m = Keymap::builtin("default").unwrap();
    assert_eq!(
        m.resolve(Context::Queue, key("g")),
        Resolved::Pending("g".into())
    );
    assert_eq!(m.pending(), Some("g".into()));
    assert_eq!(
        m.resolve(Context::Queue, key("x")),
        Resolved::Unbound("g x".into())
    );
    assert_eq!(m.pending(), None);
    // After a failed chord the next key starts fresh.
    assert_eq!(
        m.resolve(Context::Queue, key("j")),
        Resolved::Action(Action::Down)
    );
    assert_eq!(
        m.resolve(Context::Global, key("x")),
        Resolved::Unbound("x".into())
    );
}

#[test]
fn reset_drops_the_pending_chord() {
    let mut m = Keymap::builtin("default").unwrap();
    assert!(matches!(
        m.resolve(Context::Global, key("g")),
        Resolved::Pending(_)
    ));
    m.reset();
    assert_eq!(m.pending(), None);
    assert_eq!(
        m.resolve(Context::Global, key("l")),
        Resolved::Unbound("l".into())
    );
    // In the library "l" alone is bound (next section), so the reset matters there too.
    assert!(matches!(
        m.resolve(Context::Library, key("g")),
        Resolved::Pending(_)
    ));
    m.reset();
    assert_eq!(
        m.resolve(Context::Library, key("l")),
        Resolved::Action(Action::NextSection)
    );
}

#[test]
fn context_table_wins_then_global_fallback() {
    let src = "[global]\nx = \"quit\"\ny = \"help\"\n[queue]\nx = \"clear_queue\"\n";
    let mut m = Keymap::from_toml(src, "t.toml").unwrap();
    assert_eq!(
        m.resolve(Context::Queue, key("x")),
        Resolved::Action(Action::ClearQueue)
    );
    assert_eq!(
        m.resolve(Context::Queue, key("y")),
        Resolved::Action(Action::ToggleHelp)
    );
    assert_eq!(
        m.resolve(Context::Library, key("x")),
        Resolved::Action(Action::Quit)
    );
}

#[test]
fn a_pane_binding_shadows_global_chords() {
    let base = Keymap::builtin("default").unwrap();
    let mut m = Keymap::merged(base, "[queue]\ng = \"clear_queue\"\n", "keymap.toml").unwrap();
    assert_eq!(
        m.resolve(Context::Queue, key("g")),
        Resolved::Action(Action::ClearQueue)
    );
    // Other panes still get the global chords.
    assert_eq!(
        m.resolve(Context::Library, key("g")),
        Resolved::Pending("g".into())
    );
    assert_eq!(
        m.resolve(Context::Library, key("q")),
        Resolved::Action(Action::Focus(Pane::Queue))
    );
    // And a pane's chord continues into the global table's keys when it has none.
    let src = "[global]\n\"g x\" = \"quit\"\n[queue]\n\"g y\" = \"help\"\n";
    let mut m = Keymap::from_toml(src, "t.toml").unwrap();
    assert_eq!(
        m.resolve(Context::Queue, key("g")),
        Resolved::Pending("g".into())
    );
    assert_eq!(
        m.resolve(Context::Queue, key("x")),
        Resolved::Action(Action::Quit)
    );
}

#[test]
fn chord_beats_a_plain_binding_of_its_first_key() {
    let src = "[global]\ng = \"help\"\n\"g g\" = \"top\"\n";
    let mut m = Keymap::from_toml(src, "t.toml").unwrap();
    assert_eq!(
        m.resolve(Context::Global, key("g")),
        Resolved::Pending("g".into())
    );
    assert_eq!(
        m.resolve(Context::Global, key("g")),
        Resolved::Action(Action::Top)
    );
}

#[test]
fn user_file_merges_over_base_and_none_unbinds() {
    let base = Keymap::builtin("default").unwrap();
    let user = "[global]\nj = \"none\"\nx = \"quit\"\ng = \"top\"\n[queue]\nd = \"none\"\n";
    let mut m = Keymap::merged(base, user, "keymap.toml").unwrap();
    assert_eq!(
        m.resolve(Context::Global, key("j")),
        Resolved::Unbound("j".into())
    );
    assert_eq!(
        m.resolve(Context::Global, key("x")),
        Resolved::Action(Action::Quit)
    );
    // Binding "g" alone drops the base's g-chords instead of being shadowed by them.
    assert_eq!(
        m.resolve(Context::Global, key("g")),
        Resolved::Action(Action::Top)
    );
    assert_eq!(
        m.resolve(Context::Queue, key("d")),
        Resolved::Unbound("d".into())
    );
    // Untouched bindings survive.
    assert_eq!(
        m.resolve(Context::Global, key("k")),
        Resolved::Action(Action::Up)
    );
    assert_eq!(
        m.resolve(Context::Queue, key("J")),
        Resolved::Action(Action::MoveDown)
    );
}

#[test]
fn vim_overlay_replaces_queue_d_with_a_chord() {
    let mut m = Keymap::builtin("vim").unwrap();
    assert_eq!(
        m.resolve(Context::Queue, key("d")),
        Resolved::Pending("d".into())
    );
    assert_eq!(
        m.resolve(Context::Queue, key("d")),
        Resolved::Action(Action::RemoveFromQueue)
    );
    assert_eq!(
        m.resolve(Context::Global, key("C-d")),
        Resolved::Action(Action::PageDown)
    );
    assert_eq!(
        m.resolve(Context::Library, key("h")),
        Resolved::Action(Action::Back)
    );
}

#[test]
fn errors_name_file_line_column_and_value() {
    let src = "[global]\nj = \"down\"\n\n[queue]\nx = \"jump_around\"\n";
    let e = Keymap::from_toml(src, "keymap.toml").unwrap_err();
    assert_eq!(
        e.to_string(),
        "keymap.toml:5:1: unknown action \"jump_around\" (for key \"x\" in [queue])"
    );
    let src = "[global]\nj = \"down\"\n\"C-\" = \"up\"\n";
    let e = Keymap::from_toml(src, "keymap.toml").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("keymap.toml:3:1: bad key \"C-\" in [global]: "),
        "{e}"
    );
    let src = "[global]\n\"g bogus\" = \"up\"\n";
    let e = Keymap::from_toml(src, "k.toml").unwrap_err();
    assert!(e.to_string().contains("\"bogus\""), "{e}");
    let src = "[globl]\nj = \"down\"\n";
    let e = Keymap::from_toml(src, "k.toml").unwrap_err();
    assert!(e.to_string().starts_with("k.toml:1:"), "{e}");
    assert!(e.to_string().contains("globl"), "{e}");
    let e = Keymap::user_base("base = \"emacs\"\n", "k.toml").unwrap_err();
    assert!(e.to_string().starts_with("k.toml:1:"), "{e}");
    assert!(e.to_string().contains("\"emacs\""), "{e}");
    assert_eq!(
        Keymap::user_base("base = \"vim\"\n", "k.toml").unwrap(),
        Some("vim".into())
    );
}

#[test]
fn pending_hints_list_the_continuations() {
    let mut m = Keymap::builtin("default").unwrap();
    assert!(m.pending_hints(Context::Queue).is_empty());
    m.resolve(Context::Queue, key("g"));
    let hints = m.pending_hints(Context::Queue);
    let keys: Vec<&str> = hints.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["d", "g", "l", "q", "r", "s", "t"]);
    assert!(hints.contains(&("q".to_string(), "Go to the queue")));
}

#[test]
fn every_pane_has_a_context() {
    for pane in Pane::ALL {
        assert_eq!(Context::for_pane(pane).name(), pane.title().to_lowercase());
    }
}

#[test]
fn aliases_bound_twice_are_rejected() {
    let src = "[global]\nbacktab = \"up\"\n\"S-tab\" = \"down\"\n";
    let e = Keymap::from_toml(src, "k.toml").unwrap_err().to_string();
    assert!(e.starts_with("k.toml:"), "{e}");
    assert!(e.contains("\"S-tab\"") && e.contains("\"backtab\""), "{e}");
    // The same key in two contexts is fine.
    let src = "[global]\nx = \"up\"\n[queue]\nx = \"down\"\n";
    Keymap::from_toml(src, "k.toml").unwrap();
}

#[test]
fn shifted_lowercase_from_terminal_is_the_capital() {
    let ev = KeyEvent::new(
        KeyCode::Char('s'),
        KeyModifiers::CONTROL | KeyModifiers::SHIFT,
    );
    assert_eq!(Key::from_event(&ev), Some(key("C-S")));
    assert_eq!(key("C-S-s"), key("C-S"));
    assert_eq!(key("C-S").to_string(), "C-S");
}

#[test]
fn help_entries_group_keys_by_action() {
    let m = Keymap::builtin("default").unwrap();
    let entries = m.help_entries();
    let down = entries
        .iter()
        .find(|e| e.context == Context::Global && e.description == "Move down")
        .unwrap();
    assert_eq!(down.keys, "j, down");
    let lib = entries
        .iter()
        .find(|e| e.context == Context::Global && e.description == "Go to the library")
        .unwrap();
    assert_eq!(lib.keys, "1, g l");
    // Grouped: all global entries come before any library entry.
    let first_lib = entries
        .iter()
        .position(|e| e.context == Context::Library)
        .unwrap();
    assert!(entries[first_lib..]
        .iter()
        .all(|e| e.context != Context::Global));
}
