//! The guest remote's rules without a player: the table (names, permissions, bans, rate
//! limits, contribution bounds, attribution) and the listener's checks (Host, Origin,
//! Content-Type, bad JSON, missing or forged tokens) through the real router on 127.0.0.1.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::server::{host_allowed, is_json, origin_allowed};
use super::table::{
    validate_name, JoinError, Limits, Refusal, Table, JOIN_ADDRESSES, JOIN_BURST, JOIN_PER_MIN,
};
use crate::local_api::schema::{Permission, Queue, QueueItem};

fn limits() -> Limits {
    Limits {
        ttl_s: 100,
        max_queued: 2,
        max_guests: 3,
        per_min: 60,
        burst: 3,
        defaults: [Permission::Enqueue, Permission::Pause].into(),
    }
}

#[test]
fn names_are_bounded_printable_and_unique() {
    assert_eq!(validate_name("  Ann  "), Ok("Ann".into()));
    assert_eq!(validate_name(""), Err(JoinError::Length));
    assert_eq!(validate_name("   "), Err(JoinError::Length));
    assert_eq!(validate_name(&"x".repeat(41)), Err(JoinError::Length));
    assert_eq!(validate_name("a\u{7}b"), Err(JoinError::Control));
    assert_eq!(validate_name("a\nb"), Err(JoinError::Control));
    assert_eq!(validate_name("evil\u{202E}gnp"), Err(JoinError::Control));
    // HTML is just text to the table (the page escapes it).
    assert!(validate_name("<img src=x onerror=alert(1)>").is_ok());
    let mut t = Table::new(limits());
    let now = Instant::now();
    t.join("Ann", 0, now).unwrap();
    assert_eq!(t.join("ann", 0, now), Err(JoinError::Taken));
    t.join("Bob", 0, now).unwrap();
    t.join("Cy", 0, now).unwrap();
    assert_eq!(t.join("Dee", 0, now), Err(JoinError::Full(3)));
    // Expired guests make room, and free their names.
    assert!(t.join("Ann", 100, now).is_ok());
}

#[test]
fn permissions_grant_revoke_and_admin() {
    let mut t = Table::new(limits());
    let now = Instant::now();
    let ann = t.join("Ann", 0, now).unwrap();
    assert!(ann.may(Permission::Enqueue) && ann.may(Permission::Pause));
    assert!(!ann.may(Permission::Skip));
    t.grant("ANN", Permission::Skip, 0).unwrap();
    assert!(t.authorize(ann.id, 0, now).unwrap().may(Permission::Skip));
    t.revoke("ann", Permission::Skip, 0).unwrap();
    assert!(!t.authorize(ann.id, 0, now).unwrap().may(Permission::Skip));
    t.grant("ann", Permission::Admin, 0).unwrap();
    let who = t.authorize(ann.id, 0, now).unwrap();
    assert!(Permission::ALL.iter().all(|p| who.may(*p)));
    assert!(t.grant("nobody", Permission::Skip, 0).is_err());
    // The config's names are exactly these permissions.
    for name in crate::config::GUEST_PERMISSIONS {
        assert_eq!(name.parse::<Permission>().unwrap().as_str(), name);
    }
    assert_eq!(
        crate::config::GUEST_PERMISSIONS.len(),
        Permission::ALL.len()
    );
}

#[test]
fn bans_refuse_the_token_and_block_the_name() {
    let mut t = Table::new(limits());
    let now = Instant::now();
    let ann = t.join("Ann", 0, now).unwrap();
    let g = t.ban("ann", 0).unwrap();
    assert!(g.banned);
    assert_eq!(t.authorize(ann.id, 0, now), Err(Refusal::Banned));
    assert_eq!(t.join("ANN", 0, now), Err(JoinError::Banned));
    // Expired tokens of a guest are refused too.
    let bob = t.join("Bob", 0, now).unwrap();
    assert_eq!(t.authorize(bob.id, 100, now), Err(Refusal::Unknown));
    assert_eq!(t.authorize(12345, 0, now), Err(Refusal::Unknown));
}

