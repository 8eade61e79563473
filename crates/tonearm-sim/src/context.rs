//! Playback contexts in the simulator (spec §11.1 "Context resolution", "TransferState"):
//! `GET /context-resolve/v1/{context uri}` answers the strict JSON `Context` (only the fields
//! `uri`, `url`, `metadata`, `pages[{tracks[{uri, uid, metadata}]}]`) for albums, playlists
//! (the Web API's, so edits show), Liked Songs (`spotify:user:{name}:collection`), artists (top
//! tracks), shows (episodes) and single tracks,
//! 404 for anything else; and [`transfer_state`] builds the `TransferState` protobuf a transfer
//! carries from a device's `PlayerState`. Track uids are stable per (context, position) so a
//! transfer's `current_uid` finds its track again. Called by `connect_state` and the router;
//! depends on no client module.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use librespot_protocol::context::Context;
use librespot_protocol::context_page::ContextPage;
use librespot_protocol::context_player_options::ContextPlayerOptions;
use librespot_protocol::context_track::ContextTrack;
use librespot_protocol::play_origin::PlayOrigin;
use librespot_protocol::playback::Playback;
use librespot_protocol::player::{PlayerState, ProvidedTrack};
use librespot_protocol::queue::Queue;
use librespot_protocol::session::Session;
use librespot_protocol::transfer_state::TransferState;
use protobuf::MessageField;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use super::catalog::{Catalog, Entity};
use super::http::{json_error, App};
use super::ids;
use super::state::{lock, Shared};

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
    if let Err(r) = super::connect_state::auth(&app.shared, &headers) {
        return r.into_response();
    }
    match resolve(&app.shared, &uri) {
        Some(v) => Json(v).into_response(),
        None => json_error(StatusCode::NOT_FOUND, "unknown context"),
    }
}

fn context_track(t: &ProvidedTrack) -> ContextTrack {
    let mut c = ContextTrack::new();
    c.set_uri(t.uri.clone());
    if !t.uid.is_empty() {
        c.set_uid(t.uid.clone());
    }
    if let Some((_, gid)) = ids::parse_uri(&t.uri) {
        c.set_gid(gid.to_vec());
    }
    for (k, v) in &t.metadata {
        c.metadata.insert(k.clone(), v.clone());
    }
    c
}

/// The `TransferState` for handing `ps` to another device. With a catalog, the context gets
/// explicit pages only when the catalog cannot resolve its URI (e.g. a list of tracks).
pub(crate) fn transfer_state(ps: &PlayerState, catalog: Option<&Catalog>) -> TransferState {
    let mut ts = TransferState::new();

    let mut opts = ContextPlayerOptions::new();
    let o = ps.options.clone().unwrap_or_default();
    opts.set_shuffling_context(o.shuffling_context);
    opts.set_repeating_context(o.repeating_context);
    opts.set_repeating_track(o.repeating_track);
    ts.options = MessageField::some(opts);

    let mut pb = Playback::new();
    let timestamp = if ps.timestamp > 0 {
        ps.timestamp
    } else {
        super::connect_state::now_ms()
    };
    pb.set_timestamp(timestamp);
    let position = i32::try_from(ps.position_as_of_timestamp.max(0)).unwrap_or(i32::MAX);
    pb.set_position_as_of_timestamp(position);
    pb.set_playback_speed(1.0);
    pb.set_is_paused(ps.is_paused || !ps.is_playing);
    let current = ps.track.clone().unwrap_or_default();
    pb.current_track = MessageField::some(context_track(&current));
    ts.playback = MessageField::some(pb);

    let mut ctx = Context::new();
    ctx.set_uri(ps.context_uri.clone());
    ctx.set_url(if ps.context_url.is_empty() {
        format!("context://{}", ps.context_uri)
    } else {
        ps.context_url.clone()
    });
    for (k, v) in &ps.context_metadata {
        ctx.metadata.insert(k.clone(), v.clone());
    }
    let resolvable = !ps.context_uri.is_empty()
        && catalog.is_none_or(|c| {
            c.by_uri(&ps.context_uri).is_some()
                || ps.context_uri.ends_with(":collection")
                || ids::parse_uri(&ps.context_uri).is_some_and(|(k, _)| k == ids::Kind::Playlist)
        });
    if !resolvable {
        let mut page = ContextPage::new();
        let in_context = |t: &&ProvidedTrack| t.provider != "queue";
        for t in ps.prev_tracks.iter().filter(in_context) {
            page.tracks.push(context_track(t));
        }
        if current.provider != "queue" {
            page.tracks.push(context_track(&current));
        }
        for t in ps.next_tracks.iter().filter(in_context) {
            page.tracks.push(context_track(t));
        }
        ctx.pages.push(page);
    }
    let mut session = Session::new();
    session.context = MessageField::some(ctx);
    session.set_current_uid(current.uid.clone());
    if let Some(origin) = ps.play_origin.as_ref() {
        let mut po = PlayOrigin::new();
        po.set_feature_identifier(origin.feature_identifier.clone());
        po.set_feature_version(origin.feature_version.clone());
        po.set_view_uri(origin.view_uri.clone());
        po.set_device_identifier(origin.device_identifier.clone());
        session.play_origin = MessageField::some(po);
    }
    ts.current_session = MessageField::some(session);

    let mut queue = Queue::new();
    for t in ps.next_tracks.iter().filter(|t| t.provider == "queue") {
        queue.tracks.push(context_track(t));
    }
    queue.set_is_playing_queue(current.provider == "queue");
    ts.queue = MessageField::some(queue);
    ts
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
