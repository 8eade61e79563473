//! The one event bus and the state behind `status`: the [`Hub`] keeps the latest player status,
//! queue, devices and links, answers `status`/`queue`/`devices` from them, and turns every
//! change into [`Event`]s on one broadcast channel that every WebSocket stream (and later the
//! guest remotes, the device guard and the event hooks) subscribes to. [`status_events`] is the
//! pure diff from one player status to the next.
//!
//! Fed by the watchers [`watch_player`] and [`watch_connect`] (spawned by `LocalApi::attach*`
//! on the services' own watches, so an event leaves as soon as the player publishes — not when
//! the TUI next draws) and by the host's calls for what has no watch (session link, errors).
//! Depends on the player's and Connect's types; never on `app`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use super::schema::{self, Connection, DeviceRef, Event, Link, Queue, QueueItem, Status, Track};
use crate::connect::{ConnectLink, Controller, Device};
use crate::player::{PlayState, Player, PlayerStatus, QueueSnapshot};

/// Events buffered per subscriber before it is told it lagged.
const BUS_CAPACITY: usize = 256;
/// A position further than this from where playback should be is a seek.
const SEEK_SLACK_MS: u64 = 1500;

/// What `status` is made of.
struct Snapshot {
    player: Option<PlayerStatus>,
    queue: QueueSnapshot,
    devices: Vec<Device>,
    session: Link,
    connect: Link,
    /// The context and the first track it loaded: the context holds while that track is in the
    /// queue (additions keep it; a load of something else drops it).
    context: Option<(String, crate::id::SpotifyId)>,
    this: DeviceRef,
}

/// The state and the bus; shared by the server, the watchers and the host.
pub struct Hub {
    snap: Mutex<Snapshot>,
    bus: broadcast::Sender<Event>,
}

