//! The whole UI state, owned by the event loop and changed only by `update`. Rendering reads it
//! (`ui::draw(frame, &State, &Theme, now)`); tests build it directly.
//!
//! Pure data plus small queries; no I/O, no UI crates (mouse hit areas are plain [`Area`]s that
//! the renderer reports back after each draw through [`HitMap`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::action::Pane;
use crate::api::library::{Library, TrackInfo};
use crate::connect::{ConnectLink, Device, RemotePlayback};
use crate::id::SpotifyId;
use crate::player::{PlayerStatus, QueueSnapshot};

/// The tick while a spinner turns (4 Hz).
pub const SPINNER_TICK: Duration = Duration::from_millis(250);

/// A rectangle on screen (cells), as reported by the renderer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Area {
    pub x: u16,
    pub y: u16,
    pub width: u16,
    pub height: u16,
}

impl Area {
    pub fn contains(&self, x: u16, y: u16) -> bool {
        x >= self.x
            && y >= self.y
            && (x as u32) < self.x as u32 + self.width as u32
            && (y as u32) < self.y as u32 + self.height as u32
    }
}

/// The rows of one list as drawn: `rows[i]` is the list row index shown on screen line
/// `area.y + i` (`None` for a group header or an empty line).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListArea {
    pub pane: Pane,
    pub area: Area,
    pub rows: Vec<Option<usize>>,
}

/// Where things were drawn last frame, for mouse hit-testing. Written by the loop after each
/// draw (from `ui::draw`'s return value), read by `update`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HitMap {
    /// Each pane's whole area (click focuses).
    pub panes: Vec<(Area, Pane)>,
    /// The tab bar's labels (click focuses that pane).
    pub tabs: Vec<(Area, Pane)>,
    /// Lists: click selects, double click activates, wheel scrolls.
    pub lists: Vec<ListArea>,
    /// The progress bar (click seeks proportionally to the x position within it).
    pub progress: Option<Area>,
    /// The lyrics overlay's visible lines and their indexes (click seeks to that line).
    pub lyrics: Vec<(Area, usize)>,
    /// Where covers go and whose (an [`ArtView::covers`] key): the text pass leaves these cells
    /// to the image pass (`ui::draw_with_art`).
    pub covers: Vec<(Area, String)>,
}

/// Cursor of a list: the selected row and the first visible row (lists are virtualised: only
/// the visible window is rendered). The renderer clamps `offset` so `selected` stays visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListCursor {
    pub selected: usize,
    pub offset: usize,
}

/// One row of a page or of search results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Track(TrackInfo),
    Episode(TrackInfo),
    Album {
        uri: String,
        name: String,
        artists: Vec<String>,
        year: String,
    },
    Artist {
        uri: String,
        name: String,
    },
    Playlist {
        uri: String,
        name: String,
        owner: String,
        total: u32,
    },
    Show {
        uri: String,
        name: String,
        publisher: String,
    },
}

impl Item {
    pub fn uri(&self) -> &str {
        match self {
            Item::Track(t) | Item::Episode(t) => &t.uri,
            Item::Album { uri, .. }
            | Item::Artist { uri, .. }
            | Item::Playlist { uri, .. }
            | Item::Show { uri, .. } => uri,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Item::Track(t) | Item::Episode(t) => &t.name,
            Item::Album { name, .. }
            | Item::Artist { name, .. }
            | Item::Playlist { name, .. }
            | Item::Show { name, .. } => name,
        }
    }

    /// The group heading search results show this item under.
    pub fn group(&self) -> &'static str {
        match self {
            Item::Track(_) => "Tracks",
            Item::Episode(_) => "Episodes",
            Item::Album { .. } => "Albums",
            Item::Artist { .. } => "Artists",
            Item::Playlist { .. } => "Playlists",
            Item::Show { .. } => "Podcasts",
        }
    }
}

/// The library pane's sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LibrarySection {
    Playlists,
    LikedSongs,
    Albums,
    Artists,
    Podcasts,
}

