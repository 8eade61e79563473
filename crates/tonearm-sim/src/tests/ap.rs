//! Tests of the simulator over real sockets on 127.0.0.1, with a minimal test client written
//! here (it reuses the simulator's own framing and key derivation, which have their own
//! known-answer and round-trip tests). The real client is tested against the simulator
//! elsewhere.

use std::time::{Duration, Instant};

use librespot_protocol::authentication::{
    APWelcome, AuthenticationType, ClientResponseEncrypted, CpuFamily, Os,
};
use librespot_protocol::keyexchange::{
    APLoginFailed, APResponseMessage, BuildInfo, ClientHello, ClientResponsePlaintext, Cryptosuite,
    ErrorCode, Platform, Product, ProductFlags,
};
use librespot_protocol::mercury::Header;
use protobuf::Message;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use sha1::Sha1;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use crate::ap::cmd;
use crate::codec::{CodecError, Decoder, Encoder};
use crate::dh::DhKeys;
use crate::handshake::{self, derive_keys};
use crate::mercury::{self, Assembler};
use crate::*;

const WAIT: Duration = Duration::from_secs(5);

fn cfg() -> SimConfig {
    SimConfig {
        first_ping_after: Duration::from_secs(30),
        ..SimConfig::default()
    }
}

async fn start(cfg: SimConfig) -> Simulator {
    Simulator::start(cfg).await.unwrap()
}

/// How the test client's handshake ended when it did not produce a session.
#[derive(Debug, PartialEq)]
pub(crate) enum HsFail {
    /// No answer to the hello within the time given.
    NoAnswer,
    BadSignature,
    /// Plaintext APResponseMessage{login_failed}.
    LoginFailed(ErrorCode),
    BadLength(u32),
    Closed,
}

/// The simulator tests' AP client after the handshake (also the fault tests' `Ap`, which adds
/// its own helpers in `faults/tests/client.rs`).
pub(crate) struct Client {
    read: OwnedReadHalf,
    write: OwnedWriteHalf,
    enc: Encoder,
    dec: Decoder,
}

fn verifying_key(info: &ApKeyInfo) -> VerifyingKey<Sha1> {
    let n = rsa::BigUint::from_bytes_be(&hex::decode(&info.modulus).unwrap());
    let e = rsa::BigUint::from(info.exponent);
    VerifyingKey::new(rsa::RsaPublicKey::new(n, e).unwrap())
}

/// A ClientHello packet offering `gc`.
pub(crate) fn hello_packet(gc: &[u8]) -> Vec<u8> {
    let mut hello = ClientHello::new();
    let mut build = BuildInfo::new();
    build.set_product(Product::PRODUCT_CLIENT);
    build
        .product_flags
        .push(ProductFlags::PRODUCT_FLAG_NONE.into());
    build.set_platform(Platform::PLATFORM_LINUX_X86_64);
    build.set_version(124200290);
    hello.build_info = Some(build).into();
    hello
        .cryptosuites_supported
        .push(Cryptosuite::CRYPTO_SUITE_SHANNON.into());
    let dh = hello
        .login_crypto_hello
        .mut_or_insert_default()
        .diffie_hellman
        .mut_or_insert_default();
    dh.set_gc(gc.to_vec());
    dh.set_server_keys_known(1);
    hello.set_client_nonce(vec![7; 16]);
    hello.set_padding(vec![0x1e]);
    let body = hello.write_to_bytes().unwrap();
    let mut packet = vec![0, 4];
    packet.extend_from_slice(&((6 + body.len()) as u32).to_be_bytes());
    packet.extend_from_slice(&body);
    packet
}

async fn read_plain(stream: &mut TcpStream) -> Result<(Vec<u8>, Vec<u8>), HsFail> {
    let mut len = [0u8; 4];
    stream
        .read_exact(&mut len)
        .await
        .map_err(|_| HsFail::Closed)?;
    let total = u32::from_be_bytes(len);
    if !(5..=65536).contains(&total) {
        return Err(HsFail::BadLength(total));
    }
    let mut body = vec![0u8; total as usize - 4];
    stream
        .read_exact(&mut body)
        .await
        .map_err(|_| HsFail::Closed)?;
    let mut raw = len.to_vec();
    raw.extend_from_slice(&body);
    Ok((raw, body))
}

/// The handshake; `tamper_hmac` sends a wrong HMAC.
async fn handshake_with(
    addr: &str,
    key: &ApKeyInfo,
    tamper_hmac: bool,
    gc_private: Option<&[u8]>,
    peek_failure: bool,
) -> Result<Client, HsFail> {
    let how = Handshake {
        key: Some(key),
        tamper_hmac,
        gc_private,
        peek_failure,
        first_answer: None,
    };
    how.run(addr).await
}

/// How the shared test client runs its handshake.
#[derive(Default)]
pub(crate) struct Handshake<'a> {
    /// The key the server's signature is checked with (`None`: not checked — the fault tests
    /// leave that to these tests).
    pub key: Option<&'a ApKeyInfo>,
    /// Sends a wrong HMAC.
    pub tamper_hmac: bool,
    /// A fixed DH private key instead of a random one.
    pub gc_private: Option<&'a [u8]>,
    /// Waits for a plaintext login_failed after the reply.
    pub peek_failure: bool,
    /// How long the answer to the hello may take ([`HsFail::NoAnswer`] after; `None`: no limit).
    pub first_answer: Option<Duration>,
}

impl Handshake<'_> {
    /// Connects to `addr` and runs the handshake.
    pub(crate) async fn run(&self, addr: &str) -> Result<Client, HsFail> {
        let (tamper_hmac, peek_failure) = (self.tamper_hmac, self.peek_failure);
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let dh = self
            .gc_private
            .map(DhKeys::from_private)
            .unwrap_or_else(DhKeys::random);
        let hello = hello_packet(dh.public_key());
        stream.write_all(&hello).await.unwrap();
        let (raw, body) = match self.first_answer {
            None => read_plain(&mut stream).await?,
            Some(wait) => tokio::time::timeout(wait, read_plain(&mut stream))
                .await
                .map_err(|_| HsFail::NoAnswer)??,
        };
        let response = APResponseMessage::parse_from_bytes(&body).unwrap();
        let challenge = response.challenge.as_ref().unwrap();
        assert_eq!(challenge.server_nonce().len(), 16);
        let dh_challenge = challenge
            .login_crypto_challenge
            .diffie_hellman
            .as_ref()
            .unwrap();
        if let Some(key) = self.key {
            let signature = Signature::try_from(dh_challenge.gs_signature()).unwrap();
            if verifying_key(key)
                .verify(dh_challenge.gs(), &signature)
                .is_err()
            {
                return Err(HsFail::BadSignature);
            }
        }
        finish_handshake(
            stream,
            &dh,
            dh_challenge.gs(),
            hello,
            &raw,
            tamper_hmac,
            peek_failure,
        )
        .await
    }
}

