//! Effect execution: turns each [`Effect`] from `update` into calls on the service handles
//! (player, Web API, spclient, Connect controller, sign-in). Everything that waits on the network
//! runs on a spawned task; answers come back to the loop as [`Answer`]s (mostly [`Msg`]s carrying
//! the request id they answer). Nothing here blocks the loop or touches the terminal.
//!
//! Called by `app::run` only. Depends on the services' handles and data types and on the app's
//! plain data (`Msg`, `Effect`, `Item`, `PageData`); never on UI crates.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::api::library::{self, Library, TrackInfo};
use crate::api::webapi::{
    AlbumRef as WebAlbumRef, Episode, Playable, SearchResults, SearchType, Track as WebTrack,
};
use crate::api::{SpClient, WebApi};
use crate::app::effect::{Effect, LoginRequest};
use crate::app::msg::Msg;
use crate::app::state::{Item, Level, LoginMethod, LoginStage, PageData, PageKind};
use crate::auth::oauth;
use crate::auth::store::{CredentialStore, StoreError};
use crate::config::Config;
use crate::connect::{Controller, Device, DeviceOrigin};
use crate::id::SpotifyId;
use crate::player::Player;
use crate::services::Services;
use crate::session::{Credentials, Session, SessionConfig};

/// Search results per type: 10, the most `/search` allows per type today (a larger `limit` is
/// answered 400).
pub const SEARCH_LIMIT: u32 = 10;
/// Track names looked up per answer.
const TRACK_BATCH: usize = 50;
/// Metadata requests in flight at once for a lookup.
const TRACKS_AT_ONCE: usize = 8;

/// What spawned work reports back to the loop.
pub enum Answer {
    Msg(Msg),
    /// A session is connected (sign-in finished, or the stored credentials worked at start).
    SessionReady(Session),
    /// Spotify Connect is running: its handle and events.
    ConnectReady(
        Arc<crate::connect::service::Connect>,
        mpsc::UnboundedReceiver<crate::connect::ConnectEvent>,
    ),
    /// The stored credentials did not connect at start: sign in again (the message says why).
    StartFailed(String),
}

/// Stores the session's reusable credentials (shared by `tonearm login` and the TUI's sign-in).
/// Returns where they went, for messages. Never called with `--demo`.
pub fn store_credentials(store: &CredentialStore, session: &Session) -> Result<String, StoreError> {
    store.save(&session.reusable_credentials())?;
    Ok(store.describe())
}

pub fn session_config(cfg: &Config) -> SessionConfig {
    SessionConfig::new(cfg.endpoints.clone(), cfg.device_id.clone())
}

