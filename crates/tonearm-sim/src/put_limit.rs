//! connect-state's rate limit on `PUT /connect-state/v1/devices/{id}` (spec §13: Spotify answers
//! such PUTs with 429 and `Retry-After` when a client re-PUTs in a loop, and penalises the
//! account). A sliding window per device and per account: the PUT that goes over a device's
//! limit penalises that device *and its account* for [`PutLimit::penalty`]; the PUT that goes
//! over the account's limit penalises the account. While penalised, every PUT of the device
//! (or of any device of the account) gets 429 with the seconds left; refused PUTs do not count.
//! What a well-behaved client sends never hits it: the first PUT with a new dealer connection
//! id is free, and every command, transfer or volume change delivered to a device raises its
//! (and its account's) allowance for the window by [`PutLimit::per_command`], since the state
//! changes it causes are PUT. Only loops (and floods of local state changes without the 200 ms
//! batching librespot does) hit it. Pure bookkeeping: the HTTP side is `gate`; depends on no
//! client module.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Above this many tracked devices or accounts, idle entries are dropped (hostile clients may
/// invent device ids).
const PRUNE_AT: usize = 4096;
/// Most command credits a device or account holds (bounds memory under a command flood).
const MAX_CREDITS: usize = 10_000;

/// The limits (see `FAULTS.md`, "connect-state PUT rate limit").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutLimit {
    /// Most PUTs one device may make within `window`.
    pub device_puts: u32,
    /// Most PUTs all devices of one account may make within `window`.
    pub account_puts: u32,
    pub window: Duration,
    /// How long a device (and its account) that went over a limit is refused.
    pub penalty: Duration,
    /// Extra PUTs allowed within `window` for every command, transfer or volume change
    /// delivered to the device.
    pub per_command: u32,
}

impl Default for PutLimit {
    /// 60 PUTs per device and 250 per account in 10 s plus 3 per command received, 30 s
    /// penalty. Without commands a well-behaved client PUTs once per local state change
    /// (librespot batches them 200 ms, volume 500 ms): at most 5 a second, 50 in the window; a
    /// phone polling its device picker a few times a second stays under it too. A loop sends
    /// hundreds per second.
    fn default() -> Self {
        PutLimit {
            device_puts: 60,
            account_puts: 250,
            window: Duration::from_secs(10),
            penalty: Duration::from_secs(30),
            per_command: 3,
        }
    }
}

/// Recent PUTs, command credits and a penalty of one device or account.
#[derive(Debug, Default)]
struct Slot {
    hits: VecDeque<Instant>,
    /// One entry per extra PUT allowed, when it was granted.
    credits: VecDeque<Instant>,
    penalty_until: Option<Instant>,
    /// The device's last dealer connection id (devices only).
    conn: Option<String>,
}

impl Slot {
    /// Seconds of penalty left (rounded up), if penalised at `now`.
    fn penalised(&mut self, now: Instant) -> Option<u64> {
        match self.penalty_until {
            Some(until) if until > now => Some(ceil_secs(until - now)),
            Some(_) => {
                self.penalty_until = None;
                None
            }
            None => None,
        }
    }

    fn forget_before(&mut self, start: Option<Instant>) {
        if let Some(start) = start {
            while self.hits.front().is_some_and(|t| *t <= start) {
                self.hits.pop_front();
            }
            while self.credits.front().is_some_and(|t| *t <= start) {
                self.credits.pop_front();
            }
        }
    }

    fn over(&self, base: u32) -> bool {
        self.hits.len() > base as usize + self.credits.len()
    }

    fn credit(&mut self, n: u32, now: Instant) {
        for _ in 0..n {
            if self.credits.len() >= MAX_CREDITS {
                self.credits.pop_front();
            }
            self.credits.push_back(now);
        }
    }

    fn penalise(&mut self, now: Instant, penalty: Duration) {
        self.penalty_until = Some(now + penalty);
        self.hits.clear();
    }