/// The client's half after the server's answer: keys, the HMAC reply, an optional wait for a
/// plaintext login_failed.
async fn finish_handshake(
    mut stream: TcpStream,
    dh: &DhKeys,
    gs: &[u8],
    hello: Vec<u8>,
    raw: &[u8],
    tamper_hmac: bool,
    peek_failure: bool,
) -> Result<Client, HsFail> {
    let shared = dh.shared_secret(gs).unwrap();
    let mut acc = hello;
    acc.extend_from_slice(raw);
    let (mut challenge_hmac, keys) = derive_keys(&shared, &acc);
    if tamper_hmac {
        challenge_hmac[0] ^= 1;
    }
    let mut reply = ClientResponsePlaintext::new();
    reply
        .login_crypto_response
        .mut_or_insert_default()
        .diffie_hellman
        .mut_or_insert_default()
        .set_hmac(challenge_hmac.to_vec());
    reply.pow_response.mut_or_insert_default();
    reply.crypto_response.mut_or_insert_default();
    let body = reply.write_to_bytes().unwrap();
    let mut packet = ((4 + body.len()) as u32).to_be_bytes().to_vec();
    packet.extend_from_slice(&body);
    stream.write_all(&packet).await.unwrap();
    // A plaintext login_failed may follow; wait for it when one is expected.
    let mut first = [0u8; 4];
    let wait = if peek_failure { WAIT } else { Duration::ZERO };
    match tokio::time::timeout(wait, stream.peek(&mut first)).await {
        Ok(Ok(4)) if u32::from_be_bytes(first) < 64 => {
            let (_, body) = read_plain(&mut stream).await?;
            let msg = APResponseMessage::parse_from_bytes(&body).unwrap();
            return Err(HsFail::LoginFailed(msg.login_failed.error_code()));
        }
        Ok(Ok(0)) => return Err(HsFail::Closed),
        _ => {}
    }
    let (read, write) = stream.into_split();
    Ok(Client {
        read,
        write,
        enc: Encoder::new(&keys.send_key),
        dec: Decoder::new(&keys.recv_key),
    })
}

async fn handshake(addr: &str, key: &ApKeyInfo) -> Client {
    handshake_with(addr, key, false, None, false).await.unwrap()
}

impl Client {
    /// Connects and runs the handshake without checking the signature; `None` when the AP
    /// does not answer within `wait` (or closes).
    pub(crate) async fn try_connect(addr: &str, wait: Duration) -> Option<Client> {
        let how = Handshake {
            first_answer: Some(wait),
            ..Handshake::default()
        };
        how.run(addr).await.ok()
    }

    pub(crate) async fn send(&mut self, kind: u8, payload: &[u8]) {
        let bytes = self.enc.encode(kind, payload).unwrap();
        self.write.write_all(&bytes).await.unwrap();
    }

    async fn recv(&mut self) -> Result<(u8, Vec<u8>), CodecError> {
        match tokio::time::timeout(WAIT, self.dec.read_packet(&mut self.read)).await {
            Ok(r) => r,
            Err(_) => panic!("no packet within {WAIT:?}"),
        }
    }

    /// The next packet within `wait`: `None` on timeout.
    pub(crate) async fn recv_within(
        &mut self,
        wait: Duration,
    ) -> Option<Result<(u8, Vec<u8>), CodecError>> {
        tokio::time::timeout(wait, self.dec.read_packet(&mut self.read))
            .await
            .ok()
    }

    /// Sends a login (the answer is left to the caller).
    pub(crate) async fn send_login(
        &mut self,
        username: Option<&str>,
        typ: AuthenticationType,
        data: &[u8],
    ) {
        let mut login = ClientResponseEncrypted::new();
        let creds = login.login_credentials.mut_or_insert_default();
        if let Some(u) = username {
            creds.set_username(u.to_owned());
        }
        creds.set_typ(typ);
        creds.set_auth_data(data.to_vec());
        let system = login.system_info.mut_or_insert_default();
        system.set_cpu_family(CpuFamily::CPU_X86_64);
        system.set_os(Os::OS_LINUX);
        system.set_device_id("0123456789abcdef0123456789abcdef01234567".to_owned());
        login.set_version_string("tonearm-test".to_owned());
        self.send(cmd::LOGIN, &login.write_to_bytes().unwrap())
            .await;
    }

    /// Logs in and reads APWelcome, CountryCode, ProductInfo.
    async fn login_ok(
        &mut self,
        username: Option<&str>,
        typ: AuthenticationType,
        data: &[u8],
    ) -> (APWelcome, String, String) {
        self.send_login(username, typ, data).await;
        let (kind, payload) = self.recv().await.unwrap();
        assert_eq!(kind, cmd::AP_WELCOME, "login refused: {payload:?}");
        let welcome = APWelcome::parse_from_bytes(&payload).unwrap();
        let (kind, country) = self.recv().await.unwrap();
        assert_eq!(kind, cmd::COUNTRY_CODE);
        let (kind, product) = self.recv().await.unwrap();
        assert_eq!(kind, cmd::PRODUCT_INFO);
        (
            welcome,
            String::from_utf8(country).unwrap(),
            String::from_utf8(product).unwrap(),
        )
    }

    async fn login_failed(
        &mut self,
        username: Option<&str>,
        typ: AuthenticationType,
        data: &[u8],
    ) -> ErrorCode {
        self.send_login(username, typ, data).await;
        let (kind, payload) = self.recv().await.unwrap();
        assert_eq!(kind, cmd::AUTH_FAILURE);
        let failed = APLoginFailed::parse_from_bytes(&payload).unwrap();
        failed.error_code()
    }

