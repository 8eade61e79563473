//! Tests of the dealer client against a local websocket server on 127.0.0.1: connection
//! id, pings, request replies, reconnects with back-off, malformed frames.
use super::*;
use std::io::Write;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

#[test]
fn gzipped_message_payloads_are_decoded() {
    let text = serde_json::json!({
        "type": "message", "uri": "hm://connect-state/v1/cluster", "method": "PUT",
        "headers": {"Content-Type": "application/x-protobuf", "transfer-encoding": "gzip"},
        "payloads": [b64(&gzip(b"hello"))]
    })
    .to_string();
    let Frame::Message(m) = parse_frame(&text).unwrap() else {
        panic!("not a message")
    };
    assert_eq!(m.payload, b"hello");
    assert_eq!(m.method, "PUT");
    assert_eq!(m.header("content-type"), Some("application/x-protobuf"));
}

#[test]
fn plain_payloads_concatenate_and_json_payloads_are_kept() {
    let text = serde_json::json!({
        "type": "message", "uri": "x", "payloads": [b64(b"ab"), b64(b"cd"), {"k": 1}]
    })
    .to_string();
    let Frame::Message(m) = parse_frame(&text).unwrap() else {
        panic!("not a message")
    };
    assert_eq!(m.payload, br#"abcd{"k":1}"#);
}

#[test]
fn requests_decode_compressed_and_inline_payloads() {
    let body = br#"{"message_id":7,"command":{"endpoint":"pause"}}"#;
    let text = serde_json::json!({
        "type": "request", "key": "k1", "message_ident": "hm://connect-state/v1/player/command",
        "headers": {"Transfer-Encoding": "gzip"},
        "payload": {"compressed": b64(&gzip(body))}
    })
    .to_string();
    let Frame::Request(r) = parse_frame(&text).unwrap() else {
        panic!("not a request")
    };
    assert_eq!(r.key, "k1");
    assert_eq!(r.payload["command"]["endpoint"], "pause");

    let text = serde_json::json!({
        "type": "request", "key": "k2", "message_ident": "m",
        "payload": {"message_id": 1, "command": {"endpoint": "resume"}}
    })
    .to_string();
    let Frame::Request(r) = parse_frame(&text).unwrap() else {
        panic!("not a request")
    };
    assert_eq!(r.payload["command"]["endpoint"], "resume");
}

#[test]
fn bad_frames_are_errors_not_panics() {
    for text in [
        "",
        "not json",
        "[]",
        r#"{"no":"type"}"#,
        r#"{"type":"message"}"#,
        r#"{"type":"message","uri":"x","headers":{"Transfer-Encoding":"gzip"},"payloads":["aGVsbG8="]}"#,
        r#"{"type":"message","uri":"x","payloads":["!!!"]}"#,
        r#"{"type":"request","payload":{}}"#,
        r#"{"type":"request","key":"k","payload":{"compressed":5}}"#,
        r#"{"type":"request","key":"k","payload":{"compressed":"aGVsbG8="}}"#,
    ] {
        assert!(parse_frame(text).is_err(), "{text}");
    }
    assert_eq!(parse_frame(r#"{"type":"PONG"}"#).unwrap(), Frame::Pong);
    assert_eq!(
        parse_frame(r#"{"type":"weird"}"#).unwrap(),
        Frame::Other("weird".into())
    );
}

#[test]
fn gzip_bombs_are_refused() {
    let big = vec![0u8; MAX_PAYLOAD + 10];
    assert!(gunzip(&gzip(&big)).is_err());
}

#[test]
fn connection_id_from_header_or_uri() {
    let mut m = DealerMessage {
        uri: "hm://pusher/v1/connections/abc".into(),
        method: "PUT".into(),
        headers: HashMap::new(),
        payload: vec![],
    };
    assert_eq!(connection_id(&m).as_deref(), Some("abc"));
    m.headers
        .insert("spotify-connection-id".into(), "xyz".into());
    assert_eq!(connection_id(&m).as_deref(), Some("xyz"));
    m.uri = "hm://other".into();
    assert_eq!(connection_id(&m), None);
}

#[test]
fn prefixes_match_by_path_segment() {
    assert!(uri_matches("hm://a/b/", "hm://a/b/c"));
    assert!(uri_matches("hm://a/b", "hm://a/b"));
    assert!(uri_matches("hm://a/b", "hm://a/b/c"));
    assert!(!uri_matches("hm://a/b", "hm://a/bc"));
    assert!(!uri_matches("hm://a/b/", "hm://a/b"));
}

use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message as Ws;

fn fast() -> DealerConfig {
    DealerConfig {
        ping_interval: Duration::from_millis(100),
        pong_timeout: Duration::from_millis(200),
        connect_timeout: Duration::from_secs(5),
        connection_id_timeout: Duration::from_secs(5),
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        stable_after: Duration::from_secs(60),
    }
}

/// Records what each call said was refused (`None`: nothing).
fn tokens(seen: Arc<Mutex<Vec<Option<String>>>>) -> TokenSource {
    Arc::new(move |refused| {
        seen.lock().unwrap().push(refused);
        Box::pin(async { Ok::<_, String>("tok".to_string()) })
    })
}

async fn next_event(rx: &mut mpsc::UnboundedReceiver<DealerEvent>) -> DealerEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("dealer event in time")
        .expect("event stream open")
}

/// A dealer that sends the connection id and then never reads (so it answers neither
/// ping style): the client must give up on it and reconnect — with the token it has (the
/// dealer did not refuse it, so asking login5 for another would be a wasted request).
#[tokio::test]
async fn a_silent_dealer_is_dropped_and_reconnected() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut n = 0;
        let mut keep = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            n += 1;
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let frame = serde_json::json!({"type": "message",
                "uri": format!("hm://pusher/v1/connections/c{n}"), "headers": {}});
            ws.send(Ws::text(frame.to_string())).await.unwrap();
            keep.push(ws); // never read: no pongs
        }
    });
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (dealer, mut events) = Dealer::start(format!("ws://{addr}"), tokens(seen.clone()), fast());
    assert_eq!(
        next_event(&mut events).await,
        DealerEvent::Connected {
            connection_id: "c1".into()
        }
    );
    match next_event(&mut events).await {
        DealerEvent::Disconnected { attempt: 1, reason } => {
            assert!(reason.contains("ping"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        next_event(&mut events).await,
        DealerEvent::Connected {
            connection_id: "c2".into()
        }
    );
    assert_eq!(*seen.lock().unwrap(), vec![None, None]);
    dealer.shutdown();
}

/// Requests reach the listener of their prefix and the reply goes back with the key;
/// requests nobody handles are refused; messages reach their listeners; JSON pings are
/// answered.
#[tokio::test]
async fn requests_replies_messages_and_pings_over_a_socket() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (got_tx, mut got) = mpsc::unbounded_channel::<Value>();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let hello = serde_json::json!({"type": "message",
            "uri": "hm://pusher/v1/connections/x", "headers": {"Spotify-Connection-Id": "abc"}});
        ws.send(Ws::text(hello.to_string())).await.unwrap();
        let _ = go_rx.await;
        for frame in [
            serde_json::json!({"type": "request", "key": "k1", "message_ident": "hm://a/b",
                "payload": {"x": 1}}),
            serde_json::json!({"type": "request", "key": "k2", "message_ident": "hm://zzz",
                "payload": {}}),
            serde_json::json!({"type": "message", "uri": "hm://m/1", "payloads": [b64(b"hi")]}),
            serde_json::json!({"type": "ping"}),
        ] {
            ws.send(Ws::text(frame.to_string())).await.unwrap();
        }
        while let Some(Ok(m)) = ws.next().await {
            if let Ws::Text(t) = m {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] != "ping" {
                    let _ = got_tx.send(v);
                }
            }
        }
    });
    let (dealer, mut events) = Dealer::start(
        format!("ws://{addr}"),
        tokens(Arc::default()),
        DealerConfig::default(),
    );
    let mut requests = dealer.handle_requests("hm://a/");
    let mut messages = dealer.listen("hm://m");
    assert_eq!(
        next_event(&mut events).await,
        DealerEvent::Connected {
            connection_id: "abc".into()
        }
    );
    go_tx.send(()).unwrap();
    let r = tokio::time::timeout(Duration::from_secs(10), requests.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.payload["x"], 1);
    dealer.reply(&r.key, true);
    let m = tokio::time::timeout(Duration::from_secs(10), messages.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.payload, b"hi");
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(
            tokio::time::timeout(Duration::from_secs(10), got.recv())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let find = |key: &str| {
        answers
            .iter()
            .find(|a| a["key"] == key)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(find("k1")["payload"]["success"], true);
    assert_eq!(find("k2")["payload"]["success"], false);
    assert!(answers.iter().any(|a| a["type"] == "pong"));
    dealer.shutdown();
    // Shutting down closes the listeners.
    assert!(
        tokio::time::timeout(Duration::from_secs(10), requests.recv())
            .await
            .unwrap()
            .is_none()
    );
}

/// A dealer that gives the connection id and closes right away, `n` times, answering the
/// first upgrade with 401 when `refuse_first`.
async fn flapping_dealer(refuse_first: bool) -> std::net::SocketAddr {
    use tokio::io::AsyncWriteExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut tcp, _)) = listener.accept().await {
            n += 1;
            if refuse_first && n == 1 {
                let _ = tcp
                    .write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n")
                    .await;
                continue;
            }
            let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                continue;
            };
            let frame = serde_json::json!({"type": "message",
                "uri": format!("hm://pusher/v1/connections/c{n}"), "headers": {}});
            let _ = ws.send(Ws::text(frame.to_string())).await;
            let _ = ws.close(None).await;
        }
    });
    addr
}

