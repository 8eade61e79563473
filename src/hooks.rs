//! Event hooks (`[hooks] on_event`): runs the user's command for track changes, play/pause,
//! the device guard's intruders and the connection lost/restored, with the details in
//! `TONEARM_*` environment variables (never credentials or tokens). No shell unless the config
//! asks; each run is killed after its timeout; at most one run per event kind at a time, with
//! the newest event of a busy kind waiting (older ones of that kind are dropped), so a slow or
//! stuck hook never piles up processes and never blocks playback (runs are separate tasks fed
//! by the event bus, not by the player).
//!
//! Started by the daemon and the TUI on the control API's event bus ([`spawn`]);
//! [`hook_event`] is the pure mapping from bus events. Depends on `config` and the control
//! API's event schema; never on app, ui or cli.

use std::collections::{HashMap, HashSet};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::config::HookSettings;
use crate::local_api::schema::{Event, Link};

/// How often a running hook is checked for having exited.
const POLL: Duration = Duration::from_millis(50);

/// One run's kind and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookEvent {
    /// `TONEARM_EVENT`: `track_changed`, `playing`, `paused`, `stopped`, `intruder`,
    /// `connection_lost`, `connection_restored`.
    pub kind: &'static str,
    pub env: Vec<(&'static str, String)>,
}

/// What [`hook_event`] remembers between events: whether the session was last online.
#[derive(Debug, Clone, Default)]
pub struct Memory {
    online: Option<bool>,
}

