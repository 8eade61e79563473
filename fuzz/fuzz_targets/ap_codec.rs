//! The access point's Shannon framing (`session::codec`): the decoder fed arbitrary bytes in
//! fuzzer-chosen chunks (a hostile or broken AP), and a round trip — packets chosen by the
//! fuzzer, encrypted by the encoder, split anywhere — that must decode to the same packets. A
//! panic or a round-trip mismatch is a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tonearm::session::codec::{Decoder, Encoder, Peek};

const KEY: [u8; 32] = [0x5a; 32];

/// Feeds `bytes` to `dec` in chunks whose sizes come from `cuts`, draining packets as it goes.
fn feed_in_chunks(dec: &mut Decoder, bytes: &[u8], cuts: &[u8]) -> Result<Vec<(u8, Vec<u8>)>, ()> {
    let mut got = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < bytes.len() {
        let step = usize::from(cuts.get(i).copied().unwrap_or(255)).max(1);
        i += 1;
        let end = (at + step).min(bytes.len());
        dec.feed(&bytes[at..end]);
        at = end;
        let _ = dec.peek();
        loop {
            match dec.next_packet() {
                Ok(Some(p)) => got.push((p.cmd, p.payload)),
                Ok(None) => break,
                Err(_) => return Err(()),
            }
        }
    }
    Ok(got)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        // Raw bytes from the wire.
        let half = rest.len() / 2;
        let mut dec = Decoder::new(&KEY);
        let _ = feed_in_chunks(&mut dec, &rest[half..], &rest[..half]);
        let _ = dec.finish();
        assert!(!matches!(dec.peek(), Peek::Valid { len, .. } if len > u16::MAX as usize));
        return;
    }
    // Round trip: [n][cuts: n bytes] then packets as [cmd][len u8][payload].
    let Some((&n, rest)) = rest.split_first() else {
        return;
    };
    let (cuts, mut spec) = rest.split_at(usize::from(n).min(rest.len()));
    let mut packets = Vec::new();
    while let [cmd, len, tail @ ..] = spec {
        let take = usize::from(*len).min(tail.len());
        packets.push((*cmd, tail[..take].to_vec()));
        spec = &tail[take..];
    }
    let mut enc = Encoder::new(&KEY);
    let mut wire = Vec::new();
    for (cmd, payload) in &packets {
        wire.extend(enc.encode(*cmd, payload).expect("small payloads encode"));
    }
    let mut dec = Decoder::new(&KEY);
    let got = feed_in_chunks(&mut dec, &wire, cuts).expect("our own frames decode");
    assert_eq!(got, packets);
    dec.finish().expect("nothing left over");
});
