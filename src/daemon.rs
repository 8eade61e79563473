//! `tonearm daemon`: the Spotify Connect receiver without the TUI, for a headless box. Logs in
//! with the given (stored) credentials, or waits for a phone to hand over a login by zeroconf
//! `addUser` (optionally storing it); starts the services and the Connect service; carries out
//! every remote command through the one core ([`crate::control::apply_remote`], the same
//! mapping the TUI uses); on the shutdown signal deregisters the device (`DELETE
//! devices/{id}`), stops the player and the session. The shared supervisor
//! ([`crate::supervisor`]) keeps the session up: transient failures — at start-up too, e.g.
//! booting before the network — are retried forever with jittered back-off; refused
//! credentials are logged once and the daemon goes back to waiting for a zeroconf login.
//!
//! Zeroconf handovers while signed in (issue 12): the endpoint's accept policy
//! ([`crate::connect::discovery::policy`]) refuses other accounts by default, so those never get
//! here. A login that passes is first tried on a session of its own while the current one keeps
//! playing; only when it is up (and, under `same-account`, its canonical user name is the same
//! account's) does the daemon switch to it. A login that fails leaves the current session as
//! it was. Handed-over credentials are stored (with `--store-credentials`) in their own store
//! entry ([`DaemonOptions::zeroconf_store`]), never over the credentials the daemon started with.
//!
//! It serves the local control API ([`crate::local_api`]) when the config says so; its
//! commands take the same path as Connect's (`control::apply_intents`).
//! MPRIS (`desktop`) is one more front end here: its intents go through the same core.
//!
//! Called by `main.rs` (the `daemon` subcommand) and tests. Depends on the service modules
//! (session, services, connect, auth's credential store, desktop) and the core (`control`);
//! never on UI code or the simulator.

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::auth::store::{CredentialStore, StoreError};
use crate::config::{Config, ZeroconfAccept};
use crate::connect::discovery::{
    try_handover, Discovery, DiscoveryConfig, DiscoveryError, HandoverError, ZeroconfLogin,
};
use crate::connect::service::DeviceType;
use crate::connect::{Connect, ConnectConfig, ConnectError, ConnectEvent, RemoteCommand};
use crate::control;
use crate::player::PlayerEvent;
use crate::services::{PlaybackOptions, Services};
use crate::session::{Credentials, Session, SessionConfig, SessionError};
use crate::supervisor::Link;

/// How the daemon presents itself and plays.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub name: String,
    pub device_id: String,
    pub device_type: DeviceType,
    pub playback: PlaybackOptions,
    /// Serve zeroconf `getInfo`/`addUser` (and advertise over mDNS when `advertise`).
    pub zeroconf: bool,
    pub advertise: bool,
    /// Zeroconf HTTP port (0: any free one).
    pub zeroconf_port: u16,
    /// Where the zeroconf endpoint listens (`0.0.0.0`: all IPv4 interfaces; a loopback
    /// address is never advertised).
    pub zeroconf_bind: std::net::IpAddr,
    /// Store credentials handed over by `addUser` (in `zeroconf_store`).
    pub store_credentials: bool,
    /// Whose zeroconf logins are accepted (`None`: same-account once signed in, any before).
    pub accept: Option<ZeroconfAccept>,
    /// Where handed-over credentials are stored with `store_credentials`: an entry of its own,
    /// so a stranger's login never overwrites the credentials the daemon was started with.
    pub zeroconf_store: Option<CredentialStore>,
    /// The episodes' resume points file (`resume`; `None`: kept in memory only).
    pub resume_points: Option<std::path::PathBuf>,
}

/// What [`run`] reports once it is up (before any login when waiting for `addUser`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub name: String,
    pub device_id: String,
    /// The zeroconf HTTP port, when zeroconf is on.
    pub zeroconf_port: Option<u16>,
    /// Signed in already (`false`: waiting for a phone's `addUser`).
    pub signed_in: bool,
    /// The control API's socket, when it serves one.
    pub control_socket: Option<std::path::PathBuf>,
    /// Why the control API is off although the config asked for it.
    pub control_error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot sign in: {0}")]
    Session(#[from] SessionError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("cannot store the credentials: {0}")]
    Store(#[from] StoreError),
    #[error("zeroconf: {0}")]
    Discovery(#[from] DiscoveryError),
    #[error("no credentials: sign in with `tonearm login`, or enable zeroconf so a phone can hand over a login")]
    NoCredentials,
    #[error("signed out: {0}")]
    SignedOut(String),
}

impl DaemonError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            DaemonError::Session(e) => e.kind(),
            DaemonError::Connect(ConnectError::ClientToken(e)) => e.kind(),
            DaemonError::SignedOut(_) => crate::ErrorKind::Relogin,
            _ => crate::ErrorKind::Fatal,
        }
    }
}

