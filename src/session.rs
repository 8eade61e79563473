//! The access-point session (SKELETON — replaced by the session layer work).
pub mod audio_key;
pub mod keepalive;
pub mod mercury;
pub mod packet;

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
