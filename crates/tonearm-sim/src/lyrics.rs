//! The simulator's lyrics endpoint on spclient, `GET /color-lyrics/v2/track/{base62}` (see the
//! "Lyrics" section of the crate README for the public sources of its shape): line-synced lyrics
//! generated deterministically for the demo tracks, start times spread over the track's length,
//! in the JSON shape librespot-metadata's lyrics model reads (`lyrics.syncType`, `lines[]` with
//! `startTimeMs` as a string, `colors`, `hasVocalRemoval`). Instrumentals (the demo "A440" and
//! the "Edge Cases" compilation) have none and answer 404, a bad id 400, a missing or unknown
//! token 401. Called by the HTTP router; depends on no client module.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::app::App;
use crate::catalog::{Catalog, Entity};
use crate::ids;
use crate::respond::json_error;

/// Words the generated lines are built from (picked by a hash of the track's gid).
const WORDS: [&str; 12] = [
    "carrier", "sine", "drift", "octave", "phase", "hum", "lane", "tide", "circuit", "wave",
    "morning", "valley",
];

/// Whether track `i` has lyrics: instrumentals (the pure tone "A440" and the test compilation)
/// do not, so clients can be tested on "no lyrics".
pub(crate) fn has_lyrics(catalog: &Catalog, i: usize) -> bool {
    let Some(t) = catalog.tracks.get(i) else {
        return false;
    };
    let album = catalog.albums.get(t.album).map_or("", |a| a.name.as_str());
    t.name != "A440" && album != "Edge Cases"
}

/// The synced lines of track `i`: `(start ms, words)`, one line every ~3 s starting at 0 and
/// ending before the track does; `None` for a track without lyrics.
pub(crate) fn lines(catalog: &Catalog, i: usize) -> Option<Vec<(u64, String)>> {
    if !has_lyrics(catalog, i) {
        return None;
    }
    let t = catalog.tracks.get(i)?;
    let count = (t.duration_ms / 3000).clamp(2, 80);
    let step = t.duration_ms / count;
    let seed = usize::from(t.gid[0]) + usize::from(t.gid[1]);
    Some(
        (0..count)
            .map(|n| {
                let k = usize::try_from(n).unwrap_or(0);
                let a = WORDS[(seed + k) % WORDS.len()];
                let b = WORDS[(seed + 3 * k + 5) % WORDS.len()];
                (n * step, format!("{} {n}: the {a} and the {b}", t.name))
            })
            .collect(),
    )
}

/// The response body for these lines, in the shape of Spotify's color-lyrics v2.
fn body(lines: &[(u64, String)]) -> Value {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(start, words)| {
            json!({
                "startTimeMs": start.to_string(),
                "words": words,
                "syllables": [],
                "endTimeMs": "0",
            })
        })
        .collect();
    json!({
        "lyrics": {
            "syncType": "LINE_SYNCED",
            "lines": lines,
            "provider": "Tonearm",
            "providerLyricsId": "0",
            "providerDisplayName": "Tonearm simulator",
            "syncLyricsUri": "",
            "isDenseTypeface": false,
            "alternatives": [],
            "language": "en",
            "isRtlLanguage": false,
            "capStatus": "NONE",
        },
        "colors": { "background": -9_215_334, "text": -16_777_216, "highlightText": -1 },
        "hasVocalRemoval": false,
    })
}

/// `GET /color-lyrics/v2/track/{base62}` (query parameters such as `format`, `vocalRemoval`
/// and `market` are accepted and ignored).
pub(crate) async fn track_lyrics(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let shared = &app.shared;
    if let Err(reason) = crate::auth::bearer_user(shared, &headers) {
        return crate::auth::unauthorized(reason);
    }
    let Some(gid) = ids::from_base62(&id) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "the track id must be 22 base62 characters",
        );
    };
    let catalog = &shared.catalog;
    let Some(Entity::Track(i)) = catalog.entity(&gid) else {
        return json_error(StatusCode::NOT_FOUND, "no such track");
    };
    match lines(catalog, i) {
        Some(lines) => (StatusCode::OK, Json(body(&lines))).into_response(),
        None => json_error(StatusCode::NOT_FOUND, "no lyrics for this track"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_tracks_have_deterministic_lines_spread_over_the_track() {
        let c = Catalog::demo();
        let with: Vec<usize> = c
            .demo_tracks
            .iter()
            .copied()
            .filter(|&i| has_lyrics(&c, i))
            .collect();
        assert_eq!(
            with.len(),
            c.demo_tracks.len() - 1,
            "one demo track is an instrumental"
        );
        for i in with {
            let a = lines(&c, i).unwrap();
            assert_eq!(a, lines(&Catalog::demo(), i).unwrap());
            assert_eq!(a[0].0, 0);
            assert!(a.windows(2).all(|w| w[0].0 < w[1].0));
            assert!(a.last().unwrap().0 < c.tracks[i].duration_ms);
            let json = body(&a);
            assert_eq!(json["lyrics"]["syncType"], "LINE_SYNCED");
            assert_eq!(
                json["lyrics"]["lines"][1]["startTimeMs"],
                a[1].0.to_string()
            );
        }
    }
}
