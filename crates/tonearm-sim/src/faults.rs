//! The simulator's runtime faults, for client recovery tests (issue 11; every fault and how to
//! trigger it is in `FAULTS.md`): revoke every issued token, revoke stored credentials, drop
//! every AP connection, flap the dealer, stall the CDN, answer 429 on spclient and/or the Web
//! API, black-hole the listeners, clear. [`Fault`] is the public description (with its wire
//! form `name` + JSON params for the admin endpoint); [`Live`] is the state inside `Shared`
//! that the AP listeners (`guard_ap`), the dealer ([`DealerGuard`]), the CDN (`cdn_body`) and
//! the HTTP gate (`gate`) consult; [`apply`] is what `Simulator::fault` and `POST
//! /_sim/fault/{name}` call. Connections learn about drops and black holes through `watch`
//! channels, so a fault reaches connections in any state at once. Depends on no client module.

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

mod effects;
pub(crate) use effects::{apply, cdn_body, guard_ap, DealerEvent, DealerGuard};

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::Instant;

use super::put_limit::{PutLimit, PutLimiter};
use crate::util::lock;

/// A fault injected into a running simulator (see `FAULTS.md`). The wire form for `POST
/// /_sim/fault/{name}` is [`Fault::name`] and [`Fault::params`]; [`Fault::parse`] reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Every issued client-token, login5 access token and OAuth access/refresh token (and every
    /// access token the AP accepts for `SPOTIFY_TOKEN` logins) stops working: 401 on every
    /// later use until the client mints new ones. Stored credentials stay valid.
    RevokeTokens,
    /// Every stored (reusable) credential stops working — the AP answers `BadCredentials`,
    /// login5 `INVALID_CREDENTIALS` — and every token is revoked as by `RevokeTokens`.
    RevokeCredentials,
    /// Closes every AP connection now (handshaking or logged in); new ones are accepted.
    DropApConnections,
    /// Closes every dealer websocket now and optionally each of the next ones after a delay.
    DealerFlap(DealerFlap),
    /// CDN responses started from now on send their headers and then no body byte until the
    /// stall ends.
    StallCdn(CdnStall),
    /// spclient and/or Web API requests answer 429.
    RateLimit(RateLimit),
    /// Listeners accept and never answer until cleared.
    BlackHole(BlackHole),
    /// Lifts every fault: these runtime ones and the `ApFaults`/`HttpFaults` set through
    /// `Simulator::set_faults`/`set_http_faults`. Revoked tokens and credentials stay revoked.
    Clear,
}

/// Parameters of [`Fault::DealerFlap`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DealerFlap {
    /// After closing the open websockets, close each new one this long after it opened…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_after_ms: Option<u64>,
    /// …for this many new websockets (0 = only close the open ones).
    #[serde(default)]
    pub times: u32,
}

/// Parameters of [`Fault::StallCdn`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdnStall {
    /// How long the stall lasts; `None` = until `Clear`. Held bodies continue when it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_ms: Option<u64>,
}

/// Which HTTP service [`Fault::RateLimit`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitedService {
    /// metadata, extended-metadata, storage-resolve, connect-state, context-resolve.
    Spclient,
    /// `/v1/…` except `/v1/clienttoken`.
    WebApi,
    Both,
}

/// Parameters of [`Fault::RateLimit`]: 429 for the next `requests` matching requests and/or
/// for `for_ms`, whichever ends first (neither = until `Clear`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub service: LimitedService,
    /// `Retry-After` in seconds; `None` = the header is left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_ms: Option<u64>,
    /// Only requests whose path starts with this (e.g. `/storage-resolve/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
}

/// Parameters of [`Fault::BlackHole`]; a new black hole replaces the previous one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlackHole {
    /// The AP listeners (all, or only `ap_index`): new connections are accepted and never
    /// answered, open ones go silent.
    #[serde(default)]
    pub ap: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ap_index: Option<usize>,
    /// The HTTP listener: every request except `/_sim/…` is held unanswered, open dealer
    /// websockets go silent.
    #[serde(default)]
    pub http: bool,
}

impl BlackHole {
    fn ap_holds(&self, index: usize) -> bool {
        self.ap && self.ap_index.is_none_or(|i| i == index)
    }
}

/// What applying a fault did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultAck {
    /// [`Fault::name`].
    pub fault: String,
    /// Connections closed at once (`DropApConnections`: AP connections; `DealerFlap`: dealer
    /// websockets); 0 for the other faults.
    pub connections_closed: u64,
}

