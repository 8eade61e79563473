//! The `tonearm` binary: parses the command line (clap), sets up logging to a file, loads the
//! config, builds the tokio runtime, and runs one command. `anyhow` lives only here, at the edge;
//! everything below returns typed errors.

#![allow(clippy::print_stdout)] // main.rs is the edge: command output goes to stdout here.

use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use tonearm::auth::oauth::{self, DeviceCode};
use tonearm::auth::store::CredentialStore;
use tonearm::config::{self, Config, RawEndpoints};
use tonearm::session::{Credentials, Session, SessionConfig};
use tonearm_sim::{SimConfig, Simulator};

#[derive(Parser)]
#[command(
    name = "tonearm",
    version,
    about = "A terminal Spotify client and Connect speaker"
)]
struct Cli {
    /// Config file (default: $XDG_CONFIG_HOME/tonearm/config.toml).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Start the offline simulator in-process and sign in as its premium demo account
    /// (no files or keyring touched).
    #[arg(long, global = true)]
    demo: bool,
    /// Log file (default: $XDG_STATE_HOME/tonearm/tonearm.log).
    #[arg(long, global = true, value_name = "PATH")]
    log_file: Option<PathBuf>,
    /// Log filter, e.g. `info` or `tonearm=debug` (TONEARM_LOG overrides).
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
    /// Device name shown to other Spotify clients.
    #[arg(long, global = true)]
    device_name: Option<String>,
    #[command(flatten)]
    endpoints: EndpointArgs,
    #[command(flatten)]
    tui: TuiArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Options of the terminal UI (`tonearm` with no subcommand).
#[derive(Args)]
struct TuiArgs {
    /// Validate the config, keymap and themes, print a summary, and exit (1 when invalid).
    #[arg(long)]
    check_config: bool,
    /// Where audio goes: cpal (default device), cpal:<device>, wav:<path>, pipe, null.
    #[arg(long, default_value = "cpal")]
    sink: String,
    /// Streaming bitrate: 96, 160 or 320.
    #[arg(long, default_value = "320")]
    bitrate: String,
    /// Volume in percent at start (default: the volume saved with the queue).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100))]
    volume: Option<u8>,
}

/// Endpoint overrides (defaults: Spotify's real endpoints, or the config file).
#[derive(Args, Default)]
struct EndpointArgs {
    /// apresolve base URL.
    #[arg(long, global = true, value_name = "URL")]
    apresolve_url: Option<String>,
    /// Access point `host:port` to use instead of apresolve (repeatable).
    #[arg(long = "ap", global = true, value_name = "HOST:PORT")]
    access_points: Vec<String>,
    /// Trusted AP RSA modulus, hex.
    #[arg(long, global = true, value_name = "HEX")]
    ap_key_modulus: Option<String>,
    /// Trusted AP RSA public exponent.
    #[arg(long, global = true)]
    ap_key_exponent: Option<u32>,
    #[arg(long, global = true, value_name = "URL")]
    login5_url: Option<String>,
    #[arg(long, global = true, value_name = "URL")]
    client_token_url: Option<String>,
    #[arg(long, global = true, value_name = "URL")]
    accounts_url: Option<String>,
    #[arg(long, global = true, value_name = "URL")]
    spclient_url: Option<String>,
    #[arg(long, global = true, value_name = "URL")]
    dealer_url: Option<String>,
    #[arg(long, global = true, value_name = "URL")]
    web_api_url: Option<String>,
}

impl EndpointArgs {
    fn to_raw(&self) -> RawEndpoints {
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
enum Command {
    /// Run the offline Spotify simulator; prints one JSON line with its endpoints first.
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
}

#[derive(Args)]
struct DaemonArgs {
    /// Device name shown in Spotify apps (default: the config's device name).
    #[arg(long)]
    name: Option<String>,
    /// Device type: computer, speaker, tv, avr, stb, audiodongle, smartphone, tablet, ...
    #[arg(long, default_value = "speaker")]
    device_type: String,
    /// Streaming bitrate: 96, 160 or 320.
    #[arg(long, default_value = "320")]
    bitrate: String,
    /// Where audio goes: cpal (default device), cpal:<device>, wav:<path>, pipe, null.
    #[arg(long, default_value = "cpal")]
    sink: String,
    /// Initial volume in percent (logarithmic curve).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    volume: u8,
    /// Advertise on the LAN (mDNS) and accept logins handed over by phones (zeroconf).
    #[arg(long, overrides_with = "no_zeroconf")]
    zeroconf: bool,
    /// Do not advertise or accept zeroconf logins (then stored credentials are required).
    #[arg(long)]
    no_zeroconf: bool,
    /// Zeroconf HTTP port (0: any free port).
    #[arg(long, default_value_t = 0)]
    zeroconf_port: u16,
    /// Store credentials handed over by a phone (zeroconf addUser) for the next start.
    #[arg(long)]
    store_credentials: bool,
}

#[derive(Args)]
struct LibraryArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Fetch the library before printing instead of showing the cached copy first.
    #[arg(long)]
    refresh: bool,
}

#[derive(Args)]
struct SearchArgs {
    /// What to look for (Spotify's search syntax, e.g. `artist:miles year:1959`).
    #[arg(required = true)]
    query: Vec<String>,
    /// Kinds of results, comma-separated: track, album, artist, playlist, show, episode.
    #[arg(
        long = "type",
        value_delimiter = ',',
        default_value = "track,album,artist,playlist"
    )]
    types: Vec<String>,
    /// Results per kind.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=50))]
    limit: u32,
    /// Index of the first result (for the next page).
    #[arg(long, default_value_t = 0)]
    offset: u32,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct PlayArgs {
    /// Tracks, albums or artists to play, in order. With --demo and none: the demo album.
    uris: Vec<String>,
    /// Where audio goes: cpal (default device), cpal:<device>, wav:<path>, pipe, null.
    #[arg(long, default_value = "cpal")]
    sink: String,
    /// Streaming bitrate: 96, 160 or 320.
    #[arg(long, default_value = "320")]
    bitrate: String,
    /// Volume in percent (logarithmic curve).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u8).range(0..=100))]
    volume: u8,
    /// Normalise loudness with the tracks' replay-gain values.
    #[arg(long)]
    normalise: bool,
    /// Extra gain in dB applied by normalisation (with --normalise).
    #[arg(
        long,
        default_value_t = 0.0,
        allow_negative_numbers = true,
        requires = "normalise"
    )]
    pregain: f32,
}

