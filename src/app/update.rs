//! The pure state machine: `update(&mut State, Msg) -> Outcome`. No I/O, no `.await`; effects
//! are returned as data (see [`Effect`]) and answers come back as messages carrying the request
//! id they answer, so late answers to old requests are recognised and dropped.
//!
//! Called by the event loop (`run`) and by the flow tests (through `input::feed`). Depends on
//! the app's data types, `filter` and `remote`; never on ratatui/crossterm or a service handle.
//! The only outside reads are `Instant::now()` (notification stamps, extrapolating the playback
//! position for relative seeks), which tests avoid depending on by using paused players.

use std::sync::Arc;
use std::time::Instant;

use crate::action::{Action, Pane};
use crate::api::library::{Library, TrackInfo};
use crate::app::effect::{Effect, LoginRequest, Outcome};
use crate::app::filter::{self, Matcher};
use crate::app::msg::{MouseKind, Msg, TextInput};
use crate::app::remote;
use crate::app::state::{
    FilterState, Item, Level, LibrarySection, ListCursor, LoginMethod, LoginStage, Notification,
    PageData, PageKind, PageView, QueueMode, Screen, State, LOG_LINES,
};
use crate::connect::{RemoteCommand, RemoteControl};
use crate::control::{self, Intent, Now};
use crate::id::{ItemKind, SpotifyId, SpotifyUri};
use crate::player::{PlayState, PlayerEvent, PlayerStatus, RepeatMode};

/// Seek step for `<`/`>`.
pub const SEEK_STEP_MS: u64 = 5000;
/// Volume step for `+`/`-`: 5 % of the full range.
pub const VOLUME_STEP: u16 = 3277;
/// Rows a mouse wheel notch scrolls.
pub const WHEEL_ROWS: i32 = 3;
/// Typing debounce before a search is sent.
pub const SEARCH_DEBOUNCE_MS: u64 = 250;
/// Notifications kept (the status line shows the latest).
pub const NOTIFICATIONS: usize = 50;
/// Page height when the renderer has not reported the list's area yet.
const DEFAULT_PAGE: usize = 10;

/// Applies one message.
pub fn update(state: &mut State, msg: Msg) -> Outcome {
    let mut out = Out::default();
    match msg {
        Msg::Action(action) => {
            if state.pending_chord.take().is_some() {
                out.redraw = true;
            }
            action_msg(state, action, &mut out);
        }
        Msg::Text(t) => text(state, t, &mut out),
        Msg::Chord(pending) => {
            if state.pending_chord != pending {
                state.pending_chord = pending;
                out.redraw = true;
            }
        }
        Msg::Unbound(key) => {
            state.pending_chord = None;
            notify(state, Level::Info, format!("{key} is not bound here"));
            out.redraw = true;
        }
        Msg::Mouse { kind, x, y } => mouse(state, kind, x, y, &mut out),
        Msg::Resize(w, h) => {
            out.redraw = state.size != (w, h);
            state.size = (w, h);
        }
        Msg::Tick(_) => out.redraw = state.animating(),
        Msg::PlayerStatus(status) => {
            if let Some(t) = &status.track {
                remember_played(state, t);
            }
            out.redraw = !state
                .player
                .as_ref()
                .is_some_and(|old| same_status(old, &status));
            state.player = Some(status);
        }
        Msg::Queue(snapshot) => queue_msg(state, snapshot, &mut out),
        Msg::PlayerEvent(ev) => player_event(state, ev, &mut out),
        Msg::Library(result) => library_msg(state, result, &mut out),
        Msg::SearchDue(id) => search_due(state, id, &mut out),
        Msg::SearchResults { id, query, result } => {
            search_results(state, id, query, result, &mut out)
        }
        Msg::Page { id, result } => page_msg(state, id, result, &mut out),
        Msg::Tracks(list) => {
            for (id, info) in list {
                state.tracks.insert(id, info);
                out.redraw = true;
            }
            if out.redraw {
                refresh_filter(state, Pane::Queue);
            }
        }
        Msg::Devices(result) => {
            state.devices.loading = false;
            match result {
                Ok(devices) => {
                    state.devices.devices = devices;
                    state.devices.error = None;
                    clamp(&mut state.devices.cursor, state.devices.devices.len());
                    refresh_filter(state, Pane::Devices);
                }
                Err(e) => {
                    notify(state, Level::Error, format!("Devices: {e}"));
                    state.devices.error = Some(e);
                }
            }
            out.redraw = true;
        }
        Msg::Remote(remote) => {
            out.redraw = state.remote != remote;
            state.remote = remote;
        }
        Msg::RemoteCommand(cmd) => remote_command(state, cmd, &mut out),
        Msg::ConnectLink(link) => {
            out.redraw = state.connect != link;
            state.connect = link;
        }
        Msg::Session(link) => {
            out.redraw = state.session != link;
            state.session = link;
        }
        Msg::Login(stage) => {
            if let Screen::Login(current) = &state.screen {
                out.redraw = *current != stage;
                state.screen = Screen::Login(stage);
            }
        }
        Msg::LoggedIn { username } => {
            tracing::debug!(%username, "signed in");
            state.screen = Screen::Main;
            state.library.loading = true;
            out.effects.push(Effect::LoadLibrary { refresh: false });
            out.redraw = true;
        }
        Msg::Log(line) => {
            let log = &mut state.log;
            let following = log.lines.is_empty() || log.cursor.selected + 1 >= log.lines.len();
            log.lines.push_back(line);
            if log.lines.len() > LOG_LINES {
                log.lines.pop_front();
                log.cursor.selected = log.cursor.selected.saturating_sub(1);
                log.cursor.offset = log.cursor.offset.saturating_sub(1);
            }
            if following {
                log.cursor.selected = log.lines.len() - 1;
            }
            refresh_filter(state, Pane::Log);
            out.redraw = state.focus == Pane::Log;
        }
        Msg::Notify { level, text, at } => {
            push_notification(state, Notification { level, text, at });
            out.redraw = true;
        }
    }
    Outcome {
        redraw: out.redraw,
        effects: out.effects,
    }
}

#[derive(Default)]
struct Out {
    redraw: bool,
    effects: Vec<Effect>,
}

impl Out {
    fn effect(&mut self, e: Effect) {
        self.effects.push(e);
    }
}

// ---------------------------------------------------------------------------------------------
// Lists

/// The list a pane shows right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    Section(LibrarySection),
    LibraryPage,
    Results,
    SearchPage,
    Queue,
    Devices,
    Log,
}

fn list_of(state: &State, pane: Pane) -> List {
    match pane {
        Pane::Library if state.library.pages.is_empty() => {
            List::Section(state.library.section.unwrap_or(LibrarySection::Playlists))
        }
        Pane::Library => List::LibraryPage,
        Pane::Search if state.search.pages.is_empty() => List::Results,
        Pane::Search => List::SearchPage,
        Pane::Queue => List::Queue,
        Pane::Devices => List::Devices,
        Pane::Log => List::Log,
    }
}

fn page_items(page: Option<&PageView>) -> &[Item] {
    page.and_then(|p| p.data.as_ref())
        .map(|d| d.items.as_slice())
        .unwrap_or(&[])
}

fn list_len(state: &State, list: List) -> usize {
    match list {
        List::Section(section) => {
            let Some(lib) = &state.library.data else {
                return 0;
            };
            match section {
                LibrarySection::Playlists => lib.playlists.len(),
                LibrarySection::LikedSongs => lib.saved_tracks.len(),
                LibrarySection::Albums => lib.saved_albums.len(),
                LibrarySection::Artists => lib.followed_artists.len(),
                LibrarySection::Podcasts => lib.saved_shows.len(),
            }
        }
        List::LibraryPage => page_items(state.library.pages.last()).len(),
        List::Results => state.search.results.len(),
        List::SearchPage => page_items(state.search.pages.last()).len(),
        List::Queue => state.queue.snapshot.items.len(),
        List::Devices => state.devices.devices.len(),
        List::Log => state.log.lines.len(),
    }
}

