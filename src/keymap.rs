//! Keymaps: key parsing (`C-s`, `enter`, `G`, chords like `g l`), per-context binding tables
//! loaded from TOML (built-in `keymaps/default.toml` / `keymaps/vim.toml`, the user's file merged
//! over them), and resolution of a key press in a context to an action, a pending chord, or nothing.
//!
//! No I/O besides reading the files it is given; no UI state.

/// Where a key is resolved. A context's table is consulted first, then `Global`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    Global,
    Library,
    Search,
    Queue,
    Devices,
    Log,
    Help,
    Login,
}

impl Context {
    pub const ALL: [Context; 8] = [
        Context::Global,
        Context::Library,
        Context::Search,
        Context::Queue,
        Context::Devices,
        Context::Log,
        Context::Help,
        Context::Login,
    ];

    /// The table name in keymap files.
    pub fn name(self) -> &'static str {
        match self {
            Context::Global => "global",
            Context::Library => "library",
            Context::Search => "search",
            Context::Queue => "queue",
            Context::Devices => "devices",
            Context::Log => "log",
            Context::Help => "help",
            Context::Login => "login",
        }
    }
}

impl Context {
    /// The table consulted while `pane` has focus (overlays and the login screen pick their
    /// own context).
    pub fn for_pane(pane: crate::action::Pane) -> Context {
        use crate::action::Pane;
        match pane {
            Pane::Library => Context::Library,
            Pane::Search => Context::Search,
            Pane::Queue => Context::Queue,
            Pane::Devices => Context::Devices,
            Pane::Log => Context::Log,
        }
    }
}

/// One line of the help overlay: the keys (e.g. "g l" or "j, down"), the context they apply in,
/// and the action's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpEntry {
    pub context: Context,
    pub keys: String,
    pub description: &'static str,
}

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use serde::Deserialize;
use toml::Spanned;

use crate::action::{bindable, Action};

/// The built-in keymaps, compiled in. `vim.toml` is an overlay merged over `default.toml`.
const DEFAULT_TOML: &str = include_str!("../keymaps/default.toml");
const VIM_TOML: &str = include_str!("../keymaps/vim.toml");

/// The names [`Keymap::builtin`] accepts.
pub const BUILTIN_NAMES: [&str; 2] = ["default", "vim"];

/// The action name that removes a binding when a user file merges over a base.
pub const UNBIND: &str = "none";

/// Errors from parsing keys and keymap files. Every variant that comes from a file names the
/// file, line and column and quotes the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeymapError {
    /// TOML syntax errors and unknown tables/fields.
    #[error("{origin}:{line}:{column}: {message}")]
    Parse {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "{origin}:{line}:{column}: unknown action \"{action}\" (for key \"{key}\" in [{context}])"
    )]
    UnknownAction {
        origin: String,
        line: usize,
        column: usize,
        action: String,
        key: String,
        context: &'static str,
    },
    #[error("{origin}:{line}:{column}: bad key \"{key}\" in [{context}]: {reason}")]
    BadKey {
        origin: String,
        line: usize,
        column: usize,
        key: String,
        context: &'static str,
        reason: String,
    },
    #[error("{origin}:{line}:{column}: unknown base keymap \"{name}\" (expected \"default\" or \"vim\")")]
    UnknownBase {
        origin: String,
        line: usize,
        column: usize,
        name: String,
    },
    /// A key string that does not parse (from [`Key::from_str`], no file involved).
    #[error("bad key \"{key}\": {reason}")]
    InvalidKey { key: String, reason: String },
    #[error("unknown built-in keymap \"{0}\" (expected \"default\" or \"vim\")")]
    UnknownBuiltin(String),
}

/// One key press: a normalised key code and the modifiers that matter (Ctrl, Alt, Shift).
///
/// Normalisation makes the keymap independent of how terminals report keys: a shifted character
/// is stored as the character itself without SHIFT (`G`, `<`), Shift+Tab is `backtab`, and only
/// the Ctrl/Alt/Shift bits are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

