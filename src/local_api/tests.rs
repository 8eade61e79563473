//! The published schema (docs/control-api/schema.json) against every request, event and answer
//! shape this code produces — so the document and the code can't drift apart — and the
//! schema's own examples of what must be refused.

use serde_json::{json, Value};
use tonearm_testkit::json_schema::{assert_conforms, check};

use super::schema::*;

fn schema() -> Value {
    let text = include_str!("../../docs/control-api/schema.json");
    serde_json::from_str(text).expect("the schema is JSON")
}

fn status() -> Status {
    Status {
        api: API_VERSION,
        state: State::Playing,
        track: Some(Track {
            uri: "spotify:track:4uLU6hMCjMI75M1A2tKUQC".into(),
            name: "N".into(),
            artists: vec!["A".into()],
            album: "Al".into(),
            duration_ms: 1,
        }),
        context: Some("spotify:album:x".into()),
        position_ms: 0,
        volume: 100,
        volume_raw: 65535,
        shuffle: true,
        repeat: Repeat::One,
        device: DeviceRef {
            id: "d".into(),
            name: "n".into(),
        },
        connection: Connection {
            session: Link::Reconnecting,
            connect: Link::Off,
        },
        queue_length: 1,
        queue_index: None,
    }
}

fn device() -> Device {
    Device {
        id: "d".into(),
        name: "n".into(),
        kind: "Speaker".into(),
        active: false,
        volume: None,
        this: true,
    }
}

#[test]
fn every_request_is_in_the_schema_and_parses_back() {
    let s = schema();
    let uris = vec!["spotify:track:x".to_string()];
    let all = vec![
        Request::Status,
        Request::Play,
        Request::Pause,
        Request::Toggle,
        Request::Next,
        Request::Prev,
        Request::Seek { position_ms: 5 },
        Request::SeekBy { delta_ms: -5 },
        Request::Volume { percent: 100 },
        Request::VolumeBy {
            delta_percent: -100,
        },
        Request::Shuffle { on: false },
        Request::Repeat { mode: Repeat::All },
        Request::Queue,
        Request::QueueAdd { uris: uris.clone() },
        Request::QueuePlayNext { uris: uris.clone() },
        Request::QueueRemove { index: 0 },
        Request::QueueMove { from: 0, to: 1 },
        Request::QueueClear,
        Request::PlayUri { uris, index: 0 },
        Request::PlaySearch {
            query: "middle c".into(),
        },
        Request::Devices,
        Request::Transfer { device: "x".into() },
        Request::Like { uri: None },
        Request::Unlike {
            uri: Some("spotify:track:x".into()),
        },
        Request::Guests,
        Request::GuestGrant {
            name: "Ann".into(),
            permission: Permission::Skip,
        },
        Request::GuestRevoke {
            name: "Ann".into(),
            permission: Permission::Admin,
        },
        Request::GuestBan { name: "Ann".into() },
    ];
    for r in all {
        let v = serde_json::to_value(&r).expect("json");
        assert_conforms(&s, "Request", &v);
        assert_eq!(parse_request(v.to_string().as_bytes()), Ok(r));
    }
    // What the parser refuses, the schema refuses too.
    for bad in [
        json!({"command": "pause", "extra": 1}),
        json!({"command": "volume", "percent": 101}),
        json!({"command": "seek", "position_ms": -1}),
        json!({"command": "explode"}),
        json!({"command": "guest_grant", "name": "Ann", "permission": "root"}),
        json!({"command": "guest_ban", "name": ""}),
        json!({}),
    ] {
        assert!(!check(&s, "Request", &bad).is_empty(), "{bad}");
        assert!(parse_request(bad.to_string().as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn every_event_and_answer_is_in_the_schema() {
    let s = schema();
    let events = vec![
        Event::Hello {
            api: API_VERSION,
            status: Box::new(status()),
        },
        Event::Track {
            track: status().track,
        },
        Event::Track { track: None },
        Event::Playing { position_ms: 1 },
        Event::Paused { position_ms: 1 },
        Event::Stopped,
        Event::Seek { position_ms: 1 },
        Event::Volume {
            volume: 0,
            volume_raw: 0,
        },
        Event::Options {
            shuffle: true,
            repeat: Repeat::Off,
        },
        Event::Queue {
            length: 0,
            index: None,
        },
        Event::Devices {
            devices: vec![device()],
        },
        Event::Connection {
            connection: status().connection,
        },
        Event::Error {
            message: "m".into(),
        },
        Event::Intruder {
            device_id: "abc".into(),
            device_name: "Kitchen".into(),
            action: "paused".into(),
        },
        Event::GuestJoined { name: "Ann".into() },
        Event::GuestBanned { name: "Ann".into() },
        Event::GuestEnqueued {
            name: "Ann".into(),
            uri: "spotify:track:x".into(),
        },
        Event::Lagged { missed: 3 },
    ];
    for e in events {
        assert_conforms(&s, "Event", &serde_json::to_value(&e).expect("json"));
    }
    let answers = vec![
        Answer::ok(),
        Answer {
            status: Some(status()),
            ..Answer::ok()
        },
        Answer {
            queue: Some(Queue {
                current: Some(0),
                items: vec![QueueItem {
                    index: 0,
                    uri: "spotify:track:x".into(),
                    name: None,
                    added_by: Some("<b>Ann</b>".into()),
                }],
            }),
            ..Answer::ok()
        },
        Answer {
            devices: Some(vec![device()]),
            ..Answer::ok()
        },
        Answer {
            tracks: Some(3),
            ..Answer::ok()
        },
        Answer {
            guests: Some(vec![Guest {
                name: "Ann".into(),
                permissions: vec![Permission::Enqueue, Permission::Admin],
                queued: 2,
                banned: false,
                expires_in_s: 60,
            }]),
            ..Answer::ok()
        },
        Answer::error("not_ready", "m"),
    ];
    for a in answers {
        assert_conforms(&s, "Answer", &serde_json::to_value(&a).expect("json"));
    }
    // Every error code the parser can give is in the schema's list.
    for code in ["bad_json", "invalid", "too_large"] {
        assert_conforms(
            &s,
            "Answer",
            &serde_json::to_value(Answer::error(code, "m")).expect("json"),
        );
    }
    assert!(!check(&s, "Answer", &json!({"ok": true, "surprise": 1})).is_empty());
}