fn cursor_mut(state: &mut State, list: List) -> Option<&mut ListCursor> {
    Some(match list {
        List::Section(s) => &mut state.library.cursors[s.index()],
        List::LibraryPage => &mut state.library.pages.last_mut()?.cursor,
        List::Results => &mut state.search.cursor,
        List::SearchPage => &mut state.search.pages.last_mut()?.cursor,
        List::Queue => &mut state.queue.cursor,
        List::Devices => &mut state.devices.cursor,
        List::Log => &mut state.log.cursor,
    })
}

fn cursor_of(state: &State, list: List) -> ListCursor {
    match list {
        List::Section(s) => state.library.cursors[s.index()],
        List::LibraryPage => state
            .library
            .pages
            .last()
            .map(|p| p.cursor)
            .unwrap_or_default(),
        List::Results => state.search.cursor,
        List::SearchPage => state
            .search
            .pages
            .last()
            .map(|p| p.cursor)
            .unwrap_or_default(),
        List::Queue => state.queue.cursor,
        List::Devices => state.devices.cursor,
        List::Log => state.log.cursor,
    }
}

fn clamp(cursor: &mut ListCursor, len: usize) {
    if cursor.selected >= len {
        cursor.selected = len.saturating_sub(1);
    }
    if cursor.offset > cursor.selected {
        cursor.offset = cursor.selected;
    }
}

/// The row of `list` an action applies to: the selected row, seen through the filter when one
/// is open on the pane.
fn selected_row(state: &State, pane: Pane) -> Option<usize> {
    let list = list_of(state, pane);
    if let Some(f) = state.filter.as_ref().filter(|f| f.pane == pane) {
        return f.matches.get(f.cursor.selected).map(|m| m.0);
    }
    let sel = cursor_of(state, list).selected;
    (sel < list_len(state, list)).then_some(sel)
}

/// The item at `row` of a library/search list (library rows are built from the cached library).
fn item_at(state: &State, list: List, row: usize) -> Option<Item> {
    match list {
        List::Section(section) => {
            let lib = state.library.data.as_ref()?;
            Some(match section {
                LibrarySection::Playlists => {
                    let p = lib.playlists.get(row)?;
                    Item::Playlist {
                        uri: p.uri.clone(),
                        name: p.name.clone(),
                        owner: p.owner.clone(),
                        total: p.total,
                    }
                }
                LibrarySection::LikedSongs => {
                    Item::Track(lib.track(lib.saved_tracks.get(row)?)?.clone())
                }
                LibrarySection::Albums => {
                    let a = lib.saved_albums.get(row)?;
                    Item::Album {
                        uri: a.uri.clone(),
                        name: a.name.clone(),
                        artists: a.artists.clone(),
                        year: a.release_date.chars().take(4).collect(),
                    }
                }
                LibrarySection::Artists => {
                    let a = lib.followed_artists.get(row)?;
                    Item::Artist {
                        uri: a.uri.clone(),
                        name: a.name.clone(),
                    }
                }
                LibrarySection::Podcasts => {
                    let s = lib.saved_shows.get(row)?;
                    Item::Show {
                        uri: s.uri.clone(),
                        name: s.name.clone(),
                        publisher: s.publisher.clone(),
                    }
                }
            })
        }
        List::LibraryPage => page_items(state.library.pages.last()).get(row).cloned(),
        List::Results => state.search.results.get(row).cloned(),
        List::SearchPage => page_items(state.search.pages.last()).get(row).cloned(),
        List::Queue | List::Devices | List::Log => None,
    }
}

/// The playable rows (tracks and episodes) of a list, with their row index, in list order.
fn list_tracks(state: &State, list: List) -> Vec<(usize, TrackInfo)> {
    let from_items = |items: &[Item]| -> Vec<(usize, TrackInfo)> {
        items
            .iter()
            .enumerate()
            .filter_map(|(i, it)| match it {
                Item::Track(t) | Item::Episode(t) => Some((i, t.clone())),
                _ => None,
            })
            .collect()
    };
    match list {
        List::Section(LibrarySection::LikedSongs) => match &state.library.data {
            Some(lib) => lib
                .saved_tracks
                .iter()
                .enumerate()
                .filter_map(|(i, e)| lib.track(e).map(|t| (i, t.clone())))
                .collect(),
            None => Vec::new(),
        },
        List::Section(_) | List::Queue | List::Devices | List::Log => Vec::new(),
        List::LibraryPage => from_items(page_items(state.library.pages.last())),
        List::Results => from_items(&state.search.results),
        List::SearchPage => from_items(page_items(state.search.pages.last())),
    }
}

/// The row texts the filter matches against (each starts with the row's name, so highlight
/// positions below the name's length fall on the name).
fn row_texts(state: &State, list: List) -> Vec<String> {
    match list {
        List::Section(section) => {
            let Some(lib) = &state.library.data else {
                return Vec::new();
            };
            match section {
                LibrarySection::Playlists => lib
                    .playlists
                    .iter()
                    .map(|p| join(&[&p.name, &p.owner]))
                    .collect(),
                LibrarySection::LikedSongs => lib
                    .saved_tracks
                    .iter()
                    .map(|e| lib.track(e).map(track_text).unwrap_or_default())
                    .collect(),
                LibrarySection::Albums => lib
                    .saved_albums
                    .iter()
                    .map(|a| join(&[&a.name, &a.artists.join(", ")]))
                    .collect(),
                LibrarySection::Artists => lib
                    .followed_artists
                    .iter()
                    .map(|a| a.name.clone())
                    .collect(),
                LibrarySection::Podcasts => lib
                    .saved_shows
                    .iter()
                    .map(|s| join(&[&s.name, &s.publisher]))
                    .collect(),
            }
        }
        List::LibraryPage => page_items(state.library.pages.last())
            .iter()
            .map(item_text)
            .collect(),
        List::Results => state.search.results.iter().map(item_text).collect(),
        List::SearchPage => page_items(state.search.pages.last())
            .iter()
            .map(item_text)
            .collect(),
        List::Queue => state
            .queue
            .snapshot
            .items
            .iter()
            .map(|id| match state.tracks.get(id) {
                Some(t) => track_text(t),
                None => id.to_base62(),
            })
            .collect(),
        List::Devices => state
            .devices
            .devices
            .iter()
            .map(|d| join(&[&d.name, &d.kind]))
            .collect(),
        List::Log => state
            .log
            .lines
            .iter()
            .map(|l| join(&[&l.text, &l.target]))
            .collect(),
    }
}

/// "a · b · c", skipping empty parts.
fn join(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" · ")
}

/// A track row's text: name · artists · album.
pub fn track_text(t: &TrackInfo) -> String {
    join(&[&t.name, &t.artists.join(", "), &t.album])
}

/// An item row's text, starting with its name.
pub fn item_text(item: &Item) -> String {
    match item {
        Item::Track(t) | Item::Episode(t) => track_text(t),
        Item::Album { name, artists, .. } => join(&[name, &artists.join(", ")]),
        Item::Artist { name, .. } => name.clone(),
        Item::Playlist { name, owner, .. } => join(&[name, owner]),
        Item::Show {
            name, publisher, ..
        } => join(&[name, publisher]),
    }
}

/// Visible rows of a pane's list as last drawn (PageUp/PageDown step).
fn page_height(state: &State, pane: Pane) -> usize {
    state
        .hitmap
        .lists
        .iter()
        .find(|l| l.pane == pane)
        .map(|l| l.area.height as usize)
        .filter(|h| *h > 0)
        .unwrap_or(DEFAULT_PAGE)
}

/// Where a navigation action moves a selection in a list of `len` rows.
fn moved(sel: usize, len: usize, action: &Action, page: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let last = len - 1;
    let sel = sel.min(last);
    match action {
        Action::Up => sel.saturating_sub(1),
        Action::Down => (sel + 1).min(last),
        Action::PageUp => sel.saturating_sub(page),
        Action::PageDown => (sel + page).min(last),
        Action::Top => 0,
        Action::Bottom => last,
        _ => sel,
    }
}

