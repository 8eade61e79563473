//! Session-level tests.
