//! The simulator's own identifiers (spec §9.1), written here on the server side and never shared
//! with the client's `id` module: 16-byte item gids and 20-byte file ids derived
//! deterministically from namespaced names with SHA-1, base62 (22 chars, `0-9a-z-A-Z`, most
//! significant digit first) and `spotify:<kind>:<base62>` URIs. Used by the catalog and every
//! HTTP endpoint that parses an id; depends on no client module.

use sha1::{Digest, Sha1};

/// A 16-byte item id (u128 big-endian).
pub type Gid = [u8; 16];
/// A 20-byte audio file id.
pub type FileId = [u8; 20];

const BASE62: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// The gid of `name` in `namespace`: the first 16 bytes of SHA-1("tonearm-sim/{namespace}/{name}").
pub fn gid(namespace: &str, name: &str) -> Gid {
    let digest = Sha1::new()
        .chain_update(b"tonearm-sim/")
        .chain_update(namespace.as_bytes())
        .chain_update(b"/")
        .chain_update(name.as_bytes())
        .finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// A 20-byte id: SHA-1 of the namespaced string.
pub fn file_id(namespace: &str, name: &str) -> FileId {
    let digest = Sha1::new()
        .chain_update(b"tonearm-sim/")
        .chain_update(namespace.as_bytes())
        .chain_update(b"/")
        .chain_update(name.as_bytes())
        .finalize();
    let mut out = [0u8; 20];
    out.copy_from_slice(&digest);
    out
}

/// Base62 of a gid: exactly 22 characters, left-padded with `0`.
pub fn to_base62(gid: &Gid) -> String {
    let mut n = u128::from_be_bytes(*gid);
    let mut digits = [b'0'; 22];
    for slot in digits.iter_mut().rev() {
        // n % 62 < 62, so the index is always in range.
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    digits.iter().map(|&b| char::from(b)).collect()
}

/// Parses 22 base62 characters; `None` for another length, a foreign character or overflow.
pub fn from_base62(s: &str) -> Option<Gid> {
    if s.len() != 22 {
        return None;
    }
    let mut n: u128 = 0;
    for b in s.bytes() {
        let digit = BASE62.iter().position(|&c| c == b)?;
        n = n
            .checked_mul(62)?
            .checked_add(u128::try_from(digit).ok()?)?;
    }
    Some(n.to_be_bytes())
}

/// The kinds of items that have URIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Track,
    Album,
    Artist,
    Episode,
    Show,
    Playlist,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Track => "track",
            Kind::Album => "album",
            Kind::Artist => "artist",
            Kind::Episode => "episode",
            Kind::Show => "show",
            Kind::Playlist => "playlist",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "track" => Kind::Track,
            "album" => Kind::Album,
            "artist" => Kind::Artist,
            "episode" => Kind::Episode,
            "show" => Kind::Show,
            "playlist" => Kind::Playlist,
            _ => return None,
        })
    }
}

/// `spotify:{kind}:{base62}`.
pub fn uri(kind: Kind, gid: &Gid) -> String {
    format!("spotify:{}:{}", kind.as_str(), to_base62(gid))
}

/// Parses `spotify:{kind}:{base62}` (also `spotify:user:{u}:playlist:{base62}`).
pub fn parse_uri(uri: &str) -> Option<(Kind, Gid)> {
    let rest = uri.strip_prefix("spotify:")?;
    let parts: Vec<&str> = rest.split(':').collect();
    match parts.as_slice() {
        [kind, id] => Some((Kind::parse(kind)?, from_base62(id)?)),
        ["user", _, "playlist", id] => Some((Kind::Playlist, from_base62(id)?)),
        _ => None,
    }
}

/// Decodes exactly `N` bytes of hex (either case).
pub fn from_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn base62_known_answers() {
        let cases = [
            ("4GNcXTGWmnZ3ySrqvol3o4", "9a1b1cfbc6f244569ae0356c77bbe9d8"),
            ("5sWHDYs0csV6RS48xBl0tH", "b39fe8081e1f4c54be38e8d6f9f12bb9"),
            ("0000000000000000000000", "00000000000000000000000000000000"),
        ];
        for (b62, hex) in cases {
            let gid: Gid = from_hex(hex).unwrap();
            assert_eq!(to_base62(&gid), b62);
            assert_eq!(from_base62(b62), Some(gid));
        }
        assert_eq!(to_base62(&[0xff; 16]), "7N42dgm5tFLK9N8MT7fHC7");
        assert_eq!(from_base62("7N42dgm5tFLK9N8MT7fHC7"), Some([0xff; 16]));
    }

    #[test]
    fn base62_rejects_garbage() {
        assert_eq!(from_base62("7N42dgm5tFLK9N8MT7fHC8"), None, "overflow");
        assert_eq!(from_base62("zzzzzzzzzzzzzzzzzzzzzz"), None, "overflow");
        assert_eq!(from_base62("short"), None);
        assert_eq!(from_base62("4GNcXTGWmnZ3ySrqvol3o-"), None);
        assert_eq!(from_base62("4GNcXTGWmnZ3ySrqvol3oé"), None);
    }

    #[test]
    fn uris_round_trip() {
        let g = gid("track", "x");
        let u = uri(Kind::Track, &g);
        assert_eq!(parse_uri(&u), Some((Kind::Track, g)));
        let p = format!("spotify:user:alice:playlist:{}", to_base62(&g));
        assert_eq!(parse_uri(&p), Some((Kind::Playlist, g)));
        assert_eq!(parse_uri("spotify:track:nope"), None);
        assert_eq!(parse_uri("spotify:thing:4GNcXTGWmnZ3ySrqvol3o4"), None);
        assert_eq!(parse_uri("track:4GNcXTGWmnZ3ySrqvol3o4"), None);
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        assert_eq!(gid("track", "a"), gid("track", "a"));
        assert_ne!(gid("track", "a"), gid("album", "a"));
        assert_ne!(file_id("f", "a"), file_id("f", "b"));
        assert_eq!(from_hex::<2>("aB01"), Some([0xab, 0x01]));
        assert_eq!(from_hex::<2>("ab0"), None);
        assert_eq!(from_hex::<2>("zz01"), None);
    }
}
