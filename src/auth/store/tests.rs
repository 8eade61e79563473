//! Tests of the credential stores: the 0600 file (atomic writes, refused modes, corrupt
//! files), the keyring adapter over an in-memory fake, and the fallback between them.
use std::sync::Mutex;

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
    // Moved aside (issue 12) so the next sign-in does not overwrite it unseen.
    let StoreError::Quarantined { moved, .. } = &err else {
        panic!("{err}");
    };
    assert!(err.to_string().contains("moved aside"), "{err}");
    assert_eq!(fs::read_to_string(moved).expect("kept"), "{not json");
    assert!(store.load().expect("nothing stored now").is_none());
}

/// An in-memory keyring that can play "no Secret Service on the bus".
#[derive(Default)]
struct Memory {
    secret: Mutex<Option<String>>,
    unavailable: bool,
    calls: Mutex<u32>,
}

impl SecretBackend for Memory {
    fn get(&self) -> Result<String, KeyringFailure> {
        *self.calls.lock().expect("lock") += 1;
        if self.unavailable {
            return Err(KeyringFailure::Unavailable("no bus".into()));
        }
        self.secret
            .lock()
            .expect("lock")
            .clone()
            .ok_or(KeyringFailure::NoEntry)
    }
    fn set(&self, secret: &str) -> Result<(), KeyringFailure> {
        *self.calls.lock().expect("lock") += 1;
        if self.unavailable {
            return Err(KeyringFailure::Unavailable("no bus".into()));
        }
        *self.secret.lock().expect("lock") = Some(secret.to_string());
        Ok(())
    }
    fn delete(&self) -> Result<(), KeyringFailure> {
        *self.calls.lock().expect("lock") += 1;
        if self.unavailable {
            return Err(KeyringFailure::Unavailable("no bus".into()));
        }
        match self.secret.lock().expect("lock").take() {
            Some(_) => Ok(()),
            None => Err(KeyringFailure::NoEntry),
        }
    }
    fn describe(&self) -> String {
        "the test keyring".into()
    }
}

fn setup(
    pref: Preference,
    unavailable: bool,
) -> (
    Result<CredentialStore, StoreError>,
    Arc<Memory>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mem = Arc::new(Memory {
        unavailable,
        ..Memory::default()
    });
    let store = CredentialStore::select(
        pref,
        KeyringStore::with_backend(mem.clone()),
        FileStore::new(dir.path().join("credentials.json")),
    );
    (store, mem, dir)
}

#[test]
fn preference_parsing() {
    assert_eq!(Preference::parse("file").expect("file"), Preference::File);
    assert_eq!(
        Preference::parse(" Keyring ").expect("keyring"),
        Preference::Keyring
    );
    assert_eq!(Preference::parse("").expect("auto"), Preference::Auto);
    let err = Preference::parse("plaintext").expect_err("bad");
    assert!(err.to_string().contains("keyring, file, auto"), "{err}");
}

#[test]
fn keyring_is_the_default_when_it_answers() {
    let (store, mem, _dir) = setup(Preference::Auto, false);
    let store = store.expect("store");
    assert_eq!(store.kind(), StoreKind::Keyring);
    assert_eq!(store.describe(), "the test keyring");
    // A credential file left from before moves out of the way on save.
    store.file().save(&creds()).expect("old file");
    store.save(&creds()).expect("save");
    assert!(!store.file().path().exists());
    let text = mem.secret.lock().expect("lock").clone().expect("secret");
    assert!(text.contains("alice"));
    let back = store.load().expect("load").expect("some");
    assert_eq!(back.auth_data, creds().auth_data);
    let report = store.purge().expect("purge");
    assert_eq!(report.removed, ["the entry in the test keyring"]);
    assert!(store.load().expect("load").is_none());
}

#[test]
fn keyring_empty_falls_back_to_an_existing_file() {
    let (store, _mem, _dir) = setup(Preference::Auto, false);
    let store = store.expect("store");
    store.file().save(&creds()).expect("file");
    assert!(store.load().expect("load").is_some());
}

