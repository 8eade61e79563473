//! The TUI's session life cycle: connecting with the stored (or demo) credentials at start-up
//! ([`connect_at_start`]), starting the services once a session is up
//! ([`Runtime::session_ready`]), winding them down for a handed-over zeroconf login
//! ([`Runtime::hand_over`]), and watching the connection ([`supervise`]); plus the small
//! helpers around it (the default device name's [`hostname`], the control API's view of the
//! link in [`control_link`]).
//!
//! Called by `app::run` (its start-up and its loop). Part of the runtime, so it may use the
//! runtime's state; it must not depend on `ui` beyond what the runtime owns.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::Runtime;
use crate::app::effect::Effect;
use crate::app::exec::{session_config, Answer};
use crate::app::msg::Msg;
use crate::app::persist::Persister;
use crate::app::state::{Level, Screen, SessionLink};
use crate::auth::store::CredentialStore;
use crate::config::Config;
use crate::services::Services;
use crate::session::{Credentials, Session};
use crate::supervisor::Link;

/// Connects with the stored (or demo) credentials: transient failures are retried with
/// back-off (the bar shows "reconnecting"); refused credentials send the user to sign in again;
/// anything else is a notification (the cached library stays on screen).
pub(super) async fn connect_at_start(
    cfg: Config,
    creds: Credentials,
    tx: mpsc::UnboundedSender<Answer>,
) {
    let mut backoff = crate::supervisor::Backoff::default();
    loop {
        match Session::connect(session_config(&cfg), creds.clone()).await {
            Ok(s) => {
                let _ = tx.send(Answer::SessionReady(s));
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, attempt = backoff.attempt(), "cannot connect with the stored credentials");
                match e.kind() {
                    crate::ErrorKind::Retry => {
                        let wait = backoff.next_wait();
                        let link = SessionLink::Reconnecting {
                            attempt: backoff.attempt(),
                        };
                        if tx.send(Answer::Msg(Msg::Session(link))).is_err() {
                            return;
                        }
                        tokio::time::sleep(wait).await;
                    }
                    crate::ErrorKind::Relogin => {
                        let _ = tx.send(Answer::StartFailed(e.to_string()));
                        return;
                    }
                    crate::ErrorKind::Notify | crate::ErrorKind::Fatal => {
                        let _ = tx.send(Answer::Msg(Msg::Session(SessionLink::Offline)));
                        let _ = tx.send(Answer::Msg(Msg::Notify {
                            level: Level::Error,
                            text: format!("Cannot connect: {e}"),
                            at: Instant::now(),
                        }));
                        return;
                    }
                }
            }
        }
    }
}

/// This machine's name, for the default device name.
pub(super) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "this computer".into())
}

impl Runtime {
    /// A handed-over zeroconf login is up: the current session's Connect device leaves the
    /// list and its services stop (awaited, so the old device's deregistration cannot land
    /// after the new registration), then [`Wake::Switched`] brings the new session in.
    pub(super) fn hand_over(&mut self, session: Session) -> bool {
        if let Some(t) = self.supervisor.take() {
            // Its session is going away on purpose: no "signed out" from it.
            t.abort();
        }
        if let Some(g) = self.guard.take() {
            g.abort();
        }
        let connect = self.connect_service.take();
        let services = self.exec.services.take();
        self.exec.controller = None;
        if let Some(d) = self.desktop.take() {
            d.abort();
        }
        let src = &mut self.sources;
        src.status = None;
        src.queue = None;
        src.player = None;
        src.connect = None;
        src.devices = None;
        src.remote = None;
        src.link = None;
        let tx = self.switch_tx.clone();
        tokio::spawn(async move {
            if let Some(c) = connect {
                let _ = tokio::time::timeout(Duration::from_secs(5), c.shutdown()).await;
            }
            if let Some(s) = services {
                let _ = tokio::time::timeout(Duration::from_secs(5), s.shutdown()).await;
            }
            let _ = tx.send(session);
        });
        false
    }

