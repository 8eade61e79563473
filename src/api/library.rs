//! [`Library`]: the user's library — playlists (with their snapshot ids and, once loaded, their
//! items), Liked Songs, saved albums, followed artists and saved shows — as the UI shows it, and
//! its on-disk cache.
//!
//! The cache is JSON at `$XDG_CACHE_HOME/tonearm/library-<username>.json`, written atomically
//! (temporary file, fsync, rename). It is compact: each track or episode is stored once in a
//! table and lists refer to it by index, so a 10k-track library loads in a few milliseconds
//! (the warm-start budget is 20 ms). A missing cache is `None`; a corrupt or outdated one is
//! `None` with a warning in the log — never a crash. [`refresh`] rebuilds the library from the
//! Web API, refetching a playlist's items only when its `snapshot_id` changed.
//!
//! Called by the CLI (later the UI's start-up). Depends on `webapi` and `crate::paths`; must not
//! depend on the UI, the player or the simulator.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::webapi::{Playable, PlaylistSummary, WebApi};
use super::ApiError;

/// Bumped whenever the cache layout changes; older files are ignored.
pub const CACHE_VERSION: u32 = 1;

/// Playlists whose items are fetched at once during a refresh (each also pages concurrently,
/// all within the client's in-flight bound).
const PLAYLISTS_AT_ONCE: usize = 8;

/// A track or an episode, as lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackInfo {
    pub uri: String,
    pub name: String,
    /// Artist names (episodes: the show's publisher, when known).
    #[serde(default)]
    pub artists: Vec<String>,
    /// Album name (episodes: the show's name).
    #[serde(default)]
    pub album: String,
    #[serde(default)]
    pub album_uri: String,
    #[serde(default)]
    pub duration_ms: u64,
    #[serde(default)]
    pub explicit: bool,
}

impl TrackInfo {
    /// From a Web API track or episode.
    pub fn from_playable(p: &Playable) -> TrackInfo {
        match p {
            Playable::Track(t) => TrackInfo {
                uri: t.uri.clone(),
                name: t.name.clone(),
                artists: t.artists.iter().map(|a| a.name.clone()).collect(),
                album: t.album.as_ref().map(|a| a.name.clone()).unwrap_or_default(),
                album_uri: t.album.as_ref().map(|a| a.uri.clone()).unwrap_or_default(),
                duration_ms: t.duration_ms,
                explicit: t.explicit,
            },
            Playable::Episode(e) => TrackInfo {
                uri: e.uri.clone(),
                name: e.name.clone(),
                artists: e
                    .show
                    .as_ref()
                    .map(|s| s.publisher.clone())
                    .filter(|p| !p.is_empty())
                    .into_iter()
                    .collect(),
                album: e.show.as_ref().map(|s| s.name.clone()).unwrap_or_default(),
                album_uri: e.show.as_ref().map(|s| s.uri.clone()).unwrap_or_default(),
                duration_ms: e.duration_ms,
                explicit: e.explicit,
            },
        }
    }
}

/// One entry of a list: an index into [`Library::tracks`] and when it was added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(rename = "t")]
    pub track: u32,
    #[serde(rename = "a", default)]
    pub added_at: String,
}

/// A playlist in the library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryPlaylist {
    pub id: String,
    pub uri: String,
    pub name: String,
    /// The owner's display name (what lists show).
    #[serde(default)]
    pub owner: String,
    /// The owner's user id: the playlist is the user's own (editable) when it is
    /// [`Library::username`]. Empty in caches written before it was kept (the refresh fills it).
    #[serde(default)]
    pub owner_id: String,
    #[serde(default)]
    pub description: String,
    /// The version of the playlist `total` and `items` describe.
    #[serde(default)]
    pub snapshot_id: String,
    /// Items, as the playlist list said.
    #[serde(default)]
    pub total: u32,
    /// The items in order, once loaded (unavailable entries left out).
    #[serde(default)]
    pub items: Option<Vec<Entry>>,
}

/// A saved album.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlbumInfo {
    pub uri: String,
    pub name: String,
    #[serde(default)]
    pub artists: Vec<String>,
    #[serde(default)]
    pub total_tracks: u32,
    #[serde(default)]
    pub release_date: String,
    #[serde(default)]
    pub added_at: String,
}

/// A followed artist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtistInfo {
    pub uri: String,
    pub name: String,
}

/// A saved show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowInfo {
    pub uri: String,
    pub name: String,
    #[serde(default)]
    pub publisher: String,
    #[serde(default)]
    pub total_episodes: u32,
    #[serde(default)]
    pub added_at: String,
}

