//! The login exchange after the handshake (protocol spec §4): building ClientResponseEncrypted
//! (packet 0xab) from [`Credentials`], and reading the answer: APWelcome (0xac) → the reusable
//! credentials, or APLoginFailed (0xad) → a [`LoginFailure`] with a code a person can read.
//!
//! Called by `connection.rs`; the plaintext variant of a failure is recognised in
//! `handshake.rs`, which reuses [`LoginFailure`]. Pure protobuf work, no I/O; must not depend on
//! the session task or the public `Session`.

use std::fmt;

use librespot_protocol::authentication::{
    APWelcome, AuthenticationType, ClientResponseEncrypted, CpuFamily, LoginCredentials, Os,
    SystemInfo,
};
use librespot_protocol::keyexchange::APLoginFailed;
use protobuf::{EnumOrUnknown, Message, MessageField};

use super::credentials::{AuthType, Credentials};
use super::packet::{cmd, Packet};

/// `version_string` sent with the login.
pub fn version_string() -> String {
    format!("tonearm {}", env!("CARGO_PKG_VERSION"))
}

/// `APLoginFailed.error_code` (§4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApErrorCode {
    ProtocolError,
    TryAnotherAp,
    BadConnectionId,
    TravelRestriction,
    PremiumAccountRequired,
    BadCredentials,
    CouldNotValidateCredentials,
    AccountExists,
    ExtraVerificationRequired,
    InvalidAppKey,
    ApplicationBanned,
    Unknown(i32),
}

impl ApErrorCode {
    pub fn from_i32(n: i32) -> ApErrorCode {
        match n {
            0 => ApErrorCode::ProtocolError,
            2 => ApErrorCode::TryAnotherAp,
            5 => ApErrorCode::BadConnectionId,
            9 => ApErrorCode::TravelRestriction,
            11 => ApErrorCode::PremiumAccountRequired,
            12 => ApErrorCode::BadCredentials,
            13 => ApErrorCode::CouldNotValidateCredentials,
            14 => ApErrorCode::AccountExists,
            15 => ApErrorCode::ExtraVerificationRequired,
            16 => ApErrorCode::InvalidAppKey,
            17 => ApErrorCode::ApplicationBanned,
            n => ApErrorCode::Unknown(n),
        }
    }

    /// What the code means, in words.
    pub fn explain(self) -> String {
        match self {
            ApErrorCode::ProtocolError => "the access point reported a protocol error".into(),
            ApErrorCode::TryAnotherAp => "the access point asked us to try another one".into(),
            ApErrorCode::BadConnectionId => "the access point rejected the connection id".into(),
            ApErrorCode::TravelRestriction => {
                "the account cannot be used from this country (travel restriction)".into()
            }
            ApErrorCode::PremiumAccountRequired => "the account is not a Premium account".into(),
            ApErrorCode::BadCredentials => "the credentials were refused".into(),
            ApErrorCode::CouldNotValidateCredentials => {
                "Spotify could not validate the credentials right now".into()
            }
            ApErrorCode::AccountExists => "the account already exists".into(),
            ApErrorCode::ExtraVerificationRequired => {
                "the account needs extra verification (sign in once with an official app)".into()
            }
            ApErrorCode::InvalidAppKey => "the application key was refused".into(),
            ApErrorCode::ApplicationBanned => "this application is banned by Spotify".into(),
            ApErrorCode::Unknown(n) => format!("the access point refused the login (code {n})"),
        }
    }
}

/// A login refusal from the AP (encrypted 0xad, or a plaintext APResponse during the handshake).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginFailure {
    pub code: ApErrorCode,
    /// The server's own text, if any (never contains our credentials).
    pub description: Option<String>,
    pub retry_delay: Option<i32>,
}

impl LoginFailure {
    pub fn from_proto(f: &APLoginFailed) -> LoginFailure {
        LoginFailure {
            code: ApErrorCode::from_i32(f.error_code.map_or(0, |c| c.value())),
            description: f.error_description.clone().filter(|d| !d.trim().is_empty()),
            retry_delay: f.retry_delay,
        }
    }
}

impl fmt::Display for LoginFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code.explain())?;
        if let Some(d) = &self.description {
            write!(f, " (server said: {d})")?;
        }
        Ok(())
    }
}

/// A successful login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    pub canonical_username: String,
    /// Credentials to log in again without the original secret (username is the canonical one).
    pub reusable: Credentials,
}

/// The AP's answer to the login packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginAnswer {
    Welcome(Welcome),
    Failed(LoginFailure),
}

