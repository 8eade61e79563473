//! `make bench`: the TUI's fuzzy `/` filter over a 100k-track Liked Songs list, per keystroke
//! (product budget, product.md §3: ≤ 16 ms).
//!
//! Drives the real path: a `State` holding a 100k-track library, `/` opens the filter (the row
//! texts are built once — reported separately), then each keystroke of "morni" goes through
//! `update(Msg::Text(Char))`, which re-scores only the previous matches when the query grows.
//! Ctrl-U clears between rounds. Prints median and p90 per keystroke, and the same for a
//! from-scratch pass (no incremental narrowing) for scale.
//!
//! A plain bench binary (no criterion) to keep the build lean.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use tonearm::api::library::{Entry, Library, TrackInfo};
use tonearm::app::action::Action;
use tonearm::app::filter::Matcher;
use tonearm::app::msg::{Msg, TextInput};
use tonearm::app::state::{LibrarySection, Screen, State};
use tonearm::app::update::update;
use tonearm_testkit::{ms, summary};

const ROWS: usize = 100_000;
const ROUNDS: usize = 15;
const QUERY: &str = "morni";

const WORDS: &[&str] = &[
    "morning", "more", "mortal", "moon", "river", "night", "love", "fire", "dream", "heart",
    "summer", "rain", "road", "light", "dark", "city", "blue", "gold", "shadow", "ocean", "storm",
    "dance", "echo", "memory", "minor", "north", "silver", "wild", "young", "glory", "normal",
    "random", "monitor", "harmony", "mirror", "remind",
];

/// A deterministic pseudo-random word stream (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 as usize
    }
    fn words(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| {
                let w = WORDS[self.next() % WORDS.len()];
                let mut c = w.chars();
                match c.next() {
                    Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                    None => String::new(),
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn library() -> Library {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let tracks: Vec<TrackInfo> = (0..ROWS)
        .map(|i| {
            let n = 1 + rng.next() % 4;
            TrackInfo {
                uri: format!("spotify:track:{:022}", i),
                name: rng.words(n),
                artists: vec![rng.words(2)],
                album: {
                    let k = 1 + rng.next() % 3;
                    rng.words(k)
                },
                album_uri: String::new(),
                duration_ms: 200_000,
                explicit: false,
            }
        })
        .collect();
    Library {
        liked_index: Default::default(),
        id_index: Default::default(),
        version: 1,
        username: "bench".into(),
        fetched_at: 0,
        saved_tracks: (0..ROWS as u32)
            .map(|t| Entry {
                track: t,
                added_at: String::new(),
            })
            .collect(),
        tracks,
        ..Library::default()
    }
}

fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    let s = summary(&mut v);
    (ms(s.median), ms(s.p90))
}

fn main() {
    let lib = Arc::new(library());
    let mut state = State::new(
        "bench".into(),
        "bench".into(),
        "default".into(),
        vec!["default".into()],
        Screen::Main,
    );
    update(&mut state, Msg::Library(Ok(lib)));
    state.library.section = Some(LibrarySection::LikedSongs);

    let t = Instant::now();
    update(&mut state, Msg::Action(Action::OpenFilter));
    let open = t.elapsed();
    let haystack = state.filter.as_ref().unwrap().haystack.clone();

    let mut per_key: Vec<Vec<Duration>> = vec![Vec::new(); QUERY.len()];
    let mut matches = vec![0usize; QUERY.len()];
    for _ in 0..ROUNDS {
        for (i, c) in QUERY.chars().enumerate() {
            let t = Instant::now();
            let out = update(&mut state, Msg::Text(TextInput::Char(c)));
            per_key[i].push(t.elapsed());
            assert!(out.redraw);
            matches[i] = state.filter.as_ref().unwrap().matches.len();
        }
        update(&mut state, Msg::Text(TextInput::Clear));
    }

    println!("tui_filter: {ROWS} track rows (Liked Songs), typed {QUERY:?}, {ROUNDS} rounds");
    println!(
        "  open the filter (build row texts once): {:.1} ms",
        ms(open)
    );
    println!("  per keystroke through update (incremental), budget 16 ms:");
    for (i, d) in per_key.into_iter().enumerate() {
        let (med, p90) = stats(d);
        println!(
            "    {:<8} {:>7} matches  median {:>6.2} ms  p90 {:>6.2} ms",
            format!("{:?}", &QUERY[..=i]),
            matches[i],
            med,
            p90
        );
    }

    // For scale: every keystroke as a from-scratch pass over all rows.
    let m = Matcher::new();
    println!("  from scratch over all rows (no narrowing), for scale:");
    for i in 0..QUERY.len() {
        let q = &QUERY[..=i];
        let times: Vec<Duration> = (0..5)
            .map(|_| {
                let t = Instant::now();
                let r = m.filter(&haystack, q);
                std::hint::black_box(r.len());
                t.elapsed()
            })
            .collect();
        let (med, p90) = stats(times);
        println!(
            "    {:<8} median {:>6.2} ms  p90 {:>6.2} ms",
            format!("{q:?}"),
            med,
            p90
        );
    }
}
