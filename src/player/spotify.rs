//! The real [`TrackLoader`]: turns a track or episode id into decodable audio through the
//! services — metadata (spclient) → availability and relinking to an alternative → file choice
//! by bitrate → storage-resolve → ranged CDN fetch → audio key (AP) → AES-CTR decrypt → Spotify
//! header (normalisation data) → symphonia. Episodes take the same path from their `audio`
//! files on (librespot's player does the same: one audio key request per (item gid, file id),
//! the same storage-resolve and CDN); the queue holds bare ids, so an id known to be an
//! episode (`id::episodes`) or one the track metadata does not know is asked for as an episode. Episodes hosted outside Spotify (only an
//! `external_url`) are refused as unavailable.
//!
//! Called by the player's tokio task; the blocking steps (reading the header, opening the
//! decoder, which wait on the download) run on tokio's blocking pool, never on the async workers.
//! Must not depend on UI modules or the simulator.

use std::sync::Arc;

use crate::api::metadata::{
    choose_file, user_catalogue, AudioFile, AudioFormat, Bitrate, Episode, Track,
};
use crate::api::{ApiError, SpClient};
use crate::audio::decode::{Container, SymphoniaSource};
use crate::audio::decrypt::AudioDecrypt;
use crate::audio::fetch::{FetchParams, StreamingFile};
use crate::audio::header::read_header;
use crate::id::SpotifyId;
use crate::player::loader::{
    LoadError, LoadErrorKind, LoadFuture, LoadedTrack, TrackInfo, TrackLoader,
};
use crate::session::audio_key::AudioKeyError;
use crate::session::Session;

/// Loads Spotify tracks through a session and its spclient.
#[derive(Clone)]
pub struct SpotifyLoader {
    inner: Arc<Inner>,
}

struct Inner {
    session: Session,
    spclient: SpClient,
    http: reqwest::Client,
    bitrate: Bitrate,
    fetch: FetchParams,
}

fn err(kind: LoadErrorKind, message: impl Into<String>) -> LoadError {
    LoadError {
        kind,
        message: message.into(),
    }
}

/// Permanent (about this track: unavailable, restricted, malformed) or about the account
/// (credentials refused: stop) versus transient (network, 5xx, 429, a refused token the chain
/// re-mints, the client-token service): the player holds the track on a transient error.
fn api_err(e: ApiError) -> LoadError {
    let kind = match &e {
        ApiError::NotFound(_) | ApiError::NotPlayable(_) | ApiError::Malformed(_) => {
            LoadErrorKind::Unavailable
        }
        ApiError::Http {
            status: 400 | 403, ..
        } => LoadErrorKind::Unavailable,
        ApiError::BadCredentials(_) | ApiError::Login5(_) => LoadErrorKind::Fatal,
        ApiError::Unauthorized
        | ApiError::RateLimited { .. }
        | ApiError::Unavailable(_)
        | ApiError::Network(_)
        | ApiError::ClientToken(_)
        | ApiError::TokenRefused { .. }
        | ApiError::Http { .. } => LoadErrorKind::Network,
    };
    err(kind, e.to_string())
}

fn container(format: AudioFormat) -> Container {
    match format {
        AudioFormat::Mp3_96
        | AudioFormat::Mp3_160
        | AudioFormat::Mp3_256
        | AudioFormat::Mp3_320 => Container::Mp3,
        _ => Container::Ogg,
    }
}

impl SpotifyLoader {
    pub fn new(
        session: Session,
        spclient: SpClient,
        http: reqwest::Client,
        bitrate: Bitrate,
    ) -> Self {
        SpotifyLoader {
            inner: Arc::new(Inner {
                session,
                spclient,
                http,
                bitrate,
                fetch: FetchParams::default(),
            }),
        }
    }

    /// Replaces the fetch tuning (timeouts, retries); tests shorten the waits.
    pub fn with_fetch_params(self, fetch: FetchParams) -> Self {
        let i = &self.inner;
        SpotifyLoader {
            inner: Arc::new(Inner {
                session: i.session.clone(),
                spclient: i.spclient.clone(),
                http: i.http.clone(),
                bitrate: i.bitrate,
                fetch,
            }),
        }
    }
}

impl Inner {
    /// The track to play for `asked` and its file: `asked` itself when available with a
    /// playable file, else its first playable alternative (relinking).
    async fn playable(&self, asked: Track) -> Result<(Track, Track, AudioFile), LoadError> {
        let id = asked.id;
        let country = self.session.country().unwrap_or_default();
        let catalogue = user_catalogue(&self.session.product());
        let usable = |t: &Track| -> Result<AudioFile, String> {
            t.check_available(&country, &catalogue)
                .map_err(|why| format!("\"{}\" is {why}", t.name))?;
            choose_file(&t.files, self.bitrate)
                .ok_or_else(|| format!("\"{}\" has no playable audio file", t.name))
        };
        let first_reason = match usable(&asked) {
            Ok(file) => return Ok((asked.clone(), asked, file)),
            Err(reason) => reason,
        };
        for alt_id in asked.alternatives.clone() {
            match self.spclient.track(alt_id).await {
                Ok(alt) => {
                    if let Ok(file) = usable(&alt) {
                        tracing::info!(asked = %id.to_base62(), played = %alt_id.to_base62(), "relinked to an alternative");
                        return Ok((asked, alt, file));
                    }
                }
                Err(e) => tracing::debug!("alternative {} failed: {e}", alt_id.to_base62()),
            }
        }
        Err(err(LoadErrorKind::Unavailable, first_reason))
    }

