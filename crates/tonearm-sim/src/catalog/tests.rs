//! Unit tests of the catalog: the demo catalog's invariants and special tracks, ids stable
//! across builds, and the synthetic catalogs (10k and 100k tracks) building in time.

use super::*;
use std::collections::HashSet;

fn check_invariants(c: &Catalog) {
    let mut gids = HashSet::new();
    let all: Vec<Entity> = (0..c.tracks.len())
        .map(Entity::Track)
        .chain((0..c.albums.len()).map(Entity::Album))
        .chain((0..c.artists.len()).map(Entity::Artist))
        .chain((0..c.shows.len()).map(Entity::Show))
        .chain((0..c.episodes.len()).map(Entity::Episode))
        .chain((0..c.playlists.len()).map(Entity::Playlist))
        .collect();
    for &e in &all {
        let gid = c.gid(e).unwrap();
        assert!(gids.insert(gid), "duplicate gid for {e:?}");
        assert_eq!(c.entity(&gid), Some(e));
        let uri = c.uri(e).unwrap();
        let b62 = uri.rsplit(':').next().unwrap();
        assert_eq!(b62.len(), 22);
        assert!(b62.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(c.by_uri(&uri), Some(e));
    }
    assert_eq!(c.index.len(), all.len());
    let mut file_ids = HashSet::new();
    for (i, t) in c.tracks.iter().enumerate() {
        assert!(t.duration_ms > 0);
        assert!(t.album < c.albums.len());
        assert!(!t.artists.is_empty());
        for f in &t.files {
            assert!(file_ids.insert(f.file_id));
            let r = c.file(&f.file_id).unwrap();
            assert_eq!(r.owner, Entity::Track(i));
            assert_eq!(FORMATS[r.format], f.format);
            let key = c.audio_key(&f.file_id, &t.gid);
            assert_eq!(key.is_none(), t.key_refused);
        }
        if t.files.is_empty() {
            assert!(!t.alternatives.is_empty());
        }
        if let Some(a) = t.audio {
            let info = media::demo_info(a).unwrap();
            assert_eq!(t.duration_ms, info.duration_ms());
        }
    }
    for e in &c.episodes {
        assert_eq!(e.files.len(), 3);
        for f in &e.files {
            assert!(file_ids.insert(f.file_id));
            assert!(c.audio_key(&f.file_id, &e.gid).is_some());
        }
    }
    assert_eq!(file_ids.len(), c.file_count());
    for (i, a) in c.albums.iter().enumerate() {
        for (n, &t) in a.tracks.iter().enumerate() {
            assert_eq!(c.tracks[t].album, i);
            assert_eq!(c.tracks[t].number as usize, n + 1);
        }
    }
}

#[test]
fn demo_catalog_invariants() {
    let c = Catalog::demo();
    check_invariants(&c);
    assert_eq!(c.demo_tracks.len(), 8);
    let albums: HashSet<usize> = c.demo_tracks.iter().map(|&t| c.tracks[t].album).collect();
    assert!(albums.len() >= 3);
    let artists: HashSet<usize> = c
        .demo_tracks
        .iter()
        .flat_map(|&t| c.tracks[t].artists.clone())
        .collect();
    assert!(artists.len() >= 3);
    for (audio, &t) in c.demo_tracks.iter().enumerate() {
        assert_eq!(c.tracks[t].audio, Some(audio));
    }
    assert_eq!(c.albums[c.demo_album].name, "Pure Tones");
    for account in crate::builtin_accounts() {
        assert!(c.user(&account.username).is_some(), "{}", account.username);
    }
    assert!(!c.shows.is_empty() && c.episodes.len() >= 2);
}

#[test]
fn special_tracks() {
    let c = Catalog::demo();
    let s = c.specials;
    let lost = &c.tracks[s.unplayable_with_alternative];
    assert!(lost.files.is_empty());
    assert_eq!(lost.alternatives, vec![s.alternative]);
    let alt = &c.tracks[s.alternative];
    assert!(!alt.files.is_empty());
    assert!(
        !c.albums[alt.album].tracks.contains(&s.alternative),
        "hidden"
    );
    // The alternative's key is handed out for the alternative and the original track.
    let f = alt.files[1].file_id;
    assert!(c.audio_key(&f, &alt.gid).is_some());
    assert!(c.audio_key(&f, &lost.gid).is_some());
    assert!(c.audio_key(&f, &c.tracks[0].gid).is_none());
    let r = &c.tracks[s.restricted_in_se].countries_forbidden;
    assert!(r.as_bytes().chunks(2).any(|cc| cc == b"SE"));
    let k = &c.tracks[s.key_refused];
    assert!(k.key_refused && !k.files.is_empty());
    assert!(c.file(&k.files[0].file_id).unwrap().plain);
}

#[test]
fn ids_are_stable_across_builds() {
    let a = Catalog::demo();
    let b = Catalog::demo();
    assert_eq!(a.track_uri(3), b.track_uri(3));
    assert_eq!(a.tracks[5].files, b.tracks[5].files);
}

#[test]
fn synthetic_catalog_of_10k_builds_quickly() {
    let start = std::time::Instant::now();
    let c = Catalog::synthetic(10_000);
    let took = start.elapsed();
    let demo = Catalog::demo();
    assert_eq!(c.tracks.len(), demo.tracks.len() + 10_000);
    assert_eq!(c.albums.len(), demo.albums.len() + 1000);
    assert_eq!(c.artists.len(), demo.artists.len() + 200);
    check_invariants(&c);
    // Generous: debug build, two shared cores.
    assert!(took < std::time::Duration::from_secs(3), "{took:?}");
    // The demo part is unchanged.
    assert_eq!(c.track_uri(0), demo.track_uri(0));
}

/// Slow in debug builds (run with `cargo test -- --ignored`): 100k tracks.
#[test]
#[ignore]
fn synthetic_catalog_of_100k() {
    let start = std::time::Instant::now();
    let c = Catalog::synthetic(100_000);
    eprintln!("100k-track catalog built in {:?}", start.elapsed());
    assert_eq!(
        c.file_count(),
        (c.tracks.len() - 1) * 3 + c.episodes.len() * 3
    );
}
