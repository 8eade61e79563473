//! Tests of the simulator's Spotify Connect services over real sockets on 127.0.0.1: the dealer
//! websocket (connection id, both keep-alive styles, token refusal, malformed frames),
//! connect-state (connection id checks, cluster pushes to every connection of the account,
//! inactive/delete, devices dropped when their connection closes), transfer and command
//! delivery with reply correlation, volume messages, context-resolve. A tiny dealer client built
//! on tokio-tungstenite plays the devices; the client's own modules are not used.

use std::io::Read;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use librespot_protocol::connect::{
    Capabilities, Cluster, ClusterUpdate, ClusterUpdateReason, DeviceInfo, MemberType,
    PutStateReason, PutStateRequest, SetVolumeCommand,
};
use librespot_protocol::devices::DeviceType;
use librespot_protocol::player::{ContextPlayerOptions, PlayerState, ProvidedTrack};
use librespot_protocol::transfer_state::TransferState;
use protobuf::{EnumOrUnknown, Message, MessageField};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::*;

pub(super) struct Dealer {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub conn_id: String,
}

const WAIT: Duration = Duration::from_secs(15);

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

impl Dealer {
    pub(super) async fn open(sim: &Simulator, token: &str) -> Dealer {
        let url = format!("{}/?access_token={token}", sim.info().dealer);
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut d = Dealer {
            ws,
            conn_id: String::new(),
        };
        let first = d.next().await;
        assert_eq!(first["type"], "message");
        let id = first["headers"]["Spotify-Connection-Id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(!id.is_empty());
        assert_eq!(
            first["uri"].as_str().unwrap(),
            format!("hm://pusher/v1/connections/{id}")
        );
        d.conn_id = id;
        d
    }

    /// The next text frame as JSON.
    async fn next(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("dealer frame in time")
                .expect("dealer open")
                .unwrap();
            if let Ws::Text(t) = msg {
                return serde_json::from_str(t.as_str()).unwrap();
            }
        }
    }

    /// The next frame satisfying `f` (others are skipped).
    async fn next_where(&mut self, f: impl Fn(&Value) -> bool) -> Value {
        loop {
            let v = self.next().await;
            if f(&v) {
                return v;
            }
        }
    }

    async fn cluster_update(&mut self) -> ClusterUpdate {
        let v = self
            .next_where(|v| v["uri"] == "hm://connect-state/v1/cluster")
            .await;
        assert_eq!(v["headers"]["Transfer-Encoding"], "gzip");
        assert_eq!(v["payloads"].as_array().unwrap().len(), 1);
        let raw = B64.decode(v["payloads"][0].as_str().unwrap()).unwrap();
        ClusterUpdate::parse_from_bytes(&gunzip(&raw)).unwrap()
    }

    /// Cluster updates until one satisfies `f`.
    async fn cluster_where(&mut self, f: impl Fn(&ClusterUpdate) -> bool) -> ClusterUpdate {
        loop {
            let u = self.cluster_update().await;
            if f(&u) {
                return u;
            }
        }
    }

    /// The next request: (key, decoded JSON body).
    async fn request(&mut self) -> (String, Value) {
        let v = self.next_where(|v| v["type"] == "request").await;
        assert_eq!(v["message_ident"], "hm://connect-state/v1/player/command");
        assert_eq!(v["headers"]["Transfer-Encoding"], "gzip");
        let raw = B64
            .decode(v["payload"]["compressed"].as_str().unwrap())
            .unwrap();
        let body = serde_json::from_slice(&gunzip(&raw)).unwrap();
        (v["key"].as_str().unwrap().to_owned(), body)
    }

    async fn send(&mut self, text: &str) {
        self.ws.send(Ws::Text(text.into())).await.unwrap();
    }

    async fn reply(&mut self, key: &str, success: bool) {
        let r = json!({"type": "reply", "key": key, "payload": {"success": success}});
        self.send(&r.to_string()).await;
    }

