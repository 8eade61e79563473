//! Messages into `update`: resolved input (actions, text editing, mouse), service answers and
//! service state. Built by the event loop from terminal events, service channels and watches.

use std::sync::Arc;
use std::time::Instant;

use crate::action::Action;
use crate::api::library::{Library, TrackInfo};
use crate::app::state::{Item, Level, LogLine, LoginStage, PageData, SessionLink};
use crate::connect::{ConnectLink, Device, RemoteCommand, RemotePlayback};
use crate::id::SpotifyId;
use crate::player::{PlayerEvent, PlayerStatus, QueueSnapshot};

/// Editing keys for a focused text box (search box, filter box, login fields). While
/// `State::text_input_active()` the loop sends every key as one of these instead of resolving it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextInput {
    Char(char),
    Backspace,
    Delete,
    Left,
    Right,
    Home,
    End,
    /// Move the list selection while typing in a filter/search box.
    Up,
    Down,
    Tab,
    Enter,
    Esc,
    /// Ctrl-U: clear the box.
    Clear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MouseKind {
    /// Left button pressed (a click).
    Click,
    /// A second click on the same cell within the double-click interval.
    DoubleClick,
    ScrollUp,
    ScrollDown,
}

#[derive(Debug, Clone)]
pub enum Msg {
    Action(Action),
    Text(TextInput),
    /// A chord is in progress (`Some("g")`) or ended (`None`).
    Chord(Option<String>),
    /// A key with no binding here (shown briefly in the status line).
    Unbound(String),
    Mouse {
        kind: MouseKind,
        x: u16,
        y: u16,
    },
    Resize(u16, u16),
    /// Clock tick (armed only while something on screen moves); `Instant` is "now".
    Tick(Instant),

    PlayerStatus(PlayerStatus),
    Queue(QueueSnapshot),
    PlayerEvent(PlayerEvent),

    /// The library (cached or fresh) or why it could not be loaded.
    Library(Result<Arc<Library>, String>),
    /// No cached library could be read at start (the refresh answers later with
    /// `Msg::Library`).
    NoCachedLibrary,
    SearchDue(u64),
    SearchResults {
        id: u64,
        query: String,
        result: Result<Vec<Item>, String>,
    },
    Page {
        id: u64,
        result: Result<PageData, String>,
    },
    Tracks(Vec<(SpotifyId, TrackInfo)>),
    /// The answer to `Effect::Like`.
    Liked {
        track: TrackInfo,
        like: bool,
        result: Result<(), String>,
    },
    /// The answer to `Effect::RemoveFromPlaylist` (the new snapshot id).
    RemovedFromPlaylist {
        playlist_uri: String,
        track: TrackInfo,
        removed: Vec<(usize, Item)>,
        result: Result<String, String>,
    },

    /// The answer to `Effect::AddToPlaylist` (the new snapshot id).
    AddedToPlaylist {
        playlist_id: String,
        name: String,
        tracks: Vec<TrackInfo>,
        result: Result<String, String>,
    },
    /// The answer to `Effect::CreatePlaylist`: the new (empty) playlist.
    PlaylistCreated {
        name: String,
        result: Result<crate::api::library::LibraryPlaylist, String>,
    },

    Devices(Result<Vec<Device>, String>),
    Remote(Option<RemotePlayback>),
    /// A command from a remote controller for this device; `update` maps it to an [`Action`].
    RemoteCommand(RemoteCommand),
    /// Intents for the local player from a front end that is not a key: the local control API
    /// (`tonearm ctl`) or the desktop (MPRIS method calls and property writes); `update` carries
    /// them out through the core like keys.
    Control(Vec<crate::control::Intent>),
    ConnectLink(ConnectLink),
    Session(SessionLink),

    /// Sign-in progress (device code to show, browser URL, working, failed).
    Login(LoginStage),
    /// Signed in; the loop has started the services.
    LoggedIn {
        username: String,
    },

    Log(LogLine),
    /// The answer to `Effect::FetchLyrics { id, .. }`.
    Lyrics {
        id: u64,
        result: Result<crate::api::lyrics::Lyrics, String>,
    },
    Notify {
        level: Level,
        text: String,
        at: Instant,
    },
    /// The answer to `Effect::FetchArt { key }`: the decoded cover or why there is none.
    Art {
        key: String,
        result: Result<crate::art::Cover, String>,
    },
}
