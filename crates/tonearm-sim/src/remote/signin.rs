//! How the scripted phone signs in, as the phone app does (spec §8.1): a client token (solving
//! the hashcash challenge when one comes), then login5 with the account's password (hashcash
//! again when asked), or, when the simulator refuses password logins, the accounts service's
//! browser sign-in with PKCE. Answers the access token the phone uses everywhere.
//!
//! Called by [`super::Phone::connect`] only. Plain HTTP and protobuf from the spec; never
//! imports client modules or the simulator's server code.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use librespot_protocol::clienttoken_http as ct;
use librespot_protocol::login5 as l5;
use protobuf::{EnumOrUnknown, Message, MessageField};
use rand::RngCore;
use serde_json::Value;
use sha1::{Digest, Sha1};

use super::{refused, PhoneConfig, PhoneError, CLIENT_ID};

/// Most hashcash attempts before giving up (the simulator asks for a handful of bits).
const HASHCASH_LIMIT: i64 = 1 << 26;

fn i64_at(hash: &[u8], at: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&hash[at..at + 8]);
    i64::from_be_bytes(b)
}

/// Hashcash as spec §8.1 describes it; `None` if not solved within the attempt limit.
fn hashcash(ctx: &[u8], prefix: &[u8], length: i32) -> Option<[u8; 16]> {
    let target = i64_at(&Sha1::digest(ctx), 12);
    for counter in 0..HASHCASH_LIMIT {
        let mut suffix = [0u8; 16];
        suffix[..8].copy_from_slice(&target.wrapping_add(counter).to_be_bytes());
        suffix[8..].copy_from_slice(&counter.to_be_bytes());
        let hash = Sha1::new()
            .chain_update(prefix)
            .chain_update(suffix)
            .finalize();
        if i64::from(i64_at(&hash, 12).trailing_zeros()) >= i64::from(length) {
            return Some(suffix);
        }
    }
    None
}

/// client-token, then login5 with the password (solving hashcash when asked).
pub(super) async fn login5(
    http: &reqwest::Client,
    base: &str,
    cfg: &PhoneConfig,
    device_id: &str,
) -> Result<String, PhoneError> {
    let mut data = ct::ClientDataRequest::new();
    data.client_version = "1.2.52.442".into();
    data.client_id = CLIENT_ID.into();
    let mut req = ct::ClientTokenRequest::new();
    req.request_type = EnumOrUnknown::new(ct::ClientTokenRequestType::REQUEST_CLIENT_DATA_REQUEST);
    req.set_client_data(data);
    let proto = |m: &dyn protobuf::MessageDyn| {
        m.write_to_bytes_dyn()
            .map_err(|e| PhoneError::Protocol(e.to_string()))
    };
    let mut answer = client_token_call(http, base, proto(&req)?).await?;
    if answer.has_challenges() {
        let challenges = answer.challenges().clone();
        let params = challenges
            .challenges
            .iter()
            .find(|c| c.has_evaluate_hashcash_parameters())
            .map(|c| c.evaluate_hashcash_parameters().clone())
            .ok_or_else(|| {
                PhoneError::Protocol("client-token challenge without hashcash".into())
            })?;
        let prefix = hex::decode(&params.prefix)
            .map_err(|_| PhoneError::Protocol("client-token hashcash prefix is not hex".into()))?;
        let suffix = hashcash(b"", &prefix, params.length)
            .ok_or_else(|| PhoneError::Protocol("client-token hashcash unsolved".into()))?;
        let mut hc = ct::HashCashAnswer::new();
        hc.suffix = hex::encode_upper(suffix);
        let mut a = ct::ChallengeAnswer::new();
        a.ChallengeType = EnumOrUnknown::new(ct::ChallengeType::CHALLENGE_HASH_CASH);
        a.set_hash_cash(hc);
        let mut answers = ct::ChallengeAnswersRequest::new();
        answers.state = challenges.state.clone();
        answers.answers.push(a);
        let mut req = ct::ClientTokenRequest::new();
        req.request_type =
            EnumOrUnknown::new(ct::ClientTokenRequestType::REQUEST_CHALLENGE_ANSWERS_REQUEST);
        req.set_challenge_answers(answers);
        answer = client_token_call(http, base, proto(&req)?).await?;
    }
    if !answer.has_granted_token() {
        return Err(PhoneError::Protocol("client-token granted nothing".into()));
    }
    let client_token = answer.granted_token().token.clone();

    let mut info = librespot_protocol::client_info::ClientInfo::new();
    info.client_id = CLIENT_ID.into();
    info.device_id = device_id.into();
    let mut pw = librespot_protocol::credentials::Password::new();
    pw.id = cfg.username.clone();
    pw.password = cfg.password.clone();
    let mut req = l5::LoginRequest::new();
    req.client_info = MessageField::some(info);
    req.set_password(pw);
    for _ in 0..3 {
        let r = http
            .post(format!("{base}/v3/login"))
            .header("client-token", &client_token)
            .header("Accept", "application/x-protobuf")
            .body(proto(&req)?)
            .send()
            .await?;
        if !r.status().is_success() {
            return Err(refused(r).await);
        }
        let resp = l5::LoginResponse::parse_from_bytes(&r.bytes().await?)
            .map_err(|_| PhoneError::Protocol("login5 answer is not a LoginResponse".into()))?;
        if resp.has_ok() {
            return Ok(resp.ok().access_token.clone());
        }
        if resp.has_error() {
            return Err(PhoneError::Login(format!("login5: {:?}", resp.error())));
        }
        if resp.has_challenges() {
            let mut solutions = l5::ChallengeSolutions::new();
            for c in &resp.challenges().challenges {
                if !c.has_hashcash() {
                    return Err(PhoneError::Protocol(
                        "login5 challenge is not hashcash".into(),
                    ));
                }
                let hc = c.hashcash();
                let suffix = hashcash(&resp.login_context, &hc.prefix, hc.length)
                    .ok_or_else(|| PhoneError::Protocol("login5 hashcash unsolved".into()))?;
                let mut s = librespot_protocol::hashcash::HashcashSolution::new();
                s.suffix = suffix.to_vec();
                let mut sol = l5::ChallengeSolution::new();
                sol.set_hashcash(s);
                solutions.solutions.push(sol);
            }
            req.login_context = resp.login_context.clone();
            req.challenge_solutions = MessageField::some(solutions);
            continue;
        }
        return Err(PhoneError::Protocol("empty login5 answer".into()));
    }
    Err(PhoneError::Protocol(
        "login5 kept asking for challenges".into(),
    ))
}

