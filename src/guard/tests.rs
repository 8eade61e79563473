//! The guard's decisions, step by step with a made-up clock, and the `[guard]` config section.

use std::path::Path;
use std::time::{Duration, Instant};

use super::*;

const OWN: &str = "0000000000000000000000000000000000000001";
const PHONE: &str = "ph0ne";
const INTRUDER: &str = "bad1";

fn settings(action: GuardAction, allowed: &[&str]) -> GuardSettings {
    GuardSettings {
        allowed: allowed.iter().map(|s| s.to_string()).collect(),
        action,
        interval: Duration::from_secs(10),
    }
}

fn seen(id: &str, name: &str, playing: bool) -> Observed {
    Observed {
        device_id: id.into(),
        device_name: name.into(),
        playing,
    }
}

fn paused(id: &str) -> Vec<Action> {
    vec![
        Action::Report(Intruder {
            device_id: id.into(),
            device_name: "Kitchen".into(),
            response: Response::Paused,
        }),
        Action::Pause(id.into()),
    ]
}

#[test]
fn own_and_allowed_devices_are_left_alone() {
    let mut g = Guard::new(settings(GuardAction::Pause, &[PHONE, "living ROOM"]), OWN);
    let t = Instant::now();
    assert_eq!(g.step(Some(&seen(OWN, "x", true)), t), Decision::default());
    assert_eq!(
        g.step(Some(&seen(PHONE, "Phone", true)), t),
        Decision::default()
    );
    assert_eq!(
        g.step(Some(&seen("other", "Living Room", true)), t),
        Decision::default(),
        "names match case-insensitively"
    );
    assert_eq!(g.step(None, t), Decision::default());
    // A name is matched exactly, not as a prefix.
    assert!(!g.allows("other", "Living Room 2"));
    assert!(!g.allows("other", ""));
}

#[test]
fn pause_mode_pauses_at_once_then_every_interval_while_it_plays() {
    let mut g = Guard::new(settings(GuardAction::Pause, &[PHONE]), OWN);
    let t0 = Instant::now();
    let d = g.step(Some(&seen(INTRUDER, "Kitchen", true)), t0);
    assert_eq!(d.actions, paused(INTRUDER));
    assert_eq!(d.wake_at, Some(t0 + Duration::from_secs(10)));
    // Still playing 3 s later (a cluster update before the pause landed): wait for the interval.
    let d = g.step(
        Some(&seen(INTRUDER, "Kitchen", true)),
        t0 + Duration::from_secs(3),
    );
    assert!(d.actions.is_empty());
    assert_eq!(d.wake_at, Some(t0 + Duration::from_secs(10)));
    // Woken at the interval, still playing: paused again.
    let t1 = t0 + Duration::from_secs(10);
    let d = g.step(Some(&seen(INTRUDER, "Kitchen", true)), t1);
    assert_eq!(d.actions, paused(INTRUDER));
    // It paused; nothing to do, nothing to wake for.
    let d = g.step(
        Some(&seen(INTRUDER, "Kitchen", false)),
        t1 + Duration::from_secs(1),
    );
    assert_eq!(d, Decision::default());
    // Resumed long after: paused at once.
    let t2 = t1 + Duration::from_secs(60);
    assert_eq!(
        g.step(Some(&seen(INTRUDER, "Kitchen", true)), t2).actions,
        paused(INTRUDER)
    );
}

#[test]
fn a_resume_soon_after_a_pause_is_paused_when_the_interval_is_up() {
    let mut g = Guard::new(settings(GuardAction::Pause, &[]), OWN);
    let t0 = Instant::now();
    g.step(Some(&seen(INTRUDER, "Kitchen", true)), t0);
    g.step(
        Some(&seen(INTRUDER, "Kitchen", false)),
        t0 + Duration::from_secs(1),
    );
    let d = g.step(
        Some(&seen(INTRUDER, "Kitchen", true)),
        t0 + Duration::from_secs(2),
    );
    assert!(d.actions.is_empty());
    assert_eq!(d.wake_at, Some(t0 + Duration::from_secs(10)));
}

#[test]
fn another_intruder_starts_its_own_episode() {
    let mut g = Guard::new(settings(GuardAction::Pause, &[]), OWN);
    let t0 = Instant::now();
    g.step(Some(&seen(INTRUDER, "Kitchen", true)), t0);
    let d = g.step(
        Some(&seen("bad2", "Kitchen", true)),
        t0 + Duration::from_secs(1),
    );
    assert_eq!(d.actions, paused("bad2"));
}

#[test]
fn notify_mode_reports_once_per_playing_spell_and_never_pauses() {
    let mut g = Guard::new(settings(GuardAction::Notify, &[PHONE]), OWN);
    let t0 = Instant::now();
    let d = g.step(Some(&seen(INTRUDER, "Kitchen", true)), t0);
    assert_eq!(
        d.actions,
        vec![Action::Report(Intruder {
            device_id: INTRUDER.into(),
            device_name: "Kitchen".into(),
            response: Response::Notified,
        })]
    );
    assert_eq!(d.wake_at, None);
    let later = t0 + Duration::from_secs(30);
    assert!(g
        .step(Some(&seen(INTRUDER, "Kitchen", true)), later)
        .actions
        .is_empty());
    g.step(Some(&seen(INTRUDER, "Kitchen", false)), later);
    let d = g.step(Some(&seen(INTRUDER, "Kitchen", true)), later);
    assert_eq!(d.actions.len(), 1, "a new spell is reported again");
    assert!(d.actions.iter().all(|a| !matches!(a, Action::Pause(_))));
}

#[test]
fn an_allowed_id_is_not_overridden_by_a_name() {
    // Id first: an allowed id plays whatever it is called; ids match case-insensitively
    // (hex); a device with neither an allowed id nor an allowed name is not allowed.
    let g = Guard::new(settings(GuardAction::Pause, &[PHONE]), OWN);
    assert!(g.allows(PHONE, "Anything"));
    assert!(g.allows(&PHONE.to_uppercase(), ""));
    assert!(!g.allows(INTRUDER, "Kitchen"));
}

#[test]
fn the_config_section_is_parsed_and_checked() {
    let p = Path::new("config.toml");
    let cfg = crate::config::parse("", p).unwrap();
    assert_eq!(cfg.guard, None, "off when [guard] is absent");
    let cfg = crate::config::parse("[guard]\nallowed = [\"a\", \"Kitchen\"]\n", p).unwrap();
    assert_eq!(
        cfg.guard,
        Some(GuardSettings {
            allowed: vec!["a".into(), "Kitchen".into()],
            action: GuardAction::Notify,
            interval: Duration::from_secs(10),
        })
    );
    let cfg = crate::config::parse("[guard]\naction = \"pause\"\ninterval_s = 2\n", p).unwrap();
    let g = cfg.guard.unwrap();
    assert_eq!(g.action, GuardAction::Pause);
    assert_eq!(g.interval, Duration::from_secs(2));
    for bad in [
        "[guard]\naction = \"kill\"\n",
        "[guard]\ninterval_s = 0\n",
        "[guard]\nallowed = [\" \"]\n",
        "[guard]\nunknown = 1\n",
    ] {
        let e = crate::config::parse(bad, p).unwrap_err().to_string();
        assert!(e.contains("guard") || e.contains("unknown"), "{bad}: {e}");
    }
}
