//! Library: refresh against an in-test Web API (lists, de-duplicated track table, playlists
//! whose items cannot be read), snapshot-based refresh, cache round trip, atomic write, and
//! corrupt or outdated caches ignored.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use super::*;
use crate::api::webapi::tests::{fake, ok, page_json, status, track_json, Fake};

/// A library server: 3 playlists (pl0: tracks 0..60, pl1: tracks 100..110 and an episode, pl2:
/// forbidden), 120 liked songs (0..120, overlapping pl0), 2 albums, 3 artists, 1 show. `pl1`'s
/// snapshot is `s1-<gen>`, so bumping `gen` changes it.
async fn library_server(gen: Arc<AtomicU32>) -> Fake {
    fake(move |req, _| {
        let g = gen.load(Ordering::SeqCst);
        match req.path.as_str() {
            "/me" => ok(json!({"id": "alice", "display_name": "Alice", "uri": "spotify:user:alice"})),
            "/me/playlists" => ok(page_json(req, 3, |i| {
                let totals = [60, 11, 5];
                let snap = if i == 1 { format!("s1-{g}") } else { format!("s{i}") };
                json!({"id": format!("pl{i}"), "name": format!("Playlist {i}"),
                       "uri": format!("spotify:playlist:pl{i}"), "snapshot_id": snap,
                       "owner": {"id": "alice", "display_name": "Alice"},
                       "items": {"href": "h", "total": totals[i as usize]}})
            })),
            "/playlists/pl0/items" => ok(page_json(req, 60, |i| {
                json!({"added_at": format!("p{i}"), "item": track_json(i)})
            })),
            "/playlists/pl1/items" => ok(page_json(req, 12, |i| match i {
                10 => json!({"added_at": "e", "item": {"type": "episode", "id": "ep", "name": "Ep",
                      "uri": "spotify:episode:ep", "duration_ms": 5,
                      "show": {"id": "sh", "name": "Show", "uri": "spotify:show:sh", "publisher": "Pub"}}}),
                11 => json!({"added_at": "gone", "item": null}),
                i => json!({"added_at": "x", "item": track_json(100 + i + g)}),
            })),
            "/playlists/pl2/items" => status(403),
            "/me/tracks" => ok(page_json(req, 120, |i| {
                json!({"added_at": format!("l{i}"), "track": track_json(i)})
            })),
            "/me/albums" => ok(page_json(req, 2, |i| {
                json!({"added_at": "a", "album": {"id": format!("al{i}"), "name": format!("Album {i}"),
                       "uri": format!("spotify:album:al{i}"), "total_tracks": 10,
                       "artists": [{"id": "ar", "name": "Artist", "uri": "spotify:artist:ar"}],
                       "tracks": {"items": [], "total": 10}}})
            })),
            "/me/following" => ok(json!({"artists": {"items": (0..3).map(|i| json!({
                "id": format!("ar{i}"), "name": format!("Artist {i}"), "uri": format!("spotify:artist:ar{i}")
            })).collect::<Vec<Value>>(), "next": null, "cursors": {"after": null}, "total": 3, "limit": 50}})),
            "/me/shows" => ok(page_json(req, 1, |_| {
                json!({"added_at": "s", "show": {"id": "sh", "name": "Show", "uri": "spotify:show:sh",
                       "publisher": "Pub", "total_episodes": 4}})
            })),
            _ => status(404),
        }
    })
    .await
}

#[tokio::test]
async fn refresh_builds_the_library() {
    let f = library_server(Arc::default()).await;
    let lib = refresh(&f.api(), None).await.expect("refresh");
    assert_eq!(lib.version, CACHE_VERSION);
    assert_eq!(lib.username, "alice");
    assert!(lib.fetched_at > 0);
    assert_eq!(lib.saved_tracks.len(), 120);
    let liked: Vec<&str> = lib.liked().map(|t| t.name.as_str()).collect();
    assert_eq!(liked[0], "Track 0");
    assert_eq!(liked[119], "Track 119");
    assert_eq!(lib.saved_tracks[5].added_at, "l5");
    // 120 liked + pl1's 10 tracks (100..110 overlap liked) + 1 episode, each stored once.
    assert_eq!(lib.tracks.len(), 121);

    assert_eq!(lib.playlists.len(), 3);
    let p0 = &lib.playlists[0];
    assert_eq!(
        (p0.name.as_str(), p0.total, p0.owner.as_str()),
        ("Playlist 0", 60, "Alice")
    );
    let names: Vec<&str> = lib.playlist_tracks(p0).map(|t| t.name.as_str()).collect();
    assert_eq!(names.len(), 60);
    assert_eq!(names[59], "Track 59");
    let p1: Vec<&TrackInfo> = lib.playlist_tracks(&lib.playlists[1]).collect();
    assert_eq!(p1.len(), 11, "the null item is left out");
    assert_eq!(p1[10].uri, "spotify:episode:ep");
    assert_eq!(p1[10].album, "Show");
    assert_eq!(p1[10].artists, vec!["Pub".to_string()]);
    assert_eq!(lib.playlists[2].items, None, "403 → not loaded, not fatal");

    assert_eq!(lib.saved_albums.len(), 2);
    assert_eq!(lib.saved_albums[1].artists, vec!["Artist".to_string()]);
    assert_eq!(lib.followed_artists.len(), 3);
    assert_eq!(lib.saved_shows[0].publisher, "Pub");
}

