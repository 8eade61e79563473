//! The controller half of zeroconf (protocol spec §5.2–§5.4): what a phone does to hand its
//! login to a LAN speaker nobody is logged in to. [`get_info`] asks the device for its id and
//! DH public key; [`add_user`] builds the inner blob for *its* device id from our stored
//! credentials, wraps it with a fresh DH key pair and IV, and POSTs `addUser`, mapping every
//! refusal to a typed [`WakeError`].
//!
//! Every request goes to `http://{addr}{cpath}` with a `cpath` that passed
//! [`mdns::validate::check_cpath`](super::mdns::validate::check_cpath) (else
//! [`WakeError::BadPath`]), through a client that follows no redirects ([`client`]): a device
//! cannot steer the request anywhere else. [`add_user_to`] also checks that the device still has
//! the id the user agreed to hand the login to.
//!
//! Called by the Connect service (transfer to a LAN device) and by `mdns::browse` (getInfo).
//! Never imports the UI, the app state or the simulator; never logs the blob or credentials.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;

use super::blob::{encode_inner, encrypt_outer, EncodeError};
use crate::session::Credentials;

/// How long one zeroconf request may take.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer body we read from a device.
const MAX_ANSWER: usize = 64 * 1024;

/// A device's `getInfo` answer (the fields a controller needs; the rest is ignored). Lenient:
/// missing strings are empty, as devices differ in what they send.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct DeviceInfo {
    pub status: i64,
    #[serde(rename = "statusString")]
    pub status_string: String,
    #[serde(rename = "deviceID")]
    pub device_id: String,
    #[serde(rename = "remoteName")]
    pub remote_name: String,
    #[serde(rename = "deviceType")]
    pub device_type: String,
    /// base64 of the device's DH public key.
    #[serde(rename = "publicKey")]
    pub public_key: String,
    #[serde(rename = "activeUser")]
    pub active_user: String,
    pub version: String,
    #[serde(rename = "clientID")]
    pub client_id: String,
    #[serde(rename = "brandDisplayName")]
    pub brand_display_name: String,
    #[serde(rename = "modelDisplayName")]
    pub model_display_name: String,
    #[serde(rename = "libraryVersion")]
    pub library_version: String,
    #[serde(rename = "tokenType")]
    pub token_type: String,
    #[serde(rename = "groupStatus")]
    pub group_status: String,
}

impl DeviceInfo {
    /// The device's DH public key as raw bytes.
    pub fn public_key_bytes(&self) -> Result<Vec<u8>, WakeError> {
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        engine
            .decode(self.public_key.trim())
            .map_err(|_| WakeError::BadPublicKey)
    }
}

/// Why a device could not be asked or woken. Messages carry no secrets.
#[derive(Debug, thiserror::Error)]
pub enum WakeError {
    #[error("could not reach the device at {addr}: {reason}")]
    Unreachable { addr: SocketAddr, reason: String },
    #[error("the device answered HTTP {http} to {action}{}", .text.as_deref().map(|t| format!(" ({t})")).unwrap_or_default())]
    Http {
        action: &'static str,
        http: u16,
        text: Option<String>,
    },
    #[error("the device's getInfo answer is malformed: {0}")]
    BadInfo(String),
    #[error("the device's public key is not usable")]
    BadPublicKey,
    #[error("the device reports no device id")]
    NoDeviceId,
    #[error("the device's address or path is not usable: {0}")]
    BadPath(String),
    #[error("the device answered as {found}, not as the device {expected} that was chosen")]
    OtherDevice { expected: String, found: String },
    #[error("cannot build the credentials blob: {0}")]
    Encode(#[from] EncodeError),
    #[error("the device could not verify the credentials blob (ERROR-MAC)")]
    Mac,
    #[error("the device is busy with another login")]
    Busy,
    #[error("the device refused the login: status {status} {text}")]
    Refused { status: i64, text: String },
}

impl WakeError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            WakeError::Unreachable { .. } | WakeError::Busy | WakeError::Mac => {
                crate::ErrorKind::Retry
            }
            WakeError::Encode(EncodeError::NoUsername) => crate::ErrorKind::Relogin,
            _ => crate::ErrorKind::Notify,
        }
    }
}

