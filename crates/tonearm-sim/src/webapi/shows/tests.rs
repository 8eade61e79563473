//! Tests of the podcast endpoints over a real simulator on 127.0.0.1: the show with its first
//! episode page, episode paging, the episode object, 400/401/404 answers, and the resume point
//! taken from a device's connect-state PUT (a tiny dealer client gives the connection id).

use futures_util::StreamExt;
use librespot_protocol::connect::{DeviceInfo, MemberType, PutStateReason, PutStateRequest};
use librespot_protocol::player::{PlayerState, ProvidedTrack};
use protobuf::{EnumOrUnknown, Message, MessageField};
use reqwest::StatusCode;
use serde_json::Value;

use super::super::super::ids;
use crate::{SimConfig, Simulator};

struct Env {
    sim: Simulator,
    http: reqwest::Client,
    token: String,
}

async fn env() -> Env {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let token = sim.issue_login5_token("tonearm-demo").unwrap();
    Env {
        sim,
        http: reqwest::Client::new(),
        token,
    }
}

impl Env {
    async fn get_as(&self, token: Option<&str>, path: &str) -> (StatusCode, Value) {
        let mut req = self.http.get(format!("{}/{path}", self.sim.info().web_api));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.get_as(Some(&self.token), path).await
    }

    fn show_id(&self) -> String {
        ids::to_base62(&self.sim.catalog().shows[0].gid)
    }

    fn episode_id(&self, n: usize) -> String {
        let c = self.sim.catalog();
        ids::to_base62(&c.episodes[c.shows[0].episodes[n]].gid)
    }

    /// Reports, as device `dev`, a player state at `position_ms` (paused) of `uri`.
    async fn report(&self, uri: &str, position_ms: i64) -> StatusCode {
        let url = format!("{}/?access_token={}", self.sim.info().dealer, self.token);
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let first = ws.next().await.unwrap().unwrap().into_text().unwrap();
        let hello: Value = serde_json::from_str(&first).unwrap();
        let conn = hello["headers"]["Spotify-Connection-Id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut info = DeviceInfo::new();
        info.can_play = true;
        info.name = "pod".into();
        info.device_id = "dev-pod".into();
        let mut ps = PlayerState::new();
        let mut track = ProvidedTrack::new();
        track.uri = uri.to_owned();
        ps.track = MessageField::some(track);
        ps.is_playing = true;
        ps.is_paused = true;
        ps.position_as_of_timestamp = position_ms;
        ps.timestamp = crate::util::now_ms();
        let mut dev = librespot_protocol::connect::Device::new();
        dev.device_info = MessageField::some(info);
        dev.player_state = MessageField::some(ps);
        let mut req = PutStateRequest::new();
        req.device = MessageField::some(dev);
        req.member_type = EnumOrUnknown::new(MemberType::CONNECT_STATE);
        req.put_state_reason = EnumOrUnknown::new(PutStateReason::PLAYER_STATE_CHANGED);
        self.http
            .put(format!(
                "{}/connect-state/v1/devices/dev-pod",
                self.sim.info().spclient
            ))
            .bearer_auth(&self.token)
            .header("Content-Type", "application/x-protobuf")
            .header("X-Spotify-Connection-Id", conn)
            .body(req.write_to_bytes().unwrap())
            .send()
            .await
            .unwrap()
            .status()
    }
}

#[tokio::test]
async fn show_lists_its_episodes_newest_first() {
    let e = env().await;
    let (status, v) = e.get(&format!("shows/{}", e.show_id())).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["type"], "show");
    assert_eq!(v["name"], "Tonearm Test Radio");
    assert_eq!(v["total_episodes"], 3);
    let items = v["episodes"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["name"], "The Joint Between Tracks");
    assert_eq!(items[0]["id"], e.episode_id(0));
    assert_eq!(items[0]["resume_point"]["resume_position_ms"], 0);
    assert_eq!(items[0]["resume_point"]["fully_played"], false);
    assert!(
        items[0].get("show").is_none(),
        "simplified episodes carry no show"
    );

    let (status, page) = e
        .get(&format!("shows/{}/episodes?limit=2&offset=1", e.show_id()))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 3);
    assert_eq!(page["offset"], 1);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[1]["name"], "Tuning Up");
    assert!(page["next"].is_null());
    assert!(page["previous"].is_string());
}

