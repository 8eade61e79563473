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
mod tests;
