//! The command line's shape: clap's derive structs for `tonearm` and every subcommand, and the
//! endpoint overrides as the config's [`RawEndpoints`]. Parsed by `main.rs`; each command module
//! reads its own `…Args`. Plain data: no I/O, nothing from the command modules.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{RawEndpoints, ZeroconfAccept};

#[derive(Parser)]
#[command(
    name = "tonearm",
    version,
    about = "A terminal Spotify client and Connect speaker"
)]
pub struct Cli {
    /// Config file (default: $XDG_CONFIG_HOME/tonearm/config.toml).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Start the offline simulator in-process and sign in as its premium demo account
    /// (no files or keyring touched).
    #[arg(long, global = true)]
    pub demo: bool,
    /// Log file (default: $XDG_STATE_HOME/tonearm/tonearm.log).
    #[arg(long, global = true, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
    /// Log filter, e.g. `info` or `tonearm=debug` (TONEARM_LOG overrides).
    #[arg(long, global = true, default_value = "info")]
    pub log_level: String,
    /// Device name shown to other Spotify clients.
    #[arg(long, global = true)]
    pub device_name: Option<String>,
    /// The local control API's Unix socket (default: $XDG_RUNTIME_DIR/tonearm/control.sock);
    /// the TUI and the daemon serve it, `tonearm ctl` connects to it.
    #[arg(long, global = true, value_name = "PATH")]
    pub control_socket: Option<PathBuf>,
    /// Serve no local control API.
    #[arg(long, global = true)]
    pub no_control_socket: bool,
    /// Serve the guest remote (web page + JSON API for guests) on ADDR:PORT, e.g.
    /// 0.0.0.0:8099 (overrides `[remote] listen`; needs the control API).
    #[arg(long, global = true, value_name = "ADDR:PORT")]
    pub remote_listen: Option<std::net::SocketAddr>,

