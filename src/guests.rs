//! The guest remote (`[remote] listen`, `--remote-listen`): a small web page and JSON API on
//! the LAN through which guests — no account, just a name, as MusicBot's guests — search the
//! catalog, see the queue with who added what, and enqueue; what else they may do (play/pause,
//! skip, move, volume, remove others' additions, admin) is the owner's to grant or revoke from
//! the local control API (`tonearm ctl guests …`), where they can also ban a guest.
//!
//! A front end of the one core like keys, Connect and `tonearm ctl`: every mutating call
//! becomes [`crate::control::Intent`]s handed to the host through
//! [`LocalApi::submit`] (the TUI's `update`, the daemon's `apply_intents`); nothing here drives
//! the player. The queue shown is the player's, read through the control API's hub.
//!
//! * [`token`]: tokens signed with an in-memory key (a restart refuses the old ones).
//! * [`table`]: the guests, their permissions, bans, rate budgets and additions.
//! * [`conn`]: the TCP listener (connection cap, idle deadline).
//! * [`server`]: the routes, the web-security rules (JSON only, same Origin, Host check,
//!   bounded bodies, rate limits) and the handlers; the page (`page.html`, `page.js`,
//!   `page.css`) is compiled in.
//!
//! Started by `daemon.rs` and `app/run.rs` beside the local API (it needs it: the intents go
//! there). A service module: depends on the control API, the services and the core; never on
//! `app`, `ui` or `cli`.

pub mod conn;
pub mod server;
pub mod table;
pub mod token;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::config::RemoteSettings;
use crate::local_api::schema::{self, Permission};
use crate::local_api::{GuestAdmin, LocalApi};

#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    #[error("cannot listen on {addr} for the guest remote: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the guest remote needs the local control API (it is off: --no-control-socket or [control] enabled = false)")]
    NoControlApi,
}

/// A track as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Label {
    pub name: String,
    pub artists: Vec<String>,
}

/// The labels kept for the queue's items (the player's queue holds URIs only).
const MAX_LABELS: usize = 4096;

/// The running remote: the table, the key, the labels; the owner's side of the control API.
pub struct Remote {
    api: LocalApi,
    table: Mutex<table::Table>,
    key: token::Key,
    labels: Mutex<HashMap<String, Label>>,
    listen: SocketAddr,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Unix time, seconds.
fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Remote {
    fn label(&self, uri: &str) -> Option<Label> {
        lock(&self.labels).get(uri).cloned()
    }

    fn remember(&self, uri: String, label: Label) {
        let mut l = lock(&self.labels);
        if l.len() >= MAX_LABELS && !l.contains_key(&uri) {
            l.clear();
        }
        l.insert(uri, label);
    }

    /// The queue with who added each item (guest ids).
    fn queue(&self) -> (schema::Queue, Vec<Option<u64>>) {
        let q = self.api.player_queue();
        let owners = lock(&self.table).attribute(&q, Instant::now());
        (q, owners)
    }
}

impl GuestAdmin for Remote {
    fn list(&self) -> Vec<schema::Guest> {
        lock(&self.table).list(now_s())
    }

    fn grant(&self, name: &str, permission: Permission) -> Result<schema::Guest, String> {
        let g = lock(&self.table).grant(name, permission, now_s())?;
        tracing::info!(
            guest = %crate::logging::escaped(&g.name),
            permission = permission.as_str(),
            "guest remote: permission granted"
        );
        Ok(g)
    }

    fn revoke(&self, name: &str, permission: Permission) -> Result<schema::Guest, String> {
        let g = lock(&self.table).revoke(name, permission, now_s())?;
        tracing::info!(
            guest = %crate::logging::escaped(&g.name),
            permission = permission.as_str(),
            "guest remote: permission revoked"
        );
        Ok(g)
    }

    fn ban(&self, name: &str) -> Result<schema::Guest, String> {
        let g = lock(&self.table).ban(name, now_s())?;
        tracing::info!(guest = %crate::logging::escaped(&g.name), "guest remote: guest banned");
        self.api.publish(schema::Event::GuestBanned {
            name: g.name.clone(),
        });
        Ok(g)
    }

    fn annotate(&self, queue: &mut schema::Queue) {
        let mut t = lock(&self.table);
        let owners = t.attribute(queue, Instant::now());
        for (item, owner) in queue.items.iter_mut().zip(owners) {
            item.added_by = owner.and_then(|id| t.name(id)).map(str::to_string);
        }
    }
}

/// The running guest remote; it stops when the control API shuts down.
#[derive(Clone)]
pub struct GuestRemote {
    remote: Arc<Remote>,
}

impl std::fmt::Debug for GuestRemote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestRemote")
            .field("listen", &self.remote.listen)
            .finish()
    }
}

impl GuestRemote {
    /// Listens when `[remote] listen` is set (`None` otherwise), on `api`'s intents path.
    pub async fn start(
        settings: &RemoteSettings,
        api: Option<&LocalApi>,
    ) -> Result<Option<GuestRemote>, GuestError> {
        let Some(addr) = settings.listen else {
            return Ok(None);
        };
        let api = api.ok_or(GuestError::NoControlApi)?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| GuestError::Listen { addr, source })?;
        let listen = listener
            .local_addr()
            .map_err(|source| GuestError::Listen { addr, source })?;
        let remote = Arc::new(Remote {
            api: api.clone(),
            table: Mutex::new(table::Table::new(table::Limits::from_settings(settings))),
            key: token::Key::random(1),
            labels: Mutex::new(HashMap::new()),
            listen,
        });
        api.set_guests(remote.clone());
        server::spawn(remote.clone(), listener);
        tracing::info!(%listen, "guest remote listening");
        Ok(Some(GuestRemote { remote }))
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.remote.listen
    }
}

#[cfg(test)]
mod tests;
