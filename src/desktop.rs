//! The desktop integration on the session bus: the MPRIS 2 player (`desktop::mpris`) and a
//! notification on track change (`desktop::notify`), over one zbus connection.
//!
//! MPRIS is one more front end of the one core ([`crate::control`]): its method calls and
//! property writes become [`Intent`]s, sent to the host on the channel [`Desktop::start`]
//! returns; the TUI feeds them into its event loop as messages (so `update` turns them into
//! effects like any key), the daemon applies them with [`apply`]. This module never drives the
//! player with semantics of its own. What it shows comes from the player's status watch (read
//! on demand for `Position`); a watcher task turns status changes into `PropertiesChanged`,
//! `Seeked` and notifications.
//!
//! No session bus (no `DBUS_SESSION_BUS_ADDRESS`, or connecting fails) is one log line and the
//! program runs without it. Called by `app::run` (the TUI) and `daemon.rs`; depends on the
//! player, control and services types; never on app or ui.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, watch};

use crate::config::DesktopSettings;
use crate::control::{self, Intent, Now};
use crate::id::SpotifyId;
use crate::player::loader::TrackInfo;
use crate::player::{Player, PlayerStatus};
use crate::services::Services;

pub mod mpris;
pub mod notify;

/// How long connecting to the session bus may take before the program goes on without it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What to offer on the session bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DesktopOptions {
    pub mpris: bool,
    pub notifications: bool,
}

impl DesktopOptions {
    /// The TUI's: notifications on unless the config turns them off.
    pub fn for_tui(s: &DesktopSettings) -> DesktopOptions {
        DesktopOptions {
            mpris: s.mpris,
            notifications: s.notifications.unwrap_or(true),
        }
    }

    /// The daemon's: notifications only when the config asks for them (a headless box has
    /// nobody to read them).
    pub fn for_daemon(s: &DesktopSettings) -> DesktopOptions {
        DesktopOptions {
            mpris: s.mpris,
            notifications: s.notifications.unwrap_or(false),
        }
    }

    fn any(self) -> bool {
        self.mpris || self.notifications
    }
}

/// Expands a `spotify:` URI or open.spotify.com link into the tracks to play (`OpenUri`); the
/// error is for people.
pub type Resolver =
    Arc<dyn Fn(String) -> BoxFuture<'static, Result<Vec<SpotifyId>, String>> + Send + Sync>;

/// The services' URI expansion ([`Services::resolve_queue`]) as a [`Resolver`].
pub fn resolver_for(services: &Services) -> Resolver {
    let services = services.clone();
    Arc::new(move |uri: String| {
        let services = services.clone();
        Box::pin(async move {
            services
                .resolve_queue(&[uri])
                .await
                .map_err(|e| e.to_string())
        })
    })
}

#[derive(Debug, thiserror::Error)]
pub enum DesktopError {
    #[error("no session bus: {0}")]
    Bus(#[from] zbus::Error),
    #[error("no session bus: connecting timed out")]
    Timeout,
}

/// The running integration; dropping it leaves the bus (the name is released with the
/// connection).
pub struct Desktop {
    /// Held for the bus name and the served objects; dropped with the integration.
    _conn: zbus::Connection,
    bus_name: Option<String>,
    task: tokio::task::JoinHandle<()>,
}

impl Desktop {
    /// Connects to the session bus and offers what `opts` asks for. `None` (after one log
    /// line) when there is nothing to offer or no bus; the intents are MPRIS's method calls.
    pub async fn start(
        opts: DesktopOptions,
        player: Player,
        resolver: Resolver,
    ) -> Option<(Desktop, mpsc::UnboundedReceiver<Intent>)> {
        if !opts.any() {
            return None;
        }
        match Desktop::connect(opts, player, resolver).await {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::info!("desktop integration (MPRIS, notifications) off: {e}");
                None
            }
        }
    }

