//! A phone's side of a Spotify Connect zeroconf receiver as the e2e tests and the flood bench
//! drive it: an HTTP client that never goes through a proxy, `getInfo` and a form `POST` that
//! both expect JSON back, and the port a daemon logs for its receiver. Depends on reqwest and
//! serde_json only; the encoding of an `addUser` blob stays with the simulator's phone.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

/// An HTTP client for a receiver on loopback: no proxy (a proxy from the environment would
/// swallow 127.0.0.1), 20 s per request.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// `GET /?action=getInfo` (`&version=…` when given) on the receiver at `addr`: must answer 200
/// with JSON.
pub async fn get_info(http: &reqwest::Client, addr: SocketAddr, version: Option<&str>) -> Value {
    let query = match version {
        Some(v) => format!("action=getInfo&version={v}"),
        None => "action=getInfo".to_string(),
    };
    let r = http
        .get(format!("http://{addr}/?{query}"))
        .send()
        .await
        .expect("getInfo answers");
    assert_eq!(r.status(), 200);
    r.json().await.expect("getInfo is JSON")
}

/// A form `POST /` to the receiver at `addr`: the HTTP status and the JSON answer (panics
/// showing the body when it is not JSON).
pub async fn post(http: &reqwest::Client, addr: SocketAddr, form: &[(&str, &str)]) -> (u16, Value) {
    let r = http
        .post(format!("http://{addr}/"))
        .form(form)
        .send()
        .await
        .expect("answers");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, json)
}

/// The port in a daemon's `zeroconf port N` log line.
pub fn port_in(line: &str) -> Option<u16> {
    line.split("zeroconf port ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
}