impl Key {
    /// A normalised key. Build keys with this, [`Key::from_event`] or `parse`, not with a
    /// struct literal, so that e.g. Shift+g and `G` compare equal.
    pub fn new(code: KeyCode, modifiers: KeyModifiers) -> Key {
        let mut mods =
            modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match code {
            KeyCode::Char(c) => {
                // The character already carries the shift ('G', '<'); keeping SHIFT would make
                // "G" and "S-G" two different keys depending on the terminal. Some terminals
                // (kitty protocol, Ctrl+Shift combos) report the lower-case letter plus SHIFT.
                let c = if mods.contains(KeyModifiers::SHIFT) && c.is_lowercase() {
                    c.to_uppercase().next().unwrap_or(c)
                } else {
                    c
                };
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::Char(c)
            }
            KeyCode::BackTab => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            KeyCode::Tab if mods.contains(KeyModifiers::SHIFT) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            other => other,
        };
        Key {
            code,
            modifiers: mods,
        }
    }

    /// A plain key without modifiers.
    pub fn plain(code: KeyCode) -> Key {
        Key::new(code, KeyModifiers::NONE)
    }

    /// The key a terminal event stands for, or `None` for releases and keys the keymap cannot
    /// name (bare modifiers, media keys, caps lock...).
    pub fn from_event(ev: &KeyEvent) -> Option<Key> {
        if ev.kind == KeyEventKind::Release {
            return None;
        }
        match ev.code {
            KeyCode::Char(_)
            | KeyCode::Enter
            | KeyCode::Esc
            | KeyCode::Tab
            | KeyCode::BackTab
            | KeyCode::Backspace
            | KeyCode::Delete
            | KeyCode::Insert
            | KeyCode::Up
            | KeyCode::Down
            | KeyCode::Left
            | KeyCode::Right
            | KeyCode::Home
            | KeyCode::End
            | KeyCode::PageUp
            | KeyCode::PageDown => Some(Key::new(ev.code, ev.modifiers)),
            KeyCode::F(n) if (1..=12).contains(&n) => Some(Key::new(ev.code, ev.modifiers)),
            _ => None,
        }
    }
}

/// Named (multi-character) keys, canonical name first where a code has aliases.
const NAMED: &[(&str, KeyCode)] = &[
    ("space", KeyCode::Char(' ')),
    ("enter", KeyCode::Enter),
    ("return", KeyCode::Enter),
    ("esc", KeyCode::Esc),
    ("escape", KeyCode::Esc),
    ("tab", KeyCode::Tab),
    ("backtab", KeyCode::BackTab),
    ("backspace", KeyCode::Backspace),
    ("delete", KeyCode::Delete),
    ("del", KeyCode::Delete),
    ("insert", KeyCode::Insert),
    ("up", KeyCode::Up),
    ("down", KeyCode::Down),
    ("left", KeyCode::Left),
    ("right", KeyCode::Right),
    ("home", KeyCode::Home),
    ("end", KeyCode::End),
    ("pageup", KeyCode::PageUp),
    ("pagedown", KeyCode::PageDown),
];

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            f.write_str("C-")?;
        }
        if self.modifiers.contains(KeyModifiers::ALT) {
            f.write_str("A-")?;
        }
        if self.modifiers.contains(KeyModifiers::SHIFT) {
            f.write_str("S-")?;
        }
        match self.code {
            KeyCode::F(n) => write!(f, "f{n}"),
            KeyCode::Char(c) if c != ' ' => write!(f, "{c}"),
            code => {
                let name = NAMED
                    .iter()
                    .find(|(_, c)| *c == code)
                    .map_or("?", |(n, _)| n);
                f.write_str(name)
            }
        }
    }
}

impl FromStr for Key {
    type Err = KeymapError;

