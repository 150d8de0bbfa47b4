//! Append, read, reopen and recover through the public API.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use ferrolog_storage::io::{Fault, MemFileSystem};
use ferrolog_storage::{Durability, LogConfig, StorageError, Store, StoreOptions};

#[test]
fn append_assigns_offsets_and_read_returns_whole_batches() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let p = store
        .create_partition(id("t", 0), config(Durability::Never))
        .unwrap();
    let a = p.append(&batch("a", 3, 100)).unwrap();
    assert_eq!((a.base_offset, a.last_offset, a.max_timestamp), (0, 2, 102));
    let mut two = batch("b", 2, 200);
    two.extend_from_slice(&batch("c", 4, 300));
    let b = p.append(&two).unwrap();
    assert_eq!((b.base_offset, b.last_offset), (3, 8));
    assert_eq!(p.high_watermark(), 9);

    let all = p.read(0, 1 << 20).unwrap();
    assert_eq!(batch_offsets(&all.records), vec![(0, 2), (3, 4), (5, 8)]);
    assert_eq!((all.high_watermark, all.log_start_offset), (9, 0));
    // From the middle of a batch: starts at the batch that holds the offset.
    assert_eq!(
        batch_offsets(&p.read(4, 1 << 20).unwrap().records),
        vec![(3, 4), (5, 8)]
    );
    // A tiny budget still returns one whole batch.
    assert_eq!(batch_offsets(&p.read(0, 1).unwrap().records), vec![(0, 2)]);
    // `read_fitting` returns only whole batches within the budget: maybe none.
    let first_len = batch("a", 3, 100).len();
    assert!(p.read_fitting(0, first_len - 1).unwrap().records.is_empty());
    assert_eq!(
        batch_offsets(&p.read_fitting(0, first_len).unwrap().records),
        vec![(0, 2)]
    );
    let fitting = p.read_fitting(0, all.records.len() - 1).unwrap();
    assert_eq!(batch_offsets(&fitting.records), vec![(0, 2), (3, 4)]);
    assert_eq!(fitting.high_watermark, 9);
    // The stored bytes are the input with only the base offset changed.
    let first = batch("a", 3, 100);
    assert_eq!(&all.records[8..first.len()], &first[8..]);
    assert!(p.read(9, 100).unwrap().records.is_empty());
    assert!(matches!(
        p.read(10, 100),
        Err(StorageError::OffsetOutOfRange { offset: 10, .. })
    ));
    assert!(matches!(
        p.read(-1, 100),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn invalid_input_is_rejected_and_nothing_is_written() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let p = store
        .create_partition(id("t", 0), config(Durability::Never))
        .unwrap();
    let good = batch("a", 2, 1);
    let mut bad = good.clone();
    bad.extend_from_slice(&good);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let err = p.append(&bad).unwrap_err();
    assert!(matches!(err, StorageError::InvalidBatch { .. }), "{err:?}");
    assert!(matches!(
        p.append(&good[..good.len() - 3]),
        Err(StorageError::InvalidBatch { .. })
    ));
    assert_eq!(p.high_watermark(), 0);
    assert_eq!(fs.contents(&log_path("t-0", 0)).unwrap().len(), 0);
    let small = LogConfig {
        max_batch_bytes: 50,
        ..config(Durability::Never)
    };
    p.set_config(small);
    assert!(matches!(
        p.append(&good),
        Err(StorageError::BatchTooLarge { .. })
    ));
}

#[test]
fn clean_reopen_keeps_everything_without_recovery() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let p = store
            .create_partition(id("orders-eu", 3), small_segments(300))
            .unwrap();
        for i in 0..20 {
            p.append(&batch(&format!("r{i}"), 2, i * 10)).unwrap();
        }
        assert!(p.segment_count() > 3);
        store.close().unwrap();
        store.close().unwrap();
    }
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(store.partition_ids(), vec![id("orders-eu", 3)]);
    let p = store.partition(&id("orders-eu", 3)).unwrap();
    assert!(p.recovery_report().is_none());
    assert_eq!(p.high_watermark(), 40);
    let all = p.read(0, 1 << 20).unwrap();
    assert_eq!(batch_offsets(&all.records).len(), 20);
    for offset in 0..40 {
        let got = batch_offsets(&p.read(offset, 1).unwrap().records);
        assert_eq!(
            got,
            vec![(offset / 2 * 2, offset / 2 * 2 + 1)],
            "offset {offset}"
        );
    }
    assert_eq!(p.append(&batch("x", 1, 0)).unwrap().base_offset, 40);
}

