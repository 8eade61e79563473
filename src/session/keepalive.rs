//! The AP keep-alive state machine (protocol spec §7): ExpectingPing → (Ping) PendingPong →
//! (after `pong_delay`) the client sends Pong → ExpectingPongAck → (PongAck) ExpectingPing.
//! It is pure: no I/O, no tokio timers, no clock reads except the wall clock for the server time
//! delta. The connection task owns one [`KeepAlive`], feeds it Ping (0x04) and PongAck (0x4a)
//! packets, sleeps until [`KeepAlive::deadline`], then calls [`KeepAlive::on_deadline`] and acts on
//! the returned [`KeepAliveAction`]. It must not depend on the connection or any other service.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Payload of the Pong (0x49) we send. librespot sends four zero bytes rather than echoing the
/// Ping, and the AP accepts it.
pub const PONG_PAYLOAD: [u8; 4] = [0, 0, 0, 0];

/// The keep-alive timeouts. The defaults are librespot's (spec §7); tests and the simulator may
/// shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAliveTimeouts {
    /// How long after login the first Ping may take.
    pub first_ping: Duration,
    /// How long we wait after a Ping before answering with a Pong.
    pub pong_delay: Duration,
    /// How long after our Pong the PongAck may take.
    pub pong_ack: Duration,
    /// How long after a PongAck the next Ping may take.
    pub next_ping: Duration,
}

impl Default for KeepAliveTimeouts {
    fn default() -> Self {
        KeepAliveTimeouts {
            first_ping: Duration::from_secs(20),
            pong_delay: Duration::from_secs(60),
            pong_ack: Duration::from_secs(20),
            next_ping: Duration::from_secs(80),
        }
    }
}

/// Where the keep-alive cycle is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAliveState {
    /// Waiting for a Ping; `first` until the first one after login has arrived.
    ExpectingPing { first: bool },
    /// A Ping arrived; the Pong goes out at the deadline.
    PendingPong,
    /// Our Pong went out; waiting for the PongAck.
    ExpectingPongAck,
}

/// What the connection task must do when the deadline passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAliveAction {
    /// Send a Pong (0x49) with [`PONG_PAYLOAD`].
    SendPong,
    /// The access point went quiet: shut the session down. The text says what was missing.
    Dead(&'static str),
}

/// A bad keep-alive packet. The session stays up; the connection task logs it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeepAliveError {
    #[error("ping payload has {0} bytes, expected at least 4 (server time)")]
    ShortPing(usize),
}

impl KeepAliveError {
    pub fn kind(&self) -> crate::ErrorKind {
        // A malformed ping is a glitch of the access point, not something the user can fix;
        // if pings keep failing the deadline kills the session and the caller reconnects.
        crate::ErrorKind::Retry
    }
}

/// The keep-alive state machine. See the module docs for how it is driven.
#[derive(Debug, Clone)]
pub struct KeepAlive {
    timeouts: KeepAliveTimeouts,
    state: KeepAliveState,
    deadline: Instant,
    time_delta: Option<i64>,
}

/// `now + d`, saturating far in the future instead of panicking on absurd configured durations.
fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(now)
}

impl KeepAlive {
    /// Starts the cycle at login: expecting the first Ping within `t.first_ping`.
    pub fn new(now: Instant, t: KeepAliveTimeouts) -> KeepAlive {
        KeepAlive {
            timeouts: t,
            state: KeepAliveState::ExpectingPing { first: true },
            deadline: after(now, t.first_ping),
            time_delta: None,
        }
    }

    /// A Ping (0x04) arrived. Accepted in any state (the AP may ping early or twice): the Pong is
    /// scheduled `pong_delay` from now. The first 4 bytes are the server's unix time; a shorter
    /// payload is rejected and leaves the state unchanged.
    pub fn on_ping(&mut self, now: Instant, payload: &[u8]) -> Result<(), KeepAliveError> {
        let local = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        self.on_ping_at(now, local, payload)
    }

    /// [`KeepAlive::on_ping`] with the local unix time passed in, so tests control both clocks.
    pub fn on_ping_at(
        &mut self,
        now: Instant,
        local_unix_secs: i64,
        payload: &[u8],
    ) -> Result<(), KeepAliveError> {
        let server: [u8; 4] = payload
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or(KeepAliveError::ShortPing(payload.len()))?;
        let server = i64::from(u32::from_be_bytes(server));
        // librespot keeps `server - local`, used to correct Connect timestamps.
        self.time_delta = Some(server.saturating_sub(local_unix_secs));
        if self.state != KeepAliveState::PendingPong {
            tracing::trace!(state = ?self.state, "ping received");
        }
        self.state = KeepAliveState::PendingPong;
        self.deadline = after(now, self.timeouts.pong_delay);
        Ok(())
    }

