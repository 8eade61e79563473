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
mod tests {
    use super::*;
    use crate::id::{FileId, SpotifyId};
    use crate::session::codec::Decoder;
    use std::time::Duration;
    use tokio::io::DuplexStream;

    const KEY_C2S: [u8; 32] = [1; 32];
    const KEY_S2C: [u8; 32] = [2; 32];

    struct Fixture {
        shared: Arc<Shared>,
        stop: Option<oneshot::Sender<()>>,
        task: tokio::task::JoinHandle<Exit>,
        server: DuplexStream,
        enc: Encoder,
        dec: Decoder,
    }

    fn timeouts() -> KeepAliveTimeouts {
        KeepAliveTimeouts::default()
    }

    fn data() -> SessionData {
        SessionData {
            username: "u".into(),
            reusable: Credentials::stored("u", vec![1]),
            ap_address: "fake:1".into(),
            country: None,
            product: HashMap::new(),
            server_time_delta: None,
            resolved: Resolved::default(),
        }
    }

    fn start_with(preload: &[Packet]) -> Fixture {
        let (client, server) = tokio::io::duplex(1 << 20);
        let (tx, rx) = mpsc::unbounded_channel();
        let mercury = Mercury::new(tx.clone(), Duration::from_secs(10));
        let audio_keys = AudioKeys::new(tx, Duration::from_millis(1500));
        let shared = Arc::new(Shared::new(data(), mercury, audio_keys));
        let mut enc = Encoder::new(&KEY_S2C);
        let mut decoder = Decoder::new(&KEY_S2C);
        for p in preload {
            decoder.feed(&enc.encode(p.cmd, &p.payload).expect("encode"));
        }
        let conn = Connection {
            stream: client,
            encoder: Encoder::new(&KEY_C2S),
            decoder,
        };
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(run(conn, rx, stop_rx, shared.clone(), 1, timeouts()));
        Fixture {
            shared,
            stop: Some(stop_tx),
            task,
            server,
            enc,
            dec: Decoder::new(&KEY_C2S),
        }
    }

    impl Fixture {
        async fn send(&mut self, cmd: u8, payload: &[u8]) {
            let f = self.enc.encode(cmd, payload).expect("encode");
            self.server.write_all(&f).await.expect("write");
        }

        async fn recv(&mut self) -> Packet {
            let mut buf = [0u8; 4096];
            loop {
                if let Some(p) = self.dec.next_packet().expect("client MAC") {
                    return p;
                }
                let n = self.server.read(&mut buf).await.expect("read");
                assert!(n > 0, "client closed");
                self.dec.feed(&buf[..n]);
            }
        }

        async fn settle(&self) {
            for _ in 0..20 {
                tokio::task::yield_now().await;
            }
        }

