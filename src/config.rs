//! Configuration: the user's `config.toml` (raw serde structs that mirror the file, unknown keys
//! rejected) resolved into validated values. Every network endpoint is configurable; the defaults
//! are Spotify's real ones, and tests and the demo point them at the simulator.
//!
//! Called by `main.rs` before anything else starts; it must not depend on any service module
//! (services receive the resolved values instead).

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Spotify's access-point RSA-2048 modulus (protocol spec §2.5), used to verify the server's
/// handshake signature. The simulator signs with its own key, so tests override this.
pub const SPOTIFY_AP_KEY_MODULUS_HEX: &str = "ace0460bffc230aff46bfec3bfbf863da191c6cc336c93a14fb3b01612acac6af180e7f614d9429dbe2e346643e362d2327a1a0d923baedd1402b18155056104d52c96a44c1ecc024ad4b20c001f17edc22fc43521c8f0cbaed2add72b0f9db3c5321a2afe59f35a0dac68f1fa621efb2c8d0cb7392d9247e3d7351a6dbd24c2ae255b88ffab73298a0bcccd0c58673189e8bd3480784a5fc96b899d956bfc86d74f33a6781796c9c32d0d32a5abcd0527e2f710a39613c42f99c027bfed049c3c275804b6b219f9c12f02e94863eca1b642a09d4825f8b39dd0e86af9484da1c2ba863042ea9db3086c190e48b39d66eb0006a25aeea11b13873cd719e655bd";
/// The public exponent of the AP key.
pub const SPOTIFY_AP_KEY_EXPONENT: u32 = 65537;
/// Spotify's own desktop client id ("keymaster"); login5 only accepts ids like this one.
pub const SPOTIFY_CLIENT_ID: &str = "65b708073fc0480ea92a077233ca87bd";

/// Errors from reading or validating the config file. Each names the file and the bad value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: `{key}` = \"{value}\": {reason}")]
    Invalid {
        path: PathBuf,
        key: String,
        value: String,
        reason: String,
    },
}

/// The file as written (every field optional; unknown keys are an error).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// A running `tonearm sim`'s HTTP base URL: every endpoint comes from its
    /// `GET /_sim/endpoints` (see [`sim_endpoints`]).
    pub sim: Option<String>,
    #[serde(default)]
    pub device: RawDevice,
    #[serde(default)]
    pub endpoints: RawEndpoints,
    #[serde(default)]
    pub ui: RawUi,
    #[serde(default)]
    pub connect: RawConnect,
    #[serde(default)]
    pub control: RawControl,
    #[serde(default)]
    pub desktop: RawDesktop,
    /// Absent: no device guard.
    pub guard: Option<RawGuard>,
    #[serde(default)]
    pub hooks: RawHooks,
    #[serde(default)]
    pub remote: RawRemote,
}

/// `[remote]`: the guest remote (a web page and JSON API for guests on the LAN; off unless
/// `listen` is set or `--remote-listen` is passed).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRemote {
    /// `ADDR:PORT`, e.g. `0.0.0.0:8099`.
    pub listen: Option<String>,
    /// What a guest may do on joining (default `["enqueue", "pause"]`).
    pub default_permissions: Option<Vec<String>>,
    /// How long a guest's token lasts, seconds (default 12 h).
    pub token_ttl_s: Option<u64>,
    /// A guest's additions in the queue at once (default 10).
    pub max_queued_per_guest: Option<usize>,
    /// Guests at once (default 256).
    pub max_guests: Option<usize>,
    /// Requests a guest may make per minute on average (default 120).
    pub rate_per_min: Option<u32>,
    /// ... and in a burst (default 20).
    pub rate_burst: Option<u32>,
}

/// `[hooks]`: a user command run on events (track change, play/pause, intruder, connection).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHooks {
    /// The command; split into argv (quotes as in a shell) unless `shell = true`.
    pub on_event: Option<String>,
    /// Run it with `/bin/sh -c` (default false).
    pub shell: Option<bool>,
    /// Seconds before a running hook is killed (default 10).
    pub timeout_s: Option<u64>,
}

