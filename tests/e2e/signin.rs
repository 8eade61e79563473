//! Sign-in end to end against the simulator's accounts service, through its public HTTP surface
//! only: a real headless chromium driven over the DevTools protocol (`--remote-debugging-pipe`)
//! signs in through the authorize page and lands on the client's loopback listener; PKCE and
//! `state` are enforced; the device flow is approved by the test playing the user at `/pair`; and
//! with no Secret Service on the bus the credentials go to the 0600 file, a 0644 file refused.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use tonearm::auth::oauth::{self, AuthError, DeviceOptions, Pkce};
use tonearm::auth::store::{CredentialStore, FileStore, KeyringStore, Preference};
use tonearm::config::SPOTIFY_CLIENT_ID;
use tonearm::session::Credentials;
use tonearm_sim::{SimConfig, Simulator};
use tonearm_testkit::chromium::{Chromium, CHROMIUM};
use tonearm_testkit::process::{endpoint_args, info_json, Home, Running};

use crate::common;

/// What the user does in the browser: open the authorize URL, fill the sign-in form, press
/// Agree, and read the page the browser ends on (tonearm's loopback page). Runs on its own
/// thread (the DevTools pipe is blocking); returns (final URL, page text).
fn sign_in_with_chromium(
    url: String,
    username: String,
    password: String,
) -> std::thread::JoinHandle<(String, String)> {
    std::thread::spawn(move || {
        let mut browser = Chromium::launch();
        let tab = browser.open(&url);
        browser.wait_for(
            &tab,
            "document.readyState === 'complete' && document.getElementById('consent') \
             ? location.href : ''",
            "the sign-in form",
        );
        let fill = format!(
            "document.getElementById('username').value = {};
             document.getElementById('password').value = {};
             document.getElementById('consent').click(); 'clicked'",
            json!(username),
            json!(password)
        );
        assert_eq!(browser.eval(&tab, &fill), json!("clicked"));
        let text = browser.wait_for(
            &tab,
            "location.pathname === '/login' && document.readyState === 'complete' \
             && document.body ? document.body.innerText : ''",
            "tonearm's page after the redirect",
        );
        let href = browser
            .eval(&tab, "location.href")
            .as_str()
            .unwrap()
            .to_string();
        (href, text)
    })
}

// --- the binary -----------------------------------------------------------------------------

/// `tonearm` with a private home, endpoints at `sim`, and no reachable Secret Service; the
/// credential store is chosen the real way (no `TONEARM_CREDENTIAL_STORE`).
fn tonearm(sim: &Simulator, home: &Home) -> Command {
    let mut c = home.command();
    c.env_remove("TONEARM_CREDENTIAL_STORE")
        .args(endpoint_args(&info_json(sim)));
    c
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

// --- the tests ------------------------------------------------------------------------------

/// The real thing: `tonearm login` prints the authorize URL, chromium signs in with the demo
/// account and follows the redirect to tonearm's loopback listener, the credentials land in the
/// file store, and `tonearm status` connects with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sign_in_with_real_chromium_through_the_binary() {
    if !tonearm_testkit::require_tool(
        CHROMIUM,
        "the sign-in test needs a real browser (`make test` runs scripts/setup.sh, which \
         installs the Debian package `chromium`)",
    ) {
        return;
    }
    // Headless chromium sometimes dies at start-up on a loaded 2-core machine (the DevTools
    // pipe closes before the page loads). Each attempt is a whole fresh run — simulator, login
    // process, browser — and the test still fails if all three do, so a real sign-in bug
    // cannot hide behind the retry.
    for attempt in 1..=3 {
        match tokio::spawn(chromium_sign_in_attempt()).await {
            Ok(()) => return,
            Err(e) if e.is_panic() && attempt < 3 => {
                eprintln!("chromium sign-in attempt {attempt} failed; retrying with a fresh run");
            }
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

async fn chromium_sign_in_attempt() {
    let sim = common::sim().await;
    let acct = common::account(&sim, "premium").clone();
    let home = Home::new(env!("CARGO_BIN_EXE_tonearm"));
    let mut cmd = tonearm(&sim, &home);
    cmd.env("TONEARM_CREDENTIAL_STORE", "file")
        .args(["login", "--no-open"]);
    let mut login = Running::spawn(cmd);
    let url = login.line(|l| l.trim_start().starts_with("http") && l.contains("/authorize?"));
    let url = url.trim().to_string();
    assert!(url.starts_with(&sim.info().accounts_url), "{url}");

    let browser = sign_in_with_chromium(url, acct.username.clone(), acct.password.clone());
    let (href, page) = tokio::task::spawn_blocking(move || browser.join().unwrap())
        .await
        .unwrap();
    assert!(href.starts_with("http://127.0.0.1:"), "{href}");
    assert!(
        page.contains("Signed in to tonearm — you can close this tab"),
        "{page}"
    );

    let (ok, stdout, stderr) = login.finish();
    assert!(ok, "login failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("Signed in as {}", acct.username)),
        "{stdout}"
    );
    assert!(
        stdout.contains("Stored reusable credentials in the file")
            && stdout.contains("(mode 0600; chosen by TONEARM_CREDENTIAL_STORE=file)"),
        "{stdout}"
    );
    let file = home.path().join("state/tonearm/credentials.json");
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);
    let stored = std::fs::read_to_string(&file).unwrap();
    assert!(stored.contains(&acct.username), "{stored}");
    assert!(!stored.contains(&acct.password));

    let out = tonearm(&sim, &home)
        .env("TONEARM_CREDENTIAL_STORE", "file")
        .arg("status")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("account:   {}", acct.username)),
        "{stdout}"
    );
    // Nothing secret in the log.
    let log = std::fs::read_to_string(home.log_path()).unwrap();
    assert!(!log.contains(&acct.password));
    assert!(!log.contains("code="), "{log}");
}

