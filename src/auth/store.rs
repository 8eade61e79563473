//! The credential store: keeps the reusable credentials the access point hands out (never a
//! password or an OAuth token) in the OS keyring by default (Secret Service on Linux, Keychain
//! on macOS, Credential Manager on Windows), and in `$XDG_STATE_HOME/tonearm/credentials.json`
//! (mode 0600) when no keyring service is reachable. A file that group or others can read is
//! refused rather than used, because it would leak the login. `TONEARM_CREDENTIAL_STORE=file`
//! or `=keyring` forces one store (headless users, tests); `logout` purges both.
//!
//! A keyring that exists but is locked or does not answer is not silently replaced: with
//! `auto` the file is used and [`CredentialStore::warning`] says so (naming the file) for the
//! caller to print; with `keyring` it is an error. tonearm never asks the Secret Service for an
//! unlock prompt (headless it fails or never returns): the probe reads the lock state instead.
//! The file is written atomically (temporary file, fsync, rename, fsync of the directory); a
//! damaged one is moved aside to `credentials.json.corrupt-<unix time>` (mode kept) before a
//! new sign-in could overwrite it, and `logout` removes such copies too.
//!
//! Called by the CLI (`tonearm login` / `logout` / `status` / sessions started from stored
//! credentials), the TUI and the daemon. Keyring calls run on one long-lived worker thread per
//! store ([`KeyringWorker`]) with a time limit (the keyring crate's tokio integration must not
//! be driven from a runtime thread); a timed-out call never leaves a new thread behind. Nothing
//! here logs or formats the secret bytes; keyring errors are reduced to text before they leave
//! this module.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::session::{AuthType, Credentials};

/// The keyring entry: service name.
pub const KEYRING_SERVICE: &str = "tonearm";
/// The keyring entry: user name (one sign-in per user account of the OS).
pub const KEYRING_USER: &str = "stored-credentials";
/// The keyring entry (user) of credentials a phone handed over by zeroconf: kept apart from
/// [`KEYRING_USER`] so a handover never overwrites the account `tonearm login` stored.
pub const ZEROCONF_KEYRING_USER: &str = "zeroconf-credentials";
/// The file of zeroconf-received credentials (beside `credentials.json`).
pub const ZEROCONF_FILE: &str = "zeroconf-credentials.json";
/// Environment variable that forces a store: `keyring`, `file` or `auto` (the default).
pub const STORE_ENV: &str = "TONEARM_CREDENTIAL_STORE";
/// How long one keyring call may take. No call asks for an unlock prompt (a locked keyring is
/// reported instead), so a working keyring answers in milliseconds; this bounds a hung one.
const KEYRING_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot access the credential file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the credential file {path} is readable by other users (mode {mode:o}); \
         refusing to use it. Fix it with `chmod 600 {path}` or remove it and sign in again"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error(
        "the credential file {path} is damaged ({reason}); run `tonearm logout` and sign in again"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "the credential file {path} was damaged ({reason}) and was moved aside to {moved}; sign \
         in again with `tonearm login` (`tonearm logout` removes the damaged copy)"
    )]
    Quarantined {
        path: PathBuf,
        moved: PathBuf,
        reason: String,
    },
    #[error(
        "the credentials in the system keyring are damaged ({reason}); run `tonearm logout` and \
         sign in again"
    )]
    KeyringCorrupt { reason: String },
    #[error("the system keyring failed: {reason}")]
    Keyring { reason: String },
    #[error("{STORE_ENV}=keyring, but the system keyring cannot be used: {reason}")]
    NoKeyring { reason: String },
    #[error("{STORE_ENV}=\"{value}\" is not one of: keyring, file, auto")]
    BadSetting { value: String },
    #[error("cannot find a place for the credential file: set HOME or XDG_STATE_HOME")]
    NoLocation,
}

#[derive(Serialize, Deserialize)]
struct StoredFile {
    username: String,
    auth_type: u32,
    /// Standard base64 of the reusable credential bytes.
    auth_data: String,
}