/// `[guard]`: the device guard (pauses or reports devices not on the allow-list).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGuard {
    /// Device ids or names (names case-insensitively) that may play on the account.
    #[serde(default)]
    pub allowed: Vec<String>,
    /// `notify` (default) or `pause`.
    pub action: Option<String>,
    /// Seconds between pauses of a device that keeps playing (default 10).
    pub interval_s: Option<u64>,
}

/// `[desktop]`: MPRIS and desktop notifications on the session bus.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDesktop {
    /// Offer the MPRIS 2 player on the session bus (default on).
    pub mpris: Option<bool>,
    /// A notification on track change (default: on in the TUI, off in the daemon).
    pub notifications: Option<bool>,
}

/// `[connect]`: the zeroconf receiver (LAN Connect target).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConnect {
    /// Serve zeroconf `getInfo`/`addUser` from the TUI too (the daemon serves it by default).
    pub zeroconf: Option<bool>,
    /// `any`, `same-account` or `none`.
    pub zeroconf_accept: Option<String>,
}

/// `[control]`: the local control API (`tonearm ctl`, scripts).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawControl {
    /// `false`: serve no control socket.
    pub enabled: Option<bool>,
    /// The Unix socket (default `$XDG_RUNTIME_DIR/tonearm/control.sock`).
    pub socket: Option<PathBuf>,
    /// An optional TCP listener, `127.0.0.1:PORT` (off by default; needs the bearer token).
    pub tcp: Option<String>,
    /// The TCP listener's bearer token (default: generated into a 0600 file in the state dir).
    pub token: Option<String>,
}

/// `[ui]`: TUI look and feel. Names are checked later by `uiconf` (themes may come from the
/// user's theme directory), so the positions are kept for its messages.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUi {
    pub theme: Option<toml::Spanned<String>>,
    pub keymap: Option<toml::Spanned<String>>,
    pub mouse: Option<bool>,
    /// `"auto"` | `"halfblocks"` | `"off"`.
    pub album_art: Option<String>,
    pub art_cache_mb: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDevice {
    pub name: Option<String>,
    pub id: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEndpoints {
    pub apresolve: Option<String>,
    pub access_points: Option<Vec<String>>,
    pub ap_key_modulus: Option<String>,
    pub ap_key_exponent: Option<u32>,
    pub login5: Option<String>,
    pub client_token: Option<String>,
    pub accounts: Option<String>,
    pub spclient: Option<String>,
    pub dealer: Option<String>,
    pub web_api: Option<String>,
}

/// Resolved endpoints. `access_points`, `spclient` and `dealer` are `None` when they should come
/// from apresolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Base URL of apresolve; the client appends `?type=accesspoint&type=dealer&type=spclient`.
    pub apresolve: String,
    /// Fixed `host:port` list that replaces apresolve for the access point.
    pub access_points: Option<Vec<String>>,
    /// Trusted AP signing key: big-endian modulus bytes.
    pub ap_key_modulus: Vec<u8>,
    pub ap_key_exponent: u32,
    pub login5: String,
    pub client_token: String,
    pub accounts: String,
    pub spclient: Option<String>,
    pub dealer: Option<String>,
    pub web_api: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            apresolve: "https://apresolve.spotify.com/".into(),
            access_points: None,
            ap_key_modulus: hex::decode(SPOTIFY_AP_KEY_MODULUS_HEX)
                .expect("the built-in AP modulus is valid hex"),
            ap_key_exponent: SPOTIFY_AP_KEY_EXPONENT,
            login5: "https://login5.spotify.com/v3/login".into(),
            client_token: "https://clienttoken.spotify.com/v1/clienttoken".into(),
            accounts: "https://accounts.spotify.com".into(),
            spclient: None,
            dealer: None,
            web_api: "https://api.spotify.com/v1".into(),
        }
    }
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `sim = "http://127.0.0.1:PORT"`: take the endpoints from that running simulator (the
    /// binary's edge fetches them; `--sim URL` wins over this).
    pub sim: Option<String>,
    pub device_name: String,
    /// 40 lower-case hex chars; by default SHA-1 of the device name (as librespot does).
    pub device_id: String,
    pub endpoints: Endpoints,
    pub ui: UiSettings,
    pub connect: ConnectSettings,
    pub control: ControlSettings,
    pub desktop: DesktopSettings,
    /// `[guard]`; `None`: no device guard.
    pub guard: Option<GuardSettings>,
    /// `[hooks] on_event`; `None`: no hooks.
    pub hooks: Option<HookSettings>,
    /// `[remote]`: the guest remote.
    pub remote: RemoteSettings,
}

