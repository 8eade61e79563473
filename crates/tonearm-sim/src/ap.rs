//! The access point's TCP side: one listener task per AP port and one task per connection that
//! runs the handshake ([`super::handshake`]), then the encrypted session ([`super::codec`]):
//! login (0xab → 0xac APWelcome or 0xad APLoginFailed), CountryCode, ProductInfo, Ping/Pong/
//! PongAck keep-alive, audio keys (always refused to the `keyless` account), Mercury requests
//! (keymaster tokens answer 403, as Spotify does) and subscriptions, pushed Mercury events,
//! the per-AP fault injection of [`super::ApFaults`], and the runtime faults of `faults` (every
//! connection task runs inside `faults::guard_ap`: dropped on `DropApConnections`, frozen in a
//! black hole). Nothing on the network can make it
//! panic; reads are bounded. Depends on no client module.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use librespot_protocol::authentication::{
    APWelcome, AccountType, AuthenticationType, ClientResponseEncrypted,
};
use librespot_protocol::keyexchange::{APLoginFailed, ErrorCode};
use protobuf::Message;
use subtle::ConstantTimeEq;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::codec::{CodecError, Decoder, Encoder, MAC_LEN};
use super::handshake;
use super::mercury::{self, Assembler};
use super::state::{Counters, Outbound, SessionEntry, Shared};
use super::{ApFaults, SimAccount};
use crate::util::lock;

/// Packet types (spec §3).
pub(crate) mod cmd {
    pub const PING: u8 = 0x04;
    pub const REQUEST_KEY: u8 = 0x0c;
    pub const AES_KEY: u8 = 0x0d;
    pub const AES_KEY_ERROR: u8 = 0x0e;
    pub const COUNTRY_CODE: u8 = 0x1b;
    pub const PONG: u8 = 0x49;
    pub const PONG_ACK: u8 = 0x4a;
    pub const PRODUCT_INFO: u8 = 0x50;
    pub const LOGIN: u8 = 0xab;
    pub const AP_WELCOME: u8 = 0xac;
    pub const AUTH_FAILURE: u8 = 0xad;
    pub const MERCURY_REQ: u8 = 0xb2;
    pub const MERCURY_SUB: u8 = 0xb3;
    pub const MERCURY_UNSUB: u8 = 0xb4;
    pub const MERCURY_EVENT: u8 = 0xb5;
}

/// Time for the whole plaintext handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time between the handshake and the client's Login packet.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Queue of pushed packets per session.
const OUTBOUND_QUEUE: usize = 256;
/// Length of an audio key request.
const KEY_REQUEST_LEN: usize = 42;