#[derive(Args)]
struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    listen: IpAddr,
    /// HTTP port (apresolve and later services); 0 = ephemeral.
    #[arg(long, default_value_t = 0)]
    http_port: u16,
    /// Access-point TCP ports (repeatable); default two ephemeral ports.
    #[arg(long = "ap-port")]
    ap_ports: Vec<u16>,
    /// Directory where issued credentials and tokens persist across restarts.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Refuse password logins as today's Spotify does.
    #[arg(long)]
    no_password_login: bool,
    /// Seconds between a PongAck and the next Ping.
    #[arg(long, default_value_t = 60)]
    ping_interval: u64,
    /// Add this many synthetic tracks to the demo catalog (scale tests: 10000, 100000).
    #[arg(long, default_value_t = 0)]
    catalog_tracks: usize,
    #[command(subcommand)]
    action: Option<SimAction>,
}

#[derive(Subcommand)]
enum SimAction {
    /// A scripted phone: signs in to a running simulator, shows up as a smartphone in the
    /// account's Connect devices and sends one command; prints the answer as JSON.
    Phone(PhoneArgs),
}

#[derive(Args)]
struct PhoneArgs {
    /// The running simulator's HTTP base URL (its `spclient`), e.g. http://127.0.0.1:PORT.
    #[arg(long = "sim", env = "TONEARM_SIM", value_name = "URL")]
    sim_url: Option<String>,
    /// Account to sign in as.
    #[arg(long, default_value = "tonearm-demo")]
    username: String,
    /// Its password (default: the built-in account's).
    #[arg(long, env = "TONEARM_SIM_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// The phone's name in device lists.
    #[arg(long, default_value = "Sim Phone")]
    name: String,
    /// Device (name or id) commands go to; default: the active device.
    #[arg(long, value_name = "NAME|ID")]
    device: Option<String>,
    #[command(subcommand)]
    command: PhoneCommand,
}

#[derive(Subcommand)]
enum PhoneCommand {
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
struct LoginArgs {
    /// Sign in in a web browser (the default): OAuth with PKCE and a redirect to 127.0.0.1.
    #[arg(long, group = "method")]
    browser: bool,
    /// With --browser: do not start a browser, only print the address to open.
    #[arg(long)]
    no_open: bool,
    /// Pair with a code entered on another device (for SSH and headless machines).
    #[arg(long, group = "method")]
    device: bool,
    /// Username for a password login (legacy; Spotify refuses it today).
    #[arg(long, requires = "password_stdin")]
    username: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long, requires = "username", group = "method")]
    password_stdin: bool,
    /// Read an OAuth access token from the first line of standard input.
    #[arg(long, group = "method")]
    token_stdin: bool,
}

fn main() {
    let started = Instant::now();
    malloc_tuning::apply();
    let cli = Cli::parse();
    if let Err(e) = real_main(cli, started) {
        eprintln!("tonearm: {e:#}");
        std::process::exit(1);
    }
}

fn real_main(cli: Cli, started: Instant) -> Result<()> {
    let log_file = cli
        .log_file
        .clone()
        .or_else(tonearm::logging::default_log_file)
        .context("cannot find a place for the log file: set HOME or pass --log-file")?;
    tonearm::logging::init(&log_file, &cli.log_level)
        .with_context(|| format!("cannot open the log file {}", log_file.display()))?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "tonearm starting");

    let mut cfg = load_config(&cli)?;
    if cli.tui.check_config {
        return check_config(&cli, &cfg);
    }
    let runtime = if cli.command.is_none() {
        // The TUI: its loop runs on the main thread (`block_on`); one worker runs the spawned
        // network work. Fewer threads mean fewer allocator arenas holding freed memory after
        // a large library refresh (the RSS budget), and the loop never waits on the worker.
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Runtime::new()
    }
    .context("cannot start the async runtime")?;
    let demo = cli.demo;
    match cli.command {
        Some(Command::Sim(args)) => runtime.block_on(run_sim(args)),
        Some(Command::Login(args)) => runtime.block_on(run_login(demo, &mut cfg, args)),
        Some(Command::Logout) => run_logout(demo),
        Some(Command::Status) => runtime.block_on(run_status(demo, cfg)),
        Some(Command::Play(args)) => runtime.block_on(run_play(demo, cfg, args)),
        Some(Command::Library(args)) => runtime.block_on(run_library(demo, cfg, args)),
        Some(Command::Search(args)) => runtime.block_on(run_search(demo, cfg, args)),
        Some(Command::Daemon(args)) => runtime.block_on(run_daemon(demo, cfg, args)),
        None => run_tui(&cli, cfg, &runtime, started),
    }
}

