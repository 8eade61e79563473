//! The Web API's mutable state: every user's library (saved tracks, albums, shows and
//! episodes with their `added_at`, followed artists, playlists in library order, recently
//! played tracks) and every playlist (the catalog's, copied at start, plus the ones users
//! create) with a version behind its `snapshot_id`; episodes' resume points per user (bounded);
//! also the per-user rate-limit windows.
//! Seeded from the immutable catalog; the scale settings (`library_tracks`,
//! `library_playlists`) replace the demo account's library. Depends on no client module.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::super::catalog::Catalog;
use super::super::ids::{self, Gid};
use super::super::{SimAccount, SimError};

/// The account the scale settings fill.
pub(crate) const SCALE_ACCOUNT: &str = "tonearm-demo";
/// Tracks in each generated playlist.
const SCALE_PLAYLIST_TRACKS: usize = 10;
/// When seeded items were "added" (2024-06-01T12:00:00Z), minus one hour per position.
const SEED_EPOCH: i64 = 1_717_243_200;

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// One entry of a playlist.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub track: usize,
    pub added_at: i64,
    pub added_by: String,
}

/// A playlist as the Web API serves and edits it.
#[derive(Debug, Clone)]
pub(crate) struct WebPlaylist {
    pub gid: Gid,
    pub name: String,
    pub description: String,
    pub owner: String,
    pub public: bool,
    pub collaborative: bool,
    pub entries: Vec<Entry>,
    /// Bumped on every change; part of the snapshot id.
    pub version: u64,
}

impl WebPlaylist {
    /// Opaque, changes whenever the playlist does.
    pub(crate) fn snapshot_id(&self) -> String {
        use base64::Engine;
        let raw = format!("{}:{}", self.version, ids::to_base62(&self.gid));
        base64::engine::general_purpose::STANDARD.encode(raw)
    }
}

/// A user's library; every list is newest first where `added_at` matters.
#[derive(Debug, Clone, Default)]
pub(crate) struct Library {
    pub saved_tracks: Vec<(usize, i64)>,
    pub saved_albums: Vec<(usize, i64)>,
    pub saved_shows: Vec<(usize, i64)>,
    pub saved_episodes: Vec<(usize, i64)>,
    pub followed_artists: Vec<usize>,
    /// Indices into [`WebData::playlists`].
    pub playlists: Vec<usize>,
    /// (track, played_at in ms), newest first.
    pub recently_played: Vec<(usize, i64)>,
}

/// Everything mutable, behind one lock.
#[derive(Debug, Default)]
pub(crate) struct WebData {
    pub libraries: HashMap<String, Library>,
    pub playlists: Vec<WebPlaylist>,
    pub playlist_index: HashMap<Gid, usize>,
    /// username → (window start, requests in the window).
    pub rate: HashMap<String, (Instant, u32)>,
    /// (username, episode index) → where that user stopped in that episode, as their devices
    /// last reported it (see [`ResumePoint`]).
    pub resume_points: HashMap<(String, usize), (ResumePoint, u64)>,
    /// Orders `resume_points` by report (the `u64` beside each).
    pub resume_seq: u64,
}

/// A user's place in an episode: the Web API's `ResumePointObject`. Spotify keeps it on its
/// side from what the user's devices report; the simulator takes it from the Connect state a
/// device PUTs while an episode is its current item (`connect_state::endpoints`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResumePoint {
    pub fully_played: bool,
    pub resume_position_ms: u64,
}

/// The most resume points kept per user (the oldest reported goes first).
pub(crate) const MAX_RESUME_POINTS: usize = 500;

fn seeded<T: Copy>(items: &[T]) -> Vec<(T, i64)> {
    items
        .iter()
        .enumerate()
        .map(|(n, &i)| (i, SEED_EPOCH - 3600 * i64::try_from(n).unwrap_or(0)))
        .collect()
}

impl WebData {
    /// Records `user`'s place in `episode`, keeping at most [`MAX_RESUME_POINTS`] per user.
    pub(crate) fn record_resume(&mut self, user: &str, episode: usize, point: ResumePoint) {
        self.resume_seq += 1;
        let seq = self.resume_seq;
        self.resume_points
            .insert((user.to_owned(), episode), (point, seq));
        let mine: Vec<(u64, usize)> = self
            .resume_points
            .iter()
            .filter(|((u, _), _)| u == user)
            .map(|((_, e), (_, s))| (*s, *e))
            .collect();
        if mine.len() > MAX_RESUME_POINTS {
            if let Some(&(_, oldest)) = mine.iter().min() {
                self.resume_points.remove(&(user.to_owned(), oldest));
            }
        }
    }

    /// `user`'s place in `episode`, when a device reported one.
    pub(crate) fn resume_point(&self, user: &str, episode: usize) -> Option<ResumePoint> {
        self.resume_points
            .get(&(user.to_owned(), episode))
            .map(|(p, _)| *p)
    }

