//! The TUI's configuration in one place: the keymap (a built-in base with the user's
//! `keymap.toml` merged over it), the themes (built-ins plus `themes/*.toml`), the chosen theme
//! and the mouse switch from `config.toml`'s `[ui]` section. `load` is what the TUI starts from;
//! `check` is `tonearm --check-config`.
//!
//! Called by `main.rs` (and tests) after the config is resolved. Reads only the files it names;
//! depends on `config`, `keymap` and `theme`, never on service modules or the event loop.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::keymap::{Keymap, KeymapError, BUILTIN_NAMES};
use crate::theme::{ThemeError, ThemeSet};

/// Everything the TUI needs to look and respond the way the user asked.
#[derive(Debug, Clone)]
pub struct UiConfig {
    pub keymap: Keymap,
    pub themes: ThemeSet,
    /// The starting theme; always a name in `themes`.
    pub theme: String,
    pub mouse: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum UiConfigError {
    #[error(transparent)]
    Keymap(#[from] KeymapError),
    #[error(transparent)]
    Theme(#[from] ThemeError),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A `[ui]` value that names something that does not exist.
    #[error("{at}: unknown {what} \"{value}\" (available: {available})")]
    Unknown {
        at: String,
        what: &'static str,
        value: String,
        available: String,
    },
}

/// What [`load`] read, for the `--check-config` summary.
struct Loaded {
    ui: UiConfig,
    base: String,
    keymap_file: Option<PathBuf>,
    theme_dir: Option<PathBuf>,
    user_themes: usize,
}

/// Reads the UI configuration. `config_dir` is tonearm's config directory (holding
/// `keymap.toml` and `themes/`); `None` uses the built-ins only.
///
/// The keymap base is the user file's top-level `base`, else `[ui] keymap`, else "default".
pub fn load(cfg: &Config, config_dir: Option<&Path>) -> Result<UiConfig, UiConfigError> {
    load_inner(cfg, config_dir).map(|l| l.ui)
}

fn load_inner(cfg: &Config, config_dir: Option<&Path>) -> Result<Loaded, UiConfigError> {
    let keymap_path = config_dir.map(|d| d.join("keymap.toml"));
    let user_keymap = match &keymap_path {
        None => None,
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Some((path.clone(), text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(UiConfigError::Io {
                    path: path.clone(),
                    source,
                })
            }
        },
    };

    let base = match (&user_keymap, &cfg.ui.keymap) {
        (Some((path, text)), cfg_base) => {
            match Keymap::user_base(text, &path.display().to_string())? {
                Some(b) => b,
                None => config_base(cfg_base)?,
            }
        }
        (None, cfg_base) => config_base(cfg_base)?,
    };
    let mut keymap = Keymap::builtin(&base)?;
    if let Some((path, text)) = &user_keymap {
        keymap = Keymap::merged(keymap, text, &path.display().to_string())?;
    }

    let theme_dir = config_dir.map(|d| d.join("themes"));
    let themes = match &theme_dir {
        Some(dir) => ThemeSet::with_user_dir(dir)?,
        None => ThemeSet::builtin(),
    };
    let user_themes = themes.len().saturating_sub(ThemeSet::builtin().len());
    let theme = match &cfg.ui.theme {
        None => "default".to_string(),
        Some(s) if themes.get(&s.value).is_some() => s.value.clone(),
        Some(s) => {
            return Err(UiConfigError::Unknown {
                at: s.at.clone(),
                what: "theme",
                value: s.value.clone(),
                available: themes.names().join(", "),
            })
        }
    };
    Ok(Loaded {
        ui: UiConfig {
            keymap,
            themes,
            theme,
            mouse: cfg.ui.mouse.unwrap_or(true),
        },
        base,
        keymap_file: user_keymap.map(|(p, _)| p),
        theme_dir: theme_dir.filter(|d| d.is_dir()),
        user_themes,
    })
}

fn config_base(setting: &Option<crate::config::Setting>) -> Result<String, UiConfigError> {
    match setting {
        None => Ok("default".into()),
        Some(s) if BUILTIN_NAMES.contains(&s.value.as_str()) => Ok(s.value.clone()),
        Some(s) => Err(UiConfigError::Unknown {
            at: s.at.clone(),
            what: "keymap",
            value: s.value.clone(),
            available: BUILTIN_NAMES.join(", "),
        }),
    }
}

/// Validates the keymap and themes as [`load`] would and describes what was read, in one
/// paragraph, for `tonearm --check-config`.
pub fn check(cfg: &Config, config_dir: Option<&Path>) -> Result<String, UiConfigError> {
    let l = load_inner(cfg, config_dir)?;
    let keymap = match &l.keymap_file {
        Some(p) => format!("{} merged over the built-in \"{}\"", p.display(), l.base),
        None => format!("the built-in \"{}\"", l.base),
    };
    let themes = match &l.theme_dir {
        Some(d) if l.user_themes > 0 => format!(
            "{} themes ({} built-in, {} from {})",
            l.ui.themes.len(),
            l.ui.themes.len() - l.user_themes,
            l.user_themes,
            d.display()
        ),
        _ => format!("{} themes (built-in)", l.ui.themes.len()),
    };
    Ok(format!(
        "UI config OK: keymap {keymap} with {} bindings; {themes}; theme \"{}\"; mouse {}.",
        l.ui.keymap.len(),
        l.ui.theme,
        if l.ui.mouse { "on" } else { "off" },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::action::Action;
    use crate::keymap::{Context, Resolved};

    fn cfg(text: &str) -> Config {
        crate::config::parse(text, Path::new("config.toml")).unwrap()
    }

    #[test]
    fn builtins_only() {
        let ui = load(&Config::default(), None).unwrap();
        assert_eq!(ui.theme, "default");
        assert!(ui.mouse);
        assert_eq!(ui.themes.names(), ThemeSet::builtin().names());
        let s = check(&Config::default(), None).unwrap();
        assert!(s.contains("built-in \"default\""), "{s}");
    }

    #[test]
    fn ui_section_picks_theme_keymap_and_mouse() {
        let c = cfg("[ui]\ntheme = \"nord\"\nkeymap = \"vim\"\nmouse = false\n");
        let mut ui = load(&c, None).unwrap();
        assert_eq!(ui.theme, "nord");
        assert!(!ui.mouse);
        assert_eq!(
            ui.keymap.resolve(Context::Global, "C-d".parse().unwrap()),
            Resolved::Action(Action::PageDown)
        );
    }

    #[test]
    fn unknown_theme_and_keymap_names_point_at_the_config() {
        let e = load(&cfg("[ui]\ntheme = \"nrod\"\n"), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("config.toml:2:9: unknown theme \"nrod\""),
            "{e}"
        );
        assert!(e.contains("nord"), "{e}");
        let e = load(&cfg("[ui]\nkeymap = \"emacs\"\n"), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("config.toml:2:10: unknown keymap \"emacs\""),
            "{e}"
        );
    }
}
