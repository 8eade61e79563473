//! Tests of Mercury: packet encoding and reassembly (with property tests), request and
//! subscription routing, timeouts and failures over a fake connection.

use super::*;
use proptest::prelude::*;
use tokio::task::JoinHandle;

type Rx = mpsc::UnboundedReceiver<Packet>;

fn setup(timeout: Duration) -> (Mercury, Rx) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Mercury::new(tx, timeout), rx)
}

fn header(uri: &str, status: i32, content_type: Option<&str>) -> Vec<u8> {
    let mut h = Header::new();
    h.set_uri(uri.to_string());
    h.set_status_code(status);
    if let Some(ct) = content_type {
        h.set_content_type(ct.to_string());
    }
    h.write_to_bytes().expect("encode header")
}

fn packet(seq: &[u8], flags: u8, parts: &[Vec<u8>]) -> Vec<u8> {
    encode_mercury_packet(seq, flags, parts).expect("encode packet")
}

/// Reads the next request the fake connection received: (cmd, seq bytes, header, payload).
async fn next_request(rx: &mut Rx) -> (u8, Vec<u8>, Header, Vec<Vec<u8>>) {
    let p = rx.recv().await.expect("request packet");
    let mut m = parse_mercury_packet(&p.payload).expect("parse request");
    assert_eq!(m.flags, FLAG_FINAL);
    let h = Header::parse_from_bytes(&m.parts.remove(0)).expect("header");
    (p.cmd, m.seq, h, m.parts)
}

fn spawn_get(m: &Mercury, uri: &str) -> JoinHandle<Result<MercuryResponse, MercuryError>> {
    let m = m.clone();
    let uri = uri.to_string();
    tokio::spawn(async move { m.get(&uri).await })
}

/// Subscribes, answering the SUB with `reply_parts` after the header.
async fn subscribe(
    m: &Mercury,
    rx: &mut Rx,
    uri: &str,
    reply_parts: Vec<Vec<u8>>,
) -> mpsc::UnboundedReceiver<MercuryResponse> {
    let m2 = m.clone();
    let u = uri.to_string();
    let task = tokio::spawn(async move { m2.subscribe(&u).await });
    let (c, seq, h, _) = next_request(rx).await;
    assert_eq!(c, cmd::MERCURY_SUB);
    assert_eq!(h.method(), "SUB");
    let mut parts = vec![header(uri, 200, None)];
    parts.extend(reply_parts);
    m.dispatch(cmd::MERCURY_SUB, &packet(&seq, FLAG_FINAL, &parts))
        .expect("sub reply");
    task.await.expect("join").expect("subscribed")
}

fn event(uri: &str, body: &[u8]) -> Vec<u8> {
    packet(
        &[0xee; 8],
        FLAG_FINAL,
        &[header(uri, 200, None), body.to_vec()],
    )
}

#[test]
fn request_encoding_bytes() {
    let req = MercuryRequest {
        method: MercuryMethod::Get,
        uri: "hm://a".into(),
        content_type: None,
        payload: vec![],
    };
    let p = encode_mercury_request(0, &req).expect("encode");
    assert_eq!(p.cmd, 0xb2);
    let want = [
        0x00, 0x08, 0, 0, 0, 0, 0, 0, 0, 0,    // seq_len 8, seq 0
        0x01, // flags final
        0x00, 0x01, // one part
        0x00, 0x0d, // header length 13
        0x0a, 0x06, b'h', b'm', b':', b'/', b'/', b'a', // uri
        0x1a, 0x03, b'G', b'E', b'T', // method
    ];
    assert_eq!(p.payload, want);

    let req = MercuryRequest {
        method: MercuryMethod::Send,
        uri: "hm://a".into(),
        content_type: Some("t/x".into()),
        payload: vec![vec![1, 2], vec![]],
    };
    let p = encode_mercury_request(0x0102, &req).expect("encode");
    assert_eq!(p.cmd, 0xb2);
    let want = [
        0x00, 0x08, 0, 0, 0, 0, 0, 0, 0x01, 0x02, 0x01, 0x00, 0x03, // 3 parts
        0x00, 0x13, // header length 19
        0x0a, 0x06, b'h', b'm', b':', b'/', b'/', b'a', // uri
        0x12, 0x03, b't', b'/', b'x', // content type
        0x1a, 0x04, b'S', b'E', b'N', b'D', // method
        0x00, 0x02, 1, 2, // part
        0x00, 0x00, // empty part
    ];
    assert_eq!(p.payload, want);

    for (method, c) in [(MercuryMethod::Sub, 0xb3), (MercuryMethod::Unsub, 0xb4)] {
        let req = MercuryRequest {
            method,
            ..req.clone()
        };
        assert_eq!(encode_mercury_request(1, &req).expect("encode").cmd, c);
    }
}