    /// A PongAck (0x4a) arrived. Only meaningful after our Pong; otherwise ignored, because a
    /// stray ack says nothing about whether the next Ping will come.
    pub fn on_pong_ack(&mut self, now: Instant) {
        if self.state == KeepAliveState::ExpectingPongAck {
            self.state = KeepAliveState::ExpectingPing { first: false };
            self.deadline = after(now, self.timeouts.next_ping);
        } else {
            tracing::debug!(state = ?self.state, "ignoring unexpected pong ack");
        }
    }

    /// When the connection task must next call [`KeepAlive::on_deadline`].
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The current state (for logs and tests).
    pub fn state(&self) -> KeepAliveState {
        self.state
    }

    /// The deadline passed: send the Pong, or declare the connection dead. `None` if called early
    /// (a spurious wake-up). Once dead, every later call says dead again.
    pub fn on_deadline(&mut self, now: Instant) -> Option<KeepAliveAction> {
        if now < self.deadline {
            return None;
        }
        Some(match self.state {
            KeepAliveState::PendingPong => {
                self.state = KeepAliveState::ExpectingPongAck;
                self.deadline = after(now, self.timeouts.pong_ack);
                KeepAliveAction::SendPong
            }
            KeepAliveState::ExpectingPing { first: true } => {
                KeepAliveAction::Dead("no ping from the access point after login")
            }
            KeepAliveState::ExpectingPing { first: false } => {
                KeepAliveAction::Dead("no ping from the access point since the last pong ack")
            }
            KeepAliveState::ExpectingPongAck => {
                KeepAliveAction::Dead("no pong ack from the access point")
            }
        })
    }

