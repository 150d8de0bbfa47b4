//! The writeback hint (`LogConfig::writeback_bytes`): issued over each newly
//! appended page-aligned range of the active segment, never a durability
//! promise, and its failure fails the partition like a failed write.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::path::Path;

use common::*;
use ferrolog_storage::io::{Fault, MemFileSystem};
use ferrolog_storage::{Durability, IoOp, LogConfig, StorageError, Store, StoreOptions};

const PAGE: u64 = 4096;

fn hinting(writeback_bytes: u64) -> LogConfig {
    LogConfig {
        writeback_bytes,
        ..config(Durability::Never)
    }
}

/// A batch of about 1 KiB.
fn kib_batch(i: usize) -> Vec<u8> {
    batch(&format!("{i:-<1000}"), 1, i as i64)
}

#[test]
fn hints_cover_the_appended_bytes_in_contiguous_page_aligned_ranges() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let p = store.create_partition(id("w", 0), hinting(8192)).unwrap();
    for i in 0..100 {
        p.append(&kib_batch(i)).unwrap();
    }
    let size = p.size_bytes();
    let hints = fs.writebacks();
    assert!(hints.len() >= 5, "{} hints for {size} bytes", hints.len());
    let mut next = 0;
    for (path, position, len) in &hints {
        assert_eq!(path, &log_path("w-0", 0));
        assert_eq!(*position, next, "ranges are contiguous from 0");
        assert!(
            *len >= 8192,
            "a range of {len} bytes is below the threshold"
        );
        assert_eq!((position + len) % PAGE, 0, "ranges end on a page boundary");
        next = position + len;
    }
    assert!(next <= size);
    // Whatever is not hinted yet is less than one threshold plus the page being filled.
    assert!(
        size - next < 8192 + PAGE,
        "{} bytes never hinted",
        size - next
    );
}

#[test]
fn no_hint_when_turned_off_or_below_the_threshold() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let off = store.create_partition(id("off", 0), hinting(0)).unwrap();
    let big = store
        .create_partition(id("big", 0), hinting(1 << 20))
        .unwrap();
    for i in 0..100 {
        off.append(&kib_batch(i)).unwrap();
        big.append(&kib_batch(i)).unwrap();
    }
    assert_eq!(fs.writebacks(), Vec::new());
}

#[test]
fn a_new_segment_is_hinted_from_its_start() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let config = LogConfig {
        segment_bytes_max: 20_000,
        ..hinting(8192)
    };
    let p = store.create_partition(id("r", 0), config).unwrap();
    for i in 0..60 {
        p.append(&kib_batch(i)).unwrap();
    }
    assert!(p.segment_count() >= 3);
    let hints = fs.writebacks();
    let segments: std::collections::BTreeSet<_> = hints.iter().map(|(path, ..)| path).collect();
    assert!(segments.len() >= 3, "hints went to {segments:?}");
    for segment in segments {
        let first = hints.iter().find(|(path, ..)| path == segment).unwrap();
        assert_eq!(
            first.1,
            0,
            "{} first hinted at {}",
            segment.display(),
            first.1
        );
    }
}

#[test]
fn a_failed_hint_fails_the_partition_and_keeps_what_was_written() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let p = store.create_partition(id("f", 0), hinting(8192)).unwrap();
    fs.inject(Fault::FailWriteback {
        path_contains: ".log".into(),
    });
    let mut appended = 0;
    let error = loop {
        match p.append(&kib_batch(appended)) {
            Ok(_) => appended += 1,
            Err(e) => break e,
        }
        assert!(appended < 100, "the injected fault never fired");
    };
    assert!(
        matches!(
            error,
            StorageError::Io {
                op: IoOp::Writeback,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(p.is_failed());
    assert!(matches!(
        p.append(&kib_batch(0)),
        Err(StorageError::PartitionFailed { .. })
    ));
    // The failing append's bytes were in the file before the hint failed; a
    // reopen (process crash) keeps them and takes writes again.
    drop(store);
    let store = mem_store(&fs);
    let p = store.partition(&id("f", 0)).unwrap();
    assert_eq!(p.high_watermark(), appended as i64 + 1);
    p.append(&kib_batch(0)).unwrap();
}

#[test]
fn the_real_file_system_accepts_the_hint() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let p = store
        .create_partition(id("real", 0), hinting(8192))
        .unwrap();
    for i in 0..50 {
        p.append(&kib_batch(i)).unwrap();
    }
    assert!(!p.is_failed());
    store.close().unwrap();
    let store = Store::open(Path::new(dir.path()), StoreOptions::default()).unwrap();
    assert_eq!(
        store.partition(&id("real", 0)).unwrap().high_watermark(),
        50
    );
}
