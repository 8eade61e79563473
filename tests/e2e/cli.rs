//! The binary: `tonearm sim` announces itself with one JSON line that another client can use,
//! `--demo status` runs the protocol tour, and a bad config stops start-up with its location.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use tonearm::session::{Credentials, Session, SessionConfig};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tonearm"));
    let tmp = std::env::temp_dir().join(format!("tonearm-cli-{}", std::process::id()));
    c.env("HOME", &tmp)
        .env("XDG_STATE_HOME", tmp.join("state"))
        .env("XDG_CONFIG_HOME", tmp.join("config"))
        .env_remove("TONEARM_LOG");
    c
}

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn sim_prints_its_endpoints_and_serves_a_client() {
    let mut child = Kill(
        bin()
            .args(["sim", "--listen", "127.0.0.1"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut l = String::new();
        BufReader::new(stdout).read_line(&mut l).unwrap();
        l
    })
    .await
    .unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).expect("first line is JSON");
    let ap_key = hex::decode(info["ap_key"]["modulus"].as_str().unwrap()).unwrap();
    assert_eq!(ap_key.len(), 256, "RSA-2048 modulus");
    let acct = info["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["product"] == "premium")
        .unwrap()
        .clone();
    let endpoints = tonearm::config::Endpoints {
        apresolve: info["apresolve"].as_str().unwrap().to_string(),
        ap_key_modulus: ap_key,
        ap_key_exponent: info["ap_key"]["exponent"].as_u64().unwrap() as u32,
        ..tonearm::config::Endpoints::default()
    };
    let cfg = SessionConfig::new(endpoints, tonearm::config::device_id_for("cli-test"));
    let creds = Credentials::with_password(
        acct["username"].as_str().unwrap(),
        acct["password"].as_str().unwrap(),
    );
    let session = crate::common::within(20, Session::connect(cfg, creds))
        .await
        .expect("login");
    assert_eq!(session.username(), acct["username"].as_str().unwrap());
}

#[test]
fn demo_status_runs_the_protocol_tour() {
    let out = bin().args(["--demo", "status"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "password",
        "stored",
        "mercury",
        "audio key   track",
        "received",
        "reconnect",
        "refused",
        "done",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }
}

#[test]
fn invalid_config_stops_with_file_line_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, "[endpoints]\napresolve = \"ftp://nope\"\n").unwrap();
    let out = bin()
        .args(["--config", path.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"ftp://nope\"") && err.contains("endpoints.apresolve"),
        "{err}"
    );
    std::fs::write(&path, "[endpoints\n").unwrap();
    let out = bin()
        .args(["--config", path.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("config.toml:1:"));
}

#[test]
fn status_without_credentials_says_how_to_sign_in() {
    let out = bin().arg("status").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tonearm login"));
}
