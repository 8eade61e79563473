//! Typed Web API objects, drawn from the OpenAPI spec's component schemas
//! (`shared/spec/spotify-web-api.openapi.yml`): users, tracks, albums, artists, playlists and
//! their items, shows, episodes, saved-item wrappers, offset and cursor paging, search results,
//! play history, error bodies.
//!
//! Tolerant by design: unknown fields are ignored, nullable fields are `Option`, and optional
//! fields that are missing *or null* take their default. The few fields the client cannot work
//! without (an entity's `name` and `uri`, a page's `items` and `total`, …) are required; when one
//! is missing the parse fails and [`super::WebApi`] reports [`crate::api::ApiError::Malformed`]
//! naming the field and its path. Used by `webapi` and `library`; depends on nothing but serde.

use serde::{Deserialize, Deserializer, Serialize};

/// Missing or `null` → `T::default()` (use with `#[serde(default)]`).
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// A list in which `null` entries (Spotify sends them, e.g. in playlist search results) are
/// dropped.
fn skip_nulls<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let v: Vec<Option<T>> = Deserialize::deserialize(d)?;
    Ok(v.into_iter().flatten().collect())
}

/// `ImageObject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub url: String,
    #[serde(default)]
    pub height: Option<u32>,
    #[serde(default)]
    pub width: Option<u32>,
}

/// `FollowersObject`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Followers {
    #[serde(default, deserialize_with = "nullable")]
    pub total: u64,
}

/// `PrivateUserObject` (`GET /me`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub uri: String,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub product: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub images: Vec<Image>,
}

/// `PublicUserObject` / `PlaylistOwnerObject` / `PlaylistUserObject`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub uri: String,
}

/// `SimplifiedArtistObject`. Local files' artists have no id or uri.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtistRef {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub uri: String,
}

/// `ArtistObject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artist {
    pub id: String,
    pub name: String,
    pub uri: String,
    #[serde(default, deserialize_with = "nullable")]
    pub genres: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub images: Vec<Image>,
    #[serde(default)]
    pub followers: Option<Followers>,
    #[serde(default)]
    pub popularity: Option<u32>,
}

/// `SimplifiedAlbumObject` (also what a track's `album` is). Local files' albums have no id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlbumRef {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub uri: String,
    #[serde(default, deserialize_with = "nullable")]
    pub album_type: String,
    #[serde(default, deserialize_with = "nullable")]
    pub total_tracks: u32,
    #[serde(default, deserialize_with = "nullable")]
    pub release_date: String,
    #[serde(default, deserialize_with = "nullable")]
    pub images: Vec<Image>,
    #[serde(default, deserialize_with = "nullable")]
    pub artists: Vec<ArtistRef>,
}

/// `AlbumObject`: an album with the first page of its tracks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Album {
    pub id: String,
    pub name: String,
    pub uri: String,
    #[serde(default, deserialize_with = "nullable")]
    pub album_type: String,
    #[serde(default, deserialize_with = "nullable")]
    pub total_tracks: u32,
    #[serde(default, deserialize_with = "nullable")]
    pub release_date: String,
    #[serde(default, deserialize_with = "nullable")]
    pub images: Vec<Image>,
    #[serde(default, deserialize_with = "nullable")]
    pub artists: Vec<ArtistRef>,
    #[serde(default, deserialize_with = "nullable")]
    pub label: String,
    #[serde(default, deserialize_with = "nullable")]
    pub genres: Vec<String>,
    #[serde(default)]
    pub popularity: Option<u32>,
    /// The first page of the album's tracks (simplified: no `album`).
    #[serde(default)]
    pub tracks: Option<Paging<Track>>,
}

