//! Tests of the lyrics model against fixtures in the shape of Spotify's color-lyrics v2.

use super::*;

const SYNCED: &str = r#"{
  "lyrics": {
    "syncType": "LINE_SYNCED",
    "lines": [
      {"startTimeMs": "0", "words": "first", "syllables": [], "endTimeMs": "0"},
      {"startTimeMs": "8000", "words": "second", "syllables": [], "endTimeMs": "0"},
      {"startTimeMs": "16500", "words": "third", "syllables": [], "endTimeMs": "0"}
    ],
    "provider": "MusixMatch", "providerLyricsId": "1", "providerDisplayName": "Musixmatch",
    "syncLyricsUri": "", "isDenseTypeface": false, "alternatives": [], "language": "en",
    "isRtlLanguage": false, "capStatus": "NONE"
  },
  "colors": {"background": -9215334, "text": -16777216, "highlightText": -1},
  "hasVocalRemoval": false
}"#;

fn text(l: Lyrics) -> (bool, Vec<Line>) {
    match l {
        Lyrics::Text { synced, lines } => (synced, lines),
        Lyrics::None => panic!("expected lyrics"),
    }
}

#[test]
fn parses_synced_lines() {
    let (synced, lines) = text(parse(SYNCED.as_bytes()).unwrap());
    assert!(synced);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2].start_ms, 16_500);
    assert_eq!(lines[1].words, "second");
}

#[test]
fn unsynced_lyrics_have_no_current_line() {
    let body = SYNCED.replace("LINE_SYNCED", "UNSYNCED");
    let (synced, lines) = text(parse(body.as_bytes()).unwrap());
    assert!(!synced);
    assert!(lines.iter().all(|l| l.start_ms == 0));
    assert_eq!(current_line(&lines, synced, 10_000), None);
}

#[test]
fn bad_input_is_a_clear_error() {
    let bad_time = SYNCED.replace("\"8000\"", "\"8s\"");
    let cases: [(&[u8], &str); 5] = [
        (b"{not json", "lyrics:"),
        (b"{}", "missing field `lyrics`"),
        (bad_time.as_bytes(), "line 1: startTimeMs \"8s\""),
        (
            br#"{"lyrics":{"syncType":"KARAOKE","lines":[]}}"#,
            "unknown syncType",
        ),
        (
            br#"{"lyrics":{"syncType":"LINE_SYNCED","lines":[{"startTimeMs":5,"words":"x"}]}}"#,
            "invalid type",
        ),
    ];
    for (body, want) in cases {
        let err = parse(body).unwrap_err().to_string();
        assert!(err.contains(want), "{err:?} should contain {want:?}");
    }
    let negative = SYNCED.replace("\"8000\"", "\"-5\"");
    assert!(parse(negative.as_bytes()).is_err());
}

#[test]
fn bounds_lines_and_size() {
    let many: Vec<String> = (0..=MAX_LINES)
        .map(|n| format!(r#"{{"startTimeMs":"{n}","words":"x"}}"#))
        .collect();
    let body = format!(
        r#"{{"lyrics":{{"syncType":"LINE_SYNCED","lines":[{}]}}}}"#,
        many.join(",")
    );
    assert!(parse(body.as_bytes())
        .unwrap_err()
        .to_string()
        .contains("lines"));
    let long = "é".repeat(MAX_LINE_CHARS * 2);
    let body = format!(
        r#"{{"lyrics":{{"syncType":"LINE_SYNCED","lines":[{{"startTimeMs":"0","words":"{long}"}}]}}}}"#
    );
    let (_, lines) = text(parse(body.as_bytes()).unwrap());
    assert_eq!(lines[0].words.chars().count(), MAX_LINE_CHARS);
    assert!(lines[0].words.ends_with('…'));
    assert!(parse(&vec![b' '; MAX_BODY + 1]).is_err());
}

#[test]
fn current_line_follows_the_position() {
    let (synced, lines) = text(parse(SYNCED.as_bytes()).unwrap());
    let at = |ms| current_line(&lines, synced, ms);
    assert_eq!(at(0), Some(0));
    assert_eq!(at(7_999), Some(0));
    assert_eq!(at(8_000), Some(1));
    assert_eq!(at(16_499), Some(1));
    assert_eq!(at(600_000), Some(2));
    let late: Vec<Line> = lines
        .iter()
        .map(|l| Line {
            start_ms: l.start_ms + 1000,
            words: l.words.clone(),
        })
        .collect();
    assert_eq!(
        current_line(&late, true, 500),
        None,
        "before the first line"
    );
    assert_eq!(current_line(&[], true, 500), None);
}

#[test]
fn unordered_lines_are_sorted() {
    let body = r#"{"lyrics":{"syncType":"LINE_SYNCED","lines":[
        {"startTimeMs":"9000","words":"b"},{"startTimeMs":"1000","words":"a"}]}}"#;
    let (_, lines) = text(parse(body.as_bytes()).unwrap());
    assert_eq!(lines[0].words, "a");
}
