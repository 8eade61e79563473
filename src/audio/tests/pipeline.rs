//! The whole audio chain against the in-test fake CDN: an Ogg Vorbis fixture behind a synthetic
//! Spotify header, AES-128-CTR encrypted, served with ranges (and faults) from 127.0.0.1, then
//! fetch → decrypt → header → decode must give exactly the PCM of decoding the plain file.

use std::io::{Cursor, Read, Seek, SeekFrom};
use std::time::{Duration, Instant};

use aes::cipher::{KeyIvInit, StreamCipher};

use crate::audio::decode::tests::{decode_all, fixture};
use crate::audio::decode::{Container, SymphoniaSource};
use crate::audio::decrypt::{AudioDecrypt, AUDIO_IV};
use crate::audio::fetch::{FetchParams, StreamingFile};
use crate::audio::header::{read_header, synthetic_header, NormalisationData};
use crate::audio::pcm::{ms_to_frames, PcmErrorKind, PcmSource};
use crate::audio::tests::fake_cdn::{FakeCdn, Fault};

const KEY: [u8; 16] = [
    0x3a, 0x91, 0x07, 0xc4, 0x5e, 0x22, 0xf0, 0x18, 0x6b, 0xd9, 0x40, 0x7e, 0x13, 0xaa, 0x85, 0x2c,
];

fn norm() -> NormalisationData {
    NormalisationData {
        track_gain_db: -5.5,
        track_peak: 0.98,
        album_gain_db: -4.25,
        album_peak: 1.02,
    }
}

/// header + Ogg, encrypted as Spotify serves it.
fn encrypted_file() -> Vec<u8> {
    let mut f = synthetic_header(&norm()).to_vec();
    f.extend_from_slice(&fixture("vorbis_44k_stereo.ogg"));
    let mut c = ctr::Ctr128BE::<aes::Aes128>::new(&KEY.into(), &AUDIO_IV.into());
    c.apply_keystream(&mut f);
    f
}

fn reference_pcm() -> Vec<f32> {
    let plain = fixture("vorbis_44k_stereo.ogg");
    let len = plain.len() as u64;
    let mut s = SymphoniaSource::new(Cursor::new(plain), Container::Ogg, Some(len)).unwrap();
    decode_all(&mut s)
}

/// The chain the integrator's loader builds.
fn open_chain(
    file: StreamingFile,
    key: [u8; 16],
) -> Result<(NormalisationData, SymphoniaSource), crate::audio::pcm::PcmError> {
    let size = file.size();
    let (data, sub) =
        read_header(AudioDecrypt::new(key, file)).map_err(|e| crate::audio::pcm::PcmError {
            kind: PcmErrorKind::Fetch,
            message: e.to_string(),
        })?;
    let len = size - sub.offset();
    Ok((data, SymphoniaSource::new(sub, Container::Ogg, Some(len))?))
}

fn params() -> FetchParams {
    FetchParams {
        chunk_size: 16 * 1024,
        max_retries: 4,
        retry_base_delay: Duration::from_millis(10),
        retry_max_delay: Duration::from_millis(50),
        ..FetchParams::default()
    }
}

