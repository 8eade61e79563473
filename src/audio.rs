//! Audio: from encrypted CDN bytes to samples at a sink. `Read + Seek` adapters in a chain —
//! ranged streaming fetch → AES-128-CTR decrypt → Spotify header (normalisation data) →
//! symphonia decode → [`pcm::PcmSource`] — plus normalisation, software volume and the sinks.
//!
//! Called by the player (which owns the decode thread). Never imports the player, UI modules or
//! the simulator: the one value both sides share, [`header::NormalisationData`] (produced by
//! [`header`], consumed by [`normalise`], carried by the player's loader), lives here.

pub mod decode;
pub mod decrypt;
pub mod fetch;
pub mod header;
pub mod normalise;
pub mod output;
pub mod pcm;
pub mod sink;
pub mod volume;

#[cfg(test)]
mod tests;
