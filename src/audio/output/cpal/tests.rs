//! Tests of the cpal sink: the callback logic without a device, device errors, and the real
//! cpal → ALSA path through ALSA's `file` plugin (in a child process, so the `HOME` that points
//! ALSA at a private `.asoundrc` does not leak into other tests).

use super::*;

fn ring(samples: &[f32]) -> (rtrb::Producer<f32>, Callback, Arc<Shared>) {
    let (mut p, c) = rtrb::RingBuffer::new(1024);
    p.push_entire_slice(samples).unwrap();
    let shared = Arc::new(Shared::new());
    (p, Callback::new(c, shared.clone()), shared)
}

#[test]
fn callback_pops_counts_and_zero_fills() {
    let (_p, mut cb, shared) = ring(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
    let mut out = [9.0f32; 4];
    cb.fill_f32(&mut out, Some(Duration::from_millis(20)));
    assert_eq!(out, [0.1, 0.2, 0.3, 0.4]);
    assert_eq!(shared.played_frames.load(Ordering::Relaxed), 2);
    assert_eq!(shared.latency_ns.load(Ordering::Relaxed), 20_000_000);
    // Underrun: one frame left, the rest silence.
    cb.fill_f32(&mut out, None);
    assert_eq!(out, [0.5, 0.6, 0.0, 0.0]);
    assert_eq!(shared.played_frames.load(Ordering::Relaxed), 3);
    cb.fill_f32(&mut out, None);
    assert_eq!(out, [0.0; 4]);
    assert_eq!(shared.played_frames.load(Ordering::Relaxed), 3);
}

#[test]
fn callback_i16_converts() {
    let (_p, mut cb, shared) = ring(&[0.5, -0.25, 1.5, -1.0]);
    let mut out = [7i16; 6];
    cb.fill_i16(&mut out, None);
    assert_eq!(out, [16384, -8192, 32767, -32767, 0, 0]);
    assert_eq!(shared.played_frames.load(Ordering::Relaxed), 2);
}

#[test]
fn callback_pause_and_clear() {
    let (mut p, mut cb, shared) = ring(&[0.1, 0.2, 0.3, 0.4]);
    shared.paused.store(true, Ordering::Relaxed);
    let mut out = [9.0f32; 2];
    cb.fill_f32(&mut out, None);
    assert_eq!(out, [0.0, 0.0], "paused: silence");
    assert_eq!(shared.played_frames.load(Ordering::Relaxed), 0);
    assert_eq!(p.slots(), 1020, "paused: nothing consumed");
    // A clear request is honoured even while paused, and acknowledged.
    shared.clear_requested.store(1, Ordering::Relaxed);
    cb.fill_f32(&mut out, None);
    assert_eq!(shared.clear_done.load(Ordering::Relaxed), 1);
    assert_eq!(p.slots(), 1024, "queue dropped");
    shared.paused.store(false, Ordering::Relaxed);
    p.push_entire_slice(&[0.7, 0.8]).unwrap();
    cb.fill_f32(&mut out, None);
    assert_eq!(out, [0.7, 0.8]);
    assert_eq!(shared.played_frames.load(Ordering::Relaxed), 1);
}

#[test]
fn missing_named_device_is_no_device() {
    let Err(e) = CpalSink::open(Some("no such device, surely")) else {
        panic!("opened a device that does not exist");
    };
    assert!(matches!(e, SinkError::NoDevice(_)), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("--sink") && msg.contains("no such device"),
        "{msg}"
    );
}

#[test]
fn default_device_never_panics() {
    // Whatever this machine has: a usable device or a NoDevice error with the hint.
    match CpalSink::open(None) {
        Ok(s) => assert!(!s.device_name().is_empty()),
        Err(e) => {
            assert!(matches!(e, SinkError::NoDevice(_)), "{e}");
            assert!(e.to_string().contains("--sink"));
        }
    }
}

const CHILD_ENV: &str = "TONEARM_TEST_ALSA_CHILD";
const SIGNAL_FRAMES: usize = 12_000; // 272 ms: fits in the ring at once

/// A signal with no zero sample, so where it starts in the device's output is unambiguous.
fn signal() -> Vec<f32> {
    (0..SIGNAL_FRAMES)
        .flat_map(|i| {
            let l = 0.05 + 0.9 * ((i % 1000) as f32 / 1000.0);
            let r = -0.05 - 0.5 * ((i % 357) as f32 / 357.0);
            [l, r]
        })
        .collect()
}

/// Runs in the child process (see `cpal_to_alsa_file_plugin`); does nothing when run directly.
#[test]
#[ignore = "run by cpal_to_alsa_file_plugin in a child process"]
fn alsa_child() {
    let Ok(report) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut sink = CpalSink::open(None).unwrap();
    // Queue the whole signal while paused, then let it play: the ALSA null device consumes as
    // fast as it is fed, and this keeps the signal contiguous in the output.
    sink.set_paused(true);
    sink.start().unwrap();
    let sig = signal();
    sink.write(&sig).unwrap();
    assert_eq!(sink.played_frames(), 0);
    sink.set_paused(false);
    let t0 = Instant::now();
    sink.stop().unwrap();
    eprintln!(
        "stop took {:?}; device latency {} ns",
        t0.elapsed(),
        sink.shared.latency_ns.load(Ordering::Relaxed)
    );
    assert_eq!(sink.played_frames(), SIGNAL_FRAMES as u64);
    // Afterwards: a fresh start, continuous writes, clear and pause must not fail.
    sink.start().unwrap();
    let silence = vec![0.0f32; 2 * 4410];
    for _ in 0..5 {
        sink.write(&silence).unwrap();
    }
    sink.clear();
    sink.set_paused(true);
    sink.set_paused(false);
    sink.stop().unwrap();
    let fmt = match sink.format() {
        DeviceFormat::F32 => "f32",
        DeviceFormat::I16 => "i16",
    };
    std::fs::write(report, fmt).unwrap();
}

#[test]
fn cpal_to_alsa_file_plugin() {
    if !tonearm_testkit::require(
        std::path::Path::new("/usr/share/alsa/alsa.conf").exists(),
        "ALSA's configuration (/usr/share/alsa/alsa.conf)",
        "cpal opens ALSA's file plugin through it (the libasound2 packages install it)",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("out.raw");
    let report = dir.path().join("report");
    std::fs::write(
        dir.path().join(".asoundrc"),
        format!(
            "pcm.!default {{\n  type file\n  slave.pcm \"null\"\n  file \"{}\"\n  format \"raw\"\n  truncate false\n}}\n",
            raw.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "audio::output::cpal::tests::alsa_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
        .env(CHILD_ENV, &report)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let fmt = std::fs::read_to_string(&report).expect("the child test did not run");
    let bytes = std::fs::read(&raw).unwrap();
    let sig = signal();
    // Decode the device's output in the format cpal chose, and compare to what the sink must
    // have produced.
    let (got, expect): (Vec<i64>, Vec<i64>) = match fmt.as_str() {
        "f32" => (
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]).to_bits() as i64)
                .collect(),
            sig.iter().map(|s| s.to_bits() as i64).collect(),
        ),
        _ => (
            bytes
                .chunks_exact(2)
                .map(|c| i64::from(i16::from_le_bytes([c[0], c[1]])))
                .collect(),
            sig.iter().map(|s| i64::from(f32_to_i16(*s))).collect(),
        ),
    };
    let start = got
        .iter()
        .position(|&v| v != 0)
        .expect("the signal never reached the device");
    assert_eq!(start % 2, 0, "frame-aligned");
    assert!(got.len() >= start + expect.len(), "signal cut short");
    assert_eq!(
        &got[start..start + expect.len()],
        &expect[..],
        "format {fmt}"
    );
    // Only silence around it (leading: the paused stream; trailing: the second run).
    assert!(got[start + expect.len()..].iter().all(|&v| v == 0));
}
