//! The TUI runtime: start-up, the event loop, shutdown.
//!
//! Start-up draws the first frame before the network is done: the screen (login or main) is
//! chosen from whether credentials are stored, the cached library is read on a blocking task and
//! shows up a moment later, and the session connects on a spawned task (the now-playing bar says
//! "connecting" meanwhile). Once the session is up the services start, the saved queue is
//! restored paused, and the library is refreshed.
//!
//! The loop (architecture.md §3): a biased `select!` over shutdown signals, terminal events,
//! service events and watches, effect answers, Connect events, log lines, and a tick armed only
//! while `State::animating()`. It drains everything that is ready, then draws once if any
//! `update` asked for it. Idle means no wake-ups. Work that waits on the network runs on spawned
//! tasks (`exec`); file writes go to the `persist` writer task.
//!
//! With `--zeroconf` the TUI is a LAN Connect target too (`app::zeroconf`): a handed-over login
//! that passes the accept policy and comes up replaces the current session — the old services
//! and Connect device are wound down first, then the new session goes through the same
//! `session_ready` as a sign-in (its credentials are never written to the credential store).
//!
//! The local control API ([`crate::local_api`]) is one more source: its commands arrive as the
//! core's intents and go through `update` like keys (`Msg::Control`).
//!
//! Called from `main.rs`. Owns the terminal (`terminal`), the [`State`], and the service handles.
//! The loop's event sources live in `run/sources.rs`; the session's life cycle (connect at start,
//! services up, zeroconf hand-over, supervision) in `run/session.rs`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyEventKind, MouseButton, MouseEvent, MouseEventKind};
use tokio::sync::mpsc;

use crate::api::metadata::Bitrate;
use crate::app::effect::Effect;
use crate::app::exec::{Answer, Exec};
use crate::app::msg::{MouseKind, Msg};
use crate::app::persist::{self, Persister, SavedQueue};
use crate::app::state::{Level, LogLine, LoginStage, Screen, SessionLink, State};
use crate::app::terminal::Tui;
use crate::app::zeroconf::{TuiZeroconf, ZeroconfOptions};
use crate::audio::normalise::NormalisationConfig;
use crate::audio::sink::SinkSpec;
use crate::auth::store::CredentialStore;
use crate::config::Config;
use crate::connect::{ConnectEvent, Controller, RemoteCommand};
use crate::player::{PlayerEvent, PlayerStatus, QueueSnapshot};
use crate::services::PlaybackOptions;
use crate::session::{Credentials, Session};
use crate::theme::Theme;
use crate::uiconf::UiConfig;

mod session;
mod sources;

use session::{connect_at_start, control_link, hostname};
use sources::{Sources, Wake};