/// tonearm's config directory (`keymap.toml`, `themes/`): the `--config` file's directory, or
/// `$XDG_CONFIG_HOME/tonearm`.
fn ui_config_dir(cli: &Cli) -> Option<PathBuf> {
    match &cli.config {
        Some(file) => Some(
            file.parent()
                .map(|p| p.to_path_buf())
                .unwrap_or_else(|| PathBuf::from(".")),
        ),
        None => tonearm::paths::config_dir(),
    }
}

/// The UI config (keymap, themes, mouse) over `cfg`; errors carry file:line and the bad value.
fn load_ui_config(cli: &Cli, cfg: &Config) -> Result<tonearm::uiconf::UiConfig> {
    Ok(tonearm::uiconf::load(cfg, ui_config_dir(cli).as_deref())?)
}

/// `tonearm --check-config`: validates everything the TUI would load and says what it found.
fn check_config(cli: &Cli, cfg: &Config) -> Result<()> {
    let summary = tonearm::uiconf::check(cfg, ui_config_dir(cli).as_deref())?;
    println!("{summary}");
    Ok(())
}

/// `tonearm`: the terminal UI. The UI config is checked before the terminal is touched, so an
/// invalid file stops here with its message and a non-zero exit.
fn run_tui(
    cli: &Cli,
    cfg: Config,
    runtime: &tokio::runtime::Runtime,
    started: Instant,
) -> Result<()> {
    let ui = load_ui_config(cli, &cfg)?;
    let bitrate = cli
        .tui
        .bitrate
        .parse()
        .map_err(|e| anyhow::anyhow!("--bitrate: {e}"))?;
    let sink = tonearm::audio::sink::SinkSpec::parse(&cli.tui.sink)?;
    let opts = tonearm::app::run::RunOptions {
        config: cfg,
        ui,
        demo: cli.demo,
        sink,
        bitrate,
        volume: cli.tui.volume.map(|v| (u32::from(v) * 65535 / 100) as u16),
        normalisation: Default::default(),
        started,
        connect: true,
    };
    runtime.block_on(tonearm::app::run::run(opts))?;
    Ok(())
}

/// `tonearm sim phone …`: one command from the scripted phone.
async fn run_phone(args: PhoneArgs) -> Result<()> {
    use tonearm_sim::remote::{Phone, PhoneConfig};
    let base = args.sim_url.context(
        "pass --sim http://127.0.0.1:PORT (the `spclient` URL `tonearm sim` prints) or set TONEARM_SIM",
    )?;
    let password = match args.password {
        Some(p) => p,
        None => tonearm_sim::builtin_accounts()
            .into_iter()
            .find(|a| a.username == args.username)
            .map(|a| a.password)
            .with_context(|| {
                format!(
                    "{} is not a built-in account: pass --password",
                    args.username
                )
            })?,
    };
    let mut cfg = PhoneConfig::new(&base, &args.username, &password);
    cfg.device_name = args.name;
    let phone = Phone::connect(cfg).await?;
    let target = args.device.as_deref();
    let result = match args.command {
        PhoneCommand::Devices => phone.devices().await.map(|list| {
            serde_json::Value::Array(
                list.iter()
                    .filter_map(|d| serde_json::to_value(d).ok())
                    .collect(),
            )
        }),
        PhoneCommand::Status => phone.status().await,
        PhoneCommand::Transfer { target } => phone.transfer(&target).await,
        PhoneCommand::Play {
            context_uri,
            index,
            position,
        } => phone.play(target, &context_uri, index, position).await,
        PhoneCommand::Pause => phone.pause(target).await,
        PhoneCommand::Resume => phone.resume(target).await,
        PhoneCommand::Seek { ms } => phone.seek(target, ms).await,
        PhoneCommand::Next => phone.next(target).await,
        PhoneCommand::Prev => phone.prev(target).await,
        PhoneCommand::Volume { percent } => phone.volume(target, percent).await,
        PhoneCommand::Shuffle { state } => phone.shuffle(target, state == "on").await,
        PhoneCommand::Repeat { mode } => phone.repeat(target, &mode).await,
        PhoneCommand::Queue { uri } => phone.queue(target, &uri).await,
        PhoneCommand::SetQueue { uris } => phone.set_queue(target, &uris).await,
    };
    phone.close().await;
    let answer = result?;
    let mut out = std::io::stdout().lock();
    match answer {
        // Devices: one JSON object per line.
        serde_json::Value::Array(items) => {
            for item in items {
                writeln!(out, "{item}")?;
            }
        }
        other => writeln!(out, "{other}")?,
    }
    out.flush()?;
    Ok(())
}

fn load_config(cli: &Cli) -> Result<Config> {
    let (path, explicit) = match &cli.config {
        Some(p) => (p.clone(), true),
        None => match config::default_path() {
            Some(p) => (p, false),
            None => (PathBuf::from("config.toml"), false),
        },
    };
    let mut cfg = if cli.demo && !explicit {
        Config::default() // --demo touches no files
    } else {
        config::load(&path, explicit)?
    };
    if let Some(name) = &cli.device_name {
        cfg.device_id = config::device_id_for(name);
        cfg.device_name = name.clone();
    }
    config::apply_endpoints(&mut cfg.endpoints, &cli.endpoints.to_raw())
        .map_err(|(k, v, r)| anyhow::anyhow!("command line: `{k}` = \"{v}\": {r}"))?;
    Ok(cfg)
}