    async fn mercury(&mut self, kind: u8, seq: u64, method: &str, uri: &str) {
        let mut header = Header::new();
        header.set_uri(uri.to_owned());
        header.set_method(method.to_owned());
        let parts = vec![header.write_to_bytes().unwrap()];
        for p in mercury::split_message(&seq.to_be_bytes(), &parts, 16384).unwrap() {
            self.send(kind, &p).await;
        }
    }

    /// Reads packets of `kind` until one Mercury message completes.
    async fn mercury_reply(&mut self, kind: u8) -> (Vec<u8>, Header, Vec<Vec<u8>>, usize) {
        let mut asm = Assembler::default();
        let mut packets = 0;
        loop {
            let (k, payload) = self.recv().await.unwrap();
            assert_eq!(k, kind);
            packets += 1;
            if let Some((seq, parts)) = asm.push(mercury::parse_packet(&payload).unwrap()).unwrap()
            {
                let header = Header::parse_from_bytes(&parts[0]).unwrap();
                return (seq, header, parts[1..].to_vec(), packets);
            }
        }
    }

    async fn expect_closed(&mut self) {
        match self.recv_within(WAIT).await {
            Some(Err(_)) => {}
            other => panic!("expected the connection to close, got {other:?}"),
        }
    }
}

const USER_PASS: AuthenticationType = AuthenticationType::AUTHENTICATION_USER_PASS;
const STORED: AuthenticationType = AuthenticationType::AUTHENTICATION_STORED_SPOTIFY_CREDENTIALS;
const TOKEN: AuthenticationType = AuthenticationType::AUTHENTICATION_SPOTIFY_TOKEN;

async fn eventually(mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "condition not reached in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn key_derivation_known_answer() {
    // Computed independently with Python's hmac/hashlib.
    let shared: Vec<u8> = (1..=96).collect();
    let (challenge, keys) = derive_keys(&shared, b"\x00\x04hello-and-response");
    assert_eq!(
        hex::encode(challenge),
        "62815017f9e58188d5646a62b36fba98c54209b3"
    );
    assert_eq!(
        hex::encode(keys.send_key),
        "162ca0e24b6d883e74b41260be4f23cb3d581af85abe069ff40888f25b3b228c"
    );
    assert_eq!(
        hex::encode(keys.recv_key),
        "22123fb8ccd10aecd1725c15b98a865aeff1640de00cca8215c8173e14e13307"
    );
}

#[test]
fn ap_key_matches_the_committed_pem() {
    // `openssl rsa -in crates/tonearm-sim/assets/ap_key.pem -noout -modulus`, lower-cased, SHA-1 (no newline).
    use sha1::Digest;
    let key = handshake::ApKey::load().unwrap();
    assert!(key
        .info
        .modulus
        .starts_with("e93398460eb20c7b2f3c9fb083982411590840002b7512c3227a"));
    assert_eq!(
        hex::encode(Sha1::digest(key.info.modulus.as_bytes())),
        "8a36122a9bb6b8c6eac4c1b3a640665b3340f506"
    );
}

#[tokio::test]
async fn info_describes_the_listeners_and_key() {
    let sim = start(cfg()).await;
    let info = sim.info().clone();
    assert!(info.apresolve.starts_with("http://127.0.0.1:") && info.apresolve.ends_with('/'));
    assert_eq!(info.access_points.len(), 2);
    assert!(info
        .access_points
        .iter()
        .all(|a| a.starts_with("127.0.0.1:")));
    assert_ne!(info.access_points[0], info.access_points[1]);
    assert!(info.spclient.starts_with("http://127.0.0.1:"));
    assert!(info.dealer.starts_with("ws://127.0.0.1:"));
    assert_eq!(info.ap_key.modulus.len(), 512);
    assert_eq!(info.ap_key.modulus, info.ap_key.modulus.to_lowercase());
    assert_eq!(info.ap_key.exponent, 65537);
    let names: Vec<&str> = info.accounts.iter().map(|a| a.username.as_str()).collect();
    assert_eq!(names, ["tonearm-demo", "alice", "frank-free", "keyless"]);
    let json = serde_json::to_value(&info).unwrap();
    assert_eq!(json["accounts"][2]["product"], "free");
    sim.shutdown().await;
}