/// Two clicks on one cell within this are a double click.
const DOUBLE_CLICK: Duration = Duration::from_millis(400);
/// Messages handled before a draw even if more are ready (keeps the screen live under a flood).
const DRAIN_MAX: usize = 512;
/// Log lines buffered for the log pane; more are dropped.
const LOG_CHANNEL: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot set up the terminal: {0}")]
    Terminal(std::io::Error),
    #[error("the terminal failed: {0}")]
    Draw(std::io::Error),
    #[error(transparent)]
    Sink(#[from] crate::audio::sink::SinkError),
    #[error(transparent)]
    Demo(#[from] crate::demo::DemoError),
    #[error("cannot find the state directory: set HOME or XDG_STATE_HOME")]
    NoStateDir,
}

/// What `main.rs` resolved from the command line and the config.
pub struct RunOptions {
    pub config: Config,
    /// The UI config, loaded and checked before the terminal is touched.
    pub ui: UiConfig,
    pub demo: bool,
    pub sink: SinkSpec,
    pub bitrate: Bitrate,
    /// `--volume` in `0..=65535`; `None`: the saved volume (or the player's default).
    pub volume: Option<u16>,
    pub normalisation: NormalisationConfig,
    /// When the process started (first-frame timing).
    pub started: Instant,
    /// Run Spotify Connect (this device in the account's device list, remote control of the
    /// others) once signed in.
    pub connect: bool,
    /// Serve zeroconf (be a LAN Connect target); `None`: off.
    pub zeroconf: Option<ZeroconfOptions>,
}

/// Runs the TUI until the user quits or a signal arrives.
pub async fn run(mut opts: RunOptions) -> Result<(), RunError> {
    let (tx, answers) = mpsc::unbounded_channel::<Answer>();
    let mut notices: Vec<(Level, String)> = Vec::new();

    // Audio output: like `play`, fall back to the null sink in the demo when there is no device.
    if let Err(e) = crate::audio::output::probe(&opts.sink) {
        if opts.demo {
            notices.push((
                Level::Warn,
                format!("{e}. Demo: playing to the null sink instead (try --sink wav:demo.wav)."),
            ));
            opts.sink = SinkSpec::Null;
        } else {
            return Err(e.into());
        }
    }

    // Where state lives; with --demo only the queue file is written, to a temporary place.
    let state_dir = if opts.demo {
        let user = std::env::var("USER").unwrap_or_default();
        std::env::temp_dir().join(format!("tonearm-demo-{user}"))
    } else {
        crate::paths::state_dir().ok_or(RunError::NoStateDir)?
    };
    let device_id = if opts.demo {
        persist::random_device_id()
    } else {
        persist::device_id(&state_dir)
    };
    let mut config = opts.config.clone();
    config.device_id = device_id.clone();
    if config.device_name == Config::default().device_name {
        config.device_name = format!("tonearm on {}", hostname());
    }
    let device_name = config.device_name.clone();
    // The local control API (`tonearm ctl`): its commands come back in as intents for `update`.
    let control = match crate::local_api::LocalApi::start(
        &config.control,
        crate::local_api::Identity {
            device_id: device_id.clone(),
            device_name: device_name.clone(),
        },
    )
    .await
    {
        Ok(api) => api,
        Err(e) => {
            notices.push((Level::Error, format!("Control API off: {e}")));
            None
        }
    };

    // The demo: the simulator in-process, signed in with the demo account's password.
    let mut demo = None;
    let mut creds: Option<Credentials> = None;
    if opts.demo {
        let d = crate::demo::start(config.clone()).await?;
        config = d.config.clone();
        creds = Some(Credentials::with_password(
            &d.account.username,
            &d.account.password,
        ));
        demo = Some(d);
    }

    let mut exec = Exec::new(
        tx.clone(),
        config.clone(),
        opts.demo,
        device_id.clone(),
        device_name.clone(),
    );
    exec.control_api = control.clone();
    let screen = if opts.demo {
        Screen::Main
    } else {
        match CredentialStore::open().and_then(|s| s.load()) {
            Ok(Some(c)) => {
                exec.cache_path = c
                    .username
                    .as_deref()
                    .and_then(crate::api::library::default_cache_file);
                creds = Some(c);
                Screen::Main
            }
            Ok(None) => Screen::Login(LoginStage::Choose { selected: 0 }),
            Err(e) => {
                notices.push((
                    Level::Error,
                    format!("Cannot read the stored credentials: {e}"),
                ));
                Screen::Login(LoginStage::Choose { selected: 0 })
            }
        }
    };

    let UiConfig {
        mut keymap,
        themes,
        theme,
        mouse,
    } = opts.ui;
    let theme_names: Vec<String> = themes.names().into_iter().map(|n| n.to_string()).collect();
    let mut state = State::new(
        device_id.clone(),
        device_name.clone(),
        theme,
        theme_names,
        screen.clone(),
    );
    let help = keymap.help_entries();
    state.memo.help_len = help.len();

    // The LAN receiver belongs to the stored (or demo) account from the start.
    let (zeroconf, handovers) = match opts.zeroconf {
        Some(zo) => {
            let account = creds.as_ref().and_then(|c| c.username.clone());
            match TuiZeroconf::start(&config, zo, account.as_deref()).await {
                Ok((z, rx)) => (Some(z), Some(rx)),
                Err(e) => {
                    tracing::warn!(error = %e, "zeroconf is off");
                    notices.push((Level::Warn, format!("Zeroconf is off: {e}")));
                    (None, None)
                }
            }
        }
        None => (None, None),
    };

    // Kick off the slow parts before the first frame: the cached library and the session.
    if let Some(c) = creds.take() {
        state.session = SessionLink::Connecting;
        state.library.loading = true;
        exec.load_library(false);
        tokio::spawn(connect_at_start(config.clone(), c, tx.clone()));
    }
    state.devices.devices = vec![exec.this_device()];
    // The trust prompt's remembered answers (not with --demo: its LAN browse is off and
    // nothing of it is kept).
    if !opts.demo {
        let path = crate::app::trust_store::trust_file(&state_dir);
        match crate::app::trust_store::load(&path) {
            Ok(map) => state.trusted = map,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring the trusted devices file");
                notices.push((Level::Warn, e.to_string()));
            }
        }
        exec.trust_path = Some(path);
    }

    let queue_path = persist::queue_file(&state_dir);
    let saved_queue = match persist::load_queue(&queue_path) {
        Ok(q) => q,
        Err(e) => {
            tracing::warn!(error = %e, "ignoring the saved queue");
            notices.push((Level::Warn, e.to_string()));
            None
        }
    };

    // `[remote]`: the guest remote, on the control API's intents path (it stops with it).
    let _guests = match crate::guests::GuestRemote::start(&config.remote, control.as_ref()).await {
        Ok(g) => g,
        Err(e) => {
            notices.push((Level::Error, format!("Guest remote off: {e}")));
            None
        }
    };
    let log_lines = crate::logging::forward_to(LOG_CHANNEL);
    let mut tui = Tui::enter(mouse).map_err(RunError::Terminal)?;
    if let Ok(size) = tui.terminal.size() {
        state.size = (size.width, size.height);
    }
    // Covers: ask the terminal what it can draw now, in raw mode on the alternate screen and
    // before the event stream (`Sources::new`) starts reading stdin.
    let art = crate::ui::art::ArtRenderer::detect(config.ui.album_art);
    tracing::info!(protocol = art.protocol_name(), "album art");
    state.art.enabled = config.ui.album_art != crate::config::AlbumArt::Off;
    if state.art.enabled {
        let cap_mb = config
            .ui
            .art_cache_mb
            .unwrap_or(crate::config::DEFAULT_ART_CACHE_MB);
        // With --demo nothing is stored; a cap of 0 turns the disk cache off.
        let cache = (!opts.demo && cap_mb > 0)
            .then(crate::paths::cache_dir)
            .flatten()
            .map(|dir| {
                crate::art::DiskCache::new(crate::art::cache_dir(&dir), cap_mb * 1024 * 1024)
            });
        exec.art = Some(crate::art::ArtService::new(cache));
    }
    let now = Instant::now();
    for (level, text) in notices {
        apply(
            &mut state,
            &mut exec,
            Msg::Notify {
                level,
                text,
                at: now,
            },
        );
    }

    // `[hooks]`: the user's command on the control API's events (needs the API's bus).
    let hooks = match (config.hooks.clone(), control.as_ref()) {
        (Some(h), Some(api)) => Some(crate::hooks::spawn(h, api.subscribe())),
        (Some(_), None) => {
            tracing::warn!("[hooks] needs the control API, which is off: no hooks");
            None
        }
        _ => None,
    };
    let (switch_tx, switched) = mpsc::unbounded_channel();
    let mut sources = Sources::new(answers, log_lines, control);
    sources.handovers = handovers;
    sources.switched = Some(switched);
    let resume = crate::resume::ResumeKeeper::open(Some(crate::resume::resume_file(&state_dir)));
    state.resume_points = resume.all();
    let mut rt = Runtime {
        state,
        exec,
        keymap_help: help,
        themes,
        sources,
        persister: None,
        saved_queue,
        queue_path,
        volume_override: opts.volume,
        playback: PlaybackOptions {
            sink: opts.sink.clone(),
            bitrate: opts.bitrate,
            volume: opts.volume.unwrap_or((65535u32 * 6 / 10) as u16),
            normalisation: opts.normalisation,
        },
        connect: opts.connect,
        connect_service: None,
        clicks: Clicks::default(),
        last_saved: None,
        resume,
        saved_items: None,
        started: opts.started,
        frames: 0,
        library_frame_logged: false,
        zeroconf,
        supervisor: None,
        switch_tx,
        desktop: None,
        guard: None,
        art,
    };
    let result = rt.run_loop(&mut tui, &mut keymap).await;

    // Give the terminal back first, then wind the services down.
    crate::logging::stop_forwarding();
    rt.save_final();
    drop(tui);
    let Runtime {
        exec,
        persister,
        connect_service,
        zeroconf,
        sources,
        desktop,
        ..
    } = rt;
    if let Some(d) = desktop {
        d.abort();
    }
    if let Some(z) = zeroconf {
        let _ = tokio::time::timeout(Duration::from_secs(3), z.shutdown()).await;
    }
    if let Some(api) = &sources.control {
        api.shutdown();
    }
    if let Some(h) = hooks {
        h.abort();
    }
    if let Some(c) = connect_service {
        // Leaves the account's device list.
        let _ = tokio::time::timeout(Duration::from_secs(3), c.shutdown()).await;
    }
    if let Some(p) = persister {
        let _ = tokio::time::timeout(Duration::from_secs(3), p.finish()).await;
    }
    if let Some(s) = &exec.services {
        let _ = tokio::time::timeout(Duration::from_secs(3), s.shutdown()).await;
    }
    if let Some(d) = demo {
        let _ = tokio::time::timeout(Duration::from_secs(3), d.shutdown()).await;
    }
    tracing::info!("tonearm TUI closed");
    result
}