    /// A running `tonearm sim`'s HTTP URL (the `spclient` it prints): every endpoint comes
    /// from it (config: `sim = "URL"`); the endpoint flags below still override single ones.
    /// Before the command: `tonearm --sim URL status`.
    #[arg(long = "sim", value_name = "URL")]
    pub sim: Option<String>,
    #[command(flatten)]
    pub endpoints: EndpointArgs,
    #[command(flatten)]
    pub tui: TuiArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options of the terminal UI (`tonearm` with no subcommand).
#[derive(Args)]
pub struct TuiArgs {
    /// Validate the config, keymap and themes, print a summary, and exit (1 when invalid).
    #[arg(long)]
    pub check_config: bool,
    /// Where audio goes: cpal (default device), cpal:<device>, wav:<path>, pipe, null.
    #[arg(long, default_value = "cpal")]
    pub sink: String,
    /// Streaming bitrate: 96, 160 or 320.
    #[arg(long, default_value = "320")]
    pub bitrate: String,
    /// Volume in percent at start (default: the volume saved with the queue).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub volume: Option<u8>,
    /// Be a LAN Connect target too: serve zeroconf getInfo/addUser and advertise over mDNS
    /// (off by default; `[connect] zeroconf = true` in the config turns it on).
    #[arg(long)]
    pub zeroconf: bool,
    /// Zeroconf HTTP port with --zeroconf (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub zeroconf_port: u16,
    /// Address the zeroconf endpoint listens on (default: all IPv4 interfaces; a loopback
    /// address is never advertised).
    #[arg(long, value_name = "IP", default_value = "0.0.0.0")]
    pub zeroconf_bind: IpAddr,
    /// Whose zeroconf logins are taken: any, same-account (the default once signed in) or none.
    #[arg(long, value_name = "POLICY", value_parser = parse_accept)]
    pub zeroconf_accept: Option<ZeroconfAccept>,
}

/// `--zeroconf-accept` values.
fn parse_accept(s: &str) -> Result<ZeroconfAccept, String> {
    s.parse()
}

/// Endpoint overrides (defaults: Spotify's real endpoints, or the config file).
#[derive(Args, Default)]
pub struct EndpointArgs {
    /// apresolve base URL.
    #[arg(long, global = true, value_name = "URL")]
    pub apresolve_url: Option<String>,
    /// Access point `host:port` to use instead of apresolve (repeatable).
    #[arg(long = "ap", global = true, value_name = "HOST:PORT")]
    pub access_points: Vec<String>,
    /// Trusted AP RSA modulus, hex.
    #[arg(long, global = true, value_name = "HEX")]
    pub ap_key_modulus: Option<String>,
    /// Trusted AP RSA public exponent.
    #[arg(long, global = true)]
    pub ap_key_exponent: Option<u32>,
    #[arg(long, global = true, value_name = "URL")]
    pub login5_url: Option<String>,
    #[arg(long, global = true, value_name = "URL")]
    pub client_token_url: Option<String>,
    #[arg(long, global = true, value_name = "URL")]
    pub accounts_url: Option<String>,
    #[arg(long, global = true, value_name = "URL")]
    pub spclient_url: Option<String>,
    #[arg(long, global = true, value_name = "URL")]
    pub dealer_url: Option<String>,
    #[arg(long, global = true, value_name = "URL")]
    pub web_api_url: Option<String>,
}

impl EndpointArgs {
    pub fn to_raw(&self) -> RawEndpoints {
        RawEndpoints {
            apresolve: self.apresolve_url.clone(),
            access_points: (!self.access_points.is_empty()).then(|| self.access_points.clone()),
            ap_key_modulus: self.ap_key_modulus.clone(),
            ap_key_exponent: self.ap_key_exponent,
            login5: self.login5_url.clone(),
            client_token: self.client_token_url.clone(),
            accounts: self.accounts_url.clone(),
            spclient: self.spclient_url.clone(),
            dealer: self.dealer_url.clone(),
            web_api: self.web_api_url.clone(),
        }
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the offline Spotify simulator; prints one JSON line with its endpoints first.
    // Without the `demo` feature the command still parses (and says this build has no
    // simulator) but is left out of the help.
    #[cfg_attr(not(feature = "demo"), command(hide = true))]
    Sim(SimArgs),
    /// Sign in (browser by default, --device for SSH/headless) and store the reusable
    /// credentials in the OS keyring, or a 0600 file when no keyring service exists.
    Login(LoginArgs),
    /// Remove stored credentials from the keyring and the credential file.
    Logout,
    /// Connect with the stored credentials and show the session (with --demo: a protocol tour).
    Status,
    /// Play tracks, albums or artists (Spotify URIs or open.spotify.com links) to the end.
    Play(PlayArgs),
    /// Show your library: playlists, Liked Songs, albums, artists, shows (cached, then refreshed).
    Library(LibraryArgs),
    /// Search Spotify's catalog.
    Search(SearchArgs),
    /// Run as a Spotify Connect speaker without the UI (until SIGTERM/Ctrl-C).
    Daemon(DaemonArgs),
    /// Control the running tonearm (TUI or daemon) through its local control API.
    Ctl(CtlArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
}

#[derive(Args)]
pub struct CompletionsArgs {
    pub shell: clap_complete::Shell,
}

#[derive(Args)]
pub struct CtlArgs {
    /// Print the API's JSON answer (see docs/control-api.md) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Use the TCP listener at this address instead of the socket (needs the bearer token).
    #[arg(long, global = true, value_name = "ADDR:PORT")]
    pub tcp: Option<std::net::SocketAddr>,
    /// The TCP listener's token file (default: control.token beside the socket; or set
    /// TONEARM_CONTROL_TOKEN).
    #[arg(long, global = true, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Subcommand, Clone)]
pub enum CtlCommand {
    /// What plays, where and how.
    Status,
    /// Resume playback.
    Play,
    Pause,
    /// Play/pause.
    Toggle,
    Next,
    /// Previous track (or the start of this one when more than 3 s in).
    Prev,
    /// Seek: `83` or `1:23` (absolute), `+10` / `-10` (seconds, relative).
    Seek {
        #[arg(allow_hyphen_values = true)]
        position: String,
    },
    /// Volume in percent: `60`, or a step `+5` / `-5`.
    Volume {
        #[arg(allow_hyphen_values = true)]
        level: String,
    },
    /// Shuffle on or off.
    Shuffle {
        state: OnOff,
    },
    /// Repeat mode.
    Repeat {
        mode: RepeatArg,
    },
    /// The queue (list, add, next, remove, move, clear).
    Queue {
        #[command(subcommand)]
        command: Option<QueueCommand>,
    },
    /// Play tracks, albums or artists (URIs or open.spotify.com links), replacing the queue.
    PlayUri {
        #[arg(required = true)]
        uris: Vec<String>,
        /// Start at this track of the resulting queue.
        #[arg(long, default_value_t = 0)]
        index: usize,
    },
    /// Search the catalog and play the first track found.
    PlaySearch {
        #[arg(required = true)]
        query: Vec<String>,
    },
    /// The account's devices.
    Devices,
    /// Move playback to a device (id or exact name).
    Transfer {
        device: String,
    },
    /// Save a track to Liked Songs (default: the current one).
    Like {
        uri: Option<String>,
    },
    /// Remove a track from Liked Songs (default: the current one).
    Unlike {
        uri: Option<String>,
    },
    /// The guest remote's guests (list, grant, revoke, ban).
    Guests {
        #[command(subcommand)]
        command: Option<GuestsCommand>,
    },
    /// Print events as they happen, one JSON object per line.
    Events {
        /// Stop after this many events (the `hello` included).
        #[arg(long)]
        count: Option<usize>,
    },
}

#[derive(Subcommand, Clone)]
pub enum QueueCommand {
    /// List the queue (the default).
    List,
    /// Add after the current track and earlier additions (Spotify's order).
    Add {
        #[arg(required = true)]
        uris: Vec<String>,
    },
    /// Play right after the current track.
    Next {
        #[arg(required = true)]
        uris: Vec<String>,
    },
    /// Remove the entry at this index (as `queue list` shows it).
    Remove { index: usize },
    /// Move the entry at FROM to TO.
    Move { from: usize, to: usize },
    /// Remove everything but the current track.
    Clear,
}

#[derive(Subcommand, Clone)]
pub enum GuestsCommand {
    /// List the guests and their permissions (the default).
    List,
    /// Give a guest a permission: enqueue, pause, skip, move, volume, remove, admin.
    Grant { name: String, permission: String },
    /// Take a permission from a guest.
    Revoke { name: String, permission: String },
    /// Refuse the guest's token and block the name until tonearm restarts.
    Ban { name: String },
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum OnOff {
    On,
    Off,
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum RepeatArg {
    Off,
    All,
    One,
}

#[derive(Args)]
pub struct DaemonArgs {
    /// Device name shown in Spotify apps (default: the config's device name).
    #[arg(long)]
    pub name: Option<String>,
    /// Device type: computer, speaker, tv, avr, stb, audiodongle, smartphone, tablet, ...
    #[arg(long, default_value = "speaker")]
    pub device_type: String,
    /// Streaming bitrate: 96, 160 or 320.
    #[arg(long, default_value = "320")]
    pub bitrate: String,
    /// Where audio goes: cpal (default device), cpal:<device>, wav:<path>, pipe, null.
    #[arg(long, default_value = "cpal")]
    pub sink: String,
    /// Initial volume in percent (logarithmic curve).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub volume: u8,
    /// Advertise on the LAN (mDNS) and accept logins handed over by phones (zeroconf).
    #[arg(long, overrides_with = "no_zeroconf")]
    pub zeroconf: bool,
    /// Do not advertise or accept zeroconf logins (then stored credentials are required).
    #[arg(long)]
    pub no_zeroconf: bool,
    /// Zeroconf HTTP port (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub zeroconf_port: u16,
    /// Address the zeroconf endpoint listens on (default: all IPv4 interfaces; a loopback
    /// address is never advertised).
    #[arg(long, value_name = "IP", default_value = "0.0.0.0")]
    pub zeroconf_bind: IpAddr,
    /// Store credentials handed over by a phone (zeroconf addUser) for the next start, in an
    /// entry of their own (never over the credentials of `tonearm login`).
    #[arg(long)]
    pub store_credentials: bool,
    /// Whose zeroconf logins are taken: any, same-account (the default once signed in; any
    /// while waiting for the first login) or none.
    #[arg(long, value_name = "POLICY", value_parser = parse_accept)]
    pub zeroconf_accept: Option<ZeroconfAccept>,
}

#[derive(Args)]
pub struct LibraryArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Fetch the library before printing instead of showing the cached copy first.
    #[arg(long)]
    pub refresh: bool,
}

#[derive(Args)]
pub struct SearchArgs {
    /// What to look for (Spotify's search syntax, e.g. `artist:miles year:1959`).
    #[arg(required = true)]
    pub query: Vec<String>,
    /// Kinds of results, comma-separated: track, album, artist, playlist, show, episode.
    #[arg(
        long = "type",
        value_delimiter = ',',
        default_value = "track,album,artist,playlist"
    )]
    pub types: Vec<String>,
    /// Results per kind.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub limit: u32,
    /// Index of the first result (for the next page).
    #[arg(long, default_value_t = 0)]
    pub offset: u32,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct PlayArgs {
    /// Tracks, albums or artists to play, in order. With --demo and none: the demo album.
    pub uris: Vec<String>,
    /// Where audio goes: cpal (default device), cpal:<device>, wav:<path>, pipe, null.
    #[arg(long, default_value = "cpal")]
    pub sink: String,
    /// Streaming bitrate: 96, 160 or 320.
    #[arg(long, default_value = "320")]
    pub bitrate: String,
    /// Volume in percent (logarithmic curve).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub volume: u8,
    /// Normalise loudness with the tracks' replay-gain values.
    #[arg(long)]
    pub normalise: bool,
    /// Extra gain in dB applied by normalisation (with --normalise).
    #[arg(
        long,
        default_value_t = 0.0,
        allow_negative_numbers = true,
        requires = "normalise"
    )]
    pub pregain: f32,
}

#[derive(Args)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub listen: IpAddr,
    /// HTTP port (apresolve, accounts, login5, client-token, Web API, spclient, dealer, CDN);
    /// 0 = ephemeral.
    #[arg(long, default_value_t = 0)]
    pub http_port: u16,
    /// Access-point TCP ports (repeatable); default two ephemeral ports.
    #[arg(long = "ap-port")]
    pub ap_ports: Vec<u16>,
    /// Directory where issued credentials and tokens persist across restarts.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Refuse password logins as today's Spotify does.
    #[arg(long)]
    pub no_password_login: bool,
    /// Seconds between a PongAck and the next Ping.
    #[arg(long, default_value_t = 60)]
    pub ping_interval: u64,
    /// Add this many synthetic tracks to the demo catalog (scale tests: 10000, 100000).
    #[arg(long, default_value_t = 0)]
    pub catalog_tracks: usize,
    /// Give the demo account this many saved tracks from the catalog (with `--catalog-tracks`
    /// at least as large; 0 = the demo library): the TUI session bench's library, by hand.
    #[arg(long, default_value_t = 0)]
    pub library_tracks: usize,
    #[command(subcommand)]
    pub action: Option<SimAction>,
}

#[derive(Subcommand)]
pub enum SimAction {
    /// A scripted phone: signs in to a running simulator, shows up as a smartphone in the
    /// account's Connect devices and sends one command; prints the answer as JSON.
    Phone(PhoneArgs),
    /// Inject a fault into a running simulator (revoke_tokens, revoke_credentials,
    /// drop_ap_connections, dealer_flap, stall_cdn, rate_limit, black_hole, clear); prints the
    /// simulator's acknowledgement as JSON.
    Fault(FaultArgs),
    /// Print a running simulator's counters (login5 requests, dealer connections, …) as JSON.
    Stats(SimAdminArgs),
}

#[derive(Args)]
pub struct SimAdminArgs {
    /// The running simulator's HTTP base URL (its `spclient`), e.g. http://127.0.0.1:PORT.
    #[arg(long = "sim", env = "TONEARM_SIM", value_name = "URL")]
    pub sim_url: Option<String>,
}

#[derive(Args)]
pub struct FaultArgs {
    /// The fault's name (see crates/tonearm-sim/FAULTS.md).
    pub name: String,
    /// A parameter as KEY=VALUE (repeatable); VALUE is read as JSON when it parses
    /// (`times=20`, `http=true`), else as a string (`service=both`).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    #[command(flatten)]
    pub admin: SimAdminArgs,
}

#[derive(Args)]
pub struct PhoneArgs {
    /// The running simulator's HTTP base URL (its `spclient`), e.g. http://127.0.0.1:PORT
    /// (before or after the command).
    #[arg(long = "sim", global = true, env = "TONEARM_SIM", value_name = "URL")]
    pub sim_url: Option<String>,
    /// Account to sign in as.
    #[arg(long, default_value = "tonearm-demo")]
    pub username: String,
    /// Its password (default: the built-in account's).
    #[arg(long, env = "TONEARM_SIM_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// The phone's name in device lists.
    #[arg(long, default_value = "Sim Phone")]
    pub name: String,
    /// Device (name or id) commands go to; default: the active device. Accepted before or
    /// after the command (`phone play --device NAME URI`).
    #[arg(long, global = true, value_name = "NAME|ID")]
    pub device: Option<String>,
    #[command(subcommand)]
    pub command: PhoneCommand,
}

#[derive(Subcommand)]
pub enum PhoneCommand {
    /// List the account's devices, one JSON object per line.
    Devices,
    /// What plays where (active device, track, position, options) as JSON.
    Status,
    /// Transfer playback to a device (name or id).
    Transfer {
        target: String,
    },
    /// Play a context (album, playlist, artist URI).
    Play {
        context_uri: String,
        /// Start at this track of the context (0-based).
        #[arg(long)]
        index: Option<u32>,
        /// Start at this position in the track (ms).
        #[arg(long)]
        position: Option<u64>,
    },
    Pause,
    Resume,
    /// Seek to a position (ms).
    Seek {
        ms: u64,
    },
    Next,
    Prev,
    /// Volume in percent.
    Volume {
        #[arg(value_parser = clap::value_parser!(u8).range(0..=100))]
        percent: u8,
    },
    /// Shuffle on|off.
    Shuffle {
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Repeat off|context|track.
    Repeat {
        #[arg(value_parser = ["off", "context", "track"])]
        mode: String,
    },
    /// Add a track to the queue.
    Queue {
        uri: String,
    },
    /// Replace the queue with these tracks.
    SetQueue {
        #[arg(required = true)]
        uris: Vec<String>,
    },
}

#[derive(Args)]
pub struct LoginArgs {
    /// Sign in in a web browser (the default): OAuth with PKCE and a redirect to 127.0.0.1.
    #[arg(long, group = "method")]
    pub browser: bool,
    /// With --browser: do not start a browser, only print the address to open.
    #[arg(long)]
    pub no_open: bool,
    /// Pair with a code entered on another device (for SSH and headless machines).
    #[arg(long, group = "method")]
    pub device: bool,
    /// Username for a password login (legacy; Spotify refuses it today).
    #[arg(long, requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long, requires = "username", group = "method")]
    pub password_stdin: bool,
    /// Read an OAuth access token from the first line of standard input.
    #[arg(long, group = "method")]
    pub token_stdin: bool,
}