/// Adds `tracks` to the playlist `id`: the new snapshot id, or why not (another user's
/// playlist said plainly).
async fn add_tracks(api: &WebApi, id: &str, tracks: &[TrackInfo]) -> Result<String, String> {
    let uris: Vec<&str> = tracks.iter().map(|t| t.uri.as_str()).collect();
    match api.add_to_playlist(id, &uris).await {
        Ok(snapshot) => Ok(snapshot),
        Err(crate::api::ApiError::Http { status: 403, .. }) => {
            Err("only the owner can edit this playlist".to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The effect executor: the service handles (once signed in) and the answer channel.
pub struct Exec {
    tx: mpsc::UnboundedSender<Answer>,
    pub config: Config,
    /// `--demo`: nothing is stored (credentials, library cache).
    pub demo: bool,
    pub services: Option<Services>,
    pub controller: Option<Arc<dyn Controller>>,
    /// The library cache file (none with `--demo` or before the user is known).
    pub cache_path: Option<PathBuf>,
    /// The latest library, for incremental refreshes and show titles.
    pub library: Option<Arc<Library>>,
    pub device_id: String,
    pub device_name: String,
    /// Where the trust prompt's answers are kept (none with `--demo`: nothing is stored).
    pub trust_path: Option<PathBuf>,
    /// The local control API, when it listens (`status.context` follows what the TUI plays).
    pub control_api: Option<crate::local_api::LocalApi>,
    login: Option<JoinHandle<()>>,
    library_refresh: Option<JoinHandle<()>>,
    /// Fetches and decodes covers (`None`: `[ui] album_art = "off"`).
    pub art: Option<crate::art::ArtService>,
}

impl Exec {
    pub fn new(
        tx: mpsc::UnboundedSender<Answer>,
        config: Config,
        demo: bool,
        device_id: String,
        device_name: String,
    ) -> Exec {
        Exec {
            tx,
            config,
            demo,
            services: None,
            controller: None,
            cache_path: None,
            library: None,
            device_id,
            device_name,
            trust_path: None,
            control_api: None,
            login: None,
            library_refresh: None,
            art: None,
        }
    }

    /// A sender for answers (the runtime's session supervisor uses it too).
    pub fn sender(&self) -> mpsc::UnboundedSender<Answer> {
        self.tx.clone()
    }

    fn send(&self, msg: Msg) {
        let _ = self.tx.send(Answer::Msg(msg));
    }

    fn notify(&self, level: Level, text: impl Into<String>) {
        self.send(Msg::Notify {
            level,
            text: text.into(),
            at: Instant::now(),
        });
    }

    fn player(&self) -> Option<&Player> {
        self.services.as_ref().map(|s| &s.player)
    }

    /// Runs one effect. Returns at once; slow work is spawned.
    pub fn run(&mut self, effect: Effect) {
        match effect {
            Effect::Player(op) => match self.player() {
                Some(p) => p.apply(op),
                None => self.notify(Level::Warn, "Not connected yet: the player is not ready"),
            },
            Effect::Remote { device_id, control } => match &self.controller {
                Some(c) => c.control(device_id, control),
                None => self.notify(Level::Warn, "Connect is not running"),
            },
            Effect::Transfer { device } => match &self.controller {
                Some(c) => c.transfer(device),
                None => self.notify(Level::Warn, "Connect is not running"),
            },
            Effect::SaveTrust(map) => {
                let Some(path) = self.trust_path.clone() else {
                    return;
                };
                let tx = self.tx.clone();
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = crate::app::trust_store::save(&path, &map) {
                        tracing::warn!(error = %e, "cannot save the trusted devices");
                        let _ = tx.send(Answer::Msg(Msg::Notify {
                            level: Level::Warn,
                            text: format!("Cannot remember the answer: {e}"),
                            at: Instant::now(),
                        }));
                    }
                });
            }
            Effect::RefreshDevices => match &self.controller {
                Some(c) => c.refresh(),
                None => self.send(Msg::Devices(Ok(vec![self.this_device()]))),
            },
            Effect::Debounce { id, delay_ms } => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                    let _ = tx.send(Answer::Msg(Msg::SearchDue(id)));
                });
            }
            Effect::Search { id, query } => {
                let Some(api) = self.web_api(Msg::SearchResults {
                    id,
                    query: query.clone(),
                    result: Err("not connected yet".into()),
                }) else {
                    return;
                };
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let result = api
                        .search(&query, &SearchType::ALL, SEARCH_LIMIT, 0)
                        .await
                        .map(search_items)
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Answer::Msg(Msg::SearchResults { id, query, result }));
                });
            }
            Effect::LoadPage { id, kind, uri } => {
                let Some(api) = self.web_api(Msg::Page {
                    id,
                    result: Err("not connected yet".into()),
                }) else {
                    return;
                };
                let country = self
                    .services
                    .as_ref()
                    .and_then(|s| s.session.country())
                    .unwrap_or_else(|| "from_token".into());
                let show_title = self.library.as_ref().and_then(|l| {
                    l.saved_shows
                        .iter()
                        .find(|s| s.uri == uri)
                        .map(|s| (s.name.clone(), s.publisher.clone()))
                });
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let result = load_page(&api, kind, &uri, &country, show_title)
                        .await
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Answer::Msg(Msg::Page { id, result }));
                });
            }
            Effect::LoadLibrary { refresh } => self.load_library(refresh),
            Effect::RemoveFromPlaylist {
                playlist_uri,
                track,
                removed,
            } => {
                let Some(api) = self.web_api(Msg::RemovedFromPlaylist {
                    playlist_uri: playlist_uri.clone(),
                    track: track.clone(),
                    removed: removed.clone(),
                    result: Err("not connected yet".into()),
                }) else {
                    return;
                };
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let id = playlist_uri.rsplit(':').next().unwrap_or_default();
                    let result = match api.remove_from_playlist(id, &[track.uri.as_str()]).await {
                        Ok(snapshot) => Ok(snapshot),
                        Err(crate::api::ApiError::Http { status: 403, .. }) => {
                            Err("only the owner can edit this playlist".to_string())
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    let _ = tx.send(Answer::Msg(Msg::RemovedFromPlaylist {
                        playlist_uri,
                        track,
                        removed,
                        result,
                    }));
                });
            }
            Effect::AddToPlaylist {
                playlist_id,
                name,
                tracks,
            } => {
                let Some(api) = self.web_api(Msg::AddedToPlaylist {
                    playlist_id: playlist_id.clone(),
                    name: name.clone(),
                    tracks: tracks.clone(),
                    result: Err("not connected yet".into()),
                }) else {
                    return;
                };
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let result = add_tracks(&api, &playlist_id, &tracks).await;
                    let _ = tx.send(Answer::Msg(Msg::AddedToPlaylist {
                        playlist_id,
                        name,
                        tracks,
                        result,
                    }));
                });
            }
            Effect::CreatePlaylist { user, name, tracks } => {
                let Some(api) = self.web_api(Msg::PlaylistCreated {
                    name: name.clone(),
                    result: Err("not connected yet".into()),
                }) else {
                    return;
                };
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let p = match api.create_playlist(&user, &name, false, None).await {
                        Ok(p) => p,
                        Err(e) => {
                            let _ = tx.send(Answer::Msg(Msg::PlaylistCreated {
                                name,
                                result: Err(e.to_string()),
                            }));
                            return;
                        }
                    };
                    let created = library::LibraryPlaylist {
                        id: p.id.clone(),
                        uri: p.uri.clone(),
                        name: p.name.clone(),
                        owner: p
                            .owner
                            .as_ref()
                            .and_then(|o| o.display_name.clone())
                            .unwrap_or_else(|| user.clone()),
                        owner_id: p.owner.as_ref().map_or(user, |o| o.id.clone()),
                        description: p.description.clone().unwrap_or_default(),
                        snapshot_id: p.snapshot_id.clone(),
                        total: 0,
                        items: Some(Vec::new()),
                    };
                    let _ = tx.send(Answer::Msg(Msg::PlaylistCreated {
                        name: name.clone(),
                        result: Ok(created),
                    }));
                    let result = add_tracks(&api, &p.id, &tracks).await;
                    let _ = tx.send(Answer::Msg(Msg::AddedToPlaylist {
                        playlist_id: p.id,
                        name,
                        tracks,
                        result,
                    }));
                });
            }
            Effect::Like { track, like } => {
                let Some(api) = self.web_api(Msg::Liked {
                    track: track.clone(),
                    like,
                    result: Err("not connected yet".into()),
                }) else {
                    return;
                };
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let uris = [track.uri.as_str()];
                    let result = if like {
                        api.save_tracks(&uris).await
                    } else {
                        api.remove_tracks(&uris).await
                    };
                    let result = result.map_err(|e| e.to_string());
                    let _ = tx.send(Answer::Msg(Msg::Liked {
                        track,
                        like,
                        result,
                    }));
                });
            }
            Effect::PlayingContext { context_uri, ids } => {
                if let Some(api) = &self.control_api {
                    api.loaded(&context_uri, &ids);
                }
                if let Some(c) = &self.controller {
                    c.playing_context(context_uri);
                }
            }
            Effect::FetchTracks(ids) => {
                let Some(sp) = self.services.as_ref().map(|s| s.spclient.clone()) else {
                    return; // names arrive once connected (the queue view asks again)
                };
                let tx = self.tx.clone();
                tokio::spawn(fetch_tracks(sp, ids, tx));
            }
            Effect::Login(req) => self.login(req),
            Effect::CancelLogin => {
                if let Some(task) = self.login.take() {
                    task.abort();
                }
            }
            Effect::FetchLyrics { id, track } => {
                let Some(sp) = self.services.as_ref().map(|s| s.spclient.clone()) else {
                    self.send(Msg::Lyrics {
                        id,
                        result: Err("not connected yet".into()),
                    });
                    return;
                };
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let result = crate::api::lyrics::fetch(&sp, track)
                        .await
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Answer::Msg(Msg::Lyrics { id, result }));
                });
            }
            Effect::FetchArt { key } => {
                let (Some(art), Some(s)) = (self.art.clone(), self.services.as_ref()) else {
                    self.send(Msg::Art {
                        key,
                        result: Err("not connected yet".into()),
                    });
                    return;
                };
                let (api, sp) = (s.web_api.clone(), s.spclient.clone());
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let result = art
                        .cover_for(&api, &sp, &key)
                        .await
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Answer::Msg(Msg::Art { key, result }));
                });
            }
        }
    }

    /// This tonearm as the only device (Connect not running).
    pub fn this_device(&self) -> Device {
        Device {
            id: self.device_id.clone(),
            name: self.device_name.clone(),
            kind: "Computer".into(),
            is_active: true,
            volume: self.player().map(|p| p.status().borrow().volume),
            origin: DeviceOrigin::This,
        }
    }

    /// The Web API client, or `None` after answering `not_ready` (not signed in yet).
    fn web_api(&self, not_ready: Msg) -> Option<WebApi> {
        match &self.services {
            Some(s) => Some(s.web_api.clone()),
            None => {
                self.send(not_ready);
                None
            }
        }
    }

    /// The cached copy first (unless `refresh`), then a fresh one from the Web API, each as a
    /// `Msg::Library`. Without services only the cached copy is sent; the runtime asks again
    /// once signed in.
    pub fn load_library(&mut self, refresh: bool) {
        let cache = self.cache_path.clone();
        let api = self.services.as_ref().map(|s| s.web_api.clone());
        let previous = self.library.clone();
        let tx = self.tx.clone();
        if api.is_some() {
            if let Some(task) = self.library_refresh.take() {
                task.abort(); // a newer refresh supersedes it
            }
        }
        let task = tokio::spawn(async move {
            let mut previous = previous;
            if !refresh && previous.is_none() {
                let cached = match cache.clone() {
                    Some(path) => tokio::task::spawn_blocking(move || library::load_cached(&path))
                        .await
                        .ok()
                        .flatten()
                        .map(Arc::new),
                    None => None,
                };
                match cached {
                    Some(lib) => {
                        previous = Some(lib.clone());
                        let _ = tx.send(Answer::Msg(Msg::Library(Ok(lib))));
                    }
                    // The queue's names then come from metadata, not from the refresh.
                    None => {
                        let _ = tx.send(Answer::Msg(Msg::NoCachedLibrary));
                    }
                }
            }
            let Some(api) = api else {
                return;
            };
            let started = Instant::now();
            match library::refresh(&api, previous.as_deref()).await {
                Ok(fresh) => {
                    tracing::info!(
                        ms = started.elapsed().as_millis() as u64,
                        tracks = fresh.tracks.len(),
                        "library refreshed"
                    );
                    let fresh = Arc::new(fresh);
                    let _ = tx.send(Answer::Msg(Msg::Library(Ok(fresh.clone()))));
                    if let Some(path) = cache {
                        let _ = tokio::task::spawn_blocking(move || {
                            if let Err(e) = fresh.save(&path) {
                                tracing::warn!(path = %path.display(), error = %e, "cannot write the library cache");
                            }
                        })
                        .await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot load the library");
                    let _ = tx.send(Answer::Msg(Msg::Library(Err(e.to_string()))));
                }
            }
        });
        // Only refreshes are superseded; a cache read (no services yet) always delivers.
        if self.services.is_some() {
            self.library_refresh = Some(task);
        }
    }

    fn login(&mut self, req: LoginRequest) {
        if let Some(task) = self.login.take() {
            task.abort();
        }
        let cfg = self.config.clone();
        let demo = self.demo;
        let tx = self.tx.clone();
        let selected = LoginMethod::ALL
            .iter()
            .position(|m| *m == req.method())
            .unwrap_or(0);
        self.login = Some(tokio::spawn(async move {
            match sign_in(&cfg, demo, req, &tx).await {
                Ok(session) => {
                    let _ = tx.send(Answer::SessionReady(session));
                }
                Err(message) => {
                    tracing::warn!(%message, "sign-in failed");
                    let _ = tx.send(Answer::Msg(Msg::Login(LoginStage::Failed {
                        message,
                        selected,
                    })));
                }
            }
        }));
    }
}