/// The JSON both stores keep (librespot's `credentials.json` layout, protocol spec §4.5).
fn encode(creds: &Credentials) -> Result<String, String> {
    serde_json::to_string_pretty(&StoredFile {
        username: creds.username.clone().unwrap_or_default(),
        auth_type: creds.auth_type.as_u32(),
        auth_data: base64::engine::general_purpose::STANDARD.encode(&creds.auth_data),
    })
    .map_err(|e| e.to_string())
}

fn decode(text: &str) -> Result<Credentials, String> {
    let f: StoredFile = serde_json::from_str(text)
        .map_err(|e| format!("not valid JSON at line {} column {}", e.line(), e.column()))?;
    let auth_type = AuthType::from_u32(f.auth_type)
        .ok_or_else(|| format!("unknown auth_type {}", f.auth_type))?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(f.auth_data.as_bytes())
        .map_err(|_| "auth_data is not base64".to_string())?;
    if f.username.is_empty() || data.is_empty() {
        return Err("username or auth_data is empty".into());
    }
    Ok(Credentials {
        username: Some(f.username),
        auth_type,
        auth_data: data,
    })
}

/// A credential file at a fixed path.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    pub fn new(path: PathBuf) -> FileStore {
        FileStore { path }
    }

    /// `$XDG_STATE_HOME/tonearm/credentials.json`.
    pub fn default_location() -> Option<FileStore> {
        crate::paths::state_dir().map(|d| FileStore::new(d.join("credentials.json")))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Loads stored credentials; `Ok(None)` when there are none.
    pub fn load(&self) -> Result<Option<Credentials>, StoreError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(e)),
        };
        self.check_permissions()?;
        decode(&text).map(Some).map_err(|reason| {
            // Moved aside before a new sign-in overwrites it (it may still hold a secret, so
            // the rename keeps its 0600, and `purge` removes such copies).
            match crate::paths::quarantine(&self.path) {
                Ok(moved) => StoreError::Quarantined {
                    path: self.path.clone(),
                    moved,
                    reason,
                },
                Err(e) => StoreError::Corrupt {
                    path: self.path.clone(),
                    reason: format!("{reason}; it could not be moved aside: {e}"),
                },
            }
        })
    }

    /// Saves reusable credentials, replacing any previous ones atomically (write + rename), with
    /// mode 0600 from the moment the file exists.
    pub fn save(&self, creds: &Credentials) -> Result<(), StoreError> {
        let body = encode(creds).map_err(|reason| StoreError::Corrupt {
            path: self.path.clone(),
            reason,
        })?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        let tmp = self.path.with_extension("json.tmp");
        let _ = fs::remove_file(&tmp);
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(|e| self.io(e))?;
        f.write_all(body.as_bytes()).map_err(|e| self.io(e))?;
        f.sync_all().map_err(|e| self.io(e))?;
        drop(f);
        fs::rename(&tmp, &self.path).map_err(|e| self.io(e))?;
        // The rename is durable only once the directory entry is on disk too. The new file is
        // complete either way, so a directory that cannot be synced is logged, not an error.
        if let Err(e) = crate::paths::sync_dir(dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot fsync the credential directory");
        }
        Ok(())
    }

    /// Removes the stored credentials (no error when there are none). Returns whether a file
    /// was removed.
    pub fn purge(&self) -> Result<bool, StoreError> {
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io(e)),
        }
    }

    /// Removes the damaged copies [`FileStore::load`] moved aside (`credentials.json.corrupt-*`,
    /// which may still hold the secret). Returns the paths removed.
    pub fn purge_quarantined(&self) -> Result<Vec<PathBuf>, StoreError> {
        let mut removed = Vec::new();
        for copy in crate::paths::quarantined_copies(&self.path) {
            fs::remove_file(&copy).map_err(|source| StoreError::Io {
                path: copy.clone(),
                source,
            })?;
            removed.push(copy);
        }
        Ok(removed)
    }

    #[cfg(unix)]
    fn check_permissions(&self) -> Result<(), StoreError> {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&self.path)
            .map_err(|e| self.io(e))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(StoreError::Permissions {
                path: self.path.clone(),
                mode,
            });
        }
        Ok(())
    }

    #[cfg(not(unix))]
    fn check_permissions(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The OS keyring.

/// A keyring failure, already reduced to text that is safe to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyringFailure {
    /// The keyring works but holds no entry.
    NoEntry,
    /// No keyring service (no Secret Service on the bus, refused access).
    Unavailable(String),
    /// The keyring service answers but its collection is locked; tonearm never triggers an
    /// unlock prompt (headless it fails or hangs), so the keyring cannot be used right now.
    Locked(String),
    /// The keyring service did not answer in time (or is still busy with a call that did not).
    NoAnswer(String),
    /// Anything else (a damaged or ambiguous entry).
    Other(String),
}

