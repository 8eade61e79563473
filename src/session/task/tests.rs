//! Tests of the session task: state changes, keep-alive and reconnects, the packet router
//! and the handles' requests, over a fake connection.

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