#[test]
fn no_keyring_service_falls_back_to_the_file() {
    let (store, mem, dir) = setup(Preference::Auto, true);
    let store = store.expect("store");
    assert_eq!(store.kind(), StoreKind::File);
    let d = store.describe();
    assert!(d.contains("mode 0600; no keyring service found"), "{d}");
    assert!(d.contains(&dir.path().display().to_string()), "{d}");
    store.save(&creds()).expect("save");
    assert!(store.file().path().exists());
    assert!(mem.secret.lock().expect("lock").is_none());
    assert!(store.load().expect("load").is_some());
    let report = store.purge().expect("purge");
    assert_eq!(report.removed.len(), 1);
    assert!(report.removed[0].starts_with("the file "));
    assert_eq!(report.unreachable.len(), 1);
    assert!(report.unreachable[0].contains("no bus"));
}

#[test]
fn forced_file_does_not_probe_the_keyring() {
    let (store, mem, _dir) = setup(Preference::File, false);
    let store = store.expect("store");
    assert_eq!(store.kind(), StoreKind::File);
    assert!(store
        .describe()
        .contains("chosen by TONEARM_CREDENTIAL_STORE=file"));
    store.save(&creds()).expect("save");
    assert_eq!(*mem.calls.lock().expect("lock"), 0);
    // Logout still clears both.
    *mem.secret.lock().expect("lock") = Some("x".into());
    let report = store.purge().expect("purge");
    assert_eq!(report.removed.len(), 2, "{report:?}");
}

#[test]
fn forced_keyring_without_a_service_is_an_error() {
    let (store, _mem, _dir) = setup(Preference::Keyring, true);
    let err = store.expect_err("no keyring");
    assert!(matches!(err, StoreError::NoKeyring { .. }), "{err}");
    assert!(err.to_string().contains("TONEARM_CREDENTIAL_STORE=keyring"));
}

#[test]
fn damaged_keyring_entry_is_a_clear_error() {
    let (store, mem, _dir) = setup(Preference::Auto, false);
    let store = store.expect("store");
    *mem.secret.lock().expect("lock") = Some("{\"username\": \"alice\", \"secret-ish\"".into());
    let err = store.load().expect_err("damaged");
    assert!(matches!(err, StoreError::KeyringCorrupt { .. }), "{err}");
    assert!(!err.to_string().contains("secret-ish"), "{err}");
}

#[test]
fn keyring_errors_never_carry_the_secret_bytes() {
    let f = map_keyring_error(keyring::Error::BadEncoding(b"hunter2".to_vec()));
    assert!(!format!("{f:?}").contains("104"), "{f:?}");
    assert_eq!(
        map_keyring_error(keyring::Error::NoEntry),
        KeyringFailure::NoEntry
    );
    assert!(matches!(
        map_keyring_error(keyring::Error::PlatformFailure("no bus".into())),
        KeyringFailure::Unavailable(_)
    ));
    assert!(matches!(
        map_keyring_error(keyring::Error::NoStorageAccess("locked".into())),
        KeyringFailure::Unavailable(_)
    ));
}

const CHILD_ENV: &str = "TONEARM_STORE_TEST_CHILD";

/// Runs `test` in a child copy of this test binary with the environment changed, so
/// parallel tests never see the change.
fn in_child(test: &str, env: &[(&str, &std::ffi::OsStr)]) {
    let exe = std::env::current_exe().expect("test binary");
    let mut cmd = std::process::Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .env_remove(STORE_ENV);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the child");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child failed:\n{text}");
    assert!(text.contains("1 passed"), "child did not run:\n{text}");
}

#[test]
fn system_keyring_without_secret_service_falls_back_to_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    in_child(
        "auth::store::tests::child_no_secret_service",
        &[
            (
                "DBUS_SESSION_BUS_ADDRESS",
                "unix:path=/nonexistent".as_ref(),
            ),
            ("XDG_STATE_HOME", dir.path().as_os_str()),
        ],
    );
}

