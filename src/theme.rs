//! Themes: a palette of named colours and semantic roles mapped onto it, in TOML. At least six
//! built in (`themes/*.toml`, compiled in), user themes in `$XDG_CONFIG_HOME/tonearm/themes/`
//! that may `inherits` another; switchable at runtime.
//!
//! Loaded by `uiconf` (which `main.rs` and tests call); the renderer only reads [`Theme::style`].
//! No I/O besides reading the theme directory it is given; no app state, no service modules.

/// The semantic roles the renderer styles. Theme files set them by these snake_case names
/// (with dots for the nested ones, e.g. `border.focused`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Default text and background.
    Base,
    /// Secondary text (durations, counts, subtitles).
    Dim,
    Border,
    BorderFocused,
    Title,
    TitleFocused,
    /// Tab labels; the focused pane's tab.
    Tab,
    TabActive,
    /// The selected row (focused list) and the selection in an unfocused list.
    RowSelected,
    RowSelectedUnfocused,
    /// Group headings (search result types, library sections).
    Heading,
    /// The row of the track that is playing.
    NowPlaying,
    /// Fuzzy-filter match highlight.
    Highlight,
    /// Progress bar filled/empty parts.
    ProgressFilled,
    ProgressEmpty,
    /// Text box being edited.
    Input,
    Info,
    Warning,
    Error,
    /// Key names in the help overlay and chord hints.
    Key,
}

impl Role {
    pub const ALL: [Role; 20] = [
        Role::Base,
        Role::Dim,
        Role::Border,
        Role::BorderFocused,
        Role::Title,
        Role::TitleFocused,
        Role::Tab,
        Role::TabActive,
        Role::RowSelected,
        Role::RowSelectedUnfocused,
        Role::Heading,
        Role::NowPlaying,
        Role::Highlight,
        Role::ProgressFilled,
        Role::ProgressEmpty,
        Role::Input,
        Role::Info,
        Role::Warning,
        Role::Error,
        Role::Key,
    ];

    /// The key in theme files.
    pub fn name(self) -> &'static str {
        match self {
            Role::Base => "base",
            Role::Dim => "dim",
            Role::Border => "border",
            Role::BorderFocused => "border.focused",
            Role::Title => "title",
            Role::TitleFocused => "title.focused",
            Role::Tab => "tab",
            Role::TabActive => "tab.active",
            Role::RowSelected => "row.selected",
            Role::RowSelectedUnfocused => "row.selected_unfocused",
            Role::Heading => "heading",
            Role::NowPlaying => "now_playing",
            Role::Highlight => "highlight",
            Role::ProgressFilled => "progress.filled",
            Role::ProgressEmpty => "progress.empty",
            Role::Input => "input",
            Role::Info => "info",
            Role::Warning => "warning",
            Role::Error => "error",
            Role::Key => "key",
        }
    }
}

use ratatui::style::{Color, Modifier, Style};

/// A resolved theme: one style per role.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    styles: Vec<Style>,
}

impl Theme {
    /// Builds a theme from a style per role (roles missing from `styles` get `Style::default()`).
    pub fn from_styles(name: impl Into<String>, styles: &[(Role, Style)]) -> Theme {
        let mut all = vec![Style::default(); Role::ALL.len()];
        for (role, style) in styles {
            all[*role as usize] = *style;
        }
        Theme {
            name: name.into(),
            styles: all,
        }
    }

    pub fn style(&self, role: Role) -> Style {
        self.styles.get(role as usize).copied().unwrap_or_default()
    }