impl LibrarySection {
    pub const ALL: [LibrarySection; 5] = [
        LibrarySection::Playlists,
        LibrarySection::LikedSongs,
        LibrarySection::Albums,
        LibrarySection::Artists,
        LibrarySection::Podcasts,
    ];

    /// How many entries this section of `lib` has.
    pub fn len_in(self, lib: &Library) -> usize {
        match self {
            LibrarySection::Playlists => lib.playlists.len(),
            LibrarySection::LikedSongs => lib.saved_tracks.len(),
            LibrarySection::Albums => lib.saved_albums.len(),
            LibrarySection::Artists => lib.followed_artists.len(),
            LibrarySection::Podcasts => lib.saved_shows.len(),
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            LibrarySection::Playlists => "Playlists",
            LibrarySection::LikedSongs => "Liked Songs",
            LibrarySection::Albums => "Albums",
            LibrarySection::Artists => "Artists",
            LibrarySection::Podcasts => "Podcasts",
        }
    }

    pub fn index(self) -> usize {
        LibrarySection::ALL
            .iter()
            .position(|s| *s == self)
            .unwrap_or(0)
    }
}

/// What kind of page is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageKind {
    Playlist,
    Album,
    Artist,
    Show,
    /// The user's recently played tracks (`GET /me/player/recently-played`; no URI, no context).
    RecentlyPlayed,
    /// The user's top tracks (`GET /me/top/tracks`; no URI, no context).
    TopTracks,
}

/// The content of a page once loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageData {
    pub kind: PageKind,
    pub uri: String,
    pub title: String,
    /// E.g. "Album · Artist · 2021 · 12 tracks".
    pub subtitle: String,
    /// Tracks (playlist, album, artist top tracks, show episodes) and for artists their albums.
    pub items: Vec<Item>,
}

/// An opened playlist/album/artist/show page (a stack in the library and search panes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageView {
    pub kind: PageKind,
    pub uri: String,
    /// The request whose answer fills this page (late answers to other ids are dropped).
    pub request: u64,
    pub loading: bool,
    pub error: Option<String>,
    pub data: Option<PageData>,
    pub cursor: ListCursor,
}

#[derive(Debug, Clone, Default)]
pub struct LibraryView {
    pub data: Option<Arc<Library>>,
    /// A fetch is in flight (the cached copy, if any, is shown meanwhile).
    pub loading: bool,
    /// There is no cached copy to read (`Msg::NoCachedLibrary`): the queue's names are not
    /// waited for until the refresh answers.
    pub no_cache: bool,
    pub error: Option<String>,
    pub section: Option<LibrarySection>,
    /// One cursor per section, indexed by [`LibrarySection::index`].
    pub cursors: [ListCursor; 5],
    /// Opened pages, innermost last; `Back` pops.
    pub pages: Vec<PageView>,
}

#[derive(Debug, Clone, Default)]
pub struct SearchView {
    /// The text in the search box.
    pub input: String,
    /// Cursor position in `input`, in chars.
    pub input_cursor: usize,
    /// The search box has keyboard focus.
    pub editing: bool,
    /// The id of the latest search asked for (debounce timer or request); older answers are dropped.
    pub latest: u64,
    /// The query the shown results answer.
    pub shown_query: String,
    pub loading: bool,
    pub error: Option<String>,
    /// Results grouped by type, in group order (tracks, artists, albums, playlists, podcasts, episodes).
    pub results: Vec<Item>,
    pub cursor: ListCursor,
    /// Pages opened from results.
    pub pages: Vec<PageView>,
}

#[derive(Debug, Clone, Default)]
pub struct QueueView {
    pub snapshot: QueueSnapshot,
    pub cursor: ListCursor,
}

#[derive(Debug, Clone, Default)]
pub struct DevicesView {
    pub devices: Vec<Device>,
    pub cursor: ListCursor,
    pub loading: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub level: Level,
    pub target: String,
    pub text: String,
}

/// The log pane keeps the last [`LOG_LINES`] lines.
pub const LOG_LINES: usize = 1000;