/// Tells the desktop integration (MPRIS `artUrl`, the notification's image) the cover of the
/// track being heard, once it is ready.
fn note_now_art(state: &State) {
    let track = state.player.as_ref().and_then(|p| p.track.as_ref());
    let cover = state.art.now.as_ref().and_then(|k| state.art.covers.get(k));
    if let (Some(t), Some(crate::app::state::CoverState::Ready(c))) = (track, cover) {
        if state.remote.is_none() {
            crate::art::set_now_art(t.id, c.art_url());
        }
    }
}

/// Applies one message and runs its effects; returns whether to redraw.
fn apply(state: &mut State, exec: &mut Exec, msg: Msg) -> bool {
    let out = crate::app::update::update(state, msg);
    note_now_art(state);
    for e in out.effects {
        exec.run(e);
    }
    out.redraw
}

struct Runtime {
    state: State,
    exec: Exec,
    keymap_help: Vec<crate::keymap::HelpEntry>,
    themes: crate::theme::ThemeSet,
    sources: Sources,
    persister: Option<Persister>,
    /// The queue to restore once the player runs.
    saved_queue: Option<SavedQueue>,
    queue_path: PathBuf,
    volume_override: Option<u16>,
    playback: PlaybackOptions,
    connect: bool,
    connect_service: Option<Arc<crate::connect::service::Connect>>,
    clicks: Clicks,
    /// What the persister last saved of the status ([`persist::save_due`] decides the next).
    last_saved: Option<persist::SavedStatus>,
    /// Episodes' resume points (`crate::resume`), mirrored into `state.resume_points`.
    resume: crate::resume::ResumeKeeper,
    /// The queue's items as last handed to the persister (shared with its snapshots).
    saved_items: Option<Arc<[crate::id::SpotifyId]>>,
    /// When the process started: the first frames' timings are logged against it.
    started: Instant,
    frames: u64,
    library_frame_logged: bool,
    /// The LAN receiver (with `--zeroconf`).
    zeroconf: Option<TuiZeroconf>,
    /// The supervisor task watching the current session (aborted when it is replaced).
    supervisor: Option<tokio::task::JoinHandle<()>>,
    /// Where a wound-down handover goes on (to [`Wake::Switched`]).
    switch_tx: mpsc::UnboundedSender<Session>,
    /// MPRIS and notifications for the current services (`desktop::spawn`; its intents come
    /// in as `Msg::Control` answers). Aborted when the services go.
    desktop: Option<tokio::task::JoinHandle<()>>,
    /// The device guard on the current Connect service (with `[guard]`).
    guard: Option<tokio::task::JoinHandle<()>>,
    /// Draws covers (terminal graphics chosen at start-up; encoded pictures kept).
    art: crate::ui::art::ArtRenderer,
}

