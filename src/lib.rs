//! tonearm: a terminal Spotify client with its own protocol layer, and a Spotify Connect speaker.
//!
//! Crate map (one line per module):
//! * [`api`]     — HTTP services: client-token, login5, spclient (metadata, storage-resolve), the
//!   typed Web API client and the cached library.
//! * [`audio`]   — fetch, decrypt, Spotify header, decode, normalisation, volume, sinks.
//! * [`player`]  — the player handle and its engine thread (queue, gapless, events); the
//!   [`player::PlayerOp`] vocabulary.
//! * [`control`] — the one core: every front end's intents (keys, clicks, phone commands) →
//!   player operations, with one set of semantics; the TUI and the daemon both use it.
//! * [`auth`]    — OAuth sign-in (browser PKCE, device code) and the credential store (keyring,
//!   0600 file fallback).
//! * [`demo`]    — `--demo`: the simulator in-process and a config pointing at it.
//! * [`config`]  — the config file (raw serde structs → resolved values), every endpoint overridable.
//! * [`paths`]   — XDG config/cache/state directories; moving a corrupt state file aside.
//! * [`server_time`] — durations from servers (`expires_in`, `Retry-After`) clamped; checked
//!   deadline arithmetic.
//! * [`logging`] — `tracing` to a log file; nothing is ever printed while the TUI is up.
//! * [`error`]   — the crate-wide [`Error`] whose [`ErrorKind`] tells the UI what to do.
//! * [`id`]      — Spotify ids: base62/base16 item ids, file ids, URIs.
//! * [`session`] — the access-point session: apresolve, handshake, Shannon framing, login,
//!   keep-alive, Mercury, audio keys; a cheap-to-clone [`session::Session`] handle.
//! * [`supervisor`] — keeps the session up for every front end (TUI and daemon): jittered
//!   reconnect back-off by error kind, "signed out" when the credentials are refused.
//! * [`app`]     — the TUI's state, pure `update`, effects and the event loop.
//! * [`ui`]      — rendering the state with ratatui.
//! * [`art`]     — album covers: fetched once, cached on disk under a cap, decoded off the UI
//!   thread (drawn by `ui::art`).
//! * [`action`]  — the vocabulary of user actions (keys, mouse) and the panes; below both the
//!   keymap and the app.
//! * [`keymap`]  — key parsing, chords, per-context bindings from TOML.
//! * [`theme`]   — themes: palettes and semantic roles from TOML.
//! * [`uiconf`]  — the TUI's config: keymap + themes + `[ui]`, loaded and checked together.
//! * [`connect`] — Spotify Connect: receiver (dealer, connect-state, zeroconf) and controller.
//! * [`daemon`]  — `tonearm daemon`: the Connect receiver without the TUI.
//! * [`local_api`] — the local control API (Unix socket HTTP/JSON + WebSocket events) that
//!   `tonearm ctl` and scripts use; one more front end of the core, served by the TUI and the
//!   daemon.
//! * [`desktop`] — MPRIS 2 and track-change notifications on the session bus (one more front
//!   end: its method calls become [`control::Intent`]s).
//! * [`services`] — the signed-in bundle: session, tokens, spclient, Web API, player.
//! * [`resume`]  — episodes' resume points in the state directory (`tonearm play`, TUI, daemon).
//! * [`cli`]     — the command-line edge: one module per `tonearm` command, and their output
//!   (the binary's `main.rs` only parses and dispatches; nothing else imports `cli`).
//!
//! Data flow: the CLI (`main.rs` + [`cli`]) resolves the config, builds a
//! [`session::SessionConfig`] from its endpoints, and connects a [`session::Session`]; services
//! talk to the session through its handle, which forwards packets to one connection task that
//! owns the socket; [`supervisor`] reconnects it for the TUI and the daemon alike. Every front end (keys and clicks in the TUI, a phone's Connect commands in
//! the TUI or the daemon) turns its input into [`control::Intent`]s; [`control`] maps them to
//! [`player::PlayerOp`]s with one set of semantics, which the TUI's `update` returns as effects
//! and the daemon applies directly.

pub mod action;
pub mod api;
pub mod app;
pub mod art;
pub mod audio;
pub mod auth;
pub mod cli;
pub mod config;
pub mod connect;
pub mod control;
pub mod daemon;
pub mod demo;
pub mod desktop;
pub mod error;
pub mod guard;
pub mod guests;
pub mod hooks;
pub mod id;
pub mod keymap;
pub mod local_api;
pub mod logging;
pub mod paths;
pub mod player;
pub mod resume;
pub mod server_time;
pub mod services;
pub mod session;
pub mod supervisor;
pub mod theme;
pub mod ui;
pub mod uiconf;

pub use error::{Error, ErrorKind};