    /// A plain theme in the terminal's own colours: what tests and a broken theme file fall
    /// back to.
    pub fn plain() -> Theme {
        let bold = Style::default().add_modifier(Modifier::BOLD);
        Theme::from_styles(
            "plain",
            &[
                (Role::Dim, Style::default().fg(Color::DarkGray)),
                (Role::BorderFocused, Style::default().fg(Color::Cyan)),
                (Role::TitleFocused, bold.fg(Color::Cyan)),
                (Role::Title, bold),
                (Role::TabActive, bold.add_modifier(Modifier::REVERSED)),
                (
                    Role::RowSelected,
                    Style::default().add_modifier(Modifier::REVERSED),
                ),
                (
                    Role::RowSelectedUnfocused,
                    Style::default().add_modifier(Modifier::UNDERLINED),
                ),
                (Role::Heading, bold.fg(Color::Yellow)),
                (Role::NowPlaying, bold.fg(Color::Green)),
                (Role::Highlight, bold.fg(Color::Magenta)),
                (Role::ProgressFilled, Style::default().fg(Color::Green)),
                (Role::ProgressEmpty, Style::default().fg(Color::DarkGray)),
                (Role::Input, Style::default().fg(Color::Yellow)),
                (Role::Info, Style::default().fg(Color::Cyan)),
                (Role::Warning, Style::default().fg(Color::Yellow)),
                (Role::Error, bold.fg(Color::Red)),
                (Role::Key, bold.fg(Color::Cyan)),
            ],
        )
    }
}

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::keymap::line_col;

/// The built-in themes, compiled in; `default` first. Most of them inherit `default`'s roles
/// and only replace its palette.
const BUILTIN: &[(&str, &str)] = &[
    (
        "themes/default.toml",
        include_str!("../themes/default.toml"),
    ),
    ("themes/light.toml", include_str!("../themes/light.toml")),
    (
        "themes/high-contrast.toml",
        include_str!("../themes/high-contrast.toml"),
    ),
    (
        "themes/gruvbox.toml",
        include_str!("../themes/gruvbox.toml"),
    ),
    ("themes/nord.toml", include_str!("../themes/nord.toml")),
    (
        "themes/catppuccin-mocha.toml",
        include_str!("../themes/catppuccin-mocha.toml"),
    ),
    (
        "themes/dracula.toml",
        include_str!("../themes/dracula.toml"),
    ),
    (
        "themes/solarized-dark.toml",
        include_str!("../themes/solarized-dark.toml"),
    ),
    (
        "themes/terminal.toml",
        include_str!("../themes/terminal.toml"),
    ),
];

/// Errors from theme files. Positioned variants name the file, line and column and quote the
/// bad value.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}:{line}:{column}: {message}")]
    At {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
}

/// A position in a theme file, kept with values that are only checked once inheritance is
/// resolved.
#[derive(Debug, Clone)]
struct Loc {
    origin: String,
    line: usize,
    column: usize,
}

impl Loc {
    fn at(origin: &str, text: &str, offset: usize) -> Loc {
        let (line, column) = line_col(text, offset);
        Loc {
            origin: origin.to_string(),
            line,
            column,
        }
    }

