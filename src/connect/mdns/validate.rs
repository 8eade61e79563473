//! What an mDNS announcement may carry before anything acts on it (issue 12): every field of a
//! `_spotify-connect._tcp` record comes from whoever answers multicast on the LAN, so it is
//! untrusted input. [`candidate`] turns an announcement (instance name, addresses, port, TXT
//! `CPath`) into a [`Candidate`] worth asking `getInfo`, or a typed [`Rejection`]: only
//! addresses on a local interface's subnet ([`LocalNets`]; loopback only when explicitly
//! allowed), a non-zero port, a `CPath` from a safe character set ([`check_cpath`]), a bounded
//! display name without control characters. [`device`] then checks the `getInfo` answer (a hex
//! device id of sane length, bounded display fields) and yields the [`LanDevice`].
//!
//! It also holds what the browser reports ([`LanDevice`], [`LanEvent`], re-exported by `mdns`),
//! so that `mdns`, `tracker` and `wake` can all use it without an import cycle.
//!
//! Pure: no I/O, no clock, no logging (the browser in `mdns.rs` logs rejections once per
//! instance; the fuzz target `mdns_record` drives these functions with arbitrary bytes). Depends
//! on std and thiserror only; never on the rest of the crate.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The Spotify Connect service type.
pub const SERVICE_TYPE: &str = "_spotify-connect._tcp.local.";

/// A Spotify Connect receiver found on the LAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanDevice {
    /// The mDNS instance name (the device's display name).
    pub name: String,
    /// Its zeroconf HTTP endpoint.
    pub addr: SocketAddr,
    /// TXT `CPath` (`/` when missing).
    pub cpath: String,
    /// From `getInfo`.
    pub device_id: String,
    pub device_type: String,
    /// From `getInfo`; empty when nobody is logged in.
    pub active_user: String,
}

/// What [`browse`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LanEvent {
    /// A receiver appeared (or changed address or state).
    Found(LanDevice),
    /// The receiver with this instance name said goodbye or expired.
    Lost(String),
}

/// Longest display name kept (characters, after control characters are stripped).
pub const MAX_NAME_CHARS: usize = 64;
/// Longest `CPath` accepted (bytes).
pub const MAX_CPATH: usize = 128;
/// Shortest and longest device id accepted (hex digits). librespot-like devices use 40, some
/// speakers 32; nothing real is shorter than 16 or longer than 64.
pub const MIN_DEVICE_ID: usize = 16;
pub const MAX_DEVICE_ID: usize = 64;
/// Longest full service name looked at (a DNS name is at most 255 bytes).
pub const MAX_FULLNAME: usize = 255;

