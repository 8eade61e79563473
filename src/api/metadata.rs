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
pub(crate) mod tests {
    use super::*;
    use proto::audio_file::Format as F;
    use protobuf::MessageField;

    pub(crate) fn fid(n: u8) -> FileId {
        FileId([n; 20])
    }

    fn af(n: u8, format: AudioFormat) -> AudioFile {
        AudioFile {
            file_id: fid(n),
            format,
        }
    }

    pub(crate) fn proto_track(id: u128) -> proto::Track {
        let mut album = proto::Album::new();
        album.gid = Some(7u128.to_be_bytes().to_vec());
        album.name = Some("Album".into());
        let mut artist = proto::Artist::new();
        artist.gid = Some(8u128.to_be_bytes().to_vec());
        artist.name = Some("Artist".into());
        let mut file = proto::AudioFile::new();
        file.file_id = Some(vec![0xab; 20]);
        file.format = Some(F::OGG_VORBIS_320.into());
        let mut t = proto::Track::new();
        t.gid = Some(id.to_be_bytes().to_vec());
        t.name = Some("Song".into());
        t.album = MessageField::some(album);
        t.artist.push(artist);
        t.number = Some(3);
        t.disc_number = Some(1);
        t.duration = Some(215_000);
        t.explicit = Some(true);
        t.file.push(file);
        t
    }

    #[test]
    fn format_numbers_round_trip() {
        for n in -1..30 {
            assert_eq!(AudioFormat::from_proto(n).to_proto(), n);
        }
        assert_eq!(AudioFormat::from_proto(7), AudioFormat::Other(7)); // MP3_160_ENC
        assert_eq!(AudioFormat::from_proto(16), AudioFormat::Other(16)); // FLAC
        assert_eq!(
            AudioFormat::OggVorbis160.bytes_per_second(),
            Some(20 * 1024)
        );
        assert_eq!(AudioFormat::Other(16).bytes_per_second(), None);
    }

    #[test]
    fn bitrate_parse_and_default() {
        assert_eq!(Bitrate::default(), Bitrate::B320);
        assert_eq!("96".parse::<Bitrate>(), Ok(Bitrate::B96));
        assert_eq!(" 160 ".parse::<Bitrate>(), Ok(Bitrate::B160));
        assert_eq!("320".parse::<Bitrate>(), Ok(Bitrate::B320));
        let e = "128".parse::<Bitrate>().expect_err("bad");
        assert!(e.to_string().contains("\"128\""));
        assert_eq!(Bitrate::B160.to_string(), "160");
    }

    #[test]
    fn choose_file_each_bitrate_full_set() {
        use AudioFormat::*;
        let all = [
            af(1, Mp3_96),
            af(2, Mp3_160),
            af(3, Mp3_256),
            af(4, Mp3_320),
            af(5, OggVorbis96),
            af(6, OggVorbis160),
            af(7, OggVorbis320),
        ];
        assert_eq!(
            choose_file(&all, Bitrate::B96).map(|f| f.format),
            Some(OggVorbis96)
        );
        assert_eq!(
            choose_file(&all, Bitrate::B160).map(|f| f.format),
            Some(OggVorbis160)
        );
        assert_eq!(
            choose_file(&all, Bitrate::B320).map(|f| f.format),
            Some(OggVorbis320)
        );
    }

    #[test]
    fn choose_file_odd_sets() {
        use AudioFormat::*;
        // Only MP3s: 320 prefers MP3_320, then MP3_256 before any 160.
        let mp3 = [af(1, Mp3_96), af(2, Mp3_256), af(3, Mp3_160)];
        assert_eq!(
            choose_file(&mp3, Bitrate::B320).map(|f| f.format),
            Some(Mp3_256)
        );
        assert_eq!(
            choose_file(&mp3, Bitrate::B160).map(|f| f.format),
            Some(Mp3_160)
        );
        assert_eq!(
            choose_file(&mp3, Bitrate::B96).map(|f| f.format),
            Some(Mp3_96)
        );
        // 96 without any 96 file goes up to 160 (Ogg before MP3), never down.
        let mid = [af(1, Mp3_160), af(2, OggVorbis160), af(3, OggVorbis320)];
        assert_eq!(choose_file(&mid, Bitrate::B96), Some(af(2, OggVorbis160)));
        // 160 with only extremes: 96 beats 256/320.
        let ends = [af(1, OggVorbis320), af(2, Mp3_96)];
        assert_eq!(choose_file(&ends, Bitrate::B160), Some(af(2, Mp3_96)));
        // 320 with only low ones: best available.
        let low = [af(1, OggVorbis96), af(2, Mp3_160)];
        assert_eq!(choose_file(&low, Bitrate::B320), Some(af(2, Mp3_160)));
        // AAC / FLAC / MP3_160_ENC are never chosen.
        let odd = [af(1, Other(16)), af(2, Other(8)), af(3, Other(7))];
        for b in [Bitrate::B96, Bitrate::B160, Bitrate::B320] {
            assert_eq!(choose_file(&odd, b), None);
            assert_eq!(choose_file(&[], b), None);
        }
        // Duplicates: the first file of the winning format.
        let dup = [af(1, OggVorbis320), af(2, OggVorbis320)];
        assert_eq!(choose_file(&dup, Bitrate::B320), Some(af(1, OggVorbis320)));
    }

