//! Spotify Connect end to end against the simulator: two tonearm instances on one account (a
//! controller moves playback to a daemon-like receiver and drives it; the receiver's audio is
//! checked against reference decodes after each command), the scripted phone driving a
//! receiver through every command, dealer reconnects, and `tonearm daemon` as a child process.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tonearm::api::metadata::Bitrate;
use tonearm::api::{SpClient, TokenProvider, WebApi};
use tonearm::audio::sink::{Sink, SinkError, SinkFactory};
use tonearm::config::Config;
use tonearm::connect::{
    apply, Connect, ConnectConfig, ConnectEvent, Controller, Device, RemoteCommand, RemoteControl,
};
use tonearm::player::spotify::SpotifyLoader;
use tonearm::player::{PlayState, Player, PlayerConfig, PlayerStatus};
use tonearm::services::Services;
use tonearm::session::{Credentials, Session, SessionConfig};
use tonearm::sim::Simulator;

use crate::audio::{id_of, reference_pcm};
use crate::common::{account, sim, within};

/// A sink that records every sample, paced at real time (so pause and seek mean something).
struct Recorder {
    out: Arc<Mutex<Vec<f32>>>,
    frames: u64,
}

impl Sink for Recorder {
    fn start(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    fn write(&mut self, samples: &[f32]) -> Result<(), SinkError> {
        self.out.lock().unwrap().extend_from_slice(samples);
        self.frames += (samples.len() / 2) as u64;
        std::thread::sleep(Duration::from_secs_f64(
            samples.len() as f64 / 2.0 / 44_100.0,
        ));
        Ok(())
    }
    fn clear(&mut self) {}
    fn set_paused(&mut self, _paused: bool) {}
    fn stop(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    fn played_frames(&self) -> u64 {
        self.frames
    }
}

pub struct Node {
    pub id: String,
    pub services: Services,
    pub connect: Arc<Connect>,
    pub out: Arc<Mutex<Vec<f32>>>,
    /// Every command the node applied, in order.
    pub applied: mpsc::UnboundedReceiver<RemoteCommand>,
}

impl Node {
    pub fn status(&self) -> watch::Receiver<PlayerStatus> {
        self.services.player.status()
    }

    pub fn samples(&self) -> usize {
        self.out.lock().unwrap().len()
    }

    pub async fn stop(self) {
        self.connect.shutdown().await;
        self.services.shutdown().await;
    }
}

/// A signed-in tonearm: services over a recording sink, Connect, and an apply loop (what the
/// daemon does).
pub async fn node(s: &Simulator, name: &str) -> Node {
    let a = account(s, "premium");
    let endpoints = tonearm::demo::endpoints_for(s).unwrap();
    let device_id = tonearm::config::device_id_for(name);
    let session = within(
        20,
        Session::connect(
            SessionConfig::new(endpoints.clone(), device_id.clone()),
            Credentials::with_password(&a.username, &a.password),
        ),
    )
    .await
    .expect("login");
    let http = reqwest::Client::new();
    let tokens = TokenProvider::new(session.clone(), endpoints.clone(), http.clone());
    let spclient =
        SpClient::from_session(session.clone(), tokens.clone(), &endpoints, http.clone());
    let web_api = WebApi::new(tokens.clone(), endpoints.web_api.clone(), http.clone());
    let loader = SpotifyLoader::new(
        session.clone(),
        spclient.clone(),
        http.clone(),
        Bitrate::B160,
    );
    let out = Arc::new(Mutex::new(Vec::new()));
    let o = out.clone();
    let factory: SinkFactory =
        Box::new(move || Ok(Box::new(Recorder { out: o, frames: 0 }) as Box<dyn Sink>));
    let (player, mut player_events) = Player::spawn(
        Arc::new(loader),
        factory,
        PlayerConfig {
            initial_volume: u16::MAX,
            ..PlayerConfig::default()
        },
        tokio::runtime::Handle::current(),
    );
    tokio::spawn(async move { while player_events.recv().await.is_some() {} });
    let services = Services {
        config: Config {
            device_name: name.into(),
            device_id: device_id.clone(),
            endpoints,
        },
        session,
        http,
        tokens,
        spclient,
        web_api,
        player: player.clone(),
    };
    let mut cc = ConnectConfig::new(device_id.clone(), name);
    cc.initial_volume = u16::MAX;
    let (connect, mut events) = within(20, Connect::start(&services, cc))
        .await
        .expect("connect starts");
    let (tx, applied) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if let ConnectEvent::Command(c) = ev {
                apply(&player, &c);
                let _ = tx.send(c);
            }
        }
    });
    Node {
        id: device_id,
        services,
        connect,
        out,
        applied,
    }
}

