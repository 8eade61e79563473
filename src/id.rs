//! Spotify identifiers (protocol spec §9.1): 16-byte item ids ("gids") in base62 (22 chars) and
//! base16 (32 lower-case hex chars), 20-byte file ids, and `spotify:` URIs / open.spotify.com
//! links. Pure parsing and formatting; used by every client service, never by the simulator.

pub mod episodes;

use std::fmt;

const BASE62: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Why an id or URI did not parse. The offending text is quoted in the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("\"{0}\" is not a base62 id (22 characters of 0-9, a-z, A-Z)")]
    Base62(String),
    #[error("\"{0}\" is not a base16 id (32 lower-case hex characters)")]
    Base16(String),
    #[error("file id must be 20 bytes, got {0}")]
    FileIdLength(usize),
    #[error("\"{0}\" is not a Spotify URI or link")]
    Uri(String),
}

/// A 16-byte Spotify item id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpotifyId(pub u128);

impl SpotifyId {
    pub fn from_raw(raw: &[u8]) -> Option<SpotifyId> {
        let arr: [u8; 16] = raw.try_into().ok()?;
        Some(SpotifyId(u128::from_be_bytes(arr)))
    }

    pub fn to_raw(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    pub fn from_base62(s: &str) -> Result<SpotifyId, IdError> {
        let bad = || IdError::Base62(s.to_string());
        if s.len() != 22 {
            return Err(bad());
        }
        let mut v: u128 = 0;
        for c in s.bytes() {
            let d = BASE62.iter().position(|&b| b == c).ok_or_else(bad)? as u128;
            v = v
                .checked_mul(62)
                .and_then(|v| v.checked_add(d))
                .ok_or_else(bad)?;
        }
        Ok(SpotifyId(v))
    }

    pub fn to_base62(self) -> String {
        let mut out = [b'0'; 22];
        let mut v = self.0;
        for slot in out.iter_mut().rev() {
            *slot = BASE62[(v % 62) as usize];
            v /= 62;
        }
        out.iter().map(|&b| b as char).collect()
    }

    pub fn from_base16(s: &str) -> Result<SpotifyId, IdError> {
        let bad = || IdError::Base16(s.to_string());
        if s.len() != 32
            || !s
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad());
        }
        u128::from_str_radix(s, 16)
            .map(SpotifyId)
            .map_err(|_| bad())
    }

    pub fn to_base16(self) -> String {
        format!("{:032x}", self.0)
    }
}

impl fmt::Debug for SpotifyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpotifyId({})", self.to_base62())
    }
}

/// A 20-byte audio/image file id (16-byte ids from metadata are zero-padded, as librespot does).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId(pub [u8; 20]);

impl FileId {
    pub fn from_raw(raw: &[u8]) -> Result<FileId, IdError> {
        let mut id = [0u8; 20];
        match raw.len() {
            16 | 20 => {
                id[..raw.len()].copy_from_slice(raw);
                Ok(FileId(id))
            }
            n => Err(IdError::FileIdLength(n)),
        }
    }

    pub fn to_base16(self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileId({})", self.to_base16())
    }
}

/// The kinds of item a URI can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemKind {
    Track,
    Album,
    Artist,
    Episode,
    Show,
    Playlist,
}

impl ItemKind {
    fn parse(s: &str) -> Option<ItemKind> {
        Some(match s {
            "track" => ItemKind::Track,
            "album" => ItemKind::Album,
            "artist" => ItemKind::Artist,
            "episode" => ItemKind::Episode,
            "show" => ItemKind::Show,
            "playlist" => ItemKind::Playlist,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Track => "track",
            ItemKind::Album => "album",
            ItemKind::Artist => "artist",
            ItemKind::Episode => "episode",
            ItemKind::Show => "show",
            ItemKind::Playlist => "playlist",
        }
    }
}

/// A parsed `spotify:{kind}:{base62}` URI (also accepts `spotify:user:{u}:playlist:{id}` and
/// `https://open.spotify.com/{kind}/{id}` links with an optional query).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpotifyUri {
    pub kind: ItemKind,
    pub id: SpotifyId,
}

