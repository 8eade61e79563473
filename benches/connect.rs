//! `make bench`: Spotify Connect latencies on loopback against the simulator, measured at the
//! receiver's audio output (a real-time-paced recording sink):
//!
//! * command latency — the scripted phone sends a command, the receiver's audio reacts:
//!   `pause` → the sink stops receiving samples; `seek_to` → the first samples from the new
//!   position reach the sink (checked against a reference decode); median over 100 of each;
//! * transfer latency — the phone moves playback between two tonearm receivers: command sent →
//!   first sample on the new device; median over 20.
//!
//! A plain bench binary (no criterion) to keep the build lean; figures go to README/CHANGELOG.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use tonearm::player::PlayState;
use tonearm_sim::remote::Phone;
use tonearm_testkit::{phone_config, poll_fast, reference_pcm, run_bench, summary_line, Node};

/// Whether `win` is `reference` at some frame within `frames`.
fn matches_near(win: &[f32], reference: &[f32], frames: std::ops::Range<usize>) -> bool {
    if !win.iter().any(|s| s.abs() > 1e-3) {
        return false;
    }
    frames.into_iter().any(|f| {
        let j = f * 2;
        j + win.len() <= reference.len()
            && win
                .iter()
                .zip(&reference[j..])
                .all(|(a, b)| (a - b).abs() < 1e-4)
    })
}

fn stats(name: &str, v: Vec<Duration>) {
    println!("{}", summary_line(name, 44, v));
}

fn last_write(node: &Node) -> Option<Instant> {
    node.recording.lock().unwrap().last_write()
}

fn first_write_after(node: &Node, t0: Instant) -> Option<Instant> {
    node.recording.lock().unwrap().first_write_after(t0)
}

async fn run() {
    let sim = tonearm_testkit::sim().await;
    let album = sim.info().demo_album.clone();
    let a = Node::start(&sim, "bench-connect-a").await;
    let b = Node::start(&sim, "bench-connect-b").await;
    let mut phone = Phone::connect(phone_config(&sim)).await.unwrap();
    let (aid, bid) = (a.id.clone(), b.id.clone());
    phone
        .wait_for(Duration::from_secs(30), |c| {
            c.device.contains_key(&aid) && c.device.contains_key(&bid)
        })
        .await
        .unwrap();

    // Start on B: track 0 of the demo album.
    phone
        .play(Some(&b.id), &album, Some(0), None)
        .await
        .unwrap();
    poll_fast("B playing", || {
        b.status().borrow().state == PlayState::Playing
    })
    .await;
    // Stay on this track whatever the bench does (seeks need one reference).
    phone.repeat(Some(&b.id), "track").await.unwrap();
    let track0 = b.status().borrow().track.clone().unwrap();
    let uri0 = format!("spotify:track:{}", track0.id.to_base62());
    let ref0 = reference_pcm(&sim, &uri0, 1);
    let dur = track0.duration_ms;

    // Pause: phone command → the sink stops receiving samples. Resume between.
    let mut pauses = Vec::new();
    let mut resumes = Vec::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(60)).await;
        let t0 = Instant::now();
        phone.pause(Some(&b.id)).await.unwrap();
        // Silence: no write for 150 ms (several chunk periods).
        loop {
            let last = last_write(&b).unwrap();
            if last.elapsed() > Duration::from_millis(150) {
                pauses.push(last.saturating_duration_since(t0));
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let t0 = Instant::now();
        phone.resume(Some(&b.id)).await.unwrap();
        poll_fast("audio after resume", || first_write_after(&b, t0).is_some()).await;
        resumes.push(first_write_after(&b, t0).unwrap() - t0);
    }

    // Seek: phone command → the first samples from the new position reach the sink.
    let mut seeks = Vec::new();
    for i in 0..100 {
        let target = if i % 2 == 0 { dur / 4 } else { dur * 3 / 4 };
        let tf = (target * 44_100 / 1000) as usize;
        let t0 = Instant::now();
        phone.seek(Some(&b.id), target).await.unwrap();
        let heard = loop {
            let found = {
                let t = b.recording.lock().unwrap();
                t.writes
                    .iter()
                    .filter(|w| w.0 >= t0 && w.2 >= 512)
                    .find(|w| {
                        let mid = w.1 + ((w.2 / 2) & !1);
                        let win = &t.samples[mid..mid + 256];
                        matches_near(win, &ref0, tf.saturating_sub(22_050)..tf + 22_050)
                    })
                    .map(|w| w.0)
            };
            if let Some(at) = found {
                break at;
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "seek never heard");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        seeks.push(heard - t0);
        tokio::time::sleep(Duration::from_millis(40)).await;
    }

    // Transfer: B → A → B …, command → first sample on the new device.
    let mut transfers = Vec::new();
    let nodes = [&a, &b];
    for i in 0..20 {
        let to = nodes[i % 2];
        tokio::time::sleep(Duration::from_millis(300)).await;
        let t0 = Instant::now();
        phone.transfer(&to.id).await.unwrap();
        poll_fast("first sample on the new device", || {
            first_write_after(to, t0).is_some()
        })
        .await;
        transfers.push(first_write_after(to, t0).unwrap() - t0);
    }

    println!("Spotify Connect on loopback (phone → simulator → dealer → tonearm → sink)");
    stats("pause → sink stops receiving samples", pauses);
    stats("resume → first sample", resumes);
    stats("seek_to → first sample from the new position", seeks);
    stats("transfer → first sample on the new device", transfers);

    phone.close().await;
    for n in [a, b] {
        n.stop().await;
    }
    sim.shutdown().await;
}

fn main() {
    run_bench(run());
}
