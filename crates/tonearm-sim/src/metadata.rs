//! Catalog items as Spotify metadata protobufs (spec §9.2, §9.3): `Track`, `Album`, `Artist`,
//! `Episode` and `Show` from `librespot_protocol::metadata`, built to respect the parsing
//! constraints a client enforces (every gid 16 bytes, the album on every track with its gid, name
//! and artists, duration > 0, OGG_VORBIS_96/160/320 files, country restrictions as concatenated
//! codes for the "premium" and "free" catalogues, alternatives as tracks with gids), plus the
//! `AudioFilesExtensionResponse` of extended metadata's AUDIO_FILES kind, which the compiled
//! protos lack and is therefore written here in protobuf wire format by hand. Used by the
//! spclient endpoints; depends on no client module.

use librespot_protocol::metadata as pm;
use protobuf::{EnumOrUnknown, MessageField};

use super::catalog::{self, AudioFileEntry, Catalog, Entity};
use super::media::{BITRATES, DEMO_AUDIO};

/// Type URL prefix of `google.protobuf.Any` values.
const TYPE_URL: &str = "type.googleapis.com/";
/// The countries whose top tracks artists list (the built-in accounts' countries).
const TOP_TRACK_COUNTRIES: [&str; 3] = ["SE", "GB", "US"];

fn date(d: catalog::Date) -> pm::Date {
    let mut out = pm::Date::new();
    out.set_year(d.year);
    out.set_month(i32::try_from(d.month).unwrap_or(1));
    out.set_day(i32::try_from(d.day).unwrap_or(1));
    out
}

fn sint(n: impl TryInto<i32>) -> i32 {
    n.try_into().unwrap_or(i32::MAX)
}

fn audio_files(files: &[AudioFileEntry]) -> Vec<pm::AudioFile> {
    files
        .iter()
        .map(|f| {
            let mut a = pm::AudioFile::new();
            a.set_file_id(f.file_id.to_vec());
            a.format = Some(EnumOrUnknown::from_i32(f.format));
            a
        })
        .collect()
}

fn artist_stub(c: &Catalog, i: usize) -> Option<pm::Artist> {
    let a = c.artists.get(i)?;
    let mut out = pm::Artist::new();
    out.set_gid(a.gid.to_vec());
    out.set_name(a.name.clone());
    Some(out)
}

fn album_type(t: catalog::AlbumType) -> pm::album::Type {
    match t {
        catalog::AlbumType::Album => pm::album::Type::ALBUM,
        catalog::AlbumType::Single => pm::album::Type::SINGLE,
        catalog::AlbumType::Compilation => pm::album::Type::COMPILATION,
    }
}

/// The album as embedded in a track: gid, name, artists, type, label, date.
fn album_stub(c: &Catalog, i: usize) -> Option<pm::Album> {
    let a = c.albums.get(i)?;
    let mut out = pm::Album::new();
    out.set_gid(a.gid.to_vec());
    out.set_name(a.name.clone());
    out.artist = a
        .artists
        .iter()
        .filter_map(|&x| artist_stub(c, x))
        .collect();
    out.set_type(album_type(a.album_type));
    out.set_label(a.label.clone());
    out.date = MessageField::some(date(a.release));
    out.cover_group = MessageField::some(cover_group(&a.gid));
    Some(out)
}

/// The album's covers (`covers`): Image size LARGE 640, DEFAULT 300, SMALL 64, as Spotify's
/// metadata lists them.
fn cover_group(gid: &crate::ids::Gid) -> pm::ImageGroup {
    let mut group = pm::ImageGroup::new();
    for (size, _) in crate::covers::SIZES {
        let mut image = pm::Image::new();
        image.set_file_id(crate::covers::file_id(gid, size).to_vec());
        image.set_size(match size {
            640 => pm::image::Size::LARGE,
            300 => pm::image::Size::DEFAULT,
            _ => pm::image::Size::SMALL,
        });
        image.set_width(sint(size));
        image.set_height(sint(size));
        group.image.push(image);
    }
    group
}

