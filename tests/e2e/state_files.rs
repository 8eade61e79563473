//! The files tonearm leaves on disk, through the real binary (issue 12): the log file is 0600
//! (an older, world-readable one is tightened) and rotated once it reaches its cap, keeping the
//! old one as `tonearm.log.1`; a damaged credential file is moved aside before anything could
//! overwrite it, reported, and removed by `logout`.

use std::path::Path;
use std::process::{Command, Output};

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn tonearm(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tonearm"))
        .env("HOME", home)
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("TONEARM_CREDENTIAL_STORE", "file")
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
        .env_remove("TONEARM_LOG")
        .args(args)
        .output()
        .unwrap()
}

#[cfg(unix)]
#[test]
fn the_log_file_is_private_and_rotated_at_its_cap() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("state/tonearm");
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("tonearm.log");

    // A fresh log is 0600.
    let out = tonearm(home.path(), &["logout"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(mode(&log), 0o600);
    let first = std::fs::read_to_string(&log).unwrap();
    assert!(first.contains("tonearm starting"), "{first}");

    // One an older tonearm left world-readable and full: tightened, rotated at open.
    let full = tonearm::logging::MAX_LOG_BYTES as usize + 1;
    std::fs::write(&log, "old line\n".repeat(full / 9 + 1)).unwrap();
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = tonearm(home.path(), &["logout"]);
    assert!(out.status.success(), "{out:?}");
    let rotated = dir.join("tonearm.log.1");
    assert!(std::fs::metadata(&rotated).unwrap().len() >= full as u64);
    assert_eq!(mode(&rotated), 0o600);
    assert_eq!(mode(&log), 0o600);
    let now = std::fs::read_to_string(&log).unwrap();
    assert!(
        now.contains("tonearm starting") && !now.contains("old line"),
        "{now}"
    );
    assert!(!dir.join("tonearm.log.3").exists());
}

#[cfg(unix)]
#[test]
fn a_damaged_credential_file_is_moved_aside_and_logout_removes_it() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("state/tonearm");
    std::fs::create_dir_all(&dir).unwrap();
    let creds = dir.join("credentials.json");
    std::fs::write(&creds, "{\"username\": \"alice\", \"auth_data\": ").unwrap();
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();

    let out = tonearm(home.path(), &["status"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("was damaged") && stderr.contains("moved aside"),
        "{stderr}"
    );
    assert!(!creds.exists());
    let copies: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("credentials.json.corrupt-")
        })
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(mode(&copies[0]), 0o600);
    let log = std::fs::read_to_string(dir.join("tonearm.log")).unwrap();
    assert!(log.contains("moved a corrupt state file aside"), "{log}");

    // Now simply not signed in; logout removes the damaged copy (it may hold a secret).
    let out = tonearm(home.path(), &["status"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not signed in"), "{stderr}");
    let out = tonearm(home.path(), &["logout"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Removed the damaged copy"), "{stdout}");
    assert!(!copies[0].exists());
}