    fn from_str(s: &str) -> Result<Key, KeymapError> {
        let bad = |reason: &str| KeymapError::InvalidKey {
            key: s.to_string(),
            reason: reason.to_string(),
        };
        let mut rest = s;
        let mut mods = KeyModifiers::NONE;
        // A prefix only counts when something follows it, so "-" and "C--" work.
        while rest.len() > 2 && rest.is_char_boundary(2) && rest.as_bytes()[1] == b'-' {
            let m = match &rest[..1] {
                "C" => KeyModifiers::CONTROL,
                "A" | "M" => KeyModifiers::ALT,
                "S" => KeyModifiers::SHIFT,
                _ => break,
            };
            mods |= m;
            rest = &rest[2..];
        }
        if rest.is_empty() {
            return Err(bad("empty key"));
        }
        let mut chars = rest.chars();
        let first = chars.next().ok_or_else(|| bad("empty key"))?;
        if chars.next().is_none() {
            if first.is_whitespace() {
                return Err(bad("use \"space\" for the space bar"));
            }
            if first.is_control() {
                return Err(bad("control characters cannot be bound"));
            }
            // "S-a" means 'A': Key::new turns shift on a letter into the upper-case letter.
            return Ok(Key::new(KeyCode::Char(first), mods));
        }
        if rest.len() == 2 && rest.ends_with('-') && matches!(&rest[..1], "C" | "A" | "M" | "S") {
            return Err(bad("a modifier needs a key after it, e.g. \"C-s\""));
        }
        let lower = rest.to_ascii_lowercase();
        if let Some(n) = lower.strip_prefix('f').and_then(|n| n.parse::<u8>().ok()) {
            if (1..=12).contains(&n) {
                return Ok(Key::new(KeyCode::F(n), mods));
            }
            return Err(bad("function keys are f1 to f12"));
        }
        match NAMED.iter().find(|(name, _)| *name == lower) {
            Some((_, code)) => Ok(Key::new(*code, mods)),
            None => Err(bad(
                "expected one character or a key name (space, enter, esc, tab, backtab, \
                 backspace, delete, up, down, left, right, home, end, pageup, pagedown, f1..f12), \
                 optionally prefixed by C-, A-/M-, S-",
            )),
        }
    }
}

/// Parses a key sequence: keys separated by spaces ("g l", "C-x C-s").
pub fn parse_keys(s: &str) -> Result<Vec<Key>, KeymapError> {
    let keys = s
        .split_whitespace()
        .map(Key::from_str)
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Err(KeymapError::InvalidKey {
            key: s.to_string(),
            reason: "empty key".into(),
        });
    }
    Ok(keys)
}

/// Renders a key sequence the way keymap files and the help overlay write it.
pub fn keys_to_string(keys: &[Key]) -> String {
    keys.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a key press amounts to.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    Action(Action),
    /// The keys so far start a chord (e.g. "g"); wait for the next one.
    Pending(String),
    /// Nothing is bound to these keys (e.g. "x", or "g x" for a chord that went nowhere).
    Unbound(String),
}

#[derive(Debug, Clone, PartialEq)]
struct Binding {
    keys: Vec<Key>,
    action: Action,
}

/// Per-context binding tables plus the state of a chord being typed.
#[derive(Debug, Clone, Default)]
pub struct Keymap {
    tables: HashMap<Context, Vec<Binding>>,
    pending: Vec<Key>,
}

/// A keymap file as written: one optional table per context, `"keys" = "action"`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeymap {
    /// Only meaningful in the user's file: which built-in keymap it is merged over.
    base: Option<Spanned<String>>,
    global: Option<RawTable>,
    library: Option<RawTable>,
    search: Option<RawTable>,
    queue: Option<RawTable>,
    devices: Option<RawTable>,
    log: Option<RawTable>,
    help: Option<RawTable>,
    login: Option<RawTable>,
}

type RawTable = std::collections::BTreeMap<Spanned<String>, Spanned<String>>;

impl RawKeymap {
    fn table(&self, ctx: Context) -> Option<&RawTable> {
        match ctx {
            Context::Global => self.global.as_ref(),
            Context::Library => self.library.as_ref(),
            Context::Search => self.search.as_ref(),
            Context::Queue => self.queue.as_ref(),
            Context::Devices => self.devices.as_ref(),
            Context::Log => self.log.as_ref(),
            Context::Help => self.help.as_ref(),
            Context::Login => self.login.as_ref(),
        }
    }
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.chars().count(), |i| before[i + 1..].chars().count())
        + 1;
    (line, column)
}

fn parse_raw(src: &str, origin: &str) -> Result<RawKeymap, KeymapError> {
    toml::from_str(src).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |s| line_col(src, s.start));
        KeymapError::Parse {
            origin: origin.to_string(),
            line,
            column,
            message: e.message().trim_end().replace('`', "\""),
        }
    })
}

/// One parsed entry: keys and the action, `None` for [`UNBIND`].
type Entry = (Vec<Key>, Option<Action>);

