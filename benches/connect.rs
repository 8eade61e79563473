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

use std::io::Cursor;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tonearm::api::metadata::Bitrate;
use tonearm::audio::decode::{Container, SymphoniaSource};
use tonearm::audio::pcm::PcmSource;
use tonearm::audio::sink::{Sink, SinkError, SinkFactory, SinkSpec};
use tonearm::config::Config;
use tonearm::connect::{Connect, ConnectConfig, ConnectEvent};
use tonearm::player::{PlayState, Player};
use tonearm::services::{PlaybackOptions, Services};
use tonearm::session::{Credentials, Session, SessionConfig};
use tonearm_sim::remote::{Phone, PhoneConfig};
use tonearm_sim::{SimConfig, Simulator};

/// What a sink received: the samples and when each write happened (start index, length).
#[derive(Default)]
struct Tape {
    samples: Vec<f32>,
    writes: Vec<(Instant, usize, usize)>,
}

struct Probe {
    tape: Arc<Mutex<Tape>>,
    frames: u64,
}

impl Sink for Probe {
    fn start(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    fn write(&mut self, samples: &[f32]) -> Result<(), SinkError> {
        {
            let mut t = self.tape.lock().unwrap();
            let at = t.samples.len();
            t.samples.extend_from_slice(samples);
            t.writes.push((Instant::now(), at, samples.len()));
        }
        self.frames += (samples.len() / 2) as u64;
        std::thread::sleep(Duration::from_secs_f64(
            samples.len() as f64 / 2.0 / 44_100.0,
        ));
        Ok(())
    }
    fn clear(&mut self) {}
    fn set_paused(&mut self, _paused: bool) {}
    fn stop(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    fn played_frames(&self) -> u64 {
        self.frames
    }
}

struct Node {
    id: String,
    player: Player,
    tape: Arc<Mutex<Tape>>,
    connect: Arc<Connect>,
    services: Services,
}

async fn node(sim: &Simulator, name: &str) -> Node {
    let acct = sim
        .info()
        .accounts
        .iter()
        .find(|a| a.product == "premium")
        .unwrap()
        .clone();
    let endpoints = tonearm::demo::endpoints_for(sim).unwrap();
    let device_id = tonearm::config::device_id_for(name);
    let session = Session::connect(
        SessionConfig::new(endpoints.clone(), device_id.clone()),
        Credentials::with_password(&acct.username, &acct.password),
    )
    .await
    .unwrap();
    let tape = Arc::new(Mutex::new(Tape::default()));
    let t = tape.clone();
    let factory: SinkFactory =
        Box::new(move || Ok(Box::new(Probe { tape: t, frames: 0 }) as Box<dyn Sink>));
    let config = Config {
        device_name: name.into(),
        device_id: device_id.clone(),
        endpoints,
        ..Config::default()
    };
    let playback = PlaybackOptions {
        sink: SinkSpec::Null,
        bitrate: Bitrate::B160,
        volume: u16::MAX,
        normalisation: Default::default(),
    };
    let (services, mut events) = Services::start_with_sink(config, session, &playback, factory);
    let player = services.player.clone();
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    let mut cc = ConnectConfig::new(device_id.clone(), name);
    cc.initial_volume = u16::MAX;
    let (connect, mut rx) = Connect::start(&services, cc).await.unwrap();
    let p = player.clone();
    tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            if let ConnectEvent::Command(c) = ev {
                tonearm::control::apply_remote(&p, &c);
            }
        }
    });
    Node {
        id: device_id,
        player,
        tape,
        connect,
        services,
    }
}

fn reference(sim: &Simulator, uri: &str) -> Vec<f32> {
    let bytes = sim.demo_audio(uri, 1).unwrap();
    let mut src =
        SymphoniaSource::new(Cursor::new(bytes), Container::Ogg, Some(bytes.len() as u64)).unwrap();
    let mut out = Vec::new();
    while src.read(&mut out, 4096).unwrap() > 0 {}
    out
}

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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn stats(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let p = |q: f64| ms(v[((v.len() - 1) as f64 * q).round() as usize]);
    println!(
        "{name:<44} n={:<4} median {:>7.1} ms   p90 {:>7.1} ms   max {:>7.1} ms",
        v.len(),
        p(0.5),
        p(0.9),
        p(1.0)
    );
}

async fn wait(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(30), "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn last_write(tape: &Mutex<Tape>) -> Option<Instant> {
    tape.lock().unwrap().writes.last().map(|w| w.0)
}

fn first_write_after(tape: &Mutex<Tape>, t0: Instant) -> Option<Instant> {
    tape.lock()
        .unwrap()
        .writes
        .iter()
        .find(|w| w.0 >= t0)
        .map(|w| w.0)
}

async fn run() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let acct = sim
        .info()
        .accounts
        .iter()
        .find(|a| a.product == "premium")
        .unwrap()
        .clone();
    let album = sim.info().demo_album.clone();
    let a = node(&sim, "bench-connect-a").await;
    let b = node(&sim, "bench-connect-b").await;
    let mut phone = Phone::connect(PhoneConfig::new(
        &sim.info().spclient,
        &acct.username,
        &acct.password,
    ))
    .await
    .unwrap();
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
    wait("B playing", || {
        b.player.status().borrow().state == PlayState::Playing
    })
    .await;
    // Stay on this track whatever the bench does (seeks need one reference).
    phone.repeat(Some(&b.id), "track").await.unwrap();
    let track0 = b.player.status().borrow().track.clone().unwrap();
    let uri0 = format!("spotify:track:{}", track0.id.to_base62());
    let ref0 = reference(&sim, &uri0);
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
            let last = last_write(&b.tape).unwrap();
            if last.elapsed() > Duration::from_millis(150) {
                pauses.push(last.saturating_duration_since(t0));
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let t0 = Instant::now();
        phone.resume(Some(&b.id)).await.unwrap();
        wait("audio after resume", || {
            first_write_after(&b.tape, t0).is_some()
        })
        .await;
        resumes.push(first_write_after(&b.tape, t0).unwrap() - t0);
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
                let t = b.tape.lock().unwrap();
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
        wait("first sample on the new device", || {
            first_write_after(&to.tape, t0).is_some()
        })
        .await;
        transfers.push(first_write_after(&to.tape, t0).unwrap() - t0);
    }

    println!("Spotify Connect on loopback (phone → simulator → dealer → tonearm → sink)");
    stats("pause → sink stops receiving samples", pauses);
    stats("resume → first sample", resumes);
    stats("seek_to → first sample from the new position", seeks);
    stats("transfer → first sample on the new device", transfers);

    phone.close().await;
    for n in [a, b] {
        n.connect.shutdown().await;
        n.services.shutdown().await;
    }
    sim.shutdown().await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}