impl Runtime {
    async fn run_loop(
        &mut self,
        tui: &mut Tui,
        keymap: &mut crate::keymap::Keymap,
    ) -> Result<(), RunError> {
        self.draw(tui)?;
        let mut next_tick: Option<tokio::time::Instant> = None;
        loop {
            // Arm the tick only while something moves, for the moment it shows something new
            // (a spinner's step, the clock's next second); keep an armed deadline (no drift).
            next_tick = self
                .state
                .tick_in(std::time::Instant::now())
                .map(|d| next_tick.unwrap_or_else(|| tokio::time::Instant::now() + d));
            let mut dirty = false;
            let mut handled = 0usize;
            loop {
                let wake = self.sources.next(next_tick, handled == 0).await;
                if matches!(wake, Wake::Idle) && handled > 0 {
                    break;
                }
                if matches!(wake, Wake::Tick) {
                    // Re-armed above, after this round, from the state as it is then.
                    next_tick = None;
                }
                match self.handle(wake, keymap) {
                    Flow::Quit => return Ok(()),
                    Flow::Continue(redraw) => dirty |= redraw,
                }
                if self.state.quit {
                    return Ok(());
                }
                handled += 1;
                if handled >= DRAIN_MAX {
                    break;
                }
            }
            if dirty {
                self.draw(tui)?;
            }
        }
    }

