//! What tonearm's end-to-end tests (`tests/e2e`) and benchmarks (`benches/`) both need, written
//! once: a simulator on 127.0.0.1, the client configuration that reaches it, a signed-in
//! session, a recording sink, and the small measuring helpers (percentiles, `/proc` readings).
//!
//! A dev-dependency of `tonearm` only; it is never part of the shipped library or binary.
//! Helpers panic with a message on failure: they run inside tests and benches.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tonearm::audio::sink::{Sink, SinkError, SinkFactory};
use tonearm::config::Endpoints;
use tonearm::session::{Credentials, Session, SessionConfig};
use tonearm_sim::{SimAccount, SimConfig, Simulator};

/// A simulator on 127.0.0.1 with its defaults (the demo catalog, ephemeral ports).
pub async fn sim() -> Simulator {
    sim_with(SimConfig::default()).await
}

/// A simulator on 127.0.0.1 with `cfg` (its `listen` is forced to loopback).
pub async fn sim_with(mut cfg: SimConfig) -> Simulator {
    cfg.listen = "127.0.0.1".parse().unwrap();
    Simulator::start(cfg).await.expect("simulator starts")
}

/// The simulator's first account of `product` (`premium` or `free`).
pub fn account<'a>(sim: &'a Simulator, product: &str) -> &'a SimAccount {
    sim.info()
        .accounts
        .iter()
        .find(|a| a.product == product)
        .expect("the simulator has an account of that product")
}

/// The simulator's premium account (what most tests sign in with).
pub fn premium(sim: &Simulator) -> &SimAccount {
    account(sim, "premium")
}

/// Client endpoints that reach `sim`.
pub fn endpoints(sim: &Simulator) -> Endpoints {
    tonearm::demo::endpoints_for(sim).expect("simulator endpoints")
}

/// A session config for a device called `device` (its id derives from the name), with a short
/// connect timeout so a broken simulator fails a test quickly.
pub fn session_config(sim: &Simulator, device: &str) -> SessionConfig {
    let mut c = SessionConfig::new(endpoints(sim), tonearm::config::device_id_for(device));
    c.timeouts.connect = Duration::from_secs(3);
    c
}

/// The premium account's password credentials.
pub fn premium_credentials(sim: &Simulator) -> Credentials {
    let a = premium(sim);
    Credentials::with_password(&a.username, &a.password)
}

/// A session signed in as the premium account, for a device called `device`.
pub async fn sign_in(sim: &Simulator, device: &str) -> Session {
    within(
        20,
        Session::connect(session_config(sim, device), premium_credentials(sim)),
    )
    .await
    .expect("the premium account signs in")
}

/// Runs a future with a deadline so a hung test fails instead of blocking CI.
pub async fn within<T>(secs: u64, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .expect("timed out")
}

/// Polls `f` every 20 ms until it holds; panics naming `what` after `secs`.
pub async fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What a [`Tape`] sink received: every sample, and when each write happened
/// (instant, index of its first sample, sample count).
#[derive(Default)]
pub struct Recording {
    pub samples: Vec<f32>,
    pub writes: Vec<(Instant, usize, usize)>,
}

impl Recording {
    /// When the last write happened.
    pub fn last_write(&self) -> Option<Instant> {
        self.writes.last().map(|w| w.0)
    }

    /// The first write at or after `t0`.
    pub fn first_write_after(&self, t0: Instant) -> Option<Instant> {
        self.writes.iter().map(|w| w.0).find(|t| *t >= t0)
    }
}

/// A sink that records every sample. `paced`: each write sleeps as long as its audio lasts
/// (44.1 kHz stereo), so pause and seek mean what they do on a sound card.
pub struct Tape {
    recording: Arc<Mutex<Recording>>,
    paced: bool,
    frames: u64,
}

impl Tape {
    /// A factory for the player, and the shared recording it fills.
    pub fn factory(paced: bool) -> (SinkFactory, Arc<Mutex<Recording>>) {
        let recording = Arc::new(Mutex::new(Recording::default()));
        let r = recording.clone();
        let factory: SinkFactory = Box::new(move || {
            Ok(Box::new(Tape {
                recording: r.clone(),
                paced,
                frames: 0,
            }) as Box<dyn Sink>)
        });
        (factory, recording)
    }
}

impl Sink for Tape {
    fn start(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    fn write(&mut self, samples: &[f32]) -> Result<(), SinkError> {
        {
            let mut r = self.recording.lock().unwrap();
            let at = r.samples.len();
            r.samples.extend_from_slice(samples);
            r.writes.push((Instant::now(), at, samples.len()));
        }
        self.frames += (samples.len() / 2) as u64;
        if self.paced {
            std::thread::sleep(Duration::from_secs_f64(
                samples.len() as f64 / 2.0 / 44_100.0,
            ));
        }
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

/// Milliseconds of a duration, as a float for printing.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The `p`-th percentile (0–100) of `v` (sorted here); `Duration::ZERO` when empty.
pub fn percentile(v: &mut [Duration], p: usize) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[(v.len() * p.min(100) / 100).min(v.len() - 1)]
}

/// The median of `v`.
pub fn median(v: &mut [Duration]) -> Duration {
    percentile(v, 50)
}

fn proc_fields(pid: &str) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// utime + stime of a process (`"self"` or a pid), in seconds (USER_HZ = 100 on Linux).
pub fn cpu_seconds(pid: &str) -> f64 {
    let f = proc_fields(pid);
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

/// A `/proc/<pid>/status` memory line (`VmRSS`, `VmHWM`, …) in MiB.
pub fn vm_mib(pid: &str, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
        .unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<f64>()
        .unwrap()
        / 1024.0
}

/// A process's CPU use over `window`, in percent of one core.
pub fn cpu_percent(pid: &str, window: Duration) -> f64 {
    let c0 = cpu_seconds(pid);
    let t0 = Instant::now();
    std::thread::sleep(window);
    (cpu_seconds(pid) - c0) / t0.elapsed().as_secs_f64() * 100.0
}
