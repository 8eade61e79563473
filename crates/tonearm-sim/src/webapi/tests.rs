//! Unit tests of the Web API: paging math, cursor paging, search, writes and snapshot ids,
//! the scale settings, and the 401/404/400/429 answers, over a real simulator on 127.0.0.1
//! (plus a few pure helpers).

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::super::{CatalogSpec, SimConfig, Simulator};
use super::objects::{paging, rfc3339};
use super::store::WebData;

struct Env {
    sim: Simulator,
    base: String,
    token: String,
    http: reqwest::Client,
}

async fn env_with(cfg: SimConfig) -> Env {
    let sim = Simulator::start(cfg).await.unwrap();
    let base = sim.info().web_api.clone();
    let token = sim.issue_login5_token("tonearm-demo").unwrap();
    Env {
        sim,
        base,
        token,
        http: reqwest::Client::new(),
    }
}

async fn env() -> Env {
    env_with(SimConfig::default()).await
}

impl Env {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, v)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }
}

fn assert_error(v: &Value, status: u16) {
    assert_eq!(v["error"]["status"], status, "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
}

#[test]
fn paging_math() {
    let p = paging("http://h/v1/x", "", vec![], 45, 20, 20);
    assert_eq!(p["next"], "http://h/v1/x?offset=40&limit=20");
    assert_eq!(p["previous"], "http://h/v1/x?offset=0&limit=20");
    assert_eq!(p["href"], "http://h/v1/x?offset=20&limit=20");
    let p = paging("http://h/v1/x", "a=b", vec![], 45, 40, 20);
    assert!(p["next"].is_null());
    assert_eq!(p["previous"], "http://h/v1/x?a=b&offset=20&limit=20");
    let p = paging("http://h/v1/x", "", vec![], 3, 0, 20);
    assert!(p["next"].is_null() && p["previous"].is_null());
    assert_eq!(p["total"], 3);
    let p = paging("http://h/v1/x", "", vec![], 100, 5, 10);
    assert_eq!(p["previous"], "http://h/v1/x?offset=0&limit=10");
}

#[test]
fn dates() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(1_717_243_200), "2024-06-01T12:00:00Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
}

#[test]
fn rate_window() {
    let mut d = WebData::default();
    let t0 = Instant::now();
    let w = Duration::from_secs(2);
    assert!(d.rate_check("u", 2, w, t0).is_ok());
    assert!(d.rate_check("u", 2, w, t0).is_ok());
    assert_eq!(d.rate_check("u", 2, w, t0), Err(2));
    assert!(d.rate_check("v", 2, w, t0).is_ok());
    assert!(d.rate_check("u", 2, w, t0 + w).is_ok());
}

#[tokio::test]
async fn auth_errors() {
    let e = env().await;
    let url = format!("{}/me", e.base);
    let r = e.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_error(&r.json().await.unwrap(), 401);
    let r = e.http.get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let (s, v) = e.get("me").await;
    assert_eq!(s, 200);
    assert_eq!(v["id"], "tonearm-demo");
    assert_eq!(v["product"], "premium");
    assert_eq!(v["country"], "SE");
}

