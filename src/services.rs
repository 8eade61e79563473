//! The signed-in service bundle: one AP session and everything built on it (tokens, spclient,
//! Web API, the player with its loader and sink). The TUI, the daemon and the CLI commands all
//! start from here so they wire the services the same way: [`Clients`] are the HTTP clients over
//! a session (all the Web API commands need), [`Services`] adds the player. Client logic every
//! front end may need over these handles lives here too ([`Services::resolve_queue`]: Spotify
//! URIs into a queue of tracks and episodes).
//!
//! Never imports UI crates, the app state or the CLI.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::api::metadata::Bitrate;
use crate::api::{SpClient, TokenProvider, WebApi};
use crate::audio::normalise::NormalisationConfig;
use crate::audio::sink::{SinkFactory, SinkSpec};
use crate::config::Config;
use crate::id::{IdError, ItemKind, SpotifyId, SpotifyUri};
use crate::player::spotify::SpotifyLoader;
use crate::player::{Player, PlayerConfig, PlayerEvent};
use crate::session::Session;

/// How the player is set up.
#[derive(Debug, Clone)]
pub struct PlaybackOptions {
    pub sink: SinkSpec,
    pub bitrate: Bitrate,
    /// Initial volume, `0..=65535`.
    pub volume: u16,
    pub normalisation: NormalisationConfig,
}

/// The HTTP clients over a connected session: tokens (login5 and client-token), spclient
/// (metadata, storage-resolve) and the Web API. Cheap to clone; nothing runs until called.
#[derive(Clone)]
pub struct Clients {
    pub http: reqwest::Client,
    pub tokens: TokenProvider,
    pub spclient: SpClient,
    pub web_api: WebApi,
}

impl Clients {
    /// The clients for `session`, at the endpoints of `config` (the session's login5 token
    /// serves the Web API too).
    pub fn new(config: &Config, session: &Session) -> Clients {
        let http = reqwest::Client::new();
        let tokens = TokenProvider::new(session.clone(), config.endpoints.clone(), http.clone());
        let spclient = SpClient::from_session(
            session.clone(),
            tokens.clone(),
            &config.endpoints,
            http.clone(),
        );
        let web_api = WebApi::new(
            tokens.clone(),
            config.endpoints.web_api.clone(),
            http.clone(),
        );
        Clients {
            http,
            tokens,
            spclient,
            web_api,
        }
    }
}

/// Why [`Services::resolve_queue`] could not build a queue.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Uri(#[from] IdError),
    #[error("cannot load the {kind} {uri}")]
    Load {
        kind: &'static str,
        uri: String,
        #[source]
        source: crate::api::ApiError,
    },
}

/// Handles to the running services; cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub config: Config,
    pub session: Session,
    pub http: reqwest::Client,
    pub tokens: TokenProvider,
    pub spclient: SpClient,
    pub web_api: WebApi,
    pub player: Player,
}

impl Services {
    /// Builds the services over a connected session and spawns the player (its engine thread
    /// opens the sink). Returns the player's event stream beside the handles.
    pub fn start(
        config: Config,
        session: Session,
        playback: PlaybackOptions,
    ) -> (Services, mpsc::UnboundedReceiver<PlayerEvent>) {
        let factory = crate::audio::output::factory(playback.sink.clone());
        Services::start_with_sink(config, session, &playback, factory)
    }

    /// Like [`Services::start`], with the sink made by `factory` (`playback.sink` is not used):
    /// tests and benchmarks record what the player writes, and `tonearm play` notices when the
    /// reader of `--sink pipe` goes away.
    pub fn start_with_sink(
        config: Config,
        session: Session,
        playback: &PlaybackOptions,
        factory: SinkFactory,
    ) -> (Services, mpsc::UnboundedReceiver<PlayerEvent>) {
        let Clients {
            http,
            tokens,
            spclient,
            web_api,
        } = Clients::new(&config, &session);
        let loader = SpotifyLoader::new(
            session.clone(),
            spclient.clone(),
            http.clone(),
            playback.bitrate,
        );
        let (player, events) = Player::spawn(
            Arc::new(loader),
            factory,
            PlayerConfig {
                initial_volume: playback.volume,
                normalisation: playback.normalisation,
                ..PlayerConfig::default()
            },
            tokio::runtime::Handle::current(),
        );
        (
            Services {
                config,
                session,
                http,
                tokens,
                spclient,
                web_api,
                player,
            },
            events,
        )
    }