#[test]
fn oversized_request_rejected() {
    let req = MercuryRequest {
        method: MercuryMethod::Send,
        uri: "hm://a".into(),
        content_type: None,
        payload: vec![vec![0; 70_000]],
    };
    assert!(matches!(
        encode_mercury_request(0, &req),
        Err(MercuryError::TooLarge(_))
    ));
}

#[test]
fn parse_roundtrip_and_truncation() {
    let parts = vec![b"head".to_vec(), vec![], vec![7; 300]];
    let bytes = packet(&[1, 2, 3], FLAG_PARTIAL, &parts);
    let p = parse_mercury_packet(&bytes).expect("parse");
    assert_eq!(
        p,
        MercuryPacket {
            seq: vec![1, 2, 3],
            flags: FLAG_PARTIAL,
            parts
        }
    );
    for cut in 0..bytes.len() {
        assert!(
            matches!(
                parse_mercury_packet(&bytes[..cut]),
                Err(MercuryError::Malformed(_))
            ),
            "cut at {cut}"
        );
    }
    // Trailing bytes are tolerated.
    let mut extra = bytes.clone();
    extra.push(0);
    assert_eq!(parse_mercury_packet(&extra).expect("parse").parts.len(), 3);
}

#[test]
fn huge_declared_lengths_rejected() {
    // seq_len 65535 with 3 bytes of seq.
    assert!(parse_mercury_packet(&[0xff, 0xff, 1, 2, 3]).is_err());
    // part_count 65535 with nothing behind it: rejected before reserving 65535 slots.
    let e = parse_mercury_packet(&[0, 0, 1, 0xff, 0xff]).expect_err("count");
    assert!(matches!(&e, MercuryError::Malformed(m) if m.contains("65535 parts")));
    // part_count 65535 with a few parts' worth of bytes.
    let e = parse_mercury_packet(&[0, 0, 1, 0xff, 0xff, 0, 0, 0, 0]).expect_err("count");
    assert!(matches!(&e, MercuryError::Malformed(m) if m.contains("65535 parts")));
    // One part declaring 65535 bytes with 2 present.
    assert!(parse_mercury_packet(&[0, 0, 1, 0, 1, 0xff, 0xff, 1, 2]).is_err());
}

#[test]
fn event_uri_encoding() {
    assert_eq!(encode_event_uri("hm://a/b c/d"), "hm://a/b+c/d");
    assert_eq!(encode_event_uri("hm://a/x:y~"), "hm://a/x%3Ay%7E");
    assert_eq!(encode_event_uri(""), "");
}

#[test]
fn debug_hides_payloads() {
    let r = MercuryResponse {
        uri: "hm://keymaster/token".into(),
        status_code: 200,
        content_type: None,
        payload: vec![b"{\"accessToken\":\"SECRET\"}".to_vec()],
    };
    let s = format!("{r:?}");
    assert!(!s.contains("SECRET") && !s.contains("83, 69"), "{s}");
    assert!(s.contains("payload_sizes: [24]"), "{s}");
}

