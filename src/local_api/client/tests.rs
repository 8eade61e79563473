//! The client's response parser (plain and chunked) and its "nothing is running" case.

use super::*;

#[test]
fn responses_parse_plain_and_chunked() {
    let r = parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{\"ok\":true}")
        .expect("plain");
    assert_eq!((r.code, r.answer.ok), (200, true));
    let r = parse_response(
        b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"ok\"\r\n7\r\n:false}\r\n0\r\n\r\n",
    )
    .expect("chunked");
    assert_eq!((r.code, r.answer.ok), (400, false));
    for bad in [
        &b""[..],
        b"HTTP/1.1 200 OK\r\n",
        b"garbage\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\n\r\nnot json",
    ] {
        assert!(parse_response(bad).is_err());
    }
}

#[test]
fn a_missing_socket_means_nothing_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = Target::Unix(dir.path().join("none.sock"));
    assert!(matches!(
        t.command(&Request::Status),
        Err(ClientError::NotRunning(_))
    ));
}
