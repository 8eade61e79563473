//! The simulator's spclient endpoints (spec §9.2, §10.2): extended metadata
//! (`POST /extended-metadata/v0/extended-metadata`, one `EntityExtensionDataArray` per requested
//! (entity, kind), TRACK_V4/ALBUM_V4/ARTIST_V4/EPISODE_V4/SHOW_V4/AUDIO_FILES), legacy metadata
//! (`GET /metadata/4/{kind}/{hex}`), and storage-resolve (`GET /storage-resolve/files/audio/
//! {interactive|interactive_prefetch}/{hex}` and the `v2/…/{format}/{hex}` form) answering signed
//! CDN URLs. Every request needs a valid login5 Bearer token; `product`/`country`/`salt` query
//! parameters are ignored. Metadata requests obey the `metadata_5xx` fault. Depends on no client
//! module.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use librespot_protocol::entity_extension_data::{EntityExtensionData, EntityExtensionDataHeader};
use librespot_protocol::extended_metadata::{
    BatchedEntityRequest, BatchedExtensionResponse, EntityExtensionDataArray,
    EntityExtensionDataArrayHeader, ExtensionType,
};
use librespot_protocol::extension_kind::ExtensionKind;
use librespot_protocol::storage_resolve::{storage_resolve_response, StorageResolveResponse};
use protobuf::well_known_types::any::Any;
use protobuf::{EnumOrUnknown, Message, MessageField};
use sha1::{Digest, Sha1};

use super::catalog::{Catalog, Entity};
use super::ids::{self, FileId, Kind};
use super::state::{Counters, Shared};
use super::{cdn, metadata};
use crate::app::App;
use crate::respond::{json_error, protobuf_bytes, protobuf_response};
use crate::util::lock;

/// Cache lifetime advertised for metadata.
const CACHE_TTL: i64 = 3600;
/// How long storage-resolve's CDN URLs stay valid.
pub(crate) const CDN_URL_TTL: u64 = 3600;

/// Counts a metadata request and applies `metadata_5xx`; `Some(503)` when the fault fires.
fn metadata_gate(shared: &Shared) -> Option<Response> {
    Counters::bump(&shared.counters.metadata_requests);
    shared.take_fault(|f| &mut f.metadata_5xx).then(|| {
        json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "metadata service unavailable (injected fault)",
        )
    })
}

/// The payload of one (entity, kind): `Ok(Some((type_url, bytes)))`, `Ok(None)` when the kind
/// does not apply to the entity (404), `Err(())` for kinds the simulator does not serve (501).
fn extension(
    catalog: &Catalog,
    entity: Entity,
    kind: Option<ExtensionKind>,
) -> Result<Option<(String, Vec<u8>)>, ()> {
    let matches = match kind {
        Some(ExtensionKind::TRACK_V4) => matches!(entity, Entity::Track(_)),
        Some(ExtensionKind::ALBUM_V4) => matches!(entity, Entity::Album(_)),
        Some(ExtensionKind::ARTIST_V4) => matches!(entity, Entity::Artist(_)),
        Some(ExtensionKind::EPISODE_V4) => matches!(entity, Entity::Episode(_)),
        Some(ExtensionKind::SHOW_V4) => matches!(entity, Entity::Show(_)),
        Some(ExtensionKind::AUDIO_FILES) => {
            return Ok(metadata::audio_files_extension(catalog, entity)
                .map(|b| (metadata::AUDIO_FILES_TYPE_URL.to_owned(), b)));
        }
        _ => return Err(()),
    };
    Ok(if matches {
        metadata::encode(catalog, entity)
    } else {
        None
    })
}

fn etag_of(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha1::digest(bytes)[..8]))
}

/// `POST /extended-metadata/v0/extended-metadata`.
pub(crate) async fn extended_metadata(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let shared = &app.shared;
    if let Some(fault) = metadata_gate(shared) {
        return fault;
    }
    if let Err(reason) = crate::auth::bearer_user(shared, &headers) {
        return crate::auth::unauthorized(reason);
    }
    let Ok(request) = BatchedEntityRequest::parse_from_bytes(&body) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "body is not a BatchedEntityRequest protobuf",
        );
    };
    let catalog = &shared.catalog;
    let mut response = BatchedExtensionResponse::new();
    for entity_request in &request.entity_request {
        let uri = &entity_request.entity_uri;
        let parsed = ids::parse_uri(uri);
        let entity = catalog.by_uri(uri);
        for query in &entity_request.query {
            let kind = query.extension_kind.enum_value().ok();
            let mut header = EntityExtensionDataHeader::new();
            let mut data = EntityExtensionData::new();
            data.entity_uri = uri.clone();
            let (status, payload) = match (parsed, entity) {
                (None, _) => (400, None),
                (Some(_), None) => (404, None),
                (Some(_), Some(entity)) => match extension(catalog, entity, kind) {
                    Ok(Some(payload)) => (200, Some(payload)),
                    Ok(None) => (404, None),
                    Err(()) => (501, None),
                },
            };
            header.status_code = status;
            if let Some((type_url, value)) = payload {
                let etag = etag_of(&value);
                header.cache_ttl_in_seconds = CACHE_TTL;
                header.offline_ttl_in_seconds = 24 * CACHE_TTL;
                if !query.etag.is_empty() && query.etag == etag {
                    header.status_code = 304;
                } else {
                    let mut any = Any::new();
                    any.type_url = type_url;
                    any.value = value;
                    data.extension_data = MessageField::some(any);
                }
                header.etag = etag;
            }
            data.header = MessageField::some(header);
            let mut array_header = EntityExtensionDataArrayHeader::new();
            array_header.cache_ttl_in_seconds = CACHE_TTL;
            array_header.offline_ttl_in_seconds = 24 * CACHE_TTL;
            array_header.extension_type = EnumOrUnknown::new(ExtensionType::GENERIC);
            let mut array = EntityExtensionDataArray::new();
            array.header = MessageField::some(array_header);
            array.extension_kind = query.extension_kind;
            array.extension_data.push(data);
            response.extended_metadata.push(array);
        }
    }
    protobuf_response(StatusCode::OK, &response)
}

