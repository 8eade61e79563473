//! Tests of the saved queue and playback files, the save schedule and the device id (temporary
//! directories only).

use super::*;

#[test]
fn queue_round_trips_and_corruption_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = queue_file(dir.path());
    assert!(load_queue(&path).expect("missing is fine").is_none());
    let ids = [SpotifyId(1), SpotifyId(0x1234_5678_9abc)];
    let q = SavedQueue::new(&ids, Some(1), 42_000, 30_000);
    save_queue(&path, &q).expect("save");
    let back = load_queue(&path).expect("load").expect("present");
    assert_eq!(back, q);
    assert_eq!(back.items.to_vec(), ids.to_vec());

    std::fs::write(&path, b"{\"version\":1,\"items\":[\"x").expect("write");
    assert!(matches!(
        load_queue(&path),
        Err(PersistError::Corrupt { .. })
    ));
    // Moved aside before the next save could overwrite it.
    assert!(!path.exists());
    let kept = crate::paths::quarantined_copies(&path);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        std::fs::read(&kept[0]).expect("kept"),
        b"{\"version\":1,\"items\":[\"x"
    );
    std::fs::write(
        &path,
        br#"{"version":1,"items":["not an id!"],"current":0,"position_ms":0,"volume":1}"#,
    )
    .expect("write");
    assert!(load_queue(&path).is_err());
    std::fs::write(
        &path,
        format!(
            r#"{{"version":1,"items":["{}"],"current":5,"position_ms":0,"volume":1}}"#,
            ids[0].to_base62()
        ),
    )
    .expect("write");
    assert!(load_queue(&path).is_err(), "current past the end");
    std::fs::write(&path, br#"{"version":3,"items":[]}"#).expect("write");
    assert!(load_queue(&path).is_err(), "an unknown layout");
}

#[test]
fn the_old_single_file_layout_is_still_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = queue_file(dir.path());
    let ids = [SpotifyId(7), SpotifyId(8), SpotifyId(9)];
    std::fs::write(
        &path,
        format!(
            r#"{{"version":1,"items":["{}","{}","{}"],"current":2,"position_ms":61500,"volume":1234}}"#,
            ids[0].to_base62(),
            ids[1].to_base62(),
            ids[2].to_base62()
        ),
    )
    .expect("write");
    let q = load_queue(&path).expect("load").expect("present");
    assert_eq!(q.items.to_vec(), ids.to_vec());
    assert_eq!(
        (q.current, q.position_ms, q.volume),
        (Some(2), 61_500, 1234)
    );
    // The next save writes the new layout: both files, read back the same.
    save_queue(&path, &q).expect("save");
    assert!(playback_file(&path).exists());
    let text = std::fs::read_to_string(&path).expect("queue.json");
    assert!(!text.contains("position_ms"), "{text}");
    assert_eq!(load_queue(&path).expect("load").expect("present"), q);
}

#[test]
fn a_playback_file_that_points_at_another_queue_finds_its_track_by_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = queue_file(dir.path());
    let ids: Vec<SpotifyId> = (1..=5).map(SpotifyId).collect();
    save_queue(&path, &SavedQueue::new(&ids, Some(3), 42_000, 500)).expect("save");
    // Killed between the two writes: the new queue (track 4 moved to the front) is on disk,
    // the playback file still names index 3.
    let moved = [ids[3], ids[0], ids[1], ids[2], ids[4]];
    let mut written = None;
    write_snapshot(
        &path,
        &mut written,
        &SavedQueue::new(&moved, Some(0), 42_000, 500),
    )
    .expect("write");
    std::fs::write(
        playback_file(&path),
        serde_json::to_vec(&SavedQueue::new(&ids, Some(3), 42_000, 500).playback()).expect("json"),
    )
    .expect("old playback file");
    let q = load_queue(&path).expect("load").expect("present");
    assert_eq!((q.current, q.position_ms), (Some(0), 42_000));
    // A track no longer queued: the index stays, the position starts over.
    let other: Vec<SpotifyId> = (10..=14).map(SpotifyId).collect();
    write_snapshot(
        &path,
        &mut written,
        &SavedQueue::new(&other, Some(0), 0, 500),
    )
    .expect("write");
    std::fs::write(
        playback_file(&path),
        serde_json::to_vec(&SavedQueue::new(&ids, Some(3), 42_000, 500).playback()).expect("json"),
    )
    .expect("old playback file");
    let q = load_queue(&path).expect("load").expect("present");
    assert_eq!((q.current, q.position_ms), (Some(3), 0));
    // A corrupt playback file costs the position only (and is moved aside).
    std::fs::write(playback_file(&path), b"{").expect("write");
    let q = load_queue(&path).expect("load").expect("present");
    assert_eq!((q.current, q.position_ms), (Some(0), 0));
    assert_eq!(q.items.to_vec(), other);
    assert!(!playback_file(&path).exists());
}

