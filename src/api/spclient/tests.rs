//! SpClient against in-test axum servers on 127.0.0.1: headers and query, metadata through
//! extended-metadata and its fallback, caching, 401/429/5xx handling, host switching,
//! storage-resolve.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method as AxMethod, StatusCode, Uri};
use librespot_protocol::entity_extension_data::{EntityExtensionData, EntityExtensionDataHeader};
use librespot_protocol::extended_metadata::{BatchedEntityRequest, EntityExtensionDataArray};
use librespot_protocol::storage_resolve::{storage_resolve_response, StorageResolveResponse};
use protobuf::well_known_types::any::Any;
use protobuf::{Message, MessageField};

use super::*;
use crate::api::metadata::tests::{fid, proto_track};
use crate::api::tests::{
    account, closed_base, endpoints, fast_timing, serve, token_routes, TokenCounters,
};
use crate::api::TokenTiming;

#[derive(Debug, Clone)]
struct Req {
    method: String,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

type Reply = (StatusCode, Vec<(&'static str, String)>, Vec<u8>);
type Handler = Arc<dyn Fn(&Req, usize) -> Reply + Send + Sync>;

struct Fake {
    base: String,
    seen: Arc<Mutex<Vec<Req>>>,
    tokens: Arc<TokenCounters>,
}

impl Fake {
    fn seen(&self) -> Vec<Req> {
        self.seen.lock().expect("lock").clone()
    }
    fn count(&self) -> usize {
        self.seen.lock().expect("lock").len()
    }
    fn paths(&self) -> Vec<String> {
        self.seen().into_iter().map(|r| r.path).collect()
    }
}

/// Tokens at `/v1/clienttoken` and `/v3/login`; every other request goes to `handler` with its
/// 1-based number.
async fn fake(handler: impl Fn(&Req, usize) -> Reply + Send + Sync + 'static) -> Fake {
    let seen: Arc<Mutex<Vec<Req>>> = Arc::default();
    let tokens = Arc::new(TokenCounters::default());
    let handler: Handler = Arc::new(handler);
    let s = seen.clone();
    let router = token_routes(tokens.clone()).fallback(
        move |method: AxMethod, uri: Uri, headers: HeaderMap, body: Bytes| {
            let s = s.clone();
            let handler = handler.clone();
            async move {
                let req = Req {
                    method: method.to_string(),
                    path: uri.path().to_string(),
                    query: uri.query().unwrap_or_default().to_string(),
                    headers,
                    body: body.to_vec(),
                };
                let n = {
                    let mut seen = s.lock().expect("lock");
                    seen.push(req.clone());
                    seen.len()
                };
                let (status, hdrs, body) = handler(&req, n);
                let mut resp = axum::response::Response::new(axum::body::Body::from(body));
                *resp.status_mut() = status;
                for (k, v) in hdrs {
                    resp.headers_mut()
                        .insert(k, v.parse().expect("header value"));
                }
                resp
            }
        },
    );
    Fake {
        base: serve(router).await,
        seen,
        tokens,
    }
}

fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        max_tries: 10,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        request_timeout: Duration::from_secs(5),
    }
}

fn client_for(token_base: &str, spclient_bases: Vec<String>) -> SpClient {
    let tokens =
        TokenProvider::with_account(account(), endpoints(token_base), reqwest::Client::new())
            .with_timing(fast_timing());
    let account = tokens.account().clone();
    SpClient::build(account, tokens, spclient_bases, reqwest::Client::new())
        .with_retry_policy(fast_policy())
}

fn client(f: &Fake) -> SpClient {
    client_for(&f.base, vec![format!("{}/", f.base)])
}

fn ok(body: Vec<u8>) -> Reply {
    (StatusCode::OK, vec![], body)
}

fn status(s: u16) -> Reply {
    (StatusCode::from_u16(s).expect("status"), vec![], Vec::new())
}

fn entry(uri: &str, status: i32, value: Vec<u8>) -> EntityExtensionData {
    let mut e = EntityExtensionData::new();
    e.entity_uri = uri.into();
    let mut h = EntityExtensionDataHeader::new();
    h.status_code = status;
    e.header = MessageField::some(h);
    let mut any = Any::new();
    any.type_url = "type.googleapis.com/spotify.metadata.Track".into();
    any.value = value;
    e.extension_data = MessageField::some(any);
    e
}

fn ext_response(arrays: Vec<Vec<EntityExtensionData>>) -> Vec<u8> {
    let mut r = BatchedExtensionResponse::new();
    for entries in arrays {
        let mut a = EntityExtensionDataArray::new();
        a.extension_kind = ExtensionKind::TRACK_V4.into();
        a.extension_data = entries;
        r.extended_metadata.push(a);
    }
    r.write_to_bytes().expect("encode")
}

fn track_bytes(id: u128) -> Vec<u8> {
    proto_track(id).write_to_bytes().expect("encode")
}

fn uri(id: u128) -> String {
    format!("spotify:track:{}", SpotifyId(id).to_base62())
}

#[tokio::test]
async fn track_via_extended_metadata_with_headers_query_and_cache() {
    let f = fake(|req, _| {
        assert_eq!(req.path, "/extended-metadata/v0/extended-metadata");
        // The wanted entry first, another entity last: the match wins over "last".
        ok(ext_response(vec![
            vec![entry(&uri(42), 200, track_bytes(42))],
            vec![entry(&uri(99), 200, track_bytes(99))],
        ]))
    })
    .await;
    let sp = client(&f);
    let t = sp.track(SpotifyId(42)).await.expect("track");
    assert_eq!(t.id, SpotifyId(42));
    assert_eq!(t.name, "Song");
    assert_eq!(sp.clone().track(SpotifyId(42)).await.expect("cached"), t);
    let seen = f.seen();
    assert_eq!(seen.len(), 1, "second call must hit the cache");
    let r = &seen[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.headers["authorization"], "Bearer at-1");
    assert_eq!(r.headers["client-token"], "ct-1");
    assert_eq!(r.headers["content-type"], "application/x-protobuf");
    assert!(r.headers["user-agent"]
        .to_str()
        .expect("ascii")
        .starts_with("Spotify/"));
    let q: Vec<&str> = r.query.split('&').collect();
    assert_eq!(q[0], "product=0");
    assert_eq!(q[1], "country=SE");
    let salt = q[2].strip_prefix("salt=").expect("salt");
    salt.parse::<u32>().expect("salt is a u32");
    let req = BatchedEntityRequest::parse_from_bytes(&r.body).expect("request");
    assert_eq!(req.entity_request.len(), 1);
    assert_eq!(req.entity_request[0].entity_uri, uri(42));
    assert_eq!(
        req.entity_request[0].query[0].extension_kind.enum_value(),
        Ok(ExtensionKind::TRACK_V4)
    );
    assert_eq!(f.tokens.logins(), 1);
}

#[tokio::test]
async fn falls_back_to_metadata_4() {
    // Extended metadata fails three different ways; /metadata/4 answers each time.
    for ext_reply in [
        status(404),
        ok(ext_response(vec![vec![entry(
            &uri(42),
            200,
            vec![0xff, 0xff],
        )]])),
        ok(ext_response(vec![])),
    ] {
        let f = fake(move |req, _| {
            if req.path.starts_with("/extended-metadata") {
                return ext_reply.clone();
            }
            assert_eq!(
                req.path,
                format!("/metadata/4/track/{}", SpotifyId(42).to_base16())
            );
            assert_eq!(req.method, "GET");
            assert_eq!(req.headers["authorization"], "Bearer at-1");
            ok(track_bytes(42))
        })
        .await;
        let t = client(&f).track(SpotifyId(42)).await.expect("fallback");
        assert_eq!(t.id, SpotifyId(42));
        assert_eq!(f.count(), 2);
    }
}

#[tokio::test]
async fn entity_404_is_not_found() {
    let f = fake(|req, _| {
        if req.path.starts_with("/extended-metadata") {
            ok(ext_response(vec![vec![entry(&uri(5), 404, Vec::new())]]))
        } else {
            status(404)
        }
    })
    .await;
    let e = client(&f).track(SpotifyId(5)).await.expect_err("missing");
    assert!(matches!(e, ApiError::NotFound(_)), "{e:?}");
    // Both endpoints failing: the more telling error wins (extended 404, legacy malformed).
    let f = fake(|req, _| {
        if req.path.starts_with("/extended-metadata") {
            status(404)
        } else {
            ok(vec![0xff, 0xff])
        }
    })
    .await;
    let e = client(&f).track(SpotifyId(5)).await.expect_err("bad");
    assert!(matches!(e, ApiError::Malformed(_)), "{e:?}");
}

#[tokio::test]
async fn album_artist_episode_show_use_their_kinds() {
    let f = fake(|req, _| {
        let req = BatchedEntityRequest::parse_from_bytes(&req.body).expect("request");
        let uri = req.entity_request[0].entity_uri.clone();
        let kind = req.entity_request[0].query[0].extension_kind.enum_value();
        let g = Some(7u128.to_be_bytes().to_vec());
        let value = if uri.starts_with("spotify:album:") {
            assert_eq!(kind, Ok(ExtensionKind::ALBUM_V4));
            let mut a = librespot_protocol::metadata::Album::new();
            a.gid = g;
            a.write_to_bytes()
        } else if uri.starts_with("spotify:artist:") {
            assert_eq!(kind, Ok(ExtensionKind::ARTIST_V4));
            let mut a = librespot_protocol::metadata::Artist::new();
            a.gid = g;
            a.write_to_bytes()
        } else if uri.starts_with("spotify:episode:") {
            assert_eq!(kind, Ok(ExtensionKind::EPISODE_V4));
            let mut e = librespot_protocol::metadata::Episode::new();
            e.gid = g;
            e.duration = Some(1000);
            e.write_to_bytes()
        } else {
            assert!(uri.starts_with("spotify:show:"));
            assert_eq!(kind, Ok(ExtensionKind::SHOW_V4));
            let mut s = librespot_protocol::metadata::Show::new();
            s.gid = g;
            s.write_to_bytes()
        };
        ok(ext_response(vec![vec![entry(
            &uri,
            200,
            value.expect("encode"),
        )]]))
    })
    .await;
    let sp = client(&f);
    assert_eq!(
        sp.album(SpotifyId(7)).await.expect("album").id,
        SpotifyId(7)
    );
    assert_eq!(
        sp.artist(SpotifyId(7)).await.expect("artist").id,
        SpotifyId(7)
    );
    assert_eq!(
        sp.episode(SpotifyId(7)).await.expect("episode").id,
        SpotifyId(7)
    );
    assert_eq!(sp.show(SpotifyId(7)).await.expect("show").id, SpotifyId(7));
    // Same id, different kinds: four separate cache entries, four requests.
    assert_eq!(f.count(), 4);
}

#[tokio::test]
async fn unauthorized_refreshes_the_token_once() {
    let f = fake(|req, _| {
        if req.headers["authorization"] == "Bearer at-1" {
            status(401)
        } else {
            ok(ext_response(vec![vec![entry(
                &uri(1),
                200,
                track_bytes(1),
            )]]))
        }
    })
    .await;
    client(&f).track(SpotifyId(1)).await.expect("after refresh");
    assert_eq!(f.tokens.logins(), 2);
    assert_eq!(f.count(), 2);

    let f = fake(|_, _| status(401)).await;
    let e = client(&f)
        .storage_resolve(fid(1), AudioFormat::OggVorbis320)
        .await
        .expect_err("always 401");
    assert_eq!(e, ApiError::Unauthorized);
    assert_eq!(
        f.count(),
        2,
        "one retry after refreshing, and no v2 fallback"
    );
    assert_eq!(f.tokens.logins(), 2);
}

#[tokio::test]
async fn rate_limits() {
    // Retry-After 1 s is waited out.
    let f = fake(|_, n| {
        if n == 1 {
            (
                StatusCode::TOO_MANY_REQUESTS,
                vec![("retry-after", "1".into())],
                Vec::new(),
            )
        } else {
            ok(ext_response(vec![vec![entry(
                &uri(1),
                200,
                track_bytes(1),
            )]]))
        }
    })
    .await;
    let started = Instant::now();
    client(&f).track(SpotifyId(1)).await.expect("after waiting");
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_eq!(f.count(), 2);

    // No hint: an exponential back-off (1 s first), then the retry.
    let f = fake(|_, n| {
        if n == 1 {
            (StatusCode::TOO_MANY_REQUESTS, vec![], Vec::new())
        } else {
            ok(ext_response(vec![vec![entry(
                &uri(1),
                200,
                track_bytes(1),
            )]]))
        }
    })
    .await;
    let started = Instant::now();
    client(&f)
        .track(SpotifyId(1))
        .await
        .expect("after the back-off");
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_eq!(f.count(), 2);

    // Longer than 10 s: obeyed (no error, no request meanwhile), by every client of the host.
    let f = fake(|_, _| {
        (
            StatusCode::TOO_MANY_REQUESTS,
            vec![("retry-after", "60".to_string())],
            Vec::new(),
        )
    })
    .await;
    let (a, b) = (client(&f), client(&f));
    let first = tokio::spawn(async move { a.track(SpotifyId(1)).await });
    let deadline = Instant::now() + Duration::from_secs(10);
    while f.count() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let second = tokio::spawn(async move { b.track(SpotifyId(2)).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!first.is_finished() && !second.is_finished());
    assert_eq!(
        f.count(),
        1,
        "no fallback and no other request during the pause"
    );
    first.abort();
    second.abort();
}

#[tokio::test]
async fn server_errors_are_retried() {
    let f = fake(|_, n| {
        if n <= 3 {
            status(503)
        } else {
            ok(ext_response(vec![vec![entry(
                &uri(1),
                200,
                track_bytes(1),
            )]]))
        }
    })
    .await;
    client(&f).track(SpotifyId(1)).await.expect("fourth try");
    assert_eq!(f.count(), 4);

    // Ten 500s, then the /metadata/4 fallback gets ten more; the error is Unavailable.
    let f = fake(|_, _| status(500)).await;
    let e = client(&f).track(SpotifyId(1)).await.expect_err("down");
    assert!(matches!(e, ApiError::Unavailable(_)), "{e:?}");
    let paths = f.paths();
    assert_eq!(paths.len(), 20);
    assert!(paths[..10]
        .iter()
        .all(|p| p.starts_with("/extended-metadata")));
    assert!(paths[10..]
        .iter()
        .all(|p| p.starts_with("/metadata/4/track/")));
}

#[tokio::test]
async fn network_errors_and_host_switching() {
    let tokens = fake(|_, _| status(500)).await;
    let dead = closed_base().await;
    // Only a dead host: Network after all tries.
    let sp = client_for(&tokens.base, vec![dead.clone()]).with_retry_policy(RetryPolicy {
        max_tries: 2,
        ..fast_policy()
    });
    let e = sp
        .storage_resolve(fid(1), AudioFormat::OggVorbis160)
        .await
        .expect_err("nobody there");
    assert!(matches!(e, ApiError::Network(_)), "{e:?}");

    // A dead host and a live one: after three failures the client moves on.
    let live = fake(|_, _| {
        let mut m = StorageResolveResponse::new();
        m.result = storage_resolve_response::Result::CDN.into();
        m.cdnurl = vec!["http://127.0.0.1:1/audio/x".into()];
        ok(m.write_to_bytes().expect("encode"))
    })
    .await;
    let sp = client_for(&tokens.base, vec![dead, live.base.clone()]);
    let urls = sp
        .storage_resolve(fid(1), AudioFormat::OggVorbis160)
        .await
        .expect("second host");
    assert_eq!(urls, vec!["http://127.0.0.1:1/audio/x".to_string()]);
    assert_eq!(sp.base(), live.base);
}

fn storage_answer(result: storage_resolve_response::Result, urls: &[&str]) -> Vec<u8> {
    let mut m = StorageResolveResponse::new();
    m.result = result.into();
    m.cdnurl = urls.iter().map(|s| s.to_string()).collect();
    m.fileid = vec![1; 20];
    m.write_to_bytes().expect("encode")
}

#[tokio::test]
async fn storage_resolve_v1_then_v2() {
    let later = format!("https://cdn.example/a?verify={}-sig", now_unix() + 3600);
    let soon = format!("https://cdn.example/b?verify={}-sig", now_unix() + 60);
    let (l, s) = (later.clone(), soon.clone());
    let f = fake(move |req, _| {
        assert_eq!(req.method, "GET");
        assert_eq!(
            req.path,
            format!(
                "/storage-resolve/files/audio/interactive/{}",
                fid(3).to_base16()
            )
        );
        ok(storage_answer(
            storage_resolve_response::Result::CDN,
            &[&s, &l],
        ))
    })
    .await;
    let urls = client(&f)
        .storage_resolve(fid(3), AudioFormat::OggVorbis320)
        .await
        .expect("urls");
    assert_eq!(
        urls,
        vec![later.clone()],
        "the soon-expiring URL is skipped"
    );

    // v1 missing → v2 with the format number.
    let l = later.clone();
    let f = fake(move |req, _| {
        if req.path.starts_with("/storage-resolve/files/") {
            return status(404);
        }
        assert_eq!(
            req.path,
            format!(
                "/storage-resolve/v2/files/audio/interactive/4/{}",
                fid(3).to_base16()
            )
        );
        ok(storage_answer(storage_resolve_response::Result::CDN, &[&l]))
    })
    .await;
    let urls = client(&f)
        .storage_resolve(fid(3), AudioFormat::Mp3_320)
        .await
        .expect("v2");
    assert_eq!(urls, vec![later]);

    // RESTRICTED on v1 and nothing on v2: NotPlayable (the telling error).
    let f = fake(|req, _| {
        if req.path.starts_with("/storage-resolve/files/") {
            ok(storage_answer(
                storage_resolve_response::Result::RESTRICTED,
                &[],
            ))
        } else {
            status(404)
        }
    })
    .await;
    let e = client(&f)
        .storage_resolve(fid(3), AudioFormat::OggVorbis96)
        .await
        .expect_err("restricted");
    assert!(matches!(e, ApiError::NotPlayable(_)), "{e:?}");
    assert_eq!(f.count(), 2);
}

#[tokio::test]
async fn goes_on_without_a_client_token_for_spclient() {
    let f = fake(|req, _| {
        assert!(req.headers.get("client-token").is_none());
        ok(ext_response(vec![vec![entry(
            &uri(1),
            200,
            track_bytes(1),
        )]]))
    })
    .await;
    // Pretend login already happened: a token provider whose client-token URL is dead but
    // whose access token is cached.
    let dead = closed_base().await;
    let mut ep = endpoints(&f.base);
    ep.client_token = format!("{dead}/v1/clienttoken");
    let tokens = TokenProvider::with_account(account(), ep, reqwest::Client::new()).with_timing(
        TokenTiming {
            request_timeout: Duration::from_millis(500),
            ..fast_timing()
        },
    );
    tokens.preset_access_token(crate::api::AccessToken {
        token: "at-preset".into(),
        expires_at: Instant::now() + Duration::from_secs(3600),
    });
    let sp2 = SpClient::with_tokens(tokens, f.base.clone(), reqwest::Client::new())
        .with_retry_policy(fast_policy());
    sp2.track(SpotifyId(1))
        .await
        .expect("works without client token");
    assert_eq!(f.seen()[0].headers["authorization"], "Bearer at-preset");
}

#[test]
fn extension_payload_rules() {
    // No entry for the uri: librespot's "last array, last element".
    let bytes = ext_response(vec![
        vec![entry("spotify:track:a", 200, vec![1])],
        vec![
            entry("spotify:track:b", 200, vec![2]),
            entry("spotify:track:c", 0, vec![3]),
        ],
    ]);
    assert_eq!(extension_payload(&bytes, "spotify:track:zzz"), Ok(vec![3]));
    assert_eq!(extension_payload(&bytes, "spotify:track:a"), Ok(vec![1]));
    let bytes = ext_response(vec![vec![entry("u", 503, vec![])]]);
    assert!(matches!(
        extension_payload(&bytes, "u"),
        Err(ApiError::Unavailable(_))
    ));
    let bytes = ext_response(vec![vec![entry("u", 403, vec![])]]);
    assert!(matches!(
        extension_payload(&bytes, "u"),
        Err(ApiError::Http { status: 403, .. })
    ));
    let mut no_data = EntityExtensionData::new();
    no_data.entity_uri = "u".into();
    let bytes = ext_response(vec![vec![no_data]]);
    assert!(matches!(
        extension_payload(&bytes, "u"),
        Err(ApiError::Malformed(_))
    ));
    assert!(matches!(
        extension_payload(&[0xff], "u"),
        Err(ApiError::Malformed(_))
    ));
    assert!(matches!(
        extension_payload(&ext_response(vec![vec![]]), "u"),
        Err(ApiError::Malformed(_))
    ));
}

#[test]
fn cache_is_bounded() {
    let mut c = MetaCache {
        map: HashMap::new(),
        order: VecDeque::new(),
        capacity: 2,
    };
    let t = |n| Track {
        id: SpotifyId(n),
        ..Track::default()
    };
    c.put(SpotifyId(1), t(1));
    c.put(SpotifyId(2), t(2));
    c.put(SpotifyId(2), t(2)); // re-insert does not count twice
    c.put(SpotifyId(3), t(3));
    assert!(c.get::<Track>(SpotifyId(1)).is_none());
    assert_eq!(c.get::<Track>(SpotifyId(2)), Some(t(2)));
    assert_eq!(c.get::<Track>(SpotifyId(3)), Some(t(3)));
    assert!(c.get::<Album>(SpotifyId(3)).is_none());
    assert_eq!(c.map.len(), 2);
}

#[test]
fn bases() {
    assert_eq!(
        https_base("spclient.wg.spotify.com", 443),
        "https://spclient.wg.spotify.com"
    );
    assert_eq!(
        https_base("gew1-spclient.spotify.com", 4070),
        "https://gew1-spclient.spotify.com:4070"
    );
    assert_eq!(https_base("::1", 8443), "https://[::1]:8443");
}

#[test]
fn hostile_device_ids_stay_one_path_segment() {
    for id in [
        "0123456789abcdef0123456789abcdef01234567",
        "../../../v1/devices/x",
        "x/to/y",
        "a?b=c",
        "a#frag",
        "a%2F..%2Fb",
        "a b\r\nHost: evil",
        "é☃",
        "...",
        "%2e%2e",
    ] {
        let seg = path_segment(id).expect("encodable");
        let url = reqwest::Url::parse(&format!(
            "https://spclient.example/connect-state/v1/connect/transfer/from/me/to/{seg}"
        ))
        .expect("url");
        let segs: Vec<&str> = url.path_segments().expect("segments").collect();
        assert_eq!(segs.len(), 8, "{id:?} → {url}");
        assert_eq!(
            segs[..7],
            [
                "connect-state",
                "v1",
                "connect",
                "transfer",
                "from",
                "me",
                "to"
            ]
        );
        assert_eq!(url.query(), None, "{id:?}");
        assert_eq!(url.fragment(), None, "{id:?}");
        let back = percent_decode(segs[7]);
        assert_eq!(back, id.as_bytes(), "{id:?}");
    }
    for bad in ["", ".", ".."] {
        assert_eq!(path_segment(bad), None, "{bad:?}");
    }
    assert_eq!(path_segment(&"a".repeat(MAX_SEGMENT + 1)), None);
    assert_eq!(path_segment("abc-DEF_1.2~"), Some("abc-DEF_1.2~".into()));
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("hex"));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Several requests in flight when the server forgets the token (a restart): each is refused
/// with the same token, and the chain is re-minted once, not once per request (the rest keep
/// the token the first one minted).
#[tokio::test]
async fn concurrent_401s_with_the_same_token_re_mint_once() {
    let f = fake(|req, _| {
        if req.headers["authorization"] == "Bearer at-1" {
            return status(401);
        }
        let body = BatchedEntityRequest::parse_from_bytes(&req.body).expect("request");
        let asked = body.entity_request[0].entity_uri.clone();
        let id = (1..=4).find(|i| uri(*i) == asked).expect("a known track");
        ok(ext_response(vec![vec![entry(
            &asked,
            200,
            track_bytes(id),
        )]]))
    })
    .await;
    let sp = client(&f);
    let (a, b, c, d) = tokio::join!(
        sp.track(SpotifyId(1)),
        sp.track(SpotifyId(2)),
        sp.track(SpotifyId(3)),
        sp.track(SpotifyId(4)),
    );
    for (i, t) in [a, b, c, d].into_iter().enumerate() {
        assert_eq!(t.expect("after one re-mint").id, SpotifyId(i as u128 + 1));
    }
    assert_eq!(
        f.tokens.logins(),
        2,
        "one re-mint for the one refused token"
    );
    assert_eq!(f.tokens.client_tokens(), 2);
    assert!(f.count() <= 8, "each request refused at most once");
}
