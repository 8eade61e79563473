//! Tests of the Connect command parser (player commands from dealer requests, context
//! pages, transfer states) and of the JSON bodies this device sends as a controller.

use super::*;
use librespot_protocol::context::Context as ProtoContext;
use librespot_protocol::context_page::ContextPage;
use librespot_protocol::context_track::ContextTrack;
use librespot_protocol::playback::Playback;
use librespot_protocol::session::Session as ProtoSession;
use serde_json::json;

fn uri(n: u128) -> String {
    format!("spotify:track:{}", SpotifyId(n).to_base62())
}

#[test]
fn every_endpoint_parses() {
    let cases = [
        (
            json!({"endpoint":"pause","logging_params":{}}),
            PlayerCommand::Pause,
        ),
        (json!({"endpoint":"resume"}), PlayerCommand::Resume),
        (
            json!({"endpoint":"skip_next","track":{"uri":"x"}}),
            PlayerCommand::SkipNext,
        ),
        (json!({"endpoint":"skip_prev"}), PlayerCommand::SkipPrev),
        (
            json!({"endpoint":"seek_to","value":1500,"position":1500}),
            PlayerCommand::SeekTo {
                value: 1500,
                relative: false,
            },
        ),
        (
            json!({"endpoint":"seek_to","value":-500,"relative":"current"}),
            PlayerCommand::SeekTo {
                value: -500,
                relative: true,
            },
        ),
        (
            json!({"endpoint":"set_shuffling_context","value":true}),
            PlayerCommand::SetShuffle(true),
        ),
        (
            json!({"endpoint":"set_repeating_context","value":false}),
            PlayerCommand::SetRepeatContext(false),
        ),
        (
            json!({"endpoint":"set_repeating_track","value":true}),
            PlayerCommand::SetRepeatTrack(true),
        ),
        (
            json!({"endpoint":"set_options","repeating_track":true,"options":{}}),
            PlayerCommand::SetOptions {
                shuffle: None,
                repeat_context: None,
                repeat_track: Some(true),
            },
        ),
    ];
    for (cmd, want) in cases {
        let r = parse_command(&json!({"message_id": 3, "sent_by_device_id": "p", "command": cmd}))
            .unwrap();
        assert_eq!(r.command, want);
        assert_eq!(r.message_id, 3);
        assert_eq!(r.sent_by_device_id, "p");
    }
}

#[test]
fn play_options_and_queue_commands_parse() {
    let r = parse_command(&json!({"command": {
        "endpoint": "play",
        "context": {"uri": "spotify:album:a", "pages": [{"tracks": [{"uri": uri(1), "uid": "u1", "extra": 1}]}], "unknown": true},
        "options": {"skip_to": {"track_index": 2}, "seek_to": 900, "initially_paused": true,
                    "player_options_override": {"shuffling_context": true}},
        "play_origin": {"feature_identifier": "x"}
    }}))
    .unwrap();
    let PlayerCommand::Play { context, options } = r.command else {
        panic!("not play")
    };
    assert_eq!(context.pages[0].tracks[0].uid.as_deref(), Some("u1"));
    assert_eq!(options.skip_to_index, Some(2));
    assert_eq!(options.seek_to, Some(900));
    assert!(options.initially_paused);
    assert_eq!(options.shuffle, Some(true));

    let r =
        parse_command(&json!({"command": {"endpoint": "add_to_queue", "track": {"uri": uri(5)}}}))
            .unwrap();
    assert!(matches!(r.command, PlayerCommand::AddToQueue(t) if t.uri == Some(uri(5))));
    let r = parse_command(&json!({"command": {"endpoint": "set_queue",
        "next_tracks": [{"uri": uri(6)}, {"uri": "spotify:episode:abc"}], "prev_tracks": []}}))
    .unwrap();
    let PlayerCommand::SetQueue { next } = r.command else {
        panic!()
    };
    let (ids, map) = ids_of(&next);
    assert_eq!(ids, vec![SpotifyId(6)]);
    assert_eq!(map, vec![Some(0), None]);
}

#[test]
fn bad_commands_are_errors() {
    for v in [
        json!(null),
        json!({}),
        json!({"command": "pause"}),
        json!({"command": {}}),
        json!({"command": {"endpoint": "transfer"}}),
        json!({"command": {"endpoint": "transfer", "data": "!!"}}),
        json!({"command": {"endpoint": "transfer", "data": "AAEC"}}),
        json!({"command": {"endpoint": "seek_to"}}),
        json!({"command": {"endpoint": "set_shuffling_context"}}),
        json!({"command": {"endpoint": "play"}}),
        json!({"command": {"endpoint": "play", "context": 5}}),
        json!({"command": {"endpoint": "add_to_queue"}}),
    ] {
        assert!(parse_command(&v).is_err(), "{v}");
    }
    assert_eq!(
        parse_command(&json!({"command": {"endpoint": "dance"}})),
        Err(CommandError::UnknownEndpoint("dance".into()))
    );
}

