//! AES-128-CTR decryption of Spotify audio files (spec §10.5) as a `Read + Seek` adapter: the
//! whole file from byte 0 is one CTR stream with the fixed IV `72e067fbddcbcf77ebe8bc643f630d93`
//! used as a 128-bit big-endian counter, so seeking to byte `p` sets the counter to
//! `IV + ⌊p/16⌋` and discards `p mod 16` keystream bytes. Sits between the fetch
//! ([`crate::audio::fetch::StreamingFile`]) and the header reader; depends on nothing but the
//! `aes`/`ctr` crates. The key never appears in `Debug` output or errors.

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom};

use aes::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// The initial counter block every Spotify audio file uses.
pub const AUDIO_IV: [u8; 16] = [
    0x72, 0xe0, 0x67, 0xfb, 0xdd, 0xcb, 0xcf, 0x77, 0xeb, 0xe8, 0xbc, 0x64, 0x3f, 0x63, 0x0d, 0x93,
];

/// Decrypts `inner` on the fly; `seek` repositions the keystream to match.
pub struct AudioDecrypt<R> {
    cipher: Aes128Ctr,
    inner: R,
    pos: u64,
}

impl<R: Read + Seek> AudioDecrypt<R> {
    /// `inner` must be positioned at byte 0 of the encrypted file (a fresh stream is).
    pub fn new(key: [u8; 16], inner: R) -> AudioDecrypt<R> {
        Self::with_iv(key, AUDIO_IV, inner)
    }

    fn with_iv(key: [u8; 16], iv: [u8; 16], inner: R) -> AudioDecrypt<R> {
        AudioDecrypt {
            cipher: Aes128Ctr::new(&key.into(), &iv.into()),
            inner,
            pos: 0,
        }
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read + Seek> Read for AudioDecrypt<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let data = buf.get_mut(..n).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "inner reader overran its buffer",
            )
        })?;
        // The keystream is positioned at `pos`; applying it advances it by n.
        self.cipher
            .try_apply_keystream(data)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "keystream exhausted"))?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for AudioDecrypt<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = self.inner.seek(to)?;
        self.cipher
            .try_seek(pos)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "seek past the keystream"))?;
        self.pos = pos;
        Ok(pos)
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        Ok(self.pos)
    }
}

impl<R> fmt::Debug for AudioDecrypt<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AudioDecrypt")
            .field("key", &"<redacted>")
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    // Computed with Python's `cryptography` AES-CTR by assets/fixtures/gen_audio_kat.py.
    const KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
    // plaintext: byte i = (7·i + 3) mod 256, 300 bytes
    const CIPHER: &str = "2396d239076a7ee2329488f380c5b95063e2a3e741f33be504a0435e1c8caec9ffc892ef7bbfebc624142bd2e2fd34fc0dcd36407867dd64e301c8d857d620383d535ddcd72fe6aa2cb24cac90a2abd2e14c1ec976a5450f03c092497d28cf441a7a16698aa54c1e3ae9177c7e1282b9051cb0d4a91efe0b5fa06a604d922ad3b7a766e581fe211c2c631f4a9234be58b1a797a9e377a5027c7ed0993fd678673c8f85df456f62ff42f841b329b31580b7592b91e6454508f9f5b7acdd9c9c3ec4b2afb877032d261ec5afd1605b4efeeeaaa189444a9d06f4e8f09807b84b96f7219644b85ab4aa12299b089692fd0a4bcfb20677d93668180ca9418df5f0224f87400247f60674397c0d7a2780228a4222f6e6da5802ada8ccc3315f6355575ff5722118cf24f5d3417673";
    // keystream for IV ff..ff (counter wraps to 00..00 in the second block), 32 bytes
    const WRAP_KEYSTREAM: &str = "b53b6b9d0bd71a9ee91071aace777e3bc2a8bfee68bee1407cd2dde7e86df983";

    fn key() -> [u8; 16] {
        hex::decode(KEY).unwrap().try_into().unwrap()
    }

    fn plain() -> Vec<u8> {
        (0..300u32).map(|i| ((i * 7 + 3) & 0xff) as u8).collect()
    }

    #[test]
    fn decrypts_known_answer() {
        let mut d = AudioDecrypt::new(key(), Cursor::new(hex::decode(CIPHER).unwrap()));
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        assert_eq!(out, plain());
    }

    #[test]
    fn odd_read_sizes() {
        let mut d = AudioDecrypt::new(key(), Cursor::new(hex::decode(CIPHER).unwrap()));
        let mut out = Vec::new();
        let mut buf = [0u8; 13];
        for size in [1usize, 5, 13, 3, 7, 11].iter().cycle() {
            let n = d.read(&mut buf[..*size]).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, plain());
    }

    #[test]
    fn seek_repositions_keystream() {
        let p = plain();
        let mut d = AudioDecrypt::new(key(), Cursor::new(hex::decode(CIPHER).unwrap()));
        for pos in [0u64, 1, 15, 16, 17, 100, 255, 299, 300, 42, 0] {
            assert_eq!(d.seek(SeekFrom::Start(pos)).unwrap(), pos);
            let mut out = Vec::new();
            d.read_to_end(&mut out).unwrap();
            assert_eq!(out, &p[pos as usize..], "from {pos}");
        }
        // Relative seeks.
        d.seek(SeekFrom::Start(50)).unwrap();
        let mut b = [0u8; 10];
        d.read_exact(&mut b).unwrap();
        assert_eq!(d.seek(SeekFrom::Current(-3)).unwrap(), 57);
        d.read_exact(&mut b).unwrap();
        assert_eq!(&b, &p[57..67]);
        assert_eq!(d.seek(SeekFrom::End(-5)).unwrap(), 295);
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        assert_eq!(out, &p[295..]);
        assert_eq!(d.stream_position().unwrap(), 300);
    }

    #[test]
    fn counter_is_128_bit() {
        let mut d = AudioDecrypt::with_iv(key(), [0xff; 16], Cursor::new(vec![0u8; 32]));
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        assert_eq!(hex::encode(out), WRAP_KEYSTREAM);
    }

    #[test]
    fn debug_hides_key() {
        let d = AudioDecrypt::new(key(), Cursor::new(vec![0u8; 4]));
        let s = format!("{d:?}");
        assert!(!s.contains("0f1e") && !s.to_lowercase().contains("15, 30"));
        assert!(s.contains("redacted"));
    }
}