async fn run_sim(args: SimArgs) -> Result<()> {
    if let Some(SimAction::Phone(phone)) = args.action {
        return run_phone(phone).await;
    }
    let mut sc = SimConfig {
        listen: args.listen,
        http_port: args.http_port,
        state_dir: args.state_dir,
        password_login: !args.no_password_login,
        ping_interval: Duration::from_secs(args.ping_interval.max(1)),
        catalog: if args.catalog_tracks > 0 {
            tonearm_sim::CatalogSpec::Synthetic {
                tracks: args.catalog_tracks,
            }
        } else {
            tonearm_sim::CatalogSpec::Demo
        },
        ..SimConfig::default()
    };
    if !args.ap_ports.is_empty() {
        sc.ap_ports = args.ap_ports;
    }
    let sim = Simulator::start(sc).await?;
    let line = serde_json::to_string(sim.info())?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    wait_for_shutdown_signal().await;
    sim.shutdown().await;
    Ok(())
}

async fn wait_for_shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn read_stdin_line(what: &str) -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("cannot read the {what} from standard input"))?;
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    if line.is_empty() {
        bail!("no {what} on standard input");
    }
    Ok(line)
}

/// The keyring, or the 0600 file when no keyring service answers (`TONEARM_CREDENTIAL_STORE`
/// forces one).
fn credential_store() -> Result<CredentialStore> {
    Ok(CredentialStore::open()?)
}

/// The browser flow: prints the address, starts the browser unless `--no-open`.
async fn browser_sign_in(cfg: &Config, open: bool) -> Result<oauth::OAuthToken> {
    let opener = |url: &str| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "Sign in to Spotify in your browser. If no browser opens, visit this address:\n\n  \
             {url}\n"
        );
        if open && !oauth::open_in_browser(url) {
            let _ = writeln!(
                out,
                "(No browser could be started; open the address above by hand.)"
            );
        }
        let _ = writeln!(out, "Waiting for the browser… (Ctrl-C to cancel)");
        let _ = out.flush();
    };
    Ok(oauth::browser_pkce(
        &cfg.endpoints.accounts,
        tonearm::config::SPOTIFY_CLIENT_ID,
        oauth::DEFAULT_SCOPES,
        opener,
    )
    .await?)
}

/// The device flow: prints the code and where to enter it, then waits for approval.
async fn device_sign_in(cfg: &Config) -> Result<oauth::OAuthToken> {
    let on_code = |code: &DeviceCode| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "To sign in, open {} on your phone or computer and enter the code\n\n    {}\n",
            code.verification_uri, code.user_code
        );
        if let Some(complete) = &code.verification_uri_complete {
            let _ = writeln!(out, "(or open {complete})");
        }
        let _ = writeln!(
            out,
            "Waiting for approval… (the code is valid for {} min; Ctrl-C to cancel)",
            code.expires_in.as_secs().div_ceil(60)
        );
        let _ = out.flush();
    };
    Ok(oauth::device_code(
        &cfg.endpoints.accounts,
        tonearm::config::SPOTIFY_CLIENT_ID,
        oauth::DEFAULT_SCOPES,
        on_code,
    )
    .await?)
}

async fn run_login(demo: bool, cfg: &mut Config, args: LoginArgs) -> Result<()> {
    let demo = if demo {
        let d = tonearm::demo::start(cfg.clone(), Default::default()).await?;
        *cfg = d.config.clone();
        Some(d)
    } else {
        None
    };
    // Open the store first: a store that cannot be used should stop us before the user signs in.
    let store = match demo {
        Some(_) => None, // --demo touches no files and no keyring
        None => Some(credential_store()?),
    };
    let creds = if args.token_stdin {
        Credentials::with_access_token(read_stdin_line("access token")?)
    } else if let (Some(user), true) = (&args.username, args.password_stdin) {
        Credentials::with_password(user, read_stdin_line("password")?)
    } else if let Some(d) = &demo {
        Credentials::with_password(&d.account.username, &d.account.password)
    } else if args.device {
        Credentials::with_access_token(device_sign_in(cfg).await?.access_token)
    } else {
        Credentials::with_access_token(browser_sign_in(cfg, !args.no_open).await?.access_token)
    };
    let started = Instant::now();
    let session = Session::connect(session_config(cfg), creds).await?;
    let took = started.elapsed();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Signed in as {} ({}, country {}) in {} ms.",
        session.username(),
        session
            .product()
            .get("type")
            .map_or("unknown", |s| s.as_str()),
        session.country().unwrap_or_else(|| "unknown".into()),
        took.as_millis()
    )?;
    match &store {
        None => writeln!(out, "Demo mode: credentials were not stored.")?,
        Some(store) => {
            let place = tonearm::app::exec::store_credentials(store, &session)?;
            writeln!(out, "Stored reusable credentials in {place}.")?;
        }
    }
    drop(out);
    session.shutdown().await;
    if let Some(d) = demo {
        d.sim.shutdown().await;
    }
    Ok(())
}

fn run_logout(demo: bool) -> Result<()> {
    if demo {
        println!("Demo mode: nothing is stored, nothing to remove.");
        return Ok(());
    }
    let report = credential_store()?.purge()?;
    if report.removed.is_empty() {
        println!("No stored credentials.");
    }
    for what in &report.removed {
        println!("Removed {what}.");
    }
    for what in &report.unreachable {
        println!("Not checked: {what}.");
    }
    Ok(())
}

fn session_config(cfg: &Config) -> SessionConfig {
    tonearm::app::exec::session_config(cfg)
}

