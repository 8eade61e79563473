//! Mercury (Hermes over the AP, protocol spec §6): encodes GET/SEND/SUB/UNSUB requests as
//! 0xb2/0xb3/0xb4 packets, reassembles multi-packet replies and events (0xb2–0xb5), matches
//! replies to waiting requests by sequence number and hands events to subscriptions by URI
//! prefix. Services (token, playlist annotations) call [`Mercury::get`] and friends; the
//! connection task calls [`Mercury::dispatch`] for 0xb2..=0xb5 packets and [`Mercury::reset`] when
//! the connection is lost or replaced. It never touches the socket: requests leave through a
//! [`PacketTx`]. The wire format lives in plain functions ([`parse_mercury_packet`],
//! [`encode_mercury_packet`], [`encode_mercury_request`]) so it can be tested on its own.
//! Payloads may hold secrets (keymaster tokens), so `Debug` shows only their sizes.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use librespot_protocol::mercury::Header;
use librespot_protocol::pubsub::Subscription;
use protobuf::Message;
use tokio::sync::{mpsc, oneshot};

use crate::session::packet::{cmd, Packet};

/// Where a session component puts packets for the connection task to encrypt and send.
pub type PacketTx = mpsc::UnboundedSender<Packet>;

/// Largest reassembled message we accept. Real replies are a few KiB; this only stops a broken
/// or hostile peer from growing memory without bound.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// Most multi-packet messages we reassemble at once.
pub const MAX_PARTIAL_MESSAGES: usize = 16;
/// Most bytes held by all partial messages together.
pub const MAX_REASSEMBLY_BYTES: usize = 32 * 1024 * 1024;
/// What each part costs beyond its bytes (its `Vec`), counted so that floods of empty parts are
/// bounded too.
const PART_OVERHEAD: usize = std::mem::size_of::<Vec<u8>>();
/// The payload of one AP packet is at most this long (u16 length on the wire).
const MAX_PACKET_PAYLOAD: usize = u16::MAX as usize;

/// Packet flag: this packet ends the message.
pub const FLAG_FINAL: u8 = 0x01;
/// Packet flag: the last part of this packet continues in the next packet with the same seq.
pub const FLAG_PARTIAL: u8 = 0x02;

/// A Mercury request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MercuryMethod {
    Get,
    Send,
    Sub,
    Unsub,
}

impl MercuryMethod {
    /// The method string in the Header.
    pub fn as_str(self) -> &'static str {
        match self {
            MercuryMethod::Get => "GET",
            MercuryMethod::Send => "SEND",
            MercuryMethod::Sub => "SUB",
            MercuryMethod::Unsub => "UNSUB",
        }
    }

    /// The packet command that carries a request with this method.
    pub fn command(self) -> u8 {
        match self {
            MercuryMethod::Get | MercuryMethod::Send => cmd::MERCURY_REQ,
            MercuryMethod::Sub => cmd::MERCURY_SUB,
            MercuryMethod::Unsub => cmd::MERCURY_UNSUB,
        }
    }
}

/// A Mercury request: the Header fields plus payload parts.
#[derive(Clone, PartialEq, Eq)]
pub struct MercuryRequest {
    pub method: MercuryMethod,
    pub uri: String,
    pub content_type: Option<String>,
    pub payload: Vec<Vec<u8>>,
}

impl fmt::Debug for MercuryRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MercuryRequest")
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("content_type", &self.content_type)
            .field("payload_sizes", &part_sizes(&self.payload))
            .finish()
    }
}

/// A Mercury reply or pushed event: Header fields plus payload parts (the parts after the Header).
#[derive(Clone, PartialEq, Eq)]
pub struct MercuryResponse {
    pub uri: String,
    pub status_code: i32,
    pub content_type: Option<String>,
    pub payload: Vec<Vec<u8>>,
}

impl fmt::Debug for MercuryResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MercuryResponse")
            .field("uri", &self.uri)
            .field("status_code", &self.status_code)
            .field("content_type", &self.content_type)
            .field("payload_sizes", &part_sizes(&self.payload))
            .finish()
    }
}

fn part_sizes(parts: &[Vec<u8>]) -> Vec<usize> {
    parts.iter().map(Vec::len).collect()
}

/// Mercury failures. Messages never contain payload bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MercuryError {
    #[error("mercury request for {uri} failed with status {code}")]
    Status { code: i32, uri: String },
    #[error("no mercury reply from the access point in time")]
    Timeout,
    #[error("the access point connection was lost before the mercury reply arrived")]
    Disconnected,
    #[error("malformed mercury message: {0}")]
    Malformed(String),
    #[error("mercury request does not fit in one packet: {0}")]
    TooLarge(String),
    #[error("packet 0x{0:02x} is not a mercury packet")]
    UnexpectedCommand(u8),
}

impl MercuryError {
    pub fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind;
        match self {
            MercuryError::Status { code, .. } => match code {
                401 => ErrorKind::Relogin,
                429 | 500.. => ErrorKind::Retry,
                _ => ErrorKind::Notify,
            },
            MercuryError::Timeout | MercuryError::Disconnected => ErrorKind::Retry,
            // Asking again would produce the same broken message.
            MercuryError::Malformed(_)
            | MercuryError::TooLarge(_)
            | MercuryError::UnexpectedCommand(_) => ErrorKind::Notify,
        }
    }
}

fn malformed(s: impl Into<String>) -> MercuryError {
    MercuryError::Malformed(s.into())
}

/// One Mercury packet payload, parsed but not reassembled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MercuryPacket {
    /// The sequence bytes (our requests use a u64be counter; the AP picks its own for events).
    pub seq: Vec<u8>,
    pub flags: u8,
    pub parts: Vec<Vec<u8>>,
}

/// A cursor over a payload that fails instead of panicking when data runs out.
struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], MercuryError> {
        if self.data.len() < n {
            return Err(malformed(format!(
                "{what} needs {n} bytes, only {} left",
                self.data.len()
            )));
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Ok(head)
    }

    fn u8(&mut self, what: &str) -> Result<u8, MercuryError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, MercuryError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
}

/// Reads only the sequence bytes, so that a packet broken further on can still be attributed to
/// its request.
fn read_seq(payload: &[u8]) -> Result<&[u8], MercuryError> {
    let mut r = Reader { data: payload };
    let len = r.u16("seq length")?;
    r.take(usize::from(len), "seq")
}

