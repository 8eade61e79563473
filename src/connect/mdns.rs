//! mDNS for Spotify Connect on the LAN (protocol spec §5.1): advertising this receiver as
//! `_spotify-connect._tcp.local.` (TXT `VERSION=1.0`, `CPath=/`, `Stack=SP`) and browsing for
//! other receivers, each resolved and then asked `getInfo` so the Devices pane can tell a speaker
//! nobody is logged in to (wake it) from one already in use.
//!
//! What the LAN announces is untrusted input (issue 12): every resolved record goes through
//! `validate` (addresses on a local subnet only, a safe `CPath`, bounded names, a hex device id)
//! before anything is sent to it, and `tracker` keeps the work bounded (a capped device map, a
//! few probes at once, a cool-down per instance). Submodules: `validate` (pure checks, also the
//! fuzz target's entry point), `tracker` (pure bookkeeping).
//!
//! Called by `discovery` (advertisement; [`browse`] is re-exported there) and by the TUI
//! runtime (browse). Uses the `mdns-sd` daemon thread, `if-addrs` (the local subnets) and
//! `wake` (getInfo); never imports `discovery` (its errors wrap [`MdnsError`], not the other way
//! round), the UI, the app state or the simulator. Hosts without a multicast-capable interface
//! are handled with a log line, not an error.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use mdns_sd::{ServiceDaemon, ServiceEvent, ServiceInfo};
use tokio::sync::{mpsc, watch};

use super::wake;

pub mod tracker;
pub mod validate;

use tracker::{Counts, Limits, Step, Tracker};
use validate::{Announcement, Candidate, LocalNet, LocalNets, Rejection};

/// Why advertising or browsing could not start.
#[derive(Debug, thiserror::Error)]
pub enum MdnsError {
    #[error("mDNS: {0}")]
    Daemon(String),
    #[error("mDNS browsing needs a running tokio runtime")]
    NoRuntime,
}

pub use validate::{LanDevice, LanEvent, SERVICE_TYPE};

/// Whether the host has a non-loopback IPv4 route for multicast, and which address it would
/// send from. Used to skip mDNS gracefully on loopback-only hosts (containers, sandboxes).
fn multicast_source() -> Option<Ipv4Addr> {
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    sock.connect((Ipv4Addr::new(224, 0, 0, 251), 5353)).ok()?;
    match sock.local_addr().ok()?.ip() {
        IpAddr::V4(ip) if !ip.is_loopback() && !ip.is_unspecified() => Some(ip),
        _ => None,
    }
}

fn mdns_err(e: mdns_sd::Error) -> MdnsError {
    MdnsError::Daemon(e.to_string())
}

