//! The MPRIS 2 player (`org.mpris.MediaPlayer2` and `org.mpris.MediaPlayer2.Player` at
//! `/org/mpris/MediaPlayer2`): properties read from the player's status, method calls and
//! property writes turned into [`Intent`]s for the host to carry out through the one core,
//! and the signals (`PropertiesChanged`, `Seeked`) the status watcher ([`announce`]) emits.
//!
//! The pure mappings (track id → object path, lengths in µs, status → property values) are
//! functions here so that they are tested without a bus. Called by `desktop.rs` only; depends
//! on the player's and control's types and zbus; never on app or ui.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc;
use zbus::fdo;
use zbus::interface;
use zbus::names::InterfaceName;
use zbus::object_server::SignalContext;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};

use crate::control::{Intent, Now};
use crate::id::{ItemKind, SpotifyId, SpotifyUri};
use crate::player::loader::TrackInfo;
use crate::player::{PlayState, Player, PlayerStatus, RepeatMode};

use super::Resolver;

/// Where both interfaces are served (fixed by the MPRIS spec).
pub const PATH: &str = "/org/mpris/MediaPlayer2";
/// The bus name; `.instance<pid>` is appended when another player holds it.
pub const BUS_NAME: &str = "org.mpris.MediaPlayer2.tonearm";
const PLAYER_INTERFACE: &str = "org.mpris.MediaPlayer2.Player";
/// The spec's "no track" id.
pub const NO_TRACK: &str = "/org/mpris/MediaPlayer2/TrackList/NoTrack";
/// A seek is reported when the position is off what playing on would give by more than this.
const SEEK_SLACK_MS: u64 = 1500;

/// Takes [`BUS_NAME`], or `BUS_NAME.instance<pid>` when it is taken (the spec's rule for a
/// second instance). Returns the name taken.
pub async fn claim_name(conn: &zbus::Connection) -> zbus::Result<String> {
    use fdo::{RequestNameFlags, RequestNameReply};
    let flags = RequestNameFlags::DoNotQueue.into();
    if let RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner =
        conn.request_name_with_flags(BUS_NAME, flags).await?
    {
        return Ok(BUS_NAME.to_string());
    }
    let name = format!("{BUS_NAME}.instance{}", std::process::id());
    conn.request_name_with_flags(name.as_str(), flags).await?;
    Ok(name)
}

/// A track's MPRIS id: `/org/tonearm/track/<base16 id>` (object path elements allow only
/// `[A-Za-z0-9_]`, which hex is).
pub fn track_path(id: SpotifyId) -> OwnedObjectPath {
    let path = format!("/org/tonearm/track/{}", id.to_base16());
    ObjectPath::try_from(path)
        .map(OwnedObjectPath::from)
        .unwrap_or_else(|_| no_track())
}

fn no_track() -> OwnedObjectPath {
    OwnedObjectPath::from(ObjectPath::from_static_str_unchecked(NO_TRACK))
}

/// Milliseconds as MPRIS microseconds (saturating: MPRIS times are `i64`).
pub fn ms_to_us(ms: u64) -> i64 {
    i64::try_from(ms.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// MPRIS microseconds as milliseconds (negative: `0`).
pub fn us_to_ms(us: i64) -> u64 {
    u64::try_from(us / 1000).unwrap_or(0)
}

/// The `Metadata` map for the track being heard (`None`: only the "no track" id).
pub fn metadata(track: Option<&TrackInfo>) -> HashMap<String, OwnedValue> {
    let mut m = HashMap::new();
    let Some(t) = track else {
        m.insert(
            "mpris:trackid".to_string(),
            OwnedValue::from(ObjectPath::from(no_track())),
        );
        return m;
    };
    m.insert(
        "mpris:trackid".into(),
        OwnedValue::from(ObjectPath::from(track_path(t.id))),
    );
    if t.duration_ms > 0 {
        m.insert(
            "mpris:length".into(),
            OwnedValue::from(ms_to_us(t.duration_ms)),
        );
    }
    m.insert("xesam:title".into(), str_value(&t.name));
    if let Ok(artists) = OwnedValue::try_from(Value::from(t.artists.clone())) {
        m.insert("xesam:artist".into(), artists);
    }
    if !t.album.is_empty() {
        m.insert("xesam:album".into(), str_value(&t.album));
    }
    let url = format!("https://open.spotify.com/track/{}", t.id.to_base62());
    m.insert("xesam:url".into(), str_value(&url));
    // The cover once the TUI has it: the cached file, else its http URL (`crate::art`).
    if let Some(art) = crate::art::now_art(t.id) {
        m.insert("mpris:artUrl".into(), str_value(&art));
    }
    m
}

fn str_value(s: &str) -> OwnedValue {
    OwnedValue::from(zbus::zvariant::Str::from(s.to_string()))
}

/// `PlaybackStatus`: a load in flight counts as playing when a track is shown (it is about
/// to be heard), as stopped otherwise.
pub fn playback_status(s: &PlayerStatus) -> &'static str {
    match s.state {
        PlayState::Playing => "Playing",
        PlayState::Paused => "Paused",
        PlayState::Loading if s.track.is_some() => "Playing",
        PlayState::Loading | PlayState::Stopped => "Stopped",
    }
}

/// `PlaybackStatus` with MPRIS's `Stop` taken into account: a player paused by `Stop` (see
/// [`StopLatch`]) reports "Stopped".
pub fn playback_status_of(s: &PlayerStatus, stopped: bool) -> &'static str {
    if stopped && s.state == PlayState::Paused {
        "Stopped"
    } else {
        playback_status(s)
    }
}

