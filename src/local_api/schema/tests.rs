//! The wire format's parser (strict, bounded, never panicking) and the mapping of player commands to the core's intents.

use super::*;

#[test]
fn requests_parse_strictly() {
    assert_eq!(parse_request(br#"{"command":"pause"}"#), Ok(Request::Pause));
    assert_eq!(
        parse_request(br#"{"command":"seek","position_ms":1500}"#),
        Ok(Request::Seek { position_ms: 1500 })
    );
    assert_eq!(
        parse_request(br#"{"command":"play_uri","uris":["spotify:track:x"]}"#),
        Ok(Request::PlayUri {
            uris: vec!["spotify:track:x".into()],
            index: 0
        })
    );
    let bad: &[(&[u8], &str)] = &[
        (b"", "bad_json"),
        (b"not json", "bad_json"),
        (b"[]", "bad_json"),
        (b"{}", "bad_json"),
        (br#"{"command":"explode"}"#, "bad_json"),
        (br#"{"command":"pause","extra":1}"#, "bad_json"),
        (br#"{"command":"seek","position_ms":"soon"}"#, "bad_json"),
        (br#"{"command":"seek","position_ms":-5}"#, "bad_json"),
        (br#"{"command":"volume","percent":300}"#, "bad_json"),
        (br#"{"command":"volume","percent":101}"#, "invalid"),
        (
            br#"{"command":"volume_by","delta_percent":-101}"#,
            "invalid",
        ),
        (br#"{"command":"queue_add","uris":[]}"#, "invalid"),
        (
            br#"{"command":"queue_add","uris":"spotify:track:x"}"#,
            "bad_json",
        ),
        (
            br#"{"command":"play_uri","uris":["a","b"],"index":2}"#,
            "invalid",
        ),
        (br#"{"command":"transfer","device":""}"#, "invalid"),
        (b"{\"command\":\"pause\"", "bad_json"),
        (&[0xff, 0xfe, 0x00], "bad_json"),
    ];
    for (body, code) in bad {
        let e = parse_request(body).expect_err(&String::from_utf8_lossy(body));
        assert_eq!(e.code(), *code, "{}: {e}", String::from_utf8_lossy(body));
    }
    let huge = vec![b' '; MAX_BODY + 1];
    assert_eq!(parse_request(&huge), Err(BadRequest::TooLarge));
    let many = format!(
        r#"{{"command":"queue_add","uris":[{}]}}"#,
        vec!["\"spotify:track:x\""; MAX_URIS + 1].join(",")
    );
    assert_eq!(
        parse_request(many.as_bytes()).map_err(|e| e.code()),
        Err("invalid")
    );
    // Deep nesting is a JSON error, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(
        parse_request(deep.as_bytes()).map_err(|e| e.code()),
        Err("bad_json")
    );
}

#[test]
fn player_commands_are_the_cores_intents() {
    let cases = [
        (Request::Play, Intent::Play),
        (Request::Pause, Intent::Pause),
        (Request::Toggle, Intent::Toggle),
        (Request::Next, Intent::Next),
        (Request::Prev, Intent::Previous),
        (Request::Seek { position_ms: 9 }, Intent::SeekTo(9)),
        (Request::SeekBy { delta_ms: -9 }, Intent::SeekBy(-9)),
        (Request::Volume { percent: 100 }, Intent::SetVolume(65535)),
        (Request::Volume { percent: 0 }, Intent::SetVolume(0)),
        (
            Request::VolumeBy {
                delta_percent: -100,
            },
            Intent::VolumeBy(-65535),
        ),
        (Request::Shuffle { on: true }, Intent::SetShuffle(true)),
        (
            Request::Repeat { mode: Repeat::One },
            Intent::SetRepeat(RepeatMode::One),
        ),
        (Request::QueueRemove { index: 3 }, Intent::Remove(3)),
        (
            Request::QueueMove { from: 1, to: 4 },
            Intent::Move { from: 1, to: 4 },
        ),
        (Request::QueueClear, Intent::ClearQueue),
    ];
    for (req, intent) in cases {
        assert_eq!(req.intents(), Some(vec![intent]), "{req:?}");
    }
    for req in [
        Request::Status,
        Request::Queue,
        Request::Devices,
        Request::QueueAdd { uris: vec![] },
        Request::Like { uri: None },
    ] {
        assert_eq!(req.intents(), None, "{req:?}");
    }
}

#[test]
fn volume_percent_round_trips() {
    for p in 0..=100u8 {
        assert_eq!(volume_percent(raw_volume(p)), p);
    }
}
