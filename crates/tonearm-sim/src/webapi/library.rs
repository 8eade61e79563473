//! The caller's library in the simulator's Web API: saved tracks, albums, shows and episodes
//! (paged with `added_at`; save, remove and `contains`), followed artists (cursor paging;
//! follow and unfollow), recently played tracks (cursor paging by time) and top tracks.
//!
//! Handlers routed by [`super::routes`]; requests arrive authorised as [`Req`]. Depends on no
//! client module.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::objects::{self, rfc3339_ms, Ctx};
use super::store::{self, now_secs};
use super::{encode, lookup, ok, page_of, parse_id, ApiErr, Reply, Req, Res, STD_LIMIT};
use crate::ids::{self, Kind};

/// Items saved with a date: `{"added_at", key: object}`.
fn saved_page(
    r: &Req<'_>,
    path: &str,
    key: &str,
    pick: impl Fn(&store::Library) -> Vec<(usize, i64)>,
    object: impl Fn(&Ctx<'_>, usize) -> Value,
) -> Res {
    let list = r
        .data()
        .libraries
        .get(r.user())
        .map(&pick)
        .unwrap_or_default();
    let ctx = r.ctx();
    ok(page_of(r, path, "", STD_LIMIT, list.len(), |n| {
        let (i, at) = list[n];
        json!({ "added_at": objects::rfc3339(at), key: object(&ctx, i) })
    })?)
}

pub(super) fn saved_tracks(r: &Req<'_>) -> Res {
    saved_page(
        r,
        "me/tracks",
        "track",
        |l| l.saved_tracks.clone(),
        |c, i| c.track(i, true),
    )
}

pub(super) fn saved_albums(r: &Req<'_>) -> Res {
    saved_page(
        r,
        "me/albums",
        "album",
        |l| l.saved_albums.clone(),
        |c, i| c.album(i),
    )
}

pub(super) fn saved_shows(r: &Req<'_>) -> Res {
    saved_page(
        r,
        "me/shows",
        "show",
        |l| l.saved_shows.clone(),
        |c, i| c.show(i),
    )
}

pub(super) fn saved_episodes(r: &Req<'_>) -> Res {
    saved_page(
        r,
        "me/episodes",
        "episode",
        |l| l.saved_episodes.clone(),
        |c, i| c.episode(i, true),
    )
}

/// `PUT`/`DELETE me/tracks|albums`.
pub(super) fn save(r: &Req<'_>, kind: Kind, add: bool) -> Res {
    let ids = r.ids()?;
    let items = ids
        .iter()
        .map(|id| lookup(r, id, kind))
        .collect::<Result<Vec<usize>, ApiErr>>()?;
    let mut data = r.data();
    let lib = data.libraries.entry(r.user().to_owned()).or_default();
    let list = if kind == Kind::Track {
        &mut lib.saved_tracks
    } else {
        &mut lib.saved_albums
    };
    let now = now_secs();
    for i in items {
        let present = list.iter().any(|(x, _)| *x == i);
        if add && !present {
            list.insert(0, (i, now));
        } else if !add {
            list.retain(|(x, _)| *x != i);
        }
    }
    Ok(Reply::Empty(StatusCode::OK))
}

/// `GET me/tracks/contains?ids=`: one boolean per id, in order (at most 50; unknown ids 404
/// like the writes).
pub(super) fn contains(r: &Req<'_>, kind: Kind) -> Res {
    let ids = r.ids()?;
    let items = ids
        .iter()
        .map(|id| lookup(r, id, kind))
        .collect::<Result<Vec<usize>, ApiErr>>()?;
    let data = r.data();
    let saved: Vec<bool> = match data.libraries.get(r.user()) {
        None => vec![false; items.len()],
        Some(lib) => items
            .iter()
            .map(|i| lib.saved_tracks.iter().any(|(x, _)| x == i))
            .collect(),
    };
    ok(json!(saved))
}

pub(super) fn following(r: &Req<'_>) -> Res {
    match r.q("type") {
        Some("artist") => {}
        Some(_) => return Err(ApiErr::bad("type must be artist")),
        None => return Err(ApiErr::bad("missing type (expected type=artist)")),
    }
    let limit = r.limit(20, 1, 50)?;
    let list = r
        .data()
        .libraries
        .get(r.user())
        .map(|l| l.followed_artists.clone())
        .unwrap_or_default();
    let cat = &r.shared.catalog;
    let start = match r.q("after") {
        None => 0,
        Some(after) => {
            let gid = parse_id(after)?;
            list.iter()
                .position(|&a| cat.artists.get(a).is_some_and(|x| x.gid == gid))
                .map_or(list.len(), |p| p + 1)
        }
    };
    let end = list.len().min(start.saturating_add(limit));
    let ctx = r.ctx();
    let items: Vec<Value> = list[start..end].iter().map(|&a| ctx.artist(a)).collect();
    let url = |after: Option<&str>| {
        let mut u = format!("{}?type=artist&limit={limit}", r.path("me/following"));
        if let Some(a) = after {
            u.push_str(&format!("&after={}", encode(a)));
        }
        u
    };
    let mut page = json!({
        "href": url(r.q("after")),
        "items": items,
        "limit": limit,
        "total": list.len(),
        "cursors": {},
    });
    if end < list.len() && end > start {
        if let Some(last) = cat.artists.get(list[end - 1]) {
            let id = ids::to_base62(&last.gid);
            page["next"] = url(Some(&id)).into();
            page["cursors"]["after"] = id.into();
        }
    }
    ok(json!({ "artists": page }))
}

/// `PUT`/`DELETE me/following?type=artist|user&ids=`.
pub(super) fn follow(r: &Req<'_>, add: bool) -> Res {
    let kind = r
        .q("type")
        .ok_or_else(|| ApiErr::bad("missing type (artist or user)"))?;
    let ids = r.ids()?;
    match kind {
        "artist" => {
            let items = ids
                .iter()
                .map(|id| lookup(r, id, Kind::Artist))
                .collect::<Result<Vec<usize>, ApiErr>>()?;
            let mut data = r.data();
            let list = &mut data
                .libraries
                .entry(r.user().to_owned())
                .or_default()
                .followed_artists;
            for i in items {
                if add && !list.contains(&i) {
                    list.push(i);
                } else if !add {
                    list.retain(|x| *x != i);
                }
            }
        }
        // Following users is accepted but not modelled.
        "user" => {}
        _ => return Err(ApiErr::bad("type must be artist or user")),
    }
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

pub(super) fn recently_played(r: &Req<'_>) -> Res {
    let limit = r.limit(20, 1, 50)?;
    let after = r.int("after")?;
    let before = r.int("before")?;
    if after.is_some() && before.is_some() {
        return Err(ApiErr::bad("give after or before, not both"));
    }
    let all = r
        .data()
        .libraries
        .get(r.user())
        .map(|l| l.recently_played.clone())
        .unwrap_or_default();
    let filtered: Vec<(usize, i64)> = all
        .iter()
        .copied()
        .filter(|&(_, at)| after.is_none_or(|a| at > a) && before.is_none_or(|b| at < b))
        .collect();
    // Newest first; with `after`, the items just after the cursor.
    let chosen: &[(usize, i64)] = if after.is_some() {
        &filtered[filtered.len().saturating_sub(limit)..]
    } else {
        &filtered[..filtered.len().min(limit)]
    };
    let ctx = r.ctx();
    let items: Vec<Value> = chosen
        .iter()
        .map(|&(t, at)| {
            let album = r.shared.catalog.tracks.get(t).map(|x| x.album);
            let context = album
                .and_then(|a| r.shared.catalog.albums.get(a))
                .map(|a| {
                    let id = ids::to_base62(&a.gid);
                    json!({
                        "type": "album",
                        "href": r.path(&format!("albums/{id}")),
                        "external_urls": { "spotify": format!("https://open.spotify.com/album/{id}") },
                        "uri": format!("spotify:album:{id}"),
                    })
                })
                .unwrap_or_else(|| json!({}));
            json!({ "track": ctx.track(t, true), "played_at": rfc3339_ms(at), "context": context })
        })
        .collect();
    let base = r.path("me/player/recently-played");
    let mut href = format!("{base}?limit={limit}");
    if let Some(a) = after {
        href.push_str(&format!("&after={a}"));
    }
    if let Some(b) = before {
        href.push_str(&format!("&before={b}"));
    }
    let mut page = json!({
        "href": href,
        "items": items,
        "limit": limit,
        "total": all.len(),
        "cursors": {},
    });
    if let (Some(first), Some(last)) = (chosen.first(), chosen.last()) {
        page["cursors"] = json!({ "after": first.1.to_string(), "before": last.1.to_string() });
        if all.iter().any(|&(_, at)| at < last.1) {
            page["next"] = format!("{base}?limit={limit}&before={}", last.1).into();
        }
    }
    ok(page)
}

/// `GET /me/top/tracks` (OpenAPI `get-users-top-tracks`): a `PagingTrackObject` of the user's
/// "affinity" ranking. The simulator derives it from the user's liked songs, a different fixed
/// order per `time_range` (`short_term`: most recently liked first, `medium_term` (default):
/// the library's order, `long_term`: catalog order); another `time_range` is a 400.
pub(super) fn my_top_tracks(r: &Req<'_>) -> Res {
    let range = r.q("time_range").unwrap_or("medium_term");
    let saved: Vec<usize> = r
        .data()
        .libraries
        .get(r.user())
        .map(|l| l.saved_tracks.iter().map(|&(t, _)| t).collect())
        .unwrap_or_default();
    let list: Vec<usize> = match range {
        "short_term" => saved.into_iter().rev().collect(),
        "medium_term" => saved,
        "long_term" => {
            let mut v = saved;
            v.sort_unstable();
            v
        }
        other => {
            return Err(ApiErr::bad(format!(
                "time_range must be short_term, medium_term or long_term, not {other:?}"
            )))
        }
    };
    let ctx = r.ctx();
    let extra = format!("time_range={range}");
    ok(page_of(
        r,
        "me/top/tracks",
        &extra,
        STD_LIMIT,
        list.len(),
        |n| ctx.track(list[n], true),
    )?)
}
