//! Tests of the simulator's HTTP services over real sockets on 127.0.0.1 with reqwest:
//! client-token and login5 (with and without hashcash), spclient metadata, extended metadata,
//! color-lyrics and storage-resolve, the CDN's range handling and tokens, every HTTP fault, and
//! the counters.
//! Requests are built from the protobuf types directly; the client's own modules are not used.

use std::time::{Duration, Instant};

use librespot_protocol::clienttoken_http as ct;
use librespot_protocol::entity_extension_data::EntityExtensionData;
use librespot_protocol::extended_metadata::{
    BatchedEntityRequest, BatchedExtensionResponse, EntityRequest, ExtensionQuery,
};
use librespot_protocol::extension_kind::ExtensionKind;
use librespot_protocol::login5 as l5;
use librespot_protocol::metadata as pm;
use librespot_protocol::storage_resolve::{storage_resolve_response, StorageResolveResponse};
use protobuf::{Enum, EnumOrUnknown, Message};
use reqwest::StatusCode;

use crate::ids;
use crate::media::{self, HEADER_LEN};
use crate::util::lock;
use crate::*;

struct Env {
    sim: Simulator,
    info: SimInfo,
    http: reqwest::Client,
}

fn quiet_cfg() -> SimConfig {
    SimConfig {
        first_ping_after: Duration::from_secs(30),
        ..SimConfig::default()
    }
}

async fn env_with(cfg: SimConfig) -> Env {
    let sim = Simulator::start(cfg).await.unwrap();
    let info = sim.info().clone();
    Env {
        sim,
        info,
        http: reqwest::Client::new(),
    }
}

async fn env() -> Env {
    env_with(quiet_cfg()).await
}

fn client_data_request() -> ct::ClientTokenRequest {
    let mut data = ct::ClientDataRequest::new();
    data.client_version = "1.2.52.442".to_owned();
    data.client_id = "65b708073fc0480ea92a077233ca87bd".to_owned();
    let mut req = ct::ClientTokenRequest::new();
    req.request_type = EnumOrUnknown::new(ct::ClientTokenRequestType::REQUEST_CLIENT_DATA_REQUEST);
    req.set_client_data(data);
    req
}

fn answers_request(state: &str, suffix: &str) -> ct::ClientTokenRequest {
    let mut hash_cash = ct::HashCashAnswer::new();
    hash_cash.suffix = suffix.to_owned();
    let mut answer = ct::ChallengeAnswer::new();
    answer.ChallengeType = EnumOrUnknown::new(ct::ChallengeType::CHALLENGE_HASH_CASH);
    answer.set_hash_cash(hash_cash);
    let mut answers = ct::ChallengeAnswersRequest::new();
    answers.state = state.to_owned();
    answers.answers.push(answer);
    let mut req = ct::ClientTokenRequest::new();
    req.request_type =
        EnumOrUnknown::new(ct::ClientTokenRequestType::REQUEST_CHALLENGE_ANSWERS_REQUEST);
    req.set_challenge_answers(answers);
    req
}

fn stored_login(username: &str, data: &[u8]) -> l5::LoginRequest {
    let mut info = librespot_protocol::client_info::ClientInfo::new();
    info.client_id = "65b708073fc0480ea92a077233ca87bd".to_owned();
    info.device_id = "0123456789abcdef".to_owned();
    let mut cred = librespot_protocol::credentials::StoredCredential::new();
    cred.username = username.to_owned();
    cred.data = data.to_vec();
    let mut req = l5::LoginRequest::new();
    req.client_info = protobuf::MessageField::some(info);
    req.set_stored_credential(cred);
    req
}

impl Env {
    async fn post(&self, url: &str, body: Vec<u8>) -> reqwest::Response {
        self.http.post(url).body(body).send().await.unwrap()
    }

    async fn client_token_response(&self, req: &ct::ClientTokenRequest) -> reqwest::Response {
        self.post(&self.info.client_token, req.write_to_bytes().unwrap())
            .await
    }

    async fn client_token(&self) -> String {
        let r = self.client_token_response(&client_data_request()).await;
        assert_eq!(r.status(), StatusCode::OK);
        let r = ct::ClientTokenResponse::parse_from_bytes(&r.bytes().await.unwrap()).unwrap();
        r.granted_token().token.clone()
    }

    /// Reusable credentials as the AP would have issued them after a login.
    fn stored(&self, username: &str) -> Vec<u8> {
        lock(&self.sim.shared.store).issue_stored(username)
    }

    async fn login5(
        &self,
        client_token: Option<&str>,
        req: &l5::LoginRequest,
    ) -> reqwest::Response {
        let mut b = self
            .http
            .post(&self.info.login5)
            .header("Accept", "application/x-protobuf")
            .body(req.write_to_bytes().unwrap());
        if let Some(t) = client_token {
            b = b.header("client-token", t);
        }
        b.send().await.unwrap()
    }

    async fn login5_ok(&self, client_token: &str, req: &l5::LoginRequest) -> l5::LoginResponse {
        let r = self.login5(Some(client_token), req).await;
        assert_eq!(r.status(), StatusCode::OK);
        l5::LoginResponse::parse_from_bytes(&r.bytes().await.unwrap()).unwrap()
    }

