//! Tests of the streaming fetch against the in-test fake CDN (127.0.0.1 only).

use super::*;
use crate::audio::tests::fake_cdn::{pseudo_random, FakeCdn, Fault};

fn fast_params() -> FetchParams {
    FetchParams {
        chunk_size: 64 * 1024,
        response_timeout: Duration::from_secs(2),
        body_timeout: Duration::from_secs(2),
        max_retries: 4,
        retry_base_delay: Duration::from_millis(10),
        retry_max_delay: Duration::from_millis(50),
        stall_timeout: Duration::from_secs(10),
        ..FetchParams::default()
    }
}

async fn read_all(mut f: StreamingFile) -> (StreamingFile, io::Result<Vec<u8>>) {
    tokio::task::spawn_blocking(move || {
        let mut v = Vec::new();
        let r = f.read_to_end(&mut v).map(|_| v);
        (f, r)
    })
    .await
    .unwrap()
}

#[test]
fn range_set() {
    let mut r = RangeSet::default();
    assert_eq!(r.insert(10, 20), 10);
    assert_eq!(r.insert(30, 40), 10);
    assert_eq!(r.insert(15, 35), 10); // fills 20..30
    assert_eq!(r.ranges, vec![(10, 40)]);
    assert_eq!(r.insert(0, 5), 5);
    assert_eq!(r.insert(5, 10), 5); // adjacent: merged
    assert_eq!(r.ranges, vec![(0, 40)]);
    assert_eq!(r.insert(50, 50), 0);
    assert_eq!(r.insert(60, 70), 10);
    assert_eq!(r.end_of_range_at(39), Some(40));
    assert_eq!(r.end_of_range_at(40), None);
    assert_eq!(r.first_gap_from(0, 100), Some((40, 60)));
    assert_eq!(r.first_gap_from(65, 100), Some((70, 100)));
    assert_eq!(r.first_gap_from(65, 70), None);
    assert_eq!(r.first_gap_from(45, 100), Some((45, 60)));
    assert_eq!(r.total(), 50);
}

#[test]
fn content_range_parsing() {
    assert_eq!(
        parse_content_range("bytes 0-65535/300000"),
        Some((0, 65535, 300_000))
    );
    assert_eq!(
        parse_content_range("bytes 0-999/1000"),
        Some((0, 999, 1000))
    );
    assert_eq!(parse_content_range("bytes 0-1000/1000"), None);
    assert_eq!(parse_content_range("bytes */1000"), None);
    assert_eq!(parse_content_range("bytes 5-1/1000"), None);
    assert_eq!(parse_content_range("bytes 0-1/*"), None);
    assert_eq!(parse_content_range("items 0-1/2"), None);
}

#[test]
fn urls_are_redacted() {
    assert_eq!(
        redact("https://cdn.example/a/b.ogg?__token__=exp=1~hmac=abc"),
        "https://cdn.example/a/b.ogg"
    );
    assert!(
        !strip_queries("error sending request for url (http://x/y?tok=SECRET)").contains("SECRET")
    );
}

