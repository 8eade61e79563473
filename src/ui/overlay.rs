//! Full-screen and popup views: the help overlay (every key binding grouped by context,
//! scrollable) and the login screen (choose a sign-in method, then the stage's details).
//!
//! Called by `ui::draw`. Reads the help entries, the login stage and the theme. The password
//! typed on the login screen is never drawn — only one dot per char. Must not depend on the
//! auth module or do I/O: the stage carries everything shown.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;

use crate::app::action::Pane;
use crate::app::state::{ListCursor, LoginMethod, LoginStage};
use crate::keymap::{Context, HelpEntry};
use crate::theme::{Role, Theme};

use super::widgets::{
    block, centered, clear, draw_list, put, text_width, Cell, Column, ListCtx, RowCells, Rows,
};

/// Help entries in context order (stable within a context).
struct HelpRows<'a> {
    entries: &'a [HelpEntry],
    order: Vec<usize>,
}

fn context_title(c: Context) -> &'static str {
    match c {
        Context::Global => "Everywhere",
        Context::Library => "Library",
        Context::Search => "Search",
        Context::Queue => "Queue",
        Context::Devices => "Devices",
        Context::Log => "Log",
        Context::Help => "Help",
        Context::Login => "Sign-in screen",
        Context::Lyrics => "Lyrics",
    }
}

impl HelpRows<'_> {
    fn entry(&self, i: usize) -> Option<&HelpEntry> {
        self.order.get(i).and_then(|j| self.entries.get(*j))
    }
}

impl Rows for HelpRows<'_> {
    fn len(&self) -> usize {
        self.order.len()
    }
    fn row(&self, i: usize) -> RowCells<'_> {
        match self.entry(i) {
            Some(e) => RowCells {
                cells: vec![
                    Cell::styled(e.keys.as_str(), Role::Key),
                    Cell::text(e.description),
                ],
                row_role: None,
            },
            None => RowCells::default(),
        }
    }
    fn heading(&self, i: usize) -> Option<&'static str> {
        let c = self.entry(i)?.context;
        match i {
            0 => Some(context_title(c)),
            _ => (self.entry(i - 1)?.context != c).then_some(context_title(c)),
        }
    }
    fn has_headings(&self) -> bool {
        true
    }
}

const HELP_COLUMNS: [Column; 2] = [Column::fit(18, false, 0), Column::flex(1, 0)];

/// The help popup over `full`, scrolled by `cursor`.
pub(crate) fn help(
    buf: &mut Buffer,
    full: Rect,
    entries: &[HelpEntry],
    cursor: ListCursor,
    theme: &Theme,
) {
    // Entries, a heading and a blank line per context, the footer and the borders.
    let contexts = Context::ALL
        .iter()
        .filter(|c| entries.iter().any(|e| e.context == **c))
        .count();
    let wanted = (entries.len() + 2 * contexts + 3).min(u16::MAX as usize) as u16;
    let w = full.width.saturating_sub(4).min(80);
    let h = full.height.saturating_sub(2).min(wanted.max(5));
    if w < 10 || h < 3 {
        return;
    }
    let r = centered(full, w, h);
    clear(buf, r, theme.style(Role::Base));
    let inner = block(buf, r, "Keys", true, theme);
    if inner.height == 0 {
        return;
    }
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|i| {
        Context::ALL
            .iter()
            .position(|c| *c == entries[*i].context)
            .unwrap_or(usize::MAX)
    });
    let rows = HelpRows { entries, order };
    let mut list_r = inner;
    if inner.height >= 4 {
        list_r.height -= 1;
        put(
            buf,
            inner.x + 1,
            inner.bottom() - 1,
            inner.width.saturating_sub(2),
            "↑↓ scroll · ? or esc close",
            theme.style(Role::Dim),
        );
    }
    let ctx = ListCtx {
        pane: Pane::Library,
        columns: &HELP_COLUMNS,
        cursor,
        focused: true,
        filter: None,
        follow_tail: false,
        empty: "No key bindings",
    };
    // The popup's rows are not a pane's list: not reported for mouse hit-testing.
    let _ = draw_list(buf, list_r, &rows, &ctx, theme);
}

fn method_text(m: LoginMethod) -> (&'static str, &'static str) {
    match m {
        LoginMethod::Browser => (
            "Sign in with your browser",
            "Opens Spotify's sign-in page in your web browser",
        ),
        LoginMethod::DeviceCode => (
            "Pair with a code",
            "For SSH or headless machines: pair on another device",
        ),
        LoginMethod::Password => (
            "Username and password",
            "Legacy, usually refused by Spotify today",
        ),
    }
}

/// A cursor of lines inside the login box.
struct Lines<'b> {
    buf: &'b mut Buffer,
    x: u16,
    y: u16,
    w: u16,
    bottom: u16,
}

impl Lines<'_> {
    fn line(&mut self, text: &str, style: ratatui::style::Style) {
        if self.y < self.bottom {
            put(self.buf, self.x, self.y, self.w, text, style);
            self.y += 1;
        }
    }
    /// Text that must stay whole (a URL to copy): broken across lines rather than truncated.
    fn wrapped(&mut self, text: &str, style: ratatui::style::Style) {
        let chars: Vec<char> = text.chars().collect();
        if self.w == 0 {
            return;
        }
        for chunk in chars.chunks(self.w as usize) {
            let s: String = chunk.iter().collect();
            self.line(&s, style);
        }
    }
    fn blank(&mut self) {
        self.y += 1;
    }
}

