//! What the API layer's tests share (the tests themselves sit beside each file): an axum
//! server on 127.0.0.1:0, a fake token service (client-token + login5) that counts its
//! requests, and canned protobuf answers. Test-only; written from the protocol spec,
//! independent of the simulator crate.

mod bounds;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use librespot_protocol::clienttoken_http::{ClientTokenResponse, ClientTokenResponseType};
use librespot_protocol::login5::LoginResponse;
use protobuf::Message;

use super::tokens::{FixedAccount, TokenTiming};
use crate::config::Endpoints;

/// Serves `router` on an ephemeral local port; returns `http://127.0.0.1:PORT`.
pub(crate) async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

/// A local address nothing listens on (bound, then closed).
pub(crate) async fn closed_base() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

pub(crate) fn endpoints(base: &str) -> Endpoints {
    Endpoints {
        login5: format!("{base}/v3/login"),
        client_token: format!("{base}/v1/clienttoken"),
        spclient: Some(base.to_string()),
        ..Endpoints::default()
    }
}

pub(crate) const STORED: &[u8] = b"stored-credential-bytes";

pub(crate) fn account() -> FixedAccount {
    FixedAccount {
        username: "alice".into(),
        stored_credential: STORED.to_vec(),
        device_id: "d".repeat(40),
        country: Some("SE".into()),
    }
}

pub(crate) fn fast_timing() -> TokenTiming {
    TokenTiming {
        request_timeout: Duration::from_secs(5),
        login5_retry_delay: Duration::from_millis(50),
    }
}

pub(crate) fn granted(token: &str, refresh_after: i32) -> Vec<u8> {
    let mut r = ClientTokenResponse::new();
    r.response_type = ClientTokenResponseType::RESPONSE_GRANTED_TOKEN_RESPONSE.into();
    let g = r.mut_granted_token();
    g.token = token.into();
    g.refresh_after_seconds = refresh_after;
    g.expires_after_seconds = refresh_after * 2;
    r.write_to_bytes().expect("encode")
}

pub(crate) fn login_ok(token: &str, expires_in: i32) -> Vec<u8> {
    let mut r = LoginResponse::new();
    let ok = r.mut_ok();
    ok.username = "alice".into();
    ok.access_token = token.into();
    ok.access_token_expires_in = expires_in;
    ok.stored_credential = b"new-stored".to_vec();
    r.write_to_bytes().expect("encode")
}

/// Requests seen by [`token_routes`].
#[derive(Default)]
pub(crate) struct TokenCounters {
    pub client_tokens: AtomicUsize,
    pub logins: AtomicUsize,
}

impl TokenCounters {
    pub(crate) fn client_tokens(&self) -> usize {
        self.client_tokens.load(Ordering::SeqCst)
    }
    pub(crate) fn logins(&self) -> usize {
        self.logins.load(Ordering::SeqCst)
    }
}

/// `POST /v1/clienttoken` grants `ct-1`; `POST /v3/login` answers `at-<n>` for the n-th login
/// (valid for an hour).
pub(crate) fn token_routes(counters: Arc<TokenCounters>) -> Router {
    let c1 = counters.clone();
    let c2 = counters;
    Router::new()
        .route(
            "/v1/clienttoken",
            post(move |_body: Bytes| {
                let c = c1.clone();
                async move {
                    c.client_tokens.fetch_add(1, Ordering::SeqCst);
                    (StatusCode::OK, granted("ct-1", 7200))
                }
            }),
        )
        .route(
            "/v3/login",
            post(move |_body: Bytes| {
                let c = c2.clone();
                async move {
                    let n = c.logins.fetch_add(1, Ordering::SeqCst) + 1;
                    (StatusCode::OK, login_ok(&format!("at-{n}"), 3600))
                }
            }),
        )
}