    fn error(&self, message: String) -> ThemeError {
        ThemeError::At {
            origin: self.origin.clone(),
            line: self.line,
            column: self.column,
            message,
        }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.origin, self.line, self.column)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTheme {
    name: Option<Spanned<String>>,
    inherits: Option<Spanned<String>>,
    #[serde(default)]
    palette: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    roles: BTreeMap<Spanned<String>, RawStyle>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStyle {
    fg: Option<Spanned<String>>,
    bg: Option<Spanned<String>>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    italic: bool,
    #[serde(default)]
    underline: bool,
    #[serde(default)]
    reversed: bool,
    #[serde(default)]
    dim: bool,
}

/// A colour as written in a role: a literal, or a name looked up in the (inherited) palette
/// first and among the ANSI names second, once the palette is known.
#[derive(Debug, Clone)]
enum ColorRef {
    Literal(Color),
    Name(String, Loc),
}

#[derive(Debug, Clone)]
struct RoleSpec {
    fg: Option<ColorRef>,
    bg: Option<ColorRef>,
    modifiers: Modifier,
}

/// One theme file, checked for everything that does not depend on other files.
#[derive(Debug)]
struct Parsed {
    name: String,
    name_loc: Loc,
    builtin: bool,
    inherits: Option<(String, Loc)>,
    palette: Vec<(String, Color)>,
    roles: Vec<(Role, RoleSpec)>,
}

/// Parses a colour literal: `#rrggbb`, `#rgb`, an ANSI name (`red`, `dark_gray`, `reset`...)
/// or an index `0`..`255` into the terminal's 256-colour table.
pub fn parse_color(s: &str) -> Option<Color> {
    let s = s.trim();
    if let Some(hex) = s.strip_prefix('#') {
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let v = u32::from_str_radix(hex, 16).ok()?;
        return match hex.len() {
            6 => Some(Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8)),
            3 => {
                let d = |n: u32| ((n & 0xf) * 17) as u8;
                Some(Color::Rgb(d(v >> 8), d(v >> 4), d(v)))
            }
            _ => None,
        };
    }
    if let Ok(i) = s.parse::<u8>() {
        return Some(Color::Indexed(i));
    }
    let c = match s.to_ascii_lowercase().replace('-', "_").as_str() {
        "reset" | "default" => Color::Reset,
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" | "grey" => Color::Gray,
        "dark_gray" | "dark_grey" => Color::DarkGray,
        "light_red" => Color::LightRed,
        "light_green" => Color::LightGreen,
        "light_yellow" => Color::LightYellow,
        "light_blue" => Color::LightBlue,
        "light_magenta" => Color::LightMagenta,
        "light_cyan" => Color::LightCyan,
        "white" => Color::White,
        _ => return None,
    };
    Some(c)
}

fn role_by_name(name: &str) -> Option<Role> {
    Role::ALL.into_iter().find(|r| r.name() == name)
}

fn parse_theme(text: &str, origin: &str, builtin: bool) -> Result<Parsed, ThemeError> {
    let raw: RawTheme = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
        ThemeError::At {
            origin: origin.to_string(),
            line,
            column,
            message: e.message().trim_end().replace('`', "\""),
        }
    })?;
    let loc = |offset: usize| Loc::at(origin, text, offset);
    let (name, name_loc) = match &raw.name {
        Some(n) if n.get_ref().trim().is_empty() => {
            return Err(loc(n.span().start).error("theme name must not be empty".into()))
        }
        Some(n) => (n.get_ref().clone(), loc(n.span().start)),
        // Without a name the file name is the theme's name.
        None => (
            Path::new(origin)
                .file_stem()
                .map_or_else(|| origin.to_string(), |s| s.to_string_lossy().into_owned()),
            loc(0),
        ),
    };
    let mut palette = Vec::new();
    for (key, value) in &raw.palette {
        let color = parse_color(value.get_ref()).ok_or_else(|| {
            loc(value.span().start).error(format!(
                "unknown colour \"{}\" for palette entry \"{}\" (expected #rrggbb, an ANSI \
                 name like \"red\" or \"dark_gray\", or 0-255)",
                value.get_ref(),
                key.get_ref()
            ))
        })?;
        palette.push((key.get_ref().clone(), color));
    }
    let color_ref = |v: &Spanned<String>| -> Result<ColorRef, ThemeError> {
        let s = v.get_ref();
        if s.starts_with('#') {
            parse_color(s).map(ColorRef::Literal).ok_or_else(|| {
                loc(v.span().start)
                    .error(format!("unknown colour \"{s}\" (expected #rrggbb or #rgb)"))
            })
        } else {
            Ok(ColorRef::Name(s.clone(), loc(v.span().start)))
        }
    };
    let mut roles = Vec::new();
    for (key, style) in &raw.roles {
        let role = role_by_name(key.get_ref()).ok_or_else(|| {
            let known: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
            loc(key.span().start).error(format!(
                "unknown role \"{}\" (known roles: {})",
                key.get_ref(),
                known.join(", ")
            ))
        })?;
        let mut modifiers = Modifier::empty();
        for (on, m) in [
            (style.bold, Modifier::BOLD),
            (style.italic, Modifier::ITALIC),
            (style.underline, Modifier::UNDERLINED),
            (style.reversed, Modifier::REVERSED),
            (style.dim, Modifier::DIM),
        ] {
            if on {
                modifiers |= m;
            }
        }
        roles.push((
            role,
            RoleSpec {
                fg: style.fg.as_ref().map(&color_ref).transpose()?,
                bg: style.bg.as_ref().map(&color_ref).transpose()?,
                modifiers,
            },
        ));
    }
    Ok(Parsed {
        name,
        name_loc,
        builtin,
        inherits: raw
            .inherits
            .map(|i| (i.get_ref().clone(), loc(i.span().start))),
        palette,
        roles,
    })
}