    /// `id` as an episode: its info and its file by bitrate.
    async fn playable_episode(&self, id: SpotifyId) -> Result<(TrackInfo, AudioFile), LoadError> {
        let e: Episode = self.spclient.episode(id).await.map_err(api_err)?;
        // Reported to Spotify (connect state) and kept in the resume points as an episode.
        crate::id::episodes::note(id);
        let country = self.session.country().unwrap_or_default();
        let catalogue = user_catalogue(&self.session.product());
        e.check_available(&country, &catalogue).map_err(|why| {
            err(
                LoadErrorKind::Unavailable,
                format!("\"{}\" is {why}", e.name),
            )
        })?;
        let file = choose_file(&e.files, self.bitrate).ok_or_else(|| {
            let why = if e.external_url.is_some() {
                "is hosted outside Spotify"
            } else {
                "has no playable audio file"
            };
            err(LoadErrorKind::Unavailable, format!("\"{}\" {why}", e.name))
        })?;
        let show = e.show.as_ref().map(|s| s.name.clone()).unwrap_or_default();
        let info = TrackInfo {
            id,
            played_id: id,
            name: e.name.clone(),
            artists: if show.is_empty() {
                Vec::new()
            } else {
                vec![show.clone()]
            },
            album: show,
            duration_ms: e.duration_ms,
        };
        Ok((info, file))
    }

    /// `id` as a track (relinked when needed), or as an episode when it is known to be one or
    /// no track has that id.
    async fn playable_item(&self, id: SpotifyId) -> Result<(TrackInfo, AudioFile), LoadError> {
        if crate::id::episodes::is_episode(id) {
            return self.playable_episode(id).await;
        }
        let asked = match self.spclient.track(id).await {
            Ok(t) => t,
            Err(ApiError::NotFound(_)) => return self.playable_episode(id).await,
            Err(e) => return Err(api_err(e)),
        };
        match self.playable(asked).await {
            Ok((asked, played, file)) => Ok((
                TrackInfo {
                    id,
                    played_id: played.id,
                    name: asked.name.clone(),
                    artists: played.artists.iter().map(|a| a.name.clone()).collect(),
                    album: played.album.name.clone(),
                    duration_ms: played.duration_ms,
                },
                file,
            )),
            Err(e) => Err(e),
        }
    }

    async fn load(&self, id: SpotifyId) -> Result<LoadedTrack, LoadError> {
        let (info, file) = self.playable_item(id).await?;
        let urls = self
            .spclient
            .storage_resolve(file.file_id, file.format)
            .await
            .map_err(api_err)?;
        let stream = StreamingFile::open(self.http.clone(), urls, self.fetch.clone())
            .await
            .map_err(|e| err(LoadErrorKind::Network, e.to_string()))?;
        // After storage-resolve and the first CDN answer, as librespot does (spec §10.4).
        let key = self
            .session
            .audio_key(info.played_id, file.file_id)
            .await
            .map_err(|e| match e {
                AudioKeyError::Refused { .. } => err(
                    LoadErrorKind::Key,
                    format!(
                        "Spotify refused the decryption key for \"{}\" ({e})",
                        info.name
                    ),
                ),
                // The session is down or slow: transient, the track is held until it is back.
                AudioKeyError::Disconnected | AudioKeyError::Timeout => {
                    err(LoadErrorKind::Network, e.to_string())
                }
                AudioKeyError::Malformed(_) => err(LoadErrorKind::Key, e.to_string()),
            })?;
        let size = stream.size();
        let hint = container(file.format);
        let (normalisation, source) = tokio::task::spawn_blocking(move || {
            let (norm, body) = read_header(AudioDecrypt::new(key.0, stream)).map_err(|e| {
                err(
                    LoadErrorKind::Network,
                    format!("reading the audio header: {e}"),
                )
            })?;
            let len = size.checked_sub(body.offset());
            let source = SymphoniaSource::new(body, hint, len)
                .map_err(|e| err(LoadErrorKind::Decode, e.to_string()))?;
            Ok::<_, LoadError>((norm, source))
        })
        .await
        .map_err(|e| err(LoadErrorKind::Decode, format!("decoder set-up failed: {e}")))??;
        Ok(LoadedTrack {
            info,
            normalisation,
            source: Box::new(source),
        })
    }
}

impl TrackLoader for SpotifyLoader {
    fn load(&self, id: SpotifyId) -> LoadFuture {
        let inner = self.inner.clone();
        Box::pin(async move { inner.load(id).await })
    }

    /// The supervisor's reconnects show here: a track held during the outage (its key request
    /// failed with `Disconnected`) is asked for again as soon as the access point is back.
    fn session_state(&self) -> Option<tokio::sync::watch::Receiver<crate::session::SessionState>> {
        Some(self.inner.session.state())
    }
}
