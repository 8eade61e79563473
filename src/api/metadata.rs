//! Typed metadata (protocol spec §9.3, §10.1): [`Track`], [`Album`], [`Artist`], [`Episode`],
//! [`Show`] built from the `spotify.metadata` protobufs with librespot's validation (every gid
//! exactly 16 bytes, a track has an album and a positive duration — anything else is
//! [`ApiError::Malformed`], never a panic); the availability rules (restrictions by catalogue and
//! country, availability start dates); audio formats, the configured [`Bitrate`] and
//! [`choose_file`], which picks a file by the §10.1 preference order.
//!
//! Pure: parsing and rules only. `spclient` fetches the bytes and calls the `from_bytes`
//! constructors; the player and the UI read the models. Must not depend on the session, HTTP or
//! any other service.

use std::fmt;
use std::str::FromStr;

use librespot_protocol::metadata as proto;
use protobuf::Message;

use super::ApiError;
use crate::id::{FileId, ItemKind, SpotifyId};

// ---------------------------------------------------------------------------------------------
// Audio formats and file choice
// ---------------------------------------------------------------------------------------------

/// `AudioFile.Format` (§10.1). Only the Vorbis and MP3 formats are ever chosen for streaming;
/// everything else (AAC, FLAC, MP3_160_ENC, undeclared numbers) is kept as `Other(n)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum AudioFormat {
    OggVorbis96,
    OggVorbis160,
    OggVorbis320,
    Mp3_256,
    Mp3_320,
    Mp3_160,
    Mp3_96,
    Other(i32),
}

impl AudioFormat {
    /// From the protobuf enum number.
    pub fn from_proto(n: i32) -> AudioFormat {
        match n {
            0 => AudioFormat::OggVorbis96,
            1 => AudioFormat::OggVorbis160,
            2 => AudioFormat::OggVorbis320,
            3 => AudioFormat::Mp3_256,
            4 => AudioFormat::Mp3_320,
            5 => AudioFormat::Mp3_160,
            6 => AudioFormat::Mp3_96,
            n => AudioFormat::Other(n),
        }
    }

    /// The protobuf enum number (also the `{format}` of storage-resolve v2).
    pub fn to_proto(self) -> i32 {
        match self {
            AudioFormat::OggVorbis96 => 0,
            AudioFormat::OggVorbis160 => 1,
            AudioFormat::OggVorbis320 => 2,
            AudioFormat::Mp3_256 => 3,
            AudioFormat::Mp3_320 => 4,
            AudioFormat::Mp3_160 => 5,
            AudioFormat::Mp3_96 => 6,
            AudioFormat::Other(n) => n,
        }
    }

    pub fn is_vorbis(self) -> bool {
        matches!(
            self,
            AudioFormat::OggVorbis96 | AudioFormat::OggVorbis160 | AudioFormat::OggVorbis320
        )
    }

    pub fn is_mp3(self) -> bool {
        matches!(
            self,
            AudioFormat::Mp3_96
                | AudioFormat::Mp3_160
                | AudioFormat::Mp3_256
                | AudioFormat::Mp3_320
        )
    }

    /// Nominal data rate in bytes per second (§10.1, for prefetch sizing); `None` for `Other`.
    pub fn bytes_per_second(self) -> Option<usize> {
        let kib = match self {
            AudioFormat::OggVorbis96 | AudioFormat::Mp3_96 => 12,
            AudioFormat::OggVorbis160 | AudioFormat::Mp3_160 => 20,
            AudioFormat::OggVorbis320 | AudioFormat::Mp3_320 => 40,
            AudioFormat::Mp3_256 => 32,
            AudioFormat::Other(_) => return None,
        };
        Some(kib * 1024)
    }
}

/// The configured streaming quality. The project defaults to 320 (librespot's default is 160).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Bitrate {
    B96,
    B160,
    #[default]
    B320,
}

impl Bitrate {
    /// §10.1: the formats to try, best first.
    pub fn preference(self) -> &'static [AudioFormat] {
        use AudioFormat::*;
        match self {
            Bitrate::B96 => &[
                OggVorbis96,
                Mp3_96,
                OggVorbis160,
                Mp3_160,
                Mp3_256,
                OggVorbis320,
                Mp3_320,
            ],
            Bitrate::B160 => &[
                OggVorbis160,
                Mp3_160,
                OggVorbis96,
                Mp3_96,
                Mp3_256,
                OggVorbis320,
                Mp3_320,
            ],
            Bitrate::B320 => &[
                OggVorbis320,
                Mp3_320,
                Mp3_256,
                OggVorbis160,
                Mp3_160,
                OggVorbis96,
                Mp3_96,
            ],
        }
    }

    pub fn kbps(self) -> u32 {
        match self {
            Bitrate::B96 => 96,
            Bitrate::B160 => 160,
            Bitrate::B320 => 320,
        }
    }
}