/// Why an announcement or a `getInfo` answer is ignored. Every text in it is already made safe
/// for a log line (control characters stripped, bounded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the record carries no address")]
    NoAddress,
    #[error("address {0} is loopback (not allowed for LAN devices)")]
    Loopback(IpAddr),
    #[error("address {0} is not on a local interface's subnet")]
    OffSubnet(IpAddr),
    #[error("address {0} cannot be a device (unspecified, multicast, broadcast or link-local)")]
    BadAddress(IpAddr),
    #[error("port 0")]
    PortZero,
    #[error("unsafe CPath \"{path}\": {why}")]
    CPath { path: String, why: &'static str },
    #[error("unusable instance name: {0}")]
    Name(&'static str),
    #[error("unusable device id \"{id}\": {why}")]
    DeviceId { id: String, why: &'static str },
}

/// One subnet of a local interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

/// The subnets a LAN device may be on: the non-loopback interfaces' (the browser reads them
/// from the system), plus loopback when a test or the config explicitly allows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalNets {
    pub nets: Vec<LocalNet>,
    pub allow_loopback: bool,
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `a` is a host on `net/prefix` (not the subnet's network or broadcast address, for
/// /30 and wider).
fn on_v4_subnet(net: Ipv4Addr, prefix: u8, a: Ipv4Addr) -> bool {
    if prefix == 0 || prefix > 32 {
        return false;
    }
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    let (n, a) = (u32::from(net), u32::from(a));
    if n & mask != a & mask {
        return false;
    }
    let host = a & !mask;
    prefix > 30 || (host != 0 && host != !mask)
}

fn on_v6_subnet(net: Ipv6Addr, prefix: u8, a: Ipv6Addr) -> bool {
    if prefix == 0 || prefix > 128 {
        return false;
    }
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    u128::from(net) & mask == u128::from(a) & mask
}

fn v6_link_local(ip: Ipv6Addr) -> bool {
    ip.segments()[0] & 0xffc0 == 0xfe80
}

impl LocalNets {
    /// Whether `ip` may be asked `getInfo`: `Ok` or the reason it may not.
    pub fn admits(&self, ip: IpAddr) -> Result<(), Rejection> {
        let ip = canonical(ip);
        if ip.is_unspecified()
            || ip.is_multicast()
            || ip == IpAddr::V4(Ipv4Addr::BROADCAST)
            || matches!(ip, IpAddr::V6(v6) if v6_link_local(v6))
        {
            return Err(Rejection::BadAddress(ip));
        }
        if ip.is_loopback() {
            return if self.allow_loopback {
                Ok(())
            } else {
                Err(Rejection::Loopback(ip))
            };
        }
        let on_subnet = self.nets.iter().any(|net| match (canonical(net.addr), ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) if !n.is_loopback() => on_v4_subnet(n, net.prefix, a),
            (IpAddr::V6(n), IpAddr::V6(a)) if !n.is_loopback() => on_v6_subnet(n, net.prefix, a),
            _ => false,
        });
        if on_subnet {
            Ok(())
        } else {
            Err(Rejection::OffSubnet(ip))
        }
    }
}

/// What one resolved announcement carries, as received.
#[derive(Debug, Clone, Copy)]
pub struct Announcement<'a> {
    /// The full service name (`Kitchen._spotify-connect._tcp.local.`, DNS escapes included).
    pub fullname: &'a str,
    pub addresses: &'a [IpAddr],
    pub port: u16,
    /// The TXT `CPath` value as bytes (`None`: missing or without a value).
    pub cpath: Option<&'a [u8]>,
}

/// An announcement that passed [`candidate`]: worth one `getInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The display name (safe for the screen and the log).
    pub name: String,
    pub addr: SocketAddr,
    pub cpath: String,
}

/// `s` without control or bidi-override characters, cut to `max` characters.
pub fn display_text(s: &str, max: usize) -> String {
    s.chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .take(max)
        .collect()
}

/// The instance name from a full service name (`My\ Speaker._spotify-connect._tcp.local.`),
/// with DNS escapes undone (`\.`, `\\`, `\ddd`).
pub fn instance_name(fullname: &str) -> String {
    let raw = fullname
        .strip_suffix(SERVICE_TYPE)
        .map(|s| s.strip_suffix('.').unwrap_or(s))
        .unwrap_or(fullname);
    let mut out = Vec::with_capacity(raw.len());
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' {
            let digits = bytes
                .get(i + 1..i + 4)
                .filter(|d| d.iter().all(u8::is_ascii_digit));
            if let Some(d) = digits {
                let v = d.iter().fold(0u32, |acc, x| acc * 10 + u32::from(x - b'0'));
                if let Ok(v) = u8::try_from(v) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
            if let Some(&n) = bytes.get(i + 1) {
                out.push(n);
            }
            i += 2;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `path` is a safe `CPath`: starts with `/`, at most [`MAX_CPATH`] bytes of
/// `[A-Za-z0-9/_.-]`, no empty (`//`), `.` or `..` segment (a trailing `/` is fine). No `?`,
/// `#` or `%` can pass, so the path cannot carry a query, a fragment or an escape.
pub fn check_cpath(path: &str) -> Result<(), Rejection> {
    let bad = |why| Rejection::CPath {
        path: display_text(path, MAX_CPATH),
        why,
    };
    if path.len() > MAX_CPATH {
        return Err(bad("too long"));
    }
    if !path.starts_with('/') {
        return Err(bad("does not start with /"));
    }
    if let Some(c) = path
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '.')))
    {
        return Err(bad(match c {
            '?' => "carries a query",
            '#' => "carries a fragment",
            '%' => "carries an escape",
            _ => "a character outside [A-Za-z0-9/_.-]",
        }));
    }
    let inner = path[1..].strip_suffix('/').unwrap_or(&path[1..]);
    if inner.is_empty() {
        return Ok(());
    }
    for seg in inner.split('/') {
        match seg {
            "" => return Err(bad("an empty segment")),
            "." | ".." => return Err(bad("a dot segment")),
            _ => {}
        }
    }
    Ok(())
}