#[derive(Debug, Clone, Default)]
pub struct LogView {
    pub lines: VecDeque<LogLine>,
    pub cursor: ListCursor,
}

/// A message in the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub level: Level,
    pub text: String,
    pub at: Instant,
}

/// The fuzzy filter open on a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterState {
    pub pane: Pane,
    pub query: String,
    /// Matching list rows, best first: (row index in the unfiltered list, matched char positions
    /// in the row's text, for highlighting).
    pub matches: Vec<(usize, Vec<usize>)>,
    /// Selection within `matches`.
    pub cursor: ListCursor,
    /// The filter box has keyboard focus (after Enter the filter stays applied, keys go to the list).
    pub editing: bool,
    /// The filtered list's row texts, built once when the filter opens (a keystroke re-scores
    /// these instead of rebuilding 100k strings). `matches` positions are char indices into
    /// `haystack[row]`, whose text starts with the row's name. Over long lists only the top
    /// matches and the ones around the selection carry positions (the rest are empty until the
    /// selection comes near; `update` fills them as it moves).
    pub haystack: Arc<Vec<String>>,
}

/// The sign-in methods the login screen offers, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginMethod {
    Browser,
    DeviceCode,
    Password,
}

impl LoginMethod {
    pub const ALL: [LoginMethod; 3] = [
        LoginMethod::Browser,
        LoginMethod::DeviceCode,
        LoginMethod::Password,
    ];
}

/// `Debug` is written by hand: the typed password must never reach a log line.
#[derive(Clone, PartialEq, Eq)]
pub enum LoginStage {
    /// Choosing a method (`selected` indexes [`LoginMethod::ALL`]).
    Choose { selected: usize },
    /// Browser sign-in started: open `url` (also opened automatically when possible).
    Browser { url: String },
    /// Device-code pairing: visit `url` and enter `code`.
    DeviceCode { url: String, code: String },
    /// Typing username and password (`field` 0 = username, 1 = password; the password is never
    /// rendered, only its length as dots).
    Password {
        username: String,
        password: String,
        field: usize,
    },
    /// Working (connecting, exchanging the code...).
    Working { message: String },
    /// The last attempt failed; back to choosing with the reason shown.
    Failed { message: String, selected: usize },
}

impl std::fmt::Debug for LoginStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoginStage::Choose { selected } => f
                .debug_struct("Choose")
                .field("selected", selected)
                .finish(),
            LoginStage::Browser { url } => f.debug_struct("Browser").field("url", url).finish(),
            LoginStage::DeviceCode { url, code } => f
                .debug_struct("DeviceCode")
                .field("url", url)
                .field("code", code)
                .finish(),
            LoginStage::Password {
                username, field, ..
            } => f
                .debug_struct("Password")
                .field("username", username)
                .field("password", &"<redacted>")
                .field("field", field)
                .finish(),
            LoginStage::Working { message } => {
                f.debug_struct("Working").field("message", message).finish()
            }
            LoginStage::Failed { message, selected } => f
                .debug_struct("Failed")
                .field("message", message)
                .field("selected", selected)
                .finish(),
        }
    }
}

/// The user's remembered answer to "hand your Spotify login to this LAN device?", per device
/// id (kept in `trusted-devices.json`, see `app::trust_store`). A one-off "yes" or "no" is not
/// remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    Always,
    Never,
}

/// The open trust prompt: the user chose a LAN device nobody is signed in to, and waking it
/// hands it our reusable login. Nothing is sent until they answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustPrompt {
    pub device: Device,
}

impl TrustPrompt {
    /// The question the prompt asks: the device's name, address and id (what the user is
    /// trusting).
    pub fn question(&self) -> String {
        let at = match &self.device.origin {
            crate::connect::DeviceOrigin::Lan { addr, .. } => addr.ip().to_string(),
            _ => "?".to_string(),
        };
        format!(
            "Hand your Spotify login to {} at {at} (device {})?",
            self.device.name, self.device.id
        )
    }
}

