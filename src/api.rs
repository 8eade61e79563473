//! Spotify's HTTP services for the client: tokens (client-token, login5 with hashcash), spclient
//! (metadata through extended-metadata with the `/metadata/4` fallback, storage-resolve), the
//! typed metadata models and the choice of audio file by bitrate. Never imports UI modules, the
//! player or the simulator.
//!
//! Files: `error` ([`ApiError`]), `hashcash` (pure solver), `client_token` and `login5` (the two
//! token exchanges, driven by plain values), `tokens` ([`TokenProvider`]: caching,
//! single-flight), `metadata` (models, validation, availability, [`choose_file`]), `storage`
//! (storage-resolve answers, CDN URL expiry), `spclient` ([`SpClient`]), `http` (headers,
//! status mapping, retry policy), `webapi` ([`WebApi`]: the typed Web API client with its
//! models and concurrent paging), `library` ([`Library`]: the user's library, cached on disk).

mod client_token;
pub mod error;
pub mod hashcash;
mod http;
pub use http::{rate_limit_notices, RateGate, RateLimitNotice, RETRY_AFTER_CAP};
pub mod library;
mod login5;
pub mod lyrics;
pub mod metadata;
pub mod spclient;
pub mod storage;
pub mod tokens;
pub mod webapi;

#[cfg(test)]
mod tests;

pub use error::ApiError;
pub use http::RetryPolicy;
pub use library::Library;
pub use metadata::{
    choose_file, Album, AlbumRef, Artist, ArtistRef, AudioFile, AudioFormat, Bitrate, Episode,
    Restriction, Show, Track,
};
pub use spclient::{path_segment, SpClient};
#[cfg(test)]
pub(crate) use tokens::FixedAccount;
pub use tokens::{AccessToken, TokenProvider, TokenTiming};
pub use webapi::{Pages, WebApi, WebApiPolicy};