/// Waits (up to `secs`) until the watch's value satisfies `f`; returns it.
pub async fn until<T: Clone>(
    rx: &mut watch::Receiver<T>,
    secs: u64,
    what: &str,
    f: impl Fn(&T) -> bool,
) -> T {
    let fut = async {
        loop {
            {
                let v = rx.borrow_and_update();
                if f(&v) {
                    return v.clone();
                }
            }
            if rx.changed().await.is_err() {
                panic!("watch closed while waiting for {what}");
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// The next applied command matching `f` (others are skipped).
pub async fn next_applied(
    rx: &mut mpsc::UnboundedReceiver<RemoteCommand>,
    what: &str,
    f: impl Fn(&RemoteCommand) -> bool,
) -> RemoteCommand {
    let fut = async {
        loop {
            match rx.recv().await {
                Some(c) if f(&c) => return c,
                Some(_) => {}
                None => panic!("command stream ended waiting for {what}"),
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(30), fut).await {
        Ok(c) => c,
        Err(_) => panic!("timed out waiting for the command {what}"),
    }
}

/// Waits until the node has recorded at least `n` samples.
pub async fn until_samples(node: &Node, n: usize) {
    within(60, async {
        while node.samples() < n {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// Finds the frame of `reference` where `win` (interleaved stereo, non-silent) starts, scaled by
/// `gain`, among `frames`.
pub fn find(
    win: &[f32],
    reference: &[f32],
    gain: f32,
    frames: std::ops::Range<usize>,
) -> Option<usize> {
    assert!(win.iter().any(|s| s.abs() > 1e-3), "window is silent");
    frames.into_iter().find(|&f| {
        let j = f * 2;
        j + win.len() <= reference.len()
            && win
                .iter()
                .zip(&reference[j..])
                .all(|(a, b)| (a - b * gain).abs() < 1e-4)
    })
}

pub fn ms_to_frame(ms: u64) -> usize {
    (ms * 44_100 / 1000) as usize
}

pub fn frame_to_ms(f: usize) -> u64 {
    f as u64 * 1000 / 44_100
}

/// The frame of the reference a window of `node`'s output taken at sample `at` matches, looking
/// `around_ms` ± `slack_ms`.
pub fn locate(
    node: &Node,
    at: usize,
    reference: &[f32],
    gain: f32,
    around_ms: u64,
    slack_ms: u64,
) -> Option<usize> {
    let out = node.out.lock().unwrap();
    let win = &out[at..at + 256];
    let lo = ms_to_frame(around_ms.saturating_sub(slack_ms));
    let hi = ms_to_frame(around_ms + slack_ms);
    find(win, reference, gain, lo..hi)
}

fn device_of(list: &[Device], id: &str) -> Option<Device> {
    list.iter().find(|d| d.id == id).cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn controller_moves_playback_to_a_receiver_and_drives_it() {
    let s = sim().await;
    let tracks: Vec<String> = s.info().demo_tracks[..3]
        .iter()
        .map(|t| t.uri.clone())
        .collect();
    let dur0 = s.info().demo_tracks[0].duration_ms;
    let ref0 = reference_pcm(&s, &tracks[0], 1);
    let ref1 = reference_pcm(&s, &tracks[1], 1);
    let mut a = node(&s, "e2e-connect-controller").await;
    let mut b = node(&s, "e2e-connect-receiver").await;

    // Both see each other in the cluster.
    let b_dev = until(&mut a.connect.devices(), 30, "B in A's device list", |l| {
        device_of(l, &b.id).is_some()
    })
    .await;
    let b_dev = device_of(&b_dev, &b.id).unwrap();
    until(&mut b.connect.devices(), 30, "A in B's device list", |l| {
        device_of(l, &a.id).is_some()
    })
    .await;

    // A plays locally and becomes the active device; B sees it as remote playback.
    a.services
        .player
        .load(tracks.iter().map(|t| id_of(t)).collect(), 0, 0, true);
    until(&mut a.status(), 30, "A playing past 1.5 s", |st| {
        st.state == PlayState::Playing
            && tonearm::connect::state::position_now(st, std::time::Instant::now()) > 1500
    })
    .await;
    until(&mut b.connect.remote(), 30, "B sees A playing", |r| {
        r.as_ref()
            .is_some_and(|r| r.device_id == a.id && r.track_uri == tracks[0] && r.is_playing)
    })
    .await;

    // Transfer A → B: A is told to stop, B loads the same track at A's position and plays.
    a.connect.transfer(b_dev.clone());
    next_applied(&mut a.applied, "BecameInactive on A", |c| {
        *c == RemoteCommand::BecameInactive
    })
    .await;
    let a_paused = until(&mut a.status(), 30, "A paused", |st| {
        st.state == PlayState::Paused
    })
    .await;
    let load = next_applied(&mut b.applied, "Load on B", |c| {
        matches!(c, RemoteCommand::Load { .. })
    })
    .await;
    let RemoteCommand::Load {
        index,
        position_ms,
        play,
        context_uri: _,
        ids,
        ..
    } = load
    else {
        unreachable!()
    };
    assert_eq!(ids[index], id_of(&tracks[0]));
    assert!(play);
    // The transferred position is A's extrapolated position at the transfer, so within a
    // couple of seconds of where A stopped.
    assert!(
        position_ms.abs_diff(a_paused.position_ms) < 3000,
        "transferred {position_ms} ms, A stopped at {} ms",
        a_paused.position_ms
    );
    until(&mut b.status(), 30, "B playing track 0", |st| {
        st.state == PlayState::Playing
            && st.track.as_ref().is_some_and(|t| t.id == id_of(&tracks[0]))
    })
    .await;
    // B's audio starts at the transferred position (a window well past the decoder's
    // seek warm-up is found in the reference near that position).
    until_samples(&b, 2 * 44_100).await;
    let f = locate(&b, 2 * 22_050, &ref0, 1.0, position_ms + 500, 1500)
        .expect("B's first audio is track 0 at the transferred position");
    assert!(frame_to_ms(f).abs_diff(position_ms + 500) < 1000);
    until(&mut a.connect.remote(), 30, "A sees B playing", |r| {
        r.as_ref().is_some_and(|r| {
            r.device_id == b.id && r.track_uri == tracks[0] && r.is_playing && !r.title.is_empty()
        })
    })
    .await;

    // Pause: B stops producing samples; A sees it paused.
    a.connect.control(b.id.clone(), RemoteControl::Pause);
    until(&mut b.status(), 30, "B paused", |st| {
        st.state == PlayState::Paused
    })
    .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let paused_at = b.samples();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(b.samples(), paused_at, "B kept playing after pause");
    until(&mut a.connect.remote(), 30, "A sees B paused", |r| {
        r.as_ref()
            .is_some_and(|r| r.device_id == b.id && !r.is_playing)
    })
    .await;

    // Seek while paused, then resume: the audio continues from the new position.
    let target = dur0 / 2;
    a.connect
        .control(b.id.clone(), RemoteControl::SeekTo(target));
    until(&mut b.status(), 30, "B at the seek target", |st| {
        st.position_ms.abs_diff(target) < 100
    })
    .await;
    a.connect.control(b.id.clone(), RemoteControl::Resume);
    until(&mut b.status(), 30, "B playing again", |st| {
        st.state == PlayState::Playing
    })
    .await;
    until_samples(&b, paused_at + 2 * 44_100).await;
    let f = locate(&b, paused_at + 2 * 22_050, &ref0, 1.0, target + 500, 700)
        .expect("after seek + resume B plays track 0 from the target");
    assert!(
        frame_to_ms(f).abs_diff(target + 500) < 200,
        "landed at {} ms",
        frame_to_ms(f)
    );
    until(&mut a.connect.remote(), 30, "A sees B at the target", |r| {
        r.as_ref().is_some_and(|r| {
            r.is_playing && r.position_ms >= target && r.position_ms < target + 10_000
        })
    })
    .await;

    // Volume: B scales its output; A sees the new volume on B's device.
    let vol = 32_768u16;
    a.connect
        .control(b.id.clone(), RemoteControl::SetVolume(vol));
    until(&mut b.status(), 30, "B's volume", |st| st.volume == vol).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let from = b.samples();
    until_samples(&b, from + 44_100).await;
    let pos = b.status().borrow().position_ms;
    let g = tonearm::audio::volume::gain(vol);
    assert!(g < 0.9);
    let f = locate(&b, from + 22_050, &ref0, g, pos, 3000);
    assert!(f.is_some(), "B's output is not track 0 scaled by {g}");
    until(&mut a.connect.devices(), 30, "A sees B's volume", |l| {
        device_of(l, &b.id).is_some_and(|d| d.volume == Some(vol))
    })
    .await;

    // Skip: B plays track 1 (at the new volume); A follows.
    a.connect.control(b.id.clone(), RemoteControl::SkipNext);
    until(&mut b.status(), 30, "B on track 1", |st| {
        st.track.as_ref().is_some_and(|t| t.id == id_of(&tracks[1]))
            && st.state == PlayState::Playing
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let from = b.samples();
    until_samples(&b, from + 44_100).await;
    let f = locate(&b, from + 22_050, &ref1, g, 500, 1500);
    assert!(f.is_some(), "after skip B's output is not track 1");
    until(&mut a.connect.remote(), 30, "A sees track 1", |r| {
        r.as_ref().is_some_and(|r| r.track_uri == tracks[1])
    })
    .await;

    let b_id = b.id.clone();
    b.stop().await;
    until(
        &mut a.connect.devices(),
        30,
        "B gone after its shutdown",
        |l| device_of(l, &b_id).is_none(),
    )
    .await;
    a.stop().await;
    s.shutdown().await;
}