#[tokio::test]
async fn refresh_refetches_only_changed_playlists() {
    let gen = Arc::new(AtomicU32::new(0));
    let f = library_server(gen.clone()).await;
    let api = f.api();
    let first = refresh(&api, None).await.expect("first");

    // Nothing changed: no playlist items fetched except pl2 (never loaded).
    let before = f.count();
    let same = refresh(&api, Some(&first)).await.expect("second");
    let item_paths: Vec<String> = f.seen()[before..]
        .iter()
        .map(|r| r.path.clone())
        .filter(|p| p.starts_with("/playlists/"))
        .collect();
    assert_eq!(item_paths, vec!["/playlists/pl2/items"]);
    assert_eq!(same.playlists, first.playlists);

    // pl1 changed: only it is fetched again, and its new items show.
    gen.store(5, Ordering::SeqCst);
    let before = f.count();
    let changed = refresh(&api, Some(&same)).await.expect("third");
    let mut item_paths: Vec<String> = f.seen()[before..]
        .iter()
        .map(|r| r.path.clone())
        .filter(|p| p.starts_with("/playlists/"))
        .collect();
    item_paths.sort();
    assert_eq!(
        item_paths,
        vec!["/playlists/pl1/items", "/playlists/pl2/items"]
    );
    assert_eq!(changed.playlists[1].snapshot_id, "s1-5");
    let first_name = changed
        .playlist_tracks(&changed.playlists[1])
        .next()
        .map(|t| t.name.clone());
    assert_eq!(first_name.as_deref(), Some("Track 105"));
    assert_eq!(
        changed.playlists[0].items.as_ref().map(Vec::len),
        Some(60),
        "pl0 reused from the previous library"
    );
}

#[tokio::test]
async fn refresh_fails_on_a_list_error() {
    let f = fake(|req, _| match req.path.as_str() {
        "/me/tracks" => status(403),
        _ => ok(
            json!({"id": "x", "name": "x", "uri": "x", "items": [], "total": 0,
                       "artists": {"items": [], "total": 0}}),
        ),
    })
    .await;
    let err = refresh(&f.api(), None).await.expect_err("fails");
    assert!(matches!(err, ApiError::Http { status: 403, .. }), "{err:?}");
}

fn sample() -> Library {
    Library {
        liked_index: Default::default(),
        id_index: Default::default(),
        version: CACHE_VERSION,
        username: "alice".into(),
        fetched_at: 1_700_000_000,
        tracks: (0..3)
            .map(|i| TrackInfo {
                uri: format!("spotify:track:t{i}"),
                name: format!("Track \"{i}\" ✓"),
                artists: vec!["A".into(), "B".into()],
                album: "Al".into(),
                album_uri: "spotify:album:al".into(),
                duration_ms: 1000 * i,
                explicit: i == 1,
            })
            .collect(),
        playlists: vec![LibraryPlaylist {
            id: "pl".into(),
            uri: "spotify:playlist:pl".into(),
            name: "P".into(),
            owner: "me".into(),
            owner_id: "me".into(),
            description: String::new(),
            snapshot_id: "s".into(),
            total: 2,
            items: Some(vec![
                Entry {
                    track: 2,
                    added_at: "x".into(),
                },
                Entry {
                    track: 0,
                    added_at: "y".into(),
                },
            ]),
        }],
        saved_tracks: vec![Entry {
            track: 1,
            added_at: "z".into(),
        }],
        saved_albums: vec![],
        followed_artists: vec![ArtistInfo {
            uri: "spotify:artist:a".into(),
            name: "A".into(),
        }],
        saved_shows: vec![],
    }
}

#[test]
fn cache_round_trip_and_atomic_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = cache_file(&dir.path().join("nested"), "alice");
    assert!(load_cached(&path).is_none(), "no cache yet");
    let lib = sample();
    lib.save(&path).expect("save");
    assert_eq!(load_cached(&path), Some(lib.clone()));
    // Overwrite in place; no temporary files left behind.
    let mut lib2 = lib;
    lib2.fetched_at += 1;
    lib2.save(&path).expect("save again");
    assert_eq!(
        load_cached(&path).map(|l| l.fetched_at),
        Some(1_700_000_001)
    );
    let names: Vec<String> = std::fs::read_dir(dir.path().join("nested"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["library-alice.json".to_string()]);
}