impl SpotifyUri {
    pub fn parse(s: &str) -> Result<SpotifyUri, IdError> {
        let bad = || IdError::Uri(s.to_string());
        let (kind, id) = if let Some(rest) = s.strip_prefix("spotify:") {
            let parts: Vec<&str> = rest.split(':').collect();
            match parts.as_slice() {
                [kind, id] => (*kind, *id),
                ["user", _user, "playlist", id] => ("playlist", *id),
                _ => return Err(bad()),
            }
        } else if let Some(rest) = s
            .strip_prefix("https://open.spotify.com/")
            .or_else(|| s.strip_prefix("http://open.spotify.com/"))
        {
            let rest = rest.split(['?', '#']).next().unwrap_or_default();
            // Localised links look like open.spotify.com/intl-de/track/<id>.
            let rest = match rest.split_once('/') {
                Some((first, tail)) if first.starts_with("intl-") => tail,
                _ => rest,
            };
            rest.split_once('/').ok_or_else(bad)?
        } else {
            return Err(bad());
        };
        let kind = ItemKind::parse(kind).ok_or_else(bad)?;
        let id = SpotifyId::from_base62(id).map_err(|_| bad())?;
        Ok(SpotifyUri { kind, id })
    }

    pub fn to_uri(self) -> String {
        format!("spotify:{}:{}", self.kind.as_str(), self.id.to_base62())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from the protocol spec §9.1.
    const VECTORS: &[(&str, &str)] = &[
        ("4GNcXTGWmnZ3ySrqvol3o4", "9a1b1cfbc6f244569ae0356c77bbe9d8"),
        ("5sWHDYs0csV6RS48xBl0tH", "b39fe8081e1f4c54be38e8d6f9f12bb9"),
        ("0000000000000000000000", "00000000000000000000000000000000"),
    ];

    #[test]
    fn base62_base16_vectors() {
        for (b62, b16) in VECTORS {
            let a = SpotifyId::from_base62(b62).expect("valid b62");
            let b = SpotifyId::from_base16(b16).expect("valid b16");
            assert_eq!(a, b);
            assert_eq!(a.to_base62(), *b62);
            assert_eq!(a.to_base16(), *b16);
        }
    }

    #[test]
    fn rejects_bad_ids() {
        assert!(SpotifyId::from_base62("4GNcXTGWmnZ3ySrqvol3o").is_err()); // 21 chars
        assert!(SpotifyId::from_base62("4GNcXTGWmnZ3ySrqvol3o!").is_err());
        assert!(SpotifyId::from_base62("ZZZZZZZZZZZZZZZZZZZZZZ").is_err()); // overflows u128
        assert!(SpotifyId::from_base16("9A1B1CFBC6F244569AE0356C77BBE9D8").is_err()); // upper case
        assert!(SpotifyId::from_base16("9a1b").is_err());
        assert!(FileId::from_raw(&[0; 19]).is_err());
    }

    #[test]
    fn uris_and_links() {
        let u = SpotifyUri::parse("spotify:track:4GNcXTGWmnZ3ySrqvol3o4").expect("uri");
        assert_eq!(u.kind, ItemKind::Track);
        assert_eq!(u.to_uri(), "spotify:track:4GNcXTGWmnZ3ySrqvol3o4");
        let l =
            SpotifyUri::parse("https://open.spotify.com/intl-de/album/4GNcXTGWmnZ3ySrqvol3o4?si=x")
                .expect("link");
        assert_eq!(l.kind, ItemKind::Album);
        let p = SpotifyUri::parse("spotify:user:bob:playlist:4GNcXTGWmnZ3ySrqvol3o4").expect("pl");
        assert_eq!(p.kind, ItemKind::Playlist);
        for bad in [
            "",
            "spotify:",
            "spotify:track",
            "spotify:song:4GNcXTGWmnZ3ySrqvol3o4",
            "https://x.y/track/a",
        ] {
            assert!(SpotifyUri::parse(bad).is_err(), "{bad}");
        }
    }
}
