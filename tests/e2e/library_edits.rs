//! Library edits through the client's Web API against the simulator's `/v1`: like → contains →
//! unlike; create a playlist, add two tracks, remove one and read it back (and the cached
//! library updated in place to the same result); editing another user's playlist is refused
//! with a clear 403 and changes nothing.

use tonearm::api::library::{self, LibraryPlaylist, TrackInfo};
use tonearm::api::{ApiError, WebApi};

use crate::common::{sim, within};

async fn web_api(s: &tonearm_sim::Simulator) -> (tonearm::session::Session, WebApi) {
    let (session, sp) = crate::api::services(s).await;
    let api = WebApi::new(
        sp.tokens().clone(),
        s.info().web_api.clone(),
        reqwest::Client::new(),
    );
    (session, api)
}

fn info(uri: &str) -> TrackInfo {
    TrackInfo {
        uri: uri.to_owned(),
        name: String::new(),
        artists: vec![],
        album: String::new(),
        album_uri: String::new(),
        duration_ms: 0,
        explicit: false,
    }
}

#[tokio::test]
async fn like_contains_unlike() {
    let s = sim().await;
    let (_session, api) = web_api(&s).await;
    let demo = s.info().demo_tracks.clone();
    let uri = demo[1].uri.as_str();
    let before = within(20, api.tracks_contain(&[uri])).await.unwrap();
    within(20, api.save_tracks(&[uri])).await.unwrap();
    let after = within(20, api.tracks_contain(&[uri])).await.unwrap();
    assert_eq!(after, [true], "liked (before: {before:?})");
    let saved = within(20, api.saved_tracks().all()).await.unwrap();
    assert_eq!(saved[0].track.uri, uri, "newest first");
    within(20, api.remove_tracks(&[uri])).await.unwrap();
    assert_eq!(
        within(20, api.tracks_contain(&[uri])).await.unwrap(),
        [false]
    );
    // More than the 50 a call allows: the client splits.
    let many = vec![uri; 120];
    let answers = within(20, api.tracks_contain(&many)).await.unwrap();
    assert_eq!(answers.len(), 120);
    assert!(answers.iter().all(|b| !b));
    let err = within(
        20,
        api.tracks_contain(&["spotify:track:0000000000000000000000"]),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ApiError::NotFound(_)), "{err}");
}

#[tokio::test]
async fn create_add_remove_and_read_back() {
    let s = sim().await;
    let (_session, api) = web_api(&s).await;
    let me = within(20, api.me()).await.unwrap();
    let mut lib = within(20, library::refresh(&api, None)).await.unwrap();
    let demo = s.info().demo_tracks.clone();
    let (a, b) = (demo[0].uri.as_str(), demo[2].uri.as_str());

    let p = within(20, api.create_playlist(&me.id, "Edits", false, None))
        .await
        .unwrap();
    assert_eq!(p.name, "Edits");
    lib.playlist_created(LibraryPlaylist {
        id: p.id.clone(),
        uri: p.uri.clone(),
        name: p.name.clone(),
        owner: me.id.clone(),
        description: String::new(),
        snapshot_id: p.snapshot_id.clone(),
        total: 0,
        items: Some(vec![]),
    });
    let s1 = within(20, api.add_to_playlist(&p.id, &[a, b]))
        .await
        .unwrap();
    assert!(!s1.is_empty() && s1 != p.snapshot_id, "new snapshot {s1}");
    lib.playlist_added(&p.id, &[info(a), info(b)], &s1);
    let s2 = within(20, api.remove_from_playlist(&p.id, &[a]))
        .await
        .unwrap();
    assert_ne!(s1, s2);
    lib.playlist_removed(&p.id, &[a], &s2);

    let items = within(20, api.playlist_items(&p.id).all()).await.unwrap();
    let uris: Vec<String> = items
        .iter()
        .filter_map(|i| i.playable())
        .map(|p| p.uri().to_owned())
        .collect();
    assert_eq!(uris, [b]);
    // The cache edited in place says the same as a full refresh.
    let fresh = within(20, library::refresh(&api, None)).await.unwrap();
    let cached = &lib.playlists[0];
    let server = fresh.playlists.iter().find(|x| x.id == p.id).unwrap();
    assert_eq!(cached.id, p.id);
    assert_eq!(cached.snapshot_id, server.snapshot_id);
    assert_eq!(cached.total, server.total);
    let names = |l: &library::Library, p: &LibraryPlaylist| -> Vec<String> {
        l.playlist_tracks(p).map(|t| t.uri.clone()).collect()
    };
    assert_eq!(names(&lib, cached), names(&fresh, server));
}

#[tokio::test]
async fn editing_another_users_playlist_is_refused() {
    let s = sim().await;
    let (_session, api) = web_api(&s).await;
    let me = within(20, api.me()).await.unwrap();
    let lists = within(20, api.my_playlists().all()).await.unwrap();
    let theirs = lists
        .iter()
        .find(|p| p.owner.as_ref().is_some_and(|o| o.id != me.id))
        .expect("a followed playlist of another user");
    let before = within(20, api.playlist_items(&theirs.id).all())
        .await
        .unwrap()
        .len();
    let uri = s.info().demo_tracks[0].uri.clone();
    let err = within(20, api.add_to_playlist(&theirs.id, &[&uri]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::Http { status: 403, .. }),
        "a clear refusal: {err}"
    );
    let err = within(20, api.remove_from_playlist(&theirs.id, &[&uri]))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Http { status: 403, .. }), "{err}");
    let err = within(20, api.create_playlist("alice", "x", false, None))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Http { status: 403, .. }), "{err}");
    let after = within(20, api.playlist_items(&theirs.id).all())
        .await
        .unwrap()
        .len();
    assert_eq!(before, after);
}