#[tokio::test]
async fn get_and_responses_matched_by_seq() {
    let (m, mut rx) = setup(Duration::from_secs(5));
    let a = spawn_get(&m, "hm://a");
    let (c, seq_a, h, _) = next_request(&mut rx).await;
    assert_eq!((c, h.uri(), h.method()), (0xb2, "hm://a", "GET"));
    assert_eq!(seq_a, 0u64.to_be_bytes());
    let b = spawn_get(&m, "hm://b");
    let (_, seq_b, _, _) = next_request(&mut rx).await;
    assert_eq!(seq_b, 1u64.to_be_bytes());

    // Answer in reverse order.
    m.dispatch(
        0xb2,
        &packet(
            &seq_b,
            FLAG_FINAL,
            &[header("hm://b", 200, Some("text/plain")), b"B".to_vec()],
        ),
    )
    .expect("b");
    m.dispatch(
        0xb2,
        &packet(
            &seq_a,
            FLAG_FINAL,
            &[header("hm://a", 200, None), b"A".to_vec()],
        ),
    )
    .expect("a");
    let a = a.await.expect("join").expect("a ok");
    let b = b.await.expect("join").expect("b ok");
    assert_eq!(
        a,
        MercuryResponse {
            uri: "hm://a".into(),
            status_code: 200,
            content_type: None,
            payload: vec![b"A".to_vec()]
        }
    );
    assert_eq!(b.content_type.as_deref(), Some("text/plain"));
    assert_eq!(b.payload, vec![b"B".to_vec()]);
    assert_eq!(m.shared.lock().pending.len(), 0);
}

#[tokio::test]
async fn send_carries_body() {
    let (m, mut rx) = setup(Duration::from_secs(5));
    let m2 = m.clone();
    let task = tokio::spawn(async move { m2.send("hm://s", vec![9, 9]).await });
    let (c, seq, h, body) = next_request(&mut rx).await;
    assert_eq!((c, h.method()), (0xb2, "SEND"));
    assert_eq!(body, vec![vec![9, 9]]);
    m.dispatch(0xb2, &packet(&seq, FLAG_FINAL, &[header("", 200, None)]))
        .expect("reply");
    // An empty header URI falls back to the requested one.
    assert_eq!(task.await.expect("join").expect("ok").uri, "hm://s");
}

#[tokio::test]
async fn multipart_reassembly_across_three_packets() {
    let (m, mut rx) = setup(Duration::from_secs(5));
    let task = spawn_get(&m, "hm://big");
    let (_, seq, _, _) = next_request(&mut rx).await;
    let h = header("hm://big", 200, None);
    // The header itself is split across packets 1 and 2; "abc"+"def" across 2 and 3.
    let p1 = packet(&seq, FLAG_PARTIAL, &[h[..5].to_vec()]);
    let p2 = packet(
        &seq,
        FLAG_PARTIAL,
        &[h[5..].to_vec(), b"whole".to_vec(), b"abc".to_vec()],
    );
    let p3 = packet(&seq, FLAG_FINAL, &[b"def".to_vec(), b"tail".to_vec()]);
    m.dispatch(0xb2, &p1).expect("p1");
    m.dispatch(0xb2, &p2).expect("p2");
    assert_eq!(m.shared.lock().partials.len(), 1);
    m.dispatch(0xb2, &p3).expect("p3");
    let r = task.await.expect("join").expect("ok");
    assert_eq!(r.uri, "hm://big");
    assert_eq!(
        r.payload,
        vec![b"whole".to_vec(), b"abcdef".to_vec(), b"tail".to_vec()]
    );
    assert_eq!(m.shared.lock().partials.len(), 0);
}

#[tokio::test]
async fn multipart_two_packets_without_split_part() {
    let (m, mut rx) = setup(Duration::from_secs(5));
    let task = spawn_get(&m, "hm://x");
    let (_, seq, _, _) = next_request(&mut rx).await;
    // Flags other than 1 and 2 continue the message without joining parts (librespot).
    let p1 = packet(&seq, 0, &[header("hm://x", 200, None), b"one".to_vec()]);
    let p2 = packet(&seq, FLAG_FINAL, &[b"two".to_vec()]);
    m.dispatch(0xb2, &p1).expect("p1");
    m.dispatch(0xb2, &p2).expect("p2");
    let r = task.await.expect("join").expect("ok");
    assert_eq!(r.payload, vec![b"one".to_vec(), b"two".to_vec()]);
}

#[tokio::test]
async fn status_404_is_error() {
    let (m, mut rx) = setup(Duration::from_secs(5));
    let task = spawn_get(&m, "hm://missing");
    let (_, seq, _, _) = next_request(&mut rx).await;
    m.dispatch(
        0xb2,
        &packet(&seq, FLAG_FINAL, &[header("hm://missing", 404, None)]),
    )
    .expect("dispatch");
    let e = task.await.expect("join").expect_err("404");
    assert_eq!(
        e,
        MercuryError::Status {
            code: 404,
            uri: "hm://missing".into()
        }
    );
    assert_eq!(e.kind(), crate::ErrorKind::Notify);
    assert_eq!(
        MercuryError::Status {
            code: 503,
            uri: String::new()
        }
        .kind(),
        crate::ErrorKind::Retry
    );
}