/// One row of the add-to-playlist picker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickerRow {
    /// "New playlist…": name one, create it, add the tracks to it.
    New,
    /// One of the user's own playlists: its id, URI and name, and the matched char positions
    /// of the name (fuzzy filter).
    Playlist {
        id: String,
        uri: String,
        name: String,
        positions: Vec<usize>,
    },
}

/// The add-to-playlist picker (`a`), while it is open (it takes every key): the tracks to add,
/// the user's own playlists filtered by what was typed, and the name being typed for a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaylistPicker {
    pub tracks: Vec<TrackInfo>,
    /// The filter text.
    pub query: String,
    /// "New playlist…" first (while nothing is typed), then the matching playlists, best first.
    pub rows: Vec<PickerRow>,
    pub cursor: ListCursor,
    /// `Some`: naming a new playlist (the text typed so far).
    pub naming: Option<String>,
}

/// The session's link state, shown in the now-playing bar.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SessionLink {
    #[default]
    Offline,
    Connecting,
    Online {
        username: String,
    },
    Reconnecting {
        attempt: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    Login(LoginStage),
    Main,
}

/// Everything the UI shows.
#[derive(Debug, Clone)]
pub struct State {
    pub screen: Screen,
    pub focus: Pane,
    pub help: Option<ListCursor>,
    pub library: LibraryView,
    pub search: SearchView,
    pub queue: QueueView,
    pub devices: DevicesView,
    pub log: LogView,
    pub filter: Option<FilterState>,
    /// The trust prompt, while it is open (it takes every key).
    pub trust_prompt: Option<TrustPrompt>,
    /// The add-to-playlist picker, while it is open (it takes every key).
    pub picker: Option<PlaylistPicker>,
    /// Remembered trust decisions by device id.
    pub trusted: BTreeMap<String, Trust>,
    /// The local player's latest status.
    pub player: Option<PlayerStatus>,
    /// The local player holds a track through a transient failure (why), until it plays again.
    pub player_held: Option<String>,
    /// Playback on another device, when that device is the active one.
    pub remote: Option<RemotePlayback>,
    /// Names for the ids in the queue that the library does not have (filled from pages,
    /// search results, lookups); read through [`State::track`], which asks the library first.
    pub tracks: HashMap<SpotifyId, TrackInfo>,
    /// Where episodes were left (the runtime's copy of `crate::resume`): an episode played
    /// from a list starts there.
    pub resume_points: HashMap<SpotifyId, u64>,
    pub notifications: VecDeque<Notification>,
    /// The keys of a chord typed so far (e.g. "g"), shown as a hint.
    pub pending_chord: Option<String>,
    pub session: SessionLink,
    pub connect: ConnectLink,
    /// The active theme's name and the names of all themes ([`crate::action::Action::NextTheme`] cycles).
    pub theme: String,
    pub themes: Vec<String>,
    /// This device's Connect id and name (the Devices pane marks it).
    pub device_id: String,
    pub device_name: String,
    pub hitmap: HitMap,
    /// Terminal size (columns, rows).
    pub size: (u16, u16),
    /// Counter for request ids (search, pages, ...).
    pub next_request: u64,
    /// Set by `Quit`; the loop ends after this update.
    pub quit: bool,
    /// `update`'s own bookkeeping (nothing here is drawn).
    pub memo: Memo,
    /// The lyrics overlay of the playing track, while it is open.
    pub lyrics: Option<LyricsView>,
    /// Album covers on screen (the playing track's, the open album page's).
    pub art: ArtView,
}

/// The covers the screen may show, keyed by album URI (or the track URI when the playing
/// track's album is not known yet: the fetch resolves it).
#[derive(Debug, Clone, Default)]
pub struct ArtView {
    /// Covers are shown at all (`[ui] album_art` is not "off").
    pub enabled: bool,
    /// The key of the playing track's cover (the now-playing bar shows it).
    pub now: Option<String>,
    pub covers: HashMap<String, CoverState>,
}

/// One cover's state: asked for, decoded, or why there is none (a placeholder is drawn).
#[derive(Debug, Clone, PartialEq)]
pub enum CoverState {
    Loading,
    Ready(crate::art::Cover),
    Missing(String),
}

