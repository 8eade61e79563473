//! The loading seam: the player asks a [`TrackLoader`] for a decodable track by id. The real
//! loader (metadata → file choice → storage-resolve → CDN fetch → audio key → decrypt → header →
//! decode) lives beside the services; tests use loaders that synthesise audio. A loader may
//! also hand over its session's state, so a held track resumes as soon as the session is back.

use std::future::Future;
use std::pin::Pin;

pub use crate::audio::header::NormalisationData;
use crate::audio::pcm::PcmSource;
use crate::id::SpotifyId;
use crate::session::SessionState;

/// What a person sees about a track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInfo {
    /// The id asked for (the queue entry).
    pub id: SpotifyId,
    /// The id actually played (an alternative when the asked one has no playable file).
    pub played_id: SpotifyId,
    pub name: String,
    pub artists: Vec<String>,
    pub album: String,
    pub duration_ms: u64,
}

/// A track ready to decode.
pub struct LoadedTrack {
    pub info: TrackInfo,
    pub normalisation: NormalisationData,
    pub source: Box<dyn PcmSource>,
}

/// Why a track could not be loaded; `message` is for people (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LoadError {
    pub kind: LoadErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadErrorKind {
    /// Not playable for this account/country, no playable file and no alternative, not found.
    Unavailable,
    /// The audio key was refused (for this track; refusals for every track mean the account
    /// gets no keys, which the engine reports once).
    Key,
    /// Transient: network, CDN, rate-limit, session or token trouble. The player holds the
    /// track and retries instead of skipping it.
    Network,
    /// The file could not be decoded.
    Decode,
    /// The account cannot stream (not Premium) or the session is gone: stop, don't skip.
    Fatal,
}

impl LoadErrorKind {
    /// Worth retrying the same track later (the others are about the track or the account).
    pub fn is_transient(self) -> bool {
        self == LoadErrorKind::Network
    }
}

pub type LoadFuture = Pin<Box<dyn Future<Output = Result<LoadedTrack, LoadError>> + Send>>;

/// Loads tracks for the player. Called from the player's tokio side; the returned source is
/// then used on the decode thread.
pub trait TrackLoader: Send + Sync + 'static {
    fn load(&self, id: SpotifyId) -> LoadFuture;

    /// The state of the session loads depend on, when there is one: a track held after a
    /// transient failure is retried the moment it turns [`SessionState::Connected`] again,
    /// instead of at the next tick of its back-off timer (which stays as the upper bound).
    fn session_state(&self) -> Option<tokio::sync::watch::Receiver<SessionState>> {
        None
    }
}
