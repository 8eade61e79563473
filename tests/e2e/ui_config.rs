//! Config tests for the TUI: the fixtures in tests/fixtures/config/ loaded through
//! `tonearm::config` and `tonearm::uiconf` as `tonearm --check-config` does. The valid directory
//! loads; each invalid one fails with a message naming its file, line and bad value.

use std::path::{Path, PathBuf};

use tonearm::app::action::Action;
use tonearm::keymap::{Context, Resolved};
use tonearm::theme::Role;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

fn config(dir: &Path) -> tonearm::config::Config {
    tonearm::config::load(&dir.join("config.toml"), false).unwrap()
}

/// The error `uiconf::check` gives for fixture `name`; `load` must agree.
fn error_of(name: &str) -> String {
    let dir = fixture(name);
    let cfg = config(&dir);
    let checked = tonearm::uiconf::check(&cfg, Some(&dir))
        .unwrap_err()
        .to_string();
    let loaded = tonearm::uiconf::load(&cfg, Some(&dir))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert_eq!(checked, loaded);
    checked
}

fn assert_error(name: &str, file: &str, line: usize, value: &str) {
    let e = error_of(name);
    let at = format!("{}:{line}:", fixture(name).join(file).display());
    assert!(
        e.starts_with(&at),
        "{name}: {e}\nwanted it to start with {at}"
    );
    assert!(
        e.contains(&format!("\"{value}\"")),
        "{name}: {e}\nwanted \"{value}\""
    );
}

#[test]
fn valid_fixture_loads_and_applies_everything() {
    let dir = fixture("valid");
    let cfg = config(&dir);
    let mut ui = tonearm::uiconf::load(&cfg, Some(&dir)).unwrap();
    assert_eq!(ui.theme, "midnight");
    assert!(!ui.mouse);
    let names = ui.themes.names();
    assert_eq!(names[0], "default");
    assert!(names.iter().any(|n| n == "midnight-hc"), "{names:?}");

    // User theme over a user theme over nord: nord's palette, the user's overrides.
    let hc = ui.themes.get("midnight-hc").unwrap();
    use ratatui::style::Color;
    assert_eq!(hc.style(Role::Base).bg, Some(Color::Rgb(0x0b, 0x10, 0x20)));
    assert_eq!(
        hc.style(Role::BorderFocused).fg,
        Some(Color::Rgb(0x7a, 0xa2, 0xf7))
    );
    assert_eq!(hc.style(Role::RowSelected).bg, Some(Color::Yellow));
    assert_eq!(
        hc.style(Role::NowPlaying).fg,
        Some(Color::Rgb(0x9e, 0xce, 0x6a))
    );

    // keymap.toml: vim base, user additions and unbinds.
    let k = |s: &str| s.parse().unwrap();
    let km = &mut ui.keymap;
    assert_eq!(
        km.resolve(Context::Global, k("C-d")),
        Resolved::Action(Action::PageDown)
    );
    assert_eq!(
        km.resolve(Context::Global, k("x")),
        Resolved::Action(Action::Quit)
    );
    assert_eq!(
        km.resolve(Context::Global, k("C-c")),
        Resolved::Unbound("C-c".into())
    );
    assert_eq!(
        km.resolve(Context::Global, k("g")),
        Resolved::Pending("g".into())
    );
    assert_eq!(
        km.resolve(Context::Global, k("t")),
        Resolved::Action(Action::NextTheme)
    );
    assert_eq!(
        km.resolve(Context::Queue, k("d")),
        Resolved::Unbound("d".into())
    );
    assert_eq!(
        km.resolve(Context::Queue, k("x")),
        Resolved::Action(Action::RemoveFromQueue)
    );
    assert_eq!(
        km.resolve(Context::Queue, k("X")),
        Resolved::Action(Action::ClearQueue)
    );

    let summary = tonearm::uiconf::check(&cfg, Some(&dir)).unwrap();
    assert!(
        summary.contains("keymap.toml merged over the built-in \"vim\""),
        "{summary}"
    );
    assert!(summary.contains("2 from"), "{summary}");
    assert!(summary.contains("theme \"midnight\""), "{summary}");
    assert!(summary.contains("mouse off"), "{summary}");
}

#[test]
fn missing_config_dir_is_just_the_builtins() {
    let dir = fixture("no-such-dir");
    let ui = tonearm::uiconf::load(&tonearm::config::Config::default(), Some(&dir)).unwrap();
    assert_eq!(ui.theme, "default");
    assert!(ui.mouse);
    assert_eq!(
        ui.themes.names(),
        tonearm::theme::ThemeSet::builtin().names()
    );
}

#[test]
fn unknown_action_is_reported() {
    assert_error("unknown_action", "keymap.toml", 6, "jump_around");
    assert!(error_of("unknown_action").contains("(for key \"x\" in [queue])"));
}

#[test]
fn bad_key_is_reported() {
    assert_error("bad_key", "keymap.toml", 3, "C-");
}

#[test]
fn unknown_keymap_context_is_reported() {
    let e = error_of("unknown_context");
    assert!(e.contains("keymap.toml:4:"), "{e}");
    assert!(e.contains("unknown field \"playlist\""), "{e}");
}

#[test]
fn bad_colour_is_reported() {
    assert_error("bad_colour", "themes/broken.toml", 5, "#1db95");
}

#[test]
fn unknown_role_is_reported() {
    assert_error("unknown_role", "themes/broken.toml", 5, "border.focussed");
}

#[test]
fn bad_inherits_is_reported() {
    assert_error("bad_inherits", "themes/broken.toml", 2, "monokai-pro");
}

#[test]
fn inherits_cycle_is_reported() {
    let e = error_of("inherits_cycle");
    assert!(e.contains("cycle"), "{e}");
    assert!(e.contains(".toml:2:"), "{e}");
}

#[test]
fn unknown_theme_in_config_is_reported() {
    assert_error("unknown_theme", "config.toml", 5, "nrod");
}

#[test]
fn unknown_config_field_is_reported() {
    let dir = fixture("unknown_field");
    let e = tonearm::config::load(&dir.join("config.toml"), true)
        .unwrap_err()
        .to_string();
    let at = format!("{}:3:", dir.join("config.toml").display());
    assert!(e.starts_with(&at), "{e}");
    assert!(e.contains("colour_scheme"), "{e}");
}