#[test]
fn crash_reopen_recovers_the_page_cache_contents() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let p = store
            .create_partition(id("t", 0), small_segments(500))
            .unwrap();
        for i in 0..30 {
            p.append(&batch("v", 3, i)).unwrap();
        }
        // Dropped without close: no clean-shutdown marker.
    }
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let p = store.partition(&id("t", 0)).unwrap();
    let report = p.recovery_report().expect("recovery ran");
    assert!(report.scanned_segments >= 1);
    assert_eq!(report.truncated, None);
    assert_eq!(p.high_watermark(), 90);
    assert_eq!(
        batch_offsets(&p.read(0, 1 << 20).unwrap().records).len(),
        30
    );
}

#[test]
fn torn_tail_is_truncated_to_the_last_whole_batch() {
    let fs = MemFileSystem::new();
    {
        let store = mem_store(&fs);
        let p = store
            .create_partition(id("t", 0), config(Durability::Never))
            .unwrap();
        p.append(&batch("a", 2, 1)).unwrap();
        p.append(&batch("b", 2, 2)).unwrap();
    }
    let path = log_path("t-0", 0);
    let mut bytes = fs.contents(&path).unwrap();
    let whole = bytes.len() as u64;
    bytes.extend_from_slice(&batch("c", 5, 3)[..40]);
    fs.set_contents(&path, bytes);
    let store = mem_store(&fs);
    let p = store.partition(&id("t", 0)).unwrap();
    assert_eq!(p.high_watermark(), 4);
    let cut = p.recovery_report().unwrap().truncated.clone().unwrap();
    assert_eq!(
        (cut.position, cut.bytes_dropped, cut.first_offset_dropped),
        (whole, 40, 4)
    );
    assert_eq!(fs.contents(&path).unwrap().len() as u64, whole);
    assert_eq!(p.append(&batch("d", 1, 4)).unwrap().base_offset, 4);
}

#[test]
fn durability_always_survives_power_loss() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let p = store
        .create_partition(id("t", 0), config(Durability::Always))
        .unwrap();
    for i in 0..10 {
        p.append(&batch("x", 2, i)).unwrap();
    }
    let after = fs.crash();
    drop(store);
    let store = mem_store(&after);
    let p = store.partition(&id("t", 0)).unwrap();
    assert_eq!(p.high_watermark(), 20);
}

#[test]
fn never_loses_only_an_unsynced_suffix_on_power_loss() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let p = store
        .create_partition(id("t", 0), config(Durability::Never))
        .unwrap();
    p.append(&batch("x", 2, 0)).unwrap();
    p.flush().unwrap();
    p.append(&batch("y", 2, 0)).unwrap();
    let after = fs.crash();
    drop(store);
    let store = mem_store(&after);
    let p = store.partition(&id("t", 0)).unwrap();
    assert_eq!(p.high_watermark(), 2);
}

#[test]
fn a_failed_write_fails_the_partition_until_reopened() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let p = store
        .create_partition(id("t", 0), config(Durability::Never))
        .unwrap();
    p.append(&batch("x", 1, 0)).unwrap();
    fs.inject(Fault::TornWrite {
        path_contains: ".log".into(),
        keep_bytes: 10,
    });
    assert!(matches!(
        p.append(&batch("y", 1, 0)),
        Err(StorageError::Io { .. })
    ));
    assert!(p.is_failed());
    assert!(matches!(
        p.append(&batch("z", 1, 0)),
        Err(StorageError::PartitionFailed { .. })
    ));
    // Reads of published data still work.
    assert_eq!(
        batch_offsets(&p.read(0, 1000).unwrap().records),
        vec![(0, 0)]
    );
    drop(store);
    let store = mem_store(&fs);
    let p = store.partition(&id("t", 0)).unwrap();
    assert_eq!(p.high_watermark(), 1);
    assert_eq!(
        p.recovery_report()
            .unwrap()
            .truncated
            .as_ref()
            .unwrap()
            .bytes_dropped,
        10
    );
    assert_eq!(p.append(&batch("z", 1, 0)).unwrap().base_offset, 1);
}

