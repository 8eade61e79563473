//! The local control API's wire format, version [`API_VERSION`]: requests ([`Request`], one
//! JSON object tagged by `command`), answers ([`Answer`]) and events ([`Event`], tagged by
//! `event`). `docs/control-api/schema.json` describes the same shapes for scripts and is checked
//! against real answers and events by a test; a change here is a change there (and a version
//! bump when it is not backwards compatible).
//!
//! [`parse_request`] is the one parser every listener uses: bounded, strict (unknown fields and
//! out-of-range values are errors with a message naming them), never panicking on input.
//! [`Request::intents`] maps the player commands to the core's [`Intent`]s — the only place
//! this front end decides what a command means; the core decides what the intent does.
//!
//! Pure data and functions: used by the server (`local_api::server`), the hub
//! (`local_api::events`) and `tonearm ctl`. Depends on the core's and the player's types only.

use serde::{Deserialize, Serialize};

use crate::control::Intent;
use crate::player::{PlayState, RepeatMode};

/// The API version: in every path (`/v1/...`), in `status.api` and in the `hello` event.
pub const API_VERSION: u32 = 1;
/// The largest request body accepted (a long `queue_add` list fits easily).
pub const MAX_BODY: usize = 64 * 1024;
/// The most URIs one request may carry.
pub const MAX_URIS: usize = 500;

/// One request: `{"command": "...", ...fields}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// What plays, where, how: answered with `status`.
    Status,
    Play,
    Pause,
    Toggle,
    Next,
    Prev,
    /// Absolute position in the current track (clamped to it by the core).
    Seek {
        position_ms: u64,
    },
    /// Relative seek (negative: back).
    SeekBy {
        delta_ms: i64,
    },
    /// Volume in percent, `0..=100`.
    Volume {
        percent: u8,
    },
    /// Volume step in percent points, `-100..=100`.
    VolumeBy {
        delta_percent: i8,
    },
    Shuffle {
        on: bool,
    },
    Repeat {
        mode: Repeat,
    },
    /// The queue: answered with `queue`.
    Queue,
    /// Spotify's queue order: after the current track and earlier additions. Albums and
    /// artists add their tracks.
    QueueAdd {
        uris: Vec<String>,
    },
    /// Right after the current track.
    QueuePlayNext {
        uris: Vec<String>,
    },
    QueueRemove {
        index: usize,
    },
    QueueMove {
        from: usize,
        to: usize,
    },
    /// Everything but the current track.
    QueueClear,
    /// Replace the queue with these tracks (albums and artists expand) and play from `index`.
    PlayUri {
        uris: Vec<String>,
        #[serde(default)]
        index: usize,
    },
    /// Search the catalog and play the first track found (replacing the queue).
    PlaySearch {
        query: String,
    },
    /// The account's devices: answered with `devices`.
    Devices,
    /// Move playback to a device, by id (or, as a convenience, by its exact name).
    Transfer {
        device: String,
    },
    /// Save a track to Liked Songs (default: the current track).
    Like {
        #[serde(default)]
        uri: Option<String>,
    },
    /// Remove a track from Liked Songs (default: the current track).
    Unlike {
        #[serde(default)]
        uri: Option<String>,
    },
    /// The guest remote's guests (`[remote]`): answered with `guests`.
    Guests,
    /// Give a guest (by name) a permission.
    GuestGrant {
        name: String,
        permission: Permission,
    },
    /// Take a permission from a guest.
    GuestRevoke {
        name: String,
        permission: Permission,
    },
    /// Refuse the guest's token from now on and block the name for this session.
    GuestBan {
        name: String,
    },
}

/// The longest guest name (bytes).
pub const MAX_GUEST_NAME: usize = 40;

/// What a guest of the LAN remote may do. `admin` implies every other one; removing one's own
/// additions needs none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Add tracks to the queue.
    Enqueue,
    /// Play and pause.
    Pause,
    /// Next and previous.
    Skip,
    /// Reorder the queue.
    Move,
    Volume,
    /// Remove anyone's additions.
    Remove,
    /// Everything.
    Admin,
}

impl Permission {
    pub const ALL: [Permission; 7] = [
        Permission::Enqueue,
        Permission::Pause,
        Permission::Skip,
        Permission::Move,
        Permission::Volume,
        Permission::Remove,
        Permission::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Enqueue => "enqueue",
            Permission::Pause => "pause",
            Permission::Skip => "skip",
            Permission::Move => "move",
            Permission::Volume => "volume",
            Permission::Remove => "remove",
            Permission::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Permission {
    type Err = String;
    fn from_str(s: &str) -> Result<Permission, String> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown permission (one of: {})",
                    Permission::ALL.map(|p| p.as_str()).join(", ")
                )
            })
    }
}