/// A theme's palette and role specs after inheritance, before colour names are looked up.
type Merged = (HashMap<String, Color>, HashMap<Role, RoleSpec>);

/// The parent that `themes[idx]` inherits: a theme of that name other than itself (a user
/// theme may shadow a built-in and inherit it by its own name); built-ins only see built-ins;
/// among several candidates the user's (later) one wins.
fn parent_of(themes: &[Parsed], idx: usize, target: &str) -> Option<usize> {
    let me = &themes[idx];
    themes
        .iter()
        .enumerate()
        .filter(|(i, t)| *i != idx && t.name == target && (t.builtin || !me.builtin))
        .filter(|(i, _)| target != me.name || *i < idx)
        .map(|(i, _)| i)
        .next_back()
}

fn merge(themes: &[Parsed], idx: usize, stack: &mut Vec<usize>) -> Result<Merged, ThemeError> {
    let me = &themes[idx];
    let (mut palette, mut roles) = match &me.inherits {
        None => (HashMap::new(), HashMap::new()),
        Some((target, loc)) => {
            let parent = parent_of(themes, idx, target).ok_or_else(|| {
                let names: Vec<&str> = themes.iter().map(|t| t.name.as_str()).collect();
                loc.error(format!(
                    "unknown inherits target \"{target}\" (known themes: {})",
                    names.join(", ")
                ))
            })?;
            if stack.contains(&parent) {
                let mut chain: Vec<&str> = stack.iter().map(|i| themes[*i].name.as_str()).collect();
                chain.push(&themes[parent].name);
                return Err(loc.error(format!(
                    "inherits \"{target}\" makes a cycle: {}",
                    chain.join(" -> ")
                )));
            }
            stack.push(parent);
            let merged = merge(themes, parent, stack)?;
            stack.pop();
            merged
        }
    };
    for (name, color) in &me.palette {
        palette.insert(name.clone(), *color);
    }
    for (role, spec) in &me.roles {
        roles.insert(*role, spec.clone());
    }
    Ok((palette, roles))
}

fn resolve_color(c: &ColorRef, palette: &HashMap<String, Color>) -> Result<Color, ThemeError> {
    match c {
        ColorRef::Literal(c) => Ok(*c),
        ColorRef::Name(name, loc) => palette
            .get(name)
            .copied()
            .or_else(|| parse_color(name))
            .ok_or_else(|| {
                loc.error(format!(
                    "unknown palette entry or colour \"{name}\" (palette has: {})",
                    {
                        let mut keys: Vec<&str> = palette.keys().map(String::as_str).collect();
                        keys.sort_unstable();
                        keys.join(", ")
                    }
                ))
            }),
    }
}

fn build(themes: &[Parsed], idx: usize) -> Result<Theme, ThemeError> {
    let me = &themes[idx];
    let (palette, roles) = merge(themes, idx, &mut vec![idx])?;
    let mut styles = Vec::with_capacity(Role::ALL.len());
    for role in Role::ALL {
        let spec = roles.get(&role).ok_or_else(|| {
            me.name_loc.error(format!(
                "theme \"{}\" does not set role \"{}\" (set it under [roles] or inherit a theme \
                 that does)",
                me.name,
                role.name()
            ))
        })?;
        let mut style = Style::default().add_modifier(spec.modifiers);
        if let Some(fg) = &spec.fg {
            style = style.fg(resolve_color(fg, &palette)?);
        }
        if let Some(bg) = &spec.bg {
            style = style.bg(resolve_color(bg, &palette)?);
        }
        styles.push((role, style));
    }
    Ok(Theme::from_styles(me.name.clone(), &styles))
}

/// All available themes, resolved: the built-ins (`default` first) and the user's.
#[derive(Debug, Clone)]
pub struct ThemeSet {
    themes: Vec<Theme>,
}

impl ThemeSet {
    /// The built-in themes. They are compiled in and covered by tests, so a failure here is a
    /// build defect; it degrades to the plain theme rather than panicking.
    pub fn builtin() -> ThemeSet {
        // Parsed once per process: the TUI, `--check-config` and tests ask for it repeatedly.
        static BUILTIN_SET: std::sync::OnceLock<ThemeSet> = std::sync::OnceLock::new();
        BUILTIN_SET
            .get_or_init(|| match ThemeSet::from_sources(Vec::new()) {
                Ok(set) => set,
                Err(e) => {
                    tracing::error!("built-in themes are broken: {e}");
                    ThemeSet {
                        themes: vec![Theme {
                            name: "default".into(),
                            ..Theme::plain()
                        }],
                    }
                }
            })
            .clone()
    }

