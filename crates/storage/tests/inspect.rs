//! `ferrolog inspect`'s library side: dumps and verification.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use ferrolog_storage::inspect::{self, SegmentEntry};
use ferrolog_storage::io::MemFileSystem;

fn populated(fs: &MemFileSystem) {
    let store = mem_store(fs);
    let p = store
        .create_partition(id("t", 0), small_segments(400))
        .unwrap();
    for i in 0..12 {
        p.append(&batch("v", 2, 1000 + i)).unwrap();
    }
    store.close().unwrap();
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