    /// The state at start: the catalog's playlists and libraries, then the scale settings.
    pub(crate) fn seed(
        catalog: &Catalog,
        accounts: &[SimAccount],
        library_tracks: usize,
        library_playlists: usize,
    ) -> Result<WebData, SimError> {
        let mut data = WebData::default();
        for p in &catalog.playlists {
            let entries = p
                .tracks
                .iter()
                .enumerate()
                .map(|(n, &track)| Entry {
                    track,
                    added_at: SEED_EPOCH - 86_400 * i64::try_from(n).unwrap_or(0),
                    added_by: p.owner.clone(),
                })
                .collect();
            data.insert_playlist(WebPlaylist {
                gid: p.gid,
                name: p.name.clone(),
                description: p.description.clone(),
                owner: p.owner.clone(),
                public: p.public,
                collaborative: p.collaborative,
                entries,
                version: 1,
            });
        }
        for account in accounts {
            let mut lib = Library::default();
            if let Some(u) = catalog.user(&account.username) {
                lib.saved_tracks = seeded(&u.saved_tracks);
                lib.saved_albums = seeded(&u.saved_albums);
                lib.saved_shows = seeded(&u.saved_shows);
                let episodes: Vec<usize> = u
                    .saved_shows
                    .iter()
                    .filter_map(|&s| catalog.shows.get(s)?.episodes.first().copied())
                    .collect();
                lib.saved_episodes = seeded(&episodes);
                lib.followed_artists = u.followed_artists.clone();
                lib.playlists = u.playlists.clone();
                lib.recently_played = u
                    .saved_tracks
                    .iter()
                    .enumerate()
                    .map(|(n, &t)| {
                        let n = i64::try_from(n).unwrap_or(0);
                        (t, (SEED_EPOCH - 600 * n) * 1000)
                    })
                    .collect();
            }
            data.libraries.insert(account.username.clone(), lib);
        }
        if library_tracks > 0 || library_playlists > 0 {
            data.scale(catalog, library_tracks, library_playlists)?;
        }
        Ok(data)
    }

    /// Replaces the demo account's saved tracks and/or playlists with generated ones.
    fn scale(
        &mut self,
        catalog: &Catalog,
        n_tracks: usize,
        n_playlists: usize,
    ) -> Result<(), SimError> {
        let listed: Vec<usize> = (0..catalog.tracks.len())
            .filter(|&i| catalog.tracks[i].alternative_of.is_none())
            .collect();
        if n_tracks > listed.len() {
            return Err(SimError::Config(format!(
                "library_tracks = {n_tracks} but the catalog lists only {} tracks \
                 (use CatalogSpec::Synthetic {{ tracks: {n_tracks} }} or more)",
                listed.len()
            )));
        }
        if n_playlists > 0 && listed.is_empty() {
            return Err(SimError::Config("the catalog has no tracks".to_owned()));
        }
        let mut new_playlists = Vec::new();
        for p in 0..n_playlists {
            let entries = (0..SCALE_PLAYLIST_TRACKS)
                .map(|k| Entry {
                    track: listed[(p * SCALE_PLAYLIST_TRACKS + k) % listed.len()],
                    added_at: SEED_EPOCH - 60 * i64::try_from(k).unwrap_or(0),
                    added_by: SCALE_ACCOUNT.to_owned(),
                })
                .collect();
            let name = format!("Scale Playlist {p}");
            new_playlists.push(self.insert_playlist(WebPlaylist {
                gid: ids::gid("playlist", &format!("{SCALE_ACCOUNT}/{name}")),
                name,
                description: "Generated for scale tests.".to_owned(),
                owner: SCALE_ACCOUNT.to_owned(),
                public: true,
                collaborative: false,
                entries,
                version: 1,
            }));
        }
        let lib = self.libraries.entry(SCALE_ACCOUNT.to_owned()).or_default();
        if n_tracks > 0 {
            lib.saved_tracks = seeded(&listed[..n_tracks]);
        }
        if n_playlists > 0 {
            lib.playlists = new_playlists;
        }
        Ok(())
    }

    /// Adds a playlist; returns its index.
    pub(crate) fn insert_playlist(&mut self, p: WebPlaylist) -> usize {
        let i = self.playlists.len();
        self.playlist_index.insert(p.gid, i);
        self.playlists.push(p);
        i
    }

    /// One more request by `user`: `Err(seconds to wait)` once `limit` requests fell in the
    /// current `window`.
    pub(crate) fn rate_check(
        &mut self,
        user: &str,
        limit: u32,
        window: Duration,
        now: Instant,
    ) -> Result<(), u64> {
        let slot = self.rate.entry(user.to_owned()).or_insert((now, 0));
        if now.duration_since(slot.0) >= window {
            *slot = (now, 0);
        }
        if slot.1 >= limit {
            let left = window.saturating_sub(now.duration_since(slot.0));
            return Err(left.as_secs() + u64::from(left.subsec_nanos() > 0));
        }
        slot.1 += 1;
        Ok(())
    }
}

/// The Web API's state inside [`Shared`].
pub(crate) struct WebApi {
    pub data: Mutex<WebData>,
    /// Requests per window per user.
    pub rate: Option<(u32, Duration)>,
}

impl WebApi {
    /// Seeds the libraries from the catalog and the scale settings.
    pub(crate) fn new(
        catalog: &Catalog,
        accounts: &[SimAccount],
        library_tracks: usize,
        library_playlists: usize,
        rate: Option<(u32, Duration)>,
    ) -> Result<WebApi, SimError> {
        if rate.is_some_and(|(n, w)| n == 0 || w.is_zero()) {
            return Err(SimError::Config(
                "web_api_rate needs at least one request per non-empty window".to_owned(),
            ));
        }
        Ok(WebApi {
            data: Mutex::new(WebData::seed(
                catalog,
                accounts,
                library_tracks,
                library_playlists,
            )?),
            rate,
        })
    }
}
