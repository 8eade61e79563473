//! The simulator's own tests over real sockets on 127.0.0.1, one file per surface: `ap` (the
//! access point: handshake, login, keep-alive, Mercury, audio keys, faults, with a minimal
//! client written here), `connect` (dealer websocket, connect-state, transfer and commands,
//! volume, context-resolve) and `http` (client-token, login5, spclient, storage-resolve, the
//! CDN, HTTP faults). They use the simulator's own framing and crypto, never the client's
//! modules (the real client is tested against the simulator in tonearm's `tests/e2e`).
//! Tests of a single file stay beside it (inline, or in `foo/tests.rs` when long).

pub(crate) mod ap;
pub(crate) mod connect;
mod http;