/// The login screen in `r`.
pub(crate) fn login(buf: &mut Buffer, r: Rect, stage: &LoginStage, theme: &Theme) {
    let r = r.intersection(buf.area);
    if r.width == 0 || r.height == 0 {
        return;
    }
    let w = r.width.min(72);
    let h = r.height.min(login_height(stage, w.saturating_sub(6)));
    let boxr = centered(r, w, h);
    let inner = block(buf, boxr, "Sign in to Spotify", true, theme);
    if inner.width < 3 || inner.height == 0 {
        return;
    }
    let mut l = Lines {
        x: inner.x + 2.min(inner.width / 4),
        w: inner.width.saturating_sub(4),
        y: inner.y + (inner.height >= 6) as u16,
        bottom: inner.bottom(),
        buf,
    };
    let dim = theme.style(Role::Dim);
    let base = theme.style(Role::Base);
    match stage {
        LoginStage::Choose { selected } => choose(&mut l, *selected, None, theme),
        LoginStage::Failed { message, selected } => choose(&mut l, *selected, Some(message), theme),
        LoginStage::Browser { url } => {
            l.line("Open this page in your browser to sign in:", base);
            l.blank();
            l.wrapped(url, theme.style(Role::Key));
            l.blank();
            l.line("Waiting for the browser to finish…", dim);
        }
        LoginStage::DeviceCode { url, code } => {
            l.line("On your phone or another computer, open", base);
            l.blank();
            l.wrapped(url, theme.style(Role::Key));
            l.blank();
            l.line("and enter the code", base);
            l.blank();
            let spaced: String = code
                .chars()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(" ");
            let cw = text_width(&spaced) as u16;
            let pad = l.w.saturating_sub(cw) / 2;
            if l.y < l.bottom {
                put(
                    l.buf,
                    l.x + pad,
                    l.y,
                    l.w.saturating_sub(pad),
                    &spaced,
                    theme.style(Role::Key).add_modifier(Modifier::BOLD),
                );
                l.y += 1;
            }
            l.blank();
            l.line("Waiting for you to approve…", dim);
        }
        LoginStage::Password {
            username,
            password,
            field,
        } => {
            l.line("Sign in with your Spotify username and password", base);
            l.line("(legacy: Spotify usually refuses this today)", dim);
            l.blank();
            let fields = [
                ("Username ", username.clone()),
                // Only the length of the password is ever shown.
                ("Password ", "•".repeat(password.chars().count())),
            ];
            for (i, (label, value)) in fields.iter().enumerate() {
                if l.y >= l.bottom {
                    break;
                }
                let active = *field == i;
                let lw = put(l.buf, l.x, l.y, l.w, label, dim);
                let style = if active {
                    theme.style(Role::Input)
                } else {
                    base
                };
                let vx = l.x + lw;
                let vw = put(l.buf, vx, l.y, l.w.saturating_sub(lw + 1), value, style);
                if active {
                    put(
                        l.buf,
                        vx + vw,
                        l.y,
                        1,
                        " ",
                        style.add_modifier(Modifier::REVERSED),
                    );
                }
                l.y += 1;
            }
            l.blank();
            l.line("tab switch field · enter sign in · esc back", dim);
        }
        LoginStage::Working { message } => {
            l.line(&format!("◌ {message}…"), theme.style(Role::Info));
        }
    }
}

/// The box height a stage needs (borders and a blank line above and below included) with
/// `text_w` columns for text.
fn login_height(stage: &LoginStage, text_w: u16) -> u16 {
    let url_lines = |u: &str| (u.chars().count() as u16).div_ceil(text_w.max(1));
    let body = match stage {
        LoginStage::Choose { .. } => 8,
        LoginStage::Failed { .. } => 10,
        LoginStage::Browser { url } => 4 + url_lines(url),
        LoginStage::DeviceCode { url, .. } => 8 + url_lines(url),
        LoginStage::Password { .. } => 7,
        LoginStage::Working { .. } => 1,
    };
    body + 4
}

fn choose(l: &mut Lines<'_>, selected: usize, failed: Option<&String>, theme: &Theme) {
    if let Some(m) = failed {
        l.line(m, theme.style(Role::Error));
        l.blank();
    }
    l.line("How do you want to sign in?", theme.style(Role::Base));
    l.blank();
    for (i, m) in LoginMethod::ALL.iter().enumerate() {
        let (name, what) = method_text(*m);
        if l.y >= l.bottom {
            break;
        }
        let sel = i == selected;
        let label = format!("{} {}. {}", if sel { "▸" } else { " " }, i + 1, name);
        let y = l.y;
        l.line(&label, theme.style(Role::Base));
        if sel {
            l.buf.set_style(
                Rect::new(l.x, y, l.w, 1).intersection(l.buf.area),
                theme.style(Role::RowSelected),
            );
        }
        l.line(&format!("     {what}"), theme.style(Role::Dim));
    }
}
