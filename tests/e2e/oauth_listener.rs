//! The OAuth loopback listener under a stray request (issue 12): any local process or web page
//! can send `GET /login?state=wrong` to the port `tonearm login` listens on. That request must
//! get a 400 page and must not abort the sign-in: the real redirect that follows (the
//! simulator's accounts service, consent over plain HTTP) still completes it, through the real
//! binary and through the library.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tonearm::auth::oauth;
use tonearm::config::SPOTIFY_CLIENT_ID;

use crate::common;

/// GET the page, POST the consent form, return the `Location` of the 302 (the redirect to the
/// client's loopback listener, with `code` and `state`).
async fn consent(authorize_url: &str, username: &str, password: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(authorize_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let url = reqwest::Url::parse(authorize_url).unwrap();
    let mut form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    form.push(("username".into(), username.into()));
    form.push(("password".into(), password.into()));
    form.push(("consent".into(), "accept".into()));
    let resp = http
        .post(url.join("/authorize").unwrap())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection(), "{}", resp.status());
    resp.headers()["location"].to_str().unwrap().to_string()
}

/// The loopback port named in the authorize URL's `redirect_uri`.
fn redirect_port(authorize_url: &str) -> u16 {
    let url = reqwest::Url::parse(authorize_url).unwrap();
    let redirect = url
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let redirect = reqwest::Url::parse(&redirect).unwrap();
    assert_eq!(redirect.host_str(), Some("127.0.0.1"));
    assert_eq!(redirect.path(), "/login");
    redirect.port().unwrap()
}

/// What another local program would send: a redirect with a `state` of its own choosing.
async fn stray(port: u16, query: &str) -> (u16, String) {
    let resp = reqwest::get(format!("http://127.0.0.1:{port}/login?{query}"))
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stray_wrong_state_does_not_abort_tonearm_login() {
    let sim = common::sim().await;
    let acct = common::account(&sim, "premium").clone();
    let info = sim.info();
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tonearm"))
        .env("HOME", home.path())
        .env("XDG_STATE_HOME", home.path().join("state"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
        .env("TONEARM_CREDENTIAL_STORE", "file")
        .env_remove("TONEARM_LOG")
        .args(["--apresolve-url", &info.apresolve])
        .args(["--ap-key-modulus", &info.ap_key.modulus])
        .args(["--accounts-url", &info.accounts_url])
        .args(["login", "--no-open"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let url = tokio::task::block_in_place(|| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines
                .recv_timeout(left)
                .expect("the authorize URL on stdout");
            if line.trim_start().starts_with("http") && line.contains("/authorize?") {
                break line.trim().to_string();
            }
        }
    });
    let port = redirect_port(&url);

    // Strays first: each is refused with a page, and the login process keeps running.
    for query in [
        "state=wrong",
        "state=wrong&code=forged-code",
        "state=wrong&error=access_denied",
    ] {
        let (status, page) = stray(port, query).await;
        assert_eq!(status, 400, "{query}: {page}");
        assert!(page.contains("wrong `state`"), "{page}");
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "a stray ended the login"
    );

    // Then the real redirect: the login completes and stores the credentials.
    let location = consent(&url, &acct.username, &acct.password).await;
    let page = reqwest::get(location).await.unwrap().text().await.unwrap();
    assert!(page.contains("Signed in to tonearm"), "{page}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "tonearm login did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let stdout: Vec<String> = lines.try_iter().collect();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{}\n{stderr}", stdout.join("\n"));
    let stdout = stdout.join("\n");
    assert!(
        stdout.contains(&format!("Signed in as {}", acct.username)),
        "{stdout}"
    );
    let stored =
        std::fs::read_to_string(home.path().join("state/tonearm/credentials.json")).unwrap();
    assert!(stored.contains(&acct.username), "{stored}");
    // The refusals are in the log, the forged code is not.
    let log = std::fs::read_to_string(home.path().join("state/tonearm/tonearm.log")).unwrap();
    assert!(log.contains("wrong state was refused"), "{log}");
    assert!(!log.contains("forged-code"), "{log}");
}

/// The same through the library: strays while the flow waits, then the simulator's redirect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stray_wrong_state_does_not_abort_browser_pkce() {
    let sim = common::sim().await;
    let acct = common::account(&sim, "premium").clone();
    let user = acct.username.clone();
    let (tx, strays) = tokio::sync::oneshot::channel();
    let opener = move |url: &str| {
        let url = url.to_string();
        tokio::spawn(async move {
            let port = redirect_port(&url);
            let a = stray(port, "state=wrong").await;
            let b = stray(port, "code=no-state-at-all").await;
            let location = consent(&url, &acct.username, &acct.password).await;
            let page = reqwest::get(location).await.unwrap().text().await.unwrap();
            let _ = tx.send((a, b, page));
        });
    };
    let token = common::within(
        30,
        oauth::browser_pkce(
            &sim.info().accounts_url,
            SPOTIFY_CLIENT_ID,
            oauth::DEFAULT_SCOPES,
            opener,
        ),
    )
    .await
    .expect("the sign-in completes after the strays");
    assert_eq!(token.username.as_deref(), Some(user.as_str()));
    let ((sa, _), (sb, _), page) = strays.await.unwrap();
    assert_eq!((sa, sb), (400, 400));
    assert!(page.contains("Signed in to tonearm"), "{page}");
}
