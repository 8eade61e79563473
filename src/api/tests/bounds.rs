//! Property tests (issue 12): every duration the token services and the Web API send — login5's
//! `access_token_expires_in`, client-token's `refresh_after_seconds`, `Retry-After` — is bounded
//! before it is added to an `Instant`, so no answer, however large or negative, panics.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

use crate::api::{client_token, http, login5};
use crate::server_time::Later as _;

#[test]
fn known_answers() {
    assert_eq!(login5::lifetime(3600), Duration::from_secs(3600));
    assert_eq!(login5::lifetime(0), login5::DEFAULT_EXPIRES_IN);
    assert_eq!(login5::lifetime(-1), login5::DEFAULT_EXPIRES_IN);
    assert_eq!(login5::lifetime(i32::MAX), login5::MAX_EXPIRES_IN);
    assert_eq!(
        client_token::refresh_delay(i32::MIN),
        client_token::DEFAULT_REFRESH
    );
    assert_eq!(
        client_token::refresh_delay(i32::MAX),
        client_token::MAX_REFRESH
    );
    let mut h = HeaderMap::new();
    h.insert(
        RETRY_AFTER,
        HeaderValue::from_static("184467440737095516150000"),
    );
    assert_eq!(http::retry_after(&h), Some(http::RETRY_AFTER_CAP));
    h.insert(RETRY_AFTER, HeaderValue::from_static("-1"));
    assert_eq!(http::retry_after(&h), None);
}

proptest! {
    #[test]
    fn login5_lifetimes_are_bounded(secs in any::<i32>()) {
        let d = login5::lifetime(secs);
        prop_assert!(d >= Duration::from_secs(1) && d <= login5::MAX_EXPIRES_IN);
        if secs > 0 {
            prop_assert_eq!(d, Duration::from_secs(secs as u64).min(login5::MAX_EXPIRES_IN));
        }
        let now = Instant::now();
        prop_assert_eq!(now.later_by(d), now + d);
    }

    #[test]
    fn client_token_refresh_delays_are_bounded(secs in any::<i32>()) {
        let d = client_token::refresh_delay(secs);
        prop_assert!(d >= Duration::from_secs(1) && d <= client_token::MAX_REFRESH);
        let now = Instant::now();
        prop_assert_eq!(now.later_by(d), now + d);
    }

    #[test]
    fn retry_after_is_bounded(v in prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        "[0-9]{15,40}",
        "[ -~]{0,30}",
    ]) {
        let mut h = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&v) {
            h.insert(RETRY_AFTER, value);
        }
        if let Some(d) = http::retry_after(&h) {
            prop_assert!(d <= http::RETRY_AFTER_CAP);
            let now = Instant::now();
            prop_assert_eq!(now.later_by(d), now + d);
        }
    }
}
