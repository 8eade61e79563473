//! End-to-end tests: the real client against the simulator over 127.0.0.1, known-answer vectors
//! computed independently of our code, the module layering rule, and the CLI.
#![allow(clippy::unwrap_used)]

mod api;
mod art;
mod audio;
mod cli;
mod common;
mod connect;
mod control_api;
mod guard;
mod guests;
mod hooks;
mod kat;
mod keyring;
mod layering;
mod library_edits;
mod lyrics;
mod mdns;
mod mpris;
mod oauth_listener;
mod player;
mod podcasts;
mod recovery;
mod resume;
mod session;
mod signin;
mod sim_connect;
mod sim_flag;
mod state_files;
mod transient;
mod trust;
mod tui;
mod ui_config;
mod webapi;
mod webapi_schema;
mod zeroconf;
mod zeroconf_policy;