/// One sign-in: get credentials the chosen way, connect, store them (not with `--demo`).
/// Errors are messages for the login screen (never containing a secret).
async fn sign_in(
    cfg: &Config,
    demo: bool,
    req: LoginRequest,
    tx: &mpsc::UnboundedSender<Answer>,
) -> Result<Session, String> {
    let stage = |s: LoginStage| {
        let _ = tx.send(Answer::Msg(Msg::Login(s)));
    };
    let creds = match req {
        LoginRequest::Browser => {
            let token = oauth::browser_pkce(
                &cfg.endpoints.accounts,
                crate::config::SPOTIFY_CLIENT_ID,
                oauth::DEFAULT_SCOPES,
                |url: &str| {
                    stage(LoginStage::Browser {
                        url: url.to_string(),
                    });
                    if !oauth::open_in_browser(url) {
                        tracing::info!("no browser could be started; the address is on screen");
                    }
                },
            )
            .await
            .map_err(|e| e.to_string())?;
            Credentials::with_access_token(token.access_token)
        }
        LoginRequest::DeviceCode => {
            let token = oauth::device_code(
                &cfg.endpoints.accounts,
                crate::config::SPOTIFY_CLIENT_ID,
                oauth::DEFAULT_SCOPES,
                |code: &oauth::DeviceCode| {
                    stage(LoginStage::DeviceCode {
                        url: code
                            .verification_uri_complete
                            .clone()
                            .unwrap_or_else(|| code.verification_uri.clone()),
                        code: code.user_code.clone(),
                    })
                },
            )
            .await
            .map_err(|e| e.to_string())?;
            Credentials::with_access_token(token.access_token)
        }
        LoginRequest::Password { username, password } => {
            Credentials::with_password(&username, &password)
        }
    };
    stage(LoginStage::Working {
        message: "Connecting to Spotify…".into(),
    });
    let session = Session::connect(session_config(cfg), creds)
        .await
        .map_err(|e| e.to_string())?;
    if !demo {
        let store = tokio::task::spawn_blocking({
            let session = session.clone();
            move || store_credentials(&CredentialStore::open()?, &session)
        })
        .await
        .map_err(|e| e.to_string())?;
        match store {
            Ok(place) => tracing::info!(store = %place, "stored reusable credentials"),
            Err(e) => {
                // Signed in all the same; the next start asks again.
                tracing::warn!(error = %e, "cannot store the credentials");
                let _ = tx.send(Answer::Msg(Msg::Notify {
                    level: Level::Warn,
                    text: format!("Signed in, but the credentials could not be stored: {e}"),
                    at: Instant::now(),
                }));
            }
        }
    }
    Ok(session)
}

