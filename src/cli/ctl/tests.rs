//! `tonearm ctl`'s pure parts: seek/volume arguments and the status text.

use super::*;

#[test]
fn seek_and_volume_arguments() {
    assert_eq!(
        parse_seek("83").ok(),
        Some(Request::Seek {
            position_ms: 83_000
        })
    );
    assert_eq!(
        parse_seek("1:23").ok(),
        Some(Request::Seek {
            position_ms: 83_000
        })
    );
    assert_eq!(
        parse_seek("+10").ok(),
        Some(Request::SeekBy { delta_ms: 10_000 })
    );
    assert_eq!(
        parse_seek("-0:05").ok(),
        Some(Request::SeekBy { delta_ms: -5_000 })
    );
    for bad in ["", "x", "1:99", "99999999999999999999", "+", "1:2:3"] {
        assert!(parse_seek(bad).is_err(), "{bad}");
    }
    assert_eq!(
        parse_volume("60").ok(),
        Some(Request::Volume { percent: 60 })
    );
    assert_eq!(
        parse_volume("+5").ok(),
        Some(Request::VolumeBy { delta_percent: 5 })
    );
    assert_eq!(
        parse_volume("-100").ok(),
        Some(Request::VolumeBy {
            delta_percent: -100
        })
    );
    for bad in ["101", "-101", "+200", "loud", ""] {
        assert!(parse_volume(bad).is_err(), "{bad}");
    }
}

#[test]
fn status_reads_as_text() {
    let s = Status {
        api: 1,
        state: State::Paused,
        track: Some(schema::Track {
            uri: "spotify:track:x".into(),
            name: "Song".into(),
            artists: vec!["A".into(), "B".into()],
            album: "Al".into(),
            duration_ms: 200_000,
        }),
        context: None,
        position_ms: 65_000,
        volume: 60,
        volume_raw: 39321,
        shuffle: false,
        repeat: Repeat::All,
        device: schema::DeviceRef {
            id: "d".into(),
            name: "Box".into(),
        },
        connection: schema::Connection {
            session: schema::Link::Online,
            connect: schema::Link::Off,
        },
        queue_length: 10,
        queue_index: Some(2),
    };
    assert_eq!(
        status_text(&s),
        "⏸ paused  Song — A, B (Al)  1:05 / 3:20\nvolume 60 %  shuffle off  repeat all  queue 3/10\ndevice \"Box\"  session online  connect off"
    );
}

#[test]
fn guests_commands_map_to_requests_and_read_as_text() {
    use crate::cli::args::GuestsCommand;
    use crate::local_api::schema::{Guest, Permission};
    let grant = CtlCommand::Guests {
        command: Some(GuestsCommand::Grant {
            name: "Ann".into(),
            permission: "skip".into(),
        }),
    };
    assert_eq!(
        request(&grant).unwrap(),
        Request::GuestGrant {
            name: "Ann".into(),
            permission: Permission::Skip
        }
    );
    let bad = CtlCommand::Guests {
        command: Some(GuestsCommand::Revoke {
            name: "Ann".into(),
            permission: "root".into(),
        }),
    };
    let e = request(&bad).unwrap_err().to_string();
    assert!(e.contains("root") && e.contains("enqueue"), "{e}");
    assert_eq!(
        request(&CtlCommand::Guests { command: None }).unwrap(),
        Request::Guests
    );
    let g = Guest {
        name: "Ann".into(),
        permissions: vec![Permission::Enqueue, Permission::Skip],
        queued: 2,
        banned: false,
        expires_in_s: 600,
    };
    assert_eq!(
        guest_line(&g),
        "Ann  [enqueue, skip]  2 queued  expires in 10 min"
    );
}
