//! Spotify Connect (protocol spec §5, §11, §12): tonearm as a receiver a phone can control
//! (cloud: dealer websocket + connect-state; LAN: zeroconf `getInfo`/`addUser` + mDNS), and as a
//! controller of the account's other devices (transfer, commands, waking a LAN speaker).
//!
//! This file holds the types the rest of the program sees; the submodules hold the machinery:
//! * `dealer`    — the dealer websocket client (connection id, both keep-alive styles, requests
//!   and replies, reconnect with back-off).
//! * `state`     — connect-state: device registration (`PUT devices/{id}`), player-state
//!   reports, cluster updates, the device list.
//! * `command`   — parsing dealer player commands (lenient JSON), `TransferState`, context
//!   resolution, mapping to [`RemoteCommand`].
//! * `service`   — the [`Connect`] handle/task pair tying the above to the player.
//! * `discovery` — the zeroconf receiver: HTTP `getInfo`/`addUser`, outer/inner blobs, mDNS
//!   advertise; and the mDNS browser for LAN devices.
//! * `wake`      — the controller half of zeroconf: build a blob for a LAN speaker from our
//!   stored credentials and `addUser` it.
//! * `blob`      — the zeroconf blob crypto in both directions (outer DH/CTR/HMAC layer, inner
//!   encoder; the inner decoder is `session::credentials`).
//! * `mdns`      — `_spotify-connect._tcp` advertisement and LAN browsing.
//!
//! Never imports UI crates, the app state, or the simulator.

use std::net::SocketAddr;
use std::time::Instant;

use crate::id::SpotifyId;

/// Where a device in the device list comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceOrigin {
    /// This tonearm.
    This,
    /// The account's connect-state cluster (or the Web API player endpoint).
    Cloud,
    /// Found by mDNS browse on the LAN; not (yet) in the cluster. `active_user` from `getInfo`
    /// (empty: nobody logged in, it can be woken with `addUser`).
    Lan {
        addr: SocketAddr,
        cpath: String,
        active_user: String,
    },
}

/// One device the Devices pane lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The Connect device id (40 hex chars for librespot-like devices).
    pub id: String,
    pub name: String,
    /// The device type as shown, e.g. "Computer", "Speaker", "Smartphone".
    pub kind: String,
    pub is_active: bool,
    /// `0..=65535`, when the device reports a volume.
    pub volume: Option<u16>,
    pub origin: DeviceOrigin,
}

/// The state of playback on the active device when that device is not this tonearm (the
/// now-playing bar follows it).
#[derive(Debug, Clone, PartialEq)]
pub struct RemotePlayback {
    pub device_id: String,
    pub device_name: String,
    pub track_uri: String,
    /// Track name/artists/album from the player state's metadata when present.
    pub title: String,
    pub artists: Vec<String>,
    pub album: String,
    pub duration_ms: u64,
    pub is_playing: bool,
    /// The position was `position_ms` at `at`; extrapolate while playing.
    pub position_ms: u64,
    pub at: Instant,
    pub volume: Option<u16>,
    pub shuffle: bool,
    pub repeat_context: bool,
    pub repeat_track: bool,
}

/// A command from a remote controller (phone, another tonearm) for this receiver, with any
/// context already resolved to track ids. The TUI and the headless daemon both hand it to the
/// one core ([`crate::control`]), which turns it into player operations.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteCommand {
    /// `transfer` and `play`: replace the queue and start at `index`, `position_ms` in
    /// (already extrapolated for transfers), paused unless `play`. `context_uri` is what the
    /// tracks came from (reported back in the player state).
    Load {
        context_uri: String,
        ids: Vec<SpotifyId>,
        index: usize,
        position_ms: u64,
        play: bool,
        shuffle: Option<bool>,
        repeat_context: Option<bool>,
        repeat_track: Option<bool>,
    },
    Pause,
    Resume,
    SeekTo(u64),
    SkipNext,
    SkipPrev,
    SetShuffle(bool),
    SetRepeatContext(bool),
    SetRepeatTrack(bool),
    AddToQueue(SpotifyId),
    /// `set_queue`: what plays after the current track.
    SetQueue(Vec<SpotifyId>),
    /// `connect/volume`, `0..=65535`.
    SetVolume(u16),
    /// Another device became active: stop playing here (the session moved away).
    BecameInactive,
}

/// A command this tonearm sends to another device as a controller.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteControl {
    Pause,
    Resume,
    SkipNext,
    SkipPrev,
    SeekTo(u64),
    /// `0..=65535`.
    SetVolume(u16),
    SetShuffle(bool),
    SetRepeatContext(bool),
    SetRepeatTrack(bool),
    AddToQueue(String),
}

/// The Connect service's link state, shown in the now-playing bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectLink {
    Off,
    Connecting,
    /// Registered with connect-state; visible to the account's other devices.
    Online,
    /// Lost the dealer; reconnecting (attempt n).
    Reconnecting(u32),
}

/// What the Connect service tells its owner (the TUI loop or the daemon).
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectEvent {
    /// A remote controller asked this device to do something.
    Command(RemoteCommand),
    /// Something the user should see (a failed transfer, a lost dealer link...).
    Notice { error: bool, text: String },
}

/// The controller side of the Connect service as the TUI uses it. Calls are fire-and-forget:
/// results show up in the watches (devices, remote playback, link) and as
/// [`ConnectEvent::Notice`]s. A trait so the TUI can be tested with a fake.
pub trait Controller: Send + Sync {
    /// The merged device list (this device, the account's cluster, LAN devices from mDNS).
    fn devices(&self) -> tokio::sync::watch::Receiver<Vec<Device>>;
    /// Playback on the active device when it is not this one.
    fn remote(&self) -> tokio::sync::watch::Receiver<Option<RemotePlayback>>;
    fn link(&self) -> tokio::sync::watch::Receiver<ConnectLink>;
    /// Move playback to `device` (waking a LAN device nobody is logged in to first); moving it to
    /// this device pulls playback from whoever is active.
    fn transfer(&self, device: Device);
    /// Send a command to another device.
    fn control(&self, device_id: String, control: RemoteControl);
    /// Fetch the cluster / device list again.
    fn refresh(&self);
    /// This device's queue was loaded locally (the TUI) from `context_uri` (an album, playlist,
    /// artist or show URI; empty: no context): reported in the player state, so other devices
    /// show "playing from …".
    fn playing_context(&self, context_uri: String);
}

pub mod blob;
pub mod command;
pub mod dealer;
pub mod discovery;
pub mod mdns;
pub mod service;
pub mod state;
pub mod wake;

pub use service::{lan_devices, Connect, ConnectConfig, ConnectError};
