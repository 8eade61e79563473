//! Playlists in the simulator's Web API: the caller's and another user's playlist lists
//! (`GET /v1/me/playlists`, `/v1/users/{id}/playlists`, public ones only for another user),
//! one playlist and its items (`/v1/playlists/{id}`, `…/tracks`, `…/items`), and the writes:
//! adding and removing items (owner or collaborators only) and creating a playlist.
//!
//! Handlers routed by [`super::routes`]; requests arrive authorised as [`Req`]. Depends on no
//! client module.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::objects::paging;
use super::store::{now_secs, Entry, WebPlaylist};
use super::{clip, ok, page_of, playlist_index, string_list, ApiErr, Reply, Req, Res, STD_LIMIT};
use crate::catalog::Entity;
use crate::ids::{self, Kind};

fn playlists_page(r: &Req<'_>, owner: &str, path: &str, public_only: bool) -> Res {
    let data = r.data();
    let ctx = r.ctx();
    let list: Vec<usize> = data
        .libraries
        .get(owner)
        .map(|l| l.playlists.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|&i| !public_only || data.playlists.get(i).is_some_and(|p| p.public))
        .collect();
    ok(page_of(r, path, "", STD_LIMIT, list.len(), |n| {
        data.playlists
            .get(list[n])
            .map_or(Value::Null, |p| ctx.playlist_simple(p))
    })?)
}

pub(super) fn my_playlists(r: &Req<'_>) -> Res {
    playlists_page(r, r.user(), "me/playlists", false)
}

pub(super) fn user_playlists(r: &Req<'_>) -> Res {
    if r.shared.account(&r.id).is_none() {
        return Err(ApiErr::not_found(format!("no user {:?}", clip(&r.id))));
    }
    let own = r.id == r.user();
    playlists_page(r, &r.id.clone(), &format!("users/{}/playlists", r.id), !own)
}

pub(super) fn playlist(r: &Req<'_>) -> Res {
    let data = r.data();
    let i = playlist_index(&data, &r.id)?;
    ok(r.ctx().playlist(&data.playlists[i]))
}

pub(super) fn playlist_tracks(r: &Req<'_>, tail: &str, max: usize) -> Res {
    let data = r.data();
    let i = playlist_index(&data, &r.id)?;
    let p = &data.playlists[i];
    let limit = r.limit(20, 1, max)?;
    let offset = r.offset(usize::MAX)?;
    let items = r.ctx().playlist_entries(p, offset, limit);
    ok(paging(
        &r.path(&format!("playlists/{}/{tail}", r.id)),
        "",
        items,
        p.entries.len(),
        offset,
        limit,
    ))
}

fn can_edit(p: &WebPlaylist, user: &str) -> Result<(), ApiErr> {
    if p.owner == user || p.collaborative {
        Ok(())
    } else {
        Err(ApiErr::new(
            StatusCode::FORBIDDEN,
            "you cannot edit this playlist",
        ))
    }
}

/// A track URI: 400 malformed or not a track, 404 unknown.
fn track_by_uri(r: &Req<'_>, uri: &str) -> Result<usize, ApiErr> {
    let (kind, gid) =
        ids::parse_uri(uri).ok_or_else(|| ApiErr::bad(format!("invalid uri {:?}", clip(uri))))?;
    if kind != Kind::Track {
        return Err(ApiErr::bad(format!("not a track uri {:?}", clip(uri))));
    }
    match r.shared.catalog.entity(&gid) {
        Some(Entity::Track(i)) => Ok(i),
        _ => Err(ApiErr::not_found(format!("no track {:?}", clip(uri)))),
    }
}

pub(super) fn playlist_add(r: &Req<'_>) -> Res {
    let body = r.json()?;
    let (uris, position) = match r.q("uris") {
        Some(s) => (
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            r.int("position")?,
        ),
        None => {
            let body = body.ok_or_else(|| ApiErr::bad("missing uris"))?;
            let position = match body.get("position") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_i64()
                        .ok_or_else(|| ApiErr::bad("position must be an integer"))?,
                ),
            };
            (string_list(body.get("uris"), "uris")?, position)
        }
    };
    let uris: Vec<String> = uris;
    if uris.is_empty() || uris.len() > 100 {
        return Err(ApiErr::bad("give 1 to 100 uris"));
    }
    let tracks = uris
        .iter()
        .map(|u| track_by_uri(r, u))
        .collect::<Result<Vec<usize>, ApiErr>>()?;
    let mut data = r.data();
    let i = playlist_index(&data, &r.id)?;
    let p = &mut data.playlists[i];
    can_edit(p, r.user())?;
    let at = match position {
        None => p.entries.len(),
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| *n <= p.entries.len())
            .ok_or_else(|| ApiErr::bad("position out of range"))?,
    };
    let now = now_secs();
    let new = tracks.into_iter().map(|track| Entry {
        track,
        added_at: now,
        added_by: r.user().to_owned(),
    });
    p.entries.splice(at..at, new);
    p.version += 1;
    Ok(Reply::Json(
        StatusCode::CREATED,
        json!({ "snapshot_id": p.snapshot_id() }),
    ))
}

pub(super) fn playlist_remove(r: &Req<'_>) -> Res {
    let body = r.json()?.ok_or_else(|| ApiErr::bad("missing JSON body"))?;
    let list = body
        .get("tracks")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiErr::bad("tracks must be an array of {\"uri\"}"))?;
    if list.is_empty() || list.len() > 100 {
        return Err(ApiErr::bad("give 1 to 100 tracks"));
    }
    let tracks = list
        .iter()
        .map(|t| {
            let uri = t
                .get("uri")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiErr::bad("tracks must be an array of {\"uri\"}"))?;
            track_by_uri(r, uri)
        })
        .collect::<Result<Vec<usize>, ApiErr>>()?;
    let mut data = r.data();
    let i = playlist_index(&data, &r.id)?;
    let p = &mut data.playlists[i];
    can_edit(p, r.user())?;
    p.entries.retain(|e| !tracks.contains(&e.track));
    p.version += 1;
    ok(json!({ "snapshot_id": p.snapshot_id() }))
}

pub(super) fn create_playlist(r: &Req<'_>) -> Res {
    if r.id != r.user() {
        return Err(ApiErr::new(
            StatusCode::FORBIDDEN,
            "you can only create playlists for yourself",
        ));
    }
    let body = r.json()?.ok_or_else(|| ApiErr::bad("missing JSON body"))?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiErr::bad("name is required"))?
        .to_owned();
    let flag = |key: &str, default: bool| match body.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_bool()
            .ok_or_else(|| ApiErr::bad(format!("{key} must be a boolean"))),
    };
    let public = flag("public", true)?;
    let collaborative = flag("collaborative", false)?;
    let description = match body.get("description") {
        None | Some(Value::Null) => String::new(),
        Some(v) => v
            .as_str()
            .ok_or_else(|| ApiErr::bad("description must be a string"))?
            .to_owned(),
    };
    let mut gid = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut gid);
    let p = WebPlaylist {
        gid,
        name,
        description,
        owner: r.user().to_owned(),
        public,
        collaborative,
        entries: Vec::new(),
        version: 1,
    };
    let value = r.ctx().playlist(&p);
    let mut data = r.data();
    let i = data.insert_playlist(p);
    data.libraries
        .entry(r.user().to_owned())
        .or_default()
        .playlists
        .insert(0, i);
    Ok(Reply::Json(StatusCode::CREATED, value))
}
