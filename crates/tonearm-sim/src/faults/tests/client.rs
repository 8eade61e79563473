//! Test-only clients for the fault and realism tests: the simulator tests' access-point client
//! (`tests/ap.rs`: handshake, framing) with the helpers these tests need (login, audio keys,
//! Mercury GET), a minimal dealer websocket client, written from the spec
//! like the simulator (never the tonearm client), plus small HTTP helpers (client-token, login5,
//! connect-state PUTs). Real sockets on 127.0.0.1 only.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use librespot_protocol::authentication::{APWelcome, AuthenticationType};
use librespot_protocol::clienttoken_http as ct;
use librespot_protocol::connect::{Device, MemberType, PutStateReason, PutStateRequest};
use librespot_protocol::devices::DeviceType;
use librespot_protocol::keyexchange::{APLoginFailed, ErrorCode};
use librespot_protocol::login5 as l5;
use librespot_protocol::mercury::Header;
use protobuf::{EnumOrUnknown, Message, MessageField};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::ap::cmd;
use crate::mercury::{self, Assembler};

pub(super) const WAIT: Duration = Duration::from_secs(10);
pub(super) const STORED: AuthenticationType =
    AuthenticationType::AUTHENTICATION_STORED_SPOTIFY_CREDENTIALS;
pub(super) const USER_PASS: AuthenticationType = AuthenticationType::AUTHENTICATION_USER_PASS;

/// An AP connection after the handshake: the simulator tests' client (`tests/ap.rs`), with
/// the helpers below.
pub(super) use crate::tests::ap::Client as Ap;

impl Ap {
    pub(super) async fn connect(addr: &str) -> Ap {
        Ap::try_connect(addr, WAIT)
            .await
            .expect("AP handshake answered")
    }

    /// The next packet of `kind` (others, e.g. pings, are skipped).
    pub(super) async fn recv_kind(&mut self, kind: u8) -> Vec<u8> {
        loop {
            let (k, payload) = self
                .recv_within(WAIT)
                .await
                .expect("a packet in time")
                .unwrap();
            if k == kind {
                return payload;
            }
        }
    }

    /// Logs in (reading APWelcome, CountryCode and ProductInfo); the reusable credentials, or
    /// the login error code.
    pub(super) async fn login(
        &mut self,
        username: &str,
        typ: AuthenticationType,
        data: &[u8],
    ) -> Result<Vec<u8>, ErrorCode> {
        self.send_login(Some(username), typ, data).await;
        let (kind, payload) = self
            .recv_within(WAIT)
            .await
            .expect("a login answer in time")
            .unwrap();
        match kind {
            cmd::AP_WELCOME => {
                let welcome = APWelcome::parse_from_bytes(&payload).unwrap();
                // CountryCode and ProductInfo always follow.
                self.recv_kind(cmd::COUNTRY_CODE).await;
                self.recv_kind(cmd::PRODUCT_INFO).await;
                Ok(welcome.reusable_auth_credentials().to_vec())
            }
            cmd::AUTH_FAILURE => Err(APLoginFailed::parse_from_bytes(&payload)
                .unwrap()
                .error_code()),
            other => panic!("unexpected login answer 0x{other:02x}"),
        }
    }

    /// Asks for an audio key; `Ok(key)` (0x0d) or `Err(code)` (0x0e).
    pub(super) async fn audio_key(
        &mut self,
        file: [u8; 20],
        gid: [u8; 16],
        seq: u32,
    ) -> Result<Vec<u8>, u16> {
        let mut req = file.to_vec();
        req.extend_from_slice(&gid);
        req.extend_from_slice(&seq.to_be_bytes());
        req.extend_from_slice(&[0, 0]);
        self.send(cmd::REQUEST_KEY, &req).await;
        loop {
            let (kind, payload) = self
                .recv_within(WAIT)
                .await
                .expect("an audio key answer in time")
                .unwrap();
            assert!(payload.len() >= 4);
            match kind {
                cmd::AES_KEY => {
                    assert_eq!(payload[..4], seq.to_be_bytes());
                    return Ok(payload[4..].to_vec());
                }
                cmd::AES_KEY_ERROR => {
                    assert_eq!(payload.len(), 6, "seq + 2-byte code");
                    assert_eq!(payload[..4], seq.to_be_bytes());
                    return Err(u16::from_be_bytes([payload[4], payload[5]]));
                }
                _ => {}
            }
        }
    }

    /// A Mercury GET; the reply's header.
    pub(super) async fn mercury_get(&mut self, seq: u64, uri: &str) -> Header {
        let mut header = Header::new();
        header.set_uri(uri.to_owned());
        header.set_method("GET".to_owned());
        let parts = vec![header.write_to_bytes().unwrap()];
        for p in mercury::split_message(&seq.to_be_bytes(), &parts, 16384).unwrap() {
            self.send(cmd::MERCURY_REQ, &p).await;
        }
        let mut asm = Assembler::default();
        loop {
            let payload = self.recv_kind(cmd::MERCURY_REQ).await;
            if let Some((_, parts)) = asm.push(mercury::parse_packet(&payload).unwrap()).unwrap() {
                return Header::parse_from_bytes(&parts[0]).unwrap();
            }
        }
    }

    /// Whether the AP closed the connection within `wait` (pings are skipped).
    pub(super) async fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv_within(left).await {
                None => return false,
                Some(Err(_)) => return true,
                Some(Ok(_)) => {}
            }
        }
    }
}