/// The lyrics overlay: which track it shows, its fetch, and the line the user moved to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LyricsView {
    /// The track the lyrics are (being) fetched for; `None`: nothing is playing.
    pub track: Option<SpotifyId>,
    /// The fetch whose answer fills the view (late answers to other ids are dropped).
    pub request: u64,
    pub loading: bool,
    pub error: Option<String>,
    pub lyrics: Option<crate::api::lyrics::Lyrics>,
    /// The line chosen with the keys; `None` follows the line being sung.
    pub selected: Option<usize>,
}

/// Where queued tracks go (also: what a page request whose answer is not shown as a page is
/// for). Named like the player operations they become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueMode {
    /// [`crate::player::PlayerOp::AddToQueue`]: Spotify's queue order.
    AddToQueue,
    /// [`crate::player::PlayerOp::PlayNext`]: right after the current track.
    PlayNext,
}

/// `update`'s bookkeeping: request ids in flight that are not pages, ids already looked up, and
/// the like. Not drawn; kept in the state so `update` stays a pure function of (state, msg).
#[derive(Debug, Clone, Default)]
pub struct Memo {
    /// Page requests made to queue a container's tracks (z/Z on an album whose tracks are not
    /// known yet): request id → where the tracks go.
    pub queue_pages: HashMap<u64, QueueMode>,
    /// Queue ids whose names were already asked for with `Effect::FetchTracks` (once per id).
    pub asked: std::collections::HashSet<SpotifyId>,
    /// The search id an `Effect::Search` was already emitted for (Enter searches at once; the
    /// debounce timer for the same id then does nothing).
    pub search_sent: u64,
    /// The pane focused before `ToggleLog` showed the log (toggling again returns there).
    pub before_log: Option<Pane>,
    /// Rows in the help overlay (for clamping its scroll); the loop may set the exact count.
    pub help_len: usize,
}

impl State {
    /// What is known about the track or episode `id`: one learnt from a list or a lookup that
    /// differs from the library's, else the library's own entry (not copied: a 10k-track library
    /// played as the queue would otherwise be held twice).
    pub fn track(&self, id: &SpotifyId) -> Option<&TrackInfo> {
        self.tracks.get(id).or_else(|| {
            self.library
                .data
                .as_deref()
                .and_then(|lib| lib.track_by_id(id))
        })
    }

    /// A fresh state: nothing loaded yet, the library focused on its playlists.
    pub fn new(
        device_id: String,
        device_name: String,
        theme: String,
        themes: Vec<String>,
        screen: Screen,
    ) -> State {
        State {
            screen,
            focus: Pane::Library,
            help: None,
            library: LibraryView {
                section: Some(LibrarySection::Playlists),
                ..LibraryView::default()
            },
            search: SearchView::default(),
            queue: QueueView::default(),
            devices: DevicesView::default(),
            log: LogView::default(),
            filter: None,
            trust_prompt: None,
            picker: None,
            lyrics: None,
            art: ArtView::default(),
            trusted: BTreeMap::new(),
            player: None,
            player_held: None,
            remote: None,
            tracks: HashMap::new(),
            resume_points: HashMap::new(),
            notifications: VecDeque::new(),
            pending_chord: None,
            session: SessionLink::default(),
            connect: ConnectLink::Off,
            theme,
            themes,
            device_id,
            device_name,
            hitmap: HitMap::default(),
            size: (80, 24),
            next_request: 1,
            quit: false,
            memo: Memo {
                help_len: crate::action::bindable().len(),
                ..Memo::default()
            },
        }
    }

    /// A text box has the keyboard: the search box or the filter box being edited, or the login
    /// screen's username/password fields. Keys then edit text instead of resolving to actions.
    pub fn text_input_active(&self) -> bool {
        match &self.screen {
            Screen::Login(stage) => matches!(stage, LoginStage::Password { .. }),
            Screen::Main => {
                if self.trust_prompt.is_some() || self.picker.is_some() {
                    return true;
                }
                if self.help.is_some() {
                    return false;
                }
                if let Some(f) = &self.filter {
                    if f.editing && f.pane == self.focus {
                        return true;
                    }
                }
                self.focus == Pane::Search && self.search.editing
            }
        }
    }

