//! The player: a handle/task pair. The handle sends commands; an engine on its own OS thread
//! owns the queue, the current and preloaded tracks, normalisation and volume, and the sink.
//! Events and the position clock flow back to the caller.
//!
//! Never imports UI modules or the simulator; tracks come through [`loader::TrackLoader`].

pub mod loader;
pub mod spotify;
