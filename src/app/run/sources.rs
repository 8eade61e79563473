//! What wakes the TUI loop: [`Wake`], one value per kind of event, and [`Sources`], the loop's
//! event sources (signals, terminal events, effect answers, the services' channels and watches,
//! Connect, log lines, zeroconf handovers, the control API) with the one biased `select!` over
//! them in [`Sources::next`].
//!
//! Called by `app::run` only (its loop and the session hand-over, which plug the services'
//! receivers in and out). Holds no state of the app and must not depend on `ui` or on the rest
//! of `app::run`; a source that closes becomes `None` and is never polled again.

use std::future::pending;

use crossterm::event::{Event, EventStream};
use futures_util::StreamExt;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{mpsc, watch};

use crate::app::exec::Answer;
use crate::connect::{ConnectEvent, ConnectLink, Device, RemotePlayback};
use crate::logging::ForwardedLine;
use crate::player::{PlayerEvent, PlayerStatus, QueueSnapshot};
use crate::session::Session;

/// What woke the loop.
pub(super) enum Wake {
    Shutdown,
    Terminal(Event),
    TerminalGone,
    Answer(Answer),
    Player(PlayerEvent),
    Status,
    Queue,
    Connect(ConnectEvent),
    Devices,
    Remote,
    Link,
    /// Commands from the local control API, as the core's intents.
    Control(Vec<crate::control::Intent>),
    Log(ForwardedLine),
    /// A long rate-limit pause started (shown as a notification with the wait).
    RateLimit(crate::api::RateLimitNotice),
    /// A zeroconf login came up: wind the current session down, then switch.
    Handover(Session),
    /// The old session is wound down: this handed-over one takes its place.
    Switched(Session),
    Tick,
    /// Nothing else is ready (only when not blocking).
    Idle,
}

/// The loop's event sources. Service sources are `None` until the services run.
pub(super) struct Sources {
    pub(super) term: Option<EventStream>,
    pub(super) sigterm: Option<Signal>,
    pub(super) sigint: Option<Signal>,
    pub(super) answers: mpsc::UnboundedReceiver<Answer>,
    pub(super) log: mpsc::Receiver<ForwardedLine>,
    pub(super) rate: tokio::sync::broadcast::Receiver<crate::api::RateLimitNotice>,
    pub(super) player: Option<mpsc::UnboundedReceiver<PlayerEvent>>,
    pub(super) status: Option<watch::Receiver<PlayerStatus>>,
    pub(super) queue: Option<watch::Receiver<QueueSnapshot>>,
    pub(super) connect: Option<mpsc::UnboundedReceiver<ConnectEvent>>,
    pub(super) devices: Option<watch::Receiver<Vec<Device>>>,
    pub(super) remote: Option<watch::Receiver<Option<RemotePlayback>>>,
    pub(super) link: Option<watch::Receiver<ConnectLink>>,
    /// Sessions of accepted zeroconf logins (with `--zeroconf`).
    pub(super) handovers: Option<mpsc::UnboundedReceiver<Session>>,
    /// Handed-over sessions whose predecessor is gone.
    pub(super) switched: Option<mpsc::UnboundedReceiver<Session>>,
    pub(super) control: Option<crate::local_api::LocalApi>,
}

async fn changed<T>(rx: &mut Option<watch::Receiver<T>>) -> bool {
    match rx {
        Some(r) => r.changed().await.is_ok(),
        None => pending().await,
    }
}

async fn recv_unbounded<T>(rx: &mut Option<mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(r) => r.recv().await,
        None => pending().await,
    }
}

async fn signal_opt(s: &mut Option<Signal>) {
    match s {
        Some(s) => {
            if s.recv().await.is_none() {
                pending::<()>().await;
            }
        }
        None => pending().await,
    }
}

impl Sources {
    pub(super) fn new(
        answers: mpsc::UnboundedReceiver<Answer>,
        log: mpsc::Receiver<ForwardedLine>,
        control: Option<crate::local_api::LocalApi>,
    ) -> Self {
        Sources {
            term: Some(EventStream::new()),
            sigterm: signal(SignalKind::terminate()).ok(),
            sigint: signal(SignalKind::interrupt()).ok(),
            answers,
            log,
            rate: crate::api::rate_limit_notices(),
            player: None,
            status: None,
            queue: None,
            connect: None,
            devices: None,
            remote: None,
            link: None,
            handovers: None,
            switched: None,
            control,
        }
    }

    /// The next thing that happened. With `block == false` returns [`Wake::Idle`] when nothing
    /// is ready; `tick` is when the clock tick is due (only while something moves).
    pub(super) async fn next(&mut self, tick: Option<tokio::time::Instant>, block: bool) -> Wake {
        let term = &mut self.term;
        tokio::select! {
            biased;
            _ = signal_opt(&mut self.sigterm) => Wake::Shutdown,
            _ = signal_opt(&mut self.sigint) => Wake::Shutdown,
            ev = async {
                match term {
                    Some(t) => t.next().await,
                    None => pending().await,
                }
            } => match ev {
                Some(Ok(ev)) => Wake::Terminal(ev),
                Some(Err(e)) => {
                    tracing::error!(error = %e, "cannot read terminal events");
                    self.term = None;
                    Wake::TerminalGone
                }
                None => {
                    self.term = None;
                    Wake::TerminalGone
                }
            },
            ev = recv_unbounded(&mut self.player) => match ev {
                Some(ev) => Wake::Player(ev),
                None => { self.player = None; Wake::Idle }
            },
            ok = changed(&mut self.status) => {
                if ok { Wake::Status } else { self.status = None; Wake::Idle }
            },
            ok = changed(&mut self.queue) => {
                if ok { Wake::Queue } else { self.queue = None; Wake::Idle }
            },
            a = self.answers.recv() => match a {
                Some(a) => Wake::Answer(a),
                // The runtime holds a sender for the whole run; never closes.
                None => Wake::Idle,
            },
            intents = crate::local_api::next_intents(self.control.as_ref()) => Wake::Control(intents),
            ev = recv_unbounded(&mut self.connect) => match ev {
                Some(ev) => Wake::Connect(ev),
                None => { self.connect = None; Wake::Idle }
            },
            ok = changed(&mut self.devices) => {
                if ok { Wake::Devices } else { self.devices = None; Wake::Idle }
            },
            ok = changed(&mut self.remote) => {
                if ok { Wake::Remote } else { self.remote = None; Wake::Idle }
            },
            ok = changed(&mut self.link) => {
                if ok { Wake::Link } else { self.link = None; Wake::Idle }
            },
            s = recv_unbounded(&mut self.handovers) => match s {
                Some(s) => Wake::Handover(s),
                None => { self.handovers = None; Wake::Idle }
            },
            s = recv_unbounded(&mut self.switched) => match s {
                Some(s) => Wake::Switched(s),
                None => { self.switched = None; Wake::Idle }
            },
            Some(line) = self.log.recv() => Wake::Log(line),
            n = self.rate.recv() => match n {
                Ok(n) => Wake::RateLimit(n),
                // Missed some in a burst, or no sender (never: it is static): nothing to show.
                Err(_) => Wake::Idle,
            },
            _ = async {
                match tick {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => pending().await,
                }
            } => Wake::Tick,
            _ = std::future::ready(()), if !block => Wake::Idle,
        }
    }
}
