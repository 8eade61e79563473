//! The zeroconf endpoint's decisions, as pure functions: whose `addUser` a receiver accepts
//! (the accept policy of SECURITY.md) and which `Host` headers it answers (DNS rebinding).
//!
//! What "the same account" means: the `userName` form field a controller sends (it is also
//! the user name the handed-over credentials log in with) compared with the canonical user
//! name of the account this receiver belongs to (the one its session reports, or the one its
//! stored credentials carry, which is canonical too), ignoring case. A controller that sends an
//! e-mail address instead of the canonical name is refused under `same-account`: the two
//! cannot be matched without logging in with the stranger's credentials first. The owner
//! (daemon, TUI) checks once more after the login: the new session's canonical name must be
//! the same account's, or the new session is dropped.
//!
//! Used by `discovery`; depends on `config` (the policy type) only.

use std::net::IpAddr;

use crate::config::ZeroconfAccept;

/// The policy in force: `configured` when set, else same-account once the receiver belongs to
/// an account and any while it waits for its first login.
pub fn effective(configured: Option<ZeroconfAccept>, account: Option<&str>) -> ZeroconfAccept {
    match (configured, account) {
        (Some(p), _) => p,
        (None, Some(_)) => ZeroconfAccept::SameAccount,
        (None, None) => ZeroconfAccept::Any,
    }
}

/// Whether two user names are the same account (canonical names, case ignored).
pub fn same_user(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    !a.is_empty() && a.to_lowercase() == b.to_lowercase()
}

/// Why a login is refused (the endpoint's `statusString`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `--zeroconf-accept none`.
    NotAccepting,
    /// Another account than the one the receiver belongs to.
    OtherAccount,
}

impl Refusal {
    pub fn status_string(self) -> &'static str {
        match self {
            Refusal::NotAccepting => "ERROR-LOGIN-NOT-ALLOWED: this device accepts no logins",
            Refusal::OtherAccount => {
                "ERROR-LOGIN-NOT-ALLOWED: this device accepts logins of its own account only"
            }
        }
    }
}

/// Whether `user`'s `addUser` passes the policy. Under an explicit `same-account` with no
/// account yet, the first login is accepted (it makes the receiver that account's).
pub fn admits(
    configured: Option<ZeroconfAccept>,
    account: Option<&str>,
    user: &str,
) -> Result<(), Refusal> {
    match (effective(configured, account), account) {
        (ZeroconfAccept::Any, _) | (ZeroconfAccept::SameAccount, None) => Ok(()),
        (ZeroconfAccept::SameAccount, Some(owner)) if same_user(owner, user) => Ok(()),
        (ZeroconfAccept::SameAccount, Some(_)) => Err(Refusal::OtherAccount),
        (ZeroconfAccept::Nobody, _) => Err(Refusal::NotAccepting),
    }
}

/// Whether a request with this `Host` header is answered: an IP literal (v4, v6 in brackets or
/// bare, with or without a port), `localhost`, a `*.local` name, or the advertised `name`
/// (case-insensitive). Anything else is a name some DNS resolves to us — the DNS rebinding
/// case, where a web page on that name would reach the endpoint from the user's browser.
pub fn host_allowed(host: &str, name: &str) -> bool {
    let host = host.trim();
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    let hostname = if let Some(rest) = host.strip_prefix('[') {
        let Some((inner, after)) = rest.split_once(']') else {
            return false;
        };
        return inner.parse::<std::net::Ipv6Addr>().is_ok() && port_ok(after);
    } else {
        match host.rsplit_once(':') {
            Some((h, port)) if port_ok(&format!(":{port}")) => h,
            Some(_) => return false,
            None => host,
        }
    };
    if hostname.parse::<std::net::Ipv4Addr>().is_ok() {
        return true;
    }
    let lower = hostname
        .strip_suffix('.')
        .unwrap_or(hostname)
        .to_lowercase();
    if lower == "localhost" || lower == name.trim().to_lowercase() {
        return true;
    }
    match lower.strip_suffix(".local") {
        Some(label) => {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        }
        None => false,
    }
}

/// Empty, or `:` and a port number.
fn port_ok(s: &str) -> bool {
    match s.strip_prefix(':') {
        None => s.is_empty(),
        Some(p) => !p.is_empty() && p.parse::<u16>().is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_follows_the_account() {
        use ZeroconfAccept::*;
        assert_eq!(effective(None, None), Any);
        assert_eq!(effective(None, Some("alice")), SameAccount);
        assert_eq!(effective(Some(Any), Some("alice")), Any);
        assert_eq!(admits(None, None, "mallory"), Ok(()));
        assert_eq!(admits(None, Some("Alice"), "alice"), Ok(()));
        assert_eq!(
            admits(None, Some("alice"), "mallory"),
            Err(Refusal::OtherAccount)
        );
        assert_eq!(
            admits(None, Some("alice"), "alice@example.com"),
            Err(Refusal::OtherAccount),
            "an e-mail address is not the canonical name"
        );
        assert_eq!(admits(Some(Any), Some("alice"), "mallory"), Ok(()));
        assert_eq!(admits(Some(SameAccount), None, "first"), Ok(()));
        assert_eq!(
            admits(Some(Nobody), Some("alice"), "alice"),
            Err(Refusal::NotAccepting)
        );
        assert_eq!(admits(Some(Nobody), None, "x"), Err(Refusal::NotAccepting));
        assert!(!same_user("", ""), "an empty name matches nothing");
    }

    #[test]
    fn hosts() {
        for ok in [
            "192.168.1.20",
            "192.168.1.20:4070",
            "[fe80::1]",
            "[::1]:8080",
            "::1",
            "Kitchen",
            "kitchen:80",
            "tonearm-box.local",
            "Tonearm-Box.LOCAL.:4070",
            "localhost:1",
        ] {
            assert!(host_allowed(ok, "kitchen"), "{ok}");
        }
        for bad in [
            "attacker.example",
            "attacker.example:4070",
            "127.0.0.1.nip.io",
            ".local",
            "evil.local.example",
            "[::1",
            "[::1]x",
            "192.168.1.20:99999",
            "192.168.1.20:",
            "a b.local",
            "",
        ] {
            assert!(!host_allowed(bad, "kitchen"), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn host_check_never_panics(h in ".{0,80}") {
            let _ = host_allowed(&h, "kitchen");
        }
    }
}
