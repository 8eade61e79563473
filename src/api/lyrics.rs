//! Synced lyrics from spclient's `color-lyrics/v2/track/{base62}` (facts and sources in
//! crates/tonearm-sim/README.md, "Lyrics"): the typed, bounded model ([`Lyrics`]), its parser
//! ([`parse`], `startTimeMs` read from its decimal string with a clear error) and the fetch
//! ([`fetch`], 404 → [`Lyrics::None`]), plus the pure position → line lookup the lyrics view
//! highlights with. Called by the app's effects; depends on `spclient` and the id type only,
//! never on the UI, the player or the simulator.

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT};
use reqwest::Method;
use serde::Deserialize;

use super::spclient::SpClient;
use super::ApiError;
use crate::id::SpotifyId;

/// Bodies larger than this are refused (real answers are a few tens of KiB).
pub const MAX_BODY: usize = 1 << 20;
/// At most this many lines are accepted.
pub const MAX_LINES: usize = 2000;
/// Longer lines are cut here (in characters) and end with `…`.
pub const MAX_LINE_CHARS: usize = 300;

/// One line of lyrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// When the line starts, from the track's start (0 for unsynced lyrics).
    pub start_ms: u64,
    pub words: String,
}

/// The lyrics of a track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lyrics {
    /// Spotify has none for this track (404).
    None,
    /// Lines, ordered by start; `synced` false when Spotify only has the text (`UNSYNCED`).
    Text { synced: bool, lines: Vec<Line> },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    lyrics: Inner,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Inner {
    sync_type: String,
    lines: Vec<RawLine>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLine {
    start_time_ms: String,
    words: String,
}

fn malformed(what: impl std::fmt::Display) -> ApiError {
    ApiError::Malformed(format!("lyrics: {what}"))
}

/// Cuts `words` to [`MAX_LINE_CHARS`] characters.
fn bounded(words: String) -> String {
    if words.chars().count() <= MAX_LINE_CHARS {
        return words;
    }
    let mut cut: String = words.chars().take(MAX_LINE_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// Parses a color-lyrics v2 JSON body.
pub fn parse(bytes: &[u8]) -> Result<Lyrics, ApiError> {
    if bytes.len() > MAX_BODY {
        return Err(malformed(format!(
            "the answer is {} bytes, more than the {MAX_BODY} accepted",
            bytes.len()
        )));
    }
    let body: Body = serde_json::from_slice(bytes).map_err(malformed)?;
    let synced = match body.lyrics.sync_type.as_str() {
        "LINE_SYNCED" => true,
        "UNSYNCED" => false,
        // Syllable-synced lyrics also carry line start times; show them line by line.
        "SYLLABLE_SYNCED" => true,
        other => return Err(malformed(format!("unknown syncType {other:?}"))),
    };
    if body.lyrics.lines.len() > MAX_LINES {
        return Err(malformed(format!(
            "{} lines, more than the {MAX_LINES} accepted",
            body.lyrics.lines.len()
        )));
    }
    let mut lines = Vec::with_capacity(body.lyrics.lines.len());
    for (n, raw) in body.lyrics.lines.into_iter().enumerate() {
        let start_ms = if synced {
            raw.start_time_ms.trim().parse::<u64>().map_err(|_| {
                malformed(format!(
                    "line {n}: startTimeMs {:?} is not a number of milliseconds",
                    raw.start_time_ms.chars().take(32).collect::<String>()
                ))
            })?
        } else {
            0
        };
        lines.push(Line {
            start_ms,
            words: bounded(raw.words),
        });
    }
    // Real answers are ordered; sorting keeps the lookup below correct if one is not.
    lines.sort_by_key(|l| l.start_ms);
    Ok(Lyrics::Text { synced, lines })
}

/// Fetches the lyrics of `track`; [`Lyrics::None`] when Spotify has none.
pub async fn fetch(spclient: &SpClient, track: SpotifyId) -> Result<Lyrics, ApiError> {
    let path = format!(
        "/color-lyrics/v2/track/{}?format=json&vocalRemoval=false&market=from_token",
        track.to_base62()
    );
    let mut headers = HeaderMap::new();
    headers.insert("app-platform", HeaderValue::from_static("WebPlayer"));
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    match spclient.request(Method::GET, &path, headers, None).await {
        Ok(bytes) => parse(&bytes),
        Err(ApiError::NotFound(_)) => Ok(Lyrics::None),
        Err(e) => Err(e),
    }
}

/// The line being sung at `position_ms`: the last one that started at or before it; `None`
/// before the first line (and for unsynced lyrics, where no line is current).
pub fn current_line(lines: &[Line], synced: bool, position_ms: u64) -> Option<usize> {
    if !synced {
        return None;
    }
    lines
        .partition_point(|l| l.start_ms <= position_ms)
        .checked_sub(1)
}

#[cfg(test)]
mod tests;
