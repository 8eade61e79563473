//! The guest table: who joined (names unique per session, case-insensitively), what each may
//! do, who is banned (token refused, name blocked until restart), each guest's request budget
//! (a token bucket: 429 with a wait when empty), and who added which queue items — the queue
//! is the player's and holds track URIs only, so additions are matched to its items in order
//! ([`Table::attribute`]) and forgotten once they have left the queue.
//!
//! Pure data behind one mutex in `guests::server`; time comes in as arguments (Unix seconds
//! for expiry, [`Instant`] for rates), so every rule is unit-tested. Depends on the control
//! API's wire types only.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::config::RemoteSettings;
use crate::local_api::schema::{self, Permission, MAX_GUEST_NAME};

/// An addition not (yet) seen in the queue is kept this long (the host applies intents
/// asynchronously), then dropped.
const PENDING_GRACE: Duration = Duration::from_secs(15);

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error("name: must be 1..={MAX_GUEST_NAME} bytes")]
    Length,
    #[error("name: control and invisible formatting characters are not allowed")]
    Control,
    #[error("that name is taken: choose another")]
    Taken,
    #[error("that name is banned for this session")]
    Banned,
    #[error("the party is full ({0} guests)")]
    Full(usize),
    #[error("too many joins from your address: wait {0} s")]
    TooFast(u64),
}

/// Why a guest's request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("unknown guest or expired token: join again")]
    Unknown,
    #[error("you were banned by the host")]
    Banned,
    #[error("too many requests: wait {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    #[error("you may not {0} (ask the host)")]
    Forbidden(&'static str),
    #[error("you have {0} tracks in the queue already: wait until one has played")]
    TooMany(usize),
}

/// A token bucket: `burst` requests at once, refilled at `per_min` a minute.
#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: burst,
            at: now,
        }
    }

    /// Refills for the time since the last call (`per_s` a second, up to `burst`).
    fn refill(&mut self, now: Instant, per_s: f64, burst: f64) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_s).min(burst);
        self.at = now;
    }

    /// Takes one token, or says how many seconds until there is one.
    fn take(&mut self, now: Instant, per_s: f64, burst: f64) -> Result<(), u64> {
        self.refill(now, per_s, burst);
        if self.tokens < 1.0 {
            return Err(((1.0 - self.tokens) / per_s).ceil().max(1.0) as u64);
        }
        self.tokens -= 1.0;
        Ok(())
    }
}

/// Joins one address may make at once: a household's phones joining together fit.
pub const JOIN_BURST: u32 = 8;
/// Joins an address gets back a minute once its burst is spent: a LAN peer can no longer fill
/// `max_guests` with names (each join is a guest until its token expires).
pub const JOIN_PER_MIN: u32 = 1;
/// Addresses the join limit remembers; when full, those whose burst is back are forgotten, and
/// if none is, a new address waits as a spent one would.
pub const JOIN_ADDRESSES: usize = 4096;

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    permissions: BTreeSet<Permission>,
    /// Unix seconds.
    expires: u64,
    banned: bool,
    bucket: Bucket,
}

#[derive(Debug, Clone)]
struct Addition {
    uri: String,
    guest: u64,
    at: Instant,
}

/// The limits the table enforces (from `[remote]`).
#[derive(Debug, Clone)]
pub struct Limits {
    pub ttl_s: u64,
    pub max_queued: usize,
    pub max_guests: usize,
    pub per_min: u32,
    pub burst: u32,
    pub defaults: BTreeSet<Permission>,
}

impl Limits {
    pub fn from_settings(s: &RemoteSettings) -> Limits {
        Limits {
            ttl_s: s.token_ttl_s,
            max_queued: s.max_queued_per_guest,
            max_guests: s.max_guests,
            per_min: s.rate_per_min,
            burst: s.rate_burst,
            defaults: s
                .default_permissions
                .iter()
                .filter_map(|p| p.parse().ok())
                .collect(),
        }
    }
}

/// A guest as a request sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    pub id: u64,
    pub name: String,
    pub permissions: BTreeSet<Permission>,
}

impl Who {
    /// `admin` implies everything.
    pub fn may(&self, p: Permission) -> bool {
        self.permissions.contains(&p) || self.permissions.contains(&Permission::Admin)
    }
}

