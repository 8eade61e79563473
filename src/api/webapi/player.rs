//! Web API player endpoints (protocol spec §12, "Web API"): the account's devices, the current
//! playback, transfer, play/pause/next/previous/seek/volume/shuffle/repeat/queue on a device.
//! The Connect controller uses connect-state first and these as a fallback (and for devices the
//! cluster does not list).
//!
//! An `impl WebApi` block over the client's request loop (so 429/401/back-off rules apply).
//! Called by the Connect service; must not depend on the UI, the player or the simulator.

use reqwest::Method;
use serde::Deserialize;

use super::{enc, with_query, WebApi};
use crate::api::ApiError;

/// One device from `GET /me/player/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PlayerDevice {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub is_active: bool,
    #[serde(default)]
    pub is_private_session: bool,
    #[serde(default)]
    pub is_restricted: bool,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub volume_percent: Option<u32>,
    #[serde(default)]
    pub supports_volume: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct Devices {
    #[serde(default)]
    devices: Vec<PlayerDevice>,
}

/// What to play with [`WebApi::player_play`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlayRequest {
    pub context_uri: Option<String>,
    pub uris: Vec<String>,
    /// Start at this index (`offset.position`) …
    pub offset_position: Option<u32>,
    /// … or at this track (`offset.uri`).
    pub offset_uri: Option<String>,
    pub position_ms: Option<u64>,
}

/// `repeat` states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepeatState {
    Track,
    Context,
    Off,
}

fn device_query(device_id: Option<&str>) -> String {
    device_id.map_or(String::new(), |d| format!("device_id={}", enc(d)))
}

fn join(a: String, b: String) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b,
        (_, true) => a,
        _ => format!("{a}&{b}"),
    }
}

impl WebApi {
    /// `GET /me/player/devices`.
    pub async fn player_devices(&self) -> Result<Vec<PlayerDevice>, ApiError> {
        Ok(self.get::<Devices>("/me/player/devices").await?.devices)
    }

    /// `GET /me/player` as raw JSON; `None` when nothing is active (204).
    pub async fn player_state(&self) -> Result<Option<serde_json::Value>, ApiError> {
        let bytes = self
            .request(Method::GET, "/me/player", super::Body::None)
            .await?;
        if bytes.is_empty() {
            return Ok(None);
        }
        super::parse(&bytes, "GET /me/player").map(Some)
    }

    /// `PUT /me/player {"device_ids":[id],"play":play}`.
    pub async fn player_transfer(&self, device_id: &str, play: bool) -> Result<(), ApiError> {
        let body = serde_json::json!({"device_ids": [device_id], "play": play});
        self.write(Method::PUT, "/me/player", Some(body)).await?;
        Ok(())
    }

    /// `PUT /me/player/play[?device_id=]`.
    pub async fn player_play(
        &self,
        device_id: Option<&str>,
        what: &PlayRequest,
    ) -> Result<(), ApiError> {
        let mut body = serde_json::Map::new();
        if let Some(c) = &what.context_uri {
            body.insert("context_uri".into(), c.clone().into());
        }
        if !what.uris.is_empty() {
            body.insert("uris".into(), what.uris.clone().into());
        }
        if let Some(p) = what.offset_position {
            body.insert("offset".into(), serde_json::json!({"position": p}));
        } else if let Some(u) = &what.offset_uri {
            body.insert("offset".into(), serde_json::json!({"uri": u}));
        }
        if let Some(p) = what.position_ms {
            body.insert("position_ms".into(), p.into());
        }
        let path = with_query("/me/player/play", &device_query(device_id));
        self.write(Method::PUT, &path, Some(body.into())).await?;
        Ok(())
    }

    async fn player_simple(
        &self,
        method: Method,
        path: &str,
        query: String,
        device_id: Option<&str>,
    ) -> Result<(), ApiError> {
        let path = with_query(path, &join(query, device_query(device_id)));
        self.write(method, &path, None).await?;
        Ok(())
    }

    pub async fn player_pause(&self, device_id: Option<&str>) -> Result<(), ApiError> {
        self.player_simple(Method::PUT, "/me/player/pause", String::new(), device_id)
            .await
    }

    pub async fn player_resume(&self, device_id: Option<&str>) -> Result<(), ApiError> {
        self.player_simple(Method::PUT, "/me/player/play", String::new(), device_id)
            .await
    }

    pub async fn player_next(&self, device_id: Option<&str>) -> Result<(), ApiError> {
        self.player_simple(Method::POST, "/me/player/next", String::new(), device_id)
            .await
    }

    pub async fn player_previous(&self, device_id: Option<&str>) -> Result<(), ApiError> {
        self.player_simple(
            Method::POST,
            "/me/player/previous",
            String::new(),
            device_id,
        )
        .await
    }

    pub async fn player_seek(
        &self,
        position_ms: u64,
        device_id: Option<&str>,
    ) -> Result<(), ApiError> {
        let q = format!("position_ms={position_ms}");
        self.player_simple(Method::PUT, "/me/player/seek", q, device_id)
            .await
    }

    /// `volume_percent` 0..=100.
    pub async fn player_volume(
        &self,
        volume_percent: u8,
        device_id: Option<&str>,
    ) -> Result<(), ApiError> {
        let q = format!("volume_percent={}", volume_percent.min(100));
        self.player_simple(Method::PUT, "/me/player/volume", q, device_id)
            .await
    }

    pub async fn player_shuffle(&self, on: bool, device_id: Option<&str>) -> Result<(), ApiError> {
        let q = format!("state={on}");
        self.player_simple(Method::PUT, "/me/player/shuffle", q, device_id)
            .await
    }

    pub async fn player_repeat(
        &self,
        state: RepeatState,
        device_id: Option<&str>,
    ) -> Result<(), ApiError> {
        let s = match state {
            RepeatState::Track => "track",
            RepeatState::Context => "context",
            RepeatState::Off => "off",
        };
        self.player_simple(
            Method::PUT,
            "/me/player/repeat",
            format!("state={s}"),
            device_id,
        )
        .await
    }

    pub async fn player_queue(&self, uri: &str, device_id: Option<&str>) -> Result<(), ApiError> {
        let q = format!("uri={}", enc(uri));
        self.player_simple(Method::POST, "/me/player/queue", q, device_id)
            .await
    }
}
