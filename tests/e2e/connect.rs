//! Spotify Connect end to end against the simulator: two tonearm instances on one account (a
//! controller moves playback to a daemon-like receiver and drives it; the receiver's audio is
//! checked against reference decodes after each command), the scripted phone driving a
//! receiver through every command, dealer reconnects, and `tonearm daemon` as a child process.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use librespot_protocol::connect::Cluster;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tonearm::connect::{ConnectLink, Controller, Device, RemoteCommand, RemoteControl};
use tonearm::id::SpotifyId;
use tonearm::player::{PlayState, RepeatMode};
use tonearm_sim::remote::{Phone, PhoneConfig};
use tonearm_testkit::process::{Home, KillOnDrop};
use tonearm_testkit::{phone_config, Node, NodeOptions};

use crate::audio::{id_of, reference_pcm};
use crate::common::{sim, within};

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
    let rec = node.recording.lock().unwrap();
    let win = &rec.samples[at..at + 256];
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
    let mut a = Node::start(&s, "e2e-connect-controller").await;
    let mut b = Node::start(&s, "e2e-connect-receiver").await;

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

fn active_track(c: &Cluster) -> String {
    c.player_state
        .as_ref()
        .and_then(|p| p.track.as_ref())
        .map(|t| t.uri.clone())
        .unwrap_or_default()
}

fn queue_after_current(node: &Node) -> Vec<SpotifyId> {
    let q = node.services.player.queue().borrow().clone();
    match q.current {
        Some(c) => q.items[c + 1..].to_vec(),
        None => q.items,
    }
}

