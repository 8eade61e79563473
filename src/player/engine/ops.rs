//! The engine's operations: each [`PlayerOp`] (and `stop`) applied to the queue, the transport
//! and the sink's segments — queue edits keep every index the engine holds on its entry
//! (`apply_remap`), and items already in the output are protected from removal.
//!
//! Part of the engine (`engine.rs`), on its thread; called from `Engine::command`.

use super::{AfterDrain, Engine, Join, MAX_POSITION_MS, RESTART_THRESHOLD_MS};
use crate::audio::pcm::frames_to_ms;
use crate::id::SpotifyId;
use crate::player::queue::{remap, Remap};
use crate::player::{PlayState, PlayerEvent, PlayerOp};

impl Engine {
    pub(super) fn op(&mut self, op: PlayerOp) {
        match op {
            PlayerOp::Load {
                ids,
                index,
                position_ms,
                play,
            } => self.load(ids, index, position_ms.min(MAX_POSITION_MS), play),
            PlayerOp::Play => self.play(),
            PlayerOp::Pause => {
                if self.derived_state() != PlayState::Stopped {
                    self.paused = true;
                }
            }
            PlayerOp::Toggle => match self.derived_state() {
                PlayState::Playing => self.paused = true,
                PlayState::Loading => self.paused = !self.paused,
                PlayState::Paused | PlayState::Stopped => self.play(),
            },
            PlayerOp::Seek(ms) => self.seek(ms.min(MAX_POSITION_MS)),
            PlayerOp::Next => self.next(),
            PlayerOp::Previous => self.previous(),
            PlayerOp::SetVolume(v) => {
                if v != self.volume {
                    self.volume = v;
                    self.emit(PlayerEvent::VolumeChanged(v));
                }
            }
            PlayerOp::PlayNext(ids) => {
                let pos = self.lined_up_last().map_or(0, |i| i + 1);
                let map = self.queue.insert_at(pos, ids);
                self.apply_remap(&map);
            }
            PlayerOp::AddToQueue(ids) => {
                let after = self.lined_up_last();
                let pos = match (self.queued_end, after) {
                    (Some(end), Some(a)) if end > a => end + 1,
                    (Some(end), None) => end + 1,
                    _ => after.map_or(0, |i| i + 1),
                };
                let n = ids.len();
                let map = self.queue.insert_at(pos.min(self.queue.len()), ids);
                self.apply_remap(&map);
                if n > 0 {
                    self.queued_end = Some(pos.min(self.queue.len() - n) + n - 1);
                }
            }
            PlayerOp::Remove(index) => {
                if self.protected().contains(&index) {
                    tracing::debug!(index, "not removing the item being played");
                } else if let Some(map) = self.queue.remove(index) {
                    self.apply_remap(&map);
                } else {
                    tracing::debug!(index, "remove: no such queue item");
                }
            }
            PlayerOp::Move { from, to } => match self.queue.move_item(from, to) {
                Some(map) => self.apply_remap(&map),
                None => tracing::debug!(from, to, "move: no such queue item"),
            },
            PlayerOp::ClearQueue => {
                let mut keep = self.protected();
                keep.extend(self.queue.current);
                let map = self.queue.retain(&keep);
                self.apply_remap(&map);
            }
            PlayerOp::ClearAfterCurrent => {
                let mut keep = self.protected();
                keep.extend(self.queue.current.map_or(0..0, |c| 0..c + 1));
                let map = self.queue.retain(&keep);
                self.apply_remap(&map);
            }
            PlayerOp::SetRepeat(mode) => self.repeat = mode,
            PlayerOp::SetShuffle(on) => {
                if on != self.queue.shuffled() {
                    self.queue.set_shuffled(on);
                    let map = if on {
                        let mut head: Vec<usize> = self.queue.current.into_iter().collect();
                        head.extend(self.protected());
                        self.queue.shuffle(&head)
                    } else {
                        self.queue.unshuffle()
                    };
                    self.apply_remap(&map);
                }
            }
        }
    }

    /// Queue items already in the output (or being loaded for it): not removable.
    pub(super) fn protected(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.segments.iter().filter_map(|s| s.index).collect();
        v.extend(self.pending.as_ref().map(|p| p.index));
        v
    }

    /// Keeps every index the engine holds on the same entries after a queue edit.
    /// The item lined up last: it may already be in the sink after the heard one, or loading
    /// to follow it.
    pub(super) fn lined_up_last(&self) -> Option<usize> {
        self.pending
            .as_ref()
            .map(|p| p.index)
            .or(self.segments.back().and_then(|s| s.index))
            .or(self.queue.current)
    }

