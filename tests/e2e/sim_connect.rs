//! The simulator's Spotify Connect side through the binary: `tonearm sim` in a child process,
//! a receiver registered in-process with the scripted phone library, and `tonearm sim phone`
//! listing devices and sending commands (including a refused one → non-zero exit, clear error).

use std::time::Duration;

use tonearm_sim::remote::{Phone, PhoneConfig};
use tonearm_testkit::process::{Home, SimProcess};

async fn phone_cli(home: &Home, args: Vec<String>) -> std::process::Output {
    let mut cmd = home.command();
    cmd.args(["sim", "phone"]).args(args);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// `tonearm sim phone --sim BASE --username alice ARGS…`.
async fn alice_cli(home: &Home, base: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--sim", base, "--username", "alice"];
    all.extend_from_slice(args);
    phone_cli(home, all.into_iter().map(String::from).collect()).await
}

/// Its stdout, once it is known to have succeeded.
fn succeeded(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Its stderr, once it is known to have failed.
fn failed(out: &std::process::Output) -> String {
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn sim_phone_cli_lists_devices_and_sends_commands() {
    let home = Home::new(env!("CARGO_BIN_EXE_tonearm"));
    let mut sim = home.command();
    sim.arg("sim");
    let sim = SimProcess::spawn(sim);
    let info = &sim.info;
    let base = info["spclient"].as_str().unwrap().to_owned();

    // A second "device" of the account, registered through the library (it refuses commands).
    let mut cfg = PhoneConfig::new(&base, "alice", "alice-pass");
    cfg.device_name = "Kitchen".into();
    let kitchen = crate::common::within(30, Phone::connect(cfg))
        .await
        .unwrap();

    let out = succeeded(alice_cli(&home, &base, &["devices"]).await);
    let devices: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let me = devices.iter().find(|d| d["is_self"] == true).unwrap();
    assert_eq!(me["name"], "Sim Phone");
    assert_eq!(me["device_type"], "SMARTPHONE");
    let k = devices.iter().find(|d| d["name"] == "Kitchen").unwrap();
    assert_eq!(k["id"], kitchen.device_id());

    // The Kitchen "device" refuses commands: a clear error and a failing exit status.
    let out = alice_cli(&home, &base, &["--device", "kitchen", "pause"]).await;
    let err = failed(&out);
    assert!(err.contains("502") && err.contains("refused"), "{err}");

    // Status with nothing active.
    let out = succeeded(alice_cli(&home, &base, &["status"]).await);
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(status["active_device_id"].is_null(), "{status}");
    assert_eq!(status["is_playing"], false);

    // No active device, no target: says so.
    let err = failed(&alice_cli(&home, &base, &["next"]).await);
    assert!(err.contains("no active device"), "{err}");

    // Without --sim: a clear error.
    let err = failed(&phone_cli(&home, vec!["devices".into()]).await);
    assert!(err.contains("--sim"), "{err}");

    // The CLI phones deregistered themselves; the library phone is still listed.
    let mut kitchen = kitchen;
    let id = kitchen.device_id().to_owned();
    let c = kitchen
        .wait_for(Duration::from_secs(20), |c| c.device.len() == 1)
        .await
        .unwrap();
    assert!(c.device.contains_key(&id));
}