#[test]
fn a_failed_fsync_fails_the_partition() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let p = store
        .create_partition(id("t", 0), config(Durability::Always))
        .unwrap();
    fs.inject(Fault::FailSync {
        path_contains: ".log".into(),
    });
    assert!(matches!(
        p.append(&batch("y", 1, 0)),
        Err(StorageError::Io { .. })
    ));
    assert!(matches!(
        p.append(&batch("y", 1, 0)),
        Err(StorageError::PartitionFailed { .. })
    ));
    assert!(matches!(
        p.sync_to(0),
        Err(StorageError::PartitionFailed { .. })
    ));
}

#[test]
fn damage_before_the_recovery_point_fails_only_that_partition() {
    let fs = MemFileSystem::new();
    {
        let store = mem_store(&fs);
        for name in ["a", "b"] {
            let p = store
                .create_partition(id(name, 0), config(Durability::Always))
                .unwrap();
            p.append(&batch("x", 3, 0)).unwrap();
            p.append(&batch("y", 3, 0)).unwrap();
            p.flush().unwrap();
            p.checkpoint_if_advanced().unwrap();
        }
    }
    let path = log_path("a-0", 0);
    let mut bytes = fs.contents(&path).unwrap();
    let at = bytes.len() - 5;
    bytes[at] ^= 0xff;
    fs.set_contents(&path, bytes.clone());
    let store = mem_store(&fs);
    let failed = store.failed_partitions();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, id("a", 0));
    assert!(failed[0].1.contains("recovery point"), "{}", failed[0].1);
    assert!(matches!(
        store.partition(&id("a", 0)),
        Err(StorageError::PartitionFailed { .. })
    ));
    assert_eq!(store.partition(&id("b", 0)).unwrap().high_watermark(), 6);
    // Nothing was cut from the damaged file.
    assert_eq!(fs.contents(&path).unwrap(), bytes);
}

#[test]
fn store_creates_looks_up_and_deletes_partitions() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let p = store
        .create_partition(id("my-topic", 7), LogConfig::default())
        .unwrap();
    assert!(matches!(
        store.create_partition(id("my-topic", 7), LogConfig::default()),
        Err(StorageError::PartitionExists(_))
    ));
    assert!(matches!(
        store.create_partition(id("../x", 0), LogConfig::default()),
        Err(StorageError::InvalidPartitionId(_))
    ));
    assert!(matches!(
        store.partition(&id("nope", 0)),
        Err(StorageError::UnknownPartition(_))
    ));
    p.append(&batch("x", 1, 0)).unwrap();
    store.delete_partition(&id("my-topic", 7)).unwrap();
    assert!(p.append(&batch("x", 1, 0)).is_err());
    assert!(store.partition_ids().is_empty());
    assert!(!ferrolog_storage::io::FileSystem::exists(
        &fs,
        std::path::Path::new("/data/my-topic-7")
    ));
    drop(store);
    assert!(mem_store(&fs).partition_ids().is_empty());
}

#[test]
fn a_data_directory_is_opened_by_one_store_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let second = Store::open(dir.path(), StoreOptions::default());
    assert!(
        matches!(
            second,
            Err(StorageError::Io {
                op: ferrolog_storage::IoOp::LockHeld,
                ..
            })
        ),
        "{second:?}"
    );
    drop(first);
    Store::open(dir.path(), StoreOptions::default()).unwrap();
}

