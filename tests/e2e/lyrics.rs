//! Lyrics end to end: tonearm's lyrics client (`api::lyrics::fetch` over the real spclient
//! with its tokens) against the simulator's color-lyrics endpoint — synced lines for a demo
//! track, `Lyrics::None` for the instrumental one; and the TUI's overlay in `tonearm --demo`
//! through tmux (open with `y`, the sung line marked, `enter` on a later line seeks there).

use std::time::Duration;

use tonearm::api::lyrics::{self, Lyrics};
use tonearm::id::SpotifyUri;
use tonearm_testkit::process::Home;
use tonearm_testkit::require_tool;

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

#[test]
fn the_tui_shows_the_playing_tracks_lyrics_and_seeks_to_a_line() {
    if !require_tool(
        "tmux",
        "the lyrics TUI test types into a tmux pane (scripts/setup.sh test installs it)",
    ) {
        return;
    }
    const BIN: &str = env!("CARGO_BIN_EXE_tonearm");
    const WAIT: Duration = Duration::from_secs(90);
    let home = Home::new(BIN);
    let tmux = home.tmux((120, 40), "PS1='$ ' sh");
    let wait_for = |what: &str, f: &dyn Fn(&str) -> bool| {
        tmux.wait_for(what, WAIT, || format!("log:\n{}", home.log()), f)
    };
    wait_for("the prompt", &|s| s.trim_end() == "$");
    tmux.type_text(&format!("TERM=xterm-256color {BIN} --demo --sink null"));
    tmux.keys(&["Enter"]);
    wait_for("the demo library", &|s| s.contains("Demo Mix"));
    tmux.keys(&["2"]);
    tmux.type_text("Middle C Sunrise");
    wait_for("search results", &|s| {
        s.matches("Middle C Sunrise").count() >= 2
    });
    tmux.keys(&["Enter"]);
    tmux.keys(&["Enter"]);
    wait_for("the now-playing bar", &|s| {
        s.lines()
            .rev()
            .take(6)
            .any(|l| l.contains("Middle C Sunrise"))
    });
    // Pause so the sung line stays put, then open the overlay.
    tmux.keys(&["Space"]);
    tmux.keys(&["y"]);
    wait_for("the lyrics", &|s| {
        s.contains("Lyrics · Middle C Sunrise") && s.contains("▶ Middle C Sunrise ")
    });
    // Wherever the pause left the sung line: the first line, then seek there.
    tmux.keys(&["g", "g", "Enter"]);
    wait_for("the seek to line 0", &|s| {
        s.contains("▶ Middle C Sunrise 0: the")
    });
    // Choose line 3 and seek there: it becomes the sung line.
    tmux.keys(&["Down", "Down", "Down", "Enter"]);
    wait_for("the seek to line 3", &|s| {
        s.contains("▶ Middle C Sunrise 3: the")
    });
    // Esc closes the overlay; C-c quits.
    tmux.keys(&["Escape"]);
    wait_for("the overlay closed", &|s| !s.contains("Lyrics · "));
    tmux.keys(&["C-c"]);
    let log = home.log();
    assert!(!log.contains("panicked"), "log:\n{log}");
}