async fn run_status(demo: bool, cfg: Config) -> Result<()> {
    if demo {
        return demo_tour(cfg).await;
    }
    let store = credential_store()?;
    let creds = store
        .load()?
        .context("not signed in: run `tonearm login` first")?;
    let started = Instant::now();
    let session = Session::connect(session_config(&cfg), creds).await?;
    print_session(&session, started.elapsed())?;
    session.shutdown().await;
    Ok(())
}

fn print_session(session: &Session, took: Duration) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "account:   {}", session.username())?;
    writeln!(
        out,
        "product:   {}",
        session
            .product()
            .get("type")
            .map_or("unknown", |s| s.as_str())
    )?;
    writeln!(
        out,
        "country:   {}",
        session.country().unwrap_or_else(|| "unknown".into())
    )?;
    writeln!(out, "ap:        {}", session.ap_address())?;
    writeln!(out, "device id: {}", session.device_id())?;
    writeln!(out, "connected in {} ms", took.as_millis())?;
    Ok(())
}

/// `tonearm --demo status`: what `make demo` runs until the TUI exists. Starts the simulator,
/// signs in each way the protocol allows, and shows each step.
async fn demo_tour(cfg: Config) -> Result<()> {
    let d = tonearm::demo::start(cfg, Default::default()).await?;
    let info = d.sim.info().clone();
    let mut out = std::io::stdout();
    writeln!(
        out,
        "simulator   apresolve {}  access points {}",
        info.apresolve,
        info.access_points.join(", ")
    )?;

    let t = Instant::now();
    let creds = Credentials::with_password(&d.account.username, &d.account.password);
    let session = Session::connect(session_config(&d.config), creds).await?;
    writeln!(
        out,
        "password    signed in as {} ({}, {}) via {} in {} ms",
        session.username(),
        session.product().get("type").map_or("?", |s| s.as_str()),
        session.country().unwrap_or_default(),
        session.ap_address(),
        t.elapsed().as_millis()
    )?;
    let stored = session.reusable_credentials();
    session.shutdown().await;

    let t = Instant::now();
    let session = Session::connect(session_config(&d.config), stored).await?;
    writeln!(
        out,
        "stored      signed in again with the reusable credentials in {} ms",
        t.elapsed().as_millis()
    )?;

    let uri = "hm://tonearm-demo/hello";
    d.sim.put_mercury(
        uri,
        "text/plain",
        b"hello from the simulated access point".to_vec(),
    );
    let t = Instant::now();
    let resp = session.mercury().get(uri).await?;
    let body: Vec<u8> = resp.payload.concat();
    writeln!(
        out,
        "mercury     GET {uri} -> {} \"{}\" in {} ms",
        resp.status_code,
        String::from_utf8_lossy(&body),
        t.elapsed().as_millis()
    )?;

    let track = tonearm::id::SpotifyId(0x9a1b1cfbc6f244569ae0356c77bbe9d8);
    let file = tonearm::id::FileId([7; 20]);
    d.sim.add_audio_key(file.0, track.to_raw(), [0x42; 16]);
    let t = Instant::now();
    let key_ok = session.audio_key(track, file).await.is_ok();
    writeln!(
        out,
        "audio key   track {} file {}: {} in {} ms",
        track.to_base62(),
        &file.to_base16()[..8],
        if key_ok { "received" } else { "refused" },
        t.elapsed().as_millis()
    )?;

    let t = Instant::now();
    session.reconnect().await?;
    writeln!(
        out,
        "reconnect   new connection, same credentials and device, in {} ms",
        t.elapsed().as_millis()
    )?;

    let bad = Credentials::with_password(&d.account.username, "wrong password");
    match Session::connect(session_config(&d.config), bad).await {
        Ok(_) => writeln!(out, "wrong pass  unexpectedly accepted")?,
        Err(e) => writeln!(out, "wrong pass  refused: {e}")?,
    }
    session.shutdown().await;
    d.sim.shutdown().await;
    writeln!(
        out,
        "done: the session layer works end to end against the simulator. (The TUI comes later.)"
    )?;
    Ok(())
}

