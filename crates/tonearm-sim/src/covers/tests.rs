//! Tests of the generated covers (decoded with the independent `png` crate) and of the image
//! route over a real socket on 127.0.0.1: each size decodes to the album's four colours, the
//! Web API album and the metadata's cover group point at the same URLs/ids, 404 for an unknown
//! id and 400 for a malformed one.

use std::collections::HashSet;
use std::time::Duration;

use librespot_protocol::metadata as pm;
use protobuf::Message;

use super::*;
use crate::{SimConfig, Simulator};

/// Decodes a PNG into (width, height, RGB bytes).
fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

fn pixel(rgb: &[u8], width: u32, x: u32, y: u32) -> [u8; 3] {
    let at = usize::try_from((y * width + x) * 3).unwrap();
    [rgb[at], rgb[at + 1], rgb[at + 2]]
}

#[test]
fn every_demo_cover_decodes_to_its_four_colours_at_every_size() {
    let c = Catalog::demo();
    assert!(!c.albums.is_empty());
    let mut seen = HashSet::new();
    for a in &c.albums {
        let cols = colours(&a.gid);
        let distinct: HashSet<[u8; 3]> = cols.iter().copied().collect();
        assert_eq!(distinct.len(), 4, "{}: {cols:?}", a.name);
        seen.insert(cols);
        for (size, _) in SIZES {
            let bytes = png(&a.gid, size);
            // small: flat colour compresses to almost nothing
            assert!(bytes.len() < 8 * 1024, "{} bytes", bytes.len());
            let (w, h, rgb) = decode(&bytes);
            assert_eq!((w, h), (size, size));
            let q = size / 4;
            assert_eq!(pixel(&rgb, w, q, q), cols[0]);
            assert_eq!(pixel(&rgb, w, 3 * q, q), cols[1]);
            assert_eq!(pixel(&rgb, w, q, 3 * q), cols[2]);
            assert_eq!(pixel(&rgb, w, 3 * q, 3 * q), cols[3]);
            assert_eq!(png(&a.gid, size), bytes, "deterministic");
        }
    }
    assert_eq!(seen.len(), c.albums.len(), "albums have distinct covers");
}

#[test]
fn file_ids_have_spotifys_shape_and_resolve_back() {
    let c = Catalog::demo();
    let mut ids = HashSet::new();
    for (i, a) in c.albums.iter().enumerate() {
        for (size, _) in SIZES {
            let id = file_id(&a.gid, size);
            assert!(hex::encode(id).starts_with("ab67616d"));
            assert_eq!(lookup(&c, &id), Some((i, size)));
            assert!(ids.insert(id));
        }
    }
    assert_eq!(
        hex::encode(file_id(&c.albums[0].gid, 640))[8..16],
        *"0000b273"
    );
    assert_eq!(
        hex::encode(file_id(&c.albums[0].gid, 300))[8..16],
        *"00001e02"
    );
    assert_eq!(
        hex::encode(file_id(&c.albums[0].gid, 64))[8..16],
        *"00004851"
    );
    assert_eq!(lookup(&c, &[0u8; 20]), None);
    let mut wrong_size = file_id(&c.albums[0].gid, 64);
    wrong_size[4..8].copy_from_slice(&[0, 0, 0, 1]);
    assert_eq!(lookup(&c, &wrong_size), None);
}

#[tokio::test]
async fn image_route_serves_the_covers_the_web_api_and_metadata_name() {
    let sim = Simulator::start(SimConfig {
        first_ping_after: Duration::from_secs(30),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let info = sim.info().clone();
    let http = reqwest::Client::new();
    let c = sim.catalog();
    let album = &c.albums[0];

    // The Web API album object lists the three sizes, largest first, on this server.
    let token = sim.issue_login5_token("tonearm-demo").unwrap();
    let id = crate::ids::to_base62(&album.gid);
    let body: serde_json::Value = http
        .get(format!("{}/albums/{id}", info.web_api))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let images = body["images"].as_array().unwrap();
    assert_eq!(images.len(), 3);
    let sizes: Vec<u64> = images
        .iter()
        .map(|i| i["width"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [640, 300, 64]);
    for (img, (size, _)) in images.iter().zip(SIZES) {
        let url = img["url"].as_str().unwrap();
        assert_eq!(
            url,
            format!(
                "{}/image/{}",
                info.spclient,
                hex::encode(file_id(&album.gid, size))
            )
        );
        let r = http.get(url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "image/png");
        let (w, _, rgb) = decode(&r.bytes().await.unwrap());
        assert_eq!(w, size);
        assert_eq!(pixel(&rgb, w, 0, 0), colours(&album.gid)[0]);
    }

    // The metadata's cover group carries the same file ids.
    let meta = crate::metadata::album(&c, 0).unwrap();
    let group: Vec<(Vec<u8>, i32)> = meta
        .cover_group
        .image
        .iter()
        .map(|i| (i.file_id().to_vec(), i.width()))
        .collect();
    assert_eq!(group.len(), 3);
    for ((id, width), (size, _)) in group.iter().zip(SIZES) {
        assert_eq!(id.as_slice(), file_id(&album.gid, size));
        assert_eq!(*width, i32::try_from(size).unwrap());
    }
    let track = crate::metadata::track(&c, album.tracks[0]).unwrap();
    let bytes = track.write_to_bytes().unwrap();
    let back = pm::Track::parse_from_bytes(&bytes).unwrap();
    assert_eq!(back.album.cover_group.image.len(), 3);

    // Unknown → 404, malformed → 400, both JSON errors.
    let r = http
        .get(format!("{}/image/{}", info.spclient, "ab".repeat(20)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http
        .get(format!("{}/image/not-hex", info.spclient))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.json::<serde_json::Value>().await.unwrap()["error"]["message"].is_string());
    sim.shutdown().await;
}