/// What MPRIS's `Stop` means here. The player has no "stopped with a track" state a front end
/// may ask for, so `Stop` does what most players do: pause and go back to the start of the
/// track (`Play` then starts it from 0:00). This latch remembers that the pause was a stop, so
/// `PlaybackStatus` says "Stopped" (not "Paused") until playback starts again or another track
/// comes. Shared by the `Player` object (which arms it) and the status watcher (which follows
/// the status through it). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct StopLatch(Arc<Mutex<Latch>>);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Latch {
    #[default]
    Off,
    /// `Stop` was called while playing: the pause it sent has not landed yet (statuses still
    /// saying "playing" do not end the stop).
    Armed(SpotifyId),
    /// Paused by `Stop` on this track.
    On(SpotifyId),
}

impl StopLatch {
    fn lock(&self) -> std::sync::MutexGuard<'_, Latch> {
        // The latch is a plain value: a panic elsewhere cannot leave it half-written.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Stop` was called with the player in `s` (nothing to latch without a track).
    pub fn arm(&self, s: &PlayerStatus) {
        let mut l = self.lock();
        *l = match (&s.track, s.state) {
            (Some(t), PlayState::Paused) => Latch::On(t.id),
            (Some(t), _) => Latch::Armed(t.id),
            (None, _) => Latch::Off,
        };
    }

    /// Follows a new status: the pause landing turns an armed stop on; playing again or
    /// another track ends it. Returns whether `s` is to be reported as stopped.
    pub fn follow(&self, s: &PlayerStatus) -> bool {
        let mut l = self.lock();
        let track = s.track.as_ref().map(|t| t.id);
        *l = match *l {
            Latch::Armed(id) | Latch::On(id) if track != Some(id) => Latch::Off,
            Latch::Armed(id) if s.state == PlayState::Paused => Latch::On(id),
            Latch::On(_) if s.state != PlayState::Paused => Latch::Off,
            other => other,
        };
        matches!(*l, Latch::On(_))
    }

    /// Whether `s` is to be reported as stopped (read-only: the watcher moves the latch).
    pub fn applies(&self, s: &PlayerStatus) -> bool {
        let track = s.track.as_ref().map(|t| t.id);
        s.state == PlayState::Paused
            && matches!(*self.lock(), Latch::Armed(id) | Latch::On(id) if Some(id) == track)
    }
}

/// `LoopStatus` for a repeat mode.
pub fn loop_status(mode: RepeatMode) -> &'static str {
    match mode {
        RepeatMode::Off => "None",
        RepeatMode::One => "Track",
        RepeatMode::All => "Playlist",
    }
}

/// A written `LoopStatus` as a repeat mode (`None`: not one of the spec's three values).
pub fn repeat_for(loop_status: &str) -> Option<RepeatMode> {
    match loop_status {
        "None" => Some(RepeatMode::Off),
        "Track" => Some(RepeatMode::One),
        "Playlist" => Some(RepeatMode::All),
        _ => None,
    }
}

/// `Volume` (`0.0..=1.0`) for the player's `0..=65535`.
pub fn volume_value(v: u16) -> f64 {
    f64::from(v) / f64::from(u16::MAX)
}

