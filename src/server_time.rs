//! Durations that come from servers — token lifetimes (`expires_in`, `refresh_after_seconds`),
//! the device flow's polling `interval`, `Retry-After` — turned into bounded [`Duration`]s, and
//! deadlines computed from them without overflow. A broken or hostile server can send
//! `expires_in: 1e300`, `-5` or `18446744073709551615`; `Instant + Duration::from_secs(u64::MAX)`
//! panics, so every such number passes through [`SecsBounds`] before any arithmetic with an
//! `Instant` or `SystemTime`, and that arithmetic goes through [`Later::later_by`] (checked).
//!
//! Called by `auth::oauth` (OAuth token and device-code lifetimes, polling interval) and `api`
//! (login5 and client-token lifetimes, `Retry-After`). Pure: depends on nothing else of the
//! crate, does no I/O.

use std::time::{Duration, Instant, SystemTime};

/// The longest wait any deadline here is pushed out by when the exact one cannot be
/// represented (only reachable with unbounded input; bounded values never get near it).
const FAR: Duration = Duration::from_secs(30 * 24 * 3600);

/// How a number of seconds from a server becomes a [`Duration`]: a missing value gives
/// `default`; a present one is clamped to `min..=max` (so `0` and negative values give `min`).
/// Callers that treat "not positive" as "missing" filter before (as login5 does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecsBounds {
    pub default: Duration,
    pub min: Duration,
    pub max: Duration,
}

impl SecsBounds {
    /// `min <= default <= max` is the caller's promise; a mixed-up one is repaired (the
    /// default is clamped too), never a panic.
    pub const fn new(default: Duration, min: Duration, max: Duration) -> SecsBounds {
        SecsBounds { default, min, max }
    }

    fn clamp(&self, d: Duration) -> Duration {
        // Not `Ord::clamp`, which panics when min > max.
        d.max(self.min).min(self.max)
    }

    /// Whole seconds as a signed number (protobuf `int32`/`int64` fields).
    pub fn secs_i64(&self, secs: Option<i64>) -> Duration {
        match secs {
            None => self.clamp(self.default),
            Some(s) if s <= 0 => self.clamp(Duration::ZERO),
            Some(s) => self.clamp(Duration::from_secs(s.unsigned_abs())),
        }
    }

    /// Whole seconds as an unsigned number.
    pub fn secs_u64(&self, secs: Option<u64>) -> Duration {
        match secs {
            None => self.clamp(self.default),
            Some(s) => self.clamp(Duration::from_secs(s)),
        }
    }

    /// A JSON value that should be a number of seconds: any JSON number (negative, fractional,
    /// beyond `u64`) is accepted and clamped; anything else (a string, `null`) counts as missing.
    pub fn secs_json(&self, value: Option<&serde_json::Value>) -> Duration {
        let Some(n) = value.and_then(|v| v.as_number()) else {
            return self.clamp(self.default);
        };
        if let Some(u) = n.as_u64() {
            return self.secs_u64(Some(u));
        }
        if let Some(i) = n.as_i64() {
            return self.secs_i64(Some(i));
        }
        match n.as_f64() {
            Some(f) if f.is_finite() && f > 0.0 => {
                // A float past u64 saturates in the cast; the clamp does the rest.
                self.clamp(Duration::from_secs(f as u64))
            }
            Some(f) if f.is_finite() => self.clamp(Duration::ZERO),
            // JSON has no NaN or infinity; serde_json may still hand one over for 1e400.
            _ => self.clamp(self.max),
        }
    }

    /// A decimal number of seconds in text (`Retry-After: 120`): digits only, surrounding
    /// whitespace ignored; more digits than `u64` holds count as the longest wait. `None` for
    /// anything else (an HTTP date, a negative or fractional number).
    pub fn secs_text(&self, text: &str) -> Option<Duration> {
        let t = text.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let secs = t.parse::<u64>().unwrap_or(u64::MAX);
        Some(self.secs_u64(Some(secs)))
    }
}

/// `base + d` for the clocks deadlines are kept in, never panicking: when the sum cannot be
/// represented the result is `base + 30 days` (or `base` itself on a clock that cannot even
/// hold that). Bounded durations from [`SecsBounds`] never hit the fallback.
pub trait Later: Sized + Copy {
    fn checked_plus(self, d: Duration) -> Option<Self>;