impl fmt::Display for Bitrate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kbps())
    }
}

/// The text of a bad bitrate, quoted in the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{0}\" is not a bitrate (use 96, 160 or 320)")]
pub struct BadBitrate(pub String);

impl FromStr for Bitrate {
    type Err = BadBitrate;

    fn from_str(s: &str) -> Result<Bitrate, BadBitrate> {
        match s.trim() {
            "96" => Ok(Bitrate::B96),
            "160" => Ok(Bitrate::B160),
            "320" => Ok(Bitrate::B320),
            _ => Err(BadBitrate(s.to_string())),
        }
    }
}

/// One encoded file of a track or episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AudioFile {
    pub file_id: FileId,
    pub format: AudioFormat,
}

/// The first file whose format comes first in `bitrate`'s preference order (§10.1); `None` when
/// no Vorbis or MP3 file is present (AAC/FLAC are never chosen).
pub fn choose_file(files: &[AudioFile], bitrate: Bitrate) -> Option<AudioFile> {
    bitrate
        .preference()
        .iter()
        .find_map(|fmt| files.iter().find(|f| f.format == *fmt).copied())
}

// ---------------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArtistRef {
    pub id: SpotifyId,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AlbumRef {
    pub id: SpotifyId,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShowRef {
    pub id: SpotifyId,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageSize {
    Default,
    Small,
    Large,
    XLarge,
}

/// A cover or portrait; fetch it from the image CDN by `file_id` (hex).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Image {
    pub file_id: FileId,
    pub size: ImageSize,
    pub width: i32,
    pub height: i32,
}

/// A calendar date as the metadata gives it (missing parts are `None`), UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Date {
    pub year: i32,
    pub month: Option<u32>,
    pub day: Option<u32>,
    pub hour: Option<u32>,
    pub minute: Option<u32>,
}

impl Date {
    /// Seconds since the Unix epoch (missing month/day = 1, missing time = 00:00).
    pub fn unix_seconds(&self) -> i64 {
        let m = i64::from(self.month.unwrap_or(1).clamp(1, 12));
        let d = i64::from(self.day.unwrap_or(1).clamp(1, 31));
        let days = days_from_civil(i64::from(self.year), m, d);
        days * 86_400
            + i64::from(self.hour.unwrap_or(0).min(23)) * 3600
            + i64::from(self.minute.unwrap_or(0).min(59)) * 60
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `Restriction` (§9.3). Only `catalogue_str` counts, as in librespot; a restriction has either an
/// allow list or a forbid list of countries (`None` = that list is absent).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Restriction {
    pub catalogues: Vec<String>,
    pub countries_allowed: Option<Vec<String>>,
    pub countries_forbidden: Option<Vec<String>>,
}

/// `Availability`: available from `start` in the named catalogues.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Availability {
    pub catalogues: Vec<String>,
    pub start: Option<Date>,
}

/// Why an item cannot be played here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unavailable {
    /// Every availability window starts in the future.
    Embargo,
    /// The catalogue's restriction lists countries and ours is not among them.
    NotWhitelisted,
    /// The catalogue's restriction forbids our country.
    Blacklisted,
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unavailable::Embargo => "not released yet",
            Unavailable::NotWhitelisted => "not available in your country",
            Unavailable::Blacklisted => "blocked in your country",
        })
    }
}

/// librespot's rules (`metadata/src/audio/item.rs`): empty availability = available, else some
/// window must have started; then the first restriction naming `catalogue` decides — its allow
/// list must contain `country`, or its forbid list must not. No matching restriction = allowed.
pub fn check_available(
    restrictions: &[Restriction],
    availability: &[Availability],
    country: &str,
    catalogue: &str,
    now_unix: i64,
) -> Result<(), Unavailable> {
    if !availability.is_empty()
        && !availability
            .iter()
            .any(|a| a.start.is_none_or(|d| d.unix_seconds() <= now_unix))
    {
        return Err(Unavailable::Embargo);
    }
    let same = |a: &String| a.eq_ignore_ascii_case(country);
    for r in restrictions
        .iter()
        .filter(|r| r.catalogues.iter().any(|c| c == catalogue))
    {
        if let Some(allowed) = &r.countries_allowed {
            return if allowed.iter().any(same) {
                Ok(())
            } else {
                Err(Unavailable::NotWhitelisted)
            };
        }
        if let Some(forbidden) = &r.countries_forbidden {
            return if forbidden.iter().any(same) {
                Err(Unavailable::Blacklisted)
            } else {
                Ok(())
            };
        }
    }
    Ok(())
}

