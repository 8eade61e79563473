//! `make bench`: audio and player benchmarks against `tonearm sim` running as a separate
//! process on loopback (so CPU time and memory below are the client's alone).
//!
//! * play → first sample at the sink: cold (new token provider and spclient: client-token,
//!   login5, metadata, storage-resolve, CDN, audio key, header, decoder) and warm (tokens and
//!   metadata cached; the file is fetched again — there is no audio cache yet);
//! * CPU seconds per minute of 160 kbps audio through the whole pipeline (fetch, decrypt,
//!   decode, player, gain) into an unpaced null sink;
//! * decrypt + decode throughput on one core, as × real time;
//! * peak RSS of the client (VmHWM).
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::expect_used)]

use std::io::Cursor;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tonearm::api::metadata::{choose_file, Bitrate};
use tonearm::api::{SpClient, TokenProvider};
use tonearm::audio::decode::{Container, SymphoniaSource};
use tonearm::audio::decrypt::AudioDecrypt;
use tonearm::audio::header::read_header;
use tonearm::audio::pcm::PcmSource;
use tonearm::config::Endpoints;
use tonearm::id::{SpotifyId, SpotifyUri};
use tonearm::player::spotify::SpotifyLoader;
use tonearm::player::{Player, PlayerConfig, PlayerEvent};
use tonearm::session::{Credentials, Session, SessionConfig};
use tonearm_testkit::process::{account_in, endpoints_from_info, SimProcess};
use tonearm_testkit::sink::Discard;
use tonearm_testkit::{cpu_seconds, median, ms, vm_mib, Recording, Tape};

struct Env {
    info: serde_json::Value,
    endpoints: Endpoints,
    session: Session,
}

async fn connect(info: serde_json::Value) -> Env {
    let endpoints = endpoints_from_info(&info);
    let (username, password) = account_in(&info, "premium");
    let session = tonearm_testkit::sign_in_with(
        SessionConfig::new(endpoints.clone(), tonearm::config::device_id_for("bench")),
        Credentials::with_password(username, password),
    )
    .await;
    Env {
        info,
        endpoints,
        session,
    }
}

fn services(env: &Env) -> (SpClient, reqwest::Client) {
    let http = reqwest::Client::new();
    let tokens = TokenProvider::new(env.session.clone(), env.endpoints.clone(), http.clone());
    (
        SpClient::from_session(env.session.clone(), tokens, &env.endpoints, http.clone()),
        http,
    )
}

