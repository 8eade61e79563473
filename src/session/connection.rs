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
pub(crate) mod tests;