    /// The built-ins plus every `*.toml` in `dir` (in file-name order). A missing directory
    /// gives just the built-ins. A user theme with a built-in's name replaces it.
    pub fn with_user_dir(dir: &Path) -> Result<ThemeSet, ThemeError> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return ThemeSet::from_sources(Vec::new())
            }
            Err(source) => {
                return Err(ThemeError::Io {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        };
        let mut paths = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| ThemeError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        let mut sources = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|source| ThemeError::Io {
                path: path.clone(),
                source,
            })?;
            sources.push((path.display().to_string(), text));
        }
        ThemeSet::from_sources(sources)
    }

    /// The built-ins plus user themes given as (origin, text): what tests and `with_user_dir`
    /// use.
    pub fn from_sources(user: Vec<(String, String)>) -> Result<ThemeSet, ThemeError> {
        let mut parsed = Vec::new();
        for (origin, text) in BUILTIN {
            parsed.push(parse_theme(text, origin, true)?);
        }
        let n_builtin = parsed.len();
        for (origin, text) in &user {
            let p = parse_theme(text, origin, false)?;
            if let Some(other) = parsed[n_builtin..].iter().find(|o| o.name == p.name) {
                return Err(p.name_loc.error(format!(
                    "theme \"{}\" is also defined in {}",
                    p.name, other.name_loc.origin
                )));
            }
            parsed.push(p);
        }
        let mut themes: Vec<Theme> = Vec::new();
        for idx in 0..parsed.len() {
            let theme = build(&parsed, idx)?;
            match themes.iter_mut().find(|t| t.name == theme.name) {
                Some(slot) => *slot = theme,
                None => themes.push(theme),
            }
        }
        Ok(ThemeSet { themes })
    }

    /// Theme names, `default` first, then the other built-ins, then the user's.
    pub fn names(&self) -> Vec<String> {
        self.themes.iter().map(|t| t.name.clone()).collect()
    }

    pub fn get(&self, name: &str) -> Option<&Theme> {
        self.themes.iter().find(|t| t.name == name)
    }

    pub fn len(&self) -> usize {
        self.themes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.themes.is_empty()
    }

    /// The theme after `current` in [`ThemeSet::names`] order, wrapping around (for
    /// `next_theme`); the first theme when `current` is unknown.
    pub fn next_after(&self, current: &str) -> &Theme {
        let i = self
            .themes
            .iter()
            .position(|t| t.name == current)
            .map_or(0, |i| (i + 1) % self.themes.len());
        &self.themes[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(files: &[(&str, &str)]) -> Result<ThemeSet, ThemeError> {
        ThemeSet::from_sources(
            files
                .iter()
                .map(|(o, t)| (o.to_string(), t.to_string()))
                .collect(),
        )
    }

    #[test]
    fn every_builtin_theme_parses_and_sets_every_role() {
        // Parse each file on its own too, so a broken one is named.
        for (origin, text) in BUILTIN {
            parse_theme(text, origin, true).unwrap();
        }
        let set = ThemeSet::from_sources(Vec::new()).unwrap();
        let names = set.names();
        assert_eq!(names[0], "default");
        for want in [
            "default",
            "light",
            "high-contrast",
            "gruvbox",
            "nord",
            "catppuccin-mocha",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
        }
        assert_eq!(names.len(), BUILTIN.len());
        assert_eq!(ThemeSet::builtin().names(), names);
        // Every theme gives the base role real colours (except the terminal-colour theme).
        for name in &names {
            let t = set.get(name).unwrap();
            assert_eq!(&t.name, name);
            if name != "terminal" {
                assert!(t.style(Role::Base).fg.is_some(), "{name}");
                assert!(t.style(Role::Base).bg.is_some(), "{name}");
            }
        }
    }

    #[test]
    fn palette_inheritance_recolours_parent_roles() {
        let nord = ThemeSet::builtin();
        let nord = nord.get("nord").unwrap();
        assert_eq!(
            nord.style(Role::Base).bg,
            Some(Color::Rgb(0x2e, 0x34, 0x40))
        );
        assert_eq!(
            nord.style(Role::BorderFocused).fg,
            Some(Color::Rgb(0x88, 0xc0, 0xd0))
        );
        assert!(nord
            .style(Role::Error)
            .add_modifier
            .contains(Modifier::BOLD));
    }

    #[test]
    fn high_contrast_is_black_and_white() {
        let set = ThemeSet::builtin();
        let hc = set.get("high-contrast").unwrap();
        assert_eq!(hc.style(Role::Base).fg, Some(Color::Rgb(255, 255, 255)));
        assert_eq!(hc.style(Role::Base).bg, Some(Color::Rgb(0, 0, 0)));
        assert_eq!(hc.style(Role::RowSelected).fg, Some(Color::Rgb(0, 0, 0)));
        assert_eq!(
            hc.style(Role::RowSelected).bg,
            Some(Color::Rgb(255, 255, 0))
        );
    }

    #[test]
    fn user_theme_inherits_another_user_theme() {
        let set = user(&[
            (
                "a.toml",
                "name = \"mine\"\ninherits = \"nord\"\n[palette]\naccent = \"#ff0000\"\n",
            ),
            (
                "b.toml",
                "name = \"mine2\"\ninherits = \"mine\"\n[roles]\nkey = { fg = \"red\", italic = true }\n",
            ),
        ])
        .unwrap();
        let names = set.names();
        assert_eq!(&names[names.len() - 2..], ["mine", "mine2"]);
        let t = set.get("mine2").unwrap();
        assert_eq!(t.style(Role::BorderFocused).fg, Some(Color::Rgb(255, 0, 0)));
        assert_eq!(t.style(Role::Key).fg, Some(Color::Red));
        assert!(t.style(Role::Key).add_modifier.contains(Modifier::ITALIC));
        // Untouched palette entries come from nord.
        assert_eq!(t.style(Role::Base).bg, Some(Color::Rgb(0x2e, 0x34, 0x40)));
    }

    #[test]
    fn user_theme_may_replace_a_builtin_and_inherit_it() {
        let set = user(&[(
            "default.toml",
            "name = \"default\"\ninherits = \"default\"\n[palette]\nbg = \"black\"\n",
        )])
        .unwrap();
        assert_eq!(set.names().len(), BUILTIN.len());
        assert_eq!(set.names()[0], "default");
        assert_eq!(
            set.get("default").unwrap().style(Role::Base).bg,
            Some(Color::Black)
        );
        // Built-ins that inherit "default" keep the built-in one.
        assert_eq!(
            set.get("nord").unwrap().style(Role::Base).bg,
            Some(Color::Rgb(0x2e, 0x34, 0x40))
        );
    }

    #[test]
    fn inherits_cycles_are_rejected() {
        let e = user(&[
            ("a.toml", "name = \"a\"\ninherits = \"b\"\n"),
            ("b.toml", "name = \"b\"\ninherits = \"a\"\n"),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("cycle"), "{e}");
        assert!(e.contains(":2:"), "{e}");
        let e = user(&[("a.toml", "name = \"a\"\ninherits = \"a\"\n")])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("a.toml:2:"), "{e}");
    }

    #[test]
    fn errors_name_file_line_and_value() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "name = \"x\"\ninherits = \"nope\"\n",
                "x.toml:2:12: unknown inherits target \"nope\"",
                "",
            ),
            (
                "name = \"x\"\ninherits = \"default\"\n[palette]\naccent = \"#12345\"\n",
                "x.toml:4:10: unknown colour \"#12345\"",
                "",
            ),
            (
                "name = \"x\"\ninherits = \"default\"\n[roles]\n\"border.focussed\" = { fg = \"red\" }\n",
                "x.toml:4:1: unknown role \"border.focussed\"",
                "",
            ),
            (
                "name = \"x\"\ninherits = \"default\"\n[roles]\nkey = { fg = \"acent\" }\n",
                "x.toml:4:14: unknown palette entry or colour \"acent\"",
                "",
            ),
            (
                "name = \"x\"\ninherits = \"default\"\n[roles]\nkey = { fg = \"#zzzzzz\" }\n",
                "x.toml:4:14: unknown colour \"#zzzzzz\"",
                "",
            ),
            (
                "name = \"x\"\n[roles]\nkey = { fg = \"red\" }\n",
                "x.toml:1:8: theme \"x\" does not set role \"base\"",
                "",
            ),
            (
                "name = \"x\"\n[roles]\nkey = { fg = \"red\", blink = true }\n",
                "x.toml:3:",
                "blink",
            ),
        ];
        for (text, prefix, also) in cases {
            let e = user(&[("x.toml", text)]).unwrap_err().to_string();
            assert!(e.starts_with(prefix), "{e}\nwanted {prefix}");
            assert!(e.contains(also), "{e}");
        }
    }

    #[test]
    fn duplicate_user_names_are_rejected() {
        let e = user(&[
            ("a.toml", "name = \"x\"\ninherits = \"default\"\n"),
            ("b.toml", "name = \"x\"\ninherits = \"default\"\n"),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("b.toml:1:"), "{e}");
        assert!(e.contains("a.toml"), "{e}");
    }

    #[test]
    fn colours_parse() {
        assert_eq!(parse_color("#ff8000"), Some(Color::Rgb(255, 128, 0)));
        assert_eq!(parse_color("#f80"), Some(Color::Rgb(255, 136, 0)));
        assert_eq!(parse_color("dark_gray"), Some(Color::DarkGray));
        assert_eq!(parse_color("light-blue"), Some(Color::LightBlue));
        assert_eq!(parse_color("reset"), Some(Color::Reset));
        assert_eq!(parse_color("208"), Some(Color::Indexed(208)));
        for bad in ["#ff80", "#gggggg", "orange", "256", ""] {
            assert_eq!(parse_color(bad), None, "{bad}");
        }
    }

    #[test]
    fn next_after_cycles() {
        let set = ThemeSet::builtin();
        let names = set.names();
        assert_eq!(set.next_after(&names[0]).name, names[1]);
        assert_eq!(set.next_after(&names[names.len() - 1]).name, names[0]);
        assert_eq!(set.next_after("nope").name, names[0]);
    }

    #[test]
    fn missing_user_dir_gives_builtins() {
        let set = ThemeSet::with_user_dir(Path::new("/nonexistent/tonearm/themes")).unwrap();
        assert_eq!(set.names(), ThemeSet::builtin().names());
    }
}