/// Parses one Mercury packet payload:
/// `u16be seq_len ‖ seq ‖ u8 flags ‖ u16be part_count ‖ part_count × (u16be len ‖ bytes)`.
/// Declared lengths are checked against the bytes actually present before anything is allocated.
/// Trailing bytes after the last part are ignored, as librespot does.
pub fn parse_mercury_packet(payload: &[u8]) -> Result<MercuryPacket, MercuryError> {
    let mut r = Reader { data: payload };
    let seq_len = r.u16("seq length")?;
    let seq = r.take(usize::from(seq_len), "seq")?.to_vec();
    let flags = r.u8("flags")?;
    let count = usize::from(r.u16("part count")?);
    // Every part needs at least its 2-byte length, so a count the data cannot hold is rejected
    // before reserving room for it.
    if count > r.data.len() / 2 {
        return Err(malformed(format!(
            "{count} parts declared but only {} bytes follow",
            r.data.len()
        )));
    }
    let mut parts = Vec::with_capacity(count);
    for i in 0..count {
        let len = r.u16("part length")?;
        parts.push(r.take(usize::from(len), &format!("part {i}"))?.to_vec());
    }
    if !r.data.is_empty() {
        tracing::trace!(extra = r.data.len(), "trailing bytes after mercury parts");
    }
    Ok(MercuryPacket { seq, flags, parts })
}

/// Encodes one Mercury packet payload. Fails if a part or the whole packet exceeds what the
/// u16 length fields and the AP packet (65535 bytes) can carry.
pub fn encode_mercury_packet(
    seq: &[u8],
    flags: u8,
    parts: &[Vec<u8>],
) -> Result<Vec<u8>, MercuryError> {
    let total = 2 + seq.len() + 1 + 2 + parts.iter().map(|p| 2 + p.len()).sum::<usize>();
    if total > MAX_PACKET_PAYLOAD {
        return Err(MercuryError::TooLarge(format!(
            "{total} bytes, at most {MAX_PACKET_PAYLOAD}"
        )));
    }
    // Every length below is bounded by `total`, so the conversions cannot fail; they are still
    // checked rather than cast.
    let u16_of = |n: usize| {
        u16::try_from(n).map_err(|_| MercuryError::TooLarge(format!("length {n} exceeds 65535")))
    };
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&u16_of(seq.len())?.to_be_bytes());
    out.extend_from_slice(seq);
    out.push(flags);
    out.extend_from_slice(&u16_of(parts.len())?.to_be_bytes());
    for p in parts {
        out.extend_from_slice(&u16_of(p.len())?.to_be_bytes());
        out.extend_from_slice(p);
    }
    Ok(out)
}

/// Encodes a request as the packet to send: Header{uri, content_type, method} as the first part,
/// then the payload parts, seq as u64be, flags final.
pub fn encode_mercury_request(seq: u64, req: &MercuryRequest) -> Result<Packet, MercuryError> {
    let mut header = Header::new();
    header.set_uri(req.uri.clone());
    if let Some(ct) = &req.content_type {
        header.set_content_type(ct.clone());
    }
    header.set_method(req.method.as_str().to_string());
    let header = header
        .write_to_bytes()
        .map_err(|e| malformed(format!("cannot encode header: {e}")))?;
    let mut parts = Vec::with_capacity(1 + req.payload.len());
    parts.push(header);
    parts.extend(req.payload.iter().cloned());
    let payload = encode_mercury_packet(&seq.to_be_bytes(), FLAG_FINAL, &parts)?;
    Ok(Packet::new(req.method.command(), payload))
}

/// Turns the parts of a complete message into a response: the first part is the Header.
fn parse_message(mut parts: Vec<Vec<u8>>) -> Result<MercuryResponse, MercuryError> {
    if parts.is_empty() {
        return Err(malformed("message without a header part"));
    }
    let header = Header::parse_from_bytes(&parts.remove(0))
        .map_err(|e| malformed(format!("bad header: {e}")))?;
    Ok(MercuryResponse {
        uri: header.uri().to_string(),
        status_code: header.status_code(),
        content_type: header
            .has_content_type()
            .then(|| header.content_type().to_string()),
        payload: parts,
    })
}

