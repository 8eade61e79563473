//! What the accounts service remembers (spec §6): unredeemed authorization codes, issued OAuth
//! access and refresh tokens, outstanding device grants and spent codes, and the scopes it
//! grants. Plain data with its bookkeeping, held in the shared state; the endpoints in the
//! parent module read and change it. Depends on std only.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Every scope the accounts service grants (librespot's list plus the other public ones).
pub(crate) const KNOWN_SCOPES: &[&str] = &[
    "app-remote-control",
    "playlist-modify",
    "playlist-modify-private",
    "playlist-modify-public",
    "playlist-read",
    "playlist-read-collaborative",
    "playlist-read-private",
    "streaming",
    "ugc-image-upload",
    "user-follow-modify",
    "user-follow-read",
    "user-library-modify",
    "user-library-read",
    "user-modify",
    "user-modify-playback-state",
    "user-modify-private",
    "user-personalized",
    "user-read-birthdate",
    "user-read-currently-playing",
    "user-read-email",
    "user-read-play-history",
    "user-read-playback-position",
    "user-read-playback-state",
    "user-read-private",
    "user-read-recently-played",
    "user-top-read",
    "user-soa-link",
    "user-soa-unlink",
    "user-manage-entitlements",
    "user-manage-partner",
    "user-create-partner",
];

/// An unredeemed authorization code.
#[derive(Debug, Clone)]
pub(super) struct AuthCode {
    pub(super) client_id: String,
    pub(super) redirect_uri: String,
    pub(super) challenge: String,
    pub(super) username: String,
    pub(super) scopes: Vec<String>,
    pub(super) expires: Instant,
}

/// An issued OAuth access token.
#[derive(Debug, Clone)]
pub(super) struct OAuthToken {
    pub(super) username: String,
    pub(super) scopes: Vec<String>,
    pub(super) expires: Instant,
}

/// A refresh token's grant.
#[derive(Debug, Clone)]
pub(super) struct RefreshGrant {
    pub(super) client_id: String,
    pub(super) username: String,
    pub(super) scopes: Vec<String>,
}

/// Where a device sign-in stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DeviceStatus {
    Pending,
    Approved(String),
    Denied,
}

/// An outstanding device authorization.
#[derive(Debug, Clone)]
pub(super) struct DeviceGrant {
    pub(super) client_id: String,
    /// Normalised (8 letters, no dash).
    pub(super) user_code: String,
    pub(super) scopes: Vec<String>,
    pub(super) expires: Instant,
    pub(super) interval: Duration,
    pub(super) last_poll: Option<Instant>,
    pub(super) status: DeviceStatus,
}

/// The accounts service's state (inside the simulator's shared state).
#[derive(Debug, Default)]
pub(crate) struct OAuthState {
    pub(super) codes: HashMap<String, AuthCode>,
    pub(super) access: HashMap<String, OAuthToken>,
    pub(super) refresh: HashMap<String, RefreshGrant>,
    /// device_code → grant.
    pub(super) devices: HashMap<String, DeviceGrant>,
    /// Redeemed codes → (forget after, access token, refresh token) issued for them, revoked
    /// if the code comes back (RFC 6749 §4.1.2).
    pub(super) spent: HashMap<String, (Instant, String, String)>,
    /// Refresh tokens revoked by the `revoke_tokens` fault: refreshing with one answers
    /// `invalid_grant` "Refresh token revoked", as Spotify does.
    pub(super) revoked_refresh: HashSet<String>,
}

impl OAuthState {
    /// Revokes every access and refresh token (the `revoke_tokens` fault); returns how many.
    pub(crate) fn revoke_tokens(&mut self) -> usize {
        let n = self.access.len() + self.refresh.len();
        self.access.clear();
        self.spent.clear();
        let revoked: Vec<String> = self.refresh.drain().map(|(token, _)| token).collect();
        self.revoked_refresh.extend(revoked);
        n
    }

    pub(super) fn prune(&mut self, now: Instant) {
        self.codes.retain(|_, c| c.expires > now);
        self.spent.retain(|_, s| s.0 > now);
        self.access.retain(|_, t| t.expires > now);
        // Keep expired device grants a while so that polls get `expired_token`.
        self.devices
            .retain(|_, d| d.expires + Duration::from_secs(600) > now);
    }

    /// (username, scopes) of an unexpired OAuth access token.
    pub(crate) fn access(&self, token: &str) -> Option<(String, Vec<String>)> {
        self.access
            .get(token)
            .filter(|t| t.expires > Instant::now())
            .map(|t| (t.username.clone(), t.scopes.clone()))
    }

    pub(super) fn device_by_user_code(&mut self, user_code: &str) -> Option<&mut DeviceGrant> {
        self.devices.values_mut().find(|d| d.user_code == user_code)
    }
}
