//! Desktop notifications on track change through `org.freedesktop.Notifications.Notify` on
//! the desktop's zbus connection: the title as summary, "artists — album" as body, app name
//! `tonearm`, each replacing the previous one (`replaces_id`) instead of stacking.
//!
//! A task of its own takes the newest track from a watch, so a slow or absent notification
//! server never holds up MPRIS. A track notified before its cover was fetched is notified again
//! in place, with the image, when the cover arrives (`art::now_art_changes`). Failures are
//! logged once (then at debug), never shown.
//! Called by `desktop.rs` only; depends on the player's track type, `art` (the cover URL) and
//! zbus.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::watch;
use zbus::zvariant::Value;

use crate::player::loader::TrackInfo;

const DESTINATION: &str = "org.freedesktop.Notifications";
const PATH: &str = "/org/freedesktop/Notifications";
/// A notification server that does not answer within this is given up on for that track.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the notification shows (ms), a track change being a passing event.
const EXPIRE_MS: i32 = 5000;

/// Starts the notifier; send it the track being heard.
pub fn spawn(conn: zbus::Connection) -> watch::Sender<Option<TrackInfo>> {
    let (tx, rx) = watch::channel(None);
    tokio::spawn(run(conn, rx));
    tx
}

async fn run(conn: zbus::Connection, mut tracks: watch::Receiver<Option<TrackInfo>>) {
    let mut art = crate::art::now_art_changes();
    let mut replaces: u32 = 0;
    let mut failed_before = false;
    // The track last notified without a cover: when its cover arrives, the notification is
    // sent again in place (`replaces_id`) with the image.
    let mut imageless: Option<TrackInfo> = None;
    loop {
        let track = tokio::select! {
            changed = tracks.changed() => {
                if changed.is_err() {
                    return;
                }
                let Some(track) = tracks.borrow_and_update().clone() else {
                    continue;
                };
                track
            }
            // The sender is a process-wide static: never closed.
            _ = art.changed() => {
                art.borrow_and_update();
                match imageless.take() {
                    Some(t) if crate::art::now_art(t.id).is_some() => t,
                    other => {
                        imageless = other;
                        continue;
                    }
                }
            }
        };
        let call = notify(&conn, replaces, &track);
        let result = match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err("the notification server did not answer".to_string()),
        };
        match result {
            Ok((id, with_image)) => {
                replaces = id;
                imageless = (!with_image).then_some(track);
            }
            Err(e) if !failed_before => {
                failed_before = true;
                tracing::info!("desktop notifications unavailable: {e}");
            }
            Err(e) => tracing::debug!("desktop notification failed: {e}"),
        }
    }
}

/// Sends the notification for `track`; the id the server gave it, and whether it had the cover.
async fn notify(
    conn: &zbus::Connection,
    replaces: u32,
    track: &TrackInfo,
) -> zbus::Result<(u32, bool)> {
    let (summary, body) = text(track);
    let mut hints: HashMap<&str, Value<'_>> = HashMap::new();
    // The cover when it is known by now (the Desktop Notifications spec's `image-path` hint
    // takes a file:// URI or a path).
    let art = crate::art::now_art(track.id);
    if let Some(a) = art.as_deref() {
        hints.insert("image-path", Value::from(a));
    }
    let reply = conn
        .call_method(
            Some(DESTINATION),
            PATH,
            Some(DESTINATION),
            "Notify",
            &(
                "tonearm",
                replaces,
                "",
                summary.as_str(),
                body.as_str(),
                Vec::<&str>::new(),
                hints,
                EXPIRE_MS,
            ),
        )
        .await?;
    Ok((reply.body().deserialize::<u32>()?, art.is_some()))
}

/// The summary (the title) and body ("artists — album", markup escaped: servers may read
/// the body as a small subset of HTML) of a track's notification.
pub fn text(track: &TrackInfo) -> (String, String) {
    let artists = track.artists.join(", ");
    let body = match (artists.is_empty(), track.album.is_empty()) {
        (false, false) => format!("{artists} — {}", track.album),
        (false, true) => artists,
        (true, false) => track.album.clone(),
        (true, true) => String::new(),
    };
    (track.name.clone(), escape_markup(&body))
}

fn escape_markup(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SpotifyId;

    fn track(artists: &[&str], album: &str) -> TrackInfo {
        TrackInfo {
            id: SpotifyId(1),
            played_id: SpotifyId(1),
            name: "Song <1>".into(),
            artists: artists.iter().map(|a| a.to_string()).collect(),
            album: album.into(),
            duration_ms: 1000,
        }
    }

    #[test]
    fn body_is_artists_then_album_escaped() {
        let (summary, body) = text(&track(&["A & B", "C"], "Album"));
        // The summary is plain text by the spec; only the body is markup.
        assert_eq!(summary, "Song <1>");
        assert_eq!(body, "A &amp; B, C — Album");
        assert_eq!(text(&track(&[], "X")).1, "X");
        assert_eq!(text(&track(&["Y"], "")).1, "Y");
        assert_eq!(text(&track(&[], "")).1, "");
    }
}
