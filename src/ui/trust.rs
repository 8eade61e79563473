//! The trust prompt's dialog (issue 12): a popup over the main screen asking whether to hand our
//! Spotify login to a LAN device — its name, address and device id, what that means, and the
//! answers (`y` this time, `a` always, `n` no, `N` never).
//!
//! Called by `ui::draw` while `State::trust_prompt` is set. Reads the prompt and the theme
//! only; the device's fields were made safe for the screen by the mDNS browser (control
//! characters stripped, bounded). No I/O.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;

use crate::app::state::TrustPrompt;
use crate::theme::{Role, Theme};

use super::widgets::{block, centered, clear, put};

/// `text` broken into lines of at most `w` characters, at spaces where possible.
fn wrap(text: &str, w: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        // A word longer than a line (a device id on a narrow screen) is broken.
        while word.len() > w {
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            lines.push(word.drain(..w).collect());
        }
        let word: String = word.into_iter().collect();
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > w {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

const WARNING: &str =
    "The device gets your reusable Spotify login: it can play, and act on your account, as you.";
const ANSWERS: [(&str, &str); 4] = [
    ("y", "yes, this time"),
    ("a", "always for this device"),
    ("n", "no"),
    ("N", "never for this device"),
];

/// Draws the dialog centred in `full`.
pub(crate) fn dialog(buf: &mut Buffer, full: Rect, prompt: &TrustPrompt, theme: &Theme) {
    let full = full.intersection(buf.area);
    let w = full.width.min(70);
    let text_w = usize::from(w.saturating_sub(4)).max(1);
    let question = wrap(&prompt.question(), text_w);
    let warning = wrap(WARNING, text_w);
    let h = (question.len() + warning.len() + ANSWERS.len() + 4) as u16;
    let r = centered(full, w, h.saturating_add(2));
    clear(buf, r, theme.style(Role::Base));
    let inner = block(buf, r, "Hand over your login?", true, theme);
    if inner.width < 3 || inner.height == 0 {
        return;
    }
    let (x, tw) = (inner.x + 1, inner.width.saturating_sub(2));
    let mut y = inner.y;
    let bottom = inner.bottom();
    let bold = theme.style(Role::Base).add_modifier(Modifier::BOLD);
    for l in &question {
        if y < bottom {
            put(buf, x, y, tw, l, bold);
            y += 1;
        }
    }
    y += 1;
    for l in &warning {
        if y < bottom {
            put(buf, x, y, tw, l, theme.style(Role::Dim));
            y += 1;
        }
    }
    y += 1;
    for (key, what) in ANSWERS {
        if y < bottom {
            let n = put(buf, x, y, tw, &format!("[{key}]"), theme.style(Role::Key));
            put(
                buf,
                x + n + 1,
                y,
                tw.saturating_sub(n + 1),
                what,
                theme.style(Role::Base),
            );
            y += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_spaces_and_long_words() {
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
        assert_eq!(wrap("abcdefgh x", 3), vec!["abc", "def", "gh", "x"]);
        assert!(wrap(WARNING, 20).iter().all(|l| l.chars().count() <= 20));
    }
}
