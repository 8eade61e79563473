//! The device-authorization flow (RFC 8628) for SSH and headless machines: ask the accounts
//! service for a device code ([`DeviceCode`]: the user code and where to enter it), then poll
//! the token endpoint at the server's interval (slowing down when told to) until the user
//! approves, refuses, or the code expires. Server-given lifetimes and intervals are bounded.
//!
//! Part of `auth::oauth` (its token request and parsing are the parent's). Codes never appear
//! in `Debug`, errors or logs. Must not depend on UI modules.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::{
    describe_json, endpoint, http_client, post_form, refusal, token_request, AuthError, OAuthToken,
    ServerError, TokenAnswer, DEVICE_GRANT, MAX_DEVICE_CODE_LIFETIME, MAX_POLL_INTERVAL,
};
use crate::server_time::{Later as _, SecsBounds};

/// What the user needs to approve this device. `Debug` hides the codes.
#[derive(Clone)]
pub struct DeviceCode {
    device_code: String,
    /// The code the user types at `verification_uri`.
    pub user_code: String,
    pub verification_uri: String,
    /// The same page with the code filled in, when the server offers it.
    pub verification_uri_complete: Option<String>,
    /// How long the codes stay valid.
    pub expires_in: Duration,
    /// The polling interval the server asked for.
    pub interval: Duration,
}

impl fmt::Debug for DeviceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCode")
            .field("device_code", &"<redacted>")
            .field("user_code", &"<redacted>")
            .field("verification_uri", &self.verification_uri)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish()
    }
}

#[derive(Deserialize)]
struct DeviceResponse {
    device_code: String,
    user_code: String,
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    /// Any JSON number (clamped, see [`device_timing`]).
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    interval: Option<serde_json::Value>,
}

/// Polling settings of the device flow.
#[derive(Debug, Clone)]
pub struct DeviceOptions {
    /// Interval when the server names none (RFC 8628: 5 s).
    pub default_interval: Duration,
    /// Added to the interval on each `slow_down` (RFC 8628: 5 s).
    pub slow_down_step: Duration,
    /// Never poll faster than this, whatever the server says.
    pub min_interval: Duration,
    /// Code lifetime when the server names none.
    pub default_expiry: Duration,
    /// Consecutive network failures tolerated while polling.
    pub max_network_failures: u32,
}

impl Default for DeviceOptions {
    fn default() -> Self {
        DeviceOptions {
            default_interval: Duration::from_secs(5),
            slow_down_step: Duration::from_secs(5),
            min_interval: Duration::from_secs(1),
            default_expiry: Duration::from_secs(600),
            max_network_failures: 3,
        }
    }
}

/// Device-code sign-in with the default options: see [`device_code_with`].
pub async fn device_code(
    accounts_base: &str,
    client_id: &str,
    scopes: &[&str],
    on_code: impl FnOnce(&DeviceCode),
) -> Result<OAuthToken, AuthError> {
    device_code_with(
        &DeviceOptions::default(),
        accounts_base,
        client_id,
        scopes,
        on_code,
    )
    .await
}

/// Device-code sign-in: `POST {accounts}/oauth2/device/authorize` (client_id, scope), hands the
/// user code to `on_code` (the caller shows it with the verification URI), then polls the token
/// endpoint with `grant_type=urn:ietf:params:oauth:grant-type:device_code` every `interval`
/// (plus `slow_down_step` for each `slow_down`) until the user approves, refuses
/// (`access_denied` → [`AuthError::Denied`]) or the code expires (→ [`AuthError::Expired`]).
pub async fn device_code_with(
    options: &DeviceOptions,
    accounts_base: &str,
    client_id: &str,
    scopes: &[&str],
    on_code: impl FnOnce(&DeviceCode),
) -> Result<OAuthToken, AuthError> {
    let http = http_client()?;
    let code = request_device_code(&http, options, accounts_base, client_id, scopes).await?;
    on_code(&code);
    poll_device_token(&http, options, accounts_base, client_id, &code).await
}

