//! Library edits through the client's Web API against the simulator's `/v1`: like → contains →
//! unlike; create a playlist, add two tracks, remove one and read it back (and the cached
//! library updated in place to the same result); editing another user's playlist is refused
//! with a clear 403 and changes nothing. And through the TUI (the real binary in tmux, against a
//! `tonearm sim` child): the add-to-playlist picker adds a track to an own playlist (its items
//! and snapshot id change at the simulator) and creates a new playlist the simulator then lists.

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
        owner_id: me.id.clone(),
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

/// The user's top tracks and recently played tracks, as the TUI's pages load them.
#[tokio::test]
async fn top_tracks_and_recently_played() {
    let s = sim().await;
    let (_session, api) = web_api(&s).await;
    let top = within(20, api.top_tracks()).await.unwrap();
    let saved = within(20, api.saved_tracks().all()).await.unwrap();
    assert!(!top.is_empty());
    assert_eq!(
        top.iter().map(|t| t.uri.clone()).collect::<Vec<_>>(),
        saved
            .iter()
            .map(|t| t.track.uri.clone())
            .collect::<Vec<_>>(),
        "the simulator ranks the liked songs"
    );
    let recent = within(20, api.recently_played()).await.unwrap();
    assert!(!recent.is_empty());
    assert!(recent
        .iter()
        .all(|h| h.track.uri.starts_with("spotify:track:")));
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

/// `GET /v1/me/playlists` at the simulator with `token`: (name, id, snapshot id, total) each.
async fn sim_playlists(web_api: &str, token: &str) -> Vec<(String, String, String, u64)> {
    let v: serde_json::Value = reqwest::Client::new()
        .get(format!("{web_api}/me/playlists?limit=50"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_owned(),
                p["id"].as_str().unwrap_or_default().to_owned(),
                p["snapshot_id"].as_str().unwrap_or_default().to_owned(),
                p["tracks"]["total"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

/// Polls the simulator's playlists until `f` finds what it wants (≤ 30 s).
async fn until_playlists<T>(
    web_api: &str,
    token: &str,
    f: impl Fn(&[(String, String, String, u64)]) -> Option<T>,
) -> T {
    let t0 = std::time::Instant::now();
    loop {
        let list = sim_playlists(web_api, token).await;
        if let Some(v) = f(&list) {
            return v;
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(30),
            "the simulator's playlists: {list:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tui_picker_adds_to_a_playlist_and_creates_one() {
    use std::time::Duration;
    use tonearm_sim::remote::{Phone, PhoneConfig};
    use tonearm_testkit::process::{account_in, output_with_stdin, Home, SimProcess};

    if !tonearm_testkit::require_tool("tmux", "the TUI runs in a tmux pane") {
        return;
    }
    const BIN: &str = env!("CARGO_BIN_EXE_tonearm");
    let home = Home::new(BIN);
    let mut cmd = home.command();
    cmd.arg("sim");
    let sim = SimProcess::spawn(cmd);
    let url = sim.info["spclient"].as_str().unwrap().to_string();
    let web_api = sim.info["web_api"].as_str().unwrap().to_string();
    let (user, password) = account_in(&sim.info, "premium");
    let out = output_with_stdin(
        home.command()
            .args(["--sim", &url, "login", "--username", &user])
            .arg("--password-stdin"),
        Some(&format!("{password}\n")),
    );
    assert!(out.status.success(), "login: {out:?}");
    // An independent view of the account at the simulator.
    let phone = within(20, Phone::connect(PhoneConfig::new(&url, &user, &password)))
        .await
        .expect("the phone signs in");
    let token = phone.access_token().to_owned();
    let before = sim_playlists(&web_api, &token).await;
    let (_, mix_id, mix_snapshot, mix_total) = before
        .iter()
        .find(|p| p.0 == "Demo Mix")
        .cloned()
        .unwrap_or_else(|| panic!("Demo Mix at the simulator: {before:?}"));

    let tmux = home.tmux(
        (120, 40),
        &format!("exec env TERM=xterm-256color {BIN} --sim {url} --sink null"),
    );
    let log = || format!("log:\n{}", home.log());
    let wait = Duration::from_secs(90);
    tmux.wait_for("the library", wait, log, |s| s.contains("Demo Mix"));
    // Liked Songs, the first track; the picker narrowed to Demo Mix; enter adds.
    tmux.keys(&["]"]);
    tmux.wait_for("liked songs", wait, log, |s| s.contains("Liked Songs"));
    tmux.keys(&["a"]);
    tmux.wait_for("the picker", wait, log, |s| s.contains("Add to playlist"));
    tmux.type_text("demo mix");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the note", wait, log, |s| s.contains("Added “"));
    let (snapshot, total) = until_playlists(&web_api, &token, |l| {
        l.iter()
            .find(|p| p.1 == mix_id && p.3 == mix_total + 1)
            .map(|p| (p.2.clone(), p.3))
    })
    .await;
    assert_ne!(snapshot, mix_snapshot, "a new snapshot id");
    assert_eq!(total, mix_total + 1);

    // "New playlist…": named, created, and the track added; the simulator lists it.
    tmux.keys(&["a"]);
    tmux.wait_for("the picker", wait, log, |s| s.contains("New playlist"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the name box", wait, log, |s| s.contains("Name:"));
    tmux.type_text("Road Trip");
    tmux.keys(&["Enter"]);
    let created = until_playlists(&web_api, &token, |l| {
        l.iter().find(|p| p.0 == "Road Trip" && p.3 == 1).cloned()
    })
    .await;
    assert!(!created.1.is_empty());
    tmux.wait_for("the note", wait, log, |s| s.contains("to “Road Trip”"));

    // The top tracks and recently played pages (g t, g r) list tracks from the simulator.
    tmux.keys(&["g", "t"]);
    tmux.wait_for("the top tracks page", wait, log, |s| {
        s.contains("Top tracks") && s.contains("Open Circuit")
    });
    // Esc on its own (followed at once by `g`, a terminal reads Alt-g).
    tmux.keys(&["Escape"]);
    tmux.wait_for("the page closed", wait, log, |s| !s.contains("Top tracks"));
    tmux.keys(&["g", "r"]);
    tmux.wait_for("the recently played page", wait, log, |s| {
        s.contains("Recently played") && s.contains("newest first")
    });
    phone.close().await;
    tmux.keys(&["C-c"]);
}
