//! The Web API client and the library cache against the simulator's `/v1`: a 10k-track,
//! 200-playlist library loaded completely and in order (checked against a plain sequential
//! walk of the pages), snapshot-based refresh, search paging (offset/limit/next), a 429 storm
//! from the simulator's rate limit, and an expired login5 token refreshed.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;
use tonearm::api::library;
use tonearm::api::webapi::SearchType;
use tonearm::api::{TokenProvider, WebApi};
use tonearm::session::Session;
use tonearm_sim::{CatalogSpec, SimConfig, Simulator};
use tonearm_testkit::process::{account_in, endpoint_args, output_with_stdin, Home, SimProcess};

use crate::common::{sim_with, within};

/// Signs in as the demo account (the one the scale settings fill) and builds a WebApi.
async fn web_api(s: &Simulator) -> (Session, TokenProvider, WebApi) {
    // The first premium account is `tonearm-demo`, the one the scale settings fill.
    let (session, sp) = crate::api::services(s).await;
    let tokens = sp.tokens().clone();
    let api = WebApi::new(
        tokens.clone(),
        s.info().web_api.clone(),
        reqwest::Client::new(),
    );
    (session, tokens, api)
}

/// Walks an offset-paged list one page after another with plain HTTP, following `next` —
/// independent of the client's concurrent paging.
async fn walk(s: &Simulator, tokens: &TokenProvider, path: &str, key: &str) -> Vec<String> {
    let http = reqwest::Client::new();
    let mut url = format!("{}{path}", s.info().web_api);
    let mut out = vec![];
    loop {
        let token = tokens.access_token().await.unwrap();
        let v: Value = http
            .get(&url)
            .bearer_auth(&token.token)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        for item in v["items"].as_array().unwrap() {
            let uri = item[key]["uri"]
                .as_str()
                .or_else(|| item["track"]["uri"].as_str())
                .unwrap();
            out.push(uri.to_string());
        }
        match v["next"].as_str() {
            Some(n) => url = n.to_string(),
            None => return out,
        }
    }
}