    /// client-token + login5 with fresh stored credentials → access token.
    async fn token(&self, username: &str) -> String {
        let ct = self.client_token().await;
        let r = self
            .login5_ok(&ct, &stored_login(username, &self.stored(username)))
            .await;
        assert!(r.has_ok(), "{r:?}");
        r.ok().access_token.clone()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.info.spclient)
    }

    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut b = self.http.get(self.url(path));
        if let Some(t) = token {
            b = b.bearer_auth(t);
        }
        b.send().await.unwrap()
    }

    async fn extended(&self, token: &str, queries: &[(&str, ExtensionKind)]) -> reqwest::Response {
        let mut req = BatchedEntityRequest::new();
        for (uri, kind) in queries {
            let mut q = ExtensionQuery::new();
            q.extension_kind = EnumOrUnknown::new(*kind);
            let mut e = EntityRequest::new();
            e.entity_uri = (*uri).to_owned();
            e.query.push(q);
            req.entity_request.push(e);
        }
        self.http
            .post(self.url("/extended-metadata/v0/extended-metadata?product=0&country=SE&salt=1"))
            .bearer_auth(token)
            .header("Content-Type", "application/x-protobuf")
            .body(req.write_to_bytes().unwrap())
            .send()
            .await
            .unwrap()
    }

    async fn resolve(&self, token: &str, file_hex: &str) -> StorageResolveResponse {
        let r = self
            .get(
                &format!("/storage-resolve/files/audio/interactive/{file_hex}?product=0"),
                Some(token),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        StorageResolveResponse::parse_from_bytes(&r.bytes().await.unwrap()).unwrap()
    }

    async fn cdn(&self, url: &str, range: Option<&str>) -> reqwest::Response {
        let mut b = self.http.get(url);
        if let Some(r) = range {
            b = b.header("Range", r);
        }
        b.send().await.unwrap()
    }

    fn track(&self, uri: &str) -> catalog::Track {
        let c = self.sim.catalog();
        match c.by_uri(uri).unwrap() {
            catalog::Entity::Track(i) => c.tracks[i].clone(),
            other => panic!("{other:?}"),
        }
    }
}

fn status_of(data: &EntityExtensionData) -> i32 {
    data.header.status_code
}

#[tokio::test]
async fn info_lists_token_endpoints_and_demo_catalog() {
    let e = env().await;
    let i = &e.info;
    assert_eq!(i.login5, format!("{}/v3/login", i.spclient));
    assert_eq!(i.client_token, format!("{}/v1/clienttoken", i.spclient));
    assert_eq!(i.demo_tracks.len(), 8);
    assert!(i.demo_album.starts_with("spotify:album:"));
    let mut hz: Vec<f32> = i.demo_tracks.iter().map(|t| t.fundamental_hz).collect();
    hz.dedup();
    assert_eq!(hz.len(), 8);
    for t in &i.demo_tracks {
        assert!(t.uri.starts_with("spotify:track:") && t.uri.len() == 36);
        assert!(t.duration_ms >= 8000);
        let ogg = e.sim.demo_audio(&t.uri, 1).unwrap();
        assert_eq!(media::ogg_info(ogg).unwrap().duration_ms(), t.duration_ms);
    }
    let s = &i.special_tracks;
    for uri in [
        &s.unplayable_with_alternative,
        &s.restricted_in_se,
        &s.key_refused,
    ] {
        assert!(uri.starts_with("spotify:track:"));
    }
    assert!(e
        .sim
        .demo_audio(&s.unplayable_with_alternative, 1)
        .is_none());
    assert!(e.sim.demo_audio(&i.demo_tracks[0].uri, 3).is_none());
    assert!(e.sim.demo_audio("spotify:track:nope", 0).is_none());
    // SimInfo is what `tonearm sim` prints.
    let json = serde_json::to_value(i).unwrap();
    assert!(json["demo_tracks"][0]["fundamental_hz"].is_number());
    assert!(json["special_tracks"]["key_refused"].is_string());
    e.sim.shutdown().await;
}