/// The permission names `[remote] default_permissions` may use (the guest remote's
/// `Permission`s; a test there keeps the two lists equal).
pub const GUEST_PERMISSIONS: [&str; 7] = [
    "enqueue", "pause", "skip", "move", "volume", "remove", "admin",
];

/// `[remote]` resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSettings {
    /// `None`: no guest remote.
    pub listen: Option<std::net::SocketAddr>,
    /// Names from [`GUEST_PERMISSIONS`].
    pub default_permissions: Vec<String>,
    pub token_ttl_s: u64,
    pub max_queued_per_guest: usize,
    pub max_guests: usize,
    pub rate_per_min: u32,
    pub rate_burst: u32,
}

impl Default for RemoteSettings {
    fn default() -> Self {
        RemoteSettings {
            listen: None,
            default_permissions: vec!["enqueue".into(), "pause".into()],
            token_ttl_s: 12 * 3600,
            max_queued_per_guest: 10,
            max_guests: 256,
            rate_per_min: 120,
            rate_burst: 20,
        }
    }
}

/// `[remote]` checked: an `address:port`, known permission names, limits in sane ranges.
fn resolve_remote(raw: RawRemote) -> Result<RemoteSettings, (String, String, String)> {
    let err = |k: &str, v: &str, r: &str| (format!("remote.{k}"), v.to_string(), r.to_string());
    let d = RemoteSettings::default();
    let listen = match &raw.listen {
        None => None,
        Some(t) => Some(
            t.parse::<std::net::SocketAddr>()
                .map_err(|_| err("listen", t, "must be address:port, e.g. 0.0.0.0:8099"))?,
        ),
    };
    let default_permissions = match raw.default_permissions {
        None => d.default_permissions,
        Some(list) => {
            if let Some(bad) = list
                .iter()
                .find(|p| !GUEST_PERMISSIONS.contains(&p.as_str()))
            {
                return Err(err(
                    "default_permissions",
                    bad,
                    &format!("must be among {}", GUEST_PERMISSIONS.join(", ")),
                ));
            }
            list
        }
    };
    let in_range = |k: &str, v: Option<u64>, lo: u64, hi: u64, def: u64| match v {
        None => Ok(def),
        Some(v) if (lo..=hi).contains(&v) => Ok(v),
        Some(v) => Err(err(k, &v.to_string(), &format!("must be {lo}..={hi}"))),
    };
    Ok(RemoteSettings {
        listen,
        default_permissions,
        token_ttl_s: in_range("token_ttl_s", raw.token_ttl_s, 60, 7 * 86400, d.token_ttl_s)?,
        max_queued_per_guest: in_range(
            "max_queued_per_guest",
            raw.max_queued_per_guest.map(|v| v as u64),
            1,
            500,
            d.max_queued_per_guest as u64,
        )? as usize,
        max_guests: in_range(
            "max_guests",
            raw.max_guests.map(|v| v as u64),
            1,
            10_000,
            d.max_guests as u64,
        )? as usize,
        rate_per_min: in_range(
            "rate_per_min",
            raw.rate_per_min.map(u64::from),
            1,
            60_000,
            u64::from(d.rate_per_min),
        )? as u32,
        rate_burst: in_range(
            "rate_burst",
            raw.rate_burst.map(u64::from),
            1,
            10_000,
            u64::from(d.rate_burst),
        )? as u32,
    })
}

/// `[hooks]` resolved: what to run (argv, or one shell command line) and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookSettings {
    /// Without a shell: the program and its arguments. With `shell`: `["/bin/sh", "-c", line]`.
    pub argv: Vec<String>,
    pub timeout: std::time::Duration,
}

/// A hook's default time limit.
pub const HOOK_TIMEOUT_DEFAULT_S: u64 = 10;