    fn draw(&mut self, tui: &mut Tui) -> Result<(), RunError> {
        let plain;
        let theme: &Theme = match self.themes.get(&self.state.theme) {
            Some(t) => t,
            None => {
                plain = Theme::plain();
                &plain
            }
        };
        let state = &self.state;
        let help = &self.keymap_help;
        let mut hit = None;
        let art = &mut self.art;
        tui.terminal
            .draw(|f| {
                hit = Some(crate::ui::draw_with_art(
                    f,
                    state,
                    theme,
                    help,
                    Instant::now(),
                    art,
                ))
            })
            .map_err(RunError::Draw)?;
        if let Some(h) = hit {
            self.state.hitmap = h;
        }
        self.frames += 1;
        // Start-up time as the user sees it, logged once each (cheap; `make bench` reads the
        // second line).
        if self.frames == 1 {
            tracing::info!(
                ms = self.started.elapsed().as_secs_f64() * 1000.0,
                "startup: first frame"
            );
        }
        if !self.library_frame_logged && self.state.library.data.is_some() {
            self.library_frame_logged = true;
            tracing::info!(
                ms = self.started.elapsed().as_secs_f64() * 1000.0,
                "startup: first frame with the library"
            );
        }
        Ok(())
    }

    fn msg(&mut self, msg: Msg) -> bool {
        apply(&mut self.state, &mut self.exec, msg)
    }