    /// The keymap context keys resolve in: the help overlay's while it is shown, the login
    /// screen's, else the focused pane's.
    pub fn key_context(&self) -> crate::keymap::Context {
        use crate::keymap::Context;
        if matches!(self.screen, Screen::Login(_)) {
            return Context::Login;
        }
        if self.help.is_some() {
            return Context::Help;
        }
        if self.lyrics.is_some() {
            return Context::Lyrics;
        }
        match self.focus {
            Pane::Library => Context::Library,
            Pane::Search => Context::Search,
            Pane::Queue => Context::Queue,
            Pane::Devices => Context::Devices,
            Pane::Log => Context::Log,
        }
    }

    /// How long until the next frame that shows something new by itself, or `None` when
    /// nothing moves ([`State::animating`]). A spinner needs [`SPINNER_TICK`]; playback only needs
    /// a frame when the clock's second changes, so the tick lands just after that moment. The
    /// progress bar moves in the same frame: on a track shorter than the bar is wide (in
    /// seconds) it advances several cells at once rather than costing up to four frames a second
    /// (each frame renders the whole screen; the CPU budget while playing is 1 % of a core).
    pub fn tick_in(&self, now: Instant) -> Option<Duration> {
        use crate::player::PlayState;
        if !self.animating() {
            return None;
        }
        let local = self
            .player
            .as_ref()
            .filter(|p| p.state == PlayState::Playing && !p.buffering)
            .map(|p| (p.position_ms, p.at));
        let remote = self
            .remote
            .as_ref()
            .filter(|r| r.is_playing)
            .map(|r| (r.position_ms, r.at));
        let spinner = !matches!(
            self.player.as_ref().map(|p| (p.state, p.buffering)),
            None | Some((
                PlayState::Playing | PlayState::Paused | PlayState::Stopped,
                false
            ))
        ) || matches!(self.screen, Screen::Login(LoginStage::Working { .. }))
            || self.library.loading
            || self.search.loading
            || self.devices.loading
            || self
                .library
                .pages
                .iter()
                .chain(self.search.pages.iter())
                .any(|p| p.loading);
        let Some((position_ms, at)) = local.or(remote).filter(|_| !spinner) else {
            return Some(SPINNER_TICK);
        };
        let pos = position_ms.saturating_add(now.saturating_duration_since(at).as_millis() as u64);
        // Just after the boundary, so the frame shows the new value.
        let to_second = 1000 - pos % 1000 + 5;
        // With synced lyrics open, the next line's start too, so the highlight moves on time
        // rather than up to a second late.
        let to_line = match self.lyrics.as_ref().and_then(|l| l.lyrics.as_ref()) {
            Some(crate::api::lyrics::Lyrics::Text {
                synced: true,
                lines,
            }) => lines
                .get(lines.partition_point(|l| l.start_ms <= pos))
                .map_or(u64::MAX, |next| next.start_ms - pos + 5),
            _ => u64::MAX,
        };
        Some(Duration::from_millis(to_second.min(to_line)))
    }

    /// Something on screen moves by itself (playback progressing here or on the active remote
    /// device, or a spinner): the loop arms its clock tick only while this is true.
    pub fn animating(&self) -> bool {
        use crate::player::PlayState;
        let local = self.player.as_ref().is_some_and(|p| {
            matches!(p.state, PlayState::Playing | PlayState::Loading) || p.buffering
        });
        let remote = self.remote.as_ref().is_some_and(|r| r.is_playing);
        let pages_loading = self
            .library
            .pages
            .iter()
            .chain(self.search.pages.iter())
            .any(|p| p.loading);
        let login_working = matches!(self.screen, Screen::Login(LoginStage::Working { .. }));
        local
            || remote
            || pages_loading
            || self.lyrics.as_ref().is_some_and(|l| l.loading)
            || login_working
            || self.library.loading
            || self.search.loading
            || self.devices.loading
    }
}
