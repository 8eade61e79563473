//! Album covers in the state: which covers the screen wants (the playing track's album in the
//! now-playing bar, the open album pages), asking for each one once (`Effect::FetchArt`), the
//! answers, and forgetting covers no longer wanted (so at most a handful of decoded images are
//! held). A failed fetch stays `Missing` (a placeholder) until the cover leaves the screen.
//!
//! Part of the pure `update` (see `update.rs`): no I/O, no UI crates, no service handles.

use std::collections::BTreeSet;

use super::lyrics::playing_track;
use super::Out;
use crate::app::effect::Effect;
use crate::app::state::{CoverState, PageKind, State};

/// The key of the playing track's cover: its album's URI when known, else its own URI (the
/// fetch looks the album up).
pub(super) fn now_key(state: &State) -> Option<String> {
    let id = playing_track(state)?;
    let album = state
        .tracks
        .get(&id)
        .map(|t| t.album_uri.as_str())
        .filter(|u| !u.is_empty());
    Some(match album {
        Some(uri) => uri.to_string(),
        None => format!("spotify:track:{}", id.to_base62()),
    })
}

/// The album pages on top of the library and search panes.
fn page_keys(state: &State) -> impl Iterator<Item = String> + '_ {
    [state.library.pages.last(), state.search.pages.last()]
        .into_iter()
        .flatten()
        .filter(|p| p.kind == PageKind::Album && !p.uri.is_empty())
        .map(|p| p.uri.clone())
}

/// After every message: asks for covers newly wanted, drops the ones no longer wanted.
pub(super) fn follow(state: &mut State, out: &mut Out) {
    if !state.art.enabled {
        return;
    }
    let now = now_key(state);
    let wanted: BTreeSet<String> = now.iter().cloned().chain(page_keys(state)).collect();
    for key in &wanted {
        if !state.art.covers.contains_key(key) {
            state.art.covers.insert(key.clone(), CoverState::Loading);
            out.effect(Effect::FetchArt { key: key.clone() });
        }
    }
    let before = state.art.covers.len();
    state.art.covers.retain(|k, _| wanted.contains(k));
    if state.art.now != now || state.art.covers.len() != before {
        state.art.now = now;
        out.redraw = true;
    }
}

/// The answer to a cover fetch (dropped when the cover is no longer wanted).
pub(super) fn art_msg(
    state: &mut State,
    key: String,
    result: Result<crate::art::Cover, String>,
    out: &mut Out,
) {
    let Some(slot) = state.art.covers.get_mut(&key) else {
        return;
    };
    *slot = match result {
        Ok(cover) => CoverState::Ready(cover),
        Err(e) => {
            tracing::debug!(
                key = %crate::logging::escaped(&key),
                error = %crate::logging::escaped(&e),
                "no cover"
            );
            CoverState::Missing(e)
        }
    };
    out.redraw = true;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use crate::api::library::TrackInfo;
    use crate::app::effect::Effect;
    use crate::app::msg::Msg;
    use crate::app::state::{CoverState, Screen, State};
    use crate::app::update::update;
    use crate::id::SpotifyId;
    use crate::player::loader::TrackInfo as PlayerTrack;
    use crate::player::{PlayState, PlayerStatus, RepeatMode};

    fn status(n: u128) -> Msg {
        Msg::PlayerStatus(PlayerStatus {
            state: PlayState::Playing,
            track: Some(PlayerTrack {
                id: SpotifyId(n),
                played_id: SpotifyId(n),
                name: format!("t{n}"),
                artists: vec![],
                album: "A".into(),
                duration_ms: 1000,
            }),
            position_ms: 0,
            at: Instant::now(),
            volume: 0,
            buffering: false,
            repeat: RepeatMode::Off,
            shuffle: false,
        })
    }

    fn fetches(effects: &[Effect]) -> Vec<String> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::FetchArt { key } => Some(key.clone()),
                _ => None,
            })
            .collect()
    }

    fn cover() -> crate::art::Cover {
        crate::art::Cover {
            url: "http://127.0.0.1:1/image/x".into(),
            path: None,
            image: Arc::new(image::RgbImage::new(2, 2)),
        }
    }

    #[test]
    fn the_playing_tracks_cover_is_asked_once_and_follows_the_track() {
        let mut s = State::new("d".into(), "n".into(), "t".into(), vec![], Screen::Main);
        // Off: nothing asked.
        assert!(fetches(&update(&mut s, status(1)).effects).is_empty());
        s.art.enabled = true;
        // The album of track 2 is known: its URI is the key.
        let album = format!("spotify:album:{}", SpotifyId(77).to_base62());
        s.tracks.insert(
            SpotifyId(2),
            TrackInfo {
                uri: format!("spotify:track:{}", SpotifyId(2).to_base62()),
                name: "t2".into(),
                artists: vec![],
                album: "A".into(),
                album_uri: album.clone(),
                duration_ms: 1000,
                explicit: false,
            },
        );
        let out = update(&mut s, status(2));
        assert_eq!(fetches(&out.effects), vec![album.clone()]);
        assert_eq!(s.art.now.as_deref(), Some(album.as_str()));
        assert_eq!(s.art.covers.get(&album), Some(&CoverState::Loading));
        // Position updates of the same track ask nothing more.
        assert!(fetches(&update(&mut s, status(2)).effects).is_empty());
        // The answer fills it and redraws; a 404 would be a placeholder.
        let out = update(
            &mut s,
            Msg::Art {
                key: album.clone(),
                result: Ok(cover()),
            },
        );
        assert!(out.redraw);
        assert!(matches!(
            s.art.covers.get(&album),
            Some(CoverState::Ready(_))
        ));
        // Another track without a known album: keyed by its own URI, the old cover dropped.
        let out = update(&mut s, status(3));
        let key = format!("spotify:track:{}", SpotifyId(3).to_base62());
        assert_eq!(fetches(&out.effects), vec![key.clone()]);
        assert!(!s.art.covers.contains_key(&album));
        // A late answer for the dropped cover is ignored; a failure is a placeholder.
        update(
            &mut s,
            Msg::Art {
                key: album.clone(),
                result: Ok(cover()),
            },
        );
        assert!(!s.art.covers.contains_key(&album));
        update(
            &mut s,
            Msg::Art {
                key: key.clone(),
                result: Err("cover fetch answered HTTP 404".into()),
            },
        );
        assert!(matches!(
            s.art.covers.get(&key),
            Some(CoverState::Missing(_))
        ));
        // And it is not asked again while the track plays.
        assert!(fetches(&update(&mut s, status(3)).effects).is_empty());
    }
}