    async fn connect(
        opts: DesktopOptions,
        player: Player,
        resolver: Resolver,
    ) -> Result<(Desktop, mpsc::UnboundedReceiver<Intent>), DesktopError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let stop = mpris::StopLatch::default();
        let build = async {
            let mut builder = zbus::connection::Builder::session()?;
            if opts.mpris {
                builder = builder.serve_at(mpris::PATH, mpris::Root)?.serve_at(
                    mpris::PATH,
                    mpris::PlayerIface::new(player.clone(), tx, resolver, stop.clone()),
                )?;
            }
            builder.build().await
        };
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, build)
            .await
            .map_err(|_| DesktopError::Timeout)??;
        let bus_name = if opts.mpris {
            Some(mpris::claim_name(&conn).await?)
        } else {
            None
        };
        if let Some(name) = &bus_name {
            tracing::info!(name = %name, "MPRIS: on the session bus");
        }
        let notifier = opts.notifications.then(|| notify::spawn(conn.clone()));
        let task = tokio::spawn(watch_status(
            conn.clone(),
            player.status(),
            opts.mpris,
            stop,
            notifier,
        ));
        Ok((
            Desktop {
                _conn: conn,
                bus_name,
                task,
            },
            rx,
        ))
    }

    /// The MPRIS bus name taken (`org.mpris.MediaPlayer2.tonearm`, or with `.instance<pid>`
    /// when another tonearm has it); `None` with MPRIS off.
    pub fn bus_name(&self) -> Option<&str> {
        self.bus_name.as_deref()
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Carries out an MPRIS intent on the local player through the core (the daemon's path; the
/// TUI sends intents through `update` instead). The repeat mode comes from [`Player::repeat`]
/// as in [`control::apply_remote`].
pub fn apply(player: &Player, intent: Intent) {
    let mut now = Now::of(Some(&player.status().borrow()), Instant::now());
    now.repeat = player.repeat();
    for op in control::ops(intent, &now) {
        player.apply(op);
    }
}

/// Starts the integration on a task of its own that hands every intent to `forward` (the
/// TUI's path: into its event loop) until `forward` returns `false` or the task is aborted;
/// aborting it leaves the bus.
pub fn spawn(
    opts: DesktopOptions,
    player: Player,
    resolver: Resolver,
    mut forward: impl FnMut(Intent) -> bool + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Some((_desktop, mut intents)) = Desktop::start(opts, player, resolver).await else {
            return;
        };
        while let Some(intent) = intents.recv().await {
            if !forward(intent) {
                return;
            }
        }
    })
}

/// The next MPRIS intent; pending forever without the integration (for a host's `select!`).
pub async fn next_intent(rx: &mut Option<mpsc::UnboundedReceiver<Intent>>) -> Option<Intent> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// Follows the player's status: MPRIS `PropertiesChanged` and `Seeked`, and a notification
/// when a new track starts; and the cover of the track being heard (`art::now_art_changes`),
/// which usually arrives after the track started: its `mpris:artUrl` is announced then.
async fn watch_status(
    conn: zbus::Connection,
    mut status: watch::Receiver<PlayerStatus>,
    mpris_on: bool,
    stop: mpris::StopLatch,
    notifier: Option<watch::Sender<Option<TrackInfo>>>,
) {
    let mut art = crate::art::now_art_changes();
    let mut last = status.borrow_and_update().clone();
    let mut last_stopped = stop.follow(&last);
    loop {
        tokio::select! {
            changed = status.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            // The sender is a process-wide static: never closed.
            _ = art.changed() => {
                let cover_of = art.borrow_and_update().as_ref().map(|(id, _)| *id);
                if mpris_on && cover_of.is_some() && cover_of == last.track.as_ref().map(|t| t.id) {
                    mpris::announce_metadata(&conn, &last).await;
                }
                continue;
            }
        }
        let now = status.borrow_and_update().clone();
        let stopped = stop.follow(&now);
        if mpris_on {
            mpris::announce(&conn, &last, &now, [last_stopped, stopped]).await;
        }
        last_stopped = stopped;
        if let (Some(n), Some(track)) = (&notifier, &now.track) {
            if last.track.as_ref().map(|t| t.id) != Some(track.id) {
                // The notifier takes the newest only: a slow notification server never holds
                // up MPRIS, and skipping fast through tracks notifies once at the end.
                n.send_replace(Some(track.clone()));
            }
        }
        last = now;
    }
}