/// The hook run `event` calls for, if any.
pub fn hook_event(mem: &mut Memory, event: &Event) -> Option<HookEvent> {
    let ev = |kind, env| Some(HookEvent { kind, env });
    match event {
        Event::Track { track } => {
            let mut env = Vec::new();
            if let Some(t) = track {
                env.push(("TONEARM_TRACK_URI", t.uri.clone()));
                env.push(("TONEARM_TRACK_NAME", t.name.clone()));
                env.push(("TONEARM_TRACK_ARTISTS", t.artists.join(", ")));
                env.push(("TONEARM_TRACK_ALBUM", t.album.clone()));
                env.push(("TONEARM_TRACK_DURATION_MS", t.duration_ms.to_string()));
            }
            ev("track_changed", env)
        }
        Event::Playing { position_ms } => ev(
            "playing",
            vec![("TONEARM_POSITION_MS", position_ms.to_string())],
        ),
        Event::Paused { position_ms } => ev(
            "paused",
            vec![("TONEARM_POSITION_MS", position_ms.to_string())],
        ),
        Event::Stopped => ev("stopped", Vec::new()),
        Event::Intruder {
            device_id,
            device_name,
            action,
        } => ev(
            "intruder",
            vec![
                ("TONEARM_DEVICE_ID", device_id.clone()),
                ("TONEARM_DEVICE_NAME", device_name.clone()),
                ("TONEARM_GUARD_ACTION", action.clone()),
            ],
        ),
        Event::Connection { connection } => {
            let online = match connection.session {
                Link::Online => true,
                Link::Reconnecting | Link::Offline => false,
                // Still starting: neither lost nor restored.
                Link::Connecting | Link::Off => return None,
            };
            let before = mem.online.replace(online);
            match (before, online) {
                (Some(true), false) => ev("connection_lost", Vec::new()),
                (Some(false), true) => ev("connection_restored", Vec::new()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Runs hooks for the events on `bus` until it closes or the handle is aborted.
pub fn spawn(settings: HookSettings, mut bus: broadcast::Receiver<Event>) -> JoinHandle<()> {
    tracing::info!(
        program = %crate::logging::escaped(settings.argv.first().map_or("", String::as_str)),
        timeout_s = settings.timeout.as_secs(),
        "event hooks on"
    );
    tokio::spawn(async move {
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<&'static str>();
        let mut running: HashSet<&'static str> = HashSet::new();
        let mut waiting: HashMap<&'static str, HookEvent> = HashMap::new();
        let mut mem = Memory::default();
        loop {
            tokio::select! {
                ev = bus.recv() => match ev {
                    Ok(ev) => {
                        let Some(h) = hook_event(&mut mem, &ev) else { continue };
                        if running.contains(h.kind) {
                            // The newest of a busy kind waits; what it replaces is stale.
                            waiting.insert(h.kind, h);
                        } else {
                            running.insert(h.kind);
                            start(&settings, h, done_tx.clone());
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "event hooks fell behind the event bus");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                Some(kind) = done_rx.recv() => match waiting.remove(kind) {
                    Some(h) => start(&settings, h, done_tx.clone()),
                    None => {
                        running.remove(kind);
                    }
                },
            }
        }
    })
}

/// Starts one run in its own task; `done` hears its kind when it is over.
fn start(settings: &HookSettings, h: HookEvent, done: mpsc::UnboundedSender<&'static str>) {
    let argv = settings.argv.clone();
    let timeout = settings.timeout;
    tokio::spawn(async move {
        run(&argv, &h, timeout).await;
        let _ = done.send(h.kind);
    });
}

/// One run: spawned in its own process group, its `TONEARM_*` environment only the event's,
/// polled (no blocking wait), killed with its group after `timeout`.
async fn run(argv: &[String], h: &HookEvent, timeout: Duration) {
    let Some((program, args)) = argv.split_first() else {
        return;
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    strip_own_vars(&mut cmd, std::env::vars_os().map(|(k, _)| k));
    cmd.env("TONEARM_EVENT", h.kind);
    for (k, v) in &h.env {
        // A NUL cannot be in the environment; the rest is passed as is (never to a shell line).
        cmd.env(k, v.replace('\0', ""));
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(
                program = %crate::logging::escaped(program),
                "event hook cannot start: {e}"
            );
            return;
        }
    };
    let mut child = Running(Some(child));
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                if !status.success() {
                    tracing::info!(kind = h.kind, %status, "event hook failed");
                }
                return;
            }
            Ok(None) if tokio::time::Instant::now() >= deadline => break,
            Ok(None) => tokio::time::sleep(POLL).await,
            Err(e) => {
                tracing::warn!("cannot wait for the event hook: {e}");
                break;
            }
        }
    }
    tracing::warn!(kind = h.kind, ?timeout, "event hook timed out; killed");
    let _ = tokio::task::spawn_blocking(move || drop(child)).await;
}

/// tonearm's own variables (`TONEARM_CONTROL_TOKEN`, `TONEARM_SIM_PASSWORD`, …) stay with
/// tonearm: removed from `cmd`'s environment (`inherited`: the names tonearm has), so the hook
/// sees only the `TONEARM_*` set for it afterwards.
fn strip_own_vars(cmd: &mut Command, inherited: impl Iterator<Item = std::ffi::OsString>) {
    for k in inherited {
        if k.to_string_lossy().starts_with("TONEARM_") {
            cmd.env_remove(k);
        }
    }
}

/// A hook process that is killed, with its process group, unless it was seen to exit: at the
/// timeout, and when its task is dropped (the runtime shutting down) — no hook outlives tonearm's
/// watch over it.
struct Running(Option<std::process::Child>);

impl Running {
    /// `Ok(Some)` once exited (then nothing is left to kill).
    fn try_wait(&mut self) -> std::io::Result<Option<std::process::ExitStatus>> {
        let Some(c) = self.0.as_mut() else {
            return Ok(None);
        };
        let r = c.try_wait();
        if matches!(r, Ok(Some(_))) {
            self.0 = None;
        }
        r
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let Some(mut child) = self.0.take() else {
            return;
        };
        // The group too: what the hook started (a shell's children) goes with it. `kill(1)`
        // rather than FFI (the crate denies unsafe code); the child itself is killed either way.
        let group = format!("-{}", child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = child.kill();
        // Reaped (no zombie); SIGKILL makes this immediate.
        let _ = child.wait();
    }
}

#[cfg(test)]
mod tests;
