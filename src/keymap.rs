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

/// One line of the help overlay: the keys (e.g. "g l" or "j, down"), the context they apply in,
/// and the action's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpEntry {
    pub context: Context,
    pub keys: String,
    pub description: &'static str,
}