#[tokio::test]
async fn timeout_then_late_reply_ignored() {
    let (m, mut rx) = setup(Duration::from_millis(30));
    let mut events = subscribe(&m, &mut rx, "hm://slow", vec![]).await;
    let task = spawn_get(&m, "hm://slow");
    let (_, seq, _, _) = next_request(&mut rx).await;
    let e = task.await.expect("join").expect_err("timeout");
    assert_eq!(e, MercuryError::Timeout);
    assert_eq!(e.kind(), crate::ErrorKind::Retry);
    assert_eq!(m.shared.lock().pending.len(), 0);
    // The late reply (even a multi-packet one) is dropped: not an error, not an event.
    let h = header("hm://slow", 200, None);
    m.dispatch(0xb2, &packet(&seq, FLAG_PARTIAL, std::slice::from_ref(&h)))
        .expect("late partial");
    m.dispatch(0xb2, &packet(&seq, FLAG_FINAL, &[h]))
        .expect("late final");
    assert_eq!(m.shared.lock().partials.len(), 0);
    assert!(events.try_recv().is_err());
}

#[tokio::test]
async fn timeout_mid_reassembly_frees_partial() {
    let (m, mut rx) = setup(Duration::from_millis(30));
    let task = spawn_get(&m, "hm://slow");
    let (_, seq, _, _) = next_request(&mut rx).await;
    m.dispatch(0xb2, &packet(&seq, FLAG_PARTIAL, &[vec![1, 2]]))
        .expect("partial");
    assert_eq!(m.shared.lock().partials.len(), 1);
    assert_eq!(task.await.expect("join"), Err(MercuryError::Timeout));
    assert_eq!(m.shared.lock().partials.len(), 0);
}

#[tokio::test]
async fn reset_fails_pending_and_ends_subscriptions() {
    let (m, mut rx) = setup(Duration::from_secs(5));
    let mut events = subscribe(&m, &mut rx, "hm://ev/", vec![]).await;
    let task = spawn_get(&m, "hm://a");
    let (_, seq, _, _) = next_request(&mut rx).await;
    // A half-received reply is dropped too.
    m.dispatch(0xb2, &packet(&seq, FLAG_PARTIAL, &[vec![1]]))
        .expect("partial");

    let (tx2, mut rx2) = mpsc::unbounded_channel();
    m.reset(tx2);
    assert_eq!(task.await.expect("join"), Err(MercuryError::Disconnected));
    assert_eq!(
        events.try_recv(),
        Err(mpsc::error::TryRecvError::Disconnected),
        "subscription stream ended"
    );
    assert_eq!(m.shared.lock().partials.len(), 0);

    // New requests go through the new connection, with fresh seqs.
    let task = spawn_get(&m, "hm://b");
    let (_, seq2, _, _) = next_request(&mut rx2).await;
    assert_eq!(seq2, 2u64.to_be_bytes());
    assert!(rx.try_recv().is_err());
    m.dispatch(
        0xb2,
        &packet(&seq2, FLAG_FINAL, &[header("hm://b", 200, None)]),
    )
    .expect("reply");
    assert!(task.await.expect("join").is_ok());
}

#[tokio::test]
async fn closed_connection_is_disconnected() {
    let (m, rx) = setup(Duration::from_secs(5));
    drop(rx);
    assert_eq!(m.get("hm://a").await, Err(MercuryError::Disconnected));
    assert_eq!(m.shared.lock().pending.len(), 0);
}