fn parse_entries(
    raw: &RawKeymap,
    src: &str,
    origin: &str,
) -> Result<Vec<(Context, Vec<Entry>)>, KeymapError> {
    let mut out = Vec::new();
    for ctx in Context::ALL {
        let Some(table) = raw.table(ctx) else {
            continue;
        };
        let mut entries = Vec::new();
        // Aliases ("S-tab" and "backtab") are different TOML keys but the same key.
        let mut seen: HashMap<Vec<Key>, String> = HashMap::new();
        for (key, action) in table {
            let (line, column) = line_col(src, key.span().start);
            let keys = parse_keys(key.get_ref()).map_err(|e| KeymapError::BadKey {
                origin: origin.to_string(),
                line,
                column,
                key: key.get_ref().clone(),
                context: ctx.name(),
                reason: match e {
                    KeymapError::InvalidKey { key: k, reason } if k != *key.get_ref() => {
                        format!("\"{k}\": {reason}")
                    }
                    KeymapError::InvalidKey { reason, .. } => reason,
                    other => other.to_string(),
                },
            })?;
            let name = action.get_ref().trim();
            let action = if name == UNBIND {
                None
            } else {
                Some(
                    Action::from_name(name).ok_or_else(|| KeymapError::UnknownAction {
                        origin: origin.to_string(),
                        line,
                        column,
                        action: action.get_ref().clone(),
                        key: key.get_ref().clone(),
                        context: ctx.name(),
                    })?,
                )
            };
            if let Some(prev) = seen.insert(keys.clone(), key.get_ref().clone()) {
                return Err(KeymapError::BadKey {
                    origin: origin.to_string(),
                    line,
                    column,
                    key: key.get_ref().clone(),
                    context: ctx.name(),
                    reason: format!("the same key as \"{prev}\", bound twice"),
                });
            }
            entries.push((keys, action));
        }
        out.push((ctx, entries));
    }
    Ok(out)
}

