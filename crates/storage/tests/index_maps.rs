//! Sealed segments' index files are mapped only while lookups need them.
//!
//! Every mapping counts against the process's `vm.max_map_count` (65,530 by
//! default on Linux): a broker that mapped both indexes of every sealed
//! segment at open could not open partitions past ~32,000 segments. These
//! tests pin down that opening maps nothing, that a lookup maps only the
//! indexes of the segment it needs, that idle mappings are retired with the
//! log mappings, and that answers do not change.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use ferrolog_storage::io::{FileSystem, MemFileSystem};
use ferrolog_storage::{IoOp, LogConfig, Partition, StorageError, Store, StoreOptions};

/// Batches in the test log: batch `i` holds offsets `2i, 2i+1` with
/// timestamps `1000 i, 1000 i + 1`.
const BATCHES: i64 = 120;
const SEGMENT_BYTES: u64 = 600;

fn fill(p: &Partition) {
    for i in 0..BATCHES {
        p.append(&batch("x", 2, 1000 * i)).unwrap();
    }
}

/// Base offsets of the partition's segments, from its directory.
fn segment_bases(fs: &dyn FileSystem, dir: &Path) -> Vec<i64> {
    let mut bases: Vec<i64> = fs
        .read_dir(dir)
        .unwrap()
        .iter()
        .filter_map(|p| p.file_name()?.to_str()?.strip_suffix(".log")?.parse().ok())
        .collect();
    bases.sort_unstable();
    bases
}

fn index_path(dir: &Path, base: i64, extension: &str) -> PathBuf {
    dir.join(format!("{base:020}.{extension}"))
}

/// What the partition answered: the batches (first, last offset) of a fetch
/// from every offset, and (offset, timestamp) of lookups across the timestamps.
#[derive(Debug, PartialEq)]
struct Answers {
    reads: Vec<Vec<(i64, i64)>>,
    lookups: Vec<Option<(i64, i64)>>,
}

fn answers(p: &Partition) -> Answers {
    let reads = (0..p.high_watermark())
        .map(|o| batch_offsets(&p.read(o, 150).unwrap().records))
        .collect();
    let lookups = (0..BATCHES * 1000 + 2)
        .step_by(250)
        .map(|ts| {
            p.offset_for_timestamp(ts)
                .unwrap()
                .map(|f| (f.offset, f.timestamp_ms))
        })
        .collect();
    Answers { reads, lookups }
}

/// A closed store holding one partition `t-0` of many sealed segments, and
/// the answers it gave before it was closed.
fn closed_long_log(fs: &MemFileSystem) -> Answers {
    let store = mem_store(fs);
    let p = store
        .create_partition(id("t", 0), small_segments(SEGMENT_BYTES))
        .unwrap();
    fill(&p);
    assert!(p.segment_count() > 10, "{} segments", p.segment_count());
    let before = answers(&p);
    store.close().unwrap();
    before
}

const DIR: &str = "/data/t-0";

/// `closed_long_log` opened again (cleanly), with its segments' base
/// offsets. Tests keep `store` bound while they use `p`, as a broker would.
struct Reopened {
    fs: MemFileSystem,
    store: Store,
    p: std::sync::Arc<Partition>,
    bases: Vec<i64>,
}

fn reopened_long_log() -> Reopened {
    let fs = MemFileSystem::new();
    closed_long_log(&fs);
    let store = mem_store(&fs);
    let p = store.partition(&id("t", 0)).unwrap();
    let bases = segment_bases(&fs, Path::new(DIR));
    Reopened {
        fs,
        store,
        p,
        bases,
    }
}

#[test]
fn a_partition_of_many_sealed_segments_opens_with_no_index_mapped() {
    let Reopened { fs, store, p, .. } = reopened_long_log();
    assert_eq!(p.mapped_index_files(), Vec::<PathBuf>::new());
    assert_eq!(p.mapped_segment_count(), 0);
    // Nor after an open without a clean shutdown (recovery scans the last
    // segment and rebuilds its indexes).
    drop(p);
    drop(store);
    let store = mem_store(&fs);
    assert!(
        store
            .partition(&id("t", 0))
            .unwrap()
            .recovery_report()
            .is_some()
    );
    drop(store);
    let store = mem_store(&fs);
    let p = store.partition(&id("t", 0)).unwrap();
    assert_eq!(p.high_watermark(), 2 * BATCHES);
    assert_eq!(p.mapped_index_files(), Vec::<PathBuf>::new());
}

#[test]
fn a_fetch_maps_only_the_offset_index_of_the_segment_it_reads() {
    let Reopened {
        fs,
        store: _store,
        p,
        bases,
    } = reopened_long_log();
    let dir = Path::new(DIR);
    let (base, next) = (bases[3], bases[4]);
    let index = index_path(dir, base, "index");
    assert!(
        !fs.contents(&index).unwrap().is_empty(),
        "the segment has index entries"
    );
    // The last offset of the segment: the lookup needs its index.
    let got = batch_offsets(&p.read(next - 1, 1).unwrap().records);
    assert_eq!(got, vec![(next - 2, next - 1)]);
    assert_eq!(p.mapped_index_files(), vec![index]);
}