/// The user's library.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Library {
    pub version: u32,
    /// The account's user id (from `GET /me`).
    pub username: String,
    /// When it was fetched, Unix seconds.
    pub fetched_at: u64,
    /// Every track and episode the lists below refer to, each once.
    pub tracks: Vec<TrackInfo>,
    pub playlists: Vec<LibraryPlaylist>,
    /// Liked Songs, newest first (as the Web API orders them).
    pub saved_tracks: Vec<Entry>,
    pub saved_albums: Vec<AlbumInfo>,
    pub followed_artists: Vec<ArtistInfo>,
    pub saved_shows: Vec<ShowInfo>,
    /// The URIs of Liked Songs, built on first use so a ♥ per visible row costs a hash lookup
    /// rather than a walk of the list (reset by every edit of `saved_tracks` made here).
    #[serde(skip)]
    pub liked_index: LikedIndex,
    /// Track table positions by id, built on first use: the TUI names a 10k-track queue from
    /// here instead of keeping its own copy of every track (reset whenever `tracks` grows here).
    #[serde(skip)]
    pub id_index: IdIndex,
}

/// A lazily built set of the liked URIs; not part of the library's value (always equal).
#[derive(Debug, Clone, Default)]
pub struct LikedIndex(std::sync::OnceLock<std::collections::HashSet<u32>>);

impl PartialEq for LikedIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for LikedIndex {}

/// A lazily built map from a playable's id to its place in [`Library::tracks`]; not part of the
/// library's value (always equal).
#[derive(Debug, Clone, Default)]
pub struct IdIndex(std::sync::OnceLock<HashMap<crate::id::SpotifyId, u32>>);

impl PartialEq for IdIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for IdIndex {}

impl Library {
    /// The track an entry refers to.
    pub fn track(&self, e: &Entry) -> Option<&TrackInfo> {
        self.tracks.get(e.track as usize)
    }

