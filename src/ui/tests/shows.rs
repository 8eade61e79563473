//! Render tests of a show page: the show's title and "Podcast · publisher · n episodes"
//! subtitle, its episodes with their lengths as list rows (hit map rows in order), at the
//! usual sizes; a started episode shows the time left.

use super::*;

fn episode(n: u128, name: &str, ms: u64) -> TrackInfo {
    TrackInfo {
        uri: format!("spotify:episode:{}", id(n).to_base62()),
        name: name.to_string(),
        artists: vec!["Pod Co".into()],
        album: "Talk Show".into(),
        album_uri: String::new(),
        duration_ms: ms,
        explicit: false,
    }
}

#[test]
fn show_page_lists_its_episodes() {
    let mut s = state();
    s.library.section = Some(LibrarySection::Podcasts);
    s.library.pages.push(PageView {
        kind: PageKind::Show,
        uri: "spotify:show:s1".into(),
        request: 4,
        loading: false,
        error: None,
        data: Some(PageData {
            kind: PageKind::Show,
            uri: "spotify:show:s1".into(),
            title: "Talk Show".into(),
            subtitle: "Podcast · Pod Co · 2 episodes".into(),
            items: vec![
                Item::Episode(episode(7, "Pilot Episode", 1_805_000)),
                Item::Episode(episode(8, "Second Chat", 62_000)),
            ],
        }),
        cursor: ListCursor::default(),
    });
    for (w, h) in SIZES {
        let (buf, hit) = render(&s, w, h);
        assert_has(&buf, "Talk Show");
        assert_has(&buf, "Pilot Episode");
        assert_has(&buf, "Second Chat");
        assert_has(&buf, "1:02");
        let list = hit
            .lists
            .iter()
            .find(|l| l.pane == Pane::Library)
            .expect("list");
        assert_eq!(&list.rows[..2], &[Some(0), Some(1)]);
    }
    let (buf, _) = render(&s, 120, 40);
    assert_has(&buf, "Podcast · Pod Co · 2 episodes");
    assert_has(&buf, "30:05");

    // Left part-way: the time left instead of the length; the other episode unchanged.
    s.resume_points.insert(id(8), 20_000);
    let (buf, _) = render(&s, 120, 40);
    assert_has(&buf, "0:42 left");
    assert_has(&buf, "30:05");
    assert!(find(&buf, "1:02").is_none(), "the length gave way");
}
