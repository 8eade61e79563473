//! mDNS for Spotify Connect on the LAN (protocol spec §5.1): advertising this receiver as
//! `_spotify-connect._tcp.local.` (TXT `VERSION=1.0`, `CPath=/`, `Stack=SP`) and browsing for
//! other receivers, each resolved and then asked `getInfo` so the Devices pane can tell a speaker
//! nobody is logged in to (wake it) from one already in use.
//!
//! Called by `discovery` (advertisement; [`browse`] is re-exported there) and by the Connect
//! service (browse). Uses the `mdns-sd` daemon thread and `wake` (getInfo); never imports
//! `discovery` (its errors wrap [`MdnsError`], not the other way round), the UI, the app state
//! or the simulator. Hosts without a multicast-capable interface are handled with a log line,
//! not an error.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use mdns_sd::{ServiceDaemon, ServiceEvent, ServiceInfo};
use tokio::sync::mpsc;

use super::wake;

/// Why advertising or browsing could not start.
#[derive(Debug, thiserror::Error)]
pub enum MdnsError {
    #[error("mDNS: {0}")]
    Daemon(String),
    #[error("mDNS browsing needs a running tokio runtime")]
    NoRuntime,
}

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

/// The instance name from a full service name (`My\ Speaker._spotify-connect._tcp.local.`),
/// with DNS escapes undone.
fn instance_name(fullname: &str) -> String {
    let raw = fullname
        .strip_suffix(SERVICE_TYPE)
        .map(|s| s.strip_suffix('.').unwrap_or(s))
        .unwrap_or(fullname);
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Browses for Spotify Connect receivers. Each resolved service is asked `getInfo` (3 s
/// timeout; devices that do not answer are not reported). Dropping the receiver stops the
/// browse. Must be called within a tokio runtime.
pub fn browse() -> Result<mpsc::Receiver<LanEvent>, MdnsError> {
    let rt = tokio::runtime::Handle::try_current().map_err(|_| MdnsError::NoRuntime)?;
    let daemon = ServiceDaemon::new().map_err(mdns_err)?;
    let events = daemon.browse(SERVICE_TYPE).map_err(mdns_err)?;
    let (tx, rx) = mpsc::channel(64);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .no_proxy()
        .build()
        .map_err(|e| MdnsError::Daemon(format!("HTTP client: {e}")))?;
    rt.spawn(async move {
        loop {
            let ev = tokio::select! {
                _ = tx.closed() => break,
                ev = events.recv_async() => match ev {
                    Ok(ev) => ev,
                    Err(_) => break,
                },
            };
            match ev {
                ServiceEvent::ServiceResolved(s) => {
                    let mut addrs: Vec<IpAddr> =
                        s.get_addresses().iter().map(|a| a.to_ip_addr()).collect();
                    // IPv4 first: link-local IPv6 needs a scope id a URL cannot carry well.
                    addrs.sort_by_key(|a| (!a.is_ipv4(), a.is_loopback()));
                    let Some(ip) = addrs.first().copied() else {
                        continue;
                    };
                    let addr = SocketAddr::new(ip, s.get_port());
                    let cpath = s
                        .get_property_val_str("CPath")
                        .filter(|p| !p.is_empty())
                        .unwrap_or("/")
                        .to_string();
                    let name = instance_name(s.get_fullname());
                    let (tx, http) = (tx.clone(), http.clone());
                    tokio::spawn(async move {
                        match wake::get_info(&http, addr, &cpath).await {
                            Ok(info) => {
                                let dev = LanDevice {
                                    name,
                                    addr,
                                    cpath,
                                    device_id: info.device_id,
                                    device_type: info.device_type,
                                    active_user: info.active_user,
                                };
                                let _ = tx.send(LanEvent::Found(dev)).await;
                            }
                            Err(e) => {
                                tracing::debug!(
                                    "mDNS: {name} at {addr} did not answer getInfo: {e}"
                                )
                            }
                        }
                    });
                }
                ServiceEvent::ServiceRemoved(_, fullname)
                    if tx
                        .send(LanEvent::Lost(instance_name(&fullname)))
                        .await
                        .is_err() =>
                {
                    break;
                }
                _ => {}
            }
        }
        let _ = daemon.stop_browse(SERVICE_TYPE);
        if let Ok(rx) = daemon.shutdown() {
            let _ = tokio::time::timeout(Duration::from_secs(2), rx.recv_async()).await;
        }
    });
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names() {
        assert_eq!(
            instance_name("Kitchen._spotify-connect._tcp.local."),
            "Kitchen"
        );
        assert_eq!(
            instance_name("My\\.Speaker\\\\x._spotify-connect._tcp.local."),
            "My.Speaker\\x"
        );
        assert_eq!(instance_name("odd"), "odd");
    }

    #[test]
    fn long_names_are_cut_to_a_dns_label() {
        assert_eq!(instance_label("Kitchen"), "Kitchen");
        let long = "é".repeat(40);
        let cut = instance_label(&long);
        assert!(cut.len() <= 63);
        assert_eq!(cut, "é".repeat(31));
    }
}