/// `GET /metadata/4/{track|album|artist|episode|show}/{32 hex}`.
pub(crate) async fn metadata(
    State(app): State<App>,
    headers: HeaderMap,
    Path((kind, id)): Path<(String, String)>,
) -> Response {
    let shared = &app.shared;
    if let Some(fault) = metadata_gate(shared) {
        return fault;
    }
    if let Err(reason) = crate::auth::bearer_user(shared, &headers) {
        return crate::auth::unauthorized(reason);
    }
    let kind = match Kind::parse(&kind) {
        Some(k) if k != Kind::Playlist => k,
        _ => {
            return json_error(
                StatusCode::NOT_FOUND,
                "unknown metadata type (expected track, album, artist, episode or show)",
            )
        }
    };
    let Some(gid) = ids::from_hex::<16>(&id) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "the id must be 32 hexadecimal digits",
        );
    };
    let catalog = &shared.catalog;
    let found = catalog
        .entity(&gid)
        .filter(|&e| super::catalog::entity_kind(e) == kind)
        .and_then(|e| metadata::encode(catalog, e));
    match found {
        Some((_, bytes)) => protobuf_bytes(StatusCode::OK, bytes),
        None => json_error(StatusCode::NOT_FOUND, "no such item"),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn resolve(
    shared: &Shared,
    headers: &HeaderMap,
    mode: &str,
    format: Option<&str>,
    file: &str,
) -> Response {
    Counters::bump(&shared.counters.storage_resolves);
    let user = match crate::auth::bearer_user(shared, headers) {
        Ok(user) => user,
        Err(reason) => return crate::auth::unauthorized(reason),
    };
    if mode != "interactive" && mode != "interactive_prefetch" {
        return json_error(
            StatusCode::NOT_FOUND,
            "expected interactive or interactive_prefetch",
        );
    }
    let Some(file_id) = ids::from_hex::<20>(file) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "the file id must be 40 hexadecimal digits",
        );
    };
    let catalog = &shared.catalog;
    let Some(file_ref) = catalog.file(&file_id) else {
        return json_error(StatusCode::NOT_FOUND, "no such audio file");
    };
    if let Some(format) = format {
        let Ok(format) = format.parse::<usize>() else {
            return json_error(StatusCode::BAD_REQUEST, "the format must be a number");
        };
        if format != file_ref.format {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("the file has format {}, not {format}", file_ref.format),
            );
        }
    }
    let mut response = StorageResolveResponse::new();
    response.fileid = file_id.to_vec();
    if restricted_for(shared, &file_id, &user) {
        response.result = EnumOrUnknown::new(storage_resolve_response::Result::RESTRICTED);
        return protobuf_response(StatusCode::OK, &response);
    }
    response.result = EnumOrUnknown::new(storage_resolve_response::Result::CDN);
    let now = unix_now();
    if lock(&shared.http_faults).expired_cdn_urls {
        response
            .cdnurl
            .push(cdn::signed_url(shared, &file_id, now.saturating_sub(60)));
    }
    response
        .cdnurl
        .push(cdn::signed_url(shared, &file_id, now + CDN_URL_TTL));
    protobuf_response(StatusCode::OK, &response)
}

/// Whether the file's track is forbidden in the user's country.
fn restricted_for(shared: &Shared, file_id: &FileId, user: &str) -> bool {
    let Some(country) = shared.account(user).map(|a| a.country.as_bytes()) else {
        return false;
    };
    let catalog = &shared.catalog;
    match catalog.file(file_id).map(|f| f.owner) {
        Some(Entity::Track(i)) => catalog.tracks.get(i).is_some_and(|t| {
            t.countries_forbidden
                .as_bytes()
                .chunks(2)
                .any(|cc| cc == country)
        }),
        _ => false,
    }
}

/// `GET /storage-resolve/files/audio/{mode}/{file}`.
pub(crate) async fn storage_resolve(
    State(app): State<App>,
    headers: HeaderMap,
    Path((mode, file)): Path<(String, String)>,
) -> Response {
    resolve(&app.shared, &headers, &mode, None, &file)
}

/// `GET /storage-resolve/v2/files/audio/{mode}/{format}/{file}`.
pub(crate) async fn storage_resolve_v2(
    State(app): State<App>,
    headers: HeaderMap,
    Path((mode, format, file)): Path<(String, String, String)>,
) -> Response {
    resolve(&app.shared, &headers, &mode, Some(&format), &file)
}