/// Only does something inside [`in_child`].
#[test]
fn child_no_secret_service() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let store = CredentialStore::open().expect("store");
    assert_eq!(store.kind(), StoreKind::File, "{}", store.describe());
    assert!(store.describe().contains("no keyring service found"));
    store.save(&creds()).expect("save");
    assert!(store.load().expect("load").is_some());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = store.file().path();
        let mode = fs::metadata(path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        fs::set_permissions(path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = store.load().expect_err("0644 refused");
        assert!(matches!(err, StoreError::Permissions { .. }), "{err}");
    }
    let report = store.purge().expect("purge");
    assert_eq!(report.removed.len(), 1, "{report:?}");
    assert_eq!(report.unreachable.len(), 1, "{report:?}");

    std::env::set_var(STORE_ENV, "keyring");
    let err = CredentialStore::open().expect_err("forced keyring without a service");
    assert!(matches!(err, StoreError::NoKeyring { .. }), "{err}");
    std::env::set_var(STORE_ENV, "file");
    let store = CredentialStore::open().expect("forced file");
    assert!(store.describe().contains("TONEARM_CREDENTIAL_STORE=file"));
}

// --- issue 12: locked keyrings, the worker thread, fsync, quarantine ----------------------

/// A keyring that answers every call with one failure.
struct Failing(KeyringFailure);

impl SecretBackend for Failing {
    fn get(&self) -> Result<String, KeyringFailure> {
        Err(self.0.clone())
    }
    fn set(&self, _: &str) -> Result<(), KeyringFailure> {
        Err(self.0.clone())
    }
    fn delete(&self) -> Result<(), KeyringFailure> {
        Err(self.0.clone())
    }
    fn describe(&self) -> String {
        "the test keyring".into()
    }
}

fn select_with(
    pref: Preference,
    failure: KeyringFailure,
) -> (Result<CredentialStore, StoreError>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = CredentialStore::select(
        pref,
        KeyringStore::with_backend(Arc::new(Failing(failure))),
        FileStore::new(dir.path().join("credentials.json")),
    );
    (store, dir)
}

#[test]
fn a_locked_keyring_is_reported_with_the_fallback_named() {
    for failure in [
        KeyringFailure::Locked("collection locked".into()),
        KeyringFailure::NoAnswer("no answer within 10 s".into()),
    ] {
        let (store, dir) = select_with(Preference::Auto, failure.clone());
        let store = store.expect("store");
        assert_eq!(store.kind(), StoreKind::File);
        let warning = store.warning().expect("a warning, not a silent fallback");
        let file = dir.path().join("credentials.json");
        assert!(warning.contains(&file.display().to_string()), "{warning}");
        assert!(
            warning.contains("the test keyring cannot be used"),
            "{warning}"
        );
        assert!(warning.contains(&failure.reason()), "{warning}");
        let d = store.describe();
        assert!(d.contains("the test keyring cannot be used"), "{d}");
    }
    let w = select_with(Preference::Auto, KeyringFailure::Locked("x".into()))
        .0
        .expect("store");
    assert!(w.warning().expect("warning").contains("it is locked"));
    // No keyring service at all is the ordinary headless case: no warning.
    let (store, _dir) = select_with(
        Preference::Auto,
        KeyringFailure::Unavailable("no bus".into()),
    );
    assert!(store.expect("store").warning().is_none());
}

/// Locked: answers the probe, counts the calls that would prompt.
#[derive(Default)]
struct LockedKeyring {
    prompting_calls: Mutex<u32>,
}

impl SecretBackend for LockedKeyring {
    fn get(&self) -> Result<String, KeyringFailure> {
        *self.prompting_calls.lock().expect("lock") += 1;
        Err(KeyringFailure::Other("prompt dismissed".into()))
    }
    fn set(&self, _: &str) -> Result<(), KeyringFailure> {
        *self.prompting_calls.lock().expect("lock") += 1;
        Err(KeyringFailure::Other("prompt dismissed".into()))
    }
    fn delete(&self) -> Result<(), KeyringFailure> {
        *self.prompting_calls.lock().expect("lock") += 1;
        Err(KeyringFailure::Other("prompt dismissed".into()))
    }
    fn describe(&self) -> String {
        "the test keyring".into()
    }
    fn probe(&self) -> Result<(), KeyringFailure> {
        Err(KeyringFailure::Locked("collection locked".into()))
    }
}

