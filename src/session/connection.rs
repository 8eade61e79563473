//! Establishing one logged-in access-point connection: TCP connect, the handshake, the login
//! packet and its answer (including the plaintext refusal the AP may send instead), and the
//! policy for walking the list of access points (spec §2.1, §4.3: at most 6 attempts, each AP
//! tried twice on network errors, `TryAnotherAP` → next AP, a refusal of the credentials stops).
//!
//! Called by `Session::connect`/`reconnect` (in `session.rs`); the result is handed to the
//! connection task (`task.rs`). Generic over the byte stream so tests can use in-memory pipes.
//! Must not depend on the task, Mercury or audio keys.

use std::time::Duration;

use rsa::RsaPublicKey;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::apresolve::HostPort;
use super::codec::{Decoder, Encoder};
use super::credentials::Credentials;
use super::handshake::{self, classify_first_answer, FirstAnswer, HandshakeError};
use super::login::{self, ApErrorCode, LoginAnswer, LoginFailure, Welcome};
use super::packet::{cmd, Packet};
use super::SessionError;

/// At most this many connection attempts per connect (librespot's figure).
pub const MAX_ATTEMPTS: usize = 6;
/// Attempts per access point when the failure is a network error or timeout.
pub const ATTEMPTS_PER_AP: usize = 2;

/// A logged-in connection: the stream and both halves of the Shannon codec. The decoder may
/// already hold bytes that arrived right after the login answer.
pub struct Connection<S> {
    pub stream: S,
    pub encoder: Encoder,
    pub decoder: Decoder,
}

impl<S> std::fmt::Debug for Connection<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("encoder", &self.encoder)
            .field("decoder", &self.decoder)
            .finish_non_exhaustive()
    }
}

/// What the AP loop does after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Network trouble: the same AP once more, then the next.
    RetrySameAp,
    /// This AP misbehaved or asked us to go elsewhere.
    NextAp,
    /// Trying elsewhere cannot help (credentials refused, untrusted server, not Premium).
    Abort,
}

/// How the AP loop treats `e`.
pub fn policy(e: &SessionError) -> Policy {
    match e {
        SessionError::Io { .. } | SessionError::Timeout { .. } => Policy::RetrySameAp,
        SessionError::TryAnotherAp { .. }
        | SessionError::Protocol { .. }
        | SessionError::Codec { .. } => Policy::NextAp,
        SessionError::LoginRefused(f)
            if matches!(
                f.code,
                ApErrorCode::CouldNotValidateCredentials | ApErrorCode::BadConnectionId
            ) =>
        {
            Policy::NextAp
        }
        _ => Policy::Abort,
    }
}

/// Turns an AP refusal into the session error a person can act on.
pub fn refusal(f: LoginFailure, creds: &Credentials, ap: &str) -> SessionError {
    match f.code {
        ApErrorCode::TryAnotherAp => SessionError::TryAnotherAp { ap: ap.to_string() },
        ApErrorCode::BadCredentials => SessionError::BadCredentials {
            auth_type: creds.auth_type,
        },
        ApErrorCode::PremiumAccountRequired => SessionError::PremiumRequired { account_type: None },
        _ => SessionError::LoginRefused(f),
    }
}

fn handshake_error(e: HandshakeError, creds: &Credentials, ap: &str) -> SessionError {
    match e {
        HandshakeError::Io(source) => SessionError::Io {
            ap: ap.to_string(),
            source,
        },
        HandshakeError::Refused(f) => refusal(f, creds, ap),
        HandshakeError::BadServerSignature => {
            SessionError::BadServerSignature { ap: ap.to_string() }
        }
        HandshakeError::BadTrustedKey(detail) => SessionError::BadTrustedKey(detail),
        other => SessionError::Protocol {
            ap: ap.to_string(),
            detail: other.to_string(),
        },
    }
}

