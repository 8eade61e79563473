//! The HTTP services against the simulator: client-token and login5 (with hashcash challenges),
//! token expiry, spclient metadata for every kind, storage-resolve, the CDN, and recovery from
//! server faults.

use std::time::Duration;

use tonearm::api::metadata::{choose_file, Bitrate};
use tonearm::api::SpClient;
use tonearm::id::{SpotifyId, SpotifyUri};
use tonearm::session::Session;
use tonearm_sim::{HttpFaults, SimConfig, Simulator};

use crate::common::{premium_session, sim_with, within};

/// The premium account's session and an spclient over it.
pub async fn services(s: &Simulator) -> (Session, SpClient) {
    let session = premium_session(s).await;
    let sp = tonearm_testkit::spclient(&session, &tonearm_testkit::endpoints(s));
    (session, sp)
}

fn id_of(uri: &str) -> SpotifyId {
    SpotifyUri::parse(uri).expect("uri").id
}

#[tokio::test]
async fn login5_and_client_token_with_hashcash_challenges() {
    let s = sim_with(SimConfig {
        login5_hashcash: Some(10),
        client_token_hashcash: true,
        ..SimConfig::default()
    })
    .await;
    let (_session, sp) = services(&s).await;
    let t1 = within(20, sp.tokens().access_token())
        .await
        .expect("login5 token");
    assert!(t1.is_fresh());
    let t2 = within(20, sp.tokens().access_token())
        .await
        .expect("cached");
    assert_eq!(
        t1.token, t2.token,
        "token is cached until shortly before expiry"
    );
    assert_eq!(s.stats().login5_logins, 1);
}

#[tokio::test]
async fn expired_token_is_renewed() {
    let s = sim_with(SimConfig {
        token_ttl: Duration::from_secs(11),
        ..SimConfig::default()
    })
    .await;
    let (_session, sp) = services(&s).await;
    let first = within(20, sp.tokens().access_token()).await.expect("token");
    // With a 10 s safety margin an 11 s token is renewed after about a second.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let second = within(20, sp.tokens().access_token()).await.expect("token");
    assert_ne!(first.token, second.token);
    let t = &s.info().demo_tracks[0];
    within(20, sp.track(id_of(&t.uri)))
        .await
        .expect("metadata with the new token");
}

#[tokio::test]
async fn metadata_for_tracks_albums_artists_and_shows() {
    let s = sim_with(SimConfig::default()).await;
    let (_session, sp) = services(&s).await;
    for t in &s.info().demo_tracks {
        let track = within(20, sp.track(id_of(&t.uri))).await.expect("track");
        assert_eq!(track.name, t.name);
        assert_eq!(track.album.name, t.album);
        let artists: Vec<_> = track.artists.iter().map(|a| a.name.clone()).collect();
        assert_eq!(artists, t.artists);
        assert_eq!(track.duration_ms, t.duration_ms);
        for b in [Bitrate::B96, Bitrate::B160, Bitrate::B320] {
            assert!(
                choose_file(&track.files, b).is_some(),
                "{} has a file at {b:?}",
                t.name
            );
        }
    }
    let album = within(20, sp.album(id_of(&s.info().demo_album)))
        .await
        .expect("album");
    assert!(album.tracks.len() >= 4, "{album:?}");
    let first = within(20, sp.track(album.tracks[0]))
        .await
        .expect("first track");
    let artist = within(20, sp.artist(first.artists[0].id))
        .await
        .expect("artist");
    assert_eq!(artist.name, first.artists[0].name);
    let missing = within(20, sp.track(SpotifyId(12345))).await;
    assert!(
        matches!(missing, Err(tonearm::api::ApiError::NotFound(_))),
        "{missing:?}"
    );
}

#[tokio::test]
async fn restricted_and_relinked_tracks() {
    let s = sim_with(SimConfig::default()).await;
    let (session, sp) = services(&s).await;
    let sp_info = &s.info().special_tracks;
    let country = session.country().expect("country");
    let restricted = within(20, sp.track(id_of(&sp_info.restricted_in_se)))
        .await
        .expect("meta");
    assert!(!restricted.is_available(&country, "premium"));
    let lost = within(20, sp.track(id_of(&sp_info.unplayable_with_alternative)))
        .await
        .expect("meta");
    assert!(lost.files.is_empty());
    assert!(!lost.alternatives.is_empty());
    let alt = within(20, sp.track(lost.alternatives[0]))
        .await
        .expect("alternative");
    assert!(choose_file(&alt.files, Bitrate::B160).is_some());
}

#[tokio::test]
async fn storage_resolve_gives_cdn_urls_that_serve_ranges() {
    let s = sim_with(SimConfig::default()).await;
    let (_session, sp) = services(&s).await;
    let t = within(20, sp.track(id_of(&s.info().demo_tracks[0].uri)))
        .await
        .expect("track");
    let f = choose_file(&t.files, Bitrate::B160).expect("file");
    let urls = within(20, sp.storage_resolve(f.file_id, f.format))
        .await
        .expect("resolve");
    let resp = reqwest::Client::new()
        .get(&urls[0])
        .header("Range", "bytes=0-65535")
        .send()
        .await
        .expect("cdn");
    assert_eq!(resp.status().as_u16(), 206);
    assert!(resp.headers()["content-range"]
        .to_str()
        .unwrap()
        .starts_with("bytes 0-65535/"));
    assert_eq!(resp.bytes().await.unwrap().len(), 65536);
    // Expired URLs are skipped by the client (the first listed one is expired).
    s.set_http_faults(HttpFaults {
        expired_cdn_urls: true,
        ..HttpFaults::default()
    });
    let t2 = within(20, sp.track(id_of(&s.info().demo_tracks[1].uri)))
        .await
        .expect("track");
    let f2 = choose_file(&t2.files, Bitrate::B160).expect("file");
    let urls = within(20, sp.storage_resolve(f2.file_id, f2.format))
        .await
        .expect("resolve");
    let r = reqwest::Client::new()
        .get(&urls[0])
        .header("Range", "bytes=0-15")
        .send()
        .await
        .expect("cdn");
    assert_eq!(
        r.status().as_u16(),
        206,
        "the expired URL was not offered first"
    );
}

#[tokio::test]
async fn metadata_server_errors_are_retried() {
    let s = sim_with(SimConfig::default()).await;
    let (_session, sp) = services(&s).await;
    let sp = sp.with_retry_policy(tonearm::api::RetryPolicy {
        max_tries: 10,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        request_timeout: Duration::from_secs(5),
    });
    s.set_http_faults(HttpFaults {
        metadata_5xx: 3,
        ..HttpFaults::default()
    });
    let before = s.stats().metadata_requests;
    let t = within(20, sp.track(id_of(&s.info().demo_tracks[2].uri)))
        .await
        .expect("track");
    assert_eq!(t.name, s.info().demo_tracks[2].name);
    assert!(s.stats().metadata_requests - before >= 4);
}