#[test]
fn a_locked_keyring_is_never_asked_to_unlock() {
    for pref in [Preference::Auto, Preference::File] {
        let dir = tempfile::tempdir().expect("tempdir");
        let locked = Arc::new(LockedKeyring::default());
        let store = CredentialStore::select(
            pref,
            KeyringStore::with_backend(locked.clone()),
            FileStore::new(dir.path().join("credentials.json")),
        )
        .expect("store");
        store.save(&creds()).expect("save to the file");
        assert!(store.load().expect("load").is_some());
        let report = store.purge().expect("purge");
        assert_eq!(report.removed.len(), 1, "{report:?}");
        assert!(report.unreachable[0].contains("it is locked"), "{report:?}");
        assert_eq!(*locked.prompting_calls.lock().expect("lock"), 0, "{pref:?}");
    }
}

#[test]
fn a_forced_keyring_that_is_locked_is_an_error() {
    let (store, _dir) = select_with(
        Preference::Keyring,
        KeyringFailure::Locked("collection locked".into()),
    );
    let err = store.expect_err("locked");
    assert!(matches!(err, StoreError::NoKeyring { .. }), "{err}");
    assert!(err.to_string().contains("is locked"), "{err}");
}

#[test]
fn the_worker_bounds_a_call_and_ends_with_its_last_handle() {
    let worker = KeyringWorker::start();
    let ended = worker.ended_flag();
    assert_eq!(worker.run(Duration::from_secs(5), || 7), Ok(7));
    // A call that hangs past the limit: the caller gets its answer in time.
    let (release, hold) = mpsc::channel::<()>();
    let started = Instant::now();
    let r = worker.run(Duration::from_millis(100), move || {
        let _ = hold.recv_timeout(Duration::from_secs(30));
        1
    });
    assert_eq!(r, Err(WorkerError::NoAnswer(Duration::from_millis(100))));
    assert!(started.elapsed() < Duration::from_secs(5));
    // While it still runs, later calls fail fast instead of queuing behind it.
    std::thread::sleep(Duration::from_millis(150));
    let started = Instant::now();
    assert!(matches!(
        worker.run(Duration::from_millis(100), || 2),
        Err(WorkerError::Busy(_))
    ));
    assert!(started.elapsed() < Duration::from_millis(100));
    // Once the hung call returns, the same thread serves again.
    release.send(()).expect("release");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match worker.run(Duration::from_secs(1), || 3) {
            Ok(3) => break,
            other => assert!(Instant::now() < deadline, "{other:?}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!worker.has_ended());
    // The thread ends with its last handle: nothing is left behind.
    drop(worker);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ended.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the keyring thread did not end");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_timed_out_call_leaves_no_thread_once_it_returns() {
    let worker = KeyringWorker::start();
    let ended = worker.ended_flag();
    let r = worker.run(Duration::from_millis(50), || {
        std::thread::sleep(Duration::from_millis(300));
    });
    assert_eq!(r, Err(WorkerError::NoAnswer(Duration::from_millis(50))));
    drop(worker);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ended.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the keyring thread did not end");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn saving_fsyncs_the_directory_after_the_rename() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = FileStore::new(dir.path().join("credentials.json"));
    let before = crate::paths::dir_syncs();
    store.save(&creds()).expect("save");
    assert_eq!(crate::paths::dir_syncs(), before + 1);
    assert!(!dir.path().join("credentials.json.tmp").exists());
}

#[cfg(unix)]
#[test]
fn a_damaged_file_is_moved_aside_privately_and_logout_removes_the_copy() {
    use std::os::unix::fs::PermissionsExt;
    let (store, _mem, dir) = setup(Preference::File, false);
    let store = store.expect("store");
    store.file().save(&creds()).expect("save");
    fs::write(
        store.file().path(),
        "{\"username\": \"alice\", \"auth_data\": 5",
    )
    .expect("write");
    let err = store.load().expect_err("damaged");
    let StoreError::Quarantined { moved, .. } = err else {
        panic!("{err}");
    };
    assert!(moved.starts_with(dir.path()));
    let mode = fs::metadata(&moved).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A new sign-in writes a fresh file; the damaged copy is still there to look at.
    store.save(&creds()).expect("save");
    assert!(moved.exists());
    let report = store.purge().expect("purge");
    assert!(!moved.exists());
    assert!(
        report
            .removed
            .iter()
            .any(|r| r.starts_with("the damaged copy ")),
        "{report:?}"
    );
}
