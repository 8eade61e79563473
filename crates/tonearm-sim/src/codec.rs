//! Shannon-encrypted AP framing as the server sees it (spec §3): `cmd u8 | len u16be | payload`
//! encrypted as one Shannon stream keyed per packet with a big-endian u32 nonce (one counter per
//! direction, from 0), followed by the 4-byte MAC. The server encrypts with `recv_key` and
//! decrypts with `send_key`. [`Decoder::read_packet`] is cancel-safe so a connection task can
//! `select!` on it. Used by [`super::ap`]; depends on no client module.

use shannon::Shannon;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Length of the MAC after every packet.
pub(crate) const MAC_LEN: usize = 4;
/// Length of the encrypted header (`cmd`, `len`).
const HEADER_LEN: usize = 3;
/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 8192;

/// Framing failures; every one of them ends the connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CodecError {
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    #[error("connection closed by peer")]
    Eof,
    #[error("MAC mismatch on incoming packet {nonce}")]
    MacMismatch { nonce: u32 },
    #[error("payload of {0} bytes does not fit a packet")]
    TooLong(usize),
}

/// Encrypts outgoing packets.
pub(crate) struct Encoder {
    cipher: Shannon,
    nonce: u32,
}

impl Encoder {
    pub(crate) fn new(key: &[u8]) -> Self {
        Encoder {
            cipher: Shannon::new(key),
            nonce: 0,
        }
    }

    /// The wire bytes of one packet: encrypted header and payload, then the MAC.
    pub(crate) fn encode(&mut self, cmd: u8, payload: &[u8]) -> Result<Vec<u8>, CodecError> {
        let len = u16::try_from(payload.len()).map_err(|_| CodecError::TooLong(payload.len()))?;
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + MAC_LEN);
        out.push(cmd);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(payload);
        self.cipher.nonce_u32(self.nonce);
        self.nonce = self.nonce.wrapping_add(1);
        self.cipher.encrypt(&mut out);
        let mut mac = [0u8; MAC_LEN];
        self.cipher.finish(&mut mac);
        out.extend_from_slice(&mac);
        Ok(out)
    }
}

/// Decrypts incoming packets from a byte buffer that the socket fills.
pub(crate) struct Decoder {
    cipher: Shannon,
    nonce: u32,
    buf: Vec<u8>,
    /// Header of the packet being received, once its 3 bytes were decrypted.
    pending: Option<(u8, usize)>,
    scratch: Vec<u8>,
}

impl Decoder {
    pub(crate) fn new(key: &[u8]) -> Self {
        Decoder {
            cipher: Shannon::new(key),
            nonce: 0,
            buf: Vec::new(),
            pending: None,
            scratch: vec![0u8; READ_CHUNK],
        }
    }

    /// Adds received bytes.
    #[cfg(test)]
    pub(crate) fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// One whole packet if the buffer holds it. Synchronous, so it never loses state when the
    /// caller's future is cancelled.
    pub(crate) fn try_decode(&mut self) -> Result<Option<(u8, Vec<u8>)>, CodecError> {
        let (cmd, len) = match self.pending {
            Some(header) => header,
            None => {
                if self.buf.len() < HEADER_LEN {
                    return Ok(None);
                }
                let mut header = [0u8; HEADER_LEN];
                header.copy_from_slice(&self.buf[..HEADER_LEN]);
                self.buf.drain(..HEADER_LEN);
                self.cipher.nonce_u32(self.nonce);
                self.cipher.decrypt(&mut header);
                let len = usize::from(u16::from_be_bytes([header[1], header[2]]));
                self.pending = Some((header[0], len));
                (header[0], len)
            }
        };
        if self.buf.len() < len + MAC_LEN {
            return Ok(None);
        }
        let mut payload: Vec<u8> = self.buf.drain(..len).collect();
        let mac: Vec<u8> = self.buf.drain(..MAC_LEN).collect();
        self.cipher.decrypt(&mut payload);
        let nonce = self.nonce;
        self.cipher
            .check_mac(&mac)
            .map_err(|_| CodecError::MacMismatch { nonce })?;
        self.nonce = self.nonce.wrapping_add(1);
        self.pending = None;
        Ok(Some((cmd, payload)))
    }

