//! Clients with a chosen source address on loopback (`127.x.y.z`, all of which Linux routes to
//! `lo`), so one test can play several LAN hosts against one endpoint: a flooder on 127.0.0.2
//! and a phone on 127.0.0.3 are two addresses to a per-address connection cap. Used by the
//! zeroconf policy tests and the flood bench. Depends on tokio and reqwest only.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};

/// A TCP connection to `to` from `from` (port chosen by the kernel).
pub async fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = match from {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

/// An HTTP client whose connections leave from `from` (no proxy, `timeout` per request).
pub fn http_from(from: IpAddr, timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(from)
        .timeout(timeout)
        .build()
        .unwrap()
}

/// `127.a.b.c` for the `n`-th host of a block of test hosts (`block` keeps blocks apart).
pub fn loopback_host(block: u8, n: u16) -> IpAddr {
    IpAddr::from([127, block, (n >> 8) as u8, (n & 0xff) as u8])
}
