//! Known-answer tests against vectors computed by an independent Python implementation
//! (`assets/fixtures/gen_kat.py` → `tests/fixtures/kat.json`).

use serde_json::Value;
use tonearm::session::{dh, handshake, Credentials};

fn kat() -> Value {
    serde_json::from_str(include_str!("../fixtures/kat.json")).unwrap()
}

fn hexf(v: &Value, k: &str) -> Vec<u8> {
    hex::decode(v[k].as_str().unwrap()).unwrap()
}

#[test]
fn dh_public_key_and_shared_secret() {
    let k = kat();
    let cases = k["dh"].as_array().unwrap();
    assert!(
        cases.iter().any(|c| hexf(c, "shared").len() < 96),
        "a short-secret case exists"
    );
    for c in cases {
        let keys = dh::DhKeys::from_private(&hexf(c, "private_be"));
        assert_eq!(keys.public_key(), hexf(c, "public"));
        // Minimal big-endian, exactly as the HMAC key must be.
        assert_eq!(
            keys.shared_secret(&hexf(c, "peer_public")),
            hexf(c, "shared")
        );
    }
}

#[test]
fn five_round_hmac_key_derivation() {
    let k = kat();
    for c in k["derive_keys"].as_array().unwrap() {
        let d = handshake::derive_keys(&hexf(c, "shared"), &hexf(c, "acc"));
        assert_eq!(d.challenge.to_vec(), hexf(c, "challenge"));
        assert_eq!(d.send_key.to_vec(), hexf(c, "send_key"));
        assert_eq!(d.recv_key.to_vec(), hexf(c, "recv_key"));
    }
}

#[test]
fn zeroconf_inner_blob_decoding() {
    let k = kat();
    for c in k["inner_blob"].as_array().unwrap() {
        let user = c["username"].as_str().unwrap();
        let creds = Credentials::from_zeroconf_blob(
            user,
            c["blob"].as_str().unwrap(),
            c["device_id"].as_str().unwrap(),
        )
        .expect("vector decodes");
        assert_eq!(creds.username.as_deref(), Some(user));
        assert_eq!(creds.auth_type as i64, c["auth_type"].as_i64().unwrap());
        assert_eq!(creds.auth_data, hexf(c, "auth_data"));
    }
}

#[test]
fn malformed_blobs_are_errors_not_panics() {
    let dev = "0123456789abcdef0123456789abcdef01234567";
    for blob in [
        "",
        "%%%not base64",
        "AAAA",
        "AAAAAAAAAAAAAAAAAAAAAA==",
        &"QUJD".repeat(100),
    ] {
        assert!(
            Credentials::from_zeroconf_blob("u", blob, dev).is_err(),
            "{blob}"
        );
    }
}

#[test]
fn simulator_blob_encoder_matches_the_independent_vectors() {
    // The simulator (server side) and the Python script agree: encode with the simulator,
    // decode with the client, for each vector's inputs.
    let k = kat();
    for c in k["inner_blob"].as_array().unwrap() {
        let user = c["username"].as_str().unwrap();
        let dev = c["device_id"].as_str().unwrap();
        let data = hexf(c, "auth_data");
        let blob = tonearm_sim::phone::encode_inner_blob(
            user,
            c["auth_type"].as_u64().unwrap() as u32,
            &data,
            dev,
        )
        .unwrap();
        let back = Credentials::from_zeroconf_blob(user, &blob, dev).unwrap();
        assert_eq!(back.auth_data, data);
    }
}