    /// Liked Songs as tracks, in order.
    pub fn liked(&self) -> impl Iterator<Item = &TrackInfo> + '_ {
        self.saved_tracks.iter().filter_map(|e| self.track(e))
    }

    /// A playlist's loaded items as tracks, in order (empty when not loaded).
    pub fn playlist_tracks<'a>(
        &'a self,
        p: &'a LibraryPlaylist,
    ) -> impl Iterator<Item = &'a TrackInfo> + 'a {
        p.items.iter().flatten().filter_map(move |e| self.track(e))
    }

    /// The track or episode with this id in the track table (anything a list of the library
    /// refers to), if any.
    pub fn track_by_id(&self, id: &crate::id::SpotifyId) -> Option<&TrackInfo> {
        self.tracks.get(self.position_of_id(id)? as usize)
    }

    /// The track table position of the track or episode with this id.
    fn position_of_id(&self, id: &crate::id::SpotifyId) -> Option<u32> {
        use crate::id::{ItemKind, SpotifyUri};
        let index = self.id_index.0.get_or_init(|| {
            self.tracks
                .iter()
                .enumerate()
                .filter_map(|(i, t)| {
                    let uri = SpotifyUri::parse(&t.uri).ok()?;
                    let playable = matches!(uri.kind, ItemKind::Track | ItemKind::Episode);
                    Some((uri.id, u32::try_from(i).ok()?)).filter(|_| playable)
                })
                .collect()
        });
        index.get(id).copied()
    }

    /// Whether the track is in Liked Songs. The index holds track table positions, not URIs
    /// (10k copied URIs are ~0.8 MB for the whole session): a URI is found through its id.
    pub fn is_liked(&self, uri: &str) -> bool {
        let liked = self
            .liked_index
            .0
            .get_or_init(|| self.saved_tracks.iter().map(|e| e.track).collect());
        use crate::id::{ItemKind, SpotifyUri};
        match SpotifyUri::parse(uri) {
            Ok(u) if matches!(u.kind, ItemKind::Track | ItemKind::Episode) => {
                match self.position_of_id(&u.id) {
                    // Every liked track is in the table: not there, not liked.
                    None => false,
                    Some(i) if self.tracks.get(i as usize).is_some_and(|t| t.uri == uri) => {
                        liked.contains(&i)
                    }
                    // The table holds this id under another URI: rare, so a walk of the list.
                    Some(_) => self.liked().any(|t| t.uri == uri),
                }
            }
            // Not a track or episode URI (a local file): rare, so a walk of the list.
            _ => self.liked().any(|t| t.uri == uri),
        }
    }

    /// The table index of `t`, added when new.
    fn intern_track(&mut self, t: &TrackInfo) -> u32 {
        match self.tracks.iter().position(|x| x.uri == t.uri) {
            Some(i) => i as u32,
            None => {
                self.tracks.push(t.clone());
                self.id_index = IdIndex::default();
                (self.tracks.len() - 1) as u32
            }
        }
    }

    /// Applies a like (prepended, as the Web API orders Liked Songs) or an unlike in place, after
    /// a successful write or optimistically; returns whether anything changed (so an undo knows
    /// whether to undo).
    pub fn set_liked(&mut self, t: &TrackInfo, liked: bool, added_at: &str) -> bool {
        if self.is_liked(&t.uri) == liked {
            return false;
        }
        self.liked_index = LikedIndex::default();
        if liked {
            let track = self.intern_track(t);
            self.saved_tracks.insert(
                0,
                Entry {
                    track,
                    added_at: added_at.to_owned(),
                },
            );
        } else {
            let tracks = &self.tracks;
            self.saved_tracks
                .retain(|e| tracks.get(e.track as usize).is_none_or(|x| x.uri != t.uri));
        }
        true
    }

    /// Appends tracks to a cached playlist after a successful add (its items, when loaded, and its
    /// count), taking the server's new snapshot id. False when the playlist is not cached.
    pub fn playlist_added(&mut self, id: &str, tracks: &[TrackInfo], snapshot_id: &str) -> bool {
        let Some(i) = self.playlists.iter().position(|p| p.id == id) else {
            return false;
        };
        let entries: Vec<Entry> = tracks
            .iter()
            .map(|t| Entry {
                track: self.intern_track(t),
                added_at: String::new(),
            })
            .collect();
        let p = &mut self.playlists[i];
        p.total = p.total.saturating_add(entries.len() as u32);
        if let Some(items) = p.items.as_mut() {
            items.extend(entries);
        }
        p.snapshot_id = snapshot_id.to_owned();
        true
    }

    /// Removes every occurrence of `uris` from a cached playlist after a successful remove.
    pub fn playlist_removed(&mut self, id: &str, uris: &[&str], snapshot_id: &str) -> bool {
        let tracks = &self.tracks;
        let Some(p) = self.playlists.iter_mut().find(|p| p.id == id) else {
            return false;
        };
        if let Some(items) = p.items.as_mut() {
            let before = items.len();
            items.retain(|e| {
                tracks
                    .get(e.track as usize)
                    .is_none_or(|t| !uris.contains(&t.uri.as_str()))
            });
            let gone = (before - items.len()) as u32;
            p.total = p.total.saturating_sub(gone);
        }
        p.snapshot_id = snapshot_id.to_owned();
        true
    }

    /// A playlist the user just created, first in the list as `GET /me/playlists` puts it.
    pub fn playlist_created(&mut self, p: LibraryPlaylist) {
        self.playlists.retain(|x| x.id != p.id);
        self.playlists.insert(0, p);
    }

    /// Every index points into the table.
    fn is_consistent(&self) -> bool {
        let n = self.tracks.len();
        let ok = |e: &Entry| (e.track as usize) < n;
        self.saved_tracks.iter().all(ok)
            && self
                .playlists
                .iter()
                .all(|p| p.items.iter().flatten().all(ok))
    }

    /// Serialises and writes the cache atomically (temporary file in the same directory,
    /// fsync, rename), creating the directory.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        std::fs::create_dir_all(dir)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "library.json".into());
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            drop(f);
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

/// `library-<username>.json` in `dir`; characters other than letters, digits, `-` and `_` are
/// written as `%XX` so any user name gives one safe file name.
pub fn cache_file(dir: &Path, username: &str) -> PathBuf {
    let mut safe = String::with_capacity(username.len());
    for b in username.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => safe.push(b as char),
            _ => safe.push_str(&format!("%{b:02X}")),
        }
    }
    dir.join(format!("library-{safe}.json"))
}

/// `$XDG_CACHE_HOME/tonearm/library-<username>.json`.
pub fn default_cache_file(username: &str) -> Option<PathBuf> {
    crate::paths::cache_dir().map(|d| cache_file(&d, username))
}

/// The cached library, if there is a usable one. A missing file is `None`; an unreadable,
/// corrupt or outdated one is `None` with a warning. A corrupt one is first moved aside to
/// `<name>.corrupt-<unix time>` ([`crate::paths::quarantine`]): the refresh that follows would
/// overwrite it. (One from another cache version is simply replaced.)
pub fn load_cached(path: &Path) -> Option<Library> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the library cache; ignoring it");
            return None;
        }
    };
    let mut lib: Library = match serde_json::from_slice(&bytes) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "the library cache is corrupt; ignoring it");
            set_aside(path);
            return None;
        }
    };
    if lib.version != CACHE_VERSION {
        tracing::info!(path = %path.display(), version = lib.version, "library cache from another version; ignoring it");
        return None;
    }
    if !lib.is_consistent() {
        tracing::warn!(path = %path.display(), "the library cache refers to missing tracks; ignoring it");
        set_aside(path);
        return None;
    }
    // Read in growing steps; the library lives for the whole session (RSS budget).
    lib.tracks.shrink_to_fit();
    lib.saved_tracks.shrink_to_fit();
    Some(lib)
}

