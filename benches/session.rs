//! `make bench`: session-layer benchmarks on loopback against the simulator.
//!
//! * handshake + login latency: median (and p10/p90) over N full connections, each a fresh TCP
//!   connection, DH handshake with signature check, Shannon login with stored credentials, and
//!   the wait for ProductInfo — what a user waits for at start-up;
//! * Shannon framing throughput for 16 KiB frames, encode and decode, one core.
//!
//! A plain bench binary (no criterion) to keep the build lean; figures go to README/CHANGELOG.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use tonearm::session::codec::{Decoder, Encoder};
use tonearm::session::{Credentials, Session, SessionConfig};
use tonearm_sim::{SimConfig, Simulator};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn login_latency(n: usize) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let acct = sim
        .info()
        .accounts
        .iter()
        .find(|a| a.product == "premium")
        .unwrap()
        .clone();
    let endpoints = tonearm::demo::endpoints_for(&sim).unwrap();
    let cfg = SessionConfig::new(endpoints, tonearm::config::device_id_for("bench"));
    let first = Session::connect(
        cfg.clone(),
        Credentials::with_password(&acct.username, &acct.password),
    )
    .await
    .unwrap();
    let stored = first.reusable_credentials();
    first.shutdown().await;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let s = Session::connect(cfg.clone(), stored.clone()).await.unwrap();
        times.push(t.elapsed());
        s.shutdown().await;
    }
    times.sort();
    println!(
        "login (handshake + stored-credential login, loopback, n={n}): median {:.2} ms, p10 {:.2} ms, p90 {:.2} ms",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.1)),
        ms(percentile(&times, 0.9)),
    );
    sim.shutdown().await;
}

fn shannon_throughput() {
    const FRAME: usize = 16 * 1024;
    const FRAMES: usize = 4096; // 64 MiB
    let key = [7u8; 32];
    let payload = vec![0xa5u8; FRAME];
    let mut enc = Encoder::new(&key);
    let t = Instant::now();
    let mut wire = Vec::with_capacity(FRAMES);
    for _ in 0..FRAMES {
        wire.push(enc.encode(0x09, &payload).unwrap());
    }
    let enc_s = t.elapsed().as_secs_f64();
    let mut dec = Decoder::new(&key);
    let t = Instant::now();
    let mut n = 0usize;
    for frame in &wire {
        dec.feed(frame);
        while let Some(p) = dec.next_packet().unwrap() {
            n += p.payload.len();
        }
    }
    let dec_s = t.elapsed().as_secs_f64();
    assert_eq!(n, FRAME * FRAMES);
    let mb = (FRAME * FRAMES) as f64 / (1024.0 * 1024.0);
    println!(
        "shannon 16 KiB frames: encode {:.0} MB/s, decode {:.0} MB/s (MiB of payload per second)",
        mb / enc_s,
        mb / dec_s
    );
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(login_latency(120));
    shannon_throughput();
}