fn scrolled(sel: usize, len: usize, delta: i32) -> usize {
    if len == 0 {
        return 0;
    }
    let target = sel as i64 + delta as i64;
    target.clamp(0, len as i64 - 1) as usize
}

// ---------------------------------------------------------------------------------------------
// Actions

fn action_msg(state: &mut State, action: Action, out: &mut Out) {
    if let Screen::Login(stage) = &state.screen {
        let stage = stage.clone();
        login_action(state, stage, action, out);
        return;
    }
    let target = if state.remote.is_some() {
        Target::Remote
    } else {
        Target::Local
    };
    apply(state, action, target, out);
}

/// Where playback commands go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Local,
    /// The active device is another one (`state.remote`).
    Remote,
}

fn apply(state: &mut State, action: Action, target: Target, out: &mut Out) {
    match action {
        Action::Up
        | Action::Down
        | Action::PageUp
        | Action::PageDown
        | Action::Top
        | Action::Bottom => navigate(state, &action, out),
        Action::Select => select(state, out),
        Action::Back => back(state, out, true),
        Action::Close => back(state, out, false),
        Action::Quit => {
            state.quit = true;
            out.redraw = true;
        }
        Action::FocusNext | Action::FocusPrev => {
            let i = Pane::ALL
                .iter()
                .position(|p| *p == state.focus)
                .unwrap_or(0);
            let n = Pane::ALL.len();
            let j = if action == Action::FocusNext {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            };
            focus(state, Pane::ALL[j], out);
        }
        Action::Focus(pane) => focus(state, pane, out),
        Action::NextSection | Action::PrevSection => {
            let cur = state.library.section.unwrap_or(LibrarySection::Playlists);
            let n = LibrarySection::ALL.len();
            let i = cur.index();
            let j = if action == Action::NextSection {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            };
            close_filter(state, Pane::Library);
            state.library.section = Some(LibrarySection::ALL[j]);
            state.library.pages.clear();
            state.focus = Pane::Library;
            out.redraw = true;
        }

        Action::TogglePlay
        | Action::Play
        | Action::Pause
        | Action::Next
        | Action::Previous
        | Action::SeekForward
        | Action::SeekBackward
        | Action::SeekTo(_)
        | Action::VolumeUp
        | Action::VolumeDown
        | Action::SetVolume(_)
        | Action::ToggleShuffle
        | Action::CycleRepeat
        | Action::SetShuffle(_)
        | Action::SetRepeat(_) => playback(state, action, target, out),

        Action::AddToQueue => queue_selection(state, QueueMode::AddToQueue, target, out),
        Action::PlayNext => queue_selection(state, QueueMode::PlayNext, target, out),
        Action::RemoveFromQueue => remove_from_queue(state, out),
        Action::MoveUp => move_in_queue(state, -1, out),
        Action::MoveDown => move_in_queue(state, 1, out),
        Action::ClearQueue => local(state, Intent::ClearQueue, out),

        Action::OpenFilter => open_filter(state, out),
        Action::OpenSearch => {
            state.help = None;
            state.focus = Pane::Search;
            close_filter(state, Pane::Search);
            state.search.pages.clear();
            state.search.editing = true;
            state.search.input_cursor = state.search.input.chars().count();
            out.redraw = true;
        }

        Action::Transfer => transfer(state, out),
        Action::RefreshDevices => {
            state.devices.loading = true;
            out.effect(Effect::RefreshDevices);
            out.redraw = true;
        }

        Action::ToggleHelp => {
            state.help = match state.help {
                Some(_) => None,
                None => Some(ListCursor::default()),
            };
            out.redraw = true;
        }
        Action::ToggleLog => {
            if state.focus == Pane::Log {
                let back = state.memo.before_log.take().unwrap_or(Pane::Library);
                state.focus = back;
            } else {
                state.memo.before_log = Some(state.focus);
                state.focus = Pane::Log;
            }
            out.redraw = true;
        }
        Action::NextTheme => {
            if state.themes.is_empty() {
                return;
            }
            let i = state.themes.iter().position(|t| *t == state.theme);
            let next = match i {
                Some(i) => (i + 1) % state.themes.len(),
                None => 0,
            };
            if state.themes[next] != state.theme {
                state.theme = state.themes[next].clone();
                out.redraw = true;
            }
        }
        Action::SetTheme(name) => {
            if name != state.theme {
                state.theme = name;
                out.redraw = true;
            }
        }
        Action::Refresh => {
            state.library.loading = true;
            out.effect(Effect::LoadLibrary { refresh: true });
            out.redraw = true;
        }

        Action::SelectRow { pane, row } => {
            select_row(state, pane, row, out);
        }
        Action::ActivateRow { pane, row } => {
            if select_row(state, pane, row, out) {
                select(state, out);
            }
        }
        Action::Scroll { pane, delta } => scroll(state, pane, delta, out),
    }
}

fn focus(state: &mut State, pane: Pane, out: &mut Out) {
    if state.focus != pane {
        state.focus = pane;
        out.redraw = true;
    }
    if pane == Pane::Search && state.search.input.is_empty() && !state.search.editing {
        state.search.editing = true;
        state.search.input_cursor = 0;
        out.redraw = true;
    }
}

fn navigate(state: &mut State, action: &Action, out: &mut Out) {
    if let Some(help) = &mut state.help {
        let new = moved(help.selected, state.memo.help_len, action, DEFAULT_PAGE);
        if new != help.selected {
            help.selected = new;
            out.redraw = true;
        }
        return;
    }
    let pane = state.focus;
    let page = page_height(state, pane);
    if let Some(f) = state.filter.as_mut().filter(|f| f.pane == pane) {
        let new = moved(f.cursor.selected, f.matches.len(), action, page);
        if new != f.cursor.selected {
            f.cursor.selected = new;
            out.redraw = true;
            sync_filter_selection(state);
        }
        return;
    }
    let list = list_of(state, pane);
    let len = list_len(state, list);
    if let Some(c) = cursor_mut(state, list) {
        let new = moved(c.selected, len, action, page);
        if new != c.selected {
            c.selected = new;
            out.redraw = true;
        }
    }
}

/// Mouse: select `row` (an index into the unfiltered list) of the list in `pane`, focusing the
/// pane. Returns whether the row exists (in the filtered view when a filter is open).
fn select_row(state: &mut State, pane: Pane, row: usize, out: &mut Out) -> bool {
    if state.focus != pane {
        state.focus = pane;
        out.redraw = true;
    }
    if pane == Pane::Search && state.search.editing {
        // Clicking a result hands the keys back to the list.
        state.search.editing = false;
        out.redraw = true;
    }
    if let Some(f) = state.filter.as_mut().filter(|f| f.pane == pane) {
        let Some(pos) = f.matches.iter().position(|m| m.0 == row) else {
            return false;
        };
        if f.cursor.selected != pos {
            f.cursor.selected = pos;
            out.redraw = true;
        }
        sync_filter_selection(state);
        return true;
    }
    let list = list_of(state, pane);
    let len = list_len(state, list);
    if row >= len {
        return false;
    }
    if let Some(c) = cursor_mut(state, list) {
        if c.selected != row {
            c.selected = row;
            out.redraw = true;
        }
    }
    true
}

fn scroll(state: &mut State, pane: Pane, delta: i32, out: &mut Out) {
    if let Some(help) = &mut state.help {
        let new = scrolled(help.selected, state.memo.help_len, delta);
        if new != help.selected {
            help.selected = new;
            out.redraw = true;
        }
        return;
    }
    if let Some(f) = state.filter.as_mut().filter(|f| f.pane == pane) {
        let new = scrolled(f.cursor.selected, f.matches.len(), delta);
        if new != f.cursor.selected {
            f.cursor.selected = new;
            out.redraw = true;
            sync_filter_selection(state);
        }
        return;
    }
    let list = list_of(state, pane);
    let len = list_len(state, list);
    if let Some(c) = cursor_mut(state, list) {
        let new = scrolled(c.selected, len, delta);
        if new != c.selected {
            c.selected = new;
            out.redraw = true;
        }
    }
}