fn track_stub(c: &Catalog, i: usize) -> Option<pm::Track> {
    let t = c.tracks.get(i)?;
    let mut out = pm::Track::new();
    out.set_gid(t.gid.to_vec());
    out.set_name(t.name.clone());
    Some(out)
}

/// `Track` with album, artists, files, alternatives and restrictions.
pub fn track(c: &Catalog, i: usize) -> Option<pm::Track> {
    let t = c.tracks.get(i)?;
    let mut out = pm::Track::new();
    out.set_gid(t.gid.to_vec());
    out.set_name(t.name.clone());
    out.album = MessageField::some(album_stub(c, t.album)?);
    out.artist = t
        .artists
        .iter()
        .filter_map(|&a| artist_stub(c, a))
        .collect();
    out.set_number(sint(t.number));
    out.set_disc_number(sint(t.disc));
    out.set_duration(sint(t.duration_ms).max(1));
    out.set_popularity(t.popularity);
    out.set_explicit(t.explicit);
    let mut isrc = pm::ExternalId::new();
    isrc.type_ = Some("isrc".to_owned());
    isrc.id = Some(t.isrc.clone());
    out.external_id.push(isrc);
    if !t.countries_forbidden.is_empty() {
        let mut r = pm::Restriction::new();
        r.catalogue_str = vec!["premium".to_owned(), "free".to_owned()];
        r.catalogue = vec![
            EnumOrUnknown::new(pm::restriction::Catalogue::SUBSCRIPTION),
            EnumOrUnknown::new(pm::restriction::Catalogue::AD),
        ];
        r.set_type(pm::restriction::Type::STREAMING);
        r.set_countries_forbidden(t.countries_forbidden.clone());
        out.restriction.push(r);
    }
    out.file = audio_files(&t.files);
    for &alt in &t.alternatives {
        let Some(a) = c.tracks.get(alt) else { continue };
        let mut stub = track_stub(c, alt)?;
        stub.set_duration(sint(a.duration_ms).max(1));
        stub.file = audio_files(&a.files);
        out.alternative.push(stub);
    }
    out.set_has_lyrics(crate::lyrics::has_lyrics(c, i));
    out.set_canonical_uri(c.track_uri(i));
    Some(out)
}

/// `Album` with artists and one disc listing its tracks (gids and names).
pub fn album(c: &Catalog, i: usize) -> Option<pm::Album> {
    let a = c.albums.get(i)?;
    let mut out = album_stub(c, i)?;
    out.set_popularity(a.popularity);
    let mut discs: Vec<pm::Disc> = Vec::new();
    for &t in &a.tracks {
        let Some(track) = c.tracks.get(t) else {
            continue;
        };
        let number = sint(track.disc);
        let at = match discs.iter().position(|d| d.number() == number) {
            Some(at) => at,
            None => {
                let mut d = pm::Disc::new();
                d.set_number(number);
                discs.push(d);
                discs.len() - 1
            }
        };
        if let Some(stub) = track_stub(c, t) {
            discs[at].track.push(stub);
        }
    }
    out.disc = discs;
    let mut copyright = pm::Copyright::new();
    copyright.set_type(pm::copyright::Type::P);
    copyright.set_text(format!("{} {}", a.release.year, a.label));
    out.copyright.push(copyright);
    Some(out)
}

/// `Artist` with top tracks per country and album groups.
pub fn artist(c: &Catalog, i: usize) -> Option<pm::Artist> {
    let a = c.artists.get(i)?;
    let mut out = artist_stub(c, i)?;
    out.set_popularity(a.popularity);
    for country in TOP_TRACK_COUNTRIES {
        let mut top = pm::TopTracks::new();
        top.set_country(country.to_owned());
        top.track = a
            .top_tracks
            .iter()
            .filter(|&&t| {
                c.tracks.get(t).is_some_and(|t| {
                    !t.countries_forbidden
                        .as_bytes()
                        .chunks(2)
                        .any(|cc| cc == country.as_bytes())
                })
            })
            .filter_map(|&t| track_stub(c, t))
            .collect();
        out.top_track.push(top);
    }
    for &al in &a.albums {
        let Some(album) = c.albums.get(al) else {
            continue;
        };
        let mut stub = pm::Album::new();
        stub.set_gid(album.gid.to_vec());
        stub.set_name(album.name.clone());
        let mut group = pm::AlbumGroup::new();
        group.album.push(stub);
        match album.album_type {
            catalog::AlbumType::Album => out.album_group.push(group),
            catalog::AlbumType::Single => out.single_group.push(group),
            catalog::AlbumType::Compilation => out.compilation_group.push(group),
        }
    }
    let mut bio = pm::Biography::new();
    bio.set_text(format!(
        "{} make {} music in the tonearm simulator.",
        a.name,
        a.genres.join(" and ")
    ));
    out.biography.push(bio);
    Some(out)
}