impl KeyringFailure {
    /// Why the keyring cannot be used, as text for the user.
    pub fn reason(&self) -> String {
        match self {
            KeyringFailure::NoEntry => "no entry".into(),
            KeyringFailure::Locked(r) => format!("it is locked ({r})"),
            KeyringFailure::NoAnswer(r) => format!("it did not answer ({r})"),
            KeyringFailure::Unavailable(r) | KeyringFailure::Other(r) => r.clone(),
        }
    }

    /// Locked or not answering: a keyring exists but cannot be used now (the user should
    /// hear about it), as opposed to no keyring service at all.
    pub fn is_blocked(&self) -> bool {
        matches!(
            self,
            KeyringFailure::Locked(_) | KeyringFailure::NoAnswer(_)
        )
    }
}

/// Where a [`KeyringStore`] keeps its one secret string. [`SystemKeyring`] in production; tests
/// use an in-memory one.
pub trait SecretBackend: Send + Sync {
    fn get(&self) -> Result<String, KeyringFailure>;
    fn set(&self, secret: &str) -> Result<(), KeyringFailure>;
    fn delete(&self) -> Result<(), KeyringFailure>;
    /// E.g. "the system keyring (Secret Service)".
    fn describe(&self) -> String;
    /// Whether the keyring can be used now, without prompting anyone: `Err` with
    /// [`KeyringFailure::Unavailable`], [`KeyringFailure::Locked`] or
    /// [`KeyringFailure::NoAnswer`] when it cannot. By default a harmless read.
    fn probe(&self) -> Result<(), KeyringFailure> {
        match self.get() {
            Err(
                f @ (KeyringFailure::Unavailable(_)
                | KeyringFailure::Locked(_)
                | KeyringFailure::NoAnswer(_)),
            ) => Err(f),
            _ => Ok(()),
        }
    }
}

/// Why [`KeyringWorker::run`] gave no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerError {
    /// The call did not finish within the time limit (it goes on; the worker is busy).
    NoAnswer(Duration),
    /// An earlier call has been running for longer than the time limit: not queued behind it.
    Busy(Duration),
    /// The worker thread is gone (a call panicked, or it could not be started).
    Stopped(String),
}

/// The one OS thread that makes a [`SystemKeyring`]'s calls, one at a time, reused by every
/// call (the keyring crate's D-Bus client must not be driven from a tokio runtime thread).
/// A caller waits at most its time limit; a call that does not answer keeps running on the
/// worker, later calls fail fast ([`WorkerError::Busy`]) instead of piling up, and no thread is
/// ever started per call. The thread ends when the last handle is dropped and its current call
/// (if any) returns — so nothing is left behind after a timed-out probe as long as the keyring
/// call itself returns, which the probe guarantees by never asking for an unlock prompt.
pub struct KeyringWorker {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    /// When the call now running started (`None` when idle).
    busy_since: Arc<Mutex<Option<Instant>>>,
    /// Set by the thread as it exits.
    ended: Arc<AtomicBool>,
}

type Job = Box<dyn FnOnce() + Send>;

