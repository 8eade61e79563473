//! Tests of the mDNS browser's pure parts: the announcement checks (one test per rule), the
//! bounded tracker (2,000 distinct announcements, cool-down, probe slots, eviction) and the
//! advertisement's name helpers.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::tracker::{Limits, Tracker};
use super::validate::*;
use super::*;

const ID: &str = "0123456789abcdef0123456789abcdef01234567";

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn lan() -> LocalNets {
    LocalNets {
        nets: vec![
            LocalNet {
                addr: ip("192.168.1.10"),
                prefix: 24,
            },
            LocalNet {
                addr: ip("fd00::10"),
                prefix: 64,
            },
        ],
        allow_loopback: false,
    }
}

fn ann<'a>(
    fullname: &'a str,
    addrs: &'a [IpAddr],
    port: u16,
    cpath: Option<&'a [u8]>,
) -> Announcement<'a> {
    Announcement {
        fullname,
        addresses: addrs,
        port,
        cpath,
    }
}

const KITCHEN: &str = "Kitchen._spotify-connect._tcp.local.";

#[test]
fn a_good_record_is_a_candidate() {
    let addrs = [ip("192.168.1.20")];
    let c = candidate(&ann(KITCHEN, &addrs, 4070, Some(b"/zc")), &lan()).expect("ok");
    assert_eq!(c.name, "Kitchen");
    assert_eq!(
        c.addr,
        "192.168.1.20:4070".parse::<SocketAddr>().expect("addr")
    );
    assert_eq!(c.cpath, "/zc");
    // Missing or empty CPath is `/`.
    for cp in [None, Some(&b""[..])] {
        let c = candidate(&ann(KITCHEN, &addrs, 1, cp), &lan()).expect("ok");
        assert_eq!(c.cpath, "/");
    }
}

#[test]
fn loopback_is_refused_unless_allowed() {
    for a in ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"] {
        let addrs = [ip(a)];
        let r = candidate(&ann(KITCHEN, &addrs, 80, None), &lan());
        assert!(matches!(r, Err(Rejection::Loopback(_))), "{a}: {r:?}");
        let mut allowed = lan();
        allowed.allow_loopback = true;
        assert!(
            candidate(&ann(KITCHEN, &addrs, 80, None), &allowed).is_ok(),
            "{a}"
        );
    }
    // A loopback interface in the list does not make loopback addresses local.
    let mut with_lo = lan();
    with_lo.nets.push(LocalNet {
        addr: ip("127.0.0.1"),
        prefix: 8,
    });
    let addrs = [ip("127.0.0.1")];
    assert!(candidate(&ann(KITCHEN, &addrs, 80, None), &with_lo).is_err());
}

#[test]
fn only_local_subnets_are_admitted() {
    let nets = lan();
    for ok in ["192.168.1.1", "192.168.1.254", "fd00::99"] {
        assert_eq!(nets.admits(ip(ok)), Ok(()), "{ok}");
    }
    for off in [
        "192.168.2.1",
        "10.0.0.1",
        "8.8.8.8",
        "169.254.0.1",
        "fd01::1",
    ] {
        assert_eq!(
            nets.admits(ip(off)),
            Err(Rejection::OffSubnet(ip(off))),
            "{off}"
        );
    }
    for bad in [
        "0.0.0.0",
        "::",
        "224.0.0.251",
        "255.255.255.255",
        "192.168.1.0",
        "192.168.1.255",
        "fe80::1",
        "ff02::fb",
    ] {
        assert!(
            matches!(
                nets.admits(ip(bad)),
                Err(Rejection::BadAddress(_) | Rejection::OffSubnet(_))
            ),
            "{bad}"
        );
    }
    // No interfaces: nothing is local.
    assert!(LocalNets::default().admits(ip("192.168.1.20")).is_err());
    // A /32 and a /31 have no network/broadcast host numbers to refuse.
    let p2p = LocalNets {
        nets: vec![LocalNet {
            addr: ip("10.1.1.0"),
            prefix: 31,
        }],
        allow_loopback: false,
    };
    assert_eq!(p2p.admits(ip("10.1.1.1")), Ok(()));
}