    fn later_by(self, d: Duration) -> Self {
        self.checked_plus(d)
            .or_else(|| self.checked_plus(FAR))
            .unwrap_or(self)
    }
}

impl Later for Instant {
    fn checked_plus(self, d: Duration) -> Option<Instant> {
        self.checked_add(d)
    }
}

impl Later for tokio::time::Instant {
    fn checked_plus(self, d: Duration) -> Option<tokio::time::Instant> {
        self.checked_add(d)
    }
}

impl Later for SystemTime {
    fn checked_plus(self, d: Duration) -> Option<SystemTime> {
        self.checked_add(d)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    const B: SecsBounds = SecsBounds::new(
        Duration::from_secs(3600),
        Duration::from_secs(1),
        Duration::from_secs(86_400),
    );

    fn within(d: Duration) -> bool {
        d >= B.min && d <= B.max
    }

    #[test]
    fn known_values() {
        assert_eq!(B.secs_i64(None), Duration::from_secs(3600));
        assert_eq!(B.secs_i64(Some(-5)), Duration::from_secs(1));
        assert_eq!(B.secs_i64(Some(i64::MAX)), Duration::from_secs(86_400));
        assert_eq!(B.secs_u64(Some(u64::MAX)), Duration::from_secs(86_400));
        assert_eq!(B.secs_u64(Some(60)), Duration::from_secs(60));
        assert_eq!(
            B.secs_json(Some(&json!(1e300))),
            Duration::from_secs(86_400)
        );
        assert_eq!(B.secs_json(Some(&json!(-1e300))), Duration::from_secs(1));
        assert_eq!(B.secs_json(Some(&json!(90.7))), Duration::from_secs(90));
        assert_eq!(B.secs_json(Some(&json!("60"))), Duration::from_secs(3600));
        assert_eq!(B.secs_json(None), Duration::from_secs(3600));
        assert_eq!(B.secs_text(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(
            B.secs_text("99999999999999999999999999"),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(B.secs_text("-3"), None);
        assert_eq!(B.secs_text("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        // Mixed-up bounds are repaired, not a panic.
        let odd = SecsBounds::new(
            Duration::from_secs(9),
            Duration::from_secs(10),
            Duration::from_secs(5),
        );
        assert_eq!(odd.secs_u64(Some(7)), Duration::from_secs(5));
    }

    #[test]
    fn later_by_never_panics() {
        let now = Instant::now();
        assert_eq!(
            now.later_by(Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        assert!(now.later_by(Duration::MAX) >= now);
        let t = SystemTime::now();
        assert!(t.later_by(Duration::MAX) >= t);
        let k = tokio::time::Instant::now();
        assert!(k.later_by(Duration::MAX) >= k);
    }

    proptest! {
        #[test]
        fn every_signed_value_is_bounded(s in any::<Option<i64>>()) {
            let d = B.secs_i64(s);
            prop_assert!(within(d));
            let _ = Instant::now().later_by(d);
            let _ = SystemTime::now().later_by(d);
        }

        #[test]
        fn every_unsigned_value_is_bounded(s in any::<Option<u64>>()) {
            let d = B.secs_u64(s);
            prop_assert!(within(d));
            prop_assert!(Instant::now().checked_add(d).is_some());
        }

        #[test]
        fn every_json_number_is_bounded(f in any::<f64>(), i in any::<i64>(), u in any::<u64>()) {
            for v in [json!(f), json!(i), json!(u), json!(null), json!([u])] {
                let d = B.secs_json(Some(&v));
                prop_assert!(within(d), "{v} gave {d:?}");
                prop_assert!(SystemTime::now().checked_add(d).is_some());
            }
        }

        #[test]
        fn every_header_text_is_bounded_or_refused(t in "[ 0-9a-zA-Z,:-]{0,40}") {
            if let Some(d) = B.secs_text(&t) {
                prop_assert!(within(d));
                prop_assert!(t.trim().bytes().all(|b| b.is_ascii_digit()));
            }
        }

        #[test]
        fn later_by_is_exact_when_representable(secs in 0u64..1_000_000_000) {
            let now = Instant::now();
            let d = Duration::from_secs(secs);
            prop_assert_eq!(now.later_by(d), now + d);
        }
    }
}
