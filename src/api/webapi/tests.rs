//! WebApi against an in-test axum server on 127.0.0.1 (written from the OpenAPI spec, not the
//! simulator): model parsing of spec-shaped JSON, malformed answers naming the field, paging
//! order under bounded concurrency, cursor paging, 429 storms and `Retry-After`, 401 → one
//! token refresh, 5xx back-off, and the write endpoints with their fallbacks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method as AxMethod, StatusCode, Uri};
use serde_json::{json, Value};

use super::*;
use crate::api::tests::{account, endpoints, fast_timing, serve, token_routes, TokenCounters};

#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub auth: String,
    pub body: Vec<u8>,
}

impl Req {
    pub(crate) fn q(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(String::as_str)
    }
    pub(crate) fn offset(&self) -> u32 {
        self.q("offset").and_then(|v| v.parse().ok()).unwrap_or(0)
    }
    pub(crate) fn limit(&self) -> u32 {
        self.q("limit").and_then(|v| v.parse().ok()).unwrap_or(20)
    }
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
}

pub(crate) fn ok(v: Value) -> Reply {
    Reply {
        status: 200,
        headers: vec![],
        body: serde_json::to_vec(&v).expect("json"),
        delay: Duration::ZERO,
    }
}

pub(crate) fn status(code: u16) -> Reply {
    Reply {
        status: code,
        headers: vec![],
        body: serde_json::to_vec(&json!({"error": {"status": code, "message": "nope"}}))
            .expect("json"),
        delay: Duration::ZERO,
    }
}

pub(crate) struct Fake {
    pub base: String,
    pub seen: Arc<Mutex<Vec<Req>>>,
    pub tokens: Arc<TokenCounters>,
    pub max_in_flight: Arc<AtomicUsize>,
}

impl Fake {
    pub(crate) fn seen(&self) -> Vec<Req> {
        self.seen.lock().expect("lock").clone()
    }
    pub(crate) fn count(&self) -> usize {
        self.seen.lock().expect("lock").len()
    }
    pub(crate) fn api(&self) -> WebApi {
        self.api_with(test_policy())
    }
    pub(crate) fn api_with(&self, policy: WebApiPolicy) -> WebApi {
        let http = reqwest::Client::new();
        let tokens = TokenProvider::with_account(account(), endpoints(&self.base), http.clone())
            .with_timing(fast_timing());
        WebApi::with_policy(tokens, format!("{}/v1", self.base), http, policy)
    }
}

pub(crate) fn test_policy() -> WebApiPolicy {
    WebApiPolicy {
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        request_timeout: Duration::from_secs(5),
        ..WebApiPolicy::default()
    }
}

/// Tokens at `/v1/clienttoken` and `/v3/login`; every other request goes to `handler` with its
/// 1-based number (paths without the `/v1` prefix).
pub(crate) async fn fake(handler: impl Fn(&Req, usize) -> Reply + Send + Sync + 'static) -> Fake {
    let seen: Arc<Mutex<Vec<Req>>> = Arc::default();
    let tokens = Arc::new(TokenCounters::default());
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let handler = Arc::new(handler);
    let (s, inf, maxf) = (seen.clone(), in_flight.clone(), max_in_flight.clone());
    let router = token_routes(tokens.clone()).fallback(
        move |method: AxMethod, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (s, handler, inf, maxf) = (s.clone(), handler.clone(), inf.clone(), maxf.clone());
            async move {
                let now = inf.fetch_add(1, Ordering::SeqCst) + 1;
                maxf.fetch_max(now, Ordering::SeqCst);
                let query = uri
                    .query()
                    .map(|q| {
                        url_pairs(q)
                            .into_iter()
                            .collect::<HashMap<String, String>>()
                    })
                    .unwrap_or_default();
                let req = Req {
                    method: method.to_string(),
                    path: uri
                        .path()
                        .strip_prefix("/v1")
                        .unwrap_or(uri.path())
                        .to_string(),
                    query,
                    auth: headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string(),
                    body: body.to_vec(),
                };
                let n = {
                    let mut seen = s.lock().expect("lock");
                    seen.push(req.clone());
                    seen.len()
                };
                let reply = handler(&req, n);
                if !reply.delay.is_zero() {
                    tokio::time::sleep(reply.delay).await;
                }
                inf.fetch_sub(1, Ordering::SeqCst);
                let mut resp = axum::response::Response::new(axum::body::Body::from(reply.body));
                *resp.status_mut() = StatusCode::from_u16(reply.status).expect("status");
                resp.headers_mut()
                    .insert("content-type", "application/json".parse().expect("hv"));
                for (k, v) in reply.headers {
                    resp.headers_mut().insert(k, v.parse().expect("hv"));
                }
                resp
            }
        },
    );
    let base = serve(router).await;
    Fake {
        base,
        seen,
        tokens,
        max_in_flight,
    }
}