    async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// A Connect device's DeviceInfo (also the fault tests' speaker).
pub(crate) fn device_info(id: &str, name: &str, kind: DeviceType) -> DeviceInfo {
    let mut caps = Capabilities::new();
    caps.can_be_player = true;
    caps.is_controllable = true;
    caps.supports_transfer_command = true;
    caps.supports_command_request = true;
    caps.volume_steps = 64;
    let mut info = DeviceInfo::new();
    info.can_play = true;
    info.volume = 32767;
    info.name = name.to_owned();
    info.device_id = id.to_owned();
    info.device_type = EnumOrUnknown::new(kind);
    info.capabilities = MessageField::some(caps);
    info
}

fn put_request(
    info: DeviceInfo,
    reason: PutStateReason,
    active: bool,
    ps: Option<PlayerState>,
) -> PutStateRequest {
    let mut req = PutStateRequest::new();
    let mut dev = librespot_protocol::connect::Device::new();
    dev.device_info = MessageField::some(info);
    dev.player_state = MessageField::from_option(ps);
    req.device = MessageField::some(dev);
    req.member_type = EnumOrUnknown::new(MemberType::CONNECT_STATE);
    req.put_state_reason = EnumOrUnknown::new(reason);
    req.is_active = active;
    if active {
        req.started_playing_at = u64::try_from(crate::util::now_ms()).unwrap();
    }
    req
}

struct Env {
    sim: Simulator,
    http: reqwest::Client,
    base: String,
}

impl Env {
    async fn new() -> Env {
        let sim = Simulator::start(SimConfig {
            first_ping_after: Duration::from_secs(30),
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let base = sim.info().spclient.clone();
        Env {
            sim,
            http: reqwest::Client::new(),
            base,
        }
    }

    fn token(&self, user: &str) -> String {
        self.sim.issue_login5_token(user).unwrap()
    }

    async fn put(
        &self,
        token: &str,
        conn: Option<&str>,
        id: &str,
        req: &PutStateRequest,
    ) -> reqwest::Response {
        let mut r = self
            .http
            .put(format!(
                "{}/connect-state/v1/devices/{id}?product=0&country=GB&salt=1",
                self.base
            ))
            .bearer_auth(token)
            .header("Content-Type", "application/x-protobuf")
            .body(req.write_to_bytes().unwrap());
        if let Some(c) = conn {
            r = r.header("X-Spotify-Connection-Id", c);
        }
        r.send().await.unwrap()
    }

    /// Registers a device (NEW_DEVICE) over a fresh dealer connection.
    async fn device(&self, token: &str, id: &str, name: &str, kind: DeviceType) -> Dealer {
        let d = Dealer::open(&self.sim, token).await;
        let req = put_request(
            device_info(id, name, kind),
            PutStateReason::NEW_DEVICE,
            false,
            None,
        );
        let r = self.put(token, Some(&d.conn_id), id, &req).await;
        assert_eq!(r.status(), StatusCode::OK);
        d
    }

    async fn post_json(&self, token: &str, path: &str, body: &Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v = r.json().await.unwrap_or(Value::Null);
        (status, v)
    }
}

fn playing_state(sim: &Simulator, position: i64, paused: bool) -> PlayerState {
    let info = sim.info();
    let mut ps = PlayerState::new();
    ps.timestamp = crate::util::now_ms();
    ps.context_uri = info.demo_album.clone();
    ps.context_url = format!("context://{}", info.demo_album);
    ps.is_playing = true;
    ps.is_paused = paused;
    ps.playback_speed = if paused { 0.0 } else { 1.0 };
    ps.position_as_of_timestamp = position;
    ps.duration = 30_000;
    let mut t = ProvidedTrack::new();
    t.uri = info.demo_tracks[2].uri.clone();
    t.uid = context::uid_for(&info.demo_album, 2);
    t.provider = "context".into();
    ps.track = MessageField::some(t);
    let mut q = ProvidedTrack::new();
    q.uri = info.demo_tracks[5].uri.clone();
    q.provider = "queue".into();
    let mut n = ProvidedTrack::new();
    n.uri = info.demo_tracks[3].uri.clone();
    n.provider = "context".into();
    ps.next_tracks = vec![q, n];
    let mut o = ContextPlayerOptions::new();
    o.shuffling_context = true;
    ps.options = MessageField::some(o);
    ps
}

#[tokio::test]
async fn dealer_connection_id_and_both_keepalives() {
    let e = Env::new().await;
    let mut d = Dealer::open(&e.sim, &e.token("alice")).await;
    d.send(r#"{"type":"ping"}"#).await;
    let pong = d.next().await;
    assert_eq!(pong, json!({"type": "pong"}));
    d.ws.send(Ws::Ping(b"hi".to_vec().into())).await.unwrap();
    let answer = tokio::time::timeout(WAIT, async {
        loop {
            match d.ws.next().await.unwrap().unwrap() {
                Ws::Pong(p) => return p,
                _ => continue,
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(&answer[..], b"hi");
    // An OAuth token from the accounts service works too.
    let oauth =
        accounts::sign_in_for_tests(&e.sim.info().accounts_url, "alice", "alice-pass").await;
    let d2 = Dealer::open(&e.sim, oauth["access_token"].as_str().unwrap()).await;
    assert_ne!(d2.conn_id, d.conn_id);
}

#[tokio::test]
async fn dealer_refuses_bad_tokens() {
    let e = Env::new().await;
    for url in [
        format!("{}/?access_token=nope", e.sim.info().dealer),
        format!("{}/?access_token=", e.sim.info().dealer),
        format!("{}/", e.sim.info().dealer),
    ] {
        match tokio_tungstenite::connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                assert_eq!(r.status(), 401);
            }
            other => panic!("expected 401, got {:?}", other.map(|_| ())),
        }
    }
    // apresolve still answers on `/`.
    let r = e
        .http
        .get(format!("{}/?type=dealer", e.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn put_state_needs_a_live_connection_of_the_account() {
    let e = Env::new().await;
    let alice = e.token("alice");
    let demo = e.token("tonearm-demo");
    let d = Dealer::open(&e.sim, &alice).await;
    let other = Dealer::open(&e.sim, &demo).await;
    let req = put_request(
        device_info("dev-a", "Kitchen", DeviceType::SPEAKER),
        PutStateReason::NEW_DEVICE,
        false,
        None,
    );
    let r = e.put(&alice, None, "dev-a", &req).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("X-Spotify-Connection-Id"));
    let r = e.put(&alice, Some("bogus"), "dev-a", &req).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = e.put(&alice, Some(&other.conn_id), "dev-a", &req).await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "another account's connection"
    );
    let r = e.put("nope", Some(&d.conn_id), "dev-a", &req).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = e.put(&alice, Some(&d.conn_id), "dev-a", &req).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/x-protobuf"
    );
    let cluster = Cluster::parse_from_bytes(&r.bytes().await.unwrap()).unwrap();
    let dev = &cluster.device["dev-a"];
    assert_eq!(dev.name, "Kitchen");
    assert_eq!(dev.device_id, "dev-a");
    assert_eq!(cluster.active_device_id, "");
    // Garbage body.
    let r = e
        .http
        .put(format!("{}/connect-state/v1/devices/dev-a", e.base))
        .bearer_auth(&alice)
        .header("X-Spotify-Connection-Id", &d.conn_id)
        .body(vec![0xff, 0xff, 0xff])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn every_connection_of_the_account_gets_cluster_updates() {
    let e = Env::new().await;
    let alice = e.token("alice");
    let mut a = Dealer::open(&e.sim, &alice).await;
    let mut b = Dealer::open(&e.sim, &alice).await;
    let mut stranger = Dealer::open(&e.sim, &e.token("tonearm-demo")).await;
    let req = put_request(
        device_info("dev-a", "Desk", DeviceType::COMPUTER),
        PutStateReason::NEW_DEVICE,
        false,
        None,
    );
    assert_eq!(
        e.put(&alice, Some(&a.conn_id), "dev-a", &req)
            .await
            .status(),
        200
    );
    for d in [&mut a, &mut b] {
        let u = d.cluster_update().await;
        assert_eq!(
            u.update_reason.enum_value(),
            Ok(ClusterUpdateReason::NEW_DEVICE_APPEARED)
        );
        assert_eq!(u.devices_that_changed, vec!["dev-a".to_owned()]);
        assert!(u.cluster.device.contains_key("dev-a"));
    }
    // Becoming active with a player state updates the cluster's player_state.
    let ps = playing_state(&e.sim, 1000, false);
    let req = put_request(
        device_info("dev-a", "Desk", DeviceType::COMPUTER),
        PutStateReason::PLAYER_STATE_CHANGED,
        true,
        Some(ps.clone()),
    );
    assert_eq!(
        e.put(&alice, Some(&a.conn_id), "dev-a", &req)
            .await
            .status(),
        200
    );
    let u = b
        .cluster_where(|u| u.cluster.active_device_id == "dev-a")
        .await;
    assert_eq!(u.cluster.player_state.track.uri, ps.track.uri);
    // inactive → 204 and a push without an active device; DELETE removes.
    let r = e
        .http
        .put(format!(
            "{}/connect-state/v1/devices/dev-a/inactive?notify=false",
            e.base
        ))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let u = b
        .cluster_where(|u| u.cluster.active_device_id.is_empty())
        .await;
    assert!(
        u.cluster.transfer_data.is_empty(),
        "pushes carry no transfer data"
    );
    // The device that was active gets its state back as transfer data (to resume); others not.
    let req = put_request(
        device_info("dev-a", "Desk", DeviceType::COMPUTER),
        PutStateReason::NEW_CONNECTION,
        false,
        None,
    );
    let r = e.put(&alice, Some(&a.conn_id), "dev-a", &req).await;
    let own = Cluster::parse_from_bytes(&r.bytes().await.unwrap()).unwrap();
    let ts = TransferState::parse_from_bytes(&own.transfer_data).unwrap();
    assert_eq!(ts.playback.current_track.uri(), ps.track.uri);
    let req = put_request(
        device_info("dev-c", "Other", DeviceType::TV),
        PutStateReason::NEW_DEVICE,
        false,
        None,
    );
    let r = e.put(&alice, Some(&b.conn_id), "dev-c", &req).await;
    let other = Cluster::parse_from_bytes(&r.bytes().await.unwrap()).unwrap();
    assert!(other.transfer_data.is_empty());
    let r = e
        .http
        .delete(format!("{}/connect-state/v1/devices/dev-a", e.base))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let u = b
        .cluster_where(|u| {
            !u.cluster.device.contains_key("dev-a") && u.cluster.device.contains_key("dev-c")
        })
        .await;
    assert_eq!(
        u.update_reason.enum_value(),
        Ok(ClusterUpdateReason::DEVICES_DISAPPEARED)
    );
    // The other account heard nothing (only a ping answer arrives).
    stranger.send(r#"{"type":"ping"}"#).await;
    assert_eq!(stranger.next().await["type"], "pong");
}

#[tokio::test]
async fn devices_of_a_closed_connection_disappear() {
    let e = Env::new().await;
    e.sim
        .set_connect_timing(Duration::from_millis(100), Duration::from_secs(5));
    let alice = e.token("alice");
    let mut watcher = Dealer::open(&e.sim, &alice).await;
    let speaker = e
        .device(&alice, "spk", "Speaker", DeviceType::SPEAKER)
        .await;
    watcher
        .cluster_where(|u| u.cluster.device.contains_key("spk"))
        .await;
    speaker.close().await;
    let u = watcher
        .cluster_where(|u| !u.cluster.device.contains_key("spk"))
        .await;
    assert_eq!(u.devices_that_changed, vec!["spk".to_owned()]);
}

#[tokio::test]
async fn transfer_delivers_a_transfer_state_and_correlates_the_reply() {
    let e = Env::new().await;
    let alice = e.token("alice");
    let mut a = e
        .device(&alice, "dev-a", "Desk", DeviceType::COMPUTER)
        .await;
    let mut b = e
        .device(&alice, "dev-b", "Speaker", DeviceType::SPEAKER)
        .await;
    let ps = playing_state(&e.sim, 12_345, false);
    let req = put_request(
        device_info("dev-a", "Desk", DeviceType::COMPUTER),
        PutStateReason::PLAYER_STATE_CHANGED,
        true,
        Some(ps.clone()),
    );
    assert_eq!(
        e.put(&alice, Some(&a.conn_id), "dev-a", &req)
            .await
            .status(),
        200
    );

    let path = "/connect-state/v1/connect/transfer/from/dev-a/to/dev-b";
    let body = json!({"transfer_options": {"restore_paused": "restore"}});
    let (answer, (key, cmd)) = tokio::join!(e.post_json(&alice, path, &body), async {
        let (key, cmd) = b.request().await;
        b.reply(&key, true).await;
        (key, cmd)
    });
    assert_eq!(answer.0, StatusCode::OK, "{}", answer.1);
    assert_eq!(answer.1["ack_id"].as_str().unwrap(), key);
    assert_eq!(cmd["sent_by_device_id"], "dev-a");
    assert!(cmd["message_id"].is_u64());
    let c = &cmd["command"];
    assert_eq!(c["endpoint"], "transfer");
    assert_eq!(c["options"]["restore_paused"], "restore");
    assert!(c["logging_params"].is_object());
    let ts =
        TransferState::parse_from_bytes(&B64.decode(c["data"].as_str().unwrap()).unwrap()).unwrap();
    let pb = ts.playback.as_ref().unwrap();
    assert_eq!(pb.position_as_of_timestamp(), 12_345);
    assert_eq!(pb.timestamp(), ps.timestamp);
    assert!(!pb.is_paused());
    assert_eq!(pb.current_track.uri(), ps.track.uri);
    let session = ts.current_session.as_ref().unwrap();
    assert_eq!(session.context.uri(), e.sim.info().demo_album);
    assert_eq!(session.current_uid(), ps.track.uid);
    assert!(ts.options.shuffling_context());
    assert_eq!(ts.queue.tracks.len(), 1, "the queued track");
    assert_eq!(ts.queue.tracks[0].uri(), e.sim.info().demo_tracks[5].uri);

    // b is now active; a hears it.
    a.cluster_where(|u| u.cluster.active_device_id == "dev-b")
        .await;

    // A refusal and a silent device are errors.
    let back = "/connect-state/v1/connect/transfer/from/dev-b/to/dev-a";
    let empty = json!({});
    let (answer, _) = tokio::join!(e.post_json(&alice, back, &empty), async {
        let (key, _) = a.request().await;
        a.reply(&key, false).await;
    });
    assert_eq!(answer.0, StatusCode::BAD_GATEWAY);
    e.sim
        .set_connect_timing(Duration::from_secs(2), Duration::from_millis(300));
    let answer = e.post_json(&alice, back, &json!({})).await;
    assert_eq!(answer.0, StatusCode::GATEWAY_TIMEOUT);
    // The silent request is still queued at dev-a: take it out of the way.
    let _stale = a.request().await;
    e.sim
        .set_connect_timing(Duration::from_secs(2), Duration::from_secs(10));
    // Unknown target.
    let answer = e
        .post_json(
            &alice,
            "/connect-state/v1/connect/transfer/from/dev-a/to/nope",
            &json!({}),
        )
        .await;
    assert_eq!(answer.0, StatusCode::NOT_FOUND);
    // An unregistered sender may transfer (a pure controller): the active device's state goes.
    let empty = json!({});
    let (answer, (_, cmd)) = tokio::join!(
        e.post_json(
            &alice,
            "/connect-state/v1/connect/transfer/from/remote-only/to/dev-a",
            &empty,
        ),
        async {
            let (key, cmd) = a.request().await;
            a.reply(&key, true).await;
            (key, cmd)
        }
    );
    assert_eq!(answer.0, StatusCode::OK);
    assert_eq!(cmd["sent_by_device_id"], "remote-only");
}

#[tokio::test]
async fn commands_are_forwarded_and_volume_is_a_message() {
    let e = Env::new().await;
    let alice = e.token("alice");
    let _phone = e
        .device(&alice, "phone", "Phone", DeviceType::SMARTPHONE)
        .await;
    let mut spk = e
        .device(&alice, "spk", "Speaker", DeviceType::SPEAKER)
        .await;
    let path = "/connect-state/v1/player/command/from/phone/to/spk";
    let body = json!({"command": {"endpoint": "seek_to", "value": 5000, "position": 5000}});
    let (answer, (key, cmd)) = tokio::join!(e.post_json(&alice, path, &body), async {
        let (key, cmd) = spk.request().await;
        spk.reply(&key, true).await;
        (key, cmd)
    });
    assert_eq!(answer.0, StatusCode::OK);
    assert_eq!(answer.1["ack_id"].as_str().unwrap(), key);
    assert_eq!(cmd["sent_by_device_id"], "phone");
    assert_eq!(cmd["command"]["endpoint"], "seek_to");
    assert_eq!(cmd["command"]["value"], 5000);
    assert_eq!(cmd["command"]["logging_params"], json!({}));
    assert!(cmd["message_id"].is_u64());

    // Malformed command bodies.
    for bad in [
        json!({}),
        json!({"command": 5}),
        json!({"command": {"value": 1}}),
    ] {
        let answer = e.post_json(&alice, path, &bad).await;
        assert_eq!(answer.0, StatusCode::BAD_REQUEST, "{bad}");
    }

    // Volume: a SetVolumeCommand message, no request.
    let r = e
        .http
        .put(format!(
            "{}/connect-state/v1/connect/volume/from/phone/to/spk",
            e.base
        ))
        .bearer_auth(&alice)
        .json(&json!({"volume": 40000}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v = spk
        .next_where(|v| v["uri"] == "hm://connect-state/v1/connect/volume")
        .await;
    assert_eq!(v["type"], "message");
    let raw = B64.decode(v["payloads"][0].as_str().unwrap()).unwrap();
    let cmd = SetVolumeCommand::parse_from_bytes(&gunzip(&raw)).unwrap();
    assert_eq!(cmd.volume, 40000);
    let r = e
        .http
        .put(format!(
            "{}/connect-state/v1/connect/volume/from/phone/to/spk",
            e.base
        ))
        .bearer_auth(&alice)
        .json(&json!({"volume": 70000}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn context_resolve_is_strict_and_404s_unknown_contexts() {
    let e = Env::new().await;
    let alice = e.token("alice");
    let info = e.sim.info().clone();
    let cat = e.sim.catalog();
    let artist = cat.uri(catalog::Entity::Artist(0)).unwrap();
    let playlist = cat.uri(catalog::Entity::Playlist(0)).unwrap();
    for uri in [info.demo_album.clone(), artist, playlist] {
        let r = e
            .http
            .get(format!("{}/context-resolve/v1/{uri}", e.base))
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{uri}");
        let v: Value = r.json().await.unwrap();
        assert!(context::context_keys_ok(&v), "{v}");
        assert_eq!(v["uri"], uri.as_str());
        let tracks = v["pages"][0]["tracks"].as_array().unwrap();
        assert!(!tracks.is_empty(), "{uri}");
        assert!(tracks[0]["uri"]
            .as_str()
            .unwrap()
            .starts_with("spotify:track:"));
        assert_eq!(tracks[0]["uid"].as_str().unwrap().len(), 16);
    }
    for uri in [
        "spotify:album:0000000000000000000000",
        "garbage",
        "spotify:user:x:collection",
    ] {
        let r = e
            .http
            .get(format!("{}/context-resolve/v1/{uri}", e.base))
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{uri}");
    }
    let r = e
        .http
        .get(format!("{}/context-resolve/v1/{}", e.base, info.demo_album))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn hostile_frames_and_inputs_do_not_break_the_dealer() {
    let e = Env::new().await;
    let alice = e.token("alice");
    let mut d = e.device(&alice, "dev", "Desk", DeviceType::COMPUTER).await;
    for junk in [
        "not json",
        "{}",
        "[]",
        r#"{"type":"reply"}"#,
        r#"{"type":"reply","key":"unknown","payload":{"success":true}}"#,
        r#"{"type":"reply","key":5}"#,
        r#"{"type":"whatever"}"#,
        "\u{0}\u{1}",
    ] {
        d.send(junk).await;
    }
    d.ws.send(Ws::Binary(vec![0u8; 100].into())).await.unwrap();
    d.send(r#"{"type":"ping"}"#).await;
    assert_eq!(d.next_where(|v| v["type"] == "pong").await["type"], "pong");
    // An oversized frame closes that connection, not the server.
    let _ = d.ws.send(Ws::Text("x".repeat(200_000).into())).await;
    let mut d2 = Dealer::open(&e.sim, &alice).await;
    d2.send(r#"{"type":"ping"}"#).await;
    assert_eq!(d2.next().await["type"], "pong");
    // Hostile paths and bodies.
    let long = "x".repeat(300);
    let (s, _) = e
        .post_json(
            &alice,
            &format!("/connect-state/v1/player/command/from/{long}/to/dev"),
            &json!({"command": {"endpoint": "pause"}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "overlong sender id");
    let r = e
        .http
        .post(format!(
            "{}/connect-state/v1/player/command/from/dev/to/dev",
            e.base
        ))
        .bearer_auth(&alice)
        .header("X-Transfer-Encoding", "gzip")
        .body("not gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

// ---------------------------------------------------------------------------------------------
// The scripted phone

use crate::remote::{Phone, PhoneConfig, PhoneError};

async fn phone(e: &Env, user: &str, pass: &str) -> Phone {
    Phone::connect(PhoneConfig::new(&e.base, user, pass))
        .await
        .unwrap()
}

/// Runs `fut` (a phone call) while the fake receiver answers one request; returns both.
async fn answered<T>(
    recv: &mut Dealer,
    success: bool,
    fut: impl std::future::Future<Output = T>,
) -> (T, Value) {
    let (out, (_, cmd)) = tokio::join!(fut, async {
        let (key, cmd) = recv.request().await;
        recv.reply(&key, success).await;
        (key, cmd)
    });
    (out, cmd)
}

#[tokio::test]
async fn the_phone_lists_devices_and_drives_a_receiver() {
    let e = Env::new().await;
    let alice = e.token("alice");
    let mut spk = e
        .device(&alice, "spk-1", "Kitchen", DeviceType::SPEAKER)
        .await;
    let mut p = phone(&e, "alice", "alice-pass").await;
    let devices = p.devices().await.unwrap();
    let me = devices.iter().find(|d| d.is_self).unwrap();
    assert_eq!(me.device_type, "SMARTPHONE");
    assert_eq!(me.id, p.device_id());
    let k = devices.iter().find(|d| d.name == "Kitchen").unwrap();
    assert_eq!(
        (k.id.as_str(), k.device_type.as_str()),
        ("spk-1", "SPEAKER")
    );

    // Nothing active: commands without a target fail clearly.
    assert!(matches!(
        p.pause(None).await,
        Err(PhoneError::NoActiveDevice)
    ));
    // Nothing playing anywhere: nothing to transfer.
    match p.transfer("kitchen").await {
        Err(PhoneError::Refused { status: 404, .. }) => {}
        other => panic!("{other:?}"),
    }

    // Play a context on the speaker (by name): it becomes active.
    let album = e.sim.info().demo_album.clone();
    let (r, cmd) = answered(
        &mut spk,
        true,
        p.play(Some("Kitchen"), &album, Some(3), Some(1500)),
    )
    .await;
    assert_eq!(r.unwrap()["started"], true);
    // Nothing was active, so the phone started the speaker through the Web API.
    assert_eq!(cmd["sent_by_device_id"], "sim-web-api");
    let c = &cmd["command"];
    assert_eq!(c["endpoint"], "play");
    assert_eq!(c["context"]["uri"], album.as_str());
    assert_eq!(c["options"]["skip_to"]["track_index"], 3);
    assert_eq!(c["options"]["seek_to"], 1500);
    assert!(c["logging_params"].is_object());
    p.wait_for(WAIT, |c| c.active_device_id == "spk-1")
        .await
        .unwrap();

    // The speaker reports what it plays; then every command reaches it.
    let req = put_request(
        device_info("spk-1", "Kitchen", DeviceType::SPEAKER),
        PutStateReason::PLAYER_STATE_CHANGED,
        true,
        Some(playing_state(&e.sim, 0, false)),
    );
    assert_eq!(
        e.put(&alice, Some(&spk.conn_id), "spk-1", &req)
            .await
            .status(),
        200
    );
    p.wait_for(WAIT, |c| c.player_state.is_playing)
        .await
        .unwrap();
    let st = p.status().await.unwrap();
    assert_eq!(st["active_device_id"], "spk-1");
    assert_eq!(st["active_device_name"], "Kitchen");
    assert_eq!(st["track_uri"], e.sim.info().demo_tracks[2].uri.as_str());
    assert_eq!(st["is_playing"], true);
    assert_eq!(st["shuffle"], true);

    let (_, c) = answered(&mut spk, true, p.pause(None)).await;
    assert_eq!(c["command"]["endpoint"], "pause");
    let (_, c) = answered(&mut spk, true, p.resume(None)).await;
    assert_eq!(c["command"]["endpoint"], "resume");
    let (_, c) = answered(&mut spk, true, p.seek(None, 4200)).await;
    assert_eq!(
        (
            c["command"]["endpoint"].as_str(),
            c["command"]["value"].as_u64()
        ),
        (Some("seek_to"), Some(4200))
    );
    assert_eq!(c["command"]["position"], 4200);
    let (_, c) = answered(&mut spk, true, p.next(None)).await;
    assert_eq!(c["command"]["endpoint"], "skip_next");
    let (_, c) = answered(&mut spk, true, p.prev(None)).await;
    assert_eq!(c["command"]["endpoint"], "skip_prev");
    let (_, c) = answered(&mut spk, true, p.shuffle(None, true)).await;
    assert_eq!(
        c["command"],
        json!({"endpoint": "set_shuffling_context", "value": true, "logging_params": {}})
    );
    let (_, c) = answered(&mut spk, true, p.repeat(None, "track")).await;
    assert_eq!(c["command"]["endpoint"], "set_options");
    assert_eq!(c["command"]["repeating_track"], true);
    let track = e.sim.info().demo_tracks[1].uri.clone();
    let (_, c) = answered(&mut spk, true, p.queue(None, &track)).await;
    assert_eq!(c["command"]["endpoint"], "add_to_queue");
    assert_eq!(c["command"]["track"]["uri"], track.as_str());
    let (_, c) = answered(
        &mut spk,
        true,
        p.set_queue(None, std::slice::from_ref(&track)),
    )
    .await;
    assert_eq!(c["command"]["endpoint"], "set_queue");
    assert_eq!(c["command"]["next_tracks"][0]["uri"], track.as_str());
    // A refusal is an error.
    let (r, _) = answered(&mut spk, false, p.pause(None)).await;
    assert!(
        matches!(r, Err(PhoneError::Refused { status: 502, .. })),
        "{r:?}"
    );

    // Volume arrives as a message.
    p.volume(None, 50).await.unwrap();
    let v = spk
        .next_where(|v| v["uri"] == "hm://connect-state/v1/connect/volume")
        .await;
    let raw = B64.decode(v["payloads"][0].as_str().unwrap()).unwrap();
    assert_eq!(
        SetVolumeCommand::parse_from_bytes(&gunzip(&raw))
            .unwrap()
            .volume,
        32767
    );

    // Transfer from the speaker to a second receiver.
    let mut desk = e
        .device(&alice, "desk-1", "Desk", DeviceType::COMPUTER)
        .await;
    let (r, c) = answered(&mut desk, true, p.transfer("desk-1")).await;
    r.unwrap();
    assert_eq!(c["command"]["endpoint"], "transfer");
    let ts = TransferState::parse_from_bytes(
        &B64.decode(c["command"]["data"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        ts.playback.current_track.uri(),
        e.sim.info().demo_tracks[2].uri
    );
    p.wait_for(WAIT, |c| c.active_device_id == "desk-1")
        .await
        .unwrap();

    // Closing deregisters the phone.
    let id = p.device_id().to_owned();
    p.close().await;
    assert!(!e.sim.connect_cluster("alice").device.contains_key(&id));
}

#[tokio::test]
async fn the_phone_signs_in_without_password_login_and_refuses_wrong_passwords() {
    let sim = Simulator::start(SimConfig {
        first_ping_after: Duration::from_secs(30),
        password_login: false,
        login5_hashcash: Some(4),
        client_token_hashcash: true,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let base = sim.info().spclient.clone();
    let p = Phone::connect(PhoneConfig::new(&base, "alice", "alice-pass"))
        .await
        .unwrap();
    assert_eq!(p.devices().await.unwrap().len(), 1);
    let err = Phone::connect(PhoneConfig::new(&base, "alice", "hunter2-nope"))
        .await
        .unwrap_err();
    assert!(matches!(err, PhoneError::Login(_)), "{err:?}");
    assert!(!err.to_string().contains("hunter2"), "no secrets in errors");
    // With password logins on, login5 (and its hashcash) is the route.
    let sim2 = Simulator::start(SimConfig {
        first_ping_after: Duration::from_secs(30),
        login5_hashcash: Some(4),
        client_token_hashcash: true,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let before = sim2.stats().login5_logins;
    let _p = Phone::connect(PhoneConfig::new(
        &sim2.info().spclient,
        "alice",
        "alice-pass",
    ))
    .await
    .unwrap();
    assert_eq!(sim2.stats().login5_logins, before + 1);
}

// ---------------------------------------------------------------------------------------------
// Web API player endpoints

impl Env {
    async fn web(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self
            .http
            .request(method, format!("{}/v1/me/player{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn web_api_player_endpoints_follow_the_cluster() {
    use reqwest::Method;
    let e = Env::new().await;
    let alice = e.token("alice");
    let (s, _) = e.web(Method::GET, &alice, "", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "nothing active");
    let (s, v) = e.web(Method::PUT, &alice, "/pause", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["error"]["status"], 404);
    let (s, _) = e.web(Method::GET, "bad", "/devices", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let mut spk = e
        .device(&alice, "spk", "Kitchen", DeviceType::SPEAKER)
        .await;
    let mut desk = e.device(&alice, "desk", "Desk", DeviceType::COMPUTER).await;
    let (s, v) = e.web(Method::GET, &alice, "/devices", None).await;
    assert_eq!(s, StatusCode::OK);
    let list = v["devices"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let k = list.iter().find(|d| d["id"] == "spk").unwrap();
    assert_eq!(k["type"], "Speaker");
    assert_eq!(k["name"], "Kitchen");
    assert_eq!(k["volume_percent"], 50);
    assert_eq!(k["is_active"], false);
    for key in ["is_private_session", "is_restricted", "supports_volume"] {
        assert!(k[key].is_boolean(), "{key}");
    }

    // play with a context on a chosen device.
    let album = e.sim.info().demo_album.clone();
    let body = json!({"context_uri": album, "offset": {"position": 2}, "position_ms": 700});
    let ((s, v), c) = answered(
        &mut spk,
        true,
        e.web(Method::PUT, &alice, "/play?device_id=spk", Some(body)),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(c["sent_by_device_id"], "sim-web-api");
    assert_eq!(c["command"]["endpoint"], "play");
    assert_eq!(c["command"]["context"]["uri"], album.as_str());
    assert_eq!(c["command"]["options"]["skip_to"]["track_index"], 2);
    assert_eq!(c["command"]["options"]["seek_to"], 700);
    // uris → a context of pages.
    let t = e.sim.info().demo_tracks[0].uri.clone();
    let ((s, _), c) = answered(
        &mut spk,
        true,
        e.web(Method::PUT, &alice, "/play", Some(json!({"uris": [t]}))),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        c["command"]["context"]["pages"][0]["tracks"][0]["uri"],
        t.as_str()
    );
    // Bad bodies.
    for bad in [
        json!({"context_uri": "spotify:album:0000000000000000000000"}),
        json!({"uris": []}),
        json!({"uris": ["x"]}),
        json!({"context_uri": album, "offset": {}}),
    ] {
        let (s, _) = e.web(Method::PUT, &alice, "/play", Some(bad.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    }

    // The speaker reports its state: GET /v1/me/player shows it.
    let req = put_request(
        device_info("spk", "Kitchen", DeviceType::SPEAKER),
        PutStateReason::PLAYER_STATE_CHANGED,
        true,
        Some(playing_state(&e.sim, 2000, true)),
    );
    assert_eq!(
        e.put(&alice, Some(&spk.conn_id), "spk", &req)
            .await
            .status(),
        200
    );
    let (s, v) = e.web(Method::GET, &alice, "", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["device"]["id"], "spk");
    assert_eq!(v["device"]["is_active"], true);
    assert_eq!(v["is_playing"], false, "paused");
    assert_eq!(v["progress_ms"], 2000);
    assert_eq!(v["shuffle_state"], true);
    assert_eq!(v["repeat_state"], "off");
    assert_eq!(v["item"]["uri"], e.sim.info().demo_tracks[2].uri.as_str());
    assert_eq!(v["currently_playing_type"], "track");
    assert_eq!(v["context"]["uri"], album.as_str());
    assert_eq!(v["context"]["type"], "album");
    let (s, v) = e.web(Method::GET, &alice, "/queue", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["queue"].as_array().unwrap().len(), 2);

    // Simple commands go to the active device.
    for (method, path, endpoint) in [
        (Method::PUT, "/pause", "pause"),
        (Method::PUT, "/play", "resume"),
        (Method::POST, "/next", "skip_next"),
        (Method::POST, "/previous", "skip_prev"),
        (Method::PUT, "/seek?position_ms=1234", "seek_to"),
        (Method::PUT, "/shuffle?state=false", "set_shuffling_context"),
        (Method::PUT, "/repeat?state=context", "set_options"),
    ] {
        let ((s, v), c) = answered(&mut spk, true, e.web(method, &alice, path, None)).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{path}: {v}");
        assert_eq!(c["command"]["endpoint"], endpoint, "{path}");
    }
    let q = format!("/queue?uri={}", e.sim.info().demo_tracks[4].uri);
    let ((s, _), c) = answered(&mut spk, true, e.web(Method::POST, &alice, &q, None)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        c["command"]["track"]["uri"],
        e.sim.info().demo_tracks[4].uri.as_str()
    );
    for bad in [
        "/seek",
        "/seek?position_ms=-1",
        "/shuffle?state=maybe",
        "/repeat?state=all",
        "/volume?volume_percent=101",
        "/queue?uri=nope",
    ] {
        let method = if bad.starts_with("/queue") {
            Method::POST
        } else {
            Method::PUT
        };
        let (s, _) = e.web(method, &alice, bad, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    }
    // A refusal → 502.
    let ((s, _), _) = answered(&mut spk, false, e.web(Method::PUT, &alice, "/pause", None)).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY);
    // Volume → message.
    let (s, _) = e
        .web(Method::PUT, &alice, "/volume?volume_percent=100", None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let v = spk
        .next_where(|v| v["uri"] == "hm://connect-state/v1/connect/volume")
        .await;
    let raw = B64.decode(v["payloads"][0].as_str().unwrap()).unwrap();
    assert_eq!(
        SetVolumeCommand::parse_from_bytes(&gunzip(&raw))
            .unwrap()
            .volume,
        65535
    );

    // Transfer to the desk with play=true.
    let body = json!({"device_ids": ["desk"], "play": true});
    let ((s, v), c) = answered(&mut desk, true, e.web(Method::PUT, &alice, "", Some(body))).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(c["command"]["endpoint"], "transfer");
    assert_eq!(c["command"]["options"]["restore_paused"], "resume");
    spk.cluster_where(|u| u.cluster.active_device_id == "desk")
        .await;
    for bad in [
        json!({"device_ids": []}),
        json!({"device_ids": ["a", "b"]}),
        json!({"device_ids": ["desk"], "play": "yes"}),
    ] {
        let (s, _) = e.web(Method::PUT, &alice, "", Some(bad.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (s, _) = e
        .web(
            Method::PUT,
            &alice,
            "",
            Some(json!({"device_ids": ["nope"]})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Free accounts may look but not command.
    let frank = e.token("frank-free");
    let (s, _) = e.web(Method::PUT, &frank, "/pause", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn unchanged_puts_are_not_pushed_and_liked_songs_resolve() {
    let e = Env::new().await;
    let alice = e.token("alice");
    let mut d = e.device(&alice, "dev", "Desk", DeviceType::COMPUTER).await;
    d.cluster_update().await;
    let req = put_request(
        device_info("dev", "Desk", DeviceType::COMPUTER),
        PutStateReason::PICKER_OPENED,
        false,
        None,
    );
    assert_eq!(
        e.put(&alice, Some(&d.conn_id), "dev", &req).await.status(),
        200
    );
    // The next frame is the pong, not a cluster push.
    d.send(r#"{"type":"ping"}"#).await;
    assert_eq!(d.next().await["type"], "pong");
    let mut info = device_info("dev", "Desk 2", DeviceType::COMPUTER);
    info.volume = 100;
    let req = put_request(info, PutStateReason::VOLUME_CHANGED, false, None);
    assert_eq!(
        e.put(&alice, Some(&d.conn_id), "dev", &req).await.status(),
        200
    );
    let u = d.cluster_update().await;
    assert_eq!(
        u.update_reason.enum_value(),
        Ok(ClusterUpdateReason::DEVICE_VOLUME_CHANGED)
    );
    assert_eq!(u.cluster.device["dev"].volume, 100);

    let r = e
        .http
        .get(format!(
            "{}/context-resolve/v1/spotify:user:tonearm-demo:collection",
            e.base
        ))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert!(context::context_keys_ok(&v));
    assert!(!v["pages"][0]["tracks"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_late_activity_claim_does_not_steal_a_transfer_back() {
    let e = Env::new().await;
    let alice = e.token("alice");
    let a = e
        .device(&alice, "dev-a", "Desk", DeviceType::COMPUTER)
        .await;
    let mut b = e
        .device(&alice, "dev-b", "Speaker", DeviceType::SPEAKER)
        .await;
    let ps = playing_state(&e.sim, 0, false);
    let mut claim = put_request(
        device_info("dev-a", "Desk", DeviceType::COMPUTER),
        PutStateReason::PLAYER_STATE_CHANGED,
        true,
        Some(ps),
    );
    let started_before = claim.started_playing_at;
    assert_eq!(
        e.put(&alice, Some(&a.conn_id), "dev-a", &claim)
            .await
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    let path = "/connect-state/v1/connect/transfer/from/dev-a/to/dev-b";
    let empty = json!({});
    let (answer, _) = tokio::join!(e.post_json(&alice, path, &empty), async {
        let (key, _) = b.request().await;
        b.reply(&key, true).await;
    });
    assert_eq!(answer.0, StatusCode::OK);
    assert_eq!(e.sim.connect_cluster("alice").active_device_id, "dev-b");
    // dev-a's late PUT (dated before the transfer, or undated) keeps dev-b active.
    claim.started_playing_at = started_before;
    assert_eq!(
        e.put(&alice, Some(&a.conn_id), "dev-a", &claim)
            .await
            .status(),
        200
    );
    assert_eq!(e.sim.connect_cluster("alice").active_device_id, "dev-b");
    claim.started_playing_at = 0;
    assert_eq!(
        e.put(&alice, Some(&a.conn_id), "dev-a", &claim)
            .await
            .status(),
        200
    );
    assert_eq!(e.sim.connect_cluster("alice").active_device_id, "dev-b");
    // A fresh local start on dev-a takes over.
    claim.started_playing_at = u64::try_from(crate::util::now_ms() + 1).unwrap();
    assert_eq!(
        e.put(&alice, Some(&a.conn_id), "dev-a", &claim)
            .await
            .status(),
        200
    );
    assert_eq!(e.sim.connect_cluster("alice").active_device_id, "dev-a");
}

#[tokio::test]
async fn every_change_has_a_later_stamp_and_a_put_answer_matches_its_push() {
    let e = Env::new().await;
    let alice = e.token("alice");
    let mut a = e.device(&alice, "dev-a", "A", DeviceType::COMPUTER).await;
    let first = a.cluster_update().await.cluster.changed_timestamp_ms;
    // Two devices registering back to back (well within one millisecond of each other on a
    // fast machine) still get strictly increasing stamps, and B's PUT answer carries the stamp
    // of the push that announces B.
    let d = Dealer::open(&e.sim, &alice).await;
    let req = put_request(
        device_info("dev-b", "B", DeviceType::SPEAKER),
        PutStateReason::NEW_DEVICE,
        false,
        None,
    );
    let r = e.put(&alice, Some(&d.conn_id), "dev-b", &req).await;
    assert_eq!(r.status(), StatusCode::OK);
    let answer = Cluster::parse_from_bytes(&r.bytes().await.unwrap()).unwrap();
    let pushed = a.cluster_update().await.cluster;
    assert!(pushed.device.contains_key("dev-b"));
    assert_eq!(answer.changed_timestamp_ms, pushed.changed_timestamp_ms);
    assert!(
        pushed.changed_timestamp_ms > first,
        "{} > {first}",
        pushed.changed_timestamp_ms
    );
    // An unchanged PUT answers with the stamp of the state it shows.
    let again = put_request(
        device_info("dev-b", "B", DeviceType::SPEAKER),
        PutStateReason::PICKER_OPENED,
        false,
        None,
    );
    let r = e.put(&alice, Some(&d.conn_id), "dev-b", &again).await;
    let answer2 = Cluster::parse_from_bytes(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(answer2.changed_timestamp_ms, pushed.changed_timestamp_ms);
}
