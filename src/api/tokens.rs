//! [`TokenProvider`]: the client token (cached until the server's `refresh_after`) and the
//! login5 access token (cached until 10 s before it expires), each fetched single-flight —
//! concurrent callers wait for one request and share its answer. [`TokenProvider::invalidate`]
//! (after a 401 anywhere: login5, spclient, Web API, dealer) takes the token that was refused
//! and, when that is still the cached one, drops the access token *and* the client-token, so
//! the next call re-mints the whole chain (client-token → login5 with the stored credential);
//! a revoked client-token alone would otherwise make every "refreshed" access token fail
//! again. A token minted after the refused one is kept (compare-and-drop), so an outage that
//! several callers see as 401s costs one re-mint, not one per caller. When login5 refuses the
//! stored credential, a session-backed provider logs in at the access point again (which hands
//! out fresh reusable credentials) and retries once; only when the AP refuses too is the answer
//! "signed out". Re-mints after refusals are bounded ([`MAX_REMINTS`] per [`REMINT_WINDOW`]):
//! past that the provider answers [`ApiError::TokenRefused`] without asking the server, so no
//! caller loops on a refused chain.
//!
//! Called by `spclient`, `webapi` and the Connect service (for its dealer). Who logs in comes
//! from the [`Session`] (user name, reusable credentials, device id) or, in this module's and
//! the API layer's tests, from a fixed account (no AP session). Depends on `login5` and
//! `client_token` for the exchanges; must not depend on the UI or other services. Tokens and
//! credentials never appear in logs, errors or `Debug`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{client_token, login5, ApiError};
use crate::config::Endpoints;
use crate::server_time::Later as _;
use crate::session::Session;

/// An access token is handed out only while it has at least this long to live.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(10);

/// At most this many tokens are dropped as refused within [`REMINT_WINDOW`] before the
/// provider stops minting new ones until the window has room again.
pub const MAX_REMINTS: usize = 4;
/// The window of [`MAX_REMINTS`].
pub const REMINT_WINDOW: Duration = Duration::from_secs(60);

/// A login5 access token for `Authorization: Bearer`. `Debug` hides the token.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    pub expires_at: Instant,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl AccessToken {
    /// Still usable for at least [`EXPIRY_MARGIN`].
    pub fn is_fresh(&self) -> bool {
        Instant::now().later_by(EXPIRY_MARGIN) < self.expires_at
    }
}

/// Who logs in when there is no [`Session`] (the API layer's tests). `Debug` hides the
/// credential.
#[cfg(test)]
#[derive(Clone)]
pub struct FixedAccount {
    pub username: String,
    /// Reusable (stored) AP credentials.
    pub stored_credential: Vec<u8>,
    pub device_id: String,
    /// Two upper-case letters, sent as `country=` on spclient calls.
    pub country: Option<String>,
}

#[cfg(test)]
impl std::fmt::Debug for FixedAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixedAccount")
            .field("username", &self.username)
            .field("device_id", &self.device_id)
            .field("country", &self.country)
            .finish_non_exhaustive()
    }
}

/// Where the account facts come from.
#[derive(Clone)]
pub(crate) enum Account {
    Session(Session),
    #[cfg(test)]
    Fixed(Arc<FixedAccount>),
}

impl Account {
    fn username(&self) -> String {
        match self {
            Account::Session(s) => s.username(),
            #[cfg(test)]
            Account::Fixed(a) => a.username.clone(),
        }
    }

    fn stored_credential(&self) -> Vec<u8> {
        match self {
            Account::Session(s) => s.reusable_credentials().auth_data,
            #[cfg(test)]
            Account::Fixed(a) => a.stored_credential.clone(),
        }
    }

    fn device_id(&self) -> String {
        match self {
            Account::Session(s) => s.device_id(),
            #[cfg(test)]
            Account::Fixed(a) => a.device_id.clone(),
        }
    }

    pub(crate) fn country(&self) -> Option<String> {
        match self {
            Account::Session(s) => s.country(),
            #[cfg(test)]
            Account::Fixed(a) => a.country.clone(),
        }
    }
}

/// Time limits of the token exchanges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenTiming {
    /// One HTTP request (10 s).
    pub request_timeout: Duration,
    /// The wait after login5's TIMEOUT / TOO_MANY_ATTEMPTS (3 s, as librespot).
    pub login5_retry_delay: Duration,
}

