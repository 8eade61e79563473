//! Which item ids are podcast episodes, as far as this process has learnt. The player's queue,
//! the Connect state and the TUI's queue hold bare 16-byte ids (a Spotify gid says nothing of
//! its kind), yet an episode must be reported to Spotify as `spotify:episode:…` (that is how
//! its resume point reaches Spotify's side) and its place kept in the resume points. Whoever
//! learns the kind — a URI parsed with it (`tonearm play`, a Connect command, a list row) or
//! the loader that found episode metadata for an id — notes it here; [`uri`] then formats the
//! right URI. Facts only (an id never changes kind), bounded to [`CAPACITY`] ids, the oldest
//! forgotten first; an id not known here is a track, as before. Used by the player's loader,
//! connect, services and the front ends; depends on nothing but `id`.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use super::SpotifyId;

/// The most episode ids remembered.
pub const CAPACITY: usize = 4096;

#[derive(Default)]
struct Known {
    set: HashSet<SpotifyId>,
    order: VecDeque<SpotifyId>,
}

static KNOWN: Mutex<Option<Known>> = Mutex::new(None);

/// Remembers that `id` is an episode.
pub fn note(id: SpotifyId) {
    let mut guard = KNOWN.lock().unwrap_or_else(|p| p.into_inner());
    let known = guard.get_or_insert_with(Known::default);
    if known.set.insert(id) {
        known.order.push_back(id);
        while known.order.len() > CAPACITY {
            if let Some(old) = known.order.pop_front() {
                known.set.remove(&old);
            }
        }
    }
}

/// Whether `id` is known to be an episode.
pub fn is_episode(id: SpotifyId) -> bool {
    KNOWN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .is_some_and(|k| k.set.contains(&id))
}

/// `spotify:episode:…` for a known episode, else `spotify:track:…`.
pub fn uri(id: SpotifyId) -> String {
    let kind = if is_episode(id) { "episode" } else { "track" };
    format!("spotify:{kind}:{}", id.to_base62())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noted_ids_format_as_episodes_and_the_set_is_bounded() {
        // Ids far from any other test's.
        let base = 0xe915_0de5_0000_0000_0000_0000_0000_0000u128;
        let ep = SpotifyId(base);
        assert_eq!(uri(ep), format!("spotify:track:{}", ep.to_base62()));
        note(ep);
        assert!(is_episode(ep));
        assert_eq!(uri(ep), format!("spotify:episode:{}", ep.to_base62()));
        for n in 1..=CAPACITY as u128 {
            note(SpotifyId(base + n));
        }
        assert!(!is_episode(ep), "the oldest is forgotten");
        assert!(is_episode(SpotifyId(base + CAPACITY as u128)));
    }
}
