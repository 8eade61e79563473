//! The browser's bounded bookkeeping (issue 12): which instances it knows, which are waiting
//! for a `getInfo` probe, which are being probed, which were found or rejected. Whatever the
//! LAN announces, the work stays bounded: at most [`Limits::max_devices`] instances are tracked
//! (a new one evicts the oldest that is not found, else the oldest found, which is then
//! reported lost), at most [`Limits::max_probes`] probes run at once, and an instance that
//! re-announces the same record is not probed again within [`Limits::cool_down`]. A rejection
//! is logged once per instance (and at most [`LOGS_PER_MINUTE`] a minute overall; the rest are
//! counted).
//!
//! Pure (the caller passes the time; nothing here spawns, sleeps or logs): driven by
//! [`super::browse_with`] and the unit tests. Depends on `validate` only.

use std::time::{Duration, Instant};

use super::validate::{display_text, Candidate, LanDevice, LanEvent, Rejection, MAX_FULLNAME};

/// Rejection log lines a minute before the rest are only counted.
pub const LOGS_PER_MINUTE: u32 = 20;

/// The browser's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Instances tracked at once (found, waiting, probing or rejected).
    pub max_devices: usize,
    /// `getInfo` probes in flight at once.
    pub max_probes: usize,
    /// An instance that re-announces the same record is not probed again before this.
    pub cool_down: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_devices: 64,
            max_probes: 4,
            cool_down: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Rejected(Rejection),
    Pending,
    Probing,
    Found(LanDevice),
    /// The probe failed (no answer, an error answer): kept so re-announcements respect the
    /// cool-down.
    Failed,
}

#[derive(Debug, Clone)]
struct Entry {
    key: String,
    candidate: Option<Candidate>,
    phase: Phase,
    last_probe: Option<Instant>,
    /// The record changed while it was being probed: probe again when that probe ends.
    stale: bool,
}

/// What a step produced: events for the device list, a line for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    pub events: Vec<LanEvent>,
    pub log: Option<String>,
}

/// Counters for tests and the e2e helper.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub tracked: usize,
    pub pending: usize,
    pub probing: usize,
    pub found: usize,
    pub probes_started: u64,
    pub rejected: u64,
    pub evicted: u64,
}

/// See the module doc.
#[derive(Debug)]
pub struct Tracker {
    limits: Limits,
    /// Oldest first.
    entries: Vec<Entry>,
    probing: usize,
    probes_started: u64,
    rejected: u64,
    evicted: u64,
    log_window: Option<Instant>,
    logged_in_window: u32,
    suppressed: u64,
}

impl Tracker {
    pub fn new(limits: Limits) -> Tracker {
        Tracker {
            limits: Limits {
                max_devices: limits.max_devices.max(1),
                max_probes: limits.max_probes.max(1),
                cool_down: limits.cool_down,
            },
            entries: Vec::new(),
            probing: 0,
            probes_started: 0,
            rejected: 0,
            evicted: 0,
            log_window: None,
            logged_in_window: 0,
            suppressed: 0,
        }
    }

