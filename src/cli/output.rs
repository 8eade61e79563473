//! What the commands print, and how it reaches the terminal.
//!
//! Every command writes through here instead of `println!`: [`Stdout`] and [`line`] return
//! write errors rather than panic, and remember when the reader of standard output went away
//! (EPIPE, e.g. `tonearm play … | head -2`). The command then returns [`Closed`] and `main.rs`
//! ends quietly with status 0, like other tools do when their reader has read enough. Messages
//! for the user that are not results go to standard error through [`note_line`], which ignores a
//! closed stderr (there is nobody left to tell).
//!
//! The text formatting shared by the commands (library, search results, a session, a playing
//! track) is written as pure functions over `impl Write` so unit tests can check it. Called by
//! the command modules beside this one; depends on the service modules' data types only.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::api::webapi::{ArtistRef, Paging, SearchResults};
use crate::api::Library;
use crate::session::Session;

/// Set once a write to standard output failed because its reader is gone.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// The command's result went nowhere: standard output's reader closed the pipe. Not a failure;
/// `main.rs` exits quietly when a command returns it.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
pub struct Closed;

/// Whether `e` (or anything in its chain) is [`Closed`].
pub fn is_closed(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<Closed>())
}

/// Whether a write to standard output has found its reader gone.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

fn watch<T>(r: io::Result<T>) -> io::Result<T> {
    if let Err(e) = &r {
        if e.kind() == io::ErrorKind::BrokenPipe {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
        }
    }
    r
}

/// Standard output as a `Write` that records a closed pipe (see [`stdout_closed`]). Used for
/// command results and by `--sink pipe` for the audio itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        watch(io::stdout().write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        watch(io::stdout().lock().write_all(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        watch(io::stdout().flush())
    }
}

/// Turns the result of writing to standard output into the command's: a closed pipe becomes
/// [`Closed`], any other failure says what failed.
pub fn written(r: io::Result<()>) -> anyhow::Result<()> {
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Err(Closed.into())
        }
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to standard output")),
    }
}

/// Writes one line to standard output (flushed, so it shows at once even when piped).
pub fn line(args: fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    written(writeln!(out, "{args}").and_then(|()| out.flush()))
}

/// Writes one line to standard error; a closed stderr is ignored.
pub fn note_line(args: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{args}");
}

/// `say!("…", args)`: one line to standard output, `Err(Closed)` when nobody reads it.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::output::line(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// `note!("…", args)`: one line to standard error.
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::cli::output::note_line(format_args!($($arg)*))
    };
}
pub(crate) use note;

/// `m:ss`.
pub fn duration_text(ms: u64) -> String {
    let s = ms / 1000;
    format!("{}:{:02}", s / 60, s % 60)
}

/// The line `tonearm play` prints when a track starts.
pub fn track_line(name: &str, artists: &[String], album: &str, duration_ms: u64) -> String {
    format!(
        "▶ {name} — {} · {album} ({})",
        artists.join(", "),
        duration_text(duration_ms)
    )
}

/// The account's product type (`premium`, `free`, …) or `unknown`.
fn product(session: &Session) -> String {
    session
        .product()
        .get("type")
        .cloned()
        .unwrap_or_else(|| "unknown".into())
}

/// `tonearm login`'s first line.
pub fn signed_in_line(session: &Session, took: Duration) -> String {
    format!(
        "Signed in as {} ({}, country {}) in {} ms.",
        session.username(),
        product(session),
        session.country().unwrap_or_else(|| "unknown".into()),
        took.as_millis()
    )
}

/// `tonearm status`: the connected session, one field a line.
pub fn write_session(out: &mut impl Write, session: &Session, took: Duration) -> io::Result<()> {
    writeln!(out, "account:   {}", session.username())?;
    writeln!(out, "product:   {}", product(session))?;
    writeln!(
        out,
        "country:   {}",
        session.country().unwrap_or_else(|| "unknown".into())
    )?;
    writeln!(out, "ap:        {}", session.ap_address())?;
    writeln!(out, "device id: {}", session.device_id())?;
    writeln!(out, "connected in {} ms", took.as_millis())
}

/// The library as JSON (one line): names, URIs and counts, not the tracks themselves.
pub fn library_json(lib: &Library, cached: bool) -> serde_json::Value {
    serde_json::json!({
        "username": lib.username,
        "fetched_at": lib.fetched_at,
        "cached": cached,
        "playlists": lib.playlists.iter().map(|p| serde_json::json!({
            "name": p.name, "uri": p.uri, "owner": p.owner, "snapshot_id": p.snapshot_id,
            "tracks": p.total, "loaded": p.items.as_ref().map(Vec::len),
        })).collect::<Vec<_>>(),
        "liked_songs": lib.saved_tracks.len(),
        "albums": lib.saved_albums.iter().map(|a| serde_json::json!({
            "name": a.name, "uri": a.uri, "artists": a.artists, "tracks": a.total_tracks,
        })).collect::<Vec<_>>(),
        "artists": lib.followed_artists.iter().map(|a| serde_json::json!({
            "name": a.name, "uri": a.uri,
        })).collect::<Vec<_>>(),
        "shows": lib.saved_shows.iter().map(|s| serde_json::json!({
            "name": s.name, "uri": s.uri, "publisher": s.publisher,
        })).collect::<Vec<_>>(),
    })
}