/// `TrackObject` and `SimplifiedTrackObject` (then `album` is `None`). Local files have no id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Track {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    pub uri: String,
    #[serde(default, deserialize_with = "nullable")]
    pub duration_ms: u64,
    #[serde(default, deserialize_with = "nullable")]
    pub explicit: bool,
    /// Present when the request named a market; `None` means "not said".
    #[serde(default)]
    pub is_playable: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub is_local: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub track_number: u32,
    #[serde(default, deserialize_with = "nullable")]
    pub disc_number: u32,
    #[serde(default)]
    pub popularity: Option<u32>,
    #[serde(default)]
    pub album: Option<AlbumRef>,
    #[serde(default, deserialize_with = "nullable")]
    pub artists: Vec<ArtistRef>,
}

/// `ResumePointObject`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumePoint {
    #[serde(default, deserialize_with = "nullable")]
    pub fully_played: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub resume_position_ms: u64,
}

/// `SimplifiedShowObject` / `ShowObject` (without its episodes page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Show {
    pub id: String,
    pub name: String,
    pub uri: String,
    #[serde(default, deserialize_with = "nullable")]
    pub publisher: String,
    #[serde(default, deserialize_with = "nullable")]
    pub description: String,
    #[serde(default, deserialize_with = "nullable")]
    pub media_type: String,
    #[serde(default, deserialize_with = "nullable")]
    pub explicit: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub total_episodes: u32,
    #[serde(default, deserialize_with = "nullable")]
    pub images: Vec<Image>,
}

/// `EpisodeObject` / `SimplifiedEpisodeObject` (then `show` is `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Episode {
    pub id: String,
    pub name: String,
    pub uri: String,
    #[serde(default, deserialize_with = "nullable")]
    pub duration_ms: u64,
    #[serde(default, deserialize_with = "nullable")]
    pub explicit: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub description: String,
    #[serde(default, deserialize_with = "nullable")]
    pub release_date: String,
    #[serde(default)]
    pub is_playable: Option<bool>,
    #[serde(default)]
    pub resume_point: Option<ResumePoint>,
    #[serde(default, deserialize_with = "nullable")]
    pub images: Vec<Image>,
    #[serde(default)]
    pub show: Option<Show>,
}

/// A playlist entry's payload: `oneOf [TrackObject, EpisodeObject]`, told apart by `type`
/// (a missing `type` means a track).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Playable {
    Track(Track),
    Episode(Episode),
}

impl Playable {
    pub fn uri(&self) -> &str {
        match self {
            Playable::Track(t) => &t.uri,
            Playable::Episode(e) => &e.uri,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Playable::Track(t) => &t.name,
            Playable::Episode(e) => &e.name,
        }
    }

    pub fn duration_ms(&self) -> u64 {
        match self {
            Playable::Track(t) => t.duration_ms,
            Playable::Episode(e) => e.duration_ms,
        }
    }
}

/// The union of the track and episode fields we read, so one pass (no buffering) parses both.
#[derive(Deserialize)]
struct RawPlayable {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    id: Option<String>,
    name: String,
    uri: String,
    #[serde(default, deserialize_with = "nullable")]
    duration_ms: u64,
    #[serde(default, deserialize_with = "nullable")]
    explicit: bool,
    #[serde(default)]
    is_playable: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    is_local: bool,
    #[serde(default, deserialize_with = "nullable")]
    track_number: u32,
    #[serde(default, deserialize_with = "nullable")]
    disc_number: u32,
    #[serde(default)]
    popularity: Option<u32>,
    #[serde(default)]
    album: Option<AlbumRef>,
    #[serde(default, deserialize_with = "nullable")]
    artists: Vec<ArtistRef>,
    #[serde(default, deserialize_with = "nullable")]
    description: String,
    #[serde(default, deserialize_with = "nullable")]
    release_date: String,
    #[serde(default)]
    resume_point: Option<ResumePoint>,
    #[serde(default, deserialize_with = "nullable")]
    images: Vec<Image>,
    #[serde(default)]
    show: Option<Show>,
}