    pub fn counts(&self) -> Counts {
        let count = |f: fn(&Phase) -> bool| self.entries.iter().filter(|e| f(&e.phase)).count();
        Counts {
            tracked: self.entries.len(),
            pending: count(|p| *p == Phase::Pending),
            probing: self.probing,
            found: count(|p| matches!(p, Phase::Found(_))),
            probes_started: self.probes_started,
            rejected: self.rejected,
            evicted: self.evicted,
        }
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.key == key)
    }

    /// A log line within the budget (a summary of what was suppressed opens a new window).
    fn log(&mut self, now: Instant, line: String) -> Option<String> {
        let fresh = self
            .log_window
            .is_none_or(|w| now.saturating_duration_since(w) >= Duration::from_secs(60));
        let mut prefix = String::new();
        if fresh {
            if self.suppressed > 0 {
                prefix = format!(
                    "({} more rejected announcements were not logged) ",
                    self.suppressed
                );
            }
            self.log_window = Some(now);
            self.logged_in_window = 0;
            self.suppressed = 0;
        }
        if self.logged_in_window >= LOGS_PER_MINUTE {
            self.suppressed += 1;
            return None;
        }
        self.logged_in_window += 1;
        Some(format!("{prefix}{line}"))
    }

    /// Makes room for one more entry: evicts the oldest entry that is neither found nor being
    /// probed, else the oldest found one (reported lost). Entries being probed stay (there are
    /// at most `max_probes` of them, fewer than `max_devices`).
    fn make_room(&mut self, step: &mut Step) {
        while self.entries.len() >= self.limits.max_devices {
            let victim = self
                .entries
                .iter()
                .position(|e| !matches!(e.phase, Phase::Found(_) | Phase::Probing))
                .or_else(|| {
                    self.entries
                        .iter()
                        .position(|e| matches!(e.phase, Phase::Found(_)))
                });
            let Some(i) = victim else {
                return;
            };
            let e = self.entries.remove(i);
            self.evicted += 1;
            if let Phase::Found(d) = e.phase {
                step.events.push(LanEvent::Lost(d.name));
            }
        }
    }

    /// An announcement for `key` (the full service name) was resolved and checked.
    pub fn announced(
        &mut self,
        key: &str,
        checked: Result<Candidate, Rejection>,
        now: Instant,
    ) -> Step {
        let mut step = Step::default();
        let i = match self.position(key) {
            Some(i) => i,
            None => {
                self.make_room(&mut step);
                if self.entries.len() >= self.limits.max_devices {
                    return step;
                }
                self.entries.push(Entry {
                    key: key.to_string(),
                    candidate: None,
                    phase: Phase::Failed,
                    last_probe: None,
                    stale: false,
                });
                self.entries.len() - 1
            }
        };
        match checked {
            Err(r) => {
                let e = &mut self.entries[i];
                if e.phase == Phase::Rejected(r.clone()) {
                    return step;
                }
                if let Phase::Found(d) = &e.phase {
                    step.events.push(LanEvent::Lost(d.name.clone()));
                }
                e.candidate = None;
                e.stale = false;
                e.phase = Phase::Rejected(r.clone());
                self.rejected += 1;
                let line = format!(
                    "mDNS: ignoring \"{}\": {r}",
                    display_text(key, MAX_FULLNAME)
                );
                step.log = self.log(now, line);
            }
            Ok(c) => {
                let cool = self.limits.cool_down;
                let e = &mut self.entries[i];
                let same = e.candidate.as_ref() == Some(&c);
                match &e.phase {
                    Phase::Probing => e.stale |= !same,
                    Phase::Pending => {}
                    Phase::Found(_) | Phase::Failed
                        if same
                            && e.last_probe
                                .is_some_and(|t| now.saturating_duration_since(t) < cool) => {}
                    _ => e.phase = Phase::Pending,
                }
                e.candidate = Some(c);
            }
        }
        step
    }

    /// The next instance to probe, if a probe slot is free and one is waiting (oldest first).
    /// The caller probes it and reports back with [`Tracker::probed`].
    pub fn next_probe(&mut self, now: Instant) -> Option<(String, Candidate)> {
        if self.probing >= self.limits.max_probes {
            return None;
        }
        let e = self
            .entries
            .iter_mut()
            .find(|e| e.phase == Phase::Pending)?;
        let c = e.candidate.clone()?;
        e.phase = Phase::Probing;
        e.last_probe = Some(now);
        e.stale = false;
        self.probing += 1;
        self.probes_started += 1;
        Some((e.key.clone(), c))
    }

    /// A probe started by [`Tracker::next_probe`] ended: the device, or why not (a rejection
    /// of its answer, or `Ok(Err(reason))` when it did not answer usefully).
    pub fn probed(
        &mut self,
        key: &str,
        result: Result<Result<LanDevice, String>, Rejection>,
        now: Instant,
    ) -> Step {
        self.probing = self.probing.saturating_sub(1);
        let mut step = Step::default();
        let Some(i) = self.position(key) else {
            return step;
        };
        if self.entries[i].phase != Phase::Probing {
            return step;
        }
        if self.entries[i].stale {
            self.entries[i].stale = false;
            self.entries[i].phase = Phase::Pending;
            return step;
        }
        match result {
            Ok(Ok(dev)) => {
                step.events.push(LanEvent::Found(dev.clone()));
                self.entries[i].phase = Phase::Found(dev);
            }
            // A device that does not answer is common (asleep, gone): the caller notes it at
            // debug level; it is not a rejection.
            Ok(Err(_)) => self.entries[i].phase = Phase::Failed,
            Err(r) => {
                self.entries[i].phase = Phase::Rejected(r.clone());
                self.rejected += 1;
                let line = format!(
                    "mDNS: ignoring \"{}\": {r}",
                    display_text(key, MAX_FULLNAME)
                );
                step.log = self.log(now, line);
            }
        }
        step
    }

    /// The instance said goodbye or expired.
    pub fn removed(&mut self, key: &str) -> Step {
        let mut step = Step::default();
        if let Some(i) = self.position(key) {
            let e = self.entries.remove(i);
            if let Phase::Found(d) = e.phase {
                step.events.push(LanEvent::Lost(d.name));
            }
        }
        step
    }
}
