//! Audio keys over the AP (protocol spec §10.4): sends RequestKey (0x0c) packets and matches the
//! AesKey (0x0d) / AesKeyError (0x0e) replies to the waiting requests by sequence number. The
//! audio fetcher calls [`AudioKeys::request`]; the connection task calls [`AudioKeys::dispatch`]
//! for 0x0d/0x0e packets and [`AudioKeys::reset`] when the connection is lost or replaced. It
//! depends only on the packet type and ids, never on the connection itself. Keys are secrets:
//! they never reach a log line, an error message or `Debug` output.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::id::{FileId, SpotifyId};
use crate::session::mercury::PacketTx;
use crate::session::packet::{cmd, Packet};

/// A 16-byte AES-128 audio key. `Debug` prints no key material.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AudioKey(pub [u8; 16]);

impl fmt::Debug for AudioKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AudioKey(<redacted>)")
    }
}

/// Why an audio key could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AudioKeyError {
    /// The AP answered AesKeyError (codes 1 and 2 are seen; 1 is common for tracks whose key
    /// now only comes through PlayPlay).
    #[error("the access point refused the audio key (code {code})")]
    Refused { code: u16 },
    #[error("no audio key reply from the access point in time")]
    Timeout,
    #[error("the access point connection was lost before the audio key arrived")]
    Disconnected,
    #[error("malformed audio key packet: {0}")]
    Malformed(String),
}

impl AudioKeyError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            AudioKeyError::Timeout | AudioKeyError::Disconnected => crate::ErrorKind::Retry,
            // Asking again gets the same refusal / the same broken reply.
            AudioKeyError::Refused { .. } | AudioKeyError::Malformed(_) => crate::ErrorKind::Notify,
        }
    }
}

/// Length of a RequestKey payload: file id (20) ‖ gid (16) ‖ u32 seq ‖ u16 zero.
pub const REQUEST_LEN: usize = 42;

/// Builds the RequestKey (0x0c) payload.
pub fn encode_audio_key_request(track: SpotifyId, file: FileId, seq: u32) -> [u8; REQUEST_LEN] {
    let mut out = [0u8; REQUEST_LEN];
    out[..20].copy_from_slice(&file.0);
    out[20..36].copy_from_slice(&track.to_raw());
    out[36..40].copy_from_slice(&seq.to_be_bytes());
    // The trailing u16 stays 0x0000.
    out
}

/// A parsed AesKey / AesKeyError reply: the sequence number and the key or the refusal code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioKeyReply {
    pub seq: u32,
    pub result: Result<AudioKey, u16>,
}

/// The sequence number at the head of a reply, if the payload is long enough to have one.
fn reply_seq(payload: &[u8]) -> Option<u32> {
    payload
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes)
}

/// Parses a 0x0d (`seq ‖ key`, exactly 20 bytes) or 0x0e (`seq ‖ u16 code`, exactly 6 bytes)
/// payload. Any other length or command is `Malformed`; nothing here panics.
pub fn parse_audio_key_reply(command: u8, payload: &[u8]) -> Result<AudioKeyReply, AudioKeyError> {
    let (want, what) = match command {
        cmd::AES_KEY => (20, "AesKey"),
        cmd::AES_KEY_ERROR => (6, "AesKeyError"),
        other => {
            return Err(AudioKeyError::Malformed(format!(
                "packet 0x{other:02x} is not an audio key reply"
            )))
        }
    };
    if payload.len() != want {
        return Err(AudioKeyError::Malformed(format!(
            "{what} payload has {} bytes, expected {want}",
            payload.len()
        )));
    }
    let seq = reply_seq(payload)
        .ok_or_else(|| AudioKeyError::Malformed(format!("{what} payload without seq")))?;
    let body = &payload[4..];
    let result = if command == cmd::AES_KEY {
        let key: [u8; 16] = body
            .try_into()
            .map_err(|_| AudioKeyError::Malformed("AesKey key is not 16 bytes".into()))?;
        Ok(AudioKey(key))
    } else {
        let code: [u8; 2] = body
            .try_into()
            .map_err(|_| AudioKeyError::Malformed("AesKeyError code is not 2 bytes".into()))?;
        Err(u16::from_be_bytes(code))
    };
    Ok(AudioKeyReply { seq, result })
}

type Reply = oneshot::Sender<Result<AudioKey, AudioKeyError>>;

