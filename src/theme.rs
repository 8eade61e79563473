//! Themes: a palette of named colours and semantic roles mapped onto it, in TOML. At least six
//! built in (`themes/*.toml`, compiled in), user themes in `$XDG_CONFIG_HOME/tonearm/themes/`
//! that may `inherits` another; switchable at runtime.

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