#[tokio::test]
async fn events_dispatched_by_uri_prefix() {
    let (m, mut rx) = setup(Duration::from_secs(5));
    let mut bob = subscribe(&m, &mut rx, "hm://remote/user/bob/", vec![]).await;
    let mut all = subscribe(&m, &mut rx, "hm://remote/", vec![]).await;
    let mut spaced = subscribe(&m, &mut rx, "hm://a/b+c", vec![]).await;

    m.dispatch(0xb5, &event("hm://remote/user/bob/x", b"1"))
        .expect("event");
    let e = bob.try_recv().expect("bob got it");
    assert_eq!(
        (e.uri.as_str(), e.payload.clone()),
        ("hm://remote/user/bob/x", vec![b"1".to_vec()])
    );
    assert_eq!(all.try_recv().expect("prefix got it"), e);

    m.dispatch(0xb5, &event("hm://remote/user/alice/x", b"2"))
        .expect("event");
    assert!(bob.try_recv().is_err());
    assert_eq!(all.try_recv().expect("all").payload, vec![b"2".to_vec()]);

    m.dispatch(0xb5, &event("hm://elsewhere", b"3"))
        .expect("event");
    assert!(bob.try_recv().is_err() && all.try_recv().is_err());

    // Matched against the form-urlencoded URI as librespot does.
    m.dispatch(0xb5, &event("hm://a/b c/d", b"4"))
        .expect("event");
    assert_eq!(
        spaced.try_recv().expect("spaced").payload,
        vec![b"4".to_vec()]
    );

    // A multi-packet event.
    let h = header("hm://remote/user/bob/y", 200, None);
    m.dispatch(0xb5, &packet(&[7], FLAG_PARTIAL, &[h, b"ab".to_vec()]))
        .expect("p1");
    m.dispatch(0xb5, &packet(&[7], FLAG_FINAL, &[b"cd".to_vec()]))
        .expect("p2");
    assert_eq!(bob.try_recv().expect("bob").payload, vec![b"abcd".to_vec()]);

    // A dropped receiver is pruned on the next matching event.
    drop(all);
    m.dispatch(0xb5, &event("hm://remote/z", b"5"))
        .expect("event");
    assert_eq!(m.shared.lock().subs.len(), 2);
}

#[tokio::test]
async fn unknown_seq_reply_is_a_push() {
    let (m, mut rx) = setup(Duration::from_secs(5));
    let mut s = subscribe(&m, &mut rx, "hm://p/", vec![]).await;
    // 0xb2 with a seq we never issued goes to the subscriptions.
    let p = packet(
        &999u64.to_be_bytes(),
        FLAG_FINAL,
        &[header("hm://p/1", 200, None)],
    );
    m.dispatch(0xb2, &p).expect("push");
    assert_eq!(s.try_recv().expect("pushed").uri, "hm://p/1");
}

#[tokio::test]
async fn sub_with_subscription_payload() {
    let (m, mut rx) = setup(Duration::from_secs(5));
    let subs: Vec<Vec<u8>> = ["hm://pusher/v1/a", "hm://pusher/v1/b"]
        .iter()
        .map(|u| {
            let mut s = Subscription::new();
            s.set_uri(u.to_string());
            s.set_expiry(3600);
            s.set_status_code(200);
            s.write_to_bytes().expect("encode")
        })
        .collect();
    let mut events = subscribe(&m, &mut rx, "hm://remote/3/user/bob/", subs).await;
    m.dispatch(0xb5, &event("hm://pusher/v1/a/1", b"a"))
        .expect("a");
    m.dispatch(0xb5, &event("hm://pusher/v1/b", b"b"))
        .expect("b");
    // The requested URI itself is not watched when the reply names others.
    m.dispatch(0xb5, &event("hm://remote/3/user/bob/x", b"c"))
        .expect("c");
    assert_eq!(events.try_recv().expect("a").payload, vec![b"a".to_vec()]);
    assert_eq!(events.try_recv().expect("b").payload, vec![b"b".to_vec()]);
    assert!(events.try_recv().is_err());
}

#[tokio::test]
async fn bad_subscription_payload_fails_subscribe() {
    let (m, mut rx) = setup(Duration::from_secs(5));
    let m2 = m.clone();
    let task = tokio::spawn(async move { m2.subscribe("hm://x").await });
    let (_, seq, _, _) = next_request(&mut rx).await;
    let p = packet(
        &seq,
        FLAG_FINAL,
        &[header("hm://x", 200, None), vec![0xff, 0xff]],
    );
    assert!(matches!(
        m.dispatch(0xb3, &p),
        Err(MercuryError::Malformed(_))
    ));
    assert!(matches!(
        task.await.expect("join"),
        Err(MercuryError::Malformed(_))
    ));
    assert_eq!(m.shared.lock().subs.len(), 0);
}