/// Step one of the device flow.
pub async fn request_device_code(
    http: &reqwest::Client,
    options: &DeviceOptions,
    accounts_base: &str,
    client_id: &str,
    scopes: &[&str],
) -> Result<DeviceCode, AuthError> {
    let url = endpoint(accounts_base, "/oauth2/device/authorize")?;
    let scope = scopes.join(" ");
    let (status, body) =
        post_form(http, &url, &[("client_id", client_id), ("scope", &scope)]).await?;
    if status != 200 {
        return Err(match serde_json::from_slice::<ServerError>(&body) {
            Ok(error) => refusal(status, error),
            Err(_) => AuthError::Refused {
                status,
                error: "no OAuth error in the answer".into(),
            },
        });
    }
    parse_device_code(&body, options)
}

/// The device-authorization answer (a 200's body) as a [`DeviceCode`], with its durations
/// bounded by [`device_timing`].
pub(super) fn parse_device_code(
    body: &[u8],
    options: &DeviceOptions,
) -> Result<DeviceCode, AuthError> {
    let d: DeviceResponse =
        serde_json::from_slice(body).map_err(|e| AuthError::BadResponse(describe_json(&e)))?;
    if d.device_code.is_empty() || d.user_code.is_empty() || d.verification_uri.is_empty() {
        return Err(AuthError::BadResponse(
            "the device code answer has empty fields".into(),
        ));
    }
    let (expires_in, interval) = device_timing(options, d.expires_in.as_ref(), d.interval.as_ref());
    Ok(DeviceCode {
        device_code: d.device_code,
        user_code: d.user_code,
        verification_uri: d.verification_uri,
        verification_uri_complete: d.verification_uri_complete.filter(|u| !u.is_empty()),
        expires_in,
        interval,
    })
}

/// The server's `expires_in` and `interval`, bounded: a missing or non-positive lifetime is
/// `default_expiry`, any lifetime at most [`MAX_DEVICE_CODE_LIFETIME`]; a missing interval is
/// `default_interval`, any interval between `min_interval` and [`MAX_POLL_INTERVAL`].
fn device_timing(
    options: &DeviceOptions,
    expires_in: Option<&serde_json::Value>,
    interval: Option<&serde_json::Value>,
) -> (Duration, Duration) {
    let positive = expires_in.filter(|v| v.as_f64().is_some_and(|f| f > 0.0));
    let lifetime = SecsBounds::new(
        options.default_expiry,
        Duration::from_secs(1),
        MAX_DEVICE_CODE_LIFETIME,
    );
    let polling = SecsBounds::new(
        options.default_interval,
        options.min_interval,
        MAX_POLL_INTERVAL,
    );
    (lifetime.secs_json(positive), polling.secs_json(interval))
}

/// The polling interval after one more `slow_down`, never past [`MAX_POLL_INTERVAL`].
pub(super) fn slowed_down(interval: Duration, step: Duration) -> Duration {
    interval.saturating_add(step).min(MAX_POLL_INTERVAL)
}

/// Step two of the device flow: polls until approved, refused or expired.
pub async fn poll_device_token(
    http: &reqwest::Client,
    options: &DeviceOptions,
    accounts_base: &str,
    client_id: &str,
    code: &DeviceCode,
) -> Result<OAuthToken, AuthError> {
    let deadline = tokio::time::Instant::now().later_by(code.expires_in);
    let mut interval = code
        .interval
        .max(options.min_interval)
        .min(MAX_POLL_INTERVAL);
    let mut failures = 0u32;
    let form = [
        ("grant_type", DEVICE_GRANT),
        ("device_code", code.device_code.as_str()),
        ("client_id", client_id),
    ];
    loop {
        if tokio::time::Instant::now().later_by(interval) > deadline {
            return Err(AuthError::Expired);
        }
        tokio::time::sleep(interval).await;
        match token_request(http, accounts_base, &form).await {
            Ok(TokenAnswer::Token(t)) => return Ok(t),
            Ok(TokenAnswer::Error { status, error }) => {
                failures = 0;
                match error.error.as_str() {
                    "authorization_pending" => {}
                    "slow_down" => {
                        interval = slowed_down(interval, options.slow_down_step);
                        tracing::debug!(interval_ms = interval.as_millis() as u64, "slow_down");
                    }
                    "expired_token" => return Err(AuthError::Expired),
                    _ => return Err(refusal(status, error)),
                }
            }
            Err(e @ AuthError::Network { .. }) => {
                failures += 1;
                if failures > options.max_network_failures {
                    return Err(e);
                }
                tracing::debug!(error = %e, "device poll failed; will retry");
            }
            Err(e) => return Err(e),
        }
    }
}
