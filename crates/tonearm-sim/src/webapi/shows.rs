//! Podcasts in the Web API: `GET /v1/shows/{id}` (`ShowObject`, its first page of episodes
//! inside), `GET /v1/shows/{id}/episodes` (a `PagingSimplifiedEpisodeObject`) and
//! `GET /v1/episodes/{id}` (`EpisodeObject`), each episode with the caller's `resume_point`
//! (`ResumePointObject`: `fully_played`, `resume_position_ms`). Spotify keeps that point on its
//! side from what the user's devices report and clients read it back here; the simulator
//! takes it from the player state a device PUTs to connect-state while an episode is its
//! current item ([`note_player_state`], called by `connect_state::endpoints`). The facts and
//! their sources are in this crate's README ("Podcasts"). Depends on no client module.

use librespot_protocol::player::PlayerState;
use serde_json::{json, Value};

use super::super::catalog::Entity;
use super::super::ids::{self, Kind};
use super::super::state::Shared;
use super::store::ResumePoint;
use super::{lookup, ok, page_of, Req, Res};
use crate::util::lock;

/// Within this much of the end an episode counts as fully played.
const FULLY_PLAYED_MARGIN_MS: u64 = 2_000;
/// The episode pages' limits (default, min, max), as the spec's `QueryLimit`.
const EPISODE_LIMIT: (usize, usize, usize) = (20, 1, 50);

/// Adds the caller's `resume_point` to an episode object (a zero point when none was
/// reported, as Spotify answers for an episode never started).
fn with_resume(r: &Req<'_>, episode: usize, mut v: Value) -> Value {
    let point = r
        .data()
        .resume_point(r.user(), episode)
        .unwrap_or(ResumePoint {
            fully_played: false,
            resume_position_ms: 0,
        });
    if let Some(m) = v.as_object_mut() {
        m.insert(
            "resume_point".into(),
            json!({
                "fully_played": point.fully_played,
                "resume_position_ms": point.resume_position_ms,
            }),
        );
    }
    v
}

fn episodes_page(r: &Req<'_>, show: usize) -> Result<Value, super::ApiErr> {
    let ctx = r.ctx();
    let list = ctx
        .cat
        .shows
        .get(show)
        .map(|s| s.episodes.clone())
        .unwrap_or_default();
    let path = format!("shows/{}/episodes", r.id);
    page_of(r, &path, "", EPISODE_LIMIT, list.len(), |n| {
        with_resume(r, list[n], ctx.episode(list[n], false))
    })
}

/// `GET /v1/shows/{id}`.
pub(super) fn show(r: &Req<'_>) -> Res {
    let i = lookup(r, &r.id, Kind::Show)?;
    let mut v = r.ctx().show(i);
    let episodes = episodes_page(r, i)?;
    if let Some(m) = v.as_object_mut() {
        m.insert("episodes".into(), episodes);
    }
    ok(v)
}

/// `GET /v1/shows/{id}/episodes`.
pub(super) fn show_episodes(r: &Req<'_>) -> Res {
    let i = lookup(r, &r.id, Kind::Show)?;
    ok(episodes_page(r, i)?)
}

/// `GET /v1/episodes/{id}`.
pub(super) fn episode(r: &Req<'_>) -> Res {
    let i = lookup(r, &r.id, Kind::Episode)?;
    ok(with_resume(r, i, r.ctx().episode(i, true)))
}

/// Records `user`'s resume point from a player state their device reported, when its current
/// item is a catalog episode; anything else (tracks, unknown ids, no position) is ignored.
pub(crate) fn note_player_state(shared: &Shared, user: &str, ps: &PlayerState, now_ms: i64) {
    let Some(track) = ps.track.as_ref() else {
        return;
    };
    let Some((Kind::Episode, gid)) = ids::parse_uri(&track.uri) else {
        return;
    };
    let Some(Entity::Episode(i)) = shared.catalog.entity(&gid) else {
        return;
    };
    let Some(e) = shared.catalog.episodes.get(i) else {
        return;
    };
    let position = u64::try_from(crate::remote::position_now(ps, now_ms))
        .unwrap_or(0)
        .min(e.duration_ms);
    let point = ResumePoint {
        fully_played: position.saturating_add(FULLY_PLAYED_MARGIN_MS) >= e.duration_ms,
        resume_position_ms: position,
    };
    lock(&shared.web.data).record_resume(user, i, point);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