/// `[hooks]` checked; `None` without `on_event`.
fn resolve_hooks(raw: RawHooks) -> Result<Option<HookSettings>, (String, String, String)> {
    let err = |k: &str, v: &str, r: &str| (format!("hooks.{k}"), v.to_string(), r.to_string());
    let secs = raw.timeout_s.unwrap_or(HOOK_TIMEOUT_DEFAULT_S);
    if !(1..=3600).contains(&secs) {
        return Err(err(
            "timeout_s",
            &secs.to_string(),
            "must be 1 to 3600 seconds",
        ));
    }
    let Some(line) = raw.on_event else {
        return Ok(None);
    };
    let argv = if raw.shell == Some(true) {
        vec!["/bin/sh".to_string(), "-c".to_string(), line.clone()]
    } else {
        split_argv(&line).map_err(|reason| err("on_event", &line, reason))?
    };
    if argv.first().is_none_or(|p| p.is_empty()) || line.trim().is_empty() {
        return Err(err("on_event", &line, "must name a command"));
    }
    Ok(Some(HookSettings {
        argv,
        timeout: std::time::Duration::from_secs(secs),
    }))
}

/// Splits a command line into words as a POSIX shell would without expanding anything (the
/// `shlex` crate): blanks separate, `'…'` is literal, `"…"` groups, a backslash escapes; no
/// variables, globs or pipes.
pub fn split_argv(line: &str) -> Result<Vec<String>, &'static str> {
    shlex::split(line).ok_or("unclosed quote or a trailing backslash")
}

/// What the device guard does about a device not on its list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardAction {
    /// Report it (log, control-API event, TUI notification).
    Notify,
    /// Report it and pause it, again every interval while it keeps playing.
    Pause,
}

/// `[guard]` resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardSettings {
    /// Device ids (matched first) or names (case-insensitive, exact).
    pub allowed: Vec<String>,
    pub action: GuardAction,
    pub interval: std::time::Duration,
}

/// The guard's default interval between pauses.
pub const GUARD_INTERVAL_DEFAULT_S: u64 = 10;

/// `[guard]` checked: the action is one of the two, the interval 1 s to a day.
fn resolve_guard(raw: RawGuard) -> Result<GuardSettings, (String, String, String)> {
    let err = |k: &str, v: &str, r: &str| (format!("guard.{k}"), v.to_string(), r.to_string());
    let action = match raw.action.as_deref().map(|a| a.trim().to_ascii_lowercase()) {
        None => GuardAction::Notify,
        Some(a) if a == "notify" => GuardAction::Notify,
        Some(a) if a == "pause" => GuardAction::Pause,
        Some(a) => return Err(err("action", &a, "must be notify or pause")),
    };
    let secs = raw.interval_s.unwrap_or(GUARD_INTERVAL_DEFAULT_S);
    if !(1..=86_400).contains(&secs) {
        return Err(err(
            "interval_s",
            &secs.to_string(),
            "must be 1 to 86400 seconds",
        ));
    }
    let mut allowed = Vec::new();
    for a in raw.allowed {
        let a = a.trim().to_string();
        if a.is_empty() {
            return Err(err("allowed", "", "entries must not be empty"));
        }
        allowed.push(a);
    }
    Ok(GuardSettings {
        allowed,
        action,
        interval: std::time::Duration::from_secs(secs),
    })
}

/// The `[desktop]` section: `mpris` on unless turned off; `notifications` `None` = not set (on
/// in the TUI, off in the daemon, which usually runs where nobody reads them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DesktopSettings {
    pub mpris: bool,
    pub notifications: Option<bool>,
}

impl Default for DesktopSettings {
    fn default() -> Self {
        DesktopSettings {
            mpris: true,
            notifications: None,
        }
    }
}

/// Which zeroconf logins (`addUser`) a receiver accepts: the accept policy of SECURITY.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZeroconfAccept {
    /// Any account: a phone of another account takes the device over.
    Any,
    /// Only the account the device is signed in to (the user name compared
    /// case-insensitively); before the first login, the first one.
    SameAccount,
    /// No zeroconf login at all.
    Nobody,
}

impl ZeroconfAccept {
    /// The value as written in the config and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ZeroconfAccept::Any => "any",
            ZeroconfAccept::SameAccount => "same-account",
            ZeroconfAccept::Nobody => "none",
        }
    }
}

impl std::str::FromStr for ZeroconfAccept {
    type Err = String;

    fn from_str(s: &str) -> Result<ZeroconfAccept, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "any" => Ok(ZeroconfAccept::Any),
            "same-account" | "same_account" => Ok(ZeroconfAccept::SameAccount),
            "none" => Ok(ZeroconfAccept::Nobody),
            _ => Err("must be one of any, same-account, none".into()),
        }
    }
}

