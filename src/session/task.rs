//! The connection task: one per logged-in AP connection. It owns the socket (read and write
//! halves) and both codec halves, writes the packets queued by Mercury and audio keys, routes
//! every received packet (Ping/PongAck → keep-alive, 0x0d/0x0e → audio keys, 0xb2–0xb5 →
//! Mercury, 0x1b country, 0x50 product info, anything else logged and ignored), sends the Pong
//! when the keep-alive deadline says so, and publishes the outcome through [`Shared`]: a MAC
//! mismatch, a truncated frame, EOF, an I/O error or a keep-alive miss ends the connection with
//! `SessionState::Dead(reason)`, never a panic.
//!
//! Spawned by `Session` (in `session.rs`), which also owns [`Shared`]. The task holds no
//! reference to the `Session` handle itself, so dropping the last handle ends the task. Must not
//! depend on the UI or other services.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::apresolve::Resolved;
use super::audio_key::AudioKeys;
use super::codec::Encoder;
use super::connection::Connection;
use super::credentials::Credentials;
use super::keepalive::{KeepAlive, KeepAliveAction, KeepAliveTimeouts, PONG_PAYLOAD};
use super::mercury::{Mercury, PacketTx};
use super::packet::{cmd, Packet};
use super::product;
use super::SessionState;

/// A write that cannot finish in this time means the peer stopped reading: the connection is
/// treated as dead rather than blocking the task (and with it the keep-alive) forever.
const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What the session knows about the account and the current connection.
#[derive(Debug, Clone)]
pub(crate) struct SessionData {
    pub username: String,
    pub reusable: Credentials,
    pub ap_address: String,
    pub country: Option<String>,
    pub product: HashMap<String, String>,
    pub server_time_delta: Option<i64>,
    pub resolved: Resolved,
}

/// State shared by the `Session` handles and the connection task.
pub(crate) struct Shared {
    data: RwLock<SessionData>,
    pub state_tx: watch::Sender<SessionState>,
    /// Generation of the connection whose ProductInfo arrived last (0 = none yet).
    pub product_tx: watch::Sender<u64>,
    pub mercury: Mercury,
    pub audio_keys: AudioKeys,
    /// Generation of the current connection. A task only publishes while its generation is the
    /// current one, and holds this lock while doing so, so a replaced connection can never
    /// overwrite the state or the packet route of its successor.
    generation: Mutex<u64>,
}

/// A sender whose receiver is gone: everything sent through it fails at once.
pub(crate) fn dead_tx() -> PacketTx {
    let (tx, _rx) = mpsc::unbounded_channel();
    tx
}

impl Shared {
    pub fn new(data: SessionData, mercury: Mercury, audio_keys: AudioKeys) -> Shared {
        Shared {
            data: RwLock::new(data),
            state_tx: watch::Sender::new(SessionState::Connected),
            product_tx: watch::Sender::new(0),
            mercury,
            audio_keys,
            generation: Mutex::new(1),
        }
    }

    /// Every update is a plain field assignment, so a poisoned lock still holds consistent data.
    pub fn data(&self) -> RwLockReadGuard<'_, SessionData> {
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn data_mut(&self) -> RwLockWriteGuard<'_, SessionData> {
        self.data.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn generation(&self) -> MutexGuard<'_, u64> {
        self.generation.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Why the task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Asked to stop (shutdown, replaced, or every handle dropped).
    Stopped,
    /// The connection failed; the reason is for people.
    Dead(String),
}

/// Runs one connection until it fails or is told to stop. `gen` is its generation.
pub(crate) async fn run<S>(
    conn: Connection<S>,
    rx: mpsc::UnboundedReceiver<Packet>,
    stop: oneshot::Receiver<()>,
    shared: Arc<Shared>,
    gen: u64,
    timeouts: KeepAliveTimeouts,
) -> Exit
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let exit = drive(conn, rx, stop, &shared, gen, timeouts).await;
    if let Exit::Dead(reason) = &exit {
        let current = shared.generation();
        if *current == gen {
            tracing::warn!("access-point connection lost: {reason}");
            shared.mercury.reset(dead_tx());
            shared.audio_keys.reset(dead_tx());
            shared
                .state_tx
                .send_replace(SessionState::Dead(reason.clone()));
        } else {
            tracing::debug!("replaced access-point connection ended: {reason}");
        }
    }
    exit
}

