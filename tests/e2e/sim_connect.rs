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

    let out = phone_cli(
        &home,
        ["--sim", &base, "--username", "alice", "devices"]
            .map(String::from)
            .to_vec(),
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let devices: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let me = devices.iter().find(|d| d["is_self"] == true).unwrap();
    assert_eq!(me["name"], "Sim Phone");
    assert_eq!(me["device_type"], "SMARTPHONE");
    let k = devices.iter().find(|d| d["name"] == "Kitchen").unwrap();
    assert_eq!(k["id"], kitchen.device_id());

    // The Kitchen "device" refuses commands: a clear error and a failing exit status.
    let out = phone_cli(
        &home,
        [
            "--sim",
            &base,
            "--username",
            "alice",
            "--device",
            "kitchen",
            "pause",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("502") && err.contains("refused"), "{err}");

    // Status with nothing active.
    let out = phone_cli(
        &home,
        ["--sim", &base, "--username", "alice", "status"]
            .map(String::from)
            .to_vec(),
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(status["active_device_id"].is_null(), "{status}");
    assert_eq!(status["is_playing"], false);

    // No active device, no target: says so.
    let out = phone_cli(
        &home,
        ["--sim", &base, "--username", "alice", "next"]
            .map(String::from)
            .to_vec(),
    )
    .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no active device"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Without --sim: a clear error.
    let out = phone_cli(&home, vec!["devices".into()]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--sim"));

    // The CLI phones deregistered themselves; the library phone is still listed.
    let mut kitchen = kitchen;
    let id = kitchen.device_id().to_owned();
    let c = kitchen
        .wait_for(Duration::from_secs(20), |c| c.device.len() == 1)
        .await
        .unwrap();
    assert!(c.device.contains_key(&id));
}
