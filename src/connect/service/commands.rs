//! The phone's side of the Connect service: the [`Worker`] task that takes the dealer's player
//! command requests one at a time (so a `play` whose context is being resolved is not overtaken
//! by the `pause` after it), resolves their contexts through spclient, turns them into
//! [`RemoteCommand`]s on the service's event channel, tells the service task what became
//! active (`Ctl::Activated` / `Ctl::Commanded`), and replies to each request.
//!
//! Started by [`super::Connect::start_with`]; parsing and context resolution are
//! `connect::command`'s. Never depends on UI code or the simulator.

use tokio::sync::mpsc;

use super::{ConnectDeps, Ctl};
use crate::connect::command::{self, CommandRequest, PlayerCommand};
use crate::connect::dealer::{Dealer, DealerRequest};
use crate::connect::state;
use crate::connect::{ConnectEvent, RemoteCommand};

/// Turns dealer command requests into [`RemoteCommand`]s, one at a time (so a `play` whose
/// context is being resolved is not overtaken by the `pause` after it), and replies.
pub(super) struct Worker {
    pub(super) deps: ConnectDeps,
    pub(super) dealer: Dealer,
    pub(super) events: mpsc::UnboundedSender<ConnectEvent>,
    pub(super) ctl: mpsc::UnboundedSender<Ctl>,
}

impl Worker {
    pub(super) async fn run(self, mut rx: mpsc::UnboundedReceiver<DealerRequest>) {
        while let Some(req) = rx.recv().await {
            let ok = match command::parse_command(&req.payload) {
                Ok(cmd) => {
                    let endpoint = cmd.endpoint.clone();
                    match self.handle(cmd).await {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::warn!(%endpoint, "player command failed: {e}");
                            false
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!("player command refused: {e}");
                    false
                }
            };
            self.dealer.reply(&req.key, ok);
        }
    }

    fn emit(&self, cmd: RemoteCommand) -> Result<(), String> {
        self.events
            .send(ConnectEvent::Command(cmd))
            .map_err(|_| "nobody takes commands any more".to_string())
    }

    async fn handle(&self, req: CommandRequest) -> Result<(), String> {
        tracing::info!(endpoint = %req.endpoint, from = %req.sent_by_device_id, "player command");
        let sp = &self.deps.spclient;
        let by = req.sent_by_device_id.clone();
        let message_id = req.message_id;
        let mut activated = None;
        let cmds: Vec<RemoteCommand> = match req.command {
            PlayerCommand::Transfer {
                state,
                restore_paused,
            } => {
                let load = command::transfer_to_load(
                    sp,
                    &state,
                    restore_paused.as_deref(),
                    state::unix_ms(),
                )
                .await
                .map_err(|e| e.to_string())?;
                activated = Some(load_context(&load));
                vec![load]
            }
            PlayerCommand::Play { context, options } => {
                let load = command::play_to_load(sp, &context, &options)
                    .await
                    .map_err(|e| e.to_string())?;
                activated = Some(load_context(&load));
                vec![load]
            }
            PlayerCommand::Pause => vec![RemoteCommand::Pause],
            PlayerCommand::Resume => vec![RemoteCommand::Resume],
            PlayerCommand::SeekTo { value, relative } => {
                let st = self.deps.player.status().borrow().clone();
                let now = state::position_now(&st, std::time::Instant::now());
                vec![RemoteCommand::SeekTo(command::seek_target(
                    value, relative, now,
                ))]
            }
            PlayerCommand::SkipNext => vec![RemoteCommand::SkipNext],
            PlayerCommand::SkipPrev => vec![RemoteCommand::SkipPrev],
            PlayerCommand::SetShuffle(on) => vec![RemoteCommand::SetShuffle(on)],
            PlayerCommand::SetRepeatContext(on) => vec![RemoteCommand::SetRepeatContext(on)],
            PlayerCommand::SetRepeatTrack(on) => vec![RemoteCommand::SetRepeatTrack(on)],
            PlayerCommand::SetOptions {
                shuffle,
                repeat_context,
                repeat_track,
            } => {
                let mut v = Vec::new();
                if let Some(on) = shuffle {
                    v.push(RemoteCommand::SetShuffle(on));
                }
                // Repeat-track wins while on; so its "off" goes first and the context's state
                // last, and its "on" last.
                match (repeat_context, repeat_track) {
                    (c, Some(true)) => {
                        if let Some(c) = c {
                            v.push(RemoteCommand::SetRepeatContext(c));
                        }
                        v.push(RemoteCommand::SetRepeatTrack(true));
                    }
                    (c, t) => {
                        if let Some(t) = t {
                            v.push(RemoteCommand::SetRepeatTrack(t));
                        }
                        if let Some(c) = c {
                            v.push(RemoteCommand::SetRepeatContext(c));
                        }
                    }
                }
                v
            }
            PlayerCommand::AddToQueue(t) => {
                let id = command::track_id(&t).ok_or("add_to_queue: not a track")?;
                vec![RemoteCommand::AddToQueue(id)]
            }
            PlayerCommand::SetQueue { next } => {
                let (ids, _) = command::ids_of(&next);
                vec![RemoteCommand::SetQueue(ids)]
            }
            PlayerCommand::UpdateContext(ctx) => {
                // The context changed (e.g. a playlist was edited): what follows the current
                // track becomes the new context's tracks after it.
                let tracks = command::tracks_of(sp, &ctx)
                    .await
                    .map_err(|e| e.to_string())?;
                let (ids, _) = command::ids_of(&tracks);
                let current = self
                    .deps
                    .player
                    .status()
                    .borrow()
                    .track
                    .as_ref()
                    .map(|t| t.id);
                let after = match current.and_then(|c| ids.iter().position(|&i| i == c)) {
                    Some(at) => ids[at + 1..].to_vec(),
                    None => ids,
                };
                vec![RemoteCommand::SetQueue(after)]
            }
        };
        match activated {
            Some(context_uri) => {
                let _ = self.ctl.send(Ctl::Activated {
                    context_uri,
                    by,
                    message_id,
                });
            }
            None => {
                let _ = self.ctl.send(Ctl::Commanded { by, message_id });
            }
        }
        for c in cmds {
            self.emit(c)?;
        }
        Ok(())
    }
}

fn load_context(cmd: &RemoteCommand) -> String {
    match cmd {
        RemoteCommand::Load { context_uri, .. } => context_uri.clone(),
        _ => String::new(),
    }
}