/// A data directory that cannot be opened for other reasons says so, not
/// that another broker holds it.
#[test]
fn a_data_directory_that_cannot_be_used_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let line = |r: Result<Store, StorageError>| match r {
        Ok(_) => panic!("opened"),
        Err(e) => ferrolog_storage::error::chain_line(&e),
    };
    let not_a_dir = line(Store::open(&file, StoreOptions::default()));
    assert!(not_a_dir.contains("not a directory"), "{not_a_dir}");
    // `.lock` that cannot be opened for writing (here a directory; for an
    // operator, permissions or a read-only mount).
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join(".lock")).unwrap();
    let unlockable = line(Store::open(&data, StoreOptions::default()));
    assert!(unlockable.starts_with("cannot lock"), "{unlockable}");
    assert!(!unlockable.contains("another ferrologd"), "{unlockable}");
}

#[test]
fn opening_waits_a_moment_for_a_lock_its_last_owner_is_letting_go() {
    // As when a restart follows a clean close while a child forked by
    // another thread still holds a copy of the lock's descriptor.
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        drop(first);
    });
    let second = Store::open(dir.path(), StoreOptions::default());
    releaser.join().unwrap();
    assert!(second.is_ok(), "{second:?}");
}

#[test]
fn store_and_partition_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Store>();
    shareable::<ferrolog_storage::Partition>();
}

#[test]
fn unrelated_entries_in_the_data_directory_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("topics.json"), b"{}").unwrap();
    std::fs::create_dir(dir.path().join("not a partition")).unwrap();
    std::fs::create_dir(dir.path().join("gone-0.delete")).unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert!(store.partition_ids().is_empty());
    assert!(store.failed_partitions().is_empty());
    assert!(dir.path().join("topics.json").exists());
    assert!(dir.path().join("not a partition").exists());
    assert!(
        !dir.path().join("gone-0.delete").exists(),
        "interrupted deletions are finished"
    );
}