#[test]
fn the_first_admitted_address_is_used_ipv4_first() {
    let addrs = [
        ip("fd00::5"),
        ip("127.0.0.1"),
        ip("10.9.9.9"),
        ip("192.168.1.7"),
    ];
    let c = candidate(&ann(KITCHEN, &addrs, 80, None), &lan()).expect("ok");
    assert_eq!(c.addr.ip(), ip("192.168.1.7"));
    let only_bad = [ip("127.0.0.1"), ip("10.9.9.9")];
    let r = candidate(&ann(KITCHEN, &only_bad, 80, None), &lan());
    assert!(matches!(r, Err(Rejection::OffSubnet(_))), "{r:?}");
    assert_eq!(
        candidate(&ann(KITCHEN, &[], 80, None), &lan()),
        Err(Rejection::NoAddress)
    );
}

#[test]
fn port_zero_is_refused() {
    let addrs = [ip("192.168.1.20")];
    assert_eq!(
        candidate(&ann(KITCHEN, &addrs, 0, None), &lan()),
        Err(Rejection::PortZero)
    );
}

#[test]
fn cpath_rules() {
    for ok in ["/", "/zc", "/zc/", "/spotify-connect/v1.2/zc_x", "/a.b/c-d"] {
        assert_eq!(check_cpath(ok), Ok(()), "{ok}");
    }
    let long = format!("/{}", "a".repeat(MAX_CPATH));
    for bad in [
        "",
        "zc",
        "/../x?y",
        "/..",
        "/a/../b",
        "/./a",
        "/a//b",
        "//evil.example/x",
        "/x?action=addUser",
        "/x#frag",
        "/%2e%2e",
        "/a b",
        "/a\r\nHost: x",
        "/é",
        "/a;b",
        "/a@b",
        long.as_str(),
    ] {
        assert!(
            matches!(check_cpath(bad), Err(Rejection::CPath { .. })),
            "{bad:?}"
        );
    }
    let addrs = [ip("192.168.1.20")];
    let r = candidate(&ann(KITCHEN, &addrs, 80, Some(b"/../x?y")), &lan());
    assert!(matches!(r, Err(Rejection::CPath { .. })), "{r:?}");
    let r = candidate(&ann(KITCHEN, &addrs, 80, Some(&[b'/', 0xff][..])), &lan());
    assert!(
        matches!(
            r,
            Err(Rejection::CPath {
                why: "not UTF-8",
                ..
            })
        ),
        "{r:?}"
    );
    // The rejection's text is safe for a log line.
    let Err(Rejection::CPath { path, .. }) = check_cpath("/a\r\nforged") else {
        panic!("refused");
    };
    assert!(!path.contains('\n') && !path.contains('\r'), "{path:?}");
}

#[test]
fn names_are_bounded_and_stripped_of_control_characters() {
    let addrs = [ip("192.168.1.20")];
    let forged = "Evil\\010INFO forged line\\027[31m._spotify-connect._tcp.local.";
    let c = candidate(&ann(forged, &addrs, 80, None), &lan()).expect("ok");
    assert_eq!(c.name, "EvilINFO forged line[31m");
    let long = format!("{}._spotify-connect._tcp.local.", "x".repeat(200));
    let c = candidate(&ann(&long, &addrs, 80, None), &lan()).expect("ok");
    assert_eq!(c.name.chars().count(), MAX_NAME_CHARS);
    let bidi = "a\u{202e}b._spotify-connect._tcp.local.";
    assert_eq!(
        candidate(&ann(bidi, &addrs, 80, None), &lan())
            .expect("ok")
            .name,
        "ab"
    );
    for empty in [
        "._spotify-connect._tcp.local.",
        "\\001\\002._spotify-connect._tcp.local.",
        "  ",
    ] {
        assert_eq!(
            candidate(&ann(empty, &addrs, 80, None), &lan()),
            Err(Rejection::Name("empty")),
            "{empty:?}"
        );
    }
    let huge = "y".repeat(MAX_FULLNAME + 1);
    assert!(matches!(
        candidate(&ann(&huge, &addrs, 80, None), &lan()),
        Err(Rejection::Name(_))
    ));
}

#[test]
fn instance_names_undo_dns_escapes() {
    assert_eq!(
        instance_name("Kitchen._spotify-connect._tcp.local."),
        "Kitchen"
    );
    assert_eq!(
        instance_name("My\\.Speaker\\\\x._spotify-connect._tcp.local."),
        "My.Speaker\\x"
    );
    assert_eq!(instance_name("A\\032B._spotify-connect._tcp.local."), "A B");
    assert_eq!(instance_name("odd"), "odd");
    assert_eq!(instance_name("trailing\\"), "trailing");
    assert_eq!(instance_name("\\999"), "999");
}