/// The library as text. `cached`: a copy from disk is shown while it is refreshed (its age is
/// measured against `now`).
pub fn write_library(
    out: &mut impl Write,
    lib: &Library,
    cached: bool,
    now: SystemTime,
) -> io::Result<()> {
    writeln!(out, "Playlists ({})", lib.playlists.len())?;
    for p in &lib.playlists {
        let owner = if p.owner.is_empty() {
            String::new()
        } else {
            format!(" · by {}", p.owner)
        };
        writeln!(out, "  {} · {} tracks{owner}", p.name, p.total)?;
    }
    writeln!(out, "Liked Songs: {} tracks", lib.saved_tracks.len())?;
    writeln!(out, "Albums ({})", lib.saved_albums.len())?;
    for a in &lib.saved_albums {
        writeln!(out, "  {} — {}", a.name, a.artists.join(", "))?;
    }
    writeln!(out, "Artists ({})", lib.followed_artists.len())?;
    for a in &lib.followed_artists {
        writeln!(out, "  {}", a.name)?;
    }
    writeln!(out, "Shows ({})", lib.saved_shows.len())?;
    for s in &lib.saved_shows {
        writeln!(out, "  {} — {}", s.name, s.publisher)?;
    }
    if cached {
        let age = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .saturating_sub(lib.fetched_at);
        writeln!(out, "(cached {} min ago; refreshing)", age / 60)?;
    }
    Ok(())
}

/// Whether the parts of the library `tonearm library` shows differ between two copies.
pub fn library_changed(old: &Library, new: &Library) -> bool {
    old.playlists != new.playlists
        || old.saved_tracks.len() != new.saved_tracks.len()
        || old.saved_albums != new.saved_albums
        || old.followed_artists != new.followed_artists
        || old.saved_shows != new.saved_shows
}

/// A kind of search result's heading: `Tracks (1–10 of 42)`, or `Tracks: none`.
fn search_heading<T>(out: &mut impl Write, title: &str, p: &Paging<T>) -> io::Result<()> {
    let end = p.offset as usize + p.items.len();
    if p.items.is_empty() {
        writeln!(out, "{title}: none")
    } else {
        writeln!(out, "{title} ({}–{end} of {})", p.offset + 1, p.total)
    }
}

