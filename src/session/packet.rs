//! AP packet type codes (protocol spec §3) and the decrypted packet value passed between the
//! connection task and the session's dispatchers. Pure data; no I/O.

/// One decrypted AP packet: command byte and payload (at most 65535 bytes on the wire).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub cmd: u8,
    pub payload: Vec<u8>,
}

impl Packet {
    pub fn new(cmd: u8, payload: Vec<u8>) -> Packet {
        Packet { cmd, payload }
    }
}

/// Packet command codes. Unknown codes are logged and ignored by the session.
pub mod cmd {
    pub const SECRET_BLOCK: u8 = 0x02;
    pub const PING: u8 = 0x04;
    pub const STREAM_CHUNK: u8 = 0x08;
    pub const STREAM_CHUNK_RES: u8 = 0x09;
    pub const CHANNEL_ERROR: u8 = 0x0a;
    pub const CHANNEL_ABORT: u8 = 0x0b;
    pub const REQUEST_KEY: u8 = 0x0c;
    pub const AES_KEY: u8 = 0x0d;
    pub const AES_KEY_ERROR: u8 = 0x0e;
    pub const UNKNOWN_0X0F: u8 = 0x0f;
    pub const UNKNOWN_0X10: u8 = 0x10;
    pub const IMAGE: u8 = 0x19;
    pub const COUNTRY_CODE: u8 = 0x1b;
    pub const UNKNOWN_DATA_ALL_ZEROS: u8 = 0x1f;
    pub const PONG: u8 = 0x49;
    pub const PONG_ACK: u8 = 0x4a;
    pub const PAUSE: u8 = 0x4b;
    pub const UNKNOWN_0X4F: u8 = 0x4f;
    pub const PRODUCT_INFO: u8 = 0x50;
    pub const LEGACY_WELCOME: u8 = 0x69;
    pub const PREFERRED_LOCALE: u8 = 0x74;
    pub const LICENSE_VERSION: u8 = 0x76;
    pub const TRACK_ENDED_TIME: u8 = 0x82;
    pub const LOGIN: u8 = 0xab;
    pub const AP_WELCOME: u8 = 0xac;
    pub const AUTH_FAILURE: u8 = 0xad;
    pub const MERCURY_REQ: u8 = 0xb2;
    pub const MERCURY_SUB: u8 = 0xb3;
    pub const MERCURY_UNSUB: u8 = 0xb4;
    pub const MERCURY_EVENT: u8 = 0xb5;
    pub const UNKNOWN_0XB6: u8 = 0xb6;

    /// A name for logs.
    pub fn name(c: u8) -> &'static str {
        match c {
            SECRET_BLOCK => "SecretBlock",
            PING => "Ping",
            STREAM_CHUNK => "StreamChunk",
            STREAM_CHUNK_RES => "StreamChunkRes",
            CHANNEL_ERROR => "ChannelError",
            CHANNEL_ABORT => "ChannelAbort",
            REQUEST_KEY => "RequestKey",
            AES_KEY => "AesKey",
            AES_KEY_ERROR => "AesKeyError",
            IMAGE => "Image",
            COUNTRY_CODE => "CountryCode",
            PONG => "Pong",
            PONG_ACK => "PongAck",
            PAUSE => "Pause",
            PRODUCT_INFO => "ProductInfo",
            LEGACY_WELCOME => "LegacyWelcome",
            PREFERRED_LOCALE => "PreferredLocale",
            LICENSE_VERSION => "LicenseVersion",
            TRACK_ENDED_TIME => "TrackEndedTime",
            LOGIN => "Login",
            AP_WELCOME => "APWelcome",
            AUTH_FAILURE => "AuthFailure",
            MERCURY_REQ => "MercuryReq",
            MERCURY_SUB => "MercurySub",
            MERCURY_UNSUB => "MercuryUnsub",
            MERCURY_EVENT => "MercuryEvent",
            _ => "Unknown",
        }
    }
}
