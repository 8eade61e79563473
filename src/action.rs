//! The vocabulary of things a user can ask for with keys and the mouse.
//!
//! Keys resolve to an [`Action`] through the keymap, and mouse events map to the same actions.
//! Playback and queue actions on the local player become the core's intents
//! ([`crate::control::Intent`]) in `update` — the same intents remote Connect commands become,
//! so "pause from the phone" and "pause from the keyboard" end in one mapping. Bindable actions
//! (the ones a keymap file may name) are listed by [`bindable`] with their snake_case name and
//! the description the help overlay shows.
//!
//! Used by the keymap (which resolves keys to actions), the app (`update` carries them out; it
//! re-exports this module as `app::action`) and the UI (panes, help). Pure data: no I/O, no UI
//! crates, and nothing from `app` or `keymap` — it sits below both.

use crate::player::RepeatMode;

/// The panes the user moves between.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Pane {
    #[default]
    Library,
    Search,
    Queue,
    Devices,
    Log,
}

impl Pane {
    /// Tab order.
    pub const ALL: [Pane; 5] = [
        Pane::Library,
        Pane::Search,
        Pane::Queue,
        Pane::Devices,
        Pane::Log,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Library => "Library",
            Pane::Search => "Search",
            Pane::Queue => "Queue",
            Pane::Devices => "Devices",
            Pane::Log => "Log",
        }
    }
}

/// Something to do. Unit variants are bindable from keymap files (see [`bindable`]); the
/// variants with data come from the mouse or from `update` itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    // --- moving around
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Open the selected item (a playlist, album, artist page) or play the selected track.
    Select,
    /// Leave the current page/overlay/filter; at the top level of a pane: quit.
    Back,
    /// Like `Back`, but never quits (Esc: pressing it once too often must not end the app).
    Close,
    Quit,
    FocusNext,
    FocusPrev,
    Focus(Pane),
    /// Library pane: switch between the sections (playlists, liked songs, albums, artists, podcasts).
    NextSection,
    PrevSection,

    // --- playback (the local player, or the active remote device)
    TogglePlay,
    Play,
    Pause,
    Next,
    Previous,
    SeekForward,
    SeekBackward,
    /// Absolute position (mouse click on the progress bar, remote seek).
    SeekTo(u64),
    VolumeUp,
    VolumeDown,
    /// Absolute volume `0..=65535` (remote volume, mouse).
    SetVolume(u16),
    ToggleShuffle,
    CycleRepeat,
    SetShuffle(bool),
    SetRepeat(RepeatMode),

    // --- queue
    /// Add the selected item (track, or every track of an album/playlist) to the queue, in
    /// Spotify's order: after the current track and earlier additions.
    AddToQueue,
    /// Insert the selected item right after the current track.
    PlayNext,
    /// Queue pane: remove the selected entry.
    RemoveFromQueue,
    /// Queue pane: move the selected entry one place up/down.
    MoveUp,
    MoveDown,
    ClearQueue,

    // --- search and filter
    /// Open the fuzzy filter on the focused list.
    OpenFilter,
    /// Focus the search pane's input.
    OpenSearch,

    // --- devices
    /// Devices pane: transfer playback to the selected device (waking a LAN speaker if needed).
    Transfer,
    RefreshDevices,

    // --- the rest of the UI
    ToggleHelp,
    ToggleLog,
    /// Like the selected (or playing) track, or unlike it when already liked.
    ToggleLike,
    /// Remove the selected track from the open playlist (only your own playlists).
    RemoveFromPlaylist,
    /// Add the selected (or playing) track to one of your playlists, or to a new one (a picker).
    AddToPlaylist,
    /// Open the page of your recently played tracks in the library pane.
    OpenRecentlyPlayed,
    /// Open the page of your top tracks in the library pane.
    OpenTopTracks,
    /// Show/hide the lyrics of the playing track.
    ToggleLyrics,
    NextTheme,
    Refresh,
    /// The sign-in screen: pick option `n` (1-based, as the screen numbers them).
    PickOption(u8),

    // --- not bindable: programmatic (mouse, update itself)
    /// Select row `row` of the list in `pane` (mouse click).
    SelectRow {
        pane: Pane,
        row: usize,
    },
    /// Select and activate row `row` (mouse double click).
    ActivateRow {
        pane: Pane,
        row: usize,
    },
    /// Scroll the list in `pane` by `delta` rows (mouse wheel).
    Scroll {
        pane: Pane,
        delta: i32,
    },
    SetTheme(String),
}

/// A bindable action: the name keymap files use, the action, and the help text.
pub struct Bindable {
    pub name: &'static str,
    pub action: Action,
    pub description: &'static str,
}

macro_rules! bindable {
    ($($name:literal => $action:expr, $desc:literal;)*) => {
        /// Every action a keymap file may name, in help-overlay order.
        pub fn bindable() -> &'static [Bindable] {
            static TABLE: std::sync::OnceLock<Vec<Bindable>> = std::sync::OnceLock::new();
            TABLE.get_or_init(|| vec![$(Bindable { name: $name, action: $action, description: $desc }),*])
        }
    };
}

