//! WebApi tests.
