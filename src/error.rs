//! The crate-wide error: every module's `thiserror` enum converts into [`Error`], and
//! [`Error::kind`] tells the caller (the UI loop, the CLI) what to do about it: retry,
//! sign in again, tell the user, or stop. No secrets in any message.

/// What the caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Transient (network, timeout, server busy): retry or reconnect with back-off.
    Retry,
    /// The credentials were refused or expired: sign in again.
    Relogin,
    /// Tell the user; nothing to retry automatically (not premium, not found, bad input).
    Notify,
    /// Cannot go on (invalid configuration, protocol violation we cannot recover from).
    Fatal,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Id(#[from] crate::id::IdError),
    #[error(transparent)]
    Session(#[from] crate::session::SessionError),
    #[error(transparent)]
    Api(#[from] crate::api::ApiError),
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    #[error(transparent)]
    Store(#[from] crate::auth::StoreError),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_) => ErrorKind::Fatal,
            Error::Id(_) => ErrorKind::Notify,
            Error::Session(e) => e.kind(),
            Error::Api(e) => e.kind(),
            Error::Auth(e) => e.kind(),
            // A damaged or unsafe store needs the user (chmod, logout, sign in again).
            Error::Store(_) => ErrorKind::Notify,
        }
    }
}
