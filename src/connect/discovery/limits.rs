//! Connection limits of the zeroconf endpoint: a listener that serves at most
//! [`MAX_CONNECTIONS`] connections at once and at most [`MAX_PER_IP`] from one address (more
//! from that address are closed at once, so one host can never hold the slots others need),
//! and a stream that fails once the request head has not arrived within [`HEAD_DEADLINE`] or
//! the whole exchange has not ended within [`CONNECTION_DEADLINE`] (slowloris clients are cut
//! off and their slot released).
//!
//! Used by `discovery` only (it hands the listener to `axum::serve`). Depends on tokio and axum;
//! never on the rest of the crate.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connections served at once; more wait in the kernel's accept backlog.
pub const MAX_CONNECTIONS: usize = 64;
/// Connections served at once from one address; more from it are closed when accepted.
pub const MAX_PER_IP: usize = 4;
/// The request head (request line and headers) must have arrived within this.
pub const HEAD_DEADLINE: Duration = Duration::from_millis(2500);
/// A connection (head, body, answer) must be done within this; slow clients are cut off.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(10);

/// Open connections per remote address. Entries are removed when their count drops to zero,
/// so the map never holds more than [`MAX_CONNECTIONS`] addresses.
#[derive(Debug, Default)]
struct PerIp(Mutex<HashMap<IpAddr, usize>>);

impl PerIp {
    /// Counts one more connection from `ip` unless it already has `cap`.
    fn try_take(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<IpSlot> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            map: Arc::clone(self),
            ip,
        })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// One connection's share of its address's count; given back when dropped.
#[derive(Debug)]
struct IpSlot {
    map: Arc<PerIp>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut m = self.map.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// The zeroconf listener (see the module docs).
pub struct LimitedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
    per_ip: Arc<PerIp>,
}

impl LimitedListener {
    pub fn new(inner: TcpListener) -> LimitedListener {
        LimitedListener {
            inner,
            permits: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            per_ip: Arc::default(),
        }
    }
}

/// `::ffff:a.b.c.d` counts as `a.b.c.d`, so one host has one count whichever socket family
/// the listener uses.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

impl axum::serve::Listener for LimitedListener {
    type Io = LimitedIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (LimitedIo, SocketAddr) {
        // The semaphore is never closed, so acquiring only waits.
        let permit = loop {
            match Arc::clone(&self.permits).acquire_owned().await {
                Ok(p) => break p,
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        };
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let Some(slot) = self.per_ip.try_take(canonical(addr.ip()), MAX_PER_IP) else {
                        // Closed at once: the global slot stays free for other hosts.
                        tracing::debug!(peer = %addr.ip(), "zeroconf: per-address connection cap reached; closing");
                        drop(stream);
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let io = LimitedIo {
                        stream,
                        head: HeadScan::default(),
                        head_deadline: Box::pin(tokio::time::sleep(HEAD_DEADLINE)),
                        deadline: Box::pin(tokio::time::sleep(CONNECTION_DEADLINE)),
                        _permit: permit,
                        _slot: slot,
                    };
                    return (io, addr);
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::debug!("zeroconf: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Finds the end of the request head (`\r\n\r\n`) in the bytes as they are read.
#[derive(Debug, Default, Clone, Copy)]
struct HeadScan {
    /// How much of `\r\n\r\n` the last bytes matched.
    matched: u8,
    done: bool,
}

impl HeadScan {
    fn feed(&mut self, bytes: &[u8]) {
        const END: &[u8; 4] = b"\r\n\r\n";
        for &b in bytes {
            if self.done {
                return;
            }
            self.matched = if b == END[self.matched as usize] {
                self.matched + 1
            } else if b == b'\r' {
                1
            } else {
                0
            };
            if self.matched == 4 {
                self.done = true;
            }
        }
    }
}

/// A TCP stream that fails every read and write once a deadline has passed (the server then
/// drops it, which releases the connection's slots).
pub struct LimitedIo {
    stream: TcpStream,
    head: HeadScan,
    head_deadline: Pin<Box<tokio::time::Sleep>>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    _permit: OwnedSemaphorePermit,
    _slot: IpSlot,
}

impl LimitedIo {
    fn expired(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Some(io::Error::new(
                io::ErrorKind::TimedOut,
                "zeroconf connection deadline",
            ));
        }
        if !self.head.done && self.head_deadline.as_mut().poll(cx).is_ready() {
            return Some(io::Error::new(
                io::ErrorKind::TimedOut,
                "zeroconf request head deadline",
            ));
        }
        None
    }
}

impl AsyncRead for LimitedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(e) = this.expired(cx) {
            return Poll::Ready(Err(e));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.stream).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            this.head.feed(&buf.filled()[before..]);
        }
        r
    }
}

impl AsyncWrite for LimitedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(e) = this.expired(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn head_end_is_found_across_reads() {
        let mut h = HeadScan::default();
        h.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r");
        assert!(!h.done);
        h.feed(b"\n");
        assert!(h.done);
        let mut h = HeadScan::default();
        h.feed(b"a\r\r\n\r\n");
        assert!(h.done, "a stray CR restarts the match");
        let mut h = HeadScan::default();
        h.feed(b"a\r\n\n\r\n");
        assert!(!h.done);
    }

    #[test]
    fn per_address_counts_are_capped_and_released() {
        let m: Arc<PerIp> = Arc::default();
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        let other: IpAddr = "127.0.0.3".parse().unwrap();
        let held: Vec<_> = (0..MAX_PER_IP)
            .map(|_| m.try_take(ip, MAX_PER_IP).unwrap())
            .collect();
        assert!(m.try_take(ip, MAX_PER_IP).is_none());
        let o = m.try_take(other, MAX_PER_IP).unwrap();
        drop(held);
        assert!(m.try_take(ip, MAX_PER_IP).is_some());
        drop(o);
        assert_eq!(m.len(), 0, "released addresses leave the map");
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().unwrap();
        assert_eq!(canonical(mapped), ip);
    }
}