#[test]
fn device_ids_must_be_hex_of_sane_length() {
    assert_eq!(check_device_id(ID), Ok(()));
    assert_eq!(check_device_id(&ID.to_uppercase()), Ok(()));
    assert_eq!(check_device_id("0123456789abcdef"), Ok(()));
    let long = "a".repeat(MAX_DEVICE_ID + 1);
    for bad in [
        "",
        "abc",
        "../../devices/x",
        "0123456789abcdef/to/ffff",
        "0123456789abcdef?x=1",
        "0123456789abcdeg0123",
        "0123456789abcdef%2F",
        long.as_str(),
    ] {
        assert!(
            matches!(check_device_id(bad), Err(Rejection::DeviceId { .. })),
            "{bad}"
        );
    }
    let c = Candidate {
        name: "Kitchen".into(),
        addr: "192.168.1.20:80".parse().expect("addr"),
        cpath: "/".into(),
    };
    let info = Info {
        device_id: "x/../y",
        device_type: "",
        active_user: "",
    };
    assert!(matches!(device(&c, info), Err(Rejection::DeviceId { .. })));
    let info = Info {
        device_id: ID,
        device_type: "Speaker\u{1b}[2J",
        active_user: "eve\nINFO forged",
    };
    let d = device(&c, info).expect("ok");
    assert_eq!(d.device_id, ID);
    assert_eq!(d.device_type, "Speaker[2J");
    assert_eq!(d.active_user, "eveINFO forged");
}

// ---- the tracker ----------------------------------------------------------------------------

fn cand(n: u32) -> Candidate {
    Candidate {
        name: format!("dev{n}"),
        addr: SocketAddr::new(ip("192.168.1.20"), 1000 + (n % 1000) as u16),
        cpath: "/".into(),
    }
}

fn dev(c: &Candidate) -> LanDevice {
    LanDevice {
        name: c.name.clone(),
        addr: c.addr,
        cpath: c.cpath.clone(),
        device_id: ID.into(),
        device_type: "Speaker".into(),
        active_user: String::new(),
    }
}

#[test]
fn two_thousand_announcements_stay_bounded() {
    let limits = Limits::default();
    let mut t = Tracker::new(limits);
    let now = Instant::now();
    let mut probes = Vec::new();
    let mut logged = 0;
    for n in 0..2000u32 {
        let key = format!("dev{n}._spotify-connect._tcp.local.");
        let checked = if n % 2 == 0 {
            Ok(cand(n))
        } else {
            Err(Rejection::Loopback(ip("127.0.0.1")))
        };
        let step = t.announced(&key, checked, now);
        logged += usize::from(step.log.is_some());
        while let Some(p) = t.next_probe(now) {
            probes.push(p);
        }
        let c = t.counts();
        assert!(c.tracked <= limits.max_devices, "{c:?}");
        assert!(c.probing <= limits.max_probes, "{c:?}");
    }
    // Nobody answered yet: only the first four were ever probed.
    assert_eq!(probes.len(), limits.max_probes);
    assert_eq!(t.counts().probes_started, 4);
    assert_eq!(t.counts().rejected, 1000);
    // One log line per rejected instance, within the budget.
    assert_eq!(logged, tracker::LOGS_PER_MINUTE as usize);
    // Answers free the slots; the next waiting ones are probed, still four at a time.
    for (key, c) in probes.drain(..) {
        let step = t.probed(&key, Ok(Ok(dev(&c))), now);
        assert_eq!(step.events, vec![LanEvent::Found(dev(&c))]);
    }
    let mut again = Vec::new();
    while let Some(p) = t.next_probe(now) {
        again.push(p);
    }
    assert_eq!(again.len(), limits.max_probes);
    assert!(t.counts().tracked <= limits.max_devices);
}

