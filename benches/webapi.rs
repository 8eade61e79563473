//! `make bench`: Web API and library-cache benchmarks on loopback against the simulator
//! (product budget, product.md §3):
//!
//! * cold load of a 10k-track Liked Songs (200 pages of 50) with 20 ms injected latency per
//!   request — bar ≤ 2 s — with the default 8 pages in flight, and sequentially for scale;
//! * a full library refresh (10k liked + 200 playlists of 10, with their items) at 20 ms;
//! * warm start: loading that library from the on-disk cache — bar ≤ 20 ms.
//!
//! A plain bench binary (no criterion) to keep the build lean; figures go to README/CHANGELOG.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use tonearm::api::library;
use tonearm::api::{TokenProvider, WebApi, WebApiPolicy};
use tonearm::session::Session;
use tonearm_sim::{CatalogSpec, HttpFaults, SimConfig, Simulator};
use tonearm_testkit::{median, ms};

async fn client(sim: &Simulator, policy: WebApiPolicy) -> (Session, WebApi) {
    // The first premium account (`tonearm-demo`) is the one the scale settings fill.
    let session = tonearm_testkit::sign_in(sim, "bench").await;
    let http = reqwest::Client::new();
    let tokens = TokenProvider::new(
        session.clone(),
        tonearm_testkit::endpoints(sim),
        http.clone(),
    );
    tokens.access_token().await.unwrap(); // not part of the load
    let api = WebApi::with_policy(tokens, sim.info().web_api.clone(), http, policy);
    (session, api)
}

async fn run() {
    let sim = tonearm_testkit::sim_with(SimConfig {
        catalog: CatalogSpec::Synthetic { tracks: 10_000 },
        library_tracks: 10_000,
        library_playlists: 200,
        ..SimConfig::default()
    })
    .await;
    let latency = Duration::from_millis(20);
    let (session, api) = client(&sim, WebApiPolicy::default()).await;
    sim.set_http_faults(HttpFaults {
        latency,
        ..HttpFaults::default()
    });

    // One request, to show the injected latency applies to the Web API.
    let t = Instant::now();
    api.me().await.unwrap();
    println!(
        "webapi  one request (GET /me) with {} ms injected: {:.1} ms",
        latency.as_millis(),
        ms(t.elapsed())
    );

    let mut cold = vec![];
    for _ in 0..3 {
        let t = Instant::now();
        let liked = api.saved_tracks().all().await.unwrap();
        cold.push(t.elapsed());
        assert_eq!(liked.len(), 10_000);
    }
    println!(
        "webapi  cold load, 10k liked songs (200 pages of 50), 20 ms latency, 8 in flight: \
         median {:.0} ms (bar ≤ 2000 ms)",
        ms(median(&mut cold))
    );

    let (s2, seq) = client(
        &sim,
        WebApiPolicy {
            max_in_flight: 1,
            ..WebApiPolicy::default()
        },
    )
    .await;
    let t = Instant::now();
    let n = seq.saved_tracks().all().await.unwrap().len();
    println!(
        "webapi  same, sequential (1 in flight), for scale: {:.0} ms ({n} tracks)",
        ms(t.elapsed())
    );
    s2.shutdown().await;

    let t = Instant::now();
    let lib = library::refresh(&api, None).await.unwrap();
    let full = t.elapsed();
    let items: usize = lib
        .playlists
        .iter()
        .map(|p| p.items.as_ref().map_or(0, Vec::len))
        .sum();
    println!(
        "library full refresh (10k liked + {} playlists, {items} playlist items), 20 ms: {:.0} ms",
        lib.playlists.len(),
        ms(full)
    );
    let t = Instant::now();
    let again = library::refresh(&api, Some(&lib)).await.unwrap();
    println!(
        "library refresh with nothing changed (playlist items reused by snapshot_id): {:.0} ms",
        ms(t.elapsed())
    );
    assert_eq!(again.playlists, lib.playlists);

    let dir = tempfile::tempdir().unwrap();
    let path = library::cache_file(dir.path(), &lib.username);
    let t = Instant::now();
    lib.save(&path).unwrap();
    let save = t.elapsed();
    let size = std::fs::metadata(&path).unwrap().len();
    let mut warm = vec![];
    for _ in 0..20 {
        let t = Instant::now();
        let l = library::load_cached(&path).unwrap();
        warm.push(t.elapsed());
        assert_eq!(l.saved_tracks.len(), 10_000);
    }
    println!(
        "library warm start: load_cached of {} tracks, {} playlists ({:.1} MB JSON): median \
         {:.1} ms (bar ≤ 20 ms); atomic save {:.1} ms",
        lib.tracks.len(),
        lib.playlists.len(),
        size as f64 / 1e6,
        ms(median(&mut warm)),
        ms(save)
    );

    session.shutdown().await;
    sim.shutdown().await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}