/// Accepts connections on one AP port until shutdown; connection tasks end with it.
pub(crate) async fn serve(
    listener: TcpListener,
    index: usize,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    Counters::bump(&shared.counters.connections_accepted);
                    let faults = shared.faults_for(index);
                    tracing::debug!(ap = index, %peer, "AP connection accepted");
                    // Runtime faults (drops, black holes) reach it in any state.
                    let task = connection(
                        stream,
                        peer,
                        index,
                        faults,
                        Arc::clone(&shared),
                        shutdown.clone(),
                    );
                    connections.spawn(super::faults::guard_ap(&shared, index, task));
                }
                Err(e) => {
                    tracing::warn!(ap = index, error = %e, "AP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

/// Why a session ended early (for the log).
#[derive(Debug, thiserror::Error)]
enum End {
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    #[error("fault injected: {0}")]
    Injected(&'static str),
}

/// The sending half of an encrypted connection, applying the send-side faults.
struct Conn {
    write: OwnedWriteHalf,
    enc: Encoder,
    faults: ApFaults,
    /// Encrypted packets sent so far (the login answer is number 0).
    sent: u32,
}

impl Conn {
    async fn send(&mut self, cmd: u8, payload: &[u8]) -> Result<(), End> {
        if self
            .faults
            .close_after_packets
            .is_some_and(|n| self.sent >= n)
        {
            let _ = self.write.shutdown().await;
            return Err(End::Injected("close_after_packets"));
        }
        if !self.faults.reply_delay.is_zero() {
            tokio::time::sleep(self.faults.reply_delay).await;
        }
        let mut bytes = self.enc.encode(cmd, payload)?;
        let index = self.sent;
        self.sent = self.sent.saturating_add(1);
        if self.faults.corrupt_mac_at == Some(index) {
            let start = bytes.len() - MAC_LEN;
            for b in &mut bytes[start..] {
                *b ^= 0xff;
            }
        }
        if self.faults.truncate_at == Some(index) {
            self.write.write_all(&bytes[..bytes.len() / 2]).await?;
            let _ = self.write.shutdown().await;
            return Err(End::Injected("truncate_at"));
        }
        self.write.write_all(&bytes).await?;
        if self.faults.close_after_packets == Some(self.sent) {
            let _ = self.write.shutdown().await;
            return Err(End::Injected("close_after_packets"));
        }
        Ok(())
    }
}

/// Removes a session from the registry however its task ends (including abort).
struct Registration {
    shared: Arc<Shared>,
    id: u64,
}

impl Registration {
    fn new(shared: &Arc<Shared>, username: &str, tx: mpsc::Sender<Outbound>) -> Self {
        let id = shared
            .next_session_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let entry = SessionEntry {
            username: username.to_owned(),
            subscriptions: Vec::new(),
            tx,
        };
        lock(&shared.sessions).insert(id, entry);
        Counters::bump(&shared.counters.active_sessions);
        Registration {
            shared: Arc::clone(shared),
            id,
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.shared.sessions).remove(&self.id);
        self.shared
            .counters
            .active_sessions
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// One AP connection from accept to close.
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    ap: usize,
    faults: ApFaults,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let handshake = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        handshake::accept(&mut stream, &shared.ap_key, &faults),
    );
    let keys = tokio::select! {
        _ = shutdown.changed() => return,
        result = handshake => match result {
            Ok(Ok(keys)) => keys,
            Ok(Err(e)) => {
                Counters::bump(&shared.counters.handshakes_failed);
                tracing::info!(ap, %peer, error = %e, "AP handshake failed");
                return;
            }
            Err(_) => {
                Counters::bump(&shared.counters.handshakes_failed);
                tracing::info!(ap, %peer, "AP handshake timed out");
                return;
            }
        },
    };
    let (mut read, write) = stream.into_split();
    let mut dec = Decoder::new(&keys.send_key);
    let mut conn = Conn {
        write,
        enc: Encoder::new(&keys.recv_key),
        faults,
        sent: 0,
    };
    if conn.faults.close_after_packets == Some(0) {
        let _ = conn.write.shutdown().await;
        tracing::debug!(ap, %peer, "closed before the login answer (fault)");
        return;
    }

    let first = tokio::select! {
        _ = shutdown.changed() => return,
        first = tokio::time::timeout(LOGIN_TIMEOUT, dec.read_packet(&mut read)) => first,
    };
    let (kind, payload) = match first {
        Ok(Ok(packet)) => packet,
        Ok(Err(e)) => {
            tracing::info!(ap, %peer, error = %e, "AP connection ended before login");
            return;
        }
        Err(_) => {
            tracing::info!(ap, %peer, "no login packet in time");
            return;
        }
    };
    if kind != cmd::LOGIN {
        tracing::warn!(ap, %peer, packet = kind, "first encrypted packet is not a login");
        return;
    }
    let account = match authenticate(&shared, &conn.faults, &payload) {
        Ok(account) => account,
        Err(code) => {
            Counters::bump(&shared.counters.logins_failed);
            tracing::info!(ap, %peer, ?code, "login refused");
            let mut failed = APLoginFailed::new();
            failed.set_error_code(code);
            let bytes = failed.write_to_bytes().unwrap_or_default();
            if let Err(e) = conn.send(cmd::AUTH_FAILURE, &bytes).await {
                tracing::debug!(ap, %peer, error = %e, "login failure not delivered");
            }
            let _ = conn.write.shutdown().await;
            handshake::drain_before_close(&mut read).await;
            return;
        }
    };
    let reusable = lock(&shared.store).issue_stored(&account.username);
    Counters::bump(&shared.counters.logins_ok);
    tracing::info!(ap, %peer, user = %account.username, "login accepted");
    let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
    let registration = Registration::new(&shared, &account.username, tx);
    let mut session = Session {
        conn,
        keys_refused: super::state::audio_keys_refused(&account.username),
        shared,
        registration,
        assembler: Assembler::default(),
        next_ping: None,
        ping_outstanding: false,
        delayed: JoinSet::new(),
    };
    if let Err(e) = session.welcome(&account, reusable).await {
        tracing::debug!(ap, %peer, error = %e, "AP session ended after login");
        return;
    }
    match session.run(&mut dec, &mut read, rx, &mut shutdown).await {
        Ok(()) => tracing::debug!(ap, %peer, "AP session closed"),
        Err(e) => tracing::info!(ap, %peer, error = %e, "AP session ended"),
    }
}

/// Checks a Login packet; the account, or the error code to answer with.
fn authenticate(
    shared: &Shared,
    faults: &ApFaults,
    payload: &[u8],
) -> Result<SimAccount, ErrorCode> {
    if faults.try_another_ap {
        return Err(ErrorCode::TryAnotherAP);
    }
    let login =
        ClientResponseEncrypted::parse_from_bytes(payload).map_err(|_| ErrorCode::ProtocolError)?;
    let creds = login
        .login_credentials
        .as_ref()
        .ok_or(ErrorCode::ProtocolError)?;
    let username = creds.username.as_deref().filter(|u| !u.is_empty());
    let data = creds.auth_data.as_deref().unwrap_or_default();
    let typ = creds.typ.map(|t| t.value()).unwrap_or(-1);
    let owner: Option<String> = if typ == AuthenticationType::AUTHENTICATION_USER_PASS as i32 {
        let account = username.and_then(|u| shared.account(u));
        account
            .filter(|a| {
                shared.behaviour.password_login && bool::from(a.password.as_bytes().ct_eq(data))
            })
            .map(|a| a.username.clone())
    } else if typ == AuthenticationType::AUTHENTICATION_STORED_SPOTIFY_CREDENTIALS as i32 {
        let store = lock(&shared.store);
        username
            .filter(|u| store.stored_owner(data) == Some(*u))
            .map(str::to_owned)
    } else if typ == AuthenticationType::AUTHENTICATION_SPOTIFY_TOKEN as i32 {
        let store = lock(&shared.store);
        let owner = std::str::from_utf8(data)
            .ok()
            .and_then(|t| store.token_owner(t));
        owner
            .filter(|o| username.is_none_or(|u| u == *o))
            .map(str::to_owned)
    } else {
        None
    };
    owner
        .and_then(|u| shared.account(&u).cloned())
        .ok_or(ErrorCode::BadCredentials)
}

/// A logged-in connection.
struct Session {
    conn: Conn,
    /// The account is refused every audio key (`state::audio_keys_refused`).
    keys_refused: bool,
    shared: Arc<Shared>,
    registration: Registration,
    assembler: Assembler,
    next_ping: Option<Instant>,
    ping_outstanding: bool,
    delayed: JoinSet<(u8, Vec<u8>)>,
}

fn unix_seconds() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// The ProductInfo XML for an account.
pub(crate) fn product_info(product: &str, http_base: &str) -> String {
    format!(
        "<products><product><type>{product}</type><catalogue>{product}</catalogue>\
         <autoplay>1</autoplay><filter-explicit-content>0</filter-explicit-content>\
         <image-url>{http_base}/image/{{file_id}}</image-url>\
         <head-files-url>{http_base}/head/{{file_id}}</head-files-url>\
         </product></products>"
    )
}

impl Session {
    /// APWelcome, then CountryCode and ProductInfo; arms the first Ping.
    async fn welcome(&mut self, account: &SimAccount, reusable: Vec<u8>) -> Result<(), End> {
        let mut welcome = APWelcome::new();
        welcome.set_canonical_username(account.username.clone());
        welcome.set_account_type_logged_in(AccountType::Spotify);
        welcome.set_credentials_type_logged_in(AccountType::Spotify);
        welcome.set_reusable_auth_credentials_type(
            AuthenticationType::AUTHENTICATION_STORED_SPOTIFY_CREDENTIALS,
        );
        welcome.set_reusable_auth_credentials(reusable);
        welcome
            .account_info
            .mut_or_insert_default()
            .spotify
            .mut_or_insert_default();
        let bytes = welcome.write_to_bytes().unwrap_or_default();
        self.conn.send(cmd::AP_WELCOME, &bytes).await?;
        self.conn
            .send(cmd::COUNTRY_CODE, account.country.as_bytes())
            .await?;
        let xml = product_info(&account.product, &self.shared.behaviour.http_base);
        self.conn.send(cmd::PRODUCT_INFO, xml.as_bytes()).await?;
        if !self.conn.faults.no_pings {
            self.next_ping = Some(Instant::now() + self.shared.behaviour.first_ping_after);
        }
        Ok(())
    }

    async fn run(
        &mut self,
        dec: &mut Decoder,
        read: &mut tokio::net::tcp::OwnedReadHalf,
        mut outbound: mpsc::Receiver<Outbound>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), End> {
        loop {
            let ping_armed = self.next_ping.is_some();
            let ping_at = self
                .next_ping
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                _ = shutdown.changed() => return Ok(()),
                packet = dec.read_packet(read) => match packet {
                    Ok((kind, payload)) => self.handle(kind, payload).await?,
                    Err(CodecError::Eof) => return Ok(()),
                    Err(e) => return Err(e.into()),
                },
                Some(Outbound::Packets(packets)) = outbound.recv() => {
                    for (kind, payload) in packets {
                        self.conn.send(kind, &payload).await?;
                    }
                }
                Some(done) = self.delayed.join_next(), if !self.delayed.is_empty() => {
                    if let Ok((kind, payload)) = done {
                        self.conn.send(kind, &payload).await?;
                    }
                }
                _ = tokio::time::sleep_until(ping_at), if ping_armed => {
                    self.next_ping = None;
                    self.ping_outstanding = true;
                    self.conn.send(cmd::PING, &unix_seconds().to_be_bytes()).await?;
                }
            }
        }
    }

    async fn handle(&mut self, kind: u8, payload: Vec<u8>) -> Result<(), End> {
        match kind {
            cmd::PONG => {
                Counters::bump(&self.shared.counters.pongs_received);
                self.conn.send(cmd::PONG_ACK, &payload).await?;
                if self.ping_outstanding {
                    self.ping_outstanding = false;
                    if !self.conn.faults.no_pings {
                        self.next_ping = Some(Instant::now() + self.shared.behaviour.ping_interval);
                    }
                }
            }
            cmd::REQUEST_KEY => self.audio_key(&payload).await?,
            cmd::MERCURY_REQ | cmd::MERCURY_SUB | cmd::MERCURY_UNSUB => {
                self.mercury(kind, &payload).await?;
            }
            cmd::LOGIN => tracing::warn!("second Login packet on a logged-in connection ignored"),
            other => {
                tracing::debug!(
                    packet = other,
                    len = payload.len(),
                    "unknown packet ignored"
                );
            }
        }
        Ok(())
    }

    async fn audio_key(&mut self, payload: &[u8]) -> Result<(), End> {
        if payload.len() != KEY_REQUEST_LEN {
            tracing::warn!(len = payload.len(), "malformed audio key request ignored");
            return Ok(());
        }
        let mut file_id = [0u8; 20];
        let mut gid = [0u8; 16];
        file_id.copy_from_slice(&payload[..20]);
        gid.copy_from_slice(&payload[20..36]);
        let seq = &payload[36..40];
        Counters::bump(&self.shared.counters.audio_key_requests);
        let key = if self.keys_refused {
            None
        } else {
            self.shared.audio_key(&(file_id, gid))
        };
        let mut reply = seq.to_vec();
        let kind = match key {
            Some(key) => {
                reply.extend_from_slice(&key);
                cmd::AES_KEY
            }
            None => {
                tracing::debug!(file = %hex::encode(file_id), "audio key unknown or refused");
                Counters::bump(&self.shared.counters.audio_keys_refused);
                // Error code 1: what Spotify answers when it refuses the legacy key (§10.4).
                reply.extend_from_slice(&1u16.to_be_bytes());
                cmd::AES_KEY_ERROR
            }
        };
        let delay = self.conn.faults.audio_key_delay;
        if delay.is_zero() {
            self.conn.send(kind, &reply).await
        } else {
            self.delayed.spawn(async move {
                tokio::time::sleep(delay).await;
                (kind, reply)
            });
            Ok(())
        }
    }

    async fn mercury(&mut self, kind: u8, payload: &[u8]) -> Result<(), End> {
        let packet = match mercury::parse_packet(payload) {
            Ok(packet) => packet,
            Err(e) => {
                tracing::warn!(error = %e, "malformed mercury packet ignored");
                return Ok(());
            }
        };
        let (seq, parts) = match self.assembler.push(packet) {
            Ok(Some(message)) => message,
            Ok(None) => return Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "mercury message dropped");
                return Ok(());
            }
        };
        let header = match mercury::parse_header(&parts) {
            Ok(header) => header,
            Err(e) => {
                tracing::warn!(error = %e, "mercury request without a usable header ignored");
                return Ok(());
            }
        };
        let uri = header.uri().to_owned();
        let mut reply = Vec::new();
        match kind {
            cmd::MERCURY_SUB => {
                if let Some(entry) = lock(&self.shared.sessions).get_mut(&self.registration.id) {
                    if !entry.subscriptions.contains(&uri) {
                        entry.subscriptions.push(uri.clone());
                    }
                }
                tracing::debug!(%uri, "mercury subscribe");
                reply.push(mercury::header_bytes(&uri, None, None, 200));
            }
            cmd::MERCURY_UNSUB => {
                if let Some(entry) = lock(&self.shared.sessions).get_mut(&self.registration.id) {
                    entry.subscriptions.retain(|s| *s != uri);
                }
                tracing::debug!(%uri, "mercury unsubscribe");
                reply.push(mercury::header_bytes(&uri, None, None, 200));
            }
            _ => {
                let send = header.method().eq_ignore_ascii_case("SEND");
                let resource = self.shared.mercury_resource(&uri);
                tracing::debug!(%uri, send, found = resource.is_some(), "mercury request");
                match resource {
                    Some(r) if send => {
                        reply.push(mercury::header_bytes(
                            &uri,
                            Some(&r.content_type),
                            None,
                            200,
                        ));
                    }
                    Some(r) => {
                        reply.push(mercury::header_bytes(
                            &uri,
                            Some(&r.content_type),
                            None,
                            200,
                        ));
                        reply.push(r.body);
                    }
                    None => reply.push(mercury::header_bytes(
                        &uri,
                        None,
                        None,
                        missing_resource_status(&uri),
                    )),
                }
            }
        }
        let packets =
            match mercury::split_message(&seq, &reply, self.shared.behaviour.mercury_chunk) {
                Ok(packets) => packets,
                Err(e) => {
                    tracing::warn!(error = %e, "mercury reply not sendable");
                    return Ok(());
                }
            };
        for packet in packets {
            self.conn.send(kind, &packet).await?;
        }
        Ok(())
    }
}

