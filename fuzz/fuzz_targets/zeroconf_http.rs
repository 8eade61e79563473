//! The zeroconf endpoint (`getInfo`/`addUser`, protocol spec §5.2) as a LAN stranger reaches
//! it: a real `connect::discovery::Discovery` on 127.0.0.1 (not advertised over mDNS) gets each
//! input as a raw HTTP request — the request line, the form in the query string or the body,
//! base64, the blob decoders behind it. The form parser is private to `discovery`, so this is
//! its entry point. A panic in any server task aborts the process (libFuzzer's panic hook),
//! which is the crash this target looks for; a hung answer is bounded by a timeout.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonearm::connect::discovery::{Discovery, DiscoveryConfig};

struct Server {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let addr = rt.block_on(async {
            let mut cfg = DiscoveryConfig::new("fuzz", "0123456789abcdef0123456789abcdef01234567");
            cfg.bind = "127.0.0.1".parse().expect("ip");
            cfg.port = 0;
            cfg.advertise = false;
            let (d, mut logins) = Discovery::start(cfg).await.expect("zeroconf server");
            let addr = d.local_addr();
            // Keep the server and drain what it accepts for the whole run.
            tokio::spawn(async move {
                let _keep = d;
                while logins.recv().await.is_some() {}
            });
            addr
        });
        Server { rt, addr }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let s = server();
    let mut request = Vec::with_capacity(rest.len() + 128);
    match mode % 3 {
        // The input is the form, in a POST body.
        0 => {
            request.extend_from_slice(
                format!(
                    "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    s.addr,
                    rest.len()
                )
                .as_bytes(),
            );
            request.extend_from_slice(rest);
        }
        // The input is the query string of a GET.
        1 => {
            request.extend_from_slice(b"GET /?");
            request.extend(
                rest.iter()
                    .map(|&b| if b.is_ascii_graphic() { b } else { b'%' }),
            );
            request.extend_from_slice(
                format!(" HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", s.addr).as_bytes(),
            );
        }
        // The input is the whole request, head included.
        _ => request.extend_from_slice(rest),
    }
    s.rt.block_on(async {
        let Ok(mut conn) = tokio::net::TcpStream::connect(s.addr).await else {
            return;
        };
        let _ = conn.write_all(&request).await;
        let _ = conn.shutdown().await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), conn.read_to_end(&mut answer)).await;
    });
});