/// A written `Volume` as the player's; out-of-range values are clamped (the spec: below 0 is
/// 0), not-a-number is refused.
pub fn volume_from(v: f64) -> Option<u16> {
    if v.is_nan() {
        return None;
    }
    Some((v.clamp(0.0, 1.0) * f64::from(u16::MAX)).round() as u16)
}

/// The position now (extrapolated while playing), in µs, never past the track's end.
pub fn position_us(s: &PlayerStatus, at: Instant) -> i64 {
    let now = Now::of(Some(s), at);
    let ms = if now.duration_ms > 0 {
        now.position_ms.min(now.duration_ms)
    } else {
        now.position_ms
    };
    ms_to_us(ms)
}

/// What `Seek(offset)` stands for: a relative seek, or the next track when it goes past the
/// end (the spec's rule); `None` without a track.
pub fn seek_intent(s: &PlayerStatus, offset_us: i64, at: Instant) -> Option<Intent> {
    let track = s.track.as_ref()?;
    let now = Now::of(Some(s), at);
    let delta_ms = offset_us / 1000;
    let target = i128::from(now.position_ms) + i128::from(delta_ms);
    if track.duration_ms > 0 && target > i128::from(track.duration_ms) {
        return Some(Intent::Next);
    }
    Some(Intent::SeekBy(delta_ms))
}

/// What `SetPosition(track_id, position)` stands for: nothing when the id is not the current
/// track's or the position is outside the track (the spec's rules).
pub fn set_position_intent(s: &PlayerStatus, track_id: &str, position_us: i64) -> Option<Intent> {
    let track = s.track.as_ref()?;
    if track_path(track.id).as_str() != track_id || position_us < 0 {
        return None;
    }
    if track.duration_ms > 0 && position_us > ms_to_us(track.duration_ms) {
        return None;
    }
    Some(Intent::SeekTo(us_to_ms(position_us)))
}

/// Whether the position moved other than by playing on from `old` to `new` (same track).
pub fn seeked(old: &PlayerStatus, new: &PlayerStatus) -> bool {
    let (Some(a), Some(b)) = (&old.track, &new.track) else {
        return false;
    };
    if a.id != b.id {
        return false;
    }
    let expected = Now::of(Some(old), new.at).position_ms;
    new.position_ms.abs_diff(expected) > SEEK_SLACK_MS
}

/// `org.mpris.MediaPlayer2`: identity only (no window to raise, quitting is the user's).
pub struct Root;

#[interface(name = "org.mpris.MediaPlayer2")]
impl Root {
    fn raise(&self) {}

    fn quit(&self) {}

    #[zbus(property)]
    fn can_quit(&self) -> bool {
        false
    }

    #[zbus(property)]
    fn can_raise(&self) -> bool {
        false
    }

    #[zbus(property)]
    fn has_track_list(&self) -> bool {
        false
    }

    #[zbus(property)]
    fn identity(&self) -> &str {
        "tonearm"
    }

    #[zbus(property)]
    fn supported_uri_schemes(&self) -> Vec<String> {
        vec!["spotify".into()]
    }

    #[zbus(property)]
    fn supported_mime_types(&self) -> Vec<String> {
        Vec::new()
    }
}

/// `org.mpris.MediaPlayer2.Player`: reads the player's status, writes intents.
pub struct PlayerIface {
    player: Player,
    intents: mpsc::UnboundedSender<Intent>,
    resolver: Resolver,
    stop: StopLatch,
}

impl PlayerIface {
    pub fn new(
        player: Player,
        intents: mpsc::UnboundedSender<Intent>,
        resolver: Resolver,
        stop: StopLatch,
    ) -> PlayerIface {
        PlayerIface {
            player,
            intents,
            resolver,
            stop,
        }
    }

    fn status(&self) -> PlayerStatus {
        self.player.status().borrow().clone()
    }

    fn send(&self, intent: Intent) {
        if self.intents.send(intent).is_err() {
            tracing::debug!("MPRIS: a method call after the host stopped listening; ignored");
        }
    }
}

#[interface(name = "org.mpris.MediaPlayer2.Player")]
impl PlayerIface {
    fn next(&self) {
        self.send(Intent::Next);
    }

    fn previous(&self) {
        self.send(Intent::Previous);
    }

    fn pause(&self) {
        self.send(Intent::Pause);
    }

    fn play_pause(&self) {
        self.send(Intent::Toggle);
    }

