//! The engine's loads: asking the loader task for a track (and cancelling), starting a queue
//! item from its preload or a fresh load, installing a loaded track as a segment, skipping or
//! stopping when a load fails, and keeping the next item's preload in step with the queue.
//!
//! Part of the engine (`engine.rs`), on its thread. Loads never block it: results arrive as
//! `EngineMsg::Loaded` and are matched by request number.

use super::{AfterDrain, Engine, Join, Pending, Preload, PreloadState, Segment};
use crate::audio::pcm::frames_to_ms;
use crate::id::SpotifyId;
use crate::player::gain::normalisation_factor;
use crate::player::loader::{LoadError, LoadErrorKind, LoadedTrack};
use crate::player::msg::LoaderRequest;
use crate::player::PlayerEvent;

impl Engine {
    pub(super) fn request(&mut self, id: SpotifyId) -> u64 {
        let req = self.next_req;
        self.next_req += 1;
        if self.ch.loads.send(LoaderRequest::Load { req, id }).is_err() {
            tracing::error!("the player's loader task is gone");
        }
        req
    }

    pub(super) fn cancel(&self, req: u64) {
        let _ = self.ch.loads.send(LoaderRequest::Cancel { req });
    }

    pub(super) fn cancel_pending(&mut self) {
        if let Some(p) = self.pending.take() {
            self.cancel(p.req);
        }
    }

    pub(super) fn drop_preload(&mut self) {
        if let Some(p) = self.preload.take() {
            if matches!(p.state, PreloadState::Loading) {
                self.cancel(p.req);
            }
        }
    }

    /// Starts playing queue item `index`: from the preload when it has it, else via a load.
    pub(super) fn begin_track(&mut self, index: usize, join: Join, position_ms: u64) {
        let Some(id) = self.queue.id(index) else {
            tracing::debug!(index, "begin_track: no such queue item");
            return;
        };
        self.cancel_pending();
        if join == Join::Cut || self.segments.is_empty() {
            self.queue.current = Some(index);
            self.queue_dirty = true;
        }
        let preload = match self.preload.take() {
            Some(p) if p.index == index && p.id == id => Some(p),
            other => {
                self.preload = other;
                None
            }
        };
        match preload {
            Some(Preload {
                state: PreloadState::Ready(track),
                ..
            }) => self.install(track, index, join, position_ms),
            Some(Preload {
                state: PreloadState::Failed(e),
                ..
            }) => self.load_failed(index, id, e, join),
            Some(Preload {
                req,
                state: PreloadState::Loading,
                ..
            }) => {
                self.pending = Some(Pending {
                    req,
                    index,
                    id,
                    position_ms,
                    join,
                })
            }
            None => {
                let req = self.request(id);
                self.pending = Some(Pending {
                    req,
                    index,
                    id,
                    position_ms,
                    join,
                });
            }
        }
    }

    pub(super) fn loaded(&mut self, req: u64, result: Result<LoadedTrack, LoadError>) {
        if self.pending.as_ref().is_some_and(|p| p.req == req) {
            let Some(p) = self.pending.take() else {
                return;
            };
            match result {
                Ok(track) => self.install(track, p.index, p.join, p.position_ms),
                Err(e) => self.load_failed(p.index, p.id, e, p.join),
            }
        } else if let Some(p) = self.preload.as_mut().filter(|p| p.req == req) {
            p.state = match result {
                Ok(track) => PreloadState::Ready(track),
                Err(e) => PreloadState::Failed(e),
            };
        } else {
            tracing::debug!(req, "dropping a load nobody waits for any more");
        }
    }

    /// A loaded track joins the output.
    pub(super) fn install(
        &mut self,
        track: LoadedTrack,
        index: usize,
        join: Join,
        position_ms: u64,
    ) {
        if !self.ensure_sink(Some(track.info.id)) {
            return;
        }
        let LoadedTrack {
            info,
            normalisation,
            mut source,
        } = track;
        let mut src_start = source.position_frames();
        if position_ms > 0 {
            let ms = source
                .duration_ms()
                .map_or(position_ms, |d| position_ms.min(d));
            match source.seek(ms) {
                Ok(frame) => src_start = frame,
                Err(e) => {
                    let e = LoadError {
                        kind: LoadErrorKind::Decode,
                        message: e.message,
                    };
                    self.load_failed(index, info.id, e, join);
                    return;
                }
            }
        }
        self.segments.push_back(Segment {
            normalisation: normalisation_factor(&normalisation, &self.normalisation),
            info,
            index: Some(index),
            source,
            sink_start: self.written,
            src_start,
            sink_end: None,
        });
        if self.segments.len() == 1 {
            self.became_front();
        }
        if join == Join::Cut {
            self.announce = true;
        }
    }

    pub(super) fn load_failed(&mut self, index: usize, id: SpotifyId, e: LoadError, join: Join) {
        tracing::info!(?id, kind = ?e.kind, reason = %e.message, "track failed to load");
        if e.kind == LoadErrorKind::Fatal {
            self.emit(PlayerEvent::Error {
                id,
                reason: e.message,
                skipped: false,
            });
            self.cancel_pending();
            self.drop_preload();
            self.after_drain = None;
            if join == Join::Cut || self.segments.is_empty() {
                self.cut();
                self.paused = false;
            }
            // Else the track before it plays out, then the player stops.
            return;
        }
        self.emit(PlayerEvent::Error {
            id,
            reason: e.message,
            skipped: true,
        });
        self.skip_failures += 1;
        let target = if self.skip_failures >= self.queue.len().max(1) {
            None
        } else {
            self.queue.next_index(Some(index), self.repeat, true)
        };
        match target {
            Some(t) => self.begin_track(t, join, 0),
            None if self.segments.is_empty() => self.end_of_queue(),
            None => self.after_drain = Some(AfterDrain::EndOfQueue),
        }
    }

    /// Starts, cancels or keeps the preload of the item after the one being decoded.
    pub(super) fn sync_preload(&mut self) {
        // (target item, whether its preload is due), from the track being decoded.
        let wanted = match self.segments.back().filter(|s| s.sink_end.is_none()) {
            Some(seg) if self.config.gapless && self.pending.is_none() => self
                .queue
                .next_index(seg.index, self.repeat, false)
                .and_then(|i| self.queue.id(i).map(|id| (i, id)))
                .map(|target| {
                    let due = match seg.source.duration_ms() {
                        Some(d) => {
                            let decoded = frames_to_ms(seg.source.position_frames());
                            d.saturating_sub(decoded)
                                <= self.config.preload_ahead.as_millis() as u64
                        }
                        // Unknown length: load the next one right away.
                        None => true,
                    };
                    (target, due)
                }),
            _ => None,
        };
        if let Some(p) = &self.preload {
            if wanted.map(|(t, _)| t) != Some((p.index, p.id)) {
                tracing::debug!(index = p.index, "dropping a stale preload");
                self.drop_preload();
            }
        }
        if let (Some(((index, id), true)), None) = (wanted, &self.preload) {
            tracing::debug!(index, ?id, "preloading the next track");
            let req = self.request(id);
            self.preload = Some(Preload {
                req,
                index,
                id,
                state: PreloadState::Loading,
            });
        }
    }
}