#[test]
fn the_rate_limit_refills_over_time() {
    let mut t = Table::new(limits());
    let now = Instant::now();
    let ann = t.join("Ann", 0, now).unwrap();
    for _ in 0..3 {
        t.authorize(ann.id, 0, now).unwrap();
    }
    assert_eq!(
        t.authorize(ann.id, 0, now),
        Err(Refusal::RateLimited { retry_after_s: 1 })
    );
    // One a second (60 a minute): a second later one more goes through, not two.
    let later = now + Duration::from_secs(1);
    t.authorize(ann.id, 0, later).unwrap();
    assert!(t.authorize(ann.id, 0, later).is_err());
    // Another guest has their own budget.
    let bob = t.join("Bob", 0, now).unwrap();
    assert!(t.authorize(bob.id, 0, now).is_ok());
}

fn queue(uris: &[&str], current: Option<usize>) -> Queue {
    Queue {
        current,
        items: uris
            .iter()
            .enumerate()
            .map(|(index, u)| QueueItem {
                index,
                uri: u.to_string(),
                name: None,
                added_by: None,
            })
            .collect(),
    }
}

#[test]
fn additions_are_attributed_bounded_and_forgotten() {
    let mut t = Table::new(limits());
    let now = Instant::now();
    let ann = t.join("Ann", 0, now).unwrap();
    let bob = t.join("Bob", 0, now).unwrap();
    let empty = queue(&[], None);
    t.may_add(&ann, &empty, now).unwrap();
    t.record_addition(&ann, "u:x".into(), now);
    t.record_addition(&bob, "u:x".into(), now);
    t.record_addition(&ann, "u:y".into(), now);
    // Two of Ann's are pending: her bound (2) is reached.
    assert_eq!(t.may_add(&ann, &empty, now), Err(Refusal::TooMany(2)));
    // The same track twice: matched in order; the current item and what is before it count.
    let q = queue(&["u:a", "u:x", "u:x", "u:y"], Some(1));
    assert_eq!(
        t.attribute(&q, now),
        vec![None, Some(ann.id), Some(bob.id), Some(ann.id)]
    );
    // Played past (before the current item) and the grace over: forgotten, room again.
    let later = now + Duration::from_secs(60);
    let q = queue(&["u:a", "u:x", "u:x", "u:y"], Some(3));
    assert_eq!(t.attribute(&q, later), vec![None, None, None, Some(ann.id)]);
    assert!(t.may_add(&ann, &q, later).is_ok());
    assert_eq!(t.list(0).iter().map(|g| g.queued).sum::<usize>(), 1);
}

#[test]
fn host_origin_and_content_type_rules() {
    let any = "0.0.0.0:8099".parse().unwrap();
    let lo = "127.0.0.1:8099".parse().unwrap();
    assert!(host_allowed("192.168.1.5:8099", any, None));
    assert!(host_allowed("[::1]:8099", any, None));
    assert!(host_allowed("localhost:8099", lo, None));
    assert!(host_allowed("party:8099", any, Some("party")));
    assert!(host_allowed("PARTY.local:8099", any, Some("party")));
    assert!(!host_allowed("192.168.1.5:8099", lo, None));
    assert!(!host_allowed("127.0.0.1:80", lo, None));
    assert!(!host_allowed("127.0.0.1", lo, None));
    assert!(!host_allowed("evil.example:8099", any, Some("party")));
    assert!(!host_allowed("", any, None));
    assert!(!host_allowed("127.0.0.1:x", lo, None));
    assert!(origin_allowed("http://127.0.0.1:8099", "127.0.0.1:8099"));
    assert!(!origin_allowed("http://evil.example", "127.0.0.1:8099"));
    assert!(!origin_allowed("null", "127.0.0.1:8099"));
    assert!(!origin_allowed("https://127.0.0.1:8099", "127.0.0.1:8099"));
    assert!(is_json(Some("application/json; charset=utf-8")));
    assert!(!is_json(Some("application/x-www-form-urlencoded")));
    assert!(!is_json(Some("text/plain")));
    assert!(!is_json(None));
}