/// The `[connect]` section; `None` = not set (the defaults: the TUI serves no zeroconf; the
/// policy is same-account once signed in and any while waiting for the first login).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectSettings {
    pub zeroconf: Option<bool>,
    pub zeroconf_accept: Option<ZeroconfAccept>,
}

/// `[control]` resolved. The library default serves nothing (`serve: false`: tests and embedders
/// that build a [`Config`] open no socket); the binary's edge (`cli::load_config`) turns it on
/// unless the file or `--no-control-socket` says otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ControlSettings {
    /// Serve the control API (TUI and daemon).
    pub serve: bool,
    /// `[control] enabled = false` in the file.
    pub disabled: bool,
    /// The socket path; `None`: the default place.
    pub socket: Option<PathBuf>,
    /// The optional TCP listener.
    pub tcp: Option<std::net::SocketAddr>,
    /// The TCP listener's bearer token; `None`: generated into a file.
    pub token: Option<String>,
}

/// A config value with where it was written (`path:line:col`), for errors found after parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub value: String,
    pub at: String,
}

/// The `[ui]` section as written; `None` = not set (uiconf applies the defaults: theme
/// "default", keymap "default", mouse on).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UiSettings {
    pub theme: Option<Setting>,
    pub keymap: Option<Setting>,
    pub mouse: Option<bool>,
    /// How covers are drawn (default: ask the terminal).
    pub album_art: AlbumArt,
    /// The covers' disk cache cap in MiB (`None`: [`DEFAULT_ART_CACHE_MB`]; 0: no disk cache).
    pub art_cache_mb: Option<u64>,
}

/// The covers' disk cache cap when `[ui] art_cache_mb` is not set.
pub const DEFAULT_ART_CACHE_MB: u64 = 50;

/// `[ui] album_art`: how album covers are drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AlbumArt {
    /// Ask the terminal at start-up (kitty, iTerm2, sixel), half-blocks when it supports none.
    #[default]
    Auto,
    /// Coloured half-block characters (any terminal with true colour).
    Halfblocks,
    /// No covers (nothing fetched).
    Off,
}

impl std::str::FromStr for AlbumArt {
    type Err = String;

    fn from_str(s: &str) -> Result<AlbumArt, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(AlbumArt::Auto),
            "halfblocks" | "half-blocks" => Ok(AlbumArt::Halfblocks),
            "off" | "none" => Ok(AlbumArt::Off),
            _ => Err("must be one of auto, halfblocks, off".into()),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        let device_name = "tonearm".to_string();
        Config {
            sim: None,
            device_id: device_id_for(&device_name),
            device_name,
            endpoints: Endpoints::default(),
            ui: UiSettings::default(),
            connect: ConnectSettings::default(),
            control: ControlSettings::default(),
            desktop: DesktopSettings::default(),
            guard: None,
            hooks: None,
            remote: RemoteSettings::default(),
        }
    }
}

/// Lower-case hex SHA-1 of the device name: stable across restarts, 40 chars as Connect expects.
pub fn device_id_for(name: &str) -> String {
    use sha1::{Digest, Sha1};
    hex::encode(Sha1::digest(name.as_bytes()))
}

/// Default config file path: `$XDG_CONFIG_HOME/tonearm/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    crate::paths::config_dir().map(|d| d.join("config.toml"))
}

/// Loads and resolves `path`. A missing file at the *default* path is not an error (defaults);
/// a missing file that the user named explicitly is.
pub fn load(path: &Path, explicit: bool) -> Result<Config, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(Config::default())
        }
        Err(source) => {
            return Err(ConfigError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    parse(&text, path)
}

/// Parses and resolves config text; `path` is only used in error messages.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
        ConfigError::Parse {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().to_string(),
        }
    })?;
    resolve(raw, text, path)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, column)
}

