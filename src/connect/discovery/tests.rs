//! Unit tests of the zeroconf receiver's pure parts: the form parser and base64 leniency, and
//! property tests that the parsers and the outer decoder never panic.

use super::*;

#[test]
fn form_parsing() {
    let p = parse_form("action=addUser&blob=ab%2Bc%3D&userName=a+b&x&bad=%zz%4&e=%");
    assert_eq!(p["action"], "addUser");
    assert_eq!(p["blob"], "ab+c=");
    assert_eq!(p["userName"], "a b");
    assert_eq!(p["x"], "");
    assert_eq!(p["bad"], "%zz%4");
    assert_eq!(p["e"], "%");
    assert!(parse_form("").is_empty());
    assert_eq!(parse_form("a=%C3%A9")["a"], "é");
    assert_eq!(parse_form("a=%FF")["a"], "\u{fffd}");
}

#[test]
fn base64_leniency() {
    assert_eq!(decode_b64(" YWI+Yw== "), Some(b"ab>c".to_vec()));
    assert_eq!(decode_b64("YWI Yw"), Some(b"ab>c".to_vec()));
    assert_eq!(decode_b64("!!"), None);
}

proptest::proptest! {
    #[test]
    fn form_parser_never_panics(s in ".{0,200}") {
        let _ = parse_form(&s);
    }

    #[test]
    fn outer_decoder_never_panics(blob in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120),
                                  key in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100)) {
        let keys = DhKeys::from_private(&[7; 20]);
        let _ = decrypt_outer(&keys, &blob, &key);
    }
}