async fn drive<S>(
    conn: Connection<S>,
    mut rx: mpsc::UnboundedReceiver<Packet>,
    mut stop: oneshot::Receiver<()>,
    shared: &Shared,
    gen: u64,
    timeouts: KeepAliveTimeouts,
) -> Exit
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let Connection {
        stream,
        mut encoder,
        mut decoder,
    } = conn;
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut keepalive = KeepAlive::new(Instant::now().into_std(), timeouts);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        // Packets that arrived with the login answer, or with the last read.
        loop {
            match decoder.next_packet() {
                Ok(Some(p)) => route(p, shared, gen, &mut keepalive),
                Ok(None) => break,
                Err(e) => return Exit::Dead(format!("{e}")),
            }
        }
        let deadline = Instant::from_std(keepalive.deadline());
        tokio::select! {
            biased;
            _ = &mut stop => return Exit::Stopped,
            _ = tokio::time::sleep_until(deadline) => {
                match keepalive.on_deadline(Instant::now().into_std()) {
                    Some(KeepAliveAction::SendPong) => {
                        tracing::trace!("sending pong");
                        let pong = Packet::new(cmd::PONG, PONG_PAYLOAD.to_vec());
                        if let Err(e) = write_packets(&mut wr, &mut encoder, pong, &mut rx).await {
                            return Exit::Dead(e);
                        }
                    }
                    Some(KeepAliveAction::Dead(why)) => {
                        return Exit::Dead(format!("lost connection to the access point: {why}"));
                    }
                    None => {}
                }
            }
            packet = rx.recv() => match packet {
                Some(p) => {
                    if let Err(e) = write_packets(&mut wr, &mut encoder, p, &mut rx).await {
                        return Exit::Dead(e);
                    }
                }
                // Every sender moved to another connection: this one is no longer used.
                None => return Exit::Stopped,
            },
            read = rd.read(&mut buf) => match read {
                Ok(0) => {
                    return Exit::Dead(match decoder.finish() {
                        Err(e) => format!("{e}"),
                        Ok(()) => "the access point closed the connection".to_string(),
                    });
                }
                Ok(n) => decoder.feed(&buf[..n]),
                Err(e) => return Exit::Dead(format!("network error: {e}")),
            },
        }
    }
}

/// Encodes `first` and whatever else is queued, and writes them in one go.
async fn write_packets<W: AsyncWrite + Unpin>(
    wr: &mut W,
    encoder: &mut Encoder,
    first: Packet,
    rx: &mut mpsc::UnboundedReceiver<Packet>,
) -> Result<(), String> {
    let mut out = Vec::new();
    let mut next = Some(first);
    while let Some(p) = next.take() {
        tracing::trace!(cmd = cmd::name(p.cmd), len = p.payload.len(), "send packet");
        match encoder.encode(p.cmd, &p.payload) {
            Ok(frame) => out.extend_from_slice(&frame),
            Err(e) => tracing::warn!(cmd = cmd::name(p.cmd), "packet dropped: {e}"),
        }
        if out.len() < 64 * 1024 {
            next = rx.try_recv().ok();
        }
    }
    if out.is_empty() {
        return Ok(());
    }
    let write = async {
        wr.write_all(&out).await?;
        wr.flush().await
    };
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("network error while sending: {e}")),
        Err(_) => Err("the access point stopped accepting data".to_string()),
    }
}

/// Handles one received packet. Nothing here ends the connection: bad packets are logged.
fn route(p: Packet, shared: &Shared, gen: u64, keepalive: &mut KeepAlive) {
    tracing::trace!(
        cmd = cmd::name(p.cmd),
        code = p.cmd,
        len = p.payload.len(),
        "received packet"
    );
    match p.cmd {
        cmd::PING => match keepalive.on_ping(Instant::now().into_std(), &p.payload) {
            Ok(()) => shared.data_mut().server_time_delta = keepalive.server_time_delta(),
            Err(e) => tracing::warn!("ignoring ping: {e}"),
        },
        cmd::PONG_ACK => keepalive.on_pong_ack(Instant::now().into_std()),
        cmd::AES_KEY | cmd::AES_KEY_ERROR => {
            if let Err(e) = shared.audio_keys.dispatch(p.cmd, &p.payload) {
                tracing::warn!("bad audio key packet: {e}");
            }
        }
        cmd::MERCURY_REQ..=cmd::MERCURY_EVENT => {
            if let Err(e) = shared.mercury.dispatch(p.cmd, &p.payload) {
                tracing::warn!("bad mercury packet: {e}");
            }
        }
        cmd::COUNTRY_CODE => match product::parse_country(&p.payload) {
            Some(c) => {
                tracing::debug!(country = %c, "country code");
                shared.data_mut().country = Some(c);
            }
            None => tracing::warn!(
                len = p.payload.len(),
                "ignoring country code that is not two ASCII letters"
            ),
        },
        cmd::PRODUCT_INFO => {
            match product::parse_product_info(&p.payload) {
                Ok(map) => {
                    tracing::debug!(
                        account_type = map.get("type").map(String::as_str).unwrap_or("?"),
                        "product info"
                    );
                    shared.data_mut().product = map;
                }
                Err(e) => tracing::warn!("ignoring product info: {e}"),
            }
            shared.product_tx.send_replace(gen);
        }
        cmd::SECRET_BLOCK
        | cmd::LEGACY_WELCOME
        | cmd::UNKNOWN_DATA_ALL_ZEROS
        | cmd::LICENSE_VERSION
        | cmd::UNKNOWN_0X10
        | cmd::UNKNOWN_0X4F
        | cmd::UNKNOWN_0XB6
        | 0x75 => tracing::trace!(code = p.cmd, "informational packet ignored"),
        other => tracing::debug!(
            code = other,
            name = cmd::name(other),
            len = p.payload.len(),
            "unhandled packet ignored"
        ),
    }
}

#[cfg(test)]
mod tests;
