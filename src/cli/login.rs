//! `tonearm login` and `tonearm logout`: sign in (browser with PKCE, a device code, an access
//! token or a legacy password on stdin; the demo account with `--demo`), then keep the reusable
//! credentials in the credential store; and remove them again. Called by `main.rs`.

use std::io::BufRead;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::args::LoginArgs;
use super::output::{self, say};
use super::{credential_store, session_config};
use crate::auth::oauth::{self, DeviceCode};
use crate::config::Config;
use crate::session::{Credentials, Session};

/// `tonearm login`.
pub async fn run(demo: bool, cfg: Config, args: LoginArgs) -> Result<()> {
    let (cfg, demo) = if demo {
        let d = crate::demo::start(cfg).await?;
        (d.config.clone(), Some(d))
    } else {
        (cfg, None)
    };
    let result = sign_in(&cfg, demo.as_ref(), &args).await;
    if let Some(d) = demo {
        d.shutdown().await;
    }
    result
}

async fn sign_in(cfg: &Config, demo: Option<&crate::demo::Demo>, args: &LoginArgs) -> Result<()> {
    // Open the store first: a store that cannot be used should stop us before the user signs in.
    let store = match demo {
        Some(_) => None, // --demo touches no files and no keyring
        None => Some(credential_store()?),
    };
    let creds = if args.token_stdin {
        Credentials::with_access_token(read_stdin_line("access token")?)
    } else if let (Some(user), true) = (&args.username, args.password_stdin) {
        Credentials::with_password(user, read_stdin_line("password")?)
    } else if let Some(d) = demo {
        Credentials::with_password(&d.account.username, &d.account.password)
    } else if args.device {
        Credentials::with_access_token(device_sign_in(cfg).await?.access_token)
    } else {
        Credentials::with_access_token(browser_sign_in(cfg, !args.no_open).await?.access_token)
    };
    let started = Instant::now();
    let session = Session::connect(session_config(cfg), creds).await?;
    let result = report(&session, started, store.as_ref());
    session.shutdown().await;
    result
}

/// Says who signed in, and stores the reusable credentials (not with `--demo`).
fn report(
    session: &Session,
    started: Instant,
    store: Option<&crate::auth::store::CredentialStore>,
) -> Result<()> {
    say!("{}", output::signed_in_line(session, started.elapsed()))?;
    match store {
        None => say!("Demo mode: credentials were not stored."),
        Some(store) => {
            store.save(&session.reusable_credentials())?;
            say!("Stored reusable credentials in {}.", store.describe())
        }
    }
}

/// `tonearm logout`.
pub fn logout(demo: bool) -> Result<()> {
    if demo {
        return say!("Demo mode: nothing is stored, nothing to remove.");
    }
    let mut report = credential_store()?.purge()?;
    // Credentials a phone handed to `tonearm daemon --store-credentials` (their own entry).
    match crate::auth::store::CredentialStore::open_zeroconf().and_then(|z| z.purge()) {
        Ok(z) => {
            report.removed.extend(z.removed);
            // The same keyring, unreachable for the same reason: said once.
            for u in z.unreachable {
                if !report.unreachable.contains(&u) {
                    report.unreachable.push(u);
                }
            }
        }
        Err(e) => report
            .unreachable
            .push(format!("the store of zeroconf credentials ({e})")),
    }
    if report.removed.is_empty() {
        say!("No stored credentials.")?;
    }
    for what in &report.removed {
        say!("Removed {what}.")?;
    }
    for what in &report.unreachable {
        say!("Not checked: {what}.")?;
    }
    Ok(())
}

fn read_stdin_line(what: &str) -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("cannot read the {what} from standard input"))?;
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    if line.is_empty() {
        bail!("no {what} on standard input");
    }
    Ok(line)
}

/// The browser flow: prints the address, starts the browser unless `--no-open`.
async fn browser_sign_in(cfg: &Config, open: bool) -> Result<oauth::OAuthToken> {
    // The sign-in goes on even when nobody reads standard output: the browser may still be
    // used, so write errors are ignored here.
    let opener = |url: &str| {
        let _ = say!(
            "Sign in to Spotify in your browser. If no browser opens, visit this address:\n\n  \
             {url}\n"
        );
        if open && !oauth::open_in_browser(url) {
            let _ = say!("(No browser could be started; open the address above by hand.)");
        }
        let _ = say!("Waiting for the browser… (Ctrl-C to cancel)");
    };
    Ok(oauth::browser_pkce(
        &cfg.endpoints.accounts,
        crate::config::SPOTIFY_CLIENT_ID,
        oauth::DEFAULT_SCOPES,
        opener,
    )
    .await?)
}

/// The device flow: prints the code and where to enter it, then waits for approval.
async fn device_sign_in(cfg: &Config) -> Result<oauth::OAuthToken> {
    let on_code = |code: &DeviceCode| {
        let _ = say!(
            "To sign in, open {} on your phone or computer and enter the code\n\n    {}\n",
            code.verification_uri,
            code.user_code
        );
        if let Some(complete) = &code.verification_uri_complete {
            let _ = say!("(or open {complete})");
        }
        let _ = say!(
            "Waiting for approval… (the code is valid for {} min; Ctrl-C to cancel)",
            code.expires_in.as_secs().div_ceil(60)
        );
    };
    Ok(oauth::device_code(
        &cfg.endpoints.accounts,
        crate::config::SPOTIFY_CLIENT_ID,
        oauth::DEFAULT_SCOPES,
        on_code,
    )
    .await?)
}