fn back(state: &mut State, out: &mut Out, may_quit: bool) {
    if state.help.take().is_some() {
        out.redraw = true;
        return;
    }
    let pane = state.focus;
    if state.filter.as_ref().is_some_and(|f| f.pane == pane) {
        out.redraw = true;
        close_filter(state, pane);
        return;
    }
    match pane {
        Pane::Library if !state.library.pages.is_empty() => {
            state.library.pages.pop();
        }
        Pane::Search if !state.search.pages.is_empty() => {
            state.search.pages.pop();
        }
        Pane::Search if state.search.editing => {
            state.search.editing = false;
        }
        _ if may_quit => state.quit = true,
        // Nothing to close: nothing changes.
        _ => return,
    }
    out.redraw = true;
}

/// Enter: open a container, play a track, jump in the queue, transfer to a device.
fn select(state: &mut State, out: &mut Out) {
    if state.help.is_some() {
        return;
    }
    let pane = state.focus;
    let Some(row) = selected_row(state, pane) else {
        return;
    };
    let list = list_of(state, pane);
    match list {
        List::Queue => {
            let ids = state.queue.snapshot.items.clone();
            local(
                state,
                Intent::Load {
                    ids,
                    index: row,
                    position_ms: 0,
                    play: true,
                },
                out,
            );
        }
        List::Devices => transfer(state, out),
        List::Log => {}
        _ => {
            let Some(item) = item_at(state, list, row) else {
                return;
            };
            match item {
                Item::Track(_) | Item::Episode(_) => play_from(state, list, row, out),
                Item::Playlist { uri, .. } => open_page(state, pane, PageKind::Playlist, uri, out),
                Item::Album { uri, .. } => open_page(state, pane, PageKind::Album, uri, out),
                Item::Artist { uri, .. } => open_page(state, pane, PageKind::Artist, uri, out),
                Item::Show { uri, .. } => open_page(state, pane, PageKind::Show, uri, out),
            }
        }
    }
}

fn new_id(state: &mut State) -> u64 {
    if state.next_request == 0 {
        state.next_request = 1;
    }
    let id = state.next_request;
    state.next_request += 1;
    id
}

/// The id of a playable URI (track or episode).
fn playable_id(uri: &str) -> Option<SpotifyId> {
    let u = SpotifyUri::parse(uri).ok()?;
    matches!(u.kind, ItemKind::Track | ItemKind::Episode).then_some(u.id)
}

fn remember(state: &mut State, t: &TrackInfo) {
    if let Some(id) = playable_id(&t.uri) {
        if state.tracks.get(&id) != Some(t) {
            state.tracks.insert(id, t.clone());
        }
    }
}

/// The player's idea of a track, kept when nothing richer (from a list) is known for its id.
/// Returns whether something new was learnt.
fn remember_played(state: &mut State, t: &crate::player::loader::TrackInfo) -> bool {
    if state.tracks.contains_key(&t.id) {
        return false;
    }
    state.tracks.insert(
        t.id,
        TrackInfo {
            uri: format!("spotify:track:{}", t.id.to_base62()),
            name: t.name.clone(),
            artists: t.artists.clone(),
            album: t.album.clone(),
            album_uri: String::new(),
            duration_ms: t.duration_ms,
            explicit: false,
        },
    );
    true
}

/// Play every track of `list` starting at `row`.
fn play_from(state: &mut State, list: List, row: usize, out: &mut Out) {
    let tracks = list_tracks(state, list);
    let mut ids = Vec::with_capacity(tracks.len());
    let mut index = None;
    for (r, t) in &tracks {
        let Some(id) = playable_id(&t.uri) else {
            continue;
        };
        if *r == row {
            index = Some(ids.len());
        }
        ids.push(id);
    }
    let Some(index) = index else {
        notify(state, Level::Warn, "This item can't be played".to_string());
        out.redraw = true;
        return;
    };
    for (_, t) in &tracks {
        remember(state, t);
    }
    local(
        state,
        Intent::Load {
            ids,
            index,
            position_ms: 0,
            play: true,
        },
        out,
    );
}

/// Push a page for `uri` on the pane's stack and ask for its content. A playlist whose items
/// the cached library already holds is shown at once (and still refreshed).
fn open_page(state: &mut State, pane: Pane, kind: PageKind, uri: String, out: &mut Out) {
    close_filter(state, pane);
    let id = new_id(state);
    let prefill = match kind {
        PageKind::Playlist => state
            .library
            .data
            .as_ref()
            .and_then(|lib| playlist_page(lib, &uri)),
        _ => None,
    };
    let page = PageView {
        kind,
        uri: uri.clone(),
        request: id,
        loading: true,
        error: None,
        data: prefill,
        cursor: ListCursor::default(),
    };
    match pane {
        Pane::Search => state.search.pages.push(page),
        _ => {
            state.focus = Pane::Library;
            state.library.pages.push(page);
        }
    }
    out.effect(Effect::LoadPage { id, kind, uri });
    out.redraw = true;
}

/// A playlist page from the cached library, when its items are loaded there.
fn playlist_page(lib: &Library, uri: &str) -> Option<PageData> {
    let p = lib.playlists.iter().find(|p| p.uri == uri)?;
    p.items.as_ref()?;
    let items: Vec<Item> = lib.playlist_tracks(p).cloned().map(Item::Track).collect();
    let subtitle = join(&["Playlist", &p.owner, &format!("{} tracks", items.len())]);
    Some(PageData {
        kind: PageKind::Playlist,
        uri: p.uri.clone(),
        title: p.name.clone(),
        subtitle,
        items,
    })
}

/// The tracks of a container when they are known without asking (cached playlist items, or an
/// open page with the same URI).
fn known_tracks(state: &State, uri: &str) -> Option<Vec<TrackInfo>> {
    let from_page = state
        .library
        .pages
        .iter()
        .chain(state.search.pages.iter())
        .filter_map(|p| p.data.as_ref())
        .find(|d| d.uri == uri);
    let data = match from_page {
        Some(d) => Some(d.clone()),
        None => state
            .library
            .data
            .as_ref()
            .and_then(|lib| playlist_page(lib, uri)),
    }?;
    Some(page_tracks(&data))
}