    /// Pause at the start of the track, reported as "Stopped" (see [`StopLatch`]). When the
    /// player was paused already no status change may follow, so the new `PlaybackStatus` is
    /// signalled here.
    async fn stop(&self, #[zbus(signal_context)] ctxt: SignalContext<'_>) {
        let before = self.status();
        self.stop.arm(&before);
        self.send(Intent::Pause);
        self.send(Intent::SeekTo(0));
        if before.state == PlayState::Paused && before.track.is_some() {
            if let Err(e) = self.playback_status_changed(&ctxt).await {
                tracing::debug!("MPRIS: cannot signal PlaybackStatus: {e}");
            }
        }
    }

    fn play(&self) {
        self.send(Intent::Play);
    }

    fn seek(&self, offset: i64) {
        if let Some(i) = seek_intent(&self.status(), offset, Instant::now()) {
            self.send(i);
        }
    }

    fn set_position(&self, track_id: ObjectPath<'_>, position: i64) {
        if let Some(i) = set_position_intent(&self.status(), track_id.as_str(), position) {
            self.send(i);
        }
    }

    /// `spotify:` URIs and open.spotify.com links: the tracks they stand for replace the
    /// queue and play. A malformed URI is an error to the caller; a failed lookup is logged.
    fn open_uri(&self, uri: String) -> fdo::Result<()> {
        let parsed = SpotifyUri::parse(uri.trim())
            .map_err(|e| fdo::Error::InvalidArgs(format!("not a Spotify URI or link: {e}")))?;
        if matches!(
            parsed.kind,
            ItemKind::Playlist | ItemKind::Show | ItemKind::Episode
        ) {
            return Err(fdo::Error::NotSupported(format!(
                "cannot play a {} yet",
                parsed.kind.as_str()
            )));
        }
        let resolve = (self.resolver)(parsed.to_uri());
        let intents = self.intents.clone();
        tokio::spawn(async move {
            match resolve.await {
                Ok(ids) if !ids.is_empty() => {
                    let _ = intents.send(Intent::Load {
                        ids,
                        index: 0,
                        position_ms: 0,
                        play: true,
                    });
                }
                Ok(_) => tracing::info!(uri = %parsed.to_uri(), "MPRIS OpenUri: nothing to play"),
                Err(e) => tracing::warn!(uri = %parsed.to_uri(), "MPRIS OpenUri: {e}"),
            }
        });
        Ok(())
    }

    #[zbus(signal)]
    async fn seeked(ctxt: &SignalContext<'_>, position: i64) -> zbus::Result<()>;

    #[zbus(property)]
    fn playback_status(&self) -> &'static str {
        let s = self.status();
        playback_status_of(&s, self.stop.applies(&s))
    }

    #[zbus(property)]
    fn loop_status(&self) -> &'static str {
        loop_status(self.player.repeat())
    }

    #[zbus(property)]
    fn set_loop_status(&mut self, value: String) -> fdo::Result<()> {
        let mode = repeat_for(&value).ok_or_else(|| {
            fdo::Error::InvalidArgs(format!(
                "LoopStatus must be None, Track or Playlist, not {value:?}"
            ))
        })?;
        self.send(Intent::SetRepeat(mode));
        Ok(())
    }

    #[zbus(property)]
    fn rate(&self) -> f64 {
        1.0
    }

    /// Only the normal rate is offered (`MinimumRate` = `MaximumRate` = 1); other values are
    /// ignored, as the spec allows.
    #[zbus(property)]
    fn set_rate(&mut self, _value: f64) {}

    #[zbus(property)]
    fn shuffle(&self) -> bool {
        self.status().shuffle
    }

    #[zbus(property)]
    fn set_shuffle(&mut self, value: bool) {
        self.send(Intent::SetShuffle(value));
    }

    #[zbus(property)]
    fn metadata(&self) -> HashMap<String, OwnedValue> {
        metadata(self.status().track.as_ref())
    }

    #[zbus(property)]
    fn volume(&self) -> f64 {
        volume_value(self.status().volume)
    }

    #[zbus(property)]
    fn set_volume(&mut self, value: f64) {
        if let Some(v) = volume_from(value) {
            self.send(Intent::SetVolume(v));
        }
    }

    /// Read on demand (the spec: no change signal; `Seeked` marks jumps).
    #[zbus(property(emits_changed_signal = "false"))]
    fn position(&self) -> i64 {
        position_us(&self.status(), Instant::now())
    }

    #[zbus(property)]
    fn minimum_rate(&self) -> f64 {
        1.0
    }

    #[zbus(property)]
    fn maximum_rate(&self) -> f64 {
        1.0
    }

    #[zbus(property)]
    fn can_go_next(&self) -> bool {
        self.status().track.is_some()
    }

    #[zbus(property)]
    fn can_go_previous(&self) -> bool {
        self.status().track.is_some()
    }

    #[zbus(property)]
    fn can_play(&self) -> bool {
        self.status().track.is_some()
    }

    #[zbus(property)]
    fn can_pause(&self) -> bool {
        self.status().track.is_some()
    }

    #[zbus(property)]
    fn can_seek(&self) -> bool {
        self.status()
            .track
            .as_ref()
            .is_some_and(|t| t.duration_ms > 0)
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn can_control(&self) -> bool {
        true
    }
}