/// The HTTP client for zeroconf requests to LAN devices: no proxy, no redirects (a device
/// must not send our request, or our blob, anywhere else), bounded in time.
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .build()
}

/// `http://{addr}{cpath}`, for a `cpath` from the safe set only.
fn url(addr: SocketAddr, cpath: &str) -> Result<String, WakeError> {
    super::mdns::validate::check_cpath(cpath).map_err(|e| WakeError::BadPath(e.to_string()))?;
    if addr.port() == 0 || addr.ip().is_unspecified() || addr.ip().is_multicast() {
        return Err(WakeError::BadPath(format!("address {addr}")));
    }
    Ok(format!("http://{addr}{cpath}"))
}

/// Reads the body, at most [`MAX_ANSWER`] bytes.
async fn read_body(addr: SocketAddr, mut resp: reqwest::Response) -> Result<Vec<u8>, WakeError> {
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if out.len() + chunk.len() > MAX_ANSWER {
                    return Err(WakeError::BadInfo("answer too large".into()));
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(out),
            Err(e) => {
                return Err(WakeError::Unreachable {
                    addr,
                    reason: e.without_url().to_string(),
                })
            }
        }
    }
}

/// `GET {cpath}?action=getInfo&version=2.7.1`, typed.
pub async fn get_info(
    http: &reqwest::Client,
    addr: SocketAddr,
    cpath: &str,
) -> Result<DeviceInfo, WakeError> {
    let resp = http
        .get(url(addr, cpath)?)
        .query(&[("action", "getInfo"), ("version", "2.7.1")])
        .timeout(TIMEOUT)
        .send()
        .await
        .map_err(|e| WakeError::Unreachable {
            addr,
            reason: e.without_url().to_string(),
        })?;
    let status = resp.status();
    let body = read_body(addr, resp).await?;
    if !status.is_success() {
        return Err(WakeError::Http {
            action: "getInfo",
            http: status.as_u16(),
            text: None,
        });
    }
    let info: DeviceInfo =
        serde_json::from_slice(&body).map_err(|e| WakeError::BadInfo(e.to_string()))?;
    if info.status != 0 && info.status != 101 {
        return Err(WakeError::Refused {
            status: info.status,
            text: info.status_string,
        });
    }
    Ok(info)
}

/// The JSON status answer of `addUser`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StatusAnswer {
    status: i64,
    #[serde(rename = "spotifyError")]
    spotify_error: i64,
    #[serde(rename = "statusString")]
    status_string: String,
}

/// Hands `creds` (our stored credentials: username + reusable auth data) to the device at
/// `addr`: `getInfo`, then the blob for its device id and public key, then `POST addUser`.
/// See [`add_user_to`] for handing them only to a device the user chose.
pub async fn add_user(
    http: &reqwest::Client,
    addr: SocketAddr,
    cpath: &str,
    creds: &Credentials,
    our_name: &str,
    our_device_id: &str,
) -> Result<(), WakeError> {
    add_user_to(http, addr, cpath, None, creds, our_name, our_device_id).await
}