    fn handle(&mut self, wake: Wake, keymap: &mut crate::keymap::Keymap) -> Flow {
        let redraw = match wake {
            Wake::Shutdown => {
                tracing::info!("signal: shutting down");
                return Flow::Quit;
            }
            Wake::TerminalGone => return Flow::Quit,
            Wake::Idle => false,
            Wake::Tick => {
                // While playing steadily the player publishes its status about once a second
                // (only drift and changes come sooner): the clock tick keeps the every-second
                // save on time.
                if let Some(status) = self.state.player.clone() {
                    self.persist_status(&status);
                }
                self.msg(Msg::Tick(Instant::now()))
            }
            Wake::Terminal(ev) => self.terminal_event(ev, keymap),
            Wake::Answer(Answer::Msg(m)) => {
                if let Msg::Library(Ok(lib)) = &m {
                    self.exec.library = Some(lib.clone());
                }
                if let Some(api) = &self.sources.control {
                    match &m {
                        Msg::Session(link) => api.set_session(control_link(link)),
                        Msg::Notify {
                            level: Level::Error,
                            text,
                            ..
                        } => api.error(text.clone()),
                        _ => {}
                    }
                }
                self.msg(m)
            }
            Wake::Answer(Answer::SessionReady(session)) => self.session_ready(session, false),
            Wake::Handover(session) => self.hand_over(session),
            Wake::Switched(session) => self.session_ready(session, true),
            Wake::Answer(Answer::ConnectReady(connect, events)) => {
                self.sources.devices = Some(connect.devices());
                self.sources.remote = Some(connect.remote());
                self.sources.link = Some(connect.link());
                self.sources.connect = Some(events);
                if let Some(api) = &self.sources.control {
                    api.attach_connect(connect.clone());
                }
                let controller: Arc<dyn Controller> = connect.clone();
                if let Some(g) = self.exec.config.guard.clone() {
                    let (tx, api) = (self.exec.sender(), self.sources.control.clone());
                    let own = connect.device_id().to_string();
                    let task = crate::guard::spawn(g, own, controller.clone(), move |i| {
                        if let Some(a) = &api {
                            a.intruder(i);
                        }
                        let what = match i.response {
                            crate::guard::Response::Paused => "paused it",
                            crate::guard::Response::Notified => "not on the guard's list",
                        };
                        let _ = tx.send(Answer::Msg(Msg::Notify {
                            level: Level::Warn,
                            text: format!(
                                "{} ({}) is playing on your account: {what}",
                                crate::logging::escaped(&i.device_name),
                                crate::logging::escaped(&i.device_id)
                            ),
                            at: Instant::now(),
                        }));
                    });
                    if let Some(old) = self.guard.replace(task) {
                        old.abort();
                    }
                }
                self.exec.controller = Some(controller);
                self.connect_service = Some(connect);
                // The device list now comes from Connect.
                self.exec.run(Effect::RefreshDevices);
                false
            }
            Wake::Answer(Answer::StartFailed(message)) => {
                // Signed out while running (the supervisor's `SignedOut`): the old account's
                // Connect device leaves the list and its services stop; signing in again
                // starts new ones.
                if let Some(g) = self.guard.take() {
                    g.abort();
                }
                if let Some(c) = self.connect_service.take() {
                    tokio::spawn(async move { c.shutdown().await });
                }
                self.exec.controller = None;
                if let Some(api) = &self.sources.control {
                    api.detach();
                }
                if let Some(d) = self.desktop.take() {
                    d.abort();
                }
                if let Some(s) = self.exec.services.take() {
                    tokio::spawn(async move { s.shutdown().await });
                }
                if let Some(z) = &self.zeroconf {
                    z.signed_out();
                }
                // `update` takes sign-in stages only on the login screen, so the runtime moves
                // there itself: the stored credentials did not work, sign in again.
                self.state.screen = Screen::Login(LoginStage::Failed {
                    message,
                    selected: 0,
                });
                self.state.library.loading = false;
                self.msg(Msg::Session(SessionLink::Offline));
                true
            }
            Wake::Player(ev) => {
                if let (PlayerEvent::Error { reason, .. }, Some(api)) = (&ev, &self.sources.control)
                {
                    api.error(format!("playback error: {reason}"));
                }
                self.msg(Msg::PlayerEvent(ev))
            }
            Wake::Control(intents) => self.msg(Msg::Control(intents)),
            Wake::Status => {
                let Some(mut status) = self
                    .sources
                    .status
                    .as_mut()
                    .map(|r| r.borrow_and_update().clone())
                else {
                    return Flow::Continue(false);
                };
                // The repeat mode as last requested: a status published before the engine took
                // a `SetRepeat` already sent would undo what `update` anticipated, and Connect's
                // repeat flags (sent back to back) are refined against this mode.
                if let Some(services) = &self.exec.services {
                    status.repeat = services.player.repeat();
                }
                self.persist_status(&status);
                self.msg(Msg::PlayerStatus(status))
            }
            Wake::Queue => {
                let Some(snap) = self
                    .sources
                    .queue
                    .as_mut()
                    .map(|r| r.borrow_and_update().clone())
                else {
                    return Flow::Continue(false);
                };
                self.save_queue(&snap);
                self.msg(Msg::Queue(snap))
            }
            Wake::Connect(ConnectEvent::Command(c)) => {
                if let (
                    RemoteCommand::Load {
                        context_uri, ids, ..
                    },
                    Some(api),
                ) = (&c, &self.sources.control)
                {
                    api.loaded(context_uri, ids);
                }
                self.msg(Msg::RemoteCommand(c))
            }
            Wake::Connect(ConnectEvent::Notice { error, text }) => {
                if let (true, Some(api)) = (error, &self.sources.control) {
                    api.error(text.clone());
                }
                self.msg(Msg::Notify {
                    level: if error { Level::Error } else { Level::Info },
                    text,
                    at: Instant::now(),
                })
            }
            Wake::Devices => {
                let Some(d) = self
                    .sources
                    .devices
                    .as_mut()
                    .map(|r| r.borrow_and_update().clone())
                else {
                    return Flow::Continue(false);
                };
                self.msg(Msg::Devices(Ok(d)))
            }
            Wake::Remote => {
                let Some(r) = self
                    .sources
                    .remote
                    .as_mut()
                    .map(|r| r.borrow_and_update().clone())
                else {
                    return Flow::Continue(false);
                };
                self.msg(Msg::Remote(r))
            }
            Wake::Link => {
                let Some(l) = self
                    .sources
                    .link
                    .as_mut()
                    .map(|r| r.borrow_and_update().clone())
                else {
                    return Flow::Continue(false);
                };
                self.msg(Msg::ConnectLink(l))
            }
            Wake::RateLimit(n) => self.msg(Msg::Notify {
                level: Level::Warn,
                text: format!(
                    "Spotify is rate limiting us: waiting {} s before asking {} again",
                    n.wait.as_secs(),
                    n.host
                ),
                at: Instant::now(),
            }),
            Wake::Log(line) => self.msg(Msg::Log(LogLine {
                level: match line.level {
                    tracing::Level::ERROR => Level::Error,
                    tracing::Level::WARN => Level::Warn,
                    tracing::Level::INFO => Level::Info,
                    _ => Level::Debug,
                },
                target: line.target,
                text: line.text,
            })),
        };
        Flow::Continue(redraw)
    }