#[tokio::test]
async fn failed_sub_registers_nothing() {
    let (m, mut rx) = setup(Duration::from_secs(5));
    let m2 = m.clone();
    let task = tokio::spawn(async move { m2.subscribe("hm://x").await });
    let (_, seq, _, _) = next_request(&mut rx).await;
    m.dispatch(
        0xb3,
        &packet(&seq, FLAG_FINAL, &[header("hm://x", 403, None)]),
    )
    .expect("dispatch");
    assert!(matches!(
        task.await.expect("join"),
        Err(MercuryError::Status { code: 403, .. })
    ));
    assert_eq!(m.shared.lock().subs.len(), 0);
}

#[tokio::test]
async fn unsubscribe_ends_stream_and_sends_unsub() {
    let (m, mut rx) = setup(Duration::from_secs(5));
    let mut keep = subscribe(&m, &mut rx, "hm://keep/", vec![]).await;
    let mut gone = subscribe(&m, &mut rx, "hm://gone/", vec![]).await;
    let m2 = m.clone();
    let task = tokio::spawn(async move { m2.unsubscribe("hm://gone/").await });
    let (c, seq, h, _) = next_request(&mut rx).await;
    assert_eq!((c, h.method(), h.uri()), (0xb4, "UNSUB", "hm://gone/"));
    assert_eq!(
        gone.try_recv(),
        Err(mpsc::error::TryRecvError::Disconnected)
    );
    m.dispatch(
        0xb4,
        &packet(&seq, FLAG_FINAL, &[header("hm://gone/", 200, None)]),
    )
    .expect("unsub reply");
    task.await.expect("join").expect("unsubscribed");
    m.dispatch(0xb5, &event("hm://keep/1", b"k"))
        .expect("event");
    assert!(keep.try_recv().is_ok());
}

#[tokio::test]
async fn malformed_reply_fails_request_now() {
    let (m, mut rx) = setup(Duration::from_secs(5));
    // Truncated after the seq: attributed to the request, which fails at once.
    let task = spawn_get(&m, "hm://a");
    let (_, seq, _, _) = next_request(&mut rx).await;
    let mut bad = packet(&seq, FLAG_FINAL, &[header("hm://a", 200, None)]);
    bad.truncate(bad.len() - 3);
    assert!(matches!(
        m.dispatch(0xb2, &bad),
        Err(MercuryError::Malformed(_))
    ));
    assert!(matches!(
        task.await.expect("join"),
        Err(MercuryError::Malformed(_))
    ));

    // A header that is not a protobuf.
    let task = spawn_get(&m, "hm://b");
    let (_, seq, _, _) = next_request(&mut rx).await;
    let bad = packet(&seq, FLAG_FINAL, &[vec![0xff, 0xff, 0xff]]);
    assert!(matches!(
        m.dispatch(0xb2, &bad),
        Err(MercuryError::Malformed(_))
    ));
    assert!(matches!(
        task.await.expect("join"),
        Err(MercuryError::Malformed(_))
    ));

    // A final packet with no parts at all.
    let task = spawn_get(&m, "hm://c");
    let (_, seq, _, _) = next_request(&mut rx).await;
    assert!(m.dispatch(0xb2, &packet(&seq, FLAG_FINAL, &[])).is_err());
    assert!(matches!(
        task.await.expect("join"),
        Err(MercuryError::Malformed(_))
    ));

    assert_eq!(
        m.dispatch(0x04, &[]),
        Err(MercuryError::UnexpectedCommand(0x04))
    );
    assert!(m.dispatch(0xb5, &[0]).is_err());
}

#[tokio::test]
async fn oversized_message_rejected_and_dropped() {
    let (m, mut rx) = setup(Duration::from_secs(30));
    let task = spawn_get(&m, "hm://huge");
    let (_, seq, _, _) = next_request(&mut rx).await;
    let chunk = vec![0u8; 60_000];
    let mut failed = None;
    // 16 MiB / 60 000 ≈ 280 packets; stop at the first rejection.
    for i in 0..400 {
        if let Err(e) = m.dispatch(
            0xb2,
            &packet(&seq, FLAG_PARTIAL, std::slice::from_ref(&chunk)),
        ) {
            failed = Some((i, e));
            break;
        }
    }
    let (i, e) = failed.expect("rejected before 400 packets");
    assert!(
        i * 60_000 >= MAX_MESSAGE_BYTES - 60_000,
        "rejected too early: {i}"
    );
    assert!(matches!(e, MercuryError::Malformed(m) if m.contains("exceeds")));
    assert_eq!(m.shared.lock().partials.len(), 0);
    assert!(matches!(
        task.await.expect("join"),
        Err(MercuryError::Malformed(_))
    ));
}