/// True when one sequence is a prefix of the other (including equal): the two cannot both be
/// reachable, so a user binding replaces such base bindings.
fn conflicts(a: &[Key], b: &[Key]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

impl Keymap {
    /// A built-in keymap: `"default"` or `"vim"` (the vim overlay merged over the default).
    pub fn builtin(name: &str) -> Result<Keymap, KeymapError> {
        match name {
            "default" => Keymap::from_toml(DEFAULT_TOML, "keymaps/default.toml"),
            "vim" => Keymap::merged(
                Keymap::from_toml(DEFAULT_TOML, "keymaps/default.toml")?,
                VIM_TOML,
                "keymaps/vim.toml",
            ),
            other => Err(KeymapError::UnknownBuiltin(other.to_string())),
        }
    }

    /// A keymap from one file. `origin` names the file in error messages. A top-level `base`
    /// is accepted but ignored here (see [`Keymap::user_base`]); `"none"` entries bind nothing.
    pub fn from_toml(src: &str, origin: &str) -> Result<Keymap, KeymapError> {
        Keymap::merged(Keymap::default(), src, origin)
    }

    /// `user_src` laid over `base`, context by context. A user binding replaces every base
    /// binding in the same context whose keys are a prefix of it or that it is a prefix of (so
    /// binding `g` drops the base's `g g` chord instead of being shadowed by it); `"none"` only
    /// removes.
    pub fn merged(base: Keymap, user_src: &str, origin: &str) -> Result<Keymap, KeymapError> {
        let raw = parse_raw(user_src, origin)?;
        let entries = parse_entries(&raw, user_src, origin)?;
        let mut map = base;
        map.pending.clear();
        for (ctx, entries) in entries {
            let table = map.tables.entry(ctx).or_default();
            // Conflicts are removed for all of the file's entries first, so two entries of the
            // same file (e.g. "g" and "g g") never remove each other.
            for (keys, _) in &entries {
                table.retain(|b| !conflicts(&b.keys, keys));
            }
            for (keys, action) in entries {
                if let Some(action) = action {
                    table.push(Binding { keys, action });
                }
            }
        }
        map.tables.retain(|_, t| !t.is_empty());
        Ok(map)
    }

    /// The `base = "..."` of a user keymap file, validated against [`BUILTIN_NAMES`].
    pub fn user_base(src: &str, origin: &str) -> Result<Option<String>, KeymapError> {
        let raw = parse_raw(src, origin)?;
        match raw.base {
            None => Ok(None),
            Some(b) if BUILTIN_NAMES.contains(&b.get_ref().as_str()) => {
                Ok(Some(b.get_ref().clone()))
            }
            Some(b) => {
                let (line, column) = line_col(src, b.span().start);
                Err(KeymapError::UnknownBase {
                    origin: origin.to_string(),
                    line,
                    column,
                    name: b.get_ref().clone(),
                })
            }
        }
    }

    /// Resolves one key press in `ctx`'s table, then in `Global`'s. Within a table, a sequence
    /// that starts a longer binding is `Pending` even when it is also bound by itself (the chord
    /// wins); a table that has the sequence in either form answers before the next table, so a
    /// pane's own binding of `g` shadows the global `g …` chords in that pane.
    pub fn resolve(&mut self, ctx: Context, key: Key) -> Resolved {
        let mut seq = std::mem::take(&mut self.pending);
        seq.push(key);
        let tables: &[Context] = if ctx == Context::Global {
            &[Context::Global]
        } else {
            &[ctx, Context::Global]
        };
        for table in tables.iter().filter_map(|c| self.tables.get(c)) {
            if table
                .iter()
                .any(|b| b.keys.len() > seq.len() && b.keys[..seq.len()] == seq)
            {
                let text = keys_to_string(&seq);
                self.pending = seq;
                return Resolved::Pending(text);
            }
            if let Some(b) = table.iter().find(|b| b.keys == seq) {
                return Resolved::Action(b.action.clone());
            }
        }
        Resolved::Unbound(keys_to_string(&seq))
    }

    /// Drops a chord in progress (Esc, focus change).
    pub fn reset(&mut self) {
        self.pending.clear();
    }

    /// The keys of the chord in progress, e.g. "g".
    pub fn pending(&self) -> Option<String> {
        (!self.pending.is_empty()).then(|| keys_to_string(&self.pending))
    }

    /// While a chord is pending: the keys that can follow it in `ctx` (then `Global`) and what
    /// they do, for a "which key" hint. Continuations that are themselves chord prefixes show
    /// as "…".
    pub fn pending_hints(&self, ctx: Context) -> Vec<(String, &'static str)> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        let n = self.pending.len();
        let mut out: Vec<(String, &'static str)> = Vec::new();
        for c in [ctx, Context::Global] {
            for b in self.tables.get(&c).into_iter().flatten() {
                if b.keys.len() <= n || b.keys[..n] != self.pending[..] {
                    continue;
                }
                let next = b.keys[n].to_string();
                if out.iter().any(|(k, _)| *k == next) {
                    continue;
                }
                let what = if b.keys.len() == n + 1 {
                    b.action.description().unwrap_or("")
                } else {
                    "…"
                };
                out.push((next, what));
            }
            if ctx == Context::Global {
                break;
            }
        }
        out.sort();
        out
    }

    /// Number of bindings over all contexts.
    pub fn len(&self) -> usize {
        self.tables.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys bound to `action` in `ctx` (that table only), canonical text, sorted.
    pub fn keys_for(&self, ctx: Context, action: &Action) -> Vec<String> {
        let mut keys: Vec<&Vec<Key>> = self
            .tables
            .get(&ctx)
            .into_iter()
            .flatten()
            .filter(|b| &b.action == action)
            .map(|b| &b.keys)
            .collect();
        keys.sort_by_key(|k| sort_key(k));
        keys.into_iter().map(|k| keys_to_string(k)).collect()
    }

    /// Every binding for the help overlay: contexts in [`Context::ALL`] order, actions in
    /// [`bindable`] order, the keys of one action joined with ", ".
    pub fn help_entries(&self) -> Vec<HelpEntry> {
        let mut out = Vec::new();
        for ctx in Context::ALL {
            for b in bindable() {
                let keys = self.keys_for(ctx, &b.action);
                if !keys.is_empty() {
                    out.push(HelpEntry {
                        context: ctx,
                        keys: keys.join(", "),
                        description: b.description,
                    });
                }
            }
        }
        out
    }
}

/// Help ordering: single keys before chords, plain characters before named keys.
fn sort_key(keys: &[Key]) -> (usize, usize, String) {
    let text = keys_to_string(keys);
    (keys.len(), text.len(), text)
}

#[cfg(test)]
mod tests {
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
        assert_eq!(keys, ["d", "g", "l", "q", "s"]);
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
}