fn resolve(raw: RawConfig, text: &str, path: &Path) -> Result<Config, ConfigError> {
    let invalid = |key: &str, value: &str, reason: &str| ConfigError::Invalid {
        path: path.to_path_buf(),
        key: key.into(),
        value: value.into(),
        reason: reason.into(),
    };
    let mut cfg = Config::default();
    if let Some(name) = raw.device.name {
        if name.trim().is_empty() {
            return Err(invalid("device.name", &name, "must not be empty"));
        }
        cfg.device_id = device_id_for(&name);
        cfg.device_name = name;
    }
    if let Some(id) = raw.device.id {
        if id.len() != 40
            || !id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Err(invalid(
                "device.id",
                &id,
                "must be 40 lower-case hex characters",
            ));
        }
        cfg.device_id = id;
    }
    apply_endpoints(&mut cfg.endpoints, &raw.endpoints)
        .map_err(|(key, value, reason)| invalid(&key, &value, &reason))?;
    if let Some(url) = raw.sim {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(invalid(
                "sim",
                &url,
                "must be the simulator's http URL, e.g. http://127.0.0.1:PORT",
            ));
        }
        cfg.sim = Some(url);
    }
    let setting = |s: toml::Spanned<String>| {
        let (line, column) = line_col(text, s.span().start);
        Setting {
            at: format!("{}:{line}:{column}", path.display()),
            value: s.into_inner(),
        }
    };
    cfg.ui = UiSettings {
        theme: raw.ui.theme.map(setting),
        keymap: raw.ui.keymap.map(setting),
        mouse: raw.ui.mouse,
        album_art: match raw.ui.album_art {
            Some(v) => v
                .parse::<AlbumArt>()
                .map_err(|reason| invalid("ui.album_art", &v, &reason))?,
            None => AlbumArt::Auto,
        },
        art_cache_mb: raw.ui.art_cache_mb,
    };
    let zeroconf_accept = match raw.connect.zeroconf_accept {
        Some(v) => Some(
            v.parse::<ZeroconfAccept>()
                .map_err(|reason| invalid("connect.zeroconf_accept", &v, &reason))?,
        ),
        None => None,
    };
    cfg.connect = ConnectSettings {
        zeroconf: raw.connect.zeroconf,
        zeroconf_accept,
    };
    cfg.control = resolve_control(raw.control).map_err(|(k, v, r)| invalid(&k, &v, &r))?;
    cfg.desktop = DesktopSettings {
        mpris: raw.desktop.mpris.unwrap_or(true),
        notifications: raw.desktop.notifications,
    };
    cfg.guard = match raw.guard {
        Some(g) => Some(resolve_guard(g).map_err(|(k, v, r)| invalid(&k, &v, &r))?),
        None => None,
    };
    cfg.hooks = resolve_hooks(raw.hooks).map_err(|(k, v, r)| invalid(&k, &v, &r))?;
    cfg.remote = resolve_remote(raw.remote).map_err(|(k, v, r)| invalid(&k, &v, &r))?;
    Ok(cfg)
}

/// `[control]` checked: the TCP listener must be a loopback `address:port` (the API is for
/// this machine; guests on the LAN get their own listener), a token at least 16 characters.
fn resolve_control(raw: RawControl) -> Result<ControlSettings, (String, String, String)> {
    let err = |k: &str, v: &str, r: &str| (format!("control.{k}"), v.to_string(), r.to_string());
    let tcp = match &raw.tcp {
        None => None,
        Some(t) => match t.parse::<std::net::SocketAddr>() {
            Ok(a) if a.ip().is_loopback() => Some(a),
            Ok(_) => return Err(err("tcp", t, "must be a loopback address (127.0.0.1:PORT)")),
            Err(_) => return Err(err("tcp", t, "must be address:port, e.g. 127.0.0.1:7799")),
        },
    };
    if let Some(t) = &raw.token {
        if t.len() < 16 || !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(err(
                "token",
                "(hidden)",
                "must be at least 16 printable characters without spaces",
            ));
        }
    }
    if let Some(p) = &raw.socket {
        if !p.is_absolute() {
            return Err(err(
                "socket",
                &p.display().to_string(),
                "must be an absolute path",
            ));
        }
    }
    Ok(ControlSettings {
        serve: false,
        disabled: raw.enabled == Some(false),
        socket: raw.socket,
        tcp,
        token: raw.token,
    })
}

