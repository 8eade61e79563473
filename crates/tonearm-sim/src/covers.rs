//! Album covers: a small PNG per demo album, generated deterministically from the album's gid
//! (four quadrants of distinct colours, so a client's rendering can be checked cell by cell),
//! the cover file ids the Web API's `images[]` and the metadata's `cover_group` point to, and the
//! image CDN route `GET /image/{40 hex}` (Spotify's `https://i.scdn.co/image/{file id}`, the
//! ProductInfo `image-url` template). Sizes 640, 300 and 64 px as Spotify serves album covers;
//! the file id follows the shape of Spotify's (`ab67616d` + a size code + a 12-byte hash). No
//! token is needed (the real image CDN is public); an unknown id is 404, a malformed one 400.
//!
//! Generated at request time rather than committed: a PNG is a few hundred bytes of zlib over
//! flat colour, and the encoder (flate2 plus the PNG chunk CRC) is a page of code. Called by the
//! HTTP router, `webapi::objects` and `metadata`; depends on no client module.

use std::io::Write as _;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use sha1::{Digest as _, Sha1};

use crate::app::App;
use crate::catalog::Catalog;
use crate::ids::{FileId, Gid};
use crate::respond::json_error;

/// The cover sizes (square, px) and Spotify's size code in the image file id, largest first.
pub const SIZES: [(u32, [u8; 4]); 3] = [
    (640, [0x00, 0x00, 0xb2, 0x73]),
    (300, [0x00, 0x00, 0x1e, 0x02]),
    (64, [0x00, 0x00, 0x48, 0x51]),
];

/// The prefix of Spotify's album-cover file ids.
const ALBUM_PREFIX: [u8; 4] = [0xab, 0x67, 0x61, 0x6d];

/// The cover's file id at `size` px for the album with `gid`.
pub fn file_id(gid: &Gid, size: u32) -> FileId {
    let code = SIZES
        .iter()
        .find(|(s, _)| *s == size)
        .map_or([0; 4], |(_, c)| *c);
    let hash = Sha1::new()
        .chain_update(b"tonearm-sim/cover/")
        .chain_update(gid)
        .finalize();
    let mut out = [0u8; 20];
    out[..4].copy_from_slice(&ALBUM_PREFIX);
    out[4..8].copy_from_slice(&code);
    out[8..].copy_from_slice(&hash[..12]);
    out
}

/// The four colours of an album's cover: top-left, top-right, bottom-left, bottom-right. Hues
/// a quarter turn apart from a start picked by the gid, so they are distinct from each other
/// and (very likely) from another album's.
pub fn colours(gid: &Gid) -> [[u8; 3]; 4] {
    let start = u32::from(gid[0]) * 360 / 256;
    let mut out = [[0u8; 3]; 4];
    for (k, c) in out.iter_mut().enumerate() {
        let k = u32::try_from(k).unwrap_or(0);
        let value = if k % 2 == 0 { 230 } else { 150 };
        *c = hsv((start + k * 90) % 360, 200, value);
    }
    out
}

/// HSV (hue in degrees, saturation and value 0–255) to RGB.
fn hsv(h: u32, s: u32, v: u32) -> [u8; 3] {
    let sector = h / 60;
    let f = (h % 60) * 255 / 60;
    let p = v * (255 - s) / 255;
    let q = v * (255 - s * f / 255) / 255;
    let t = v * (255 - s * (255 - f) / 255) / 255;
    let (r, g, b) = match sector {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    };
    let byte = |x: u32| u8::try_from(x.min(255)).unwrap_or(u8::MAX);
    [byte(r), byte(g), byte(b)]
}

/// The cover of the album with `gid` as a `size`×`size` RGB PNG.
pub fn png(gid: &Gid, size: u32) -> Vec<u8> {
    let [tl, tr, bl, br] = colours(gid);
    let half = size / 2;
    let width = usize::try_from(size).unwrap_or(0);
    let mut raw = Vec::with_capacity((width * 3 + 1) * width);
    for y in 0..size {
        raw.push(0); // filter: none
        for x in 0..size {
            let c = match (y < half, x < half) {
                (true, true) => tl,
                (true, false) => tr,
                (false, true) => bl,
                (false, false) => br,
            };
            raw.extend_from_slice(&c);
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = z.write_all(&raw);
    let idat = z.finish().unwrap_or_default();

    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&size.to_be_bytes());
    ihdr.extend_from_slice(&size.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8 bits, RGB, deflate, filter 0, no interlace
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

/// The album and size a cover file id names.
pub fn lookup(catalog: &Catalog, id: &FileId) -> Option<(usize, u32)> {
    if id[..4] != ALBUM_PREFIX {
        return None;
    }
    let (size, _) = SIZES.iter().find(|(_, code)| id[4..8] == *code)?;
    let album = catalog
        .albums
        .iter()
        .position(|a| file_id(&a.gid, *size) == *id)?;
    Some((album, *size))
}

/// The Web API `images[]` of an album (`ImageObject`s, largest first), on the simulator's
/// image CDN at `http_base` (`http://host:port`, no `/v1`).
pub fn image_objects(http_base: &str, gid: &Gid) -> serde_json::Value {
    let images: Vec<serde_json::Value> = SIZES
        .iter()
        .map(|(size, _)| {
            serde_json::json!({
                "url": format!("{http_base}/image/{}", hex::encode(file_id(gid, *size))),
                "height": size,
                "width": size,
            })
        })
        .collect();
    images.into()
}

/// `GET /image/{file id}`: the cover PNG.
pub(crate) async fn serve(State(app): State<App>, Path(file): Path<String>) -> Response {
    let id: FileId = match hex::decode(&file).ok().and_then(|b| b.try_into().ok()) {
        Some(id) => id,
        None => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "the image id must be 40 hex characters",
            )
        }
    };
    let catalog = &app.shared.catalog;
    let Some((album, size)) = lookup(catalog, &id) else {
        return json_error(StatusCode::NOT_FOUND, "no such image");
    };
    let Some(a) = catalog.albums.get(album) else {
        return json_error(StatusCode::NOT_FOUND, "no such image");
    };
    let body = png(&a.gid, size);
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "public, max-age=31536000"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests;
