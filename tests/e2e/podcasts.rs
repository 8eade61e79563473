//! Podcasts end to end (issue 14): an episode plays sample-exactly through the WAV sink over
//! the same metadata → storage-resolve → CDN → audio key → decrypt path as tracks; `tonearm
//! play` (the real binary, `--demo`) of a show and of a playlist plays every item; an episode
//! stopped at 0:07 in one `tonearm play` process resumes there in the next one (same state
//! directory, `tonearm sim` in its own process), and one played to its end starts from the top
//! again; a phone plays the show on a Connect device, which reports the episode, and the Web
//! API's resume point is where the device paused; the daemon resumes an episode a phone starts
//! again from the top; the TUI (in tmux) opens the demo show's page and plays an episode.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tonearm::api::metadata::Bitrate;
use tonearm::audio::sink::{f32_to_i16, SinkSpec};
use tonearm::player::{Player, PlayerConfig, PlayerEvent};
use tonearm::resume::{resume_file, ResumePoints};
use tonearm_sim::{SimConfig, Simulator};
use tonearm_testkit::process::Home;

use crate::audio::{id_of, loader, reference_pcm};
use crate::common::{sim_with, within};

const BIN: &str = env!("CARGO_BIN_EXE_tonearm");
/// Generous: the machine running the tests may be loaded.
const WAIT: Duration = Duration::from_secs(60);
/// Samples (both channels) per second of 44.1 kHz stereo.
const SAMPLES_PER_S: usize = 2 * 44_100;

fn read_wav_i16(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[0..4], b"RIFF");
    let data_at = bytes.windows(4).position(|w| w == b"data").unwrap();
    let len = u32::from_le_bytes(bytes[data_at + 4..data_at + 8].try_into().unwrap()) as usize;
    bytes[data_at + 8..data_at + 8 + len]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

fn reference_i16(s: &Simulator, uri: &str) -> Vec<i16> {
    reference_pcm(s, uri, 1)
        .into_iter()
        .map(f32_to_i16)
        .collect()
}

/// The demo world's ids are derived from names, so an in-process simulator knows the URIs the
/// binary's `--demo` simulator serves.
async fn demo_info() -> (Simulator, tonearm_sim::SimInfo) {
    let s = sim_with(SimConfig::default()).await;
    let info = s.info().clone();
    (s, info)
}

