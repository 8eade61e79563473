//! The signed-in service bundle: one AP session and everything built on it (tokens, spclient,
//! Web API, the player with its loader and sink). The TUI and the daemon both start from here so
//! they wire the services the same way.
//!
//! Never imports UI crates or the app state.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::api::metadata::Bitrate;
use crate::api::{SpClient, TokenProvider, WebApi};
use crate::audio::normalise::NormalisationConfig;
use crate::audio::sink::{SinkFactory, SinkSpec};
use crate::config::Config;
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
    /// tests and benchmarks record what the player writes.
    pub fn start_with_sink(
        config: Config,
        session: Session,
        playback: &PlaybackOptions,
        factory: SinkFactory,
    ) -> (Services, mpsc::UnboundedReceiver<PlayerEvent>) {
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

    /// Stops the player and closes the session.
    pub async fn shutdown(&self) {
        self.player.shutdown().await;
        self.session.shutdown().await;
    }
}