/// Handshake + login on an already connected stream. `ap` only names the peer in errors.
pub async fn establish<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    ap: &str,
    server_key: &RsaPublicKey,
    creds: &Credentials,
    device_id: &str,
    timeout: Duration,
) -> Result<(Connection<S>, Welcome), SessionError> {
    let (mut encoder, mut decoder) =
        match tokio::time::timeout(timeout, handshake::handshake(&mut stream, server_key)).await {
            Ok(r) => r.map_err(|e| handshake_error(e, creds, ap))?,
            Err(_) => {
                return Err(SessionError::Timeout {
                    ap: ap.to_string(),
                    what: "during the handshake",
                })
            }
        };
    let login_payload =
        login::build_login(creds, device_id).map_err(|e| SessionError::Protocol {
            ap: ap.to_string(),
            detail: e.to_string(),
        })?;
    let frame = encoder
        .encode(cmd::LOGIN, &login_payload)
        .map_err(|e| SessionError::Protocol {
            ap: ap.to_string(),
            detail: e.to_string(),
        })?;
    // A write error here may just mean the AP already refused the handshake in plaintext and
    // closed; the read below finds that answer if it is there.
    let write_result = async {
        stream.write_all(&frame).await?;
        stream.flush().await
    }
    .await;
    if let Err(e) = &write_result {
        tracing::debug!(ap, "writing the login failed: {e}");
    }

    let answer = tokio::time::timeout(timeout, read_login_answer(&mut stream, &mut decoder)).await;
    let packet = match answer {
        Ok(Ok(p)) => p,
        Ok(Err(ReadError::Refused(f))) => return Err(refusal(f, creds, ap)),
        Ok(Err(ReadError::Io(source))) => {
            return Err(match write_result {
                Err(first) => SessionError::Io {
                    ap: ap.to_string(),
                    source: first,
                },
                Ok(()) => SessionError::Io {
                    ap: ap.to_string(),
                    source,
                },
            })
        }
        Ok(Err(ReadError::Codec(e))) => {
            return Err(SessionError::Codec {
                ap: ap.to_string(),
                source: e,
            })
        }
        Err(_) => {
            if let FirstAnswer::PlainLoginFailed(f) = classify_first_answer(&decoder, true) {
                return Err(refusal(f, creds, ap));
            }
            return Err(SessionError::Timeout {
                ap: ap.to_string(),
                what: "waiting for the login answer",
            });
        }
    };
    match login::parse_login_answer(&packet) {
        Ok(LoginAnswer::Welcome(w)) => Ok((
            Connection {
                stream,
                encoder,
                decoder,
            },
            w,
        )),
        Ok(LoginAnswer::Failed(f)) => Err(refusal(f, creds, ap)),
        Err(e) => Err(SessionError::Protocol {
            ap: ap.to_string(),
            detail: e.to_string(),
        }),
    }
}

enum ReadError {
    Io(std::io::Error),
    Codec(super::codec::CodecError),
    Refused(LoginFailure),
}

/// Reads until the first packet after the handshake is complete, recognising a plaintext
/// refusal on the way (see [`classify_first_answer`]).
async fn read_login_answer<S: AsyncRead + Unpin>(
    stream: &mut S,
    decoder: &mut Decoder,
) -> Result<Packet, ReadError> {
    let mut buf = vec![0u8; 4096];
    loop {
        match classify_first_answer(decoder, false) {
            FirstAnswer::NeedMore => {}
            FirstAnswer::Encrypted => break,
            FirstAnswer::PlainLoginFailed(f) => return Err(ReadError::Refused(f)),
        }
        let n = match stream.read(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                if let FirstAnswer::PlainLoginFailed(f) = classify_first_answer(decoder, true) {
                    return Err(ReadError::Refused(f));
                }
                return Err(ReadError::Io(e));
            }
        };
        if n == 0 {
            match classify_first_answer(decoder, true) {
                FirstAnswer::PlainLoginFailed(f) => return Err(ReadError::Refused(f)),
                _ => break,
            }
        }
        decoder.feed(&buf[..n]);
    }
    loop {
        if let Some(p) = decoder.next_packet().map_err(ReadError::Codec)? {
            return Ok(p);
        }
        let n = stream.read(&mut buf).await.map_err(ReadError::Io)?;
        if n == 0 {
            decoder.finish().map_err(ReadError::Codec)?;
            return Err(ReadError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the access point closed the connection before answering the login",
            )));
        }
        decoder.feed(&buf[..n]);
    }
}