/// librespot matches subscriptions against the event URI with every path segment after the
/// scheme form-urlencoded (`hm://a/b c` → `hm://a/b+c`); we accept a prefix of either form.
fn encode_event_uri(uri: &str) -> String {
    let mut segments = uri.split('/');
    let mut out = segments.next().unwrap_or_default().to_string();
    for seg in segments {
        out.push('/');
        for &b in seg.as_bytes() {
            match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                    out.push(char::from(b))
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    out
}

type Reply = oneshot::Sender<Result<MercuryResponse, MercuryError>>;

/// A request waiting for its reply.
struct Pending {
    uri: String,
    method: MercuryMethod,
    reply: Reply,
    /// For SUB requests made through [`Mercury::subscribe`]: the stream to register, done inside
    /// `dispatch` before the caller wakes so that no event can slip through in between.
    subscriber: Option<mpsc::UnboundedSender<MercuryResponse>>,
}

/// A message whose packets have not all arrived.
#[derive(Default)]
struct Partial {
    parts: Vec<Vec<u8>>,
    /// The last part of the previous packet, to be continued by the next packet's first part.
    open: Option<Vec<u8>>,
    bytes: usize,
}

impl Partial {
    /// Adds one packet's parts, failing if the message grows past [`MAX_MESSAGE_BYTES`].
    fn add(&mut self, packet: MercuryPacket) -> Result<(), MercuryError> {
        let count = packet.parts.len();
        for (i, part) in packet.parts.into_iter().enumerate() {
            let added = part.len()
                + if self.open.is_some() {
                    0
                } else {
                    PART_OVERHEAD
                };
            self.bytes = self.bytes.saturating_add(added);
            if self.bytes > MAX_MESSAGE_BYTES {
                return Err(malformed(format!(
                    "message exceeds {MAX_MESSAGE_BYTES} bytes"
                )));
            }
            let part = match self.open.take() {
                Some(mut open) => {
                    open.extend_from_slice(&part);
                    open
                }
                None => part,
            };
            if i + 1 == count && packet.flags == FLAG_PARTIAL {
                self.open = Some(part);
            } else {
                self.parts.push(part);
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Vec<Vec<u8>> {
        // A final packet without parts closes a still-open part as it is.
        if let Some(open) = self.open.take() {
            self.parts.push(open);
        }
        self.parts
    }
}

struct Sub {
    /// The URI passed to `subscribe` (what `unsubscribe` names).
    requested: String,
    /// The URI prefix this stream watches (from the SUB reply, or `requested`).
    uri: String,
    tx: mpsc::UnboundedSender<MercuryResponse>,
}

struct Inner {
    tx: PacketTx,
    next_seq: u64,
    pending: HashMap<u64, Pending>,
    partials: HashMap<Vec<u8>, Partial>,
    subs: Vec<Sub>,
}

/// Who a packet belongs to.
enum Owner {
    Request(u64),
    /// A seq we issued whose request already ended (timeout, cancel, reset).
    Late(u64),
    Push,
}

impl Inner {
    fn owner(&self, seq: &[u8]) -> Owner {
        match <[u8; 8]>::try_from(seq).map(u64::from_be_bytes) {
            Ok(n) if self.pending.contains_key(&n) => Owner::Request(n),
            Ok(n) if n < self.next_seq => Owner::Late(n),
            _ => Owner::Push,
        }
    }

    fn fail(&mut self, owner: &Owner, seq: &[u8], err: &MercuryError) {
        self.partials.remove(seq);
        if let Owner::Request(n) = owner {
            if let Some(p) = self.pending.remove(n) {
                let _ = p.reply.send(Err(err.clone()));
            }
        }
    }

    /// Completes a request: status check, SUB registration, wake the caller.
    fn complete_request(&mut self, n: u64, response: MercuryResponse) -> Result<(), MercuryError> {
        let Some(p) = self.pending.remove(&n) else {
            return Ok(());
        };
        let mut response = response;
        if response.uri.is_empty() {
            response.uri = p.uri.clone();
        }
        let result = if response.status_code >= 400 {
            if response.status_code >= 500 {
                tracing::error!(uri = %p.uri, status = response.status_code, "mercury server error");
            } else {
                tracing::debug!(uri = %p.uri, status = response.status_code, "mercury request failed");
            }
            Err(MercuryError::Status {
                code: response.status_code,
                uri: p.uri.clone(),
            })
        } else if let (MercuryMethod::Sub, Some(tx)) = (p.method, &p.subscriber) {
            match subscription_uris(&p.uri, &response.payload) {
                Ok(uris) => {
                    for uri in uris {
                        tracing::debug!(%uri, requested = %p.uri, "mercury subscription added");
                        self.subs.push(Sub {
                            requested: p.uri.clone(),
                            uri,
                            tx: tx.clone(),
                        });
                    }
                    Ok(response)
                }
                Err(e) => Err(e),
            }
        } else {
            Ok(response)
        };
        let ret = match &result {
            Err(e @ MercuryError::Malformed(_)) => Err(e.clone()),
            _ => Ok(()),
        };
        // The caller may have just given up; nothing to do then.
        let _ = p.reply.send(result);
        ret
    }

    /// Hands an event to every subscription whose URI prefixes it; drops ended subscriptions.
    fn publish(&mut self, event: MercuryResponse) {
        let encoded = encode_event_uri(&event.uri);
        let mut delivered = false;
        self.subs.retain(|s| {
            if event.uri.starts_with(&s.uri) || encoded.starts_with(&s.uri) {
                if s.tx.send(event.clone()).is_err() {
                    tracing::debug!(uri = %s.uri, "mercury subscriber gone; dropping subscription");
                    return false;
                }
                delivered = true;
            }
            !s.tx.is_closed()
        });
        if !delivered {
            tracing::debug!(uri = %event.uri, "mercury event without a subscriber");
        }
    }
}

/// The URIs a SUB reply asks us to watch: those in its `pubsub.Subscription` parts, or the
/// requested URI when there are none.
fn subscription_uris(requested: &str, payload: &[Vec<u8>]) -> Result<Vec<String>, MercuryError> {
    let mut uris = Vec::new();
    for part in payload {
        let sub = Subscription::parse_from_bytes(part)
            .map_err(|e| malformed(format!("bad subscription in SUB reply: {e}")))?;
        if sub.has_uri() && !sub.uri().is_empty() {
            uris.push(sub.uri().to_string());
        }
    }
    if uris.is_empty() {
        uris.push(requested.to_string());
    }
    Ok(uris)
}

struct Shared {
    timeout: Duration,
    inner: Mutex<Inner>,
}

impl Shared {
    /// Every update under the lock is a few map operations that leave `Inner` consistent, so a
    /// poisoned lock (a panic elsewhere) is still safe to use.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Removes a request's pending entry (and any half-reassembled reply) when its future ends in any
/// way, so abandoned requests free their memory and late replies are recognised as late.
struct PendingGuard {
    shared: Weak<Shared>,
    seq: u64,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            let mut inner = shared.lock();
            inner.pending.remove(&self.seq);
            inner.partials.remove(self.seq.to_be_bytes().as_slice());
        }
    }
}

/// Cheap-to-clone handle for Mercury requests and subscriptions over the AP.
#[derive(Clone)]
pub struct Mercury {
    shared: Arc<Shared>,
}

impl fmt::Debug for Mercury {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.shared.lock();
        f.debug_struct("Mercury")
            .field("timeout", &self.shared.timeout)
            .field("pending", &inner.pending.len())
            .field("partials", &inner.partials.len())
            .field("subscriptions", &inner.subs.len())
            .finish()
    }
}

impl Mercury {
    /// `timeout` bounds each request, from sending to the complete reply.
    pub fn new(tx: PacketTx, timeout: Duration) -> Mercury {
        Mercury {
            shared: Arc::new(Shared {
                timeout,
                inner: Mutex::new(Inner {
                    tx,
                    next_seq: 0,
                    pending: HashMap::new(),
                    partials: HashMap::new(),
                    subs: Vec::new(),
                }),
            }),
        }
    }

    /// GET `uri`.
    pub async fn get(&self, uri: &str) -> Result<MercuryResponse, MercuryError> {
        self.request(MercuryRequest {
            method: MercuryMethod::Get,
            uri: uri.to_string(),
            content_type: None,
            payload: Vec::new(),
        })
        .await
    }

    /// SEND `body` to `uri`.
    pub async fn send(&self, uri: &str, body: Vec<u8>) -> Result<MercuryResponse, MercuryError> {
        self.request(MercuryRequest {
            method: MercuryMethod::Send,
            uri: uri.to_string(),
            content_type: None,
            payload: vec![body],
        })
        .await
    }

    /// Sends any request and waits for its reply. Status ≥ 400 is `Err(Status)`. A SUB sent this
    /// way registers no subscription; use [`Mercury::subscribe`] for that.
    pub async fn request(&self, req: MercuryRequest) -> Result<MercuryResponse, MercuryError> {
        self.request_inner(req, None).await
    }

    async fn request_inner(
        &self,
        req: MercuryRequest,
        subscriber: Option<mpsc::UnboundedSender<MercuryResponse>>,
    ) -> Result<MercuryResponse, MercuryError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let seq = {
            let mut inner = self.shared.lock();
            let seq = inner.next_seq;
            let packet = encode_mercury_request(seq, &req)?;
            // Counting only requests that were sent keeps "seq < next_seq" meaning "ours".
            inner.next_seq += 1;
            // Sent under the lock so that a concurrent `reset` cannot slip between choosing the
            // sender and registering the request.
            if inner.tx.send(packet).is_err() {
                return Err(MercuryError::Disconnected);
            }
            inner.pending.insert(
                seq,
                Pending {
                    uri: req.uri.clone(),
                    method: req.method,
                    reply: reply_tx,
                    subscriber,
                },
            );
            seq
        };
        let _guard = PendingGuard {
            shared: Arc::downgrade(&self.shared),
            seq,
        };
        tracing::trace!(seq, method = req.method.as_str(), uri = %req.uri, "mercury request");
        match tokio::time::timeout(self.shared.timeout, reply_rx).await {
            Ok(Ok(result)) => result,
            // The sender was dropped unanswered: only `reset` or teardown does that.
            Ok(Err(_)) => Err(MercuryError::Disconnected),
            Err(_) => {
                tracing::debug!(seq, uri = %req.uri, "mercury request timed out");
                Err(MercuryError::Timeout)
            }
        }
    }

    /// Subscribes to `uri` and returns the stream of events for it. The stream ends on
    /// [`Mercury::unsubscribe`] or [`Mercury::reset`].
    pub async fn subscribe(
        &self,
        uri: &str,
    ) -> Result<mpsc::UnboundedReceiver<MercuryResponse>, MercuryError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let req = MercuryRequest {
            method: MercuryMethod::Sub,
            uri: uri.to_string(),
            content_type: None,
            payload: Vec::new(),
        };
        self.request_inner(req, Some(tx)).await?;
        Ok(rx)
    }

    /// Ends every local stream subscribed to `uri` (at once, whatever the AP says), then sends
    /// UNSUB and reports the AP's answer.
    pub async fn unsubscribe(&self, uri: &str) -> Result<(), MercuryError> {
        self.shared
            .lock()
            .subs
            .retain(|s| s.requested != uri && s.uri != uri);
        self.request(MercuryRequest {
            method: MercuryMethod::Unsub,
            uri: uri.to_string(),
            content_type: None,
            payload: Vec::new(),
        })
        .await
        .map(|_| ())
    }

    /// Handles a 0xb2..=0xb5 packet from the connection's reader. Errors are for logging: the
    /// session stays up. A broken reply to a pending request also fails that request at once.
    pub fn dispatch(&self, command: u8, payload: &[u8]) -> Result<(), MercuryError> {
        if !(cmd::MERCURY_REQ..=cmd::MERCURY_EVENT).contains(&command) {
            return Err(MercuryError::UnexpectedCommand(command));
        }
        let seq = read_seq(payload)?;
        let mut inner = self.shared.lock();
        let owner = inner.owner(seq);
        if let Owner::Late(n) = owner {
            if command != cmd::MERCURY_EVENT {
                tracing::debug!(seq = n, "mercury reply for a finished request; ignored");
                return Ok(());
            }
        }
        let packet = match parse_mercury_packet(payload) {
            Ok(p) => p,
            Err(e) => {
                inner.fail(&owner, seq, &e);
                return Err(e);
            }
        };
        let is_final = packet.flags == FLAG_FINAL;
        let existing = inner.partials.remove(seq);
        let mut partial = match existing {
            Some(p) => p,
            None if !is_final && inner.partials.len() >= MAX_PARTIAL_MESSAGES => {
                let e = malformed(format!(
                    "more than {MAX_PARTIAL_MESSAGES} multi-packet messages in flight"
                ));
                inner.fail(&owner, seq, &e);
                return Err(e);
            }
            None => Partial::default(),
        };
        if let Err(e) = partial.add(packet) {
            inner.fail(&owner, seq, &e);
            return Err(e);
        }
        if !is_final {
            let others: usize = inner.partials.values().map(|p| p.bytes).sum();
            if others.saturating_add(partial.bytes) > MAX_REASSEMBLY_BYTES {
                let e = malformed(format!(
                    "partial mercury messages exceed {MAX_REASSEMBLY_BYTES} bytes"
                ));
                inner.fail(&owner, seq, &e);
                return Err(e);
            }
            inner.partials.insert(seq.to_vec(), partial);
            return Ok(());
        }
        let response = match parse_message(partial.finish()) {
            Ok(r) => r,
            Err(e) => {
                inner.fail(&owner, seq, &e);
                return Err(e);
            }
        };
        match owner {
            Owner::Request(n) => inner.complete_request(n, response),
            Owner::Late(_) | Owner::Push => {
                inner.publish(response);
                Ok(())
            }
        }
    }

    /// The connection was lost or replaced: every pending request fails with `Disconnected`,
    /// every subscription stream ends, partial messages are dropped, and later requests go
    /// through `tx`. Sequence numbers keep counting so that nothing from the old connection can
    /// match a new request.
    pub fn reset(&self, tx: PacketTx) {
        let (pending, subs) = {
            let mut inner = self.shared.lock();
            inner.tx = tx;
            inner.partials.clear();
            (
                std::mem::take(&mut inner.pending),
                std::mem::take(&mut inner.subs),
            )
        };
        // Dropping the senders ends the subscription streams.
        drop(subs);
        for (_, p) in pending {
            let _ = p.reply.send(Err(MercuryError::Disconnected));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tokio::task::JoinHandle;

    type Rx = mpsc::UnboundedReceiver<Packet>;

    fn setup(timeout: Duration) -> (Mercury, Rx) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Mercury::new(tx, timeout), rx)
    }

    fn header(uri: &str, status: i32, content_type: Option<&str>) -> Vec<u8> {
        let mut h = Header::new();
        h.set_uri(uri.to_string());
        h.set_status_code(status);
        if let Some(ct) = content_type {
            h.set_content_type(ct.to_string());
        }
        h.write_to_bytes().expect("encode header")
    }

    fn packet(seq: &[u8], flags: u8, parts: &[Vec<u8>]) -> Vec<u8> {
        encode_mercury_packet(seq, flags, parts).expect("encode packet")
    }

    /// Reads the next request the fake connection received: (cmd, seq bytes, header, payload).
    async fn next_request(rx: &mut Rx) -> (u8, Vec<u8>, Header, Vec<Vec<u8>>) {
        let p = rx.recv().await.expect("request packet");
        let mut m = parse_mercury_packet(&p.payload).expect("parse request");
        assert_eq!(m.flags, FLAG_FINAL);
        let h = Header::parse_from_bytes(&m.parts.remove(0)).expect("header");
        (p.cmd, m.seq, h, m.parts)
    }

    fn spawn_get(m: &Mercury, uri: &str) -> JoinHandle<Result<MercuryResponse, MercuryError>> {
        let m = m.clone();
        let uri = uri.to_string();
        tokio::spawn(async move { m.get(&uri).await })
    }

    /// Subscribes, answering the SUB with `reply_parts` after the header.
    async fn subscribe(
        m: &Mercury,
        rx: &mut Rx,
        uri: &str,
        reply_parts: Vec<Vec<u8>>,
    ) -> mpsc::UnboundedReceiver<MercuryResponse> {
        let m2 = m.clone();
        let u = uri.to_string();
        let task = tokio::spawn(async move { m2.subscribe(&u).await });
        let (c, seq, h, _) = next_request(rx).await;
        assert_eq!(c, cmd::MERCURY_SUB);
        assert_eq!(h.method(), "SUB");
        let mut parts = vec![header(uri, 200, None)];
        parts.extend(reply_parts);
        m.dispatch(cmd::MERCURY_SUB, &packet(&seq, FLAG_FINAL, &parts))
            .expect("sub reply");
        task.await.expect("join").expect("subscribed")
    }

    fn event(uri: &str, body: &[u8]) -> Vec<u8> {
        packet(
            &[0xee; 8],
            FLAG_FINAL,
            &[header(uri, 200, None), body.to_vec()],
        )
    }

    #[test]
    fn request_encoding_bytes() {
        let req = MercuryRequest {
            method: MercuryMethod::Get,
            uri: "hm://a".into(),
            content_type: None,
            payload: vec![],
        };
        let p = encode_mercury_request(0, &req).expect("encode");
        assert_eq!(p.cmd, 0xb2);
        let want = [
            0x00, 0x08, 0, 0, 0, 0, 0, 0, 0, 0,    // seq_len 8, seq 0
            0x01, // flags final
            0x00, 0x01, // one part
            0x00, 0x0d, // header length 13
            0x0a, 0x06, b'h', b'm', b':', b'/', b'/', b'a', // uri
            0x1a, 0x03, b'G', b'E', b'T', // method
        ];
        assert_eq!(p.payload, want);

        let req = MercuryRequest {
            method: MercuryMethod::Send,
            uri: "hm://a".into(),
            content_type: Some("t/x".into()),
            payload: vec![vec![1, 2], vec![]],
        };
        let p = encode_mercury_request(0x0102, &req).expect("encode");
        assert_eq!(p.cmd, 0xb2);
        let want = [
            0x00, 0x08, 0, 0, 0, 0, 0, 0, 0x01, 0x02, 0x01, 0x00, 0x03, // 3 parts
            0x00, 0x13, // header length 19
            0x0a, 0x06, b'h', b'm', b':', b'/', b'/', b'a', // uri
            0x12, 0x03, b't', b'/', b'x', // content type
            0x1a, 0x04, b'S', b'E', b'N', b'D', // method
            0x00, 0x02, 1, 2, // part
            0x00, 0x00, // empty part
        ];
        assert_eq!(p.payload, want);

        for (method, c) in [(MercuryMethod::Sub, 0xb3), (MercuryMethod::Unsub, 0xb4)] {
            let req = MercuryRequest {
                method,
                ..req.clone()
            };
            assert_eq!(encode_mercury_request(1, &req).expect("encode").cmd, c);
        }
    }

    #[test]
    fn oversized_request_rejected() {
        let req = MercuryRequest {
            method: MercuryMethod::Send,
            uri: "hm://a".into(),
            content_type: None,
            payload: vec![vec![0; 70_000]],
        };
        assert!(matches!(
            encode_mercury_request(0, &req),
            Err(MercuryError::TooLarge(_))
        ));
    }

    #[test]
    fn parse_roundtrip_and_truncation() {
        let parts = vec![b"head".to_vec(), vec![], vec![7; 300]];
        let bytes = packet(&[1, 2, 3], FLAG_PARTIAL, &parts);
        let p = parse_mercury_packet(&bytes).expect("parse");
        assert_eq!(
            p,
            MercuryPacket {
                seq: vec![1, 2, 3],
                flags: FLAG_PARTIAL,
                parts
            }
        );
        for cut in 0..bytes.len() {
            assert!(
                matches!(
                    parse_mercury_packet(&bytes[..cut]),
                    Err(MercuryError::Malformed(_))
                ),
                "cut at {cut}"
            );
        }
        // Trailing bytes are tolerated.
        let mut extra = bytes.clone();
        extra.push(0);
        assert_eq!(parse_mercury_packet(&extra).expect("parse").parts.len(), 3);
    }

    #[test]
    fn huge_declared_lengths_rejected() {
        // seq_len 65535 with 3 bytes of seq.
        assert!(parse_mercury_packet(&[0xff, 0xff, 1, 2, 3]).is_err());
        // part_count 65535 with nothing behind it: rejected before reserving 65535 slots.
        let e = parse_mercury_packet(&[0, 0, 1, 0xff, 0xff]).expect_err("count");
        assert!(matches!(&e, MercuryError::Malformed(m) if m.contains("65535 parts")));
        // part_count 65535 with a few parts' worth of bytes.
        let e = parse_mercury_packet(&[0, 0, 1, 0xff, 0xff, 0, 0, 0, 0]).expect_err("count");
        assert!(matches!(&e, MercuryError::Malformed(m) if m.contains("65535 parts")));
        // One part declaring 65535 bytes with 2 present.
        assert!(parse_mercury_packet(&[0, 0, 1, 0, 1, 0xff, 0xff, 1, 2]).is_err());
    }

    #[test]
    fn event_uri_encoding() {
        assert_eq!(encode_event_uri("hm://a/b c/d"), "hm://a/b+c/d");
        assert_eq!(encode_event_uri("hm://a/x:y~"), "hm://a/x%3Ay%7E");
        assert_eq!(encode_event_uri(""), "");
    }

    #[test]
    fn debug_hides_payloads() {
        let r = MercuryResponse {
            uri: "hm://keymaster/token".into(),
            status_code: 200,
            content_type: None,
            payload: vec![b"{\"accessToken\":\"SECRET\"}".to_vec()],
        };
        let s = format!("{r:?}");
        assert!(!s.contains("SECRET") && !s.contains("83, 69"), "{s}");
        assert!(s.contains("payload_sizes: [24]"), "{s}");
    }

    #[tokio::test]
    async fn get_and_responses_matched_by_seq() {
        let (m, mut rx) = setup(Duration::from_secs(5));
        let a = spawn_get(&m, "hm://a");
        let (c, seq_a, h, _) = next_request(&mut rx).await;
        assert_eq!((c, h.uri(), h.method()), (0xb2, "hm://a", "GET"));
        assert_eq!(seq_a, 0u64.to_be_bytes());
        let b = spawn_get(&m, "hm://b");
        let (_, seq_b, _, _) = next_request(&mut rx).await;
        assert_eq!(seq_b, 1u64.to_be_bytes());

        // Answer in reverse order.
        m.dispatch(
            0xb2,
            &packet(
                &seq_b,
                FLAG_FINAL,
                &[header("hm://b", 200, Some("text/plain")), b"B".to_vec()],
            ),
        )
        .expect("b");
        m.dispatch(
            0xb2,
            &packet(
                &seq_a,
                FLAG_FINAL,
                &[header("hm://a", 200, None), b"A".to_vec()],
            ),
        )
        .expect("a");
        let a = a.await.expect("join").expect("a ok");
        let b = b.await.expect("join").expect("b ok");
        assert_eq!(
            a,
            MercuryResponse {
                uri: "hm://a".into(),
                status_code: 200,
                content_type: None,
                payload: vec![b"A".to_vec()]
            }
        );
        assert_eq!(b.content_type.as_deref(), Some("text/plain"));
        assert_eq!(b.payload, vec![b"B".to_vec()]);
        assert_eq!(m.shared.lock().pending.len(), 0);
    }

    #[tokio::test]
    async fn send_carries_body() {
        let (m, mut rx) = setup(Duration::from_secs(5));
        let m2 = m.clone();
        let task = tokio::spawn(async move { m2.send("hm://s", vec![9, 9]).await });
        let (c, seq, h, body) = next_request(&mut rx).await;
        assert_eq!((c, h.method()), (0xb2, "SEND"));
        assert_eq!(body, vec![vec![9, 9]]);
        m.dispatch(0xb2, &packet(&seq, FLAG_FINAL, &[header("", 200, None)]))
            .expect("reply");
        // An empty header URI falls back to the requested one.
        assert_eq!(task.await.expect("join").expect("ok").uri, "hm://s");
    }

    #[tokio::test]
    async fn multipart_reassembly_across_three_packets() {
        let (m, mut rx) = setup(Duration::from_secs(5));
        let task = spawn_get(&m, "hm://big");
        let (_, seq, _, _) = next_request(&mut rx).await;
        let h = header("hm://big", 200, None);
        // The header itself is split across packets 1 and 2; "abc"+"def" across 2 and 3.
        let p1 = packet(&seq, FLAG_PARTIAL, &[h[..5].to_vec()]);
        let p2 = packet(
            &seq,
            FLAG_PARTIAL,
            &[h[5..].to_vec(), b"whole".to_vec(), b"abc".to_vec()],
        );
        let p3 = packet(&seq, FLAG_FINAL, &[b"def".to_vec(), b"tail".to_vec()]);
        m.dispatch(0xb2, &p1).expect("p1");
        m.dispatch(0xb2, &p2).expect("p2");
        assert_eq!(m.shared.lock().partials.len(), 1);
        m.dispatch(0xb2, &p3).expect("p3");
        let r = task.await.expect("join").expect("ok");
        assert_eq!(r.uri, "hm://big");
        assert_eq!(
            r.payload,
            vec![b"whole".to_vec(), b"abcdef".to_vec(), b"tail".to_vec()]
        );
        assert_eq!(m.shared.lock().partials.len(), 0);
    }

    #[tokio::test]
    async fn multipart_two_packets_without_split_part() {
        let (m, mut rx) = setup(Duration::from_secs(5));
        let task = spawn_get(&m, "hm://x");
        let (_, seq, _, _) = next_request(&mut rx).await;
        // Flags other than 1 and 2 continue the message without joining parts (librespot).
        let p1 = packet(&seq, 0, &[header("hm://x", 200, None), b"one".to_vec()]);
        let p2 = packet(&seq, FLAG_FINAL, &[b"two".to_vec()]);
        m.dispatch(0xb2, &p1).expect("p1");
        m.dispatch(0xb2, &p2).expect("p2");
        let r = task.await.expect("join").expect("ok");
        assert_eq!(r.payload, vec![b"one".to_vec(), b"two".to_vec()]);
    }

    #[tokio::test]
    async fn status_404_is_error() {
        let (m, mut rx) = setup(Duration::from_secs(5));
        let task = spawn_get(&m, "hm://missing");
        let (_, seq, _, _) = next_request(&mut rx).await;
        m.dispatch(
            0xb2,
            &packet(&seq, FLAG_FINAL, &[header("hm://missing", 404, None)]),
        )
        .expect("dispatch");
        let e = task.await.expect("join").expect_err("404");
        assert_eq!(
            e,
            MercuryError::Status {
                code: 404,
                uri: "hm://missing".into()
            }
        );
        assert_eq!(e.kind(), crate::ErrorKind::Notify);
        assert_eq!(
            MercuryError::Status {
                code: 503,
                uri: String::new()
            }
            .kind(),
            crate::ErrorKind::Retry
        );
    }

    #[tokio::test]
    async fn timeout_then_late_reply_ignored() {
        let (m, mut rx) = setup(Duration::from_millis(30));
        let mut events = subscribe(&m, &mut rx, "hm://slow", vec![]).await;
        let task = spawn_get(&m, "hm://slow");
        let (_, seq, _, _) = next_request(&mut rx).await;
        let e = task.await.expect("join").expect_err("timeout");
        assert_eq!(e, MercuryError::Timeout);
        assert_eq!(e.kind(), crate::ErrorKind::Retry);
        assert_eq!(m.shared.lock().pending.len(), 0);
        // The late reply (even a multi-packet one) is dropped: not an error, not an event.
        let h = header("hm://slow", 200, None);
        m.dispatch(0xb2, &packet(&seq, FLAG_PARTIAL, std::slice::from_ref(&h)))
            .expect("late partial");
        m.dispatch(0xb2, &packet(&seq, FLAG_FINAL, &[h]))
            .expect("late final");
        assert_eq!(m.shared.lock().partials.len(), 0);
        assert!(events.try_recv().is_err());
    }

    #[tokio::test]
    async fn timeout_mid_reassembly_frees_partial() {
        let (m, mut rx) = setup(Duration::from_millis(30));
        let task = spawn_get(&m, "hm://slow");
        let (_, seq, _, _) = next_request(&mut rx).await;
        m.dispatch(0xb2, &packet(&seq, FLAG_PARTIAL, &[vec![1, 2]]))
            .expect("partial");
        assert_eq!(m.shared.lock().partials.len(), 1);
        assert_eq!(task.await.expect("join"), Err(MercuryError::Timeout));
        assert_eq!(m.shared.lock().partials.len(), 0);
    }

    #[tokio::test]
    async fn reset_fails_pending_and_ends_subscriptions() {
        let (m, mut rx) = setup(Duration::from_secs(5));
        let mut events = subscribe(&m, &mut rx, "hm://ev/", vec![]).await;
        let task = spawn_get(&m, "hm://a");
        let (_, seq, _, _) = next_request(&mut rx).await;
        // A half-received reply is dropped too.
        m.dispatch(0xb2, &packet(&seq, FLAG_PARTIAL, &[vec![1]]))
            .expect("partial");

        let (tx2, mut rx2) = mpsc::unbounded_channel();
        m.reset(tx2);
        assert_eq!(task.await.expect("join"), Err(MercuryError::Disconnected));
        assert_eq!(
            events.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected),
            "subscription stream ended"
        );
        assert_eq!(m.shared.lock().partials.len(), 0);

        // New requests go through the new connection, with fresh seqs.
        let task = spawn_get(&m, "hm://b");
        let (_, seq2, _, _) = next_request(&mut rx2).await;
        assert_eq!(seq2, 2u64.to_be_bytes());
        assert!(rx.try_recv().is_err());
        m.dispatch(
            0xb2,
            &packet(&seq2, FLAG_FINAL, &[header("hm://b", 200, None)]),
        )
        .expect("reply");
        assert!(task.await.expect("join").is_ok());
    }

    #[tokio::test]
    async fn closed_connection_is_disconnected() {
        let (m, rx) = setup(Duration::from_secs(5));
        drop(rx);
        assert_eq!(m.get("hm://a").await, Err(MercuryError::Disconnected));
        assert_eq!(m.shared.lock().pending.len(), 0);
    }

    #[tokio::test]
    async fn events_dispatched_by_uri_prefix() {
        let (m, mut rx) = setup(Duration::from_secs(5));
        let mut bob = subscribe(&m, &mut rx, "hm://remote/user/bob/", vec![]).await;
        let mut all = subscribe(&m, &mut rx, "hm://remote/", vec![]).await;
        let mut spaced = subscribe(&m, &mut rx, "hm://a/b+c", vec![]).await;

        m.dispatch(0xb5, &event("hm://remote/user/bob/x", b"1"))
            .expect("event");
        let e = bob.try_recv().expect("bob got it");
        assert_eq!(
            (e.uri.as_str(), e.payload.clone()),
            ("hm://remote/user/bob/x", vec![b"1".to_vec()])
        );
        assert_eq!(all.try_recv().expect("prefix got it"), e);

        m.dispatch(0xb5, &event("hm://remote/user/alice/x", b"2"))
            .expect("event");
        assert!(bob.try_recv().is_err());
        assert_eq!(all.try_recv().expect("all").payload, vec![b"2".to_vec()]);

        m.dispatch(0xb5, &event("hm://elsewhere", b"3"))
            .expect("event");
        assert!(bob.try_recv().is_err() && all.try_recv().is_err());

        // Matched against the form-urlencoded URI as librespot does.
        m.dispatch(0xb5, &event("hm://a/b c/d", b"4"))
            .expect("event");
        assert_eq!(
            spaced.try_recv().expect("spaced").payload,
            vec![b"4".to_vec()]
        );

        // A multi-packet event.
        let h = header("hm://remote/user/bob/y", 200, None);
        m.dispatch(0xb5, &packet(&[7], FLAG_PARTIAL, &[h, b"ab".to_vec()]))
            .expect("p1");
        m.dispatch(0xb5, &packet(&[7], FLAG_FINAL, &[b"cd".to_vec()]))
            .expect("p2");
        assert_eq!(bob.try_recv().expect("bob").payload, vec![b"abcd".to_vec()]);

        // A dropped receiver is pruned on the next matching event.
        drop(all);
        m.dispatch(0xb5, &event("hm://remote/z", b"5"))
            .expect("event");
        assert_eq!(m.shared.lock().subs.len(), 2);
    }

    #[tokio::test]
    async fn unknown_seq_reply_is_a_push() {
        let (m, mut rx) = setup(Duration::from_secs(5));
        let mut s = subscribe(&m, &mut rx, "hm://p/", vec![]).await;
        // 0xb2 with a seq we never issued goes to the subscriptions.
        let p = packet(
            &999u64.to_be_bytes(),
            FLAG_FINAL,
            &[header("hm://p/1", 200, None)],
        );
        m.dispatch(0xb2, &p).expect("push");
        assert_eq!(s.try_recv().expect("pushed").uri, "hm://p/1");
    }

    #[tokio::test]
    async fn sub_with_subscription_payload() {
        let (m, mut rx) = setup(Duration::from_secs(5));
        let subs: Vec<Vec<u8>> = ["hm://pusher/v1/a", "hm://pusher/v1/b"]
            .iter()
            .map(|u| {
                let mut s = Subscription::new();
                s.set_uri(u.to_string());
                s.set_expiry(3600);
                s.set_status_code(200);
                s.write_to_bytes().expect("encode")
            })
            .collect();
        let mut events = subscribe(&m, &mut rx, "hm://remote/3/user/bob/", subs).await;
        m.dispatch(0xb5, &event("hm://pusher/v1/a/1", b"a"))
            .expect("a");
        m.dispatch(0xb5, &event("hm://pusher/v1/b", b"b"))
            .expect("b");
        // The requested URI itself is not watched when the reply names others.
        m.dispatch(0xb5, &event("hm://remote/3/user/bob/x", b"c"))
            .expect("c");
        assert_eq!(events.try_recv().expect("a").payload, vec![b"a".to_vec()]);
        assert_eq!(events.try_recv().expect("b").payload, vec![b"b".to_vec()]);
        assert!(events.try_recv().is_err());
    }

    #[tokio::test]
    async fn bad_subscription_payload_fails_subscribe() {
        let (m, mut rx) = setup(Duration::from_secs(5));
        let m2 = m.clone();
        let task = tokio::spawn(async move { m2.subscribe("hm://x").await });
        let (_, seq, _, _) = next_request(&mut rx).await;
        let p = packet(
            &seq,
            FLAG_FINAL,
            &[header("hm://x", 200, None), vec![0xff, 0xff]],
        );
        assert!(matches!(
            m.dispatch(0xb3, &p),
            Err(MercuryError::Malformed(_))
        ));
        assert!(matches!(
            task.await.expect("join"),
            Err(MercuryError::Malformed(_))
        ));
        assert_eq!(m.shared.lock().subs.len(), 0);
    }

    #[tokio::test]
    async fn failed_sub_registers_nothing() {
        let (m, mut rx) = setup(Duration::from_secs(5));
        let m2 = m.clone();
        let task = tokio::spawn(async move { m2.subscribe("hm://x").await });
        let (_, seq, _, _) = next_request(&mut rx).await;
        m.dispatch(
            0xb3,
            &packet(&seq, FLAG_FINAL, &[header("hm://x", 403, None)]),
        )
        .expect("dispatch");
        assert!(matches!(
            task.await.expect("join"),
            Err(MercuryError::Status { code: 403, .. })
        ));
        assert_eq!(m.shared.lock().subs.len(), 0);
    }

    #[tokio::test]
    async fn unsubscribe_ends_stream_and_sends_unsub() {
        let (m, mut rx) = setup(Duration::from_secs(5));
        let mut keep = subscribe(&m, &mut rx, "hm://keep/", vec![]).await;
        let mut gone = subscribe(&m, &mut rx, "hm://gone/", vec![]).await;
        let m2 = m.clone();
        let task = tokio::spawn(async move { m2.unsubscribe("hm://gone/").await });
        let (c, seq, h, _) = next_request(&mut rx).await;
        assert_eq!((c, h.method(), h.uri()), (0xb4, "UNSUB", "hm://gone/"));
        assert_eq!(
            gone.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        );
        m.dispatch(
            0xb4,
            &packet(&seq, FLAG_FINAL, &[header("hm://gone/", 200, None)]),
        )
        .expect("unsub reply");
        task.await.expect("join").expect("unsubscribed");
        m.dispatch(0xb5, &event("hm://keep/1", b"k"))
            .expect("event");
        assert!(keep.try_recv().is_ok());
    }

    #[tokio::test]
    async fn malformed_reply_fails_request_now() {
        let (m, mut rx) = setup(Duration::from_secs(5));
        // Truncated after the seq: attributed to the request, which fails at once.
        let task = spawn_get(&m, "hm://a");
        let (_, seq, _, _) = next_request(&mut rx).await;
        let mut bad = packet(&seq, FLAG_FINAL, &[header("hm://a", 200, None)]);
        bad.truncate(bad.len() - 3);
        assert!(matches!(
            m.dispatch(0xb2, &bad),
            Err(MercuryError::Malformed(_))
        ));
        assert!(matches!(
            task.await.expect("join"),
            Err(MercuryError::Malformed(_))
        ));

        // A header that is not a protobuf.
        let task = spawn_get(&m, "hm://b");
        let (_, seq, _, _) = next_request(&mut rx).await;
        let bad = packet(&seq, FLAG_FINAL, &[vec![0xff, 0xff, 0xff]]);
        assert!(matches!(
            m.dispatch(0xb2, &bad),
            Err(MercuryError::Malformed(_))
        ));
        assert!(matches!(
            task.await.expect("join"),
            Err(MercuryError::Malformed(_))
        ));

        // A final packet with no parts at all.
        let task = spawn_get(&m, "hm://c");
        let (_, seq, _, _) = next_request(&mut rx).await;
        assert!(m.dispatch(0xb2, &packet(&seq, FLAG_FINAL, &[])).is_err());
        assert!(matches!(
            task.await.expect("join"),
            Err(MercuryError::Malformed(_))
        ));

        assert_eq!(
            m.dispatch(0x04, &[]),
            Err(MercuryError::UnexpectedCommand(0x04))
        );
        assert!(m.dispatch(0xb5, &[0]).is_err());
    }

    #[tokio::test]
    async fn oversized_message_rejected_and_dropped() {
        let (m, mut rx) = setup(Duration::from_secs(30));
        let task = spawn_get(&m, "hm://huge");
        let (_, seq, _, _) = next_request(&mut rx).await;
        let chunk = vec![0u8; 60_000];
        let mut failed = None;
        // 16 MiB / 60 000 ≈ 280 packets; stop at the first rejection.
        for i in 0..400 {
            if let Err(e) = m.dispatch(
                0xb2,
                &packet(&seq, FLAG_PARTIAL, std::slice::from_ref(&chunk)),
            ) {
                failed = Some((i, e));
                break;
            }
        }
        let (i, e) = failed.expect("rejected before 400 packets");
        assert!(
            i * 60_000 >= MAX_MESSAGE_BYTES - 60_000,
            "rejected too early: {i}"
        );
        assert!(matches!(e, MercuryError::Malformed(m) if m.contains("exceeds")));
        assert_eq!(m.shared.lock().partials.len(), 0);
        assert!(matches!(
            task.await.expect("join"),
            Err(MercuryError::Malformed(_))
        ));
    }

    #[test]
    fn partial_message_count_bounded() {
        let (m, _rx) = setup(Duration::from_secs(5));
        for i in 0..MAX_PARTIAL_MESSAGES {
            m.dispatch(0xb5, &packet(&[i as u8], FLAG_PARTIAL, &[vec![1]]))
                .expect("partial");
        }
        let e = m
            .dispatch(0xb5, &packet(&[0xfe], FLAG_PARTIAL, &[vec![1]]))
            .expect_err("too many");
        assert!(matches!(e, MercuryError::Malformed(_)));
        assert_eq!(m.shared.lock().partials.len(), MAX_PARTIAL_MESSAGES);
        // Continuing an existing one still works, and so does a single-packet event.
        m.dispatch(0xb5, &packet(&[0], FLAG_PARTIAL, &[vec![2]]))
            .expect("continue");
        m.dispatch(0xb5, &event("hm://x", b""))
            .expect("whole event");
    }

    #[test]
    fn total_partial_bytes_bounded() {
        let (m, _rx) = setup(Duration::from_secs(5));
        let chunk = vec![0u8; 60_000];
        let mut rejected = false;
        // Spread over several seqs so no single message hits its own cap first.
        'outer: for round in 0..200 {
            for s in 0..4u8 {
                if m.dispatch(
                    0xb5,
                    &packet(&[s], FLAG_PARTIAL, std::slice::from_ref(&chunk)),
                )
                .is_err()
                {
                    rejected = true;
                    assert!(round * 4 * 60_000 >= MAX_REASSEMBLY_BYTES - 4 * 60_000);
                    break 'outer;
                }
            }
        }
        assert!(rejected);
        let total: usize = m.shared.lock().partials.values().map(|p| p.bytes).sum();
        assert!(total <= MAX_REASSEMBLY_BYTES);
    }

    fn arb_packet() -> impl Strategy<Value = (u8, Vec<u8>)> {
        let seq = prop_oneof![
            (0u64..4).prop_map(|n| n.to_be_bytes().to_vec()),
            proptest::collection::vec(any::<u8>(), 0..3),
        ];
        let part = proptest::collection::vec(any::<u8>(), 0..40);
        (
            0xb2u8..=0xb5,
            seq,
            0u8..4,
            proptest::collection::vec(part, 0..4),
        )
            .prop_map(|(c, seq, flags, parts)| {
                (
                    c,
                    encode_mercury_packet(&seq, flags, &parts).expect("small"),
                )
            })
    }

    proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(p) = parse_mercury_packet(&bytes) {
                // Whatever parsed re-encodes to a prefix of the input.
                let again = encode_mercury_packet(&p.seq, p.flags, &p.parts).expect("re-encode");
                prop_assert!(bytes.starts_with(&again));
            }
        }

        #[test]
        fn dispatch_never_panics_on_random_bytes(
            command in any::<u8>(),
            bytes in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let (m, _rx) = setup(Duration::from_secs(1));
            let _ = m.dispatch(command, &bytes);
            let _ = m.dispatch(cmd::MERCURY_EVENT, &bytes);
        }

        #[test]
        fn dispatch_never_panics_on_packet_sequences(
            packets in proptest::collection::vec(arb_packet(), 0..12),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let (m, _rx) = setup(Duration::from_millis(1));
                // Some pending requests (seqs 0 and 1) and a subscription for the packets to hit.
                let (sub_tx, _sub_rx) = mpsc::unbounded_channel();
                m.shared.lock().subs.push(Sub { requested: String::new(), uri: String::new(), tx: sub_tx });
                let a = spawn_get(&m, "hm://a");
                let b = spawn_get(&m, "hm://b");
                tokio::task::yield_now().await;
                for (c, p) in &packets {
                    let _ = m.dispatch(*c, p);
                }
                let _ = a.await;
                let _ = b.await;
                let inner = m.shared.lock();
                assert!(inner.pending.is_empty());
                assert!(inner.partials.len() <= MAX_PARTIAL_MESSAGES);
            });
        }
    }
}