#[cfg(test)]
mod contrast {
    use super::*;

    fn luminance(c: Color) -> Option<f64> {
        let Color::Rgb(r, g, b) = c else { return None };
        let f = |v: u8| {
            let c = f64::from(v) / 255.0;
            if c <= 0.03928 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        Some(0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b))
    }

    /// WCAG contrast ratio, `None` when either colour is not an RGB literal.
    fn ratio(a: Color, b: Color) -> Option<f64> {
        let (la, lb) = (luminance(a)?, luminance(b)?);
        Some((la.max(lb) + 0.05) / (la.min(lb) + 0.05))
    }

    /// Every RGB theme is readable: body text ≥ 4.5:1 (WCAG AA), other text ≥ 3:1, unfocused
    /// borders visible (≥ 2:1); high-contrast is ≥ 7:1 (AAA) everywhere it draws text.
    #[test]
    fn builtin_themes_are_readable() {
        let set = ThemeSet::builtin();
        for name in set.names() {
            let t = set.get(&name).unwrap();
            let Some(bg) = t.style(Role::Base).bg else {
                continue;
            };
            let hc = name == "high-contrast";
            for role in Role::ALL {
                let s = t.style(role);
                let Some(fg) = s.fg else { continue };
                let Some(r) = ratio(fg, s.bg.unwrap_or(bg)) else {
                    continue;
                };
                let min = match role {
                    _ if hc => 7.0,
                    Role::Base | Role::RowSelected => 4.5,
                    Role::Border | Role::ProgressEmpty => 2.0,
                    _ => 3.0,
                };
                assert!(r >= min, "{name}: {} contrast {r:.2} < {min}", role.name());
            }
        }
    }
}
