//! connect-state messages (protocol spec §11.1): what this device says about itself
//! (`PutStateRequest` with `DeviceInfo` and the capabilities librespot sets, and a
//! `PlayerState` built from the player's status and queue) and what the cluster says about the
//! account's devices (the device list and the playback on the active device when it is not
//! us). Pure functions over protobuf types; the HTTP calls live in `service.rs`.
//!
//! Called by the Connect service. Depends on the player's status types and `connect.rs`'s
//! public types; never on UI code or the simulator.

use std::time::Instant;

use librespot_protocol::connect::{
    Capabilities, Cluster, Device as ProtoDevice, DeviceInfo, MemberType, PutStateReason,
    PutStateRequest,
};
use librespot_protocol::devices::DeviceType;
use librespot_protocol::media::AudioQuality;
use librespot_protocol::player::{ContextIndex, ContextPlayerOptions, PlayerState, ProvidedTrack};

use super::{Device, DeviceOrigin, RemotePlayback};
use crate::id::SpotifyId;
use crate::player::{PlayState, PlayerStatus, QueueSnapshot, RepeatMode};

/// librespot's caps on the tracks reported around the current one.
pub const MAX_PREV_TRACKS: usize = 10;
pub const MAX_NEXT_TRACKS: usize = 80;
/// Reported software version.
pub const SOFTWARE_VERSION: &str = concat!("tonearm ", env!("CARGO_PKG_VERSION"));
/// The SPIRC version librespot reports.
pub const SPIRC_VERSION: &str = "3.2.6";

/// Metadata keys this device puts on its current track so controllers can show it without a
/// lookup (the official clients use the same names).
pub const META_TITLE: &str = "title";
pub const META_ARTIST: &str = "artist_name";
pub const META_ALBUM: &str = "album_title";

/// Parses a device type as typed on the command line (`computer`, `speaker`, `avr`, …).
pub fn parse_device_type(s: &str) -> Option<DeviceType> {
    let norm: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    Some(match norm.as_str() {
        "computer" => DeviceType::COMPUTER,
        "tablet" => DeviceType::TABLET,
        "smartphone" | "phone" => DeviceType::SMARTPHONE,
        "speaker" => DeviceType::SPEAKER,
        "tv" => DeviceType::TV,
        "avr" => DeviceType::AVR,
        "stb" => DeviceType::STB,
        "audiodongle" | "dongle" => DeviceType::AUDIO_DONGLE,
        "gameconsole" => DeviceType::GAME_CONSOLE,
        "castvideo" => DeviceType::CAST_VIDEO,
        "castaudio" => DeviceType::CAST_AUDIO,
        "automobile" | "car" => DeviceType::AUTOMOBILE,
        "smartwatch" => DeviceType::SMARTWATCH,
        "chromebook" => DeviceType::CHROMEBOOK,
        _ => return None,
    })
}

/// The device type as shown ("Computer", "Speaker", …).
pub fn device_type_name(t: DeviceType) -> &'static str {
    match t {
        DeviceType::COMPUTER => "Computer",
        DeviceType::TABLET => "Tablet",
        DeviceType::SMARTPHONE => "Smartphone",
        DeviceType::SPEAKER => "Speaker",
        DeviceType::TV => "TV",
        DeviceType::AVR => "AVR",
        DeviceType::STB => "STB",
        DeviceType::AUDIO_DONGLE => "AudioDongle",
        DeviceType::GAME_CONSOLE => "GameConsole",
        DeviceType::CAST_VIDEO => "CastVideo",
        DeviceType::CAST_AUDIO => "CastAudio",
        DeviceType::AUTOMOBILE => "Automobile",
        DeviceType::SMARTWATCH => "Smartwatch",
        DeviceType::CHROMEBOOK => "Chromebook",
        _ => "Unknown",
    }
}

/// Who this device is.
#[derive(Debug, Clone, PartialEq)]
pub struct ThisDevice {
    pub device_id: String,
    pub name: String,
    pub device_type: DeviceType,
    pub client_id: String,
}

/// The capabilities librespot 0.8 reports.
pub fn capabilities() -> Capabilities {
    Capabilities {
        can_be_player: true,
        gaia_eq_connect_id: true,
        needs_full_player_state: true,
        is_observable: true,
        is_controllable: true,
        supports_gzip_pushes: true,
        supports_playlist_v2: true,
        supports_transfer_command: true,
        supports_command_request: true,
        supports_set_options_command: true,
        command_acks: true,
        volume_steps: 64,
        supported_types: vec![
            "audio/episode".into(),
            "audio/track".into(),
            "audio/local".into(),
        ],
        supported_audio_quality: AudioQuality::VERY_HIGH.into(),
        ..Capabilities::default()
    }
}

