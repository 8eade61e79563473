//! Dealer player commands (protocol spec §11.1): parsing the request JSON leniently into
//! [`PlayerCommand`], decoding `TransferState`, resolving contexts through `context-resolve`
//! (strict JSON `Context`, further pages followed), and turning it all into the
//! [`RemoteCommand`]s the player understands (track URIs → [`SpotifyId`]s; other items are
//! skipped with a log line). Also the JSON bodies this device sends as a controller (§12).
//!
//! Called by the Connect service. Depends on `SpClient` for context resolution and on
//! `connect.rs`'s types; never on UI code or the simulator.

use std::collections::BTreeMap;

use base64::Engine as _;
use librespot_protocol::transfer_state::TransferState;
use protobuf::Message as _;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT};
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use super::{RemoteCommand, RemoteControl};
use crate::api::{ApiError, SpClient};
use crate::id::{ItemKind, SpotifyId, SpotifyUri};

/// Most context pages followed for one context.
pub const MAX_PAGES: usize = 64;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    #[error("malformed player command: {0}")]
    Malformed(String),
    #[error("unknown player command endpoint `{0}`")]
    UnknownEndpoint(String),
    #[error("cannot resolve the context {uri}: {reason}")]
    Context { uri: String, reason: String },
    #[error("nothing playable in the context {0}")]
    Empty(String),
}

/// A track in a context or a queue (`ContextTrack`/`ProvidedTrack` JSON).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct TrackRef {
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub gid: Option<Value>,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub provider: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Page {
    #[serde(default)]
    pub page_url: Option<String>,
    #[serde(default)]
    pub next_page_url: Option<String>,
    #[serde(default)]
    pub tracks: Vec<TrackRef>,
}

/// `player.proto Context` as JSON.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Context {
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub pages: Vec<Page>,
}

/// `play` options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlayOptions {
    pub skip_to_uid: Option<String>,
    pub skip_to_uri: Option<String>,
    pub skip_to_index: Option<usize>,
    pub seek_to: Option<u64>,
    pub initially_paused: bool,
    pub shuffle: Option<bool>,
    pub repeat_context: Option<bool>,
    pub repeat_track: Option<bool>,
}

/// One parsed dealer command.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayerCommand {
    Transfer {
        state: Box<TransferState>,
        /// `options.restore_paused`: "restore" (keep the paused state), "pause", "resume".
        restore_paused: Option<String>,
    },
    Play {
        context: Context,
        options: PlayOptions,
    },
    Pause,
    Resume,
    /// `value` in ms; relative to the current position when `relative` is set and not
    /// "beginning".
    SeekTo {
        value: i64,
        relative: bool,
    },
    SkipNext,
    SkipPrev,
    SetShuffle(bool),
    SetRepeatContext(bool),
    SetRepeatTrack(bool),
    SetOptions {
        shuffle: Option<bool>,
        repeat_context: Option<bool>,
        repeat_track: Option<bool>,
    },
    AddToQueue(TrackRef),
    SetQueue {
        next: Vec<TrackRef>,
    },
    UpdateContext(Context),
}

/// A command request as the dealer delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandRequest {
    pub message_id: u32,
    pub sent_by_device_id: String,
    pub endpoint: String,
    pub command: PlayerCommand,
}

fn malformed(s: impl Into<String>) -> CommandError {
    CommandError::Malformed(s.into())
}

fn as_bool(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        _ => None,
    }
}