/// Problems with the login exchange itself (not a refusal).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("access point answered the login with packet 0x{0:02x} ({name})", name = cmd::name(*.0))]
    UnexpectedPacket(u8),
    #[error("access point sent a malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("cannot encode the login message: {0}")]
    Encode(String),
}

fn cpu_family() -> CpuFamily {
    match std::env::consts::ARCH {
        "x86_64" => CpuFamily::CPU_X86_64,
        "x86" => CpuFamily::CPU_X86,
        "arm" | "aarch64" => CpuFamily::CPU_ARM,
        "powerpc" => CpuFamily::CPU_PPC,
        "powerpc64" => CpuFamily::CPU_PPC_64,
        "mips" | "mips64" => CpuFamily::CPU_MIPS,
        _ => CpuFamily::CPU_UNKNOWN,
    }
}

fn os() -> Os {
    match std::env::consts::OS {
        "linux" | "android" => Os::OS_LINUX,
        "windows" => Os::OS_WINDOWS,
        "macos" => Os::OS_OSX,
        "freebsd" => Os::OS_FREEBSD,
        _ => Os::OS_UNKNOWN,
    }
}

fn auth_type_proto(t: AuthType) -> AuthenticationType {
    match t {
        AuthType::UserPass => AuthenticationType::AUTHENTICATION_USER_PASS,
        AuthType::StoredSpotifyCredentials => {
            AuthenticationType::AUTHENTICATION_STORED_SPOTIFY_CREDENTIALS
        }
        AuthType::StoredFacebookCredentials => {
            AuthenticationType::AUTHENTICATION_STORED_FACEBOOK_CREDENTIALS
        }
        AuthType::SpotifyToken => AuthenticationType::AUTHENTICATION_SPOTIFY_TOKEN,
        AuthType::FacebookToken => AuthenticationType::AUTHENTICATION_FACEBOOK_TOKEN,
    }
}

/// ClientResponseEncrypted for `creds` (the payload of packet 0xab).
pub fn build_login(creds: &Credentials, device_id: &str) -> Result<Vec<u8>, LoginError> {
    let mut login = LoginCredentials::new();
    if let Some(user) = &creds.username {
        login.set_username(user.clone());
    }
    login.set_typ(auth_type_proto(creds.auth_type));
    login.set_auth_data(creds.auth_data.clone());

    let mut sys = SystemInfo::new();
    sys.set_cpu_family(cpu_family());
    sys.set_os(os());
    sys.set_system_information_string(format!("tonearm-{}", env!("CARGO_PKG_VERSION")));
    sys.set_device_id(device_id.to_string());

    let mut msg = ClientResponseEncrypted::new();
    msg.login_credentials = MessageField::some(login);
    msg.system_info = MessageField::some(sys);
    msg.set_version_string(version_string());
    msg.write_to_bytes()
        .map_err(|e| LoginError::Encode(e.to_string()))
}