impl<'de> Deserialize<'de> for Playable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = RawPlayable::deserialize(d)?;
        match r.kind.as_deref() {
            Some("episode") => Ok(Playable::Episode(Episode {
                id: r.id.ok_or_else(|| serde::de::Error::missing_field("id"))?,
                name: r.name,
                uri: r.uri,
                duration_ms: r.duration_ms,
                explicit: r.explicit,
                description: r.description,
                release_date: r.release_date,
                is_playable: r.is_playable,
                resume_point: r.resume_point,
                images: r.images,
                show: r.show,
            })),
            _ => Ok(Playable::Track(Track {
                id: r.id,
                name: r.name,
                uri: r.uri,
                duration_ms: r.duration_ms,
                explicit: r.explicit,
                is_playable: r.is_playable,
                is_local: r.is_local,
                track_number: r.track_number,
                disc_number: r.disc_number,
                popularity: r.popularity,
                album: r.album,
                artists: r.artists,
            })),
        }
    }
}

/// `PlaylistTrackObject`. Today's answers carry the payload as `item`; older ones (and the
/// deprecated `/tracks` endpoint) as `track`. Either may be `null` (unavailable items).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaylistItem {
    #[serde(default)]
    pub added_at: Option<String>,
    #[serde(default)]
    pub added_by: Option<UserRef>,
    #[serde(default, deserialize_with = "nullable")]
    pub is_local: bool,
    #[serde(default)]
    pub item: Option<Playable>,
    #[serde(default)]
    pub track: Option<Playable>,
}

impl PlaylistItem {
    /// The track or episode, whichever field carries it.
    pub fn playable(&self) -> Option<&Playable> {
        self.item.as_ref().or(self.track.as_ref())
    }

    /// Takes the track or episode out.
    pub fn into_playable(self) -> Option<Playable> {
        self.item.or(self.track)
    }
}

/// `PlaylistTracksRefObject`: how many items a playlist has.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TracksRef {
    #[serde(default, deserialize_with = "nullable")]
    pub href: String,
    #[serde(default, deserialize_with = "nullable")]
    pub total: u32,
}

/// `SimplifiedPlaylistObject` (what `/me/playlists` and search list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaylistSummary {
    pub id: String,
    pub name: String,
    pub uri: String,
    #[serde(default, deserialize_with = "nullable")]
    pub snapshot_id: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub owner: Option<UserRef>,
    #[serde(default)]
    pub public: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub collaborative: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub images: Vec<Image>,
    #[serde(default)]
    pub items: Option<TracksRef>,
    /// Deprecated twin of `items`.
    #[serde(default)]
    pub tracks: Option<TracksRef>,
}

impl PlaylistSummary {
    /// The number of items, from `items` or the deprecated `tracks`.
    pub fn total(&self) -> u32 {
        self.items
            .as_ref()
            .or(self.tracks.as_ref())
            .map_or(0, |r| r.total)
    }
}

/// `PlaylistObject` (`GET /playlists/{id}`, create playlist): with the first page of items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Playlist {
    pub id: String,
    pub name: String,
    pub uri: String,
    #[serde(default, deserialize_with = "nullable")]
    pub snapshot_id: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub owner: Option<UserRef>,
    #[serde(default)]
    pub public: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub collaborative: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub images: Vec<Image>,
    #[serde(default)]
    pub followers: Option<Followers>,
    #[serde(default)]
    pub items: Option<Paging<PlaylistItem>>,
    /// Deprecated twin of `items`.
    #[serde(default)]
    pub tracks: Option<Paging<PlaylistItem>>,
}

impl Playlist {
    /// The first page of items, from `items` or the deprecated `tracks`.
    pub fn first_page(&self) -> Option<&Paging<PlaylistItem>> {
        self.items.as_ref().or(self.tracks.as_ref())
    }

    /// The number of items.
    pub fn total(&self) -> u32 {
        self.first_page().map_or(0, |p| p.total)
    }
}