#[tokio::test]
async fn expired_token_is_401() {
    let e = env_with(SimConfig {
        token_ttl: Duration::from_millis(50),
        ..SimConfig::default()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    let (s, v) = e.get("me").await;
    assert_eq!(s, 401);
    assert_error(&v, 401);
}

#[tokio::test]
async fn bad_and_unknown_ids_and_limits() {
    let e = env().await;
    let (s, v) = e.get("albums/not-an-id").await;
    assert_eq!(s, 400);
    assert_error(&v, 400);
    let (s, v) = e.get("albums/0000000000000000000000").await;
    assert_eq!(s, 404);
    assert_error(&v, 404);
    let (s, _) = e.get("playlists/0000000000000000000000").await;
    assert_eq!(s, 404);
    let (s, v) = e.get("no/such/endpoint").await;
    assert_eq!(s, 404);
    assert_error(&v, 404);
    for bad in ["limit=0", "limit=51", "limit=x", "offset=-1"] {
        let (s, v) = e.get(&format!("me/tracks?{bad}")).await;
        assert_eq!(s, 400, "{bad}");
        assert_error(&v, 400);
    }
    let (s, _) = e.get("search?q=tone&type=track&limit=11").await;
    assert_eq!(s, 400);
    let (s, _) = e.get("search?q=tone&type=nope").await;
    assert_eq!(s, 400);
    let (s, _) = e.get("search?type=track").await;
    assert_eq!(s, 400);
    let (s, _) = e.get("me/following").await;
    assert_eq!(s, 400);
    let r = e
        .http
        .put(format!("{}/me/tracks", e.base))
        .bearer_auth(&e.token)
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_error(&r.json().await.unwrap(), 400);
}

#[tokio::test]
async fn offset_paging_over_a_scaled_library() {
    let e = env_with(SimConfig {
        catalog: CatalogSpec::Synthetic { tracks: 200 },
        library_tracks: 120,
        library_playlists: 7,
        ..SimConfig::default()
    })
    .await;
    let mut seen = Vec::new();
    let mut url = format!("{}/me/tracks?limit=50", e.base);
    loop {
        let v: Value = e
            .http
            .get(&url)
            .bearer_auth(&e.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["total"], 120);
        for item in v["items"].as_array().unwrap() {
            seen.push(item["track"]["id"].as_str().unwrap().to_owned());
        }
        match v["next"].as_str() {
            Some(n) => url = n.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 120);
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), 120);
    let (_, v) = e.get("me/tracks?offset=100&limit=50").await;
    assert_eq!(v["items"].as_array().unwrap().len(), 20);
    assert!(v["next"].is_null());
    assert_eq!(v["offset"], 100);
    let (_, v) = e.get("me/playlists").await;
    assert_eq!(v["total"], 7);
    assert_eq!(v["items"][0]["tracks"]["total"], 10);
    let (_, v) = e.get("me/tracks?offset=500").await;
    assert_eq!(v["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn scale_beyond_the_catalog_is_a_config_error() {
    let err = Simulator::start(SimConfig {
        library_tracks: 100_000,
        ..SimConfig::default()
    })
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("library_tracks"), "{err}");
}

#[tokio::test]
async fn cursor_paging_of_followed_artists() {
    let e = env().await;
    let (s, v) = e.get("me/following?type=artist&limit=1").await;
    assert_eq!(s, 200);
    let a = &v["artists"];
    assert_eq!(a["total"], 2);
    assert_eq!(a["items"].as_array().unwrap().len(), 1);
    let after = a["cursors"]["after"].as_str().unwrap().to_owned();
    assert_eq!(a["items"][0]["id"], after.as_str());
    let next = a["next"].as_str().unwrap().to_owned();
    assert!(next.contains(&format!("after={after}")), "{next}");
    let v: Value = e
        .http
        .get(&next)
        .bearer_auth(&e.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let a2 = &v["artists"];
    assert_eq!(a2["items"].as_array().unwrap().len(), 1);
    assert_ne!(a2["items"][0]["id"], after.as_str());
    assert!(a2.get("next").is_none());
    assert!(a2["cursors"].get("after").is_none());
}

#[tokio::test]
async fn search_is_grouped_and_case_insensitive() {
    let e = env().await;
    let (s, v) = e
        .get("search?q=MIDDLE%20c&type=track,album,artist,playlist,show,episode")
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["tracks"]["items"][0]["name"], "Middle C Sunrise");
    for key in ["albums", "artists", "playlists", "shows", "episodes"] {
        assert!(v[key]["items"].is_array(), "{key}");
    }
    let (_, v) = e.get("search?q=sine&type=artist").await;
    assert_eq!(v["artists"]["items"][0]["name"], "The Sine Waves");
    assert!(v.get("tracks").is_none());
    let (_, v) = e
        .get("search?q=artist:sine%20waves&type=track&limit=2")
        .await;
    assert_eq!(v["tracks"]["limit"], 2);
    assert!(v["tracks"]["total"].as_u64().unwrap() >= 4);
    assert!(v["tracks"]["next"].as_str().unwrap().contains("offset=2"));
    let (_, v) = e.get("search?q=tonearm%20test%20radio&type=show").await;
    assert_eq!(v["shows"]["total"], 1);
    let (_, v) = e.get("search?q=zzzz&type=track").await;
    assert_eq!(v["tracks"]["total"], 0);
}

#[tokio::test]
async fn library_writes() {
    let e = env().await;
    let (_, v) = e.get("me/tracks").await;
    let before = v["total"].as_u64().unwrap();
    let demo = e.sim.info().demo_tracks.clone();
    let unsaved = demo[1].uri.rsplit(':').next().unwrap().to_owned();
    let (s, _) = e
        .call(Method::PUT, &format!("me/tracks?ids={unsaved}"), None)
        .await;
    assert_eq!(s, 200);
    let (_, v) = e.get("me/tracks").await;
    assert_eq!(v["total"].as_u64().unwrap(), before + 1);
    assert_eq!(v["items"][0]["track"]["id"], unsaved.as_str());
    let other = demo[2].uri.rsplit(':').next().unwrap().to_owned();
    let (s, v) = e
        .get(&format!("me/tracks/contains?ids={unsaved},{other}"))
        .await;
    assert_eq!(s, 200);
    let first = v[0].as_bool().unwrap();
    assert!(first, "{v}");
    let (s, v) = e.get("me/tracks/contains?ids=0000000000000000000000").await;
    assert_eq!(s, 404, "{v}");
    let many = vec![unsaved.as_str(); 51].join(",");
    let (s, _) = e.get(&format!("me/tracks/contains?ids={many}")).await;
    assert_eq!(s, 400);
    let (s, _) = e
        .call(
            Method::DELETE,
            "me/tracks",
            Some(json!({ "ids": [unsaved] })),
        )
        .await;
    assert_eq!(s, 200);
    let (_, v) = e.get("me/tracks").await;
    assert_eq!(v["total"].as_u64().unwrap(), before);
    let (_, v) = e.get(&format!("me/tracks/contains?ids={unsaved}")).await;
    assert_eq!(v, json!([false]));
    let (s, _) = e
        .call(Method::PUT, "me/tracks?ids=0000000000000000000000", None)
        .await;
    assert_eq!(s, 404);

    let (_, v) = e.get("me/following?type=artist").await;
    let artist = v["artists"]["items"][0]["id"].as_str().unwrap().to_owned();
    let (s, _) = e
        .call(
            Method::DELETE,
            &format!("me/following?type=artist&ids={artist}"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (_, v) = e.get("me/following?type=artist").await;
    assert_eq!(v["artists"]["total"], 1);

    let (_, v) = e.get("me/albums").await;
    let album = v["items"][0]["album"]["id"].as_str().unwrap().to_owned();
    let (s, _) = e
        .call(Method::DELETE, &format!("me/albums?ids={album}"), None)
        .await;
    assert_eq!(s, 200);
    let (_, v) = e.get("me/albums").await;
    assert_eq!(v["total"], 1);
}

#[tokio::test]
async fn playlist_writes_change_the_snapshot() {
    let e = env().await;
    let (s, p) = e
        .call(
            Method::POST,
            "users/tonearm-demo/playlists",
            Some(json!({ "name": "Fresh", "public": false, "description": "new" })),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(p["name"], "Fresh");
    assert_eq!(p["public"], false);
    assert_eq!(p["tracks"]["total"], 0);
    let id = p["id"].as_str().unwrap().to_owned();
    let snap0 = p["snapshot_id"].as_str().unwrap().to_owned();
    let (_, v) = e.get("me/playlists").await;
    assert_eq!(v["items"][0]["id"], id.as_str());

    let uris: Vec<String> = e
        .sim
        .info()
        .demo_tracks
        .iter()
        .map(|t| t.uri.clone())
        .collect();
    let (s, v) = e
        .call(
            Method::POST,
            &format!("playlists/{id}/tracks"),
            Some(json!({ "uris": [uris[0], uris[1], uris[2]] })),
        )
        .await;
    assert_eq!(s, 201);
    let snap1 = v["snapshot_id"].as_str().unwrap().to_owned();
    assert_ne!(snap0, snap1);
    let (s, v) = e
        .call(
            Method::POST,
            &format!("playlists/{id}/tracks?uris={}&position=0", uris[3]),
            None,
        )
        .await;
    assert_eq!(s, 201);
    let snap2 = v["snapshot_id"].as_str().unwrap().to_owned();
    assert_ne!(snap1, snap2);
    let (_, v) = e.get(&format!("playlists/{id}/tracks")).await;
    assert_eq!(v["total"], 4);
    assert_eq!(v["items"][0]["track"]["uri"], uris[3].as_str());

    let (s, v) = e
        .call(
            Method::DELETE,
            &format!("playlists/{id}/tracks"),
            Some(json!({ "tracks": [{ "uri": uris[0] }] })),
        )
        .await;
    assert_eq!(s, 200);
    assert_ne!(v["snapshot_id"].as_str().unwrap(), snap2);
    let (_, v) = e.get(&format!("playlists/{id}")).await;
    assert_eq!(v["tracks"]["total"], 3);
    assert_eq!(v["snapshot_id"], v["snapshot_id"].clone());

    // Someone else's playlist and someone else's user.
    let (_, v) = e.get("me/playlists").await;
    let alices = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["owner"]["id"] == "alice")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, v) = e
        .call(
            Method::POST,
            &format!("playlists/{alices}/tracks"),
            Some(json!({ "uris": [uris[0]] })),
        )
        .await;
    assert_eq!(s, 403);
    assert_error(&v, 403);
    let (s, _) = e
        .call(
            Method::POST,
            "users/alice/playlists",
            Some(json!({ "name": "x" })),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = e
        .call(
            Method::POST,
            "users/tonearm-demo/playlists",
            Some(json!({ "public": true })),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = e
        .call(
            Method::POST,
            &format!("playlists/{id}/tracks"),
            Some(json!({ "uris": ["spotify:track:nope"] })),
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let e = env_with(SimConfig {
        web_api_rate: Some((3, Duration::from_secs(30))),
        ..SimConfig::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(e.get("me").await.0, 200);
    }
    let r = e
        .http
        .get(format!("{}/me", e.base))
        .bearer_auth(&e.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert_error(&r.json().await.unwrap(), 429);
    // Another user has its own window.
    let other = e.sim.issue_login5_token("alice").unwrap();
    let r = e
        .http
        .get(format!("{}/me", e.base))
        .bearer_auth(other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn recently_played_cursors() {
    let e = env().await;
    let (s, v) = e.get("me/player/recently-played?limit=2").await;
    assert_eq!(s, 200);
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    let before = v["cursors"]["before"].as_str().unwrap().to_owned();
    let next = v["next"].as_str().unwrap().to_owned();
    assert!(next.contains(&format!("before={before}")));
    let (_, v2) = e
        .get(&format!(
            "me/player/recently-played?limit=2&before={before}"
        ))
        .await;
    assert_eq!(v2["items"].as_array().unwrap().len(), 2);
    assert_ne!(v2["items"][0]["played_at"], v["items"][0]["played_at"]);
    let (s, _) = e.get("me/player/recently-played?after=1&before=2").await;
    assert_eq!(s, 400);
}

/// `GET /me/top/tracks`: a paging object of track objects, a fixed order per `time_range`,
/// 400 for another range or a bad limit.
#[tokio::test]
async fn top_tracks_page_per_time_range() {
    let e = env().await;
    let (s, v) = e.get("me/top/tracks").await;
    assert_eq!(s, 200);
    let items = v["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert_eq!(
        v["total"].as_u64().unwrap() as usize,
        items.len(),
        "all on one page"
    );
    assert!(items
        .iter()
        .all(|t| t["type"] == "track" && t["uri"].as_str().unwrap().starts_with("spotify:track:")));
    assert_eq!(v["offset"], 0);
    let uris = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["uri"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, short) = e.get("me/top/tracks?time_range=short_term").await;
    let mut reversed = uris(&v);
    reversed.reverse();
    assert_eq!(uris(&short), reversed);
    let (_, one) = e.get("me/top/tracks?limit=1&offset=1").await;
    assert_eq!(uris(&one), uris(&v)[1..2]);
    let (s, _) = e.get("me/top/tracks?time_range=forever").await;
    assert_eq!(s, 400);
    let (s, _) = e.get("me/top/tracks?limit=0").await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn artists_and_albums() {
    let e = env().await;
    let album_id = e
        .sim
        .info()
        .demo_album
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let (s, v) = e.get(&format!("albums/{album_id}")).await;
    assert_eq!(s, 200);
    assert_eq!(v["name"], "Pure Tones");
    assert_eq!(v["tracks"]["total"], 4);
    let artist = v["artists"][0]["id"].as_str().unwrap().to_owned();
    let (_, v) = e.get(&format!("albums/{album_id}/tracks?limit=3")).await;
    assert_eq!(v["items"].as_array().unwrap().len(), 3);
    assert!(v["next"].is_string());
    let (_, v) = e.get(&format!("artists/{artist}")).await;
    assert_eq!(v["name"], "The Sine Waves");
    let (_, v) = e.get(&format!("artists/{artist}/albums")).await;
    let groups: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["album_group"].as_str().unwrap())
        .collect();
    assert!(
        groups.contains(&"album") && groups.contains(&"appears_on"),
        "{groups:?}"
    );
    let (_, v) = e
        .get(&format!(
            "artists/{artist}/albums?include_groups=appears_on"
        ))
        .await;
    assert_eq!(v["total"], 1);
    let (s, _) = e
        .get(&format!("artists/{artist}/albums?include_groups=bogus"))
        .await;
    assert_eq!(s, 400);
    let (_, v) = e.get(&format!("artists/{artist}/top-tracks")).await;
    assert!(!v["tracks"].as_array().unwrap().is_empty());
}
