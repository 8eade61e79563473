//! The pure state machine: `update(&mut State, Msg) -> Outcome`. No I/O, no `.await`; effects
//! are returned as data (see [`Effect`]) and answers come back as messages carrying the request
//! id they answer, so late answers to old requests are recognised and dropped.
//!
//! This file holds `update` itself, the dispatch of actions, and the helpers every part shares
//! (effects out, request ids, notifications); the rest is split by concern:
//! * `lists`      — the lists the panes show, seen uniformly (length, cursor, rows, tracks);
//! * `navigation` — moving around, focus, back/close, Enter;
//! * `library`    — the library and pages (opening, answers, tracks of a container);
//! * `queue`      — queueing the selection, editing the queue, the player's queue snapshots;
//! * `playback`   — playback keys (local player through the core, or the active remote device),
//!   player events;
//! * `remote`     — remote Connect commands for this device (through the core) and their note;
//! * `search`     — the search box, searches and results;
//! * `filter`     — the fuzzy `/` filter over the focused list;
//! * `mouse`      — clicks, double clicks and the wheel, through the renderer's hit map;
//! * `login`      — the sign-in screen;
//! * `trust`      — the prompt before our login is handed to a LAN device;
//! * `picker`     — the add-to-playlist picker (own playlists, fuzzy filter, a new playlist);
//! * `lyrics`     — the lyrics overlay of the playing track (fetch, keys, seeking to a line);
//! * `art`        — the covers the screen wants (playing track, album pages) and their answers.
//!
//! Called by the event loop (`run`) and by the app's tests. Depends on the app's data types,
//! the core (`control`: intents → player operations) and `app::filter`; never on
//! ratatui/crossterm or a service handle. The only outside reads are `Instant::now()`
//! (notification stamps, extrapolating the playback position for relative seeks), which tests
//! avoid depending on by using paused players.

use std::time::Instant;

use crate::action::{Action, Pane};
use crate::api::library::TrackInfo;
use crate::app::effect::{Effect, Outcome};
use crate::app::msg::{Msg, TextInput};
use crate::app::state::{
    Level, LibrarySection, ListCursor, Notification, PageKind, QueueMode, Screen, State, LOG_LINES,
};
use crate::control::Intent;
use crate::id::{ItemKind, SpotifyId, SpotifyUri};
use crate::player::PlayerStatus;

mod art;
mod filter;
mod library;
mod library_edits;
mod lists;
mod login;
mod lyrics;
mod mouse;
mod navigation;
mod picker;
mod playback;
mod queue;
mod remote;
mod search;
mod trust;

use filter::{close_filter, filter_text, open_filter, refresh_filter};
use library::{library_msg, page_msg};
use library_edits::{liked, remove_from_playlist, removed_from_playlist, toggle_like};
use lists::clamp;
use login::{login_action, login_text};
use mouse::mouse;
use navigation::{back, focus, navigate, scroll, select, select_row, transfer};
use playback::{local, playback, player_event};
#[cfg(test)]
pub(crate) use queue::QUEUE_NAME_REACH;
use queue::{move_in_queue, queue_msg, queue_selection, remove_from_queue};
use remote::{control_intents, remote_command};
use search::{search_due, search_results, search_text};
use trust::{trust_action, trust_key};

