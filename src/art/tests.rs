//! Tests of the art service: which image is picked, decoding (PNG, JPEG, corrupt, other
//! formats, oversized), the disk cache's cap and LRU order, and a fetch over a real socket on
//! 127.0.0.1 (200 → decoded and cached, then served from the cache; 404 and a corrupt body →
//! errors, never a panic).

use std::time::{Duration, SystemTime};

use axum::http::StatusCode;
use axum::routing::get;

use super::*;

fn img(url: &str, side: Option<u32>) -> Image {
    Image {
        url: url.into(),
        height: side,
        width: side,
    }
}

/// A 2×2-quadrant PNG (red, green / blue, white) of `side` px.
pub(crate) fn quadrant_png(side: u32) -> Vec<u8> {
    let im = image::RgbImage::from_fn(side, side, |x, y| {
        let c = match (y < side / 2, x < side / 2) {
            (true, true) => [255, 0, 0],
            (true, false) => [0, 255, 0],
            (false, true) => [0, 0, 255],
            (false, false) => [255, 255, 255],
        };
        image::Rgb(c)
    });
    let mut out = std::io::Cursor::new(Vec::new());
    im.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[test]
fn pick_takes_the_smallest_big_enough_else_the_largest() {
    let imgs = [
        img("big", Some(640)),
        img("mid", Some(300)),
        img("small", Some(64)),
    ];
    assert_eq!(pick(&imgs, 300), Some("mid"));
    assert_eq!(pick(&imgs, 64), Some("small"));
    assert_eq!(pick(&imgs, 1000), Some("big"));
    assert_eq!(pick(&[img("unsized", None)], 300), Some("unsized"));
    assert_eq!(pick(&[], 300), None);
}

#[test]
fn decodes_png_and_jpeg_and_refuses_the_rest() {
    let png = decode(&quadrant_png(8)).unwrap();
    assert_eq!(png.dimensions(), (8, 8));
    assert_eq!(png.get_pixel(1, 1).0, [255, 0, 0]);
    assert_eq!(png.get_pixel(6, 6).0, [255, 255, 255]);

    let mut jpeg = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_pixel(16, 16, image::Rgb([10, 200, 30]))
        .write_to(&mut jpeg, image::ImageFormat::Jpeg)
        .unwrap();
    let j = decode(jpeg.get_ref()).unwrap();
    let p = j.get_pixel(8, 8).0;
    assert!(p[1] > 180 && p[0] < 40 && p[2] < 60, "{p:?}");

    assert!(matches!(decode(b"not an image"), Err(ArtError::Decode(_))));
    let mut truncated = quadrant_png(8);
    truncated.truncate(truncated.len() / 2);
    assert!(matches!(decode(&truncated), Err(ArtError::Decode(_))));
    // GIF magic: a format we do not decode
    assert!(matches!(
        decode(b"GIF89a\x01\x00\x01\x00"),
        Err(ArtError::Decode(_))
    ));
    // a PNG header claiming 100000×100000 pixels
    let mut huge = quadrant_png(8);
    huge[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    huge[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    assert!(decode(&huge).is_err());
}

#[test]
fn disk_cache_keeps_under_its_cap_least_recently_used_out_first() {
    let dir = tempfile::tempdir().unwrap();
    let cache = DiskCache::new(dir.path().join("art"), 3000);
    let body = vec![7u8; 1000];
    for n in 0..3 {
        cache.put(&format!("http://x/{n}"), &body).unwrap();
    }
    assert_eq!(cache.size(), 3000);
    // Make the use order explicit (mtime granularity must not decide the test): 0 oldest,
    // then 2, then 1 — then read 0, which makes it the most recent.
    let set = |n: u32, secs: u64| {
        let f = std::fs::File::options()
            .write(true)
            .open(cache.path_for(&format!("http://x/{n}")))
            .unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
            .unwrap();
    };
    set(0, 1_000);
    set(2, 2_000);
    set(1, 3_000);
    let (bytes, _) = cache.get("http://x/0").unwrap();
    assert_eq!(bytes, body);
    // A fourth file: the least recently used (2) goes.
    let p3 = cache.put("http://x/3", &body).unwrap();
    assert!(p3.exists());
    assert!(cache.size() <= 3000, "{}", cache.size());
    assert!(cache.get("http://x/2").is_none(), "LRU entry evicted");
    for n in [0, 1, 3] {
        assert!(cache.get(&format!("http://x/{n}")).is_some(), "{n} kept");
    }
    // Larger than the whole cap: not kept, nothing else lost.
    assert!(cache.put("http://x/huge", &vec![0u8; 4000]).is_none());
    assert_eq!(cache.size(), 3000);
    // File names never contain the URL.
    assert!(cache
        .path_for("http://x/../../etc")
        .starts_with(cache.dir()));
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn fetch_decode_cache_and_errors() {
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = Arc::clone(&hits);
    let router = axum::Router::new()
        .route(
            "/ok.png",
            get(move || {
                h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { quadrant_png(16) }
            }),
        )
        .route(
            "/corrupt.png",
            get(|| async { b"\x89PNG\r\n\x1a\ngarbage".to_vec() }),
        )
        .route("/big", get(|| async { vec![0u8; MAX_BYTES + 1] }))
        .route("/missing", get(|| async { (StatusCode::NOT_FOUND, "no") }));
    let base = serve(router).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = DiskCache::new(dir.path().to_path_buf(), 1 << 20);
    let art = ArtService::new(Some(cache));

    let url = format!("{base}/ok.png");
    let c = art.cover(&url).await.unwrap();
    assert_eq!(c.image.dimensions(), (16, 16));
    assert_eq!(c.image.get_pixel(12, 2).0, [0, 255, 0]);
    let path = c.path.clone().unwrap();
    assert!(path.exists());
    assert_eq!(c.art_url(), format!("file://{}", path.display()));
    // Second time: from the disk cache, no request.
    let again = art.cover(&url).await.unwrap();
    assert_eq!(again.image, c.image);
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);

    assert_eq!(
        art.cover(&format!("{base}/missing")).await.unwrap_err(),
        ArtError::Status(404)
    );
    assert!(matches!(
        art.cover(&format!("{base}/corrupt.png")).await.unwrap_err(),
        ArtError::Decode(_)
    ));
    assert_eq!(
        art.cover(&format!("{base}/big")).await.unwrap_err(),
        ArtError::TooLarge
    );
    // Nothing listening: an error, not a hang (port 9 on loopback refuses).
    assert!(matches!(
        art.cover("http://127.0.0.1:9/x.png").await.unwrap_err(),
        ArtError::Fetch(_)
    ));

    // Without a cache: the http URL is what desktops get.
    let plain = ArtService::new(None).cover(&url).await.unwrap();
    assert_eq!(plain.art_url(), url);
}