#[test]
fn damaged_or_missing_index_files_are_rebuilt_from_the_log() {
    let fs = MemFileSystem::new();
    {
        let store = mem_store(&fs);
        let p = store
            .create_partition(id("t", 0), small_segments(400))
            .unwrap();
        for i in 0..20 {
            p.append(&batch("x", 2, 100 + i)).unwrap();
        }
        store.close().unwrap();
    }
    let index = std::path::Path::new("/data/t-0/00000000000000000000.index");
    let times = std::path::Path::new("/data/t-0/00000000000000000000.timeindex");
    fs.set_contents(index, vec![0xff; 13]);
    ferrolog_storage::io::FileSystem::remove_file(&fs, times).unwrap();
    let store = mem_store(&fs);
    let p = store.partition(&id("t", 0)).unwrap();
    for offset in 0..40 {
        let got = batch_offsets(&p.read(offset, 1).unwrap().records);
        assert_eq!(got[0].0, offset / 2 * 2);
    }
    assert_eq!(p.offset_for_timestamp(105).unwrap().unwrap().offset, 9);
    assert!(
        ferrolog_storage::inspect::check_offset_index(&fs, index)
            .unwrap()
            .is_empty()
    );
    assert!(
        ferrolog_storage::inspect::check_time_index(&fs, times)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn sealed_segments_are_read_zero_copy_and_stay_valid_after_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let p = store
        .create_partition(id("z", 0), small_segments(300))
        .unwrap();
    for i in 0..20 {
        p.append(&batch("x", 2, i)).unwrap();
    }
    assert!(p.segment_count() > 2);
    let a = p.read(0, 200).unwrap().records;
    let b = p.read(0, 200).unwrap().records;
    assert_eq!(a, b);
    assert_eq!(a.as_ptr(), b.as_ptr(), "both reads slice the same mapping");
    let active = p.read(p.high_watermark() - 1, 200).unwrap().records;
    let again = p.read(p.high_watermark() - 1, 200).unwrap().records;
    assert_eq!(
        active.as_ptr(),
        again.as_ptr(),
        "the active segment is mapped too"
    );
    // Deleting the segment under a reader leaves the reader's bytes intact.
    let copy = a.to_vec();
    p.delete_records_before(p.high_watermark()).unwrap();
    assert!(p.segment_count() == 1);
    assert_eq!(&a[..], &copy[..]);
    assert_eq!(batch_offsets(&a)[0], (0, 1));
}

/// The active segment's mapping reaches past the end of the file and serves
/// it while it grows: a reader tailing the log sees every batch, whole and
/// exactly as appended, across appends and rolls, and bytes it holds stay
/// unchanged after the segment is sealed and deleted.
#[test]
fn the_active_segment_is_read_from_a_mapping_while_it_grows() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let p = store
        .create_partition(id("tail", 0), small_segments(4096))
        .unwrap();
    let mut held = Vec::new();
    let mut next = 0i64;
    for i in 0..200 {
        let appended = p.append(&batch("v", 1 + i % 3, i as i64)).unwrap();
        // Read what was just appended, then everything from the tail cursor.
        let fresh = p.read(appended.base_offset, 1 << 20).unwrap().records;
        assert_eq!(
            batch_offsets(&fresh),
            vec![(appended.base_offset, appended.last_offset)]
        );
        let tail = p.read(next, 1 << 20).unwrap().records;
        let offsets = batch_offsets(&tail);
        assert_eq!(offsets.first().map(|o| o.0), Some(next), "batch {i}");
        next = offsets.last().unwrap().1 + 1;
        held.push((tail.clone(), tail.to_vec()));
    }
    assert_eq!(next, p.high_watermark());
    assert!(p.segment_count() > 3, "the log rolled while being read");
    // A slice held from the active segment outlives its sealing and deletion.
    p.delete_records_before(p.high_watermark()).unwrap();
    for (bytes, copy) in &held {
        assert_eq!(&bytes[..], &copy[..]);
    }
    // After a reopen the active segment is mapped afresh and grows on.
    drop(p);
    drop(store);
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let p = store.partition(&id("tail", 0)).unwrap();
    assert_eq!(p.high_watermark(), next);
    for i in 0..3 {
        let a = p.append(&batch("w", 2, i)).unwrap();
        let got = p.read(a.base_offset, 1 << 20).unwrap().records;
        assert_eq!(batch_offsets(&got), vec![(a.base_offset, a.last_offset)]);
    }
}

/// A consumer reading a long log from the start leaves a bounded number of
/// segments mapped (so the broker's RSS does not grow with the log), and the
/// bytes it was handed stay valid after their segment is unmapped.
#[test]
fn reading_a_long_log_keeps_only_a_few_segments_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let p = store
        .create_partition(id("long", 0), small_segments(300))
        .unwrap();
    for i in 0..60 {
        p.append(&batch("x", 2, i)).unwrap();
    }
    let segments = p.segment_count();
    assert!(segments > 10, "{segments} segments");
    let (mut next, mut held, mut most) = (0i64, Vec::new(), 0usize);
    while next < p.high_watermark() {
        let records = p.read(next, 200).unwrap().records;
        next = batch_offsets(&records).last().unwrap().1 + 1;
        held.push((records.clone(), records.to_vec()));
        most = most.max(p.mapped_segment_count());
    }
    assert!(most >= 2, "segments are mapped while read ({most})");
    assert!(
        most <= 5,
        "at most 4 sealed segments and the active one stay mapped, saw {most} of {segments}"
    );
    for (bytes, copy) in &held {
        assert_eq!(
            &bytes[..],
            &copy[..],
            "a slice outlives its segment's mapping"
        );
    }
}

