//! Tests of the resume points: set/get/forget at the end, the bound, the file round trip and
//! bad files, and the keeper that follows the player's status.
use super::*;

fn id(n: u128) -> SpotifyId {
    SpotifyId(n)
}

#[test]
fn set_get_and_forget_at_the_end() {
    let mut r = ResumePoints::default();
    assert!(r.set(id(1), 7_000, 20_000));
    assert_eq!(r.get(id(1)), Some(7_000));
    assert!(!r.set(id(1), 7_000, 20_000), "no change");
    assert!(r.set(id(1), 18_500, 20_000), "fully played: forgotten");
    assert_eq!(r.get(id(1)), None);
    assert!(r.set(id(2), 5_000, 0), "unknown length: kept");
    assert!(r.set(id(2), 0, 0), "back at the start: forgotten");
    assert!(r.is_empty());
}

#[test]
fn bounded_least_recent_first() {
    let mut r = ResumePoints::default();
    for n in 0..=MAX_RESUME_POINTS as u128 {
        r.set(id(n + 1), 1_000 + n as u64, 0);
    }
    assert_eq!(r.len(), MAX_RESUME_POINTS);
    assert_eq!(r.get(id(1)), None, "the oldest went");
    assert_eq!(r.get(id(2)), Some(1_001));
    // Saving an old one again makes it the newest.
    r.set(id(2), 9_999, 0);
    r.set(id(10_000), 1, 0);
    assert_eq!(r.get(id(2)), Some(9_999));
    assert_eq!(r.get(id(3)), None);
}

#[test]
fn round_trip_and_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = resume_file(&dir.path().join("state"));
    assert!(ResumePoints::load(&path).is_empty(), "missing: empty");
    let mut r = ResumePoints::default();
    r.set(id(42), 7_000, 30_000);
    r.save(&path).unwrap();
    assert_eq!(ResumePoints::load(&path), r);
    std::fs::write(&path, b"{not json").unwrap();
    assert!(ResumePoints::load(&path).is_empty(), "malformed: empty");
    std::fs::write(&path, br#"{"version":9,"episodes":{}}"#).unwrap();
    assert!(
        ResumePoints::load(&path).is_empty(),
        "unknown version: empty"
    );
    // Both unusable files were moved aside, not left for the next save to overwrite.
    let mut aside: Vec<Vec<u8>> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("resume_points.json.corrupt-")
        })
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    aside.sort();
    assert!(!path.exists(), "the unusable file is no longer in place");
    assert_eq!(
        aside,
        vec![
            br#"{"version":9,"episodes":{}}"#.to_vec(),
            b"{not json".to_vec()
        ],
        "both unusable files kept aside"
    );
}

fn status(id: SpotifyId, position_ms: u64, at: std::time::Instant) -> crate::player::PlayerStatus {
    crate::player::PlayerStatus {
        state: crate::player::PlayState::Paused,
        track: Some(crate::player::loader::TrackInfo {
            id,
            played_id: id,
            name: "Ep".into(),
            artists: vec![],
            album: String::new(),
            duration_ms: 30_000,
        }),
        position_ms,
        at,
        volume: 0,
        buffering: false,
        repeat: Default::default(),
        shuffle: false,
    }
}

#[test]
fn keeper_records_episodes_only_and_writes_at_most_once_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let path = resume_file(dir.path());
    let mut k = ResumeKeeper::open(Some(path.clone()));
    k.note_episodes([id(1)]);
    let t0 = std::time::Instant::now();
    k.observe(&status(id(2), 5_000, t0), t0);
    assert!(!path.exists(), "a track records nothing");
    k.observe(&status(id(1), 5_000, t0), t0);
    assert_eq!(ResumePoints::load(&path).get(id(1)), Some(5_000));
    let t1 = t0 + std::time::Duration::from_millis(300);
    k.observe(&status(id(1), 7_000, t1), t1);
    assert_eq!(
        ResumePoints::load(&path).get(id(1)),
        Some(5_000),
        "not due yet"
    );
    k.finish();
    assert_eq!(ResumePoints::load(&path).get(id(1)), Some(7_000));
    // A new keeper on the same file (a restart) knows the point.
    let again = ResumeKeeper::open(Some(path.clone()));
    assert_eq!(again.get(id(1)), Some(7_000));
    k.ended(id(1));
    k.finish();
    assert_eq!(ResumePoints::load(&path).get(id(1)), None);
}
