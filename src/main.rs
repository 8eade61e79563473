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

use tonearm::auth::store::FileStore;
use tonearm::config::{self, Config, RawEndpoints};
use tonearm::session::{Credentials, Session, SessionConfig};
use tonearm::sim::{SimConfig, Simulator};

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
    #[command(subcommand)]
    command: Option<Command>,
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
    /// Sign in and store the reusable credentials the access point returns.
    Login(LoginArgs),
    /// Remove stored credentials.
    Logout,
    /// Connect with the stored credentials and show the session (with --demo: a protocol tour).
    Status,
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
}

#[derive(Args)]
struct LoginArgs {
    /// Username for a password login (legacy; Spotify refuses it today).
    #[arg(long)]
    username: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long, requires = "username")]
    password_stdin: bool,
    /// Read an OAuth access token from the first line of standard input.
    #[arg(long, conflicts_with = "password_stdin")]
    token_stdin: bool,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = real_main(cli) {
        eprintln!("tonearm: {e:#}");
        std::process::exit(1);
    }
}

fn real_main(cli: Cli) -> Result<()> {
    let log_file = cli
        .log_file
        .clone()
        .or_else(tonearm::logging::default_log_file)
        .context("cannot find a place for the log file: set HOME or pass --log-file")?;
    tonearm::logging::init(&log_file, &cli.log_level)
        .with_context(|| format!("cannot open the log file {}", log_file.display()))?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "tonearm starting");

    let mut cfg = load_config(&cli)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let demo = cli.demo;
    match cli.command {
        Some(Command::Sim(args)) => runtime.block_on(run_sim(args)),
        Some(Command::Login(args)) => runtime.block_on(run_login(demo, &mut cfg, args)),
        Some(Command::Logout) => run_logout(demo),
        Some(Command::Status) => runtime.block_on(run_status(demo, cfg)),
        None => {
            bail!(
                "the terminal UI is not built yet; try `tonearm --demo status` \
                 or `tonearm login`"
            )
        }
    }
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
    let mut sc = SimConfig {
        listen: args.listen,
        http_port: args.http_port,
        state_dir: args.state_dir,
        password_login: !args.no_password_login,
        ping_interval: Duration::from_secs(args.ping_interval.max(1)),
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

fn credential_store() -> Result<FileStore> {
    FileStore::default_location()
        .context("cannot find a place for credentials: set HOME or XDG_STATE_HOME")
}

async fn run_login(demo: bool, cfg: &mut Config, args: LoginArgs) -> Result<()> {
    let demo = if demo {
        let d = tonearm::demo::start(cfg.clone()).await?;
        *cfg = d.config.clone();
        Some(d)
    } else {
        None
    };
    let creds = if args.token_stdin {
        Credentials::with_access_token(&read_stdin_line("access token")?)
    } else if let (Some(user), true) = (&args.username, args.password_stdin) {
        Credentials::with_password(user, &read_stdin_line("password")?)
    } else if let Some(d) = &demo {
        Credentials::with_password(&d.account.username, &d.account.password)
    } else {
        bail!(
            "say how to sign in: `--username NAME --password-stdin` (legacy password) or \
             `--token-stdin` (an OAuth access token). Browser and device-code sign-in come later."
        )
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
    if demo.is_some() {
        writeln!(out, "Demo mode: credentials were not stored.")?;
    } else {
        let store = credential_store()?;
        store.save(&session.reusable_credentials())?;
        writeln!(
            out,
            "Stored reusable credentials in {}.",
            store.path().display()
        )?;
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
    let store = credential_store()?;
    if store.purge()? {
        println!("Removed {}.", store.path().display());
    } else {
        println!("No stored credentials.");
    }
    Ok(())
}

fn session_config(cfg: &Config) -> SessionConfig {
    SessionConfig::new(cfg.endpoints.clone(), cfg.device_id.clone())
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
    let d = tonearm::demo::start(cfg).await?;
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