    /// Expands Spotify URIs (or open.spotify.com links) into a queue of tracks and episodes, in
    /// order: a track or an episode is itself, an album its tracks, an artist its top tracks in
    /// the account's country, a playlist its items (tracks and episodes; local files and
    /// removed items are left out), a show its episodes in the show's order (newest first).
    pub async fn resolve_queue<S: AsRef<str>>(
        &self,
        uris: &[S],
    ) -> Result<Vec<SpotifyId>, ResolveError> {
        Ok(self
            .resolve_items(uris)
            .await?
            .into_iter()
            .map(|u| u.id)
            .collect())
    }

    /// Like [`Services::resolve_queue`], each entry with its kind ([`ItemKind::Track`] or
    /// [`ItemKind::Episode`]): front ends that keep episodes' resume points need to know.
    pub async fn resolve_items<S: AsRef<str>>(
        &self,
        uris: &[S],
    ) -> Result<Vec<SpotifyUri>, ResolveError> {
        let country = self.session.country().unwrap_or_default();
        let track = |id| SpotifyUri {
            kind: ItemKind::Track,
            id,
        };
        let mut queue = Vec::new();
        for text in uris {
            let text = text.as_ref();
            let uri = SpotifyUri::parse(text)?;
            let load_error = |source| ResolveError::Load {
                kind: uri.kind.as_str(),
                uri: text.to_string(),
                source,
            };
            match uri.kind {
                ItemKind::Track => queue.push(uri),
                ItemKind::Episode => {
                    crate::id::episodes::note(uri.id);
                    queue.push(uri);
                }
                ItemKind::Album => {
                    let album = self.spclient.album(uri.id).await.map_err(load_error)?;
                    queue.extend(album.tracks.into_iter().map(track));
                }
                ItemKind::Artist => {
                    let artist = self.spclient.artist(uri.id).await.map_err(load_error)?;
                    queue.extend(artist.top_tracks_for(&country).iter().copied().map(track));
                }
                ItemKind::Show => {
                    let show = self.spclient.show(uri.id).await.map_err(load_error)?;
                    for id in show.episodes {
                        crate::id::episodes::note(id);
                        queue.push(SpotifyUri {
                            kind: ItemKind::Episode,
                            id,
                        });
                    }
                }
                ItemKind::Playlist => {
                    let items = self
                        .web_api
                        .playlist_items(&uri.id.to_base62())
                        .all()
                        .await
                        .map_err(load_error)?;
                    queue.extend(
                        items
                            .into_iter()
                            .filter_map(|e| e.into_playable())
                            .filter_map(|p| SpotifyUri::parse(p.uri()).ok())
                            .filter(|u| matches!(u.kind, ItemKind::Track | ItemKind::Episode))
                            .inspect(|u| {
                                if u.kind == ItemKind::Episode {
                                    crate::id::episodes::note(u.id);
                                }
                            }),
                    );
                }
            }
        }
        Ok(queue)
    }

    /// Where Spotify says the user stopped in episode `id` (the Web API's `resume_point`);
    /// `None` when never started, fully played, or the answer could not be had.
    pub async fn remote_resume_point(&self, id: SpotifyId) -> Option<u64> {
        match self.web_api.episode(&id.to_base62()).await {
            Ok(e) => e
                .resume_point
                .filter(|p| !p.fully_played && p.resume_position_ms > 0)
                .map(|p| p.resume_position_ms),
            Err(e) => {
                tracing::debug!("no resume point for episode {}: {e}", id.to_base62());
                None
            }
        }
    }

    /// Stops the player and closes the session.
    pub async fn shutdown(&self) {
        self.player.shutdown().await;
        self.session.shutdown().await;
    }
}
