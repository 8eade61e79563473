//! The simulator's music catalog: artists, albums, tracks, podcast shows and episodes,
//! playlists, and users with their libraries (saved tracks/albums/shows, followed artists,
//! playlists), all with stable ids derived from names (see `ids`). [`Catalog::demo`] is the
//! hand-made demo world (eight recordings on three albums by three artists, plus special tracks
//! for tests); [`Catalog::synthetic`] adds any number of generated tracks that reuse the demo
//! recordings. It also knows every audio file: which recording and format it holds, whom it
//! belongs to, and therefore which audio key the AP hands out for (file, item). Read by the
//! HTTP endpoints and the AP; depends on no client module.

use std::collections::HashMap;

use super::ids::{self, FileId, Gid, Kind};
use super::media::{self, DEMO_AUDIO, FORMATS};

/// What kind of release an album is (Album.Type in metadata.proto).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlbumType {
    Album,
    Single,
    Compilation,
}

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

#[derive(Debug, Clone)]
pub struct Artist {
    pub gid: Gid,
    pub name: String,
    pub genres: Vec<String>,
    pub popularity: i32,
    /// Albums (indices into [`Catalog::albums`]) on which this artist is a main artist.
    pub albums: Vec<usize>,
    /// Most popular tracks first.
    pub top_tracks: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Album {
    pub gid: Gid,
    pub name: String,
    pub artists: Vec<usize>,
    pub album_type: AlbumType,
    pub label: String,
    pub release: Date,
    pub popularity: i32,
    /// The album's listed tracks in disc/number order (hidden alternatives are not listed).
    pub tracks: Vec<usize>,
}

/// One playable audio file of a track or episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioFileEntry {
    pub file_id: FileId,
    /// metadata.AudioFile.Format: 0 OGG_VORBIS_96, 1 OGG_VORBIS_160, 2 OGG_VORBIS_320.
    pub format: i32,
}

#[derive(Debug, Clone)]
pub struct Track {
    pub gid: Gid,
    pub name: String,
    pub album: usize,
    pub artists: Vec<usize>,
    pub number: u32,
    pub disc: u32,
    pub duration_ms: u64,
    pub popularity: i32,
    pub explicit: bool,
    pub isrc: String,
    /// The demo recording behind the files (index into `media::DEMO_AUDIO`).
    pub audio: Option<usize>,
    /// Empty for a track that must be played through an alternative.
    pub files: Vec<AudioFileEntry>,
    /// Tracks to play instead when `files` is empty.
    pub alternatives: Vec<usize>,
    /// Set on a hidden alternative: the track it stands in for.
    pub alternative_of: Option<usize>,
    /// Concatenated two-letter codes where the track may not be played (premium and free).
    pub countries_forbidden: String,
    /// The AP refuses the audio key (the CDN serves these files unencrypted).
    pub key_refused: bool,
}

#[derive(Debug, Clone)]
pub struct Show {
    pub gid: Gid,
    pub name: String,
    pub publisher: String,
    pub description: String,
    /// Newest first.
    pub episodes: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Episode {
    pub gid: Gid,
    pub name: String,
    pub show: usize,
    pub description: String,
    pub number: u32,
    pub release: Date,
    pub duration_ms: u64,
    pub audio: Option<usize>,
    pub files: Vec<AudioFileEntry>,
}

#[derive(Debug, Clone)]
pub struct Playlist {
    pub gid: Gid,
    pub name: String,
    pub description: String,
    /// Username of the owner.
    pub owner: String,
    pub public: bool,
    pub collaborative: bool,
    pub tracks: Vec<usize>,
}

/// A user's library (what the Web API's `/me/...` endpoints serve).
#[derive(Debug, Clone)]
pub struct User {
    pub username: String,
    pub display_name: String,
    pub saved_tracks: Vec<usize>,
    pub saved_albums: Vec<usize>,
    pub saved_shows: Vec<usize>,
    pub followed_artists: Vec<usize>,
    /// Owned and followed playlists, in library order.
    pub playlists: Vec<usize>,
}

/// An item of the catalog by kind and index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entity {
    Track(usize),
    Album(usize),
    Artist(usize),
    Show(usize),
    Episode(usize),
    Playlist(usize),
}

/// Where an audio file comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileRef {
    /// Index into `media::DEMO_AUDIO`.
    pub audio: usize,
    /// Index into `media::FORMATS` (= the format number).
    pub format: usize,
    /// The track or episode that lists the file.
    pub owner: Entity,
    /// Served without encryption (the key-refused track).
    pub plain: bool,
}