/// A guest of the LAN remote, as the owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guest {
    pub name: String,
    pub permissions: Vec<Permission>,
    /// Their additions still in the queue.
    pub queued: usize,
    pub banned: bool,
    /// Seconds until their token expires (`0`: expired or banned).
    pub expires_in_s: u64,
}

/// Why a request body was refused (always a 4xx answer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadRequest {
    #[error("the request body is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("the request body is not a JSON request: {0}")]
    Json(String),
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl BadRequest {
    /// The error code in the answer.
    pub fn code(&self) -> &'static str {
        match self {
            BadRequest::TooLarge => "too_large",
            BadRequest::Json(_) => "bad_json",
            BadRequest::Invalid { .. } => "invalid",
        }
    }
}

/// Parses and checks one request body.
pub fn parse_request(body: &[u8]) -> Result<Request, BadRequest> {
    if body.len() > MAX_BODY {
        return Err(BadRequest::TooLarge);
    }
    // serde's messages name the field or variant; the input itself is not echoed.
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| BadRequest::Json(e.to_string()))?;
    let req: Request = Request::deserialize(&value).map_err(|e| BadRequest::Json(e.to_string()))?;
    // serde ignores unknown fields on unit variants of a tagged enum: every field given must be
    // one the command has (its serialised form lists them all, defaults included).
    if let (Some(given), Ok(serde_json::Value::Object(known))) =
        (value.as_object(), serde_json::to_value(&req))
    {
        if let Some(k) = given.keys().find(|k| !known.contains_key(*k)) {
            return Err(BadRequest::Json(format!(
                "unknown field `{}` for this command",
                crate::logging::escaped(k)
            )));
        }
    }
    req.check()?;
    Ok(req)
}

impl Request {
    /// The checks serde's types don't make.
    fn check(&self) -> Result<(), BadRequest> {
        let invalid = |field, reason: &str| {
            Err(BadRequest::Invalid {
                field,
                reason: reason.to_string(),
            })
        };
        match self {
            Request::Volume { percent } if *percent > 100 => invalid("percent", "must be 0..=100"),
            Request::VolumeBy { delta_percent } if !(-100..=100).contains(delta_percent) => {
                invalid("delta_percent", "must be -100..=100")
            }
            Request::QueueAdd { uris }
            | Request::QueuePlayNext { uris }
            | Request::PlayUri { uris, .. } => {
                if uris.is_empty() {
                    return invalid("uris", "must name at least one URI");
                }
                if uris.len() > MAX_URIS {
                    return invalid("uris", &format!("at most {MAX_URIS} URIs per request"));
                }
                if let Request::PlayUri { index, .. } = self {
                    if *index >= uris.len() && uris.len() > 1 {
                        return invalid("index", "must be below the number of URIs");
                    }
                }
                Ok(())
            }
            Request::Transfer { device } if device.is_empty() || device.len() > 256 => {
                invalid("device", "must be a device id or name (1..=256 bytes)")
            }
            Request::PlaySearch { query } if query.trim().is_empty() || query.len() > 512 => {
                invalid("query", "must be 1..=512 bytes of text")
            }
            Request::GuestGrant { name, .. }
            | Request::GuestRevoke { name, .. }
            | Request::GuestBan { name }
                if name.is_empty() || name.len() > MAX_GUEST_NAME =>
            {
                invalid("name", "must be a guest's name (1..=40 bytes)")
            }
            _ => Ok(()),
        }
    }

    /// The core's intents for a player command that needs nothing looked up (`None`: the
    /// command is answered by the server itself, or its URIs must be resolved first).
    pub fn intents(&self) -> Option<Vec<Intent>> {
        let one = |i| Some(vec![i]);
        match self {
            Request::Play => one(Intent::Play),
            Request::Pause => one(Intent::Pause),
            Request::Toggle => one(Intent::Toggle),
            Request::Next => one(Intent::Next),
            Request::Prev => one(Intent::Previous),
            Request::Seek { position_ms } => one(Intent::SeekTo(*position_ms)),
            Request::SeekBy { delta_ms } => one(Intent::SeekBy(*delta_ms)),
            Request::Volume { percent } => one(Intent::SetVolume(raw_volume(*percent))),
            Request::VolumeBy { delta_percent } => {
                one(Intent::VolumeBy(i32::from(*delta_percent) * 65535 / 100))
            }
            Request::Shuffle { on } => one(Intent::SetShuffle(*on)),
            Request::Repeat { mode } => one(Intent::SetRepeat((*mode).into())),
            Request::QueueRemove { index } => one(Intent::Remove(*index)),
            Request::QueueMove { from, to } => one(Intent::Move {
                from: *from,
                to: *to,
            }),
            Request::QueueClear => one(Intent::ClearQueue),
            _ => None,
        }
    }
}

/// Percent (linear, as Spotify's apps show it) to the player's `0..=65535`.
pub fn raw_volume(percent: u8) -> u16 {
    (u32::from(percent.min(100)) * 65535 / 100) as u16
}