/// A dealer websocket.
pub(super) struct Dealer {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub conn_id: String,
}

impl Dealer {
    pub(super) async fn open(dealer_base: &str, token: &str) -> Dealer {
        let url = format!("{dealer_base}/?access_token={token}");
        let (mut ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("dealer connect in time")
            .unwrap();
        let first = loop {
            let msg = tokio::time::timeout(WAIT, ws.next())
                .await
                .expect("pusher frame in time")
                .unwrap()
                .unwrap();
            if let Ws::Text(t) = msg {
                break serde_json::from_str::<Value>(t.as_str()).unwrap();
            }
        };
        let conn_id = first["headers"]["Spotify-Connection-Id"]
            .as_str()
            .unwrap()
            .to_owned();
        Dealer { ws, conn_id }
    }

    /// Reads until the server's Close frame: its (code, reason); `None` if the stream ends (or
    /// errs) without one within `wait`.
    pub(super) async fn close_frame_within(&mut self, wait: Duration) -> Option<(u16, String)> {
        let read = async {
            while let Some(msg) = self.ws.next().await {
                match msg {
                    Ok(Ws::Close(Some(f))) => {
                        return Some((u16::from(f.code), f.reason.to_string()))
                    }
                    Ok(Ws::Close(None)) => return Some((0, String::new())),
                    Ok(_) => {}
                    Err(_) => return None,
                }
            }
            None
        };
        tokio::time::timeout(wait, read).await.ok().flatten()
    }

    pub(super) async fn send_text(&mut self, text: &str) {
        self.ws.send(Ws::Text(text.into())).await.unwrap();
    }

    /// The next text frame within `wait`, as JSON.
    pub(super) async fn next_text(&mut self, wait: Duration) -> Option<Value> {
        let read = async {
            while let Some(Ok(msg)) = self.ws.next().await {
                if let Ws::Text(t) = msg {
                    return serde_json::from_str::<Value>(t.as_str()).ok();
                }
            }
            None
        };
        tokio::time::timeout(wait, read).await.ok().flatten()
    }
}

/// A client-token (protobuf round trip); `Err(status)` when refused.
pub(super) async fn client_token(http: &reqwest::Client, base: &str) -> Result<String, u16> {
    let mut data = ct::ClientDataRequest::new();
    data.client_version = "1.2.52.442".into();
    data.client_id = "65b708073fc0480ea92a077233ca87bd".into();
    let mut req = ct::ClientTokenRequest::new();
    req.request_type = EnumOrUnknown::new(ct::ClientTokenRequestType::REQUEST_CLIENT_DATA_REQUEST);
    req.set_client_data(data);
    let r = http
        .post(format!("{base}/v1/clienttoken"))
        .body(req.write_to_bytes().unwrap())
        .send()
        .await
        .unwrap();
    if !r.status().is_success() {
        return Err(r.status().as_u16());
    }
    let resp = ct::ClientTokenResponse::parse_from_bytes(&r.bytes().await.unwrap()).unwrap();
    Ok(resp.granted_token().token.clone())
}

/// What login5 answered.
#[derive(Debug)]
pub(super) enum Login5 {
    Ok(String),
    Error(l5::LoginError),
    Http(u16),
}

/// login5 with stored credentials.
pub(super) async fn login5_stored(
    http: &reqwest::Client,
    base: &str,
    client_token: &str,
    username: &str,
    stored: &[u8],
) -> Login5 {
    let mut req = l5::LoginRequest::new();
    let info = req.client_info.mut_or_insert_default();
    info.client_id = "65b708073fc0480ea92a077233ca87bd".into();
    info.device_id = "0123456789abcdef0123456789abcdef01234567".into();
    let sc = req.mut_stored_credential();
    sc.username = username.into();
    sc.data = stored.to_vec();
    let r = http
        .post(format!("{base}/v3/login"))
        .header("client-token", client_token)
        .body(req.write_to_bytes().unwrap())
        .send()
        .await
        .unwrap();
    if !r.status().is_success() {
        return Login5::Http(r.status().as_u16());
    }
    let resp = l5::LoginResponse::parse_from_bytes(&r.bytes().await.unwrap()).unwrap();
    if resp.has_ok() {
        Login5::Ok(resp.ok().access_token.clone())
    } else {
        Login5::Error(resp.error())
    }
}

/// `PUT /connect-state/v1/devices/{id}`; the answer.
pub(super) async fn put_state(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    conn_id: &str,
    id: &str,
    reason: PutStateReason,
) -> reqwest::Response {
    let mut dev = Device::new();
    dev.device_info = MessageField::some(crate::tests::connect::device_info(
        id,
        "Speaker",
        DeviceType::SPEAKER,
    ));
    let mut req = PutStateRequest::new();
    req.device = MessageField::some(dev);
    req.member_type = EnumOrUnknown::new(MemberType::CONNECT_STATE);
    req.put_state_reason = EnumOrUnknown::new(reason);
    http.put(format!("{base}/connect-state/v1/devices/{id}"))
        .bearer_auth(token)
        .header("X-Spotify-Connection-Id", conn_id)
        .header("Content-Type", "application/x-protobuf")
        .body(req.write_to_bytes().unwrap())
        .send()
        .await
        .unwrap()
}
