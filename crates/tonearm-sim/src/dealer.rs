//! The simulator's dealer websocket (spec §11.1 "Dealer websocket wire format", §15.3), served
//! on the HTTP server at `/?access_token=…` (login5 or OAuth token; `Authorization: Bearer` is
//! accepted too). On open it pushes `hm://pusher/v1/connections/<id>` with the
//! `Spotify-Connection-Id` header; it answers websocket Ping frames (tungstenite sends the Pong)
//! and JSON `{"type":"ping"}` with `{"type":"pong"}`; it forwards `{"type":"reply"}` frames to
//! the connect-state hub, which correlates them by `key`. Outgoing frames (cluster pushes,
//! volume messages, command requests) come from the hub through a bounded per-connection queue.
//! Malformed client frames are logged and ignored; the connection stays up. A client's Close
//! frame is answered with the echo RFC 6455 §5.5.1 requires before the TCP connection goes.
//! Runtime faults (`faults::DealerGuard`): `DealerFlap` closes the socket (Close 1001), an HTTP
//! black hole freezes it (no reads, so no Pongs, and no writes) until lifted. When the socket
//! closes, the hub forgets the connection and drops its devices after a grace period. Also
//! builds the JSON frames (`message_frame`, `request_frame`). Called by `http` (the `/` route)
//! and `connect_state`; depends on no client module.

pub(crate) mod frames;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::app::App;
use crate::faults::{DealerEvent, DealerGuard};
use crate::respond::percent_decode;
use crate::state::Shared;
use frames::pusher_frame;
#[cfg(test)]
use frames::{message_frame, request_frame};

/// Largest client frame accepted (replies and pings are tiny).
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

/// Whether a `/` request is a websocket handshake (rather than apresolve).
pub(crate) fn is_dealer_request(headers: &HeaderMap, query: Option<&str>) -> bool {
    let upgrade = headers
        .get(axum::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    upgrade || query.is_some_and(|q| access_token(q).is_some())
}

fn access_token(query: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == "access_token")
        .and_then(|(_, v)| percent_decode(v))
}

/// Validates the token and upgrades `GET /?access_token=…` to the dealer websocket.
pub(crate) async fn accept(app: App, query: Option<String>, request: Request) -> Response {
    let token = query.as_deref().and_then(access_token).or_else(|| {
        crate::auth::bearer_token(request.headers())
            .ok()
            .map(str::to_owned)
    });
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return crate::auth::unauthorized("missing access_token");
    };
    let Some((user, _scopes)) = app.shared.validate_web_token(&token) else {
        tracing::info!("dealer: token refused");
        return crate::auth::unauthorized("invalid or expired access token");
    };
    let (mut parts, _body) = request.into_parts();
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &app).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let shared = Arc::clone(&app.shared);
    ws.max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| serve(socket, shared, user))
}

/// One dealer connection until it closes.
async fn serve(mut socket: WebSocket, shared: Arc<Shared>, user: String) {
    let (conn_id, mut rx) = shared.connect.open_connection(&user);
    let mut guard = DealerGuard::new(&shared);
    tracing::info!(user = %user, "dealer connection opened");
    if socket
        .send(Message::Text(pusher_frame(&conn_id).into()))
        .await
        .is_ok()
    {
        loop {
            if guard.held() {
                // A black hole: neither read (so no Pong either) nor write until it lifts.
                match guard.next().await {
                    DealerEvent::Close => {
                        close_from_server(&mut socket).await;
                        break;
                    }
                    DealerEvent::HoleChanged => continue,
                }
            }
            tokio::select! {
                event = guard.next() => {
                    if event == DealerEvent::Close {
                        tracing::info!(user = %user, "dealer connection closed (fault)");
                        close_from_server(&mut socket).await;
                        break;
                    }
                }
                out = rx.recv() => {
                    let Some(frame) = out else { break };
                    if socket.send(Message::Text(frame.into())).await.is_err() {
                        break;
                    }
                }
                incoming = socket.recv() => match incoming {
                    None | Some(Err(_)) => break,
                    Some(Ok(Message::Close(_))) => {
                        // RFC 6455 §5.5.1: answer the Close (tungstenite queued the echo of
                        // its status code) before the TCP connection goes.
                        finish_close(&mut socket).await;
                        break;
                    }
                    Some(Ok(Message::Text(text))) => {
                        if let Some(answer) = handle_text(&shared, &conn_id, text.as_str()) {
                            if socket.send(Message::Text(answer.into())).await.is_err() {
                                break;
                            }
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        tracing::info!("dealer: binary frame ignored");
                    }
                    // tungstenite queues the Pong for a Ping itself.
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                },
            }
        }
    }
    shared.connect.close_connection(&conn_id);
    tracing::info!(user = %user, "dealer connection closed");
    let grace = shared.connect.timing().grace;
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        shared.connect.expire_connection(&conn_id);
    });
}