/// The authorize form done with plain HTTP (GET the page, POST the form, read the 302), for the
/// tests that need to tamper with a step. Returns the `Location` of the redirect.
async fn consent_over_http(authorize_url: &str, username: &str, password: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(authorize_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"consent\""), "{html}");
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

#[tokio::test]
async fn the_server_refuses_a_wrong_pkce_verifier() {
    let sim = common::sim().await;
    let acct = common::account(&sim, "premium").clone();
    let base = sim.info().accounts_url.clone();
    let redirect_uri = "http://127.0.0.1:9/login";
    let http = oauth::http_client().unwrap();
    for right in [false, true] {
        let pkce = Pkce::new_random();
        let state = oauth::random_state();
        let url = oauth::authorize_url(
            &base,
            SPOTIFY_CLIENT_ID,
            &["streaming"],
            redirect_uri,
            &state,
            pkce.challenge(),
        )
        .unwrap();
        let location = consent_over_http(&url, &acct.username, &acct.password).await;
        let q: std::collections::HashMap<String, String> = reqwest::Url::parse(&location)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
        assert_eq!(q["state"], state);
        let other = Pkce::new_random();
        let verifier = if right {
            pkce.verifier()
        } else {
            other.verifier()
        };
        let result = oauth::exchange_code(
            &http,
            &base,
            SPOTIFY_CLIENT_ID,
            &q["code"],
            verifier,
            redirect_uri,
        )
        .await;
        if right {
            let token = result.expect("the right verifier is accepted");
            assert_eq!(token.username.as_deref(), Some(acct.username.as_str()));
        } else {
            match result {
                Err(AuthError::Refused { status, error }) => {
                    assert_eq!(status, 400);
                    assert!(error.contains("invalid_grant"), "{error}");
                }
                other => panic!("a wrong verifier must be refused: {other:?}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_refuses_a_redirect_with_another_state() {
    let sim = common::sim().await;
    let acct = common::account(&sim, "premium").clone();
    let (tx, page) = tokio::sync::oneshot::channel();
    let opener = move |url: &str| {
        let url = url.to_string();
        tokio::spawn(async move {
            let location = consent_over_http(&url, &acct.username, &acct.password).await;
            let mut forged = reqwest::Url::parse(&location).unwrap();
            let pairs: Vec<(String, String)> = forged
                .query_pairs()
                .into_owned()
                .map(|(k, v)| {
                    if k == "state" {
                        (k, "forged".into())
                    } else {
                        (k, v)
                    }
                })
                .collect();
            forged.query_pairs_mut().clear().extend_pairs(pairs);
            let resp = reqwest::get(forged).await.unwrap();
            let _ = tx.send((resp.status().as_u16(), resp.text().await.unwrap()));
        });
    };
    // The forged redirect is refused and the wait goes on (issue 12) until the time runs out.
    let options = oauth::BrowserOptions {
        redirect_timeout: Duration::from_secs(5),
    };
    let result = common::within(
        30,
        oauth::browser_pkce_with(
            &options,
            &sim.info().accounts_url,
            SPOTIFY_CLIENT_ID,
            oauth::DEFAULT_SCOPES,
            opener,
        ),
    )
    .await;
    assert!(
        matches!(result, Err(AuthError::StateMismatch { refused: 1, .. })),
        "{result:?}"
    );
    let (status, text) = page.await.unwrap();
    assert_eq!(status, 400);
    assert!(text.contains("wrong"), "{text}");
}

/// The library flow with reqwest as the browser, then an AP session from the token and the
/// reusable credentials stored in a file store (the `chromium`-free path of the same thing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_flow_over_http_gives_a_working_session() {
    let sim = common::sim().await;
    let acct = common::account(&sim, "premium").clone();
    let user = acct.username.clone();
    let opener = move |url: &str| {
        let url = url.to_string();
        tokio::spawn(async move {
            let location = consent_over_http(&url, &acct.username, &acct.password).await;
            let page = reqwest::get(location).await.unwrap().text().await.unwrap();
            assert!(page.contains("Signed in to tonearm"), "{page}");
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
    .expect("signed in");
    assert_eq!(token.username.as_deref(), Some(user.as_str()));
    assert!(token.scopes.iter().any(|s| s == "streaming"), "{token:?}");

    let session = common::try_sign_in(
        &sim,
        Credentials::with_access_token(token.access_token.clone()),
    )
    .await
    .expect("AP login with the OAuth token");
    assert_eq!(session.username(), user);
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::select(
        Preference::File,
        KeyringStore::system(),
        FileStore::new(dir.path().join("credentials.json")),
    )
    .unwrap();
    store.save(&session.reusable_credentials()).unwrap();
    session.shutdown().await;
    let stored = store.load().unwrap().expect("stored");
    let again = common::try_sign_in(&sim, stored)
        .await
        .expect("stored credentials log in");
    assert_eq!(again.username(), user);
    again.shutdown().await;
}

async fn pair(sim: &Simulator, user_code: &str, username: &str, password: &str, action: &str) {
    let resp = reqwest::Client::new()
        .post(format!("{}/pair", sim.info().accounts_url))
        .form(&[
            ("code", user_code),
            ("username", username),
            ("password", password),
            ("action", action),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success() || resp.status().is_redirection(),
        "{}",
        resp.status()
    );
}

fn quick_device_sim() -> SimConfig {
    SimConfig {
        device_code_interval: Duration::from_millis(200),
        ..SimConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_flow_approved_at_pair() {
    let sim = common::sim_with(quick_device_sim()).await;
    let acct = common::account(&sim, "premium").clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let options = DeviceOptions::default();
    let flow = oauth::device_code_with(
        &options,
        &sim.info().accounts_url,
        SPOTIFY_CLIENT_ID,
        oauth::DEFAULT_SCOPES,
        |code| {
            assert!(code.verification_uri.ends_with("/pair"));
            let _ = tx.send(code.user_code.clone());
        },
    );
    let user = async {
        let code = rx.await.unwrap();
        // Let the client poll (and wait) at least once before approving.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        pair(&sim, &code, &acct.username, &acct.password, "approve").await;
    };
    let (token, ()) = common::within(30, async { tokio::join!(flow, user) }).await;
    let token = token.expect("approved");
    assert_eq!(token.username.as_deref(), Some(acct.username.as_str()));
    let session = common::try_sign_in(&sim, Credentials::with_access_token(token.access_token))
        .await
        .expect("AP login");
    assert_eq!(session.username(), acct.username);
    session.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_flow_denied_at_pair() {
    let sim = common::sim_with(quick_device_sim()).await;
    let acct = common::account(&sim, "premium").clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let options = DeviceOptions::default();
    let flow = oauth::device_code_with(
        &options,
        &sim.info().accounts_url,
        SPOTIFY_CLIENT_ID,
        oauth::DEFAULT_SCOPES,
        |code| {
            let _ = tx.send(code.user_code.clone());
        },
    );
    let user = async {
        let code = rx.await.unwrap();
        pair(&sim, &code, &acct.username, &acct.password, "deny").await;
    };
    let (result, ()) = common::within(30, async { tokio::join!(flow, user) }).await;
    assert!(matches!(result, Err(AuthError::Denied)), "{result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_expiry_ends_the_wait() {
    let sim = common::sim_with(SimConfig {
        device_code_interval: Duration::from_millis(200),
        device_code_ttl: Duration::from_secs(3),
        ..SimConfig::default()
    })
    .await;
    let started = Instant::now();
    let result = common::within(
        30,
        oauth::device_code_with(
            &DeviceOptions::default(),
            &sim.info().accounts_url,
            SPOTIFY_CLIENT_ID,
            &["streaming"],
            |_| {},
        ),
    )
    .await;
    assert!(matches!(result, Err(AuthError::Expired)), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// `tonearm login --device` with no Secret Service on the bus: the test approves the printed
/// code at `/pair`, the credentials go to the 0600 file and the output says so; a 0644 file is
/// refused; `logout` removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_login_through_the_binary_falls_back_to_the_file() {
    let sim = common::sim_with(quick_device_sim()).await;
    let acct = common::account(&sim, "premium").clone();
    let home = Home::new(env!("CARGO_BIN_EXE_tonearm"));
    let mut cmd = tonearm(&sim, &home);
    cmd.args(["login", "--device"]);
    let mut login = Running::spawn(cmd);
    login.line(|l| l.contains("/pair") && l.contains("enter the code"));
    let code = login.line(|l| {
        let t = l.trim();
        !t.is_empty() && t.len() <= 16 && t.contains('-') && l.starts_with("    ")
    });
    pair(&sim, code.trim(), &acct.username, &acct.password, "approve").await;
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || login.finish())
        .await
        .unwrap();
    assert!(ok, "login failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("(mode 0600; no keyring service found)"),
        "{stdout}"
    );
    let file = home.path().join("state/tonearm/credentials.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode(&file), 0o600);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = tonearm(&sim, &home).arg("status").output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("readable by other users") && err.contains("chmod 600"),
            "{err}"
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let out = tonearm(&sim, &home).arg("status").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tonearm(&sim, &home).arg("logout").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains("Removed the file"), "{stdout}");
    assert!(!file.exists());
}
