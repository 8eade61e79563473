//! Sign-in support that is not the AP protocol itself: where reusable credentials are kept.
//! (OAuth flows and the OS keyring arrive with the sign-in work; today the store is a 0600 file.)
//! Must not depend on UI modules.

pub mod store;
