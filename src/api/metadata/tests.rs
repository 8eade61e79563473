//! Tests of the metadata models: protobuf → model mapping for every kind, validation,
//! availability by country and catalogue, and the audio file choice by bitrate. The
//! protobuf builders here are shared with the spclient tests (`pub(crate)`).

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
