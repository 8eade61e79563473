//! Everything the simulator's tasks share: the built-in accounts, issued stored credentials and
//! access tokens (optionally persisted as JSON in `state_dir`), login5 and client tokens, audio
//! keys, the catalog and its served files, the Mercury resources, the registry of logged-in
//! sessions (for pushed Mercury events), per-AP and HTTP faults, the runtime faults of
//! `faults`, the counters behind [`super::SimStats`], and which account is refused audio keys. Locks are std mutexes held only for short,
//! non-async sections. Depends on no client module.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rand::RngCore;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::accounts::{OAuthState, KNOWN_SCOPES};
use super::catalog::Catalog;
use super::handshake::ApKey;
use super::media::Media;
use super::tokens::TokenTable;
use super::{ApFaults, HttpFaults, SimAccount, SimError, SimStats};
use crate::util::lock;

/// Name of the state file inside `state_dir`.
pub(crate) const STATE_FILE: &str = "sim-state.json";
/// Length of issued stored credentials.
const STORED_CREDENTIALS_LEN: usize = 32;

/// The built-in account whose audio keys the AP always refuses, as Spotify does for accounts
/// created since about Dec 2024 asking through clients like librespot (spec §10.4).
pub(crate) const KEYLESS_ACCOUNT: &str = "keyless";

/// Whether the AP refuses every audio key `username` asks for.
pub(crate) fn audio_keys_refused(username: &str) -> bool {
    username == KEYLESS_ACCOUNT
}

/// What is written to the state file.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Persisted {
    version: u32,
    /// hex(stored credentials) → username.
    stored_credentials: BTreeMap<String, String>,
    /// access token → username.
    access_tokens: BTreeMap<String, String>,
}

/// Issued credentials and tokens.
pub(crate) struct CredentialStore {
    data: Persisted,
    path: Option<PathBuf>,
}

impl CredentialStore {
    /// Opens (or starts) the store; with a directory, loads its state file if present.
    pub(crate) fn open(dir: Option<&Path>) -> Result<Self, SimError> {
        let Some(dir) = dir else {
            return Ok(CredentialStore {
                data: Persisted::default(),
                path: None,
            });
        };
        std::fs::create_dir_all(dir).map_err(|e| SimError::State {
            path: dir.to_path_buf(),
            reason: format!("cannot create the directory: {e}"),
        })?;
        let path = dir.join(STATE_FILE);
        let mut data = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<Persisted>(&bytes).map_err(|e| {
                // Only the position: the file holds secrets, and serde may quote values.
                SimError::State {
                    path: path.clone(),
                    reason: format!(
                        "not a valid simulator state file ({:?} error at line {} column {})",
                        e.classify(),
                        e.line(),
                        e.column()
                    ),
                }
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Persisted::default(),
            Err(e) => {
                return Err(SimError::State {
                    path,
                    reason: format!("cannot read: {e}"),
                });
            }
        };
        data.version = 1;
        let store = CredentialStore {
            data,
            path: Some(path),
        };
        store.save()?;
        Ok(store)
    }

    fn save(&self) -> Result<(), SimError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let fail = |reason: String| SimError::State {
            path: path.clone(),
            reason,
        };
        let json = serde_json::to_vec_pretty(&self.data).map_err(|e| fail(e.to_string()))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json).map_err(|e| fail(format!("cannot write: {e}")))?;
        std::fs::rename(&tmp, path).map_err(|e| fail(format!("cannot replace: {e}")))?;
        Ok(())
    }

    fn save_or_log(&self) {
        if let Err(e) = self.save() {
            tracing::warn!(error = %e, "simulator state not saved");
        }
    }

    /// New opaque stored credentials bound to `username`.
    pub(crate) fn issue_stored(&mut self, username: &str) -> Vec<u8> {
        let mut bytes = vec![0u8; STORED_CREDENTIALS_LEN];
        rand::thread_rng().fill_bytes(&mut bytes);
        self.data
            .stored_credentials
            .insert(hex::encode(&bytes), username.to_owned());
        self.save_or_log();
        bytes
    }

    /// The user the stored credentials were issued to.
    pub(crate) fn stored_owner(&self, bytes: &[u8]) -> Option<&str> {
        self.data
            .stored_credentials
            .get(&hex::encode(bytes))
            .map(String::as_str)
    }

    /// A new access token for `username`.
    pub(crate) fn issue_token(&mut self, username: &str) -> String {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let token = format!("sim-at-{}", hex::encode(bytes));
        self.data
            .access_tokens
            .insert(token.clone(), username.to_owned());
        self.save_or_log();
        token
    }

    /// Forgets an access token (AP logins with it fail from now on).
    pub(crate) fn revoke_token(&mut self, token: &str) {
        if self.data.access_tokens.remove(token).is_some() {
            self.save_or_log();
        }
    }

    /// Forgets every access token (the `revoke_tokens` fault); returns how many there were.
    pub(crate) fn revoke_all_tokens(&mut self) -> usize {
        let n = self.data.access_tokens.len();
        self.data.access_tokens.clear();
        self.save_or_log();
        n
    }

    /// Forgets every stored credential (the `revoke_credentials` fault); returns how many.
    pub(crate) fn revoke_all_stored(&mut self) -> usize {
        let n = self.data.stored_credentials.len();
        self.data.stored_credentials.clear();
        self.save_or_log();
        n
    }

    /// The user an access token was issued to.
    pub(crate) fn token_owner(&self, token: &str) -> Option<&str> {
        self.data.access_tokens.get(token).map(String::as_str)
    }
}

