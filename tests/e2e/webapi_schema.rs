//! The simulator's Web API checked against `shared/spec/spotify-web-api.openapi.yml`: every
//! endpoint it serves (reads, writes and error answers) is called over 127.0.0.1 and its JSON
//! body validated against the response schema the document gives for that path, method and
//! status. The validator is ours and small: `$ref`, `type`, `required`, `properties`, `items`,
//! `nullable`, `enum`, `minimum`/`maximum`, `allOf`, `oneOf`/`anyOf` (any branch passes); a
//! violation names the JSON path where it happened. A self-test makes sure drifted bodies fail.

use serde_json::{json, Value};
use tonearm_sim::{SimConfig, Simulator};

use crate::common;

const SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/spec/spotify-web-api.openapi.yml"
);

struct Spec {
    doc: Value,
}

impl Spec {
    fn load() -> Spec {
        let text = std::fs::read_to_string(SPEC).expect("OpenAPI document readable");
        let doc: Value = serde_yaml::from_str(&text).expect("OpenAPI document parses");
        Spec { doc }
    }

    /// Follows `$ref`s (`#/a/b/c`) until a schema without one.
    fn resolve<'a>(&'a self, mut v: &'a Value) -> &'a Value {
        while let Some(r) = v.get("$ref").and_then(Value::as_str) {
            let pointer = r.strip_prefix('#').expect("local $ref");
            v = self
                .doc
                .pointer(pointer)
                .unwrap_or_else(|| panic!("dangling $ref {r}"));
        }
        v
    }

    /// The schema of the JSON body for `path`/`method`/`status`; `None` when the document
    /// promises no body.
    fn response_schema(&self, path: &str, method: &str, status: u16) -> Option<&Value> {
        let op = self
            .doc
            .pointer(&format!(
                "/paths/{}/{method}",
                path.replace('~', "~0").replace('/', "~1")
            ))
            .unwrap_or_else(|| panic!("{method} {path} is not in the document"));
        let resp = op["responses"]
            .get(status.to_string())
            .unwrap_or_else(|| panic!("{method} {path} documents no {status}"));
        let resp = self.resolve(resp);
        resp.pointer("/content/application~1json/schema")
    }

    /// A named component response's schema (errors the paths do not list, like 404).
    fn component_response(&self, name: &str) -> &Value {
        self.doc
            .pointer(&format!(
                "/components/responses/{name}/content/application~1json/schema"
            ))
            .unwrap_or_else(|| panic!("no component response {name}"))
    }

    fn validate(&self, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
        let s = self.resolve(schema);
        if v.is_null() {
            if s.get("nullable").and_then(Value::as_bool) == Some(true) {
                return Ok(());
            }
            let unconstrained = s.as_object().is_some_and(|o| {
                o.keys().all(|k| {
                    ["description", "example", "deprecated", "title"].contains(&k.as_str())
                })
            });
            if unconstrained {
                return Ok(());
            }
            return Err(format!("{at}: null but the schema is not nullable"));
        }
        if let Some(t) = s.get("type").and_then(Value::as_str) {
            let ok = match t {
                "integer" => v.is_i64() || v.is_u64(),
                "number" => v.is_number(),
                "boolean" => v.is_boolean(),
                "string" => v.is_string(),
                "array" => v.is_array(),
                "object" => v.is_object(),
                other => return Err(format!("{at}: unknown schema type {other}")),
            };
            if !ok {
                return Err(format!("{at}: expected {t}, got {v}"));
            }
        }
        if let Some(list) = s.get("enum").and_then(Value::as_array) {
            if !list.contains(v) {
                return Err(format!("{at}: {v} is not one of {list:?}"));
            }
        }
        if let (Some(min), Some(n)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64()) {
            if n < min {
                return Err(format!("{at}: {n} < minimum {min}"));
            }
        }
        if let (Some(max), Some(n)) = (s.get("maximum").and_then(Value::as_f64), v.as_f64()) {
            if n > max {
                return Err(format!("{at}: {n} > maximum {max}"));
            }
        }
        if let Some(obj) = v.as_object() {
            if let Some(req) = s.get("required").and_then(Value::as_array) {
                for k in req.iter().filter_map(Value::as_str) {
                    if !obj.contains_key(k) {
                        return Err(format!("{at}: missing required field {k:?}"));
                    }
                }
            }
            if let Some(props) = s.get("properties").and_then(Value::as_object) {
                for (k, sub) in props {
                    if let Some(x) = obj.get(k) {
                        self.validate(sub, x, &format!("{at}.{k}"))?;
                    }
                }
            }
        }
        if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
            for (i, x) in arr.iter().enumerate() {
                self.validate(items, x, &format!("{at}[{i}]"))?;
            }
        }
        if let Some(all) = s.get("allOf").and_then(Value::as_array) {
            for sub in all {
                self.validate(sub, v, at)?;
            }
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(any) = s.get(key).and_then(Value::as_array) {
                let errors: Vec<String> = any
                    .iter()
                    .filter_map(|sub| self.validate(sub, v, at).err())
                    .collect();
                if errors.len() == any.len() {
                    return Err(format!("{at}: no {key} branch matches: {errors:?}"));
                }
            }
        }
        Ok(())
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
        auth: bool,
    ) -> (u16, String) {
        let url = format!("{}/{url}", self.base);
        let mut req = self.http.request(method, url);
        if auth {
            req = req.bearer_auth(&self.token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("body"))
    }
}