#[tokio::test]
async fn an_episode_plays_sample_exactly_through_the_wav_sink() {
    let s = sim_with(SimConfig::default()).await;
    let l = loader(&s, Bitrate::B160).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("episode.wav");
    let (player, mut events) = Player::spawn(
        Arc::new(l),
        tonearm::audio::output::factory(SinkSpec::Wav(path.display().to_string())),
        PlayerConfig {
            initial_volume: u16::MAX,
            ..PlayerConfig::default()
        },
        tokio::runtime::Handle::current(),
    );
    let ep = s.info().demo_episodes[0].clone();
    player.load(vec![id_of(&ep.uri)], 0, 0, true);
    let mut seen = Vec::new();
    within(60, async {
        while let Some(ev) = events.recv().await {
            let end = matches!(ev, PlayerEvent::EndOfQueue);
            seen.push(ev);
            if end {
                break;
            }
        }
    })
    .await;
    player.shutdown().await;
    let changed: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            PlayerEvent::TrackChanged(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(changed.len(), 1, "{seen:?}");
    assert_eq!(changed[0].name, ep.name);
    assert_eq!(
        changed[0].album, "Tonearm Test Radio",
        "the show stands for the album"
    );
    assert_eq!(changed[0].duration_ms, ep.duration_ms);
    assert!(
        !seen.iter().any(|e| matches!(e, PlayerEvent::Error { .. })),
        "{seen:?}"
    );
    let got = read_wav_i16(&path);
    let want = reference_i16(&s, &ep.uri);
    assert_eq!(
        got.len(),
        want.len(),
        "no inserted silence, no dropped samples"
    );
    assert!(got == want, "the episode's samples exactly");
}

fn play_demo(home: &Home, args: &[&str]) -> std::process::Output {
    home.command()
        .args(["--demo", "play"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[tokio::test]
async fn play_of_a_show_and_of_a_playlist_plays_every_item() {
    let (s, info) = demo_info().await;
    let home = Home::new(BIN);
    let wav = home.path().join("show.wav");
    let sink = format!("wav:{}", wav.display());
    let out = play_demo(
        &home,
        &[&info.demo_show, "--sink", &sink, "--bitrate", "160"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("Playing 3 track(s)"), "{stdout}");
    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with('▶')).collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    for (line, ep) in lines.iter().zip(&info.demo_episodes) {
        assert!(line.contains(&ep.name), "{line} / {}", ep.name);
    }
    let want: usize = info
        .demo_episodes
        .iter()
        .map(|e| reference_i16(&s, &e.uri).len())
        .sum();
    assert_eq!(read_wav_i16(&wav).len(), want, "every episode, whole");
    assert!(
        !resume_file(&home.path().join("state").join("tonearm")).exists(),
        "--demo touches no files"
    );

    let wav = home.path().join("playlist.wav");
    let sink = format!("wav:{}", wav.display());
    // An open.spotify.com link, as a user pastes it.
    let link = info
        .demo_playlist
        .replace("spotify:playlist:", "https://open.spotify.com/playlist/")
        + "?si=abc";
    let out = play_demo(&home, &[&link, "--sink", &sink, "--bitrate", "160"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("Playing 8 track(s)"), "{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with('▶')).count(), 8);
    // "Demo Mix" starts with "Middle C Sunrise".
    let first = stdout.lines().find(|l| l.starts_with('▶')).unwrap();
    assert!(first.contains("Middle C Sunrise"), "{first}");
    assert!(
        read_wav_i16(&wav).len() > 8 * 9 * SAMPLES_PER_S,
        "eight tracks of 10 s or more"
    );
}

/// Polls `path`'s resume point for `id` until `f` holds (or fails after [`WAIT`]).
fn wait_point(path: &Path, id: tonearm::id::SpotifyId, f: impl Fn(u64) -> bool) -> u64 {
    let t0 = Instant::now();
    loop {
        if let Some(p) = ResumePoints::load(path).get(id) {
            if f(p) {
                return p;
            }
        }
        assert!(t0.elapsed() < WAIT, "no matching resume point in {path:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn an_episode_stopped_at_0_07_resumes_there_in_the_next_run() {
    use tonearm_testkit::process::{account_in, endpoint_args, output_with_stdin, SimProcess};
    // The reference audio (ids are the same in every simulator).
    let (s, _) = demo_info().await;
    // `--demo` touches no files, so: `tonearm sim` in its own process and a signed-in home.
    let home = Home::new(BIN);
    let mut sim_cmd = home.command();
    sim_cmd.arg("sim");
    let sim = SimProcess::spawn(sim_cmd);
    let args = endpoint_args(&sim.info);
    let (user, password) = account_in(&sim.info, "premium");
    let mut login = home.command();
    login
        .args(&args)
        .args(["login", "--username", &user, "--password-stdin"]);
    let out = output_with_stdin(&mut login, Some(&format!("{password}\n")));
    assert!(out.status.success(), "login: {out:?}");
    let uri = sim.info["demo_episodes"][0]["uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let duration_ms = sim.info["demo_episodes"][0]["duration_ms"]
        .as_u64()
        .unwrap();
    let id = id_of(&uri);
    let points = resume_file(&home.path().join("state").join("tonearm"));

    // First run: the null sink plays in real time; stopped (Ctrl-C) at about 0:07 (the point
    // is saved once a second while playing, so the signal goes when it passes 0:06.5).
    let child = home
        .command()
        .args(&args)
        .args(["play", &uri, "--sink", "null"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let points_path = points.clone();
    tokio::task::spawn_blocking(move || wait_point(&points_path, id, |p| p >= 6_500))
        .await
        .unwrap();
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Stopped."), "{stdout}");
    let stopped_at = ResumePoints::load(&points).get(id).expect("a resume point");
    assert!(
        (6_500..duration_ms - 2_000).contains(&stopped_at),
        "stopped at {stopped_at} ms"
    );

    // Second run, a new process on the same state directory: resumes there.
    let wav = home.path().join("resumed.wav");
    let sink = format!("wav:{}", wav.display());
    let out = home
        .command()
        .args(&args)
        .args(["play", &uri, "--sink", &sink, "--bitrate", "160"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secs = stopped_at / 1000;
    assert!(
        stdout.contains(&format!("Resuming at 0:{secs:02}.")),
        "{stdout}"
    );
    let got = read_wav_i16(&wav);
    let want = reference_i16(&s, &uri);
    let start = want.len() - got.len();
    let start_ms = (start / 2) as u64 * 1000 / 44_100;
    assert!(
        start_ms.abs_diff(stopped_at) <= 1_000,
        "resumed at {start_ms} ms, stopped at {stopped_at} ms"
    );
    eprintln!("stopped at {stopped_at} ms; the next run resumed at {start_ms} ms");
    // Past the seek's first packets the audio is the episode's own, sample for sample.
    let tail = 2 * SAMPLES_PER_S;
    assert!(
        got[got.len() - tail..] == want[want.len() - tail..],
        "the resumed audio is the episode's"
    );
    // Played to its end: forgotten, the next run starts from the top.
    assert_eq!(ResumePoints::load(&points).get(id), None);
}

/// The status once `f` holds (fails after [`WAIT`]).
async fn status_until(
    st: &mut tokio::sync::watch::Receiver<tonearm::player::PlayerStatus>,
    what: &str,
    f: impl Fn(&tonearm::player::PlayerStatus) -> bool,
) -> tonearm::player::PlayerStatus {
    let t0 = Instant::now();
    loop {
        let now = st.borrow_and_update().clone();
        if f(&now) {
            return now;
        }
        assert!(t0.elapsed() < WAIT, "waiting for {what}: {now:?}");
        let _ = tokio::time::timeout(Duration::from_millis(500), st.changed()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connect_device_plays_a_show_and_spotify_keeps_the_resume_point() {
    use tonearm::player::PlayState;
    use tonearm_sim::remote::Phone;
    use tonearm_testkit::node::Node;

    let s = crate::common::sim().await;
    let info = s.info().clone();
    let ep = info.demo_episodes[1].clone();
    let ep_id = id_of(&ep.uri);
    let b = Node::start(&s, "e2e-podcast-speaker").await;
    let mut phone = Phone::connect(tonearm_testkit::phone_config(&s))
        .await
        .expect("phone signs in");
    let b_id = b.id.clone();
    phone
        .wait_for(Duration::from_secs(30), |c| c.device.contains_key(&b_id))
        .await
        .expect("the phone sees the speaker");
    let mut st = b.status();
    // The phone plays the show on the device from its second episode, 3 s in.
    phone
        .play(Some(&b.id), &info.demo_show, Some(1), Some(3000))
        .await
        .expect("play");
    let playing = status_until(&mut st, "the second episode playing", |st| {
        st.state == PlayState::Playing
            && st.track.as_ref().is_some_and(|t| t.id == ep_id)
            && st.position_ms >= 4_000
    })
    .await;
    assert_eq!(playing.track.as_ref().unwrap().name, ep.name);
    // Reported as an episode: the phone sees spotify:episode:….
    let uri = ep.uri.clone();
    phone
        .wait_for(Duration::from_secs(30), |c| {
            c.player_state
                .as_ref()
                .and_then(|p| p.track.as_ref())
                .is_some_and(|t| t.uri == uri)
        })
        .await
        .expect("the cluster names the episode");
    phone.pause(Some(&b.id)).await.expect("pause");
    let paused = status_until(&mut st, "paused", |st| st.state == PlayState::Paused).await;

    // Spotify's side (the Web API's resume_point) has where the device paused.
    let token = s
        .issue_login5_token(&tonearm_testkit::premium(&s).username)
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/episodes/{}", info.web_api, id_of(&ep.uri).to_base62());
    let t0 = Instant::now();
    let point = loop {
        let v: serde_json::Value = http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let p = v["resume_point"]["resume_position_ms"].as_u64().unwrap();
        if p.abs_diff(paused.position_ms) <= 200 {
            break p;
        }
        assert!(
            t0.elapsed() < WAIT,
            "resume point {p}, paused at {}",
            paused.position_ms
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!(
        "paused at {} ms; Spotify's resume point {point} ms",
        paused.position_ms
    );
    phone.close().await;
    b.stop().await;
}

/// Polls the phone's view of the account's playback until `f` holds (fails after [`WAIT`]).
async fn phone_until(
    phone: &tonearm_sim::remote::Phone,
    what: &str,
    f: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let t0 = Instant::now();
    loop {
        if let Ok(v) = phone.status().await {
            if f(&v) {
                return v;
            }
            assert!(t0.elapsed() < WAIT, "waiting for {what}: {v}");
        }
        assert!(t0.elapsed() < WAIT, "waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_resumes_an_episode_a_phone_starts_again_from_the_top() {
    use tonearm_sim::remote::{Phone, PhoneConfig};
    use tonearm_testkit::process::{first_stdout_lines, http_url_in, KillOnDrop};
    const NAME: &str = "Pod Daemon";
    let (_s, info) = demo_info().await;
    let ep = info.demo_episodes[1].clone();
    let home = Home::new(BIN);
    let mut daemon = KillOnDrop(
        home.command()
            .args(["--demo", "daemon", "--sink", "null", "--name", NAME])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let lines = within(60, first_stdout_lines(&mut daemon.0, 2)).await;
    assert_eq!(lines.len(), 2, "{lines:?}\nlog:\n{}", home.log());
    let base = http_url_in(&lines[0]).unwrap();
    let phone = within(
        20,
        Phone::connect(PhoneConfig::new(&base, "tonearm-demo", "tonearm-demo-pass")),
    )
    .await
    .unwrap();
    let t0 = Instant::now();
    while !phone
        .devices()
        .await
        .is_ok_and(|l| l.iter().any(|d| d.name == NAME))
    {
        assert!(t0.elapsed() < WAIT, "the daemon registers\n{}", home.log());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The phone plays the show's second episode on the daemon, 3 s in, then pauses past 5 s.
    within(
        20,
        phone.play(Some(NAME), &info.demo_show, Some(1), Some(3000)),
    )
    .await
    .unwrap();
    phone_until(&phone, "the episode playing past 0:05", |v| {
        v["track_uri"] == ep.uri.as_str()
            && v["is_playing"] == true
            && v["position_ms"].as_i64().unwrap_or(0) >= 5_000
    })
    .await;
    within(20, phone.pause(Some(NAME))).await.unwrap();
    let paused = phone_until(&phone, "paused", |v| v["is_paused"] == true).await;
    let paused_at = paused["position_ms"].as_i64().unwrap();
    // Started again with no position (as Spotify's apps do for an episode): the daemon
    // resumes it where it was paused.
    within(20, phone.play(Some(NAME), &info.demo_show, Some(1), None))
        .await
        .unwrap();
    let resumed = phone_until(&phone, "the episode playing again", |v| {
        v["track_uri"] == ep.uri.as_str() && v["is_playing"] == true
    })
    .await;
    let at = resumed["position_ms"].as_i64().unwrap();
    assert!(
        at >= paused_at - 500,
        "resumed at {at} ms, paused at {paused_at} ms\n{}",
        home.log()
    );
    eprintln!("daemon: paused at {paused_at} ms, started again at {at} ms");
    phone.close().await;
}

#[test]
fn the_tui_opens_a_show_page_and_plays_an_episode() {
    use tonearm_testkit::require_tool;
    use tonearm_testkit::tmux::{clock_seconds, clock_times};
    if !require_tool(
        "tmux",
        "the show page test types into the TUI in a tmux pane (scripts/setup.sh test installs it)",
    ) {
        return;
    }
    let home = Home::new(BIN);
    let tmux = home.tmux(
        (120, 40),
        &format!("exec env TERM=xterm-256color {BIN} --demo --sink null"),
    );
    let wait = |what: &str, f: &dyn Fn(&str) -> bool| {
        tmux.wait_for(
            what,
            Duration::from_secs(90),
            || format!("log:\n{}", home.log()),
            f,
        )
    };
    wait("the demo library", &|s| s.contains("Demo Mix"));
    // The library's sections: playlists, liked songs, albums, artists, podcasts.
    // `]` moves to the next section (the default keymap; `l` too).
    tmux.keys(&["]", "]", "]", "]"]);
    wait("the saved show", &|s| s.contains("Tonearm Test Ra"));
    tmux.keys(&["Enter"]);
    wait("the show page", &|s| {
        s.contains("Podcast · Tonearm Sim · 3 episodes") && s.contains("The Joint Between")
    });
    tmux.keys(&["Down", "Enter"]);
    // The now-playing bar (the bottom lines) names the episode and its clock runs.
    wait("the second episode playing", &|s| {
        let bottom: Vec<&str> = s.lines().rev().take(6).collect();
        bottom.iter().any(|l| l.contains("Overtones Explain"))
            && bottom
                .iter()
                .flat_map(|l| clock_times(l))
                .filter_map(clock_seconds)
                .any(|t| (2..12).contains(&t))
    });
    tmux.keys(&["q"]);
}
