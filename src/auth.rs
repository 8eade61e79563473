//! Sign-in support that is not the AP protocol itself: the OAuth flows that produce an access
//! token (browser PKCE with a loopback redirect, device-code pairing) and the credential store
//! that keeps the reusable credentials the access point hands out (OS keyring, 0600 file
//! fallback). Called by `main.rs`; must not depend on UI modules.

pub mod oauth;
pub mod store;

pub use oauth::{AuthError, OAuthToken};
pub use store::{CredentialStore, StoreError};