/// An audio file and its track: (file id, track gid).
pub(crate) type AudioKeyId = ([u8; 20], [u8; 16]);

/// Something a session task must send, queued from outside the task.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// Packets sent back to back (e.g. a Mercury event split over several packets).
    Packets(Vec<(u8, Vec<u8>)>),
}

/// A logged-in connection, as seen by `publish_mercury`.
pub(crate) struct SessionEntry {
    pub username: String,
    pub subscriptions: Vec<String>,
    pub tx: mpsc::Sender<Outbound>,
}

/// A registered Mercury resource.
#[derive(Clone)]
pub(crate) struct MercuryResource {
    pub content_type: String,
    pub body: Vec<u8>,
}

/// Counters (see [`SimStats`]).
#[derive(Default)]
pub(crate) struct Counters {
    pub connections_accepted: AtomicU64,
    pub handshakes_failed: AtomicU64,
    pub logins_ok: AtomicU64,
    pub logins_failed: AtomicU64,
    pub active_sessions: AtomicU64,
    pub pongs_received: AtomicU64,
    pub cdn_requests: AtomicU64,
    pub cdn_bytes: AtomicU64,
    pub metadata_requests: AtomicU64,
    pub storage_resolves: AtomicU64,
    pub login5_logins: AtomicU64,
    pub client_token_requests: AtomicU64,
    pub login5_requests: AtomicU64,
    pub dealer_connections: AtomicU64,
    pub dealer_closed_by_fault: AtomicU64,
    pub ap_connections_dropped: AtomicU64,
    pub black_holed: AtomicU64,
    pub injected_429s: AtomicU64,
    pub cdn_stalled: AtomicU64,
    pub connect_state_puts: AtomicU64,
    pub connect_state_puts_limited: AtomicU64,
    pub audio_key_requests: AtomicU64,
    pub audio_keys_refused: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> SimStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SimStats {
            connections_accepted: get(&self.connections_accepted),
            handshakes_failed: get(&self.handshakes_failed),
            logins_ok: get(&self.logins_ok),
            logins_failed: get(&self.logins_failed),
            active_sessions: get(&self.active_sessions),
            pongs_received: get(&self.pongs_received),
            cdn_requests: get(&self.cdn_requests),
            cdn_bytes: get(&self.cdn_bytes),
            metadata_requests: get(&self.metadata_requests),
            storage_resolves: get(&self.storage_resolves),
            login5_logins: get(&self.login5_logins),
            client_token_requests: get(&self.client_token_requests),
            login5_requests: get(&self.login5_requests),
            dealer_connections: get(&self.dealer_connections),
            dealer_closed_by_fault: get(&self.dealer_closed_by_fault),
            ap_connections_dropped: get(&self.ap_connections_dropped),
            black_holed: get(&self.black_holed),
            injected_429s: get(&self.injected_429s),
            cdn_stalled: get(&self.cdn_stalled),
            connect_state_puts: get(&self.connect_state_puts),
            connect_state_puts_limited: get(&self.connect_state_puts_limited),
            audio_key_requests: get(&self.audio_key_requests),
            audio_keys_refused: get(&self.audio_keys_refused),
        }
    }
}

/// Settings the connection tasks read.
#[derive(Debug, Clone)]
pub(crate) struct Behaviour {
    pub first_ping_after: std::time::Duration,
    pub ping_interval: std::time::Duration,
    pub mercury_chunk: usize,
    pub password_login: bool,
    /// `http://host:port` of the simulator's HTTP server (for URLs in ProductInfo and CDN URLs).
    pub http_base: String,
    /// Lifetime of login5 access tokens.
    pub token_ttl: std::time::Duration,
    /// Trailing zero bits login5's hashcash demands; `None` = no challenge.
    pub login5_hashcash: Option<i32>,
    /// Whether client-token answers with a hashcash challenge first.
    pub client_token_hashcash: bool,
    /// Smallest gap between device-flow token polls (`slow_down` below it).
    pub device_code_interval: std::time::Duration,
    /// Lifetime of device codes.
    pub device_code_ttl: std::time::Duration,
}