/// [`add_user`], refused ([`WakeError::OtherDevice`]) when `expected_id` is given and the
/// device at `addr` now answers `getInfo` with another device id: the user's trust decision was
/// for that id, not for whatever answers at the address now.
pub async fn add_user_to(
    http: &reqwest::Client,
    addr: SocketAddr,
    cpath: &str,
    expected_id: Option<&str>,
    creds: &Credentials,
    our_name: &str,
    our_device_id: &str,
) -> Result<(), WakeError> {
    let info = get_info(http, addr, cpath).await?;
    if info.device_id.is_empty() {
        return Err(WakeError::NoDeviceId);
    }
    if let Some(expected) = expected_id {
        if !info.device_id.eq_ignore_ascii_case(expected) {
            return Err(WakeError::OtherDevice {
                expected: crate::logging::escaped(expected),
                found: crate::logging::escaped(&super::mdns::validate::display_text(
                    &info.device_id,
                    super::mdns::validate::MAX_DEVICE_ID,
                )),
            });
        }
    }
    let username = creds.username.clone().ok_or(EncodeError::NoUsername)?;
    let receiver_key = info.public_key_bytes()?;
    let inner = encode_inner(creds, &info.device_id)?;
    let outer = encrypt_outer(&inner, &receiver_key).map_err(|e| match e {
        EncodeError::ReceiverKey => WakeError::BadPublicKey,
        e => WakeError::Encode(e),
    })?;
    let form = [
        ("action", "addUser"),
        ("userName", username.as_str()),
        ("blob", outer.blob.as_str()),
        ("clientKey", outer.client_key.as_str()),
        ("deviceName", our_name),
        ("deviceId", our_device_id),
        ("tokenType", "default"),
        ("version", "2.7.1"),
    ];
    let resp = http
        .post(url(addr, cpath)?)
        .form(&form)
        .timeout(TIMEOUT)
        .send()
        .await
        .map_err(|e| WakeError::Unreachable {
            addr,
            reason: e.without_url().to_string(),
        })?;
    let status = resp.status();
    let body = read_body(addr, resp).await?;
    let answer: Option<StatusAnswer> = serde_json::from_slice(&body).ok();
    // The JSON status decides when there is one (librespot answers ERROR-MAC with HTTP 200);
    // go-librespot answers some refusals with bare HTTP codes.
    match answer {
        Some(a) if a.status == 101 && status.is_success() => {
            tracing::info!(
                "zeroconf: handed our login to {} ({addr})",
                info.remote_name
            );
            Ok(())
        }
        Some(a) if a.status_string == "ERROR-MAC" || (a.status == 102 && a.spotify_error == 1) => {
            Err(WakeError::Mac)
        }
        _ if status == reqwest::StatusCode::FORBIDDEN
            || status == reqwest::StatusCode::SERVICE_UNAVAILABLE =>
        {
            Err(WakeError::Busy)
        }
        Some(a) if a.status != 0 => Err(WakeError::Refused {
            status: a.status,
            text: a.status_string,
        }),
        _ => Err(WakeError::Http {
            action: "addUser",
            http: status.as_u16(),
            text: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let a: SocketAddr = "127.0.0.1:8080".parse().expect("addr");
        assert_eq!(url(a, "/").expect("url"), "http://127.0.0.1:8080/");
        assert_eq!(url(a, "/zc/").expect("url"), "http://127.0.0.1:8080/zc/");
        let v6: SocketAddr = "[::1]:80".parse().expect("addr");
        assert_eq!(url(v6, "/x").expect("url"), "http://[::1]:80/x");
    }

    #[test]
    fn hostile_paths_and_addresses_never_become_urls() {
        let a: SocketAddr = "192.168.1.5:8080".parse().expect("addr");
        for p in [
            "zc",
            "/../x?y",
            "/x?action=addUser",
            "/x#f",
            "/%2e%2e/",
            "/a b",
            "@evil.example/",
            "//evil.example/x",
            "/x\r\nHost: evil",
        ] {
            assert!(matches!(url(a, p), Err(WakeError::BadPath(_))), "{p}");
        }
        for bad in ["0.0.0.0:80", "192.168.1.5:0", "224.0.0.251:5353"] {
            let addr: SocketAddr = bad.parse().expect("addr");
            assert!(
                matches!(url(addr, "/"), Err(WakeError::BadPath(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn info_is_lenient() {
        let i: DeviceInfo =
            serde_json::from_str(r#"{"deviceID":"abc","publicKey":"AAE=","extra":[1]}"#)
                .expect("parses");
        assert_eq!(i.device_id, "abc");
        assert_eq!(i.active_user, "");
        assert_eq!(i.public_key_bytes().expect("b64"), vec![0, 1]);
        let bad = DeviceInfo {
            public_key: "!!".into(),
            ..DeviceInfo::default()
        };
        assert!(matches!(
            bad.public_key_bytes(),
            Err(WakeError::BadPublicKey)
        ));
    }
}