impl std::fmt::Debug for KeyringWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyringWorker")
            .field("ended", &self.ended.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl KeyringWorker {
    /// Starts the worker thread.
    pub fn start() -> KeyringWorker {
        let (tx, rx) = mpsc::channel::<Job>();
        let busy_since: Arc<Mutex<Option<Instant>>> = Arc::default();
        let ended = Arc::new(AtomicBool::new(false));
        let (busy, done) = (busy_since.clone(), ended.clone());
        let spawned = std::thread::Builder::new()
            .name("keyring".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    *lock(&busy) = Some(Instant::now());
                    job();
                    *lock(&busy) = None;
                }
                done.store(true, Ordering::SeqCst);
            });
        let jobs = match spawned {
            Ok(_) => Some(tx),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the keyring thread");
                ended.store(true, Ordering::SeqCst);
                None
            }
        };
        KeyringWorker {
            jobs: Mutex::new(jobs),
            busy_since,
            ended,
        }
    }

    /// Runs `f` on the worker and waits at most `timeout` for its result.
    pub fn run<T: Send + 'static>(
        &self,
        timeout: Duration,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, WorkerError> {
        if let Some(since) = *lock(&self.busy_since) {
            let running = since.elapsed();
            if running >= timeout {
                return Err(WorkerError::Busy(running));
            }
        }
        let (tx, rx) = mpsc::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        let sent = match lock(&self.jobs).as_ref() {
            Some(jobs) => jobs.send(job).is_ok(),
            None => false,
        };
        if !sent {
            return Err(WorkerError::Stopped(
                "the keyring thread is not running".into(),
            ));
        }
        match rx.recv_timeout(timeout) {
            Ok(v) => Ok(v),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(WorkerError::NoAnswer(timeout)),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(WorkerError::Stopped("the keyring call failed".into()))
            }
        }
    }

    /// Whether the worker thread has exited (tests).
    pub fn has_ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    /// The flag the thread sets as it exits, to watch it after the worker is dropped (tests).
    pub fn ended_flag(&self) -> Arc<AtomicBool> {
        self.ended.clone()
    }
}

/// The platform keyring through the `keyring` crate, one entry `(service, user)`; every call
/// goes through one [`KeyringWorker`] with a time limit.
#[derive(Debug, Clone)]
pub struct SystemKeyring {
    service: String,
    user: String,
    timeout: Duration,
    worker: Arc<KeyringWorker>,
}

impl SystemKeyring {
    pub fn new(service: &str, user: &str) -> SystemKeyring {
        SystemKeyring {
            service: service.to_string(),
            user: user.to_string(),
            timeout: KEYRING_TIMEOUT,
            worker: Arc::new(KeyringWorker::start()),
        }
    }

    fn on_worker<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, KeyringFailure> + Send + 'static,
    ) -> Result<T, KeyringFailure> {
        match self.worker.run(self.timeout, f) {
            Ok(result) => result,
            Err(WorkerError::NoAnswer(t)) => Err(KeyringFailure::NoAnswer(format!(
                "no answer within {} s",
                t.as_secs()
            ))),
            Err(WorkerError::Busy(t)) => Err(KeyringFailure::NoAnswer(format!(
                "an earlier request has had no answer for {} s",
                t.as_secs()
            ))),
            Err(WorkerError::Stopped(r)) => Err(KeyringFailure::Unavailable(r)),
        }
    }

    /// Runs one keyring call on the worker, with the time limit.
    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&keyring::Entry) -> keyring::Result<T> + Send + 'static,
    ) -> Result<T, KeyringFailure> {
        let (service, user) = (self.service.clone(), self.user.clone());
        self.on_worker(move || {
            keyring::Entry::new(&service, &user)
                .and_then(|e| f(&e))
                .map_err(map_keyring_error)
        })
    }
}

/// Whether the Secret Service's default collection (where the keyring crate stores) is
/// locked, asked without unlocking it: an unlock pops up a prompt, which headless fails or
/// never returns.
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
fn secret_service_state() -> Result<(), KeyringFailure> {
    use secret_service::blocking::SecretService;
    use secret_service::EncryptionType;
    let ss = SecretService::connect(EncryptionType::Plain)
        .map_err(|e| KeyringFailure::Unavailable(e.to_string()))?;
    let collection = ss
        .get_default_collection()
        .map_err(|e| KeyringFailure::Unavailable(format!("no default collection: {e}")))?;
    match collection.is_locked() {
        Ok(false) => Ok(()),
        Ok(true) => Err(KeyringFailure::Locked(
            "its default collection must be unlocked first".into(),
        )),
        Err(e) => Err(KeyringFailure::Unavailable(e.to_string())),
    }
}

