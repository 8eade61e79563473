//! The mDNS browser's checks (`connect::mdns::validate`) over what a forged announcement can
//! carry: the input is split into the fields of a resolved `_spotify-connect._tcp` record (full
//! service name, addresses, port, TXT `CPath`) and of the `getInfo` answer (device id, type,
//! active user), then fed to `candidate` and `device` — the pure functions every announcement
//! goes through before the browser sends anything — and to the bounded tracker. Besides panics,
//! it checks what passing means: an accepted record's address is admitted by the local nets,
//! its `CPath` passes `check_cpath` (no `..`, `?`, `#`, `%`), its name has no control
//! characters and is bounded, an accepted device id is 16–64 hex digits, and
//! `api::path_segment` of any id stays one URL segment.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use tonearm::connect::mdns::tracker::{Limits, Tracker};
use tonearm::connect::mdns::validate::{
    candidate, check_cpath, check_device_id, device, Announcement, Info, LocalNet, LocalNets,
    MAX_NAME_CHARS,
};

/// Splits off a length-prefixed field (one length byte).
fn field<'a>(data: &mut &'a [u8]) -> &'a [u8] {
    let Some((&n, rest)) = data.split_first() else {
        return &[];
    };
    let n = usize::from(n).min(rest.len());
    let (f, rest) = rest.split_at(n);
    *data = rest;
    f
}

fn addresses(bytes: &[u8]) -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some((&kind, r)) = rest.split_first() {
        if kind & 1 == 0 && r.len() >= 4 {
            out.push(IpAddr::V4(Ipv4Addr::new(r[0], r[1], r[2], r[3])));
            rest = &r[4..];
        } else if r.len() >= 16 {
            let mut a = [0u8; 16];
            a.copy_from_slice(&r[..16]);
            out.push(IpAddr::V6(Ipv6Addr::from(a)));
            rest = &r[16..];
        } else {
            break;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let mut d = data;
    let Some((&flags, rest)) = d.split_first() else {
        return;
    };
    d = rest;
    let fullname = String::from_utf8_lossy(field(&mut d)).into_owned();
    let addrs = addresses(field(&mut d));
    let port_bytes = field(&mut d);
    let port = match port_bytes {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    };
    let cpath_raw = field(&mut d);
    let cpath = (flags & 2 == 0).then_some(cpath_raw);
    let device_id = String::from_utf8_lossy(field(&mut d)).into_owned();
    let device_type = String::from_utf8_lossy(field(&mut d)).into_owned();
    let active_user = String::from_utf8_lossy(d).into_owned();

    let nets = LocalNets {
        nets: vec![
            LocalNet {
                addr: IpAddr::V4(Ipv4Addr::new(192, 168, 77, 1)),
                prefix: 24,
            },
            LocalNet {
                addr: IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
                prefix: 64,
            },
            // A loopback interface never makes loopback admissible by itself.
            LocalNet {
                addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
                prefix: 8,
            },
        ],
        allow_loopback: flags & 1 == 1,
    };
    let ann = Announcement {
        fullname: &fullname,
        addresses: &addrs,
        port,
        cpath,
    };
    let checked = candidate(&ann, &nets);
    if let Ok(c) = &checked {
        assert!(nets.admits(c.addr.ip()).is_ok());
        assert!(c.addr.ip().is_loopback() <= nets.allow_loopback);
        assert!(c.addr.port() != 0);
        assert!(check_cpath(&c.cpath).is_ok());
        assert!(c.cpath.starts_with('/'));
        assert!(!c.cpath.split('/').any(|s| s == ".." || s == "."));
        assert!(!c.cpath.contains(['?', '#', '%']));
        assert!(!c.name.is_empty() && c.name.chars().count() <= MAX_NAME_CHARS);
        assert!(!c.name.chars().any(char::is_control));
        let info = Info {
            device_id: &device_id,
            device_type: &device_type,
            active_user: &active_user,
        };
        if let Ok(dev) = device(c, info) {
            assert!(check_device_id(&dev.device_id).is_ok());
            assert!(dev.device_id.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(!dev.active_user.chars().any(char::is_control));
            assert!(!dev.device_type.chars().any(char::is_control));
        }
    }
    if let Some(seg) = tonearm::api::path_segment(&device_id) {
        assert!(!seg.contains(['/', '?', '#']));
        assert!(seg != "." && seg != "..");
    }
    // The tracker holds whatever the checks said, within its bounds.
    let mut t = Tracker::new(Limits {
        max_devices: 4,
        max_probes: 2,
        ..Limits::default()
    });
    let now = Instant::now();
    for (i, key) in fullname.split('.').take(16).enumerate() {
        t.announced(key, checked.clone(), now);
        if i % 3 == 0 {
            if let Some((k, _)) = t.next_probe(now) {
                t.probed(&k, Ok(Err("no answer".into())), now);
            }
        }
        if i % 5 == 4 {
            t.removed(key);
        }
        let c = t.counts();
        assert!(c.tracked <= 4 && c.probing <= 2);
    }
});