enum Outcome {
    Shutdown,
    /// The access point refused the credentials while serving.
    SignedOut(String),
    /// A zeroconf login arrived and its session is up: go on with it.
    Switch(Session),
}

/// What a signed-in period starts from.
enum Start {
    /// Credentials still to log in with; `true`: handed over by zeroconf.
    Credentials(Credentials, bool),
    /// A handed-over login whose session is already up.
    Session(Session),
}

/// Runs the daemon until `shutdown` resolves. `credentials`: log in at once (stored
/// credentials, or the demo account); `None` waits for zeroconf. `store`: where the starting
/// credentials came from (renewed credentials of that account are saved there); handed-over
/// logins go to `opts.zeroconf_store` instead.
pub async fn run(
    config: Config,
    credentials: Option<Credentials>,
    store: Option<CredentialStore>,
    opts: DaemonOptions,
    on_start: impl FnOnce(&Started),
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    tokio::pin!(shutdown);
    // The local control API (`tonearm ctl`), when the config asks for it. A socket another
    // instance serves (the user's TUI, say) is left to it: the speaker runs without the API
    // and says so (`Started::control_error`).
    let (api, control_error) = match crate::local_api::LocalApi::start(
        &config.control,
        crate::local_api::Identity {
            device_id: opts.device_id.clone(),
            device_name: opts.name.clone(),
        },
    )
    .await
    {
        Ok(api) => (api, None),
        Err(e) => {
            tracing::error!("control API off: {e}");
            (None, Some(e.to_string()))
        }
    };
    let (discovery, mut logins) = if opts.zeroconf {
        let (d, rx) = Discovery::start(DiscoveryConfig {
            name: opts.name.clone(),
            device_id: opts.device_id.clone(),
            device_type: crate::connect::state::device_type_name(opts.device_type).into(),
            port: opts.zeroconf_port,
            bind: opts.zeroconf_bind,
            advertise: opts.advertise,
            client_id: crate::config::SPOTIFY_CLIENT_ID.into(),
            accept: opts.accept,
        })
        .await
        .inspect_err(|_| {
            if let Some(a) = &api {
                a.shutdown();
            }
        })?;
        // The account is known before its session is up: no window in which the default
        // policy would accept anyone.
        d.set_account(credentials.as_ref().and_then(|c| c.username.as_deref()));
        tracing::info!(policy = d.policy().as_str(), "zeroconf: accept policy");
        (Some(d), Some(rx))
    } else {
        (None, None)
    };
    // `[hooks]`: the user's command on the control API's events (needs the API's bus).
    let hooks = match (config.hooks.clone(), api.as_ref()) {
        (Some(h), Some(a)) => Some(crate::hooks::spawn(h, a.subscribe())),
        (Some(_), None) => {
            tracing::warn!("[hooks] needs the control API, which is off: no hooks");
            None
        }
        _ => None,
    };
    // `[remote]`: the guest remote, on the control API's intents path.
    let _guests = match crate::guests::GuestRemote::start(&config.remote, api.as_ref()).await {
        Ok(g) => g,
        Err(e) => {
            tracing::error!("guest remote off: {e}");
            None
        }
    };
    on_start(&Started {
        name: opts.name.clone(),
        device_id: opts.device_id.clone(),
        zeroconf_port: discovery.as_ref().map(|d| d.local_addr().port()),
        signed_in: credentials.is_some(),
        control_socket: api.as_ref().map(|a| a.listening().socket.clone()),
        control_error,
    });

    let mut next = credentials.map(|c| Start::Credentials(c, false));
    let result = loop {
        let start = match next.take() {
            Some(s) => s,
            None => {
                let Some(rx) = logins.as_mut() else {
                    break Err(DaemonError::NoCredentials);
                };
                tracing::info!("waiting for a zeroconf login (addUser)");
                tokio::select! {
                    _ = &mut shutdown => break Ok(()),
                    login = rx.recv() => match login {
                        Some(ZeroconfLogin { credentials, .. }) => Start::Credentials(credentials, true),
                        None => break Err(DaemonError::NoCredentials),
                    },
                }
            }
        };
        let handed_over = !matches!(start, Start::Credentials(_, false));
        match serve(
            &config,
            start,
            store.as_ref(),
            &opts,
            discovery.as_ref(),
            logins.as_mut(),
            &mut shutdown,
            api.as_ref(),
        )
        .await
        {
            Ok(Outcome::Shutdown) => break Ok(()),
            Ok(Outcome::Switch(session)) => next = Some(Start::Session(session)),
            Ok(Outcome::SignedOut(reason)) if logins.is_some() => {
                tracing::warn!(
                    "Spotify refused the credentials ({reason}); waiting for a phone to hand over a login (zeroconf)"
                );
            }
            Ok(Outcome::SignedOut(reason)) => break Err(DaemonError::SignedOut(reason)),
            Err(e) if discovery.is_some() && e.kind() == crate::ErrorKind::Relogin => {
                tracing::warn!(
                    "Spotify refused the credentials ({e}); waiting for a phone to hand over a login (zeroconf)"
                );
            }
            Err(e) if discovery.is_some() && handed_over => {
                // A bad handed-over login should not end a speaker: wait for the next one.
                tracing::warn!("zeroconf login failed: {e}");
            }
            Err(e) => break Err(e),
        }
    };
    if let Some(d) = discovery {
        d.shutdown().await;
    }
    if let Some(h) = hooks {
        h.abort();
    }
    if let Some(a) = api {
        a.shutdown();
    }
    result
}

