//! The credential store: keeps the reusable credentials the access point hands out (never the
//! password) in `$XDG_STATE_HOME/tonearm/credentials.json`, created with mode 0600. A file that
//! group or others can read is refused rather than used, because it would leak the login.
//!
//! Called by `main.rs` (`tonearm login` / `logout` / sessions started from stored credentials).
//! Nothing here logs or formats the secret bytes.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::session::{AuthType, Credentials};

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
}

#[derive(Serialize, Deserialize)]
struct StoredFile {
    username: String,
    auth_type: u32,
    /// Standard base64 of the reusable credential bytes.
    auth_data: String,
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
        let corrupt = |reason: String| StoreError::Corrupt {
            path: self.path.clone(),
            reason,
        };
        let f: StoredFile =
            serde_json::from_str(&text).map_err(|e| corrupt(format!("not valid JSON: {e}")))?;
        let auth_type = AuthType::from_u32(f.auth_type)
            .ok_or_else(|| corrupt(format!("unknown auth_type {}", f.auth_type)))?;
        let data = base64::engine::general_purpose::STANDARD
            .decode(f.auth_data.as_bytes())
            .map_err(|_| corrupt("auth_data is not base64".into()))?;
        if f.username.is_empty() || data.is_empty() {
            return Err(corrupt("username or auth_data is empty".into()));
        }
        Ok(Some(Credentials {
            username: Some(f.username),
            auth_type,
            auth_data: data,
        }))
    }

    /// Saves reusable credentials, replacing any previous ones atomically (write + rename), with
    /// mode 0600 from the moment the file exists.
    pub fn save(&self, creds: &Credentials) -> Result<(), StoreError> {
        let username = creds.username.clone().unwrap_or_default();
        let body = serde_json::to_vec_pretty(&StoredFile {
            username,
            auth_type: creds.auth_type.as_u32(),
            auth_data: base64::engine::general_purpose::STANDARD.encode(&creds.auth_data),
        })
        .map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            reason: e.to_string(),
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
        f.write_all(&body).map_err(|e| self.io(e))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            username: Some("alice".into()),
            auth_type: AuthType::StoredSpotifyCredentials,
            auth_data: vec![1, 2, 3, 250],
        }
    }

    #[test]
    fn round_trip_with_0600() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(dir.path().join("sub/credentials.json"));
        assert!(store.load().expect("empty").is_none());
        store.save(&creds()).expect("save");
        let back = store.load().expect("load").expect("some");
        assert_eq!(back.username.as_deref(), Some("alice"));
        assert_eq!(back.auth_data, vec![1, 2, 3, 250]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(store.path())
                .expect("meta")
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(store.purge().expect("purge"));
        assert!(!store.purge().expect("purge again"));
    }

    #[cfg(unix)]
    #[test]
    fn world_readable_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(dir.path().join("credentials.json"));
        store.save(&creds()).expect("save");
        fs::set_permissions(store.path(), fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = store.load().expect_err("0644 must be refused");
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(dir.path().join("credentials.json"));
        store.save(&creds()).expect("save");
        fs::write(store.path(), "{not json").expect("write");
        let err = store.load().expect_err("corrupt");
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    }
}
