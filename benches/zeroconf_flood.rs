//! `make bench`: the zeroconf endpoint under a flood (issue 12). The daemon binary runs signed
//! in (stored credentials from `tonearm login`) against the in-process simulator, zeroconf on
//! 127.0.0.1 only. For `ZC_FLOOD_SECONDS` (default 60) one address, 127.0.0.2, floods it:
//! slowloris connections that dribble a request head, connections opened and dropped at once,
//! `getInfo` requests back to back, and garbage `addUser` POSTs. Meanwhile a second address,
//! 127.0.0.3, asks `getInfo` every 100 ms with a 1 s limit. Reported: the share of those
//! answered within 1 s (goal 100 %) with their latencies, the daemon's RSS before, during and
//! after, and what the flood got done.
//!
//! Loopback only, bounded in time; a plain bench binary (no criterion). Figures go to the
//! CHANGELOG.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonearm_testkit::lan::{connect_from, http_from};
use tonearm_testkit::process::{endpoint_args, info_json, Home, Running};
use tonearm_testkit::{ms, summary, vm_mib};

const FLOODER: [u8; 4] = [127, 0, 0, 2];
const POLLER: [u8; 4] = [127, 0, 0, 3];
/// Slowloris connections the flooder keeps trying to hold.
const SLOW: usize = 256;
/// Tasks opening and dropping connections.
const CHURN: usize = 4;
/// Tasks sending `getInfo` back to back.
const REQUESTS: usize = 8;
/// Tasks sending garbage `addUser`.
const GARBAGE: usize = 4;

#[derive(Default)]
struct Counts {
    connections: AtomicU64,
    answered: AtomicU64,
}

/// One raw request on a fresh connection from the flooder; whether an answer came.
async fn request_once(to: SocketAddr, req: &[u8]) -> bool {
    let Ok(mut s) = connect_from(IpAddr::from(FLOODER), to).await else {
        return false;
    };
    if s.write_all(req).await.is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    buf.starts_with(b"HTTP/1.1 ")
}

async fn flood(to: SocketAddr, stop: Arc<AtomicBool>, counts: Arc<Counts>) {
    let mut tasks = Vec::new();
    for _ in 0..SLOW {
        let (stop, counts) = (stop.clone(), counts.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut s) = connect_from(IpAddr::from(FLOODER), to).await else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                counts.connections.fetch_add(1, Ordering::Relaxed);
                let mut ok = s
                    .write_all(b"GET /?action=getInfo HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                    .await
                    .is_ok();
                while ok && !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    ok = s.write_all(b"X-Slow: 1\r\n").await.is_ok();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    for _ in 0..CHURN {
        let (stop, counts) = (stop.clone(), counts.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if connect_from(IpAddr::from(FLOODER), to).await.is_ok() {
                    counts.connections.fetch_add(1, Ordering::Relaxed);
                } else {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }));
    }
    let get = b"GET /?action=getInfo HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_vec();
    let body = "action=addUser&userName=mallory&blob=AAAA&clientKey=AAAA";
    let post = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes();
    for i in 0..REQUESTS + GARBAGE {
        let (stop, counts) = (stop.clone(), counts.clone());
        let req = if i < REQUESTS {
            get.clone()
        } else {
            post.clone()
        };
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                counts.connections.fetch_add(1, Ordering::Relaxed);
                if request_once(to, &req).await {
                    counts.answered.fetch_add(1, Ordering::Relaxed);
                } else {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn run() {
    let seconds: u64 = std::env::var("ZC_FLOOD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let sim = tonearm_testkit::sim().await;
    let home = Home::new(env!("CARGO_BIN_EXE_tonearm"));
    home.login(&info_json(&sim), "tonearm-demo", "tonearm-demo-pass");
    let mut cmd = home.command();
    cmd.args(endpoint_args(&info_json(&sim))).args([
        "daemon",
        "--sink",
        "null",
        "--name",
        "Flood Bench",
        "--zeroconf",
        "--zeroconf-bind",
        "127.0.0.1",
    ]);
    let mut daemon = Running::spawn(cmd);
    let line = daemon.line(|l| l.contains("zeroconf port"));
    let port: u16 = tonearm_testkit::zeroconf::port_in(&line).unwrap();
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    let pid = daemon.pid();
    let poll_http = http_from(IpAddr::from(POLLER), Duration::from_secs(1));
    let url = format!("http://{to}/?action=getInfo");
    // Signed in and answering before the flood starts.
    let t0 = Instant::now();
    while !home.log().contains("daemon signed in") {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the daemon signs in"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(poll_http.get(&url).send().await.is_ok());
    let rss_before = vm_mib(pid, "VmRSS");

    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let flooder = tokio::spawn(flood(to, stop.clone(), counts.clone()));
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let (mut asked, mut within_1s) = (0u64, 0u64);
    let mut latencies = Vec::new();
    let mut misses: Vec<String> = Vec::new();
    let mut rss = Vec::new();
    let mut next_rss = start;
    while Instant::now() < end {
        let t = Instant::now();
        asked += 1;
        let outcome = match poll_http.get(&url).send().await {
            Ok(r) if r.status() == 200 => match r.bytes().await {
                Ok(_) if t.elapsed() <= Duration::from_secs(1) => Ok(()),
                Ok(_) => Err(format!("answered after {:?}", t.elapsed())),
                Err(e) => Err(format!("body: {e}")),
            },
            Ok(r) => Err(format!("HTTP {}", r.status())),
            Err(e) => Err(format!("{e:?}")),
        };
        match outcome {
            Ok(()) => {
                within_1s += 1;
                latencies.push(t.elapsed());
            }
            Err(why) => misses.push(format!(
                "at {:.1} s: {why}",
                t.duration_since(start).as_secs_f64()
            )),
        }
        if Instant::now() >= next_rss {
            rss.push(vm_mib(pid, "VmRSS"));
            next_rss += Duration::from_secs(1);
        }
        tokio::time::sleep(Duration::from_millis(100).saturating_sub(t.elapsed())).await;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(15), flooder).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = vm_mib(pid, "VmRSS");
    let hwm = vm_mib(pid, "VmHWM");
    rss.sort_by(|a, b| a.total_cmp(b));

    let s = summary(&mut latencies);
    println!(
        "zeroconf flood {seconds} s from 127.0.0.2: getInfo from 127.0.0.3 answered within 1 s: \
         {within_1s}/{asked} ({:.1} %), median {:.1} ms  p90 {:.1} ms  max {:.1} ms",
        100.0 * within_1s as f64 / asked.max(1) as f64,
        ms(s.median),
        ms(s.p90),
        ms(s.max)
    );
    for m in &misses {
        println!("zeroconf flood: not answered within 1 s {m}");
    }
    println!(
        "zeroconf flood: daemon RSS before {rss_before:.1} MiB, during median {:.1} MiB max \
         {:.1} MiB, after {rss_after:.1} MiB (peak VmHWM {hwm:.1} MiB)",
        rss.get(rss.len() / 2).copied().unwrap_or(0.0),
        rss.last().copied().unwrap_or(0.0),
    );
    println!(
        "zeroconf flood: {} connections opened by the flooder, {} flood requests answered",
        counts.connections.load(Ordering::Relaxed),
        counts.answered.load(Ordering::Relaxed)
    );
    drop(daemon);
    sim.shutdown().await;
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}
