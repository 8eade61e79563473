//! Album art end to end: tonearm's art service (`art::ArtService::cover_for` over the real Web
//! API and spclient clients with their tokens) fetches a demo album's cover from the
//! simulator's image CDN — by album URI and by a track URI (album looked up in the track's
//! metadata) — decodes it, and the colours are the ones the simulator generated for that album;
//! the second fetch comes from the disk cache; an unknown image id is a 404 error, not a panic.

use tonearm::api::WebApi;
use tonearm::art::{ArtError, ArtService, DiskCache};

use crate::common::{sim, within};

#[tokio::test]
async fn fetches_a_demo_cover_and_its_colours_match_the_simulators() {
    let s = sim().await;
    let (_session, sp) = crate::api::services(&s).await;
    let api = WebApi::new(
        sp.tokens().clone(),
        s.info().web_api.clone(),
        reqwest::Client::new(),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let art = ArtService::new(Some(DiskCache::new(dir.path().join("art"), 1 << 20)));
    let c = s.catalog();
    let track = c.demo_tracks[0];
    let album = &c.albums[c.tracks[track].album];
    let want = tonearm_sim::covers::colours(&album.gid);

    let check = |cover: &tonearm::art::Cover| {
        let img = &cover.image;
        assert_eq!(img.dimensions(), (300, 300), "the 300 px size is picked");
        for (i, (x, y)) in [(75, 75), (225, 75), (75, 225), (225, 225)]
            .into_iter()
            .enumerate()
        {
            assert_eq!(
                img.get_pixel(x, y).0,
                want[i],
                "quadrant {i} of {}",
                album.name
            );
        }
    };
    let album_uri = format!(
        "spotify:album:{}",
        tonearm::id::SpotifyId::from_raw(&album.gid)
            .expect("gid")
            .to_base62()
    );
    let by_album = within(30, art.cover_for(&api, &sp, &album_uri))
        .await
        .expect("cover by album");
    check(&by_album);
    assert!(
        by_album.url.contains("/image/ab67616d00001e02"),
        "{}",
        by_album.url
    );
    let path = by_album.path.clone().expect("cached");
    assert!(path.starts_with(dir.path()));
    assert_eq!(by_album.art_url(), format!("file://{}", path.display()));

    let by_track = within(30, art.cover_for(&api, &sp, &c.track_uri(track)))
        .await
        .expect("cover by track");
    check(&by_track);
    assert_eq!(by_track.url, by_album.url);

    // An image id the simulator does not have: a clear error.
    let missing = format!("{}/image/{}", s.info().spclient, "ab".repeat(20));
    let err = within(30, art.cover(&missing)).await.unwrap_err();
    assert_eq!(err, ArtError::Status(404));
}
