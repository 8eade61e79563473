//! Effects: what `update` asks the outside world to do, as plain data. The loop hands them to
//! the service handles (player, Web API, connect, sign-in); answers come back as
//! [`Msg`](crate::app::msg::Msg)s carrying the request id they answer. Tests assert on effects
//! directly, without mocks.

use std::collections::BTreeMap;

use crate::api::library::TrackInfo;
use crate::app::state::{Item, LoginMethod, PageKind, Trust};
use crate::connect::{Device, RemoteControl};
use crate::id::SpotifyId;
use crate::player::PlayerOp;

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// An operation on the local player (from the core, [`crate::control::ops`]).
    Player(PlayerOp),
    /// Control the active remote device (when playback is on another device).
    Remote {
        device_id: String,
        control: RemoteControl,
    },
    /// Move playback to `device` (a LAN device nobody is logged in to is woken first).
    Transfer { device: Device },
    /// Write the remembered trust decisions (the whole map) to `trusted-devices.json`.
    SaveTrust(BTreeMap<String, Trust>),
    /// Ask connect-state / the Web API for the device list again.
    RefreshDevices,
    /// Answer with `Msg::SearchDue(id)` after `delay_ms` (typing debounce).
    Debounce { id: u64, delay_ms: u64 },
    /// Search Spotify; answer `Msg::SearchResults { id, .. }`.
    Search { id: u64, query: String },
    /// Load the library (cached copy first unless `refresh`); answer `Msg::Library`.
    LoadLibrary { refresh: bool },
    /// Load a page; answer `Msg::Page { id, .. }`.
    LoadPage {
        id: u64,
        kind: PageKind,
        uri: String,
    },
    /// The local queue is being loaded with `ids` from `context_uri` (the album, playlist,
    /// artist or show page played from; empty: no context). Connect reports it (a phone shows
    /// "playing from …") and the local control API's `status.context` shows it.
    PlayingContext {
        context_uri: String,
        ids: Vec<SpotifyId>,
    },
    /// Look up names for queue ids not in `State::tracks`; answer `Msg::Tracks`.
    FetchTracks(Vec<SpotifyId>),
    /// Like (or unlike) a track through the Web API; answer `Msg::Liked`.
    Like { track: TrackInfo, like: bool },
    /// Remove every occurrence of a track from a playlist; `removed` (the page rows taken out
    /// optimistically) comes back in `Msg::RemovedFromPlaylist` for a rollback.
    RemoveFromPlaylist {
        playlist_uri: String,
        track: TrackInfo,
        removed: Vec<(usize, Item)>,
    },
    /// Add tracks to the playlist `playlist_id` (one of the user's own); answer
    /// `Msg::AddedToPlaylist`.
    AddToPlaylist {
        playlist_id: String,
        name: String,
        tracks: Vec<TrackInfo>,
    },
    /// Create a playlist named `name` for `user`, then add `tracks` to it; answers
    /// `Msg::PlaylistCreated`, then (when created) `Msg::AddedToPlaylist`.
    CreatePlaylist {
        user: String,
        name: String,
        tracks: Vec<TrackInfo>,
    },
    /// Start a sign-in with this method (`Password` carries the typed credentials).
    Login(LoginRequest),
    /// Abandon a sign-in in progress.
    CancelLogin,
    /// Fetch the lyrics of `track`; answer `Msg::Lyrics { id, .. }`.
    FetchLyrics { id: u64, track: SpotifyId },
    /// Fetch and decode the cover of `key` (an album URI, or a track URI whose album is looked
    /// up first); answer `Msg::Art { key, .. }`.
    FetchArt { key: String },
}

/// `Debug` is written by hand: the password must never reach a log line.
#[derive(Clone, PartialEq, Eq)]
pub enum LoginRequest {
    Browser,
    DeviceCode,
    Password { username: String, password: String },
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoginRequest::Browser => f.write_str("Browser"),
            LoginRequest::DeviceCode => f.write_str("DeviceCode"),
            LoginRequest::Password { username, .. } => f
                .debug_struct("Password")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
        }
    }
}

impl LoginRequest {
    pub fn method(&self) -> LoginMethod {
        match self {
            LoginRequest::Browser => LoginMethod::Browser,
            LoginRequest::DeviceCode => LoginMethod::DeviceCode,
            LoginRequest::Password { .. } => LoginMethod::Password,
        }
    }
}

/// What one `update` call produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// Something visible changed: draw after draining.
    pub redraw: bool,
    pub effects: Vec<Effect>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let r = Effect::Login(LoginRequest::Password {
            username: "alice".into(),
            password: "hunter2-secret".into(),
        });
        let text = format!("{r:?}");
        assert!(
            text.contains("alice") && !text.contains("hunter2-secret"),
            "{text}"
        );
        let stage = crate::app::state::LoginStage::Password {
            username: "alice".into(),
            password: "hunter2-secret".into(),
            field: 1,
        };
        let text = format!("{stage:?}");
        assert!(
            text.contains("alice") && !text.contains("hunter2-secret"),
            "{text}"
        );
    }
}
