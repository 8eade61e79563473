//! Shannon framing of the access-point connection after the handshake (protocol spec §3): an
//! [`Encoder`] for client→AP packets and an incremental [`Decoder`] for AP→client packets.
//!
//! Wire format of one packet, per direction with its own u32 nonce counter starting at 0:
//! `[cmd u8 | len u16be | payload]` encrypted as one Shannon stream, then a 4-byte MAC.
//!
//! The decoder is fed raw bytes as they arrive and hands out whole packets; a bad MAC or a stream
//! that ends mid-frame is a typed [`CodecError`], never a panic. Called by the handshake (which
//! creates both halves from the derived keys), the login step and the connection task. Pure: no
//! I/O, no dependency on the rest of the session except [`Packet`].
//!
//! Note on the `shannon` crate: its `encrypt`/`decrypt` keep a partial word across calls, but a
//! call that starts inside a partial word with more than one byte still to fill computes a
//! different MAC than a single call would. Splitting a frame as "3 header bytes, then the rest"
//! is safe (the second call starts with exactly one byte left in the word) and is what librespot
//! does; this module only ever splits there.

use shannon::Shannon;

use super::packet::Packet;

/// Length of the encrypted header: command byte + u16be payload length.
pub const HEADER_LEN: usize = 3;
/// Length of the Shannon MAC after each packet.
pub const MAC_LEN: usize = 4;
/// Largest payload a frame can carry.
pub const MAX_PAYLOAD: usize = u16::MAX as usize;

/// Framing errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("packet MAC mismatch (corrupted stream or wrong keys)")]
    MacMismatch,
    #[error("connection closed in the middle of a packet ({have} of {need} bytes received)")]
    Truncated { have: usize, need: usize },
    #[error("packet payload of {0} bytes exceeds the 65535-byte frame limit")]
    PayloadTooLarge(usize),
}

/// Encrypts client→AP packets.
pub struct Encoder {
    cipher: Shannon,
    nonce: u32,
}

impl Encoder {
    /// A new encoder keyed with the 32-byte `send_key` (nonce starts at 0).
    pub fn new(key: &[u8]) -> Encoder {
        Encoder {
            cipher: Shannon::new(key),
            nonce: 0,
        }
    }

    /// The nonce the next packet will use.
    pub fn nonce(&self) -> u32 {
        self.nonce
    }

    /// Encodes one packet: header and payload encrypted, MAC appended.
    pub fn encode(&mut self, cmd: u8, payload: &[u8]) -> Result<Vec<u8>, CodecError> {
        let len =
            u16::try_from(payload.len()).map_err(|_| CodecError::PayloadTooLarge(payload.len()))?;
        let mut frame = Vec::with_capacity(HEADER_LEN + payload.len() + MAC_LEN);
        frame.push(cmd);
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(payload);
        self.cipher.nonce_u32(self.nonce);
        self.nonce = self.nonce.wrapping_add(1);
        self.cipher.encrypt(&mut frame);
        let mut mac = [0u8; MAC_LEN];
        self.cipher.finish(&mut mac);
        frame.extend_from_slice(&mac);
        Ok(frame)
    }
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("nonce", &self.nonce)
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

/// Header of the frame being received (already decrypted; the cipher is mid-frame).
#[derive(Clone, Copy)]
struct PendingHeader {
    cmd: u8,
    len: usize,
}

/// Decrypts AP→client packets from a byte stream fed in arbitrary pieces.
pub struct Decoder {
    cipher: Shannon,
    nonce: u32,
    buf: Vec<u8>,
    pending: Option<PendingHeader>,
    failed: Option<CodecError>,
}

/// What [`Decoder::peek`] sees at the front of the buffer, without changing the decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peek {
    /// Fewer than 3 bytes buffered.
    NeedHeader,
    /// Header decrypted; the frame is not complete yet.
    Incomplete { cmd: u8, len: usize },
    /// The whole frame is buffered and its MAC is right.
    Valid { cmd: u8, len: usize },
    /// The whole frame is buffered and its MAC is wrong.
    BadMac,
}

impl Decoder {
    /// A new decoder keyed with the 32-byte `recv_key` (nonce starts at 0).
    pub fn new(key: &[u8]) -> Decoder {
        Decoder {
            cipher: Shannon::new(key),
            nonce: 0,
            buf: Vec::new(),
            pending: None,
            failed: None,
        }
    }

    /// Appends received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered but not yet returned as packets (a decrypted header counts as consumed).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The raw (still encrypted) bytes buffered after any consumed header.
    pub fn buffer(&self) -> &[u8] {
        &self.buf
    }

    /// The nonce of the frame being decoded (or the next one).
    pub fn nonce(&self) -> u32 {
        self.nonce
    }