fn artist_names(a: &[ArtistRef]) -> String {
    a.iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Search results as text: one heading per kind asked for, one line per result with its URI.
pub fn write_search(out: &mut impl Write, r: &SearchResults) -> io::Result<()> {
    if let Some(p) = &r.tracks {
        search_heading(out, "Tracks", p)?;
        for t in &p.items {
            let album = t.album.as_ref().map_or("", |a| a.name.as_str());
            writeln!(
                out,
                "  {} — {} · {} ({})  {}",
                t.name,
                artist_names(&t.artists),
                album,
                duration_text(t.duration_ms),
                t.uri
            )?;
        }
    }
    if let Some(p) = &r.albums {
        search_heading(out, "Albums", p)?;
        for a in &p.items {
            writeln!(
                out,
                "  {} — {}  {}",
                a.name,
                artist_names(&a.artists),
                a.uri
            )?;
        }
    }
    if let Some(p) = &r.artists {
        search_heading(out, "Artists", p)?;
        for a in &p.items {
            writeln!(out, "  {}  {}", a.name, a.uri)?;
        }
    }
    if let Some(p) = &r.playlists {
        search_heading(out, "Playlists", p)?;
        for pl in &p.items {
            writeln!(out, "  {} · {} tracks  {}", pl.name, pl.total(), pl.uri)?;
        }
    }
    if let Some(p) = &r.shows {
        search_heading(out, "Shows", p)?;
        for s in &p.items {
            writeln!(out, "  {} — {}  {}", s.name, s.publisher, s.uri)?;
        }
    }
    if let Some(p) = &r.episodes {
        search_heading(out, "Episodes", p)?;
        for e in &p.items {
            writeln!(
                out,
                "  {} ({})  {}",
                e.name,
                duration_text(e.duration_ms),
                e.uri
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::library::{AlbumInfo, ArtistInfo, LibraryPlaylist, ShowInfo};

    fn text(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn durations_and_track_lines() {
        assert_eq!(duration_text(0), "0:00");
        assert_eq!(duration_text(59_999), "0:59");
        assert_eq!(duration_text(605_000), "10:05");
        assert_eq!(
            track_line(
                "Harmonic Lane",
                &["The Sine Waves".into(), "Harmonic Drift".into()],
                "Pure Tones",
                10_000
            ),
            "▶ Harmonic Lane — The Sine Waves, Harmonic Drift · Pure Tones (0:10)"
        );
    }

    fn library() -> Library {
        Library {
            liked_index: Default::default(),
            id_index: Default::default(),
            username: "ann".into(),
            fetched_at: 1_000,
            playlists: vec![
                LibraryPlaylist {
                    id: "p1".into(),
                    uri: "spotify:playlist:p1".into(),
                    name: "Mine".into(),
                    owner: String::new(),
                    owner_id: String::new(),
                    description: String::new(),
                    snapshot_id: "s1".into(),
                    total: 3,
                    items: None,
                },
                LibraryPlaylist {
                    id: "p2".into(),
                    uri: "spotify:playlist:p2".into(),
                    name: "Theirs".into(),
                    owner: "bob".into(),
                    owner_id: "bob".into(),
                    description: String::new(),
                    snapshot_id: "s2".into(),
                    total: 12,
                    items: Some(Vec::new()),
                },
            ],
            saved_albums: vec![AlbumInfo {
                uri: "spotify:album:a".into(),
                name: "Pure Tones".into(),
                artists: vec!["The Sine Waves".into()],
                total_tracks: 4,
                release_date: String::new(),
                added_at: String::new(),
            }],
            followed_artists: vec![ArtistInfo {
                uri: "spotify:artist:x".into(),
                name: "Osc Kollektiv".into(),
            }],
            saved_shows: vec![ShowInfo {
                uri: "spotify:show:s".into(),
                name: "Tones Weekly".into(),
                publisher: "Drift Media".into(),
                total_episodes: 2,
                added_at: String::new(),
            }],
            ..Library::default()
        }
    }

    #[test]
    fn library_as_text() {
        let lib = library();
        let now = UNIX_EPOCH + Duration::from_secs(1_000 + 5 * 60 + 30);
        let fresh = text(|o| write_library(o, &lib, false, now));
        assert_eq!(
            fresh,
            "Playlists (2)\n  Mine · 3 tracks\n  Theirs · 12 tracks · by bob\n\
             Liked Songs: 0 tracks\nAlbums (1)\n  Pure Tones — The Sine Waves\n\
             Artists (1)\n  Osc Kollektiv\nShows (1)\n  Tones Weekly — Drift Media\n"
        );
        let cached = text(|o| write_library(o, &lib, true, now));
        assert!(
            cached.ends_with("(cached 5 min ago; refreshing)\n"),
            "{cached}"
        );
    }

    #[test]
    fn library_as_json() {
        let v = library_json(&library(), true);
        assert_eq!(v["cached"], true);
        assert_eq!(v["playlists"][1]["owner"], "bob");
        assert_eq!(v["playlists"][0]["loaded"], serde_json::Value::Null);
        assert_eq!(v["playlists"][1]["loaded"], 0);
        assert_eq!(v["albums"][0]["tracks"], 4);
        assert_eq!(v["shows"][0]["publisher"], "Drift Media");
    }

    #[test]
    fn library_changes_that_matter() {
        let a = library();
        let mut b = a.clone();
        b.fetched_at += 60;
        assert!(!library_changed(&a, &b), "only the fetch time differs");
        b.followed_artists.clear();
        assert!(library_changed(&a, &b));
    }

    #[test]
    fn search_results_as_text() {
        let r: SearchResults = serde_json::from_value(serde_json::json!({
            "tracks": {
                "items": [{
                    "name": "A440", "uri": "spotify:track:t", "duration_ms": 12_000,
                    "artists": [{"name": "Osc Kollektiv"}, {"name": "The Sine Waves"}],
                    "album": {"name": "Pluck & Hum", "uri": "spotify:album:a", "artists": []}
                }],
                "total": 31, "limit": 1, "offset": 10
            },
            "artists": {"items": [], "total": 0, "limit": 1, "offset": 0}
        }))
        .unwrap();
        assert_eq!(
            text(|o| write_search(o, &r)),
            "Tracks (11–11 of 31)\n  A440 — Osc Kollektiv, The Sine Waves · Pluck & Hum (0:12)  \
             spotify:track:t\nArtists: none\n"
        );
    }

    #[test]
    fn a_closed_pipe_is_quiet_other_errors_are_not() {
        let e = written(Err(io::Error::from(io::ErrorKind::BrokenPipe))).unwrap_err();
        assert!(is_closed(&e));
        assert!(stdout_closed());
        let e = written(Err(io::Error::from(io::ErrorKind::PermissionDenied))).unwrap_err();
        assert!(!is_closed(&e));
        assert!(format!("{e:#}").starts_with("cannot write to standard output"));
        assert!(is_closed(
            &anyhow::Error::new(Closed).context("while playing")
        ));
    }
}