pub fn device_info(me: &ThisDevice, volume: u16) -> DeviceInfo {
    DeviceInfo {
        can_play: true,
        volume: u32::from(volume),
        name: me.name.clone(),
        capabilities: Some(capabilities()).into(),
        device_software_version: SOFTWARE_VERSION.into(),
        device_type: me.device_type.into(),
        spirc_version: SPIRC_VERSION.into(),
        device_id: me.device_id.clone(),
        client_id: me.client_id.clone(),
        ..DeviceInfo::default()
    }
}

/// What goes into one `PUT devices/{id}` besides the device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PutMeta {
    pub is_active: bool,
    /// Unix ms at which this device became active (0 when not active).
    pub started_playing_at: u64,
    pub message_id: u32,
    pub last_command: Option<(String, u32)>,
    pub now_ms: u64,
}

pub fn put_state_request(
    me: &ThisDevice,
    volume: u16,
    reason: PutStateReason,
    player_state: Option<PlayerState>,
    meta: &PutMeta,
) -> PutStateRequest {
    let mut req = PutStateRequest {
        member_type: MemberType::CONNECT_STATE.into(),
        put_state_reason: reason.into(),
        is_active: meta.is_active,
        message_id: meta.message_id,
        started_playing_at: meta.started_playing_at,
        client_side_timestamp: meta.now_ms,
        device: Some(ProtoDevice {
            device_info: Some(device_info(me, volume)).into(),
            player_state: player_state.into(),
            ..ProtoDevice::default()
        })
        .into(),
        ..PutStateRequest::default()
    };
    if meta.is_active && meta.started_playing_at > 0 {
        req.has_been_playing_for_ms = meta.now_ms.saturating_sub(meta.started_playing_at);
    }
    if let Some((by, id)) = &meta.last_command {
        req.last_command_sent_by_device_id = by.clone();
        req.last_command_message_id = *id;
    }
    req
}

/// The item's URI: `spotify:episode:…` for an id known to be an episode, else a track's.
pub fn track_uri(id: SpotifyId) -> String {
    crate::id::episodes::uri(id)
}

fn provided(id: SpotifyId, provider: &str) -> ProvidedTrack {
    ProvidedTrack {
        uri: track_uri(id),
        provider: provider.into(),
        ..ProvidedTrack::default()
    }
}

/// The player's position now (extrapolated while playing).
pub fn position_now(status: &PlayerStatus, now: Instant) -> u64 {
    if status.state == PlayState::Playing {
        let ahead =
            u64::try_from(now.saturating_duration_since(status.at).as_millis()).unwrap_or(u64::MAX);
        status.position_ms.saturating_add(ahead)
    } else {
        status.position_ms
    }
}

/// The `PlayerState` for the player's status and queue (`context_uri`: where the queue came
/// from, reported back to controllers). `now_ms` is unix ms at `now`.
pub fn player_state(
    status: &PlayerStatus,
    queue: &QueueSnapshot,
    context_uri: &str,
    now_ms: i64,
    now: Instant,
) -> PlayerState {
    let mut ps = PlayerState {
        timestamp: now_ms,
        context_uri: context_uri.into(),
        context_url: if context_uri.is_empty() {
            String::new()
        } else {
            format!("context://{context_uri}")
        },
        ..PlayerState::default()
    };
    let (playing, paused, buffering) = match status.state {
        PlayState::Stopped => (false, false, false),
        PlayState::Loading => (true, false, true),
        PlayState::Playing => (true, false, status.buffering),
        PlayState::Paused => (true, true, false),
    };
    ps.is_playing = playing;
    ps.is_paused = paused;
    ps.is_buffering = buffering;
    ps.playback_speed = if playing && !paused { 1.0 } else { 0.0 };
    ps.options = Some(ContextPlayerOptions {
        shuffling_context: status.shuffle,
        repeating_context: status.repeat == RepeatMode::All,
        repeating_track: status.repeat == RepeatMode::One,
        ..ContextPlayerOptions::default()
    })
    .into();

    let current_id = status
        .track
        .as_ref()
        .map(|t| t.id)
        .or_else(|| queue.current.and_then(|i| queue.items.get(i).copied()));
    if let Some(id) = current_id {
        let mut t = provided(id, "context");
        if let Some(info) = &status.track {
            t.metadata.insert(META_TITLE.into(), info.name.clone());
            t.metadata
                .insert(META_ARTIST.into(), info.artists.join(", "));
            t.metadata.insert(META_ALBUM.into(), info.album.clone());
            ps.duration = i64::try_from(info.duration_ms).unwrap_or(i64::MAX);
        }
        ps.track = Some(t).into();
        let pos = position_now(status, now);
        ps.position_as_of_timestamp = i64::try_from(pos).unwrap_or(i64::MAX);
        ps.position = 0;
    }
    if let Some(cur) = queue.current.filter(|&c| c < queue.items.len()) {
        ps.index = Some(ContextIndex {
            page: 0,
            track: u32::try_from(cur).unwrap_or(u32::MAX),
            ..ContextIndex::default()
        })
        .into();
        let start = cur.saturating_sub(MAX_PREV_TRACKS);
        ps.prev_tracks = queue.items[start..cur]
            .iter()
            .map(|&id| provided(id, "context"))
            .collect();
        ps.next_tracks = queue.items[cur + 1..]
            .iter()
            .take(MAX_NEXT_TRACKS)
            .map(|&id| provided(id, "context"))
            .collect();
    }
    ps
}