impl Hub {
    pub fn new(this: DeviceRef) -> Hub {
        let (bus, _) = broadcast::channel(BUS_CAPACITY);
        Hub {
            snap: Mutex::new(Snapshot {
                player: None,
                queue: QueueSnapshot::default(),
                devices: Vec::new(),
                session: Link::Connecting,
                connect: Link::Off,
                context: None,
                this,
            }),
            bus,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Snapshot> {
        // A panic elsewhere while holding the lock leaves plain data: keep serving it.
        self.snap.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.bus.subscribe()
    }

    /// Puts `event` on the bus (no subscribers: nobody to tell).
    pub fn publish(&self, event: Event) {
        let _ = self.bus.send(event);
    }

    pub fn status(&self) -> Status {
        let s = self.lock();
        let now = Instant::now();
        let (state, track, position_ms, volume, shuffle, repeat) = match &s.player {
            Some(p) => {
                let mut pos = p.position_ms;
                if p.state == PlayState::Playing {
                    pos =
                        pos.saturating_add(now.saturating_duration_since(p.at).as_millis() as u64);
                }
                if let Some(t) = p.track.as_ref().filter(|t| t.duration_ms > 0) {
                    pos = pos.min(t.duration_ms);
                }
                (
                    p.state.into(),
                    p.track.as_ref().map(track),
                    pos,
                    p.volume,
                    p.shuffle,
                    p.repeat.into(),
                )
            }
            None => (
                schema::State::Stopped,
                None,
                0,
                0,
                false,
                schema::Repeat::Off,
            ),
        };
        Status {
            api: schema::API_VERSION,
            state,
            track,
            context: s.context.as_ref().map(|c| c.0.clone()),
            position_ms,
            volume: schema::volume_percent(volume),
            volume_raw: volume,
            shuffle,
            repeat,
            device: s.this.clone(),
            connection: Connection {
                session: s.session,
                connect: s.connect,
            },
            queue_length: s.queue.items.len(),
            queue_index: s.queue.current,
        }
    }

    pub fn queue(&self) -> Queue {
        let s = self.lock();
        let current_name = s.player.as_ref().and_then(|p| p.track.as_ref());
        Queue {
            current: s.queue.current,
            items: s
                .queue
                .items
                .iter()
                .enumerate()
                .map(|(index, id)| QueueItem {
                    index,
                    uri: crate::id::episodes::uri(*id),
                    name: current_name
                        .filter(|t| Some(index) == s.queue.current && t.id == *id)
                        .map(|t| t.name.clone()),
                    added_by: None,
                })
                .collect(),
        }
    }

    /// The account's devices (this one alone until Connect runs).
    pub fn devices(&self) -> Vec<schema::Device> {
        let s = self.lock();
        if s.devices.is_empty() {
            return vec![schema::Device {
                id: s.this.id.clone(),
                name: s.this.name.clone(),
                kind: "Computer".into(),
                active: s.player.is_some(),
                volume: s.player.as_ref().map(|p| schema::volume_percent(p.volume)),
                this: true,
            }];
        }
        s.devices.iter().map(|d| device(d, &s.this.id)).collect()
    }

    /// The Connect device with this id, or else this exact name.
    pub fn find_device(&self, wanted: &str) -> Option<Device> {
        let s = self.lock();
        s.devices
            .iter()
            .find(|d| d.id == wanted)
            .or_else(|| s.devices.iter().find(|d| d.name == wanted))
            .cloned()
    }

    /// The current track's id, for `like`/`unlike` without a URI.
    pub fn current_track(&self) -> Option<crate::id::SpotifyId> {
        let s = self.lock();
        s.player.as_ref()?.track.as_ref().map(|t| t.id)
    }

    /// `context` was loaded starting with the track `first`.
    pub fn set_context(&self, context: Option<(String, crate::id::SpotifyId)>) {
        self.lock().context = context;
    }

    pub fn on_player_status(&self, new: PlayerStatus) {
        let events = {
            let mut s = self.lock();
            let events = status_events(s.player.as_ref(), &new);
            s.player = Some(new);
            events
        };
        for e in events {
            self.publish(e);
        }
    }

    pub fn on_queue(&self, q: QueueSnapshot) {
        let changed = {
            let mut s = self.lock();
            let changed = s.queue != q;
            if s.context.as_ref().is_some_and(|c| !q.items.contains(&c.1)) {
                s.context = None;
            }
            s.queue = q.clone();
            changed
        };
        if changed {
            self.publish(Event::Queue {
                length: q.items.len(),
                index: q.current,
            });
        }
    }

    pub fn on_devices(&self, devices: Vec<Device>) {
        let list = {
            let mut s = self.lock();
            if s.devices == devices {
                return;
            }
            s.devices = devices;
            s.devices.iter().map(|d| device(d, &s.this.id)).collect()
        };
        self.publish(Event::Devices { devices: list });
    }

    pub fn on_session(&self, link: Link) {
        self.on_link(|s| &mut s.session, link);
    }

    pub fn on_connect(&self, link: &ConnectLink) {
        let l = match link {
            ConnectLink::Off => Link::Off,
            ConnectLink::Connecting => Link::Connecting,
            ConnectLink::Online => Link::Online,
            ConnectLink::Reconnecting(_) => Link::Reconnecting,
        };
        self.on_link(|s| &mut s.connect, l);
    }

    fn on_link(&self, field: impl Fn(&mut Snapshot) -> &mut Link, link: Link) {
        let connection = {
            let mut s = self.lock();
            let f = field(&mut s);
            if *f == link {
                return;
            }
            *f = link;
            Connection {
                session: s.session,
                connect: s.connect,
            }
        };
        self.publish(Event::Connection { connection });
    }

    /// The services stopped: nothing plays here until they start again.
    pub fn detached(&self) {
        let mut s = self.lock();
        s.player = None;
        s.queue = QueueSnapshot::default();
        s.devices.clear();
        s.connect = Link::Off;
    }
}

fn track(t: &crate::player::loader::TrackInfo) -> Track {
    Track {
        uri: crate::id::episodes::uri(t.id),
        name: t.name.clone(),
        artists: t.artists.clone(),
        album: t.album.clone(),
        duration_ms: t.duration_ms,
    }
}

fn device(d: &Device, this: &str) -> schema::Device {
    schema::Device {
        id: d.id.clone(),
        name: d.name.clone(),
        kind: d.kind.clone(),
        active: d.is_active,
        volume: d.volume.map(schema::volume_percent),
        this: d.id == this,
    }
}

/// The events between two player statuses: track, play state, seek (a jump from where
/// playback should be by now), volume, shuffle/repeat.
pub fn status_events(old: Option<&PlayerStatus>, new: &PlayerStatus) -> Vec<Event> {
    let mut out = Vec::new();
    let old_track = old.and_then(|o| o.track.as_ref().map(|t| t.id));
    let new_track = new.track.as_ref().map(|t| t.id);
    let track_changed = old.is_none() || old_track != new_track;
    if track_changed && (old.is_some() || new_track.is_some()) {
        out.push(Event::Track {
            track: new.track.as_ref().map(track),
        });
    }
    let old_state = old.map(|o| o.state);
    if old_state != Some(new.state) {
        match new.state {
            PlayState::Playing => out.push(Event::Playing {
                position_ms: new.position_ms,
            }),
            PlayState::Paused => out.push(Event::Paused {
                position_ms: new.position_ms,
            }),
            PlayState::Stopped if old.is_some() => out.push(Event::Stopped),
            _ => {}
        }
    } else if let Some(o) = old.filter(|_| !track_changed) {
        let mut expected = o.position_ms;
        if o.state == PlayState::Playing {
            expected =
                expected.saturating_add(new.at.saturating_duration_since(o.at).as_millis() as u64);
        }
        if new.position_ms.abs_diff(expected) > SEEK_SLACK_MS
            || (o.state != PlayState::Playing && new.position_ms != o.position_ms)
        {
            out.push(Event::Seek {
                position_ms: new.position_ms,
            });
        }
    }
    if old.map(|o| o.volume) != Some(new.volume) && old.is_some() {
        out.push(Event::Volume {
            volume: schema::volume_percent(new.volume),
            volume_raw: new.volume,
        });
    }
    if old.is_some_and(|o| o.shuffle != new.shuffle || o.repeat != new.repeat) {
        out.push(Event::Options {
            shuffle: new.shuffle,
            repeat: new.repeat.into(),
        });
    }
    out
}

/// Feeds the hub from the player's watches until they close (the services stopped). The
/// repeat mode is the one last requested ([`Player::repeat`]), as the TUI shows it.
pub fn watch_player(hub: Arc<Hub>, player: Player) -> JoinHandle<()> {
    let mut status = player.status();
    let mut queue = player.queue();
    tokio::spawn(async move {
        let mut first = true;
        loop {
            if !first {
                tokio::select! {
                    r = status.changed() => if r.is_err() { break },
                    r = queue.changed() => if r.is_err() { break },
                }
            }
            first = false;
            let mut st = status.borrow_and_update().clone();
            st.repeat = player.repeat();
            hub.on_player_status(st);
            let q = queue.borrow_and_update().clone();
            hub.on_queue(q);
        }
    })
}

/// Feeds the hub from Connect's device list and link until they close.
pub fn watch_connect(hub: Arc<Hub>, controller: Arc<dyn Controller>) -> JoinHandle<()> {
    let mut devices = controller.devices();
    let mut link = controller.link();
    tokio::spawn(async move {
        let mut first = true;
        loop {
            if !first {
                tokio::select! {
                    r = devices.changed() => if r.is_err() { break },
                    r = link.changed() => if r.is_err() { break },
                }
            }
            first = false;
            let d = devices.borrow_and_update().clone();
            hub.on_devices(d);
            let l = link.borrow_and_update().clone();
            hub.on_connect(&l);
        }
    })
}

#[cfg(test)]
mod tests;