/// A fault's wire form that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    #[error("unknown fault {0:?} (known: {known})", known = Fault::NAMES.join(", "))]
    Unknown(String),
    #[error("bad parameters for {fault}: {reason}")]
    Params { fault: &'static str, reason: String },
}

impl Fault {
    /// Every fault name, as the admin endpoint takes them.
    pub const NAMES: &'static [&'static str] = &[
        "revoke_tokens",
        "revoke_credentials",
        "drop_ap_connections",
        "dealer_flap",
        "stall_cdn",
        "rate_limit",
        "black_hole",
        "clear",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Fault::RevokeTokens => "revoke_tokens",
            Fault::RevokeCredentials => "revoke_credentials",
            Fault::DropApConnections => "drop_ap_connections",
            Fault::DealerFlap(_) => "dealer_flap",
            Fault::StallCdn(_) => "stall_cdn",
            Fault::RateLimit(_) => "rate_limit",
            Fault::BlackHole(_) => "black_hole",
            Fault::Clear => "clear",
        }
    }

    /// The JSON body for `POST /_sim/fault/{name}` (`{}` for faults without parameters).
    pub fn params(&self) -> Value {
        let value = match self {
            Fault::DealerFlap(p) => serde_json::to_value(p),
            Fault::StallCdn(p) => serde_json::to_value(p),
            Fault::RateLimit(p) => serde_json::to_value(p),
            Fault::BlackHole(p) => serde_json::to_value(p),
            _ => Ok(json!({})),
        };
        // Plain structs of numbers, strings and enums always serialise.
        value.unwrap_or_else(|_| json!({}))
    }

    /// A fault from its name and JSON parameters (`null` = none); checks the parameters.
    pub fn parse(name: &str, params: Value) -> Result<Fault, FaultError> {
        let fault = Fault::NAMES
            .iter()
            .find(|n| **n == name)
            .copied()
            .ok_or_else(|| FaultError::Unknown(name.chars().take(40).collect()))?;
        let params = if params.is_null() { json!({}) } else { params };
        let bad = |reason: String| FaultError::Params { fault, reason };
        fn read<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
            serde_json::from_value(v).map_err(|e| e.to_string())
        }
        let parsed = match fault {
            "dealer_flap" => Fault::DealerFlap(read(params).map_err(bad)?),
            "stall_cdn" => Fault::StallCdn(read(params).map_err(bad)?),
            "rate_limit" => Fault::RateLimit(read(params).map_err(bad)?),
            "black_hole" => Fault::BlackHole(read(params).map_err(bad)?),
            other => {
                if params.as_object().is_none_or(|o| !o.is_empty()) {
                    return Err(bad("takes no parameters (send {} or nothing)".to_owned()));
                }
                match other {
                    "revoke_tokens" => Fault::RevokeTokens,
                    "revoke_credentials" => Fault::RevokeCredentials,
                    "drop_ap_connections" => Fault::DropApConnections,
                    _ => Fault::Clear,
                }
            }
        };
        parsed.check().map_err(bad)?;
        Ok(parsed)
    }

    /// Parameter combinations that make no sense.
    fn check(&self) -> Result<(), String> {
        match self {
            Fault::DealerFlap(p) if p.times > 0 && p.close_after_ms.is_none() => {
                Err("times needs close_after_ms".to_owned())
            }
            Fault::DealerFlap(p) if p.times == 0 && p.close_after_ms.is_some() => {
                Err("close_after_ms needs times (how many new websockets to close)".to_owned())
            }
            Fault::RateLimit(p) if p.requests == Some(0) => {
                Err("requests must be at least 1 (leave it out for no count)".to_owned())
            }
            Fault::RateLimit(p) if p.for_ms == Some(0) => {
                Err("for_ms must be at least 1 (leave it out for no time limit)".to_owned())
            }
            Fault::StallCdn(p) if p.for_ms == Some(0) => {
                Err("for_ms must be at least 1".to_owned())
            }
            Fault::BlackHole(p) if !p.ap && !p.http => {
                Err("say which listeners: ap and/or http".to_owned())
            }
            Fault::BlackHole(p) if p.ap_index.is_some() && !p.ap => {
                Err("ap_index needs ap: true".to_owned())
            }
            _ => Ok(()),
        }
    }
}

