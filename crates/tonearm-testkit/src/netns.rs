//! A private network for LAN tests (mDNS, zeroconf, later the LAN hardening of issue 12): two
//! Linux network namespaces joined by a veth pair with multicast on, addressed from
//! 192.168.77.0/24 inside the namespaces only, each with a route for 224.0.0.0/4. Processes run
//! inside one side with [`Netns::command`] (`ip netns exec`), and a test binary can re-run one
//! of its own `#[ignore]`d helper tests there with [`Netns::rerun`]. Nothing reaches the host's
//! interfaces: the veth pair exists only between the two namespaces, and [`NetnsPair`] deletes
//! both namespaces (and with them the pair) when dropped, also when the test fails.
//!
//! Needs root and `ip` (iproute2): [`NetnsPair::create`] returns `None` with a printed reason
//! without them, and fails under `CI=true` (see [`crate::tools`]). Depends on std only.

use std::ffi::OsStr;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::tools::{is_root, require, require_tool};

/// One side of a [`NetnsPair`].
#[derive(Debug)]
pub struct Netns {
    name: String,
    iface: String,
    addr: Ipv4Addr,
}

impl Netns {
    /// The namespace's name (`ip netns list`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The veth end inside this namespace.
    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// This side's address (on its veth end).
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// `program` to be run inside this namespace (add its arguments and environment).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// This test binary run inside the namespace for just the `#[ignore]`d test `test` (its
    /// full name, e.g. `zeroconf::mdns_helper_advertise`), with its output shown. The helper
    /// reads its parameters from environment variables the caller sets on the command, and
    /// must return at once when they are absent (so `--include-ignored` runs stay harmless).
    pub fn rerun(&self, test: &str) -> Command {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut c = self.command(exe);
        c.args([
            "--exact",
            test,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ]);
        c
    }
}

/// Two namespaces joined by a veth pair; both are deleted when this is dropped.
#[derive(Debug)]
pub struct NetnsPair {
    pub a: Netns,
    pub b: Netns,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl NetnsPair {
    /// Creates `tonearm-<pid>-<n>-a` and `…-b` with a veth pair between them (192.168.77.1 on
    /// `a`, .2 on `b`), multicast on, loopback up, IPv6 off (so only these addresses exist).
    /// `None`, with the reason printed, when this is not root or `ip` is missing (a failure
    /// under `CI=true`). Panics when the setup itself fails.
    pub fn create() -> Option<NetnsPair> {
        let why = "the LAN tests run in network namespaces of their own";
        if !require(is_root(), "root", why) || !require_tool("ip", why) {
            return None;
        }
        let (pid, n) = (std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let side = |s: &str, last: u8| Netns {
            name: format!("tonearm-{pid}-{n}-{s}"),
            // Interface names are at most 15 bytes.
            iface: format!("tn{}{s}", (pid % 100_000) * 100 + n % 100),
            addr: Ipv4Addr::new(192, 168, 77, last),
        };
        let pair = NetnsPair {
            a: side("a", 1),
            b: side("b", 2),
        };
        // From here on, dropping `pair` deletes whatever was created.
        if let Err(e) = pair.set_up() {
            panic!("cannot set up the test network: {e}");
        }
        Some(pair)
    }

    fn set_up(&self) -> Result<(), String> {
        let (a, b) = (&self.a, &self.b);
        ip(&["netns", "add", &a.name])?;
        ip(&["netns", "add", &b.name])?;
        // Both ends are created inside their namespaces: the host never sees the pair.
        ip(&[
            "link", "add", &a.iface, "netns", &a.name, "type", "veth", "peer", "name", &b.iface,
            "netns", &b.name,
        ])?;
        for ns in [a, b] {
            // Best effort: without IPv6 the veth carries only the address below.
            let _ = ns
                .command("sh")
                .args([
                    "-c",
                    "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; \
                     echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let cidr = format!("{}/24", ns.addr);
            ip(&["-n", &ns.name, "addr", "add", &cidr, "dev", &ns.iface])?;
            ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
            ip(&[
                "-n",
                &ns.name,
                "link",
                "set",
                &ns.iface,
                "multicast",
                "on",
                "up",
            ])?;
            ip(&[
                "-n",
                &ns.name,
                "route",
                "add",
                "224.0.0.0/4",
                "dev",
                &ns.iface,
            ])?;
        }
        Ok(())
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        // Deleting a namespace removes its veth end, and the pair with it.
        for ns in [&self.a, &self.b] {
            let _ = ip(&["netns", "del", &ns.name]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether a namespace of that name exists.
    fn exists(name: &str) -> bool {
        let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.split_whitespace().next() == Some(name))
    }

    #[test]
    fn the_pair_talks_over_its_own_link_and_is_gone_after_drop() {
        let Some(pair) = NetnsPair::create() else {
            return;
        };
        let names = (pair.a.name().to_string(), pair.b.name().to_string());
        assert!(exists(&names.0) && exists(&names.1));
        // a reaches b over the veth pair (a TCP connection refused by b's kernel proves the
        // path: nothing listens there).
        let probe = format!(
            "exec 3<>/dev/tcp/{}/9 && echo open || echo closed",
            pair.b.addr()
        );
        let out = pair
            .a
            .command("bash")
            .args(["-c", &probe])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("Connection refused"),
            "a should reach b and be refused: {out:?}"
        );
        // The host does not see the veth ends.
        let host = Command::new("ip").args(["link"]).output().unwrap();
        let host = String::from_utf8_lossy(&host.stdout);
        assert!(!host.contains(pair.a.iface()) && !host.contains(pair.b.iface()));
        drop(pair);
        assert!(!exists(&names.0) && !exists(&names.1));
    }
}