struct Inner {
    tx: PacketTx,
    next_seq: u32,
    pending: HashMap<u32, Reply>,
}

struct Shared {
    timeout: Duration,
    inner: Mutex<Inner>,
}

impl Shared {
    /// A panic while holding the lock cannot leave `Inner` inconsistent (every update is a single
    /// map operation), so a poisoned lock is still usable.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Cheap-to-clone handle for audio key requests over the AP.
#[derive(Clone)]
pub struct AudioKeys {
    shared: Arc<Shared>,
}

impl fmt::Debug for AudioKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pending = self.shared.lock().pending.len();
        f.debug_struct("AudioKeys")
            .field("timeout", &self.shared.timeout)
            .field("pending", &pending)
            .finish()
    }
}

/// Removes a request's pending entry when its future ends in any way (reply, timeout, or the
/// caller dropping it), so abandoned requests do not pile up and late replies find nothing.
struct PendingGuard {
    shared: Weak<Shared>,
    seq: u32,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.lock().pending.remove(&self.seq);
        }
    }
}

impl AudioKeys {
    /// `timeout` bounds each request (the session uses librespot's 1.5 s).
    pub fn new(tx: PacketTx, timeout: Duration) -> AudioKeys {
        AudioKeys {
            shared: Arc::new(Shared {
                timeout,
                inner: Mutex::new(Inner {
                    tx,
                    next_seq: 0,
                    pending: HashMap::new(),
                }),
            }),
        }
    }

