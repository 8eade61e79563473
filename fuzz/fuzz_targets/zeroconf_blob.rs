//! The zeroconf credentials blobs (protocol spec §5.3, §5.4) as a receiver decodes them from a
//! stranger on the LAN: the outer layer (`connect::blob::decrypt_outer`, any client key and
//! blob) and the inner blob (`Credentials::from_zeroconf_blob`, any user name and text), plus
//! the round trip through the encoders with fuzzer-chosen credentials, which must come back
//! unchanged. A panic anywhere is a crash.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tonearm::connect::blob::{decrypt_outer, encode_inner, encrypt_outer_with, IV_LEN};
use tonearm::session::dh::DhKeys;
use tonearm::session::{AuthType, Credentials};

const DEVICE_ID: &str = "0123456789abcdef0123456789abcdef01234567";

fn receiver() -> &'static DhKeys {
    static KEYS: OnceLock<DhKeys> = OnceLock::new();
    KEYS.get_or_init(|| DhKeys::from_private(&[0x42; 95]))
}

fn controller_private() -> &'static [u8] {
    &[0x17; 95]
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        // The outer layer: [key length][client key][blob].
        0 => {
            let Some((&n, rest)) = rest.split_first() else {
                return;
            };
            let (key, blob) = rest.split_at(usize::from(n).min(rest.len()));
            if let Ok(inner) = decrypt_outer(receiver(), blob, key) {
                let _ = Credentials::from_zeroconf_blob("fuzz", &inner, DEVICE_ID);
            }
        }
        // The inner blob: [user name length][user name][blob text].
        1 => {
            let Some((&n, rest)) = rest.split_first() else {
                return;
            };
            let (user, text) = rest.split_at(usize::from(n).min(rest.len()));
            let user = String::from_utf8_lossy(user);
            let text = String::from_utf8_lossy(text);
            let _ = Credentials::from_zeroconf_blob(&user, &text, DEVICE_ID);
        }
        // The round trip: [user name length][user name][auth data].
        _ => {
            let Some((&n, rest)) = rest.split_first() else {
                return;
            };
            let (user, auth) = rest.split_at(usize::from(n).min(rest.len()));
            let user = String::from_utf8_lossy(user).into_owned();
            let creds = Credentials {
                username: Some(user.clone()),
                auth_type: AuthType::StoredSpotifyCredentials,
                auth_data: auth.to_vec(),
            };
            let Ok(inner) = encode_inner(&creds, DEVICE_ID) else {
                return;
            };
            let outer = encrypt_outer_with(
                &inner,
                &receiver().public_key(),
                controller_private(),
                [7; IV_LEN],
            )
            .expect("the receiver's key is valid");
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD;
            let blob = b64.decode(&outer.blob).expect("our own base64");
            let key = b64.decode(&outer.client_key).expect("our own base64");
            let back = decrypt_outer(receiver(), &blob, &key).expect("our own blob decrypts");
            assert_eq!(back, inner);
            let decoded =
                Credentials::from_zeroconf_blob(&user, &back, DEVICE_ID).expect("decodes");
            assert_eq!(decoded.username.as_deref(), Some(user.as_str()));
            assert_eq!(decoded.auth_data, auth);
        }
    }
});
