//! Mercury (Hermes over the AP, spec §6.1) as the server sees it: parsing request packets
//! (`u16be seq_len | seq | u8 flags | u16be part_count | (u16be len | bytes)*`), reassembling
//! multi-packet messages, and splitting large replies and events over several packets with the
//! continuation rule (flags 2 = the last part continues in the next packet with the same seq,
//! flags 1 = final). The first part of every message is a `mercury::Header`. Used by
//! [`super::ap`] and [`super::state`]; depends on no client module.

use std::collections::HashMap;

use librespot_protocol::mercury::Header;
use protobuf::Message as _;

/// Flag of the packet that completes a message.
pub(crate) const FLAG_FINAL: u8 = 1;
/// Flag of a packet whose last part continues in the next packet.
pub(crate) const FLAG_CONTINUED: u8 = 2;
/// At most this many parts go in one packet we send.
const MAX_PARTS_PER_PACKET: usize = 256;
/// Largest AP packet payload.
const MAX_PACKET: usize = 65535;
/// Largest message (all parts) accepted from a client.
const MAX_MESSAGE: usize = 1 << 20;
/// Largest number of unfinished incoming messages per connection.
const MAX_PENDING: usize = 64;

/// Malformed or over-limit Mercury data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MercuryError {
    #[error("mercury packet truncated")]
    Truncated,
    #[error("mercury packet has {0} trailing bytes")]
    Trailing(usize),
    #[error("mercury packet has unknown flags {0:#x}")]
    BadFlags(u8),
    #[error("mercury message too large")]
    TooLarge,
    #[error("too many unfinished mercury messages")]
    TooManyPending,
    #[error("mercury message has no header part")]
    NoHeader,
    #[error("mercury header does not parse")]
    BadHeader,
    #[error("mercury sequence id too long to answer")]
    SeqTooLong,
}

/// One Mercury packet's payload, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MercuryPacket {
    pub seq: Vec<u8>,
    pub flags: u8,
    pub parts: Vec<Vec<u8>>,
}