#[test]
fn partial_message_count_bounded() {
    let (m, _rx) = setup(Duration::from_secs(5));
    for i in 0..MAX_PARTIAL_MESSAGES {
        m.dispatch(0xb5, &packet(&[i as u8], FLAG_PARTIAL, &[vec![1]]))
            .expect("partial");
    }
    let e = m
        .dispatch(0xb5, &packet(&[0xfe], FLAG_PARTIAL, &[vec![1]]))
        .expect_err("too many");
    assert!(matches!(e, MercuryError::Malformed(_)));
    assert_eq!(m.shared.lock().partials.len(), MAX_PARTIAL_MESSAGES);
    // Continuing an existing one still works, and so does a single-packet event.
    m.dispatch(0xb5, &packet(&[0], FLAG_PARTIAL, &[vec![2]]))
        .expect("continue");
    m.dispatch(0xb5, &event("hm://x", b""))
        .expect("whole event");
}

#[test]
fn total_partial_bytes_bounded() {
    let (m, _rx) = setup(Duration::from_secs(5));
    let chunk = vec![0u8; 60_000];
    let mut rejected = false;
    // Spread over several seqs so no single message hits its own cap first.
    'outer: for round in 0..200 {
        for s in 0..4u8 {
            if m.dispatch(
                0xb5,
                &packet(&[s], FLAG_PARTIAL, std::slice::from_ref(&chunk)),
            )
            .is_err()
            {
                rejected = true;
                assert!(round * 4 * 60_000 >= MAX_REASSEMBLY_BYTES - 4 * 60_000);
                break 'outer;
            }
        }
    }
    assert!(rejected);
    let total: usize = m.shared.lock().partials.values().map(|p| p.bytes).sum();
    assert!(total <= MAX_REASSEMBLY_BYTES);
}

fn arb_packet() -> impl Strategy<Value = (u8, Vec<u8>)> {
    let seq = prop_oneof![
        (0u64..4).prop_map(|n| n.to_be_bytes().to_vec()),
        proptest::collection::vec(any::<u8>(), 0..3),
    ];
    let part = proptest::collection::vec(any::<u8>(), 0..40);
    (
        0xb2u8..=0xb5,
        seq,
        0u8..4,
        proptest::collection::vec(part, 0..4),
    )
        .prop_map(|(c, seq, flags, parts)| {
            (
                c,
                encode_mercury_packet(&seq, flags, &parts).expect("small"),
            )
        })
}

proptest! {
    #[test]
    fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(p) = parse_mercury_packet(&bytes) {
            // Whatever parsed re-encodes to a prefix of the input.
            let again = encode_mercury_packet(&p.seq, p.flags, &p.parts).expect("re-encode");
            prop_assert!(bytes.starts_with(&again));
        }
    }

    #[test]
    fn dispatch_never_panics_on_random_bytes(
        command in any::<u8>(),
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let (m, _rx) = setup(Duration::from_secs(1));
        let _ = m.dispatch(command, &bytes);
        let _ = m.dispatch(cmd::MERCURY_EVENT, &bytes);
    }

    #[test]
    fn dispatch_never_panics_on_packet_sequences(
        packets in proptest::collection::vec(arb_packet(), 0..12),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let (m, _rx) = setup(Duration::from_millis(1));
            // Some pending requests (seqs 0 and 1) and a subscription for the packets to hit.
            let (sub_tx, _sub_rx) = mpsc::unbounded_channel();
            m.shared.lock().subs.push(Sub { requested: String::new(), uri: String::new(), tx: sub_tx });
            let a = spawn_get(&m, "hm://a");
            let b = spawn_get(&m, "hm://b");
            tokio::task::yield_now().await;
            for (c, p) in &packets {
                let _ = m.dispatch(*c, p);
            }
            let _ = a.await;
            let _ = b.await;
            let inner = m.shared.lock();
            assert!(inner.pending.is_empty());
            assert!(inner.partials.len() <= MAX_PARTIAL_MESSAGES);
        });
    }
}