#[test]
fn corrupt_or_outdated_caches_are_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("library-x.json");
    let good = serde_json::to_vec(&sample()).expect("json");
    let cases: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\x00\xff garbage".to_vec(),
        good[..good.len() / 2].to_vec(),
        b"{\"version\": 1}".to_vec(),
        b"[]".to_vec(),
    ];
    for bytes in cases {
        std::fs::write(&path, &bytes).expect("write");
        assert!(
            load_cached(&path).is_none(),
            "{:?}",
            String::from_utf8_lossy(&bytes)
        );
    }
    let mut old = sample();
    old.version = CACHE_VERSION + 1;
    std::fs::write(&path, serde_json::to_vec(&old).expect("json")).expect("write");
    assert!(load_cached(&path).is_none(), "other version");
    let mut broken = sample();
    broken.saved_tracks[0].track = 99;
    std::fs::write(&path, serde_json::to_vec(&broken).expect("json")).expect("write");
    assert!(load_cached(&path).is_none(), "index out of range");
    // A directory where the file should be.
    let as_dir = dir.path().join("library-dir.json");
    std::fs::create_dir(&as_dir).expect("mkdir");
    assert!(load_cached(&as_dir).is_none());
}

#[test]
fn cache_file_names_are_safe() {
    let d = Path::new("/c");
    assert_eq!(cache_file(d, "alice"), Path::new("/c/library-alice.json"));
    assert_eq!(
        cache_file(d, "../x/y"),
        Path::new("/c/library-%2E%2E%2Fx%2Fy.json")
    );
    assert_eq!(
        cache_file(d, "a.b c"),
        Path::new("/c/library-a%2Eb%20c.json")
    );
}

fn info(n: u32) -> TrackInfo {
    TrackInfo {
        uri: format!("spotify:track:t{n}"),
        name: format!("Track {n}"),
        artists: vec![],
        album: String::new(),
        album_uri: String::new(),
        duration_ms: 1000,
        explicit: false,
    }
}

#[test]
fn edits_update_the_cached_library_in_place() {
    let mut lib = Library {
        liked_index: Default::default(),
        id_index: Default::default(),
        tracks: vec![info(0), info(1)],
        saved_tracks: vec![Entry {
            track: 0,
            added_at: "a".into(),
        }],
        playlists: vec![LibraryPlaylist {
            id: "p".into(),
            uri: "spotify:playlist:p".into(),
            name: "P".into(),
            owner: "me".into(),
            owner_id: "me".into(),
            description: String::new(),
            snapshot_id: "s0".into(),
            total: 1,
            items: Some(vec![Entry {
                track: 1,
                added_at: String::new(),
            }]),
        }],
        ..Library::default()
    };
    assert!(lib.is_liked("spotify:track:t0"));
    assert!(
        !lib.set_liked(&info(0), true, "b"),
        "already liked: no change"
    );
    assert!(lib.set_liked(&info(2), true, "b"));
    assert_eq!(lib.liked().next().unwrap().uri, "spotify:track:t2");
    assert_eq!(lib.tracks.len(), 3);
    assert!(lib.set_liked(&info(0), false, ""));
    assert!(!lib.is_liked("spotify:track:t0"));
    assert_eq!(lib.saved_tracks.len(), 1);

    assert!(lib.playlist_added("p", &[info(0), info(1)], "s1"));
    let p = &lib.playlists[0];
    assert_eq!((p.total, p.snapshot_id.as_str()), (3, "s1"));
    assert!(lib.playlist_removed("p", &["spotify:track:t1"], "s2"));
    let uris: Vec<_> = lib
        .playlist_tracks(&lib.playlists[0])
        .map(|t| t.uri.clone())
        .collect();
    assert_eq!(uris, ["spotify:track:t0"]);
    assert_eq!(lib.playlists[0].total, 1);
    assert!(!lib.playlist_added("nope", &[info(0)], "x"));
    assert!(lib.is_consistent());
}

#[test]
fn tracks_and_likes_are_found_by_id_through_the_index() {
    use crate::id::SpotifyId;
    let id = |n: u128| SpotifyId(n * 7919 + 11);
    let real = |n: u128| TrackInfo {
        uri: format!("spotify:track:{}", id(n).to_base62()),
        ..info(n as u32)
    };
    let mut lib = Library {
        tracks: (0..5).map(real).collect(),
        saved_tracks: [1, 3]
            .iter()
            .map(|&track| Entry {
                track,
                added_at: String::new(),
            })
            .collect(),
        ..Library::default()
    };
    assert_eq!(
        lib.track_by_id(&id(3)).map(|t| t.name.as_str()),
        Some("Track 3")
    );
    assert_eq!(lib.track_by_id(&id(9)), None);
    assert!(lib.is_liked(&real(1).uri) && lib.is_liked(&real(3).uri));
    assert!(!lib.is_liked(&real(0).uri));
    // In no list of the library: not liked (and not found), without a walk of Liked Songs.
    assert!(!lib.is_liked(&real(9).uri));
    // The same id as another kind of item is not that item.
    assert!(!lib.is_liked(&format!("spotify:album:{}", id(1).to_base62())));
    // A like of a new track grows the table: the id index follows.
    assert!(lib.set_liked(&real(7), true, "now"));
    assert!(lib.is_liked(&real(7).uri));
    assert_eq!(
        lib.track_by_id(&id(7)).map(|t| t.name.as_str()),
        Some("Track 7")
    );
    assert!(lib.set_liked(&real(1), false, ""));
    assert!(!lib.is_liked(&real(1).uri));
}