fn show_stub(c: &Catalog, i: usize) -> Option<pm::Show> {
    let s = c.shows.get(i)?;
    let mut out = pm::Show::new();
    out.set_gid(s.gid.to_vec());
    out.set_name(s.name.clone());
    Some(out)
}

/// `Episode` with its audio files and show.
pub fn episode(c: &Catalog, i: usize) -> Option<pm::Episode> {
    let e = c.episodes.get(i)?;
    let mut out = pm::Episode::new();
    out.set_gid(e.gid.to_vec());
    out.set_name(e.name.clone());
    out.set_duration(sint(e.duration_ms).max(1));
    out.audio = audio_files(&e.files);
    out.set_description(e.description.clone());
    out.set_number(sint(e.number));
    out.publish_time = MessageField::some(date(e.release));
    out.set_language("en".to_owned());
    out.set_explicit(false);
    out.show = MessageField::some(show_stub(c, e.show)?);
    out.set_type(pm::episode::EpisodeType::FULL);
    out.set_allow_background_playback(true);
    Some(out)
}

/// `Show` with its episodes (gids and names), newest first.
pub fn show(c: &Catalog, i: usize) -> Option<pm::Show> {
    let s = c.shows.get(i)?;
    let mut out = show_stub(c, i)?;
    out.set_description(s.description.clone());
    out.set_publisher(s.publisher.clone());
    out.set_language("en".to_owned());
    out.set_explicit(false);
    out.set_media_type(pm::show::MediaType::AUDIO);
    out.set_consumption_order(pm::show::ConsumptionOrder::EPISODIC);
    for &e in &s.episodes {
        let Some(ep) = c.episodes.get(e) else {
            continue;
        };
        let mut stub = pm::Episode::new();
        stub.set_gid(ep.gid.to_vec());
        stub.set_name(ep.name.clone());
        out.episode.push(stub);
    }
    Some(out)
}

/// The encoded metadata message of an item and its `Any` type URL; `None` for playlists
/// (served elsewhere) and indices out of range.
pub fn encode(c: &Catalog, entity: Entity) -> Option<(String, Vec<u8>)> {
    use protobuf::Message;
    let (name, bytes) = match entity {
        Entity::Track(i) => ("Track", track(c, i)?.write_to_bytes()),
        Entity::Album(i) => ("Album", album(c, i)?.write_to_bytes()),
        Entity::Artist(i) => ("Artist", artist(c, i)?.write_to_bytes()),
        Entity::Episode(i) => ("Episode", episode(c, i)?.write_to_bytes()),
        Entity::Show(i) => ("Show", show(c, i)?.write_to_bytes()),
        Entity::Playlist(_) => return None,
    };
    let bytes = bytes.ok()?;
    Some((format!("{TYPE_URL}spotify.metadata.{name}"), bytes))
}

/// Type URL of the hand-encoded AUDIO_FILES payload.
pub const AUDIO_FILES_TYPE_URL: &str =
    "type.googleapis.com/spotify.extendedmetadata.audiofiles.AudioFilesExtensionResponse";

/// Minimal protobuf wire-format writer.
mod wire {
    pub fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    pub fn tag(out: &mut Vec<u8>, field: u32, wire_type: u8) {
        varint(out, (u64::from(field) << 3) | u64::from(wire_type));
    }

    pub fn bytes(out: &mut Vec<u8>, field: u32, data: &[u8]) {
        tag(out, field, 2);
        varint(out, data.len() as u64);
        out.extend_from_slice(data);
    }