/// `tonearm daemon`: the Connect receiver without the UI. Prints one line when up.
async fn run_daemon(demo: bool, cfg: Config, args: DaemonArgs) -> Result<()> {
    use tonearm::api::metadata::Bitrate;
    use tonearm::audio::sink::SinkSpec;

    let device_type = tonearm::connect::state::parse_device_type(&args.device_type)
        .with_context(|| format!("--device-type: unknown device type `{}`", args.device_type))?;
    let bitrate: Bitrate = args
        .bitrate
        .parse()
        .map_err(|e| anyhow::anyhow!("--bitrate: {e}"))?;
    let sink = SinkSpec::parse(&args.sink)?;
    tonearm::audio::output::probe(&sink)?;
    let mut cfg = cfg;
    if let Some(name) = &args.name {
        cfg.device_id = config::device_id_for(name);
        cfg.device_name = name.clone();
    }
    // --demo touches nothing on the LAN unless --zeroconf asks for it.
    let zeroconf = !args.no_zeroconf && (!demo || args.zeroconf);
    let (cfg, creds, store, demo_sim) = if demo {
        let d = tonearm::demo::start(cfg, Default::default()).await?;
        let creds = Credentials::with_password(&d.account.username, &d.account.password);
        (d.config.clone(), Some(creds), None, Some(d))
    } else {
        let store = credential_store()?;
        let creds = store.load()?;
        if creds.is_none() && !zeroconf {
            bail!("not signed in: run `tonearm login` first, or drop --no-zeroconf to accept a login from a phone");
        }
        (cfg, creds, Some(store), None)
    };
    let opts = tonearm::daemon::DaemonOptions {
        name: cfg.device_name.clone(),
        device_id: cfg.device_id.clone(),
        device_type,
        playback: tonearm::services::PlaybackOptions {
            sink,
            bitrate,
            volume: (u32::from(args.volume) * 65535 / 100) as u16,
            normalisation: Default::default(),
        },
        zeroconf,
        advertise: zeroconf,
        zeroconf_port: args.zeroconf_port,
        store_credentials: args.store_credentials,
    };
    let on_start = |s: &tonearm::daemon::Started| {
        let zc = s
            .zeroconf_port
            .map_or_else(|| "off".to_string(), |p| format!("port {p}"));
        println!(
            "tonearm daemon \"{}\" (device id {}, zeroconf {zc}){}",
            s.name,
            s.device_id,
            if s.signed_in {
                ""
            } else {
                ": waiting for a phone to log in"
            }
        );
        let _ = std::io::stdout().flush();
    };
    if let Some(d) = &demo_sim {
        println!(
            "demo: simulator at {base} ; drive this speaker like a phone would: \
             tonearm sim phone --sim {base} devices",
            base = d.sim.info().spclient
        );
    }
    let result = tonearm::daemon::run(
        cfg,
        creds,
        store,
        opts,
        on_start,
        wait_for_shutdown_signal(),
    )
    .await;
    if let Some(d) = demo_sim {
        d.sim.shutdown().await;
    }
    result?;
    Ok(())
}

/// Signs in with the stored credentials, or the demo account with `--demo` (the simulator is
/// returned so it lives as long as the session).
async fn sign_in(
    demo: bool,
    cfg: Config,
) -> Result<(Session, Config, Option<tonearm::demo::Demo>)> {
    if demo {
        let d = tonearm::demo::start(cfg, Default::default()).await?;
        let creds = Credentials::with_password(&d.account.username, &d.account.password);
        let session = Session::connect(session_config(&d.config), creds).await?;
        let cfg = d.config.clone();
        return Ok((session, cfg, Some(d)));
    }
    let creds = credential_store()?
        .load()?
        .context("not signed in: run `tonearm login` first")?;
    let session = Session::connect(session_config(&cfg), creds).await?;
    Ok((session, cfg, None))
}

/// Expands URIs into a queue of track ids: a track is itself, an album its tracks in order, an
/// artist its top tracks in the account's country.
async fn resolve_queue(
    sp: &tonearm::api::SpClient,
    country: &str,
    uris: &[String],
) -> Result<Vec<tonearm::id::SpotifyId>> {
    use tonearm::id::{ItemKind, SpotifyUri};
    let mut queue = Vec::new();
    for text in uris {
        let uri = SpotifyUri::parse(text)?;
        match uri.kind {
            ItemKind::Track => queue.push(uri.id),
            ItemKind::Album => {
                let album = sp
                    .album(uri.id)
                    .await
                    .with_context(|| format!("cannot load the album {text}"))?;
                queue.extend(album.tracks);
            }
            ItemKind::Artist => {
                let artist = sp
                    .artist(uri.id)
                    .await
                    .with_context(|| format!("cannot load the artist {text}"))?;
                queue.extend(artist.top_tracks_for(country));
            }
            ItemKind::Playlist | ItemKind::Show | ItemKind::Episode => bail!(
                "{text}: playing {}s is not supported yet (tracks, albums and artists are)",
                uri.kind.as_str()
            ),
        }
    }
    Ok(queue)
}

async fn run_play(demo: bool, cfg: Config, args: PlayArgs) -> Result<()> {
    use tonearm::api::metadata::Bitrate;
    use tonearm::api::{SpClient, TokenProvider};
    use tonearm::audio::sink::SinkSpec;
    use tonearm::player::{Player, PlayerConfig, PlayerEvent};

    let bitrate: Bitrate = args
        .bitrate
        .parse()
        .map_err(|e| anyhow::anyhow!("--bitrate: {e}"))?;
    let mut spec = SinkSpec::parse(&args.sink)?;
    // Audio goes to stdout with `pipe`, so messages go to stderr then.
    let to_stderr = spec == SinkSpec::Pipe;
    let say = |line: String| {
        if to_stderr {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    if let Err(e) = tonearm::audio::output::probe(&spec) {
        if demo {
            say(format!(
                "{e}\nDemo: playing to the null sink instead (try --sink wav:demo.wav)."
            ));
            spec = SinkSpec::Null;
        } else {
            return Err(e.into());
        }
    }

    let (session, cfg, demo_sim) = sign_in(demo, cfg).await?;
    let http = reqwest::Client::new();
    let tokens = TokenProvider::new(session.clone(), cfg.endpoints.clone(), http.clone());
    let sp = SpClient::from_session(session.clone(), tokens, &cfg.endpoints, http.clone());
    let mut uris = args.uris.clone();
    if uris.is_empty() {
        match &demo_sim {
            Some(d) => uris.push(d.sim.info().demo_album.clone()),
            None => bail!("say what to play: a Spotify URI or an open.spotify.com link"),
        }
    }
    let queue = resolve_queue(&sp, &session.country().unwrap_or_default(), &uris).await?;
    if queue.is_empty() {
        bail!("nothing to play: the items have no tracks");
    }

    let loader = tonearm::player::spotify::SpotifyLoader::new(session.clone(), sp, http, bitrate);
    let config = PlayerConfig {
        initial_volume: (u32::from(args.volume) * 65535 / 100) as u16,
        normalisation: tonearm::audio::normalise::NormalisationConfig {
            enabled: args.normalise,
            pregain_db: args.pregain,
            ..Default::default()
        },
        ..PlayerConfig::default()
    };
    let (player, mut events) = Player::spawn(
        std::sync::Arc::new(loader),
        tonearm::audio::output::factory(spec.clone()),
        config,
        tokio::runtime::Handle::current(),
    );
    say(format!(
        "Playing {} track(s) to {spec} at {} kbps.",
        queue.len(),
        args.bitrate
    ));
    player.load(queue, 0, 0, true);

    let mut played = 0usize;
    let mut last_error = None;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                say("Stopped.".into());
                break;
            }
            ev = events.recv() => match ev {
                None => break,
                Some(PlayerEvent::TrackChanged(t)) => {
                    played += 1;
                    let secs = t.duration_ms / 1000;
                    say(format!(
                        "▶ {} — {} · {} ({}:{:02})",
                        t.name,
                        t.artists.join(", "),
                        t.album,
                        secs / 60,
                        secs % 60
                    ));
                }
                Some(PlayerEvent::Error { reason, skipped, .. }) => {
                    say(format!("✗ {reason}{}", if skipped { " (skipped)" } else { "" }));
                    last_error = Some(reason);
                    if !skipped {
                        break;
                    }
                }
                Some(PlayerEvent::EndOfQueue) | Some(PlayerEvent::Stopped) => break,
                Some(_) => {}
            },
        }
    }
    player.shutdown().await;
    session.shutdown().await;
    if let Some(d) = demo_sim {
        d.sim.shutdown().await;
    }
    match (played, last_error) {
        (0, Some(reason)) => bail!("nothing could be played: {reason}"),
        _ => Ok(()),
    }
}