    fn terminal_event(&mut self, ev: Event, keymap: &mut crate::keymap::Keymap) -> bool {
        match ev {
            Event::Key(key) => {
                if key.kind == KeyEventKind::Release {
                    return false;
                }
                match crate::app::input::route_key(&self.state, keymap, &key) {
                    Some(m) => self.msg(m),
                    None => false,
                }
            }
            Event::Mouse(m) => match self.mouse(m) {
                Some(msg) => self.msg(msg),
                None => false,
            },
            Event::Resize(w, h) => self.msg(Msg::Resize(w, h)),
            _ => false,
        }
    }

    /// Mouse events as messages: a left press is a click, or a double click when it hits the
    /// same cell as the previous click within [`DOUBLE_CLICK`].
    fn mouse(&mut self, m: MouseEvent) -> Option<Msg> {
        let (x, y) = (m.column, m.row);
        let kind = match m.kind {
            MouseEventKind::Down(MouseButton::Left) => self.clicks.press(x, y, Instant::now()),
            MouseEventKind::ScrollUp => MouseKind::ScrollUp,
            MouseEventKind::ScrollDown => MouseKind::ScrollDown,
            _ => return None,
        };
        Some(Msg::Mouse { kind, x, y })
    }

    fn exec_sender(&self) -> mpsc::UnboundedSender<Answer> {
        self.exec.sender()
    }