#[derive(Debug)]
pub struct Table {
    limits: Limits,
    guests: HashMap<u64, Entry>,
    /// Lower-cased names of current guests.
    names: HashMap<String, u64>,
    banned_names: HashSet<String>,
    additions: Vec<Addition>,
    next_id: u64,
    /// Join buckets by the requesting address ([`Table::join_from`]).
    joins: HashMap<IpAddr, Bucket>,
}

/// A name checked: trimmed, bounded, no control or invisible formatting characters (they
/// would let one guest pass for another, or garble the host's terminal).
pub fn validate_name(raw: &str) -> Result<String, JoinError> {
    let name = raw.trim();
    if name.is_empty() || name.len() > MAX_GUEST_NAME {
        return Err(JoinError::Length);
    }
    let invisible = |c: char| {
        c.is_control()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
    };
    if name.chars().any(invisible) {
        return Err(JoinError::Control);
    }
    Ok(name.to_string())
}

impl Table {
    pub fn new(limits: Limits) -> Table {
        Table {
            limits,
            guests: HashMap::new(),
            names: HashMap::new(),
            banned_names: HashSet::new(),
            additions: Vec::new(),
            joins: HashMap::new(),
            // Not 0, and not guessable from the number of guests.
            next_id: u64::from(rand::random::<u32>()) << 16 | 1,
        }
    }