/// Connections that close right after their connection id do not reset the back-off, and
/// reuse the token; with a zero `stable_after` every connection counts as stable.
#[tokio::test]
async fn backoff_resets_only_after_a_stable_connection() {
    for (stable_after, want) in [
        (Duration::from_secs(60), vec![1, 2, 3]),
        (Duration::ZERO, vec![1, 1, 1]),
    ] {
        let addr = flapping_dealer(false).await;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let cfg = DealerConfig {
            stable_after,
            ..fast()
        };
        let (dealer, mut events) = Dealer::start(format!("ws://{addr}"), tokens(seen.clone()), cfg);
        let mut attempts = Vec::new();
        while attempts.len() < 3 {
            if let DealerEvent::Disconnected { attempt, .. } = next_event(&mut events).await {
                attempts.push(attempt);
            }
        }
        dealer.shutdown();
        assert_eq!(attempts, want, "stable_after {stable_after:?}");
        assert!(
            seen.lock().unwrap().iter().all(Option::is_none),
            "no fresh token asked"
        );
    }
}

/// A 401 on the upgrade (the token was refused) makes the next attempt ask for a fresh one,
/// naming the refused token (so the provider keeps one minted since by another service).
#[tokio::test]
async fn a_refused_token_is_replaced_on_the_next_attempt() {
    let addr = flapping_dealer(true).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (dealer, mut events) = Dealer::start(format!("ws://{addr}"), tokens(seen.clone()), fast());
    match next_event(&mut events).await {
        DealerEvent::Disconnected { attempt: 1, reason } => {
            assert!(reason.contains("401"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        next_event(&mut events).await,
        DealerEvent::Connected { .. }
    ));
    dealer.shutdown();
    assert_eq!(seen.lock().unwrap()[..2], [None, Some("tok".to_string())]);
}

#[test]
fn jittered_backoff_stays_between_half_and_all() {
    let c = DealerConfig::default();
    for attempt in 1..=8 {
        let full = c.backoff(attempt);
        for _ in 0..50 {
            let w = c.jittered_backoff(attempt);
            assert!(w >= full / 2 && w <= full, "{w:?} vs {full:?}");
        }
    }
}

#[test]
fn backoff_doubles_to_the_cap() {
    let c = DealerConfig::default();
    let waits: Vec<u64> = (1..=7).map(|a| c.backoff(a).as_secs()).collect();
    assert_eq!(waits, vec![1, 2, 4, 8, 16, 30, 30]);
    assert_eq!(c.backoff(1000).as_secs(), 30);
}

#[test]
fn url_carries_the_token_and_defaults_to_wss() {
    assert_eq!(
        dealer_url("ws://127.0.0.1:9/", "t"),
        "ws://127.0.0.1:9/?access_token=t"
    );
    assert_eq!(
        dealer_url("dealer.spotify.com:443", "t"),
        "wss://dealer.spotify.com:443/?access_token=t"
    );
    let v: Value = serde_json::from_str(&reply_frame("k", true)).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"type": "reply", "key": "k", "payload": {"success": true}})
    );
}