/// Quarantines a corrupt cache file (the move itself logs where it went).
fn set_aside(path: &Path) {
    if let Err(e) = crate::paths::quarantine(path) {
        tracing::warn!(path = %path.display(), error = %e, "cannot move the corrupt library cache aside");
    }
}

/// Builds the track table, storing each URI once.
#[derive(Default)]
struct Table {
    tracks: Vec<TrackInfo>,
    index: HashMap<String, u32>,
}

impl Table {
    fn intern(&mut self, t: TrackInfo) -> u32 {
        if let Some(&i) = self.index.get(&t.uri) {
            return i;
        }
        let i = self.tracks.len() as u32;
        self.index.insert(t.uri.clone(), i);
        self.tracks.push(t);
        i
    }
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Errors a single playlist may have without failing the whole refresh (a playlist that
/// vanished, or one whose items we may not read).
fn playlist_error_is_local(e: &ApiError) -> bool {
    matches!(
        e,
        ApiError::NotFound(_) | ApiError::Http { .. } | ApiError::Malformed(_)
    )
}

/// The previous library's copy of `p`, when its items are loaded and its snapshot unchanged.
fn reusable<'a>(
    previous: Option<&'a Library>,
    p: &PlaylistSummary,
) -> Option<(&'a Library, &'a LibraryPlaylist)> {
    let prev = previous?;
    let old = prev.playlists.iter().find(|o| o.id == p.id)?;
    (old.items.is_some() && !p.snapshot_id.is_empty() && old.snapshot_id == p.snapshot_id)
        .then_some((prev, old))
}

/// Loaded items of one playlist: (track or episode, added_at) in order.
type Items = Vec<(Option<TrackInfo>, String)>;

/// Fetches the items of the playlists that changed (or were never loaded), a few playlists at
/// a time; keyed by the playlist's position in `playlists`.
async fn fetch_changed_items(
    api: &WebApi,
    playlists: &[PlaylistSummary],
    previous: Option<&Library>,
) -> Result<HashMap<usize, Items>, ApiError> {
    let bound = Arc::new(Semaphore::new(PLAYLISTS_AT_ONCE));
    let mut set = JoinSet::new();
    for (i, p) in playlists.iter().enumerate() {
        if reusable(previous, p).is_some() {
            continue;
        }
        let api = api.clone();
        let id = p.id.clone();
        let bound = bound.clone();
        set.spawn(async move {
            let _permit = bound.acquire_owned().await;
            let items = api.playlist_items(&id).all_mapped(|it| {
                let added = it.added_at.clone().unwrap_or_default();
                (
                    it.into_playable().map(|p| TrackInfo::from_playable(&p)),
                    added,
                )
            });
            (i, items.await)
        });
    }
    let mut fetched = HashMap::new();
    while let Some(joined) = set.join_next().await {
        let (i, result) =
            joined.map_err(|e| ApiError::Network(format!("playlist task failed: {e}")))?;
        match result {
            Ok(items) => {
                fetched.insert(i, items);
            }
            Err(e) if playlist_error_is_local(&e) => {
                tracing::warn!(playlist = %playlists[i].id, error = %e, "cannot load a playlist's items");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(fetched)
}

/// Fetches the whole library. Lists are fetched concurrently; a playlist's items are reused from
/// `previous` when its `snapshot_id` is unchanged, else fetched. A playlist whose items cannot
/// be read (404, 403, malformed) keeps `items: None`; other errors fail the refresh.
pub async fn refresh(api: &WebApi, previous: Option<&Library>) -> Result<Library, ApiError> {
    // The playlists' items start as soon as the playlist list is in, alongside the other lists.
    let playlists_and_items = async {
        let playlists = api.my_playlists().all().await?;
        let fetched = fetch_changed_items(api, &playlists, previous).await?;
        Ok::<_, ApiError>((playlists, fetched))
    };
    let (me, (playlists, mut fetched), saved, albums, artists, shows) = tokio::try_join!(
        api.me(),
        playlists_and_items,
        api.saved_tracks().all_mapped(|s| (
            TrackInfo::from_playable(&Playable::Track(s.track)),
            s.added_at
        )),
        api.saved_albums().all(),
        api.followed_artists().all(),
        api.saved_shows().all(),
    )?;

    let mut table = Table::default();
    let mut saved_tracks: Vec<Entry> = saved
        .into_iter()
        .map(|(track, added_at)| Entry {
            track: table.intern(track),
            added_at,
        })
        .collect();
    let mut out_playlists = Vec::with_capacity(playlists.len());
    for (i, p) in playlists.iter().enumerate() {
        let items = if let Some((prev, old)) = reusable(previous, p) {
            old.items.as_ref().map(|entries| {
                entries
                    .iter()
                    .filter_map(|e| {
                        let t = prev.track(e)?.clone();
                        Some(Entry {
                            track: table.intern(t),
                            added_at: e.added_at.clone(),
                        })
                    })
                    .collect()
            })
        } else {
            fetched.remove(&i).map(|items| {
                let mut entries: Vec<Entry> = items
                    .into_iter()
                    .filter_map(|(track, added_at)| {
                        Some(Entry {
                            track: table.intern(track?),
                            added_at,
                        })
                    })
                    .collect();
                // Collected in place into the fetched pairs' larger buffer (kept all session).
                entries.shrink_to_fit();
                entries
            })
        };
        out_playlists.push(LibraryPlaylist {
            id: p.id.clone(),
            uri: p.uri.clone(),
            name: p.name.clone(),
            owner: p
                .owner
                .as_ref()
                .map(|o| o.display_name.clone().unwrap_or_else(|| o.id.clone()))
                .unwrap_or_default(),
            owner_id: p.owner.as_ref().map(|o| o.id.clone()).unwrap_or_default(),
            description: p.description.clone().unwrap_or_default(),
            snapshot_id: p.snapshot_id.clone(),
            total: p.total(),
            items,
        });
    }

    // The library lives for the whole session (RSS budget): the table grew by doubling, and
    // Liked Songs were collected in place into the (five times larger) fetched pairs' buffer.
    let mut tracks = table.tracks;
    tracks.shrink_to_fit();
    saved_tracks.shrink_to_fit();
    Ok(Library {
        liked_index: Default::default(),
        id_index: Default::default(),
        version: CACHE_VERSION,
        username: me.id,
        fetched_at: now_unix(),
        tracks,
        playlists: out_playlists,
        saved_tracks,
        saved_albums: albums
            .into_iter()
            .map(|s| AlbumInfo {
                uri: s.album.uri,
                name: s.album.name,
                artists: s.album.artists.into_iter().map(|a| a.name).collect(),
                total_tracks: s.album.total_tracks,
                release_date: s.album.release_date,
                added_at: s.added_at,
            })
            .collect(),
        followed_artists: artists
            .into_iter()
            .map(|a| ArtistInfo {
                uri: a.uri,
                name: a.name,
            })
            .collect(),
        saved_shows: shows
            .into_iter()
            .map(|s| ShowInfo {
                uri: s.show.uri,
                name: s.show.name,
                publisher: s.show.publisher,
                total_episodes: s.show.total_episodes,
                added_at: s.added_at,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod quarantine_tests {
    use super::*;

    #[test]
    fn a_corrupt_cache_is_moved_aside_and_an_outdated_one_is_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = cache_file(dir.path(), "alice");
        std::fs::write(&path, b"{\"version\": 1, \"tracks\": [").expect("write");
        assert!(load_cached(&path).is_none());
        assert!(
            !path.exists(),
            "the corrupt cache must not stay to be overwritten"
        );
        let kept = crate::paths::quarantined_copies(&path);
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(
            std::fs::read(&kept[0]).expect("kept"),
            b"{\"version\": 1, \"tracks\": [".to_vec()
        );
        // Another cache version is not damage: it stays in place until the refresh replaces it.
        let other = Library {
            liked_index: Default::default(),
            version: CACHE_VERSION + 1,
            ..Library::default()
        };
        other.save(&path).expect("save");
        assert!(load_cached(&path).is_none());
        assert!(path.exists());
        assert_eq!(crate::paths::quarantined_copies(&path).len(), 1);
        // Indices past the track table are damage too.
        let mut broken = Library {
            liked_index: Default::default(),
            version: CACHE_VERSION,
            ..Library::default()
        };
        broken.saved_tracks.push(Entry {
            track: 7,
            added_at: String::new(),
        });
        broken.save(&path).expect("save");
        assert!(load_cached(&path).is_none());
        assert!(!path.exists());
        assert_eq!(crate::paths::quarantined_copies(&path).len(), 2);
    }
}
