//! `--sim URL` (and the config's `sim = "URL"`) with the real binary against a `tonearm sim`
//! child process: one URL instead of eight endpoint flags signs in and connects; a URL that does
//! not answer, answers 404 or answers something that is not the simulator's endpoints is a clear
//! error. And the TUI started with `--sim`: a context played from one of its pages (an album)
//! is what the scripted phone sees as `context_uri` and what `tonearm ctl status` shows.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;
use tonearm_sim::remote::{Phone, PhoneConfig};
use tonearm_testkit::process::{account_in, output_with_stdin, Home, SimProcess};
use tonearm_testkit::require_tool;
use tonearm_testkit::within;

const BIN: &str = env!("CARGO_BIN_EXE_tonearm");

fn sim(home: &Home) -> (SimProcess, String) {
    let mut cmd = home.command();
    cmd.arg("sim");
    let sim = SimProcess::spawn(cmd);
    let url = sim.info["spclient"].as_str().unwrap().to_string();
    (sim, url)
}

/// A `tonearm sim` child and `home` signed in to its premium account with only `--sim`.
fn signed_in(home: &Home) -> (SimProcess, String) {
    let (sim, url) = sim(home);
    let (user, password) = account_in(&sim.info, "premium");
    let out = run(
        home,
        &[
            "--sim",
            &url,
            "login",
            "--username",
            &user,
            "--password-stdin",
        ],
        Some(&format!("{password}\n")),
    );
    assert!(out.status.success(), "login: {}", text(&out));
    (sim, url)
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `tonearm ARGS` in `home` with `stdin`.
fn run(home: &Home, args: &[&str], stdin: Option<&str>) -> Output {
    output_with_stdin(home.command().args(args), stdin)
}

#[test]
fn one_sim_url_configures_every_endpoint() {
    let home = Home::new(BIN);
    // Sign in (login5, client-token, the AP and its key) and connect, with only --sim.
    let (sim, url) = signed_in(&home);
    let (user, _) = account_in(&sim.info, "premium");
    let out = run(&home, &["--sim", &url, "status"], None);
    assert!(out.status.success(), "status: {}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&user),
        "status names the account: {}",
        text(&out)
    );
    // The Web API too: the library comes from the simulator.
    let out = run(&home, &["--sim", &url, "library"], None);
    assert!(out.status.success(), "library: {}", text(&out));
    // The same from the config file's `sim` key.
    let config = home.path().join("sim.toml");
    std::fs::write(&config, format!("sim = \"{url}\"\n")).unwrap();
    let out = run(
        &home,
        &["--config", config.to_str().unwrap(), "status"],
        None,
    );
    assert!(
        out.status.success(),
        "status with sim in the config: {}",
        text(&out)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&user));
}

/// A one-shot HTTP server on 127.0.0.1 answering every request with `response`; its URL.
fn answering(response: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut conn = conn;
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(response.as_bytes());
        }
    });
    url
}

#[test]
fn a_sim_url_that_is_not_a_simulator_is_a_clear_error() {
    let home = Home::new(BIN);
    // Nothing listens: a port that was free a moment ago.
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let out = run(&home, &["--sim", &dead, "status"], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not answer"), "{}", text(&out));

    // Answers, but not the endpoints: garbage, and a 404.
    let garbage = answering(
        "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 13\r\nconnection: close\r\n\r\n<html></html>",
    );
    let out = run(&home, &["--sim", &garbage, "status"], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not the simulator's endpoints"),
        "{}",
        text(&out)
    );
    let missing =
        answering("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let out = run(&home, &["--sim", &missing, "status"], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("404"), "{}", text(&out));

    // Not an http URL at all.
    let out = run(&home, &["--sim", "127.0.0.1:1", "status"], None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("http URL"),
        "{}",
        text(&out)
    );
}

/// Polls the phone's view until `f` holds (≤ `secs`); the last status otherwise.
async fn until_status(
    phone: &Phone,
    secs: u64,
    f: impl Fn(&Value) -> bool,
) -> Result<Value, Value> {
    let t0 = Instant::now();
    let mut last = Value::Null;
    while t0.elapsed() < Duration::from_secs(secs) {
        if let Ok(st) = phone.status().await {
            if f(&st) {
                return Ok(st);
            }
            last = st;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_played_in_the_tui_is_reported_to_connect() {
    if !require_tool("tmux", "the TUI runs in a tmux pane") {
        return;
    }
    const TUI: &str = "Context TUI";
    let home = Home::new(BIN);
    let (sim, url) = signed_in(&home);
    let (user, password) = account_in(&sim.info, "premium");
    let tmux = home.tmux(
        (120, 40),
        &format!(
            "exec env TERM=xterm-256color {BIN} --sim {url} --sink null --device-name '{TUI}'"
        ),
    );
    let log = || format!("log:\n{}", home.log());
    let wait = Duration::from_secs(90);
    tmux.wait_for("the library", wait, log, |s| s.contains("Demo Mix"));
    // The albums section, the first album's page, enter on its first track.
    tmux.keys(&["]", "]"]);
    tmux.wait_for("the albums section", wait, log, |s| s.contains("Albums"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the album page", wait, log, |s| s.contains("Album · "));
    tmux.keys(&["Enter"]);

    let phone = within(20, Phone::connect(PhoneConfig::new(&url, &user, &password)))
        .await
        .expect("the phone signs in");
    let st = until_status(&phone, 60, |st| {
        st["active_device_name"] == TUI
            && st["is_playing"] == true
            && st["context_uri"]
                .as_str()
                .is_some_and(|c| c.starts_with("spotify:album:"))
    })
    .await
    .unwrap_or_else(|st| panic!("the phone sees the album as the context: {st}\n{}", log()));
    let context = st["context_uri"].as_str().unwrap().to_string();

    // The local control API says the same.
    let t0 = Instant::now();
    loop {
        let out = home
            .command()
            .args(["ctl", "status", "--json"])
            .output()
            .unwrap();
        let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if answer["status"]["context"] == context.as_str() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "ctl status shows the context {context}: {answer}\n{}",
            text(&out)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    phone.close().await;
    tmux.keys(&["C-c"]);
}
