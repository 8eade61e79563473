//! Measuring helpers for the benches (and the odd test): milliseconds, percentiles and a
//! median/p10/p90/max summary of durations, and CPU time and memory of a process read from
//! `/proc` (Linux), the bench summary line, a fast poll and the benches' runtime. Depends on std and tokio.

use std::fmt::Display;
use std::time::{Duration, Instant};

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

/// The usual figures of a set of timings.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub n: usize,
    pub median: Duration,
    pub p10: Duration,
    pub p90: Duration,
    pub max: Duration,
}

/// Median, p10, p90 and max of `v` (sorted here).
pub fn summary(v: &mut [Duration]) -> Summary {
    Summary {
        n: v.len(),
        median: percentile(v, 50),
        p10: percentile(v, 10),
        p90: percentile(v, 90),
        max: percentile(v, 100),
    }
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
pub fn cpu_seconds(pid: impl Display) -> f64 {
    let f = proc_fields(&pid.to_string());
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

/// A `/proc/<pid>/status` memory line (`VmRSS`, `VmHWM`, …) of a process (`"self"` or a pid),
/// in MiB.
pub fn vm_mib(pid: impl Display, field: &str) -> f64 {
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

/// A process's CPU use over `window` (`"self"` or a pid), in percent of one core.
pub fn cpu_percent(pid: impl Display, window: Duration) -> f64 {
    let pid = pid.to_string();
    let c0 = cpu_seconds(&pid);
    let t0 = Instant::now();
    std::thread::sleep(window);
    (cpu_seconds(&pid) - c0) / t0.elapsed().as_secs_f64() * 100.0
}

/// One bench line for `v` (the bench prints it): `name` padded to `name_width`, the count, the
/// median, p90 and max in milliseconds (`v` is sorted here).
pub fn summary_line(name: &str, name_width: usize, mut v: Vec<Duration>) -> String {
    let s = summary(&mut v);
    format!(
        "{name:<name_width$} n={:<4} median {:>7.1} ms   p90 {:>7.1} ms   max {:>7.1} ms",
        s.n,
        ms(s.median),
        ms(s.p90),
        ms(s.max)
    )
}

/// Polls `f` every `every` until it holds; panics naming `what` after `limit`. A bench polls
/// often (a few ms) because the time to the condition is what it measures.
pub async fn poll_until(what: &str, limit: Duration, every: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out: {what}");
        tokio::time::sleep(every).await;
    }
}

/// [`poll_until`] as the latency benches use it: every 2 ms, for at most 30 s.
pub async fn poll_fast(what: &str, f: impl FnMut() -> bool) {
    poll_until(what, Duration::from_secs(30), Duration::from_millis(2), f).await;
}

/// Runs a bench's async body on the runtime the latency benches share (multi-threaded, four
/// workers: the simulator, the receivers and the phone all run in the bench process).
pub fn run_bench<F: std::future::Future>(body: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
        .block_on(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_set() {
        let mut v: Vec<Duration> = (1..=10).rev().map(Duration::from_millis).collect();
        let s = summary(&mut v);
        assert_eq!(s.n, 10);
        assert_eq!(s.median, Duration::from_millis(6));
        assert_eq!(s.p10, Duration::from_millis(2));
        assert_eq!(s.p90, Duration::from_millis(10));
        assert_eq!(s.max, Duration::from_millis(10));
        assert_eq!(median(&mut []), Duration::ZERO);
    }

    #[test]
    fn own_process_readings() {
        assert!(cpu_seconds("self") >= 0.0);
        assert!(vm_mib("self", "VmRSS") > 0.0);
        assert!(vm_mib(std::process::id(), "VmHWM") >= vm_mib("self", "VmRSS") * 0.5);
    }
}