/// How long the closing handshake may take before the socket is dropped anyway.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Drives the socket after a Close was received or sent, so that the queued Close reply goes
/// out and the handshake completes (bounded by [`CLOSE_WAIT`]).
async fn finish_close(socket: &mut WebSocket) {
    let drain = async {
        // Reading flushes the pending Close reply; the stream ends once the peer closes.
        while let Some(Ok(_)) = socket.recv().await {}
    };
    let _ = tokio::time::timeout(CLOSE_WAIT, drain).await;
}

/// Closes from the server side (a fault): a Close frame with 1001 "going away", as a server
/// that restarts sends, then the closing handshake.
async fn close_from_server(socket: &mut WebSocket) {
    let frame = CloseFrame {
        code: close_code::AWAY,
        reason: "going away".into(),
    };
    if socket.send(Message::Close(Some(frame))).await.is_ok() {
        finish_close(socket).await;
    }
}

/// Handles one client text frame; returns a frame to send back (the JSON pong).
fn handle_text(shared: &Shared, conn_id: &str, text: &str) -> Option<String> {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        tracing::info!(len = text.len(), "dealer: malformed client frame ignored");
        return None;
    };
    match v.get("type").and_then(Value::as_str) {
        Some("ping") => Some(json!({ "type": "pong" }).to_string()),
        Some("pong") => None,
        Some("reply") => {
            let Some(key) = v.get("key").and_then(Value::as_str) else {
                tracing::info!("dealer: reply without a key ignored");
                return None;
            };
            let success = v
                .pointer("/payload/success")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            shared.connect.reply(conn_id, key, success);
            None
        }
        _ => {
            tracing::info!("dealer: client frame of unknown type ignored");
            None
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Read;

    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine as _;

    use super::*;

    fn gunzip(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(b)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn frames_have_the_spec_shape() {
        let m: Value = serde_json::from_str(&message_frame("hm://x/y", b"\x01\x02")).unwrap();
        assert_eq!(m["type"], "message");
        assert_eq!(m["headers"]["Transfer-Encoding"], "gzip");
        let p = B64.decode(m["payloads"][0].as_str().unwrap()).unwrap();
        assert_eq!(gunzip(&p), b"\x01\x02");

        let r: Value =
            serde_json::from_str(&request_frame("k1", "hm://i", &json!({"a": 1}))).unwrap();
        assert_eq!(r["type"], "request");
        assert_eq!(r["key"], "k1");
        assert_eq!(r["message_ident"], "hm://i");
        let c = B64
            .decode(r["payload"]["compressed"].as_str().unwrap())
            .unwrap();
        let body: Value = serde_json::from_slice(&gunzip(&c)).unwrap();
        assert_eq!(body, json!({"a": 1}));

        let p: Value = serde_json::from_str(&pusher_frame("abc")).unwrap();
        assert_eq!(p["uri"], "hm://pusher/v1/connections/abc");
        assert_eq!(p["headers"]["Spotify-Connection-Id"], "abc");
    }

    #[test]
    fn access_token_from_query() {
        assert_eq!(
            access_token("a=1&access_token=x%2By").as_deref(),
            Some("x+y")
        );
        assert_eq!(access_token("type=dealer"), None);
    }
}