    fn idle(&self, now: Instant) -> bool {
        self.hits.is_empty()
            && self.credits.is_empty()
            && self.penalty_until.is_none_or(|u| u <= now)
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The bookkeeping (inside `faults::Live`).
#[derive(Debug)]
pub(crate) struct PutLimiter {
    limit: Option<PutLimit>,
    /// (account, device id) → slot.
    devices: HashMap<(String, String), Slot>,
    accounts: HashMap<String, Slot>,
}

impl Default for PutLimiter {
    fn default() -> Self {
        PutLimiter {
            limit: Some(PutLimit::default()),
            devices: HashMap::new(),
            accounts: HashMap::new(),
        }
    }
}

impl PutLimiter {
    /// New limits (`None` = unlimited); past PUTs and penalties are forgotten.
    pub(crate) fn set(&mut self, limit: Option<PutLimit>) {
        *self = PutLimiter {
            limit,
            devices: HashMap::new(),
            accounts: HashMap::new(),
        };
    }

    fn prune(&mut self, now: Instant) {
        if self.devices.len() >= PRUNE_AT {
            self.devices.retain(|_, s| !s.idle(now));
        }
        if self.accounts.len() >= PRUNE_AT {
            self.accounts.retain(|_, s| !s.idle(now));
        }
    }

    /// A command, transfer or volume change for `device` of `user` passed at `now`: the PUTs
    /// its state changes cause are expected.
    pub(crate) fn credit(&mut self, user: &str, device: &str, now: Instant) {
        let Some(limit) = self.limit else {
            return;
        };
        self.prune(now);
        self.devices
            .entry((user.to_owned(), device.to_owned()))
            .or_default()
            .credit(limit.per_command, now);
        self.accounts
            .entry(user.to_owned())
            .or_default()
            .credit(limit.per_command, now);
    }

    /// Records a PUT of `device` of `user` through dealer connection `conn` at `now`;
    /// `Err(seconds)` = answer 429 with `Retry-After: seconds`.
    pub(crate) fn check(
        &mut self,
        user: &str,
        device: &str,
        conn: Option<&str>,
        now: Instant,
    ) -> Result<(), u64> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        self.prune(now);
        let account = self.accounts.entry(user.to_owned()).or_default();
        if let Some(left) = account.penalised(now) {
            return Err(left);
        }
        let dev = self
            .devices
            .entry((user.to_owned(), device.to_owned()))
            .or_default();
        if let Some(left) = dev.penalised(now) {
            return Err(left);
        }
        let start = now.checked_sub(limit.window);
        dev.forget_before(start);
        account.forget_before(start);
        // The first PUT over a new dealer connection (a reconnect re-registers) is free.
        if conn.is_some() && dev.conn.as_deref() != conn {
            dev.conn = conn.map(str::to_owned);
            return Ok(());
        }
        dev.hits.push_back(now);
        account.hits.push_back(now);
        let secs = ceil_secs(limit.penalty).max(1);
        if dev.over(limit.device_puts) {
            dev.penalise(now, limit.penalty);
            account.penalise(now, limit.penalty);
            tracing::warn!(
                user,
                device,
                "connect-state: device PUTs in a loop; 429 and penalty"
            );
            return Err(secs);
        }
        if account.over(limit.account_puts) {
            account.penalise(now, limit.penalty);
            tracing::warn!(
                user,
                "connect-state: account PUTs in a loop; 429 and penalty"
            );
            return Err(secs);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(device: u32, account: u32) -> PutLimiter {
        let mut l = PutLimiter::default();
        l.set(Some(PutLimit {
            device_puts: device,
            account_puts: account,
            window: Duration::from_secs(10),
            penalty: Duration::from_secs(30),
            per_command: 2,
        }));
        l
    }

    /// A PUT without a connection id (never free).
    fn put(l: &mut PutLimiter, user: &str, device: &str, at: Instant) -> Result<(), u64> {
        l.check(user, device, None, at)
    }

    #[test]
    fn a_device_over_its_limit_penalises_itself_and_its_account() {
        let mut l = limiter(3, 100);
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(
                put(&mut l, "alice", "a", t0 + Duration::from_millis(i)),
                Ok(())
            );
        }
        assert_eq!(
            put(&mut l, "alice", "a", t0 + Duration::from_millis(3)),
            Err(30)
        );
        // The account is penalised too: another device of it is refused, another account not.
        let later = t0 + Duration::from_millis(1500);
        assert_eq!(put(&mut l, "alice", "b", later), Err(29));
        assert_eq!(put(&mut l, "bob", "a", later), Ok(()));
        // After the penalty the window starts afresh.
        let after = t0 + Duration::from_secs(31);
        for _ in 0..3 {
            assert_eq!(put(&mut l, "alice", "a", after), Ok(()));
        }
    }

    #[test]
    fn the_window_slides() {
        let mut l = limiter(3, 100);
        let t0 = Instant::now();
        for s in 0..30 {
            // One PUT every 4 s never has more than 3 in a 10 s window.
            assert_eq!(
                put(&mut l, "alice", "a", t0 + Duration::from_secs(4 * s)),
                Ok(())
            );
        }
    }

    #[test]
    fn commands_and_new_connections_allow_more() {
        let mut l = limiter(3, 100);
        let t0 = Instant::now();
        // The first PUT over each new connection id is free.
        for c in ["c1", "c2", "c3", "c4", "c5"] {
            assert_eq!(l.check("alice", "a", Some(c), t0), Ok(()));
        }
        // Two commands: 2 × 2 more PUTs in the window.
        l.credit("alice", "a", t0);
        l.credit("alice", "a", t0);
        for i in 0..7 {
            assert_eq!(l.check("alice", "a", Some("c5"), t0), Ok(()), "PUT {i}");
        }
        assert_eq!(l.check("alice", "a", Some("c5"), t0), Err(30));
        // Credits expire with the window.
        let mut l = limiter(3, 100);
        l.credit("alice", "a", t0);
        let later = t0 + Duration::from_secs(11);
        for _ in 0..3 {
            assert_eq!(put(&mut l, "alice", "a", later), Ok(()));
        }
        assert_eq!(put(&mut l, "alice", "a", later), Err(30));
    }

    #[test]
    fn the_account_limit_catches_loops_over_many_device_ids() {
        let mut l = limiter(100, 5);
        let t0 = Instant::now();
        for i in 0..5 {
            assert_eq!(put(&mut l, "alice", &format!("d{i}"), t0), Ok(()));
        }
        assert_eq!(put(&mut l, "alice", "d9", t0), Err(30));
        assert_eq!(put(&mut l, "alice", "d0", t0), Err(30));
    }

    #[test]
    fn no_limit_means_no_limit() {
        let mut l = PutLimiter::default();
        l.set(None);
        let t0 = Instant::now();
        for _ in 0..10_000 {
            l.credit("alice", "a", t0);
            assert_eq!(put(&mut l, "alice", "a", t0), Ok(()));
        }
    }

    #[test]
    fn the_default_lets_a_busy_well_behaved_client_through_and_catches_a_loop() {
        let mut l = PutLimiter::default();
        let t0 = Instant::now();
        // Five local state changes a second (librespot's 200 ms batching at its busiest) for
        // a minute, with a reconnect (new connection id) every 10 s.
        for i in 0..300u64 {
            let at = t0 + Duration::from_millis(200 * i);
            let conn = format!("c{}", i / 50);
            assert_eq!(
                l.check("alice", "speaker", Some(&conn), at),
                Ok(()),
                "PUT {i}"
            );
        }
        // A phone sending ten commands a second for a minute, each answered by two PUTs.
        let t1 = t0 + Duration::from_secs(120);
        for i in 0..600u64 {
            let at = t1 + Duration::from_millis(100 * i);
            l.credit("alice", "speaker", at);
            for _ in 0..2 {
                assert_eq!(l.check("alice", "speaker", Some("c9"), at), Ok(()), "{i}");
            }
        }
        // A loop is caught within the first window.
        let loop_start = t0 + Duration::from_secs(600);
        let refused = (0..1000)
            .position(|_| l.check("alice", "looper", Some("c"), loop_start).is_err())
            .unwrap_or(usize::MAX);
        assert!(refused <= 61, "{refused}");
    }
}
