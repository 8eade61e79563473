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
    /// The lyrics overlay (its keys, then the global ones; pane tables do not apply).
    Lyrics,
}

impl Context {
    pub const ALL: [Context; 9] = [
        Context::Global,
        Context::Library,
        Context::Search,
        Context::Queue,
        Context::Devices,
        Context::Log,
        Context::Help,
        Context::Login,
        Context::Lyrics,
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
            Context::Lyrics => "lyrics",
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
    lyrics: Option<RawTable>,
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
            Context::Lyrics => self.lyrics.as_ref(),
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
mod tests;