impl Default for TokenTiming {
    fn default() -> Self {
        TokenTiming {
            request_timeout: Duration::from_secs(10),
            login5_retry_delay: Duration::from_secs(3),
        }
    }
}

struct ClientToken {
    token: String,
    refresh_at: Instant,
}

struct Inner {
    account: Account,
    client_id: String,
    login5_url: String,
    client_token_url: String,
    http: reqwest::Client,
    timing: TokenTiming,
    client: Mutex<Option<ClientToken>>,
    access: Mutex<Option<AccessToken>>,
    /// Held while a client token is being fetched (single flight).
    client_gate: tokio::sync::Mutex<()>,
    /// Held while an access token is being fetched (single flight).
    access_gate: tokio::sync::Mutex<()>,
    /// When cached tokens were dropped as refused (pruned to [`REMINT_WINDOW`]).
    refusals: Mutex<VecDeque<Instant>>,
    /// The length of the re-mint window (a field so tests need not wait a minute).
    remint_window: Duration,
}

/// Tokens for Spotify's HTTP services. Cheap to clone; clones share the caches.
#[derive(Clone)]
pub struct TokenProvider {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenProvider")
            .field("login5", &self.inner.login5_url)
            .field("client_token", &self.inner.client_token_url)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned cache is still a valid cache (plain data, no invariants across fields).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TokenProvider {
    /// Tokens for `session`'s account, from `endpoints.login5` / `endpoints.client_token`.
    pub fn new(session: Session, endpoints: Endpoints, http: reqwest::Client) -> TokenProvider {
        TokenProvider::build(
            Account::Session(session),
            &endpoints,
            http,
            TokenTiming::default(),
        )
    }

    /// Tokens for an account given by value (no AP session needed).
    #[cfg(test)]
    pub(crate) fn with_account(
        account: FixedAccount,
        endpoints: Endpoints,
        http: reqwest::Client,
    ) -> TokenProvider {
        TokenProvider::build(
            Account::Fixed(Arc::new(account)),
            &endpoints,
            http,
            TokenTiming::default(),
        )
    }

    /// Replaces the time limits. Call right after construction, before cloning (a shared
    /// provider keeps its timing).
    pub fn with_timing(self, timing: TokenTiming) -> TokenProvider {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.timing = timing;
                TokenProvider {
                    inner: Arc::new(inner),
                }
            }
            Err(inner) => {
                tracing::warn!("TokenProvider::with_timing on a shared provider; ignored");
                TokenProvider { inner }
            }
        }
    }

    fn build(
        account: Account,
        endpoints: &Endpoints,
        http: reqwest::Client,
        timing: TokenTiming,
    ) -> TokenProvider {
        TokenProvider {
            inner: Arc::new(Inner {
                account,
                client_id: crate::config::SPOTIFY_CLIENT_ID.to_string(),
                login5_url: endpoints.login5.clone(),
                client_token_url: endpoints.client_token.clone(),
                http,
                timing,
                client: Mutex::new(None),
                access: Mutex::new(None),
                client_gate: tokio::sync::Mutex::new(()),
                access_gate: tokio::sync::Mutex::new(()),
                refusals: Mutex::new(VecDeque::new()),
                remint_window: REMINT_WINDOW,
            }),
        }
    }

    #[cfg(test)]
    pub(crate) fn account(&self) -> &Account {
        &self.inner.account
    }

    fn cached_client_token(&self) -> Option<String> {
        lock(&self.inner.client)
            .as_ref()
            .filter(|c| Instant::now() < c.refresh_at)
            .map(|c| c.token.clone())
    }

    fn cached_access_token(&self) -> Option<AccessToken> {
        lock(&self.inner.access)
            .as_ref()
            .filter(|t| t.is_fresh())
            .cloned()
    }

    /// The client token, fetched (with hashcash if asked) when missing or due for refresh.
    pub async fn client_token(&self) -> Result<String, ApiError> {
        if let Some(t) = self.cached_client_token() {
            return Ok(t);
        }
        let _gate = self.inner.client_gate.lock().await;
        // Someone else may have fetched it while we waited.
        if let Some(t) = self.cached_client_token() {
            return Ok(t);
        }
        let inner = &self.inner;
        let granted = client_token::fetch(
            &inner.http,
            &inner.client_token_url,
            &inner.client_id,
            &inner.account.device_id(),
            inner.timing.request_timeout,
        )
        .await?;
        *lock(&inner.client) = Some(ClientToken {
            token: granted.token.clone(),
            refresh_at: Instant::now().later_by(granted.refresh_after),
        });
        Ok(granted.token)
    }

    /// The login5 access token, fetched when missing or within 10 s of expiry.
    ///
    /// A login5 401 (the client-token was refused) re-mints the client-token and tries once
    /// more; a refused stored credential makes a session-backed provider log in at the access
    /// point again and try once more with the credentials it hands out.
    pub async fn access_token(&self) -> Result<AccessToken, ApiError> {
        if let Some(t) = self.cached_access_token() {
            return Ok(t);
        }
        let _gate = self.inner.access_gate.lock().await;
        if let Some(t) = self.cached_access_token() {
            return Ok(t);
        }
        if let Some(retry_in) = self.remint_wait() {
            return Err(ApiError::TokenRefused { retry_in });
        }
        let access = match self.mint().await {
            Err(ApiError::Unauthorized) => {
                tracing::info!("login5 refused the client-token; minting a new one");
                *lock(&self.inner.client) = None;
                self.mint().await
            }
            other => other,
        };
        let access = match (access, &self.inner.account) {
            (Err(ApiError::BadCredentials(why)), Account::Session(session)) => {
                tracing::info!("login5 refused the stored credential; logging in at the AP again");
                match session.reconnect().await {
                    Ok(()) => self.mint().await,
                    Err(e) if e.kind() == crate::ErrorKind::Relogin => {
                        tracing::warn!("the access point refused the credentials too: signed out");
                        // The supervisor takes it from here (and signs the user out).
                        session.mark_dead("the credentials were refused");
                        Err(ApiError::BadCredentials(why))
                    }
                    Err(e) => Err(ApiError::Network(e.to_string())),
                }
            }
            (other, _) => other,
        }?;
        *lock(&self.inner.access) = Some(access.clone());
        Ok(access)
    }

    /// One client-token (cached or new) → login5 exchange.
    async fn mint(&self) -> Result<AccessToken, ApiError> {
        let client_token = self.client_token().await?;
        let inner = &self.inner;
        let (username, credential, device_id) = (
            inner.account.username(),
            inner.account.stored_credential(),
            inner.account.device_id(),
        );
        let token = login5::login(
            &inner.http,
            &inner.login5_url,
            &login5::Login {
                client_id: &inner.client_id,
                device_id: &device_id,
                username: &username,
                stored_credential: &credential,
                client_token: &client_token,
            },
            inner.timing.request_timeout,
            inner.timing.login5_retry_delay,
        )
        .await?;
        Ok(AccessToken {
            token: token.access_token,
            expires_at: token.received.later_by(token.expires_in),
        })
    }

    /// How long until another re-mint is allowed, when the budget is spent.
    fn remint_wait(&self) -> Option<Duration> {
        let mut refusals = lock(&self.inner.refusals);
        let now = Instant::now();
        let window = self.inner.remint_window;
        while refusals
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            refusals.pop_front();
        }
        if refusals.len() < MAX_REMINTS {
            return None;
        }
        let oldest = refusals.front().copied()?;
        Some(window.saturating_sub(now.duration_since(oldest)))
    }

    /// The server refused `refused` (a 401 anywhere): when it is still the cached access
    /// token, forgets it and the client-token, so the next call mints the chain again, and
    /// counts one re-mint against the budget. A token minted after the refused one (another
    /// caller refused with the same token got there first) stays: dropping it would make one
    /// outage cost a re-mint per caller, spend the budget and stall every service for the rest
    /// of the window. Returns whether anything was dropped.
    pub fn invalidate(&self, refused: &str) -> bool {
        {
            let mut access = lock(&self.inner.access);
            if access.as_ref().is_none_or(|t| t.token != refused) {
                tracing::debug!("a refused access token was already replaced; keeping the new one");
                return false;
            }
            *access = None;
        }
        *lock(&self.inner.client) = None;
        lock(&self.inner.refusals).push_back(Instant::now());
        true
    }

    /// A shorter re-mint window (tests).
    #[cfg(test)]
    pub(crate) fn with_remint_window(self, window: Duration) -> TokenProvider {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.remint_window = window;
                TokenProvider {
                    inner: Arc::new(inner),
                }
            }
            Err(inner) => TokenProvider { inner },
        }
    }

    /// Puts an access token in the cache (tests of callers that must not reach login5).
    #[cfg(test)]
    pub(crate) fn preset_access_token(&self, token: AccessToken) {
        *lock(&self.inner.access) = Some(token);
    }
}

#[cfg(test)]
mod tests;