/// A signed-in Web API client (the login5 token of the session serves the Web API).
async fn web_api(
    demo: bool,
    cfg: Config,
) -> Result<(tonearm::api::WebApi, Session, Option<tonearm::demo::Demo>)> {
    let (session, cfg, demo_sim) = sign_in(demo, cfg).await?;
    let http = reqwest::Client::new();
    let tokens =
        tonearm::api::TokenProvider::new(session.clone(), cfg.endpoints.clone(), http.clone());
    let api = tonearm::api::WebApi::new(tokens, cfg.endpoints.web_api.clone(), http);
    Ok((api, session, demo_sim))
}

async fn finish(session: Session, demo_sim: Option<tonearm::demo::Demo>) {
    session.shutdown().await;
    if let Some(d) = demo_sim {
        d.sim.shutdown().await;
    }
}

/// `tonearm library`: prints the cached library at once (when there is one), then refreshes
/// the cache; with `--refresh` (or no cache) fetches first. `--demo` reads and writes no cache.
async fn run_library(demo: bool, cfg: Config, args: LibraryArgs) -> Result<()> {
    use tonearm::api::library;

    let cache_path = if demo {
        None
    } else {
        let creds = credential_store()?
            .load()?
            .context("not signed in: run `tonearm login` first")?;
        creds
            .username
            .as_deref()
            .and_then(library::default_cache_file)
    };
    let cached = cache_path.as_deref().and_then(library::load_cached);
    let shown = match (&cached, args.refresh) {
        (Some(lib), false) => {
            print_library(lib, args.json, true)?;
            true
        }
        _ => false,
    };

    let refreshed = async {
        let (api, session, demo_sim) = web_api(demo, cfg).await?;
        let fresh = library::refresh(&api, cached.as_ref()).await;
        finish(session, demo_sim).await;
        fresh.context("cannot load the library")
    };
    let started = Instant::now();
    let fresh = match refreshed.await {
        Ok(f) => f,
        // The cached copy is already on screen: say why it could not be refreshed.
        Err(e) if shown => {
            eprintln!("tonearm: showing the cached library; refreshing it failed: {e:#}");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        tracks = fresh.tracks.len(),
        "library refreshed"
    );
    if let Some(path) = &cache_path {
        if let Err(e) = fresh.save(path) {
            eprintln!(
                "tonearm: cannot write the library cache {}: {e}",
                path.display()
            );
        }
    }
    if shown {
        let changed = cached.as_ref().is_some_and(|c| {
            c.playlists != fresh.playlists
                || c.saved_tracks.len() != fresh.saved_tracks.len()
                || c.saved_albums != fresh.saved_albums
                || c.followed_artists != fresh.followed_artists
                || c.saved_shows != fresh.saved_shows
        });
        eprintln!(
            "{}",
            if changed {
                "The library changed since it was cached; the cache is updated (run again to see it)."
            } else {
                "The cached library is up to date."
            }
        );
    } else {
        print_library(&fresh, args.json, false)?;
    }
    Ok(())
}

fn print_library(lib: &tonearm::api::Library, json: bool, cached: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let v = serde_json::json!({
            "username": lib.username,
            "fetched_at": lib.fetched_at,
            "cached": cached,
            "playlists": lib.playlists.iter().map(|p| serde_json::json!({
                "name": p.name, "uri": p.uri, "owner": p.owner, "snapshot_id": p.snapshot_id,
                "tracks": p.total, "loaded": p.items.as_ref().map(Vec::len),
            })).collect::<Vec<_>>(),
            "liked_songs": lib.saved_tracks.len(),
            "albums": lib.saved_albums.iter().map(|a| serde_json::json!({
                "name": a.name, "uri": a.uri, "artists": a.artists, "tracks": a.total_tracks,
            })).collect::<Vec<_>>(),
            "artists": lib.followed_artists.iter().map(|a| serde_json::json!({
                "name": a.name, "uri": a.uri,
            })).collect::<Vec<_>>(),
            "shows": lib.saved_shows.iter().map(|s| serde_json::json!({
                "name": s.name, "uri": s.uri, "publisher": s.publisher,
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{v}")?;
        return Ok(());
    }
    writeln!(out, "Playlists ({})", lib.playlists.len())?;
    for p in &lib.playlists {
        let owner = if p.owner.is_empty() {
            String::new()
        } else {
            format!(" · by {}", p.owner)
        };
        writeln!(out, "  {} · {} tracks{owner}", p.name, p.total)?;
    }
    writeln!(out, "Liked Songs: {} tracks", lib.saved_tracks.len())?;
    writeln!(out, "Albums ({})", lib.saved_albums.len())?;
    for a in &lib.saved_albums {
        writeln!(out, "  {} — {}", a.name, a.artists.join(", "))?;
    }
    writeln!(out, "Artists ({})", lib.followed_artists.len())?;
    for a in &lib.followed_artists {
        writeln!(out, "  {}", a.name)?;
    }
    writeln!(out, "Shows ({})", lib.saved_shows.len())?;
    for s in &lib.saved_shows {
        writeln!(out, "  {} — {}", s.name, s.publisher)?;
    }
    if cached {
        let age = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .saturating_sub(lib.fetched_at);
        writeln!(out, "(cached {} min ago; refreshing)", age / 60)?;
    }
    Ok(())
}

fn duration_text(ms: u64) -> String {
    let s = ms / 1000;
    format!("{}:{:02}", s / 60, s % 60)
}

/// `tonearm search <query>`.
async fn run_search(demo: bool, cfg: Config, args: SearchArgs) -> Result<()> {
    use tonearm::api::webapi::SearchType;
    let types = args
        .types
        .iter()
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.parse::<SearchType>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("--type: {e}"))?;
    let query = args.query.join(" ");
    if query.trim().is_empty() {
        bail!("say what to search for");
    }
    let (api, session, demo_sim) = web_api(demo, cfg).await?;
    let results = api.search(&query, &types, args.limit, args.offset).await;
    finish(session, demo_sim).await;
    let r = results.context("search failed")?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&r)?)?;
        return Ok(());
    }
    fn header<T>(
        out: &mut impl Write,
        title: &str,
        p: &tonearm::api::webapi::Paging<T>,
    ) -> std::io::Result<()> {
        let end = p.offset as usize + p.items.len();
        if p.items.is_empty() {
            writeln!(out, "{title}: none")
        } else {
            writeln!(out, "{title} ({}–{end} of {})", p.offset + 1, p.total)
        }
    }
    let names = |a: &[tonearm::api::webapi::ArtistRef]| {
        a.iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(p) = &r.tracks {
        header(&mut out, "Tracks", p)?;
        for t in &p.items {
            let album = t.album.as_ref().map_or("", |a| a.name.as_str());
            writeln!(
                out,
                "  {} — {} · {} ({})  {}",
                t.name,
                names(&t.artists),
                album,
                duration_text(t.duration_ms),
                t.uri
            )?;
        }
    }
    if let Some(p) = &r.albums {
        header(&mut out, "Albums", p)?;
        for a in &p.items {
            writeln!(out, "  {} — {}  {}", a.name, names(&a.artists), a.uri)?;
        }
    }
    if let Some(p) = &r.artists {
        header(&mut out, "Artists", p)?;
        for a in &p.items {
            writeln!(out, "  {}  {}", a.name, a.uri)?;
        }
    }
    if let Some(p) = &r.playlists {
        header(&mut out, "Playlists", p)?;
        for pl in &p.items {
            writeln!(out, "  {} · {} tracks  {}", pl.name, pl.total(), pl.uri)?;
        }
    }
    if let Some(p) = &r.shows {
        header(&mut out, "Shows", p)?;
        for s in &p.items {
            writeln!(out, "  {} — {}  {}", s.name, s.publisher, s.uri)?;
        }
    }
    if let Some(p) = &r.episodes {
        header(&mut out, "Episodes", p)?;
        for e in &p.items {
            writeln!(
                out,
                "  {} ({})  {}",
                e.name,
                duration_text(e.duration_ms),
                e.uri
            )?;
        }
    }
    Ok(())
}

/// glibc malloc settings for a long-running, many-threaded process with a small memory budget.
///
/// The one place with `unsafe` in tonearm: `mallopt` is a plain C call with integer arguments,
/// made once at the start of `main` before any other thread exists (glibc reads these settings
/// under its own lock; calling it early means no allocation is in flight on another thread).
/// Measured with `make bench` (TUI playing, 10k-track library): glibc's default of up to 8
/// arenas per core kept ~7.5 MB of freed memory resident, and its dynamic mmap threshold let
/// large transient buffers (Web API pages, audio files) fragment the heap.
mod malloc_tuning {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    pub fn apply() {
        // One arena (each thread still has its lock-free tcache for small blocks): more only
        // hoard freed memory.
        // SAFETY: mallopt takes two ints and touches only allocator settings; called before
        // any thread is spawned.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
            // A fixed threshold (which also stops glibc raising it after each free): blocks of
            // 128 KiB and more are mmapped and go back to the OS when freed.
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        }
    }

    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    pub fn apply() {}
}