    pub fn int32(out: &mut Vec<u8>, field: u32, v: i32) {
        tag(out, field, 0);
        // Negative int32 values are sign-extended to 64 bits.
        varint(out, i64::from(v) as u64);
    }

    pub fn float(out: &mut Vec<u8>, field: u32, v: f32) {
        tag(out, field, 5);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// `NormalizationParams{loudness_db(1), true_peak_db(2)}` for a replay gain and peak: loudness
/// such that go-librespot's gain (−14 − loudness) equals the header's gain.
fn normalization(gain_db: f32, peak: f32) -> Vec<u8> {
    let mut out = Vec::new();
    wire::float(&mut out, 1, -14.0 - gain_db);
    wire::float(&mut out, 2, 20.0 * peak.max(1e-6).log10());
    out
}

/// `AudioFilesExtensionResponse` (audio_files_extension.proto, proto3) for a track or episode:
/// `files(1)[ExtendedAudioFile{file(1) AudioFile, average_bitrate(4)}]`,
/// `default_file_normalization_params(2)`, `default_album_normalization_params(3)`,
/// `audio_id(4)` (the item's gid). `None` for other kinds.
pub fn audio_files_extension(c: &Catalog, entity: Entity) -> Option<Vec<u8>> {
    use protobuf::Message;
    let (files, audio, gid) = match entity {
        Entity::Track(i) => {
            let t = c.tracks.get(i)?;
            (&t.files, t.audio, t.gid)
        }
        Entity::Episode(i) => {
            let e = c.episodes.get(i)?;
            (&e.files, e.audio, e.gid)
        }
        _ => return None,
    };
    let mut out = Vec::new();
    for (entry, file) in files.iter().zip(audio_files(files)) {
        let mut extended = Vec::new();
        wire::bytes(&mut extended, 1, &file.write_to_bytes().ok()?);
        let kbps = usize::try_from(entry.format)
            .ok()
            .and_then(|f| BITRATES.get(f))
            .copied()
            .unwrap_or(160);
        wire::int32(&mut extended, 4, sint(kbps * 1000));
        wire::bytes(&mut out, 1, &extended);
    }
    if let Some(gain) = audio.and_then(|a| DEMO_AUDIO.get(a)).map(|a| a.gain) {
        wire::bytes(
            &mut out,
            2,
            &normalization(gain.track_gain_db, gain.track_peak),
        );
        wire::bytes(
            &mut out,
            3,
            &normalization(gain.album_gain_db, gain.album_peak),
        );
    }
    wire::bytes(&mut out, 4, &gid);
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use protobuf::Message;

    #[test]
    fn every_track_satisfies_the_client_constraints() {
        let c = Catalog::synthetic(50);
        for i in 0..c.tracks.len() {
            let (url, bytes) = encode(&c, Entity::Track(i)).unwrap();
            assert_eq!(url, "type.googleapis.com/spotify.metadata.Track");
            let t = pm::Track::parse_from_bytes(&bytes).unwrap();
            assert_eq!(t.gid().len(), 16);
            assert!(t.duration() > 0);
            let album = t.album.as_ref().unwrap();
            assert_eq!(album.gid().len(), 16);
            assert!(!album.name().is_empty());
            assert!(!album.artist.is_empty());
            assert!(album.artist.iter().all(|a| a.gid().len() == 16));
            assert!(!t.artist.is_empty());
            assert!(t.artist.iter().all(|a| a.gid().len() == 16));
            assert!(t.alternative.iter().all(|a| a.gid().len() == 16));
            for f in &t.file {
                assert_eq!(f.file_id().len(), 20);
                assert!([0, 1, 2].contains(&f.format.unwrap().value()));
            }
            assert!(!t.file.is_empty() || !t.alternative.is_empty());
        }
    }

    #[test]
    fn restriction_and_alternative() {
        let c = Catalog::demo();
        let t = track(&c, c.specials.restricted_in_se).unwrap();
        let r = &t.restriction[0];
        assert_eq!(r.countries_forbidden(), "DKFISE");
        assert!(r.catalogue_str.contains(&"premium".to_owned()));
        let t = track(&c, c.specials.unplayable_with_alternative).unwrap();
        assert!(t.file.is_empty());
        assert_eq!(
            t.alternative[0].gid(),
            c.tracks[c.specials.alternative].gid.as_slice()
        );
        assert_eq!(t.alternative[0].file.len(), 3);
    }

    #[test]
    fn albums_artists_shows_episodes() {
        let c = Catalog::demo();
        let a = pm::Album::parse_from_bytes(&encode(&c, Entity::Album(c.demo_album)).unwrap().1)
            .unwrap();
        assert_eq!(a.name(), "Pure Tones");
        assert_eq!(a.disc[0].track.len(), 4);
        assert!(a.disc[0].track.iter().all(|t| t.gid().len() == 16));
        let ar = pm::Artist::parse_from_bytes(&encode(&c, Entity::Artist(0)).unwrap().1).unwrap();
        assert_eq!(ar.name(), "The Sine Waves");
        assert_eq!(ar.top_track.len(), 3);
        assert!(!ar.top_track[0].track.is_empty());
        assert!(!ar.album_group.is_empty());
        let e = pm::Episode::parse_from_bytes(&encode(&c, Entity::Episode(0)).unwrap().1).unwrap();
        assert_eq!(e.audio.len(), 3);
        assert!(e.duration() > 0);
        assert_eq!(e.show.gid().len(), 16);
        let s = pm::Show::parse_from_bytes(&encode(&c, Entity::Show(0)).unwrap().1).unwrap();
        assert_eq!(s.episode.len(), c.episodes.len());
        assert!(encode(&c, Entity::Playlist(0)).is_none());
        assert!(encode(&c, Entity::Track(usize::MAX)).is_none());
    }

    /// Reads (field, wire type, value) triples with protobuf's own input stream.
    pub(crate) fn fields(bytes: &[u8]) -> Vec<(u32, Vec<u8>)> {
        let mut is = protobuf::CodedInputStream::from_bytes(bytes);
        let mut out = Vec::new();
        while !is.eof().unwrap() {
            let tag = is.read_raw_varint32().unwrap();
            let value = match tag & 7 {
                0 => is.read_raw_varint64().unwrap().to_le_bytes().to_vec(),
                2 => is.read_bytes().unwrap(),
                5 => is
                    .read_raw_little_endian32()
                    .unwrap()
                    .to_le_bytes()
                    .to_vec(),
                other => panic!("wire type {other}"),
            };
            out.push((tag >> 3, value));
        }
        out
    }

    #[test]
    fn audio_files_extension_wire_format() {
        let c = Catalog::demo();
        let t = c.demo_tracks[7];
        let bytes = audio_files_extension(&c, Entity::Track(t)).unwrap();
        let top = fields(&bytes);
        let files: Vec<&Vec<u8>> = top.iter().filter(|f| f.0 == 1).map(|f| &f.1).collect();
        assert_eq!(files.len(), 3);
        for (i, f) in files.iter().enumerate() {
            let inner = fields(f);
            let file = pm::AudioFile::parse_from_bytes(&inner[0].1).unwrap();
            assert_eq!(file.file_id(), c.tracks[t].files[i].file_id.as_slice());
            assert_eq!(inner[1].0, 4);
            let bitrate = u64::from_le_bytes(inner[1].1.clone().try_into().unwrap());
            assert_eq!(bitrate, u64::from(BITRATES[i]) * 1000);
        }
        let norm = &top.iter().find(|f| f.0 == 2).unwrap().1;
        let norm = fields(norm);
        let loudness = f32::from_le_bytes(norm[0].1.clone().try_into().unwrap());
        assert!((loudness - (-14.0 - DEMO_AUDIO[7].gain.track_gain_db)).abs() < 1e-4);
        let audio_id = &top.iter().find(|f| f.0 == 4).unwrap().1;
        assert_eq!(audio_id, &c.tracks[t].gid.to_vec());
        assert!(audio_files_extension(&c, Entity::Album(0)).is_none());
        // Negative int32 encoding: ten bytes, sign-extended.
        let mut v = Vec::new();
        wire::int32(&mut v, 1, -1);
        assert_eq!(v.len(), 11);
    }
}