/// The account's catalogue from the AP's product info (`catalogue`), "premium" when absent —
/// the second argument of the `is_available` checks.
pub fn user_catalogue(product: &std::collections::HashMap<String, String>) -> String {
    product
        .get("catalogue")
        .filter(|c| !c.is_empty())
        .cloned()
        .unwrap_or_else(|| "premium".to_string())
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    pub id: SpotifyId,
    pub name: String,
    pub album: AlbumRef,
    pub artists: Vec<ArtistRef>,
    pub number: i32,
    pub disc_number: i32,
    pub duration_ms: u64,
    pub explicit: bool,
    pub popularity: i32,
    /// Playable and other files (unknown formats kept as [`AudioFormat::Other`]).
    pub files: Vec<AudioFile>,
    /// Relinked versions to try when `files` is empty or this one is unavailable.
    pub alternatives: Vec<SpotifyId>,
    pub restrictions: Vec<Restriction>,
    pub availability: Vec<Availability>,
    /// The album's covers, as carried in the track's metadata.
    pub covers: Vec<Image>,
}

impl Default for Track {
    fn default() -> Self {
        Track {
            id: SpotifyId(0),
            name: String::new(),
            album: AlbumRef {
                id: SpotifyId(0),
                name: String::new(),
            },
            artists: Vec::new(),
            number: 0,
            disc_number: 0,
            duration_ms: 0,
            explicit: false,
            popularity: 0,
            files: Vec::new(),
            alternatives: Vec::new(),
            restrictions: Vec::new(),
            availability: Vec::new(),
            covers: Vec::new(),
        }
    }
}