    fn prune(&mut self, now_s: u64) {
        let gone: Vec<u64> = self
            .guests
            .iter()
            .filter(|(_, e)| e.expires <= now_s && !e.banned)
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(e) = self.guests.remove(&id) {
                self.names.remove(&e.name.to_lowercase());
            }
        }
    }

    /// [`Table::join`] for a request from `addr`, held to [`JOIN_BURST`] joins at once and
    /// [`JOIN_PER_MIN`] a minute after that per address (every attempt counts, so guessing
    /// names is held too).
    pub fn join_from(
        &mut self,
        addr: IpAddr,
        raw_name: &str,
        now_s: u64,
        now: Instant,
    ) -> Result<Who, JoinError> {
        let (per_s, burst) = (f64::from(JOIN_PER_MIN) / 60.0, f64::from(JOIN_BURST));
        if !self.joins.contains_key(&addr) && self.joins.len() >= JOIN_ADDRESSES {
            self.joins.retain(|_, b| {
                b.refill(now, per_s, burst);
                b.tokens < burst
            });
            if self.joins.len() >= JOIN_ADDRESSES {
                return Err(JoinError::TooFast((1.0 / per_s).ceil() as u64));
            }
        }
        self.joins
            .entry(addr)
            .or_insert_with(|| Bucket::full(burst, now))
            .take(now, per_s, burst)
            .map_err(JoinError::TooFast)?;
        self.join(raw_name, now_s, now)
    }

    /// A new guest: their id and the token's expiry (Unix seconds).
    pub fn join(&mut self, raw_name: &str, now_s: u64, now: Instant) -> Result<Who, JoinError> {
        let name = validate_name(raw_name)?;
        let key = name.to_lowercase();
        if self.banned_names.contains(&key) {
            return Err(JoinError::Banned);
        }
        self.prune(now_s);
        if self.names.contains_key(&key) {
            return Err(JoinError::Taken);
        }
        if self.guests.len() >= self.limits.max_guests {
            return Err(JoinError::Full(self.limits.max_guests));
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let entry = Entry {
            name: name.clone(),
            permissions: self.limits.defaults.clone(),
            expires: now_s.saturating_add(self.limits.ttl_s),
            banned: false,
            bucket: Bucket::full(f64::from(self.limits.burst), now),
        };
        let who = Who {
            id,
            name,
            permissions: entry.permissions.clone(),
        };
        self.guests.insert(id, entry);
        self.names.insert(key, id);
        Ok(who)
    }

    /// The expiry given to a guest who joins at `now_s`.
    pub fn expiry(&self, now_s: u64) -> u64 {
        now_s.saturating_add(self.limits.ttl_s)
    }

    /// The guest behind a verified token, charged one request.
    pub fn authorize(&mut self, id: u64, now_s: u64, now: Instant) -> Result<Who, Refusal> {
        let (per_min, burst) = (f64::from(self.limits.per_min), f64::from(self.limits.burst));
        let e = self.guests.get_mut(&id).ok_or(Refusal::Unknown)?;
        if e.banned {
            return Err(Refusal::Banned);
        }
        if e.expires <= now_s {
            return Err(Refusal::Unknown);
        }
        e.bucket
            .take(now, per_min / 60.0, burst)
            .map_err(|retry_after_s| Refusal::RateLimited { retry_after_s })?;
        Ok(Who {
            id,
            name: e.name.clone(),
            permissions: e.permissions.clone(),
        })
    }

    fn by_name(&mut self, name: &str) -> Result<(u64, &mut Entry), String> {
        let id = *self
            .names
            .get(&name.trim().to_lowercase())
            .ok_or_else(|| "no guest of that name".to_string())?;
        self.guests
            .get_mut(&id)
            .map(|e| (id, e))
            .ok_or_else(|| "no guest of that name".to_string())
    }

    pub fn grant(
        &mut self,
        name: &str,
        p: Permission,
        now_s: u64,
    ) -> Result<schema::Guest, String> {
        let (id, e) = self.by_name(name)?;
        e.permissions.insert(p);
        Ok(self.view(id, now_s))
    }

    pub fn revoke(
        &mut self,
        name: &str,
        p: Permission,
        now_s: u64,
    ) -> Result<schema::Guest, String> {
        let (id, e) = self.by_name(name)?;
        e.permissions.remove(&p);
        Ok(self.view(id, now_s))
    }

    /// Refuses the guest's token from now on and blocks the name; their additions stay.
    pub fn ban(&mut self, name: &str, now_s: u64) -> Result<schema::Guest, String> {
        let (id, e) = self.by_name(name)?;
        e.banned = true;
        let key = e.name.to_lowercase();
        self.banned_names.insert(key);
        Ok(self.view(id, now_s))
    }

    fn view(&self, id: u64, now_s: u64) -> schema::Guest {
        let e = &self.guests[&id];
        schema::Guest {
            name: e.name.clone(),
            permissions: e.permissions.iter().copied().collect(),
            queued: self.additions.iter().filter(|a| a.guest == id).count(),
            banned: e.banned,
            expires_in_s: if e.banned {
                0
            } else {
                e.expires.saturating_sub(now_s)
            },
        }
    }

    /// Every guest, by name.
    pub fn list(&self, now_s: u64) -> Vec<schema::Guest> {
        let mut v: Vec<schema::Guest> =
            self.guests.keys().map(|id| self.view(*id, now_s)).collect();
        v.sort_by_key(|g| g.name.to_lowercase());
        v
    }

    /// Room for one more addition by `who` (after forgetting what left `queue`).
    pub fn may_add(
        &mut self,
        who: &Who,
        queue: &schema::Queue,
        now: Instant,
    ) -> Result<(), Refusal> {
        self.attribute(queue, now);
        let n = self.additions.iter().filter(|a| a.guest == who.id).count();
        if n >= self.limits.max_queued {
            return Err(Refusal::TooMany(n));
        }
        Ok(())
    }

    pub fn record_addition(&mut self, who: &Who, uri: String, now: Instant) {
        self.additions.push(Addition {
            uri,
            guest: who.id,
            at: now,
        });
    }

    /// Who added each queue item (by index; `None`: not a guest), matching additions in order to
    /// the items from the current one on. Additions no longer in the queue are forgotten (after
    /// a grace period for those not applied yet).
    pub fn attribute(&mut self, queue: &schema::Queue, now: Instant) -> Vec<Option<u64>> {
        let mut owners = vec![None; queue.items.len()];
        let start = queue.current.unwrap_or(0);
        let mut keep = Vec::with_capacity(self.additions.len());
        for a in std::mem::take(&mut self.additions) {
            let slot = (start..queue.items.len())
                .find(|&i| owners[i].is_none() && queue.items[i].uri == a.uri);
            match slot {
                Some(i) => {
                    owners[i] = Some(a.guest);
                    keep.push(a);
                }
                None if now.saturating_duration_since(a.at) < PENDING_GRACE => keep.push(a),
                None => {}
            }
        }
        self.additions = keep;
        owners
    }

    /// The name of a guest (for `added_by`).
    pub fn name(&self, id: u64) -> Option<&str> {
        self.guests.get(&id).map(|e| e.name.as_str())
    }
}
