//! The session supervisor every front end shares (the TUI's run loop and the daemon): watches
//! the access-point session, reports its link, and reconnects a dead connection with jittered
//! exponential back-off (1 s growing ×1.5 per attempt to 30 s, each wait uniformly between
//! half and all of it), held to at most 4 s during the first minute of an outage: the common
//! outage is short (a suspend, a network change, a server restart) and the goal is to be back
//! within 5 s of the server's return; a long outage still backs off to 30 s. What happens on a failed reconnect follows the error's [`ErrorKind`]: transient
//! trouble (network, timeouts, refused connections, 5xx) retries forever; refused credentials
//! (or anything else a retry will not fix) end supervision with [`Link::SignedOut`], which the
//! TUI turns into the sign-in screen and the daemon into waiting for a zeroconf login.
//! [`Session::nudge_reconnect`] (the Connect service calls it when its dealer gets through)
//! cuts a back-off short. [`Backoff`] is also what the daemon uses to retry its start-up (booting before the network
//! is up).
//!
//! Called by `app/run.rs` and `daemon.rs`. Depends on the session layer only; never on UI
//! code, the player or the simulator.

use std::time::{Duration, Instant};

use crate::session::{Session, SessionState};
use crate::ErrorKind;

/// Jittered exponential back-off: `min` growing ×1.5 per attempt up to `max`, each wait drawn
/// uniformly from half to all of that; during the first [`EARLY_PHASE`] after the first wait
/// the ceiling is also held to [`EARLY_CAP`].
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
    /// When the first wait was handed out (the outage's start, as far as we know).
    started: Option<Instant>,
}

/// How long an outage counts as "probably short" (retries stay dense).
pub const EARLY_PHASE: Duration = Duration::from_secs(60);
/// The longest wait during [`EARLY_PHASE`].
pub const EARLY_CAP: Duration = Duration::from_secs(4);

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(30))
    }
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            attempt: 0,
            started: None,
        }
    }

    /// Attempts made since the last [`Backoff::reset`].
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The un-jittered wait before the next attempt.
    pub fn ceiling(&self) -> Duration {
        let exp = i32::try_from(self.attempt.min(64)).unwrap_or(64);
        let ceiling = self.min.mul_f64(1.5f64.powi(exp)).min(self.max);
        let early = self.started.is_none_or(|t| t.elapsed() < EARLY_PHASE);
        if early {
            ceiling.min(EARLY_CAP.max(self.min))
        } else {
            ceiling
        }
    }

    /// The wait before the next attempt (counts it).
    pub fn next_wait(&mut self) -> Duration {
        use rand::Rng;
        self.started.get_or_insert_with(Instant::now);
        let wait = self
            .ceiling()
            .mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
        self.attempt = self.attempt.saturating_add(1);
        wait
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
        self.started = None;
    }
}

/// What the supervisor reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Online {
        username: String,
    },
    /// Reconnect attempt `attempt` (1-based) is under way.
    Reconnecting {
        attempt: u32,
    },
    /// The access point refused the credentials (or failed in a way a retry will not fix):
    /// supervision has ended; the front end signs in again. `reason` has no secret.
    SignedOut {
        reason: String,
    },
    /// The session was shut down.
    Closed,
}

/// Supervises `session` until it is closed, refused, or `report` answers `false` (its front
/// end is gone). Reconnects use a fresh [`Backoff`] per outage (`min`, `max`: 1 s, 30 s in
/// production).
pub async fn supervise(
    session: Session,
    min: Duration,
    max: Duration,
    mut report: impl FnMut(Link) -> bool,
) {
    let mut rx = session.state();
    loop {
        let current = rx.borrow_and_update().clone();
        match current {
            SessionState::Connected => {
                if !report(Link::Online {
                    username: session.username(),
                }) {
                    return;
                }
            }
            SessionState::Dead(reason) => {
                tracing::warn!(%reason, "the session was lost; reconnecting");
                let mut backoff = Backoff::new(min, max);
                loop {
                    if !report(Link::Reconnecting {
                        attempt: backoff.attempt() + 1,
                    }) {
                        return;
                    }
                    match session.reconnect().await {
                        Ok(()) => break,
                        Err(e) if e.kind() == ErrorKind::Retry => {
                            let wait = backoff.next_wait();
                            tracing::warn!(attempt = backoff.attempt(), ?wait, error = %e, "reconnect failed; retrying");
                            // Another service reaching the server (the dealer is back) cuts
                            // the wait short.
                            tokio::select! {
                                _ = tokio::time::sleep(wait) => {}
                                _ = session.nudged() => {
                                    tracing::info!("the server answers again; reconnecting now");
                                }
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, kind = ?e.kind(), "reconnect refused; signed out");
                            let _ = report(Link::SignedOut {
                                reason: e.to_string(),
                            });
                            return;
                        }
                    }
                }
                // The loop's next turn reads the new state (Connected) and reports Online.
                continue;
            }
            SessionState::Closed => {
                let _ = report(Link::Closed);
                return;
            }
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_early_cap_then_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::default();
        let ceilings: Vec<u64> = (0..8)
            .map(|_| {
                let c = b.ceiling();
                let w = b.next_wait();
                assert!(w >= c / 2 && w <= c, "{w:?} vs {c:?}");
                c.as_millis() as u64
            })
            .collect();
        // ×1.5 from 1 s, held to 4 s during the first minute.
        assert_eq!(
            ceilings,
            vec![1000, 1500, 2250, 3375, 4000, 4000, 4000, 4000]
        );
        assert_eq!(b.attempt(), 8);
        // After the first minute of the outage: ×1.5 to 30 s.
        b.started = Some(
            Instant::now()
                .checked_sub(EARLY_PHASE)
                .expect("the monotonic clock is over a minute old"),
        );
        assert_eq!(b.ceiling().as_millis(), 25628);
        b.next_wait();
        assert_eq!(b.ceiling(), Duration::from_secs(30));
        for _ in 0..100 {
            b.next_wait();
        }
        assert_eq!(b.ceiling(), Duration::from_secs(30));
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_secs(1));
        // A short schedule (tests) is not stretched by the early cap.
        let mut short = Backoff::new(Duration::from_millis(50), Duration::from_millis(400));
        for _ in 0..20 {
            assert!(short.next_wait() <= Duration::from_millis(400));
        }
    }
}
