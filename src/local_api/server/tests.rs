//! The listeners against real sockets in a temporary directory: the socket file's safety, the
//! parser's and the checks' answers (4xx, never a panic), the TCP listener's token and Host.

use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::config::ControlSettings;
use crate::local_api::client::Target;
use crate::local_api::{Identity, LocalApi};

fn identity() -> Identity {
    Identity {
        device_id: "d".repeat(40),
        device_name: "Test".into(),
    }
}

async fn start(dir: &Path, settings: ControlSettings) -> LocalApi {
    LocalApi::start_at(&dir.join("control.sock"), &settings, identity())
        .await
        .expect("start")
}

/// Blocking client calls off the runtime's threads.
async fn call(
    t: &Target,
    method: &'static str,
    path: &'static str,
    body: Option<String>,
) -> (u16, String) {
    let t = t.clone();
    tokio::task::spawn_blocking(move || {
        let r = t.call(method, path, body.as_deref()).expect("answer");
        (r.code, r.body)
    })
    .await
    .expect("join")
}

#[tokio::test]
async fn socket_is_private_and_stale_ones_are_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run/tonearm");
    let path = run.join("control.sock");
    let (l, f) = bind_unix(&path, true).expect("bind");
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&run), 0o700);
    // A live one is refused.
    assert!(matches!(
        bind_unix(&path, true),
        Err(LocalApiError::InUse(_))
    ));
    // Dead (listener closed, file left): replaced.
    drop(l);
    drop(f);
    let (_l2, f2) = bind_unix(&path, true).expect("stale socket replaced");
    assert_eq!(mode(&path), 0o600);
    f2.remove();
    assert!(!path.exists());
    // Not a socket: left alone.
    std::fs::write(&path, b"mine").expect("write");
    assert!(matches!(
        bind_unix(&path, true),
        Err(LocalApiError::NotASocket(_))
    ));
    assert_eq!(std::fs::read(&path).expect("kept"), b"mine");
    // A loose default directory is tightened.
    std::fs::remove_file(&path).expect("rm");
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (_l3, _f3) = bind_unix(&path, true).expect("bind");
    assert_eq!(mode(&run), 0o700);
}

#[test]
fn only_our_uid_or_root_may_connect() {
    assert!(peer_allowed(1000, Some(1000)));
    assert!(peer_allowed(0, Some(1000)));
    assert!(!peer_allowed(65534, Some(1000)));
    assert!(!peer_allowed(65534, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_4xx_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = start(dir.path(), ControlSettings::default()).await;
    let t = Target::Unix(api.listening().socket.clone());
    let (code, body) = call(&t, "GET", "/v1/status", None).await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"api\":1"), "{body}");
    for (body, want) in [
        ("{", 400),
        ("[1,2]", 400),
        (r#"{"command":"seek","position_ms":"x"}"#, 400),
        (r#"{"command":"nope"}"#, 400),
        (r#"{"command":"volume","percent":101}"#, 400),
    ] {
        let (code, answer) = call(&t, "POST", "/v1/command", Some(body.to_string())).await;
        assert_eq!(code, want, "{body}: {answer}");
        assert!(answer.contains("\"ok\":false"), "{answer}");
    }
    let huge = format!(
        r#"{{"command":"queue_add","uris":["{}"]}}"#,
        "a".repeat(200_000)
    );
    let (code, _) = call(&t, "POST", "/v1/command", Some(huge)).await;
    assert_eq!(code, 413);
    // A player command before the services run: not ready, not lost later.
    let (code, answer) = call(
        &t,
        "POST",
        "/v1/command",
        Some(r#"{"command":"pause"}"#.into()),
    )
    .await;
    assert_eq!(code, 503, "{answer}");
    let (code, _) = call(&t, "GET", "/nope", None).await;
    assert_eq!(code, 404);
    // Form posts and pages' requests are refused, whatever the body.
    let raw = |req: String| {
        let path = api.listening().socket.clone();
        tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut s = std::os::unix::net::UnixStream::connect(path).expect("connect");
            s.write_all(req.as_bytes()).expect("write");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            out
        })
    };
    let body = "command=pause";
    let form = raw(format!("POST /v1/command HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())).await.expect("join");
    assert!(form.starts_with("HTTP/1.1 415"), "{form}");
    let body = r#"{"command":"status"}"#;
    let origin = raw(format!("POST /v1/command HTTP/1.1\r\nhost: x\r\norigin: http://evil.example\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())).await.expect("join");
    assert!(origin.starts_with("HTTP/1.1 403"), "{origin}");
    api.shutdown();
    assert!(
        !api.listening().socket.exists(),
        "the socket is removed on shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_needs_the_token_and_its_own_host() {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = ControlSettings {
        tcp: Some("127.0.0.1:0".parse().expect("addr")),
        ..ControlSettings::default()
    };
    let api = start(dir.path(), settings).await;
    let addr = api.listening().tcp.expect("tcp");
    let file = api.listening().token_file.clone().expect("generated token");
    assert_eq!(
        std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777,
        0o600
    );
    let token = std::fs::read_to_string(&file).expect("token");
    let good = Target::Tcp {
        addr,
        token: token.clone(),
    };
    let bad = Target::Tcp {
        addr,
        token: "x".repeat(64),
    };
    assert_eq!(call(&good, "GET", "/v1/status", None).await.0, 200);
    assert_eq!(call(&bad, "GET", "/v1/status", None).await.0, 401);
    let rebinding = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        let req = format!("GET /v1/status HTTP/1.1\r\nhost: attacker.example:{}\r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n", addr.port());
        s.write_all(req.as_bytes()).expect("write");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    })
    .await
    .expect("join");
    assert!(rebinding.starts_with("HTTP/1.1 403"), "{rebinding}");
    api.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_for_a_slot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = start(dir.path(), ControlSettings::default()).await;
    let path = api.listening().socket.clone();
    let mut idle = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        idle.push(UnixStream::connect(&path).await.expect("connect"));
    }
    // Let the server take them all.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Target::Unix(path.clone());
    let waiting = tokio::task::spawn_blocking(move || t.call("GET", "/v1/status", None));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "a request beyond the cap was served"
    );
    idle.pop();
    let reply = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("served once a slot is free")
        .expect("join")
        .expect("answer");
    assert_eq!(reply.code, 200);
    api.shutdown();
}