/// Calls `method url` and validates the answer against `spec_path`'s schema for `status`.
#[allow(clippy::too_many_arguments)]
async fn check(
    spec: &Spec,
    c: &Client,
    method: &str,
    spec_path: &str,
    url: &str,
    body: Option<Value>,
    status: u16,
) -> Value {
    let m: reqwest::Method = method.to_uppercase().parse().expect("method");
    let (got, text) = c.send(m, url, body, true).await;
    assert_eq!(got, status, "{method} {url}: {text}");
    match spec.response_schema(spec_path, method, status) {
        Some(schema) => {
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{method} {url}: not JSON ({e}): {text}"));
            if let Err(e) = spec.validate(schema, &v, "$") {
                panic!("{method} {url} does not match {spec_path}: {e}");
            }
            v
        }
        None => {
            assert!(
                text.trim().is_empty(),
                "{method} {url}: unexpected body {text}"
            );
            Value::Null
        }
    }
}

fn id_of(uri: &str) -> String {
    uri.rsplit(':').next().expect("uri").to_owned()
}

#[tokio::test]
async fn every_endpoint_matches_the_openapi_document() {
    let spec = Spec::load();
    let sim: Simulator = common::sim_with(SimConfig::default()).await;
    let c = Client {
        http: reqwest::Client::new(),
        base: sim.info().web_api.clone(),
        token: sim.issue_login5_token("tonearm-demo").expect("token"),
    };
    let s = &spec;
    let album = id_of(&sim.info().demo_album);
    let uris: Vec<String> = sim
        .info()
        .demo_tracks
        .iter()
        .map(|t| t.uri.clone())
        .collect();

    check(s, &c, "get", "/me", "me", None, 200).await;
    let pls = check(
        s,
        &c,
        "get",
        "/me/playlists",
        "me/playlists?limit=2",
        None,
        200,
    )
    .await;
    let playlist = pls["items"][0]["id"]
        .as_str()
        .expect("playlist id")
        .to_owned();
    check(
        s,
        &c,
        "get",
        "/playlists/{playlist_id}",
        &format!("playlists/{playlist}"),
        None,
        200,
    )
    .await;
    for tail in ["tracks", "items"] {
        check(
            s,
            &c,
            "get",
            &format!("/playlists/{{playlist_id}}/{tail}"),
            &format!("playlists/{playlist}/{tail}?limit=3&offset=1"),
            None,
            200,
        )
        .await;
    }
    // The edge-case playlist: unplayable and restricted tracks (restrictions, is_playable).
    let edge = pls["items"][1]["id"]
        .as_str()
        .expect("playlist id")
        .to_owned();
    check(
        s,
        &c,
        "get",
        "/playlists/{playlist_id}",
        &format!("playlists/{edge}"),
        None,
        200,
    )
    .await;
    check(s, &c, "get", "/me/tracks", "me/tracks?limit=2", None, 200).await;
    check(s, &c, "get", "/me/albums", "me/albums", None, 200).await;
    check(
        s,
        &c,
        "get",
        "/me/following",
        "me/following?type=artist&limit=1",
        None,
        200,
    )
    .await;
    let f = check(
        s,
        &c,
        "get",
        "/me/following",
        "me/following?type=artist",
        None,
        200,
    )
    .await;
    let artist = f["artists"]["items"][0]["id"]
        .as_str()
        .expect("artist")
        .to_owned();
    check(s, &c, "get", "/me/shows", "me/shows", None, 200).await;
    check(s, &c, "get", "/me/episodes", "me/episodes", None, 200).await;
    check(
        s,
        &c,
        "get",
        "/search",
        "search?q=a&type=track,album,artist,playlist,show,episode&limit=10",
        None,
        200,
    )
    .await;
    check(
        s,
        &c,
        "get",
        "/search",
        "search?q=tone&type=audiobook",
        None,
        200,
    )
    .await;
    check(
        s,
        &c,
        "get",
        "/albums/{id}",
        &format!("albums/{album}"),
        None,
        200,
    )
    .await;
    check(
        s,
        &c,
        "get",
        "/albums/{id}/tracks",
        &format!("albums/{album}/tracks"),
        None,
        200,
    )
    .await;
    check(
        s,
        &c,
        "get",
        "/artists/{id}",
        &format!("artists/{artist}"),
        None,
        200,
    )
    .await;
    check(
        s,
        &c,
        "get",
        "/artists/{id}/albums",
        &format!("artists/{artist}/albums"),
        None,
        200,
    )
    .await;
    check(
        s,
        &c,
        "get",
        "/artists/{id}/top-tracks",
        &format!("artists/{artist}/top-tracks"),
        None,
        200,
    )
    .await;
    check(
        s,
        &c,
        "get",
        "/me/player/recently-played",
        "me/player/recently-played?limit=2",
        None,
        200,
    )
    .await;

    // Writes.
    let t1 = id_of(&uris[1]);
    check(
        s,
        &c,
        "put",
        "/me/tracks",
        "me/tracks",
        Some(json!({ "ids": [t1] })),
        200,
    )
    .await;
    check(
        s,
        &c,
        "delete",
        "/me/tracks",
        &format!("me/tracks?ids={t1}"),
        None,
        200,
    )
    .await;
    check(
        s,
        &c,
        "put",
        "/me/albums",
        &format!("me/albums?ids={album}"),
        None,
        200,
    )
    .await;
    check(
        s,
        &c,
        "delete",
        "/me/albums",
        &format!("me/albums?ids={album}"),
        None,
        200,
    )
    .await;
    let follow = format!("me/following?type=artist&ids={artist}");
    check(s, &c, "delete", "/me/following", &follow, None, 204).await;
    check(s, &c, "put", "/me/following", &follow, None, 204).await;
    let created = check(
        s,
        &c,
        "post",
        "/users/{user_id}/playlists",
        "users/tonearm-demo/playlists",
        Some(json!({ "name": "Schema", "public": false, "description": "checked" })),
        201,
    )
    .await;
    let new_id = created["id"].as_str().expect("id").to_owned();
    check(
        s,
        &c,
        "post",
        "/playlists/{playlist_id}/tracks",
        &format!("playlists/{new_id}/tracks"),
        Some(json!({ "uris": [uris[0], uris[1]] })),
        201,
    )
    .await;
    check(
        s,
        &c,
        "delete",
        "/playlists/{playlist_id}/tracks",
        &format!("playlists/{new_id}/tracks"),
        Some(json!({ "tracks": [{ "uri": uris[0] }] })),
        200,
    )
    .await;
    check(
        s,
        &c,
        "get",
        "/playlists/{playlist_id}",
        &format!("playlists/{new_id}"),
        None,
        200,
    )
    .await;

    // Errors: 401 on every endpoint the document lists it for, 404 and 400 shapes.
    let unauthorized: [(&str, &str, &str); 6] = [
        ("get", "/me", "me"),
        ("get", "/me/tracks", "me/tracks"),
        ("get", "/search", "search?q=a&type=track"),
        ("put", "/me/tracks", "me/tracks?ids=x"),
        ("get", "/albums/{id}", "albums/x"),
        ("get", "/me/following", "me/following?type=artist"),
    ];
    for (method, path, url) in unauthorized {
        let m: reqwest::Method = method.to_uppercase().parse().expect("method");
        let (status, text) = c.send(m, url, None, false).await;
        assert_eq!(status, 401, "{url}");
        let schema = s.response_schema(path, method, 401).expect("401 schema");
        let v: Value = serde_json::from_str(&text).expect("JSON");
        s.validate(schema, &v, "$").expect("401 body");
    }
    for (url, status, name) in [
        ("albums/0000000000000000000000".to_owned(), 404, "NotFound"),
        ("albums/bad".to_owned(), 400, "BadRequest"),
        ("me/tracks?limit=99".to_owned(), 400, "BadRequest"),
    ] {
        let (got, text) = c.send(reqwest::Method::GET, &url, None, true).await;
        assert_eq!(got, status, "{url}");
        let v: Value = serde_json::from_str(&text).expect("JSON");
        s.validate(s.component_response(name), &v, "$")
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limited_answer_matches_the_document() {
    let spec = Spec::load();
    let sim = common::sim_with(SimConfig {
        web_api_rate: Some((1, std::time::Duration::from_secs(60))),
        ..SimConfig::default()
    })
    .await;
    let c = Client {
        http: reqwest::Client::new(),
        base: sim.info().web_api.clone(),
        token: sim.issue_login5_token("tonearm-demo").expect("token"),
    };
    let (first, _) = c.send(reqwest::Method::GET, "me", None, true).await;
    assert_eq!(first, 200);
    let (status, text) = c.send(reqwest::Method::GET, "me", None, true).await;
    assert_eq!(status, 429);
    let v: Value = serde_json::from_str(&text).expect("JSON");
    let schema = spec.response_schema("/me", "get", 429).expect("429 schema");
    spec.validate(schema, &v, "$").expect("429 body");
    sim.shutdown().await;
}

#[test]
fn drifted_bodies_fail_validation() {
    let spec = Spec::load();
    let album_schema = json!({ "$ref": "#/components/schemas/SimplifiedAlbumObject" });
    let good = json!({
        "album_type": "album", "total_tracks": 1, "available_markets": [],
        "external_urls": { "spotify": "https://open.spotify.com/album/x" },
        "href": "h", "id": "x", "images": [], "name": "n", "release_date": "2020-01-01",
        "release_date_precision": "day", "type": "album", "uri": "spotify:album:x",
        "artists": [{ "id": "a", "name": "A", "type": "artist", "uri": "u", "href": "h",
                      "external_urls": {} }],
    });
    spec.validate(&album_schema, &good, "$")
        .expect("good album");
    let mut missing = good.clone();
    missing
        .as_object_mut()
        .expect("object")
        .remove("album_type");
    let e = spec.validate(&album_schema, &missing, "$").unwrap_err();
    assert!(e.contains("album_type"), "{e}");
    let mut wrong_type = good.clone();
    wrong_type["total_tracks"] = json!("1");
    let e = spec.validate(&album_schema, &wrong_type, "$").unwrap_err();
    assert!(e.starts_with("$.total_tracks"), "{e}");
    let mut bad_enum = good.clone();
    bad_enum["artists"][0]["type"] = json!("band");
    let e = spec.validate(&album_schema, &bad_enum, "$").unwrap_err();
    assert!(e.starts_with("$.artists[0].type"), "{e}");
    let paging = json!({ "$ref": "#/components/schemas/PagingSavedTrackObject" });
    let page = json!({ "href": "h", "items": [], "limit": 20, "next": null, "offset": 0,
                       "previous": null, "total": 0 });
    spec.validate(&paging, &page, "$").expect("good page");
    let mut no_prev = page.clone();
    no_prev.as_object_mut().expect("object").remove("previous");
    assert!(spec.validate(&paging, &no_prev, "$").is_err());
    let mut null_total = page;
    null_total["total"] = Value::Null;
    assert!(spec.validate(&paging, &null_total, "$").is_err());
}

/// The player endpoints (`/me/player*`), served over the simulator's Connect state, against the
/// document; a scripted receiver (the sim phone in receiver mode) stands in for the speaker and
/// must see every command.
#[tokio::test]
async fn player_endpoints_match_the_openapi_document() {
    use librespot_protocol::devices::DeviceType;
    use librespot_protocol::player::{PlayerState, ProvidedTrack};
    use std::time::Duration;
    use tonearm_sim::remote::{Phone, PhoneConfig, PhoneEvent};

    let spec = Spec::load();
    let s = &spec;
    let sim: Simulator = common::sim_with(SimConfig::default()).await;
    let c = Client {
        http: reqwest::Client::new(),
        base: sim.info().web_api.clone(),
        token: sim.issue_login5_token("tonearm-demo").expect("token"),
    };
    check(s, &c, "get", "/me/player", "me/player", None, 204).await;

    let mut cfg = PhoneConfig::new(&sim.info().spclient, "tonearm-demo", "tonearm-demo-pass");
    cfg.device_name = "Kitchen".into();
    cfg.device_type = DeviceType::SPEAKER;
    cfg.receiver = true;
    let mut spk = common::within(30, Phone::connect(cfg))
        .await
        .expect("receiver");
    let devices = check(
        s,
        &c,
        "get",
        "/me/player/devices",
        "me/player/devices",
        None,
        200,
    )
    .await;
    assert_eq!(devices["devices"][0]["name"], "Kitchen");
    assert_eq!(devices["devices"][0]["type"], "Speaker");

    let mut ps = PlayerState::new();
    ps.timestamp = 1_700_000_000_000;
    ps.context_uri = sim.info().demo_album.clone();
    ps.is_playing = true;
    ps.position_as_of_timestamp = 1000;
    ps.duration = 30_000;
    let mut t = ProvidedTrack::new();
    t.uri = sim.info().demo_tracks[0].uri.clone();
    t.provider = "context".into();
    ps.track = protobuf::MessageField::some(t.clone());
    t.uri = sim.info().demo_tracks[1].uri.clone();
    ps.next_tracks.push(t);
    spk.put_player_state(ps, true).await.expect("state");

    let state = check(s, &c, "get", "/me/player", "me/player", None, 200).await;
    assert_eq!(state["device"]["id"], spk.device_id());
    assert_eq!(state["item"]["uri"], sim.info().demo_tracks[0].uri.as_str());
    check(
        s,
        &c,
        "get",
        "/me/player/currently-playing",
        "me/player/currently-playing",
        None,
        200,
    )
    .await;
    let queue = check(
        s,
        &c,
        "get",
        "/me/player/queue",
        "me/player/queue",
        None,
        200,
    )
    .await;
    assert_eq!(queue["queue"].as_array().map(Vec::len), Some(1));

    let album = sim.info().demo_album.clone();
    let track = sim.info().demo_tracks[3].uri.clone();
    let calls: Vec<(&str, &str, String, Option<Value>, &str)> = vec![
        (
            "put",
            "/me/player/play",
            "me/player/play".into(),
            Some(json!({ "context_uri": album, "offset": { "position": 1 } })),
            "play",
        ),
        (
            "put",
            "/me/player/pause",
            "me/player/pause".into(),
            None,
            "pause",
        ),
        (
            "post",
            "/me/player/next",
            "me/player/next".into(),
            None,
            "skip_next",
        ),
        (
            "post",
            "/me/player/previous",
            "me/player/previous".into(),
            None,
            "skip_prev",
        ),
        (
            "put",
            "/me/player/seek",
            "me/player/seek?position_ms=2500".into(),
            None,
            "seek_to",
        ),
        (
            "put",
            "/me/player/shuffle",
            "me/player/shuffle?state=true".into(),
            None,
            "set_shuffling_context",
        ),
        (
            "put",
            "/me/player/repeat",
            "me/player/repeat?state=track".into(),
            None,
            "set_options",
        ),
        (
            "post",
            "/me/player/queue",
            format!("me/player/queue?uri={track}"),
            None,
            "add_to_queue",
        ),
        (
            "put",
            "/me/player",
            "me/player".into(),
            Some(json!({ "device_ids": [spk.device_id()], "play": true })),
            "transfer",
        ),
    ];
    for (method, path, url, body, endpoint) in calls {
        check(s, &c, method, path, &url, body, 204).await;
        match spk.next_event(Duration::from_secs(10)).await {
            Some(PhoneEvent::Command(cmd)) => {
                assert_eq!(cmd["command"]["endpoint"], endpoint, "{url}");
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    check(
        s,
        &c,
        "put",
        "/me/player/volume",
        "me/player/volume?volume_percent=30",
        None,
        204,
    )
    .await;
    assert_eq!(
        spk.next_event(Duration::from_secs(10)).await,
        Some(PhoneEvent::Volume(30 * 65535 / 100))
    );
}

#[tokio::test]
async fn podcast_endpoints_match_the_openapi_document() {
    let spec = Spec::load();
    let sim: Simulator = common::sim_with(SimConfig::default()).await;
    let c = Client {
        http: reqwest::Client::new(),
        base: sim.info().web_api.clone(),
        token: sim.issue_login5_token("tonearm-demo").expect("token"),
    };
    let s = &spec;
    let show = id_of(&sim.info().demo_show);
    let episode = id_of(&sim.info().demo_episodes[0].uri);
    let v = check(
        s,
        &c,
        "get",
        "/shows/{id}",
        &format!("shows/{show}"),
        None,
        200,
    )
    .await;
    assert_eq!(v["episodes"]["total"], 3, "{v}");
    let page = check(
        s,
        &c,
        "get",
        "/shows/{id}/episodes",
        &format!("shows/{show}/episodes?limit=2"),
        None,
        200,
    )
    .await;
    assert!(page["items"][0]["resume_point"]["fully_played"].is_boolean());
    let v = check(
        s,
        &c,
        "get",
        "/episodes/{id}",
        &format!("episodes/{episode}"),
        None,
        200,
    )
    .await;
    assert!(v["resume_point"]["resume_position_ms"].is_u64(), "{v}");
    for (path, url) in [
        ("/shows/{id}", format!("shows/{show}")),
        ("/shows/{id}/episodes", format!("shows/{show}/episodes")),
        ("/episodes/{id}", format!("episodes/{episode}")),
    ] {
        let (status, text) = c.send(reqwest::Method::GET, &url, None, false).await;
        assert_eq!(status, 401, "{url}");
        let schema = s.response_schema(path, "get", 401).expect("401 schema");
        let v: Value = serde_json::from_str(&text).expect("JSON");
        s.validate(schema, &v, "$").expect("401 body");
    }
    for (url, status, name) in [
        ("shows/0000000000000000000000".to_owned(), 404, "NotFound"),
        (
            "episodes/0000000000000000000000".to_owned(),
            404,
            "NotFound",
        ),
        (format!("shows/{show}/episodes?limit=51"), 400, "BadRequest"),
        ("episodes/bad".to_owned(), 400, "BadRequest"),
    ] {
        let (got, text) = c.send(reqwest::Method::GET, &url, None, true).await;
        assert_eq!(got, status, "{url}");
        let v: Value = serde_json::from_str(&text).expect("JSON");
        s.validate(s.component_response(name), &v, "$")
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }
    sim.shutdown().await;
}