/// The inode and length of `path` (a rename-into-place write makes a new inode).
fn file_id(path: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(path).expect("metadata");
    (m.ino(), m.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_while_playing_rewrites_only_the_small_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = queue_file(dir.path());
    let ids: Vec<SpotifyId> = (1..=10_000u128).map(|n| SpotifyId(n * 7919)).collect();
    let mut persister = Persister::spawn(path.clone());
    let playback_is = |position_ms: u64| {
        let p = playback_file(&path);
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let on_disk = std::fs::read(&p)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<SavedPlayback>(&b).ok());
                if on_disk.is_some_and(|s| s.position_ms == position_ms) {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "playback.json never showed {position_ms}"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    persister.save(SavedQueue::new(&ids, Some(5000), 1_000, 100));
    playback_is(1_000).await;
    let queue = file_id(&path);
    assert!(queue.1 > 200_000, "10k ids: {queue:?}");
    let small = file_id(&playback_file(&path));
    assert!(small.1 < 200, "{small:?}");
    // Playing on: a tick a second for a few seconds; the queue file is never rewritten.
    for s in 2..=4u64 {
        persister.save(SavedQueue::new(&ids, Some(5000), s * 1_000, 100));
        playback_is(s * 1_000).await;
        // (playback_is saw the small file's new position; its inode number proves nothing —
        // a file system may hand the number freed by the rename to the next temporary file.
        // The queue file's may not change: it is never freed while the queue is unchanged.)
        assert_eq!(file_id(&path), queue, "tick {s} rewrote queue.json");
    }
    // A track change is the small file too; a queue change rewrites the queue.
    persister.save(SavedQueue::new(&ids, Some(5001), 0, 100));
    playback_is(0).await;
    assert_eq!(file_id(&path), queue);
    let mut longer = ids.clone();
    longer.push(SpotifyId(1));
    persister.save(SavedQueue::new(&longer, Some(5001), 10, 100));
    playback_is(10).await;
    assert_ne!(file_id(&path).0, queue.0, "the queue changed: rewritten");
    persister.finish().await;
    let back = load_queue(&path).expect("load").expect("present");
    assert_eq!(back, SavedQueue::new(&longer, Some(5001), 10, 100));
}

fn status(state: PlayState, position_ms: u64, volume: u16, at: Instant) -> PlayerStatus {
    PlayerStatus {
        state,
        track: None,
        position_ms,
        at,
        volume,
        buffering: false,
        repeat: crate::player::RepeatMode::Off,
        shuffle: false,
    }
}

#[test]
fn saves_on_pause_seek_volume_and_every_second_while_playing() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let playing = status(PlayState::Playing, 10_000, 100, t0);
    // The first status is only the baseline.
    assert!(!save_due(None, &playing, t0));
    let last = SavedStatus::of(&playing, t0);
    // Playing on: nothing new until a second has passed, then the position.
    let later = status(PlayState::Playing, 10_250, 100, t0 + ms(250));
    assert!(!save_due(Some(&last), &later, t0 + ms(250)));
    let later = status(PlayState::Playing, 11_000, 100, t0 + ms(1000));
    assert!(save_due(Some(&last), &later, t0 + ms(1000)));
    // A once-a-second wake-up a few milliseconds early saves too.
    let early = status(PlayState::Playing, 10_995, 100, t0 + ms(995));
    assert!(save_due(Some(&last), &early, t0 + ms(995)));
    // Paused: saved at once; then nothing while it stays paused …
    let paused = status(PlayState::Paused, 10_300, 100, t0 + ms(300));
    assert!(save_due(Some(&last), &paused, t0 + ms(300)));
    let last = SavedStatus::of(&paused, t0 + ms(300));
    assert!(!save_due(Some(&last), &paused, t0 + ms(60_000)));
    // … except a seek while paused (the position lost before) and a volume change.
    let seeked = status(PlayState::Paused, 95_000, 100, t0 + ms(400));
    assert!(save_due(Some(&last), &seeked, t0 + ms(400)));
    let louder = status(PlayState::Paused, 10_300, 200, t0 + ms(400));
    assert!(save_due(Some(&last), &louder, t0 + ms(400)));
    // A seek while playing is saved at once too.
    let last = SavedStatus::of(&playing, t0);
    let jumped = status(PlayState::Playing, 60_000, 100, t0 + ms(200));
    assert!(save_due(Some(&last), &jumped, t0 + ms(200)));
}

#[test]
fn device_id_is_stable_and_replaced_when_malformed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = device_id(dir.path());
    assert_eq!(a.len(), 40);
    assert_eq!(device_id(dir.path()), a);
    std::fs::write(dir.path().join("device_id"), "nope").expect("write");
    let b = device_id(dir.path());
    assert_eq!(b.len(), 40);
    assert_ne!(a, b);
}

#[test]
fn a_playback_file_whose_track_is_not_an_id_keeps_the_index_from_the_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = queue_file(dir.path());
    let ids = [SpotifyId(7), SpotifyId(8), SpotifyId(9)];
    save_queue(&path, &SavedQueue::new(&ids, Some(2), 61_500, 1234)).expect("save");
    std::fs::write(
        playback_file(&path),
        br#"{"version":1,"current":1,"track":"not an id!","position_ms":5000,"volume":7}"#,
    )
    .expect("write");
    let q = load_queue(&path).expect("load").expect("present");
    assert_eq!(q.items.to_vec(), ids.to_vec());
    assert_eq!((q.current, q.position_ms, q.volume), (Some(1), 0, 7));
}
