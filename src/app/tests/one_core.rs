//! The one-core flow test: the same phone command sequence sent to the TUI (through `update`
//! with `Msg::RemoteCommand`, its player effects executed on a real [`Player`]) and to the
//! daemon's path ([`control::apply_remote`], what `daemon.rs` calls for each command, on
//! another real `Player`) must leave both players with the same queue, in Spotify's order.
//! Both players run over the synthetic loader and a hand-clocked sink of the player's testkit.

use super::*;
use crate::control;
use crate::player::tests::testkit::{config, Harness, Pace, TrackSpec};
use crate::player::Player;

/// Long enough that nothing ends (or is preloaded) while the test runs.
const TRACK_FRAMES: u64 = 120 * 44_100;

fn harness() -> Harness {
    let specs: Vec<_> = (1..=9)
        .map(|n| (track_id(n).0, TrackSpec::frames(TRACK_FRAMES)))
        .collect();
    // A small blocking sink: the engine takes commands between writes, and the next track is
    // never decoded into the sink ahead of time (which would pin it in the queue).
    Harness::new(Pace::Clocked(Some(8192)), config(), &specs)
}

/// What the TUI's loop (`run.rs`) does: status and queue changes reach `update` as messages
/// (only when the watch changed), a command's player effects go to the player.
struct Tui {
    state: State,
    player: Player,
    status: tokio::sync::watch::Receiver<PlayerStatus>,
    queue: tokio::sync::watch::Receiver<QueueSnapshot>,
}

impl Tui {
    fn new(player: Player) -> Tui {
        let mut status = player.status();
        let mut queue = player.queue();
        let mut state = demo_state();
        update(
            &mut state,
            Msg::PlayerStatus(status.borrow_and_update().clone()),
        );
        update(&mut state, Msg::Queue(queue.borrow_and_update().clone()));
        Tui {
            state,
            player,
            status,
            queue,
        }
    }

    fn send(&mut self, cmd: &RemoteCommand) {
        if self.status.has_changed().unwrap_or(false) {
            let mut s = self.status.borrow_and_update().clone();
            // As the loop does (`run.rs`): the repeat mode as requested, not as last published.
            s.repeat = self.player.repeat();
            update(&mut self.state, Msg::PlayerStatus(s));
        }
        if self.queue.has_changed().unwrap_or(false) {
            let q = self.queue.borrow_and_update().clone();
            update(&mut self.state, Msg::Queue(q));
        }
        for effect in update(&mut self.state, Msg::RemoteCommand(cmd.clone())).effects {
            if let Effect::Player(op) = effect {
                self.player.apply(op);
            }
        }
    }
}

#[test]
fn phone_commands_leave_the_tui_and_the_daemon_with_the_same_queue_in_spotify_order() {
    let t = track_id;
    let commands = vec![
        // The phone plays an album of five tracks …
        RemoteCommand::Load {
            context_uri: uri("album", 1),
            ids: (1..=5).map(t).collect(),
            index: 0,
            position_ms: 0,
            play: true,
            shuffle: None,
            repeat_context: None,
            repeat_track: None,
        },
        // … queues two tracks (after the current one, in the order added, before the rest) …
        RemoteCommand::AddToQueue(t(9)),
        RemoteCommand::AddToQueue(t(8)),
        // … edits what plays next …
        RemoteCommand::SetQueue(vec![t(9), t(8), t(3)]),
        // … queues one more (after what it set) and skips.
        RemoteCommand::AddToQueue(t(7)),
        RemoteCommand::SkipNext,
    ];
    let mut tui_side = harness();
    let mut daemon_side = harness();
    let mut tui = Tui::new(tui_side.player.clone());
    // Back to back, as a phone's commands arrive: neither side waits for the player.
    for cmd in &commands {
        tui.send(cmd);
        control::apply_remote(&daemon_side.player, cmd);
    }
    let skipped = |q: &QueueSnapshot| q.current == Some(1);
    let from_tui = tui_side.wait_queue("the TUI's player skipped", skipped);
    let from_daemon = daemon_side.wait_queue("the daemon's player skipped", skipped);
    let from_tui_status = tui_side.wait_status("the TUI plays track 9", |s| {
        s.track.as_ref().is_some_and(|tr| tr.id == t(9))
    });
    tui_side.shutdown();
    daemon_side.shutdown();

    assert_eq!(from_tui, from_daemon, "the TUI and the daemon disagree");
    assert_eq!(
        from_tui,
        QueueSnapshot {
            items: vec![t(1), t(9), t(8), t(3), t(7)],
            current: Some(1),
        },
        "Spotify's order: set_queue's tracks follow the current one, a later addition follows them"
    );
    assert_eq!(from_tui_status.state, PlayState::Playing);
}

#[test]
fn back_to_back_repeat_flags_come_out_the_same_on_both_sides() {
    // Connect turns one `set_options` into two flag commands sent back to back; each is
    // refined against the current mode, which must include the first one already.
    let commands = vec![
        RemoteCommand::SetRepeatTrack(true),
        RemoteCommand::SetRepeatTrack(false),
        RemoteCommand::SetRepeatContext(false),
        RemoteCommand::SetRepeatContext(true),
        RemoteCommand::SetRepeatTrack(true),
        RemoteCommand::SetRepeatContext(false),
        RemoteCommand::SetRepeatTrack(false),
    ];
    let mut tui_side = harness();
    let mut daemon_side = harness();
    let mut tui = Tui::new(tui_side.player.clone());
    let mut wanted = RepeatMode::Off;
    for cmd in &commands {
        tui.send(cmd);
        control::apply_remote(&daemon_side.player, cmd);
        // One (context off): track off falls back to "all" — the flags are one mode here.
        wanted = match cmd {
            RemoteCommand::SetRepeatTrack(true) => RepeatMode::One,
            RemoteCommand::SetRepeatTrack(false) if wanted == RepeatMode::One => RepeatMode::All,
            RemoteCommand::SetRepeatContext(on) if wanted != RepeatMode::One => {
                control::repeat_mode(*on, false)
            }
            _ => wanted,
        };
        assert_eq!(daemon_side.player.repeat(), wanted, "daemon after {cmd:?}");
        assert_eq!(tui_side.player.repeat(), wanted, "TUI after {cmd:?}");
    }
    assert_eq!(wanted, RepeatMode::All);
    daemon_side.wait_status("the daemon's player repeats all", |s| {
        s.repeat == RepeatMode::All
    });
    tui_side.wait_status("the TUI's player repeats all", |s| {
        s.repeat == RepeatMode::All
    });
    tui_side.shutdown();
    daemon_side.shutdown();
}