#[cfg(not(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd")))]
fn secret_service_state() -> Result<(), KeyringFailure> {
    Ok(())
}

fn map_keyring_error(e: keyring::Error) -> KeyringFailure {
    match e {
        keyring::Error::NoEntry => KeyringFailure::NoEntry,
        keyring::Error::NoStorageAccess(inner) => KeyringFailure::Unavailable(inner.to_string()),
        keyring::Error::PlatformFailure(inner) => KeyringFailure::Unavailable(inner.to_string()),
        // Never format the bytes or the matching credentials these variants carry.
        keyring::Error::BadEncoding(_) => KeyringFailure::Other("the entry is not UTF-8".into()),
        keyring::Error::Ambiguous(v) => {
            KeyringFailure::Other(format!("{} entries match tonearm's", v.len()))
        }
        keyring::Error::TooLong(attr, limit) => {
            KeyringFailure::Other(format!("{attr} is longer than {limit}"))
        }
        keyring::Error::Invalid(attr, reason) => {
            KeyringFailure::Other(format!("invalid {attr}: {reason}"))
        }
        _ => KeyringFailure::Other("unknown keyring error".into()),
    }
}

impl SecretBackend for SystemKeyring {
    fn get(&self) -> Result<String, KeyringFailure> {
        self.call(|e| e.get_password())
    }

    fn set(&self, secret: &str) -> Result<(), KeyringFailure> {
        let secret = secret.to_string();
        self.call(move |e| e.set_password(&secret))
    }

    fn delete(&self) -> Result<(), KeyringFailure> {
        self.call(|e| e.delete_credential())
    }

    /// The lock state first (without a prompt), then a harmless read of the entry.
    fn probe(&self) -> Result<(), KeyringFailure> {
        let (service, user) = (self.service.clone(), self.user.clone());
        self.on_worker(move || {
            secret_service_state()?;
            match keyring::Entry::new(&service, &user).and_then(|e| e.get_password()) {
                Err(e) => match map_keyring_error(e) {
                    f @ (KeyringFailure::Unavailable(_) | KeyringFailure::Locked(_)) => Err(f),
                    _ => Ok(()),
                },
                Ok(_) => Ok(()),
            }
        })
    }

    fn describe(&self) -> String {
        if cfg!(target_os = "macos") {
            "the macOS Keychain".into()
        } else if cfg!(windows) {
            "the Windows Credential Manager".into()
        } else if cfg!(any(
            target_os = "linux",
            target_os = "freebsd",
            target_os = "openbsd"
        )) {
            "the system keyring (Secret Service)".into()
        } else {
            "the system keyring".into()
        }
    }
}

/// Reusable credentials in a keyring entry (the same JSON as the file).
#[derive(Clone)]
pub struct KeyringStore {
    backend: Arc<dyn SecretBackend>,
}

impl std::fmt::Debug for KeyringStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyringStore")
            .field("backend", &self.backend.describe())
            .finish()
    }
}

impl KeyringStore {
    /// tonearm's entry in the platform keyring.
    pub fn system() -> KeyringStore {
        KeyringStore::with_backend(Arc::new(SystemKeyring::new(KEYRING_SERVICE, KEYRING_USER)))
    }

    pub fn with_backend(backend: Arc<dyn SecretBackend>) -> KeyringStore {
        KeyringStore { backend }
    }

    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    /// Whether the keyring can be used now (see [`SecretBackend::probe`]).
    pub fn probe(&self) -> Result<(), KeyringFailure> {
        self.backend.probe()
    }

    pub fn load(&self) -> Result<Option<Credentials>, StoreError> {
        match self.backend.get() {
            Ok(text) => decode(&text)
                .map(Some)
                .map_err(|reason| StoreError::KeyringCorrupt { reason }),
            Err(KeyringFailure::NoEntry) => Ok(None),
            Err(f) => Err(StoreError::Keyring { reason: f.reason() }),
        }
    }