/// The indices of the tracks tests single out.
#[derive(Debug, Clone, Copy)]
pub struct Specials {
    /// No files; its alternative has files.
    pub unplayable_with_alternative: usize,
    /// The hidden alternative of the track above.
    pub alternative: usize,
    /// Forbidden in SE (the demo premium account's country).
    pub restricted_in_se: usize,
    /// The AP refuses its audio key.
    pub key_refused: usize,
}

/// What to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CatalogSpec {
    /// The demo world only.
    #[default]
    Demo,
    /// The demo world plus `tracks` generated tracks (reusing the demo recordings).
    Synthetic { tracks: usize },
}

/// The whole catalog; immutable once built.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub artists: Vec<Artist>,
    pub albums: Vec<Album>,
    pub tracks: Vec<Track>,
    pub shows: Vec<Show>,
    pub episodes: Vec<Episode>,
    pub playlists: Vec<Playlist>,
    pub users: Vec<User>,
    /// The main demo album.
    pub demo_album: usize,
    /// The eight demo tracks, recording `i` at position `i`.
    pub demo_tracks: Vec<usize>,
    pub specials: Specials,
    index: HashMap<Gid, Entity>,
    files: HashMap<FileId, FileRef>,
}

const ADJECTIVES: [&str; 32] = [
    "Amber", "Blue", "Crimson", "Distant", "Electric", "Faded", "Golden", "Hollow", "Iron", "Jade",
    "Kinetic", "Lunar", "Midnight", "Neon", "Open", "Paper", "Quiet", "Restless", "Silver",
    "Tidal", "Ultra", "Velvet", "Wild", "Young", "Zero", "Analog", "Broken", "Cosmic", "Dusty",
    "Endless", "Frozen", "Gentle",
];
const NOUNS: [&str; 32] = [
    "Harbor",
    "Signal",
    "Garden",
    "Engine",
    "Mirror",
    "Orbit",
    "Canyon",
    "Lantern",
    "Meadow",
    "Circuit",
    "Ember",
    "Forest",
    "Glacier",
    "Horizon",
    "Island",
    "Jungle",
    "Kingdom",
    "Lagoon",
    "Machine",
    "Nebula",
    "Ocean",
    "Prairie",
    "Quarry",
    "River",
    "Satellite",
    "Thunder",
    "Valley",
    "Window",
    "Yard",
    "Zenith",
    "Comet",
    "Delta",
];
const GENRES: [&str; 8] = [
    "ambient",
    "drone",
    "synth-pop",
    "minimal",
    "chiptune",
    "electronica",
    "lo-fi",
    "new age",
];

/// Incremental construction with the index kept in step.
#[derive(Default)]
struct Builder {
    artists: Vec<Artist>,
    albums: Vec<Album>,
    tracks: Vec<Track>,
    shows: Vec<Show>,
    episodes: Vec<Episode>,
    playlists: Vec<Playlist>,
    users: Vec<User>,
    index: HashMap<Gid, Entity>,
    files: HashMap<FileId, FileRef>,
}

/// Demo-track definition: (name, extra artists beyond the album's, popularity, explicit).
type TrackDef<'a> = (&'a str, &'a [usize], i32, bool);

impl Builder {
    fn artist(&mut self, ns: &str, name: &str, genres: &[&str], popularity: i32) -> usize {
        let i = self.artists.len();
        let gid = ids::gid(&format!("{ns}artist"), name);
        self.index.insert(gid, Entity::Artist(i));
        self.artists.push(Artist {
            gid,
            name: name.to_owned(),
            genres: genres.iter().map(|g| (*g).to_owned()).collect(),
            popularity,
            albums: Vec::new(),
            top_tracks: Vec::new(),
        });
        i
    }

    #[allow(clippy::too_many_arguments)]
    fn album(
        &mut self,
        ns: &str,
        name: &str,
        artists: Vec<usize>,
        album_type: AlbumType,
        label: &str,
        release: Date,
        popularity: i32,
    ) -> usize {
        let i = self.albums.len();
        let gid = ids::gid(&format!("{ns}album"), name);
        self.index.insert(gid, Entity::Album(i));
        for &a in &artists {
            if let Some(artist) = self.artists.get_mut(a) {
                artist.albums.push(i);
            }
        }
        self.albums.push(Album {
            gid,
            name: name.to_owned(),
            artists,
            album_type,
            label: label.to_owned(),
            release,
            popularity,
            tracks: Vec::new(),
        });
        i
    }

