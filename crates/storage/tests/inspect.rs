//! `ferrolog inspect`'s library side: dumps and verification.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use ferrolog_storage::inspect::{self, ProblemKind, SegmentEntry};
use ferrolog_storage::io::{FileSystem, MemFileSystem};
use ferrolog_storage::{Store, StoreOptions};

/// Partition t-0 in small segments, written and shut down cleanly.
fn populated(fs: &MemFileSystem) {
    populated_open(fs).0.close().unwrap();
}

/// Partition t-0 in small segments, still open: 12 batches of 2 records.
fn populated_open(fs: &MemFileSystem) -> (Store, std::sync::Arc<ferrolog_storage::Partition>) {
    let store = mem_store(fs);
    let p = store
        .create_partition(id("t", 0), small_segments(400))
        .unwrap();
    for i in 0..12 {
        p.append(&batch("v", 2, 1000 + i)).unwrap();
    }
    (store, p)
}

#[test]
fn a_clean_data_dir_verifies() {
    let fs = MemFileSystem::new();
    populated(&fs);
    let report = inspect::verify_data_dir(&fs, Path::new("/data")).unwrap();
    assert!(report.is_ok(), "{report:#?}");
    let partition = &report.partitions[0];
    assert_eq!(
        partition.segments.iter().map(|s| s.records).sum::<u64>(),
        24
    );
    assert_eq!(partition.segments.last().unwrap().next_offset, 24);
    assert!(partition.segments.len() > 2);
}