/// The back-off grown while the server was away (here: a dealer that flaps, so every
/// connection is short) starts over when the owner says the server is back: the dealer
/// retries at once instead of waiting out the long wait it is in, and the next loss counts
/// as attempt 1. Without that notice the count keeps growing (the flapping protection).
#[tokio::test]
async fn server_back_retries_now_and_starts_the_back_off_over() {
    let addr = flapping_dealer(false).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let cfg = DealerConfig {
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_secs(60),
        ..fast()
    };
    let (dealer, mut events) = Dealer::start(format!("ws://{addr}"), tokens(seen.clone()), cfg);
    let mut attempts = Vec::new();
    while attempts.last() != Some(&8) {
        if let DealerEvent::Disconnected { attempt, .. } = next_event(&mut events).await {
            attempts.push(attempt);
        }
    }
    assert_eq!(
        attempts,
        (1..=8).collect::<Vec<_>>(),
        "no reset while flapping"
    );
    // Attempt 8 waits at least half of 20 ms × 2^7 = 1.28 s.
    assert!(cfg.backoff(8) >= Duration::from_millis(2560));
    let asked = std::time::Instant::now();
    dealer.server_back();
    match next_event(&mut events).await {
        DealerEvent::Connected { .. } => {}
        other => panic!("{other:?}"),
    }
    assert!(
        asked.elapsed() < Duration::from_millis(1000),
        "reconnected {:?} after the notice",
        asked.elapsed()
    );
    match next_event(&mut events).await {
        DealerEvent::Disconnected { attempt, .. } => assert_eq!(attempt, 1),
        other => panic!("{other:?}"),
    }
    dealer.shutdown();
    assert!(seen.lock().unwrap().iter().all(Option::is_none));
}
