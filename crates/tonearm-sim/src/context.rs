//! Playback contexts in the simulator (spec §11.1 "Context resolution", "TransferState"):
//! `GET /context-resolve/v1/{context uri}` answers the strict JSON `Context` (only the fields
//! `uri`, `url`, `metadata`, `pages[{tracks[{uri, uid, metadata}]}]`) for albums, playlists
//! (the Web API's, so edits show), Liked Songs (`spotify:user:{name}:collection`), artists (top
//! tracks), shows (episodes) and single tracks,
//! 404 for anything else; and [`transfer_state`] builds the `TransferState` protobuf a transfer
//! carries from a device's `PlayerState`. Track uids are stable per (context, position) so a
//! transfer's `current_uid` finds its track again. Called by `connect_state` and the router;
//! depends on no client module.

pub(crate) mod transfer;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use super::catalog::Entity;
use super::ids;
use super::state::Shared;
use crate::app::App;
use crate::respond::json_error;
use crate::util::lock;

/// A stable 16-hex-digit uid for the track at `index` of `context_uri`.
pub(crate) fn uid_for(context_uri: &str, index: usize) -> String {
    let mut h = Sha1::new();
    h.update(context_uri.as_bytes());
    h.update(index.to_be_bytes());
    hex::encode(&h.finalize()[..8])
}

/// The tracks (catalog URIs) and the title of a context; `None` if unknown.
pub(crate) fn context_tracks(shared: &Shared, uri: &str) -> Option<(String, Vec<String>)> {
    let catalog = &shared.catalog;
    // Liked Songs: `spotify:user:{name}:collection`, newest first like the library.
    if let Some(name) = uri
        .strip_prefix("spotify:user:")
        .and_then(|r| r.strip_suffix(":collection"))
    {
        let data = lock(&shared.web.data);
        let lib = data.libraries.get(name)?;
        let tracks = lib
            .saved_tracks
            .iter()
            .map(|(t, _)| catalog.track_uri(*t))
            .collect();
        return Some(("Liked Songs".to_owned(), tracks));
    }
    let (kind, gid) = ids::parse_uri(uri)?;
    if kind == ids::Kind::Playlist {
        let data = lock(&shared.web.data);
        let p = data.playlists.get(*data.playlist_index.get(&gid)?)?;
        let tracks = p
            .entries
            .iter()
            .map(|e| catalog.track_uri(e.track))
            .collect();
        return Some((p.name.clone(), tracks));
    }
    match catalog.by_uri(uri)? {
        Entity::Album(i) => {
            let a = catalog.albums.get(i)?;
            let tracks = a.tracks.iter().map(|t| catalog.track_uri(*t)).collect();
            Some((a.name.clone(), tracks))
        }
        Entity::Artist(i) => {
            let a = catalog.artists.get(i)?;
            let tracks = a.top_tracks.iter().map(|t| catalog.track_uri(*t)).collect();
            Some((a.name.clone(), tracks))
        }
        Entity::Track(i) => {
            let t = catalog.tracks.get(i)?;
            Some((t.name.clone(), vec![uri.to_owned()]))
        }
        Entity::Show(i) => {
            let s = catalog.shows.get(i)?;
            let eps = s
                .episodes
                .iter()
                .filter_map(|e| catalog.uri(Entity::Episode(*e)))
                .collect();
            Some((s.name.clone(), eps))
        }
        Entity::Episode(_) | Entity::Playlist(_) => None,
    }
}

/// The context-resolve JSON for `uri`.
pub(crate) fn resolve(shared: &Shared, uri: &str) -> Option<Value> {
    let (title, tracks) = context_tracks(shared, uri)?;
    let tracks: Vec<Value> = tracks
        .iter()
        .enumerate()
        .map(|(i, t)| json!({ "uri": t, "uid": uid_for(uri, i) }))
        .collect();
    Some(json!({
        "uri": uri,
        "url": format!("context://{uri}"),
        "metadata": { "context_description": title },
        "pages": [ { "tracks": tracks } ],
    }))
}

/// The context-resolve routes.
pub(crate) fn routes() -> Router<App> {
    Router::new().route("/context-resolve/v1/{*uri}", get(context_resolve))
}

/// `GET /context-resolve/v1/{uri}`.
async fn context_resolve(
    State(app): State<App>,
    Path(uri): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = crate::auth::auth(&app.shared, &headers) {
        return r.into_response();
    }
    match resolve(&app.shared, &uri) {
        Some(v) => Json(v).into_response(),
        None => json_error(StatusCode::NOT_FOUND, "unknown context"),
    }
}

/// The fields a strict client accepts in a context-resolve answer (for tests).
#[cfg(test)]
pub(crate) fn context_keys_ok(v: &Value) -> bool {
    use serde_json::Map;
    let only = |o: &Map<String, Value>, keys: &[&str]| o.keys().all(|k| keys.contains(&k.as_str()));
    let Some(o) = v.as_object() else {
        return false;
    };
    only(
        o,
        &["uri", "url", "metadata", "pages", "restrictions", "loading"],
    ) && o
        .get("pages")
        .and_then(Value::as_array)
        .is_some_and(|pages| {
            pages.iter().all(|p| {
                p.as_object().is_some_and(|p| {
                    only(
                        p,
                        &["page_url", "next_page_url", "metadata", "tracks", "loading"],
                    ) && p.get("tracks").and_then(Value::as_array).is_some_and(|ts| {
                        ts.iter().all(|t| {
                            t.as_object()
                                .is_some_and(|t| only(t, &["uri", "uid", "gid", "metadata"]))
                        })
                    })
                })
            })
        })
}