/// Splits a Mercury packet payload. Never panics; all lengths are checked.
pub(crate) fn parse_packet(payload: &[u8]) -> Result<MercuryPacket, MercuryError> {
    let mut rest = payload;
    let seq_len = usize::from(take_u16(&mut rest)?);
    let seq = take(&mut rest, seq_len)?.to_vec();
    let flags = *take(&mut rest, 1)?.first().ok_or(MercuryError::Truncated)?;
    if flags != FLAG_FINAL && flags != FLAG_CONTINUED {
        return Err(MercuryError::BadFlags(flags));
    }
    let count = usize::from(take_u16(&mut rest)?);
    let mut parts = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let len = usize::from(take_u16(&mut rest)?);
        parts.push(take(&mut rest, len)?.to_vec());
    }
    if !rest.is_empty() {
        return Err(MercuryError::Trailing(rest.len()));
    }
    Ok(MercuryPacket { seq, flags, parts })
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], MercuryError> {
    if rest.len() < n {
        return Err(MercuryError::Truncated);
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

fn take_u16(rest: &mut &[u8]) -> Result<u16, MercuryError> {
    let b = take(rest, 2)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

/// Encodes one packet payload.
fn encode_packet(seq: &[u8], flags: u8, parts: &[&[u8]]) -> Vec<u8> {
    let size = 2 + seq.len() + 1 + 2 + parts.iter().map(|p| 2 + p.len()).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    // Lengths were bounded by the caller (`split_message`).
    out.extend_from_slice(&(seq.len() as u16).to_be_bytes());
    out.extend_from_slice(seq);
    out.push(flags);
    out.extend_from_slice(&(parts.len() as u16).to_be_bytes());
    for part in parts {
        out.extend_from_slice(&(part.len() as u16).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// Splits a message (`parts[0]` = header) into packet payloads carrying at most `chunk` part
/// bytes each (length prefixes not counted; `chunk` is clamped so every packet fits 65535 bytes).
/// A part cut at a packet boundary continues as the first part of the next packet (flags 2);
/// when a packet fills up exactly at a part boundary, an empty continuation part keeps the rule
/// honest. The last packet has flags 1.
pub(crate) fn split_message(
    seq: &[u8],
    parts: &[Vec<u8>],
    chunk: usize,
) -> Result<Vec<Vec<u8>>, MercuryError> {
    let overhead = 2 + seq.len() + 1 + 2 + 2 * MAX_PARTS_PER_PACKET;
    let max_data = MAX_PACKET.checked_sub(overhead).filter(|m| *m > 0);
    let Some(max_data) = max_data else {
        return Err(MercuryError::SeqTooLong);
    };
    let budget_per_packet = chunk.clamp(1, max_data);
    let mut packets = Vec::new();
    let mut current: Vec<&[u8]> = Vec::new();
    let mut budget = budget_per_packet;
    for part in parts {
        let mut rest: &[u8] = part;
        loop {
            // Room for this piece and, if needed later, an empty continuation part.
            let parts_full = current.len() + 1 >= MAX_PARTS_PER_PACKET;
            if rest.len() <= budget && !parts_full {
                current.push(rest);
                budget -= rest.len();
                break;
            }
            let cut = if parts_full {
                0
            } else {
                budget.min(rest.len())
            };
            let (head, tail) = rest.split_at(cut);
            current.push(head);
            packets.push(encode_packet(seq, FLAG_CONTINUED, &current));
            current.clear();
            budget = budget_per_packet;
            rest = tail;
        }
    }
    packets.push(encode_packet(seq, FLAG_FINAL, &current));
    Ok(packets)
}

/// A complete message: its seq and its parts (the header first).
pub(crate) type Message = (Vec<u8>, Vec<Vec<u8>>);

/// Reassembles multi-packet messages per seq, bounded in size and count.
#[derive(Default)]
pub(crate) struct Assembler {
    pending: HashMap<Vec<u8>, Partial>,
}

#[derive(Default)]
struct Partial {
    parts: Vec<Vec<u8>>,
    carry: Option<Vec<u8>>,
    size: usize,
}

impl Assembler {
    /// Adds a packet; returns the whole message's parts once its final packet arrived.
    pub(crate) fn push(&mut self, packet: MercuryPacket) -> Result<Option<Message>, MercuryError> {
        if !self.pending.contains_key(&packet.seq) && self.pending.len() >= MAX_PENDING {
            return Err(MercuryError::TooManyPending);
        }
        let mut partial = self.pending.remove(&packet.seq).unwrap_or_default();
        let count = packet.parts.len();
        for (i, mut part) in packet.parts.into_iter().enumerate() {
            partial.size += part.len();
            if partial.size > MAX_MESSAGE {
                return Err(MercuryError::TooLarge);
            }
            if let Some(mut carried) = partial.carry.take() {
                carried.append(&mut part);
                part = carried;
            }
            if i + 1 == count && packet.flags == FLAG_CONTINUED {
                partial.carry = Some(part);
            } else {
                partial.parts.push(part);
            }
        }
        if packet.flags == FLAG_FINAL {
            if let Some(carried) = partial.carry.take() {
                partial.parts.push(carried);
            }
            return Ok(Some((packet.seq, partial.parts)));
        }
        self.pending.insert(packet.seq, partial);
        Ok(None)
    }
}

/// A header for a reply or event.
pub(crate) fn header_bytes(
    uri: &str,
    content_type: Option<&str>,
    method: Option<&str>,
    status: i32,
) -> Vec<u8> {
    let mut header = Header::new();
    header.set_uri(uri.to_owned());
    if let Some(ct) = content_type {
        header.set_content_type(ct.to_owned());
    }
    if let Some(m) = method {
        header.set_method(m.to_owned());
    }
    header.set_status_code(status);
    // Header has no required fields, so encoding cannot fail.
    header.write_to_bytes().unwrap_or_default()
}

/// Parses a message's first part.
pub(crate) fn parse_header(parts: &[Vec<u8>]) -> Result<Header, MercuryError> {
    let first = parts.first().ok_or(MercuryError::NoHeader)?;
    Header::parse_from_bytes(first).map_err(|_| MercuryError::BadHeader)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn reassemble(packets: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut asm = Assembler::default();
        let mut done = None;
        for (i, p) in packets.iter().enumerate() {
            let parsed = parse_packet(p).unwrap();
            let out = asm.push(parsed).unwrap();
            if i + 1 == packets.len() {
                done = out;
            } else {
                assert!(out.is_none(), "completed early at packet {i}");
            }
        }
        done.unwrap().1
    }

    #[test]
    fn parse_round_trip() {
        let p = encode_packet(
            &[0, 0, 0, 0, 0, 0, 0, 7],
            FLAG_FINAL,
            &[b"head", b"", b"body"],
        );
        let parsed = parse_packet(&p).unwrap();
        assert_eq!(parsed.seq, vec![0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(parsed.flags, 1);
        assert_eq!(
            parsed.parts,
            vec![b"head".to_vec(), vec![], b"body".to_vec()]
        );
    }

    #[test]
    fn malformed_packets_are_errors() {
        let good = encode_packet(&[1, 2], FLAG_FINAL, &[b"abc"]);
        for cut in 0..good.len() {
            assert_eq!(
                parse_packet(&good[..cut]),
                Err(MercuryError::Truncated),
                "cut {cut}"
            );
        }
        let mut long = good.clone();
        long.push(0);
        assert_eq!(parse_packet(&long), Err(MercuryError::Trailing(1)));
        let bad_flags = encode_packet(&[1], 3, &[]);
        assert_eq!(parse_packet(&bad_flags), Err(MercuryError::BadFlags(3)));
        assert_eq!(parse_packet(&[0xff, 0xff]), Err(MercuryError::Truncated));
    }

    #[test]
    fn small_message_is_one_packet() {
        let parts = vec![b"header".to_vec(), b"payload".to_vec()];
        let packets = split_message(&[0; 8], &parts, 16384).unwrap();
        assert_eq!(packets.len(), 1);
        assert_eq!(parse_packet(&packets[0]).unwrap().flags, FLAG_FINAL);
        assert_eq!(reassemble(&packets), parts);
    }

    #[test]
    fn splitting_round_trips_for_every_tiny_chunk() {
        let parts = vec![
            b"the-header".to_vec(),
            (0..100u8).collect(),
            vec![],
            b"x".to_vec(),
            (0..37u8).collect(),
        ];
        for chunk in 1..=160 {
            let packets = split_message(&[9; 8], &parts, chunk).unwrap();
            for p in &packets {
                let parsed = parse_packet(p).unwrap();
                let data: usize = parsed.parts.iter().map(Vec::len).sum();
                assert!(data <= chunk, "chunk {chunk}: packet carries {data}");
                assert_eq!(parsed.seq, vec![9; 8]);
            }
            let last = parse_packet(packets.last().unwrap()).unwrap();
            assert_eq!(last.flags, FLAG_FINAL);
            assert_eq!(reassemble(&packets), parts, "chunk {chunk}");
        }
    }

    #[test]
    fn big_body_with_default_chunk() {
        let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let parts = vec![header_bytes("hm://x", None, None, 200), body];
        let packets = split_message(&[1; 8], &parts, 16384).unwrap();
        assert_eq!(packets.len(), 7);
        assert!(packets.iter().all(|p| p.len() <= 65535));
        assert_eq!(reassemble(&packets), parts);
        // A huge chunk is clamped so packets still fit.
        let packets = split_message(&[1; 8], &parts, usize::MAX).unwrap();
        assert!(packets.iter().all(|p| p.len() <= 65535));
        assert_eq!(reassemble(&packets), parts);
    }

    #[test]
    fn many_parts_are_spread_over_packets() {
        let parts: Vec<Vec<u8>> = (0..1000u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let packets = split_message(&[1; 8], &parts, 1 << 20).unwrap();
        assert!(packets.len() >= 4);
        assert_eq!(reassemble(&packets), parts);
    }

    #[test]
    fn long_seq_is_refused() {
        assert_eq!(
            split_message(&vec![0; 65100], &[], 10),
            Err(MercuryError::SeqTooLong)
        );
    }

    #[test]
    fn assembler_limits() {
        let mut asm = Assembler::default();
        for i in 0..MAX_PENDING as u16 {
            let p = MercuryPacket {
                seq: i.to_be_bytes().to_vec(),
                flags: 2,
                parts: vec![],
            };
            assert_eq!(asm.push(p), Ok(None));
        }
        let p = MercuryPacket {
            seq: vec![0xff; 3],
            flags: 2,
            parts: vec![],
        };
        assert_eq!(asm.push(p), Err(MercuryError::TooManyPending));
        let mut asm = Assembler::default();
        let big = MercuryPacket {
            seq: vec![1],
            flags: 2,
            parts: vec![vec![0; 60000]],
        };
        for _ in 0..17 {
            assert_eq!(asm.push(big.clone()), Ok(None));
        }
        assert_eq!(asm.push(big), Err(MercuryError::TooLarge));
    }

    #[test]
    fn header_round_trip() {
        let h = header_bytes("hm://a/b", Some("text/plain"), Some("GET"), 404);
        let parsed = parse_header(&[h]).unwrap();
        assert_eq!(parsed.uri(), "hm://a/b");
        assert_eq!(parsed.content_type(), "text/plain");
        assert_eq!(parsed.method(), "GET");
        assert_eq!(parsed.status_code(), 404);
        assert_eq!(parse_header(&[]).unwrap_err(), MercuryError::NoHeader);
        assert_eq!(
            parse_header(&[vec![0xff]]).unwrap_err(),
            MercuryError::BadHeader
        );
    }

    proptest::proptest! {
        #[test]
        fn parser_and_assembler_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(packet) = parse_packet(&bytes) {
                let mut asm = Assembler::default();
                let _ = asm.push(packet);
            }
        }

        #[test]
        fn split_then_reassemble(
            parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..8),
            chunk in 1usize..300,
        ) {
            let packets = split_message(&[1, 2, 3], &parts, chunk).unwrap();
            let mut asm = Assembler::default();
            let mut done = None;
            for p in &packets {
                done = asm.push(parse_packet(p).unwrap()).unwrap();
            }
            prop_assert_eq!(done.unwrap().1, parts);
        }
    }
}