/// Lays `raw` over `ep`, validating each value. Used for the file and for CLI overrides alike.
/// On error returns (key, value, reason).
/// Why a simulator's endpoints answer could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimEndpointsError {
    #[error("the answer is not the simulator's endpoints JSON: {0}")]
    NotEndpoints(String),
    #[error("the simulator's `{key}` = \"{value}\": {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
}

/// What `GET /_sim/endpoints` answers (`tonearm-sim`'s `SimEndpoints`; the field names of
/// `tonearm sim`'s info line). Every field is required: a partial answer is not a simulator's.
#[derive(Debug, Deserialize)]
struct SimEndpointsJson {
    apresolve: String,
    ap_key: SimApKeyJson,
    login5: String,
    client_token: String,
    accounts_url: String,
    spclient: String,
    dealer: String,
    web_api: String,
}

#[derive(Debug, Deserialize)]
struct SimApKeyJson {
    modulus: String,
    exponent: u32,
}

/// The endpoints a running simulator's `GET /_sim/endpoints` answer (`body`) stands for,
/// applied over `ep` (checked as the config file's `[endpoints]` are).
pub fn sim_endpoints(ep: &mut Endpoints, body: &str) -> Result<(), SimEndpointsError> {
    let j: SimEndpointsJson =
        serde_json::from_str(body).map_err(|e| SimEndpointsError::NotEndpoints(e.to_string()))?;
    let raw = RawEndpoints {
        apresolve: Some(j.apresolve),
        access_points: None,
        ap_key_modulus: Some(j.ap_key.modulus),
        ap_key_exponent: Some(j.ap_key.exponent),
        login5: Some(j.login5),
        client_token: Some(j.client_token),
        accounts: Some(j.accounts_url),
        spclient: Some(j.spclient),
        dealer: Some(j.dealer),
        web_api: Some(j.web_api),
    };
    let mut next = ep.clone();
    apply_endpoints(&mut next, &raw)
        .map_err(|(key, value, reason)| SimEndpointsError::Invalid { key, value, reason })?;
    *ep = next;
    Ok(())
}

pub fn apply_endpoints(
    ep: &mut Endpoints,
    raw: &RawEndpoints,
) -> Result<(), (String, String, String)> {
    let err = |k: &str, v: &str, r: &str| (format!("endpoints.{k}"), v.to_string(), r.to_string());
    let url = |k: &str, v: &Option<String>| -> Result<Option<String>, (String, String, String)> {
        match v {
            None => Ok(None),
            Some(v) if v.starts_with("http://") || v.starts_with("https://") => Ok(Some(v.clone())),
            Some(v) if k == "dealer" && (v.starts_with("ws://") || v.starts_with("wss://")) => {
                Ok(Some(v.clone()))
            }
            Some(v) => Err(err(k, v, "must be an http(s) URL")),
        }
    };
    if let Some(v) = url("apresolve", &raw.apresolve)? {
        ep.apresolve = v;
    }
    if let Some(list) = &raw.access_points {
        for ap in list {
            match ap.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
                _ => return Err(err("access_points", ap, "must be host:port")),
            }
        }
        ep.access_points = Some(list.clone());
    }
    if let Some(m) = &raw.ap_key_modulus {
        let bytes = hex::decode(m.trim()).map_err(|_| err("ap_key_modulus", m, "must be hex"))?;
        if bytes.len() < 128 {
            return Err(err(
                "ap_key_modulus",
                m,
                "must be an RSA modulus of at least 1024 bits",
            ));
        }
        ep.ap_key_modulus = bytes;
    }
    if let Some(e) = raw.ap_key_exponent {
        if e < 3 || e % 2 == 0 {
            return Err(err(
                "ap_key_exponent",
                &e.to_string(),
                "must be an odd number ≥ 3",
            ));
        }
        ep.ap_key_exponent = e;
    }
    if let Some(v) = url("login5", &raw.login5)? {
        ep.login5 = v;
    }
    if let Some(v) = url("client_token", &raw.client_token)? {
        ep.client_token = v;
    }
    if let Some(v) = url("accounts", &raw.accounts)? {
        ep.accounts = v;
    }
    if let Some(v) = url("spclient", &raw.spclient)? {
        ep.spclient = Some(v);
    }
    if let Some(v) = url("dealer", &raw.dealer)? {
        ep.dealer = Some(v);
    }
    if let Some(v) = url("web_api", &raw.web_api)? {
        ep.web_api = v;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
