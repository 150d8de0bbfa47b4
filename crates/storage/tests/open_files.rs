//! Sealed segments hold no open file.
//!
//! A topic may set `segment.bytes` as low as one byte, so a producer decides
//! how many segments a partition has. If every sealed segment kept its log's
//! descriptor, a few thousand small batches would use up the broker's
//! open-file limit and fail every partition's next roll. These tests count
//! the handles `MemFileSystem` has handed out and not yet seen dropped (the
//! descriptors a real file system would hold): whatever the number of
//! segments, a partition holds its active segment's log, plus the few sealed
//! logs that reads could not map and are reading now.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use ferrolog_storage::io::MemFileSystem;
use ferrolog_storage::{Durability, LogConfig, Partition};

const BATCHES: i64 = 150;

/// About three batches a segment: some fifty segments.
fn tiny_segments(durability: Durability) -> LogConfig {
    LogConfig {
        durability,
        ..small_segments(200)
    }
}

fn fill(p: &Partition) {
    for i in 0..BATCHES {
        p.append(&batch("x", 2, 1000 * i)).unwrap();
    }
    assert!(p.segment_count() > 40, "{} segments", p.segment_count());
}

/// Reads every offset and looks up every timestamp, oldest first.
fn read_everything(p: &Partition) {
    for offset in 0..p.high_watermark() {
        assert!(!p.read(offset, 100).unwrap().records.is_empty());
    }
    for ts in (0..=(BATCHES - 1) * 1000).step_by(500) {
        assert!(p.offset_for_timestamp(ts).unwrap().is_some());
    }
}

#[test]
fn a_long_log_holds_one_open_file_written_read_and_reopened() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let p = store
        .create_partition(id("t", 0), tiny_segments(Durability::Always))
        .unwrap();
    fill(&p);
    assert_eq!(fs.open_file_count(), 1, "after the appends");
    read_everything(&p);
    assert_eq!(fs.open_file_count(), 1, "after reading everything");
    drop(p);
    store.close().unwrap();
    drop(store);
    assert_eq!(fs.open_file_count(), 0, "after close");

    let store = mem_store(&fs);
    let p = store.partition(&id("t", 0)).unwrap();
    assert!(p.segment_count() > 40);
    assert_eq!(fs.open_file_count(), 1, "after a clean open");
    read_everything(&p);
    assert_eq!(fs.open_file_count(), 1, "after reading everything again");
    // A crash: the open scans from the recovery point and syncs the tail.
    let crashed = fs.crash();
    drop((p, store));
    let store = mem_store(&crashed);
    let p = store.partition(&id("t", 0)).unwrap();
    assert!(p.recovery_report().is_some(), "the open was a recovery");
    assert_eq!(p.high_watermark(), BATCHES * 2);
    assert_eq!(crashed.open_file_count(), 1, "after a recovery");
}

#[test]
fn reads_that_cannot_map_hold_a_few_files_open_not_one_per_segment() {
    let fs = MemFileSystem::new();
    fs.refuse_mappings();
    let store = mem_store(&fs);
    let p = store
        .create_partition(id("t", 0), tiny_segments(Durability::Always))
        .unwrap();
    fill(&p);
    let mut most = 0;
    for offset in 0..p.high_watermark() {
        p.read(offset, 100).unwrap();
        most = most.max(fs.open_file_count());
    }
    for ts in (0..=(BATCHES - 1) * 1000).step_by(500) {
        p.offset_for_timestamp(ts).unwrap();
        most = most.max(fs.open_file_count());
    }
    // The active log and the sealed ones read most recently, which keep
    // their files as mapped segments keep their mappings (`segment/maps.rs`).
    assert!(most >= 2, "reads went through reopened files: {most}");
    assert!(most <= 1 + 5, "{most} files open at once");
}

#[test]
fn a_rolled_segment_lets_go_of_its_files_once_synced_in_the_background() {
    // An hour's interval: only the fsync that follows a roll can free them.
    for durability in [
        Durability::Never,
        Durability::Interval {
            interval_ms: 3_600_000,
        },
    ] {
        let fs = MemFileSystem::new();
        let store = mem_store(&fs);
        let p = store
            .create_partition(id("t", 0), tiny_segments(durability))
            .unwrap();
        fill(&p);
        let deadline = Instant::now() + Duration::from_secs(10);
        while fs.open_file_count() > 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            fs.open_file_count(),
            1,
            "{durability}: rolled segments still open"
        );
        // The background sync covered the rolled segments, so the recovery
        // point moved past them.
        let last_roll = p.high_watermark() - 6;
        assert!(
            p.recovery_point() >= last_roll,
            "{durability}: {}",
            p.recovery_point()
        );
    }
}
