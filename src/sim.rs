//! The offline Spotify service (SKELETON — replaced by the simulator work).