/// The player's volume as a rounded percentage.
pub fn volume_percent(raw: u16) -> u8 {
    ((u32::from(raw) * 100 + 32767) / 65535) as u8
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Repeat {
    Off,
    All,
    One,
}

impl From<Repeat> for RepeatMode {
    fn from(r: Repeat) -> RepeatMode {
        match r {
            Repeat::Off => RepeatMode::Off,
            Repeat::All => RepeatMode::All,
            Repeat::One => RepeatMode::One,
        }
    }
}

impl From<RepeatMode> for Repeat {
    fn from(r: RepeatMode) -> Repeat {
        match r {
            RepeatMode::Off => Repeat::Off,
            RepeatMode::All => Repeat::All,
            RepeatMode::One => Repeat::One,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Stopped,
    Loading,
    Playing,
    Paused,
}

impl From<PlayState> for State {
    fn from(s: PlayState) -> State {
        match s {
            PlayState::Stopped => State::Stopped,
            PlayState::Loading => State::Loading,
            PlayState::Playing => State::Playing,
            PlayState::Paused => State::Paused,
        }
    }
}

/// A track as answers and events show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Track {
    pub uri: String,
    pub name: String,
    pub artists: Vec<String>,
    pub album: String,
    pub duration_ms: u64,
}

/// This instance's link to Spotify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// `online`, `connecting`, `reconnecting`, `offline`.
    pub session: Link,
    /// Spotify Connect: `off`, `connecting`, `online`, `reconnecting`.
    pub connect: Link,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    Off,
    Offline,
    Connecting,
    Online,
    Reconnecting,
}

/// A device on the account (or this one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub active: bool,
    /// Percent, when the device reports a volume.
    pub volume: Option<u8>,
    /// This tonearm.
    pub this: bool,
}

/// This instance as a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub api: u32,
    pub state: State,
    pub track: Option<Track>,
    /// The album, artist or playlist the queue was loaded from, by `play_uri` or a Connect
    /// remote (`null`: unknown, or the queue was replaced since).
    pub context: Option<String>,
    pub position_ms: u64,
    /// Percent.
    pub volume: u8,
    /// The player's `0..=65535`.
    pub volume_raw: u16,
    pub shuffle: bool,
    pub repeat: Repeat,
    pub device: DeviceRef,
    pub connection: Connection,
    pub queue_length: usize,
    pub queue_index: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueItem {
    pub index: usize,
    pub uri: String,
    /// Known for the current track only (the queue holds ids).
    pub name: Option<String>,
    /// The guest (of the LAN remote) who added it; absent for everything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queue {
    pub current: Option<usize>,
    pub items: Vec<QueueItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable: `bad_json`, `invalid`, `too_large`, `unsupported_media_type`,
    /// `forbidden`, `unauthorized`, `not_found`, `not_ready`, `failed`.
    pub code: String,
    pub message: String,
}

/// Every answer: `ok` and at most one of the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<Queue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<Device>>,
    /// Tracks added or loaded by a queue or play command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracks: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guests: Option<Vec<Guest>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl Answer {
    pub fn ok() -> Answer {
        Answer {
            ok: true,
            ..Answer::default()
        }
    }

    pub fn error(code: &str, message: impl Into<String>) -> Answer {
        Answer {
            ok: false,
            error: Some(ErrorBody {
                code: code.to_string(),
                message: message.into(),
            }),
            ..Answer::default()
        }
    }
}

/// One message on the event stream (`GET /v1/events`, a WebSocket of JSON text frames).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// First message on every stream: the version and the state now.
    Hello {
        api: u32,
        status: Box<Status>,
    },
    /// Another track is heard (`null`: none).
    Track {
        track: Option<Track>,
    },
    Playing {
        position_ms: u64,
    },
    Paused {
        position_ms: u64,
    },
    Stopped,
    Seek {
        position_ms: u64,
    },
    Volume {
        volume: u8,
        volume_raw: u16,
    },
    Options {
        shuffle: bool,
        repeat: Repeat,
    },
    Queue {
        length: usize,
        index: Option<usize>,
    },
    Devices {
        devices: Vec<Device>,
    },
    Connection {
        connection: Connection,
    },
    Error {
        message: String,
    },
    /// The device guard (`[guard]`) found a device not on its allow-list playing on the
    /// account; `action`: `notified` (reported only) or `paused` (told to pause).
    Intruder {
        device_id: String,
        device_name: String,
        action: String,
    },
    /// A guest joined the LAN remote.
    GuestJoined {
        name: String,
    },
    /// The owner banned a guest.
    GuestBanned {
        name: String,
    },
    /// A guest added a track to the queue.
    GuestEnqueued {
        name: String,
        uri: String,
    },
    /// This stream fell behind and missed `missed` events (ask `status` to resync).
    Lagged {
        missed: u64,
    },
}

#[cfg(test)]
mod tests;
