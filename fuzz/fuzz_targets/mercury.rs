//! Packet payloads from the access point: Mercury (`session::mercury::parse_mercury_packet`:
//! declared lengths and part counts against the bytes present; a parsed packet must re-encode
//! within the limits it was read from), and the two account packets pushed after login — the
//! product-info XML (`session::product::parse_product_info`) and the country code. A panic is a
//! crash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tonearm::session::mercury::{encode_mercury_packet, parse_mercury_packet};
use tonearm::session::product::{parse_country, parse_product_info};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = parse_mercury_packet(data) {
        assert!(p.seq.len() <= u16::MAX as usize);
        assert!(p.parts.iter().all(|part| part.len() <= data.len()));
        let _ = encode_mercury_packet(&p.seq, p.flags, &p.parts);
    }
    if let Ok(map) = parse_product_info(data) {
        assert!(map.len() <= data.len());
    }
    if let Some(c) = parse_country(data) {
        assert_eq!(c.len(), 2);
    }
});
