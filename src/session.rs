//! The access-point session (SKELETON — replaced by the session layer work).
pub mod apresolve;
pub mod audio_key;
pub mod codec;
pub mod credentials;
pub mod dh;
pub mod handshake;
pub mod keepalive;
pub mod login;
pub mod mercury;
pub mod packet;
pub mod product;

/// Errors of the session layer.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("not connected")]
    NotConnected,
}

impl SessionError {
    pub fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::Retry
    }
}