fn page_tracks(data: &PageData) -> Vec<TrackInfo> {
    data.items
        .iter()
        .filter_map(|it| match it {
            Item::Track(t) | Item::Episode(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

/// z / Z: the selected track, or every track of the selected container, to the queue. A
/// container whose tracks aren't known yet is loaded first (the answer queues them).
fn queue_selection(state: &mut State, mode: QueueMode, target: Target, out: &mut Out) {
    if state.help.is_some() {
        return;
    }
    let pane = state.focus;
    if !matches!(pane, Pane::Library | Pane::Search) {
        return;
    }
    let Some(row) = selected_row(state, pane) else {
        return;
    };
    let list = list_of(state, pane);
    let Some(item) = item_at(state, list, row) else {
        return;
    };
    let (kind, uri) = match item {
        Item::Track(t) | Item::Episode(t) => {
            queue_tracks(state, vec![t], mode, target, out);
            return;
        }
        Item::Playlist { uri, .. } => (PageKind::Playlist, uri),
        Item::Album { uri, .. } => (PageKind::Album, uri),
        Item::Artist { uri, .. } => (PageKind::Artist, uri),
        Item::Show { uri, .. } => (PageKind::Show, uri),
    };
    if let Some(tracks) = known_tracks(state, &uri) {
        queue_tracks(state, tracks, mode, target, out);
        return;
    }
    let id = new_id(state);
    state.memo.enqueue.insert(id, mode);
    out.effect(Effect::LoadPage { id, kind, uri });
    notify(
        state,
        Level::Info,
        "Loading tracks for the queue…".to_string(),
    );
    out.redraw = true;
}

fn queue_tracks(
    state: &mut State,
    tracks: Vec<TrackInfo>,
    mode: QueueMode,
    target: Target,
    out: &mut Out,
) {
    let mut ids = Vec::with_capacity(tracks.len());
    for t in &tracks {
        if let Some(id) = playable_id(&t.uri) {
            ids.push(id);
            remember(state, t);
        }
    }
    if ids.is_empty() {
        notify(state, Level::Warn, "Nothing playable to queue".to_string());
        out.redraw = true;
        return;
    }
    let what = if tracks.len() == 1 {
        format!("“{}”", tracks[0].name)
    } else {
        format!("{} tracks", ids.len())
    };
    match (target, state.remote.as_ref()) {
        (Target::Remote, Some(r)) => {
            // A remote device only offers "add to queue"; play-next is appended there too.
            let device_id = r.device_id.clone();
            for t in &tracks {
                if playable_id(&t.uri).is_some() {
                    out.effect(Effect::Remote {
                        device_id: device_id.clone(),
                        control: RemoteControl::AddToQueue(t.uri.clone()),
                    });
                }
            }
            notify(state, Level::Info, format!("Added {what} to the queue"));
        }
        _ => match mode {
            QueueMode::AddToQueue => {
                local(state, Intent::AddToQueue(ids), out);
                notify(state, Level::Info, format!("Added {what} to the queue"));
            }
            QueueMode::PlayNext => {
                local(state, Intent::PlayNext(ids), out);
                notify(state, Level::Info, format!("{what} will play next"));
            }
        },
    }
    out.redraw = true;
}

fn remove_from_queue(state: &mut State, out: &mut Out) {
    if state.focus != Pane::Queue || state.help.is_some() {
        return;
    }
    let Some(row) = selected_row(state, Pane::Queue) else {
        return;
    };
    if state.queue.snapshot.current == Some(row) {
        notify(
            state,
            Level::Warn,
            "The track that is playing can't be removed".to_string(),
        );
        out.redraw = true;
        return;
    }
    local(state, Intent::Remove(row), out);
}

/// J/K: move the selected queue entry; the selection follows it. The snapshot is updated at
/// once (the player's next snapshot confirms it) so quick repeats act on what is shown.
fn move_in_queue(state: &mut State, delta: i64, out: &mut Out) {
    if state.focus != Pane::Queue || state.help.is_some() {
        return;
    }
    if state.filter.as_ref().is_some_and(|f| f.pane == Pane::Queue) {
        notify(
            state,
            Level::Info,
            "Close the filter to reorder the queue".to_string(),
        );
        out.redraw = true;
        return;
    }
    let len = state.queue.snapshot.items.len();
    let from = state.queue.cursor.selected;
    let to = from as i64 + delta;
    if from >= len || to < 0 || to as usize >= len {
        return;
    }
    let to = to as usize;
    let snap = &mut state.queue.snapshot;
    snap.items.swap(from, to);
    snap.current = snap.current.map(|c| {
        if c == from {
            to
        } else if c == to {
            from
        } else {
            c
        }
    });
    state.queue.cursor.selected = to;
    local(state, Intent::Move { from, to }, out);
    out.redraw = true;
}

fn transfer(state: &mut State, out: &mut Out) {
    if state.focus != Pane::Devices {
        return;
    }
    let Some(row) = selected_row(state, Pane::Devices) else {
        return;
    };
    let Some(device) = state.devices.devices.get(row).cloned() else {
        return;
    };
    if device.is_active {
        notify(
            state,
            Level::Info,
            format!("{} is already the active device", device.name),
        );
    } else {
        notify(
            state,
            Level::Info,
            format!("Transferring playback to {}…", device.name),
        );
        out.effect(Effect::Transfer { device });
    }
    out.redraw = true;
}

// ---------------------------------------------------------------------------------------------
// Playback

/// The playback position now (extrapolated while playing) and the track's duration.
fn position_and_duration(state: &State, target: Target) -> (u64, u64) {
    let now = Instant::now();
    match (target, &state.remote) {
        (Target::Remote, Some(r)) => {
            let mut pos = r.position_ms;
            if r.is_playing {
                pos += now.saturating_duration_since(r.at).as_millis() as u64;
            }
            (pos, r.duration_ms)
        }
        _ => match &state.player {
            Some(p) => {
                let mut pos = p.position_ms;
                if p.state == PlayState::Playing {
                    pos += now.saturating_duration_since(p.at).as_millis() as u64;
                }
                (pos, p.track.as_ref().map(|t| t.duration_ms).unwrap_or(0))
            }
            None => (0, 0),
        },
    }
}

fn clamp_position(pos: u64, duration: u64) -> u64 {
    if duration > 0 {
        pos.min(duration)
    } else {
        pos
    }
}

fn playback(state: &mut State, action: Action, target: Target, out: &mut Out) {
    let remote_id = match (target, &state.remote) {
        (Target::Remote, Some(r)) => Some(r.device_id.clone()),
        _ => None,
    };
    let Some(device_id) = remote_id else {
        local_playback(state, action, out);
        return;
    };
    let mut send = |control: RemoteControl| {
        out.effects.push(Effect::Remote {
            device_id: device_id.clone(),
            control,
        })
    };
    let Some(r) = state.remote.as_mut() else {
        return;
    };
    match action {
        Action::TogglePlay => send(if r.is_playing {
            RemoteControl::Pause
        } else {
            RemoteControl::Resume
        }),
        Action::Play => send(RemoteControl::Resume),
        Action::Pause => send(RemoteControl::Pause),
        Action::Next => send(RemoteControl::SkipNext),
        Action::Previous => send(RemoteControl::SkipPrev),
        Action::SeekForward | Action::SeekBackward | Action::SeekTo(_) => {
            let now = Instant::now();
            let mut pos = r.position_ms;
            if r.is_playing {
                pos += now.saturating_duration_since(r.at).as_millis() as u64;
            }
            let new = match action {
                Action::SeekForward => pos + SEEK_STEP_MS,
                Action::SeekBackward => pos.saturating_sub(SEEK_STEP_MS),
                Action::SeekTo(p) => p,
                _ => pos,
            };
            let new = clamp_position(new, r.duration_ms);
            r.position_ms = new;
            r.at = now;
            send(RemoteControl::SeekTo(new));
            out.redraw = true;
        }
        Action::VolumeUp | Action::VolumeDown | Action::SetVolume(_) => {
            let cur = r.volume.unwrap_or(u16::MAX / 2);
            let new = match action {
                Action::VolumeUp => cur.saturating_add(VOLUME_STEP),
                Action::VolumeDown => cur.saturating_sub(VOLUME_STEP),
                Action::SetVolume(v) => v,
                _ => cur,
            };
            if r.volume != Some(new) {
                r.volume = Some(new);
                out.redraw = true;
            }
            send(RemoteControl::SetVolume(new));
        }
        Action::ToggleShuffle | Action::SetShuffle(_) => {
            let on = match action {
                Action::SetShuffle(on) => on,
                _ => !r.shuffle,
            };
            r.shuffle = on;
            send(RemoteControl::SetShuffle(on));
            out.redraw = true;
        }
        Action::CycleRepeat | Action::SetRepeat(_) => {
            let cur = control::repeat_mode(r.repeat_context, r.repeat_track);
            let new = match action {
                Action::SetRepeat(m) => m,
                _ => control::next_repeat(cur),
            };
            let (context, track) = (new != RepeatMode::Off, new == RepeatMode::One);
            if context != r.repeat_context {
                send(RemoteControl::SetRepeatContext(context));
            }
            if track != r.repeat_track {
                send(RemoteControl::SetRepeatTrack(track));
            }
            r.repeat_context = context;
            r.repeat_track = track;
            out.redraw = true;
        }
        _ => {}
    }
}

/// A playback key on the local player: its intent through the core.
fn local_playback(state: &mut State, action: Action, out: &mut Out) {
    let intent = match action {
        Action::TogglePlay => Intent::Toggle,
        Action::Play => Intent::Play,
        Action::Pause => Intent::Pause,
        Action::Next => Intent::Next,
        Action::Previous => Intent::Previous,
        Action::SeekForward => Intent::SeekBy(SEEK_STEP_MS as i64),
        Action::SeekBackward => Intent::SeekBy(-(SEEK_STEP_MS as i64)),
        Action::SeekTo(ms) => Intent::SeekTo(ms),
        Action::VolumeUp => Intent::VolumeBy(i32::from(VOLUME_STEP)),
        Action::VolumeDown => Intent::VolumeBy(-i32::from(VOLUME_STEP)),
        Action::SetVolume(v) => Intent::SetVolume(v),
        Action::ToggleShuffle => Intent::ToggleShuffle,
        Action::SetShuffle(on) => Intent::SetShuffle(on),
        Action::CycleRepeat => Intent::CycleRepeat,
        Action::SetRepeat(mode) => Intent::SetRepeat(mode),
        _ => return,
    };
    local(state, intent, out);
}

/// Carries out an intent on the local player: the core's operations become effects, and the
/// shown status anticipates them (so quick repeats act on what is shown).
fn local(state: &mut State, intent: Intent, out: &mut Out) {
    let at = Instant::now();
    let now = Now::of(state.player.as_ref(), at);
    player_ops(state, control::ops(intent, &now), at, out);
}

fn player_ops(state: &mut State, ops: Vec<crate::player::PlayerOp>, at: Instant, out: &mut Out) {
    for op in ops {
        if let Some(p) = state.player.as_mut() {
            out.redraw |= control::anticipate(p, &op, at);
        }
        out.effect(Effect::Player(op));
    }
}

/// A remote controller's command for this device: the core's operations on the local player
/// (whatever device the UI shows as active), and a note in the status line.
fn remote_command(state: &mut State, cmd: RemoteCommand, out: &mut Out) {
    let at = Instant::now();
    let now = Now::of(state.player.as_ref(), at);
    player_ops(state, control::ops_for_remote(&cmd, &now), at, out);
    notify(state, Level::Info, remote::describe(&cmd));
    out.redraw = true;
}

fn same_status(a: &PlayerStatus, b: &PlayerStatus) -> bool {
    a.state == b.state
        && a.track == b.track
        && a.position_ms == b.position_ms
        && a.at == b.at
        && a.volume == b.volume
        && a.buffering == b.buffering
        && a.repeat == b.repeat
        && a.shuffle == b.shuffle
}

fn player_event(state: &mut State, ev: PlayerEvent, out: &mut Out) {
    match ev {
        PlayerEvent::Error {
            id,
            reason,
            skipped,
        } => {
            let name = state
                .tracks
                .get(&id)
                .map(|t| format!("“{}”", t.name))
                .unwrap_or_else(|| "a track".to_string());
            if skipped {
                notify(state, Level::Warn, format!("Skipped {name}: {reason}"));
            } else {
                notify(
                    state,
                    Level::Error,
                    format!("Couldn't play {name}: {reason}"),
                );
            }
            out.redraw = true;
        }
        PlayerEvent::TrackChanged(info) => {
            out.redraw = remember_played(state, &info);
        }
        // Position, play state and volume arrive through the status watch.
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Service answers

fn queue_msg(state: &mut State, snapshot: crate::player::QueueSnapshot, out: &mut Out) {
    if state.queue.snapshot == snapshot {
        return;
    }
    let missing: Vec<SpotifyId> = snapshot
        .items
        .iter()
        .filter(|id| !state.tracks.contains_key(id) && !state.memo.asked.contains(id))
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !missing.is_empty() {
        state.memo.asked.extend(missing.iter().copied());
        out.effect(Effect::FetchTracks(missing));
    }
    state.queue.snapshot = snapshot;
    clamp(&mut state.queue.cursor, state.queue.snapshot.items.len());
    refresh_filter(state, Pane::Queue);
    out.redraw = true;
}

fn library_msg(state: &mut State, result: Result<Arc<Library>, String>, out: &mut Out) {
    state.library.loading = false;
    match result {
        Ok(lib) => {
            for s in LibrarySection::ALL {
                let len = list_len_of(&lib, s);
                clamp(&mut state.library.cursors[s.index()], len);
            }
            state.library.data = Some(lib);
            state.library.error = None;
            if state.library.section.is_none() {
                state.library.section = Some(LibrarySection::Playlists);
            }
            refresh_filter(state, Pane::Library);
        }
        Err(e) => {
            notify(state, Level::Error, format!("Library: {e}"));
            state.library.error = Some(e);
        }
    }
    out.redraw = true;
}

fn list_len_of(lib: &Library, s: LibrarySection) -> usize {
    match s {
        LibrarySection::Playlists => lib.playlists.len(),
        LibrarySection::LikedSongs => lib.saved_tracks.len(),
        LibrarySection::Albums => lib.saved_albums.len(),
        LibrarySection::Artists => lib.followed_artists.len(),
        LibrarySection::Podcasts => lib.saved_shows.len(),
    }
}

fn page_msg(state: &mut State, id: u64, result: Result<PageData, String>, out: &mut Out) {
    let in_library = state.library.pages.iter().any(|p| p.request == id);
    let in_search = state.search.pages.iter().any(|p| p.request == id);
    if in_library || in_search {
        let pages = if in_library {
            &mut state.library.pages
        } else {
            &mut state.search.pages
        };
        let mut failed = None;
        if let Some(page) = pages.iter_mut().find(|p| p.request == id) {
            page.loading = false;
            match result {
                Ok(data) => {
                    page.error = None;
                    let len = data.items.len();
                    page.data = Some(data);
                    clamp(&mut page.cursor, len);
                }
                Err(e) => {
                    page.error = Some(e.clone());
                    failed = Some(e);
                }
            }
        }
        if let Some(e) = failed {
            notify(state, Level::Error, format!("Couldn't load the page: {e}"));
        }
        let pane = if in_library {
            Pane::Library
        } else {
            Pane::Search
        };
        refresh_filter(state, pane);
        out.redraw = true;
        return;
    }
    if let Some(mode) = state.memo.enqueue.remove(&id) {
        match result {
            Ok(data) => {
                let target = if state.remote.is_some() {
                    Target::Remote
                } else {
                    Target::Local
                };
                queue_tracks(state, page_tracks(&data), mode, target, out);
            }
            Err(e) => {
                notify(
                    state,
                    Level::Error,
                    format!("Couldn't load the tracks: {e}"),
                );
                out.redraw = true;
            }
        }
    }
    // Otherwise: an answer for a page that was closed meanwhile; dropped.
}

// ---------------------------------------------------------------------------------------------
// Search

fn search_due(state: &mut State, id: u64, out: &mut Out) {
    if id != state.search.latest || id == state.memo.search_sent {
        return;
    }
    let query = state.search.input.trim().to_string();
    if query.is_empty() {
        if !state.search.results.is_empty() || !state.search.shown_query.is_empty() {
            close_filter(state, Pane::Search);
            state.search.results.clear();
            state.search.shown_query.clear();
            state.search.cursor = ListCursor::default();
            state.search.error = None;
            out.redraw = true;
        }
        return;
    }
    send_search(state, id, query, out);
}

fn send_search(state: &mut State, id: u64, query: String, out: &mut Out) {
    state.memo.search_sent = id;
    state.search.loading = true;
    state.search.error = None;
    out.effect(Effect::Search { id, query });
    out.redraw = true;
}

fn search_results(
    state: &mut State,
    id: u64,
    query: String,
    result: Result<Vec<Item>, String>,
    out: &mut Out,
) {
    if id != state.search.latest {
        return;
    }
    state.search.loading = false;
    match result {
        Ok(items) => {
            close_filter(state, Pane::Search);
            state.search.results = items;
            state.search.shown_query = query;
            state.search.cursor = ListCursor::default();
            state.search.error = None;
            state.search.pages.clear();
        }
        Err(e) => {
            notify(state, Level::Error, format!("Search failed: {e}"));
            state.search.error = Some(e);
        }
    }
    out.redraw = true;
}

// ---------------------------------------------------------------------------------------------
// Text boxes

fn text(state: &mut State, t: TextInput, out: &mut Out) {
    if let Screen::Login(stage) = &state.screen {
        let stage = stage.clone();
        login_text(state, stage, t, out);
        return;
    }
    if state.help.is_some() {
        return;
    }
    let pane = state.focus;
    if state
        .filter
        .as_ref()
        .is_some_and(|f| f.pane == pane && f.editing)
    {
        filter_text(state, t, out);
    } else if pane == Pane::Search && state.search.editing {
        search_text(state, t, out);
    }
}

fn byte_at(s: &str, char_idx: usize) -> usize {
    s.char_indices()
        .nth(char_idx)
        .map(|(b, _)| b)
        .unwrap_or(s.len())
}

fn search_text(state: &mut State, t: TextInput, out: &mut Out) {
    let s = &mut state.search;
    let len = s.input.chars().count();
    s.input_cursor = s.input_cursor.min(len);
    let mut changed = false;
    match t {
        TextInput::Char(c) => {
            let at = byte_at(&s.input, s.input_cursor);
            s.input.insert(at, c);
            s.input_cursor += 1;
            changed = true;
        }
        TextInput::Backspace => {
            if s.input_cursor > 0 {
                let at = byte_at(&s.input, s.input_cursor - 1);
                s.input.remove(at);
                s.input_cursor -= 1;
                changed = true;
            }
        }
        TextInput::Delete => {
            if s.input_cursor < len {
                let at = byte_at(&s.input, s.input_cursor);
                s.input.remove(at);
                changed = true;
            }
        }
        TextInput::Clear => {
            if !s.input.is_empty() {
                s.input.clear();
                s.input_cursor = 0;
                changed = true;
            }
        }
        TextInput::Left | TextInput::Right | TextInput::Home | TextInput::End => {
            let new = match t {
                TextInput::Left => s.input_cursor.saturating_sub(1),
                TextInput::Right => (s.input_cursor + 1).min(len),
                TextInput::Home => 0,
                _ => len,
            };
            if new != s.input_cursor {
                s.input_cursor = new;
                out.redraw = true;
            }
        }
        TextInput::Up | TextInput::Down => {
            let action = if t == TextInput::Up {
                Action::Up
            } else {
                Action::Down
            };
            let new = moved(s.cursor.selected, s.results.len(), &action, 1);
            if new != s.cursor.selected {
                s.cursor.selected = new;
                out.redraw = true;
            }
        }
        TextInput::Enter => {
            s.editing = false;
            out.redraw = true;
            let query = s.input.trim().to_string();
            let stale = query != s.shown_query || s.error.is_some();
            if !query.is_empty() && stale && !(s.loading && state.memo.search_sent == s.latest) {
                // Search now instead of waiting for the debounce (its timer then does nothing).
                if s.latest == 0 || state.memo.search_sent == s.latest {
                    let id = new_id(state);
                    state.search.latest = id;
                }
                let id = state.search.latest;
                send_search(state, id, query, out);
            }
        }
        TextInput::Esc => {
            s.editing = false;
            out.redraw = true;
        }
        TextInput::Tab => {
            s.editing = false;
            out.redraw = true;
            apply(state, Action::FocusNext, Target::Local, out);
        }
    }
    if changed {
        let id = new_id(state);
        state.search.latest = id;
        out.effect(Effect::Debounce {
            id,
            delay_ms: SEARCH_DEBOUNCE_MS,
        });
        out.redraw = true;
    }
}

// ---------------------------------------------------------------------------------------------
// Filter

fn open_filter(state: &mut State, out: &mut Out) {
    if state.help.is_some() {
        return;
    }
    let pane = state.focus;
    if let Some(f) = state.filter.as_mut().filter(|f| f.pane == pane) {
        if !f.editing {
            f.editing = true;
            out.redraw = true;
        }
        return;
    }
    // A filter on another pane's list is dropped: one filter at a time.
    state.filter = None;
    let list = list_of(state, pane);
    let haystack = Arc::new(row_texts(state, list));
    let matches = filter::filter(&haystack, "");
    let selected = cursor_of(state, list)
        .selected
        .min(matches.len().saturating_sub(1));
    state.filter = Some(FilterState {
        pane,
        query: String::new(),
        matches,
        cursor: ListCursor {
            selected,
            offset: 0,
        },
        editing: true,
        haystack,
    });
    out.redraw = true;
}

fn filter_text(state: &mut State, t: TextInput, out: &mut Out) {
    let Some(f) = state.filter.as_mut() else {
        return;
    };
    let previous = f.query.clone();
    match t {
        TextInput::Char(c) => f.query.push(c),
        TextInput::Backspace => {
            if f.query.pop().is_none() {
                return;
            }
        }
        TextInput::Clear => {
            if f.query.is_empty() {
                return;
            }
            f.query.clear();
        }
        TextInput::Up | TextInput::Down => {
            let action = if t == TextInput::Up {
                Action::Up
            } else {
                Action::Down
            };
            let new = moved(f.cursor.selected, f.matches.len(), &action, 1);
            if new != f.cursor.selected {
                f.cursor.selected = new;
                out.redraw = true;
                sync_filter_selection(state);
            }
            return;
        }
        TextInput::Enter | TextInput::Tab => {
            f.editing = false;
            out.redraw = true;
            sync_filter_selection(state);
            return;
        }
        TextInput::Esc => {
            let pane = f.pane;
            close_filter(state, pane);
            out.redraw = true;
            return;
        }
        TextInput::Delete
        | TextInput::Left
        | TextInput::Right
        | TextInput::Home
        | TextInput::End => {
            return;
        }
    }
    f.matches = Matcher::new().refine(&f.haystack, &previous, &f.matches, &f.query);
    f.cursor = ListCursor::default();
    out.redraw = true;
    sync_filter_selection(state);
}

/// Point the underlying list's cursor at the filter's selected row, so the selection stays put
/// when the filter closes.
fn sync_filter_selection(state: &mut State) {
    fill_filter_window(state);
    let Some(f) = &state.filter else {
        return;
    };
    let Some(row) = f.matches.get(f.cursor.selected).map(|m| m.0) else {
        return;
    };
    let list = list_of(state, f.pane);
    if let Some(c) = cursor_mut(state, list) {
        c.selected = row;
    }
}

/// Highlight positions for the matches around the filter's selection (the top matches come
/// with them; rows further down get theirs as the selection reaches them).
fn fill_filter_window(state: &mut State) {
    let Some(pane) = state.filter.as_ref().map(|f| f.pane) else {
        return;
    };
    let reach = 2 * page_height(state, pane).max(DEFAULT_PAGE * 3);
    if let Some(f) = state.filter.as_mut() {
        let sel = f.cursor.selected;
        let haystack = Arc::clone(&f.haystack);
        Matcher::new().fill_positions(
            &haystack,
            &f.query,
            &mut f.matches,
            sel.saturating_sub(reach)..sel + reach + 1,
        );
    }
}

/// Close the filter if it is open on `pane` (the underlying selection stays on the row that was
/// selected in the filtered view).
fn close_filter(state: &mut State, pane: Pane) {
    if state.filter.as_ref().is_some_and(|f| f.pane == pane) {
        sync_filter_selection(state);
        state.filter = None;
    }
}

/// The list under a filter changed (new library, queue, page answer...): rebuild the row texts
/// and match again, keeping the selected row when it still matches.
fn refresh_filter(state: &mut State, pane: Pane) {
    let Some(f) = state.filter.as_ref().filter(|f| f.pane == pane) else {
        return;
    };
    let selected_row = f.matches.get(f.cursor.selected).map(|m| m.0);
    let query = f.query.clone();
    let list = list_of(state, pane);
    let haystack = Arc::new(row_texts(state, list));
    let matches = Matcher::new().filter(&haystack, &query);
    let pos = selected_row
        .and_then(|r| matches.iter().position(|m| m.0 == r))
        .unwrap_or(0);
    if let Some(f) = state.filter.as_mut() {
        f.haystack = haystack;
        f.matches = matches;
        f.cursor = ListCursor {
            selected: pos,
            offset: f.cursor.offset.min(pos),
        };
    }
    fill_filter_window(state);
}

// ---------------------------------------------------------------------------------------------
// Mouse

fn mouse(state: &mut State, kind: MouseKind, x: u16, y: u16, out: &mut Out) {
    if !matches!(state.screen, Screen::Main) {
        return;
    }
    let hit = &state.hitmap;
    if state.help.is_some() {
        // The overlay covers the panes: the wheel scrolls it, a click closes it.
        match kind {
            MouseKind::ScrollUp => scroll(state, state.focus, -WHEEL_ROWS, out),
            MouseKind::ScrollDown => scroll(state, state.focus, WHEEL_ROWS, out),
            MouseKind::Click | MouseKind::DoubleClick => {
                state.help = None;
                out.redraw = true;
            }
        }
        return;
    }
    let list = hit.lists.iter().find(|l| l.area.contains(x, y)).cloned();
    let pane_at = hit
        .panes
        .iter()
        .find(|(a, _)| a.contains(x, y))
        .map(|(_, p)| *p);
    match kind {
        MouseKind::ScrollUp | MouseKind::ScrollDown => {
            let delta = if kind == MouseKind::ScrollUp {
                -WHEEL_ROWS
            } else {
                WHEEL_ROWS
            };
            if let Some(pane) = list.as_ref().map(|l| l.pane).or(pane_at) {
                apply(state, Action::Scroll { pane, delta }, Target::Local, out);
            }
        }
        MouseKind::Click | MouseKind::DoubleClick => {
            if let Some((_, pane)) = hit.tabs.iter().find(|(a, _)| a.contains(x, y)) {
                let pane = *pane;
                apply(state, Action::Focus(pane), Target::Local, out);
                return;
            }
            if let Some(area) = hit.progress.filter(|a| a.contains(x, y) && a.width > 0) {
                let target = if state.remote.is_some() {
                    Target::Remote
                } else {
                    Target::Local
                };
                let (_, duration) = position_and_duration(state, target);
                if duration > 0 {
                    let frac = (x - area.x) as f64 / area.width as f64;
                    let pos = (frac * duration as f64) as u64;
                    apply(state, Action::SeekTo(pos), target, out);
                }
                return;
            }
            if let Some(l) = list {
                let line = (y - l.area.y) as usize;
                match l.rows.get(line).copied().flatten() {
                    Some(row) => {
                        let action = if kind == MouseKind::Click {
                            Action::SelectRow { pane: l.pane, row }
                        } else {
                            Action::ActivateRow { pane: l.pane, row }
                        };
                        apply(state, action, Target::Local, out);
                    }
                    None => {
                        if state.focus != l.pane {
                            state.focus = l.pane;
                            out.redraw = true;
                        }
                    }
                }
                return;
            }
            if let Some(pane) = pane_at {
                if state.focus != pane {
                    state.focus = pane;
                    out.redraw = true;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Login screen

fn login_action(state: &mut State, stage: LoginStage, action: Action, out: &mut Out) {
    let n = LoginMethod::ALL.len();
    match stage {
        LoginStage::Choose { selected } | LoginStage::Failed { selected, .. } => {
            let message = match &stage {
                LoginStage::Failed { message, .. } => Some(message.clone()),
                _ => None,
            };
            match action {
                Action::Up | Action::Down | Action::Top | Action::Bottom => {
                    let new = moved(selected, n, &action, 1);
                    if new != selected {
                        state.screen = Screen::Login(match message {
                            Some(message) => LoginStage::Failed {
                                message,
                                selected: new,
                            },
                            None => LoginStage::Choose { selected: new },
                        });
                        out.redraw = true;
                    }
                }
                Action::Select => {
                    let method = LoginMethod::ALL[selected.min(n - 1)];
                    let stage = match method {
                        LoginMethod::Browser => {
                            out.effect(Effect::Login(LoginRequest::Browser));
                            LoginStage::Working {
                                message: "Opening the browser sign-in…".to_string(),
                            }
                        }
                        LoginMethod::DeviceCode => {
                            out.effect(Effect::Login(LoginRequest::DeviceCode));
                            LoginStage::Working {
                                message: "Asking for a pairing code…".to_string(),
                            }
                        }
                        LoginMethod::Password => LoginStage::Password {
                            username: String::new(),
                            password: String::new(),
                            field: 0,
                        },
                    };
                    state.screen = Screen::Login(stage);
                    out.redraw = true;
                }
                Action::Back | Action::Quit => {
                    state.quit = true;
                    out.redraw = true;
                }
                _ => {}
            }
        }
        LoginStage::Browser { .. } | LoginStage::DeviceCode { .. } | LoginStage::Working { .. } => {
            let selected = match stage {
                LoginStage::DeviceCode { .. } => 1,
                _ => 0,
            };
            match action {
                Action::Back | Action::Close => {
                    out.effect(Effect::CancelLogin);
                    state.screen = Screen::Login(LoginStage::Choose { selected });
                    out.redraw = true;
                }
                Action::Quit => {
                    out.effect(Effect::CancelLogin);
                    state.quit = true;
                    out.redraw = true;
                }
                _ => {}
            }
        }
        LoginStage::Password { .. } => match action {
            Action::Back | Action::Close => {
                state.screen = Screen::Login(LoginStage::Choose { selected: 2 });
                out.redraw = true;
            }
            Action::Quit => {
                state.quit = true;
                out.redraw = true;
            }
            _ => {}
        },
    }
}

fn login_text(state: &mut State, stage: LoginStage, t: TextInput, out: &mut Out) {
    let LoginStage::Password {
        mut username,
        mut password,
        mut field,
    } = stage
    else {
        return;
    };
    let text = if field == 0 {
        &mut username
    } else {
        &mut password
    };
    match t {
        TextInput::Char(c) => text.push(c),
        TextInput::Backspace => {
            if text.pop().is_none() {
                return;
            }
        }
        TextInput::Clear => {
            if text.is_empty() {
                return;
            }
            text.clear();
        }
        TextInput::Tab | TextInput::Up | TextInput::Down => field = 1 - field.min(1),
        TextInput::Enter => {
            if field == 0 || username.is_empty() {
                field = if username.is_empty() { 0 } else { 1 };
            } else {
                out.effect(Effect::Login(LoginRequest::Password { username, password }));
                state.screen = Screen::Login(LoginStage::Working {
                    message: "Signing in…".to_string(),
                });
                out.redraw = true;
                return;
            }
        }
        TextInput::Esc => {
            state.screen = Screen::Login(LoginStage::Choose { selected: 2 });
            out.redraw = true;
            return;
        }
        TextInput::Delete
        | TextInput::Left
        | TextInput::Right
        | TextInput::Home
        | TextInput::End => {
            return;
        }
    }
    state.screen = Screen::Login(LoginStage::Password {
        username,
        password,
        field,
    });
    out.redraw = true;
}

// ---------------------------------------------------------------------------------------------
// Notifications

fn notify(state: &mut State, level: Level, text: String) {
    push_notification(
        state,
        Notification {
            level,
            text,
            at: Instant::now(),
        },
    );
}

fn push_notification(state: &mut State, n: Notification) {
    state.notifications.push_back(n);
    while state.notifications.len() > NOTIFICATIONS {
        state.notifications.pop_front();
    }
}