/// The cluster's devices other than `own_id`, in name order.
pub fn cluster_devices(cluster: &Cluster, own_id: &str) -> Vec<Device> {
    let mut out: Vec<Device> = cluster
        .device
        .iter()
        .filter(|(id, _)| id.as_str() != own_id)
        .filter(|(_, info)| !info.capabilities.as_ref().is_some_and(|c| c.hidden))
        .map(|(id, info)| Device {
            id: id.clone(),
            name: if info.name.is_empty() {
                id.clone()
            } else {
                info.name.clone()
            },
            kind: device_type_name(info.device_type.enum_value_or(DeviceType::UNKNOWN)).into(),
            is_active: !cluster.active_device_id.is_empty() && cluster.active_device_id == *id,
            volume: u16::try_from(info.volume.min(65535)).ok(),
            origin: DeviceOrigin::Cloud,
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    out
}

/// The playback on the cluster's active device when that is not `own_id` (`now_ms`: unix ms at
/// `now`; the position is extrapolated to then while playing).
pub fn remote_playback(
    cluster: &Cluster,
    own_id: &str,
    now_ms: i64,
    now: Instant,
) -> Option<RemotePlayback> {
    let active = cluster.active_device_id.as_str();
    if active.is_empty() || active == own_id {
        return None;
    }
    let info = cluster.device.get(active);
    let ps = cluster.player_state.as_ref();
    let default_ps = PlayerState::default();
    let ps = ps.unwrap_or(&default_ps);
    let track = ps.track.as_ref();
    let meta = |k: &str| {
        track
            .and_then(|t| t.metadata.get(k))
            .cloned()
            .unwrap_or_default()
    };
    let is_playing = ps.is_playing && !ps.is_paused;
    let mut position = ps.position_as_of_timestamp.max(0);
    if is_playing && ps.timestamp > 0 {
        let speed = if ps.playback_speed > 0.0 {
            ps.playback_speed
        } else {
            1.0
        };
        let elapsed = (now_ms - ps.timestamp).max(0) as f64 * speed;
        position = position.saturating_add(elapsed as i64);
    }
    let duration = u64::try_from(ps.duration.max(0)).unwrap_or(0);
    let mut position = u64::try_from(position).unwrap_or(0);
    if duration > 0 {
        position = position.min(duration);
    }
    let artists = meta(META_ARTIST);
    let opts = ps.options.as_ref();
    Some(RemotePlayback {
        device_id: active.to_string(),
        device_name: info.map(|i| i.name.clone()).unwrap_or_default(),
        track_uri: track.map(|t| t.uri.clone()).unwrap_or_default(),
        title: meta(META_TITLE),
        artists: if artists.is_empty() {
            Vec::new()
        } else {
            artists.split(", ").map(str::to_string).collect()
        },
        album: meta(META_ALBUM),
        duration_ms: duration,
        is_playing,
        position_ms: position,
        at: now,
        volume: info.and_then(|i| u16::try_from(i.volume.min(65535)).ok()),
        shuffle: opts.is_some_and(|o| o.shuffling_context),
        repeat_context: opts.is_some_and(|o| o.repeating_context),
        repeat_track: opts.is_some_and(|o| o.repeating_track),
    })
}

/// Unix time in ms.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::player::loader::TrackInfo;
    use protobuf::Message;
    use std::time::Duration;

    fn me() -> ThisDevice {
        ThisDevice {
            device_id: "a".repeat(40),
            name: "tonearm".into(),
            device_type: DeviceType::SPEAKER,
            client_id: "cid".into(),
        }
    }

    fn status(state: PlayState, pos: u64, at: Instant) -> PlayerStatus {
        PlayerStatus {
            state,
            track: Some(TrackInfo {
                id: SpotifyId(2),
                played_id: SpotifyId(2),
                name: "Song".into(),
                artists: vec!["A".into(), "B".into()],
                album: "Alb".into(),
                duration_ms: 200_000,
            }),
            position_ms: pos,
            at,
            volume: 1000,
            buffering: false,
            repeat: RepeatMode::All,
            shuffle: true,
        }
    }

    #[test]
    fn device_types_parse_and_name() {
        assert_eq!(parse_device_type("Speaker"), Some(DeviceType::SPEAKER));
        assert_eq!(
            parse_device_type("audio-dongle"),
            Some(DeviceType::AUDIO_DONGLE)
        );
        assert_eq!(parse_device_type("toaster"), None);
        assert_eq!(device_type_name(DeviceType::COMPUTER), "Computer");
    }

    #[test]
    fn new_device_request_carries_librespots_capabilities() {
        let req = put_state_request(
            &me(),
            32767,
            PutStateReason::NEW_DEVICE,
            None,
            &PutMeta {
                now_ms: 5,
                ..PutMeta::default()
            },
        );
        let bytes = req.write_to_bytes().unwrap();
        let back = PutStateRequest::parse_from_bytes(&bytes).unwrap();
        assert_eq!(back.member_type.enum_value(), Ok(MemberType::CONNECT_STATE));
        assert_eq!(
            back.put_state_reason.enum_value(),
            Ok(PutStateReason::NEW_DEVICE)
        );
        let info = back.device.device_info.as_ref().unwrap();
        assert_eq!(info.volume, 32767);
        assert_eq!(info.name, "tonearm");
        assert_eq!(info.client_id, "cid");
        assert_eq!(info.device_id, "a".repeat(40));
        let caps = info.capabilities.as_ref().unwrap();
        assert!(caps.can_be_player && caps.is_controllable && caps.supports_transfer_command);
        assert!(caps.command_acks && caps.supports_command_request);
        assert_eq!(caps.volume_steps, 64);
        assert_eq!(caps.supported_types.len(), 3);
        assert_eq!(back.client_side_timestamp, 5);
    }

    #[test]
    fn player_state_reports_paused_the_librespot_way_and_caps_tracks() {
        let now = Instant::now();
        let queue = QueueSnapshot {
            items: (0..200).map(SpotifyId).collect(),
            current: Some(20),
        };
        let mut st = status(PlayState::Paused, 1234, now);
        st.track.as_mut().unwrap().id = SpotifyId(20);
        let ps = player_state(&st, &queue, "spotify:album:x", 99, now);
        assert!(ps.is_playing && ps.is_paused);
        assert_eq!(ps.playback_speed, 0.0);
        assert_eq!(ps.position_as_of_timestamp, 1234);
        assert_eq!(ps.timestamp, 99);
        assert_eq!(ps.duration, 200_000);
        assert_eq!(ps.prev_tracks.len(), MAX_PREV_TRACKS);
        assert_eq!(ps.next_tracks.len(), MAX_NEXT_TRACKS);
        assert_eq!(ps.next_tracks[0].uri, track_uri(SpotifyId(21)));
        assert_eq!(ps.track.uri, track_uri(SpotifyId(20)));
        assert_eq!(ps.track.metadata[META_ARTIST], "A, B");
        assert!(ps.options.shuffling_context && ps.options.repeating_context);
        assert_eq!(ps.index.track, 20);
    }

    #[test]
    fn playing_position_is_extrapolated() {
        let now = Instant::now();
        let st = status(PlayState::Playing, 1000, now - Duration::from_millis(500));
        let ps = player_state(&st, &QueueSnapshot::default(), "", 0, now);
        assert!(ps.is_playing && !ps.is_paused);
        assert!((1490..=1510).contains(&ps.position_as_of_timestamp));
    }

    #[test]
    fn cluster_gives_devices_and_remote_playback() {
        let now = Instant::now();
        let mut cluster = Cluster::new();
        cluster.active_device_id = "b".into();
        let mut info = DeviceInfo::new();
        info.name = "Kitchen".into();
        info.volume = 40000;
        info.device_type = DeviceType::SPEAKER.into();
        cluster.device.insert("b".into(), info);
        cluster.device.insert(me().device_id, device_info(&me(), 1));
        let mut ps = PlayerState::new();
        ps.is_playing = true;
        ps.timestamp = 1000;
        ps.position_as_of_timestamp = 5000;
        ps.duration = 100_000;
        let mut t = ProvidedTrack::new();
        t.uri = "spotify:track:x".into();
        t.metadata.insert(META_TITLE.into(), "Tune".into());
        ps.track = Some(t).into();
        cluster.player_state = Some(ps).into();

        let devices = cluster_devices(&cluster, &me().device_id);
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].name, "Kitchen");
        assert_eq!(devices[0].kind, "Speaker");
        assert!(devices[0].is_active);
        assert_eq!(devices[0].volume, Some(40000));

        let r = remote_playback(&cluster, &me().device_id, 3000, now).unwrap();
        assert_eq!(r.device_name, "Kitchen");
        assert_eq!(r.title, "Tune");
        assert_eq!(r.position_ms, 7000);
        assert!(r.is_playing);
        assert_eq!(remote_playback(&cluster, "b", 3000, now), None);
    }
}