    /// Asks the AP for the key of `file` of `track` and waits for the reply.
    pub async fn request(&self, track: SpotifyId, file: FileId) -> Result<AudioKey, AudioKeyError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let seq = {
            let mut inner = self.shared.lock();
            let seq = inner.next_seq;
            inner.next_seq = seq.wrapping_add(1);
            let payload = encode_audio_key_request(track, file, seq).to_vec();
            if inner
                .tx
                .send(Packet::new(cmd::REQUEST_KEY, payload))
                .is_err()
            {
                return Err(AudioKeyError::Disconnected);
            }
            inner.pending.insert(seq, reply_tx);
            seq
        };
        let _guard = PendingGuard {
            shared: Arc::downgrade(&self.shared),
            seq,
        };
        tracing::trace!(seq, ?file, "audio key requested");
        match tokio::time::timeout(self.shared.timeout, reply_rx).await {
            Ok(Ok(result)) => result,
            // The sender was dropped without an answer: only `reset` or teardown does that.
            Ok(Err(_)) => Err(AudioKeyError::Disconnected),
            Err(_) => {
                tracing::debug!(seq, ?file, "audio key request timed out");
                Err(AudioKeyError::Timeout)
            }
        }
    }

    /// Handles an AesKey (0x0d) or AesKeyError (0x0e) packet from the connection's reader. Errors
    /// are for logging; a malformed reply whose seq is readable also fails that request at once
    /// rather than leaving it to time out. Replies for unknown or timed-out seqs are ignored.
    pub fn dispatch(&self, command: u8, payload: &[u8]) -> Result<(), AudioKeyError> {
        let parsed = parse_audio_key_reply(command, payload);
        let seq = match &parsed {
            Ok(reply) => reply.seq,
            Err(_) => match reply_seq(payload) {
                Some(seq) => seq,
                None => return parsed.map(|_| ()),
            },
        };
        let Some(waiter) = self.shared.lock().pending.remove(&seq) else {
            tracing::debug!(seq, "audio key reply for no pending request; ignored");
            return parsed.map(|_| ());
        };
        let (outcome, ret) = match parsed {
            Ok(AudioKeyReply {
                result: Ok(key), ..
            }) => (Ok(key), Ok(())),
            Ok(AudioKeyReply {
                result: Err(code), ..
            }) => {
                tracing::debug!(seq, code, "audio key refused");
                (Err(AudioKeyError::Refused { code }), Ok(()))
            }
            Err(e) => (Err(e.clone()), Err(e)),
        };
        // The requester may have just given up; nothing to do then.
        let _ = waiter.send(outcome);
        ret
    }

    /// The connection was lost or replaced: every pending request fails with `Disconnected`, and
    /// later requests go through `tx`. Sequence numbers keep counting so that a late reply from
    /// the old connection can never match a new request.
    pub fn reset(&self, tx: PacketTx) {
        let pending = {
            let mut inner = self.shared.lock();
            inner.tx = tx;
            std::mem::take(&mut inner.pending)
        };
        for (_, waiter) in pending {
            let _ = waiter.send(Err(AudioKeyError::Disconnected));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tokio::sync::mpsc;

    const TRACK: SpotifyId = SpotifyId(0x9a1b1cfbc6f244569ae0356c77bbe9d8);

    fn file(b: u8) -> FileId {
        FileId([b; 20])
    }

    fn key_reply(seq: u32, key: [u8; 16]) -> Vec<u8> {
        let mut p = seq.to_be_bytes().to_vec();
        p.extend_from_slice(&key);
        p
    }

    fn err_reply(seq: u32, code: u16) -> Vec<u8> {
        let mut p = seq.to_be_bytes().to_vec();
        p.extend_from_slice(&code.to_be_bytes());
        p
    }

    fn setup(timeout: Duration) -> (AudioKeys, mpsc::UnboundedReceiver<Packet>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (AudioKeys::new(tx, timeout), rx)
    }

    /// Starts a request on a task and returns it with the packet it sent.
    async fn start(
        keys: &AudioKeys,
        rx: &mut mpsc::UnboundedReceiver<Packet>,
        f: FileId,
    ) -> (
        tokio::task::JoinHandle<Result<AudioKey, AudioKeyError>>,
        Packet,
    ) {
        let k = keys.clone();
        let task = tokio::spawn(async move { k.request(TRACK, f).await });
        let packet = rx.recv().await.expect("request packet");
        (task, packet)
    }

    #[test]
    fn request_encoding() {
        let p = encode_audio_key_request(TRACK, file(0xaa), 0x0102_0304);
        let mut want = vec![0xaa; 20];
        want.extend_from_slice(&hex::decode("9a1b1cfbc6f244569ae0356c77bbe9d8").expect("hex"));
        want.extend_from_slice(&[1, 2, 3, 4, 0, 0]);
        assert_eq!(p.to_vec(), want);
    }

    #[test]
    fn key_debug_is_redacted() {
        let k = AudioKey([0xab; 16]);
        let s = format!("{k:?} {:?}", Ok::<_, ()>(k));
        assert!(!s.to_lowercase().contains("ab"), "{s}");
        assert!(!s.contains("171"), "{s}");
    }

    #[tokio::test]
    async fn success_and_seq_increments() {
        let (keys, mut rx) = setup(Duration::from_secs(5));
        for seq in 0..3u32 {
            let (task, packet) = start(&keys, &mut rx, file(seq as u8)).await;
            assert_eq!(packet.cmd, cmd::REQUEST_KEY);
            assert_eq!(packet.payload.len(), REQUEST_LEN);
            assert_eq!(&packet.payload[..20], &[seq as u8; 20]);
            assert_eq!(&packet.payload[36..40], &seq.to_be_bytes());
            let key = [seq as u8 + 1; 16];
            keys.dispatch(cmd::AES_KEY, &key_reply(seq, key))
                .expect("dispatch");
            assert_eq!(task.await.expect("join"), Ok(AudioKey(key)));
        }
    }

    #[tokio::test]
    async fn replies_matched_by_seq_out_of_order() {
        let (keys, mut rx) = setup(Duration::from_secs(5));
        let (a, _) = start(&keys, &mut rx, file(1)).await;
        let (b, _) = start(&keys, &mut rx, file(2)).await;
        keys.dispatch(cmd::AES_KEY, &key_reply(1, [2; 16]))
            .expect("b");
        keys.dispatch(cmd::AES_KEY, &key_reply(0, [1; 16]))
            .expect("a");
        assert_eq!(a.await.expect("join"), Ok(AudioKey([1; 16])));
        assert_eq!(b.await.expect("join"), Ok(AudioKey([2; 16])));
    }

    #[tokio::test]
    async fn error_code() {
        let (keys, mut rx) = setup(Duration::from_secs(5));
        let (task, _) = start(&keys, &mut rx, file(1)).await;
        keys.dispatch(cmd::AES_KEY_ERROR, &err_reply(0, 1))
            .expect("dispatch");
        let e = task.await.expect("join").expect_err("refused");
        assert_eq!(e, AudioKeyError::Refused { code: 1 });
        assert_eq!(e.kind(), crate::ErrorKind::Notify);
    }

    #[tokio::test]
    async fn timeout_then_late_reply_ignored() {
        let (keys, mut rx) = setup(Duration::from_millis(30));
        let (task, _) = start(&keys, &mut rx, file(1)).await;
        assert_eq!(task.await.expect("join"), Err(AudioKeyError::Timeout));
        assert_eq!(keys.shared.lock().pending.len(), 0);
        // The late reply is not an error and does not disturb the next request.
        keys.dispatch(cmd::AES_KEY, &key_reply(0, [9; 16]))
            .expect("late reply ignored");
        let (task, packet) = start(&keys, &mut rx, file(2)).await;
        assert_eq!(&packet.payload[36..40], &1u32.to_be_bytes());
        keys.dispatch(cmd::AES_KEY, &key_reply(1, [3; 16]))
            .expect("dispatch");
        assert_eq!(task.await.expect("join"), Ok(AudioKey([3; 16])));
    }

    #[tokio::test]
    async fn wrong_lengths_are_malformed() {
        let (keys, mut rx) = setup(Duration::from_secs(5));
        for bad in [vec![], vec![0, 0, 0], vec![0, 0, 0, 7]] {
            assert!(matches!(
                keys.dispatch(cmd::AES_KEY, &bad),
                Err(AudioKeyError::Malformed(_))
            ));
            assert!(matches!(
                keys.dispatch(cmd::AES_KEY_ERROR, &bad),
                Err(AudioKeyError::Malformed(_))
            ));
        }
        // 21 bytes (one too many) and a 5-byte error for a pending seq: the request fails now.
        let (task, _) = start(&keys, &mut rx, file(1)).await;
        let mut long = key_reply(0, [1; 16]);
        long.push(0);
        assert!(matches!(
            keys.dispatch(cmd::AES_KEY, &long),
            Err(AudioKeyError::Malformed(_))
        ));
        assert!(matches!(
            task.await.expect("join"),
            Err(AudioKeyError::Malformed(_))
        ));
        let (task, _) = start(&keys, &mut rx, file(2)).await;
        assert!(matches!(
            keys.dispatch(cmd::AES_KEY_ERROR, &[0, 0, 0, 1, 0]),
            Err(AudioKeyError::Malformed(_))
        ));
        assert!(matches!(
            task.await.expect("join"),
            Err(AudioKeyError::Malformed(_))
        ));
        // Wrong command.
        assert!(matches!(
            keys.dispatch(cmd::PING, &key_reply(0, [0; 16])),
            Err(AudioKeyError::Malformed(_))
        ));
    }

    #[tokio::test]
    async fn reset_fails_pending_and_switches_tx() {
        let (keys, mut rx) = setup(Duration::from_secs(5));
        let (task, _) = start(&keys, &mut rx, file(1)).await;
        let (tx2, mut rx2) = mpsc::unbounded_channel();
        keys.reset(tx2);
        assert_eq!(task.await.expect("join"), Err(AudioKeyError::Disconnected));
        let (task, packet) = start(&keys, &mut rx2, file(2)).await;
        assert_eq!(&packet.payload[36..40], &1u32.to_be_bytes());
        keys.dispatch(cmd::AES_KEY, &key_reply(1, [4; 16]))
            .expect("dispatch");
        assert_eq!(task.await.expect("join"), Ok(AudioKey([4; 16])));
    }

    #[tokio::test]
    async fn closed_connection_is_disconnected() {
        let (keys, rx) = setup(Duration::from_secs(5));
        drop(rx);
        assert_eq!(
            keys.request(TRACK, file(1)).await,
            Err(AudioKeyError::Disconnected)
        );
        assert_eq!(keys.shared.lock().pending.len(), 0);
    }

    #[tokio::test]
    async fn cancelled_request_leaves_nothing_pending() {
        let (keys, mut rx) = setup(Duration::from_secs(5));
        let (task, _) = start(&keys, &mut rx, file(1)).await;
        task.abort();
        assert!(task.await.is_err());
        assert_eq!(keys.shared.lock().pending.len(), 0);
    }

    proptest! {
        #[test]
        fn dispatch_never_panics(command in any::<u8>(), payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            let (keys, _rx) = setup(Duration::from_secs(1));
            let _ = keys.dispatch(command, &payload);
            let _ = keys.dispatch(cmd::AES_KEY, &payload);
            let _ = keys.dispatch(cmd::AES_KEY_ERROR, &payload);
        }
    }
}
