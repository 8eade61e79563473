//! The guest remote end to end: `tonearm --demo --remote-listen 127.0.0.1:PORT daemon` (the
//! real binary, its own embedded simulator, a private home) and headless chromium driving the
//! guest page over DevTools. A guest joins by name in the page, searches a demo track and adds
//! it; the page's queue and `tonearm ctl queue --json` show their name. `skip` is refused (403)
//! until the owner grants it with `tonearm ctl guests grant`, then skips. A cross-origin POST and
//! a form-encoded POST are refused; a guest named like an HTML tag is shown as text (no element
//! made, no script run); a restart of the host makes the old token useless (401) and the page
//! asks for a name again.

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tonearm_testkit::chromium::{Chromium, CHROMIUM};
use tonearm_testkit::process::{first_stdout_lines, Home, KillOnDrop};
use tonearm_testkit::{require_tool, within};

const BIN: &str = env!("CARGO_BIN_EXE_tonearm");
const EVIL: &str = "<img src=x onerror=window.__pwned=1>";

/// The demo catalog's tracks as (URI, name): the daemon's embedded simulator builds the same.
async fn demo_tracks() -> Vec<(String, String)> {
    demo().await.0
}

/// [`demo_tracks`] and the demo account's user name and display name.
async fn demo() -> (Vec<(String, String)>, [String; 2]) {
    let sim = tonearm_testkit::sim().await;
    let acct = tonearm_testkit::account(&sim, "premium").username.clone();
    let catalog = sim.catalog();
    let out = catalog
        .demo_tracks
        .iter()
        .map(|&t| {
            (
                catalog.uri(tonearm_sim::catalog::Entity::Track(t)).unwrap(),
                catalog.tracks[t].name.clone(),
            )
        })
        .collect();
    let display = catalog
        .users
        .iter()
        .find(|u| u.username == acct)
        .map(|u| u.display_name.clone())
        .unwrap_or_default();
    sim.shutdown().await;
    (out, [acct, display])
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The daemon with the guest remote on `port`; returns once the socket and the page answer.
async fn start(home: &Home, port: u16) -> KillOnDrop {
    let mut child = KillOnDrop(
        home.command()
            .args(["--remote-listen", &format!("127.0.0.1:{port}")])
            .args(["--demo", "daemon", "--sink", "null", "--name", "Party"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let lines = within(60, first_stdout_lines(&mut child.0, 2)).await;
    assert_eq!(lines.len(), 2, "{lines:?}\nlog:\n{}", home.log());
    let socket = home.control_socket();
    tonearm_testkit::wait_until("the control socket", 60, || socket.exists()).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/")).await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the guest page never answered\nlog:\n{}",
            home.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child
}

fn ctl(home: &Home, args: &[&str]) -> Output {
    home.command().arg("ctl").args(args).output().unwrap()
}

fn ctl_json(home: &Home, args: &[&str]) -> Value {
    let out = ctl(home, &[args, &["--json"]].concat());
    assert!(
        out.status.success(),
        "ctl {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Polls `ctl ARGS --json` until `f` holds (60 s).
fn wait_ctl(home: &Home, args: &[&str], what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = ctl_json(home, args);
        if f(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last {v}\nlog:\n{}",
            home.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn post(base: &str, path: &str, token: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

/// JavaScript: the queue item for `uri` whose "added by" names `who`, as `'y'` (else `''`).
fn queue_shows(uri: &str, who: &str) -> String {
    format!(
        "[...document.querySelectorAll('#queue li')].some(li => li.dataset.uri === {} && \
         [...li.querySelectorAll('.by')].some(b => b.textContent === 'added by ' + {})) ? 'y' : ''",
        json!(uri),
        json!(who)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_join_enqueue_and_get_only_what_the_owner_grants() {
    if !require_tool(
        CHROMIUM,
        "the guest-remote test drives the page in a real browser (`make test` runs \
         scripts/setup.sh, which installs the Debian package `chromium`)",
    ) {
        return;
    }
    let (tracks, owner) = demo().await;
    assert!(tracks.len() >= 6);
    let home = Home::new(BIN);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let daemon = start(&home, port).await;

    // The owner plays three tracks; the guest will add a fourth.
    let owned: Vec<&str> = tracks[..3].iter().map(|t| t.0.as_str()).collect();
    let h = &home;
    tokio::task::block_in_place(|| {
        wait_ctl(h, &["status"], "the session", |v| {
            v["status"]["connection"]["session"] == "online"
        });
        let mut args = vec!["play-uri"];
        args.extend(owned.iter().copied());
        ctl_json(h, &args);
        wait_ctl(h, &["status"], "the owner's tracks", |v| {
            v["status"]["queue_length"] == 3 && v["status"]["queue_index"] == 0
        });
    });

    // In the page: join as Ann, search the demo track by name, add it, see "added by Ann".
    let (uri, name) = tracks[5].clone();
    let url = format!("{base}/");
    let (u, n) = (uri.clone(), name.clone());
    let (mut browser, tab, token) = tokio::task::block_in_place(|| {
        let (mut b, tab) = Chromium::open_when_ready(
            &url,
            "document.readyState === 'complete' && document.getElementById('join-view') \
             && !document.getElementById('join-view').hidden ? 'y' : ''",
            "the join form",
        );
        b.eval(
            &tab,
            "document.getElementById('name').value = 'Ann'; \
             document.getElementById('join').click(); 'ok'",
        );
        b.wait_for(
            &tab,
            "!document.getElementById('party-view').hidden && \
             document.getElementById('me').textContent === 'Ann' ? 'y' : ''",
            "the party view",
        );
        // No skip permission yet: the skip buttons are greyed.
        assert_eq!(
            b.eval(&tab, "document.getElementById('next').disabled"),
            json!(true)
        );
        b.eval(
            &tab,
            &format!(
                "document.getElementById('query').value = {}; \
                 document.getElementById('search').click(); 'ok'",
                json!(n)
            ),
        );
        let add = format!("#results li[data-uri=\"{u}\"] button.add");
        b.wait_for(
            &tab,
            &format!("document.querySelector({}) ? 'y' : ''", json!(add)),
            "the track in the search results",
        );
        b.eval(
            &tab,
            &format!("document.querySelector({}).click(); 'ok'", json!(add)),
        );
        b.wait_for(
            &tab,
            &queue_shows(&u, "Ann"),
            "Ann's track in the page's queue",
        );
        let token = b.wait_for(
            &tab,
            "localStorage.getItem('tonearm-guest-token') || ''",
            "the token",
        );
        (b, tab, token)
    });

    // The owner sees it too, with the guest's name.
    let u = uri.clone();
    tokio::task::block_in_place(|| {
        let q = wait_ctl(h, &["queue"], "added_by in ctl queue", |v| {
            v["queue"]["items"].as_array().is_some_and(|items| {
                items
                    .iter()
                    .any(|i| i["uri"] == u && i["added_by"] == "Ann")
            })
        });
        assert!(q["queue"]["items"][0].get("added_by").is_none(), "{q}");
        let text = String::from_utf8(ctl(h, &["queue"]).stdout).unwrap();
        assert!(text.contains("(added by Ann)"), "{text}");
        let guests = ctl_json(h, &["guests"]);
        assert_eq!(guests["guests"][0]["name"], "Ann", "{guests}");
        assert_eq!(
            guests["guests"][0]["permissions"],
            json!(["enqueue", "pause"])
        );
    });

    // Skip: refused until the owner grants it, then it skips.
    let (code, v) = post(&base, "/api/next", &token, json!({})).await;
    assert_eq!(code, 403, "{v}");
    let out = ctl(&home, &["guests", "grant", "Ann", "skip"]);
    assert!(out.status.success(), "{out:?}");
    let (code, v) = post(&base, "/api/next", &token, json!({})).await;
    assert_eq!(code, 200, "{v}");
    tokio::task::block_in_place(|| {
        wait_ctl(h, &["status"], "the skip", |v| {
            v["status"]["queue_index"] == 1
        });
    });

    // Nothing of the owner's in what a guest can read: not the account, not this device's id,
    // not the other guests' tokens.
    let device_id = tokio::task::block_in_place(|| {
        ctl_json(h, &["status"])["status"]["device"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    });
    let client = reqwest::Client::new();
    for path in [
        "/api/me",
        "/api/queue",
        &format!("/api/search?q={}", tracks[0].1),
    ] {
        let text = client
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for secret in [&device_id, &owner[0], &owner[1]] {
            assert!(
                !secret.is_empty() && !text.contains(secret.as_str()),
                "{path}: {text}"
            );
        }
        assert!(!text.contains(&token), "{path}");
    }

    // Another site's page, and a form post: refused, whatever the token.
    let r = reqwest::Client::new()
        .post(format!("{base}/api/next"))
        .bearer_auth(&token)
        .header("origin", "http://evil.example")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = reqwest::Client::new()
        .post(format!("{base}/api/enqueue"))
        .bearer_auth(&token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("uri={uri}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);

    // A guest named like an HTML tag adds a track: Ann's page shows the name as text.
    let (code, joined) = post(&base, "/api/join", "", json!({ "name": EVIL })).await;
    assert_eq!(code, 200, "{joined}");
    let evil_token = joined["token"].as_str().unwrap().to_string();
    let evil_uri = tracks[4].0.clone();
    let (code, v) = post(
        &base,
        "/api/enqueue",
        &evil_token,
        json!({ "uri": evil_uri }),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    let (tab2, b) = (tab.clone(), &mut browser);
    let check = queue_shows(&evil_uri, EVIL);
    tokio::task::block_in_place(|| {
        b.wait_for(&tab2, &check, "the HTML-named guest's track in the page");
        assert_eq!(
            b.eval(
                &tab2,
                "document.querySelectorAll('#queue img, #results img').length"
            ),
            json!(0)
        );
        assert_eq!(b.eval(&tab2, "typeof window.__pwned"), json!("undefined"));
        // The name sits in a text node, as written.
        assert_eq!(
            b.eval(
                &tab2,
                "[...document.querySelectorAll('#queue .by')].some(s => s.childNodes.length === 1 \
                 && s.firstChild.nodeType === Node.TEXT_NODE \
                 && s.firstChild.data.includes('<img src=x')) ? 'y' : ''"
            ),
            json!("y")
        );
    });

    // A restart makes a new key: the old token is refused, and the page asks for a name.
    drop(daemon);
    let _daemon = start(&home, port).await;
    let r = reqwest::Client::new()
        .get(format!("{base}/api/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    tokio::task::block_in_place(|| {
        browser.eval(&tab, "location.reload(); 'ok'");
        browser.wait_for(
            &tab,
            "document.readyState === 'complete' && document.getElementById('join-view') \
             && !document.getElementById('join-view').hidden \
             && !localStorage.getItem('tonearm-guest-token') ? 'y' : ''",
            "the join form again after the restart",
        );
    });
}

/// The TUI serves the guest remote too: a guest's addition reaches its queue (through `update`,
/// as keys do) and `ctl queue` names them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tui_serves_guests_too() {
    if !require_tool(
        "tmux",
        "the TUI runs in a tmux pane (scripts/setup.sh test installs it)",
    ) {
        return;
    }
    let tracks = demo_tracks().await;
    let home = Home::new(BIN);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let tmux = home.tmux((120, 40), "PS1='$ ' sh");
    tmux.type_text(&format!(
        "TERM=xterm-256color {BIN} --remote-listen 127.0.0.1:{port} --demo --sink null"
    ));
    tmux.keys(&["Enter"]);
    tmux.wait_for(
        "the demo library",
        Duration::from_secs(90),
        || format!("log:\n{}", home.log()),
        |s| s.contains("Demo Mix"),
    );
    let h = &home;
    tokio::task::block_in_place(|| {
        wait_ctl(h, &["status"], "the session", |v| {
            v["status"]["connection"]["session"] == "online"
        });
    });
    let (code, joined) = post(&base, "/api/join", "", json!({ "name": "Bea" })).await;
    assert_eq!(code, 200, "{joined}");
    let token = joined["token"].as_str().unwrap().to_string();
    let uri = tracks[2].0.clone();
    let (code, v) = post(&base, "/api/enqueue", &token, json!({ "uri": uri })).await;
    assert_eq!(code, 200, "{v}");
    tokio::task::block_in_place(|| {
        wait_ctl(h, &["queue"], "Bea's track in the TUI's queue", |v| {
            v["queue"]["items"].as_array().is_some_and(|items| {
                items
                    .iter()
                    .any(|i| i["uri"] == uri && i["added_by"] == "Bea")
            })
        });
    });
    // Volume is not Bea's until granted.
    let (code, _) = post(&base, "/api/volume", &token, json!({ "percent": 40 })).await;
    assert_eq!(code, 403);
    tmux.keys(&["C-c"]);
    let socket = home.control_socket();
    tonearm_testkit::wait_until("the socket removed on exit", 30, || !socket.exists()).await;
}