#[test]
fn strict_context_rejects_unknown_fields() {
    let good = json!({"uri": "spotify:album:a", "url": "context://x", "metadata": {},
        "pages": [{"page_url": "", "tracks": [{"uri": uri(1), "uid": "a", "metadata": {}}]}]});
    let c = parse_context_strict(good.to_string().as_bytes()).unwrap();
    assert_eq!(context_tracks(&c).len(), 1);
    for bad in [
        json!({"uri": "x", "name": "y"}),
        json!({"pages": [{"items": []}]}),
        json!({"pages": [{"tracks": [{"uri": "x", "name": "n"}]}]}),
    ] {
        assert!(
            parse_context_strict(bad.to_string().as_bytes()).is_err(),
            "{bad}"
        );
    }
}

fn track(n: u128, uid: &str) -> ContextTrack {
    ContextTrack {
        uri: Some(uri(n)),
        uid: Some(uid.into()),
        ..ContextTrack::default()
    }
}

#[tokio::test]
async fn transfer_finds_the_track_and_extrapolates() {
    let mut ts = TransferState::new();
    let mut ctx = ProtoContext::new();
    ctx.uri = Some("spotify:album:a".into());
    ctx.pages.push(ContextPage {
        tracks: vec![track(1, "a"), track(2, "b"), track(3, "c")],
        ..ContextPage::default()
    });
    ts.current_session = Some(ProtoSession {
        context: Some(ctx).into(),
        current_uid: Some("b".into()),
        ..ProtoSession::default()
    })
    .into();
    ts.playback = Some(Playback {
        timestamp: Some(10_000),
        position_as_of_timestamp: Some(4000),
        is_paused: Some(false),
        current_track: Some(track(2, "b")).into(),
        ..Playback::default()
    })
    .into();
    // No spclient is needed: the pages are inline. Build one pointing nowhere.
    let sp = test_spclient();
    let cmd = transfer_to_load(&sp, &ts, Some("restore"), 12_500)
        .await
        .unwrap();
    let RemoteCommand::Load {
        ids,
        index,
        position_ms,
        play,
        ..
    } = cmd
    else {
        panic!()
    };
    assert_eq!(ids, vec![SpotifyId(1), SpotifyId(2), SpotifyId(3)]);
    assert_eq!(index, 1);
    assert_eq!(position_ms, 6500);
    assert!(play);

    ts.playback.as_mut().unwrap().is_paused = Some(true);
    let cmd = transfer_to_load(&sp, &ts, Some("restore"), 12_500)
        .await
        .unwrap();
    assert!(matches!(
        cmd,
        RemoteCommand::Load {
            position_ms: 4000,
            play: false,
            ..
        }
    ));
}

#[tokio::test]
async fn play_skips_to_uid_uri_or_index() {
    let sp = test_spclient();
    let ctx = Context {
        uri: Some("spotify:album:a".into()),
        url: None,
        pages: vec![Page {
            tracks: vec![
                TrackRef {
                    uri: Some("spotify:episode:e".into()),
                    ..TrackRef::default()
                },
                TrackRef {
                    uri: Some(uri(1)),
                    uid: Some("x".into()),
                    ..TrackRef::default()
                },
                TrackRef {
                    uri: Some(uri(2)),
                    uid: Some("y".into()),
                    ..TrackRef::default()
                },
            ],
            ..Page::default()
        }],
    };
    let mut o = PlayOptions {
        skip_to_uid: Some("y".into()),
        ..PlayOptions::default()
    };
    assert!(matches!(
        play_to_load(&sp, &ctx, &o).await.unwrap(),
        RemoteCommand::Load { index: 1, .. }
    ));
    o = PlayOptions {
        skip_to_uri: Some(uri(1)),
        ..PlayOptions::default()
    };
    assert!(matches!(
        play_to_load(&sp, &ctx, &o).await.unwrap(),
        RemoteCommand::Load { index: 0, .. }
    ));
    o = PlayOptions {
        skip_to_index: Some(2),
        seek_to: Some(7),
        ..PlayOptions::default()
    };
    assert!(matches!(
        play_to_load(&sp, &ctx, &o).await.unwrap(),
        RemoteCommand::Load {
            index: 1,
            position_ms: 7,
            play: true,
            ..
        }
    ));
}

fn test_spclient() -> SpClient {
    let http = reqwest::Client::new();
    let endpoints = crate::config::Endpoints::default();
    let tokens = crate::api::TokenProvider::with_account(
        crate::api::FixedAccount {
            username: "u".into(),
            stored_credential: vec![1],
            device_id: "d".into(),
            country: None,
        },
        endpoints,
        http.clone(),
    );
    SpClient::with_tokens(tokens, "http://127.0.0.1:9".into(), http)
}

#[test]
fn control_bodies_follow_the_spec() {
    let b = control_body(&RemoteControl::SeekTo(1000)).unwrap();
    assert_eq!(b["command"]["endpoint"], "seek_to");
    assert_eq!(b["command"]["value"], 1000);
    assert!(b["command"]["logging_params"].is_object());
    assert!(control_body(&RemoteControl::SetVolume(5)).is_none());
    assert_eq!(
        control_body(&RemoteControl::AddToQueue("spotify:track:x".into())).unwrap()["command"]
            ["track"]["uri"],
        "spotify:track:x"
    );
}