/// The status for a Mercury request nobody registered: 403 for keymaster tokens (Spotify
/// refuses `hm://keymaster/token/…` to clients like ours since Aug 2025, spec §6.2), else 404.
fn missing_resource_status(uri: &str) -> i32 {
    if uri.starts_with("hm://keymaster/token") {
        403
    } else {
        404
    }
}

/// Sends a Mercury event to every session of `username` subscribed to a prefix of `uri`.
pub(crate) fn publish(shared: &Shared, username: &str, uri: &str, payloads: Vec<Vec<u8>>) -> usize {
    let n = shared
        .next_event_seq
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // High bit set: never equal to a client's own (counting-up) request seq.
    let seq = ((1u64 << 63) | n).to_be_bytes();
    let mut parts = vec![mercury::header_bytes(uri, None, Some("PUT"), 200)];
    parts.extend(payloads);
    let packets = match mercury::split_message(&seq, &parts, shared.behaviour.mercury_chunk) {
        Ok(packets) => packets,
        Err(e) => {
            tracing::warn!(error = %e, "mercury event not sendable");
            return 0;
        }
    };
    let packets: Vec<(u8, Vec<u8>)> = packets
        .into_iter()
        .map(|p| (cmd::MERCURY_EVENT, p))
        .collect();
    let sessions = lock(&shared.sessions);
    let mut reached = 0;
    for entry in sessions.values() {
        if entry.username != username || !entry.subscriptions.iter().any(|s| uri.starts_with(s)) {
            continue;
        }
        match entry.tx.try_send(Outbound::Packets(packets.clone())) {
            Ok(()) => reached += 1,
            Err(e) => tracing::warn!(error = %e, "mercury event not queued"),
        }
    }
    tracing::debug!(%uri, reached, "mercury event published");
    reached
}