async fn until_queue(node: &Node, what: &str, f: impl Fn(&[SpotifyId]) -> bool) {
    let mut rx = node.services.player.queue();
    rx.borrow_and_update();
    within(30, async {
        loop {
            if f(&queue_after_current(node)) {
                return;
            }
            if tokio::time::timeout(Duration::from_millis(200), rx.changed())
                .await
                .is_ok_and(|r| r.is_err())
            {
                panic!("queue watch closed waiting for {what}");
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_phone_drives_a_receiver_through_every_command() {
    let s = sim().await;
    let album = s.info().demo_album.clone();
    let demo: Vec<String> = s.info().demo_tracks.iter().map(|t| t.uri.clone()).collect();
    let mut b = Node::start(&s, "e2e-connect-speaker").await;
    let mut phone = Phone::connect(phone_config(&s))
        .await
        .expect("phone signs in");
    let b_id = b.id.clone();
    phone
        .wait_for(Duration::from_secs(30), |c| c.device.contains_key(&b_id))
        .await
        .expect("the phone sees the speaker");
    let mut st = b.status();

    // play: the album from track 1, 2 s in.
    phone
        .play(Some(&b.id), &album, Some(1), Some(2000))
        .await
        .expect("play");
    let load = next_applied(&mut b.applied, "Load", |c| {
        matches!(c, RemoteCommand::Load { .. })
    })
    .await;
    let RemoteCommand::Load {
        ids,
        index,
        position_ms,
        play,
        context_uri,
        ..
    } = load
    else {
        unreachable!()
    };
    assert_eq!((index, position_ms, play), (1, 2000, true));
    assert_eq!(context_uri, album);
    assert!(ids.len() >= 4, "the album's tracks: {ids:?}");
    let st1 = until(&mut st, 30, "playing track 1 of the album", |st| {
        st.state == PlayState::Playing && st.track.as_ref().is_some_and(|t| t.id == ids[1])
    })
    .await;
    assert!(st1.position_ms >= 1900, "started at {}", st1.position_ms);
    let uri1 = tonearm::connect::state::track_uri(ids[1]);
    phone
        .wait_for(Duration::from_secs(30), |c| {
            c.active_device_id == b_id && active_track(c) == uri1
        })
        .await
        .expect("the cluster shows the speaker playing");

    // pause / resume
    phone.pause(Some(&b.id)).await.expect("pause");
    until(&mut st, 30, "paused", |st| st.state == PlayState::Paused).await;
    phone
        .wait_for(Duration::from_secs(30), |c| {
            c.player_state.as_ref().is_some_and(|p| p.is_paused)
        })
        .await
        .expect("the cluster shows the pause");
    phone.resume(Some(&b.id)).await.expect("resume");
    until(&mut st, 30, "playing again", |st| {
        st.state == PlayState::Playing
    })
    .await;

    // seek_to
    phone.seek(Some(&b.id), 10_000).await.expect("seek");
    until(&mut st, 30, "at 10 s", |st| {
        st.position_ms >= 10_000 && st.position_ms < 13_000
    })
    .await;

    // skip_next / skip_prev (prev right away: under 3 s into the track it goes back)
    phone.next(Some(&b.id)).await.expect("next");
    until(&mut st, 30, "on track 2", |st| {
        st.track.as_ref().is_some_and(|t| t.id == ids[2])
    })
    .await;
    phone.prev(Some(&b.id)).await.expect("prev");
    until(&mut st, 30, "back on track 1", |st| {
        st.track.as_ref().is_some_and(|t| t.id == ids[1])
    })
    .await;

    // shuffle, repeat context/track/off (set_options), set_repeating_* directly
    phone.shuffle(Some(&b.id), true).await.expect("shuffle on");
    until(&mut st, 30, "shuffle on", |st| st.shuffle).await;
    phone
        .shuffle(Some(&b.id), false)
        .await
        .expect("shuffle off");
    until(&mut st, 30, "shuffle off", |st| !st.shuffle).await;
    phone
        .repeat(Some(&b.id), "context")
        .await
        .expect("repeat context");
    until(&mut st, 30, "repeat all", |st| st.repeat == RepeatMode::All).await;
    phone
        .repeat(Some(&b.id), "track")
        .await
        .expect("repeat track");
    until(&mut st, 30, "repeat one", |st| st.repeat == RepeatMode::One).await;
    phone
        .repeat(Some(&b.id), "context")
        .await
        .expect("repeat context again");
    until(&mut st, 30, "repeat all again", |st| {
        st.repeat == RepeatMode::All
    })
    .await;
    phone.repeat(Some(&b.id), "off").await.expect("repeat off");
    until(&mut st, 30, "repeat off", |st| st.repeat == RepeatMode::Off).await;
    phone
        .command(
            Some(&b.id),
            json!({"endpoint": "set_repeating_track", "value": true}),
        )
        .await
        .expect("set_repeating_track");
    until(&mut st, 30, "repeat one (direct)", |st| {
        st.repeat == RepeatMode::One
    })
    .await;
    // Track off falls back to the context flag (on while repeating one): the one core's rule.
    phone
        .command(
            Some(&b.id),
            json!({"endpoint": "set_repeating_track", "value": false}),
        )
        .await
        .expect("set_repeating_track off");
    until(&mut st, 30, "repeat all (direct)", |st| {
        st.repeat == RepeatMode::All
    })
    .await;
    phone
        .command(
            Some(&b.id),
            json!({"endpoint": "set_repeating_context", "value": false}),
        )
        .await
        .expect("set_repeating_context off");
    until(&mut st, 30, "repeat off (direct)", |st| {
        st.repeat == RepeatMode::Off
    })
    .await;

    // add_to_queue: right after the current track
    let queued = id_of(&demo[7]);
    phone.queue(Some(&b.id), &demo[7]).await.expect("queue");
    until_queue(&b, "queued track next", |q| q.first() == Some(&queued)).await;

    // set_queue: what follows is exactly these
    let want = vec![id_of(&demo[5]), id_of(&demo[6])];
    phone
        .set_queue(Some(&b.id), &[demo[5].clone(), demo[6].clone()])
        .await
        .expect("set_queue");
    until_queue(&b, "the set queue", |q| q == want.as_slice()).await;

    // update_context: the context's new tracks after the current one follow
    let ctx = json!({"uri": album, "pages": [{"tracks": [
        {"uri": demo[3]}, {"uri": tonearm::connect::state::track_uri(ids[1])}, {"uri": demo[4]}, {"uri": demo[2]}
    ]}]});
    phone
        .command(
            Some(&b.id),
            json!({"endpoint": "update_context", "context": ctx}),
        )
        .await
        .expect("update_context");
    let want = vec![id_of(&demo[4]), id_of(&demo[2])];
    until_queue(&b, "the updated context", |q| q == want.as_slice()).await;

    // volume (the connect/volume message)
    phone.volume(Some(&b.id), 40).await.expect("volume");
    let vol = (40u32 * 65535 / 100) as u16;
    until(&mut st, 30, "volume 40 %", |st| st.volume == vol).await;
    phone
        .wait_for(Duration::from_secs(30), |c| {
            c.device
                .get(&b_id)
                .is_some_and(|d| d.volume == u32::from(vol))
        })
        .await
        .expect("the cluster shows the new volume");

    // an unknown endpoint is refused, and the speaker keeps working
    assert!(phone
        .command(Some(&b.id), json!({"endpoint": "dance"}))
        .await
        .is_err());

    // transfer: to a second receiver, which resumes the track where the speaker was; the
    // speaker is told it is no longer active.
    let c = Node::start(&s, "e2e-connect-kitchen").await;
    let c_id = c.id.clone();
    phone
        .wait_for(Duration::from_secs(30), |cl| cl.device.contains_key(&c_id))
        .await
        .expect("the phone sees the second receiver");
    let before =
        tonearm::connect::state::position_now(&b.status().borrow(), std::time::Instant::now());
    phone.transfer(&c.id).await.expect("transfer");
    next_applied(&mut b.applied, "BecameInactive", |c| {
        *c == RemoteCommand::BecameInactive
    })
    .await;
    until(&mut st, 30, "the speaker paused", |st| {
        st.state == PlayState::Paused
    })
    .await;
    let cst = until(&mut c.status(), 30, "the kitchen plays track 1", |st| {
        st.state == PlayState::Playing && st.track.as_ref().is_some_and(|t| t.id == ids[1])
    })
    .await;
    assert!(
        cst.position_ms + 1000 >= before && cst.position_ms < before + 5000,
        "resumed at {} ms, was at {before} ms",
        cst.position_ms
    );
    phone
        .wait_for(Duration::from_secs(30), |cl| cl.active_device_id == c_id)
        .await
        .expect("the cluster shows the kitchen active");

    phone.close().await;
    c.stop().await;
    b.stop().await;
    s.shutdown().await;
}

/// A TCP proxy whose connections can be cut (the dealer "drops the websocket").
struct Proxy {
    addr: std::net::SocketAddr,
    conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: std::net::SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let c = conns.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let h = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                c.lock().unwrap().push(h);
            }
        });
        Proxy {
            addr,
            conns,
            accept,
        }
    }

    /// Cuts every open connection; returns how many there were.
    fn cut(&self) -> usize {
        let conns: Vec<_> = self.conns.lock().unwrap().drain(..).collect();
        let n = conns.iter().filter(|h| !h.is_finished()).count();
        for h in conns {
            h.abort();
        }
        n
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dropped_dealer_connection_reconnects_and_re_registers() {
    let s = sim().await;
    // Devices of a closed dealer connection disappear quickly unless they re-register.
    s.set_connect_timing(Duration::from_millis(300), Duration::from_secs(5));
    let dealer: std::net::SocketAddr = s.info().dealer.trim_start_matches("ws://").parse().unwrap();
    let proxy = Proxy::start(dealer).await;
    let b = Node::start_with(
        &s,
        "e2e-connect-flaky",
        NodeOptions {
            dealer: Some(format!("ws://{}", proxy.addr)),
        },
    )
    .await;
    let mut link = b.connect.link();
    until(&mut link, 30, "online", |l| *l == ConnectLink::Online).await;
    let mut phone = Phone::connect(phone_config(&s)).await.expect("phone");
    let b_id = b.id.clone();
    phone
        .wait_for(Duration::from_secs(30), |c| c.device.contains_key(&b_id))
        .await
        .expect("registered");

    for round in 1..=2 {
        assert!(
            proxy.cut() >= 1,
            "round {round}: no dealer connection to cut"
        );
        until(&mut link, 30, "reconnecting", |l| {
            matches!(l, ConnectLink::Reconnecting(_))
        })
        .await;
        until(&mut link, 30, "online again", |l| *l == ConnectLink::Online).await;
        // Past the simulator's grace period the device is still (again) listed, and commands
        // reach it over the new connection.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let devices = phone.devices().await.expect("devices");
        assert!(
            devices.iter().any(|d| d.id == b.id),
            "round {round}: {devices:?}"
        );
        phone.volume(Some(&b.id), 10 * round).await.expect("volume");
        let want = (u32::from(10 * round) * 65535 / 100) as u16;
        until(&mut b.status(), 30, "the volume command arrived", |st| {
            st.volume == want
        })
        .await;
    }
    phone.close().await;
    b.stop().await;
    s.shutdown().await;
}

/// `tonearm daemon --demo --sink null` as a child process: it starts, registers with the
/// (child's own) simulator, which the phone sees; SIGTERM → it deregisters and exits 0.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_binary_registers_and_leaves_cleanly_on_sigterm() {
    use std::process::{Command, Stdio};
    use tonearm_testkit::process::{first_stdout_lines, http_url_in};

    let home = Home::new(env!("CARGO_BIN_EXE_tonearm"));
    let mut child = KillOnDrop(
        home.command()
            .args(["--demo", "daemon", "--sink", "null", "--name", "E2E Daemon"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let lines = within(60, first_stdout_lines(&mut child.0, 2)).await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    let base = http_url_in(&lines[0]).expect("the demo line names the simulator");
    let want_id = tonearm::config::device_id_for("E2E Daemon");
    assert!(
        lines[1].contains("E2E Daemon") && lines[1].contains(&want_id),
        "{}",
        lines[1]
    );

    let mut phone = Phone::connect(PhoneConfig::new(&base, "tonearm-demo", "tonearm-demo-pass"))
        .await
        .expect("phone on the daemon's simulator");
    let cluster = phone
        .wait_for(Duration::from_secs(30), |c| c.device.contains_key(&want_id))
        .await
        .expect("the daemon shows up in the cluster");
    assert_eq!(cluster.device[&want_id].name, "E2E Daemon");

    let pid = child.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    phone
        .wait_for(Duration::from_secs(30), |c| {
            !c.device.contains_key(&want_id)
        })
        .await
        .expect("the daemon deregistered");
    let status = within(30, async {
        loop {
            if let Some(status) = child.0.try_wait().unwrap() {
                break status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(status.success(), "daemon exit status {status:?}");
}

/// The controller wakes a zeroconf-only daemon nobody is logged in to (getInfo, our blob,
/// addUser), waits for it to join the cluster, and moves playback there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_controller_wakes_a_lan_daemon_and_transfers_to_it() {
    use tonearm::connect::DeviceOrigin;
    use tonearm::daemon::{DaemonOptions, Started};

    let s = sim().await;
    let tracks: Vec<String> = s.info().demo_tracks[..2]
        .iter()
        .map(|t| t.uri.clone())
        .collect();
    let mut a = Node::start(&s, "e2e-connect-waker").await;

    let name = "e2e-connect-sleeper";
    let device_id = tonearm::config::device_id_for(name);
    let config = tonearm::config::Config {
        device_name: name.into(),
        device_id: device_id.clone(),
        endpoints: tonearm_testkit::endpoints(&s),
        ..Default::default()
    };
    let opts = DaemonOptions {
        name: name.into(),
        device_id: device_id.clone(),
        device_type: tonearm::connect::service::DeviceType::SPEAKER,
        playback: tonearm::services::PlaybackOptions {
            sink: tonearm::audio::sink::SinkSpec::Null,
            bitrate: tonearm::api::metadata::Bitrate::B160,
            volume: u16::MAX,
            normalisation: Default::default(),
        },
        zeroconf: true,
        advertise: false,
        zeroconf_port: 0,
        zeroconf_bind: std::net::Ipv4Addr::UNSPECIFIED.into(),
        store_credentials: false,
        accept: None,
        zeroconf_store: None,
        resume_points: None,
    };
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<Started>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(tonearm::daemon::run(
        config,
        None,
        None,
        opts,
        move |st| {
            let _ = started_tx.send(st.clone());
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    let started = within(30, started_rx).await.unwrap();
    assert!(!started.signed_in);
    let port = started.zeroconf_port.expect("zeroconf port");

    // A plays locally, then picks the LAN device (as the mDNS browser would list it).
    a.services
        .player
        .load(tracks.iter().map(|t| id_of(t)).collect(), 0, 0, true);
    until(&mut a.status(), 30, "A playing", |st| {
        st.state == PlayState::Playing
    })
    .await;
    let mut phone = Phone::connect(phone_config(&s)).await.expect("phone");
    let a_id = a.id.clone();
    phone
        .wait_for(Duration::from_secs(30), |c| {
            c.active_device_id == a_id && active_track(c) == tracks[0]
        })
        .await
        .expect("A is the active device");
    let lan = Device {
        id: device_id.clone(),
        name: name.into(),
        kind: "Speaker".into(),
        is_active: false,
        volume: None,
        origin: DeviceOrigin::Lan {
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            cpath: "/".into(),
            active_user: String::new(),
        },
    };
    a.connect.transfer(lan);
    next_applied(&mut a.applied, "BecameInactive on A", |c| {
        *c == RemoteCommand::BecameInactive
    })
    .await;
    let remote = until(
        &mut a.connect.remote(),
        60,
        "the woken daemon playing",
        |r| {
            r.as_ref().is_some_and(|r| {
                r.device_id == device_id && r.is_playing && r.track_uri == tracks[0]
            })
        },
    )
    .await
    .unwrap();
    assert_eq!(remote.device_name, name);

    phone.close().await;
    let _ = stop_tx.send(());
    within(30, daemon)
        .await
        .unwrap()
        .expect("daemon ends cleanly");
    until(
        &mut a.connect.devices(),
        30,
        "the daemon deregistered",
        |l| !l.iter().any(|d| d.id == device_id),
    )
    .await;
    a.stop().await;
    s.shutdown().await;
}