#[tokio::test]
async fn episode_carries_its_show_and_length() {
    let e = env().await;
    let (status, v) = e.get(&format!("episodes/{}", e.episode_id(2))).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["type"], "episode");
    assert_eq!(v["uri"], format!("spotify:episode:{}", e.episode_id(2)));
    assert_eq!(v["show"]["id"], e.show_id());
    let c = e.sim.catalog();
    assert_eq!(
        v["duration_ms"],
        c.episodes[c.shows[0].episodes[2]].duration_ms
    );
    assert_eq!(v["is_playable"], true);
}

#[tokio::test]
async fn bad_ids_unknown_ids_limits_and_tokens_are_refused() {
    let e = env().await;
    let unknown = "0000000000000000000000";
    for path in [
        format!("shows/{unknown}"),
        format!("shows/{unknown}/episodes"),
        format!("episodes/{unknown}"),
        // An episode id where a show is expected, and the other way round.
        format!("shows/{}", e.episode_id(0)),
        format!("episodes/{}", e.show_id()),
    ] {
        let (status, v) = e.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {v}");
        assert_eq!(v["error"]["status"], 404);
    }
    for path in [
        "shows/not-an-id!".to_owned(),
        "episodes/short".to_owned(),
        format!("shows/{}/episodes?limit=0", e.show_id()),
        format!("shows/{}/episodes?limit=51", e.show_id()),
        format!("shows/{}/episodes?offset=-1", e.show_id()),
    ] {
        let (status, v) = e.get(&path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {v}");
        assert_eq!(v["error"]["status"], 400);
    }
    let (status, v) = e
        .get_as(None, &format!("episodes/{}", e.episode_id(0)))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    let (status, _) = e
        .get_as(Some("nope"), &format!("shows/{}", e.show_id()))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn resume_point_follows_what_the_device_reports() {
    let e = env().await;
    let id = e.episode_id(1);
    let uri = format!("spotify:episode:{id}");
    assert_eq!(e.report(&uri, 7_000).await, StatusCode::OK);
    let (_, v) = e.get(&format!("episodes/{id}")).await;
    assert_eq!(v["resume_point"]["resume_position_ms"], 7_000, "{v}");
    assert_eq!(v["resume_point"]["fully_played"], false);
    // The show page shows the same point; other episodes are untouched.
    let (_, show) = e.get(&format!("shows/{}", e.show_id())).await;
    let items = show["episodes"]["items"].as_array().unwrap();
    assert_eq!(items[1]["resume_point"]["resume_position_ms"], 7_000);
    assert_eq!(items[0]["resume_point"]["resume_position_ms"], 0);
    // At the end: fully played (the position is clamped to the length).
    assert_eq!(e.report(&uri, 10_000_000).await, StatusCode::OK);
    let (_, v) = e.get(&format!("episodes/{id}")).await;
    assert_eq!(v["resume_point"]["fully_played"], true);
    assert_eq!(v["resume_point"]["resume_position_ms"], v["duration_ms"]);
    // Another account sees its own (empty) point.
    let alice = e.sim.issue_login5_token("alice").unwrap();
    let (_, v) = e.get_as(Some(&alice), &format!("episodes/{id}")).await;
    assert_eq!(v["resume_point"]["resume_position_ms"], 0);
    // A track in the player state records nothing.
    let c = e.sim.catalog();
    let track = format!("spotify:track:{}", ids::to_base62(&c.tracks[0].gid));
    assert_eq!(e.report(&track, 3_000).await, StatusCode::OK);
    let (_, v) = e.get(&format!("episodes/{id}")).await;
    assert_eq!(v["resume_point"]["fully_played"], true);
}

#[test]
fn resume_points_are_bounded_per_user() {
    let mut data = super::super::store::WebData::default();
    let point = |ms| super::super::store::ResumePoint {
        fully_played: false,
        resume_position_ms: ms,
    };
    for e in 0..=super::super::store::MAX_RESUME_POINTS {
        data.record_resume("u", e, point(e as u64));
    }
    data.record_resume("other", 0, point(1));
    assert!(data.resume_point("u", 0).is_none(), "the oldest went");
    assert_eq!(data.resume_point("u", 1), Some(point(1)));
    assert_eq!(data.resume_point("other", 0), Some(point(1)));
}
