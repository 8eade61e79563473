//! The engine's loads: asking the loader task for a track (and cancelling), starting a queue
//! item from its preload or a fresh load, installing a loaded track as a segment, holding and
//! retrying a track after a transient failure (never advancing the queue for an outage),
//! skipping or stopping when a load fails for good (once, plainly, when Spotify refuses audio
//! keys to the whole account), and keeping the next item's preload in step with the queue.
//!
//! Part of the engine (`engine.rs`), on its thread. Loads never block it: results arrive as
//! `EngineMsg::Loaded` and are matched by request number.

use std::time::{Duration, Instant};

use super::{
    retry_delay, AfterDrain, Engine, Join, Pending, Preload, PreloadState, Segment, Transient,
    KEY_REFUSALS_FOR_ACCOUNT, RESUME_SEEK_LEAD_MS, RETRY_MIN_ATTEMPTS,
};
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
        // 0: a held track waiting for its retry, nothing in flight.
        if req != 0 {
            let _ = self.ch.loads.send(LoaderRequest::Cancel { req });
        }
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
            }) => self.install(track, index, join, position_ms, None),
            Some(Preload {
                state: PreloadState::Failed(e),
                ..
            }) if e.kind.is_transient() => self.hold(
                Pending {
                    req: 0,
                    index,
                    id,
                    position_ms,
                    join,
                    transient: None,
                },
                e,
            ),
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
                    transient: None,
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
                    transient: None,
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
                Ok(track) => {
                    let resume_frame = p.transient.and_then(|t| t.resume_frame);
                    if p.transient.is_some() {
                        tracing::info!(id = ?p.id, position_ms = p.position_ms, "held track loaded; resuming");
                    }
                    self.install(track, p.index, p.join, p.position_ms, resume_frame)
                }
                Err(e) if e.kind.is_transient() => self.hold(p, e),
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
        resume_frame: Option<u64>,
    ) {
        if !self.ensure_sink(Some(track.info.id)) {
            return;
        }
        // A key was granted: the refusals before were about those tracks, not the account.
        for (_, id, reason) in std::mem::take(&mut self.key_refused) {
            self.emit(PlayerEvent::Error {
                id,
                reason,
                skipped: true,
            });
        }
        let LoadedTrack {
            info,
            normalisation,
            mut source,
        } = track;
        let mut src_start = source.position_frames();
        let mut skip_to = None;
        // A continuation starts at the exact frame where the failed source stopped: seek a
        // little before it (seeks may land up to 20 ms late), then drop what comes before.
        let position_ms = match resume_frame {
            Some(f) => frames_to_ms(f).saturating_sub(RESUME_SEEK_LEAD_MS),
            None => position_ms,
        };
        if position_ms > 0 || resume_frame.is_some() {
            let ms = source
                .duration_ms()
                .map_or(position_ms, |d| position_ms.min(d));
            match source.seek(ms) {
                Ok(frame) => {
                    src_start = frame;
                    if let Some(f) = resume_frame.filter(|&f| f > frame) {
                        skip_to = Some(f);
                        src_start = f;
                    }
                }
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
            resumed: resume_frame.is_some(),
            skip_to,
        });
        if self.segments.len() == 1 {
            if resume_frame.is_some() {
                // The same track heard on after an outage: not a new track.
                self.queue.current = Some(index);
                self.queue_dirty = true;
            } else {
                self.became_front();
            }
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
        if e.kind == LoadErrorKind::Key {
            self.key_refused.push((index, id, e.message));
            if self.key_refused.len() >= KEY_REFUSALS_FOR_ACCOUNT {
                return self.account_gets_no_keys(index, join);
            }
        } else {
            self.emit(PlayerEvent::Error {
                id,
                reason: e.message,
                skipped: true,
            });
        }
        self.skip_failures += 1;
        let target = if self.skip_failures >= self.queue.len().max(1) {
            None
        } else {
            self.queue.next_index(Some(index), self.repeat, true)
        };
        if target.is_none() {
            // Nothing left to try: the refusals so far are reported as what they were.
            for (_, id, reason) in std::mem::take(&mut self.key_refused) {
                self.emit(PlayerEvent::Error {
                    id,
                    reason,
                    skipped: true,
                });
            }
        }
        match target {
            Some(t) => self.begin_track(t, join, 0),
            None if self.segments.is_empty() => self.end_of_queue(),
            None => self.after_drain = Some(AfterDrain::EndOfQueue),
        }
    }

    /// Audio keys refused for [`KEY_REFUSALS_FOR_ACCOUNT`] tracks in a row and none granted:
    /// says so once, plainly, and stops on the first refused track (the queue is not skipped
    /// through). `index` is the last refused item.
    fn account_gets_no_keys(&mut self, index: usize, join: Join) {
        let refused = std::mem::take(&mut self.key_refused);
        let first = refused.first().map_or(SpotifyId(0), |(_, id, _)| *id);
        let last = refused
            .last()
            .map(|(_, _, r)| r.clone())
            .unwrap_or_default();
        tracing::warn!(
            tracks = refused.len(),
            "the access point refuses every audio key"
        );
        self.cancel_pending();
        self.drop_preload();
        self.after_drain = None;
        if join == Join::Cut || self.segments.is_empty() {
            self.cut();
            self.paused = false;
            // Back on the first refused item (the ones after it were tried silently).
            let first_index = refused.first().map_or(index, |(i, _, _)| *i);
            self.queue.current = Some(first_index).filter(|&i| i < self.queue.len());
            self.queue_dirty = true;
        }
        self.emit(PlayerEvent::Error {
            id: first,
            reason: format!(
                "Spotify refuses audio keys to this account: the access point refused the key \
                 for {} tracks in a row ({last}). Spotify does this to some accounts (many \
                 created since late 2024) for clients like this one; no client can play them. \
                 Playback stopped.",
                refused.len()
            ),
            skipped: false,
        });
    }

    /// Holds a track after a transient failure: keeps its place and position, reports it, and
    /// retries after a growing wait. Skips it (saying why) only when the failures have lasted
    /// `transient_give_up` and at least [`RETRY_MIN_ATTEMPTS`] retries.
    pub(super) fn hold(&mut self, p: Pending, e: LoadError) {
        let now = Instant::now();
        let mut t = p.transient.unwrap_or(Transient {
            since: now,
            attempts: 0,
            retry_at: None,
            resume_frame: None,
        });
        let failing_for = now.saturating_duration_since(t.since);
        if t.attempts >= RETRY_MIN_ATTEMPTS && failing_for >= self.config.transient_give_up {
            let e = LoadError {
                kind: e.kind,
                message: format!(
                    "{} (still failing after {} s of retries)",
                    e.message,
                    failing_for.as_secs()
                ),
            };
            return self.load_failed(p.index, p.id, e, p.join);
        }
        t.attempts += 1;
        let wait = retry_delay(t.attempts);
        t.retry_at = Some(now + wait);
        tracing::info!(id = ?p.id, attempt = t.attempts, wait_ms = wait.as_millis() as u64, reason = %e.message, "transient failure; holding the track");
        if p.join == Join::Cut || self.segments.is_empty() {
            self.queue.current = Some(p.index);
            self.queue_dirty = true;
        }
        let id = p.id;
        self.pending = Some(Pending {
            req: 0,
            transient: Some(t),
            ..p
        });
        self.emit(PlayerEvent::Reconnecting {
            id,
            reason: e.message,
            retry_in: wait,
        });
    }

    /// How long until a held track's retry is due (`None`: nothing held).
    pub(super) fn retry_wait(&self) -> Option<Duration> {
        let at = self.pending.as_ref()?.transient?.retry_at?;
        Some(at.saturating_duration_since(Instant::now()))
    }

    /// The session is back: a held track waiting for its timed retry is asked for now (one in
    /// flight already gets its answer).
    pub(super) fn session_up(&mut self) {
        if let Some(t) = self
            .pending
            .as_mut()
            .and_then(|p| p.transient.as_mut())
            .filter(|t| t.retry_at.is_some())
        {
            tracing::info!(
                attempt = t.attempts,
                "the session is back; retrying the held track now"
            );
            t.retry_at = Some(Instant::now());
        }
    }

    /// Asks the loader again for a held track whose retry is due.
    pub(super) fn retry_due(&mut self) {
        if self.retry_wait() != Some(Duration::ZERO) {
            return;
        }
        let Some(id) = self.pending.as_ref().map(|p| p.id) else {
            return;
        };
        let req = self.request(id);
        if let Some(p) = &mut self.pending {
            p.req = req;
            if let Some(t) = &mut p.transient {
                t.retry_at = None;
            }
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