    fn r(cat: &[&str], allowed: Option<&str>, forbidden: Option<&str>) -> Restriction {
        Restriction {
            catalogues: cat.iter().map(|s| s.to_string()).collect(),
            countries_allowed: allowed.map(split_countries),
            countries_forbidden: forbidden.map(split_countries),
        }
    }

    #[test]
    fn restriction_rules() {
        let now = 1_700_000_000;
        let ok = |rs: &[Restriction], c: &str| check_available(rs, &[], c, "premium", now);
        assert_eq!(split_countries("SEDKNOX"), vec!["SE", "DK", "NO"]);
        // No restrictions: available.
        assert_eq!(ok(&[], "SE"), Ok(()));
        // Allow list.
        let allow = [r(&["premium"], Some("SEDKNO"), None)];
        assert_eq!(ok(&allow, "DK"), Ok(()));
        assert_eq!(ok(&allow, "US"), Err(Unavailable::NotWhitelisted));
        // An explicit, empty allow list allows nowhere (librespot).
        assert_eq!(
            ok(&[r(&["premium"], Some(""), None)], "SE"),
            Err(Unavailable::NotWhitelisted)
        );
        // Forbid list.
        let forbid = [r(&["premium"], None, Some("USCA"))];
        assert_eq!(ok(&forbid, "CA"), Err(Unavailable::Blacklisted));
        assert_eq!(ok(&forbid, "SE"), Ok(()));
        // Restrictions of another catalogue do not apply.
        let free_only = [r(&["free"], None, Some("SE"))];
        assert_eq!(ok(&free_only, "SE"), Ok(()));
        assert_eq!(
            check_available(&free_only, &[], "SE", "free", now),
            Err(Unavailable::Blacklisted)
        );
        // The first matching restriction decides.
        let two = [
            r(&["premium"], Some("SE"), None),
            r(&["premium"], None, Some("SE")),
        ];
        assert_eq!(ok(&two, "SE"), Ok(()));
        // A matching restriction without country lists does not decide; the next one does.
        let vague = [
            r(&["premium"], None, None),
            r(&["premium"], None, Some("SE")),
        ];
        assert_eq!(ok(&vague, "SE"), Err(Unavailable::Blacklisted));
    }

    #[test]
    fn catalogue_from_product_info() {
        let mut p = std::collections::HashMap::new();
        assert_eq!(user_catalogue(&p), "premium");
        p.insert("catalogue".to_string(), "free".to_string());
        assert_eq!(user_catalogue(&p), "free");
    }

    #[test]
    fn availability_windows() {
        let at = |y| Availability {
            catalogues: vec!["premium".into()],
            start: Some(Date {
                year: y,
                month: Some(1),
                day: Some(1),
                ..Date::default()
            }),
        };
        let now = Date {
            year: 2025,
            month: Some(6),
            day: Some(1),
            ..Date::default()
        }
        .unix_seconds();
        assert_eq!(
            check_available(&[], &[at(2030)], "SE", "premium", now),
            Err(Unavailable::Embargo)
        );
        assert_eq!(
            check_available(&[], &[at(2030), at(2020)], "SE", "premium", now),
            Ok(())
        );
        assert_eq!(check_available(&[], &[], "SE", "premium", now), Ok(()));
        // Known dates.
        assert_eq!(
            Date {
                year: 1970,
                ..Date::default()
            }
            .unix_seconds(),
            0
        );
        let d = Date {
            year: 2000,
            month: Some(3),
            day: Some(1),
            hour: Some(12),
            minute: Some(30),
        };
        assert_eq!(d.unix_seconds(), 951_913_800);
    }