fn demo_ids(env: &Env) -> Vec<SpotifyId> {
    env.info["demo_tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| SpotifyUri::parse(t["uri"].as_str().unwrap()).unwrap().id)
        .collect()
}

/// Load → the first sample at the sink (each load cuts what played before), then stop.
async fn first_sample(
    player: &Player,
    events: &mut tokio::sync::mpsc::UnboundedReceiver<PlayerEvent>,
    tape: &Mutex<Recording>,
    id: SpotifyId,
) -> Duration {
    let t = Instant::now();
    player.load(vec![id], 0, 0, true);
    loop {
        let seen = tape.lock().unwrap().first_write_after(t);
        if let Some(at) = seen {
            player.stop();
            while let Ok(Some(ev)) =
                tokio::time::timeout(Duration::from_millis(200), events.recv()).await
            {
                if matches!(ev, PlayerEvent::Stopped) {
                    break;
                }
            }
            return at - t;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

/// A player over `loader` writing to an unpaced tape that keeps only the timing of writes.
fn spawn_player(
    loader: SpotifyLoader,
) -> (
    Player,
    tokio::sync::mpsc::UnboundedReceiver<PlayerEvent>,
    Arc<Mutex<Recording>>,
) {
    let (factory, tape) = Tape::unpaced().timing_only().factory();
    let (player, events) = Player::spawn(
        Arc::new(loader),
        factory,
        PlayerConfig::default(),
        tokio::runtime::Handle::current(),
    );
    (player, events, tape)
}

async fn play_latency(env: &Env) {
    let ids = demo_ids(env);
    let mut cold = Vec::new();
    for i in 0..15 {
        let (sp, http) = services(env);
        let loader = SpotifyLoader::new(env.session.clone(), sp, http, Bitrate::B160);
        let (player, mut events, tape) = spawn_player(loader);
        cold.push(first_sample(&player, &mut events, &tape, ids[i % ids.len()]).await);
        player.shutdown().await;
    }
    let (sp, http) = services(env);
    let loader = SpotifyLoader::new(env.session.clone(), sp, http, Bitrate::B160);
    let (player, mut events, tape) = spawn_player(loader);
    first_sample(&player, &mut events, &tape, ids[0]).await;
    let mut warm = Vec::new();
    for _ in 0..15 {
        warm.push(first_sample(&player, &mut events, &tape, ids[0]).await);
    }
    player.shutdown().await;
    println!(
        "play -> first sample at the sink (160 kbps, loopback): cold median {:.1} ms (max {:.1}), warm median {:.1} ms",
        ms(median(&mut cold)),
        ms(*cold.iter().max().unwrap()),
        ms(median(&mut warm))
    );
}

async fn cpu_per_minute(env: &Env) {
    let (sp, http) = services(env);
    let loader = SpotifyLoader::new(env.session.clone(), sp, http, Bitrate::B160);
    let (player, mut events) = Player::spawn(
        Arc::new(loader),
        Discard::factory(),
        PlayerConfig::default(),
        tokio::runtime::Handle::current(),
    );
    let ids = demo_ids(env);
    let mut queue = Vec::new();
    for _ in 0..4 {
        queue.extend(ids.iter().copied());
    }
    let audio_ms: u64 = env.info["demo_tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["duration_ms"].as_u64().unwrap())
        .sum::<u64>()
        * 4;
    let cpu0 = cpu_seconds("self");
    let t = Instant::now();
    player.load(queue, 0, 0, true);
    while let Some(ev) = events.recv().await {
        if matches!(ev, PlayerEvent::EndOfQueue) {
            break;
        }
    }
    let wall = t.elapsed();
    let cpu = cpu_seconds("self") - cpu0;
    player.shutdown().await;
    let minutes = audio_ms as f64 / 60_000.0;
    println!(
        "whole pipeline, 160 kbps -> null sink: {:.2} CPU s per minute of audio ({:.1} min in {:.2} s wall, {:.2} % of a core in real time)",
        cpu / minutes,
        minutes,
        wall.as_secs_f64(),
        cpu / (minutes * 60.0) * 100.0
    );
}

async fn decode_throughput(env: &Env) {
    let (sp, http) = services(env);
    let ids = demo_ids(env);
    let mut encrypted = Vec::new();
    for id in &ids {
        let track = sp.track(*id).await.unwrap();
        let file = choose_file(&track.files, Bitrate::B160).unwrap();
        let url = sp
            .storage_resolve(file.file_id, file.format)
            .await
            .unwrap()
            .remove(0);
        let bytes = http
            .get(&url)
            .header("Range", "bytes=0-")
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let key = env.session.audio_key(*id, file.file_id).await.unwrap();
        encrypted.push((bytes.to_vec(), key.0));
    }
    let t = Instant::now();
    let mut frames = 0u64;
    for _ in 0..3 {
        for (bytes, key) in &encrypted {
            let len = bytes.len() as u64;
            let (_, body) =
                read_header(AudioDecrypt::new(*key, Cursor::new(bytes.clone()))).unwrap();
            let mut src = SymphoniaSource::new(body, Container::Ogg, Some(len - 167)).unwrap();
            let mut out = Vec::with_capacity(8192);
            loop {
                out.clear();
                let n = src.read(&mut out, 4096).unwrap();
                if n == 0 {
                    break;
                }
                frames += n as u64;
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "decrypt + decode, 160 kbps Vorbis, one core: {:.0}x real time ({:.1} s of audio in {:.3} s)",
        frames as f64 / 44_100.0 / secs,
        frames as f64 / 44_100.0,
        secs
    );
}

fn main() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tonearm"));
    command.args(["--log-file", "/dev/null", "sim"]);
    let sim = SimProcess::spawn(command);
    let info = sim.info.clone();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let env = connect(info).await;
        play_latency(&env).await;
        cpu_per_minute(&env).await;
        decode_throughput(&env).await;
    });
    println!(
        "peak RSS of the client (VmHWM): {:.1} MB",
        vm_mib("self", "VmHWM")
    );
    drop(sim);
}