/// How far a playing position report may be from the extrapolated one and still need no
/// redraw (a tenth of a second: well below what the clock and the progress bar show).
const SAME_POSITION_MS: u128 = 100;
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
    // Keys, clicks, the filter box and a resize can bring other queue rows into view.
    let view_may_move = matches!(
        msg,
        Msg::Action(_) | Msg::Mouse { .. } | Msg::Resize(..) | Msg::Text(_)
    );
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
        // The trust prompt and the picker are answered with keys only.
        Msg::Mouse { .. } if state.trust_prompt.is_some() || state.picker.is_some() => {}
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
            if !status.buffering {
                // Audio again: a track held through an outage is playing.
                state.player_held = None;
            }
            state.player = Some(status);
        }
        Msg::Queue(snapshot) => queue_msg(state, snapshot, &mut out),
        Msg::PlayerEvent(ev) => player_event(state, ev, &mut out),
        Msg::Library(result) => library_msg(state, result, &mut out),
        Msg::NoCachedLibrary => {
            state.library.no_cache = true;
            queue::ask_queue_names(state, &mut out);
        }
        Msg::SearchDue(id) => search_due(state, id, &mut out),
        Msg::SearchResults { id, query, result } => {
            search_results(state, id, query, result, &mut out)
        }
        Msg::Page { id, result } => page_msg(state, id, result, &mut out),
        Msg::Liked {
            track,
            like,
            result,
        } => liked(state, track, like, result, &mut out),
        Msg::RemovedFromPlaylist {
            playlist_uri,
            track,
            removed,
            result,
        } => removed_from_playlist(state, playlist_uri, track, removed, result, &mut out),
        Msg::AddedToPlaylist {
            playlist_id,
            name,
            tracks,
            result,
        } => picker::added(state, playlist_id, name, tracks, result, &mut out),
        Msg::PlaylistCreated { name, result } => picker::created(state, name, result, &mut out),
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
        Msg::Control(intents) => control_intents(state, intents, &mut out),
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
        Msg::Lyrics { id, result } => lyrics::lyrics_msg(state, id, result, &mut out),
        Msg::Art { key, result } => art::art_msg(state, key, result, &mut out),
    }
    if view_may_move {
        queue::ask_queue_names(state, &mut out);
    }
    lyrics::follow_track(state, &mut out);
    art::follow(state, &mut out);
    Outcome {
        redraw: out.redraw,
        effects: out.effects,
    }
}

/// What one `update` call has produced so far (becomes its [`Outcome`]).
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

/// An action: the sign-in screen's, or one aimed at the local player or the active remote
/// device.
fn action_msg(state: &mut State, action: Action, out: &mut Out) {
    if let Screen::Login(stage) = &state.screen {
        let stage = stage.clone();
        login_action(state, stage, action, out);
        return;
    }
    if state.trust_prompt.is_some() {
        trust_action(state, &action, out);
        return;
    }
    let Some(action) = lyrics::lyrics_action(state, action, out) else {
        return;
    };
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
        Action::ToggleLike => toggle_like(state, out),
        Action::RemoveFromPlaylist => remove_from_playlist(state, out),
        Action::AddToPlaylist => picker::open(state, out),
        Action::OpenRecentlyPlayed | Action::OpenTopTracks => {
            state.help = None;
            let kind = if action == Action::OpenRecentlyPlayed {
                PageKind::RecentlyPlayed
            } else {
                PageKind::TopTracks
            };
            library::open_page(state, Pane::Library, kind, String::new(), out);
        }
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
        Action::ToggleLyrics => lyrics::toggle(state, out),
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
        // Only the sign-in screen has numbered options.
        Action::PickOption(_) => {}
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

/// A fresh request id (never 0).
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
        if state.track(&id) != Some(t) {
            state.tracks.insert(id, t.clone());
        }
    }
}

/// The player's idea of a track, kept when nothing richer (from a list) is known for its id.
/// Returns whether something new was learnt.
fn remember_played(state: &mut State, t: &crate::player::loader::TrackInfo) -> bool {
    if state.track(&t.id).is_some() {
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

/// Whether `b` shows nothing new against `a` on screen. While playing, the engine republishes
/// its position a few times a second; the screen extrapolates the position from `(position_ms,
/// at)` anyway, so a report that lands where the extrapolation already is (within
/// [`SAME_POSITION_MS`]) needs no frame of its own — the clock tick draws the progress.
fn same_status(a: &PlayerStatus, b: &PlayerStatus) -> bool {
    let same_position = if a.state == crate::player::PlayState::Playing {
        let elapsed = b.at.saturating_duration_since(a.at).as_millis();
        let expected = u128::from(a.position_ms).saturating_add(elapsed);
        expected.abs_diff(u128::from(b.position_ms)) <= SAME_POSITION_MS
    } else {
        a.position_ms == b.position_ms
    };
    a.state == b.state
        && a.track == b.track
        && same_position
        && a.volume == b.volume
        && a.buffering == b.buffering
        && a.repeat == b.repeat
        && a.shuffle == b.shuffle
}

/// A key in a text box: the sign-in form, the filter or the search box.
fn text(state: &mut State, t: TextInput, out: &mut Out) {
    if let Screen::Login(stage) = &state.screen {
        let stage = stage.clone();
        login_text(state, stage, t, out);
        return;
    }
    if state.trust_prompt.is_some() {
        trust_key(state, t, out);
        return;
    }
    if state.picker.is_some() {
        picker::key(state, t, out);
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
