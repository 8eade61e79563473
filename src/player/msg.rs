//! The messages between the player's three parts, in one place so that imports go one way:
//! the handle ([`Player`](super::Player)) sends [`Command`]s inside [`EngineMsg`]; the loader
//! task (`task`) sends finished loads as [`EngineMsg::Loaded`]; the engine (`engine`) asks the
//! loader task for loads with [`LoaderRequest`]. `engine` and `task` both depend on this file,
//! never on each other.
//!
//! Pure data; depends on the player's public types and the loader's results only.

use super::loader::{LoadError, LoadedTrack};
use super::PlayerOp;
use crate::id::SpotifyId;

/// What the handle sends: an operation any front end may ask for, or one of the two only the
/// player's owner uses.
#[derive(Debug)]
pub(super) enum Command {
    Op(PlayerOp),
    /// [`super::Player::stop`].
    Stop,
    /// The last handle is gone or `shutdown` was called: stop the sink and end the thread.
    Shutdown,
}

/// Everything the engine's channel carries.
pub(super) enum EngineMsg {
    Command(Command),
    Loaded {
        req: u64,
        result: Result<LoadedTrack, LoadError>,
    },
    /// The loader's session is connected again (after being down): a held track's retry is
    /// due now.
    SessionUp,
}

/// From the engine to the loader task.
#[derive(Debug)]
pub(super) enum LoaderRequest {
    Load { req: u64, id: SpotifyId },
    Cancel { req: u64 },
}