#[test]
fn segment_walk_reports_batches_and_bad_crcs() {
    let fs = MemFileSystem::new();
    populated(&fs);
    let path = log_path("t-0", 0);
    let mut bytes = fs.contents(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    fs.set_contents(&path, bytes);
    let entries: Vec<SegmentEntry> = inspect::segment_batches(&fs, &path)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(entries.len() >= 2);
    let crcs: Vec<bool> = entries
        .iter()
        .map(|e| match e {
            SegmentEntry::Batch(b) => b.crc_ok,
            SegmentEntry::Damage { .. } => false,
        })
        .collect();
    assert!(crcs[..crcs.len() - 1].iter().all(|ok| *ok));
    assert!(!crcs[crcs.len() - 1]);
    let report = inspect::verify_data_dir(&fs, Path::new("/data")).unwrap();
    assert!(!report.is_ok());
    assert!(
        !report.partitions[0].is_recoverable(),
        "damage below the recovery point is not repairable"
    );
}

#[test]
fn index_checks_catch_a_wrong_entry() {
    let fs = MemFileSystem::new();
    populated(&fs);
    let index = Path::new("/data/t-0/00000000000000000000.index");
    let (entries, trailing) = inspect::offset_index_entries(&fs, index).unwrap();
    assert!(!entries.is_empty());
    assert_eq!(trailing, 0);
    assert!(inspect::check_offset_index(&fs, index).unwrap().is_empty());
    assert!(
        inspect::check_time_index(&fs, Path::new("/data/t-0/00000000000000000000.timeindex"))
            .unwrap()
            .is_empty()
    );
    let mut bytes = fs.contents(index).unwrap();
    bytes[7] ^= 1;
    fs.set_contents(index, bytes);
    assert!(!inspect::check_offset_index(&fs, index).unwrap().is_empty());
}

/// The CRC does not cover a batch's base offset, so a damaged file can hold any value there;
/// verifying it reports damage instead of overflowing.
#[test]
fn a_base_offset_at_the_top_of_the_range_is_damage_not_a_panic() {
    let fs = MemFileSystem::new();
    populated(&fs);
    let log = Path::new("/data/t-0/00000000000000000000.log");
    let mut bytes = fs.contents(log).unwrap();
    bytes[..8].copy_from_slice(&i64::MAX.to_be_bytes());
    fs.set_contents(log, bytes);
    let report = inspect::verify_data_dir(&fs, Path::new("/data")).unwrap();
    assert!(!report.is_ok(), "{report:#?}");
}

/// Replaces the time index entry `i` of `path` (counted from the end if negative).
fn set_time_entry(fs: &MemFileSystem, path: &Path, i: isize, timestamp_ms: i64, relative: u32) {
    let mut bytes = fs.contents(path).unwrap();
    let count = (bytes.len() / 12) as isize;
    let at = (if i < 0 { count + i } else { i }) as usize * 12;
    bytes[at..at + 8].copy_from_slice(&timestamp_ms.to_be_bytes());
    bytes[at + 8..at + 12].copy_from_slice(&relative.to_be_bytes());
    fs.set_contents(path, bytes);
}

/// Opens the store (a partition found on disk takes the store's default
/// config, here the one `populated` wrote with) and closes it.
fn reopen(fs: &MemFileSystem) {
    let options = StoreOptions {
        default_config: small_segments(400),
        ..mem_options(fs)
    };
    Store::open(Path::new("/data"), options)
        .unwrap()
        .close()
        .unwrap();
}

fn time_entries(fs: &MemFileSystem, path: &Path) -> Vec<(i64, u32)> {
    inspect::time_index_entries(fs, path)
        .unwrap()
        .0
        .iter()
        .map(|e| (e.timestamp_ms, e.relative_offset))
        .collect()
}

/// "Repairable on open" holds for an index problem only where the open's
/// check against the log (which compares an index's last entry with the
/// log, not every entry) makes it rebuild the index. A wrong entry before the
/// last is a stale index the open adopts: inspect says so and how to have it
/// rebuilt, and doing that repairs it.
#[test]
fn an_index_problem_is_repairable_on_open_only_where_the_open_rebuilds_the_index() {
    let fs = MemFileSystem::new();
    populated(&fs);
    let times = Path::new("/data/t-0/00000000000000000000.timeindex");
    let original = fs.contents(times).unwrap();
    let entries = time_entries(&fs, times);
    assert!(entries.len() >= 2, "{entries:?}");
    let verify = || inspect::verify_partition(&fs, Path::new("/data/t-0")).unwrap();

    // The last entry: the open's check sees it, and the open rebuilds the index.
    let (ts, relative) = entries[entries.len() - 1];
    set_time_entry(&fs, times, -1, ts + 1000, relative);
    let report = verify();
    assert!(!report.problems.is_empty());
    assert!(
        report
            .problems
            .iter()
            .all(|p| p.kind == ProblemKind::Repairable),
        "{report:#?}"
    );
    reopen(&fs);
    assert_eq!(fs.contents(times).unwrap(), original);
    assert!(verify().is_ok());

    // The first entry, still in order but naming the first record of its
    // batch: the open adopts the index, so inspect must not call it repairable.
    let (ts, relative) = entries[0];
    set_time_entry(&fs, times, 0, ts, relative - 1);
    let report = verify();
    assert!(!report.problems.is_empty());
    assert!(
        report
            .problems
            .iter()
            .all(|p| p.kind == ProblemKind::StaleIndex),
        "{report:#?}"
    );
    assert!(!report.is_recoverable());
    reopen(&fs);
    assert_eq!(
        verify().problems.len(),
        report.problems.len(),
        "the open left it"
    );
    // What inspect advises: remove the segment's two index files.
    fs.remove_file(times).unwrap();
    fs.remove_file(Path::new("/data/t-0/00000000000000000000.index"))
        .unwrap();
    reopen(&fs);
    assert_eq!(fs.contents(times).unwrap(), original);
    assert!(verify().is_ok(), "{:#?}", verify());
}

/// After a crash the open scans the segments from the one holding the
/// recovery point on and rebuilds their indexes, whatever their entries.
#[test]
fn an_index_problem_in_a_segment_recovery_scans_is_repairable_on_open() {
    let fs = MemFileSystem::new();
    let (store, p) = populated_open(&fs);
    // A crash: no clean-shutdown marker and the recovery point still at 0,
    // so the open scans every segment.
    p.flush().unwrap();
    drop(p);
    drop(store);
    let times = Path::new("/data/t-0/00000000000000000000.timeindex");
    let (ts, relative) = time_entries(&fs, times)[0];
    set_time_entry(&fs, times, 0, ts, relative - 1);
    let report = inspect::verify_partition(&fs, Path::new("/data/t-0")).unwrap();
    assert!(!report.is_ok());
    assert!(report.is_recoverable(), "{report:#?}");
    // With the default index interval, larger than these segments: the
    // rebuilt indexes have no entry until the final time entry is written.
    mem_store(&fs).close().unwrap();
    let report = inspect::verify_partition(&fs, Path::new("/data/t-0")).unwrap();
    assert!(report.is_ok(), "{report:#?}");
}

/// An index checked against a log whose fsynced data is damaged disagrees
/// with it because of that damage: no rebuilt index repairs it, so its
/// problems are reported as the log's are, not as a stale index.
#[test]
fn index_problems_against_a_damaged_log_are_that_damage() {
    let fs = MemFileSystem::new();
    populated(&fs);
    let log = log_path("t-0", 0);
    let mut bytes = fs.contents(&log).unwrap();
    // The second batch's base offset (outside the CRC); the offset index has an entry for it.
    let second = 12 + i32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
    bytes[second..second + 8].copy_from_slice(&7i64.to_be_bytes());
    fs.set_contents(&log, bytes);
    let report = inspect::verify_partition(&fs, Path::new("/data/t-0")).unwrap();
    let index = Path::new("/data/t-0/00000000000000000000.index");
    assert!(
        report.problems.iter().any(|p| p.path == index),
        "{report:#?}"
    );
    assert!(
        report
            .problems
            .iter()
            .all(|p| p.kind == ProblemKind::DataDamaged),
        "{report:#?}"
    );
}