/// `a=1&b=x%2Cy` → pairs, percent-decoded.
fn url_pairs(q: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{q}"))
        .expect("url")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(crate) fn track_json(i: u32) -> Value {
    json!({
        "album": {
            "album_type": "album", "total_tracks": 9, "available_markets": ["SE"],
            "external_urls": {"spotify": "https://open.spotify.com/album/a"},
            "href": "https://api.spotify.com/v1/albums/a", "id": format!("album{}", i / 10),
            "images": [{"url": "https://i.scdn.co/image/x", "height": 300, "width": 300}],
            "name": format!("Album {}", i / 10), "release_date": "1981-12",
            "release_date_precision": "month", "type": "album",
            "uri": format!("spotify:album:album{}", i / 10),
            "artists": [{"id": "ar", "name": "Artist", "type": "artist", "uri": "spotify:artist:ar"}]
        },
        "artists": [{"external_urls": {}, "href": "h", "id": "ar", "name": "Artist",
                     "type": "artist", "uri": "spotify:artist:ar"}],
        "available_markets": ["SE"], "disc_number": 1, "duration_ms": 1000 + i,
        "explicit": false, "external_ids": {"isrc": "X"}, "href": "h",
        "id": format!("t{i}"), "is_playable": true, "name": format!("Track {i}"),
        "popularity": 50, "preview_url": null, "track_number": i % 10 + 1, "type": "track",
        "uri": format!("spotify:track:t{i}"), "is_local": false,
        "some_future_field": {"nested": [1, 2, 3]}
    })
}

/// A spec-shaped offset page of `total` items made by `item(i)`.
pub(crate) fn page_json(req: &Req, total: u32, item: impl Fn(u32) -> Value) -> Value {
    let (offset, limit) = (req.offset(), req.limit());
    let end = (offset + limit).min(total);
    let items: Vec<Value> = (offset..end).map(item).collect();
    json!({
        "href": format!("https://api.spotify.com/v1{}?offset={offset}&limit={limit}", req.path),
        "limit": limit, "offset": offset, "total": total,
        "next": if end < total { Value::String(format!("https://api.spotify.com/v1{}?offset={end}&limit={limit}", req.path)) } else { Value::Null },
        "previous": null,
        "items": items
    })
}

// ---- models ----

#[test]
fn parses_spec_shaped_saved_tracks_page() {
    let req = Req {
        method: "GET".into(),
        path: "/me/tracks".into(),
        query: HashMap::from([("offset".into(), "0".into()), ("limit".into(), "2".into())]),
        auth: String::new(),
        body: vec![],
    };
    let page = page_json(
        &req,
        5,
        |i| json!({"added_at": "2024-01-02T03:04:05Z", "track": track_json(i)}),
    );
    let bytes = serde_json::to_vec(&page).expect("json");
    let p: Paging<SavedTrack> = parse(&bytes, "test").expect("parses");
    assert_eq!(p.total, 5);
    assert_eq!(p.items.len(), 2);
    let t = &p.items[1].track;
    assert_eq!(t.name, "Track 1");
    assert_eq!(t.id.as_deref(), Some("t1"));
    assert_eq!(t.duration_ms, 1001);
    assert_eq!(t.is_playable, Some(true));
    assert_eq!(t.album.as_ref().map(|a| a.name.as_str()), Some("Album 0"));
    assert_eq!(t.artists[0].name, "Artist");
    assert!(p.next.is_some());
    assert_eq!(p.items[0].added_at, "2024-01-02T03:04:05Z");
}

#[test]
fn parses_nulls_and_missing_optionals() {
    // A local file: null ids, null album id, null images, missing optional fields.
    let v = json!({
        "id": null, "name": "Local", "uri": "spotify:local:a:b:c:1", "is_local": true,
        "duration_ms": null, "explicit": null,
        "album": {"id": null, "name": "Local album", "uri": null, "images": null,
                  "artists": null, "album_type": null},
        "artists": [{"id": null, "name": "Someone", "uri": null}]
    });
    let t: Track = parse(&serde_json::to_vec(&v).expect("json"), "t").expect("parses");
    assert!(t.is_local);
    assert_eq!(t.id, None);
    assert_eq!(t.duration_ms, 0);
    let album = t.album.expect("album");
    assert!(album.images.is_empty() && album.uri.is_empty());
    assert_eq!(t.artists[0].id, None);
}

#[test]
fn parses_playlist_items_tracks_episodes_and_nulls() {
    let show = json!({"id": "sh", "name": "Show", "uri": "spotify:show:sh", "publisher": "Pub",
        "available_markets": [], "copyrights": [], "description": "", "html_description": "",
        "explicit": false, "external_urls": {}, "href": "h", "images": [],
        "is_externally_hosted": false, "languages": [], "media_type": "audio",
        "type": "show", "total_episodes": 3});
    let episode = json!({
                "type": "episode", "id": "ep1", "name": "Episode 1", "uri": "spotify:episode:ep1",
                "audio_preview_url": null, "description": "d", "html_description": "<p>d</p>",
                "duration_ms": 60000, "explicit": false, "external_urls": {}, "href": "h",
                "images": [], "is_externally_hosted": false, "is_playable": true,
                "languages": ["en"], "release_date": "2020-01-01", "release_date_precision": "day",
                "resume_point": {"fully_played": false, "resume_position_ms": 5000},
                "show": show});
    let v = json!({
        "href": "h", "limit": 50, "offset": 0, "total": 4, "next": null, "previous": null,
        "items": [
            {"added_at": "2020-01-01T00:00:00Z", "added_by": {"id": "bob", "type": "user", "uri": "spotify:user:bob"},
             "is_local": false, "item": track_json(1), "track": track_json(1)},
            {"added_at": "2020-01-02T00:00:00Z", "is_local": false, "track": episode},
            {"added_at": "2020-01-03T00:00:00Z", "is_local": false, "item": null, "track": null},
            null
        ]
    });
    let p: Paging<PlaylistItem> = parse(&serde_json::to_vec(&v).expect("json"), "p").expect("ok");
    assert_eq!(p.items.len(), 3, "the null entry is dropped");
    assert_eq!(
        p.items[0].playable().map(Playable::uri),
        Some("spotify:track:t1")
    );
    match p.items[1].playable() {
        Some(Playable::Episode(e)) => {
            assert_eq!(e.name, "Episode 1");
            assert_eq!(e.show.as_ref().map(|s| s.publisher.as_str()), Some("Pub"));
            assert_eq!(
                e.resume_point.as_ref().map(|r| r.resume_position_ms),
                Some(5000)
            );
        }
        other => panic!("expected an episode, got {other:?}"),
    }
    assert!(p.items[2].playable().is_none());
}

#[test]
fn parses_search_results_with_null_playlists() {
    let v = json!({
        "tracks": {"href": "h", "limit": 2, "offset": 0, "total": 100, "next": "n", "previous": null,
                   "items": [track_json(1), track_json(2)]},
        "playlists": {"href": "h", "limit": 2, "offset": 0, "total": 7, "next": null, "previous": null,
                      "items": [null, {"collaborative": false, "description": "", "external_urls": {},
                                       "href": "h", "id": "pl", "images": [], "name": "Mix",
                                       "owner": {"id": "o", "display_name": null, "type": "user", "uri": "spotify:user:o"},
                                       "public": true, "snapshot_id": "s1",
                                       "tracks": {"href": "h", "total": 12},
                                       "type": "playlist", "uri": "spotify:playlist:pl"}]}
    });
    let r: SearchResults = parse(&serde_json::to_vec(&v).expect("json"), "s").expect("ok");
    assert_eq!(r.tracks.as_ref().map(|t| t.items.len()), Some(2));
    let pl = r.playlists.expect("playlists");
    assert_eq!(pl.items.len(), 1);
    assert_eq!(pl.items[0].total(), 12, "deprecated `tracks` counts too");
    assert!(r.albums.is_none());
}

#[test]
fn missing_required_field_is_malformed_naming_it() {
    let mut t = track_json(3);
    t.as_object_mut().expect("object").remove("name");
    let v = json!({"href": "h", "limit": 50, "offset": 0, "total": 2, "next": null, "previous": null,
                   "items": [{"added_at": "x", "track": track_json(1)}, {"added_at": "x", "track": t}]});
    let err = parse::<Paging<SavedTrack>>(&serde_json::to_vec(&v).expect("json"), "GET /me/tracks")
        .expect_err("must fail");
    match &err {
        ApiError::Malformed(m) => {
            assert!(m.contains("`name`"), "{m}");
            assert!(m.contains("items[1].track"), "{m}");
            assert!(m.starts_with("GET /me/tracks"), "{m}");
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
    // A page without `total`.
    let err = parse::<Paging<SavedTrack>>(br#"{"items": []}"#, "p").expect_err("fails");
    assert!(
        matches!(&err, ApiError::Malformed(m) if m.contains("`total`")),
        "{err}"
    );
}

#[test]
fn search_types_parse() {
    assert_eq!("track".parse::<SearchType>(), Ok(SearchType::Track));
    assert!("song".parse::<SearchType>().is_err());
    assert_eq!(enc("a b,c/ä"), "a%20b%2Cc%2F%C3%A4");
    assert_eq!(bare_id("spotify:track:abc"), "abc");
    assert_eq!(bare_id("abc"), "abc");
}

// ---- requests ----

#[tokio::test]
async fn paging_is_ordered_and_bounded() {
    let total = 1000;
    let f = fake(move |req, _| {
        assert_eq!(req.path, "/me/tracks");
        // Later pages answer faster, so completion order differs from request order.
        let delay = Duration::from_millis(u64::from(30 - (req.offset() / 50) % 30));
        let mut r = ok(page_json(
            req,
            total,
            |i| json!({"added_at": format!("a{i}"), "track": track_json(i)}),
        ));
        r.delay = delay;
        r
    })
    .await;
    let api = f.api();
    let all = api.saved_tracks().all().await.expect("all pages");
    assert_eq!(all.len(), 1000);
    for (i, s) in all.iter().enumerate() {
        assert_eq!(s.track.name, format!("Track {i}"));
    }
    assert_eq!(f.count(), 20, "one request per page of 50");
    let max = f.max_in_flight.load(Ordering::SeqCst);
    assert!(max > 1, "pages were fetched concurrently (max {max})");
    assert!(max <= 8, "at most 8 in flight (saw {max})");
    assert!(f.seen().iter().all(|r| r.limit() == 50));
}

#[tokio::test]
async fn pages_arrive_incrementally_in_order() {
    let f = fake(|req, _| ok(page_json(req, 230, track_json))).await;
    let api = f.api();
    let mut pages = api.album_tracks("spotify:album:xyz");
    assert_eq!(pages.total(), None);
    let mut offsets = vec![];
    let mut n = 0;
    while let Some(p) = pages.next_page().await {
        let p = p.expect("page");
        assert_eq!(p.total, Some(230));
        assert_eq!(p.items[0].name, format!("Track {}", p.offset));
        offsets.push(p.offset);
        n += p.items.len();
    }
    assert_eq!(pages.total(), Some(230));
    assert_eq!(offsets, vec![0, 50, 100, 150, 200]);
    assert_eq!(n, 230);
    assert!(f.seen().iter().all(|r| r.path == "/albums/xyz/tracks"));
}

#[tokio::test]
async fn paging_follows_a_server_capped_limit_and_empty_lists() {
    // The server caps limit at 20.
    let f = fake(|req, _| {
        let mut r = req.clone();
        r.query.insert("limit".into(), req.limit().min(20).to_string());
        if req.path == "/me/shows" {
            return ok(page_json(&r, 0, |_| Value::Null));
        }
        ok(page_json(&r, 45, |i| {
            json!({"id": format!("al{i}"), "name": format!("A{i}"), "uri": format!("spotify:album:al{i}")})
        }))
    })
    .await;
    let api = f.api();
    let albums = api.artist_albums("ar").all().await.expect("albums");
    assert_eq!(albums.len(), 45);
    assert!(albums
        .iter()
        .enumerate()
        .all(|(i, a)| a.name == format!("A{i}")));
    assert!(api.saved_shows().all().await.expect("shows").is_empty());
}

#[tokio::test]
async fn a_failing_page_fails_the_list() {
    let f = fake(|req, _| {
        if req.offset() == 100 {
            return status(403);
        }
        ok(page_json(req, 300, track_json))
    })
    .await;
    let err = f.api().album_tracks("a").all().await.expect_err("fails");
    assert!(matches!(err, ApiError::Http { status: 403, .. }), "{err:?}");
}

#[tokio::test]
async fn cursor_paging_follows_after() {
    let f = fake(|req, _| {
        assert_eq!(req.path, "/me/following");
        assert_eq!(req.q("type"), Some("artist"));
        let start: u32 = match req.q("after") {
            None => 0,
            Some(a) => a.trim_start_matches("ar").parse::<u32>().expect("cursor") + 1,
        };
        let end = (start + 50).min(120);
        let items: Vec<Value> = (start..end)
            .map(|i| json!({"id": format!("ar{i}"), "name": format!("Artist {i}"), "uri": format!("spotify:artist:ar{i}"),
                            "genres": [], "images": [], "followers": {"href": null, "total": 3}, "popularity": 1, "type": "artist"}))
            .collect();
        let more = end < 120;
        ok(json!({"artists": {
            "href": "h", "limit": 50, "total": 120,
            "next": if more { json!(format!("https://api.spotify.com/v1/me/following?type=artist&after=ar{}", end - 1)) } else { Value::Null },
            "cursors": {"after": if more { json!(format!("ar{}", end - 1)) } else { Value::Null }},
            "items": items
        }}))
    })
    .await;
    let artists = f.api().followed_artists().all().await.expect("artists");
    assert_eq!(artists.len(), 120);
    assert!(artists
        .iter()
        .enumerate()
        .all(|(i, a)| a.id == format!("ar{i}")));
    assert_eq!(f.count(), 3);
    assert_eq!(f.seen()[2].q("after"), Some("ar99"));
}

#[tokio::test]
async fn a_429_storm_is_waited_out() {
    let f = fake(|req, n| {
        if n <= 6 {
            let mut r = status(429);
            // One hint of 1 s; the rest say "retry now".
            r.headers
                .push(("retry-after", if n == 3 { "1" } else { "0" }.into()));
            return r;
        }
        ok(page_json(req, 120, track_json))
    })
    .await;
    let t = Instant::now();
    let tracks = f
        .api()
        .album_tracks("a")
        .all()
        .await
        .expect("survives the storm");
    assert_eq!(tracks.len(), 120);
    assert!(
        t.elapsed() >= Duration::from_millis(950),
        "Retry-After: 1 was honoured ({:?})",
        t.elapsed()
    );
    assert_eq!(f.count(), 6 + 3);
}

#[tokio::test]
async fn a_long_retry_after_pauses_the_whole_host_and_is_announced() {
    let f = fake(|_, _| {
        let mut r = status(429);
        r.headers.push(("retry-after", "60".into()));
        r
    })
    .await;
    let host = crate::api::http::host_of(&f.base);
    let mut notices = crate::api::rate_limit_notices();
    let api = f.api();
    let call = tokio::spawn(async move { api.me().await });
    let notice = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match notices.recv().await {
                Ok(n) if n.host == host => break n,
                Ok(_) => continue,
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .expect("the long pause is announced");
    assert_eq!(notice.wait, Duration::from_secs(60));
    // Obeyed, not an error: the call waits, and so does another client of the same host.
    let other = f.api();
    let second = tokio::spawn(async move { other.me().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!call.is_finished(), "still waiting out the minute");
    assert!(!second.is_finished(), "the pause is the host's");
    assert_eq!(f.count(), 1, "nothing sent during the pause");
    call.abort();
    second.abort();
}

#[tokio::test]
async fn a_429_without_retry_after_backs_off_and_retries() {
    let f = fake(|req, n| {
        if n == 1 {
            return status(429);
        }
        ok(page_json(req, 3, track_json))
    })
    .await;
    let t = Instant::now();
    let tracks = f
        .api()
        .album_tracks("a")
        .all()
        .await
        .expect("after the back-off");
    assert_eq!(tracks.len(), 3);
    assert!(
        t.elapsed() >= Duration::from_millis(950),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn endless_429s_give_up() {
    let f = fake(|_, _| {
        let mut r = status(429);
        r.headers.push(("retry-after", "0".into()));
        r
    })
    .await;
    let policy = WebApiPolicy {
        max_rate_limit_waits: 4,
        ..test_policy()
    };
    let err = f.api_with(policy).me().await.expect_err("gives up");
    assert!(matches!(err, ApiError::RateLimited { .. }), "{err:?}");
    assert_eq!(f.count(), 5);
}

#[tokio::test]
async fn a_401_refreshes_the_token_once() {
    let f = fake(|req, _| {
        if req.auth == "Bearer at-1" {
            return status(401);
        }
        ok(
            json!({"id": "alice", "display_name": "Alice", "uri": "spotify:user:alice",
                  "country": "SE", "product": "premium", "images": [], "type": "user",
                  "followers": {"href": null, "total": 0}, "external_urls": {}, "href": "h"}),
        )
    })
    .await;
    let me = f.api().me().await.expect("after refresh");
    assert_eq!(me.id, "alice");
    assert_eq!(me.product.as_deref(), Some("premium"));
    assert_eq!(f.tokens.logins(), 2, "one new login5 token");
    let auths: Vec<String> = f.seen().into_iter().map(|r| r.auth).collect();
    assert_eq!(auths, vec!["Bearer at-1", "Bearer at-2"]);
}

#[tokio::test]
async fn a_second_401_is_unauthorized() {
    let f = fake(|_, _| status(401)).await;
    let err = f.api().me().await.expect_err("unauthorized");
    assert_eq!(err, ApiError::Unauthorized);
    assert_eq!(f.count(), 2);
    assert_eq!(f.tokens.logins(), 2);
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let f = fake(|_, n| {
        if n <= 2 {
            return status(503);
        }
        ok(json!({"id": "ar", "name": "Artist", "uri": "spotify:artist:ar"}))
    })
    .await;
    let a = f
        .api()
        .artist("spotify:artist:ar")
        .await
        .expect("third time");
    assert_eq!(a.name, "Artist");
    assert_eq!(f.count(), 3);

    let f = fake(|_, _| status(500)).await;
    let err = f.api().artist("ar").await.expect_err("gives up");
    assert!(matches!(err, ApiError::Unavailable(_)), "{err:?}");
    assert_eq!(f.count(), 5, "max_tries");
    let f = fake(|_, _| status(404)).await;
    assert!(matches!(
        f.api().album("x").await,
        Err(ApiError::NotFound(_))
    ));
}

#[tokio::test]
async fn search_sends_query_types_limit_offset() {
    let f = fake(|req, _| {
        ok(json!({"tracks": page_json(req, 77, track_json), "albums": page_json(req, 0, |_| Value::Null)}))
    })
    .await;
    let r = f
        .api()
        .search(
            "daft punk & co",
            &[SearchType::Track, SearchType::Album],
            10,
            20,
        )
        .await
        .expect("search");
    let seen = &f.seen()[0];
    assert_eq!(seen.path, "/search");
    assert_eq!(seen.q("q"), Some("daft punk & co"));
    assert_eq!(seen.q("type"), Some("track,album"));
    assert_eq!((seen.limit(), seen.offset()), (10, 20));
    let tracks = r.tracks.expect("tracks");
    assert_eq!((tracks.offset, tracks.limit, tracks.total), (20, 10, 77));
    assert_eq!(tracks.items[0].name, "Track 20");
    assert!(tracks.next.is_some());
}

#[tokio::test]
async fn single_item_reads() {
    let f = fake(|req, _| match req.path.as_str() {
        "/albums/al" => ok(json!({"id": "al", "name": "Al", "uri": "spotify:album:al", "album_type": "album",
            "total_tracks": 2, "release_date": "2001", "images": [], "artists": [], "copyrights": [],
            "external_ids": {}, "genres": [], "label": "L", "popularity": 3,
            "tracks": page_json(req, 2, track_json)})),
        "/artists/ar/top-tracks" => {
            assert_eq!(req.q("market"), Some("SE"));
            ok(json!({"tracks": [track_json(1), track_json(2)]}))
        }
        "/me/player/recently-played" => ok(json!({"href": "h", "limit": 50, "next": null,
            "cursors": {"after": "1", "before": "0"},
            "items": [{"track": track_json(5), "played_at": "2024-01-01T00:00:00Z",
                       "context": {"type": "album", "uri": "spotify:album:x", "href": "h", "external_urls": {}}}]})),
        "/playlists/pl" => ok(json!({"id": "pl", "name": "P", "uri": "spotify:playlist:pl", "snapshot_id": "s",
            "items": page_json(req, 3, |i| json!({"item": track_json(i)}))})),
        _ => status(404),
    })
    .await;
    let api = f.api();
    let album = api.album("al").await.expect("album");
    assert_eq!(album.tracks.map(|t| t.items.len()), Some(2));
    assert_eq!(album.label, "L");
    let top = api.artist_top_tracks("ar", "SE").await.expect("top");
    assert_eq!(top.len(), 2);
    let recent = api.recently_played().await.expect("recent");
    assert_eq!(
        recent[0].context.as_ref().map(|c| c.kind.as_str()),
        Some("album")
    );
    let pl = api.playlist("spotify:playlist:pl").await.expect("playlist");
    assert_eq!((pl.total(), pl.snapshot_id.as_str()), (3, "s"));
}

#[tokio::test]
async fn playlist_items_fall_back_to_the_deprecated_path() {
    let f = fake(|req, _| match req.path.as_str() {
        "/playlists/pl/tracks" => ok(page_json(req, 60, |i| json!({"track": track_json(i)}))),
        _ => status(404),
    })
    .await;
    let api = f.api();
    let items = api.playlist_items("pl").all().await.expect("items");
    assert_eq!(items.len(), 60);
    assert_eq!(items[59].playable().map(Playable::name), Some("Track 59"));
    // Remembered: the second list goes straight to /tracks.
    let before = f.count();
    api.playlist_items("pl").all().await.expect("items");
    assert!(f.seen()[before..]
        .iter()
        .all(|r| r.path == "/playlists/pl/tracks"));
}

#[tokio::test]
async fn writes_send_spec_bodies() {
    let f = fake(|req, _| match (req.method.as_str(), req.path.as_str()) {
        ("PUT" | "DELETE", "/me/tracks" | "/me/albums" | "/me/following") => ok(Value::Null),
        ("POST", "/users/alice/playlists") => Reply {
            status: 201,
            ..ok(json!({"id": "new", "name": req.json()["name"], "uri": "spotify:playlist:new", "snapshot_id": "s0"}))
        },
        ("POST" | "DELETE", "/playlists/new/items") => Reply {
            status: 201,
            ..ok(json!({"snapshot_id": format!("s{}", req.json()["uris"].as_array().map_or(0, Vec::len))}))
        },
        _ => status(400),
    })
    .await;
    let api = f.api();
    let ids: Vec<String> = (0..120).map(|i| format!("spotify:track:t{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    api.save_tracks(&refs).await.expect("save");
    api.remove_tracks(&["t1"]).await.expect("remove");
    api.save_albums(&["al1"]).await.expect("save albums");
    api.remove_albums(&["al1"]).await.expect("remove albums");
    api.follow_artists(&["ar1"]).await.expect("follow");
    api.unfollow_artists(&["ar1"]).await.expect("unfollow");
    let pl = api
        .create_playlist("alice", "Road trip", false, Some("vroom"))
        .await
        .expect("create");
    assert_eq!(pl.name, "Road trip");
    let snap = api.add_to_playlist("new", &refs).await.expect("add");
    assert_eq!(snap, "s20", "the last chunk's snapshot");
    api.remove_from_playlist("new", &["spotify:track:t1"])
        .await
        .expect("remove items");

    let seen = f.seen();
    let save: Vec<&Req> = seen
        .iter()
        .filter(|r| r.method == "PUT" && r.path == "/me/tracks")
        .collect();
    assert_eq!(save.len(), 3, "120 ids in chunks of 50");
    assert_eq!(save[0].json()["ids"][0], "t0");
    assert_eq!(save[2].json()["ids"].as_array().map(Vec::len), Some(20));
    let follow = seen
        .iter()
        .find(|r| r.method == "PUT" && r.path == "/me/following")
        .expect("follow request");
    assert_eq!(follow.q("type"), Some("artist"));
    assert_eq!(follow.json()["ids"][0], "ar1");
    let create = seen
        .iter()
        .find(|r| r.path == "/users/alice/playlists")
        .expect("create");
    assert_eq!(
        create.json(),
        json!({"name": "Road trip", "public": false, "description": "vroom"})
    );
    let del = seen
        .iter()
        .find(|r| r.method == "DELETE" && r.path == "/playlists/new/items")
        .expect("delete");
    assert_eq!(del.json()["items"][0]["uri"], "spotify:track:t1");
}

#[tokio::test]
async fn library_writes_fall_back_to_me_library() {
    let f = fake(|req, _| match req.path.as_str() {
        "/me/library" => ok(Value::Null),
        _ => status(404),
    })
    .await;
    let ids: Vec<String> = (0..45).map(|i| format!("t{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    f.api().save_tracks(&refs).await.expect("save");
    let lib: Vec<Req> = f
        .seen()
        .into_iter()
        .filter(|r| r.path == "/me/library")
        .collect();
    assert_eq!(lib.len(), 2, "45 URIs in chunks of 40");
    assert_eq!(lib[0].method, "PUT");
    assert!(lib[0]
        .q("uris")
        .is_some_and(|u| u.starts_with("spotify:track:t0,spotify:track:t1,")));
}
