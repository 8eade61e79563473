//! `make bench`: the guest remote under a party's load. `tonearm --demo --remote-listen
//! 127.0.0.1:PORT daemon` (the real binary, its own simulator, a null sink, three tracks in the
//! queue) and 200 guests on loopback, each with its own HTTP client (its own connection and
//! loopback address, as 200 phones would have), joining by name and then polling `GET /api/queue` once a second for 60 s
//! (`GUEST_BENCH_SECS` overrides the length). Reported: the answer times (median, p90, p99,
//! max; every poll must answer 200) and the daemon's added CPU — its utime+stime from
//! `/proc/<pid>/stat` over the polling window, less its idle rate measured for 10 s before.
//!
//! A plain bench binary (no criterion); figures go to README/CHANGELOG.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use tonearm_testkit::measure::{cpu_seconds, percentile};
use tonearm_testkit::process::{first_stdout_lines, Home, KillOnDrop};
use tonearm_testkit::{ms, within};

const GUESTS: usize = 200;
const IDLE_WINDOW: Duration = Duration::from_secs(10);

fn ctl(home: &Home, args: &[&str]) -> serde_json::Value {
    let out = home
        .command()
        .arg("ctl")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

async fn demo_tracks() -> Vec<String> {
    let sim = tonearm_testkit::sim().await;
    let catalog = sim.catalog();
    let out = catalog
        .demo_tracks
        .iter()
        .map(|&t| catalog.uri(tonearm_sim::catalog::Entity::Track(t)).unwrap())
        .collect();
    sim.shutdown().await;
    out
}

/// One guest: joins, then polls the queue at 1 Hz until `end`; the answer times.
async fn guest(base: String, i: usize, start: Instant, end: Instant) -> Vec<Duration> {
    // Each guest from its own loopback address, as each phone has its own (joins are limited
    // per address).
    let from = std::net::IpAddr::from([127, 0, 1 + (i / 250) as u8, 1 + (i % 250) as u8]);
    let client = reqwest::Client::builder()
        .local_address(Some(from))
        .build()
        .unwrap();
    let joined: serde_json::Value = client
        .post(format!("{base}/api/join"))
        .json(&serde_json::json!({ "name": format!("guest {i}") }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = joined["token"].as_str().expect("joined").to_string();
    // Spread the guests over the second, as phones would be.
    let mut next = start + Duration::from_millis((i as u64 * 1000) / GUESTS as u64);
    let mut times = Vec::new();
    while next < end {
        tokio::time::sleep_until(next.into()).await;
        let t0 = Instant::now();
        let r = client
            .get(format!("{base}/api/queue"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "guest {i}");
        let body: serde_json::Value = r.json().await.unwrap();
        times.push(t0.elapsed());
        assert!(body["items"].is_array());
        next += Duration::from_secs(1);
    }
    times
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: u64 = std::env::var("GUEST_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let tracks = demo_tracks().await;
    let home = Home::new(env!("CARGO_BIN_EXE_tonearm"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = KillOnDrop(
        home.command()
            .args(["--remote-listen", &format!("127.0.0.1:{port}")])
            .args(["--demo", "daemon", "--sink", "null", "--name", "Bench"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    let lines = within(60, first_stdout_lines(&mut child.0, 2)).await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    // Signed in, with a queue to show (loaded, then paused: the load is not what is measured).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let h = &home;
        let s = tokio::task::block_in_place(|| ctl(h, &["status"]));
        if s["status"]["connection"]["session"] == "online" {
            break;
        }
        assert!(Instant::now() < deadline, "the daemon never signed in");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::task::block_in_place(|| {
        let mut args = vec!["play-uri"];
        args.extend(tracks[..3].iter().map(String::as_str));
        ctl(&home, &args);
        ctl(&home, &["pause"]);
    });
    tokio::time::sleep(Duration::from_secs(2)).await;

    let c0 = cpu_seconds(pid);
    tokio::time::sleep(IDLE_WINDOW).await;
    let idle = (cpu_seconds(pid) - c0) / IDLE_WINDOW.as_secs_f64();

    let start = Instant::now() + Duration::from_secs(1);
    let end = start + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..GUESTS)
        .map(|i| tokio::spawn(guest(base.clone(), i, start, end)))
        .collect();
    tokio::time::sleep_until(start.into()).await;
    let c1 = cpu_seconds(pid);
    let t1 = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let busy = (cpu_seconds(pid) - c1) / t1.elapsed().as_secs_f64();
    let n = all.len();
    println!(
        "guest remote: {GUESTS} guests polling /api/queue at 1 Hz for {secs} s: n={n} \
         median {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        ms(percentile(&mut all, 50)),
        ms(percentile(&mut all, 90)),
        ms(percentile(&mut all, 99)),
        ms(percentile(&mut all, 100)),
    );
    println!(
        "guest remote: daemon CPU idle {:.2} %, while polled {:.2} %, added {:.2} % of one core",
        idle * 100.0,
        busy * 100.0,
        (busy - idle) * 100.0
    );
    assert!(
        n >= GUESTS * (secs as usize).saturating_sub(1),
        "too few polls: {n}"
    );
}