async fn open(cdn: &FakeCdn, name: &str, p: FetchParams) -> StreamingFile {
    StreamingFile::open(reqwest::Client::new(), vec![cdn.url(name)], p)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_decrypt_header_decode_matches_plain_decode() {
    let cdn = FakeCdn::start().await;
    let enc = encrypted_file();
    cdn.add("t", enc.clone());
    let file = open(&cdn, "t", params()).await;
    assert_eq!(file.size(), enc.len() as u64);
    let reference = reference_pcm();
    let (data, pcm) = tokio::task::spawn_blocking(move || {
        let (data, mut src) = open_chain(file, KEY).unwrap();
        assert_eq!(src.duration_ms(), Some(7000));
        (data, decode_all(&mut src))
    })
    .await
    .unwrap();
    assert_eq!(data, norm());
    assert_eq!(pcm.len(), reference.len());
    assert!(
        pcm == reference,
        "decoded PCM differs from the plain file's"
    );
    assert_eq!(cdn.requests("t")[0], (0, 65_535));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeks_through_the_chain() {
    let cdn = FakeCdn::start().await;
    cdn.add("s", encrypted_file());
    // A slow CDN (8 KiB per 20 ms): the seek lands before the download gets there.
    cdn.set_pacing("s", Some((8 * 1024, Duration::from_millis(20))));
    let file = open(&cdn, "s", params()).await;
    let reference = reference_pcm();
    tokio::task::spawn_blocking(move || {
        let (_, mut src) = open_chain(file, KEY).unwrap();
        for ms in [5500u64, 1200, 6900, 0, 3333] {
            let reached = src.seek(ms).unwrap();
            assert_eq!(reached, ms_to_frames(ms));
            let mut got = Vec::new();
            while got.len() < 2 * 8192 {
                if src.read(&mut got, 4096).unwrap() == 0 {
                    break;
                }
            }
            let at = reached as usize * 2;
            let n = got.len().min(reference.len() - at);
            assert!(got[..n] == reference[at..at + n], "after seek to {ms} ms");
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_from_truncation_5xx_and_429() {
    let cdn = FakeCdn::start().await;
    cdn.add("f", encrypted_file());
    cdn.push_faults(
        "f",
        [
            Fault::Short(20_000), // the first 64 KiB answer stops early
            Fault::Status(503),
            Fault::RateLimit(1),
            Fault::Reset(3000), // breaks mid-body
            Fault::None,
            Fault::Status(500),
            Fault::Short(100),
        ],
    );
    let t0 = Instant::now();
    let file = open(&cdn, "f", params()).await;
    let reference = reference_pcm();
    let pcm = tokio::task::spawn_blocking(move || {
        let (_, mut src) = open_chain(file, KEY).unwrap();
        decode_all(&mut src)
    })
    .await
    .unwrap();
    assert!(pcm == reference, "PCM differs after recovering from faults");
    assert!(
        t0.elapsed() >= Duration::from_millis(950),
        "Retry-After waited"
    );
    assert!(cdn.requests("f").len() >= 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_is_a_decode_error() {
    let cdn = FakeCdn::start().await;
    cdn.add("k", encrypted_file());
    let file = open(&cdn, "k", params()).await;
    let r = tokio::task::spawn_blocking(move || {
        let mut bad = KEY;
        bad[0] ^= 1;
        open_chain(file, bad).map(|_| ())
    })
    .await
    .unwrap();
    let e = r.unwrap_err();
    assert_eq!(e.kind, PcmErrorKind::Decode, "{e}");
}

#[test]
fn plain_ogg_without_spotify_header_also_works() {
    // A stream that starts with the Vorbis BOS page is decoded from byte 0.
    let plain = fixture("vorbis_44k_stereo.ogg");
    let mut enc = plain.clone();
    let mut c = ctr::Ctr128BE::<aes::Aes128>::new(&KEY.into(), &AUDIO_IV.into());
    c.apply_keystream(&mut enc);
    let (data, mut sub) = read_header(AudioDecrypt::new(KEY, Cursor::new(enc))).unwrap();
    assert_eq!(data, NormalisationData::default());
    assert_eq!(sub.offset(), 0);
    let mut all = Vec::new();
    sub.read_to_end(&mut all).unwrap();
    assert_eq!(all, plain);
    sub.seek(SeekFrom::Start(0)).unwrap();
    let len = plain.len() as u64;
    let mut src = SymphoniaSource::new(sub, Container::Ogg, Some(len)).unwrap();
    assert!(decode_all(&mut src) == reference_pcm());
}

/// Decode speed of the chain from memory (decrypt + header + Vorbis). Run by hand:
/// `cargo test --release --lib decode_throughput -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn decode_throughput() {
    let enc = encrypted_file();
    let runs = 20;
    let t0 = Instant::now();
    let mut frames = 0usize;
    for _ in 0..runs {
        let (_, sub) = read_header(AudioDecrypt::new(KEY, Cursor::new(enc.clone()))).unwrap();
        let len = enc.len() as u64 - sub.offset();
        let mut src = SymphoniaSource::new(sub, Container::Ogg, Some(len)).unwrap();
        frames += decode_all(&mut src).len() / 2;
    }
    let secs = t0.elapsed().as_secs_f64();
    let audio_secs = frames as f64 / 44_100.0;
    eprintln!(
        "decoded {audio_secs:.0} s of audio in {secs:.2} s: {:.0}× real time",
        audio_secs / secs
    );
}