#[test]
fn one_append_of_more_batches_than_one_writev_takes_is_stored_whole_on_a_real_file() {
    // 700 batches are 1400 write parts, more than IOV_MAX (1024): the real
    // file system must loop until every part is written, in order.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let p = store
        .create_partition(id("v", 0), config(Durability::Never))
        .unwrap();
    p.append(&batch("first", 3, 0)).unwrap();
    let mut input = Vec::new();
    let mut expected = vec![(0, 2)];
    for i in 0..700 {
        let records = 1 + i % 3;
        input.extend_from_slice(&batch(&format!("v{i}"), records, i as i64));
        let base = expected.last().unwrap().1 + 1;
        expected.push((base, base + records as i64 - 1));
    }
    let info = p.append(&input).unwrap();
    assert_eq!(info.base_offset, 3);
    store.close().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let p = store.partition(&id("v", 0)).unwrap();
    let all = p.read(0, 1 << 30).unwrap().records;
    assert_eq!(batch_offsets(&all), expected);
    // Every byte but the base offsets is the input's.
    let first_len = batch("first", 3, 0).len();
    let (mut at, mut stored_at) = (0, first_len);
    while at < input.len() {
        let (_, size) = ferrolog_storage::format::batch::whole_batch(&input[at..]).unwrap();
        assert_eq!(
            &all[stored_at + 8..stored_at + size],
            &input[at + 8..at + size]
        );
        at += size;
        stored_at += size;
    }
}

/// Roll by age (`segment.ms`) counts as Kafka counts it (KIP-33): from the
/// first batch's timestamp to the arriving batch's, not from when the
/// segment file was created (a topic idle for longer than `segment.ms`
/// does not roll at its second record) nor from when this process opened
/// it (a broker restarted more often than `segment.ms` still rolls, and so
/// can delete by retention).
#[test]
fn segment_age_counts_from_the_first_batch_timestamp_across_restarts() {
    const FIRST: i64 = 1_700_000_000_000;
    let fs = MemFileSystem::new();
    let aged = LogConfig {
        segment_ms_max: 1_000,
        ..small_segments(1 << 20)
    };
    let store = mem_store(&fs);
    let p = store.create_partition(id("age", 0), aged.clone()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    p.append(&batch("a", 1, FIRST)).unwrap();
    p.append(&batch("b", 1, FIRST + 999)).unwrap();
    p.append(&batch("early", 1, FIRST - 60_000)).unwrap();
    assert_eq!(
        p.segment_count(),
        1,
        "rolled by the file's age or by a batch within segment.ms of the first"
    );
    p.append(&batch("c", 1, FIRST + 1_000)).unwrap();
    assert_eq!(
        p.segment_count(),
        2,
        "no roll at segment.ms after the first batch"
    );
    // Enough batches for index entries: the next open loads the segment
    // from its last entry on, and reads the first batch's timestamp apart.
    for i in 0..40 {
        p.append(&batch("d", 1, FIRST + 1_000 + i)).unwrap();
    }
    drop(p);
    store.close().unwrap();
    for (ts, segments) in [(FIRST + 1_999, 2), (FIRST + 2_000, 3)] {
        let store = mem_store(&fs);
        let p = store.partition(&id("age", 0)).unwrap();
        p.set_config(aged.clone());
        p.append(&batch("e", 1, ts)).unwrap();
        assert_eq!(
            p.segment_count(),
            segments,
            "after a restart, a batch at {ts}"
        );
        drop(p);
        store.close().unwrap();
    }
}

/// Recovery work follows the unflushed tail, not the size of the log: an
/// open after a crash fsyncs the segments from the recovery point on (and
/// any index it rebuilt), not every segment's three files.
#[test]
fn an_unclean_open_fsyncs_the_unflushed_tail_not_every_segment() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let p = store
        .create_partition(id("t", 0), small_segments(600))
        .unwrap();
    for i in 0..400 {
        p.append(&batch("x", 2, i)).unwrap();
    }
    p.flush().unwrap();
    p.checkpoint_if_advanced().unwrap();
    for i in 0..3 {
        p.append(&batch("tail", 2, 1000 + i)).unwrap();
    }
    let (segments, end) = (p.segment_count(), p.high_watermark());
    assert!(segments > 40, "{segments} segments");
    // A process crash: nothing closed, the written bytes still there.
    drop(p);
    drop(store);
    let before = fs.sync_count();
    let store = mem_store(&fs);
    let p = store.partition(&id("t", 0)).unwrap();
    assert!(p.recovery_report().is_some());
    assert_eq!(p.high_watermark(), end);
    let syncs = fs.sync_count() - before;
    assert!(syncs <= 12, "{syncs} fsyncs to reopen {segments} segments");
    // What that open declared durable is: a power loss now loses nothing.
    drop(p);
    drop(store);
    let after_power_loss = fs.crash();
    let store = mem_store(&after_power_loss);
    assert_eq!(store.partition(&id("t", 0)).unwrap().high_watermark(), end);
}

