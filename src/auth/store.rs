//! The credential store: keeps the reusable credentials the access point hands out (never a
//! password or an OAuth token) in the OS keyring by default (Secret Service on Linux, Keychain
//! on macOS, Credential Manager on Windows), and in `$XDG_STATE_HOME/tonearm/credentials.json`
//! (mode 0600) when no keyring service is reachable. A file that group or others can read is
//! refused rather than used, because it would leak the login. `TONEARM_CREDENTIAL_STORE=file`
//! or `=keyring` forces one store (headless users, tests); `logout` purges both.
//!
//! Called by `main.rs` (`tonearm login` / `logout` / sessions started from stored credentials).
//! Keyring calls run on their own OS thread with a time limit (the keyring crate's tokio
//! integration must not be driven from a runtime thread). Nothing here logs or formats the
//! secret bytes; keyring errors are reduced to text before they leave this module.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::session::{AuthType, Credentials};

/// The keyring entry: service name.
pub const KEYRING_SERVICE: &str = "tonearm";
/// The keyring entry: user name (one sign-in per user account of the OS).
pub const KEYRING_USER: &str = "stored-credentials";
/// Environment variable that forces a store: `keyring`, `file` or `auto` (the default).
pub const STORE_ENV: &str = "TONEARM_CREDENTIAL_STORE";
/// How long one keyring call may take (a locked keyring may prompt for its password).
const KEYRING_TIMEOUT: Duration = Duration::from_secs(30);

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
        "the credentials in the system keyring are damaged ({reason}); run `tonearm logout` and \
         sign in again"
    )]
    KeyringCorrupt { reason: String },
    #[error("the system keyring failed: {reason}")]
    Keyring { reason: String },
    #[error("{STORE_ENV}=keyring, but no keyring service is available ({reason})")]
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
        decode(&text)
            .map(Some)
            .map_err(|reason| StoreError::Corrupt {
                path: self.path.clone(),
                reason,
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
        fs::rename(&tmp, &self.path).map_err(|e| self.io(e))
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
    /// No keyring service (no Secret Service on the bus, locked or refused access, timed out).
    Unavailable(String),
    /// Anything else (a damaged or ambiguous entry).
    Other(String),
}

/// Where a [`KeyringStore`] keeps its one secret string. [`SystemKeyring`] in production; tests
/// use an in-memory one.
pub trait SecretBackend: Send + Sync {
    fn get(&self) -> Result<String, KeyringFailure>;
    fn set(&self, secret: &str) -> Result<(), KeyringFailure>;
    fn delete(&self) -> Result<(), KeyringFailure>;
    /// E.g. "the system keyring (Secret Service)".
    fn describe(&self) -> String;
}

/// The platform keyring through the `keyring` crate, one entry `(service, user)`.
#[derive(Debug, Clone)]
pub struct SystemKeyring {
    service: String,
    user: String,
    timeout: Duration,
}

impl SystemKeyring {
    pub fn new(service: &str, user: &str) -> SystemKeyring {
        SystemKeyring {
            service: service.to_string(),
            user: user.to_string(),
            timeout: KEYRING_TIMEOUT,
        }
    }

    /// Runs one keyring call on its own thread, with the time limit.
    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&keyring::Entry) -> keyring::Result<T> + Send + 'static,
    ) -> Result<T, KeyringFailure> {
        let (service, user) = (self.service.clone(), self.user.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("keyring".into())
            .spawn(move || {
                let result = keyring::Entry::new(&service, &user).and_then(|e| f(&e));
                let _ = tx.send(result.map_err(map_keyring_error));
            });
        if let Err(e) = spawned {
            return Err(KeyringFailure::Unavailable(format!(
                "cannot start a thread: {e}"
            )));
        }
        match rx.recv_timeout(self.timeout) {
            Ok(result) => result,
            Err(_) => Err(KeyringFailure::Unavailable(format!(
                "no answer within {} s",
                self.timeout.as_secs()
            ))),
        }
    }
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

    /// A harmless read: `Err(reason)` when no keyring service can be used.
    pub fn probe(&self) -> Result<(), String> {
        match self.backend.get() {
            Err(KeyringFailure::Unavailable(reason)) => Err(reason),
            _ => Ok(()),
        }
    }

    pub fn load(&self) -> Result<Option<Credentials>, StoreError> {
        match self.backend.get() {
            Ok(text) => decode(&text)
                .map(Some)
                .map_err(|reason| StoreError::KeyringCorrupt { reason }),
            Err(KeyringFailure::NoEntry) => Ok(None),
            Err(KeyringFailure::Unavailable(reason) | KeyringFailure::Other(reason)) => {
                Err(StoreError::Keyring { reason })
            }
        }
    }

    pub fn save(&self, creds: &Credentials) -> Result<(), StoreError> {
        let text = encode(creds).map_err(|reason| StoreError::KeyringCorrupt { reason })?;
        self.backend.set(&text).map_err(|f| StoreError::Keyring {
            reason: match f {
                KeyringFailure::NoEntry => "no entry".into(),
                KeyringFailure::Unavailable(r) | KeyringFailure::Other(r) => r,
            },
        })
    }

    /// Deletes the entry. `Ok(true)` when one was removed, `Ok(false)` when there was none,
    /// `Err(reason)` when the keyring cannot be reached.
    pub fn purge(&self) -> Result<bool, String> {
        match self.backend.delete() {
            Ok(()) => Ok(true),
            Err(KeyringFailure::NoEntry) => Ok(false),
            Err(KeyringFailure::Unavailable(r) | KeyringFailure::Other(r)) => Err(r),
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
}

impl CredentialStore {
    /// The store for this user: `TONEARM_CREDENTIAL_STORE`, the system keyring, and the file
    /// under `$XDG_STATE_HOME/tonearm`.
    pub fn open() -> Result<CredentialStore, StoreError> {
        let file = FileStore::default_location().ok_or(StoreError::NoLocation)?;
        CredentialStore::select(Preference::from_env()?, KeyringStore::system(), file)
    }

    /// Chooses between `keyring` and `file`: a forced file never touches the keyring here; a
    /// forced keyring that does not answer is an error; auto probes the keyring with a harmless
    /// read and falls back to the file when no keyring service is reachable.
    pub fn select(
        preference: Preference,
        keyring: KeyringStore,
        file: FileStore,
    ) -> Result<CredentialStore, StoreError> {
        let (kind, why_file) = match preference {
            Preference::File => (StoreKind::File, format!("chosen by {STORE_ENV}=file")),
            Preference::Keyring => {
                keyring
                    .probe()
                    .map_err(|reason| StoreError::NoKeyring { reason })?;
                (StoreKind::Keyring, String::new())
            }
            Preference::Auto => match keyring.probe() {
                Ok(()) => (StoreKind::Keyring, String::new()),
                Err(reason) => {
                    tracing::info!(%reason, "no keyring service; using the credential file");
                    (StoreKind::File, "no keyring service found".to_string())
                }
            },
        };
        Ok(CredentialStore {
            kind,
            keyring,
            file,
            why_file,
        })
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

    /// Removes the credentials from both stores. A keyring that cannot be reached is reported
    /// in [`PurgeReport::unreachable`], not as an error; a file that cannot be removed is an
    /// error.
    pub fn purge(&self) -> Result<PurgeReport, StoreError> {
        let mut report = PurgeReport::default();
        match self.keyring.purge() {
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
        Ok(report)
    }
}

#[cfg(test)]
mod tests;
