//! Tests of the audio module as a whole (single files keep theirs beside them): `pipeline`
//! runs fetch → decrypt → header → decode against the fake CDN and compares with the plain
//! decode, `proptests` feeds arbitrary input to the parsers, the decoder and the DSP, and
//! `fake_cdn` is the ranged, fault-injecting CDN they and the fetch tests share.

pub(crate) mod fake_cdn;
mod pipeline;
mod proptests;