/// One signed-in period: session, services, Connect, and the command loop.
#[allow(clippy::too_many_arguments)]
async fn serve(
    config: &Config,
    start: Start,
    store: Option<&CredentialStore>,
    opts: &DaemonOptions,
    discovery: Option<&Discovery>,
    mut logins: Option<&mut mpsc::Receiver<ZeroconfLogin>>,
    shutdown: &mut (impl Future<Output = ()> + Unpin),
    api: Option<&crate::local_api::LocalApi>,
) -> Result<Outcome, DaemonError> {
    let mut config = config.clone();
    config.device_id = opts.device_id.clone();
    config.device_name = opts.name.clone();
    // Transient failures (no network yet, the server down) are retried until it works or the
    // shutdown signal comes; anything else ends this period.
    let mut backoff = crate::supervisor::Backoff::default();
    let (creds, handed_over, mut ready) = match start {
        Start::Credentials(c, h) => (c, h, None),
        Start::Session(s) => (s.reusable_credentials(), true, Some(s)),
    };
    let session = loop {
        if let Some(s) = ready.take() {
            break s;
        }
        let connect = Session::connect(
            SessionConfig::new(config.endpoints.clone(), opts.device_id.clone()),
            creds.clone(),
        );
        let result = tokio::select! {
            _ = &mut *shutdown => return Ok(Outcome::Shutdown),
            r = connect => r,
        };
        match result {
            Ok(s) => break s,
            Err(e) if e.kind() == crate::ErrorKind::Retry => {
                let wait = backoff.next_wait();
                tracing::warn!(
                    attempt = backoff.attempt(),
                    ?wait,
                    "cannot sign in yet ({e}); retrying"
                );
                tokio::select! {
                    _ = &mut *shutdown => return Ok(Outcome::Shutdown),
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            Err(e) => return Err(e.into()),
        }
    };
    tracing::info!(user = %session.username(), "daemon signed in");
    // Credentials are renewed where they came from: the starting ones in `store`, handed-over
    // ones (when stored at all) in their own entry. The demo's are never stored.
    let renew_in = if handed_over {
        opts.zeroconf_store
            .as_ref()
            .filter(|_| opts.store_credentials)
    } else {
        store
    };
    let mut known = session.reusable_credentials();
    let (link_tx, mut link_rx) = mpsc::unbounded_channel();
    tokio::spawn(crate::supervisor::supervise(
        session.clone(),
        Duration::from_secs(1),
        Duration::from_secs(30),
        move |link| link_tx.send(link).is_ok(),
    ));
    if handed_over && opts.store_credentials {
        if let Some(store) = opts.zeroconf_store.as_ref() {
            match store.save(&session.reusable_credentials()) {
                Ok(()) => {
                    tracing::info!("stored the handed-over credentials in {}", store.describe())
                }
                Err(e) => tracing::warn!("cannot store the handed-over credentials: {e}"),
            }
        }
    }
    if let Some(d) = discovery {
        d.set_active_user(&session.username());
        d.set_account(Some(&session.username()));
    }
    let endpoints = config.endpoints.clone();
    let desktop_opts = crate::desktop::DesktopOptions::for_daemon(&config.desktop);
    let guard_settings = config.guard.clone();
    let (services, mut player_events) = Services::start(config, session, opts.playback.clone());
    let mut cc = ConnectConfig::new(opts.device_id.clone(), opts.name.clone());
    cc.device_type = opts.device_type;
    cc.initial_volume = opts.playback.volume;
    let mut backoff = crate::supervisor::Backoff::default();
    let (connect, mut events) = loop {
        let err = tokio::select! {
            _ = &mut *shutdown => {
                services.shutdown().await;
                return Ok(Outcome::Shutdown);
            }
            r = Connect::start(&services, cc.clone()) => match r {
                Ok(c) => break c,
                Err(e) => DaemonError::from(e),
            },
        };
        if err.kind() != crate::ErrorKind::Retry {
            services.shutdown().await;
            return Err(err);
        }
        let wait = backoff.next_wait();
        tracing::warn!(?wait, "Spotify Connect cannot start yet ({err}); retrying");
        tokio::select! {
            _ = &mut *shutdown => {
                services.shutdown().await;
                return Ok(Outcome::Shutdown);
            }
            _ = tokio::time::sleep(wait) => {}
        }
    };
    if let Some(a) = api {
        a.attach(&services);
        a.attach_connect(connect.clone());
        a.set_session(crate::local_api::Link::Online);
    }
    // MPRIS (and notifications when asked for): one more front end, through the core.
    let resolver = crate::desktop::resolver_for(&services);
    let desktop = crate::desktop::Desktop::start(desktop_opts, services.player.clone(), resolver);
    let (_desktop, mut mpris) = desktop
        .await
        .map_or((None, None), |(d, rx)| (Some(d), Some(rx)));
    // The device guard (`[guard]`) on this session's Connect; ends with it.
    let guard = guard_settings.map(|g| {
        let api = api.cloned();
        crate::guard::spawn(g, opts.device_id.clone(), connect.clone(), move |i| {
            if let Some(a) = &api {
                a.intruder(i);
            }
        })
    });
    // A handed-over login being tried while this session keeps playing.
    let mut trial: Option<tokio::task::JoinHandle<Result<Session, HandoverError>>> = None;
    // Episodes' resume points: kept from the player's status, used by Connect loads.
    let mut resume = crate::resume::ResumeKeeper::open(opts.resume_points.clone());
    let mut status = services.player.status();
    let outcome = loop {
        tokio::select! {
            Ok(()) = status.changed() => {
                let _ = resume.observe(&status.borrow_and_update(), std::time::Instant::now());
            }
            _ = &mut *shutdown => break Outcome::Shutdown,
            // The control API's commands: the same core as Connect's.
            intents = crate::local_api::next_intents(api) => {
                control::apply_intents(&services.player, intents);
            }
            joined = join_trial(&mut trial), if trial.is_some() => {
                trial = None;
                match joined {
                    Ok(Ok(new)) => {
                        tracing::info!(user = %new.username(), "a zeroconf login is up; switching to it");
                        break Outcome::Switch(new);
                    }
                    Ok(Err(e)) => tracing::warn!("zeroconf: {e}; keeping the current session"),
                    Err(e) => tracing::warn!("zeroconf: the handed-over login failed ({e}); keeping the current session"),
                }
            }
            Some(link) = link_rx.recv() => match link {
                Link::Online { .. } => {
                    tracing::info!("connected to the access point");
                    if let Some(a) = api {
                        a.set_session(crate::local_api::Link::Online);
                    }
                    let now = services.session.reusable_credentials();
                    if let (Some(store), true) = (renew_in, now != known) {
                        match store.save(&now) {
                            Ok(()) => tracing::info!("stored the renewed credentials"),
                            Err(e) => tracing::warn!("cannot store the renewed credentials: {e}"),
                        }
                    }
                    known = now;
                }
                Link::Reconnecting { attempt } => {
                    tracing::info!(attempt, "reconnecting to the access point");
                    if let Some(a) = api {
                        a.set_session(crate::local_api::Link::Reconnecting);
                    }
                }
                Link::SignedOut { reason } => break Outcome::SignedOut(reason),
                Link::Closed => break Outcome::Shutdown,
            },
            ev = events.recv() => match ev {
                Some(ConnectEvent::Command(mut cmd)) => {
                    tracing::debug!(?cmd, "applying remote command");
                    resume_start(&resume, &mut cmd);
                    if let (Some(a), RemoteCommand::Load { context_uri, ids, .. }) = (api, &cmd) {
                        a.loaded(context_uri, ids);
                    }
                    control::apply_remote(&services.player, &cmd);
                }
                Some(ConnectEvent::Notice { error, text }) => {
                    if error {
                        tracing::warn!("{text}");
                        if let Some(a) = api {
                            a.error(text.clone());
                        }
                    } else {
                        tracing::info!("{text}");
                    }
                }
                None => break Outcome::Shutdown,
            },
            Some(intent) = crate::desktop::next_intent(&mut mpris) => {
                crate::desktop::apply(&services.player, intent);
            }
            Some(ev) = player_events.recv() => match ev {
                PlayerEvent::Error { reason, skipped, .. } => {
                    tracing::warn!(skipped, "playback error: {reason}");
                    if let Some(a) = api {
                        a.error(format!("playback error: {reason}"));
                    }
                }
                PlayerEvent::TrackChanged(t) => {
                    tracing::info!(track = %t.name, "now playing");
                }
                _ => {}
            },
            // One handover at a time: the next waits in the receiver's small queue (beyond it
            // phones are answered "busy").
            login = next_login(&mut logins), if trial.is_none() => {
                if let Some(ZeroconfLogin { credentials, .. }) = login {
                    tracing::info!("a zeroconf login arrived; trying it while the current session plays on");
                    let sc = SessionConfig::new(endpoints.clone(), opts.device_id.clone());
                    let account = discovery.and_then(|d| d.account());
                    trial = Some(tokio::spawn(try_handover(sc, credentials, opts.accept, account)));
                }
            }
        }
    };
    let _ = resume.observe(&status.borrow(), std::time::Instant::now());
    resume.finish();
    if let Some(t) = trial.take() {
        t.abort();
    }
    if let Some(a) = api {
        a.detach();
        a.set_session(crate::local_api::Link::Offline);
    }
    if let Some(g) = guard {
        g.abort();
    }
    connect.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(10), services.shutdown()).await;
    if let Some(d) = discovery {
        d.set_active_user("");
    }
    Ok(outcome)
}

/// The trial login's result (pending while there is none).
async fn join_trial(
    trial: &mut Option<tokio::task::JoinHandle<Result<Session, HandoverError>>>,
) -> Result<Result<Session, HandoverError>, tokio::task::JoinError> {
    match trial {
        Some(t) => t.await,
        None => std::future::pending().await,
    }
}

async fn next_login(
    logins: &mut Option<&mut mpsc::Receiver<ZeroconfLogin>>,
) -> Option<ZeroconfLogin> {
    match logins {
        Some(rx) => match rx.recv().await {
            Some(l) => Some(l),
            None => {
                *logins = None;
                None
            }
        },
        None => std::future::pending().await,
    }
}

/// A Connect load that starts an episode from the top starts it at its resume point instead:
/// Spotify's apps send no start position for an episode (the receiver looks it up; see
/// `crates/tonearm-sim/README.md`, "Podcasts").
fn resume_start(resume: &crate::resume::ResumeKeeper, cmd: &mut RemoteCommand) {
    if let RemoteCommand::Load {
        ids,
        index,
        position_ms,
        ..
    } = cmd
    {
        let Some(&id) = ids.get(*index) else {
            return;
        };
        if *position_ms == 0 && resume.is_episode(id) {
            if let Some(p) = resume.get(id) {
                tracing::info!(position_ms = p, "an episode resumes where it was left");
                *position_ms = p;
            }
        }
    }
}