/// The state shared by the HTTP server, the AP listeners and the [`super::Simulator`] handle.
pub(crate) struct Shared {
    pub behaviour: Behaviour,
    pub accounts: Vec<SimAccount>,
    pub ap_key: ApKey,
    pub store: Mutex<CredentialStore>,
    /// (file id, track gid) → key.
    pub audio_keys: Mutex<HashMap<AudioKeyId, [u8; 16]>>,
    pub mercury: Mutex<HashMap<String, MercuryResource>>,
    pub sessions: Mutex<HashMap<u64, SessionEntry>>,
    pub faults: Mutex<Vec<ApFaults>>,
    pub http_faults: Mutex<HttpFaults>,
    pub tokens: Mutex<TokenTable>,
    pub catalog: Arc<Catalog>,
    pub media: Media,
    /// Signs CDN URLs (random per run).
    pub cdn_secret: [u8; 32],
    pub counters: Counters,
    /// The accounts service: authorization codes, OAuth tokens, device grants.
    pub oauth: Mutex<OAuthState>,
    pub next_session_id: AtomicU64,
    pub next_event_seq: AtomicU64,
    /// The Web API's libraries, playlists and rate-limit windows.
    pub web: super::webapi::WebApi,
    /// Spotify Connect: dealer connections, devices and clusters per account.
    pub connect: super::connect_state::Hub,
    /// The runtime faults ([`super::Fault`]) and connect-state's PUT rate limit.
    pub live: super::faults::Live,
}

impl Shared {
    pub(crate) fn account(&self, username: &str) -> Option<&SimAccount> {
        self.accounts.iter().find(|a| a.username == username)
    }

    /// (username, scopes) behind a Web API bearer token: an unexpired OAuth access token from
    /// the accounts service (its granted scopes) or login5 token (every known scope); `None`
    /// for anything else.
    // Called by the simulated Web API.
    pub(crate) fn validate_web_token(&self, token: &str) -> Option<(String, Vec<String>)> {
        if let Some(found) = lock(&self.oauth).access(token) {
            return Some(found);
        }
        let user = lock(&self.tokens).access_user(token)?.to_owned();
        Some((user, KNOWN_SCOPES.iter().map(|s| (*s).to_owned()).collect()))
    }

    /// The faults in force for a new connection on AP `index`.
    pub(crate) fn faults_for(&self, index: usize) -> ApFaults {
        lock(&self.faults).get(index).cloned().unwrap_or_default()
    }

    /// Consumes one unit of a counted HTTP fault; `true` if it fires for this request.
    pub(crate) fn take_fault(&self, field: impl FnOnce(&mut HttpFaults) -> &mut u32) -> bool {
        let mut faults = lock(&self.http_faults);
        let n = field(&mut faults);
        if *n > 0 {
            *n -= 1;
            true
        } else {
            false
        }
    }

    /// The audio key for (file, item): registered keys first, then the catalog's.
    pub(crate) fn audio_key(&self, id: &AudioKeyId) -> Option<[u8; 16]> {
        let registered = lock(&self.audio_keys).get(id).copied();
        registered.or_else(|| self.catalog.audio_key(&id.0, &id.1))
    }

    /// A Mercury resource by URI: exact match first, then without the query string.
    pub(crate) fn mercury_resource(&self, uri: &str) -> Option<MercuryResource> {
        let map = lock(&self.mercury);
        map.get(uri)
            .or_else(|| uri.split_once('?').and_then(|(path, _)| map.get(path)))
            .cloned()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn store_persists_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let (creds, token) = {
            let mut store = CredentialStore::open(Some(dir.path())).unwrap();
            (
                store.issue_stored("alice"),
                store.issue_token("tonearm-demo"),
            )
        };
        let store = CredentialStore::open(Some(dir.path())).unwrap();
        assert_eq!(store.stored_owner(&creds), Some("alice"));
        assert_eq!(store.token_owner(&token), Some("tonearm-demo"));
        assert_eq!(store.stored_owner(b"nope"), None);
        assert_eq!(store.token_owner("nope"), None);
    }

    #[test]
    fn missing_directory_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        CredentialStore::open(Some(&nested)).unwrap();
        assert!(nested.join(STATE_FILE).exists());
    }

    #[test]
    fn corrupt_file_is_a_clear_error_without_contents() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(STATE_FILE),
            br#"{"version":1,"stored_credentials":{"ab":5},"access_tokens":{}}"#,
        )
        .unwrap();
        let err = CredentialStore::open(Some(dir.path()))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(STATE_FILE), "{err}");
        assert!(err.contains("line 1"), "{err}");
        std::fs::write(
            dir.path().join(STATE_FILE),
            b"{\"access_tokens\": {\"sim-at-secret\"",
        )
        .unwrap();
        let err = CredentialStore::open(Some(dir.path()))
            .err()
            .unwrap()
            .to_string();
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn in_memory_store_works_without_a_directory() {
        let mut store = CredentialStore::open(None).unwrap();
        let c = store.issue_stored("frank-free");
        assert_eq!(store.stored_owner(&c), Some("frank-free"));
    }
}