    pub fn save(&self, creds: &Credentials) -> Result<(), StoreError> {
        let text = encode(creds).map_err(|reason| StoreError::KeyringCorrupt { reason })?;
        self.backend
            .set(&text)
            .map_err(|f| StoreError::Keyring { reason: f.reason() })
    }

    /// Deletes the entry. `Ok(true)` when one was removed, `Ok(false)` when there was none,
    /// `Err(reason)` when the keyring cannot be reached.
    pub fn purge(&self) -> Result<bool, String> {
        match self.backend.delete() {
            Ok(()) => Ok(true),
            Err(KeyringFailure::NoEntry) => Ok(false),
            Err(f) => Err(f.reason()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Choosing the store.

/// Which store the user asked for (`TONEARM_CREDENTIAL_STORE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preference {
    /// The keyring when a keyring service answers, else the file.
    Auto,
    Keyring,
    File,
}

impl Preference {
    pub fn parse(value: &str) -> Result<Preference, StoreError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Preference::Auto),
            "keyring" => Ok(Preference::Keyring),
            "file" => Ok(Preference::File),
            _ => Err(StoreError::BadSetting {
                value: value.to_string(),
            }),
        }
    }

    /// From `TONEARM_CREDENTIAL_STORE` (unset = auto).
    pub fn from_env() -> Result<Preference, StoreError> {
        match std::env::var(STORE_ENV) {
            Ok(v) => Preference::parse(&v),
            Err(_) => Ok(Preference::Auto),
        }
    }
}

/// The store in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Keyring,
    File,
}

/// What `purge` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Descriptions of what was removed, e.g. "the file /…/credentials.json".
    pub removed: Vec<String>,
    /// Stores that could not be checked, with the reason (no keyring service).
    pub unreachable: Vec<String>,
}

/// The keyring by default, the 0600 file when no keyring service exists; see the module docs.
#[derive(Debug, Clone)]
pub struct CredentialStore {
    kind: StoreKind,
    keyring: KeyringStore,
    file: FileStore,
    /// Why the file is used (shown by [`CredentialStore::describe`]).
    why_file: String,
    /// Set when a keyring exists but could not be used (locked, not answering) and the file
    /// was chosen instead: the caller tells the user ([`CredentialStore::warning`]).
    warning: Option<String>,
}

impl CredentialStore {
    /// The store for this user: `TONEARM_CREDENTIAL_STORE`, the system keyring, and the file
    /// under `$XDG_STATE_HOME/tonearm`.
    pub fn open() -> Result<CredentialStore, StoreError> {
        let file = FileStore::default_location().ok_or(StoreError::NoLocation)?;
        CredentialStore::select(Preference::from_env()?, KeyringStore::system(), file)
    }

    /// The store of credentials received by zeroconf (`tonearm daemon --store-credentials`):
    /// the same choice of keyring or file as [`CredentialStore::open`], but its own entry
    /// ([`ZEROCONF_KEYRING_USER`], [`ZEROCONF_FILE`]).
    pub fn open_zeroconf() -> Result<CredentialStore, StoreError> {
        let dir = crate::paths::state_dir().ok_or(StoreError::NoLocation)?;
        let keyring = KeyringStore::with_backend(Arc::new(SystemKeyring::new(
            KEYRING_SERVICE,
            ZEROCONF_KEYRING_USER,
        )));
        CredentialStore::select(
            Preference::from_env()?,
            keyring,
            FileStore::new(dir.join(ZEROCONF_FILE)),
        )
    }