#[tokio::test]
async fn apresolve_answers_requested_types_only() {
    let sim = start(cfg()).await;
    let base = sim.info().apresolve.clone();
    let http = reqwest::Client::new();
    let resp = http
        .get(format!("{base}?type=accesspoint&type=dealer&type=spclient"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        json["accesspoint"],
        serde_json::json!(sim.info().access_points)
    );
    let host = sim.info().spclient.trim_start_matches("http://").to_owned();
    assert_eq!(json["spclient"], serde_json::json!([host.clone()]));
    assert_eq!(json["dealer"], serde_json::json!([host]));

    let json: serde_json::Value = http
        .get(format!("{base}?type=accesspoint"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json.as_object().unwrap().len(), 1);
    assert!(json["accesspoint"].is_array());

    for bad in [
        "",
        "?type=bogus",
        "?type=accesspoint&type=nope",
        "?other=1",
        "?type=%zz",
    ] {
        let resp = http.get(format!("{base}{bad}")).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
        let json: serde_json::Value = resp.json().await.unwrap();
        assert!(json["error"].is_string(), "{bad}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn password_login_then_stored_credentials() {
    let sim = start(cfg()).await;
    let info = sim.info().clone();
    let mut c = handshake(&info.access_points[0], &info.ap_key).await;
    let (welcome, country, product) = c.login_ok(Some("alice"), USER_PASS, b"alice-pass").await;
    assert_eq!(welcome.canonical_username(), "alice");
    assert_eq!(welcome.reusable_auth_credentials_type(), STORED);
    let stored = welcome.reusable_auth_credentials().to_vec();
    assert!(!stored.is_empty());
    assert_eq!(country, "GB");
    assert!(product.contains("<type>premium</type>") && product.contains("<autoplay>1</autoplay>"));
    eventually(|| sim.stats().active_sessions == 1).await;

    // Reuse the stored credentials on the other AP while the first session is open.
    let mut c2 = handshake(&info.access_points[1], &info.ap_key).await;
    let (welcome2, _, _) = c2.login_ok(Some("alice"), STORED, &stored).await;
    assert_eq!(welcome2.canonical_username(), "alice");
    assert_ne!(
        welcome2.reusable_auth_credentials(),
        stored.as_slice(),
        "fresh credentials"
    );
    // Stored credentials are bound to their user.
    let mut c3 = handshake(&info.access_points[0], &info.ap_key).await;
    assert_eq!(
        c3.login_failed(Some("tonearm-demo"), STORED, &stored).await,
        ErrorCode::BadCredentials
    );
    c3.expect_closed().await;
    let mut c4 = handshake(&info.access_points[0], &info.ap_key).await;
    assert_eq!(
        c4.login_failed(None, STORED, &stored).await,
        ErrorCode::BadCredentials
    );

    let stats = sim.stats();
    assert_eq!(stats.logins_ok, 2);
    assert_eq!(stats.logins_failed, 2);
    assert_eq!(stats.connections_accepted, 4);
    assert_eq!(stats.handshakes_failed, 0);
    drop(c);
    eventually(|| sim.stats().active_sessions == 1).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn free_account_gets_free_product_info() {
    let sim = start(cfg()).await;
    let info = sim.info().clone();
    let mut c = handshake(&info.access_points[0], &info.ap_key).await;
    let (_, country, product) = c
        .login_ok(Some("frank-free"), USER_PASS, b"frank-pass")
        .await;
    assert_eq!(country, "US");
    assert!(product.starts_with("<products><product><type>free</type><catalogue>free</catalogue>"));
    sim.shutdown().await;
}

#[tokio::test]
async fn wrong_password_and_disabled_password_login() {
    let sim = start(cfg()).await;
    let info = sim.info().clone();
    let mut c = handshake(&info.access_points[0], &info.ap_key).await;
    assert_eq!(
        c.login_failed(Some("alice"), USER_PASS, b"nope").await,
        ErrorCode::BadCredentials
    );
    c.expect_closed().await;
    let mut c = handshake(&info.access_points[0], &info.ap_key).await;
    assert_eq!(
        c.login_failed(Some("mallory"), USER_PASS, b"x").await,
        ErrorCode::BadCredentials
    );
    let mut c = handshake(&info.access_points[0], &info.ap_key).await;
    let typ = AuthenticationType::AUTHENTICATION_FACEBOOK_TOKEN;
    assert_eq!(
        c.login_failed(Some("alice"), typ, b"alice-pass").await,
        ErrorCode::BadCredentials
    );
    sim.shutdown().await;

    let sim = start(SimConfig {
        password_login: false,
        ..cfg()
    })
    .await;
    let info = sim.info().clone();
    let mut c = handshake(&info.access_points[0], &info.ap_key).await;
    let code = c
        .login_failed(Some("alice"), USER_PASS, b"alice-pass")
        .await;
    assert_eq!(code, ErrorCode::BadCredentials);
    sim.shutdown().await;
}

#[tokio::test]
async fn token_login_then_second_connection_with_stored_credentials() {
    let sim = start(SimConfig {
        password_login: false,
        ..cfg()
    })
    .await;
    let info = sim.info().clone();
    assert_eq!(sim.issue_access_token("nobody"), None);
    let token = sim.issue_access_token("tonearm-demo").unwrap();
    let mut c = handshake(&info.access_points[0], &info.ap_key).await;
    let (welcome, country, _) = c.login_ok(None, TOKEN, token.as_bytes()).await;
    assert_eq!(welcome.canonical_username(), "tonearm-demo");
    assert_eq!(country, "SE");
    let stored = welcome.reusable_auth_credentials().to_vec();
    let mut c2 = handshake(&info.access_points[0], &info.ap_key).await;
    c2.login_ok(Some("tonearm-demo"), STORED, &stored).await;
    // The same token with a matching username works; with another username it does not.
    let mut c3 = handshake(&info.access_points[1], &info.ap_key).await;
    c3.login_ok(Some("tonearm-demo"), TOKEN, token.as_bytes())
        .await;
    let mut c4 = handshake(&info.access_points[1], &info.ap_key).await;
    assert_eq!(
        c4.login_failed(Some("alice"), TOKEN, token.as_bytes())
            .await,
        ErrorCode::BadCredentials
    );
    let mut c5 = handshake(&info.access_points[1], &info.ap_key).await;
    assert_eq!(
        c5.login_failed(None, TOKEN, b"sim-at-forged").await,
        ErrorCode::BadCredentials
    );
    let mut c6 = handshake(&info.access_points[1], &info.ap_key).await;
    assert_eq!(
        c6.login_failed(None, TOKEN, &[0xff, 0xfe]).await,
        ErrorCode::BadCredentials
    );
    eventually(|| sim.stats().active_sessions == 3).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn ping_pong_cycle() {
    let sim = start(SimConfig {
        first_ping_after: Duration::from_millis(100),
        ping_interval: Duration::from_millis(200),
        ..cfg()
    })
    .await;
    let info = sim.info().clone();
    let mut c = handshake(&info.access_points[0], &info.ap_key).await;
    c.login_ok(Some("alice"), USER_PASS, b"alice-pass").await;
    // A Pong before any Ping is still acknowledged.
    c.send(cmd::PONG, &[0; 4]).await;
    assert_eq!(c.recv().await.unwrap(), (cmd::PONG_ACK, vec![0; 4]));
    let t0 = Instant::now();
    let (kind, payload) = c.recv().await.unwrap();
    assert_eq!(kind, cmd::PING);
    assert_eq!(payload.len(), 4);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let server = u64::from(u32::from_be_bytes(payload[..4].try_into().unwrap()));
    assert!(now.abs_diff(server) <= 2);
    // No second Ping until the Pong.
    assert!(c.recv_within(Duration::from_millis(400)).await.is_none());
    c.send(cmd::PONG, &[0; 4]).await;
    assert_eq!(c.recv().await.unwrap().0, cmd::PONG_ACK);
    let t1 = Instant::now();
    assert_eq!(c.recv().await.unwrap().0, cmd::PING);
    assert!(t1.elapsed() >= Duration::from_millis(180));
    assert!(t0.elapsed() >= Duration::from_millis(500));
    assert_eq!(sim.stats().pongs_received, 2);
    // Unknown packet types are ignored and the session goes on.
    c.send(0x74, b"\x00\x00\x10\x00\x02preferred-locale").await;
    c.send(cmd::PONG, &[0; 4]).await;
    assert_eq!(c.recv().await.unwrap().0, cmd::PONG_ACK);
    sim.shutdown().await;
}

#[tokio::test]
async fn audio_keys() {
    let sim = start(cfg()).await;
    let info = sim.info().clone();
    sim.add_audio_key([1; 20], [2; 16], [3; 16]);
    let mut c = handshake(&info.access_points[0], &info.ap_key).await;
    c.login_ok(Some("alice"), USER_PASS, b"alice-pass").await;
    let request = |file: [u8; 20], gid: [u8; 16], seq: u32| {
        let mut r = file.to_vec();
        r.extend_from_slice(&gid);
        r.extend_from_slice(&seq.to_be_bytes());
        r.extend_from_slice(&[0, 0]);
        r
    };
    c.send(cmd::REQUEST_KEY, &request([1; 20], [2; 16], 7))
        .await;
    let mut expected = 7u32.to_be_bytes().to_vec();
    expected.extend_from_slice(&[3; 16]);
    assert_eq!(c.recv().await.unwrap(), (cmd::AES_KEY, expected));
    // Malformed requests are ignored; the connection stays usable.
    c.send(cmd::REQUEST_KEY, &[0; 41]).await;
    c.send(cmd::REQUEST_KEY, &[]).await;
    c.send(cmd::REQUEST_KEY, &request([1; 20], [9; 16], 8))
        .await;
    assert_eq!(
        c.recv().await.unwrap(),
        (cmd::AES_KEY_ERROR, vec![0, 0, 0, 8, 0, 1])
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn catalog_audio_keys_over_the_ap() {
    let sim = start(cfg()).await;
    let info = sim.info().clone();
    let catalog = sim.catalog();
    let mut c = handshake(&info.access_points[0], &info.ap_key).await;
    c.login_ok(Some("tonearm-demo"), USER_PASS, b"tonearm-demo-pass")
        .await;
    let mut seq = 0u32;
    let mut ask = |file: [u8; 20], gid: [u8; 16]| {
        seq += 1;
        let mut r = file.to_vec();
        r.extend_from_slice(&gid);
        r.extend_from_slice(&seq.to_be_bytes());
        r.extend_from_slice(&[0, 0]);
        (seq, r)
    };
    let demo = &catalog.tracks[catalog.demo_tracks[4]];
    let specials = catalog.specials;
    let lost = &catalog.tracks[specials.unplayable_with_alternative];
    let alt = &catalog.tracks[specials.alternative];
    let refused = &catalog.tracks[specials.key_refused];
    let episode = &catalog.episodes[0];
    let cases = [
        (
            demo.files[2].file_id,
            demo.gid,
            Some(media::audio_key(4, 2)),
        ),
        (alt.files[1].file_id, alt.gid, Some(media::audio_key(1, 1))),
        // The alternative's file, asked for with the original track's gid.
        (alt.files[1].file_id, lost.gid, Some(media::audio_key(1, 1))),
        (
            episode.files[0].file_id,
            episode.gid,
            Some(media::audio_key(0, 0)),
        ),
        (refused.files[1].file_id, refused.gid, None),
        // A file asked for with a stranger's gid.
        (demo.files[2].file_id, lost.gid, None),
    ];
    for (file, gid, key) in cases {
        let (n, request) = ask(file, gid);
        c.send(cmd::REQUEST_KEY, &request).await;
        let mut expected = n.to_be_bytes().to_vec();
        match key {
            Some(key) => {
                expected.extend_from_slice(&key);
                assert_eq!(c.recv().await.unwrap(), (cmd::AES_KEY, expected));
            }
            None => {
                expected.extend_from_slice(&[0, 1]);
                assert_eq!(c.recv().await.unwrap(), (cmd::AES_KEY_ERROR, expected));
            }
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn login5_accepts_the_aps_reusable_credentials() {
    use librespot_protocol::clienttoken_http as ct;
    use librespot_protocol::login5 as l5;
    let sim = start(cfg()).await;
    let info = sim.info().clone();
    let mut c = handshake(&info.access_points[0], &info.ap_key).await;
    let (welcome, _, _) = c.login_ok(Some("alice"), USER_PASS, b"alice-pass").await;
    let http = reqwest::Client::new();
    let mut req = ct::ClientTokenRequest::new();
    req.request_type = ct::ClientTokenRequestType::REQUEST_CLIENT_DATA_REQUEST.into();
    req.set_client_data(ct::ClientDataRequest::new());
    let r = http
        .post(&info.client_token)
        .body(req.write_to_bytes().unwrap())
        .send()
        .await
        .unwrap();
    let client_token = ct::ClientTokenResponse::parse_from_bytes(&r.bytes().await.unwrap())
        .unwrap()
        .granted_token()
        .token
        .clone();
    let mut login = l5::LoginRequest::new();
    let mut stored = librespot_protocol::credentials::StoredCredential::new();
    stored.username = welcome.canonical_username().to_owned();
    stored.data = welcome.reusable_auth_credentials().to_vec();
    login.set_stored_credential(stored);
    let r = http
        .post(&info.login5)
        .header("client-token", client_token)
        .body(login.write_to_bytes().unwrap())
        .send()
        .await
        .unwrap();
    let r = l5::LoginResponse::parse_from_bytes(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(r.ok().username, "alice");
    assert_eq!(sim.stats().login5_logins, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn mercury_get_send_subscribe_and_events() {
    let sim = start(SimConfig {
        mercury_chunk: 1000,
        ..cfg()
    })
    .await;
    let info = sim.info().clone();
    let body: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
    sim.put_mercury("hm://test/big", "application/octet-stream", body.clone());
    let mut c = handshake(&info.access_points[0], &info.ap_key).await;
    c.login_ok(Some("alice"), USER_PASS, b"alice-pass").await;

    c.mercury(cmd::MERCURY_REQ, 0, "GET", "hm://test/big").await;
    let (seq, header, payload, packets) = c.mercury_reply(cmd::MERCURY_REQ).await;
    assert_eq!(seq, 0u64.to_be_bytes());
    assert_eq!(header.status_code(), 200);
    assert_eq!(header.content_type(), "application/octet-stream");
    assert_eq!(payload, vec![body.clone()]);
    assert!(packets >= 5, "{packets} packets");

    c.mercury(cmd::MERCURY_REQ, 1, "GET", "hm://test/big?country=GB")
        .await;
    let (seq, header, payload, _) = c.mercury_reply(cmd::MERCURY_REQ).await;
    assert_eq!(
        (seq, header.status_code(), payload.len()),
        (1u64.to_be_bytes().to_vec(), 200, 1)
    );

    c.mercury(cmd::MERCURY_REQ, 2, "GET", "hm://test/missing")
        .await;
    let (seq, header, payload, _) = c.mercury_reply(cmd::MERCURY_REQ).await;
    assert_eq!(
        (seq, header.status_code(), payload.len()),
        (2u64.to_be_bytes().to_vec(), 404, 0)
    );
    assert_eq!(header.uri(), "hm://test/missing");

    c.mercury(cmd::MERCURY_REQ, 3, "SEND", "hm://test/big")
        .await;
    assert_eq!(c.mercury_reply(cmd::MERCURY_REQ).await.1.status_code(), 200);
    c.mercury(cmd::MERCURY_REQ, 4, "SEND", "hm://test/other")
        .await;
    assert_eq!(c.mercury_reply(cmd::MERCURY_REQ).await.1.status_code(), 404);

    assert_eq!(
        sim.publish_mercury("alice", "hm://events/x", vec![b"a".to_vec()]),
        0
    );
    c.mercury(cmd::MERCURY_SUB, 5, "SUB", "hm://events/").await;
    let (seq, header, _, _) = c.mercury_reply(cmd::MERCURY_SUB).await;
    assert_eq!(
        (seq, header.status_code()),
        (5u64.to_be_bytes().to_vec(), 200)
    );
    let big_event = vec![0x5a; 2500];
    let reached = sim.publish_mercury(
        "alice",
        "hm://events/x",
        vec![b"a".to_vec(), big_event.clone()],
    );
    assert_eq!(reached, 1);
    let (seq, header, payload, packets) = c.mercury_reply(cmd::MERCURY_EVENT).await;
    assert_eq!(seq.len(), 8);
    assert!(seq[0] & 0x80 != 0);
    assert_eq!(header.uri(), "hm://events/x");
    assert_eq!(header.status_code(), 200);
    assert_eq!(payload, vec![b"a".to_vec(), big_event]);
    assert!(packets >= 3);
    // Other users' events and other prefixes do not reach this session.
    assert_eq!(
        sim.publish_mercury("tonearm-demo", "hm://events/x", vec![]),
        0
    );
    assert_eq!(sim.publish_mercury("alice", "hm://other/x", vec![]), 0);

    c.mercury(cmd::MERCURY_UNSUB, 6, "UNSUB", "hm://events/")
        .await;
    let (_, header, _, _) = c.mercury_reply(cmd::MERCURY_UNSUB).await;
    assert_eq!(header.status_code(), 200);
    assert_eq!(sim.publish_mercury("alice", "hm://events/x", vec![]), 0);

    // Garbage Mercury payloads are ignored.
    c.send(cmd::MERCURY_REQ, &[0xff, 0xff, 0]).await;
    c.send(cmd::MERCURY_REQ, &[0, 1, 9, 1, 0, 1, 0, 1, 0xff])
        .await;
    c.mercury(cmd::MERCURY_REQ, 7, "GET", "hm://test/missing")
        .await;
    assert_eq!(
        c.mercury_reply(cmd::MERCURY_REQ).await.0,
        7u64.to_be_bytes()
    );
    sim.shutdown().await;
}

/// Raw bytes to an AP; returns once the server closed the socket (or panics after WAIT).
async fn send_garbage(addr: &str, bytes: &[u8]) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(bytes).await;
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "server kept the connection open after {bytes:02x?}"
    );
}

#[tokio::test]
async fn bad_handshakes_close_the_connection_and_the_server_goes_on() {
    let sim = start(cfg()).await;
    let info = sim.info().clone();
    let ap = &info.access_points[0];
    send_garbage(ap, b"GET / HTTP/1.1\r\n\r\n").await;
    send_garbage(ap, &[0, 4, 0xff, 0xff, 0xff, 0xff]).await;
    send_garbage(ap, &[0, 4, 0, 0, 0, 6]).await;
    send_garbage(ap, &[0, 4, 0, 0, 0, 10, 1, 2, 3, 4]).await;
    // A well-formed hello with a degenerate DH key.
    send_garbage(ap, &hello_packet(&[1])).await;
    // A valid hello, then garbage instead of the ClientResponsePlaintext.
    let mut junk = hello_packet(DhKeys::random().public_key());
    junk.extend_from_slice(&[0, 0, 0, 9, 1, 2, 3, 4, 5]);
    send_garbage(ap, &junk).await;
    // Connect and hang up at once.
    drop(TcpStream::connect(ap).await.unwrap());
    eventually(|| sim.stats().handshakes_failed == 7).await;

    // A wrong client HMAC gets a plaintext login_failed.
    let err = handshake_with(ap, &info.ap_key, true, None, true)
        .await
        .err();
    assert_eq!(err, Some(HsFail::LoginFailed(ErrorCode::ProtocolError)));
    // A short public key (tiny private key) is accepted.
    let mut c = handshake_with(ap, &info.ap_key, false, Some(&[5]), false)
        .await
        .unwrap();
    c.login_ok(Some("alice"), USER_PASS, b"alice-pass").await;
    // A first encrypted packet that is not a Login closes the connection.
    let mut c = handshake(ap, &info.ap_key).await;
    c.send(cmd::PONG, &[0; 4]).await;
    c.expect_closed().await;
    // A Login packet that does not parse is refused.
    let mut c = handshake(ap, &info.ap_key).await;
    c.send(cmd::LOGIN, &[0xff; 10]).await;
    let (kind, payload) = c.recv().await.unwrap();
    assert_eq!(kind, cmd::AUTH_FAILURE);
    assert_eq!(
        APLoginFailed::parse_from_bytes(&payload)
            .unwrap()
            .error_code(),
        ErrorCode::ProtocolError
    );
    // A wrong MAC from the client ends the session.
    let mut c = handshake(ap, &info.ap_key).await;
    c.login_ok(Some("alice"), USER_PASS, b"alice-pass").await;
    let mut bytes = c.enc.encode(cmd::PONG, &[0; 4]).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    c.write.write_all(&bytes).await.unwrap();
    c.expect_closed().await;
    assert_eq!(sim.stats().handshakes_failed, 8);
    sim.shutdown().await;
}

#[tokio::test]
async fn many_concurrent_logins() {
    let sim = start(cfg()).await;
    let info = sim.info().clone();
    let mut tasks = Vec::new();
    for i in 0..24 {
        let ap = info.access_points[i % 2].clone();
        let key = info.ap_key.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = handshake(&ap, &key).await;
            c.login_ok(Some("tonearm-demo"), USER_PASS, b"tonearm-demo-pass")
                .await;
            c
        }));
    }
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await.unwrap());
    }
    eventually(|| sim.stats().active_sessions == 24).await;
    assert_eq!(sim.stats().logins_ok, 24);
    drop(clients);
    eventually(|| sim.stats().active_sessions == 0).await;
    sim.shutdown().await;
}

mod faults {
    use super::*;

    async fn sim_with(faults: ApFaults) -> (Simulator, SimInfo) {
        let sim = start(cfg()).await;
        sim.set_faults(1, faults);
        let info = sim.info().clone();
        (sim, info)
    }

    #[tokio::test]
    async fn faults_apply_per_ap_and_to_new_connections_only() {
        let sim = start(cfg()).await;
        let info = sim.info().clone();
        let before = handshake(&info.access_points[1], &info.ap_key).await;
        sim.set_faults(
            1,
            ApFaults {
                try_another_ap: true,
                ..ApFaults::default()
            },
        );
        sim.set_faults(5, ApFaults::default()); // no such AP: ignored
        let mut c = handshake(&info.access_points[1], &info.ap_key).await;
        assert_eq!(
            c.login_failed(Some("alice"), USER_PASS, b"alice-pass")
                .await,
            ErrorCode::TryAnotherAP
        );
        let mut c = handshake(&info.access_points[0], &info.ap_key).await;
        c.login_ok(Some("alice"), USER_PASS, b"alice-pass").await;
        let mut before = before;
        before
            .login_ok(Some("alice"), USER_PASS, b"alice-pass")
            .await;
        sim.set_faults(1, ApFaults::default());
        let mut c = handshake(&info.access_points[1], &info.ap_key).await;
        c.login_ok(Some("alice"), USER_PASS, b"alice-pass").await;
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn bad_signature() {
        let (sim, info) = sim_with(ApFaults {
            bad_signature: true,
            ..ApFaults::default()
        })
        .await;
        let err = handshake_with(&info.access_points[1], &info.ap_key, false, None, false)
            .await
            .err();
        assert_eq!(err, Some(HsFail::BadSignature));
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn reject_client_hmac() {
        let (sim, info) = sim_with(ApFaults {
            reject_client_hmac: true,
            ..ApFaults::default()
        })
        .await;
        let err = handshake_with(&info.access_points[1], &info.ap_key, false, None, true)
            .await
            .err();
        assert_eq!(err, Some(HsFail::LoginFailed(ErrorCode::ProtocolError)));
        eventually(|| sim.stats().handshakes_failed == 1).await;
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn oversized_handshake() {
        let (sim, info) = sim_with(ApFaults {
            oversized_handshake: true,
            ..ApFaults::default()
        })
        .await;
        let err = handshake_with(&info.access_points[1], &info.ap_key, false, None, false)
            .await
            .err();
        assert_eq!(err, Some(HsFail::BadLength(0x7fff_ffff)));
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn reply_delay() {
        let delay = Duration::from_millis(300);
        let (sim, info) = sim_with(ApFaults {
            reply_delay: delay,
            ..ApFaults::default()
        })
        .await;
        let t = Instant::now();
        let mut c = handshake(&info.access_points[1], &info.ap_key).await;
        assert!(t.elapsed() >= delay);
        let t = Instant::now();
        c.login_ok(Some("alice"), USER_PASS, b"alice-pass").await;
        assert!(t.elapsed() >= delay * 3, "three delayed packets");
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn close_after_packets() {
        let (sim, info) = sim_with(ApFaults {
            close_after_packets: Some(1),
            ..ApFaults::default()
        })
        .await;
        let mut c = handshake(&info.access_points[1], &info.ap_key).await;
        c.send_login(Some("alice"), USER_PASS, b"alice-pass").await;
        assert_eq!(c.recv().await.unwrap().0, cmd::AP_WELCOME);
        c.expect_closed().await;
        sim.set_faults(
            1,
            ApFaults {
                close_after_packets: Some(0),
                ..ApFaults::default()
            },
        );
        // 0: closed right after the handshake, before any encrypted packet.
        match handshake_with(&info.access_points[1], &info.ap_key, false, None, false).await {
            Err(HsFail::Closed) => {}
            Err(other) => panic!("{other:?}"),
            Ok(mut c) => {
                c.send_login(Some("alice"), USER_PASS, b"alice-pass").await;
                c.expect_closed().await;
            }
        }
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn corrupt_mac_at() {
        let (sim, info) = sim_with(ApFaults {
            corrupt_mac_at: Some(0),
            ..ApFaults::default()
        })
        .await;
        let mut c = handshake(&info.access_points[1], &info.ap_key).await;
        c.send_login(Some("alice"), USER_PASS, b"alice-pass").await;
        assert!(matches!(
            c.recv().await,
            Err(CodecError::MacMismatch { nonce: 0 })
        ));
        sim.set_faults(
            1,
            ApFaults {
                corrupt_mac_at: Some(2),
                ..ApFaults::default()
            },
        );
        let mut c = handshake(&info.access_points[1], &info.ap_key).await;
        c.send_login(Some("alice"), USER_PASS, b"alice-pass").await;
        assert_eq!(c.recv().await.unwrap().0, cmd::AP_WELCOME);
        assert_eq!(c.recv().await.unwrap().0, cmd::COUNTRY_CODE);
        assert!(matches!(
            c.recv().await,
            Err(CodecError::MacMismatch { nonce: 2 })
        ));
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn truncate_at() {
        let (sim, info) = sim_with(ApFaults {
            truncate_at: Some(2),
            ..ApFaults::default()
        })
        .await;
        let mut c = handshake(&info.access_points[1], &info.ap_key).await;
        c.send_login(Some("alice"), USER_PASS, b"alice-pass").await;
        assert_eq!(c.recv().await.unwrap().0, cmd::AP_WELCOME);
        assert_eq!(c.recv().await.unwrap().0, cmd::COUNTRY_CODE);
        assert!(matches!(c.recv().await, Err(CodecError::Eof)));
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn no_pings() {
        let sim = start(SimConfig {
            first_ping_after: Duration::from_millis(50),
            ..cfg()
        })
        .await;
        sim.set_faults(
            0,
            ApFaults {
                no_pings: true,
                ..ApFaults::default()
            },
        );
        let info = sim.info().clone();
        let mut quiet = handshake(&info.access_points[0], &info.ap_key).await;
        quiet
            .login_ok(Some("alice"), USER_PASS, b"alice-pass")
            .await;
        let mut normal = handshake(&info.access_points[1], &info.ap_key).await;
        normal
            .login_ok(Some("alice"), USER_PASS, b"alice-pass")
            .await;
        assert_eq!(normal.recv().await.unwrap().0, cmd::PING);
        assert!(quiet
            .recv_within(Duration::from_millis(300))
            .await
            .is_none());
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn audio_key_delay_does_not_block_other_replies() {
        let delay = Duration::from_millis(400);
        let (sim, info) = sim_with(ApFaults {
            audio_key_delay: delay,
            ..ApFaults::default()
        })
        .await;
        sim.add_audio_key([1; 20], [2; 16], [3; 16]);
        let mut c = handshake(&info.access_points[1], &info.ap_key).await;
        c.login_ok(Some("alice"), USER_PASS, b"alice-pass").await;
        let mut request = vec![1; 20];
        request.extend_from_slice(&[2; 16]);
        request.extend_from_slice(&[0, 0, 0, 1, 0, 0]);
        let t = Instant::now();
        c.send(cmd::REQUEST_KEY, &request).await;
        c.mercury(cmd::MERCURY_REQ, 0, "GET", "hm://nothing").await;
        assert_eq!(c.mercury_reply(cmd::MERCURY_REQ).await.1.status_code(), 404);
        assert!(t.elapsed() < delay);
        assert_eq!(c.recv().await.unwrap().0, cmd::AES_KEY);
        assert!(t.elapsed() >= delay);
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn state_dir_persists_credentials_and_tokens_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let config = SimConfig {
        state_dir: Some(dir.path().join("state")),
        ..cfg()
    };
    let sim = start(config.clone()).await;
    let info = sim.info().clone();
    let token = sim.issue_access_token("alice").unwrap();
    let mut c = handshake(&info.access_points[0], &info.ap_key).await;
    let (welcome, _, _) = c
        .login_ok(Some("tonearm-demo"), USER_PASS, b"tonearm-demo-pass")
        .await;
    let stored = welcome.reusable_auth_credentials().to_vec();
    drop(c);
    sim.shutdown().await;

    let sim = start(config).await;
    let info = sim.info().clone();
    let mut c = handshake(&info.access_points[0], &info.ap_key).await;
    c.login_ok(Some("tonearm-demo"), STORED, &stored).await;
    let mut c = handshake(&info.access_points[1], &info.ap_key).await;
    c.login_ok(None, TOKEN, token.as_bytes()).await;
    sim.shutdown().await;

    std::fs::write(
        dir.path().join("state").join(state::STATE_FILE),
        b"[not json",
    )
    .unwrap();
    let err = Simulator::start(SimConfig {
        state_dir: Some(dir.path().join("state")),
        ..cfg()
    })
    .await
    .err()
    .unwrap();
    assert!(matches!(err, SimError::State { .. }), "{err}");
}

#[tokio::test]
async fn start_errors_and_shutdown() {
    let err = Simulator::start(SimConfig {
        ap_ports: vec![],
        ..cfg()
    })
    .await
    .err()
    .unwrap();
    assert!(matches!(err, SimError::Config(_)));
    let sim = start(cfg()).await;
    let taken: u16 = sim.info().access_points[0]
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let err = Simulator::start(SimConfig {
        ap_ports: vec![taken],
        ..cfg()
    })
    .await
    .err()
    .unwrap();
    assert!(matches!(err, SimError::Bind { .. }), "{err}");

    let info = sim.info().clone();
    let mut c = handshake(&info.access_points[0], &info.ap_key).await;
    c.login_ok(Some("alice"), USER_PASS, b"alice-pass").await;
    tokio::time::timeout(WAIT, sim.shutdown()).await.unwrap();
    c.expect_closed().await;
    assert!(TcpStream::connect(&info.access_points[0]).await.is_err());
}

#[tokio::test]
async fn random_packets_after_login_never_break_the_session() {
    use rand::{Rng, SeedableRng};
    let sim = start(cfg()).await;
    let info = sim.info().clone();
    let mut c = handshake(&info.access_points[0], &info.ap_key).await;
    c.login_ok(Some("alice"), USER_PASS, b"alice-pass").await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let kinds = [
        cmd::REQUEST_KEY,
        cmd::MERCURY_REQ,
        cmd::MERCURY_SUB,
        cmd::MERCURY_UNSUB,
        cmd::LOGIN,
        0x00,
        0x74,
        0xff,
    ];
    for _ in 0..500 {
        let kind = kinds[rng.gen_range(0..kinds.len())];
        let len = rng.gen_range(0..120);
        let mut payload: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        if rng.gen_bool(0.5) && payload.len() >= 2 {
            // Plausible Mercury prefixes reach deeper into the parser.
            payload[0] = 0;
            payload[1] = rng.gen_range(0..10);
        }
        c.send(kind, &payload).await;
    }
    c.send(cmd::PONG, &[0; 4]).await;
    loop {
        let (kind, _) = c.recv().await.unwrap();
        if kind == cmd::PONG_ACK {
            break;
        }
    }
    assert_eq!(sim.stats().active_sessions, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn oauth_access_token_logs_in_to_the_ap() {
    let sim = start(SimConfig {
        password_login: false,
        ..cfg()
    })
    .await;
    let info = sim.info().clone();
    let body = accounts::sign_in_for_tests(&info.accounts_url, "alice", "alice-pass").await;
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(body["username"], "alice");
    let mut c = handshake(&info.access_points[0], &info.ap_key).await;
    let (welcome, country, _) = c.login_ok(None, TOKEN, token.as_bytes()).await;
    assert_eq!(welcome.canonical_username(), "alice");
    assert_eq!(country, "GB");
    sim.shutdown().await;
}