bindable! {
    "up" => Action::Up, "Move up";
    "down" => Action::Down, "Move down";
    "page_up" => Action::PageUp, "Move up one page";
    "page_down" => Action::PageDown, "Move down one page";
    "top" => Action::Top, "Go to the top of the list";
    "bottom" => Action::Bottom, "Go to the bottom of the list";
    "select" => Action::Select, "Open the selected item, or play the selected track";
    "back" => Action::Back, "Go back (close page, filter or overlay); quit at the top";
    "close" => Action::Close, "Close the page, filter or overlay (never quits)";
    "quit" => Action::Quit, "Quit tonearm";
    "focus_next" => Action::FocusNext, "Focus the next pane";
    "focus_prev" => Action::FocusPrev, "Focus the previous pane";
    "focus_library" => Action::Focus(Pane::Library), "Go to the library";
    "focus_search" => Action::Focus(Pane::Search), "Go to search";
    "focus_queue" => Action::Focus(Pane::Queue), "Go to the queue";
    "focus_devices" => Action::Focus(Pane::Devices), "Go to devices";
    "focus_log" => Action::Focus(Pane::Log), "Go to the log";
    "next_section" => Action::NextSection, "Library: next section";
    "prev_section" => Action::PrevSection, "Library: previous section";
    "toggle_play" => Action::TogglePlay, "Play/pause";
    "play" => Action::Play, "Resume playback";
    "pause" => Action::Pause, "Pause playback";
    "next" => Action::Next, "Next track";
    "previous" => Action::Previous, "Previous track";
    "seek_forward" => Action::SeekForward, "Seek forward 5 s";
    "seek_backward" => Action::SeekBackward, "Seek back 5 s";
    "volume_up" => Action::VolumeUp, "Volume up";
    "volume_down" => Action::VolumeDown, "Volume down";
    "toggle_shuffle" => Action::ToggleShuffle, "Toggle shuffle";
    "cycle_repeat" => Action::CycleRepeat, "Cycle repeat: off, all, one";
    "add_to_queue" => Action::AddToQueue, "Add the selection to the queue";
    "play_next" => Action::PlayNext, "Play the selection next";
    "remove_from_queue" => Action::RemoveFromQueue, "Remove the selected queue entry";
    "move_up" => Action::MoveUp, "Move the selected queue entry up";
    "move_down" => Action::MoveDown, "Move the selected queue entry down";
    "clear_queue" => Action::ClearQueue, "Clear the queue";
    "filter" => Action::OpenFilter, "Fuzzy-filter the focused list";
    "search" => Action::OpenSearch, "Search Spotify";
    "transfer" => Action::Transfer, "Transfer playback to the selected device";
    "refresh_devices" => Action::RefreshDevices, "Refresh the device list";
    "help" => Action::ToggleHelp, "Show/hide this help";
    "toggle_log" => Action::ToggleLog, "Show/hide the log pane";
    "toggle_like" => Action::ToggleLike, "Like/unlike the selected (or playing) track";
    "remove_from_playlist" => Action::RemoveFromPlaylist, "Remove the selected track from this playlist";
    "recently_played" => Action::OpenRecentlyPlayed, "Library: your recently played tracks";
    "top_tracks" => Action::OpenTopTracks, "Library: your top tracks";
    "add_to_playlist" => Action::AddToPlaylist, "Add the selected (or playing) track to one of your playlists, or a new one";
    "lyrics" => Action::ToggleLyrics, "Show/hide the lyrics of the playing track (enter on a line seeks there)";
    "next_theme" => Action::NextTheme, "Switch to the next theme";
    "refresh" => Action::Refresh, "Reload the library";
    "option_1" => Action::PickOption(1), "Sign-in: pick option 1";
    "option_2" => Action::PickOption(2), "Sign-in: pick option 2";
    "option_3" => Action::PickOption(3), "Sign-in: pick option 3";
}

impl Action {
    /// The bindable action named `name` (as in keymap files).
    pub fn from_name(name: &str) -> Option<Action> {
        bindable()
            .iter()
            .find(|b| b.name == name)
            .map(|b| b.action.clone())
    }

    /// The keymap name of a bindable action.
    pub fn name(&self) -> Option<&'static str> {
        bindable()
            .iter()
            .find(|b| &b.action == self)
            .map(|b| b.name)
    }

    /// The help text of a bindable action.
    pub fn description(&self) -> Option<&'static str> {
        bindable()
            .iter()
            .find(|b| &b.action == self)
            .map(|b| b.description)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for b in bindable() {
            assert!(seen.insert(b.name), "duplicate name {}", b.name);
            assert_eq!(Action::from_name(b.name), Some(b.action.clone()));
            assert_eq!(b.action.name(), Some(b.name));
        }
        assert_eq!(Action::from_name("no_such_action"), None);
    }
}