    /// Chooses between `keyring` and `file`: a forced file never touches the keyring here; a
    /// forced keyring that cannot be used (none, locked, not answering) is an error; auto
    /// probes the keyring ([`KeyringStore::probe`]: the lock state, then a harmless read) and
    /// uses the file when there is no keyring service — quietly, the usual headless case — or,
    /// with a [`warning`](CredentialStore::warning) naming the file, when the keyring is locked
    /// or does not answer.
    pub fn select(
        preference: Preference,
        keyring: KeyringStore,
        file: FileStore,
    ) -> Result<CredentialStore, StoreError> {
        let mut warning = None;
        let (kind, why_file) = match preference {
            Preference::File => (StoreKind::File, format!("chosen by {STORE_ENV}=file")),
            Preference::Keyring => {
                keyring
                    .probe()
                    .map_err(|f| StoreError::NoKeyring { reason: f.reason() })?;
                (StoreKind::Keyring, String::new())
            }
            Preference::Auto => match keyring.probe() {
                Ok(()) => (StoreKind::Keyring, String::new()),
                Err(f) if f.is_blocked() => {
                    let why = format!("{} cannot be used: {}", keyring.describe(), f.reason());
                    let text = format!(
                        "{why}; using the file {} (mode 0600) instead. Unlock the keyring and \
                         run the command again to keep the credentials there, or set \
                         {STORE_ENV}=file to choose the file",
                        file.path().display()
                    );
                    tracing::warn!(reason = %f.reason(), file = %file.path().display(), "the keyring cannot be used; falling back to the credential file");
                    warning = Some(text);
                    (StoreKind::File, why)
                }
                Err(f) => {
                    tracing::info!(reason = %f.reason(), "no keyring service; using the credential file");
                    (StoreKind::File, "no keyring service found".to_string())
                }
            },
        };
        Ok(CredentialStore {
            kind,
            keyring,
            file,
            why_file,
            warning,
        })
    }

    /// What the user should hear about the choice of store: set when a keyring exists but is
    /// locked or does not answer, so the file is used instead (the text names the file).
    pub fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    pub fn kind(&self) -> StoreKind {
        self.kind
    }

    pub fn file(&self) -> &FileStore {
        &self.file
    }

    /// Which store is in use, for the user: "the system keyring (Secret Service)" or
    /// "the file /home/me/.local/state/tonearm/credentials.json (mode 0600; no keyring service
    /// found)".
    pub fn describe(&self) -> String {
        match self.kind {
            StoreKind::Keyring => self.keyring.describe(),
            StoreKind::File => format!(
                "the file {} (mode 0600; {})",
                self.file.path().display(),
                self.why_file
            ),
        }
    }

    /// The stored credentials. With the keyring in use and empty, credentials still in the file
    /// (saved before a keyring existed) are used.
    pub fn load(&self) -> Result<Option<Credentials>, StoreError> {
        match self.kind {
            StoreKind::Keyring => match self.keyring.load()? {
                Some(c) => Ok(Some(c)),
                None => self.file.load(),
            },
            StoreKind::File => self.file.load(),
        }
    }

    /// Saves into the store in use. After a keyring save an older credential file is removed,
    /// so only one copy exists.
    pub fn save(&self, creds: &Credentials) -> Result<(), StoreError> {
        match self.kind {
            StoreKind::Keyring => {
                self.keyring.save(creds)?;
                if let Err(e) = self.file.purge() {
                    tracing::warn!(error = %e, "cannot remove the old credential file");
                }
                Ok(())
            }
            StoreKind::File => self.file.save(creds),
        }
    }

    /// Removes the credentials from both stores. A keyring that cannot be reached or is locked
    /// is reported in [`PurgeReport::unreachable`], not as an error (and not unlocked); a file
    /// that cannot be removed is an error.
    pub fn purge(&self) -> Result<PurgeReport, StoreError> {
        let mut report = PurgeReport::default();
        // Probe first: deleting from a locked keyring would ask for an unlock prompt.
        match self
            .keyring
            .probe()
            .map_err(|f| f.reason())
            .and_then(|()| self.keyring.purge())
        {
            Ok(true) => report
                .removed
                .push(format!("the entry in {}", self.keyring.describe())),
            Ok(false) => {}
            Err(reason) => report
                .unreachable
                .push(format!("{} ({reason})", self.keyring.describe())),
        }
        if self.file.purge()? {
            report
                .removed
                .push(format!("the file {}", self.file.path().display()));
        }
        for copy in self.file.purge_quarantined()? {
            report
                .removed
                .push(format!("the damaged copy {}", copy.display()));
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests;