    fn snapshot(&mut self, queue: &QueueSnapshot, now: Instant) -> SavedQueue {
        let (position, volume) = match self.sources.status.as_ref() {
            Some(s) => {
                let s = s.borrow();
                (persist::position_at(&s, now), s.volume)
            }
            None => (0, self.playback.volume),
        };
        SavedQueue::with_items(
            self.saved_items(&queue.items),
            queue.current,
            position,
            volume,
        )
    }

    /// The queue's items for saving, copied again only when the queue changed (the
    /// every-second save while playing hands on the same ones).
    fn saved_items(&mut self, items: &[crate::id::SpotifyId]) -> Arc<[crate::id::SpotifyId]> {
        match &self.saved_items {
            Some(saved) if **saved == *items => Arc::clone(saved),
            _ => {
                let saved: Arc<[crate::id::SpotifyId]> = items.into();
                self.saved_items = Some(Arc::clone(&saved));
                saved
            }
        }
    }

    /// Saves the queue (on every queue or track change, and from `persist_status`).
    fn save_queue(&mut self, queue: &QueueSnapshot) {
        let now = Instant::now();
        let q = self.snapshot(queue, now);
        if let Some(p) = self.persister.as_mut() {
            p.save(q);
            if let Some(s) = self.sources.status.as_ref() {
                self.last_saved = Some(persist::SavedStatus::of(&s.borrow(), now));
            }
        }
    }

    /// Saves on pause/play/stop, a seek, a volume change, and every second while playing
    /// ([`persist::save_due`]): a `kill -9` at any moment loses at most a second.
    fn persist_status(&mut self, status: &PlayerStatus) {
        let now = Instant::now();
        if self.resume.observe(status, now) {
            if let Some(t) = &status.track {
                match self.resume.get(t.id) {
                    Some(ms) => self.state.resume_points.insert(t.id, ms),
                    None => self.state.resume_points.remove(&t.id),
                };
            }
        }
        if self.last_saved.is_none() {
            self.last_saved = Some(persist::SavedStatus::of(status, now));
            return;
        }
        if persist::save_due(self.last_saved.as_ref(), status, now) {
            // Read in place (a 10k-track queue is 160 KB to copy each second).
            match self.sources.queue.clone() {
                Some(rx) => self.save_queue(&rx.borrow()),
                None => self.last_saved = Some(persist::SavedStatus::of(status, now)),
            }
        }
    }

    /// The last snapshot on the way out (with the exact position).
    fn save_final(&mut self) {
        if let Some(s) = self.sources.status.as_ref().map(|s| s.borrow().clone()) {
            self.resume.observe(&s, Instant::now());
        }
        self.resume.finish();
        if let Some(q) = self.sources.queue.as_ref().map(|q| q.borrow().clone()) {
            self.save_queue(&q);
        }
    }
}

/// Tells clicks from double clicks: a press on the same cell as the previous click within
/// [`DOUBLE_CLICK`] is a double click; the press after a double click starts a new pair.
#[derive(Debug, Default)]
struct Clicks {
    last: Option<(u16, u16, Instant)>,
}

impl Clicks {
    fn press(&mut self, x: u16, y: u16, now: Instant) -> MouseKind {
        let double = self.last.is_some_and(|(lx, ly, at)| {
            lx == x && ly == y && now.saturating_duration_since(at) <= DOUBLE_CLICK
        });
        self.last = if double { None } else { Some((x, y, now)) };
        if double {
            MouseKind::DoubleClick
        } else {
            MouseKind::Click
        }
    }
}

enum Flow {
    Continue(bool),
    Quit,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_click_needs_the_same_cell_within_the_interval() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut c = Clicks::default();
        assert_eq!(c.press(3, 4, t0), MouseKind::Click);
        assert_eq!(c.press(3, 4, ms(300)), MouseKind::DoubleClick);
        // The third press starts a new pair.
        assert_eq!(c.press(3, 4, ms(400)), MouseKind::Click);
        // Too late.
        assert_eq!(c.press(3, 4, ms(900)), MouseKind::Click);
        // Another cell.
        assert_eq!(c.press(4, 4, ms(1000)), MouseKind::Click);
        assert_eq!(c.press(4, 4, ms(1400)), MouseKind::DoubleClick);
    }
}