/// DNS labels are at most 63 bytes: longer display names are cut at a character boundary.
fn instance_label(name: &str) -> &str {
    let mut end = name.len().min(63);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// Our registered service. [`Advertisement::stop`] sends the goodbye and waits for the daemon to
/// stop; dropping it does the same without waiting.
pub(crate) struct Advertisement {
    daemon: ServiceDaemon,
    fullname: String,
    stopped: bool,
}

impl Advertisement {
    /// Registers the service for `name` on `port`. `bind` is where the HTTP server listens: an
    /// unspecified address advertises every interface's addresses, a specific one only itself.
    /// `Ok(None)` (with a log line) when there is nothing useful to advertise: a loopback-only
    /// host, or a server bound to loopback.
    pub(crate) fn start(
        name: &str,
        device_id: &str,
        bind: IpAddr,
        port: u16,
    ) -> Result<Option<Advertisement>, MdnsError> {
        if bind.is_loopback() {
            tracing::info!("zeroconf: listening on loopback only; not advertising over mDNS");
            return Ok(None);
        }
        if bind.is_unspecified() && multicast_source().is_none() {
            tracing::info!(
                "zeroconf: no network interface besides loopback; not advertising over mDNS"
            );
            return Ok(None);
        }
        let daemon = ServiceDaemon::new().map_err(mdns_err)?;
        // A host name unique per device id, so two tonearms on one machine do not collide.
        let short: String = device_id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(12)
            .collect();
        let host = format!("tonearm-{short}.local.");
        let props = [("VERSION", "1.0"), ("CPath", "/"), ("Stack", "SP")];
        let label = instance_label(name);
        let info = if bind.is_unspecified() {
            ServiceInfo::new(SERVICE_TYPE, label, &host, "", port, &props[..])
                .map_err(mdns_err)?
                .enable_addr_auto()
        } else {
            ServiceInfo::new(SERVICE_TYPE, label, &host, bind, port, &props[..])
                .map_err(mdns_err)?
        };
        let fullname = info.get_fullname().to_string();
        if let Err(e) = daemon.register(info) {
            let _ = daemon.shutdown();
            return Err(mdns_err(e));
        }
        tracing::info!("zeroconf: advertising {SERVICE_TYPE} as \"{label}\" on port {port}");
        Ok(Some(Advertisement {
            daemon,
            fullname,
            stopped: false,
        }))
    }

    /// Unregisters (goodbye packets) and shuts the daemon down, each step bounded in time.
    pub(crate) async fn stop(mut self) {
        self.stopped = true;
        if let Ok(rx) = self.daemon.unregister(&self.fullname) {
            let _ = tokio::time::timeout(Duration::from_secs(2), rx.recv_async()).await;
        }
        if let Ok(rx) = self.daemon.shutdown() {
            let _ = tokio::time::timeout(Duration::from_secs(2), rx.recv_async()).await;
        }
    }
}

impl Drop for Advertisement {
    fn drop(&mut self) {
        if !self.stopped {
            // The daemon thread handles these in order: goodbye first, then exit.
            let _ = self.daemon.unregister(&self.fullname);
            let _ = self.daemon.shutdown();
        }
    }
}

/// How the browser judges what it hears. The default is what the TUI uses: the system's
/// non-loopback subnets (re-read every [`NETS_REFRESH`]), no loopback, [`Limits::default`].
#[derive(Debug, Clone, Default)]
pub struct BrowseConfig {
    pub limits: Limits,
    /// Accept devices on loopback addresses (tests only: a LAN device is never on loopback).
    pub allow_loopback: bool,
    /// The subnets devices may be on; `None`: the system's interfaces.
    pub nets: Option<Vec<LocalNet>>,
}

/// How often the local subnets are re-read (DHCP, Wi-Fi roaming).
pub const NETS_REFRESH: Duration = Duration::from_secs(30);

/// The browser's counters, published after every step (tests and the e2e helper read them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BrowseStats {
    pub counts: Counts,
    /// Resolved announcements seen.
    pub announcements: u64,
    /// Probe tasks alive right now.
    pub probe_tasks: usize,
}

/// The non-loopback subnets of this host's interfaces (none when they cannot be read).
pub fn system_nets() -> Vec<LocalNet> {
    let Ok(ifaces) = if_addrs::get_if_addrs() else {
        return Vec::new();
    };
    ifaces
        .into_iter()
        .filter(|i| !i.is_loopback())
        .map(|i| match i.addr {
            if_addrs::IfAddr::V4(a) => LocalNet {
                addr: IpAddr::V4(a.ip),
                prefix: a.prefixlen,
            },
            if_addrs::IfAddr::V6(a) => LocalNet {
                addr: IpAddr::V6(a.ip),
                prefix: a.prefixlen,
            },
        })
        .collect()
}

fn local_nets(cfg: &BrowseConfig) -> LocalNets {
    LocalNets {
        nets: cfg.nets.clone().unwrap_or_else(system_nets),
        allow_loopback: cfg.allow_loopback,
    }
}

/// Map keys are full service names, cut to a DNS name's length.
fn key_of(fullname: &str) -> String {
    let mut end = fullname.len().min(validate::MAX_FULLNAME + 1);
    while !fullname.is_char_boundary(end) {
        end -= 1;
    }
    fullname[..end].to_string()
}

/// One `getInfo` probe: the device, `Ok(Err)` when it did not answer usefully, `Err` when its
/// answer is unacceptable (a bad device id).
async fn probe(
    http: reqwest::Client,
    c: Candidate,
) -> Result<Result<LanDevice, String>, Rejection> {
    match wake::get_info(&http, c.addr, &c.cpath).await {
        Ok(info) => validate::device(
            &c,
            validate::Info {
                device_id: &info.device_id,
                device_type: &info.device_type,
                active_user: &info.active_user,
            },
        )
        .map(Ok),
        Err(e) => {
            tracing::debug!(
                "mDNS: \"{}\" at {} did not answer getInfo: {e}",
                c.name,
                c.addr
            );
            Ok(Err(e.to_string()))
        }
    }
}

