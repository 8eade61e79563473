//! Event hooks (issue 13 §3): an in-process daemon with `[hooks] on_event` set to a script that
//! appends its `TONEARM_*` environment to a file; the scripted phone plays, pauses and skips on
//! it and the lines appear; a hook that sleeps forever is killed at its timeout while playback
//! goes on.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tonearm::config::HookSettings;

use crate::common::{sim, within};
use crate::guard::{active_is, phone_seeing, play_on, playing, Daemon};

fn script(dir: &Path, body: &str) -> Vec<String> {
    let path = dir.join("hook.sh");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    vec!["/bin/sh".into(), path.display().to_string()]
}

/// Waits until the file's lines satisfy `f`; panics with them when `secs` pass first.
async fn wait_lines(
    file: &Path,
    secs: u64,
    what: &str,
    f: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let lines: Vec<String> = std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect();
        if f(&lines) {
            return lines;
        }
        assert!(Instant::now() < deadline, "{what}: {lines:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn socket(dir: &Path) -> Option<PathBuf> {
    Some(dir.join("control.sock"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hooks_see_track_changes_and_pauses_in_their_environment() {
    let s = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events");
    let env_dump = dir.path().join("env");
    let argv = script(
        dir.path(),
        &format!(
            "echo \"$TONEARM_EVENT|$TONEARM_TRACK_URI|$TONEARM_TRACK_NAME|$TONEARM_POSITION_MS\" >> {}\nenv | grep '^TONEARM_' >> {}",
            out.display(),
            env_dump.display()
        ),
    );
    let d = Daemon::start_with(&s, "e2e-hooks-speaker", socket(dir.path()), |c| {
        c.hooks = Some(HookSettings {
            argv,
            timeout: Duration::from_secs(10),
        })
    })
    .await;
    let mut p = phone_seeing(&s, &[&d.id]).await;
    play_on(&mut p, &s, &d.id).await;
    let lines = wait_lines(&out, 15, "a track change and playing", |l| {
        l.iter()
            .any(|x| x.starts_with("track_changed|spotify:track:"))
            && l.iter().any(|x| x.starts_with("playing|"))
    })
    .await;
    let first = lines
        .iter()
        .find(|x| x.starts_with("track_changed|"))
        .unwrap()
        .split('|')
        .nth(1)
        .unwrap()
        .to_string();

    within(20, p.pause(Some(&d.id))).await.expect("pause");
    wait_lines(&out, 10, "a paused line", |l| {
        l.iter().any(|x| x.starts_with("paused|"))
    })
    .await;
    within(20, p.next(Some(&d.id))).await.expect("next");
    let lines = wait_lines(&out, 10, "a second track change", |l| {
        l.iter()
            .any(|x| x.starts_with("track_changed|spotify:track:") && !x.contains(&first))
    })
    .await;
    // Every track line names the track.
    for l in lines.iter().filter(|x| x.starts_with("track_changed|")) {
        assert!(!l.split('|').nth(2).unwrap_or("").is_empty(), "{l}");
    }
    // Only the documented details; nothing that looks like a secret.
    let env = std::fs::read_to_string(&env_dump).unwrap();
    for l in env.lines() {
        let key = l.split('=').next().unwrap();
        assert!(
            !key.contains("TOKEN") && !key.contains("PASSWORD") && !key.contains("CREDENTIAL"),
            "{l}"
        );
    }
    assert!(env.contains("TONEARM_EVENT=paused"), "{env}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hook_that_never_ends_is_killed_and_playback_goes_on() {
    let s = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let argv = script(
        dir.path(),
        &format!(
            "echo \"$TONEARM_EVENT $$\" >> {}\nsleep 1000",
            pids.display()
        ),
    );
    let d = Daemon::start_with(&s, "e2e-hooks-stuck", socket(dir.path()), |c| {
        c.hooks = Some(HookSettings {
            argv,
            timeout: Duration::from_secs(1),
        })
    })
    .await;
    let mut p = phone_seeing(&s, &[&d.id]).await;
    play_on(&mut p, &s, &d.id).await;
    let lines = wait_lines(&pids, 10, "the hook started", |l| {
        l.iter().any(|x| x.starts_with("playing "))
    })
    .await;
    // Killed at the timeout (1 s), with some slack for a loaded machine.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for l in &lines {
        let pid = l.split(' ').nth(1).unwrap();
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "hook {l} still runs"
        );
    }
    // Playback went on all along, and the device still takes commands.
    let st = p.status().await.expect("status");
    assert_eq!(st["is_playing"], true, "{st}");
    let before = st["track_uri"].clone();
    within(20, p.next(Some(&d.id))).await.expect("next");
    p.wait_for(Duration::from_secs(10), |c| {
        active_is(c, &d.id)
            && playing(c)
            && c.player_state
                .as_ref()
                .and_then(|ps| ps.track.as_ref())
                .is_some_and(|t| Some(t.uri.as_str()) != before.as_str())
    })
    .await
    .expect("the next track plays");
    d.stop().await;
    // Every run, the later ones too, is gone by its timeout.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = std::fs::read_to_string(&pids).unwrap();
    assert!(
        all.lines().count() > lines.len(),
        "later events ran too: {all}"
    );
    for l in all.lines() {
        let pid = l.split(' ').nth(1).unwrap();
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "hook {l} still runs"
        );
    }
}