/// The `Player` properties that differ between two statuses, as `PropertiesChanged` carries
/// them (`Position` never: it is read on demand). `stopped`: whether each was paused by `Stop`
/// ([`StopLatch`]).
pub fn changed_properties(
    old: &PlayerStatus,
    new: &PlayerStatus,
    stopped: [bool; 2],
) -> Vec<(&'static str, Value<'static>)> {
    let mut out: Vec<(&'static str, Value<'static>)> = Vec::new();
    let (was, now) = (
        playback_status_of(old, stopped[0]),
        playback_status_of(new, stopped[1]),
    );
    if was != now {
        out.push(("PlaybackStatus", Value::from(now)));
    }
    let old_id = old.track.as_ref().map(|t| (t.id, t.duration_ms));
    let new_id = new.track.as_ref().map(|t| (t.id, t.duration_ms));
    if old_id != new_id
        || old.track.as_ref().map(|t| &t.name) != new.track.as_ref().map(|t| &t.name)
    {
        let map: HashMap<String, OwnedValue> = metadata(new.track.as_ref());
        out.push(("Metadata", Value::from(map)));
        let has = new.track.is_some();
        for name in ["CanGoNext", "CanGoPrevious", "CanPlay", "CanPause"] {
            out.push((name, Value::from(has)));
        }
        let can_seek = new.track.as_ref().is_some_and(|t| t.duration_ms > 0);
        out.push(("CanSeek", Value::from(can_seek)));
    }
    if old.volume != new.volume {
        out.push(("Volume", Value::from(volume_value(new.volume))));
    }
    if old.shuffle != new.shuffle {
        out.push(("Shuffle", Value::from(new.shuffle)));
    }
    if old.repeat != new.repeat {
        out.push(("LoopStatus", Value::from(loop_status(new.repeat))));
    }
    out
}

/// Emits what changed from `old` to `new`: one `PropertiesChanged` with every changed
/// property, and `Seeked` when the position jumped. Failures are logged at debug (a bus that
/// went away is not the user's problem).
pub async fn announce(
    conn: &zbus::Connection,
    old: &PlayerStatus,
    new: &PlayerStatus,
    stopped: [bool; 2],
) {
    let Ok(ctxt) = SignalContext::new(conn, PATH) else {
        return;
    };
    let changed = changed_properties(old, new, stopped);
    if !changed.is_empty() {
        let map: HashMap<&str, &Value<'_>> = changed.iter().map(|(k, v)| (*k, v)).collect();
        let iface = InterfaceName::from_static_str_unchecked(PLAYER_INTERFACE);
        if let Err(e) = fdo::Properties::properties_changed(&ctxt, iface, &map, &[]).await {
            tracing::debug!("MPRIS: cannot signal PropertiesChanged: {e}");
        }
    }
    if seeked(old, new) {
        if let Err(e) = PlayerIface::seeked(&ctxt, position_us(new, new.at)).await {
            tracing::debug!("MPRIS: cannot signal Seeked: {e}");
        }
    }
}

/// Announces `status`'s `Metadata` again: its cover (`mpris:artUrl`) became known after the
/// track started.
pub async fn announce_metadata(conn: &zbus::Connection, status: &PlayerStatus) {
    let Ok(ctxt) = SignalContext::new(conn, PATH) else {
        return;
    };
    let value = Value::from(metadata(status.track.as_ref()));
    let map: HashMap<&str, &Value<'_>> = HashMap::from([("Metadata", &value)]);
    let iface = InterfaceName::from_static_str_unchecked(PLAYER_INTERFACE);
    if let Err(e) = fdo::Properties::properties_changed(&ctxt, iface, &map, &[]).await {
        tracing::debug!("MPRIS: cannot signal PropertiesChanged: {e}");
    }
}

#[cfg(test)]
mod tests;