    #[test]
    fn track_parses() {
        let mut p = proto_track(42);
        let mut awr = proto::ArtistWithRole::new();
        awr.artist_gid = Some(8u128.to_be_bytes().to_vec());
        p.artist_with_role.push(awr);
        let mut alt = proto::Track::new();
        alt.gid = Some(43u128.to_be_bytes().to_vec());
        p.alternative.push(alt);
        let mut bad_file = proto::AudioFile::new();
        bad_file.file_id = Some(vec![1; 5]);
        bad_file.format = Some(F::MP3_320.into());
        p.file.push(bad_file);
        let mut flac = proto::AudioFile::new();
        flac.file_id = Some(vec![2; 16]);
        flac.format = Some(F::FLAC_FLAC.into());
        p.file.push(flac);
        let mut restr = proto::Restriction::new();
        restr.catalogue_str.push("premium".into());
        restr.set_countries_forbidden("USCA".into());
        p.restriction.push(restr);

        let bytes = p.write_to_bytes().expect("encode");
        let t = Track::from_bytes(&bytes).expect("valid");
        assert_eq!(t.id, SpotifyId(42));
        assert_eq!(t.name, "Song");
        assert_eq!(
            t.album,
            AlbumRef {
                id: SpotifyId(7),
                name: "Album".into()
            }
        );
        assert_eq!(
            t.artists,
            vec![ArtistRef {
                id: SpotifyId(8),
                name: "Artist".into()
            }]
        );
        assert_eq!(
            (t.number, t.disc_number, t.duration_ms, t.explicit),
            (3, 1, 215_000, true)
        );
        assert_eq!(t.alternatives, vec![SpotifyId(43)]);
        // The 5-byte file id is dropped; the 16-byte one is zero-padded.
        let mut padded = [0u8; 20];
        padded[..16].copy_from_slice(&[2; 16]);
        assert_eq!(
            t.files,
            vec![
                af(0xab, AudioFormat::OggVorbis320),
                AudioFile {
                    file_id: FileId(padded),
                    format: AudioFormat::Other(16)
                }
            ]
        );
        assert!(t.is_available("SE", "premium"));
        assert!(!t.is_available("US", "premium"));
        assert_eq!(
            t.check_available("CA", "premium"),
            Err(Unavailable::Blacklisted)
        );
        assert!(t.is_available("US", "free"));
        assert_eq!(
            t.uri(),
            format!("spotify:track:{}", SpotifyId(42).to_base62())
        );
    }

