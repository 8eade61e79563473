//! The device guard (`[guard]`): watches which device plays on the account and, when one that
//! is not on the allow-list is the active device and playing, reports it (log line, control-API
//! event, TUI notification — through the host's callback) and with `action = "pause"` pauses it,
//! again every interval while it keeps playing. The decision is [`Guard::step`], pure (state and
//! time in, actions out); [`spawn`] runs it on Connect's pushed remote-playback watch (fed by the
//! dealer's cluster updates, no polling) and pauses through the controller's command path.
//!
//! Started by the daemon and the TUI once Connect runs. Depends on `config` and `connect`
//! (types, the [`Controller`] trait); never on app, ui, cli or the control API (the host's
//! callback carries reports there).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::config::{GuardAction, GuardSettings};
use crate::connect::{Controller, RemoteControl, RemotePlayback};

/// What the guard sees of the account's active device (when it is not this one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub device_id: String,
    pub device_name: String,
    pub playing: bool,
}

impl From<&RemotePlayback> for Observed {
    fn from(r: &RemotePlayback) -> Observed {
        Observed {
            device_id: r.device_id.clone(),
            device_name: r.device_name.clone(),
            playing: r.is_playing,
        }
    }
}

/// What the guard did about an intruder, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    /// Reported only (`action = "notify"`).
    Notified,
    /// Reported and told to pause.
    Paused,
}

impl Response {
    pub fn as_str(self) -> &'static str {
        match self {
            Response::Notified => "notified",
            Response::Paused => "paused",
        }
    }
}

/// A device not on the list playing on the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intruder {
    pub device_id: String,
    pub device_name: String,
    pub response: Response,
}

/// One thing to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Report(Intruder),
    /// Send `pause` to this device.
    Pause(String),
}

/// The actions for now, and when to be asked again though nothing changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub actions: Vec<Action>,
    pub wake_at: Option<Instant>,
}

/// The guard's memory of the current intruder.
#[derive(Debug, Clone)]
struct Episode {
    device_id: String,
    /// This playing spell has been reported (notify mode reports once per spell).
    reported: bool,
    last_pause: Option<Instant>,
}

/// The decision state: settings, this device's id, the current episode.
#[derive(Debug, Clone)]
pub struct Guard {
    settings: GuardSettings,
    own_id: String,
    episode: Option<Episode>,
}

impl Guard {
    pub fn new(settings: GuardSettings, own_id: impl Into<String>) -> Guard {
        Guard {
            settings,
            own_id: own_id.into(),
            episode: None,
        }
    }

    /// Whether `device` may play: this device, an allowed id, or (a convenience: names are
    /// spoofable) an allowed name, case-insensitively.
    pub fn allows(&self, device_id: &str, device_name: &str) -> bool {
        if device_id == self.own_id {
            return true;
        }
        let allowed = &self.settings.allowed;
        allowed.iter().any(|a| a.eq_ignore_ascii_case(device_id))
            || (!device_name.is_empty()
                && allowed
                    .iter()
                    .any(|a| a.to_lowercase() == device_name.to_lowercase()))
    }

    /// The account's active device is now `seen` (`None`: none, or this one): what to do at
    /// `now`. Pauses are at most one per interval per device; a device that stays active but
    /// paused keeps its last pause time, so a resume soon after is paused when the interval is
    /// up (`wake_at`), a later one at once.
    pub fn step(&mut self, seen: Option<&Observed>, now: Instant) -> Decision {
        let Some(seen) = seen.filter(|s| !self.allows(&s.device_id, &s.device_name)) else {
            self.episode = None;
            return Decision::default();
        };
        let ep = match &mut self.episode {
            Some(e) if e.device_id == seen.device_id => e,
            other => other.insert(Episode {
                device_id: seen.device_id.clone(),
                reported: false,
                last_pause: None,
            }),
        };
        if !seen.playing {
            ep.reported = false;
            return Decision::default();
        }
        let intruder = |response| Intruder {
            device_id: seen.device_id.clone(),
            device_name: seen.device_name.clone(),
            response,
        };
        let mut d = Decision::default();
        match self.settings.action {
            GuardAction::Notify => {
                if !ep.reported {
                    ep.reported = true;
                    d.actions.push(Action::Report(intruder(Response::Notified)));
                }
            }
            GuardAction::Pause => {
                let due = ep.last_pause.map_or(now, |t| t + self.settings.interval);
                if now >= due {
                    ep.last_pause = Some(now);
                    ep.reported = true;
                    d.actions.push(Action::Report(intruder(Response::Paused)));
                    d.actions.push(Action::Pause(seen.device_id.clone()));
                    // Still playing an interval from now (the pause did not take): again.
                    d.wake_at = Some(now + self.settings.interval);
                } else {
                    d.wake_at = Some(due);
                }
            }
        }
        d
    }
}

/// Runs the guard on `controller`'s remote-playback watch until that ends (Connect stopped) or
/// the handle is aborted. `report` gets every intruder (after the log line).
pub fn spawn(
    settings: GuardSettings,
    own_id: String,
    controller: Arc<dyn Controller>,
    report: impl Fn(&Intruder) + Send + 'static,
) -> JoinHandle<()> {
    let mut remote = controller.remote();
    // Weak: a guard never keeps a stopped Connect service alive.
    let controller = Arc::downgrade(&controller);
    tracing::info!(
        action = ?settings.action,
        allowed = settings.allowed.len(),
        interval_s = settings.interval.as_secs(),
        "device guard on"
    );
    let mut guard = Guard::new(settings, own_id);
    tokio::spawn(async move {
        loop {
            let seen = remote.borrow_and_update().as_ref().map(Observed::from);
            let d = guard.step(seen.as_ref(), Instant::now());
            for a in d.actions {
                match a {
                    Action::Report(i) => {
                        tracing::warn!(
                            device = %crate::logging::escaped(&i.device_name),
                            id = %crate::logging::escaped(&i.device_id),
                            response = i.response.as_str(),
                            "device guard: a device not on the allow-list is playing"
                        );
                        report(&i);
                    }
                    Action::Pause(id) => match controller.upgrade() {
                        Some(c) => c.control(id, RemoteControl::Pause),
                        None => return,
                    },
                }
            }
            let wake = d.wake_at.map(|t| {
                tokio::time::Instant::from_std(t)
                    .max(tokio::time::Instant::now() + Duration::from_millis(1))
            });
            tokio::select! {
                r = remote.changed() => if r.is_err() { return },
                _ = async {
                    match wake {
                        Some(t) => tokio::time::sleep_until(t).await,
                        None => std::future::pending().await,
                    }
                } => {}
            }
        }
    })
}

#[cfg(test)]
mod tests;