#[test]
fn joins_are_limited_per_address() {
    let mut t = Table::new(Limits {
        max_guests: 10_000,
        ..limits()
    });
    let now = Instant::now();
    let a: std::net::IpAddr = "192.168.1.20".parse().unwrap();
    let b: std::net::IpAddr = "192.168.1.21".parse().unwrap();
    for i in 0..JOIN_BURST {
        t.join_from(a, &format!("a{i}"), 0, now).unwrap();
    }
    let wait = u64::from(60 / JOIN_PER_MIN);
    assert_eq!(
        t.join_from(a, "more", 0, now),
        Err(JoinError::TooFast(wait))
    );
    // Another address is not held up by the first.
    t.join_from(b, "b0", 0, now).unwrap();
    // The first gets one join back a minute later, and only one.
    let later = now + Duration::from_secs(wait);
    t.join_from(a, "after", 0, later).unwrap();
    assert!(matches!(
        t.join_from(a, "again", 0, later),
        Err(JoinError::TooFast(_))
    ));
}

#[test]
fn the_join_limit_remembers_a_bounded_number_of_addresses() {
    let mut t = Table::new(limits());
    let now = Instant::now();
    let addr = |i: usize| std::net::IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
    // Each address tries once (the party is full after three: refused, but counted).
    for i in 0..JOIN_ADDRESSES {
        let _ = t.join_from(addr(i), &format!("g{i}"), 0, now);
    }
    // All of them spent a join: a new address cannot be remembered, so it waits.
    assert!(matches!(
        t.join_from(addr(JOIN_ADDRESSES), "new", 0, now),
        Err(JoinError::TooFast(_))
    ));
    // Once their bursts are back they are forgotten and new addresses are served.
    let later = now + Duration::from_secs(u64::from(60 / JOIN_PER_MIN));
    assert_eq!(
        t.join_from(addr(JOIN_ADDRESSES), "new", 0, later),
        Err(JoinError::Full(3)),
        "admitted (the party itself is full)"
    );
}

/// A guest remote on 127.0.0.1 over a control API with no player attached.
async fn remote() -> (
    super::GuestRemote,
    crate::local_api::LocalApi,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let settings = crate::config::ControlSettings {
        serve: true,
        ..Default::default()
    };
    let api = crate::local_api::LocalApi::start_at(
        &dir.path().join("c.sock"),
        &settings,
        crate::local_api::Identity {
            device_id: "d".into(),
            device_name: "n".into(),
        },
    )
    .await
    .unwrap();
    let remote_settings = crate::config::RemoteSettings {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Default::default()
    };
    let g = super::GuestRemote::start(&remote_settings, Some(&api))
        .await
        .unwrap()
        .unwrap();
    (g, api, dir)
}