#[test]
fn a_timestamp_lookup_maps_only_the_indexes_of_the_segment_holding_the_answer() {
    let Reopened {
        store: _store,
        p,
        bases,
        ..
    } = reopened_long_log();
    let dir = Path::new(DIR);
    let (base, next) = (bases[5], bases[6]);
    // The last batch of that segment: batch (next - 2) / 2.
    let ts = 1000 * ((next - 2) / 2) + 1;
    let found = p.offset_for_timestamp(ts).unwrap().unwrap();
    assert_eq!((found.offset, found.timestamp_ms), (next - 1, ts));
    assert_eq!(
        p.mapped_index_files(),
        vec![
            index_path(dir, base, "index"),
            index_path(dir, base, "timeindex")
        ]
    );
}

#[test]
fn lookups_answer_as_before_the_indexes_were_unmapped() {
    let fs = MemFileSystem::new();
    let before = closed_long_log(&fs);
    // A clean open, then opens after stores dropped without closing.
    for clean in [true, false, false] {
        let store = mem_store(&fs);
        let p = store.partition(&id("t", 0)).unwrap();
        assert_eq!(p.recovery_report().is_none(), clean);
        assert_eq!(answers(&p), before, "clean open: {clean}");
        assert!(
            p.mapped_segment_count() <= 5,
            "{} segments mapped",
            p.mapped_segment_count()
        );
    }
}

/// On the real file system, with real mappings: reading the whole log from
/// the start, with timestamp lookups along the way, leaves at most a few
/// sealed segments holding any mapping, and bytes handed out stay valid.
#[test]
fn reading_through_every_segment_keeps_index_mappings_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let p = store
        .create_partition(id("long", 0), small_segments(SEGMENT_BYTES))
        .unwrap();
    fill(&p);
    store.close().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let p = store.partition(&id("long", 0)).unwrap();
    assert!(p.segment_count() > 10);
    assert_eq!(p.mapped_index_files(), Vec::<PathBuf>::new());
    let (mut next, mut held, mut most_indexed, mut most_mapped) = (0i64, Vec::new(), 0, 0);
    while next < p.high_watermark() {
        let records = p.read(next, 200).unwrap().records;
        let last = batch_offsets(&records).last().unwrap().1;
        held.push((records.clone(), records.to_vec()));
        let ts = 1000 * (last / 2);
        assert_eq!(
            p.offset_for_timestamp(ts).unwrap().unwrap().offset,
            last - 1
        );
        next = last + 1;
        let mut indexed: Vec<PathBuf> = p
            .mapped_index_files()
            .iter()
            .map(|f| f.with_extension(""))
            .collect();
        indexed.dedup();
        most_indexed = most_indexed.max(indexed.len());
        most_mapped = most_mapped.max(p.mapped_segment_count());
    }
    assert!(most_indexed >= 1, "lookups map indexes");
    assert!(
        most_indexed <= 4,
        "at most 4 sealed segments keep index mappings, saw {most_indexed}"
    );
    assert!(most_mapped <= 5, "{most_mapped} segments held mappings");
    for (bytes, copy) in &held {
        assert_eq!(&bytes[..], &copy[..], "a slice outlives its mapping");
    }
}

#[test]
fn time_retention_deletes_by_age_without_mapping_an_index() {
    let Reopened {
        store: _store, p, ..
    } = reopened_long_log();
    let segments = p.segment_count();
    p.set_config(LogConfig {
        retention_ms: Some(50_000),
        ..small_segments(SEGMENT_BYTES)
    });
    // now = 100_000: segments whose max timestamp is < 50_000 go.
    let report = p.apply_retention(100_000).unwrap();
    assert!(report.deleted_segments > 0 && report.deleted_segments < segments);
    assert_eq!(p.mapped_index_files(), Vec::<PathBuf>::new());
    assert_eq!(p.mapped_segment_count(), 0);
    // Exactly the segments wholly older than the cutoff went: the batch
    // with timestamp 50_000 (offset 100) is the first one that must stay.
    let start = p.log_start_offset();
    assert!(
        start <= 100,
        "deleted a segment holding timestamps >= 50_000"
    );
    let first = batch_offsets(&p.read(start, 1).unwrap().records)[0];
    assert!(first.1 >= 99, "kept a segment wholly older than the cutoff");
    assert!(p.max_timestamp().unwrap().unwrap().timestamp_ms == 1000 * (BATCHES - 1) + 1);
}

#[test]
fn an_index_that_cannot_be_mapped_fails_the_lookup_with_an_io_error() {
    let Reopened {
        fs,
        store: _store,
        p,
        bases,
    } = reopened_long_log();
    let dir = Path::new(DIR);
    // Files gone behind the store's back: the lookup cannot map them.
    let index = index_path(dir, bases[2], "index");
    let times = index_path(dir, bases[7], "timeindex");
    fs.remove_file(&index).unwrap();
    fs.remove_file(&times).unwrap();
    let result = p.read(bases[3] - 1, 1);
    assert!(
        matches!(&result, Err(StorageError::Io { op: IoOp::Map, path, .. }) if *path == index),
        "{result:?}"
    );
    let ts = 1000 * ((bases[8] - 2) / 2);
    let result = p.offset_for_timestamp(ts);
    assert!(
        matches!(&result, Err(StorageError::Io { op: IoOp::Map, path, .. }) if *path == times),
        "{result:?}"
    );
    // Only those lookups fail: the partition and its other segments serve on.
    assert!(!p.is_failed());
    let got = batch_offsets(&p.read(bases[5], 1).unwrap().records);
    assert_eq!(got[0].0, bases[5]);
    assert!(p.offset_for_timestamp(0).unwrap().is_some());
}
