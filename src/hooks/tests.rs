//! The event → hook mapping, the argv splitting and `[hooks]` config, and real runs of `sh`
//! scripts: the environment arrives, a stuck hook is killed at its timeout, a busy kind keeps
//! only its newest waiting event.

use std::path::Path;
use std::time::{Duration, Instant};

use super::*;
use crate::local_api::schema::{Connection, Track};

fn conn(session: Link) -> Event {
    Event::Connection {
        connection: Connection {
            session,
            connect: Link::Online,
        },
    }
}

#[test]
fn events_map_to_hook_kinds_with_their_details() {
    let mut m = Memory::default();
    let h = hook_event(
        &mut m,
        &Event::Track {
            track: Some(Track {
                uri: "spotify:track:x".into(),
                name: "Sine".into(),
                artists: vec!["A".into(), "B".into()],
                album: "Pure".into(),
                duration_ms: 1000,
            }),
        },
    )
    .unwrap();
    assert_eq!(h.kind, "track_changed");
    assert!(h
        .env
        .contains(&("TONEARM_TRACK_URI", "spotify:track:x".into())));
    assert!(h.env.contains(&("TONEARM_TRACK_ARTISTS", "A, B".into())));
    let h = hook_event(&mut m, &Event::Paused { position_ms: 5 }).unwrap();
    assert_eq!(
        (h.kind, h.env),
        ("paused", vec![("TONEARM_POSITION_MS", "5".into())])
    );
    let h = hook_event(
        &mut m,
        &Event::Intruder {
            device_id: "d".into(),
            device_name: "n".into(),
            action: "paused".into(),
        },
    )
    .unwrap();
    assert_eq!(h.kind, "intruder");
    assert!(h.env.contains(&("TONEARM_DEVICE_ID", "d".into())));
    assert_eq!(hook_event(&mut m, &Event::Seek { position_ms: 1 }), None);
    assert_eq!(hook_event(&mut m, &Event::Lagged { missed: 1 }), None);
}

#[test]
fn connection_lost_and_restored_are_transitions() {
    let mut m = Memory::default();
    assert_eq!(hook_event(&mut m, &conn(Link::Connecting)), None);
    assert_eq!(
        hook_event(&mut m, &conn(Link::Online)),
        None,
        "first online"
    );
    assert_eq!(hook_event(&mut m, &conn(Link::Online)), None);
    let kind = |m: &mut Memory, l| hook_event(m, &conn(l)).map(|h| h.kind);
    assert_eq!(kind(&mut m, Link::Reconnecting), Some("connection_lost"));
    assert_eq!(kind(&mut m, Link::Offline), None, "still lost");
    assert_eq!(kind(&mut m, Link::Online), Some("connection_restored"));
}

#[test]
fn command_lines_split_like_a_shell_without_expansion() {
    let w = crate::config::split_argv(r#"notify-send  'a b' "c \"d\"" e\ f $HOME"#).unwrap();
    assert_eq!(w, ["notify-send", "a b", "c \"d\"", "e f", "$HOME"]);
    assert!(crate::config::split_argv("x 'y").is_err());
    assert!(crate::config::split_argv("x \"y").is_err());
    assert!(crate::config::split_argv("x\\").is_err());
}

#[test]
fn the_hooks_section_is_parsed_and_checked() {
    let p = Path::new("config.toml");
    assert_eq!(crate::config::parse("", p).unwrap().hooks, None);
    let h = crate::config::parse("[hooks]\non_event = \"/bin/hook --x 'a b'\"\n", p)
        .unwrap()
        .hooks
        .unwrap();
    assert_eq!(h.argv, ["/bin/hook", "--x", "a b"]);
    assert_eq!(h.timeout, Duration::from_secs(10));
    let h = crate::config::parse(
        "[hooks]\non_event = \"echo $X | tee f\"\nshell = true\ntimeout_s = 3\n",
        p,
    )
    .unwrap()
    .hooks
    .unwrap();
    assert_eq!(h.argv, ["/bin/sh", "-c", "echo $X | tee f"]);
    assert_eq!(h.timeout, Duration::from_secs(3));
    for bad in [
        "[hooks]\non_event = \"  \"\n",
        "[hooks]\non_event = \"a 'b\"\n",
        "[hooks]\non_event = \"a\"\ntimeout_s = 0\n",
        "[hooks]\nfoo = 1\n",
    ] {
        assert!(crate::config::parse(bad, p).is_err(), "{bad}");
    }
}

fn script(dir: &Path, body: &str) -> Vec<String> {
    let path = dir.join("hook.sh");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    vec!["/bin/sh".into(), path.display().to_string()]
}

#[test]
fn tonearms_own_variables_are_not_handed_on() {
    let mut cmd = Command::new("true");
    strip_own_vars(
        &mut cmd,
        ["TONEARM_CONTROL_TOKEN", "PATH", "TONEARM_SIM_PASSWORD"]
            .into_iter()
            .map(std::ffi::OsString::from),
    );
    let envs: Vec<_> = cmd.get_envs().collect();
    assert_eq!(
        envs,
        [
            (std::ffi::OsStr::new("TONEARM_CONTROL_TOKEN"), None),
            (std::ffi::OsStr::new("TONEARM_SIM_PASSWORD"), None),
        ]
    );
}

#[tokio::test]
async fn a_run_gets_the_environment_and_a_stuck_one_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let argv = script(
        dir.path(),
        &format!(
            "echo \"$TONEARM_EVENT $TONEARM_POSITION_MS\" >> {}",
            out.display()
        ),
    );
    let h = HookEvent {
        kind: "paused",
        env: vec![("TONEARM_POSITION_MS", "42".into())],
    };
    run(&argv, &h, Duration::from_secs(10)).await;
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "paused 42\n");
    let pid_file = dir.path().join("pid");
    let argv = script(
        dir.path(),
        &format!("echo $$ > {}\nsleep 1000\n", pid_file.display()),
    );
    let t = Instant::now();
    run(&argv, &h, Duration::from_secs(1)).await;
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "killed at the timeout: {took:?}"
    );
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(
        !Path::new(&format!("/proc/{}", pid.trim())).exists(),
        "the hook process is gone"
    );
}

#[tokio::test]
async fn a_busy_kind_runs_one_at_a_time_and_keeps_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let argv = script(
        dir.path(),
        &format!(
            "echo \"start $TONEARM_POSITION_MS\" >> {o}\nsleep 0.3\necho \"end $TONEARM_POSITION_MS\" >> {o}",
            o = out.display()
        ),
    );
    let (tx, rx) = broadcast::channel(16);
    let task = spawn(
        HookSettings {
            argv,
            timeout: Duration::from_secs(10),
        },
        rx,
    );
    for p in 1..=4 {
        tx.send(Event::Paused { position_ms: p }).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if text.lines().count() >= 4 || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Give a wrongly started third run time to show up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let text2 = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text, text2);
    assert_eq!(text, "start 1\nend 1\nstart 4\nend 4\n");
    task.abort();
}