    /// Server unix time minus local unix time in seconds, from the last Ping; `None` before it.
    pub fn server_time_delta(&self) -> Option<i64> {
        self.time_delta
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn ping(server: u32) -> [u8; 4] {
        server.to_be_bytes()
    }

    #[test]
    fn default_timeouts_are_librespots() {
        let t = KeepAliveTimeouts::default();
        assert_eq!(
            (t.first_ping, t.pong_delay, t.pong_ack, t.next_ping),
            (S(20), S(60), S(20), S(80))
        );
    }

    #[test]
    fn full_cycle() {
        let t0 = Instant::now();
        let mut ka = KeepAlive::new(t0, KeepAliveTimeouts::default());
        assert_eq!(ka.deadline(), t0 + S(20));
        assert_eq!(ka.server_time_delta(), None);

        // Ping at 5 s: pong scheduled 60 s later.
        ka.on_ping_at(t0 + S(5), 1_000, &ping(1_007)).expect("ping");
        assert_eq!(ka.state(), KeepAliveState::PendingPong);
        assert_eq!(ka.deadline(), t0 + S(65));
        assert_eq!(ka.server_time_delta(), Some(7));

        // Early wake-up does nothing.
        assert_eq!(ka.on_deadline(t0 + S(64)), None);
        assert_eq!(ka.state(), KeepAliveState::PendingPong);

        assert_eq!(ka.on_deadline(t0 + S(65)), Some(KeepAliveAction::SendPong));
        assert_eq!(ka.state(), KeepAliveState::ExpectingPongAck);
        assert_eq!(ka.deadline(), t0 + S(85));

        ka.on_pong_ack(t0 + S(66));
        assert_eq!(ka.state(), KeepAliveState::ExpectingPing { first: false });
        assert_eq!(ka.deadline(), t0 + S(146));
        assert_eq!(ka.on_deadline(t0 + S(145)), None);

        // Second round.
        ka.on_ping_at(t0 + S(120), 2_000, &ping(1_990))
            .expect("ping");
        assert_eq!(ka.server_time_delta(), Some(-10));
        assert_eq!(ka.deadline(), t0 + S(180));
        assert_eq!(ka.on_deadline(t0 + S(181)), Some(KeepAliveAction::SendPong));
        assert_eq!(ka.deadline(), t0 + S(201));
    }

    #[test]
    fn missing_first_ping_is_dead() {
        let t0 = Instant::now();
        let mut ka = KeepAlive::new(t0, KeepAliveTimeouts::default());
        assert_eq!(ka.on_deadline(t0 + S(19)), None);
        let a = ka.on_deadline(t0 + S(20));
        assert!(matches!(a, Some(KeepAliveAction::Dead(r)) if r.contains("after login")));
        // Stays dead.
        assert!(matches!(
            ka.on_deadline(t0 + S(21)),
            Some(KeepAliveAction::Dead(_))
        ));
    }

    #[test]
    fn missing_next_ping_is_dead() {
        let t0 = Instant::now();
        let mut ka = KeepAlive::new(t0, KeepAliveTimeouts::default());
        ka.on_ping_at(t0, 0, &ping(0)).expect("ping");
        assert_eq!(ka.on_deadline(t0 + S(60)), Some(KeepAliveAction::SendPong));
        ka.on_pong_ack(t0 + S(61));
        let a = ka.on_deadline(t0 + S(141));
        assert!(matches!(a, Some(KeepAliveAction::Dead(r)) if r.contains("since the last")));
    }

    #[test]
    fn missing_pong_ack_is_dead() {
        let t0 = Instant::now();
        let mut ka = KeepAlive::new(t0, KeepAliveTimeouts::default());
        ka.on_ping_at(t0 + S(1), 0, &ping(0)).expect("ping");
        assert_eq!(ka.on_deadline(t0 + S(61)), Some(KeepAliveAction::SendPong));
        assert_eq!(ka.on_deadline(t0 + S(80)), None);
        let a = ka.on_deadline(t0 + S(81));
        assert!(matches!(a, Some(KeepAliveAction::Dead(r)) if r.contains("pong ack")));
    }

    #[test]
    fn ping_accepted_in_any_state() {
        let t0 = Instant::now();
        let mut ka = KeepAlive::new(t0, KeepAliveTimeouts::default());
        // PendingPong: a second ping re-arms the pong delay.
        ka.on_ping_at(t0, 0, &ping(0)).expect("ping");
        ka.on_ping_at(t0 + S(10), 0, &ping(0)).expect("ping again");
        assert_eq!(ka.state(), KeepAliveState::PendingPong);
        assert_eq!(ka.deadline(), t0 + S(70));
        // ExpectingPongAck: a ping instead of the ack still counts as life.
        assert_eq!(ka.on_deadline(t0 + S(70)), Some(KeepAliveAction::SendPong));
        ka.on_ping_at(t0 + S(75), 0, &ping(0))
            .expect("ping while awaiting ack");
        assert_eq!(ka.state(), KeepAliveState::PendingPong);
        assert_eq!(ka.deadline(), t0 + S(135));
        // A late ack now is unexpected and changes nothing.
        ka.on_pong_ack(t0 + S(76));
        assert_eq!(ka.state(), KeepAliveState::PendingPong);
        assert_eq!(ka.deadline(), t0 + S(135));
    }

    #[test]
    fn unexpected_pong_ack_ignored() {
        let t0 = Instant::now();
        let mut ka = KeepAlive::new(t0, KeepAliveTimeouts::default());
        ka.on_pong_ack(t0 + S(1));
        assert_eq!(ka.state(), KeepAliveState::ExpectingPing { first: true });
        assert_eq!(ka.deadline(), t0 + S(20));
    }

    #[test]
    fn short_ping_rejected_without_state_change() {
        let t0 = Instant::now();
        let mut ka = KeepAlive::new(t0, KeepAliveTimeouts::default());
        for len in 0..4 {
            let e = ka.on_ping(t0, &vec![1; len]).expect_err("short ping");
            assert_eq!(e, KeepAliveError::ShortPing(len));
        }
        assert_eq!(ka.state(), KeepAliveState::ExpectingPing { first: true });
        assert_eq!(ka.server_time_delta(), None);
        // Longer payloads are fine; only the first 4 bytes are the time.
        ka.on_ping_at(t0, 100, &[0, 0, 0, 150, 9, 9, 9])
            .expect("long ping");
        assert_eq!(ka.server_time_delta(), Some(50));
    }

    #[test]
    fn on_ping_uses_wall_clock() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after epoch")
            .as_secs();
        let mut ka = KeepAlive::new(Instant::now(), KeepAliveTimeouts::default());
        let server = u32::try_from(now + 30).expect("fits u32 until 2106");
        ka.on_ping(Instant::now(), &ping(server)).expect("ping");
        let d = ka.server_time_delta().expect("delta");
        assert!((29..=31).contains(&d), "{d}");
    }

    #[test]
    fn huge_timeouts_do_not_panic() {
        let t = KeepAliveTimeouts {
            first_ping: Duration::MAX,
            ..KeepAliveTimeouts::default()
        };
        let t0 = Instant::now();
        let mut ka = KeepAlive::new(t0, t);
        assert!(ka.deadline() > t0);
        assert_eq!(ka.on_deadline(t0 + S(3600)), None);
    }
}