    /// Reads until one packet is complete. Cancel-safe: only the socket read is awaited, and
    /// `read` loses no data when dropped.
    pub(crate) async fn read_packet<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut R,
    ) -> Result<(u8, Vec<u8>), CodecError> {
        loop {
            if let Some(packet) = self.try_decode()? {
                return Ok(packet);
            }
            let n = reader.read(&mut self.scratch).await?;
            if n == 0 {
                return Err(CodecError::Eof);
            }
            self.buf.extend_from_slice(&self.scratch[..n]);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7u8; 32];

    #[test]
    fn round_trip_with_byte_by_byte_feeding() {
        let mut enc = Encoder::new(&KEY);
        let mut dec = Decoder::new(&KEY);
        let packets: Vec<(u8, Vec<u8>)> = vec![
            (0x04, vec![0, 0, 0, 1]),
            (0xab, (0..=255u8).cycle().take(1000).collect()),
            (0x49, vec![]),
            (0x1b, b"SE".to_vec()),
        ];
        let mut wire = Vec::new();
        for (cmd, payload) in &packets {
            wire.extend(enc.encode(*cmd, payload).unwrap());
        }
        let mut out = Vec::new();
        for byte in wire {
            dec.feed(&[byte]);
            while let Some(p) = dec.try_decode().unwrap() {
                out.push(p);
            }
        }
        assert_eq!(out, packets);
    }

    #[test]
    fn nonce_changes_the_ciphertext() {
        let mut enc = Encoder::new(&KEY);
        let a = enc.encode(0x04, &[1, 2, 3, 4]).unwrap();
        let b = enc.encode(0x04, &[1, 2, 3, 4]).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 3 + 4 + MAC_LEN);
    }

    #[test]
    fn flipped_mac_is_detected() {
        let mut enc = Encoder::new(&KEY);
        let mut dec = Decoder::new(&KEY);
        let mut wire = enc.encode(0x4a, &[0; 4]).unwrap();
        let last = wire.len() - 1;
        wire[last] ^= 1;
        dec.feed(&wire);
        assert!(matches!(
            dec.try_decode(),
            Err(CodecError::MacMismatch { nonce: 0 })
        ));
    }

    #[test]
    fn wrong_key_is_detected() {
        let mut enc = Encoder::new(&KEY);
        let mut dec = Decoder::new(&[8u8; 32]);
        dec.feed(&enc.encode(0x4a, &[0; 4]).unwrap());
        // The garbled length may ask for more bytes than exist, or the MAC fails; never Ok(Some).
        assert!(!matches!(dec.try_decode(), Ok(Some(_))));
    }

    #[test]
    fn oversize_payload_is_refused() {
        let mut enc = Encoder::new(&KEY);
        assert!(matches!(
            enc.encode(1, &vec![0; 65536]),
            Err(CodecError::TooLong(65536))
        ));
        assert_eq!(enc.encode(1, &vec![0; 65535]).unwrap().len(), 65535 + 7);
    }

    #[tokio::test]
    async fn read_packet_from_a_stream() {
        let mut enc = Encoder::new(&KEY);
        let mut dec = Decoder::new(&KEY);
        let mut wire = enc.encode(0x0d, &[9; 20]).unwrap();
        wire.extend(enc.encode(0x0e, &[9; 6]).unwrap());
        let mut reader: &[u8] = &wire;
        assert_eq!(
            dec.read_packet(&mut reader).await.unwrap(),
            (0x0d, vec![9; 20])
        );
        assert_eq!(
            dec.read_packet(&mut reader).await.unwrap(),
            (0x0e, vec![9; 6])
        );
        assert!(matches!(
            dec.read_packet(&mut reader).await,
            Err(CodecError::Eof)
        ));
    }
}