#[test]
fn rate_limit_hints() {
    use reqwest::header::{HeaderMap, HeaderValue};
    let mut h = HeaderMap::new();
    assert_eq!(retry_after(&h), None);
    h.insert("fastly-ratelimit-reset", HeaderValue::from_static("3"));
    assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
    h.insert("retry-after", HeaderValue::from_static("2"));
    assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
    h.insert(
        "retry-after",
        HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
    );
    assert_eq!(
        retry_after(&h),
        Some(Duration::from_secs(3)),
        "falls through to Fastly's"
    );
    let soon = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 5;
    let mut h = HeaderMap::new();
    h.insert("fastly-ratelimit-reset", HeaderValue::from(soon));
    let d = retry_after(&h).unwrap();
    assert!(
        d <= Duration::from_secs(5) && d >= Duration::from_secs(3),
        "{d:?}"
    );
    h.insert("x-ratelimit-next", HeaderValue::from_static("-1"));
    assert!(retry_after(&h).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_whole_file_first_range_is_64k() {
    let cdn = FakeCdn::start().await;
    let data = pseudo_random(300_000, 1);
    cdn.add("a", data.clone());
    let f = StreamingFile::open(reqwest::Client::new(), vec![cdn.url("a")], fast_params())
        .await
        .unwrap();
    assert_eq!(f.size(), 300_000);
    let (f, got) = read_all(f).await;
    assert_eq!(got.unwrap(), data);
    f.wait_complete(Duration::from_secs(5)).unwrap();
    assert!(f.is_complete());
    assert_eq!(f.downloaded(), 300_000);
    let reqs = cdn.requests("a");
    assert_eq!(reqs[0], (0, 65_535), "the first request is bytes=0-65535");
    // Later requests are chunk-sized and cover the rest without overlap.
    let later: u64 = reqs[1..].iter().map(|(s, e)| e - s + 1).sum();
    assert_eq!(later, 300_000 - 65_536);
    assert!(format!("{f:?}").contains("size"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_file_and_default_params() {
    let cdn = FakeCdn::start().await;
    let data = pseudo_random(1000, 2);
    cdn.add("s", data.clone());
    let f = StreamingFile::open(
        reqwest::Client::new(),
        vec![cdn.url("s")],
        FetchParams::default(),
    )
    .await
    .unwrap();
    assert_eq!(f.size(), 1000);
    let (f, got) = read_all(f).await;
    assert_eq!(got.unwrap(), data);
    assert!(f.is_complete());
    assert_eq!(cdn.requests("s"), vec![(0, 65_535)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_or_a_missing_content_range_is_refused() {
    let cdn = FakeCdn::start().await;
    cdn.add("x", pseudo_random(5000, 3));
    cdn.set_always("x", Some(Fault::IgnoreRange));
    let e = StreamingFile::open(reqwest::Client::new(), vec![cdn.url("x")], fast_params())
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::NotPartial { .. }), "{e}");
    assert!(e.to_string().contains("206"));
    assert!(!e.to_string().contains("SECRETTOKEN"));
    cdn.set_always("x", Some(Fault::NoContentRange));
    let e = StreamingFile::open(reqwest::Client::new(), vec![cdn.url("x")], fast_params())
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::BadRange { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried() {
    let cdn = FakeCdn::start().await;
    let data = pseudo_random(200_000, 4);
    cdn.add("r", data.clone());
    // First request: 503, 500, then fine; the second range: 502 then fine.
    cdn.push_faults(
        "r",
        [
            Fault::Status(503),
            Fault::Status(500),
            Fault::None,
            Fault::Status(502),
        ],
    );
    let f = StreamingFile::open(reqwest::Client::new(), vec![cdn.url("r")], fast_params())
        .await
        .unwrap();
    let (_f, got) = read_all(f).await;
    assert_eq!(got.unwrap(), data);
    let reqs = cdn.requests("r");
    assert_eq!(&reqs[..3], &[(0, 65_535); 3]);
    assert_eq!(reqs[3], reqs[4], "the failed range is asked again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_bodies_keep_what_arrived() {
    let cdn = FakeCdn::start().await;
    let data = pseudo_random(250_000, 5);
    cdn.add("t", data.clone());
    // First response cut short cleanly at 10 000 bytes; the next one breaks after 30 000.
    cdn.push_faults(
        "t",
        [Fault::Short(10_000), Fault::Reset(30_000), Fault::Short(0)],
    );
    let f = StreamingFile::open(reqwest::Client::new(), vec![cdn.url("t")], fast_params())
        .await
        .unwrap();
    let (_f, got) = read_all(f).await;
    assert_eq!(got.unwrap(), data);
    let reqs = cdn.requests("t");
    assert_eq!(reqs[0], (0, 65_535));
    // The rest is asked from where the body stopped.
    assert_eq!(reqs[1].0, 10_000);
    assert_eq!(reqs[2].0, 40_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_is_waited_out() {
    let cdn = FakeCdn::start().await;
    let data = pseudo_random(100_000, 6);
    cdn.add("l", data.clone());
    cdn.push_faults("l", [Fault::RateLimit(1), Fault::None, Fault::RateLimit(1)]);
    let t0 = Instant::now();
    let f = StreamingFile::open(reqwest::Client::new(), vec![cdn.url("l")], fast_params())
        .await
        .unwrap();
    assert!(
        t0.elapsed() >= Duration::from_millis(950),
        "{:?}",
        t0.elapsed()
    );
    let (_f, got) = read_all(f).await;
    assert_eq!(got.unwrap(), data);
    assert!(t0.elapsed() >= Duration::from_millis(1900));
    assert_eq!(
        cdn.requests("l").len(),
        4,
        "each 429 asked again once, after its wait"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_retry_after_is_obeyed_announced_shared_by_the_host_and_cancellable() {
    let cdn = FakeCdn::start().await;
    cdn.add("long", pseudo_random(100_000, 9));
    cdn.add("other", pseudo_random(100_000, 10));
    cdn.push_faults("long", [Fault::RateLimit(3600)]);
    // `localhost`, not 127.0.0.1: the host's pause outlives the test, and no other test's fake
    // CDN (on a port this one's may be reused for) must inherit it.
    let host_url = |name: &str| cdn.url(name).replacen("127.0.0.1", "localhost", 1);
    let mut notices = crate::api::rate_limit_notices();
    let opening = tokio::spawn(StreamingFile::open(
        reqwest::Client::new(),
        vec![host_url("long")],
        fast_params(),
    ));
    // An hour is an hour: no failure, no other URL, no retry while the pause lasts.
    let notice = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match notices.recv().await {
                Ok(n) if n.host.contains("localhost") => break n,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("notices: {e}"),
            }
        }
    })
    .await
    .expect("the long wait is announced");
    assert_eq!(notice.wait, Duration::from_secs(3600), "{notice:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !opening.is_finished(),
        "a 3600 s Retry-After is waited out, not failed"
    );
    assert_eq!(cdn.requests("long").len(), 1);
    let left = RateGate::for_url(&host_url("long"))
        .remaining()
        .expect("the host is paused");
    assert!(left > Duration::from_secs(3590), "{left:?}");
    // Another file on the same host waits at the same gate: no request reaches the CDN.
    let other = tokio::spawn(StreamingFile::open(
        reqwest::Client::new(),
        vec![host_url("other")],
        fast_params(),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!other.is_finished());
    assert!(cdn.requests("other").is_empty());
    // Stopping (the player's cancel drops the load) ends both waits at once.
    opening.abort();
    other.abort();
    assert!(opening.await.unwrap_err().is_cancelled());
    assert!(other.await.unwrap_err().is_cancelled());
    // A different host is not paused.
    let f = StreamingFile::open(
        reqwest::Client::new(),
        vec![cdn.url("other")],
        fast_params(),
    )
    .await
    .unwrap();
    drop(f);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_retry_after_mid_download_pauses_the_task_not_the_url_and_dropping_ends_it() {
    let cdn = FakeCdn::start().await;
    cdn.add("mid", pseudo_random(300_000, 11));
    cdn.push_faults("mid", [Fault::None, Fault::RateLimit(3600)]);
    // `localhost`: the host's hour-long pause must not reach another test's fake CDN.
    let url = cdn.url("mid").replacen("127.0.0.1", "localhost", 1);
    let mut notices = crate::api::rate_limit_notices();
    let f = StreamingFile::open(reqwest::Client::new(), vec![url.clone()], fast_params())
        .await
        .unwrap();
    let notice = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match notices.recv().await {
                Ok(n) if n.host.contains("localhost") => break n,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("notices: {e}"),
            }
        }
    })
    .await
    .expect("the long wait is announced");
    assert_eq!(notice.wait, Duration::from_secs(3600));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // Waiting, not failing: no other request, no failure, the first range kept.
    assert_eq!(cdn.requests("mid").len(), 2);
    assert!(f.failure().is_none());
    assert_eq!(f.downloaded(), 65_536);
    let task = f.task.clone();
    drop(f);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(task.is_finished(), "dropping the file ends the wait");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_url_when_one_fails() {
    let cdn = FakeCdn::start().await;
    let data = pseudo_random(200_000, 7);
    cdn.add("gone", data.clone());
    cdn.add("ok", data.clone());
    cdn.set_always("gone", Some(Fault::Status(403)));
    let f = StreamingFile::open(
        reqwest::Client::new(),
        vec![cdn.url("gone"), cdn.url("ok")],
        fast_params(),
    )
    .await
    .unwrap();
    let (_f, got) = read_all(f).await;
    assert_eq!(got.unwrap(), data);
    assert_eq!(
        cdn.requests("gone").len(),
        1,
        "a 403 is not retried on the same URL"
    );

    // Mid-download: the first URL starts failing with 503s after the first range.
    cdn.add("flaky", data.clone());
    cdn.add("backup", data.clone());
    cdn.push_faults("flaky", [Fault::None]);
    cdn.set_always("flaky", Some(Fault::Status(503)));
    let f = StreamingFile::open(
        reqwest::Client::new(),
        vec![cdn.url("flaky"), cdn.url("backup")],
        fast_params(),
    )
    .await
    .unwrap();
    let (_f, got) = read_all(f).await;
    assert_eq!(got.unwrap(), data);
    // 1 good + max_retries (4) failures on the flaky URL, then the backup took over.
    assert_eq!(cdn.requests("flaky").len(), 5);
    assert!(!cdn.requests("backup").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_urls_failing() {
    let cdn = FakeCdn::start().await;
    cdn.add("a", pseudo_random(100_000, 8));
    cdn.add("b", pseudo_random(100_000, 8));
    cdn.set_always("a", Some(Fault::Status(404)));
    cdn.set_always("b", Some(Fault::Status(500)));
    let e = StreamingFile::open(
        reqwest::Client::new(),
        vec![cdn.url("a"), cdn.url("b")],
        fast_params(),
    )
    .await
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("all 2 CDN URLs failed") && msg.contains("500"),
        "{msg}"
    );
    assert!(!msg.contains("SECRETTOKEN"));
    assert_eq!(e.kind(), crate::ErrorKind::Retry);
    let e = StreamingFile::open(reqwest::Client::new(), vec![], fast_params())
        .await
        .unwrap_err();
    assert_eq!(e, FetchError::NoUrls);

    // After a good start: reads of missing bytes fail promptly with the reason.
    cdn.set_always("a", None);
    cdn.push_faults("a", [Fault::None]);
    cdn.set_always("a", Some(Fault::Status(404)));
    let f = StreamingFile::open(reqwest::Client::new(), vec![cdn.url("a")], fast_params())
        .await
        .unwrap();
    let t0 = Instant::now();
    let (f, got) = read_all(f).await;
    let err = got.unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(f.failure().is_some());
    assert_eq!(f.downloaded(), 65_536);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_download_times_out_the_reader() {
    let cdn = FakeCdn::start().await;
    cdn.add("slow", pseudo_random(100_000, 9));
    cdn.push_faults("slow", [Fault::None]);
    cdn.set_always("slow", Some(Fault::Stall(Duration::from_secs(30))));
    let params = FetchParams {
        stall_timeout: Duration::from_millis(300),
        ..fast_params()
    };
    let f = StreamingFile::open(reqwest::Client::new(), vec![cdn.url("slow")], params)
        .await
        .unwrap();
    let (f, got) = read_all(f).await;
    let err = got.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(err.to_string().contains("stalled"), "{err}");
    drop(f);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seek_fetches_at_the_reader_first() {
    let cdn = FakeCdn::start().await;
    let data = pseudo_random(2_000_000, 10);
    cdn.add("big", data.clone());
    // 8 KiB every 10 ms ≈ 800 KB/s: the whole file would take ~2.5 s.
    cdn.set_pacing("big", Some((8192, Duration::from_millis(10))));
    let params = FetchParams {
        chunk_size: 128 * 1024,
        ..fast_params()
    };
    let mut f = StreamingFile::open(reqwest::Client::new(), vec![cdn.url("big")], params)
        .await
        .unwrap();
    let expect = data[1_500_000..1_500_100].to_vec();
    let (f, got, took) = tokio::task::spawn_blocking(move || {
        let t0 = Instant::now();
        f.seek(SeekFrom::Start(1_500_000)).unwrap();
        let mut b = vec![0u8; 100];
        f.read_exact(&mut b).unwrap();
        (f, b, t0.elapsed())
    })
    .await
    .unwrap();
    assert_eq!(got, expect);
    assert!(took < Duration::from_millis(1200), "{took:?}");
    assert!(!f.is_complete());
    assert!(
        cdn.requests("big").iter().any(|r| r.0 == 1_500_000),
        "{:?}",
        cdn.requests("big")
    );
    // Everything still arrives, and reading from anywhere is right.
    let (f, all) = tokio::task::spawn_blocking(move || {
        let mut f = f;
        f.seek(SeekFrom::Start(0)).unwrap();
        let mut v = Vec::new();
        f.read_to_end(&mut v).unwrap();
        (f, v)
    })
    .await
    .unwrap();
    assert_eq!(all, data);
    assert!(f.is_complete());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_seeks_and_reads() {
    let cdn = FakeCdn::start().await;
    let data = pseudo_random(700_000, 11);
    cdn.add("rnd", data.clone());
    cdn.set_pacing("rnd", Some((16 * 1024, Duration::from_millis(1))));
    let params = FetchParams {
        chunk_size: 50_000,
        ..fast_params()
    };
    let f = StreamingFile::open(reqwest::Client::new(), vec![cdn.url("rnd")], params)
        .await
        .unwrap();
    tokio::task::spawn_blocking(move || {
        let mut f = f;
        let mut x = 12345u64;
        let mut next = |m: u64| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (x >> 33) % m
        };
        for _ in 0..200 {
            let pos = next(710_000);
            let len = next(20_000) as usize;
            let how = next(3);
            let reached = match how {
                0 => f.seek(SeekFrom::Start(pos)).unwrap(),
                1 => f.seek(SeekFrom::End(pos as i64 - 700_000)).unwrap(),
                _ => {
                    let cur = f.stream_position().unwrap() as i64;
                    f.seek(SeekFrom::Current(pos as i64 - cur)).unwrap()
                }
            };
            assert_eq!(reached, pos);
            let mut b = vec![0u8; len];
            let mut got = 0;
            while got < len {
                let n = f.read(&mut b[got..]).unwrap();
                if n == 0 {
                    break;
                }
                got += n;
            }
            let p = pos as usize;
            let expect = &data[p.min(data.len())..(p + len).min(data.len())];
            assert_eq!(&b[..got], expect, "at {pos} len {len}");
        }
        assert!(f.seek(SeekFrom::Current(-1_000_000)).is_err());
        assert!(f.seek(SeekFrom::End(-700_001)).is_err());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_cancels_the_download() {
    let cdn = FakeCdn::start().await;
    cdn.add("d", pseudo_random(3_000_000, 12));
    cdn.set_pacing("d", Some((4096, Duration::from_millis(20))));
    let params = FetchParams {
        chunk_size: 32 * 1024,
        ..fast_params()
    };
    let f = StreamingFile::open(reqwest::Client::new(), vec![cdn.url("d")], params)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(f);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let n = cdn.requests("d").len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(cdn.requests("d").len(), n, "no requests after drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_size_is_refused() {
    let cdn = FakeCdn::start().await;
    cdn.add("huge", pseudo_random(100_000, 13));
    let params = FetchParams {
        max_file_size: 50_000,
        ..fast_params()
    };
    let e = StreamingFile::open(reqwest::Client::new(), vec![cdn.url("huge")], params)
        .await
        .unwrap_err();
    assert_eq!(e, FetchError::TooLarge { size: 100_000 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_host_is_a_network_error() {
    // A port nothing listens on (bound then released).
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let params = FetchParams {
        max_retries: 2,
        ..fast_params()
    };
    let e = StreamingFile::open(
        reqwest::Client::new(),
        vec![format!("http://{addr}/x.ogg?token=SECRETTOKEN")],
        params,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, FetchError::Network { .. }), "{e}");
    assert!(!e.to_string().contains("SECRETTOKEN"), "{e}");
}
