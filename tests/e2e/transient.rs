//! Transient is not unavailable, against the simulator over real sockets: a 429 with
//! `Retry-After: 15` on spclient makes playback wait (announced with the wait) and then play
//! the same track, never skipping it; on the Web API the call waits and then succeeds; the
//! `keyless` account, whose audio keys the access point
//! always refuses, gets one plain message and the queue is not skipped through.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tonearm::api::metadata::Bitrate;
use tonearm::api::{RateLimitNotice, SpClient, TokenProvider, WebApi};
use tonearm::audio::fetch::FetchParams;
use tonearm::audio::output::factory;
use tonearm::audio::sink::SinkSpec;
use tonearm::id::{SpotifyId, SpotifyUri};
use tonearm::player::spotify::SpotifyLoader;
use tonearm::player::{Player, PlayerConfig, PlayerEvent};
use tonearm::session::{Credentials, Session};
use tonearm_sim::{Fault, LimitedService, RateLimit, SimConfig};
use tonearm_testkit::{player_errors, recv_until};

use crate::common::{config, sim_with, within};

fn id_of(uri: &str) -> SpotifyId {
    SpotifyUri::parse(uri).expect("uri").id
}

/// A loader signed in as `username`.
async fn loader_as(s: &tonearm_sim::Simulator, username: &str, password: &str) -> SpotifyLoader {
    let cfg = config(s);
    let session = within(
        10,
        Session::connect(cfg.clone(), Credentials::with_password(username, password)),
    )
    .await
    .expect("login");
    let http = reqwest::Client::new();
    let tokens = TokenProvider::new(session.clone(), cfg.endpoints.clone(), http.clone());
    let sp = SpClient::from_session(session.clone(), tokens, &cfg.endpoints, http.clone());
    SpotifyLoader::new(session, sp, http, Bitrate::B160).with_fetch_params(FetchParams {
        retry_base_delay: Duration::from_millis(20),
        retry_max_delay: Duration::from_millis(200),
        ..FetchParams::default()
    })
}

/// `scheme://host:port` of `url`, as the rate-limit notices name hosts.
fn host_of(url: &str) -> String {
    let u = reqwest::Url::parse(url).expect("url");
    format!(
        "{}://{}:{}",
        u.scheme(),
        u.host_str().unwrap_or_default(),
        u.port_or_known_default().unwrap_or(0)
    )
}

/// The notices received so far for `host` (other tests' simulators announce theirs too).
fn notices_for(
    rx: &mut tokio::sync::broadcast::Receiver<RateLimitNotice>,
    host: &str,
) -> Vec<RateLimitNotice> {
    let mut out = Vec::new();
    while let Ok(n) = rx.try_recv() {
        if n.host == host {
            out.push(n);
        }
    }
    out
}

fn null_player(l: SpotifyLoader) -> (Player, tokio::sync::mpsc::UnboundedReceiver<PlayerEvent>) {
    Player::spawn(
        Arc::new(l),
        factory(SinkSpec::Null),
        PlayerConfig::default(),
        tokio::runtime::Handle::current(),
    )
}

#[tokio::test]
async fn a_15_s_retry_after_on_spclient_is_waited_out_and_the_track_plays() {
    let s = sim_with(SimConfig::default()).await;
    let a = crate::common::account(&s, "premium");
    let l = loader_as(&s, &a.username, &a.password).await;
    let mut notices = tonearm::api::rate_limit_notices();
    let (player, mut events) = null_player(l);
    s.fault(Fault::RateLimit(RateLimit {
        service: LimitedService::Spclient,
        retry_after_secs: Some(15),
        requests: Some(1),
        for_ms: None,
        path_prefix: None,
    }));
    let t0 = s.info().demo_tracks[0].uri.clone();
    let t1 = s.info().demo_tracks[1].uri.clone();
    let started = Instant::now();
    player.load(vec![id_of(&t0), id_of(&t1)], 0, 0, true);
    let seen = recv_until(
        &mut events,
        60,
        |e| matches!(e, PlayerEvent::TrackChanged(t) if t.id == id_of(&t0)),
    )
    .await;
    assert!(
        started.elapsed() >= Duration::from_secs(14),
        "the 15 s pause was obeyed ({:?})",
        started.elapsed()
    );
    assert!(
        !seen.iter().any(|e| matches!(e, PlayerEvent::Error { .. })),
        "no skip, no error: {seen:?}"
    );
    let announced = notices_for(&mut notices, &host_of(&s.info().spclient));
    assert!(
        announced.iter().any(|n| n.wait == Duration::from_secs(15)),
        "the long pause was announced: {announced:?}"
    );
    player.shutdown().await;
}

#[tokio::test]
async fn a_15_s_retry_after_on_the_web_api_is_waited_out_and_the_call_succeeds() {
    let s = sim_with(SimConfig::default()).await;
    let (_session, sp) = crate::api::services(&s).await;
    let api = WebApi::new(
        sp.tokens().clone(),
        s.info().web_api.clone(),
        reqwest::Client::new(),
    );
    let mut notices = tonearm::api::rate_limit_notices();
    s.fault(Fault::RateLimit(RateLimit {
        service: LimitedService::WebApi,
        retry_after_secs: Some(15),
        requests: Some(1),
        for_ms: None,
        path_prefix: None,
    }));
    let started = Instant::now();
    let me = within(60, api.me()).await.expect("after the pause");
    assert!(!me.id.is_empty());
    assert!(
        started.elapsed() >= Duration::from_secs(14),
        "the 15 s pause was obeyed ({:?})",
        started.elapsed()
    );
    let announced = notices_for(&mut notices, &host_of(&s.info().web_api));
    assert!(
        announced.iter().any(|n| n.wait == Duration::from_secs(15)),
        "the long pause was announced: {announced:?}"
    );
}

#[tokio::test]
async fn the_keyless_account_gets_one_plain_message_and_the_queue_is_not_skipped_through() {
    let s = sim_with(SimConfig::default()).await;
    let l = loader_as(&s, "keyless", "keyless-pass").await;
    let (player, mut events) = null_player(l);
    let ids: Vec<SpotifyId> = s.info().demo_tracks.iter().map(|t| id_of(&t.uri)).collect();
    assert!(ids.len() >= 4, "enough tracks to skip through");
    player.load(ids, 0, 0, true);
    let seen = recv_until(&mut events, 60, |e| {
        matches!(e, PlayerEvent::Error { skipped: false, .. })
    })
    .await;
    let errors = player_errors(&seen);
    assert_eq!(errors.len(), 1, "one message: {errors:?}");
    assert!(
        errors[0]
            .0
            .starts_with("Spotify refuses audio keys to this account"),
        "{errors:?}"
    );
    assert_eq!(
        player.queue().borrow().current,
        Some(0),
        "not skipped through"
    );
    assert!(!seen
        .iter()
        .any(|e| matches!(e, PlayerEvent::TrackChanged(_))));
    player.shutdown().await;
}
