//! The two account facts the AP pushes after login (protocol spec §4.6): the country code
//! (packet 0x1b) and the product info XML (packet 0x50) flattened into an `element → text` map,
//! plus the Premium check on that map.
//!
//! Called by the connection task when those packets arrive and by `Session::connect`. Pure
//! parsing with typed errors; no I/O, no dependency on the rest of the session.

use std::collections::HashMap;

use quick_xml::events::Event;
use quick_xml::Reader;

/// Why a product-info packet was ignored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProductInfoError {
    #[error("product info is not UTF-8")]
    NotUtf8,
    #[error("product info is not well-formed XML: {0}")]
    Xml(String),
}

/// Parses the ProductInfo XML into a flat map of element name → text (the innermost element
/// that holds the text; later duplicates win, as in librespot).
pub fn parse_product_info(payload: &[u8]) -> Result<HashMap<String, String>, ProductInfoError> {
    let text = std::str::from_utf8(payload).map_err(|_| ProductInfoError::NotUtf8)?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<String> = Vec::new();
    let mut map = HashMap::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                stack.push(String::from_utf8_lossy(e.name().as_ref()).into_owned());
            }
            Ok(Event::End(_)) => {
                stack.pop();
            }
            Ok(Event::Text(t)) => {
                let value = t
                    .unescape()
                    .map_err(|e| ProductInfoError::Xml(e.to_string()))?;
                if let Some(name) = stack.last() {
                    map.insert(name.clone(), value.into_owned());
                }
            }
            Ok(Event::CData(t)) => {
                if let Some(name) = stack.last() {
                    map.insert(name.clone(), String::from_utf8_lossy(&t).into_owned());
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(ProductInfoError::Xml(e.to_string())),
        }
    }
    if let Some(open) = stack.last() {
        return Err(ProductInfoError::Xml(format!(
            "element <{open}> is not closed"
        )));
    }
    Ok(map)
}

/// The country code from packet 0x1b: exactly two ASCII letters (returned upper-case), else
/// `None`.
pub fn parse_country(payload: &[u8]) -> Option<String> {
    match payload {
        [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => Some(
            [
                a.to_ascii_uppercase() as char,
                b.to_ascii_uppercase() as char,
            ]
            .iter()
            .collect(),
        ),
        _ => None,
    }
}

/// `Some(type)` when the product info names an account type other than `premium`.
pub fn non_premium_type(product: &HashMap<String, String>) -> Option<&str> {
    product
        .get("type")
        .map(String::as_str)
        .filter(|t| !t.eq_ignore_ascii_case("premium"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "<products><product><type>premium</type><catalogue>premium</catalogue>\
        <autoplay>1</autoplay><filter-explicit-content>0</filter-explicit-content>\
        <image-url>https://i.scdn.co/image/{file_id}</image-url>\
        <head-files-url>https://heads-fa.scdn.co/head/{file_id}</head-files-url></product></products>";

    #[test]
    fn flat_map_from_product_info() {
        let m = parse_product_info(SAMPLE.as_bytes()).expect("parse");
        assert_eq!(m.get("type").map(String::as_str), Some("premium"));
        assert_eq!(m.get("catalogue").map(String::as_str), Some("premium"));
        assert_eq!(m.get("autoplay").map(String::as_str), Some("1"));
        assert_eq!(
            m.get("filter-explicit-content").map(String::as_str),
            Some("0")
        );
        assert_eq!(
            m.get("image-url").map(String::as_str),
            Some("https://i.scdn.co/image/{file_id}")
        );
        assert!(!m.contains_key("product"));
        assert_eq!(non_premium_type(&m), None);
    }

    #[test]
    fn whitespace_entities_and_non_premium() {
        let xml = "<?xml version=\"1.0\"?>\n<products>\n  <product>\n    <type>free</type>\n    \
                   <name>a &amp; b</name>\n  </product>\n</products>\n";
        let m = parse_product_info(xml.as_bytes()).expect("parse");
        assert_eq!(m.get("type").map(String::as_str), Some("free"));
        assert_eq!(m.get("name").map(String::as_str), Some("a & b"));
        assert_eq!(non_premium_type(&m), Some("free"));
        // No type at all: no verdict.
        assert_eq!(non_premium_type(&HashMap::new()), None);
    }

    #[test]
    fn malformed_xml_is_an_error() {
        for bad in [
            &b"<products><product><type>premium</products>"[..],
            b"<products><type>premium</type>",
            b"<a></b>",
            b"\xff\xfe",
        ] {
            assert!(parse_product_info(bad).is_err(), "{:?}", bad);
        }
        assert_eq!(parse_product_info(b"").expect("empty"), HashMap::new());
    }

    #[test]
    fn country_codes() {
        assert_eq!(parse_country(b"SE"), Some("SE".into()));
        assert_eq!(parse_country(b"de"), Some("DE".into()));
        assert_eq!(parse_country(b"S"), None);
        assert_eq!(parse_country(b"SEE"), None);
        assert_eq!(parse_country(b"S1"), None);
        assert_eq!(parse_country(&[0xc3, 0xa9]), None);
        assert_eq!(parse_country(b""), None);
    }

    proptest::proptest! {
        #[test]
        fn product_info_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = parse_product_info(&bytes);
            let _ = parse_country(&bytes);
        }
    }
}