        fn state(&self) -> SessionState {
            self.shared.state_tx.borrow().clone()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn ping_pong_cycle_keeps_the_connection_alive() {
        let mut f = start_with(&[]);
        for round in 0..3u32 {
            tokio::time::sleep(Duration::from_secs(10)).await;
            f.send(cmd::PING, &(1_000_000 + round).to_be_bytes()).await;
            let before = Instant::now();
            let pong = f.recv().await;
            assert_eq!(pong, Packet::new(cmd::PONG, vec![0, 0, 0, 0]));
            let waited = Instant::now() - before;
            assert!(
                waited >= Duration::from_secs(59) && waited <= Duration::from_secs(61),
                "pong after {waited:?}"
            );
            f.send(cmd::PONG_ACK, &[]).await;
            f.settle().await;
            assert_eq!(f.state(), SessionState::Connected);
        }
        assert!(f.shared.data().server_time_delta.is_some());
        f.stop.take().map(|s| s.send(()));
        let shared = f.shared.clone();
        assert_eq!(f.task.await.expect("join"), Exit::Stopped);
        // Stopping is not death.
        assert_eq!(shared.state_tx.borrow().clone(), SessionState::Connected);
    }

    #[tokio::test(start_paused = true)]
    async fn no_first_ping_means_dead() {
        let f = start_with(&[]);
        let exit = f.task.await.expect("join");
        match exit {
            Exit::Dead(r) => assert!(r.contains("lost connection"), "{r}"),
            other => panic!("unexpected {other:?}"),
        }
        let state = f.shared.state_tx.borrow().clone();
        match state {
            SessionState::Dead(r) => assert!(r.contains("no ping"), "{r}"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn missing_pong_ack_means_dead() {
        let mut f = start_with(&[]);
        f.send(cmd::PING, &[0, 0, 0, 1]).await;
        assert_eq!(f.recv().await.cmd, cmd::PONG);
        // No ack: dead 20 s after the pong.
        let exit = f.task.await.expect("join");
        assert!(
            matches!(exit, Exit::Dead(ref r) if r.contains("pong ack")),
            "{exit:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn short_ping_is_ignored_not_fatal() {
        let mut f = start_with(&[]);
        f.send(cmd::PING, &[1]).await;
        f.settle().await;
        assert_eq!(f.state(), SessionState::Connected);
        f.send(cmd::PING, &[0, 0, 0, 1]).await;
        assert_eq!(f.recv().await.cmd, cmd::PONG);
    }

    #[tokio::test]
    async fn preloaded_packets_are_routed_first() {
        let xml = b"<products><product><type>premium</type></product></products>";
        let f = start_with(&[
            Packet::new(cmd::COUNTRY_CODE, b"se".to_vec()),
            Packet::new(cmd::PRODUCT_INFO, xml.to_vec()),
        ]);
        let mut rx = f.shared.product_tx.subscribe();
        rx.wait_for(|g| *g == 1).await.expect("product info");
        let d = f.shared.data();
        assert_eq!(d.country.as_deref(), Some("SE"));
        assert_eq!(d.product.get("type").map(String::as_str), Some("premium"));
    }

    #[tokio::test]
    async fn bad_country_and_product_info_are_ignored() {
        let mut f = start_with(&[]);
        f.send(cmd::COUNTRY_CODE, b"S\xff").await;
        f.send(cmd::PRODUCT_INFO, b"<products><type>").await;
        f.send(0x99, b"whatever").await;
        f.send(cmd::SECRET_BLOCK, &[0; 8]).await;
        let mut rx = f.shared.product_tx.subscribe();
        rx.wait_for(|g| *g == 1).await.expect("product info seen");
        f.settle().await;
        assert_eq!(f.shared.data().country, None);
        assert!(f.shared.data().product.is_empty());
        assert_eq!(f.state(), SessionState::Connected);
    }

    #[tokio::test]
    async fn tampered_frame_kills_the_connection_with_a_reason() {
        let mut f = start_with(&[]);
        let mut frame = f.enc.encode(cmd::PING, &[0, 0, 0, 1]).expect("encode");
        let last = frame.len() - 1;
        frame[last] ^= 1;
        f.server.write_all(&frame).await.expect("write");
        let exit = f.task.await.expect("join");
        assert!(
            matches!(exit, Exit::Dead(ref r) if r.contains("MAC")),
            "{exit:?}"
        );
        assert!(
            matches!(f.shared.state_tx.borrow().clone(), SessionState::Dead(r) if r.contains("MAC"))
        );
    }

    #[tokio::test]
    async fn eof_mid_frame_is_truncated() {
        let mut f = start_with(&[]);
        let frame = f.enc.encode(cmd::PING, &[0, 0, 0, 1]).expect("encode");
        f.server.write_all(&frame[..5]).await.expect("write");
        drop(f.server);
        let exit = f.task.await.expect("join");
        assert!(
            matches!(exit, Exit::Dead(ref r) if r.contains("middle of a packet")),
            "{exit:?}"
        );
    }

    #[tokio::test]
    async fn clean_eof_is_dead_too() {
        let f = start_with(&[]);
        drop(f.server);
        let exit = f.task.await.expect("join");
        assert!(
            matches!(exit, Exit::Dead(ref r) if r.contains("closed")),
            "{exit:?}"
        );
    }

    #[tokio::test]
    async fn audio_key_round_trip_through_the_task() {
        let mut f = start_with(&[]);
        let keys = f.shared.audio_keys.clone();
        let track = SpotifyId(42);
        let file = FileId([7; 20]);
        let req = tokio::spawn(async move { keys.request(track, file).await });
        let p = f.recv().await;
        assert_eq!(p.cmd, cmd::REQUEST_KEY);
        assert_eq!(&p.payload[..20], &[7; 20]);
        let seq = &p.payload[36..40];
        let mut reply = seq.to_vec();
        reply.extend_from_slice(&[0xaa; 16]);
        f.send(cmd::AES_KEY, &reply).await;
        let key = req.await.expect("join").expect("key");
        assert_eq!(key.0, [0xaa; 16]);
    }

    #[tokio::test]
    async fn mercury_round_trip_through_the_task() {
        use crate::session::mercury::{encode_mercury_packet, parse_mercury_packet, FLAG_FINAL};
        use librespot_protocol::mercury::Header;
        use protobuf::Message;
        let mut f = start_with(&[]);
        let mercury = f.shared.mercury.clone();
        let req = tokio::spawn(async move { mercury.get("hm://test/thing").await });
        let p = f.recv().await;
        assert_eq!(p.cmd, cmd::MERCURY_REQ);
        let parsed = parse_mercury_packet(&p.payload).expect("mercury");
        let mut h = Header::new();
        h.set_uri("hm://test/thing".into());
        h.set_status_code(200);
        let parts = vec![h.write_to_bytes().expect("header"), b"body".to_vec()];
        let payload = encode_mercury_packet(&parsed.seq, FLAG_FINAL, &parts).expect("encode");
        f.send(cmd::MERCURY_REQ, &payload).await;
        let resp = req.await.expect("join").expect("reply");
        assert_eq!(resp.payload, vec![b"body".to_vec()]);
    }

    #[tokio::test]
    async fn death_fails_pending_requests_at_once() {
        let mut f = start_with(&[]);
        let keys = f.shared.audio_keys.clone();
        let req = tokio::spawn(async move { keys.request(SpotifyId(1), FileId([1; 20])).await });
        let _ = f.recv().await;
        drop(f.server);
        let r = req.await.expect("join");
        assert_eq!(
            r,
            Err(crate::session::audio_key::AudioKeyError::Disconnected)
        );
        // New requests fail immediately too.
        assert_eq!(
            f.shared
                .audio_keys
                .request(SpotifyId(1), FileId([1; 20]))
                .await,
            Err(crate::session::audio_key::AudioKeyError::Disconnected)
        );
    }

    #[tokio::test]
    async fn stale_generation_does_not_publish() {
        let f = start_with(&[]);
        *f.shared.generation() = 2;
        drop(f.server);
        let exit = f.task.await.expect("join");
        assert!(matches!(exit, Exit::Dead(_)));
        assert_eq!(f.shared.state_tx.borrow().clone(), SessionState::Connected);
    }
}