impl Track {
    /// Decodes and validates a `spotify.metadata.Track`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Track, ApiError> {
        Track::from_proto(&decode::<proto::Track>(bytes, "track")?)
    }

    pub fn from_proto(t: &proto::Track) -> Result<Track, ApiError> {
        let id = gid(&t.gid, "track")?;
        let album = t
            .album
            .as_ref()
            .ok_or_else(|| ApiError::Malformed("track has no album".into()))?;
        let album_ref = AlbumRef {
            id: gid(&album.gid, "track's album")?,
            name: album.name().to_string(),
        };
        let duration = t.duration();
        if duration <= 0 {
            return Err(ApiError::Malformed(format!(
                "track duration must be positive, got {duration}"
            )));
        }
        for awr in &t.artist_with_role {
            gid(&awr.artist_gid, "track's artist_with_role")?;
        }
        let mut covers = images(&album.cover);
        if let Some(group) = album.cover_group.as_ref() {
            covers.extend(images(&group.image));
        }
        Ok(Track {
            id,
            name: t.name().to_string(),
            album: album_ref,
            artists: artist_refs(&t.artist, "track's artist")?,
            number: t.number(),
            disc_number: t.disc_number(),
            duration_ms: duration as u64,
            explicit: t.explicit(),
            popularity: t.popularity(),
            files: audio_files(&t.file),
            alternatives: t
                .alternative
                .iter()
                .map(|a| gid(&a.gid, "track's alternative"))
                .collect::<Result<_, _>>()?,
            restrictions: restrictions(&t.restriction),
            availability: availability(&t.availability),
            covers,
        })
    }

    /// Whether this track may be played in `country` on `catalogue` (e.g. "premium") now.
    pub fn is_available(&self, country: &str, catalogue: &str) -> bool {
        self.check_available(country, catalogue).is_ok()
    }

    /// Like [`Track::is_available`], with the reason.
    pub fn check_available(&self, country: &str, catalogue: &str) -> Result<(), Unavailable> {
        check_available(
            &self.restrictions,
            &self.availability,
            country,
            catalogue,
            now_unix(),
        )
    }

    pub fn uri(&self) -> String {
        format!("spotify:track:{}", self.id.to_base62())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlbumType {
    Album,
    Single,
    Compilation,
    Ep,
    Audiobook,
    Podcast,
    Unknown(i32),
}

impl AlbumType {
    fn from_proto(n: i32) -> AlbumType {
        match n {
            1 => AlbumType::Album,
            2 => AlbumType::Single,
            3 => AlbumType::Compilation,
            4 => AlbumType::Ep,
            5 => AlbumType::Audiobook,
            6 => AlbumType::Podcast,
            n => AlbumType::Unknown(n),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disc {
    pub number: i32,
    pub name: String,
    pub tracks: Vec<SpotifyId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Album {
    pub id: SpotifyId,
    pub name: String,
    pub artists: Vec<ArtistRef>,
    pub album_type: AlbumType,
    pub label: String,
    pub date: Option<Date>,
    pub popularity: i32,
    pub covers: Vec<Image>,
    pub discs: Vec<Disc>,
    /// Every disc's tracks, in order.
    pub tracks: Vec<SpotifyId>,
    pub restrictions: Vec<Restriction>,
    pub availability: Vec<Availability>,
}

impl Album {
    pub fn from_bytes(bytes: &[u8]) -> Result<Album, ApiError> {
        Album::from_proto(&decode::<proto::Album>(bytes, "album")?)
    }

    pub fn from_proto(a: &proto::Album) -> Result<Album, ApiError> {
        let discs = a
            .disc
            .iter()
            .map(|d| {
                Ok(Disc {
                    number: d.number(),
                    name: d.name().to_string(),
                    tracks: track_gids(&d.track, "album's track")?,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let covers = images_with_group(&a.cover, a.cover_group.as_ref());
        Ok(Album {
            id: gid(&a.gid, "album")?,
            name: a.name().to_string(),
            artists: artist_refs(&a.artist, "album's artist")?,
            album_type: AlbumType::from_proto(a.type_.map_or(1, |t| t.value())),
            label: a.label().to_string(),
            date: a.date.as_ref().map(date),
            popularity: a.popularity(),
            covers,
            tracks: discs
                .iter()
                .flat_map(|d| d.tracks.iter().copied())
                .collect(),
            discs,
            restrictions: restrictions(&a.restriction),
            availability: availability(&a.availability),
        })
    }
}

/// An artist's top tracks in one country (empty `country` = everywhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopTracks {
    pub country: String,
    pub tracks: Vec<SpotifyId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artist {
    pub id: SpotifyId,
    pub name: String,
    pub popularity: i32,
    pub top_tracks: Vec<TopTracks>,
    /// The current release of each album group (first album of the group), in order.
    pub albums: Vec<SpotifyId>,
    pub singles: Vec<SpotifyId>,
    pub compilations: Vec<SpotifyId>,
    pub appears_on: Vec<SpotifyId>,
    pub portraits: Vec<Image>,
    pub biography: Option<String>,
    pub related: Vec<ArtistRef>,
    pub restrictions: Vec<Restriction>,
}

impl Artist {
    pub fn from_bytes(bytes: &[u8]) -> Result<Artist, ApiError> {
        Artist::from_proto(&decode::<proto::Artist>(bytes, "artist")?)
    }

    pub fn from_proto(a: &proto::Artist) -> Result<Artist, ApiError> {
        let groups = |gs: &[proto::AlbumGroup], what: &str| -> Result<Vec<SpotifyId>, ApiError> {
            gs.iter()
                .filter_map(|g| g.album.first())
                .map(|al| gid(&al.gid, what))
                .collect()
        };
        let top_tracks = a
            .top_track
            .iter()
            .map(|tt| {
                Ok(TopTracks {
                    country: tt.country().to_string(),
                    tracks: track_gids(&tt.track, "artist's top track")?,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let portraits = images_with_group(&a.portrait, a.portrait_group.as_ref());
        Ok(Artist {
            id: gid(&a.gid, "artist")?,
            name: a.name().to_string(),
            popularity: a.popularity(),
            top_tracks,
            albums: groups(&a.album_group, "artist's album")?,
            singles: groups(&a.single_group, "artist's single")?,
            compilations: groups(&a.compilation_group, "artist's compilation")?,
            appears_on: groups(&a.appears_on_group, "artist's appears-on album")?,
            portraits,
            biography: a
                .biography
                .first()
                .map(|b| b.text().to_string())
                .filter(|t| !t.is_empty()),
            related: artist_refs(&a.related, "related artist")?,
            restrictions: restrictions(&a.restriction),
        })
    }

    /// Top tracks for `country`; else the country-less list; else the first list.
    pub fn top_tracks_for(&self, country: &str) -> &[SpotifyId] {
        self.top_tracks
            .iter()
            .find(|t| t.country.eq_ignore_ascii_case(country))
            .or_else(|| self.top_tracks.iter().find(|t| t.country.is_empty()))
            .or_else(|| self.top_tracks.first())
            .map_or(&[], |t| &t.tracks)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Episode {
    pub id: SpotifyId,
    pub name: String,
    pub show: Option<ShowRef>,
    pub duration_ms: u64,
    /// The audio files (`Episode.audio`).
    pub files: Vec<AudioFile>,
    pub description: String,
    pub number: i32,
    pub publish_time: Option<Date>,
    pub explicit: bool,
    pub language: String,
    pub covers: Vec<Image>,
    /// Some episodes are hosted elsewhere and only have this URL.
    pub external_url: Option<String>,
    pub restrictions: Vec<Restriction>,
    pub availability: Vec<Availability>,
}

impl Episode {
    pub fn from_bytes(bytes: &[u8]) -> Result<Episode, ApiError> {
        Episode::from_proto(&decode::<proto::Episode>(bytes, "episode")?)
    }

    pub fn from_proto(e: &proto::Episode) -> Result<Episode, ApiError> {
        let duration = e.duration();
        if duration < 0 {
            return Err(ApiError::Malformed(format!(
                "episode duration must not be negative, got {duration}"
            )));
        }
        let show = match e.show.as_ref() {
            Some(s) => Some(ShowRef {
                id: gid(&s.gid, "episode's show")?,
                name: s.name().to_string(),
            }),
            None => None,
        };
        Ok(Episode {
            id: gid(&e.gid, "episode")?,
            name: e.name().to_string(),
            show,
            duration_ms: duration as u64,
            files: audio_files(&e.audio),
            description: e.description().to_string(),
            number: e.number(),
            publish_time: e.publish_time.as_ref().map(date),
            explicit: e.explicit(),
            language: e.language().to_string(),
            covers: e
                .cover_image
                .as_ref()
                .map(|g| images(&g.image))
                .unwrap_or_default(),
            external_url: e.external_url.clone().filter(|u| !u.is_empty()),
            restrictions: restrictions(&e.restriction),
            availability: availability(&e.availability),
        })
    }

    pub fn is_available(&self, country: &str, catalogue: &str) -> bool {
        self.check_available(country, catalogue).is_ok()
    }

    /// Like [`Episode::is_available`], with the reason.
    pub fn check_available(&self, country: &str, catalogue: &str) -> Result<(), Unavailable> {
        check_available(
            &self.restrictions,
            &self.availability,
            country,
            catalogue,
            now_unix(),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Show {
    pub id: SpotifyId,
    pub name: String,
    pub description: String,
    pub publisher: String,
    pub language: String,
    pub explicit: bool,
    pub is_audiobook: bool,
    pub covers: Vec<Image>,
    pub episodes: Vec<SpotifyId>,
    pub restrictions: Vec<Restriction>,
    pub availability: Vec<Availability>,
}

impl Show {
    pub fn from_bytes(bytes: &[u8]) -> Result<Show, ApiError> {
        Show::from_proto(&decode::<proto::Show>(bytes, "show")?)
    }

    pub fn from_proto(s: &proto::Show) -> Result<Show, ApiError> {
        Ok(Show {
            id: gid(&s.gid, "show")?,
            name: s.name().to_string(),
            description: s.description().to_string(),
            publisher: s.publisher().to_string(),
            language: s.language().to_string(),
            explicit: s.explicit(),
            is_audiobook: s.is_audiobook(),
            covers: s
                .cover_image
                .as_ref()
                .map(|g| images(&g.image))
                .unwrap_or_default(),
            episodes: s
                .episode
                .iter()
                .map(|e| gid(&e.gid, "show's episode"))
                .collect::<Result<_, _>>()?,
            restrictions: restrictions(&s.restriction),
            availability: availability(&s.availability),
        })
    }
}

/// What `spclient` needs to fetch and cache an item generically.
pub(crate) trait Item: Sized + Clone + Send + Sync + 'static {
    const KIND: ItemKind;
    fn from_bytes(bytes: &[u8]) -> Result<Self, ApiError>;
    fn id(&self) -> SpotifyId;
}

macro_rules! item {
    ($t:ty, $kind:expr) => {
        impl Item for $t {
            const KIND: ItemKind = $kind;
            fn from_bytes(bytes: &[u8]) -> Result<Self, ApiError> {
                <$t>::from_bytes(bytes)
            }
            fn id(&self) -> SpotifyId {
                self.id
            }
        }
    };
}
item!(Track, ItemKind::Track);
item!(Album, ItemKind::Album);
item!(Artist, ItemKind::Artist);
item!(Episode, ItemKind::Episode);
item!(Show, ItemKind::Show);

// ---------------------------------------------------------------------------------------------
// Conversion helpers
// ---------------------------------------------------------------------------------------------

fn decode<M: Message>(bytes: &[u8], what: &str) -> Result<M, ApiError> {
    M::parse_from_bytes(bytes)
        .map_err(|e| ApiError::Malformed(format!("cannot decode {what} metadata: {e}")))
}

/// A gid that must be present and exactly 16 bytes.
fn gid(raw: &Option<Vec<u8>>, what: &str) -> Result<SpotifyId, ApiError> {
    let raw = raw.as_deref().unwrap_or_default();
    SpotifyId::from_raw(raw).ok_or_else(|| {
        ApiError::Malformed(format!("{what} gid must be 16 bytes, got {}", raw.len()))
    })
}

fn artist_refs(artists: &[proto::Artist], what: &str) -> Result<Vec<ArtistRef>, ApiError> {
    artists
        .iter()
        .map(|a| {
            Ok(ArtistRef {
                id: gid(&a.gid, what)?,
                name: a.name().to_string(),
            })
        })
        .collect()
}

/// Files with a usable id (16 or 20 bytes) and a format; others are dropped with a debug line.
fn audio_files(files: &[proto::AudioFile]) -> Vec<AudioFile> {
    files
        .iter()
        .filter_map(|f| {
            let format = f.format?.value();
            match FileId::from_raw(f.file_id.as_deref().unwrap_or_default()) {
                Ok(file_id) => Some(AudioFile {
                    file_id,
                    format: AudioFormat::from_proto(format),
                }),
                Err(e) => {
                    tracing::debug!("skipping an audio file: {e}");
                    None
                }
            }
        })
        .collect()
}

/// The ids of a list of track stubs (album discs, top tracks); `what` names them in errors.
fn track_gids(tracks: &[proto::Track], what: &str) -> Result<Vec<SpotifyId>, ApiError> {
    tracks.iter().map(|t| gid(&t.gid, what)).collect()
}

/// A list of images followed by those of an optional image group.
fn images_with_group(list: &[proto::Image], group: Option<&proto::ImageGroup>) -> Vec<Image> {
    let mut out = images(list);
    if let Some(g) = group {
        out.extend(images(&g.image));
    }
    out
}

fn images(images: &[proto::Image]) -> Vec<Image> {
    images
        .iter()
        .filter_map(|i| {
            let file_id = FileId::from_raw(i.file_id.as_deref().unwrap_or_default()).ok()?;
            let size = match i.size.map_or(0, |s| s.value()) {
                1 => ImageSize::Small,
                2 => ImageSize::Large,
                3 => ImageSize::XLarge,
                _ => ImageSize::Default,
            };
            Some(Image {
                file_id,
                size,
                width: i.width(),
                height: i.height(),
            })
        })
        .collect()
}

fn date(d: &proto::Date) -> Date {
    let part = |v: Option<i32>| v.and_then(|v| u32::try_from(v).ok());
    Date {
        year: d.year(),
        month: part(d.month),
        day: part(d.day),
        hour: part(d.hour),
        minute: part(d.minute),
    }
}

/// Concatenated two-letter codes ("SEDKNO") → ["SE", "DK", "NO"]; a dangling letter is ignored.
pub fn split_countries(codes: &str) -> Vec<String> {
    codes
        .as_bytes()
        .chunks_exact(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}

fn restrictions(rs: &[proto::Restriction]) -> Vec<Restriction> {
    use proto::restriction::Country_restriction as C;
    rs.iter()
        .map(|r| {
            let (allowed, forbidden) = match &r.country_restriction {
                Some(C::CountriesAllowed(s)) => (Some(split_countries(s)), None),
                Some(C::CountriesForbidden(s)) => (None, Some(split_countries(s))),
                _ => (None, None),
            };
            Restriction {
                catalogues: r.catalogue_str.clone(),
                countries_allowed: allowed,
                countries_forbidden: forbidden,
            }
        })
        .collect()
}

fn availability(av: &[proto::Availability]) -> Vec<Availability> {
    av.iter()
        .map(|a| Availability {
            catalogues: a.catalogue_str.clone(),
            start: a.start.as_ref().map(date),
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests;
