//! `make bench`: peak resident memory of `tonearm play` (issue 10), measured the way the
//! comparison with librespot was made: the release binary plays the demo album unpaced to a
//! pipe (`--sink pipe`, stdout to /dev/null) against a simulator in another process, run from a
//! copy of the binary (so the client's page cache and mappings are its own), signed in with
//! stored credentials in a private HOME; the peak is `/usr/bin/time -f %M` (the kernel's
//! high-water mark of the process's resident set, code pages included).
//!
//! Prints the median, min and max over a few runs, and the byte count of one run's audio (so a
//! run that played nothing cannot pass for a small one). Needs GNU time (`make bench` installs
//! it); prints why and exits otherwise, and fails under `CI=true`.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::process::{Command, Stdio};

use tonearm_testkit::process::{account_in, endpoint_args, output_with_stdin, Home, SimProcess};

const BIN: &str = env!("CARGO_BIN_EXE_tonearm");
const TIME: &str = "/usr/bin/time";
const RUNS: usize = 5;
/// librespot 0.8's peak for the same album from the same simulator (same build profile).
const TARGET_MB: f64 = 10.3;

fn main() {
    if !tonearm_testkit::require_tool(TIME, "the play bench reads the peak RSS from GNU time") {
        return;
    }
    let home = Home::new(BIN);
    let sim_bin = home.path().join("tonearm-sim-copy");
    std::fs::copy(BIN, &sim_bin).unwrap();
    let mut sim_cmd = Command::new(&sim_bin);
    sim_cmd
        .envs(home.envs())
        .args(["sim", "--log-file"])
        .arg(home.path().join("sim.log"));
    let sim = SimProcess::spawn(sim_cmd);
    let endpoints = endpoint_args(&sim.info);
    let (username, password) = account_in(&sim.info, "premium");
    let album = sim.info["demo_album"].as_str().unwrap().to_string();

    let login = output_with_stdin(
        home.command().args(&endpoints).args([
            "login",
            "--username",
            &username,
            "--password-stdin",
        ]),
        Some(&format!("{password}\n")),
    );
    assert!(login.status.success(), "login failed: {login:?}");

    let mut peaks = Vec::with_capacity(RUNS);
    let mut audio_bytes = 0;
    for run in 0..RUNS {
        let report = home.path().join(format!("time.{run}"));
        let mut cmd = Command::new(TIME);
        cmd.envs(home.envs())
            .args(["-f", "%M", "-o"])
            .arg(&report)
            .arg(BIN)
            .args(&endpoints)
            .args(["play", "--sink", "pipe", &album]);
        for k in Home::CLEARED {
            cmd.env_remove(k);
        }
        if run == 0 {
            // One run counts the audio it wrote; the others write straight to /dev/null.
            let out = cmd.stderr(Stdio::null()).output().unwrap();
            assert!(out.status.success(), "play failed");
            audio_bytes = out.stdout.len();
        } else {
            let status = cmd
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "play failed");
        }
        let kib: f64 = std::fs::read_to_string(&report)
            .unwrap()
            .trim()
            .lines()
            .last()
            .unwrap()
            .parse()
            .unwrap();
        peaks.push(kib / 1024.0);
    }
    assert!(
        audio_bytes > 1_000_000,
        "the demo album played only {audio_bytes} bytes"
    );
    peaks.sort_by(f64::total_cmp);
    println!(
        "play_rss: `tonearm play` of the demo album to a pipe, peak RSS (maxrss, n={RUNS}): \
         median {:.2} MiB (min {:.2}, max {:.2}; {:.1} MB of audio; target ≤ {TARGET_MB} MB, \
         librespot 0.8)",
        peaks[RUNS / 2],
        peaks[0],
        peaks[RUNS - 1],
        audio_bytes as f64 / 1e6,
    );
}