async fn client_token_call(
    http: &reqwest::Client,
    base: &str,
    body: Vec<u8>,
) -> Result<ct::ClientTokenResponse, PhoneError> {
    let r = http
        .post(format!("{base}/v1/clienttoken"))
        .header("Accept", "application/x-protobuf")
        .body(body)
        .send()
        .await?;
    if !r.status().is_success() {
        return Err(refused(r).await);
    }
    ct::ClientTokenResponse::parse_from_bytes(&r.bytes().await?).map_err(|_| {
        PhoneError::Protocol("client-token answer is not a ClientTokenResponse".into())
    })
}

/// The accounts service's sign-in page, submitted as a browser would (authorization code with
/// PKCE and a loopback redirect that is never actually visited).
pub(super) async fn browser_sign_in(
    http: &reqwest::Client,
    base: &str,
    cfg: &PhoneConfig,
) -> Result<String, PhoneError> {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let verifier = URL_SAFE_NO_PAD.encode(raw);
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let redirect = "http://127.0.0.1:8898/login";
    let scope = "streaming user-read-playback-state user-modify-playback-state user-read-private";
    let r = http
        .post(format!("{base}/authorize"))
        .form(&[
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", redirect),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("scope", scope),
            ("username", &cfg.username),
            ("password", &cfg.password),
            ("consent", "accept"),
        ])
        .send()
        .await?;
    let code = r
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| reqwest::Url::parse(l).ok())
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned())
        })
        .ok_or_else(|| PhoneError::Login("wrong username or password".into()))?;
    let r = http
        .post(format!("{base}/api/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", CLIENT_ID),
            ("code_verifier", &verifier),
        ])
        .send()
        .await?;
    if !r.status().is_success() {
        return Err(PhoneError::Login(
            "the accounts service refused the code".into(),
        ));
    }
    let v: Value = r
        .json()
        .await
        .map_err(|_| PhoneError::Protocol("token answer is not JSON".into()))?;
    v.get("access_token")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| PhoneError::Protocol("token answer without access_token".into()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hashcash_meets_the_length() {
        let s = hashcash(b"ctx", b"prefix", 8).unwrap();
        let hash = Sha1::new()
            .chain_update(b"prefix")
            .chain_update(s)
            .finalize();
        assert!(i64_at(&hash, 12).trailing_zeros() >= 8);
    }
}