    /// Looks at the first frame without consuming anything (uses a copy of the cipher). Only
    /// meaningful before any header has been consumed by [`Decoder::next_packet`].
    pub fn peek(&self) -> Peek {
        if self.pending.is_some() || self.failed.is_some() || self.buf.len() < HEADER_LEN {
            return Peek::NeedHeader;
        }
        let mut cipher = self.cipher.clone();
        cipher.nonce_u32(self.nonce);
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&self.buf[..HEADER_LEN]);
        cipher.decrypt(&mut header);
        let cmd = header[0];
        let len = u16::from_be_bytes([header[1], header[2]]) as usize;
        let total = HEADER_LEN + len + MAC_LEN;
        if self.buf.len() < total {
            return Peek::Incomplete { cmd, len };
        }
        let mut payload = self.buf[HEADER_LEN..HEADER_LEN + len].to_vec();
        cipher.decrypt(&mut payload);
        let mut mac = [0u8; MAC_LEN];
        cipher.finish(&mut mac);
        if subtle::ConstantTimeEq::ct_eq(&mac[..], &self.buf[HEADER_LEN + len..total]).into() {
            Peek::Valid { cmd, len }
        } else {
            Peek::BadMac
        }
    }

    /// The next whole packet, `Ok(None)` when more bytes are needed. After a MAC mismatch the
    /// decoder stays failed and returns the same error again.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, CodecError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let header = match self.pending {
            Some(h) => h,
            None => {
                if self.buf.len() < HEADER_LEN {
                    return Ok(None);
                }
                self.cipher.nonce_u32(self.nonce);
                let mut header = [0u8; HEADER_LEN];
                header.copy_from_slice(&self.buf[..HEADER_LEN]);
                self.cipher.decrypt(&mut header);
                self.buf.drain(..HEADER_LEN);
                let h = PendingHeader {
                    cmd: header[0],
                    len: u16::from_be_bytes([header[1], header[2]]) as usize,
                };
                self.pending = Some(h);
                h
            }
        };
        if self.buf.len() < header.len + MAC_LEN {
            return Ok(None);
        }
        let mut payload: Vec<u8> = self.buf.drain(..header.len).collect();
        self.cipher.decrypt(&mut payload);
        let mut mac = [0u8; MAC_LEN];
        self.cipher.finish(&mut mac);
        let ok: bool = subtle::ConstantTimeEq::ct_eq(&mac[..], &self.buf[..MAC_LEN]).into();
        self.buf.drain(..MAC_LEN);
        self.pending = None;
        if !ok {
            self.failed = Some(CodecError::MacMismatch);
            return Err(CodecError::MacMismatch);
        }
        self.nonce = self.nonce.wrapping_add(1);
        Ok(Some(Packet::new(header.cmd, payload)))
    }

    /// Call when the stream has ended: an error if a frame was left half received.
    pub fn finish(&self) -> Result<(), CodecError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.pending {
            Some(h) => Err(CodecError::Truncated {
                have: HEADER_LEN + self.buf.len(),
                need: HEADER_LEN + h.len + MAC_LEN,
            }),
            None if !self.buf.is_empty() => Err(CodecError::Truncated {
                have: self.buf.len(),
                need: HEADER_LEN,
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY_A: [u8; 32] = [7u8; 32];
    const KEY_B: [u8; 32] = [9u8; 32];

    fn drain(dec: &mut Decoder) -> Vec<Packet> {
        let mut out = Vec::new();
        while let Some(p) = dec.next_packet().expect("valid stream") {
            out.push(p);
        }
        out
    }

    #[test]
    fn round_trip() {
        let mut enc = Encoder::new(&KEY_A);
        let mut dec = Decoder::new(&KEY_A);
        let packets = vec![
            Packet::new(0xab, b"hello".to_vec()),
            Packet::new(0x04, vec![]),
            Packet::new(0xb2, vec![0x55; 1000]),
            Packet::new(0x0c, vec![1, 2, 3, 4, 5, 6, 7, 8]),
        ];
        for p in &packets {
            let frame = enc.encode(p.cmd, &p.payload).expect("encode");
            assert_eq!(frame.len(), HEADER_LEN + p.payload.len() + MAC_LEN);
            dec.feed(&frame);
        }
        assert_eq!(drain(&mut dec), packets);
        assert_eq!(dec.buffered(), 0);
        assert!(dec.finish().is_ok());
        assert_eq!(enc.nonce(), 4);
        assert_eq!(dec.nonce(), 4);
    }

    #[test]
    fn byte_by_byte_feeding() {
        let mut enc = Encoder::new(&KEY_A);
        let mut dec = Decoder::new(&KEY_A);
        let mut stream = Vec::new();
        for i in 0..10u8 {
            stream.extend(enc.encode(i, &vec![i; i as usize * 7]).expect("encode"));
        }
        let mut got = Vec::new();
        for b in stream {
            dec.feed(&[b]);
            got.extend(drain(&mut dec));
        }
        assert_eq!(got.len(), 10);
        for (i, p) in got.iter().enumerate() {
            assert_eq!(p.cmd as usize, i);
            assert_eq!(p.payload, vec![i as u8; i * 7]);
        }
    }

    #[test]
    fn nonce_sequence_matters() {
        // The same packet encrypted twice differs, because the nonce advanced.
        let mut enc = Encoder::new(&KEY_A);
        let f0 = enc.encode(0x49, &[0, 0, 0, 0]).expect("encode");
        let f1 = enc.encode(0x49, &[0, 0, 0, 0]).expect("encode");
        assert_ne!(f0, f1);
        // A decoder that skips the first frame never accepts the second: its header decrypts to
        // garbage, so it either waits for bytes that never come or fails the MAC.
        let mut dec = Decoder::new(&KEY_A);
        dec.feed(&f1);
        dec.feed(&[0u8; 70_000]);
        assert_eq!(dec.next_packet(), Err(CodecError::MacMismatch));
        // Frame 0 decoded by a fresh decoder is fine.
        let mut dec = Decoder::new(&KEY_A);
        dec.feed(&f0);
        assert_eq!(
            dec.next_packet().expect("ok"),
            Some(Packet::new(0x49, vec![0; 4]))
        );
    }

    #[test]
    fn directions_use_independent_keys() {
        let mut enc = Encoder::new(&KEY_A);
        let mut dec = Decoder::new(&KEY_B);
        dec.feed(&enc.encode(0x04, &[1, 2, 3, 4]).expect("encode"));
        dec.feed(&[0u8; 70_000]);
        // Wrong key: the header decrypts to garbage and the MAC fails.
        assert_eq!(dec.next_packet(), Err(CodecError::MacMismatch));
    }

    #[test]
    fn tampered_mac_and_payload_are_rejected() {
        let mut enc = Encoder::new(&KEY_A);
        let frame = enc.encode(0xb2, b"payload bytes").expect("encode");
        for pos in [HEADER_LEN + 2, frame.len() - 1] {
            let mut bad = frame.clone();
            bad[pos] ^= 0x01;
            let mut dec = Decoder::new(&KEY_A);
            dec.feed(&bad);
            assert_eq!(dec.next_packet(), Err(CodecError::MacMismatch));
            // Stays failed.
            assert_eq!(dec.next_packet(), Err(CodecError::MacMismatch));
            assert_eq!(dec.finish(), Err(CodecError::MacMismatch));
        }
    }

    #[test]
    fn truncated_input_is_reported() {
        let mut enc = Encoder::new(&KEY_A);
        let frame = enc.encode(0xb2, &[0x11; 20]).expect("encode");
        for cut in [1, 2, 3, 10, frame.len() - 1] {
            let mut dec = Decoder::new(&KEY_A);
            dec.feed(&frame[..cut]);
            assert_eq!(dec.next_packet(), Ok(None));
            match dec.finish() {
                Err(CodecError::Truncated { have, need }) => {
                    assert_eq!(have, cut);
                    assert!(need > have);
                }
                other => panic!("cut {cut}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn peek_does_not_consume() {
        let mut enc = Encoder::new(&KEY_A);
        let frame = enc.encode(0xac, b"welcome").expect("encode");
        let mut dec = Decoder::new(&KEY_A);
        assert_eq!(dec.peek(), Peek::NeedHeader);
        dec.feed(&frame[..5]);
        assert_eq!(dec.peek(), Peek::Incomplete { cmd: 0xac, len: 7 });
        dec.feed(&frame[5..]);
        assert_eq!(dec.peek(), Peek::Valid { cmd: 0xac, len: 7 });
        assert_eq!(dec.peek(), Peek::Valid { cmd: 0xac, len: 7 });
        assert_eq!(
            dec.next_packet().expect("ok"),
            Some(Packet::new(0xac, b"welcome".to_vec()))
        );
        let mut bad = frame.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x80;
        let mut dec = Decoder::new(&KEY_A);
        dec.feed(&bad);
        assert_eq!(dec.peek(), Peek::BadMac);
    }

    #[test]
    fn oversized_payload_is_an_error() {
        let mut enc = Encoder::new(&KEY_A);
        assert_eq!(
            enc.encode(0xb2, &vec![0; MAX_PAYLOAD + 1]),
            Err(CodecError::PayloadTooLarge(MAX_PAYLOAD + 1))
        );
        assert!(enc.encode(0xb2, &vec![0; MAX_PAYLOAD]).is_ok());
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(chunks in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..300), 0..8)) {
            let mut dec = Decoder::new(&KEY_A);
            for c in &chunks {
                dec.feed(c);
                let _ = dec.peek();
                while let Ok(Some(_)) = dec.next_packet() {}
            }
            let _ = dec.finish();
        }

        #[test]
        fn round_trip_any_split(payloads in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..200), 1..6), split in 1usize..50) {
            let mut enc = Encoder::new(&KEY_B);
            let mut stream = Vec::new();
            for (i, p) in payloads.iter().enumerate() {
                stream.extend(enc.encode(i as u8, p).expect("encode"));
            }
            let mut dec = Decoder::new(&KEY_B);
            let mut got = Vec::new();
            for chunk in stream.chunks(split) {
                dec.feed(chunk);
                while let Some(p) = dec.next_packet().expect("valid") {
                    got.push(p.payload);
                }
            }
            prop_assert_eq!(got, payloads);
        }
    }
}
