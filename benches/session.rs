//! `make bench`: session-layer benchmarks on loopback against the simulator.
//!
//! * handshake + login latency: median (and p10/p90) over N full connections, each a fresh TCP
//!   connection, DH handshake with signature check, Shannon login with stored credentials, and
//!   the wait for ProductInfo — what a user waits for at start-up;
//! * Shannon framing throughput for 16 KiB frames, encode and decode, one core.
//!
//! A plain bench binary (no criterion) to keep the build lean; figures go to README/CHANGELOG.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::Instant;

use tonearm::session::codec::{Decoder, Encoder};
use tonearm::session::{Session, SessionConfig};
use tonearm_testkit::{ms, premium_credentials, summary};

async fn login_latency(n: usize) {
    let sim = tonearm_testkit::sim().await;
    let cfg = SessionConfig::new(
        tonearm_testkit::endpoints(&sim),
        tonearm::config::device_id_for("bench"),
    );
    let first = tonearm_testkit::sign_in_with(cfg.clone(), premium_credentials(&sim)).await;
    let stored = first.reusable_credentials();
    first.shutdown().await;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let s = Session::connect(cfg.clone(), stored.clone()).await.unwrap();
        times.push(t.elapsed());
        s.shutdown().await;
    }
    let t = summary(&mut times);
    println!(
        "login (handshake + stored-credential login, loopback, n={n}): median {:.2} ms, p10 {:.2} ms, p90 {:.2} ms",
        ms(t.median),
        ms(t.p10),
        ms(t.p90),
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