/// `SavedTrackObject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedTrack {
    #[serde(default, deserialize_with = "nullable")]
    pub added_at: String,
    pub track: Track,
}

/// `SavedAlbumObject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedAlbum {
    #[serde(default, deserialize_with = "nullable")]
    pub added_at: String,
    pub album: Album,
}

/// `SavedShowObject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedShow {
    #[serde(default, deserialize_with = "nullable")]
    pub added_at: String,
    pub show: Show,
}

/// `SavedEpisodeObject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedEpisode {
    #[serde(default, deserialize_with = "nullable")]
    pub added_at: String,
    pub episode: Episode,
}

/// `ContextObject`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    #[serde(default, rename = "type", deserialize_with = "nullable")]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub uri: String,
}

/// `PlayHistoryObject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayHistory {
    pub track: Track,
    #[serde(default, deserialize_with = "nullable")]
    pub played_at: String,
    #[serde(default)]
    pub context: Option<Context>,
}

/// `PagingObject`: one page of an offset-paged list. `null` entries in `items` are dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct Paging<T> {
    #[serde(deserialize_with = "skip_nulls")]
    pub items: Vec<T>,
    pub total: u32,
    #[serde(default, deserialize_with = "nullable")]
    pub limit: u32,
    #[serde(default, deserialize_with = "nullable")]
    pub offset: u32,
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub previous: Option<String>,
}

/// `CursorObject`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursors {
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub before: Option<String>,
}

/// `CursorPagingObject`: one page of a cursor-paged list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct CursorPaging<T> {
    #[serde(deserialize_with = "skip_nulls")]
    pub items: Vec<T>,
    #[serde(default)]
    pub total: Option<u32>,
    #[serde(default, deserialize_with = "nullable")]
    pub limit: u32,
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub cursors: Option<Cursors>,
}

/// `GET /me/following?type=artist` wraps its page in `artists`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct FollowedArtists {
    pub artists: CursorPaging<Artist>,
}

/// `GET /artists/{id}/top-tracks`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TopTracks {
    pub tracks: Vec<Track>,
}

/// `PlaylistSnapshotId`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SnapshotId {
    #[serde(default, deserialize_with = "nullable")]
    pub snapshot_id: String,
}

/// The `SearchItems` answer: one page per requested type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResults {
    #[serde(default)]
    pub tracks: Option<Paging<Track>>,
    #[serde(default)]
    pub artists: Option<Paging<Artist>>,
    #[serde(default)]
    pub albums: Option<Paging<AlbumRef>>,
    #[serde(default)]
    pub playlists: Option<Paging<PlaylistSummary>>,
    #[serde(default)]
    pub shows: Option<Paging<Show>>,
    #[serde(default)]
    pub episodes: Option<Paging<Episode>>,
}

/// What `/search` can look for (`type=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SearchType {
    Track,
    Album,
    Artist,
    Playlist,
    Show,
    Episode,
}

impl SearchType {
    pub const ALL: [SearchType; 6] = [
        SearchType::Track,
        SearchType::Album,
        SearchType::Artist,
        SearchType::Playlist,
        SearchType::Show,
        SearchType::Episode,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SearchType::Track => "track",
            SearchType::Album => "album",
            SearchType::Artist => "artist",
            SearchType::Playlist => "playlist",
            SearchType::Show => "show",
            SearchType::Episode => "episode",
        }
    }
}

impl std::str::FromStr for SearchType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SearchType::ALL
            .into_iter()
            .find(|t| t.as_str() == s.trim())
            .ok_or_else(|| {
                format!(
                    "unknown search type \"{s}\" (track, album, artist, playlist, show, episode)"
                )
            })
    }
}

/// `ErrorObject` inside `{"error": …}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub error: Option<ErrorObject>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ErrorObject {
    #[serde(default, deserialize_with = "nullable")]
    pub message: String,
}