fn big() -> SimConfig {
    SimConfig {
        catalog: CatalogSpec::Synthetic { tracks: 10_000 },
        library_tracks: 10_000,
        library_playlists: 200,
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn loads_a_10k_track_library_with_200_playlists() {
    let s = sim_with(big()).await;
    let (session, tokens, api) = web_api(&s).await;

    let lib = within(60, library::refresh(&api, None)).await.unwrap();
    assert_eq!(lib.saved_tracks.len(), 10_000);
    let liked: Vec<String> = lib.liked().map(|t| t.uri.clone()).collect();
    let distinct: HashSet<&String> = liked.iter().collect();
    assert_eq!(distinct.len(), 10_000, "no page fetched twice");
    let expected = walk(&s, &tokens, "/me/tracks?limit=50", "track").await;
    assert_eq!(liked, expected, "Liked Songs complete and in order");

    assert_eq!(lib.playlists.len(), 200);
    for p in &lib.playlists {
        let items = p.items.as_ref().expect("items loaded");
        assert_eq!(items.len() as u32, p.total, "{}", p.name);
    }
    // Spot-check a few playlists' order against a sequential walk.
    for p in lib.playlists.iter().step_by(50) {
        let got: Vec<String> = lib.playlist_tracks(p).map(|t| t.uri.clone()).collect();
        let path = format!("/playlists/{}/items?limit=50", p.id);
        let want = walk(&s, &tokens, &path, "item").await;
        assert_eq!(got, want, "{}", p.name);
    }

    // Cache round trip and a refresh that reuses every unchanged playlist.
    let dir = tempfile::tempdir().unwrap();
    let path = library::cache_file(dir.path(), &lib.username);
    lib.save(&path).unwrap();
    let cached = library::load_cached(&path).expect("cache loads");
    assert_eq!(cached, lib);
    let again = within(60, library::refresh(&api, Some(&cached)))
        .await
        .unwrap();
    assert_eq!(again.playlists, lib.playlists);
    assert_eq!(again.saved_tracks.len(), 10_000);

    session.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn snapshot_change_refetches_that_playlist() {
    let s = sim_with(SimConfig {
        catalog: CatalogSpec::Synthetic { tracks: 500 },
        library_tracks: 100,
        library_playlists: 5,
        ..SimConfig::default()
    })
    .await;
    let (session, _tokens, api) = web_api(&s).await;
    let lib = library::refresh(&api, None).await.unwrap();
    let target = lib.playlists[2].clone();
    let extra = lib.tracks[lib.saved_tracks[0].track as usize].uri.clone();
    let snap = api.add_to_playlist(&target.id, &[&extra]).await.unwrap();
    assert!(!snap.is_empty());
    assert_ne!(snap, target.snapshot_id);

    let after = library::refresh(&api, Some(&lib)).await.unwrap();
    let p = &after.playlists[2];
    assert_eq!(p.snapshot_id, snap);
    assert_eq!(
        p.items.as_ref().map(Vec::len),
        Some(target.total as usize + 1)
    );
    let last = after.playlist_tracks(p).last().map(|t| t.uri.clone());
    assert_eq!(last.as_deref(), Some(extra.as_str()));
    for i in [0, 1, 3, 4] {
        assert_eq!(after.playlists[i], lib.playlists[i]);
    }

    // And back: removing it restores the count.
    api.remove_from_playlist(&target.id, &[&extra])
        .await
        .unwrap();
    let pl = api.playlist(&target.id).await.unwrap();
    assert_eq!(
        pl.total(),
        target.total - u32::from(lib.playlist_tracks(&target).any(|t| t.uri == extra))
    );

    session.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn search_pages_with_offset_limit_and_next() {
    let s = sim_with(SimConfig {
        catalog: CatalogSpec::Synthetic { tracks: 2_000 },
        ..SimConfig::default()
    })
    .await;
    let (session, _tokens, api) = web_api(&s).await;
    // A word that many synthetic tracks share: the commonest first word of a track name.
    let first = api
        .search("a", &[SearchType::Track], 10, 0)
        .await
        .unwrap()
        .tracks
        .unwrap();
    let query = if first.total >= 25 {
        "a".to_string()
    } else {
        // Fall back to the first word of some catalog track name.
        let lib_probe = api
            .search("track", &[SearchType::Track], 10, 0)
            .await
            .unwrap();
        let t = lib_probe.tracks.unwrap();
        assert!(t.total > 0, "the synthetic catalog is searchable");
        "track".to_string()
    };
    let p0 = api
        .search(&query, &[SearchType::Track], 10, 0)
        .await
        .unwrap()
        .tracks
        .unwrap();
    assert!(p0.total > 10, "enough results to page ({})", p0.total);
    assert_eq!((p0.offset, p0.limit, p0.items.len()), (0, 10, 10));
    assert!(p0.next.is_some());
    assert!(p0.previous.is_none());
    let p1 = api
        .search(&query, &[SearchType::Track], 10, 10)
        .await
        .unwrap()
        .tracks
        .unwrap();
    assert_eq!((p1.offset, p1.total), (10, p0.total));
    assert!(p1.previous.is_some());
    let a: HashSet<&str> = p0.items.iter().map(|t| t.uri.as_str()).collect();
    assert!(
        p1.items.iter().all(|t| !a.contains(t.uri.as_str())),
        "pages do not overlap"
    );
    // The `next` link names the following offset.
    let next = p0.next.unwrap();
    assert!(next.contains("offset=10"), "{next}");
    // The last page has no `next`.
    let last_offset = (p0.total - 1) / 10 * 10;
    if last_offset <= 1000 {
        let last = api
            .search(&query, &[SearchType::Track], 10, last_offset)
            .await
            .unwrap()
            .tracks
            .unwrap();
        assert!(last.next.is_none());
        assert_eq!(last.items.len() as u32, p0.total - last_offset);
    }
    // Several types at once.
    let all = api
        .search(
            &query,
            &[SearchType::Track, SearchType::Album, SearchType::Artist],
            5,
            0,
        )
        .await
        .unwrap();
    assert!(all.tracks.is_some() && all.albums.is_some() && all.artists.is_some());
    assert!(all.playlists.is_none());

    session.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn a_429_storm_still_completes() {
    let s = sim_with(SimConfig {
        catalog: CatalogSpec::Synthetic { tracks: 1_000 },
        library_tracks: 600,
        library_playlists: 3,
        web_api_rate: Some((5, Duration::from_secs(1))),
        ..SimConfig::default()
    })
    .await;
    let (session, _tokens, api) = web_api(&s).await;
    // 1 + 12 pages of Liked Songs + 4 other lists + 3 playlists ≈ 20 requests at 5 per second.
    let lib = within(60, library::refresh(&api, None)).await.unwrap();
    assert_eq!(lib.saved_tracks.len(), 600);
    let distinct: HashSet<u32> = lib.saved_tracks.iter().map(|e| e.track).collect();
    assert_eq!(distinct.len(), 600);
    assert!(lib.playlists.iter().all(|p| p.items.is_some()));
    session.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn an_expired_token_is_refreshed() {
    // Tokens live 11 s; the client stops using one 10 s before it expires, so after ~1 s it
    // fetches another. The simulator refuses the old one once expired.
    let s = sim_with(SimConfig {
        token_ttl: Duration::from_secs(11),
        ..SimConfig::default()
    })
    .await;
    let (session, tokens, api) = web_api(&s).await;
    let me = api.me().await.unwrap();
    assert_eq!(me.id, "tonearm-demo");
    let old = tokens.access_token().await.unwrap();
    let logins = s.stats().login5_logins;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let me2 = api.me().await.unwrap();
    assert_eq!(me2.id, me.id);
    assert!(s.stats().login5_logins > logins, "a new token was fetched");

    // The old token really expired: the simulator refuses it, the client carries on. (The
    // 401 → invalidate → retry path itself is covered by the unit tests' fake server.)
    tokio::time::sleep(Duration::from_millis(10_000)).await;
    let resp = reqwest::Client::new()
        .get(format!("{}/me", s.info().web_api))
        .bearer_auth(&old.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "the simulator expires tokens");
    assert_eq!(api.me().await.unwrap().id, me.id);

    session.shutdown().await;
    s.shutdown().await;
}

// ---- the binary: `tonearm library` and `tonearm search` ----

fn stdout_json(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn demo_library_and_search_through_the_binary() {
    let home = Home::new(env!("CARGO_BIN_EXE_tonearm"));
    let out = home
        .command()
        .args(["--demo", "library", "--json"])
        .output()
        .unwrap();
    let v = stdout_json(&out);
    assert_eq!(v["cached"], false);
    assert!(v["liked_songs"].as_u64().unwrap() > 0, "{v}");
    let playlists = v["playlists"].as_array().unwrap();
    assert!(!playlists.is_empty());
    assert!(playlists
        .iter()
        .all(|p| p["loaded"].as_u64() == p["tracks"].as_u64()));
    assert!(
        !home.path().join("cache/tonearm").exists(),
        "--demo writes no cache"
    );

    let out = home.command().args(["--demo", "library"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("Liked Songs: "), "{text}");
    assert!(text.contains("Playlists ("), "{text}");

    let out = home
        .command()
        .args([
            "--demo",
            "search",
            "tone",
            "--type",
            "track,album",
            "--limit",
            "2",
            "--json",
        ])
        .output()
        .unwrap();
    let v = stdout_json(&out);
    assert!(v["tracks"]["items"].is_array(), "{v}");
    assert_eq!(v["tracks"]["limit"], 2);
    assert!(v["albums"].is_object());
    assert!(v["artists"].is_null());

    let out = home
        .command()
        .args(["--demo", "search", "x", "--type", "song"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown search type"));
}

#[tokio::test]
async fn library_cache_through_the_binary() {
    use std::process::Stdio;

    let home = Home::new(env!("CARGO_BIN_EXE_tonearm"));
    let mut sim = home.command();
    sim.arg("sim").stderr(Stdio::null());
    let sim = SimProcess::spawn(sim);
    // The first premium account is `tonearm-demo`.
    let (user, password) = account_in(&sim.info, "premium");
    let endpoint_args = endpoint_args(&sim.info);
    let run = |args: &[&str], stdin: Option<&str>| {
        output_with_stdin(home.command().args(&endpoint_args).args(args), stdin)
    };
    let out = run(
        &["login", "--username", &user, "--password-stdin"],
        Some(&format!("{password}\n")),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // No cache yet: fetched, printed, cached.
    let first = stdout_json(&run(&["library", "--json"], None));
    assert_eq!(first["cached"], false);
    let cache = home
        .path()
        .join(format!("cache/tonearm/library-{user}.json"));
    assert!(cache.exists());
    // Second run: the cached copy is printed first.
    let second = stdout_json(&run(&["library", "--json"], None));
    assert_eq!(second["cached"], true);
    assert_eq!(second["playlists"], first["playlists"]);
    assert_eq!(second["liked_songs"], first["liked_songs"]);
    // --refresh: fetched before printing.
    let third = stdout_json(&run(&["library", "--json", "--refresh"], None));
    assert_eq!(third["cached"], false);
    // A corrupt cache is ignored (and replaced), not a crash.
    std::fs::write(&cache, b"{ not json").unwrap();
    let fourth = stdout_json(&run(&["library", "--json"], None));
    assert_eq!(fourth["cached"], false);
    assert_eq!(fourth["playlists"], first["playlists"]);
    assert!(library::load_cached(&cache).is_some(), "rewritten");
    let log = std::fs::read_to_string(home.log_path()).unwrap();
    assert!(
        log.contains("corrupt"),
        "the corrupt cache is noted in the log"
    );
    drop(sim);
}

/// `/artists/{id}/albums` allows at most 10 a page (a larger `limit` is a 400, as Spotify
/// answers since its 2026 Web API changes): the client asks within it and gets every album the
/// busiest artist of a synthetic catalog is on (it asked 50 before, and artist pages failed).
#[tokio::test]
async fn an_artists_albums_are_paged_within_the_endpoints_limit() {
    use tonearm_sim::catalog::Entity;
    let s = sim_with(SimConfig {
        catalog: CatalogSpec::Synthetic { tracks: 3_000 },
        ..SimConfig::default()
    })
    .await;
    let cat = s.catalog();
    // Every album an artist is on: as a main artist, or as a guest on one of its tracks
    // (the endpoint's default include_groups has both).
    let albums_of = |i: usize| -> HashSet<String> {
        cat.albums
            .iter()
            .enumerate()
            .filter(|(_, al)| {
                al.artists.contains(&i)
                    || al
                        .tracks
                        .iter()
                        .any(|&t| cat.tracks.get(t).is_some_and(|t| t.artists.contains(&i)))
            })
            .filter_map(|(a, _)| cat.uri(Entity::Album(a)))
            .collect()
    };
    let (i, expected) = (0..cat.artists.len())
        .map(|i| (i, albums_of(i)))
        .max_by_key(|(_, set)| set.len())
        .expect("artists");
    assert!(
        expected.len() >= 2,
        "the synthetic catalog's busiest artist is on only {} albums",
        expected.len()
    );
    let uri = cat.uri(Entity::Artist(i)).expect("an artist URI");
    let (session, _tokens, api) = web_api(&s).await;
    let albums = within(30, api.artist_albums(&uri).all())
        .await
        .expect("every page within the limit");
    let got: HashSet<String> = albums.iter().map(|a| a.uri.clone()).collect();
    assert_eq!(got.len(), albums.len(), "no album twice");
    assert_eq!(got, expected);
    session.shutdown().await;
    s.shutdown().await;
}