    pub(super) fn apply_remap(&mut self, map: &Remap) {
        self.queued_end = remap(map, self.queued_end);
        for s in &mut self.segments {
            s.index = remap(map, s.index);
        }
        if let Some(p) = &mut self.pending {
            match remap(map, Some(p.index)) {
                Some(i) => p.index = i,
                None => {
                    // Protected from removal, so this does not happen; drop it to be safe.
                    let req = p.req;
                    self.pending = None;
                    self.cancel(req);
                }
            }
        }
        if let Some(p) = &mut self.preload {
            match remap(map, Some(p.index)) {
                Some(i) => p.index = i,
                None => self.drop_preload(),
            }
        }
        if let Some(AfterDrain::Advance { from, .. }) = &mut self.after_drain {
            *from = remap(map, *from);
        }
        self.queue_dirty = true;
    }

    pub(super) fn load(
        &mut self,
        ids: Vec<SpotifyId>,
        start_index: usize,
        position_ms: u64,
        play: bool,
    ) {
        self.cut();
        self.drop_preload();
        self.queue.replace(ids);
        self.queued_end = None;
        self.queue_dirty = true;
        self.paused = !play;
        self.skip_failures = 0;
        if start_index >= self.queue.len() {
            tracing::debug!(
                start_index,
                len = self.queue.len(),
                "load: start index out of range"
            );
            return;
        }
        let mut start = start_index;
        if self.queue.shuffled() {
            let map = self.queue.shuffle(&[start_index]);
            start = remap(&map, Some(start_index)).unwrap_or(0);
        }
        self.begin_track(start, Join::Cut, position_ms);
    }

    pub(super) fn play(&mut self) {
        match self.derived_state() {
            PlayState::Playing => {}
            PlayState::Paused | PlayState::Loading => self.paused = false,
            PlayState::Stopped => {
                let target = self
                    .queue
                    .current
                    .filter(|&i| i < self.queue.len())
                    .or(if self.queue.is_empty() { None } else { Some(0) });
                if let Some(t) = target {
                    self.paused = false;
                    self.skip_failures = 0;
                    self.begin_track(t, Join::Cut, 0);
                }
            }
        }
    }

    pub(super) fn stop(&mut self) {
        self.cut();
        self.drop_preload();
        self.paused = false;
    }

    pub(super) fn seek(&mut self, ms: u64) {
        let held_continuation = self.pending.as_ref().is_some_and(|p| {
            p.transient.is_some()
                && self.segments.len() == 1
                && self
                    .segments
                    .front()
                    .is_some_and(|s| s.index == Some(p.index))
        });
        if held_continuation {
            // The heard track stalled and is held: its source is broken, so the seek goes to
            // the reload, which starts there (and is heard at once).
            self.clear_sink();
            self.segments.clear();
            self.after_drain = None;
        }
        if self.segments.is_empty() {
            // Loading: the track will start there.
            if let Some(p) = &mut self.pending {
                p.position_ms = ms;
                // A held continuation now starts where the user asked instead.
                if let Some(t) = &mut p.transient {
                    t.resume_frame = None;
                    p.join = Join::Cut;
                }
            }
            return;
        }
        self.clear_sink();
        self.segments.truncate(1);
        self.cancel_pending();
        self.after_drain = None;
        let written = self.written;
        let Some(front) = self.segments.front_mut() else {
            return;
        };
        let ms = front.source.duration_ms().map_or(ms, |d| ms.min(d));
        match front.source.seek(ms) {
            Ok(frame) => {
                front.sink_start = written;
                front.src_start = frame;
                front.sink_end = None;
                self.emit(PlayerEvent::Seeked {
                    position_ms: frames_to_ms(frame),
                });
            }
            Err(e) => {
                let id = front.info.id;
                front.sink_end = None;
                front.sink_start = written;
                self.emit(PlayerEvent::Error {
                    id,
                    reason: e.message,
                    skipped: true,
                });
                self.source_ended(true);
            }
        }
    }

    pub(super) fn next(&mut self) {
        let from = self.heard_index();
        if self.queue.is_empty() {
            return;
        }
        let target = self.queue.next_index(from, self.repeat, true);
        if self.derived_state() == PlayState::Stopped {
            // From stopped, `next` starts playing; otherwise play/pause stays as it was.
            self.paused = false;
        }
        self.cut();
        self.skip_failures = 0;
        match target {
            Some(t) => self.begin_track(t, Join::Cut, 0),
            None => self.end_of_queue(),
        }
    }

    pub(super) fn previous(&mut self) {
        if !self.segments.is_empty() && self.position_ms() > RESTART_THRESHOLD_MS {
            self.seek(0);
            return;
        }
        let from = self.heard_index();
        match self.queue.prev_index(from, self.repeat) {
            Some(t) => {
                if self.derived_state() == PlayState::Stopped {
                    self.paused = false;
                }
                self.cut();
                self.skip_failures = 0;
                self.begin_track(t, Join::Cut, 0);
            }
            None => {
                if !self.segments.is_empty() {
                    self.seek(0);
                }
            }
        }
    }

    /// The item being heard (or loading to be heard, or current while stopped).
    pub(super) fn heard_index(&self) -> Option<usize> {
        self.segments
            .front()
            .and_then(|s| s.index)
            .or(self.pending.as_ref().map(|p| p.index))
            .or(self.queue.current)
    }
}
