//! (being written: see connect.rs for what this module owns)