/// TCP connect (with `TCP_NODELAY`) + [`establish`], the TCP part bounded by `timeout` too.
pub async fn establish_tcp(
    ap: &HostPort,
    server_key: &RsaPublicKey,
    creds: &Credentials,
    device_id: &str,
    timeout: Duration,
) -> Result<(Connection<TcpStream>, Welcome), SessionError> {
    let name = ap.to_string();
    let stream = match tokio::time::timeout(
        timeout,
        TcpStream::connect((ap.host.as_str(), ap.port)),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(source)) => return Err(SessionError::Io { ap: name, source }),
        Err(_) => {
            return Err(SessionError::Timeout {
                ap: name,
                what: "connecting",
            })
        }
    };
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(ap = %name, "cannot set TCP_NODELAY: {e}");
    }
    establish(stream, &name, server_key, creds, device_id, timeout).await
}

/// Walks `aps` (wrapping around) until one connection logs in, following [`policy`], with at
/// most [`MAX_ATTEMPTS`] attempts. `attempt` does one connection; it is a parameter so tests can
/// observe the order. Returns the connection, the welcome and the AP that worked.
pub async fn connect_any<T, F, Fut>(
    aps: &[HostPort],
    mut attempt: F,
) -> Result<(T, Welcome, HostPort), SessionError>
where
    F: FnMut(HostPort) -> Fut,
    Fut: std::future::Future<Output = Result<(T, Welcome), SessionError>>,
{
    if aps.is_empty() {
        return Err(SessionError::NoAccessPoint {
            attempts: 0,
            last: None,
        });
    }
    let mut index = 0usize;
    let mut tries_here = 0usize;
    let mut last = None;
    for n in 1..=MAX_ATTEMPTS {
        let ap = aps[index % aps.len()].clone();
        tracing::debug!(ap = %ap, attempt = n, "connecting to access point");
        match attempt(ap.clone()).await {
            Ok((conn, welcome)) => {
                tracing::info!(ap = %ap, "logged in to access point");
                return Ok((conn, welcome, ap));
            }
            Err(e) => {
                tracing::warn!(ap = %ap, attempt = n, "access point attempt failed: {e}");
                match policy(&e) {
                    Policy::Abort => return Err(e),
                    Policy::RetrySameAp if tries_here + 1 < ATTEMPTS_PER_AP => tries_here += 1,
                    Policy::RetrySameAp | Policy::NextAp => {
                        index += 1;
                        tries_here = 0;
                    }
                }
                last = Some(Box::new(e));
            }
        }
    }
    Err(SessionError::NoAccessPoint {
        attempts: MAX_ATTEMPTS,
        last,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::session::credentials::AuthType;
    use crate::session::handshake::tests::{fake_server_handshake, plain_failure, test_rsa_key};
    use crate::session::login::tests::{failed_packet, welcome_packet};
    use librespot_protocol::authentication::ClientResponseEncrypted;
    use librespot_protocol::keyexchange::ErrorCode;
    use protobuf::Message;
    use std::sync::{Arc, Mutex};

    /// Reads the client's login packet on the server side and returns it.
    pub(crate) async fn server_read_login<S: AsyncRead + Unpin>(
        s: &mut S,
        dec: &mut Decoder,
    ) -> ClientResponseEncrypted {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(p) = dec.next_packet().expect("client MAC") {
                assert_eq!(p.cmd, cmd::LOGIN);
                return ClientResponseEncrypted::parse_from_bytes(&p.payload).expect("login");
            }
            let n = s.read(&mut buf).await.expect("read");
            assert!(n > 0, "client closed before login");
            dec.feed(&buf[..n]);
        }
    }

    fn key() -> RsaPublicKey {
        RsaPublicKey::from(test_rsa_key())
    }

    const T: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn stored_login_succeeds() {
        let (client, mut server) = tokio::io::duplex(8192);
        let srv = tokio::spawn(async move {
            let (mut enc, mut dec) =
                fake_server_handshake(&mut server, test_rsa_key(), false).await;
            let login = server_read_login(&mut server, &mut dec).await;
            let p = welcome_packet("alice", b"reusable");
            let mut out = enc.encode(p.cmd, &p.payload).expect("encode");
            // Something right behind the welcome must stay buffered for the task.
            out.extend(enc.encode(cmd::COUNTRY_CODE, b"SE").expect("encode"));
            server.write_all(&out).await.expect("write");
            (login, server)
        });
        let creds = Credentials::stored("alice", b"secret".to_vec());
        let (mut conn, welcome) = establish(client, "fake", &key(), &creds, "dev1", T)
            .await
            .expect("login");
        let (login, _server) = srv.await.expect("server");
        assert_eq!(login.login_credentials.username(), "alice");
        assert_eq!(login.login_credentials.auth_data(), b"secret");
        assert_eq!(login.system_info.device_id(), "dev1");
        assert_eq!(welcome.canonical_username, "alice");
        assert_eq!(welcome.reusable.auth_data, b"reusable");
        assert_eq!(
            conn.decoder.next_packet().expect("mac"),
            Some(Packet::new(cmd::COUNTRY_CODE, b"SE".to_vec()))
        );
    }

    async fn refused_with(code: ErrorCode, creds: Credentials) -> SessionError {
        let (client, mut server) = tokio::io::duplex(8192);
        tokio::spawn(async move {
            let (mut enc, mut dec) =
                fake_server_handshake(&mut server, test_rsa_key(), false).await;
            let _ = server_read_login(&mut server, &mut dec).await;
            let p = failed_packet(code, None);
            server
                .write_all(&enc.encode(p.cmd, &p.payload).expect("encode"))
                .await
                .expect("write");
            let mut sink = [0u8; 64];
            let _ = server.read(&mut sink).await;
        });
        establish(client, "fake", &key(), &creds, "dev", T)
            .await
            .expect_err("refused")
    }

    #[tokio::test]
    async fn password_refusal_explains_what_to_do() {
        let e = refused_with(
            ErrorCode::BadCredentials,
            Credentials::with_password("alice", "hunter2"),
        )
        .await;
        assert!(matches!(
            e,
            SessionError::BadCredentials {
                auth_type: AuthType::UserPass
            }
        ));
        let msg = e.to_string();
        assert!(msg.contains("no longer accepts password"), "{msg}");
        assert!(msg.contains("tonearm login"), "{msg}");
        assert!(!msg.contains("hunter2"));
        assert_eq!(e.kind(), crate::ErrorKind::Relogin);
    }

    #[tokio::test]
    async fn premium_refusal_maps_to_premium_required() {
        let e = refused_with(
            ErrorCode::PremiumAccountRequired,
            Credentials::stored("a", vec![1]),
        )
        .await;
        assert!(matches!(e, SessionError::PremiumRequired { .. }), "{e:?}");
        assert_eq!(e.kind(), crate::ErrorKind::Notify);
    }

    #[tokio::test]
    async fn plaintext_refusal_after_handshake_is_recognised() {
        let (client, mut server) = tokio::io::duplex(8192);
        tokio::spawn(async move {
            let _ = fake_server_handshake(&mut server, test_rsa_key(), false).await;
            server
                .write_all(&plain_failure(ErrorCode::BadCredentials))
                .await
                .expect("write");
            // Close without reading the login.
        });
        let e = establish(
            client,
            "fake",
            &key(),
            &Credentials::with_access_token("tok"),
            "dev",
            T,
        )
        .await
        .expect_err("refused");
        assert!(
            matches!(
                e,
                SessionError::BadCredentials {
                    auth_type: AuthType::SpotifyToken
                }
            ),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn closed_before_answer_is_an_io_error() {
        let (client, mut server) = tokio::io::duplex(8192);
        tokio::spawn(async move {
            let (_enc, mut dec) = fake_server_handshake(&mut server, test_rsa_key(), false).await;
            let _ = server_read_login(&mut server, &mut dec).await;
            drop(server);
        });
        let e = establish(
            client,
            "fake",
            &key(),
            &Credentials::stored("a", vec![1]),
            "d",
            T,
        )
        .await
        .expect_err("closed");
        assert!(matches!(e, SessionError::Io { .. }), "{e:?}");
        assert_eq!(policy(&e), Policy::RetrySameAp);
    }

    #[tokio::test(start_paused = true)]
    async fn silent_server_times_out() {
        let (client, mut server) = tokio::io::duplex(8192);
        tokio::spawn(async move {
            let _ = fake_server_handshake(&mut server, test_rsa_key(), false).await;
            let _keep_open = server;
            std::future::pending::<()>().await;
        });
        let e = establish(
            client,
            "fake",
            &key(),
            &Credentials::stored("a", vec![1]),
            "d",
            T,
        )
        .await
        .expect_err("timeout");
        assert!(
            matches!(
                e,
                SessionError::Timeout {
                    what: "waiting for the login answer",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn unexpected_first_packet_is_a_protocol_error() {
        let (client, mut server) = tokio::io::duplex(8192);
        tokio::spawn(async move {
            let (mut enc, mut dec) =
                fake_server_handshake(&mut server, test_rsa_key(), false).await;
            let _ = server_read_login(&mut server, &mut dec).await;
            server
                .write_all(&enc.encode(cmd::PING, &[0, 0, 0, 1]).expect("encode"))
                .await
                .expect("write");
            let mut sink = [0u8; 64];
            let _ = server.read(&mut sink).await;
        });
        let e = establish(
            client,
            "fake",
            &key(),
            &Credentials::stored("a", vec![1]),
            "d",
            T,
        )
        .await
        .expect_err("bad first packet");
        assert!(matches!(e, SessionError::Protocol { .. }), "{e:?}");
    }

    fn hp(n: u16) -> HostPort {
        HostPort::new("ap", n)
    }

    fn io_err(ap: &HostPort) -> SessionError {
        SessionError::Io {
            ap: ap.to_string(),
            source: std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused"),
        }
    }

    fn welcome() -> Welcome {
        Welcome {
            canonical_username: "u".into(),
            reusable: Credentials::stored("u", vec![1]),
        }
    }

    async fn run_policy(
        aps: Vec<HostPort>,
        outcome: impl Fn(&HostPort, usize) -> Result<((), Welcome), SessionError>,
    ) -> (Result<((), Welcome, HostPort), SessionError>, Vec<u16>) {
        let tried = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(Mutex::new(0usize));
        let t2 = tried.clone();
        let r = connect_any(&aps, |ap| {
            t2.lock().expect("lock").push(ap.port);
            let mut c = count.lock().expect("lock");
            *c += 1;
            let res = outcome(&ap, *c);
            async move { res }
        })
        .await;
        let tried = tried.lock().expect("lock").clone();
        (r, tried)
    }

    #[tokio::test]
    async fn io_errors_retry_each_ap_twice_and_stop_at_six() {
        let (r, tried) =
            run_policy(vec![hp(1), hp(2), hp(3), hp(4)], |ap, _| Err(io_err(ap))).await;
        assert_eq!(tried, vec![1, 1, 2, 2, 3, 3]);
        match r {
            Err(SessionError::NoAccessPoint { attempts: 6, last }) => {
                assert!(matches!(last.as_deref(), Some(SessionError::Io { .. })))
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn try_another_ap_moves_on_at_once() {
        let (r, tried) = run_policy(vec![hp(1), hp(2), hp(3)], |ap, n| {
            if n < 3 {
                Err(SessionError::TryAnotherAp { ap: ap.to_string() })
            } else {
                Ok(((), welcome()))
            }
        })
        .await;
        assert_eq!(tried, vec![1, 2, 3]);
        assert_eq!(r.expect("third works").2, hp(3));
    }

    #[tokio::test]
    async fn single_ap_list_wraps_around() {
        let (r, tried) = run_policy(vec![hp(7)], |ap, _| {
            Err(SessionError::TryAnotherAp { ap: ap.to_string() })
        })
        .await;
        assert_eq!(tried, vec![7; 6]);
        assert!(matches!(r, Err(SessionError::NoAccessPoint { .. })));
    }

    #[tokio::test]
    async fn refused_credentials_stop_immediately() {
        let (r, tried) = run_policy(vec![hp(1), hp(2)], |_, _| {
            Err(SessionError::BadCredentials {
                auth_type: AuthType::StoredSpotifyCredentials,
            })
        })
        .await;
        assert_eq!(tried, vec![1]);
        assert!(matches!(r, Err(SessionError::BadCredentials { .. })));
        let (r, tried) = run_policy(vec![hp(1), hp(2)], |ap, _| {
            Err(SessionError::BadServerSignature { ap: ap.to_string() })
        })
        .await;
        assert_eq!(tried, vec![1]);
        assert_eq!(r.expect_err("abort").kind(), crate::ErrorKind::Fatal);
    }

    #[tokio::test]
    async fn tcp_connection_refused_is_retried() {
        // A port that was just free: connection refused.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let e = establish_tcp(
            &HostPort::new("127.0.0.1", port),
            &key(),
            &Credentials::stored("a", vec![1]),
            "d",
            Duration::from_secs(2),
        )
        .await
        .expect_err("refused");
        assert!(matches!(e, SessionError::Io { .. }), "{e:?}");
        assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    }
}