    fn files(&mut self, key: &str, audio: Option<usize>, owner: Entity) -> Vec<AudioFileEntry> {
        let Some(audio) = audio else {
            return Vec::new();
        };
        FORMATS
            .iter()
            .enumerate()
            .map(|(format_index, &format)| {
                let file_id = ids::file_id("file", &format!("{key}/{format}"));
                self.files.insert(
                    file_id,
                    FileRef {
                        audio,
                        format: format_index,
                        owner,
                        plain: false,
                    },
                );
                AudioFileEntry { file_id, format }
            })
            .collect()
    }

    /// Adds a track to `album` (listed unless `hidden`).
    fn track(
        &mut self,
        key: &str,
        def: TrackDef<'_>,
        album: usize,
        audio: Option<usize>,
        hidden: bool,
    ) -> usize {
        let (name, extra_artists, popularity, explicit) = def;
        let i = self.tracks.len();
        let gid = ids::gid("track", key);
        self.index.insert(gid, Entity::Track(i));
        let files = self.files(key, audio, Entity::Track(i));
        let (mut artists, listed) = match self.albums.get(album) {
            Some(a) => (a.artists.clone(), a.tracks.len()),
            None => (Vec::new(), 0),
        };
        for a in extra_artists {
            if !artists.contains(a) {
                artists.push(*a);
            }
        }
        let duration_ms = audio
            .and_then(media::demo_info)
            .map_or(180_000, |info| info.duration_ms());
        let number = u32::try_from(listed + 1).unwrap_or(u32::MAX);
        if !hidden {
            if let Some(a) = self.albums.get_mut(album) {
                a.tracks.push(i);
            }
        }
        self.tracks.push(Track {
            gid,
            name: name.to_owned(),
            album,
            artists,
            number,
            disc: 1,
            duration_ms,
            popularity,
            explicit,
            isrc: format!("QZTNA{:07}", i),
            audio,
            files,
            alternatives: Vec::new(),
            alternative_of: None,
            countries_forbidden: String::new(),
            key_refused: false,
        });
        i
    }

    fn show(&mut self, name: &str, publisher: &str, description: &str) -> usize {
        let i = self.shows.len();
        let gid = ids::gid("show", name);
        self.index.insert(gid, Entity::Show(i));
        self.shows.push(Show {
            gid,
            name: name.to_owned(),
            publisher: publisher.to_owned(),
            description: description.to_owned(),
            episodes: Vec::new(),
        });
        i
    }

    fn episode(
        &mut self,
        show: usize,
        name: &str,
        description: &str,
        release: Date,
        audio: usize,
    ) -> usize {
        let i = self.episodes.len();
        let key = format!("{show}/{name}");
        let gid = ids::gid("episode", &key);
        self.index.insert(gid, Entity::Episode(i));
        let files = self.files(&format!("episode/{key}"), Some(audio), Entity::Episode(i));
        let number = match self.shows.get_mut(show) {
            Some(s) => {
                s.episodes.insert(0, i);
                u32::try_from(s.episodes.len()).unwrap_or(u32::MAX)
            }
            None => 0,
        };
        self.episodes.push(Episode {
            gid,
            name: name.to_owned(),
            show,
            description: description.to_owned(),
            number,
            release,
            duration_ms: media::demo_info(audio).map_or(60_000, |i| i.duration_ms()),
            audio: Some(audio),
            files,
        });
        i
    }

    fn playlist(
        &mut self,
        owner: &str,
        name: &str,
        description: &str,
        tracks: Vec<usize>,
    ) -> usize {
        let i = self.playlists.len();
        let gid = ids::gid("playlist", &format!("{owner}/{name}"));
        self.index.insert(gid, Entity::Playlist(i));
        self.playlists.push(Playlist {
            gid,
            name: name.to_owned(),
            description: description.to_owned(),
            owner: owner.to_owned(),
            public: true,
            collaborative: false,
            tracks,
        });
        i
    }

    /// Sets every artist's top tracks from the tracks' popularity.
    fn rank_top_tracks(&mut self) {
        let mut by_artist: Vec<Vec<usize>> = vec![Vec::new(); self.artists.len()];
        for (i, t) in self.tracks.iter().enumerate() {
            if t.alternative_of.is_some() {
                continue;
            }
            for &a in &t.artists {
                if let Some(list) = by_artist.get_mut(a) {
                    list.push(i);
                }
            }
        }
        for (artist, mut list) in self.artists.iter_mut().zip(by_artist) {
            list.sort_by_key(|&t| std::cmp::Reverse(self.tracks[t].popularity));
            list.truncate(10);
            artist.top_tracks = list;
        }
    }
}