/// Reads the AP's answer to the login: 0xac or 0xad; anything else is an error.
pub fn parse_login_answer(packet: &Packet) -> Result<LoginAnswer, LoginError> {
    match packet.cmd {
        cmd::AP_WELCOME => {
            let w = APWelcome::parse_from_bytes(&packet.payload).map_err(|e| {
                LoginError::Malformed {
                    what: "APWelcome",
                    detail: e.to_string(),
                }
            })?;
            let raw_type = w
                .reusable_auth_credentials_type
                .map_or(-1, |t: EnumOrUnknown<AuthenticationType>| t.value());
            let auth_type = u32::try_from(raw_type)
                .ok()
                .and_then(AuthType::from_u32)
                .ok_or_else(|| LoginError::Malformed {
                    what: "APWelcome",
                    detail: format!("unknown reusable credentials type {raw_type}"),
                })?;
            let username = w.canonical_username().to_string();
            Ok(LoginAnswer::Welcome(Welcome {
                reusable: Credentials {
                    username: Some(username.clone()),
                    auth_type,
                    auth_data: w.reusable_auth_credentials().to_vec(),
                },
                canonical_username: username,
            }))
        }
        cmd::AUTH_FAILURE => {
            let f = APLoginFailed::parse_from_bytes(&packet.payload).map_err(|e| {
                LoginError::Malformed {
                    what: "APLoginFailed",
                    detail: e.to_string(),
                }
            })?;
            Ok(LoginAnswer::Failed(LoginFailure::from_proto(&f)))
        }
        other => Err(LoginError::UnexpectedPacket(other)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use librespot_protocol::authentication::AccountType;
    use librespot_protocol::keyexchange::ErrorCode;

    pub(crate) fn welcome_packet(user: &str, stored: &[u8]) -> Packet {
        let mut w = APWelcome::new();
        w.set_canonical_username(user.into());
        w.set_account_type_logged_in(AccountType::Spotify);
        w.set_credentials_type_logged_in(AccountType::Spotify);
        w.set_reusable_auth_credentials_type(
            AuthenticationType::AUTHENTICATION_STORED_SPOTIFY_CREDENTIALS,
        );
        w.set_reusable_auth_credentials(stored.to_vec());
        Packet::new(cmd::AP_WELCOME, w.write_to_bytes().expect("encode"))
    }

    pub(crate) fn failed_packet(code: ErrorCode, description: Option<&str>) -> Packet {
        let mut f = APLoginFailed::new();
        f.set_error_code(code);
        if let Some(d) = description {
            f.set_error_description(d.into());
        }
        Packet::new(cmd::AUTH_FAILURE, f.write_to_bytes().expect("encode"))
    }

    #[test]
    fn login_message_fields() {
        let bytes = build_login(&Credentials::stored("alice", vec![1, 2, 3]), "devid").expect("ok");
        let m = ClientResponseEncrypted::parse_from_bytes(&bytes).expect("required fields set");
        assert_eq!(m.login_credentials.username(), "alice");
        assert_eq!(
            m.login_credentials.typ(),
            AuthenticationType::AUTHENTICATION_STORED_SPOTIFY_CREDENTIALS
        );
        assert_eq!(m.login_credentials.auth_data(), &[1, 2, 3]);
        assert_eq!(m.system_info.device_id(), "devid");
        assert!(m.system_info.cpu_family.is_some());
        assert!(m.system_info.os.is_some());
        assert_eq!(
            m.version_string(),
            format!("tonearm {}", env!("CARGO_PKG_VERSION"))
        );
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        {
            assert_eq!(m.system_info.cpu_family(), CpuFamily::CPU_X86_64);
            assert_eq!(m.system_info.os(), Os::OS_LINUX);
        }
    }

    #[test]
    fn token_login_omits_username() {
        let bytes = build_login(&Credentials::with_access_token("tok"), "d").expect("ok");
        let m = ClientResponseEncrypted::parse_from_bytes(&bytes).expect("parse");
        assert!(m.login_credentials.username.is_none());
        assert_eq!(
            m.login_credentials.typ(),
            AuthenticationType::AUTHENTICATION_SPOTIFY_TOKEN
        );
        assert_eq!(m.login_credentials.auth_data(), b"tok");
    }

    #[test]
    fn welcome_gives_reusable_credentials() {
        match parse_login_answer(&welcome_packet("Alice", b"opaque")).expect("ok") {
            LoginAnswer::Welcome(w) => {
                assert_eq!(w.canonical_username, "Alice");
                assert_eq!(w.reusable, Credentials::stored("Alice", b"opaque".to_vec()));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn failure_codes_map() {
        let cases = [
            (ErrorCode::BadCredentials, ApErrorCode::BadCredentials),
            (ErrorCode::TryAnotherAP, ApErrorCode::TryAnotherAp),
            (
                ErrorCode::PremiumAccountRequired,
                ApErrorCode::PremiumAccountRequired,
            ),
            (ErrorCode::ApplicationBanned, ApErrorCode::ApplicationBanned),
        ];
        for (proto, ours) in cases {
            match parse_login_answer(&failed_packet(proto, Some("nope"))).expect("ok") {
                LoginAnswer::Failed(f) => {
                    assert_eq!(f.code, ours);
                    assert_eq!(f.description.as_deref(), Some("nope"));
                    assert!(f.to_string().contains("(server said: nope)"));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(ApErrorCode::from_i32(99), ApErrorCode::Unknown(99));
        assert!(ApErrorCode::Unknown(99).explain().contains("99"));
    }

    #[test]
    fn malformed_answers_are_typed_errors() {
        assert_eq!(
            parse_login_answer(&Packet::new(cmd::PING, vec![0; 4])),
            Err(LoginError::UnexpectedPacket(cmd::PING))
        );
        assert!(matches!(
            parse_login_answer(&Packet::new(cmd::AP_WELCOME, vec![0xff, 0xff])),
            Err(LoginError::Malformed { .. })
        ));
        // Missing required fields.
        assert!(matches!(
            parse_login_answer(&Packet::new(cmd::AP_WELCOME, vec![])),
            Err(LoginError::Malformed { .. })
        ));
        assert!(matches!(
            parse_login_answer(&Packet::new(cmd::AUTH_FAILURE, vec![])),
            Err(LoginError::Malformed { .. })
        ));
    }
}
