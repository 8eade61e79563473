//! Lyrics end to end: tonearm's lyrics client (`api::lyrics::fetch` over the real spclient
//! with its tokens) against the simulator's color-lyrics endpoint — synced lines for a demo
//! track, `Lyrics::None` for the instrumental one.

use tonearm::api::lyrics::{self, Lyrics};
use tonearm::id::SpotifyUri;

use crate::api::services;
use crate::common::{sim, within};

#[tokio::test]
async fn fetches_synced_lyrics_and_none_for_an_instrumental() {
    let s = sim().await;
    let (_session, sp) = services(&s).await;
    let c = s.catalog();
    let with = c.demo_tracks[0];
    let id = SpotifyUri::parse(&c.track_uri(with)).expect("uri").id;
    let got = within(20, lyrics::fetch(&sp, id)).await.expect("lyrics");
    let Lyrics::Text { synced, lines } = got else {
        panic!("the demo track has lyrics: {got:?}");
    };
    assert!(synced);
    assert!(lines.len() >= 2);
    assert_eq!(lines[0].start_ms, 0);
    assert!(lines.windows(2).all(|w| w[0].start_ms < w[1].start_ms));
    assert!(lines.last().expect("lines").start_ms < c.tracks[with].duration_ms);
    assert!(lines[0].words.starts_with(&c.tracks[with].name));
    // The position → line lookup on what the server sent.
    let second = lines[1].start_ms;
    assert_eq!(lyrics::current_line(&lines, true, second + 1), Some(1));

    let a440 = c
        .demo_tracks
        .iter()
        .copied()
        .find(|&i| c.tracks[i].name == "A440")
        .expect("the instrumental demo track");
    let id = SpotifyUri::parse(&c.track_uri(a440)).expect("uri").id;
    let got = within(20, lyrics::fetch(&sp, id)).await.expect("an answer");
    assert_eq!(got, Lyrics::None);
}
