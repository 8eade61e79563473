//! Albums and artists in the simulator's Web API: `GET /v1/albums/{id}` and its tracks,
//! `GET /v1/artists/{id}`, its albums (filtered by `include_groups`) and its top tracks, all
//! from the catalog with the caller's market.
//!
//! Handlers routed by [`super::routes`]; requests arrive authorised as [`Req`]. Depends on no
//! client module.

use serde_json::{json, Value};

use super::{clip, encode, lookup, ok, page_of, ApiErr, Req, Res, STD_LIMIT};
use crate::catalog::AlbumType;
use crate::ids::Kind;

pub(super) fn album(r: &Req<'_>) -> Res {
    let i = lookup(r, &r.id, Kind::Album)?;
    ok(r.ctx().album(i))
}

pub(super) fn album_tracks(r: &Req<'_>) -> Res {
    let i = lookup(r, &r.id, Kind::Album)?;
    let tracks = &r.shared.catalog.albums[i].tracks;
    let ctx = r.ctx();
    ok(page_of(
        r,
        &format!("albums/{}/tracks", r.id),
        "",
        STD_LIMIT,
        tracks.len(),
        |n| ctx.track(tracks[n], false),
    )?)
}

pub(super) fn artist(r: &Req<'_>) -> Res {
    let i = lookup(r, &r.id, Kind::Artist)?;
    ok(r.ctx().artist(i))
}

pub(super) fn artist_albums(r: &Req<'_>) -> Res {
    let i = lookup(r, &r.id, Kind::Artist)?;
    let groups: Vec<String> = match r.q("include_groups") {
        None => ["album", "single", "compilation", "appears_on"]
            .map(str::to_owned)
            .to_vec(),
        Some(s) => s.split(',').map(|g| g.trim().to_owned()).collect(),
    };
    let known = ["album", "single", "compilation", "appears_on"];
    if let Some(bad) = groups.iter().find(|g| !known.contains(&g.as_str())) {
        return Err(ApiErr::bad(format!(
            "unknown include_groups {:?}",
            clip(bad)
        )));
    }
    let cat = &*r.shared.catalog;
    let mut list: Vec<(usize, &str)> = Vec::new();
    for &a in &cat.artists[i].albums {
        let g = match cat.albums[a].album_type {
            AlbumType::Album => "album",
            AlbumType::Single => "single",
            AlbumType::Compilation => "compilation",
        };
        if groups.iter().any(|x| x == g) {
            list.push((a, g));
        }
    }
    if groups.iter().any(|x| x == "appears_on") {
        for (a, album) in cat.albums.iter().enumerate() {
            let guest = !album.artists.contains(&i)
                && album
                    .tracks
                    .iter()
                    .any(|&t| cat.tracks.get(t).is_some_and(|t| t.artists.contains(&i)));
            if guest {
                list.push((a, "appears_on"));
            }
        }
    }
    let ctx = r.ctx();
    let extra = match r.q("include_groups") {
        Some(g) => format!("include_groups={}", encode(g)),
        None => String::new(),
    };
    ok(page_of(
        r,
        &format!("artists/{}/albums", r.id),
        &extra,
        (5, 0, 10),
        list.len(),
        |n| ctx.album_discography(list[n].0, list[n].1),
    )?)
}

pub(super) fn top_tracks(r: &Req<'_>) -> Res {
    let i = lookup(r, &r.id, Kind::Artist)?;
    let ctx = r.ctx();
    let tracks: Vec<Value> = r.shared.catalog.artists[i]
        .top_tracks
        .iter()
        .map(|&t| ctx.track(t, true))
        .collect();
    ok(json!({ "tracks": tracks }))
}
