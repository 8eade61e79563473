//! The audio pipeline against the simulator, without the player: the real loader (metadata →
//! storage-resolve → CDN → audio key → decrypt → header → decode) produces exactly the PCM of
//! the unencrypted source file; relinking, refusals and CDN faults.

use std::time::Duration;

use tonearm::api::metadata::Bitrate;
use tonearm::audio::fetch::FetchParams;
use tonearm::audio::pcm::PcmSource;
use tonearm::id::{SpotifyId, SpotifyUri};
use tonearm::player::loader::{LoadErrorKind, LoadedTrack, TrackLoader};
use tonearm::player::spotify::SpotifyLoader;
use tonearm_sim::{HttpFaults, SimConfig, Simulator};

pub use tonearm_testkit::reference_pcm;

use crate::common::{sim_with, within};

pub fn id_of(uri: &str) -> SpotifyId {
    SpotifyUri::parse(uri).expect("uri").id
}

pub async fn loader(s: &Simulator, bitrate: Bitrate) -> SpotifyLoader {
    let (session, sp) = crate::api::services(s).await;
    SpotifyLoader::new(session, sp, reqwest::Client::new(), bitrate).with_fetch_params(
        FetchParams {
            retry_base_delay: Duration::from_millis(20),
            retry_max_delay: Duration::from_millis(200),
            ..FetchParams::default()
        },
    )
}

/// All PCM of a source, read on a blocking thread (reads wait on the download).
pub async fn drain(mut src: Box<dyn PcmSource>) -> Vec<f32> {
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        while src.read(&mut out, 4096).expect("read") > 0 {}
        out
    })
    .await
    .unwrap()
}

async fn load(
    l: &SpotifyLoader,
    uri: &str,
) -> Result<LoadedTrack, tonearm::player::loader::LoadError> {
    within(30, l.load(id_of(uri))).await
}

#[tokio::test]
async fn pipeline_is_sample_exact_at_every_bitrate() {
    let s = sim_with(SimConfig::default()).await;
    let uri = s.info().demo_tracks[0].uri.clone();
    for (bitrate, format) in [(Bitrate::B96, 0), (Bitrate::B160, 1), (Bitrate::B320, 2)] {
        let l = loader(&s, bitrate).await;
        let t = load(&l, &uri).await.expect("load");
        let demo = &s.info().demo_tracks[0];
        assert_eq!(t.info.name, demo.name);
        assert_eq!(t.normalisation.track_gain_db, demo.track_gain_db);
        assert_eq!(t.normalisation.track_peak, demo.track_peak);
        let got = drain(t.source).await;
        let want = reference_pcm(&s, &uri, format);
        assert_eq!(got.len(), want.len(), "{bitrate:?}: same length");
        assert!(got == want, "{bitrate:?}: sample-exact");
        let secs = got.len() as f64 / 2.0 / 44_100.0;
        assert!(
            (secs * 1000.0 - demo.duration_ms as f64).abs() < 50.0,
            "{secs}"
        );
    }
}

#[tokio::test]
async fn unplayable_track_is_relinked_to_its_alternative() {
    let s = sim_with(SimConfig::default()).await;
    let l = loader(&s, Bitrate::B160).await;
    let uri = s.info().special_tracks.unplayable_with_alternative.clone();
    let t = load(&l, &uri).await.expect("relinked");
    assert_eq!(t.info.id, id_of(&uri));
    assert_ne!(t.info.played_id, t.info.id);
    assert!(!drain(t.source).await.is_empty());
}

#[tokio::test]
async fn restricted_and_key_refused_tracks_give_clear_errors() {
    let s = sim_with(SimConfig::default()).await;
    let l = loader(&s, Bitrate::B160).await;
    let e = load(&l, &s.info().special_tracks.restricted_in_se.clone())
        .await
        .err()
        .expect("restricted");
    assert_eq!(e.kind, LoadErrorKind::Unavailable);
    assert!(e.message.contains("country"), "{e}");
    let e = load(&l, &s.info().special_tracks.key_refused.clone())
        .await
        .err()
        .expect("key refused");
    assert_eq!(e.kind, LoadErrorKind::Key);
    assert!(e.message.contains("refused the decryption key"), "{e}");
    let e = within(30, l.load(SpotifyId(77)))
        .await
        .err()
        .expect("unknown");
    assert_eq!(e.kind, LoadErrorKind::Unavailable);
}

#[tokio::test]
async fn cdn_faults_are_recovered_and_audio_stays_exact() {
    let s = sim_with(SimConfig::default()).await;
    let l = loader(&s, Bitrate::B320).await;
    let uri = s.info().demo_tracks[3].uri.clone();
    let want = reference_pcm(&s, &uri, 2);
    for faults in [
        HttpFaults {
            cdn_5xx: 3,
            ..HttpFaults::default()
        },
        HttpFaults {
            cdn_truncate: 2,
            ..HttpFaults::default()
        },
        HttpFaults {
            cdn_429: 2,
            retry_after_secs: 1,
            ..HttpFaults::default()
        },
        HttpFaults {
            cdn_slow: Some(Duration::from_millis(5)),
            ..HttpFaults::default()
        },
        HttpFaults {
            expired_cdn_urls: true,
            ..HttpFaults::default()
        },
    ] {
        s.set_http_faults(faults.clone());
        let t = load(&l, &uri)
            .await
            .unwrap_or_else(|e| panic!("{faults:?}: {e}"));
        let got = within(60, drain(t.source)).await;
        assert!(got == want, "{faults:?}: exact despite the fault");
    }
    s.set_http_faults(HttpFaults::default());
}

#[tokio::test]
async fn seek_lands_within_20_ms() {
    let s = sim_with(SimConfig::default()).await;
    let l = loader(&s, Bitrate::B160).await;
    let uri = s.info().demo_tracks[1].uri.clone();
    let want = reference_pcm(&s, &uri, 1);
    let mut t = load(&l, &uri).await.expect("load");
    for target_ms in [7_300u64, 1_000, 9_999] {
        let (src, reached, chunk) = tokio::task::spawn_blocking(move || {
            let reached = t.source.seek(target_ms).expect("seek");
            let mut out = Vec::new();
            t.source.read(&mut out, 2048).expect("read");
            (t, reached, out)
        })
        .await
        .unwrap();
        t = src;
        let target = target_ms * 44_100 / 1000;
        assert!(
            reached.abs_diff(target) <= 882,
            "{target_ms} ms → frame {reached}"
        );
        let at = reached as usize * 2;
        assert_eq!(
            &chunk[..],
            &want[at..at + chunk.len()],
            "audio after the seek is the audio at that point"
        );
    }
}