    fn malformed(r: Result<Track, ApiError>) -> String {
        match r {
            Err(ApiError::Malformed(m)) => m,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn track_validation() {
        let mut p = proto_track(1);
        p.gid = Some(vec![1; 15]);
        assert!(malformed(Track::from_proto(&p)).contains("track gid must be 16 bytes, got 15"));
        let mut p = proto_track(1);
        p.gid = None;
        assert!(malformed(Track::from_proto(&p)).contains("got 0"));
        let mut p = proto_track(1);
        p.album = MessageField::none();
        assert!(malformed(Track::from_proto(&p)).contains("no album"));
        let mut p = proto_track(1);
        p.album.mut_or_insert_default().gid = Some(vec![0; 20]);
        assert!(malformed(Track::from_proto(&p)).contains("album"));
        let mut p = proto_track(1);
        p.duration = Some(0);
        assert!(malformed(Track::from_proto(&p)).contains("duration"));
        let mut p = proto_track(1);
        p.duration = None;
        assert!(malformed(Track::from_proto(&p)).contains("duration"));
        let mut p = proto_track(1);
        p.artist[0].gid = Some(vec![1; 17]);
        assert!(malformed(Track::from_proto(&p)).contains("artist"));
        let mut p = proto_track(1);
        p.alternative.push(proto::Track::new());
        assert!(malformed(Track::from_proto(&p)).contains("alternative"));
        let mut p = proto_track(1);
        p.artist_with_role.push(proto::ArtistWithRole::new());
        assert!(malformed(Track::from_proto(&p)).contains("artist_with_role"));
        // Garbage bytes.
        assert!(malformed(Track::from_bytes(&[0xff, 0xff, 0xff])).contains("cannot decode"));
        // Empty bytes decode to an empty message: no gid.
        assert!(malformed(Track::from_bytes(&[])).contains("gid"));
    }

    #[test]
    fn album_artist_episode_show_parse() {
        let g = |n: u128| Some(n.to_be_bytes().to_vec());
        let mut a = proto::Album::new();
        a.gid = g(1);
        a.name = Some("LP".into());
        a.type_ = Some(proto::album::Type::EP.into());
        let mut date_p = proto::Date::new();
        date_p.year = Some(1999);
        date_p.month = Some(12);
        a.date = MessageField::some(date_p);
        for (n, ids) in [(1, vec![10u128, 11]), (2, vec![12])] {
            let mut d = proto::Disc::new();
            d.number = Some(n);
            for id in ids {
                let mut t = proto::Track::new();
                t.gid = g(id);
                d.track.push(t);
            }
            a.disc.push(d);
        }
        let mut img = proto::Image::new();
        img.file_id = Some(vec![9; 20]);
        img.size = Some(proto::image::Size::LARGE.into());
        img.width = Some(640);
        let mut cg = proto::ImageGroup::new();
        cg.image.push(img);
        a.cover_group = MessageField::some(cg);
        let album = Album::from_bytes(&a.write_to_bytes().expect("enc")).expect("valid");
        assert_eq!(
            album.tracks,
            vec![SpotifyId(10), SpotifyId(11), SpotifyId(12)]
        );
        assert_eq!(album.discs.len(), 2);
        assert_eq!(album.album_type, AlbumType::Ep);
        assert_eq!(
            album.date.map(|d| (d.year, d.month, d.day)),
            Some((1999, Some(12), None))
        );
        assert_eq!(album.covers.len(), 1);
        assert_eq!(album.covers[0].size, ImageSize::Large);
        a.disc[0].track[0].gid = Some(vec![1]);
        assert!(matches!(Album::from_proto(&a), Err(ApiError::Malformed(_))));

        let mut ar = proto::Artist::new();
        ar.gid = g(2);
        ar.name = Some("Band".into());
        for (country, id) in [("SE", 20u128), ("", 21)] {
            let mut tt = proto::TopTracks::new();
            tt.country = Some(country.into());
            let mut t = proto::Track::new();
            t.gid = g(id);
            tt.track.push(t);
            ar.top_track.push(tt);
        }
        let mut group = proto::AlbumGroup::new();
        for id in [30u128, 31] {
            let mut al = proto::Album::new();
            al.gid = g(id);
            group.album.push(al);
        }
        ar.album_group.push(group);
        ar.single_group.push(proto::AlbumGroup::new()); // empty group: skipped
        let artist = Artist::from_bytes(&ar.write_to_bytes().expect("enc")).expect("valid");
        assert_eq!(artist.albums, vec![SpotifyId(30)]);
        assert!(artist.singles.is_empty());
        assert_eq!(artist.top_tracks_for("SE"), &[SpotifyId(20)]);
        assert_eq!(artist.top_tracks_for("DE"), &[SpotifyId(21)]);

        let mut e = proto::Episode::new();
        e.gid = g(3);
        e.name = Some("Ep 1".into());
        e.duration = Some(60_000);
        let mut show = proto::Show::new();
        show.gid = g(4);
        show.name = Some("Pod".into());
        e.show = MessageField::some(show);
        let mut audio = proto::AudioFile::new();
        audio.file_id = Some(vec![5; 20]);
        audio.format = Some(F::OGG_VORBIS_96.into());
        e.audio.push(audio);
        let ep = Episode::from_bytes(&e.write_to_bytes().expect("enc")).expect("valid");
        assert_eq!(
            ep.show,
            Some(ShowRef {
                id: SpotifyId(4),
                name: "Pod".into()
            })
        );
        assert_eq!(ep.files, vec![af(5, AudioFormat::OggVorbis96)]);
        assert!(ep.is_available("SE", "premium"));
        e.duration = Some(-1);
        assert!(matches!(
            Episode::from_proto(&e),
            Err(ApiError::Malformed(_))
        ));

        let mut s = proto::Show::new();
        s.gid = g(4);
        s.name = Some("Pod".into());
        let mut ep_p = proto::Episode::new();
        ep_p.gid = g(3);
        s.episode.push(ep_p);
        let show = Show::from_bytes(&s.write_to_bytes().expect("enc")).expect("valid");
        assert_eq!(show.episodes, vec![SpotifyId(3)]);
        s.gid = None;
        assert!(matches!(Show::from_proto(&s), Err(ApiError::Malformed(_))));
    }

    proptest::proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = Track::from_bytes(&bytes);
            let _ = Album::from_bytes(&bytes);
            let _ = Artist::from_bytes(&bytes);
            let _ = Episode::from_bytes(&bytes);
            let _ = Show::from_bytes(&bytes);
        }

        #[test]
        fn mutated_tracks_never_panic(
            flips in proptest::collection::vec((0usize..4096, proptest::num::u8::ANY), 1..8)
        ) {
            let mut bytes = proto_track(99).write_to_bytes().expect("enc");
            for (pos, val) in flips {
                let i = pos % bytes.len();
                bytes[i] = val;
            }
            let _ = Track::from_bytes(&bytes);
        }
    }
}
