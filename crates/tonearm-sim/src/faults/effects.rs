//! What the faults do to a running simulator: applying a [`Fault`] to the shared state, and the
//! guards the AP listener, the dealer and the CDN consult. Split from `faults.rs` so that the
//! fault types (held inside `Shared`) do not depend on `Shared` themselves.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use tokio::sync::watch;
use tokio::time::Instant;

use super::*;
use crate::state::{Counters, Shared};
use crate::util::lock;
use crate::{ApFaults, HttpFaults};

/// Applies `fault` (`Simulator::fault` and the admin endpoint).
pub(crate) fn apply(shared: &Shared, fault: Fault) -> FaultAck {
    let live = &shared.live;
    let name = fault.name();
    let mut closed = 0u64;
    match fault {
        Fault::RevokeTokens => revoke_tokens(shared),
        Fault::RevokeCredentials => {
            let n = lock(&shared.store).revoke_all_stored();
            tracing::warn!(stored_credentials = n, "fault: stored credentials revoked");
            revoke_tokens(shared);
        }
        Fault::DropApConnections => {
            closed = live.ap_drop.receiver_count() as u64;
            live.ap_drop.send_modify(|g| *g = g.wrapping_add(1));
            tracing::warn!(connections = closed, "fault: every AP connection dropped");
        }
        Fault::DealerFlap(p) => {
            lock(&live.plan).flap = p
                .close_after_ms
                .filter(|_| p.times > 0)
                .map(|ms| (Duration::from_millis(ms), p.times));
            closed = live.dealer_kick.receiver_count() as u64;
            live.dealer_kick.send_modify(|g| *g = g.wrapping_add(1));
            tracing::warn!(
                websockets = closed,
                then = p.times,
                "fault: dealer flapping"
            );
        }
        Fault::StallCdn(p) => {
            let stall = match p.for_ms {
                Some(ms) => Stall::Until(Instant::now() + Duration::from_millis(ms)),
                None => Stall::UntilCleared,
            };
            live.stall.send_replace(Some(stall));
            tracing::warn!(for_ms = ?p.for_ms, "fault: CDN stalled");
        }
        Fault::RateLimit(p) => {
            tracing::warn!(service = ?p.service, retry_after = ?p.retry_after_secs, "fault: 429s");
            let rule = RateRule {
                left: p.requests,
                until: p
                    .for_ms
                    .map(|ms| Instant::now() + Duration::from_millis(ms)),
                limit: p,
            };
            lock(&live.plan).rules.push(rule);
        }
        Fault::BlackHole(p) => {
            tracing::warn!(ap = p.ap, ap_index = ?p.ap_index, http = p.http, "fault: black hole");
            live.hole.send_replace(p);
        }
        Fault::Clear => {
            live.clear();
            *lock(&shared.http_faults) = HttpFaults::default();
            for slot in lock(&shared.faults).iter_mut() {
                *slot = ApFaults::default();
            }
            tracing::info!("fault: all faults cleared");
        }
    }
    FaultAck {
        fault: name.to_owned(),
        connections_closed: closed,
    }
}

/// Revokes every client-token, login5 access token and OAuth token.
fn revoke_tokens(shared: &Shared) {
    // Outstanding hashcash challenges go too; a client just asks again.
    *lock(&shared.tokens) = crate::tokens::TokenTable::default();
    let oauth = lock(&shared.oauth).revoke_tokens();
    let ap = lock(&shared.store).revoke_all_tokens();
    tracing::warn!(oauth, ap_tokens = ap, "fault: every issued token revoked");
}