fn track_item(t: WebTrack) -> TrackInfo {
    TrackInfo::from_playable(&Playable::Track(t))
}

fn episode_item(e: Episode) -> TrackInfo {
    TrackInfo::from_playable(&Playable::Episode(e))
}

fn year(date: &str) -> String {
    date.chars().take(4).collect()
}

fn album_item(a: WebAlbumRef) -> Item {
    Item::Album {
        uri: a.uri,
        name: a.name,
        artists: a.artists.into_iter().map(|a| a.name).collect(),
        year: year(&a.release_date),
    }
}

/// Search results as list rows, grouped in the order tracks, artists, albums, playlists, shows,
/// episodes.
pub fn search_items(r: SearchResults) -> Vec<Item> {
    let mut items = Vec::new();
    if let Some(p) = r.tracks {
        items.extend(p.items.into_iter().map(|t| Item::Track(track_item(t))));
    }
    if let Some(p) = r.artists {
        items.extend(p.items.into_iter().map(|a| Item::Artist {
            uri: a.uri,
            name: a.name,
        }));
    }
    if let Some(p) = r.albums {
        items.extend(p.items.into_iter().map(album_item));
    }
    if let Some(p) = r.playlists {
        items.extend(p.items.into_iter().map(|pl| {
            let total = pl.total();
            Item::Playlist {
                owner: pl
                    .owner
                    .map(|o| o.display_name.unwrap_or(o.id))
                    .unwrap_or_default(),
                uri: pl.uri,
                name: pl.name,
                total,
            }
        }));
    }
    if let Some(p) = r.shows {
        items.extend(p.items.into_iter().map(|s| Item::Show {
            uri: s.uri,
            name: s.name,
            publisher: s.publisher,
        }));
    }
    if let Some(p) = r.episodes {
        items.extend(p.items.into_iter().map(|e| Item::Episode(episode_item(e))));
    }
    items
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Loads one page from the Web API.
async fn load_page(
    api: &WebApi,
    kind: PageKind,
    uri: &str,
    country: &str,
    show_title: Option<(String, String)>,
) -> Result<PageData, crate::api::ApiError> {
    match kind {
        PageKind::Album => {
            let album = api.album(uri).await?;
            let complete = album
                .tracks
                .as_ref()
                .is_some_and(|p| p.items.len() as u32 >= p.total);
            let tracks = match (complete, album.tracks.clone()) {
                (true, Some(p)) => p.items,
                _ => api.album_tracks(uri).all().await?,
            };
            let album_ref = WebAlbumRef {
                id: Some(album.id.clone()),
                name: album.name.clone(),
                uri: album.uri.clone(),
                album_type: album.album_type.clone(),
                total_tracks: album.total_tracks,
                release_date: album.release_date.clone(),
                images: Vec::new(),
                artists: album.artists.clone(),
            };
            let items: Vec<Item> = tracks
                .into_iter()
                .map(|mut t| {
                    // Album tracks are simplified (no album): fill it in for the queue's names.
                    if t.album.is_none() {
                        t.album = Some(album_ref.clone());
                    }
                    Item::Track(track_item(t))
                })
                .collect();
            let artists: Vec<String> = album.artists.iter().map(|a| a.name.clone()).collect();
            Ok(PageData {
                kind,
                uri: album.uri.clone(),
                title: album.name.clone(),
                subtitle: format!(
                    "Album · {} · {} · {}",
                    artists.join(", "),
                    year(&album.release_date),
                    plural(items.len(), "track")
                ),
                items,
            })
        }
        PageKind::Playlist => {
            let playlist = api.playlist(uri).await?;
            let entries = api.playlist_items(uri).all().await?;
            let items: Vec<Item> = entries
                .into_iter()
                .filter_map(|e| e.into_playable())
                .map(|p| match p {
                    Playable::Track(t) => Item::Track(track_item(t)),
                    Playable::Episode(e) => Item::Episode(episode_item(e)),
                })
                .collect();
            let owner = playlist
                .owner
                .as_ref()
                .map(|o| o.display_name.clone().unwrap_or_else(|| o.id.clone()))
                .unwrap_or_default();
            Ok(PageData {
                kind,
                uri: playlist.uri.clone(),
                title: playlist.name.clone(),
                subtitle: format!("Playlist · {owner} · {}", plural(items.len(), "track")),
                items,
            })
        }
        PageKind::Artist => {
            let (artist, top, albums) = tokio::join!(
                api.artist(uri),
                api.artist_top_tracks(uri, country),
                api.artist_albums(uri).all()
            );
            let artist = artist?;
            let top = top?;
            let albums = albums?;
            let mut items: Vec<Item> = top
                .into_iter()
                .map(|t| Item::Track(track_item(t)))
                .collect();
            let n_top = items.len();
            items.extend(albums.into_iter().map(album_item));
            Ok(PageData {
                kind,
                uri: artist.uri.clone(),
                title: artist.name.clone(),
                subtitle: format!(
                    "Artist · {} · {}",
                    plural(n_top, "top track"),
                    plural(items.len() - n_top, "album")
                ),
                items,
            })
        }
        PageKind::RecentlyPlayed => {
            let items: Vec<Item> = api
                .recently_played()
                .await?
                .into_iter()
                .map(|h| Item::Track(track_item(h.track)))
                .collect();
            Ok(PageData {
                kind,
                uri: String::new(),
                title: "Recently played".into(),
                subtitle: format!("Your last {}, newest first", plural(items.len(), "play")),
                items,
            })
        }
        PageKind::TopTracks => {
            let items: Vec<Item> = api
                .top_tracks()
                .await?
                .into_iter()
                .map(|t| Item::Track(track_item(t)))
                .collect();
            Ok(PageData {
                kind,
                uri: String::new(),
                title: "Top tracks".into(),
                subtitle: format!(
                    "Your {} of the last months",
                    plural(items.len(), "top track")
                ),
                items,
            })
        }
        PageKind::Show => {
            let id = uri.rsplit(':').next().unwrap_or(uri);
            let episodes: Vec<Episode> = api.paged(format!("/shows/{id}/episodes")).all().await?;
            let (title, publisher) = show_title.unwrap_or_else(|| (uri.to_string(), String::new()));
            let items: Vec<Item> = episodes
                .into_iter()
                .map(|e| Item::Episode(episode_item(e)))
                .collect();
            Ok(PageData {
                kind,
                uri: uri.to_string(),
                title,
                subtitle: format!("Podcast · {publisher} · {}", plural(items.len(), "episode")),
                items,
            })
        }
    }
}

/// Names for track ids from spclient metadata, a few requests at a time, answered in batches.
/// Ids whose metadata cannot be fetched are left out (the queue shows them by id).
async fn fetch_tracks(sp: SpClient, ids: Vec<SpotifyId>, tx: mpsc::UnboundedSender<Answer>) {
    let limit = Arc::new(tokio::sync::Semaphore::new(TRACKS_AT_ONCE));
    for chunk in ids.chunks(TRACK_BATCH) {
        let mut set = tokio::task::JoinSet::new();
        for &id in chunk {
            let sp = sp.clone();
            let limit = limit.clone();
            set.spawn(async move {
                let _permit = limit.acquire_owned().await.ok()?;
                match sp.track(id).await {
                    Ok(t) => Some((
                        id,
                        TrackInfo {
                            uri: format!("spotify:track:{}", id.to_base62()),
                            name: t.name,
                            artists: t.artists.into_iter().map(|a| a.name).collect(),
                            album: t.album.name,
                            album_uri: format!("spotify:album:{}", t.album.id.to_base62()),
                            duration_ms: t.duration_ms,
                            explicit: t.explicit,
                        },
                    )),
                    Err(e) => {
                        tracing::debug!(id = %id.to_base62(), error = %e, "no metadata for a queued track");
                        None
                    }
                }
            });
        }
        let mut found = Vec::new();
        while let Some(r) = set.join_next().await {
            if let Ok(Some(pair)) = r {
                found.push(pair);
            }
        }
        if !found.is_empty() && tx.send(Answer::Msg(Msg::Tracks(found))).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_results_are_grouped_in_order() {
        let r: SearchResults = serde_json::from_value(serde_json::json!({
            "episodes": {"items": [{"id": "e", "name": "Ep", "uri": "spotify:episode:e", "duration_ms": 1000}], "total": 1},
            "shows": {"items": [{"id": "s", "name": "Show", "uri": "spotify:show:s", "publisher": "Pub"}], "total": 1},
            "playlists": {"items": [null, {"id": "p", "name": "List", "uri": "spotify:playlist:p", "owner": {"id": "u", "display_name": "User"}, "items": {"total": 3}}], "total": 1},
            "albums": {"items": [{"id": "a", "name": "Alb", "uri": "spotify:album:a", "release_date": "2021-05-01", "artists": [{"name": "Art"}]}], "total": 1},
            "artists": {"items": [{"id": "r", "name": "Art", "uri": "spotify:artist:r"}], "total": 1},
            "tracks": {"items": [{"id": "t", "name": "Song", "uri": "spotify:track:t", "duration_ms": 2000, "artists": [{"name": "Art"}], "album": {"name": "Alb", "uri": "spotify:album:a"}}], "total": 1}
        }))
        .expect("valid search answer");
        let items = search_items(r);
        let groups: Vec<&str> = items.iter().map(Item::group).collect();
        assert_eq!(
            groups,
            [
                "Tracks",
                "Artists",
                "Albums",
                "Playlists",
                "Podcasts",
                "Episodes"
            ]
        );
        match &items[0] {
            Item::Track(t) => {
                assert_eq!(t.name, "Song");
                assert_eq!(t.album, "Alb");
                assert_eq!(t.artists, ["Art"]);
            }
            other => panic!("not a track: {other:?}"),
        }
        assert_eq!(
            items[2],
            Item::Album {
                uri: "spotify:album:a".into(),
                name: "Alb".into(),
                artists: vec!["Art".into()],
                year: "2021".into()
            }
        );
        assert_eq!(
            items[3],
            Item::Playlist {
                uri: "spotify:playlist:p".into(),
                name: "List".into(),
                owner: "User".into(),
                total: 3
            }
        );
    }
}
