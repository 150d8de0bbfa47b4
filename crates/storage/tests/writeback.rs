//! The writeback hint (`LogConfig::writeback_bytes`): the store's writeback
//! thread starts writeback over each newly appended page-aligned range of the
//! active segment; it is never a durability promise, and its failure fails
//! the partition like a failed write.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use ferrolog_storage::io::{Fault, MemFileSystem};
use ferrolog_storage::{Durability, LogConfig, StorageError, Store, StoreOptions};

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

/// Hints run on the store's writeback thread: wait for them.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn hinted_end(fs: &MemFileSystem, path: &Path) -> u64 {
    fs.writebacks()
        .iter()
        .filter(|(p, ..)| p == path)
        .map(|(_, position, len)| position + len)
        .max()
        .unwrap_or(0)
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
    let path = log_path("w-0", 0);
    // Left unhinted at the end: less than one threshold of whole pages.
    wait_until("the last hint", || {
        size / PAGE * PAGE - hinted_end(&fs, &path) < 8192
    });
    let hints = fs.writebacks();
    assert!(!hints.is_empty());
    let mut next = 0;
    for (hinted, position, len) in &hints {
        assert_eq!(hinted, &path);
        assert_eq!(*position, next, "ranges are contiguous from 0");
        assert!(*len > 0);
        assert_eq!((position + len) % PAGE, 0, "ranges end on a page boundary");
        next = position + len;
    }
    assert!(next <= size);
}

#[test]
fn no_hint_when_turned_off_or_below_the_threshold() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let off = store.create_partition(id("off", 0), hinting(0)).unwrap();
    let big = store
        .create_partition(id("big", 0), hinting(1 << 20))
        .unwrap();
    let on = store.create_partition(id("on", 0), hinting(8192)).unwrap();
    for i in 0..100 {
        off.append(&kib_batch(i)).unwrap();
        big.append(&kib_batch(i)).unwrap();
    }
    // The thread serves requests in order: once `on` is hinted, anything
    // `off` or `big` had queued would have been served too.
    for i in 0..20 {
        on.append(&kib_batch(i)).unwrap();
    }
    wait_until("a hint for `on`", || !fs.writebacks().is_empty());
    let hinted: Vec<_> = fs.writebacks().into_iter().map(|(path, ..)| path).collect();
    assert!(
        hinted.iter().all(|path| path == &log_path("on-0", 0)),
        "{hinted:?}"
    );
}

/// Waits until the writeback thread has served every request queued so far:
/// it serves them in order, so a fresh request of `probe` (threshold one
/// page) being served means the earlier ones were.
fn drain(fs: &MemFileSystem, probe: &ferrolog_storage::Partition, probe_log: &Path) {
    let before = fs
        .writebacks()
        .iter()
        .filter(|(p, ..)| p == probe_log)
        .count();
    for i in 0..5 {
        probe.append(&kib_batch(i)).unwrap();
    }
    wait_until("the probe's hint", || {
        fs.writebacks()
            .iter()
            .filter(|(p, ..)| p == probe_log)
            .count()
            > before
    });
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
    let probe = store
        .create_partition(id("probe", 0), hinting(PAGE))
        .unwrap();
    for i in 0..60 {
        p.append(&kib_batch(i)).unwrap();
        drain(&fs, &probe, &log_path("probe-0", 0));
    }
    assert!(p.segment_count() >= 3);
    let hints: Vec<_> = fs
        .writebacks()
        .into_iter()
        .filter(|(path, ..)| path.starts_with("/data/r-0"))
        .collect();
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
    wait_until("the partition to fail", || {
        if p.append(&kib_batch(appended)).is_ok() {
            appended += 1;
        }
        p.is_failed()
    });
    let reason = p.failure_reason().unwrap();
    assert!(reason.contains("start writeback"), "{reason}");
    assert!(matches!(
        p.append(&kib_batch(0)),
        Err(StorageError::PartitionFailed { .. })
    ));
    // Every acknowledged append was in the file before the hint failed; a
    // reopen (process crash) keeps them and takes writes again.
    drop(store);
    let store = mem_store(&fs);
    let p = store.partition(&id("f", 0)).unwrap();
    assert_eq!(p.high_watermark(), appended as i64);
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