/// Whether `id` is a device id we put in a URL or a blob: [`MIN_DEVICE_ID`] to
/// [`MAX_DEVICE_ID`] hex digits.
pub fn check_device_id(id: &str) -> Result<(), Rejection> {
    let bad = |why| Rejection::DeviceId {
        id: display_text(id, MAX_DEVICE_ID),
        why,
    };
    if id.len() < MIN_DEVICE_ID || id.len() > MAX_DEVICE_ID {
        return Err(bad("not 16 to 64 characters"));
    }
    if !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("not hex"));
    }
    Ok(())
}

/// Checks an announcement: the first admitted address (IPv4 first), the port, the `CPath`
/// (`/` when missing or empty), the name.
pub fn candidate(ann: &Announcement<'_>, nets: &LocalNets) -> Result<Candidate, Rejection> {
    if ann.fullname.len() > MAX_FULLNAME {
        return Err(Rejection::Name("longer than a DNS name"));
    }
    let name = display_text(instance_name(ann.fullname).trim(), MAX_NAME_CHARS);
    if name.trim().is_empty() {
        return Err(Rejection::Name("empty"));
    }
    if ann.port == 0 {
        return Err(Rejection::PortZero);
    }
    let cpath = match ann.cpath {
        None | Some(b"") => "/".to_string(),
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(p) => p.to_string(),
            Err(_) => {
                return Err(Rejection::CPath {
                    path: display_text(&String::from_utf8_lossy(bytes), MAX_CPATH),
                    why: "not UTF-8",
                })
            }
        },
    };
    check_cpath(&cpath)?;
    let mut addrs: Vec<IpAddr> = ann.addresses.iter().copied().map(canonical).collect();
    addrs.sort_by_key(|a| (!a.is_ipv4(), *a));
    addrs.dedup();
    let mut first_reason = None;
    for ip in addrs {
        match nets.admits(ip) {
            Ok(()) => {
                return Ok(Candidate {
                    name,
                    addr: SocketAddr::new(ip, ann.port),
                    cpath,
                })
            }
            Err(r) => {
                first_reason.get_or_insert(r);
            }
        }
    }
    Err(first_reason.unwrap_or(Rejection::NoAddress))
}

/// What a `getInfo` answer says about the device (the fields the browser keeps).
#[derive(Debug, Clone, Copy)]
pub struct Info<'a> {
    pub device_id: &'a str,
    pub device_type: &'a str,
    pub active_user: &'a str,
}

/// The device a candidate's `getInfo` answer describes, or why it is not usable.
pub fn device(c: &Candidate, info: Info<'_>) -> Result<LanDevice, Rejection> {
    check_device_id(info.device_id)?;
    Ok(LanDevice {
        name: c.name.clone(),
        addr: c.addr,
        cpath: c.cpath.clone(),
        device_id: info.device_id.to_string(),
        device_type: display_text(info.device_type, MAX_NAME_CHARS),
        active_user: display_text(info.active_user, MAX_NAME_CHARS),
    })
}