/// `GET /_sim/endpoints`: the client endpoints of the info line, nothing else (no accounts).
#[tokio::test]
async fn endpoints_route_answers_the_client_endpoints() {
    let e = env().await;
    let r = e.get("/_sim/endpoints", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    let info = serde_json::to_value(&e.info).unwrap();
    let keys = [
        "apresolve",
        "ap_key",
        "login5",
        "client_token",
        "accounts_url",
        "spclient",
        "dealer",
        "web_api",
    ];
    for k in keys {
        assert_eq!(body[k], info[k], "{k}");
    }
    let obj = body.as_object().unwrap();
    assert_eq!(obj.len(), keys.len(), "only the endpoints: {body}");
    e.sim.shutdown().await;
}

#[tokio::test]
async fn start_up_is_fast() {
    let start = Instant::now();
    let e = env().await;
    let took = start.elapsed();
    eprintln!("simulator started in {took:?}");
    // Debug build on a shared two-core machine: the budget is 100 ms, allow some noise.
    assert!(took < Duration::from_millis(300), "{took:?}");
    e.sim.shutdown().await;
}

#[tokio::test]
async fn client_token_granted_and_bad_bodies_refused() {
    let e = env().await;
    let r = e.client_token_response(&client_data_request()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/x-protobuf"
    );
    let r = ct::ClientTokenResponse::parse_from_bytes(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(
        r.response_type.enum_value(),
        Ok(ct::ClientTokenResponseType::RESPONSE_GRANTED_TOKEN_RESPONSE)
    );
    let g = r.granted_token();
    assert!(!g.token.is_empty());
    assert!(g.expires_after_seconds > g.refresh_after_seconds && g.refresh_after_seconds > 0);
    for bad in [b"\xff\xff\xff".to_vec(), Vec::new()] {
        let r = e.post(&e.info.client_token, bad).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let json: serde_json::Value = r.json().await.unwrap();
        assert!(json["error"]["message"].is_string());
    }
    // Answers without a challenge are refused.
    let r = e
        .client_token_response(&answers_request("nope", &"0".repeat(32)))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    e.sim.shutdown().await;
}

#[tokio::test]
async fn client_token_hashcash() {
    let e = env_with(SimConfig {
        client_token_hashcash: true,
        ..quiet_cfg()
    })
    .await;
    let challenge = |r: &ct::ClientTokenResponse| {
        assert_eq!(
            r.response_type.enum_value(),
            Ok(ct::ClientTokenResponseType::RESPONSE_CHALLENGES_RESPONSE)
        );
        let c = r.challenges();
        let ch = &c.challenges[0];
        assert_eq!(
            ch.type_.enum_value(),
            Ok(ct::ChallengeType::CHALLENGE_HASH_CASH)
        );
        let p = ch.evaluate_hashcash_parameters();
        (c.state.clone(), hex::decode(&p.prefix).unwrap(), p.length)
    };
    let ask = || async {
        let r = e.client_token_response(&client_data_request()).await;
        assert_eq!(r.status(), StatusCode::OK);
        ct::ClientTokenResponse::parse_from_bytes(&r.bytes().await.unwrap()).unwrap()
    };
    // Right answer → token (usable for login5).
    let (state, prefix, length) = challenge(&ask().await);
    assert!(length > 0);
    let suffix = tokens::solve_hashcash(b"", &prefix, length);
    let r = e
        .client_token_response(&answers_request(&state, &hex::encode_upper(suffix)))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = ct::ClientTokenResponse::parse_from_bytes(&r.bytes().await.unwrap()).unwrap();
    let token = r.granted_token().token.clone();
    let req = stored_login("alice", &e.stored("alice"));
    assert!(e.login5_ok(&token, &req).await.has_ok());
    // The state is used up.
    let r = e
        .client_token_response(&answers_request(&state, &hex::encode_upper(suffix)))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Wrong answer, lower-case answer → 400.
    let (state, prefix, length) = challenge(&ask().await);
    let mut wrong = tokens::solve_hashcash(b"", &prefix, length);
    wrong[15] ^= 0x55;
    let r = e
        .client_token_response(&answers_request(&state, &hex::encode_upper(wrong)))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (state, prefix, length) = challenge(&ask().await);
    let right = tokens::solve_hashcash(b"", &prefix, length);
    let r = e
        .client_token_response(&answers_request(&state, &hex::encode(right)))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    e.sim.shutdown().await;
}

#[tokio::test]
async fn login5_with_stored_credentials() {
    let e = env().await;
    let ct = e.client_token().await;
    let data = e.stored("tonearm-demo");
    // No or unknown client-token → 401.
    let req = stored_login("tonearm-demo", &data);
    assert_eq!(
        e.login5(None, &req).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        e.login5(Some("sim-ct-forged"), &req).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Garbage → 400.
    let r = e
        .http
        .post(&e.info.login5)
        .header("client-token", &ct)
        .body(vec![0xff, 0xff])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Right credentials.
    let r = e.login5_ok(&ct, &req).await;
    let ok = r.ok();
    assert_eq!(ok.username, "tonearm-demo");
    assert!(ok.access_token.starts_with("sim-l5-"));
    assert_eq!(ok.stored_credential, data);
    assert_eq!(ok.access_token_expires_in, 3600);
    assert_eq!(e.sim.stats().login5_logins, 1);
    // Wrong data, wrong user, no method, unsupported method.
    for req in [
        stored_login("tonearm-demo", b"not issued"),
        stored_login("alice", &data),
    ] {
        let r = e.login5_ok(&ct, &req).await;
        assert_eq!(r.error(), l5::LoginError::INVALID_CREDENTIALS);
    }
    let mut none = stored_login("x", b"");
    none.login_method = None;
    assert_eq!(
        e.login5_ok(&ct, &none).await.error(),
        l5::LoginError::BAD_REQUEST
    );
    let mut fb = stored_login("x", b"");
    fb.set_facebook_access_token(Default::default());
    assert_eq!(
        e.login5_ok(&ct, &fb).await.error(),
        l5::LoginError::UNSUPPORTED_LOGIN_PROTOCOL
    );
    // Password logins work while the AP accepts them.
    let mut pw = stored_login("x", b"");
    let mut p = librespot_protocol::credentials::Password::new();
    p.id = "alice".to_owned();
    p.password = "alice-pass".to_owned();
    pw.set_password(p.clone());
    let r = e.login5_ok(&ct, &pw).await;
    assert_eq!(r.ok().username, "alice");
    assert_eq!(
        lock(&e.sim.shared.store).stored_owner(&r.ok().stored_credential),
        Some("alice")
    );
    p.password = "wrong".to_owned();
    pw.set_password(p);
    assert_eq!(
        e.login5_ok(&ct, &pw).await.error(),
        l5::LoginError::INVALID_CREDENTIALS
    );
    assert_eq!(e.sim.stats().login5_logins, 2);
    e.sim.shutdown().await;
}

#[tokio::test]
async fn login5_hashcash() {
    let e = env_with(SimConfig {
        login5_hashcash: Some(10),
        ..quiet_cfg()
    })
    .await;
    let ct = e.client_token().await;
    let mut req = stored_login("alice", &e.stored("alice"));
    let solve = |r: &l5::LoginResponse| {
        assert!(r.has_challenges(), "{r:?}");
        let hc = r.challenges().challenges[0].hashcash();
        assert_eq!(hc.length, 10);
        assert_eq!(r.login_context.len(), 16);
        (
            r.login_context.clone(),
            tokens::solve_hashcash(&r.login_context, &hc.prefix, hc.length),
        )
    };
    let with_solution = |req: &mut l5::LoginRequest, ctx: Vec<u8>, suffix: [u8; 16]| {
        let mut hashcash = librespot_protocol::hashcash::HashcashSolution::new();
        hashcash.suffix = suffix.to_vec();
        let mut s = l5::ChallengeSolution::new();
        s.set_hashcash(hashcash);
        let mut solutions = l5::ChallengeSolutions::new();
        solutions.solutions.push(s);
        req.login_context = ctx;
        req.challenge_solutions = protobuf::MessageField::some(solutions);
    };
    // First answer: a challenge; the retry with the solution: ok.
    let (ctx, suffix) = solve(&e.login5_ok(&ct, &req).await);
    with_solution(&mut req, ctx.clone(), suffix);
    let r = e.login5_ok(&ct, &req).await;
    assert_eq!(r.ok().username, "alice");
    // The context is used up.
    assert_eq!(
        e.login5_ok(&ct, &req).await.error(),
        l5::LoginError::BAD_REQUEST
    );
    // A wrong solution is refused.
    let mut fresh = stored_login("alice", &e.stored("alice"));
    let (ctx, mut suffix) = solve(&e.login5_ok(&ct, &fresh).await);
    suffix[3] ^= 1;
    with_solution(&mut fresh, ctx, suffix);
    assert_eq!(
        e.login5_ok(&ct, &fresh).await.error(),
        l5::LoginError::BAD_REQUEST
    );
    // A solution for another context is refused too.
    let mut other = stored_login("alice", &e.stored("alice"));
    let (ctx, _) = solve(&e.login5_ok(&ct, &other).await);
    let (_, foreign) = solve(&e.login5_ok(&ct, &other).await);
    with_solution(&mut other, ctx, foreign);
    assert_eq!(
        e.login5_ok(&ct, &other).await.error(),
        l5::LoginError::BAD_REQUEST
    );
    assert_eq!(e.sim.stats().login5_logins, 1);
    e.sim.shutdown().await;
}

#[tokio::test]
async fn expired_access_token_is_refused() {
    let e = env_with(SimConfig {
        token_ttl: Duration::from_secs(1),
        ..quiet_cfg()
    })
    .await;
    let token = e.token("alice").await;
    let album = ids::from_base62(e.info.demo_album.rsplit(':').next().unwrap()).unwrap();
    let path = format!("/metadata/4/album/{}", hex::encode(album));
    assert_eq!(e.get(&path, Some(&token)).await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = e.get(&path, Some(&token)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let json: serde_json::Value = r.json().await.unwrap();
    assert_eq!(json["error"]["status"], 401);
    e.sim.shutdown().await;
}

#[tokio::test]
async fn legacy_metadata_endpoints() {
    let e = env().await;
    let token = e.token("tonearm-demo").await;
    let c = e.sim.catalog();
    let t = &c.tracks[c.demo_tracks[2]];
    let path = format!(
        "/metadata/4/track/{}?product=0&country=SE&salt=7",
        hex::encode(t.gid)
    );
    // Without or with a bad token → 401 JSON.
    for bad in [None, Some("sim-l5-nope")] {
        let r = e.get(&path, bad).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.json::<serde_json::Value>().await.unwrap()["error"]["message"].is_string());
    }
    let r = e.get(&path, Some(&token)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let track = pm::Track::parse_from_bytes(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(track.name(), t.name);
    assert_eq!(track.gid(), t.gid);
    assert_eq!(track.file.len(), 3);
    let kinds = [
        ("album", c.albums[0].gid),
        ("artist", c.artists[0].gid),
        ("episode", c.episodes[0].gid),
        ("show", c.shows[0].gid),
    ];
    for (kind, gid) in kinds {
        let r = e
            .get(
                &format!("/metadata/4/{kind}/{}", hex::encode(gid)),
                Some(&token),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{kind}");
        let bytes = r.bytes().await.unwrap();
        let name = match kind {
            "album" => pm::Album::parse_from_bytes(&bytes)
                .unwrap()
                .name()
                .to_owned(),
            "artist" => pm::Artist::parse_from_bytes(&bytes)
                .unwrap()
                .name()
                .to_owned(),
            "episode" => pm::Episode::parse_from_bytes(&bytes)
                .unwrap()
                .name()
                .to_owned(),
            _ => pm::Show::parse_from_bytes(&bytes)
                .unwrap()
                .name()
                .to_owned(),
        };
        assert!(!name.is_empty());
    }
    // Unknown id, wrong kind for the id, unknown kind → 404; bad hex → 400.
    let unknown = format!("/metadata/4/track/{}", "ab".repeat(16));
    assert_eq!(
        e.get(&unknown, Some(&token)).await.status(),
        StatusCode::NOT_FOUND
    );
    let wrong_kind = format!("/metadata/4/album/{}", hex::encode(t.gid));
    assert_eq!(
        e.get(&wrong_kind, Some(&token)).await.status(),
        StatusCode::NOT_FOUND
    );
    let bad_kind = format!("/metadata/4/podcast/{}", hex::encode(t.gid));
    assert_eq!(
        e.get(&bad_kind, Some(&token)).await.status(),
        StatusCode::NOT_FOUND
    );
    for bad in ["xyz", "abcd", &"zz".repeat(16), &"ab".repeat(17)] {
        let r = e
            .get(&format!("/metadata/4/track/{bad}"), Some(&token))
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    assert!(e.sim.stats().metadata_requests >= 12);
    e.sim.shutdown().await;
}

#[tokio::test]
async fn extended_metadata_for_every_kind() {
    let e = env().await;
    let token = e.token("tonearm-demo").await;
    let c = e.sim.catalog();
    let track = c.track_uri(c.demo_tracks[0]);
    let album = e.info.demo_album.clone();
    let artist = c.uri(catalog::Entity::Artist(1)).unwrap();
    let episode = c.uri(catalog::Entity::Episode(1)).unwrap();
    let show = c.uri(catalog::Entity::Show(0)).unwrap();
    let unknown = format!("spotify:track:{}", ids::to_base62(&[7; 16]));
    let queries = [
        (track.as_str(), ExtensionKind::TRACK_V4),
        (album.as_str(), ExtensionKind::ALBUM_V4),
        (artist.as_str(), ExtensionKind::ARTIST_V4),
        (episode.as_str(), ExtensionKind::EPISODE_V4),
        (show.as_str(), ExtensionKind::SHOW_V4),
        (track.as_str(), ExtensionKind::AUDIO_FILES),
        (unknown.as_str(), ExtensionKind::TRACK_V4),
        (album.as_str(), ExtensionKind::TRACK_V4),
        ("spotify:track:bad", ExtensionKind::TRACK_V4),
        (track.as_str(), ExtensionKind::CANVAZ),
    ];
    let r = e.extended(&token, &queries).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = BatchedExtensionResponse::parse_from_bytes(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(r.extended_metadata.len(), queries.len());
    for (array, (uri, kind)) in r.extended_metadata.iter().zip(queries) {
        assert_eq!(array.extension_kind.value(), kind.value());
        assert_eq!(array.extension_data.len(), 1);
        assert_eq!(array.extension_data[0].entity_uri, uri);
    }
    let data = |i: usize| &r.extended_metadata[i].extension_data[0];
    let any = |i: usize| data(i).extension_data.as_ref().unwrap().clone();
    assert_eq!(
        any(0).type_url,
        "type.googleapis.com/spotify.metadata.Track"
    );
    let t = pm::Track::parse_from_bytes(&any(0).value).unwrap();
    assert_eq!(t.name(), e.info.demo_tracks[0].name);
    assert_eq!(t.album.gid().len(), 16);
    let a = pm::Album::parse_from_bytes(&any(1).value).unwrap();
    assert_eq!(a.name(), "Pure Tones");
    assert_eq!(
        any(1).type_url,
        "type.googleapis.com/spotify.metadata.Album"
    );
    assert_eq!(
        pm::Artist::parse_from_bytes(&any(2).value).unwrap().name(),
        "Harmonic Drift"
    );
    assert_eq!(
        pm::Episode::parse_from_bytes(&any(3).value)
            .unwrap()
            .gid()
            .len(),
        16
    );
    assert_eq!(
        pm::Show::parse_from_bytes(&any(4).value).unwrap().name(),
        "Tonearm Test Radio"
    );
    assert!(any(5).type_url.ends_with("AudioFilesExtensionResponse"));
    assert!(!any(5).value.is_empty());
    for i in 0..6 {
        assert_eq!(status_of(data(i)), 200, "{i}");
        assert!(!data(i).header.etag.is_empty());
    }
    assert_eq!(status_of(data(6)), 404);
    assert!(data(6).extension_data.is_none());
    assert_eq!(status_of(data(7)), 404);
    assert_eq!(status_of(data(8)), 400);
    assert_eq!(status_of(data(9)), 501);
    // An unchanged etag → 304 without data.
    let etag = data(0).header.etag.clone();
    let mut req = BatchedEntityRequest::new();
    let mut q = ExtensionQuery::new();
    q.extension_kind = EnumOrUnknown::new(ExtensionKind::TRACK_V4);
    q.etag = etag;
    let mut er = EntityRequest::new();
    er.entity_uri = track.clone();
    er.query.push(q);
    req.entity_request.push(er);
    let r = e
        .http
        .post(e.url("/extended-metadata/v0/extended-metadata"))
        .bearer_auth(&token)
        .body(req.write_to_bytes().unwrap())
        .send()
        .await
        .unwrap();
    let r = BatchedExtensionResponse::parse_from_bytes(&r.bytes().await.unwrap()).unwrap();
    let d = &r.extended_metadata[0].extension_data[0];
    assert_eq!(status_of(d), 304);
    assert!(d.extension_data.is_none());
    // Bad body → 400; no token → 401; empty request → empty answer.
    let bad = e
        .http
        .post(e.url("/extended-metadata/v0/extended-metadata"))
        .bearer_auth(&token)
        .body(vec![0x0a, 0xff])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let r = e
        .http
        .post(e.url("/extended-metadata/v0/extended-metadata"))
        .body(Vec::new())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = e.extended(&token, &[]).await;
    let r = BatchedExtensionResponse::parse_from_bytes(&r.bytes().await.unwrap()).unwrap();
    assert!(r.extended_metadata.is_empty());
    e.sim.shutdown().await;
}

#[tokio::test]
async fn storage_resolve_both_paths() {
    let e = env().await;
    let token = e.token("tonearm-demo").await;
    let t = e.track(&e.info.demo_tracks[3].uri);
    let f = t.files[1];
    let hex_id = hex::encode(f.file_id);
    let r = e.resolve(&token, &hex_id).await;
    assert_eq!(
        r.result.enum_value(),
        Ok(storage_resolve_response::Result::CDN)
    );
    assert_eq!(r.fileid, f.file_id);
    assert_eq!(r.cdnurl.len(), 1);
    let url = &r.cdnurl[0];
    assert!(url.starts_with(&format!(
        "{}/audio/{hex_id}?__token__=exp=",
        e.info.spclient
    )));
    let exp: u64 = url
        .split("exp=")
        .nth(1)
        .unwrap()
        .split('~')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(exp > now + 3500 && exp <= now + 3600, "{exp} vs {now}");
    for mode in ["interactive", "interactive_prefetch"] {
        let path = format!(
            "/storage-resolve/v2/files/audio/{mode}/{}/{hex_id}?product=0",
            f.format
        );
        let r = e.get(&path, Some(&token)).await;
        assert_eq!(r.status(), StatusCode::OK, "{mode}");
        let r = StorageResolveResponse::parse_from_bytes(&r.bytes().await.unwrap()).unwrap();
        assert_eq!(r.fileid, f.file_id);
        assert_eq!(r.cdnurl.len(), 1);
    }
    let cases = [
        (
            format!(
                "/storage-resolve/files/audio/interactive/{}",
                "ab".repeat(20)
            ),
            404,
        ),
        (
            format!(
                "/storage-resolve/files/audio/interactive/{}",
                "ab".repeat(16)
            ),
            400,
        ),
        (format!("/storage-resolve/files/audio/other/{hex_id}"), 404),
        (
            format!("/storage-resolve/v2/files/audio/interactive/2/{hex_id}"),
            400,
        ),
        (
            format!("/storage-resolve/v2/files/audio/interactive/x/{hex_id}"),
            400,
        ),
    ];
    for (path, status) in cases {
        assert_eq!(
            e.get(&path, Some(&token)).await.status().as_u16(),
            status,
            "{path}"
        );
    }
    let path = format!("/storage-resolve/files/audio/interactive/{hex_id}");
    assert_eq!(e.get(&path, None).await.status(), StatusCode::UNAUTHORIZED);
    assert!(e.sim.stats().storage_resolves >= 9);
    e.sim.shutdown().await;
}

#[tokio::test]
async fn storage_resolve_refuses_tracks_forbidden_in_the_users_country() {
    let e = env().await;
    let t = e.track(&e.info.special_tracks.restricted_in_se);
    let hex_id = hex::encode(t.files[0].file_id);
    let se = e.token("tonearm-demo").await;
    let r = e.resolve(&se, &hex_id).await;
    assert_eq!(
        r.result.enum_value(),
        Ok(storage_resolve_response::Result::RESTRICTED)
    );
    assert!(r.cdnurl.is_empty());
    let gb = e.token("alice").await;
    let r = e.resolve(&gb, &hex_id).await;
    assert_eq!(
        r.result.enum_value(),
        Ok(storage_resolve_response::Result::CDN)
    );
    e.sim.shutdown().await;
}

/// The plaintext a CDN file must decrypt to: Spotify's header and the source Ogg.
fn expected_plaintext(audio: usize, format: usize) -> Vec<u8> {
    let source = &media::DEMO_AUDIO[audio];
    let mut out = media::spotify_header(source.files[format], &source.gain).to_vec();
    out.extend_from_slice(source.files[format]);
    out
}

#[tokio::test]
async fn cdn_ranges_and_decryption() {
    let e = env().await;
    let token = e.token("tonearm-demo").await;
    let demo = &e.info.demo_tracks[5];
    let t = e.track(&demo.uri);
    let f = t.files[2];
    let url = e.resolve(&token, &hex::encode(f.file_id)).await.cdnurl[0].clone();
    let key = e.sim.shared.audio_key(&(f.file_id, t.gid)).unwrap();
    let plain = expected_plaintext(5, 2);
    let total = plain.len();
    assert!(total > 3 * 65536);
    let get = |range: &'static str| e.cdn(&url, Some(range));
    let check = |start: usize, mut body: Vec<u8>| {
        media::apply_keystream(&key, start as u64, &mut body);
        assert_eq!(body, &plain[start..start + body.len()], "at {start}");
    };
    // The first 64 KiB.
    let r = get("bytes=0-65535").await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.headers()["content-range"].to_str().unwrap(),
        format!("bytes 0-65535/{total}")
    );
    assert_eq!(r.content_length(), Some(65536));
    let body = r.bytes().await.unwrap().to_vec();
    assert_eq!(body.len(), 65536);
    check(0, body.clone());
    let mut header = body[..HEADER_LEN].to_vec();
    media::apply_keystream(&key, 0, &mut header);
    let page = media::page_at(&header, 0).unwrap();
    assert!(media::page_crc_ok(&header, &page));
    let gain = f32::from_le_bytes(header[144..148].try_into().unwrap());
    assert_eq!(gain, demo.track_gain_db);
    // The decrypted stream after the header is the source file.
    let mut rest = body[HEADER_LEN..].to_vec();
    media::apply_keystream(&key, HEADER_LEN as u64, &mut rest);
    let source = e.sim.demo_audio(&demo.uri, 2).unwrap();
    assert_eq!(rest, &source[..rest.len()]);
    // A middle range at an odd offset.
    let r = get("bytes=100003-170000").await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.headers()["content-range"].to_str().unwrap(),
        format!("bytes 100003-170000/{total}")
    );
    check(100_003, r.bytes().await.unwrap().to_vec());
    // Open-ended and suffix ranges.
    let start = total - 1000;
    let r = e.cdn(&url, Some(&format!("bytes={start}-"))).await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    let body = r.bytes().await.unwrap().to_vec();
    assert_eq!(body.len(), 1000);
    check(start, body);
    let r = get("bytes=-10").await;
    assert_eq!(
        r.headers()["content-range"].to_str().unwrap(),
        format!("bytes {}-{}/{total}", total - 10, total - 1)
    );
    // A range running past the end is cut to the file.
    let r = e
        .cdn(&url, Some(&format!("bytes={}-{}", total - 5, total + 100)))
        .await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap().len(), 5);
    // Starting past the end → 416.
    let r = e.cdn(&url, Some(&format!("bytes={total}-"))).await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        r.headers()["content-range"].to_str().unwrap(),
        format!("bytes */{total}")
    );
    // Malformed → 400.
    assert_eq!(get("bytes=9-1").await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(get("pages=1-2").await.status(), StatusCode::BAD_REQUEST);
    // No Range → 200 and the whole file.
    let r = e.cdn(&url, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.bytes().await.unwrap().to_vec();
    assert_eq!(body.len(), total);
    check(0, body);
    e.sim.shutdown().await;
}

#[tokio::test]
async fn cdn_refuses_missing_forged_and_expired_tokens() {
    let e = env().await;
    let token = e.token("tonearm-demo").await;
    let t = e.track(&e.info.demo_tracks[0].uri);
    let hex_id = hex::encode(t.files[0].file_id);
    let url = e.resolve(&token, &hex_id).await.cdnurl[0].clone();
    assert_eq!(
        e.cdn(&url, Some("bytes=0-9")).await.status(),
        StatusCode::PARTIAL_CONTENT
    );
    let bare = format!("{}/audio/{hex_id}", e.info.spclient);
    let forged_hmac = format!("{}0", &url[..url.len() - 1]);
    let forged_hmac = if forged_hmac == url {
        format!("{}1", &url[..url.len() - 1])
    } else {
        forged_hmac
    };
    let other_file = url.replace(&hex_id, &hex::encode(t.files[1].file_id));
    let exp_pos = url.find("exp=").unwrap() + 4;
    let mut later = url.clone();
    later.replace_range(exp_pos..exp_pos + 1, "9");
    for bad in [bare, forged_hmac, other_file, later] {
        let r = e.cdn(&bad, Some("bytes=0-9")).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{bad}");
    }
    // Expired URLs (listed first while the fault is on) → 403; the second one works.
    e.sim.set_http_faults(HttpFaults {
        expired_cdn_urls: true,
        ..HttpFaults::default()
    });
    let urls = e.resolve(&token, &hex_id).await.cdnurl;
    assert_eq!(urls.len(), 2);
    let r = e.cdn(&urls[0], Some("bytes=0-9")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"]["message"],
        "URL expired"
    );
    assert_eq!(
        e.cdn(&urls[1], Some("bytes=0-9")).await.status(),
        StatusCode::PARTIAL_CONTENT
    );
    // Unknown file with a well-formed path → 403 (no valid token can exist for it) or 404.
    let r = e
        .cdn(
            &format!("{}/audio/{}", e.info.spclient, "ab".repeat(20)),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = e.cdn(&format!("{}/audio/xyz", e.info.spclient), None).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    e.sim.shutdown().await;
}

#[tokio::test]
async fn key_refused_track_is_served_unencrypted() {
    let e = env().await;
    let token = e.token("tonearm-demo").await;
    let t = e.track(&e.info.special_tracks.key_refused);
    let f = t.files[1];
    assert!(e.sim.shared.audio_key(&(f.file_id, t.gid)).is_none());
    let url = e.resolve(&token, &hex::encode(f.file_id)).await.cdnurl[0].clone();
    let body = e
        .cdn(&url, Some("bytes=0-65535"))
        .await
        .bytes()
        .await
        .unwrap();
    let plain = expected_plaintext(t.audio.unwrap(), 1);
    assert_eq!(&body[..], &plain[..body.len()]);
    e.sim.shutdown().await;
}

#[tokio::test]
async fn cdn_5xx_and_429_faults() {
    let e = env().await;
    let token = e.token("tonearm-demo").await;
    let t = e.track(&e.info.demo_tracks[1].uri);
    let url = e
        .resolve(&token, &hex::encode(t.files[0].file_id))
        .await
        .cdnurl[0]
        .clone();
    e.sim.set_http_faults(HttpFaults {
        cdn_5xx: 2,
        cdn_429: 1,
        retry_after_secs: 3,
        ..HttpFaults::default()
    });
    let before = e.sim.stats().cdn_requests;
    for _ in 0..2 {
        let r = e.cdn(&url, Some("bytes=0-99")).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    let r = e.cdn(&url, Some("bytes=0-99")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"].to_str().unwrap(), "3");
    let r = e.cdn(&url, Some("bytes=0-99")).await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(e.sim.stats().cdn_requests, before + 4);
    // Retry-After defaults to 1.
    e.sim.set_http_faults(HttpFaults {
        cdn_429: 1,
        ..HttpFaults::default()
    });
    let r = e.cdn(&url, Some("bytes=0-99")).await;
    assert_eq!(r.headers()["retry-after"].to_str().unwrap(), "1");
    e.sim.shutdown().await;
}

#[tokio::test]
async fn cdn_truncate_fault_closes_halfway() {
    let e = env().await;
    let token = e.token("tonearm-demo").await;
    let t = e.track(&e.info.demo_tracks[2].uri);
    let url = e
        .resolve(&token, &hex::encode(t.files[1].file_id))
        .await
        .cdnurl[0]
        .clone();
    e.sim.set_http_faults(HttpFaults {
        cdn_truncate: 1,
        ..HttpFaults::default()
    });
    let bytes_before = e.sim.stats().cdn_bytes;
    let mut r = e.cdn(&url, Some("bytes=0-65535")).await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.content_length(), Some(65536));
    let mut got = 0;
    let mut failed = false;
    loop {
        match r.chunk().await {
            Ok(Some(chunk)) => got += chunk.len(),
            Ok(None) => break,
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the body must end in an error");
    assert!(got <= 32768, "{got}");
    assert_eq!(e.sim.stats().cdn_bytes - bytes_before, 32768);
    // Only one: the next body is whole.
    let r = e.cdn(&url, Some("bytes=0-65535")).await;
    assert_eq!(r.bytes().await.unwrap().len(), 65536);
    e.sim.shutdown().await;
}

#[tokio::test]
async fn cdn_slow_fault_trickles() {
    let e = env().await;
    let token = e.token("tonearm-demo").await;
    let t = e.track(&e.info.demo_tracks[4].uri);
    let f = t.files[0];
    let url = e.resolve(&token, &hex::encode(f.file_id)).await.cdnurl[0].clone();
    e.sim.set_http_faults(HttpFaults {
        cdn_slow: Some(Duration::from_millis(60)),
        ..HttpFaults::default()
    });
    let start = Instant::now();
    let r = e.cdn(&url, Some("bytes=0-65535")).await;
    let body = r.bytes().await.unwrap().to_vec();
    let took = start.elapsed();
    assert_eq!(body.len(), 65536);
    // Four 16 KiB chunks, three pauses.
    assert!(took >= Duration::from_millis(180), "{took:?}");
    let key = e.sim.shared.audio_key(&(f.file_id, t.gid)).unwrap();
    let mut plain = body;
    media::apply_keystream(&key, 0, &mut plain);
    assert_eq!(plain, &expected_plaintext(t.audio.unwrap(), 0)[..65536]);
    e.sim.shutdown().await;
}

#[tokio::test]
async fn latency_and_metadata_faults() {
    let e = env().await;
    let token = e.token("tonearm-demo").await;
    let c = e.sim.catalog();
    let path = format!("/metadata/4/track/{}", hex::encode(c.tracks[0].gid));
    e.sim.set_http_faults(HttpFaults {
        latency: Duration::from_millis(250),
        metadata_5xx: 2,
        ..HttpFaults::default()
    });
    let start = Instant::now();
    assert_eq!(
        e.get(&path, Some(&token)).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(start.elapsed() >= Duration::from_millis(250));
    let r = e
        .extended(&token, &[(&c.track_uri(0), ExtensionKind::TRACK_V4)])
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(e.get(&path, Some(&token)).await.status(), StatusCode::OK);
    // Latency applies to the token services and apresolve as well.
    let start = Instant::now();
    e.client_token().await;
    assert!(start.elapsed() >= Duration::from_millis(250));
    e.sim.set_http_faults(HttpFaults::default());
    let start = Instant::now();
    e.client_token().await;
    assert!(start.elapsed() < Duration::from_millis(250));
    e.sim.shutdown().await;
}

#[tokio::test]
async fn synthetic_catalog_is_served_with_shared_audio() {
    let e = env_with(SimConfig {
        catalog: CatalogSpec::Synthetic { tracks: 2000 },
        ..quiet_cfg()
    })
    .await;
    let c = e.sim.catalog();
    assert_eq!(c.tracks.len(), Catalog::demo().tracks.len() + 2000);
    let token = e.token("alice").await;
    let i = c.tracks.len() - 1;
    let t = &c.tracks[i];
    let r = e
        .extended(&token, &[(&c.track_uri(i), ExtensionKind::TRACK_V4)])
        .await;
    let r = BatchedExtensionResponse::parse_from_bytes(&r.bytes().await.unwrap()).unwrap();
    let any = r.extended_metadata[0].extension_data[0]
        .extension_data
        .as_ref()
        .unwrap()
        .clone();
    let proto = pm::Track::parse_from_bytes(&any.value).unwrap();
    assert_eq!(proto.file.len(), 3);
    let f = &proto.file[0];
    let mut file_id = [0u8; 20];
    file_id.copy_from_slice(f.file_id());
    let key = e.sim.shared.audio_key(&(file_id, t.gid)).unwrap();
    let url = e.resolve(&token, &hex::encode(file_id)).await.cdnurl[0].clone();
    let mut body = e
        .cdn(&url, Some("bytes=0-999"))
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();
    media::apply_keystream(&key, 0, &mut body);
    assert_eq!(body, &expected_plaintext(t.audio.unwrap(), 0)[..1000]);
    assert!(e.sim.demo_audio(&c.track_uri(i), 0).is_some());
    e.sim.shutdown().await;
}

#[tokio::test]
async fn garbage_never_breaks_the_server() {
    let e = env().await;
    let token = e.token("tonearm-demo").await;
    let paths = [
        "/extended-metadata/v0/extended-metadata",
        "/v3/login",
        "/v1/clienttoken",
    ];
    let mut seed = 0x1234_5678u32;
    for round in 0..60 {
        let mut body = Vec::new();
        for _ in 0..(round * 7 % 200) {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            body.push((seed >> 16) as u8);
        }
        let path = paths[round % paths.len()];
        let r = e
            .http
            .post(e.url(path))
            .bearer_auth(&token)
            .header("client-token", "x")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_client_error() || r.status().is_success(),
            "{path}"
        );
    }
    for range in [
        "bytes=",
        "bytes=-",
        "bytes=1-2-3",
        "bytes=18446744073709551615-",
    ] {
        let t = e.track(&e.info.demo_tracks[0].uri);
        let url = e
            .resolve(&token, &hex::encode(t.files[0].file_id))
            .await
            .cdnurl[0]
            .clone();
        let r = e.cdn(&url, Some(range)).await;
        assert!(r.status().is_client_error(), "{range}");
    }
    // Still serving.
    assert!(!e.client_token().await.is_empty());
    e.sim.shutdown().await;
}

#[tokio::test]
async fn color_lyrics_endpoint() {
    let e = env().await;
    let token = e.token("tonearm-demo").await;
    let c = e.sim.catalog();
    let t = &c.tracks[c.demo_tracks[0]];
    let path = format!(
        "/color-lyrics/v2/track/{}?format=json&vocalRemoval=false&market=from_token",
        ids::to_base62(&t.gid)
    );
    for bad in [None, Some("sim-l5-nope")] {
        assert_eq!(e.get(&path, bad).await.status(), StatusCode::UNAUTHORIZED);
    }
    let r = e.get(&path, Some(&token)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let json: serde_json::Value = r.json().await.unwrap();
    assert_eq!(json["lyrics"]["syncType"], "LINE_SYNCED");
    let lines = json["lyrics"]["lines"].as_array().unwrap();
    assert!(lines.len() >= 2);
    assert_eq!(lines[0]["startTimeMs"], "0");
    assert!(lines[1]["words"].as_str().unwrap().starts_with(&t.name));
    assert_eq!(json["hasVocalRemoval"], false);
    // The instrumental demo track has none.
    let a440 = c
        .demo_tracks
        .iter()
        .map(|&i| &c.tracks[i])
        .find(|t| t.name == "A440")
        .unwrap();
    let r = e
        .get(
            &format!("/color-lyrics/v2/track/{}", ids::to_base62(&a440.gid)),
            Some(&token),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = e
        .get("/color-lyrics/v2/track/not-an-id", Some(&token))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // An album id is not a track.
    let album = ids::to_base62(&c.albums[0].gid);
    let r = e
        .get(&format!("/color-lyrics/v2/track/{album}"), Some(&token))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    e.sim.shutdown().await;
}