const fn date(year: i32, month: u32, day: u32) -> Date {
    Date { year, month, day }
}

impl Catalog {
    /// The demo world: "Pure Tones" (The Sine Waves, recordings 1–4), "Overtone Valley"
    /// (Harmonic Drift, 5–6), "Pluck & Hum" (Osc Kollektiv, 7–8), the special tracks on "Edge
    /// Cases" (Test Pattern), one podcast, three playlists and a library per built-in account.
    pub fn demo() -> Catalog {
        let mut b = Builder::default();
        let sine = b.artist("", "The Sine Waves", &["ambient", "drone"], 61);
        let drift = b.artist("", "Harmonic Drift", &["minimal", "new age"], 47);
        let osc = b.artist("", "Osc Kollektiv", &["electronica", "synth-pop"], 55);
        let pattern = b.artist("", "Test Pattern", &["lo-fi"], 12);

        let pure = b.album(
            "",
            "Pure Tones",
            vec![sine],
            AlbumType::Album,
            "Tonearm Records",
            date(2021, 3, 14),
            58,
        );
        let valley = b.album(
            "",
            "Overtone Valley",
            vec![drift],
            AlbumType::Album,
            "Quiet Harbor",
            date(2019, 9, 6),
            44,
        );
        let pluck = b.album(
            "",
            "Pluck & Hum",
            vec![osc],
            AlbumType::Album,
            "Tonearm Records",
            date(2023, 11, 24),
            52,
        );
        let edge = b.album(
            "",
            "Edge Cases",
            vec![pattern],
            AlbumType::Compilation,
            "Tonearm Test Labs",
            date(2024, 1, 1),
            5,
        );

        let defs: [(usize, TrackDef<'_>); 8] = [
            (pure, ("Open Circuit", &[], 64, false)),
            (pure, ("Morning Carrier", &[], 57, false)),
            (pure, ("Middle C Sunrise", &[], 71, false)),
            (pure, ("Harmonic Lane", &[drift], 49, false)),
            (valley, ("Fifth Avenue Drone", &[], 46, false)),
            (valley, ("Tremolo Tide", &[], 52, true)),
            (pluck, ("Garden of Plucks", &[], 59, false)),
            (pluck, ("A440", &[sine], 66, false)),
        ];
        let demo_tracks: Vec<usize> = defs
            .iter()
            .enumerate()
            .map(|(audio, (album, def))| {
                let key = format!("demo/{}/{}", b.albums[*album].name, def.0);
                b.track(&key, *def, *album, Some(audio), false)
            })
            .collect();

        let lost = b.track(
            "demo/Edge Cases/Lost Master",
            ("Lost Master", &[], 20, false),
            edge,
            None,
            false,
        );
        let remaster = b.track(
            "demo/Edge Cases/Lost Master (2024 Remaster)",
            ("Lost Master (2024 Remaster)", &[], 18, false),
            edge,
            Some(1),
            true,
        );
        b.tracks[lost].alternatives.push(remaster);
        b.tracks[lost].duration_ms = b.tracks[remaster].duration_ms;
        b.tracks[remaster].alternative_of = Some(lost);
        let restricted = b.track(
            "demo/Edge Cases/Not in Sweden",
            ("Not in Sweden", &[], 15, false),
            edge,
            Some(4),
            false,
        );
        b.tracks[restricted].countries_forbidden = "DKFISE".to_owned();
        let refused = b.track(
            "demo/Edge Cases/Locked Groove",
            ("Locked Groove", &[], 10, false),
            edge,
            Some(6),
            false,
        );
        b.tracks[refused].key_refused = true;
        for f in &b.tracks[refused].files {
            if let Some(r) = b.files.get_mut(&f.file_id) {
                r.plain = true;
            }
        }

        let radio = b.show(
            "Tonearm Test Radio",
            "Tonearm Sim",
            "Short shows about sine waves, made for testing podcasts offline.",
        );
        b.episode(
            radio,
            "Tuning Up",
            "Where we find A and stay there.",
            date(2024, 2, 1),
            0,
        );
        b.episode(
            radio,
            "Overtones Explained",
            "Harmonics, one at a time.",
            date(2024, 3, 1),
            4,
        );
        b.episode(
            radio,
            "The Joint Between Tracks",
            "Gapless playback, by ear.",
            date(2024, 4, 1),
            7,
        );

        let t = &demo_tracks;
        let demo_mix = b.playlist(
            "tonearm-demo",
            "Demo Mix",
            "Every demo track, shuffled by hand.",
            vec![t[2], t[0], t[7], t[4], t[1], t[6], t[3], t[5]],
        );
        let edge_mix = b.playlist(
            "tonearm-demo",
            "Edge Cases Mix",
            "Tracks that are hard to play, between easy ones.",
            vec![t[0], lost, restricted, t[1], refused, t[2]],
        );
        let alice_picks = b.playlist(
            "alice",
            "Alice's Picks",
            "High notes only.",
            vec![t[7], t[6], t[5]],
        );

        b.users = vec![
            User {
                username: "tonearm-demo".to_owned(),
                display_name: "Tonearm Demo".to_owned(),
                saved_tracks: vec![t[0], t[2], t[4], t[7]],
                saved_albums: vec![pure, valley],
                saved_shows: vec![radio],
                followed_artists: vec![sine, osc],
                playlists: vec![demo_mix, edge_mix, alice_picks],
            },
            User {
                username: "alice".to_owned(),
                display_name: "Alice".to_owned(),
                saved_tracks: vec![t[5], t[6], t[7]],
                saved_albums: vec![pluck],
                saved_shows: Vec::new(),
                followed_artists: vec![osc, drift],
                playlists: vec![alice_picks, demo_mix],
            },
            User {
                username: "frank-free".to_owned(),
                display_name: "Frank".to_owned(),
                saved_tracks: vec![t[1]],
                saved_albums: Vec::new(),
                saved_shows: Vec::new(),
                followed_artists: Vec::new(),
                playlists: Vec::new(),
            },
            // The account whose audio keys the AP refuses: a small library to play from.
            User {
                username: "keyless".to_owned(),
                display_name: "Keyless".to_owned(),
                saved_tracks: vec![t[0], t[1], t[2]],
                saved_albums: vec![pure],
                saved_shows: Vec::new(),
                followed_artists: vec![sine],
                playlists: vec![demo_mix],
            },
        ];
        b.rank_top_tracks();
        Catalog {
            demo_album: pure,
            demo_tracks,
            specials: Specials {
                unplayable_with_alternative: lost,
                alternative: remaster,
                restricted_in_se: restricted,
                key_refused: refused,
            },
            artists: b.artists,
            albums: b.albums,
            tracks: b.tracks,
            shows: b.shows,
            episodes: b.episodes,
            playlists: b.playlists,
            users: b.users,
            index: b.index,
            files: b.files,
        }
    }

    /// The demo world plus `n_tracks` generated tracks: albums of ten tracks, five albums per
    /// artist, names from word lists, recordings reused round-robin.
    pub fn synthetic(n_tracks: usize) -> Catalog {
        let mut c = Catalog::demo();
        let mut b = Builder {
            artists: std::mem::take(&mut c.artists),
            albums: std::mem::take(&mut c.albums),
            tracks: std::mem::take(&mut c.tracks),
            shows: std::mem::take(&mut c.shows),
            episodes: std::mem::take(&mut c.episodes),
            playlists: std::mem::take(&mut c.playlists),
            users: std::mem::take(&mut c.users),
            index: std::mem::take(&mut c.index),
            files: std::mem::take(&mut c.files),
        };
        let per_album = 10;
        let per_artist = 5;
        let n_albums = n_tracks.div_ceil(per_album);
        b.tracks.reserve(n_tracks);
        b.index.reserve(n_tracks + n_albums * 2);
        b.files.reserve(n_tracks * FORMATS.len());
        let word = |n: usize, salt: usize| {
            let a = ADJECTIVES[(n * 7 + salt) % ADJECTIVES.len()];
            let b = NOUNS[(n / ADJECTIVES.len() + n * 3 + salt * 5) % NOUNS.len()];
            format!("{a} {b}")
        };
        let mut artist = 0;
        let mut album = 0;
        for i in 0..n_tracks {
            if i % (per_album * per_artist) == 0 {
                let n = i / (per_album * per_artist);
                let name = format!("The {} {n}", word(n, 1));
                let genres = [GENRES[n % GENRES.len()], GENRES[(n + 3) % GENRES.len()]];
                artist = b.artist(
                    "synthetic/",
                    &name,
                    &genres,
                    i32::try_from(n % 90).unwrap_or(0),
                );
            }
            if i % per_album == 0 {
                let n = i / per_album;
                let year = 1970 + i32::try_from(n % 55).unwrap_or(0);
                album = b.album(
                    "synthetic/",
                    &format!("{} {n}", word(n, 2)),
                    vec![artist],
                    if n % 7 == 3 {
                        AlbumType::Single
                    } else {
                        AlbumType::Album
                    },
                    "Synthetic Sounds",
                    date(year, 1 + (n % 12) as u32, 1 + (n % 28) as u32),
                    i32::try_from(n % 80).unwrap_or(0),
                );
            }
            let name = word(i, 3);
            let popularity = i32::try_from((i * 37) % 100).unwrap_or(0);
            b.track(
                &format!("synthetic/{i}"),
                (&name, &[], popularity, i % 11 == 0),
                album,
                Some(i % DEMO_AUDIO.len()),
                false,
            );
        }
        b.rank_top_tracks();
        c.artists = b.artists;
        c.albums = b.albums;
        c.tracks = b.tracks;
        c.shows = b.shows;
        c.episodes = b.episodes;
        c.playlists = b.playlists;
        c.users = b.users;
        c.index = b.index;
        c.files = b.files;
        c
    }

    /// Builds what `spec` asks for.
    pub fn build(spec: CatalogSpec) -> Catalog {
        match spec {
            CatalogSpec::Demo => Catalog::demo(),
            CatalogSpec::Synthetic { tracks } => Catalog::synthetic(tracks),
        }
    }

    /// The item with this gid.
    pub fn entity(&self, gid: &Gid) -> Option<Entity> {
        self.index.get(gid).copied()
    }

    /// The item a `spotify:{kind}:{base62}` URI names (the kind must match).
    pub fn by_uri(&self, uri: &str) -> Option<Entity> {
        let (kind, gid) = ids::parse_uri(uri)?;
        let entity = self.entity(&gid)?;
        (entity_kind(entity) == kind).then_some(entity)
    }

    /// The URI of an item.
    pub fn uri(&self, entity: Entity) -> Option<String> {
        let gid = self.gid(entity)?;
        Some(ids::uri(entity_kind(entity), &gid))
    }

    /// The gid of an item.
    pub fn gid(&self, entity: Entity) -> Option<Gid> {
        Some(match entity {
            Entity::Track(i) => self.tracks.get(i)?.gid,
            Entity::Album(i) => self.albums.get(i)?.gid,
            Entity::Artist(i) => self.artists.get(i)?.gid,
            Entity::Show(i) => self.shows.get(i)?.gid,
            Entity::Episode(i) => self.episodes.get(i)?.gid,
            Entity::Playlist(i) => self.playlists.get(i)?.gid,
        })
    }

    /// The URI of track `i` (empty if out of range).
    pub fn track_uri(&self, i: usize) -> String {
        self.uri(Entity::Track(i)).unwrap_or_default()
    }

    /// An audio file by id.
    pub fn file(&self, file_id: &FileId) -> Option<FileRef> {
        self.files.get(file_id).copied()
    }

    /// How many audio files the catalog lists.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// The key the AP hands out for (file, item gid): the file's owner, or the track an
    /// alternative stands in for, may ask; `None` for the key-refused track and strangers.
    pub fn audio_key(&self, file_id: &FileId, gid: &Gid) -> Option<[u8; 16]> {
        let file = self.file(file_id)?;
        if file.plain {
            return None;
        }
        let owner_gid = self.gid(file.owner)?;
        let stands_in_for = match file.owner {
            Entity::Track(i) => self
                .tracks
                .get(i)
                .and_then(|t| t.alternative_of)
                .and_then(|o| self.tracks.get(o))
                .map(|t| t.gid),
            _ => None,
        };
        (owner_gid == *gid || stands_in_for == Some(*gid))
            .then(|| media::audio_key(file.audio, file.format))
    }

    /// The user with this username.
    pub fn user(&self, username: &str) -> Option<&User> {
        self.users.iter().find(|u| u.username == username)
    }
}

/// The URI kind of an entity.
pub fn entity_kind(entity: Entity) -> Kind {
    match entity {
        Entity::Track(_) => Kind::Track,
        Entity::Album(_) => Kind::Album,
        Entity::Artist(_) => Kind::Artist,
        Entity::Show(_) => Kind::Show,
        Entity::Episode(_) => Kind::Episode,
        Entity::Playlist(_) => Kind::Playlist,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