fn as_i64(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn lenient<T: for<'de> Deserialize<'de>>(v: &Value, what: &str) -> Result<T, CommandError> {
    serde_json::from_value(v.clone()).map_err(|e| malformed(format!("`{what}`: {e}")))
}

/// Parses a `hm://connect-state/v1/player/command` payload (lenient: unknown keys are ignored).
pub fn parse_command(v: &Value) -> Result<CommandRequest, CommandError> {
    let cmd = v
        .get("command")
        .filter(|c| c.is_object())
        .ok_or_else(|| malformed("no `command` object"))?;
    let endpoint = cmd
        .get("endpoint")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("no `command.endpoint`"))?
        .to_string();
    let value = cmd.get("value");
    let need_bool = |what: &str| {
        as_bool(value).ok_or_else(|| malformed(format!("`{what}` needs a boolean `value`")))
    };
    let command = match endpoint.as_str() {
        "transfer" => {
            let data = cmd
                .get("data")
                .and_then(Value::as_str)
                .ok_or_else(|| malformed("transfer without `data`"))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map_err(|e| malformed(format!("transfer `data` is not base64: {e}")))?;
            let state = TransferState::parse_from_bytes(&bytes)
                .map_err(|e| malformed(format!("transfer `data` is not a TransferState: {e}")))?;
            PlayerCommand::Transfer {
                state: Box::new(state),
                restore_paused: cmd
                    .get("options")
                    .and_then(|o| o.get("restore_paused"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
            }
        }
        "play" => {
            let context: Context = match cmd.get("context") {
                Some(c) => lenient(c, "context")?,
                None => return Err(malformed("play without `context`")),
            };
            let o = cmd.get("options");
            let get = |k: &str| o.and_then(|o| o.get(k));
            let skip = get("skip_to");
            let overrides = get("player_options_override");
            let ov = |k: &str| as_bool(overrides.and_then(|x| x.get(k)));
            let options = PlayOptions {
                skip_to_uid: skip
                    .and_then(|s| s.get("track_uid"))
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
                skip_to_uri: skip
                    .and_then(|s| s.get("track_uri"))
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
                skip_to_index: as_i64(skip.and_then(|s| s.get("track_index")))
                    .and_then(|i| usize::try_from(i).ok()),
                seek_to: as_i64(get("seek_to")).and_then(|i| u64::try_from(i).ok()),
                initially_paused: as_bool(get("initially_paused")).unwrap_or(false),
                shuffle: ov("shuffling_context"),
                repeat_context: ov("repeating_context"),
                repeat_track: ov("repeating_track"),
            };
            PlayerCommand::Play { context, options }
        }
        "pause" => PlayerCommand::Pause,
        "resume" => PlayerCommand::Resume,
        "seek_to" => {
            let value = as_i64(value)
                .or_else(|| as_i64(cmd.get("position")))
                .ok_or_else(|| malformed("seek_to without `value`"))?;
            let relative = cmd
                .get("relative")
                .and_then(Value::as_str)
                .is_some_and(|r| !r.is_empty() && r != "beginning");
            PlayerCommand::SeekTo { value, relative }
        }
        "skip_next" => PlayerCommand::SkipNext,
        "skip_prev" => PlayerCommand::SkipPrev,
        "set_shuffling_context" => PlayerCommand::SetShuffle(need_bool("set_shuffling_context")?),
        "set_repeating_context" => {
            PlayerCommand::SetRepeatContext(need_bool("set_repeating_context")?)
        }
        "set_repeating_track" => PlayerCommand::SetRepeatTrack(need_bool("set_repeating_track")?),
        "set_options" => PlayerCommand::SetOptions {
            shuffle: as_bool(cmd.get("shuffling_context")),
            repeat_context: as_bool(cmd.get("repeating_context")),
            repeat_track: as_bool(cmd.get("repeating_track")),
        },
        "add_to_queue" => {
            let t = cmd
                .get("track")
                .ok_or_else(|| malformed("add_to_queue without `track`"))?;
            PlayerCommand::AddToQueue(lenient(t, "track")?)
        }
        "set_queue" => {
            let next: Vec<TrackRef> = match cmd.get("next_tracks") {
                Some(n) => lenient(n, "next_tracks")?,
                None => Vec::new(),
            };
            PlayerCommand::SetQueue { next }
        }
        "update_context" => {
            let c = cmd
                .get("context")
                .ok_or_else(|| malformed("update_context without `context`"))?;
            PlayerCommand::UpdateContext(lenient(c, "context")?)
        }
        other => return Err(CommandError::UnknownEndpoint(other.to_string())),
    };
    Ok(CommandRequest {
        message_id: as_i64(v.get("message_id"))
            .and_then(|i| u32::try_from(i).ok())
            .unwrap_or(0),
        sent_by_device_id: v
            .get("sent_by_device_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        endpoint,
        command,
    })
}

/// A track reference's id when it is a track or an episode (`spotify:track:…`,
/// `spotify:episode:…` — noted as one, see `id::episodes` — or a 16-byte hex `gid`).
pub fn track_id(t: &TrackRef) -> Option<SpotifyId> {
    if let Some(uri) = t.uri.as_deref().filter(|u| !u.is_empty()) {
        return match SpotifyUri::parse(uri) {
            Ok(u) if u.kind == ItemKind::Track => Some(u.id),
            Ok(u) if u.kind == ItemKind::Episode => {
                crate::id::episodes::note(u.id);
                Some(u.id)
            }
            _ => {
                tracing::info!(%uri, "context item skipped: not a track");
                None
            }
        };
    }
    if let Some(Value::String(gid)) = &t.gid {
        if let Ok(id) = SpotifyId::from_base16(gid) {
            return Some(id);
        }
    }
    tracing::info!("context item skipped: no track uri");
    None
}

/// The keys `context-resolve` may send (its JSON is parsed strictly, as librespot does).
fn check_keys(v: &Value, allowed: &[&str], what: &str) -> Result<(), String> {
    if let Value::Object(map) = v {
        if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(format!("unknown field `{k}` in {what}"));
        }
        Ok(())
    } else {
        Err(format!("{what} is not an object"))
    }
}

/// Parses a `context-resolve` answer strictly: only `Context`, `ContextPage` and
/// `ContextTrack` fields are allowed.
pub fn parse_context_strict(bytes: &[u8]) -> Result<Context, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    check_keys(
        &v,
        &["uri", "url", "metadata", "restrictions", "pages", "loading"],
        "context",
    )?;
    if let Some(Value::Array(pages)) = v.get("pages") {
        for p in pages {
            check_keys(
                p,
                &["page_url", "next_page_url", "metadata", "tracks", "loading"],
                "context page",
            )?;
            if let Some(Value::Array(tracks)) = p.get("tracks") {
                for t in tracks {
                    check_keys(t, &["uri", "uid", "gid", "metadata"], "context track")?;
                }
            }
        }
    }
    serde_json::from_value(v).map_err(|e| format!("bad context: {e}"))
}

/// `GET {spclient}/context-resolve/v1/{uri}`, then every page that has a URL but no tracks and
/// every `next_page_url` (at most [`MAX_PAGES`]).
pub async fn resolve_context(sp: &SpClient, uri: &str) -> Result<Context, CommandError> {
    let err = |reason: String| CommandError::Context {
        uri: uri.to_string(),
        reason,
    };
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let bytes = sp
        .request(
            Method::GET,
            &format!("/context-resolve/v1/{uri}"),
            headers.clone(),
            None,
        )
        .await
        .map_err(|e: ApiError| err(e.to_string()))?;
    let mut ctx = parse_context_strict(&bytes).map_err(err)?;
    let mut pages: Vec<Page> = Vec::new();
    let mut todo: std::collections::VecDeque<Page> = ctx.pages.drain(..).collect();
    let mut fetched = 0usize;
    while let Some(page) = todo.pop_front() {
        let next = page.next_page_url.clone();
        if page.tracks.is_empty() {
            if let Some(url) = page.page_url.as_deref().filter(|u| !u.is_empty()) {
                if fetched < MAX_PAGES {
                    fetched += 1;
                    let p = fetch_page(sp, url, &headers).await.map_err(err)?;
                    todo.push_front(p);
                    continue;
                }
            }
        }
        pages.push(page);
        if let Some(url) = next.filter(|u| !u.is_empty()) {
            if fetched < MAX_PAGES {
                fetched += 1;
                let p = fetch_page(sp, &url, &headers).await.map_err(err)?;
                todo.push_back(p);
            }
        }
    }
    ctx.pages = pages;
    Ok(ctx)
}

async fn fetch_page(sp: &SpClient, url: &str, headers: &HeaderMap) -> Result<Page, String> {
    let path = url.strip_prefix("hm:/").unwrap_or(url);
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let bytes = sp
        .request(Method::GET, &path, headers.clone(), None)
        .await
        .map_err(|e| e.to_string())?;
    // A page answer is either a page or a whole context with pages.
    let ctx = parse_context_strict(&bytes);
    match ctx {
        Ok(c) if !c.pages.is_empty() => {
            let mut p = Page::default();
            for page in c.pages {
                p.tracks.extend(page.tracks);
                if page.next_page_url.is_some() {
                    p.next_page_url = page.next_page_url;
                }
            }
            Ok(p)
        }
        _ => serde_json::from_slice(&bytes).map_err(|e| format!("bad context page: {e}")),
    }
}

/// All tracks of a context, page after page.
pub fn context_tracks(ctx: &Context) -> Vec<TrackRef> {
    ctx.pages.iter().flat_map(|p| p.tracks.clone()).collect()
}

/// The context's tracks: the inline pages when they carry tracks, else resolved by URI.
pub async fn tracks_of(sp: &SpClient, ctx: &Context) -> Result<Vec<TrackRef>, CommandError> {
    let inline = context_tracks(ctx);
    if !inline.is_empty() {
        return Ok(inline);
    }
    let uri = ctx.uri.as_deref().unwrap_or_default();
    if uri.is_empty() || uri == "-" {
        return Err(CommandError::Empty(uri.to_string()));
    }
    Ok(context_tracks(&resolve_context(sp, uri).await?))
}

/// Converts tracks to ids, keeping where each source index landed (`None` for skipped items).
pub fn ids_of(tracks: &[TrackRef]) -> (Vec<SpotifyId>, Vec<Option<usize>>) {
    let mut ids = Vec::new();
    let mut map = Vec::with_capacity(tracks.len());
    for t in tracks {
        match track_id(t) {
            Some(id) => {
                map.push(Some(ids.len()));
                ids.push(id);
            }
            None => map.push(None),
        }
    }
    (ids, map)
}

fn find_index(
    tracks: &[TrackRef],
    map: &[Option<usize>],
    uid: Option<&str>,
    uri: Option<&str>,
) -> Option<usize> {
    let by = |f: &dyn Fn(&TrackRef) -> bool| {
        tracks
            .iter()
            .position(f)
            .and_then(|i| map.get(i).copied().flatten())
    };
    uid.filter(|u| !u.is_empty())
        .and_then(|uid| by(&|t| t.uid.as_deref() == Some(uid)))
        .or_else(|| {
            uri.filter(|u| !u.is_empty())
                .and_then(|uri| by(&|t| t.uri.as_deref() == Some(uri)))
        })
}

/// Where a `seek_to` of `value` ms lands, from `now_ms` when `relative`: never negative, never
/// an overflow whatever a peer sends (the core then clamps it to the track).
pub fn seek_target(value: i64, relative: bool, now_ms: u64) -> u64 {
    let target = if relative {
        i64::try_from(now_ms)
            .unwrap_or(i64::MAX)
            .saturating_add(value)
    } else {
        value
    };
    u64::try_from(target.max(0)).unwrap_or(0)
}

/// `play` → [`RemoteCommand::Load`].
pub async fn play_to_load(
    sp: &SpClient,
    context: &Context,
    options: &PlayOptions,
) -> Result<RemoteCommand, CommandError> {
    let tracks = tracks_of(sp, context).await?;
    let (ids, map) = ids_of(&tracks);
    let uri = context.uri.clone().unwrap_or_default();
    if ids.is_empty() {
        return Err(CommandError::Empty(uri));
    }
    let index = find_index(
        &tracks,
        &map,
        options.skip_to_uid.as_deref(),
        options.skip_to_uri.as_deref(),
    )
    .or_else(|| {
        options
            .skip_to_index
            .and_then(|i| map.get(i).copied().flatten())
    })
    .unwrap_or(0);
    Ok(RemoteCommand::Load {
        context_uri: uri,
        ids,
        index,
        position_ms: options.seek_to.unwrap_or(0),
        play: !options.initially_paused,
        shuffle: options.shuffle,
        repeat_context: options.repeat_context,
        repeat_track: options.repeat_track,
    })
}

fn ctx_track_ref(t: &librespot_protocol::context_track::ContextTrack) -> TrackRef {
    TrackRef {
        uri: t.uri.clone(),
        uid: t.uid.clone(),
        gid: t
            .gid
            .as_ref()
            .filter(|g| g.len() == 16)
            .map(|g| Value::String(hex::encode(g))),
        metadata: None,
        provider: None,
    }
}

/// `transfer` → [`RemoteCommand::Load`]: the session's context (inline pages or resolved), the
/// current track found by uid/uri (else put first), queued tracks after it, the position
/// extrapolated to `now_ms` unless paused.
pub async fn transfer_to_load(
    sp: &SpClient,
    state: &TransferState,
    restore_paused: Option<&str>,
    now_ms: i64,
) -> Result<RemoteCommand, CommandError> {
    let session = state.current_session.as_ref();
    let ctx_proto = session.and_then(|s| s.context.as_ref());
    let context_uri = ctx_proto.and_then(|c| c.uri.clone()).unwrap_or_default();
    let inline: Vec<TrackRef> = ctx_proto
        .map(|c| {
            c.pages
                .iter()
                .flat_map(|p| p.tracks.iter().map(ctx_track_ref))
                .collect()
        })
        .unwrap_or_default();
    let playback = state.playback.as_ref();
    let queue = state.queue.as_ref();
    let playing_queue = queue.is_some_and(|q| q.is_playing_queue.unwrap_or(false));
    let current = if playing_queue {
        queue.and_then(|q| q.tracks.first()).map(ctx_track_ref)
    } else {
        playback
            .and_then(|p| p.current_track.as_ref())
            .map(ctx_track_ref)
    };
    let tracks = if !inline.is_empty() {
        inline
    } else if !context_uri.is_empty() && context_uri != "-" {
        match resolve_context(sp, &context_uri).await {
            Ok(c) => context_tracks(&c),
            // The current track alone still plays.
            Err(e) if current.is_some() => {
                tracing::warn!("{e}; playing the transferred track alone");
                Vec::new()
            }
            Err(e) => return Err(e),
        }
    } else {
        Vec::new()
    };
    let (mut ids, map) = ids_of(&tracks);
    let cur_uid = session
        .and_then(|s| s.current_uid.clone())
        .or_else(|| current.as_ref().and_then(|c| c.uid.clone()));
    let mut index = find_index(
        &tracks,
        &map,
        cur_uid.as_deref(),
        current.as_ref().and_then(|c| c.uri.as_deref()),
    );
    if index.is_none() || playing_queue {
        if let Some(id) = current.as_ref().and_then(track_id) {
            // The current track is not in the context (a queued track): play it first, then the
            // context from where it would have continued.
            let at = index.unwrap_or(0);
            ids.insert(at, id);
            index = Some(at);
        }
    }
    let Some(index) = index else {
        return Err(CommandError::Empty(context_uri));
    };
    // Queued tracks (beyond the one playing) come right after the current track.
    if let Some(q) = queue {
        let skip = usize::from(playing_queue);
        let queued: Vec<SpotifyId> = q
            .tracks
            .iter()
            .skip(skip)
            .filter_map(|t| track_id(&ctx_track_ref(t)))
            .collect();
        for (k, id) in queued.into_iter().enumerate() {
            ids.insert(index + 1 + k, id);
        }
    }
    let paused_then = playback.and_then(|p| p.is_paused).unwrap_or(false);
    let mut position = i64::from(
        playback
            .and_then(|p| p.position_as_of_timestamp)
            .unwrap_or(0),
    );
    if !paused_then {
        if let Some(ts) = playback.and_then(|p| p.timestamp).filter(|&t| t > 0) {
            position = position.saturating_add(now_ms.saturating_sub(ts).max(0));
        }
    }
    let paused = match restore_paused {
        Some("pause") => true,
        Some("resume") => false,
        _ => paused_then,
    };
    let opts = state.options.as_ref();
    Ok(RemoteCommand::Load {
        context_uri,
        ids,
        index,
        position_ms: u64::try_from(position.max(0)).unwrap_or(0),
        play: !paused,
        shuffle: opts.and_then(|o| o.shuffling_context),
        repeat_context: opts.and_then(|o| o.repeating_context),
        repeat_track: opts.and_then(|o| o.repeating_track),
    })
}

/// The JSON body of `POST player/command/from/{a}/to/{b}` for a controller command (§12).
/// `None` for volume, which goes through its own endpoint.
pub fn control_body(control: &RemoteControl) -> Option<Value> {
    let logging = serde_json::json!({});
    let cmd = match control {
        RemoteControl::Pause => serde_json::json!({"endpoint": "pause"}),
        RemoteControl::Resume => serde_json::json!({"endpoint": "resume"}),
        RemoteControl::SkipNext => serde_json::json!({"endpoint": "skip_next"}),
        RemoteControl::SkipPrev => serde_json::json!({"endpoint": "skip_prev"}),
        RemoteControl::SeekTo(ms) => {
            serde_json::json!({"endpoint": "seek_to", "value": ms, "position": ms})
        }
        RemoteControl::SetShuffle(on) => {
            serde_json::json!({"endpoint": "set_shuffling_context", "value": on})
        }
        RemoteControl::SetRepeatContext(on) => {
            serde_json::json!({"endpoint": "set_repeating_context", "value": on})
        }
        RemoteControl::SetRepeatTrack(on) => {
            serde_json::json!({"endpoint": "set_repeating_track", "value": on})
        }
        RemoteControl::AddToQueue(uri) => serde_json::json!({
            "endpoint": "add_to_queue",
            "track": {"uri": uri, "metadata": {"is_queued": "true"}, "provider": "queue"}
        }),
        RemoteControl::SetVolume(_) => return None,
    };
    let mut cmd = cmd;
    if let Value::Object(m) = &mut cmd {
        m.insert("logging_params".into(), logging);
    }
    Some(serde_json::json!({ "command": cmd }))
}

/// The body of `POST connect/transfer/from/{a}/to/{b}` (librespot's shape).
pub fn transfer_body() -> Value {
    serde_json::json!({
        "transfer_options": {"restore_paused": "restore"},
        "options": {"restore_paused": "restore", "restore_position": "extrapolate",
                    "restore_track": "only_current"}
    })
}

#[cfg(test)]
mod tests;