#[test]
fn re_announcements_respect_the_cool_down() {
    let limits = Limits {
        max_devices: 8,
        max_probes: 2,
        cool_down: Duration::from_secs(60),
    };
    let mut t = Tracker::new(limits);
    let t0 = Instant::now();
    let key = "Kitchen._spotify-connect._tcp.local.";
    t.announced(key, Ok(cand(1)), t0);
    let (k, c) = t.next_probe(t0).expect("probe");
    // Re-announced while probing: no second probe.
    t.announced(key, Ok(cand(1)), t0);
    assert!(t.next_probe(t0).is_none());
    let step = t.probed(&k, Ok(Ok(dev(&c))), t0);
    assert_eq!(step.events.len(), 1);
    // The same record 100 times within the cool-down: no probe.
    for s in 0..100 {
        t.announced(key, Ok(cand(1)), t0 + Duration::from_millis(s * 100));
        assert!(t.next_probe(t0 + Duration::from_millis(s * 100)).is_none());
    }
    assert_eq!(t.counts().probes_started, 1);
    // After the cool-down, or when the record changes, it is probed again.
    let later = t0 + Duration::from_secs(61);
    t.announced(key, Ok(cand(1)), later);
    assert!(t.next_probe(later).is_some());
    let mut other = cand(1);
    other.cpath = "/zc".into();
    t.announced(key, Ok(other.clone()), later);
    // Changed while probing: probed again once the first probe ends.
    assert!(t.next_probe(later).is_none());
    t.probed(key, Ok(Err("timeout".into())), later);
    assert_eq!(t.next_probe(later).map(|(_, c)| c), Some(other));
}

#[test]
fn rejections_are_logged_once_per_instance() {
    let mut t = Tracker::new(Limits::default());
    let now = Instant::now();
    let key = "Evil._spotify-connect._tcp.local.";
    let r = Rejection::Loopback(ip("127.0.0.1"));
    let first = t.announced(key, Err(r.clone()), now);
    let line = first.log.expect("logged");
    assert!(line.contains("Evil") && line.contains("loopback"), "{line}");
    for _ in 0..50 {
        assert_eq!(t.announced(key, Err(r.clone()), now).log, None);
    }
    // Another reason is news.
    let other = Rejection::PortZero;
    assert!(t.announced(key, Err(other), now).log.is_some());
    // After a minute, the suppressed count is reported with the next line.
    let mut t = Tracker::new(Limits::default());
    for n in 0..30 {
        t.announced(&format!("e{n}"), Err(r.clone()), now);
    }
    let line = t
        .announced("late", Err(r.clone()), now + Duration::from_secs(61))
        .log
        .expect("logged");
    assert!(line.contains("10 more"), "{line}");
}

#[test]
fn eviction_prefers_unresolved_and_reports_found_ones_lost() {
    let limits = Limits {
        max_devices: 3,
        max_probes: 1,
        cool_down: Duration::from_secs(60),
    };
    let mut t = Tracker::new(limits);
    let now = Instant::now();
    t.announced("a", Ok(cand(1)), now);
    let (k, c) = t.next_probe(now).expect("probe");
    t.probed(&k, Ok(Ok(dev(&c))), now);
    t.announced("b", Ok(cand(2)), now);
    t.announced("c", Err(Rejection::PortZero), now);
    // "d" evicts "b" (waiting), then "e" evicts "c" (rejected): the found "a" stays.
    assert!(t.announced("d", Ok(cand(4)), now).events.is_empty());
    assert!(t.announced("e", Ok(cand(5)), now).events.is_empty());
    assert_eq!(t.counts().found, 1);
    // With only found/probing entries left to evict, the oldest found goes and is lost.
    let (k, c) = t.next_probe(now).expect("probe");
    t.probed(&k, Ok(Ok(dev(&c))), now);
    let (k, c) = t.next_probe(now).expect("probe");
    t.probed(&k, Ok(Ok(dev(&c))), now);
    let step = t.announced("f", Ok(cand(6)), now);
    assert_eq!(step.events, vec![LanEvent::Lost("dev1".into())]);
    assert_eq!(t.counts().tracked, 3);
    // A goodbye for a found device is reported; for an unknown one, nothing.
    assert_eq!(t.removed("d").events, vec![LanEvent::Lost("dev4".into())]);
    assert!(t.removed("nope").events.is_empty());
}

#[test]
fn a_device_with_a_bad_id_is_rejected_after_its_probe() {
    let mut t = Tracker::new(Limits::default());
    let now = Instant::now();
    t.announced("a", Ok(cand(1)), now);
    let (k, _) = t.next_probe(now).expect("probe");
    let step = t.probed(
        &k,
        Err(Rejection::DeviceId {
            id: "x".into(),
            why: "not hex",
        }),
        now,
    );
    assert!(step.events.is_empty());
    assert!(step.log.expect("logged").contains("device id"));
    assert_eq!(t.counts().probing, 0);
}

#[test]
fn long_names_are_cut_to_a_dns_label() {
    assert_eq!(instance_label("Kitchen"), "Kitchen");
    let long = "é".repeat(40);
    let cut = instance_label(&long);
    assert!(cut.len() <= 63);
    assert_eq!(cut, "é".repeat(31));
}