async fn post(base: &str, path: &str, body: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

/// `join` from `from` (a loopback address of its own) with the page's own origin.
async fn join_from(base: &str, from: &str, name: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .local_address(Some(from.parse().unwrap()))
        .build()
        .unwrap()
        .post(format!("{base}/api/join"))
        .header("content-type", "application/json")
        .header("origin", base)
        .body(json!({ "name": name }).to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn joins_from_one_address_are_limited_and_another_address_still_joins() {
    let (g, _api, _dir) = remote().await;
    let base = format!("http://{}", g.local_addr());
    for i in 0..JOIN_BURST {
        let r = join_from(&base, "127.0.0.2", &format!("flood{i}")).await;
        assert_eq!(r.status().as_u16(), 200, "join {i}");
    }
    let r = join_from(&base, "127.0.0.2", "one-more").await;
    assert_eq!(r.status().as_u16(), 429);
    let retry = r.headers()["retry-after"].to_str().unwrap().to_string();
    assert_eq!(retry, (60 / JOIN_PER_MIN).to_string());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limited", "{v}");
    // A phone on another address is not held up by the first.
    let r = join_from(&base, "127.0.0.3", "Ann").await;
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn the_listener_enforces_the_web_rules() {
    let (g, api, _dir) = remote().await;
    let base = format!("http://{}", g.local_addr());
    let json_ct = ("content-type", "application/json");
    // Form posts and other media types: 415.
    let (code, _) = post(
        &base,
        "/api/join",
        "name=x",
        &[("content-type", "application/x-www-form-urlencoded")],
    )
    .await;
    assert_eq!(code, 415);
    // Bad JSON: 400 with a reason.
    let (code, v) = post(&base, "/api/join", "{\"name\":", &[json_ct]).await;
    assert_eq!(code, 400);
    assert_eq!(v["error"]["code"], "bad_json", "{v}");
    let (code, _) = post(&base, "/api/join", "{\"name\":\"a\",\"x\":1}", &[json_ct]).await;
    assert_eq!(code, 400);
    // Too large: 413.
    let big = json!({"name": "x".repeat(10_000)}).to_string();
    assert_eq!(post(&base, "/api/join", &big, &[json_ct]).await.0, 413);
    // Another site's page: 403.
    let (code, _) = post(
        &base,
        "/api/join",
        "{\"name\":\"a\"}",
        &[json_ct, ("origin", "http://evil.example")],
    )
    .await;
    assert_eq!(code, 403);
    // A rebinding name as Host: 403.
    let (code, _) = post(
        &base,
        "/api/join",
        "{\"name\":\"a\"}",
        &[json_ct, ("host", "evil.example")],
    )
    .await;
    assert_eq!(code, 403);
    // The page's own origin: joins; the token works; a forged one doesn't.
    let origin = base.clone();
    let (code, v) = post(
        &base,
        "/api/join",
        "{\"name\":\"Ann\"}",
        &[json_ct, ("origin", &origin)],
    )
    .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["permissions"], json!(["enqueue", "pause"]));
    let token = v["token"].as_str().unwrap().to_string();
    let auth = format!("Bearer {token}");
    let me = reqwest::Client::new()
        .get(format!("{base}/api/me"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status().as_u16(), 200);
    let forged = format!("Bearer {}0", token);
    let (code, _) = post(
        &base,
        "/api/next",
        "{}",
        &[json_ct, ("authorization", &forged)],
    )
    .await;
    assert_eq!(code, 401);
    // Skip needs the permission.
    let (code, v) = post(
        &base,
        "/api/next",
        "{}",
        &[json_ct, ("authorization", &auth)],
    )
    .await;
    assert_eq!(code, 403, "{v}");
    // The page: CSP, and no secret in it.
    let page = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .split(';')
            .next(),
        Some("default-src 'self'")
    );
    let text = page.text().await.unwrap();
    assert!(!text.contains("innerHTML"));
    assert!(!include_str!("page.js").contains("innerHTML"));
    api.shutdown();
}

#[test]
fn the_remote_section_is_checked() {
    use crate::config::parse;
    let p = std::path::Path::new("c.toml");
    let c = parse("", p).unwrap();
    assert_eq!(c.remote.listen, None);
    assert_eq!(c.remote.default_permissions, ["enqueue", "pause"]);
    let c = parse(
        "[remote]\nlisten = \"0.0.0.0:8099\"\ndefault_permissions = [\"enqueue\"]\n\
         token_ttl_s = 3600\nmax_queued_per_guest = 3\nrate_per_min = 30\nrate_burst = 5\n",
        p,
    )
    .unwrap();
    assert_eq!(c.remote.listen, Some("0.0.0.0:8099".parse().unwrap()));
    let l = Limits::from_settings(&c.remote);
    assert_eq!(l.defaults, [Permission::Enqueue].into());
    assert_eq!(
        (l.ttl_s, l.max_queued, l.per_min, l.burst),
        (3600, 3, 30, 5)
    );
    for (bad, key) in [
        ("listen = \"8099\"", "remote.listen"),
        (
            "default_permissions = [\"root\"]",
            "remote.default_permissions",
        ),
        ("token_ttl_s = 1", "remote.token_ttl_s"),
        ("max_queued_per_guest = 0", "remote.max_queued_per_guest"),
        ("surprise = 1", "surprise"),
    ] {
        let e = parse(&format!("[remote]\n{bad}\n"), p)
            .unwrap_err()
            .to_string();
        assert!(e.contains(key), "{bad}: {e}");
    }
}