    /// The session is up: start the services, restore the queue, Connect, the library, and
    /// watch the connection. `handed_over`: it came from a zeroconf login (its credentials
    /// are not stored, and the library cache is that account's).
    pub(super) fn session_ready(&mut self, session: Session, handed_over: bool) -> bool {
        let username = session.username();
        tracing::info!(%username, handed_over, "signed in");
        if let Some(z) = &self.zeroconf {
            z.signed_in(&username);
        }
        if handed_over {
            // Another account's library: no incremental refresh from the old one's.
            self.exec.library = None;
            if !self.exec.demo {
                self.exec.cache_path = crate::api::library::default_cache_file(&username);
            }
        }
        let mut playback = self.playback.clone();
        if let (None, Some(q)) = (self.volume_override, &self.saved_queue) {
            playback.volume = q.volume;
        }
        let (services, events) =
            Services::start(self.exec.config.clone(), session.clone(), playback);
        if let Some(q) = self.saved_queue.take() {
            if !q.items.is_empty() {
                // The first save finds these items already shared (no second copy made).
                self.saved_items = Some(Arc::clone(&q.items));
                services.player.load(
                    q.items.to_vec(),
                    q.current.unwrap_or(0),
                    q.position_ms,
                    false,
                );
            }
        }
        self.sources.player = Some(events);
        self.sources.status = Some(services.player.status());
        self.sources.queue = Some(services.player.queue());
        if let Some(api) = &self.sources.control {
            api.attach(&services);
        }
        self.persister = Some(Persister::spawn(self.queue_path.clone()));
        if !self.exec.demo && self.exec.cache_path.is_none() {
            self.exec.cache_path = crate::api::library::default_cache_file(&username);
        }
        if self.connect {
            // Connect needs a client token and the dealer first: start it off the loop.
            let mut cc = crate::connect::service::ConnectConfig::new(
                self.exec.device_id.clone(),
                self.exec.device_name.clone(),
            );
            cc.initial_volume = services.player.status().borrow().volume;
            // LAN speakers found by mDNS join the device list (a speaker nobody is signed in to
            // can be woken with our credentials). Not in the demo: its account is the
            // simulator's, and the demo stays on 127.0.0.1.
            if !self.exec.demo {
                match crate::connect::mdns::browse() {
                    Ok(events) => {
                        cc.lan_devices = Some(crate::connect::service::lan_devices(events))
                    }
                    Err(e) => tracing::info!(error = %e, "no mDNS browse: LAN devices not listed"),
                }
            }
            let tx = self.exec_sender();
            let svc = services.clone();
            tokio::spawn(async move {
                match crate::connect::service::Connect::start(&svc, cc).await {
                    Ok((connect, events)) => {
                        let _ = tx.send(Answer::ConnectReady(connect, events));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "Spotify Connect did not start");
                        let _ = tx.send(Answer::Msg(Msg::Notify {
                            level: Level::Warn,
                            text: format!("Spotify Connect is off: {e}"),
                            at: Instant::now(),
                        }));
                    }
                }
            });
        }
        if let Some(old) = self.supervisor.replace(tokio::spawn(supervise(
            session,
            self.exec_sender(),
            !self.exec.demo && !handed_over,
        ))) {
            old.abort();
        }
        let tx = self.exec_sender();
        let desktop = crate::desktop::spawn(
            crate::desktop::DesktopOptions::for_tui(&self.exec.config.desktop),
            services.player.clone(),
            crate::desktop::resolver_for(&services),
            move |intent| tx.send(Answer::Msg(Msg::Control(vec![intent]))).is_ok(),
        );
        if let Some(old) = self.desktop.replace(desktop) {
            old.abort();
        }
        self.exec.services = Some(services);
        let was_login = matches!(self.state.screen, Screen::Login(_));
        let mut redraw = self.msg(Msg::Session(SessionLink::Online {
            username: username.clone(),
        }));
        if was_login {
            // `update` switches to the main screen and asks for the library.
            redraw |= self.msg(Msg::LoggedIn { username });
        } else {
            // The cached copy is already shown (or there is none): fetch a fresh one.
            self.exec.run(Effect::LoadLibrary { refresh: true });
        }
        redraw
    }
}

/// The session link as the control API reports it.
pub(super) fn control_link(link: &SessionLink) -> crate::local_api::Link {
    use crate::local_api::Link;
    match link {
        SessionLink::Offline => Link::Offline,
        SessionLink::Connecting => Link::Connecting,
        SessionLink::Online { .. } => Link::Online,
        SessionLink::Reconnecting { .. } => Link::Reconnecting,
    }
}

/// Watches the session through the shared supervisor ([`crate::supervisor`]): its link goes to
/// the status bar; refused credentials put the sign-in screen up (as at start). After a
/// reconnect that handed out new reusable credentials they replace the stored ones (`store`:
/// not with `--demo`, which touches no credential store).
async fn supervise(session: Session, tx: mpsc::UnboundedSender<Answer>, store: bool) {
    let mut known = session.reusable_credentials();
    let watched = session.clone();
    crate::supervisor::supervise(
        session,
        Duration::from_secs(1),
        Duration::from_secs(30),
        |link| {
            let answer = match link {
                Link::Online { username } => {
                    let now = watched.reusable_credentials();
                    if store && now != known {
                        known = now.clone();
                        tokio::task::spawn_blocking(move || {
                            match CredentialStore::open().and_then(|s| s.save(&now)) {
                                Ok(()) => tracing::info!("stored the renewed credentials"),
                                Err(e) => {
                                    tracing::warn!(error = %e, "cannot store the renewed credentials")
                                }
                            }
                        });
                    }
                    Answer::Msg(Msg::Session(SessionLink::Online { username }))
                }
                Link::Reconnecting { attempt } => {
                    Answer::Msg(Msg::Session(SessionLink::Reconnecting { attempt }))
                }
                Link::SignedOut { reason } => Answer::StartFailed(reason),
                Link::Closed => Answer::Msg(Msg::Session(SessionLink::Offline)),
            };
            tx.send(answer).is_ok()
        },
    )
    .await;
}