/// Browses for Spotify Connect receivers with [`BrowseConfig::default`]. See [`browse_with`].
pub fn browse() -> Result<mpsc::Receiver<LanEvent>, MdnsError> {
    browse_with(BrowseConfig::default()).map(|(rx, _)| rx)
}

/// Browses for Spotify Connect receivers. Each resolved record is checked
/// ([`validate::candidate`]); one that passes is asked `getInfo` (a few at a time, 5 s each;
/// devices that do not answer or answer with an unusable id are not reported). Dropping the
/// receiver stops the browse. Must be called within a tokio runtime. Also returns the
/// browser's counters.
pub fn browse_with(
    cfg: BrowseConfig,
) -> Result<(mpsc::Receiver<LanEvent>, watch::Receiver<BrowseStats>), MdnsError> {
    let rt = tokio::runtime::Handle::try_current().map_err(|_| MdnsError::NoRuntime)?;
    let daemon = ServiceDaemon::new().map_err(mdns_err)?;
    let events = daemon.browse(SERVICE_TYPE).map_err(mdns_err)?;
    let (tx, rx) = mpsc::channel(64);
    let (stats_tx, stats_rx) = watch::channel(BrowseStats::default());
    let http = wake::client().map_err(|e| MdnsError::Daemon(format!("HTTP client: {e}")))?;
    rt.spawn(async move {
        let mut tracker = Tracker::new(cfg.limits);
        let mut nets = local_nets(&cfg);
        let mut refresh = tokio::time::interval(NETS_REFRESH);
        refresh.tick().await;
        let mut probes = tokio::task::JoinSet::new();
        let mut probe_keys: HashMap<tokio::task::Id, String> = HashMap::new();
        let mut announcements = 0u64;
        loop {
            let step = tokio::select! {
                _ = tx.closed() => break,
                _ = refresh.tick() => {
                    if cfg.nets.is_none() {
                        nets = local_nets(&cfg);
                    }
                    Step::default()
                }
                Some(done) = probes.join_next_with_id(), if !probes.is_empty() => {
                    let (id, result) = match done {
                        Ok((id, r)) => (id, r),
                        // A probe that panicked: counted as unanswered.
                        Err(e) => (e.id(), Ok(Err("the probe failed".to_string()))),
                    };
                    match probe_keys.remove(&id) {
                        Some(key) => tracker.probed(&key, result, Instant::now()),
                        None => Step::default(),
                    }
                }
                ev = events.recv_async() => match ev {
                    Ok(ServiceEvent::ServiceResolved(s)) => {
                        announcements += 1;
                        let addrs: Vec<IpAddr> =
                            s.get_addresses().iter().map(|a| a.to_ip_addr()).collect();
                        let ann = Announcement {
                            fullname: s.get_fullname(),
                            addresses: &addrs,
                            port: s.get_port(),
                            cpath: s.get_property_val("CPath").flatten(),
                        };
                        let checked = validate::candidate(&ann, &nets);
                        tracker.announced(&key_of(s.get_fullname()), checked, Instant::now())
                    }
                    Ok(ServiceEvent::ServiceRemoved(_, fullname)) => {
                        tracker.removed(&key_of(&fullname))
                    }
                    Ok(_) => Step::default(),
                    Err(_) => break,
                },
            };
            if let Some(line) = step.log {
                tracing::info!("{line}");
            }
            let mut closed = false;
            for ev in step.events {
                closed |= tx.send(ev).await.is_err();
            }
            if closed {
                break;
            }
            while let Some((key, c)) = tracker.next_probe(Instant::now()) {
                let handle = probes.spawn(probe(http.clone(), c));
                probe_keys.insert(handle.id(), key);
            }
            stats_tx.send_replace(BrowseStats {
                counts: tracker.counts(),
                announcements,
                probe_tasks: probes.len(),
            });
        }
        probes.abort_all();
        let _ = daemon.stop_browse(SERVICE_TYPE);
        if let Ok(rx) = daemon.shutdown() {
            let _ = tokio::time::timeout(Duration::from_secs(2), rx.recv_async()).await;
        }
    });
    Ok((rx, stats_rx))
}

#[cfg(test)]
mod tests;