/// Wraps one AP connection's task: it ends (closing the socket) on `DropApConnections` and is
/// not polled — neither read nor written — while its listener is black-holed. Subscribes at
/// once, so a fault applied right after the accept reaches the connection.
pub(crate) fn guard_ap<F>(
    shared: &Arc<Shared>,
    index: usize,
    connection: F,
) -> impl Future<Output = ()> + Send + 'static
where
    F: Future<Output = ()> + Send + 'static,
{
    let mut drops = shared.live.ap_drop.subscribe();
    let mut hole = shared.live.hole.subscribe();
    let shared = Arc::clone(shared);
    async move {
        tokio::pin!(connection);
        let mut counted = false;
        loop {
            let held = hole.borrow_and_update().ap_holds(index);
            if held && !counted {
                counted = true;
                Counters::bump(&shared.counters.black_holed);
            }
            tokio::select! {
                biased;
                changed = drops.changed() => {
                    if changed.is_ok() {
                        Counters::bump(&shared.counters.ap_connections_dropped);
                        tracing::info!(ap = index, "AP connection dropped (fault)");
                    }
                    return;
                }
                changed = hole.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = &mut connection, if !held => return,
            }
        }
    }
}

/// One dealer websocket's view of the faults: when it must close (`DealerFlap`) and whether it
/// must go silent (an HTTP black hole). Created when the websocket opens (counted there).
pub(crate) struct DealerGuard {
    shared: Arc<Shared>,
    kick: watch::Receiver<u64>,
    hole: watch::Receiver<BlackHole>,
    close_at: Option<Instant>,
}

impl DealerGuard {
    pub(crate) fn new(shared: &Arc<Shared>) -> DealerGuard {
        Counters::bump(&shared.counters.dealer_connections);
        let close_at = shared.live.take_flap().map(|d| Instant::now() + d);
        DealerGuard {
            kick: shared.live.dealer_kick.subscribe(),
            hole: shared.live.hole.subscribe(),
            shared: Arc::clone(shared),
            close_at,
        }
    }

    /// Whether the HTTP listener is black-holed now (marks the state as seen for
    /// [`DealerGuard::next`]).
    pub(crate) fn held(&mut self) -> bool {
        let held = self.hole.borrow_and_update().http;
        if held {
            Counters::bump(&self.shared.counters.black_holed);
        }
        held
    }

    /// The next fault event of this websocket. Cancel-safe.
    pub(crate) async fn next(&mut self) -> DealerEvent {
        let close_at = self.close_at;
        let flap = async move {
            match close_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        // A closed channel (never: `Shared` owns the senders) just never fires.
        let (kick, hole) = (&mut self.kick, &mut self.hole);
        let kicked = async move {
            if kick.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        let hole = async move {
            if hole.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = kicked => {}
            () = flap => {}
            () = hole => return DealerEvent::HoleChanged,
        }
        Counters::bump(&self.shared.counters.dealer_closed_by_fault);
        DealerEvent::Close
    }
}

/// What [`DealerGuard::next`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DealerEvent {
    /// `DealerFlap`: close the websocket now.
    Close,
    /// A black hole started or ended: check [`DealerGuard::held`].
    HoleChanged,
}

/// Waits until the stall in force ends (its time is up or `Clear`).
async fn stall_over(mut rx: watch::Receiver<Option<Stall>>) {
    loop {
        let stall = *rx.borrow_and_update();
        let changed = match stall {
            None => return,
            Some(Stall::Until(at)) => tokio::select! {
                () = tokio::time::sleep_until(at) => return,
                changed = rx.changed() => changed,
            },
            Some(Stall::UntilCleared) => rx.changed().await,
        };
        if changed.is_err() {
            return;
        }
    }
}

/// A body that yields nothing until the stall is over, then the wrapped body (its size hint is
/// kept, so the `Content-Length` header goes out with the headers).
struct StalledBody {
    inner: Body,
    wait: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl http_body::Body for StalledBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Some(wait) = this.wait.as_mut() {
            if wait.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.wait = None;
        }
        Pin::new(&mut this.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.wait.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A CDN body, held back while the CDN is stalled.
pub(crate) fn cdn_body(shared: &Shared, body: Body) -> Body {
    if !shared.live.cdn_stalled() {
        return body;
    }
    Counters::bump(&shared.counters.cdn_stalled);
    Body::new(StalledBody {
        inner: body,
        wait: Some(Box::pin(stall_over(shared.live.stall.subscribe()))),
    })
}
