//! The remembered trust decisions of the trust prompt (`app::update::trust`):
//! `$XDG_STATE_HOME/tonearm/trusted-devices.json`, `{"version":1,"devices":{"<device id>":
//! "always"|"never"}}`. Written atomically with mode 0600 from the start (a temporary file
//! created 0600 beside it, fsync, rename, fsync of the directory); a corrupt file (unparsable,
//! another version, an entry that is not a hex device id with "always" or "never") is moved
//! aside to `trusted-devices.json.corrupt-<unix time>` ([`crate::paths::quarantine`]) and
//! reported, and the prompt asks again.
//!
//! Called by `app::run` (load at start) and `app::exec` (save on [`Effect::SaveTrust`]
//! (crate::app::effect::Effect::SaveTrust), on a blocking thread). Depends on the app state's
//! [`Trust`] type, `paths` and the device id check of `connect::mdns::validate`; no UI crates,
//! no service handles.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::app::state::Trust;
use crate::connect::mdns::validate::check_device_id;

const VERSION: u32 = 1;
/// More entries than anyone answers by hand: a larger file is treated as corrupt.
const MAX_ENTRIES: usize = 4096;

/// Why the trust file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TrustStoreError {
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is corrupt ({reason}); the devices will be asked about again", .path.display())]
    Corrupt { path: PathBuf, reason: String },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustFile {
    version: u32,
    devices: BTreeMap<String, String>,
}

/// `<state dir>/trusted-devices.json`.
pub fn trust_file(state_dir: &Path) -> PathBuf {
    state_dir.join("trusted-devices.json")
}

fn parse(bytes: &[u8]) -> Result<BTreeMap<String, Trust>, String> {
    let f: TrustFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if f.version != VERSION {
        return Err(format!("version {}", f.version));
    }
    if f.devices.len() > MAX_ENTRIES {
        return Err(format!("{} entries", f.devices.len()));
    }
    f.devices
        .into_iter()
        .map(|(id, v)| {
            check_device_id(&id).map_err(|e| e.to_string())?;
            let t = match v.as_str() {
                "always" => Trust::Always,
                "never" => Trust::Never,
                _ => return Err(format!("unknown answer for {id}")),
            };
            Ok((id, t))
        })
        .collect()
}

/// The remembered decisions: empty when there is no file; an error when it is unreadable or
/// corrupt (a corrupt one is moved aside first, since the next save would overwrite it).
pub fn load(path: &Path) -> Result<BTreeMap<String, Trust>, TrustStoreError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => {
            return Err(TrustStoreError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    parse(&bytes).map_err(|reason| {
        let reason = match crate::paths::quarantine(path) {
            Ok(moved) => format!("{reason}; kept as {}", moved.display()),
            Err(e) => format!("{reason}; could not move it aside: {e}"),
        };
        TrustStoreError::Corrupt {
            path: path.to_path_buf(),
            reason,
        }
    })
}

fn serialise(map: &BTreeMap<String, Trust>) -> std::io::Result<Vec<u8>> {
    let f = TrustFile {
        version: VERSION,
        devices: map
            .iter()
            .map(|(id, t)| {
                let v = match t {
                    Trust::Always => "always",
                    Trust::Never => "never",
                };
                (id.clone(), v.to_string())
            })
            .collect(),
    };
    serde_json::to_vec_pretty(&f).map_err(std::io::Error::other)
}

/// Writes `map` to `path` atomically, mode 0600 from creation on.
pub fn save(path: &Path, map: &BTreeMap<String, Trust>) -> std::io::Result<()> {
    let bytes = serialise(map)?;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".trusted-devices.json.tmp-{}", std::process::id()));
    let result = (|| {
        let _ = std::fs::remove_file(&tmp);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        crate::paths::sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef01234567";
    const B: &str = "fedcba9876543210fedcba9876543210";

    #[test]
    fn round_trip_with_mode_0600() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = trust_file(dir.path());
        assert_eq!(load(&path).expect("none yet"), BTreeMap::new());
        let map = BTreeMap::from([
            (A.to_string(), Trust::Always),
            (B.to_string(), Trust::Never),
        ]);
        save(&path, &map).expect("saved");
        assert_eq!(load(&path).expect("loads"), map);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Overwrite keeps it whole and leaves no temporary file.
        let one = BTreeMap::from([(A.to_string(), Trust::Never)]);
        save(&path, &one).expect("saved");
        assert_eq!(load(&path).expect("loads"), one);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("trusted-devices.json")]
        );
    }

    #[test]
    fn corrupt_files_are_moved_aside() {
        for bad in [
            "{broken",
            r#"{"version":2,"devices":{}}"#,
            r#"{"version":1,"devices":{"../x":"always"}}"#,
            r#"{"version":1,"devices":{"0123456789abcdef":"maybe"}}"#,
            r#"{"version":1,"devices":{},"extra":1}"#,
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = trust_file(dir.path());
            std::fs::write(&path, bad).expect("write");
            let err = load(&path).expect_err(bad);
            assert!(
                matches!(err, TrustStoreError::Corrupt { .. }),
                "{bad}: {err}"
            );
            assert!(!path.exists(), "{bad}");
            let copies = crate::paths::quarantined_copies(&path);
            assert_eq!(copies.len(), 1, "{bad}");
            assert_eq!(std::fs::read_to_string(&copies[0]).expect("kept"), bad);
        }
    }
}