/// How long the CDN stalls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stall {
    Until(Instant),
    UntilCleared,
}

/// An active `RateLimit`.
#[derive(Debug, Clone)]
struct RateRule {
    limit: RateLimit,
    left: Option<u32>,
    until: Option<Instant>,
}

/// The mutable plans behind the watches.
#[derive(Debug, Default)]
struct Plan {
    rules: Vec<RateRule>,
    /// (delay, how many new dealer websockets are still to be closed after it).
    flap: Option<(Duration, u32)>,
}

/// The runtime fault state (inside `Shared`).
pub(crate) struct Live {
    /// Bumped to close every AP connection.
    ap_drop: watch::Sender<u64>,
    /// Bumped to close every dealer websocket.
    dealer_kick: watch::Sender<u64>,
    hole: watch::Sender<BlackHole>,
    stall: watch::Sender<Option<Stall>>,
    plan: Mutex<Plan>,
    puts: Mutex<PutLimiter>,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            ap_drop: watch::Sender::new(0),
            dealer_kick: watch::Sender::new(0),
            hole: watch::Sender::new(BlackHole::default()),
            stall: watch::Sender::new(None),
            plan: Mutex::default(),
            puts: Mutex::default(),
        }
    }
}

/// Which HTTP service a request is for (`gate` classifies them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    Apresolve,
    Dealer,
    ClientToken,
    Login5,
    Accounts,
    Spclient,
    WebApi,
    Cdn,
    Admin,
}

impl Live {
    pub(crate) fn set_put_limit(&self, limit: Option<PutLimit>) {
        lock(&self.puts).set(limit);
    }

    /// connect-state's PUT limit for one PUT through dealer connection `conn` (`Err(seconds)`
    /// = 429).
    pub(crate) fn check_put(
        &self,
        user: &str,
        device: &str,
        conn: Option<&str>,
    ) -> Result<(), u64> {
        lock(&self.puts).check(user, device, conn, std::time::Instant::now())
    }

    /// A command for `device` passed: the PUTs it causes are expected.
    pub(crate) fn credit_put(&self, user: &str, device: &str) {
        lock(&self.puts).credit(user, device, std::time::Instant::now());
    }

    /// Whether the HTTP listener is black-holed.
    pub(crate) fn http_held(&self) -> bool {
        self.hole.borrow().http
    }

    /// Waits while the HTTP listener is black-holed.
    pub(crate) async fn http_hold(&self) {
        let mut rx = self.hole.subscribe();
        // `wait_for` only fails when the sender is gone, and `self` owns it.
        let _ = rx.wait_for(|h| !h.http).await;
    }

    /// Consumes one injected 429 for a request; `Some(retry_after)` when one fires.
    pub(crate) fn take_429(&self, service: Service, path: &str) -> Option<Option<u64>> {
        let mut plan = lock(&self.plan);
        let now = Instant::now();
        plan.rules
            .retain(|r| r.left != Some(0) && r.until.is_none_or(|u| u > now));
        let rule = plan.rules.iter_mut().find(|r| {
            let covered = match r.limit.service {
                LimitedService::Spclient => service == Service::Spclient,
                LimitedService::WebApi => service == Service::WebApi,
                LimitedService::Both => matches!(service, Service::Spclient | Service::WebApi),
            };
            covered
                && r.limit
                    .path_prefix
                    .as_deref()
                    .is_none_or(|p| path.starts_with(p))
        })?;
        if let Some(left) = &mut rule.left {
            *left -= 1;
        }
        Some(rule.limit.retry_after_secs)
    }

    /// Whether a CDN response started now is stalled.
    fn cdn_stalled(&self) -> bool {
        match *self.stall.borrow() {
            Some(Stall::Until(t)) => t > Instant::now(),
            Some(Stall::UntilCleared) => true,
            None => false,
        }
    }

    /// The next new dealer websocket's forced close delay, if a flap is still going on.
    fn take_flap(&self) -> Option<Duration> {
        let mut plan = lock(&self.plan);
        let (delay, left) = plan.flap.as_mut()?;
        let delay = *delay;
        *left -= 1;
        if *left == 0 {
            plan.flap = None;
        }
        Some(delay)
    }

    fn clear(&self) {
        self.hole.send_replace(BlackHole::default());
        self.stall.send_replace(None);
        *lock(&self.plan) = Plan::default();
    }
}