/// `index.interval.bytes=0` indexes every batch. Reopening books the last indexed batch again;
/// it must not be indexed twice, or every later open finds the index out of order and rebuilds it.
#[test]
fn an_index_interval_of_zero_survives_reopening() {
    let fs = MemFileSystem::new();
    let every_batch = LogConfig {
        index_interval_bytes: 0,
        ..config(Durability::Never)
    };
    // Partitions found on disk open with the store's default config.
    let open = || {
        let options = StoreOptions {
            default_config: every_batch.clone(),
            ..mem_options(&fs)
        };
        Store::open(std::path::Path::new("/data"), options).unwrap()
    };
    {
        let store = open();
        let p = store
            .create_partition(id("t", 0), every_batch.clone())
            .unwrap();
        for i in 0..3 {
            p.append(&batch("x", 2, i)).unwrap();
        }
        store.close().unwrap();
    }
    let index = std::path::Path::new("/data/t-0/00000000000000000000.index");
    let first = fs.contents(index).unwrap();
    assert_eq!(first.len(), 3 * 8, "one entry a batch");
    for _ in 0..2 {
        let store = open();
        store.close().unwrap();
        assert_eq!(fs.contents(index).unwrap(), first);
    }
    assert!(
        ferrolog_storage::inspect::check_offset_index(&fs, index)
            .unwrap()
            .is_empty()
    );
}

/// Topic names go up to 249 characters; `<topic>-<partition>.delete` can then pass the 255
/// bytes a file name may have. Deleting such a partition failed with ENAMETOOLONG, and the
/// broker could not finish the deletion at its next start.
#[test]
fn partitions_of_the_longest_topic_names_can_be_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let longest = "c".repeat(249);
    let ids = [id(&longest, 0), id(&longest, 9999), id(&"d".repeat(247), 1)];
    for partition in &ids {
        let p = store
            .create_partition(partition.clone(), config(Durability::Never))
            .unwrap();
        p.append(&batch("x", 1, 0)).unwrap();
    }
    for partition in &ids {
        store.delete_partition(partition).unwrap();
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| name.to_string_lossy().starts_with(['c', 'd']))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn creating_a_partition_does_not_stop_lookups_of_the_others() {
    // Creation used to hold the partition map's write lock through its
    // directory I/O, so every produce and fetch of every partition waited
    // on one topic's fsyncs.
    let fs = MemFileSystem::new();
    let store = std::sync::Arc::new(mem_store(&fs));
    store
        .create_partition(id("busy", 0), LogConfig::default())
        .unwrap();
    let (stalled, release) = fs.stall_dir_creation("new-0");
    let creating = {
        let store = std::sync::Arc::clone(&store);
        std::thread::spawn(move || store.create_partition(id("new", 0), LogConfig::default()))
    };
    stalled.recv().unwrap();
    let (looked_up, on_looked_up) = std::sync::mpsc::channel();
    {
        let store = std::sync::Arc::clone(&store);
        std::thread::spawn(move || {
            let busy = store.partition(&id("busy", 0)).is_ok();
            // Not there until its creation is done, and not creatable twice.
            let new = store.partition(&id("new", 0)).is_err();
            let twice = store
                .create_partition(id("new", 0), LogConfig::default())
                .is_err();
            looked_up.send((busy, new, twice)).ok();
        });
    }
    // A generous bound: this is a deadlock check, not a timing one.
    let answer = on_looked_up.recv_timeout(std::time::Duration::from_secs(20));
    drop(release);
    assert_eq!(answer, Ok((true, true, true)));
    creating.join().unwrap().unwrap();
    store.partition(&id("new", 0)).unwrap();
}
