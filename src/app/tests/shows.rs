//! Tests of a show page in `update`: the Podcasts section opens a show (a `LoadPage` of kind
//! `Show`), its answer lists the episodes, `enter` plays the page's episodes from the chosen
//! one, starting at its resume point when one is remembered, and from the top otherwise; a
//! phone's load of an episode from the top resumes it too.

use super::*;

fn episode(n: u32, name: &str) -> TrackInfo {
    TrackInfo {
        uri: uri("episode", n),
        name: name.into(),
        artists: vec!["NYT".into()],
        album: "The Daily".into(),
        album_uri: String::new(),
        duration_ms: 1_800_000,
        explicit: false,
    }
}

fn episode_id(n: u32) -> SpotifyId {
    SpotifyUri::parse(&uri("episode", n)).unwrap().id
}

fn show_page(uri_: String) -> PageData {
    PageData {
        kind: PageKind::Show,
        uri: uri_,
        title: "The Daily".into(),
        subtitle: "Podcast · NYT · 3 episodes".into(),
        items: vec![
            Item::Episode(episode(1, "Monday")),
            Item::Episode(episode(2, "Tuesday")),
            Item::Episode(episode(3, "Wednesday")),
        ],
    }
}

/// Opens the library's show and answers its page.
fn open_show(s: &mut State) {
    for _ in 0..4 {
        act(s, Action::NextSection);
    }
    assert_eq!(s.library.section, Some(LibrarySection::Podcasts));
    let o = act(s, Action::Select);
    let Some(Effect::LoadPage { id, kind, uri: u }) = o.effects.first().cloned() else {
        panic!("no LoadPage: {:?}", o.effects)
    };
    assert_eq!(kind, PageKind::Show);
    assert_eq!(u, uri("show", 1));
    let o = update(
        s,
        Msg::Page {
            id,
            result: Ok(show_page(u)),
        },
    );
    assert!(o.redraw);
    let page = s.library.pages.last().unwrap();
    assert!(!page.loading);
    assert_eq!(page.data.as_ref().unwrap().items.len(), 3);
}

#[test]
fn enter_on_an_episode_plays_the_show_from_its_resume_point() {
    let mut s = demo_state();
    s.resume_points.insert(episode_id(2), 7_000);
    open_show(&mut s);
    act(&mut s, Action::Down);
    let o = act(&mut s, Action::Select);
    assert_eq!(
        player(&o.effects),
        vec![PlayerOp::Load {
            ids: (1..=3).map(episode_id).collect(),
            index: 1,
            position_ms: 7_000,
            play: true
        }]
    );
    // Names are remembered for the queue and the now-playing bar.
    assert_eq!(s.tracks[&episode_id(2)].name, "Tuesday");
}

#[test]
fn an_episode_without_a_resume_point_starts_from_the_top() {
    let mut s = demo_state();
    s.resume_points.insert(episode_id(2), 7_000);
    open_show(&mut s);
    let o = act(&mut s, Action::Select);
    assert_eq!(
        player(&o.effects),
        vec![PlayerOp::Load {
            ids: (1..=3).map(episode_id).collect(),
            index: 0,
            position_ms: 0,
            play: true
        }]
    );
}

#[test]
fn a_track_never_takes_an_episodes_resume_point() {
    // Same 16 bytes as episode 2, but a track row: no resume.
    let mut s = demo_state();
    s.resume_points.insert(track_id(3), 7_000);
    act(&mut s, Action::NextSection); // Liked Songs
    act(&mut s, Action::Down);
    act(&mut s, Action::Down);
    let o = act(&mut s, Action::Select);
    let ops = player(&o.effects);
    assert!(
        matches!(
            ops.as_slice(),
            [PlayerOp::Load {
                position_ms: 0,
                index: 2,
                ..
            }]
        ),
        "{ops:?}"
    );
}

#[test]
fn a_phone_starting_an_episode_from_the_top_resumes_it() {
    let mut s = demo_state();
    s.resume_points.insert(episode_id(2), 7_000);
    let load = |position_ms| {
        Msg::RemoteCommand(RemoteCommand::Load {
            context_uri: uri("show", 1),
            ids: (1..=3).map(episode_id).collect(),
            index: 1,
            position_ms,
            play: true,
            shuffle: None,
            repeat_context: None,
            repeat_track: None,
        })
    };
    let starts = |o: Outcome| {
        player(&o.effects)
            .into_iter()
            .find_map(|op| match op {
                PlayerOp::Load { position_ms, .. } => Some(position_ms),
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(starts(update(&mut s, load(0))), 7_000);
    // A position the phone asks for is kept.
    assert_eq!(starts(update(&mut s, load(3_000))), 3_000);
    // An episode without a point starts at the top.
    s.resume_points.clear();
    assert_eq!(starts(update(&mut s, load(0))), 0);
}
