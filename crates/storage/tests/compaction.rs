//! Log compaction: the records kept against a model, crash images of every
//! step of a segment's swap, compaction racing appends and retention, the
//! store's cleaner thread, and `inspect` on compacted segments.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ferrolog_storage::format::batch::{BatchStep, next_stored_batch, records_section};
use ferrolog_storage::format::builder::{SimpleRecord, compress_batch, encode_batch};
use ferrolog_storage::io::{Fault, FileSystem, MemFileSystem};
use ferrolog_storage::{Compaction, LogConfig, Partition, PassDue, Store, StoreOptions};
use ferrolog_wire::compression::{self, Codec};
use ferrolog_wire::records::Records;
use proptest::prelude::*;

use common::{cases, id, mem_options, small_segments};

const NOW_MS: i64 = 10_000_000;
const DELETE_RETENTION_MS: i64 = 1_000_000;

/// One produced record: key, value, timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rec {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    ts: i64,
}

/// A record read back: its offset and fields.
type Stored = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

/// `records` as one batch compressed with `codec`.
fn keyed_batch(records: &[Rec], codec: Codec) -> Vec<u8> {
    let simple: Vec<SimpleRecord<'_>> = records
        .iter()
        .map(|r| SimpleRecord {
            timestamp_ms: r.ts,
            key: r.key.as_deref(),
            value: r.value.as_deref(),
        })
        .collect();
    compress_batch(&encode_batch(&simple), codec).unwrap()
}

fn compacted(segment_bytes_max: u64) -> LogConfig {
    LogConfig {
        compaction: Some(Compaction {
            delete_retention_ms: DELETE_RETENTION_MS,
            min_dirty_per_mille: 0,
            min_lag_ms: 0,
            max_lag_ms: i64::MAX,
        }),
        ..small_segments(segment_bytes_max)
    }
}

fn options(fs: &MemFileSystem) -> StoreOptions {
    StoreOptions {
        cleaner_check_interval_ms: None,
        retention_check_interval_ms: None,
        ..mem_options(fs)
    }
}

fn open(fs: &MemFileSystem) -> Store {
    Store::open(Path::new("/data"), options(fs)).unwrap()
}

/// A store whose cleaner thread looks every 10 ms, and whose checkpoint
/// (which bounds what the cleaner may clean) follows every 10 ms.
fn open_with_cleaner(fs: &MemFileSystem) -> Store {
    let options = StoreOptions {
        cleaner_check_interval_ms: Some(10),
        checkpoint_interval_ms: 10,
        ..options(fs)
    };
    Store::open(Path::new("/data"), options).unwrap()
}

/// The partition `c-0` of a store opened again, given its config back (an
/// open gives partitions the store's default config; the broker sets theirs).
fn reopened(store: &Store) -> Arc<Partition> {
    let p = store.partition(&id("c", 0)).unwrap();
    p.set_config(compacted(600));
    p
}

/// fsyncs everything and records the recovery point in the checkpoint, which
/// bounds what compaction may clean.
fn settle(p: &Partition) {
    p.flush().unwrap();
    p.checkpoint_if_advanced().unwrap();
}

/// Every record of the partition, after checking that the batch headers
/// cover every offset from the log start to the high watermark.
fn read_all(p: &Partition) -> Vec<Stored> {
    let (start, end) = (p.log_start_offset(), p.high_watermark());
    let mut out = Vec::new();
    let mut next = start;
    let mut first = true;
    while next < end {
        let bytes = p.read(next, 1 << 20).unwrap().records;
        let mut rest = &bytes[..];
        assert!(!rest.is_empty(), "no batch at offset {next}");
        while !rest.is_empty() {
            let BatchStep::Batch { header, size } = next_stored_batch(rest).unwrap() else {
                panic!("torn batch in a read");
            };
            let batch = &rest[..size];
            rest = &rest[size..];
            if first {
                assert!(header.base_offset <= next && next <= header.last_offset());
                first = false;
            } else {
                assert_eq!(header.base_offset, next, "offsets not covered by headers");
            }
            next = header.last_offset() + 1;
            let codec = Codec::from_attributes(header.attributes).unwrap();
            let plain = if header.records_count == 0 {
                Vec::new()
            } else {
                compression::decompress(codec, records_section(batch), 1 << 24).unwrap()
            };
            let mut count = 0;
            for record in Records::new(&plain) {
                let record = record.unwrap();
                let offset = header.base_offset + record.offset_delta;
                assert!(offset <= header.last_offset());
                if offset >= start {
                    out.push((
                        offset,
                        record.key.map(<[u8]>::to_vec),
                        record.value.map(<[u8]>::to_vec),
                    ));
                }
                count += 1;
            }
            assert_eq!(count, header.records_count);
        }
    }
    assert_eq!(next, end);
    out
}

/// What compaction must leave of `appended` (record i at offset i) when the
/// cleaned range ends at `end`; with `horizon_passed`, a pass ran after the
/// delete horizon the first passes gave the tombstones they kept.
fn model(appended: &[Rec], end: i64, horizon_passed: bool) -> Vec<Stored> {
    let mut last: HashMap<&[u8], i64> = HashMap::new();
    for (offset, r) in (0i64..).zip(appended).take_while(|(o, _)| *o < end) {
        if let Some(k) = &r.key {
            last.insert(k, offset);
        }
    }
    (0i64..)
        .zip(appended)
        .filter(|(offset, r)| {
            let Some(k) = &r.key else { return true };
            if *offset >= end {
                return true;
            }
            let newest = last[k.as_slice()] == *offset;
            // A tombstone's own timestamp does not count, however old.
            let expired = r.value.is_none() && horizon_passed;
            newest && !expired
        })
        .map(|(o, r)| (o, r.key.clone(), r.value.clone()))
        .collect()
}

fn as_stored(appended: &[Rec]) -> Vec<Stored> {
    (0i64..)
        .zip(appended)
        .map(|(o, r)| (o, r.key.clone(), r.value.clone()))
        .collect()
}

fn leftovers(fs: &MemFileSystem, dir: &Path) -> Vec<PathBuf> {
    fs.read_dir(dir)
        .unwrap()
        .into_iter()
        .filter(|p| {
            let name = p.to_string_lossy();
            name.ends_with(".cleaned") || name.ends_with(".swap")
        })
        .collect()
}

fn record_strategy() -> impl Strategy<Value = Rec> {
    (0u8..20, 0u8..8, 0u8..10, any::<bool>(), 0i64..50).prop_map(|(k, v, t, old, dt)| Rec {
        key: (k != 0).then(|| format!("k{}", k % 7).into_bytes()),
        value: (v != 0).then(|| format!("value {v} {}", "x".repeat(usize::from(t))).into_bytes()),
        ts: if old { 1_000 + dt } else { NOW_MS - 100 + dt },
    })
}

/// Appends: each a list of batches, each (codec index, records).
fn appends_strategy() -> impl Strategy<Value = Vec<Vec<(usize, Vec<Rec>)>>> {
    let batch = (0usize..5, prop::collection::vec(record_strategy(), 1..6));
    prop::collection::vec(prop::collection::vec(batch, 1..4), 1..25)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(48)))]

    #[test]
    fn compaction_keeps_exactly_the_model(
        appends in appends_strategy(),
        segment_bytes in 200u64..1200,
        key_map_limit in prop_oneof![Just(usize::MAX), 1usize..400],
    ) {
        let fs = MemFileSystem::new();
        let store = open(&fs);
        let p = store.create_partition(id("c", 0), compacted(segment_bytes)).unwrap();
        let mut appended = Vec::new();
        for append in &appends {
            let mut input = Vec::new();
            for (codec, records) in append {
                input.extend_from_slice(&keyed_batch(records, Codec::ALL[*codec]));
                appended.extend(records.iter().cloned());
            }
            p.append(&input).unwrap();
        }
        settle(&p);
        let (start, end) = (p.log_start_offset(), p.high_watermark());
        let before = read_all(&p);
        prop_assert_eq!(&before, &as_stored(&appended));
        // With a small key map a pass ends early; passes go on until one
        // finds nothing dirty, each ending further on.
        let (mut removed, mut passes, mut report) = (0, 0, p.compact_with_key_map_limit(NOW_MS, key_map_limit).unwrap());
        loop {
            removed += report.records_removed;
            passes += 1;
            prop_assert!(passes < 1000, "no end to the passes: {:?}", report);
            let next = p.compact_with_key_map_limit(NOW_MS, key_map_limit).unwrap();
            if next.segments_cleaned == 0 {
                prop_assert_eq!(next.cleaned_up_to, report.cleaned_up_to);
                break;
            }
            prop_assert!(next.cleaned_up_to > report.cleaned_up_to, "{:?} then {:?}", report, next);
            report = next;
        }
        let cleaned_up_to = report.cleaned_up_to.max(0);
        let kept = model(&appended, cleaned_up_to, false);
        if p.segment_count() > 1 {
            prop_assert!(report.cleaned_up_to > 0, "{:?}", report);
        }
        prop_assert_eq!(removed as usize, appended.len() - kept.len());
        prop_assert_eq!(read_all(&p), kept.clone());
        // Every tombstone the passes kept has its horizon now + retention;
        // a pass just before it removes nothing, one at it removes them,
        // with nothing dirty.
        let horizon = NOW_MS + DELETE_RETENTION_MS;
        let covered_tombstones = kept.iter().any(|r| r.0 < cleaned_up_to && r.1.is_some() && r.2.is_none());
        prop_assert_eq!(p.tombstones_due_ms(), if covered_tombstones { horizon } else { i64::MAX });
        prop_assert_eq!(p.compact(horizon - 1).unwrap().segments_rewritten, 0);
        let expected = model(&appended, cleaned_up_to, true);
        let expiry = p.compact(horizon).unwrap();
        prop_assert_eq!(expiry.tombstones_removed as usize, kept.len() - expected.len(), "{:?}", expiry);
        prop_assert_eq!(expiry.records_removed, expiry.tombstones_removed);
        prop_assert_eq!(p.tombstones_due_ms(), i64::MAX);
        prop_assert_eq!(read_all(&p), expected.clone());
        prop_assert_eq!((p.log_start_offset(), p.high_watermark()), (start, end));
        prop_assert_eq!(p.size_bytes(), fs.read_dir(p.dir()).unwrap().iter()
            .filter(|f| f.extension().is_some_and(|e| e == "log"))
            .map(|f| fs.contents(f).unwrap().len() as u64).sum::<u64>());
        prop_assert!(leftovers(&fs, p.dir()).is_empty());
        // A second pass over the clean log writes nothing.
        let again = p.compact(horizon).unwrap();
        prop_assert_eq!(again.segments_rewritten, 0, "{:?}", again);
        let dir = p.dir().to_owned();
        drop(p);
        store.close().unwrap();
        let report = ferrolog_storage::inspect::verify_partition(&fs, &dir).unwrap();
        prop_assert!(report.is_ok(), "{:?}", report.problems);
        // Reopened: the same records, and still nothing to rewrite.
        let store = open(&fs);
        let p = reopened(&store);
        prop_assert_eq!(read_all(&p), expected);
        prop_assert_eq!((p.log_start_offset(), p.high_watermark()), (start, end));
        prop_assert_eq!(p.compact(horizon).unwrap().segments_rewritten, 0);
        store.close().unwrap();
    }
}

/// Keys k0..k9 written `rounds` times each, values "r<round>", one batch per
/// round and key group, in small segments.
fn overwritten(p: &Partition, rounds: usize) -> Vec<Rec> {
    overwritten_at(p, rounds, NOW_MS - 10)
}

/// `overwritten`, every record stamped `ts`.
fn overwritten_at(p: &Partition, rounds: usize, ts: i64) -> Vec<Rec> {
    let mut appended = Vec::new();
    for round in 0..rounds {
        let records: Vec<Rec> = (0..10)
            .map(|k| Rec {
                key: Some(format!("k{k}").into_bytes()),
                value: Some(format!("r{round}").into_bytes()),
                ts,
            })
            .collect();
        p.append(&keyed_batch(&records, Codec::ALL[round % 5]))
            .unwrap();
        appended.extend(records);
    }
    appended
}

#[test]
fn a_segment_that_loses_records_keeps_empty_batches_and_inspect_accepts_it() {
    let fs = MemFileSystem::new();
    let store = open(&fs);
    let p = store.create_partition(id("c", 0), compacted(600)).unwrap();
    let appended = overwritten(&p, 12);
    settle(&p);
    let report = p.compact(NOW_MS).unwrap();
    assert!(
        report.segments_rewritten > 0 && report.bytes_after < report.bytes_before,
        "{report:?}"
    );
    assert_eq!(read_all(&p), model(&appended, report.cleaned_up_to, false));
    let dir = p.dir().to_owned();
    // Some batch lost every record, another only some (the first sealed
    // segment's batches are all superseded by later rounds).
    let first_log = fs.contents(&dir.join(format!("{:020}.log", 0))).unwrap();
    let BatchStep::Batch { header, .. } = next_stored_batch(&first_log).unwrap() else {
        panic!()
    };
    assert_eq!((header.records_count, header.last_offset_delta), (0, 9));
    drop(p);
    store.close().unwrap();
    let verdict = ferrolog_storage::inspect::verify_partition(&fs, &dir).unwrap();
    assert!(verdict.is_ok(), "{:?}", verdict.problems);
}

/// A crash image: its name, and the first segment's files to set, each
/// (suffix, bytes, or None to delete).
type Image = (&'static str, Vec<(&'static str, Option<Vec<u8>>)>);

/// The images of one segment's swap a crash can leave.
fn crash_images(old_log: &[u8], new_log: &[u8], old_index: &[u8]) -> Vec<Image> {
    let half = new_log[..new_log.len() / 2].to_vec();
    vec![
        ("torn .cleaned", vec![(".log.cleaned", Some(half.clone()))]),
        (
            "whole .cleaned",
            vec![(".log.cleaned", Some(new_log.to_vec()))],
        ),
        (
            "committed .swap",
            vec![(".log.swap", Some(new_log.to_vec()))],
        ),
        (
            ".swap, offset index removed",
            vec![(".log.swap", Some(new_log.to_vec())), (".index", None)],
        ),
        (
            ".swap, both indexes removed",
            vec![
                (".log.swap", Some(new_log.to_vec())),
                (".index", None),
                (".timeindex", None),
            ],
        ),
        (
            "swapped, no index",
            vec![
                (".log", Some(new_log.to_vec())),
                (".index", None),
                (".timeindex", None),
            ],
        ),
        (
            "swapped, index torn",
            vec![
                (".log", Some(new_log.to_vec())),
                (".index", Some(old_index[..old_index.len().min(8)].to_vec())),
                (".timeindex", None),
            ],
        ),
        (
            "swapped and indexed",
            vec![(".log", Some(new_log.to_vec()))],
        ),
        ("not started", vec![(".log", Some(old_log.to_vec()))]),
    ]
}

#[test]
fn a_crash_at_any_step_of_the_swap_reads_the_old_or_the_cleaned_segment() {
    let fs = MemFileSystem::new();
    let store = open(&fs);
    let p = store.create_partition(id("c", 0), compacted(600)).unwrap();
    overwritten(&p, 12);
    settle(&p);
    let dir = p.dir().to_owned();
    let old = read_all(&p);
    drop(p);
    store.close().unwrap();
    let pristine = fs.crash();
    // The cleaned content, from a copy.
    let cleaned_fs = pristine.crash();
    let store = open(&cleaned_fs);
    let p = reopened(&store);
    assert!(p.compact(NOW_MS).unwrap().segments_rewritten > 0);
    let cleaned = read_all(&p);
    drop(p);
    store.close().unwrap();
    let seg =
        |fs: &MemFileSystem, suffix: &str| fs.contents(&dir.join(format!("{:020}{suffix}", 0)));
    let (old_log, new_log) = (
        seg(&pristine, ".log").unwrap(),
        seg(&cleaned_fs, ".log").unwrap(),
    );
    assert_ne!(old_log, new_log);
    let first_segment_end = {
        let mut at = 0;
        let mut end = 0;
        while at < new_log.len() {
            let BatchStep::Batch { header, size } = next_stored_batch(&new_log[at..]).unwrap()
            else {
                panic!()
            };
            end = header.last_offset() + 1;
            at += size;
        }
        end
    };
    // Old content with only the first segment cleaned.
    let mut first_cleaned: Vec<Stored> = cleaned
        .iter()
        .filter(|r| r.0 < first_segment_end)
        .cloned()
        .collect();
    first_cleaned.extend(old.iter().filter(|r| r.0 >= first_segment_end).cloned());
    let old_index = seg(&pristine, ".index").unwrap();
    for (name, files) in crash_images(&old_log, &new_log, &old_index) {
        let image = pristine.crash();
        for (suffix, bytes) in files {
            let path = dir.join(format!("{:020}{suffix}", 0));
            match bytes {
                Some(b) => image.set_contents(&path, b),
                None => {
                    if image.exists(&path) {
                        image.remove_file(&path).unwrap();
                    }
                }
            }
        }
        let store = open(&image);
        assert!(
            store.failed_partitions().is_empty(),
            "{name}: {:?}",
            store.failed_partitions()
        );
        let p = reopened(&store);
        let read = read_all(&p);
        assert!(
            read == old || read == first_cleaned,
            "{name}: a mix or a loss: {read:?}"
        );
        assert!(
            leftovers(&image, &dir).is_empty(),
            "{name}: {:?}",
            leftovers(&image, &dir)
        );
        // And the rest of the pass completes from there.
        p.compact(NOW_MS).unwrap();
        assert_eq!(read_all(&p), cleaned, "{name}");
        drop(p);
        store.close().unwrap();
        let verdict = ferrolog_storage::inspect::verify_partition(&image, &dir).unwrap();
        assert!(verdict.is_ok(), "{name}: {:?}", verdict.problems);
    }
}

#[test]
fn a_failed_write_before_the_commit_point_leaves_the_partition_writable() {
    let fs = MemFileSystem::new();
    let store = open(&fs);
    let p = store.create_partition(id("c", 0), compacted(600)).unwrap();
    let appended = overwritten(&p, 12);
    settle(&p);
    for fault in [
        Fault::FailWrite {
            path_contains: ".cleaned".into(),
        },
        Fault::FailSync {
            path_contains: ".cleaned".into(),
        },
    ] {
        fs.inject(fault);
        assert!(p.compact(NOW_MS).is_err());
        assert!(!p.is_failed());
        assert!(leftovers(&fs, p.dir()).is_empty());
        assert_eq!(read_all(&p), as_stored(&appended));
    }
    let report = p.compact(NOW_MS).unwrap();
    assert_eq!(read_all(&p), model(&appended, report.cleaned_up_to, false));
    p.append(&common::batch("after", 2, NOW_MS)).unwrap();
}

#[test]
fn a_failed_index_write_after_the_commit_point_fails_the_partition_and_reopen_finishes() {
    let fs = MemFileSystem::new();
    let store = open(&fs);
    let p = store.create_partition(id("c", 0), compacted(600)).unwrap();
    let appended = overwritten(&p, 12);
    settle(&p);
    fs.inject(Fault::FailWrite {
        path_contains: ".timeindex".into(),
    });
    assert!(p.compact(NOW_MS).is_err());
    assert!(p.is_failed());
    // Reads still work, from the swapped segment.
    let cleaned_prefix = read_all(&p);
    assert!(cleaned_prefix.len() < appended.len());
    drop(p);
    drop(store);
    let image = fs.crash();
    let store = open(&image);
    let p = reopened(&store);
    assert!(!p.is_failed());
    assert_eq!(read_all(&p), cleaned_prefix);
    let report = p.compact(NOW_MS).unwrap();
    assert_eq!(read_all(&p), model(&appended, report.cleaned_up_to, false));
}

#[test]
fn compaction_racing_appends_retention_and_delete_records_loses_and_duplicates_nothing() {
    let fs = MemFileSystem::new();
    let store = open(&fs);
    let p = store
        .create_partition(
            id("c", 0),
            LogConfig {
                retention_bytes: Some(20_000),
                ..compacted(700)
            },
        )
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let p = Arc::clone(&p);
        std::thread::spawn(move || {
            let mut offset = 0i64;
            for _ in 0..400 {
                let records: Vec<Rec> = (0..5)
                    .map(|i| Rec {
                        key: Some(format!("k{}", (offset + i) % 37).into_bytes()),
                        value: Some((offset + i).to_string().into_bytes()),
                        ts: NOW_MS - 10,
                    })
                    .collect();
                let info = p
                    .append(&keyed_batch(
                        &records,
                        Codec::ALL[(offset as usize / 5) % 5],
                    ))
                    .unwrap();
                assert_eq!(info.base_offset, offset);
                offset += 5;
            }
            offset
        })
    };
    let cleaner = {
        let (p, stop) = (Arc::clone(&p), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut passes = 0;
            while !stop.load(Ordering::Acquire) {
                settle(&p);
                p.compact(NOW_MS).unwrap();
                p.apply_retention(NOW_MS).unwrap();
                if passes % 7 == 3 {
                    let to = p.log_start_offset() + 3;
                    p.delete_records_before(to.min(p.high_watermark())).unwrap();
                }
                passes += 1;
            }
            passes
        })
    };
    let end = writer.join().unwrap();
    stop.store(true, Ordering::Release);
    assert!(cleaner.join().unwrap() > 0);
    settle(&p);
    p.compact(NOW_MS).unwrap();
    assert_eq!(p.high_watermark(), end);
    let read = read_all(&p);
    // Every record is the one appended at its offset, none twice.
    assert!(read.windows(2).all(|w| w[0].0 < w[1].0));
    for (offset, key, value) in &read {
        assert_eq!(value.as_deref(), Some(offset.to_string().as_bytes()));
        assert_eq!(key.as_deref(), Some(format!("k{}", offset % 37).as_bytes()));
    }
    // Every key's last record is there, and nothing before it in a cleaned segment.
    let start = p.log_start_offset();
    for k in 0..37 {
        let last = (0..end).rev().find(|o| o % 37 == k).unwrap();
        if last >= start {
            assert!(
                read.iter().any(|r| r.0 == last),
                "lost the last record of k{k} at {last}"
            );
        }
    }
    assert!(!p.is_failed());
    assert!(leftovers(&fs, p.dir()).is_empty());
}

#[test]
fn the_cleaner_thread_compacts_compacted_partitions_and_leaves_the_others_alone() {
    let fs = MemFileSystem::new();
    let store = open_with_cleaner(&fs);
    let kept = store
        .create_partition(id("plain", 0), small_segments(600))
        .unwrap();
    let cleaned = store
        .create_partition(
            id("c", 0),
            LogConfig {
                compaction: Some(Compaction {
                    min_dirty_per_mille: 500,
                    ..Compaction::default()
                }),
                ..small_segments(600)
            },
        )
        .unwrap();
    let kept_records = overwritten(&kept, 12);
    let appended = overwritten(&cleaned, 12);
    kept.flush().unwrap();
    cleaned.flush().unwrap();
    let (kept_bytes, cleaned_bytes) = (kept.size_bytes(), cleaned.size_bytes());
    let deadline = Instant::now() + Duration::from_secs(20);
    while cleaned.size_bytes() >= cleaned_bytes {
        assert!(
            Instant::now() < deadline,
            "the cleaner did not compact within 20 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Whole passes only: wait until a pass leaves nothing dirty.
    while cleaned.dirty_per_mille() > 0 {
        assert!(Instant::now() < deadline, "the cleaner left dirty segments");
        std::thread::sleep(Duration::from_millis(10));
    }
    let report = cleaned.compact(NOW_MS).unwrap();
    assert_eq!(report.segments_rewritten, 0);
    let read = read_all(&cleaned);
    assert!(read.len() < appended.len());
    assert_eq!(read, model(&appended, report.cleaned_up_to, false));
    assert_eq!(kept.size_bytes(), kept_bytes);
    assert_eq!(read_all(&kept), as_stored(&kept_records));
    store.close().unwrap();
}

/// KIP-534's delete horizon, through the cleaner thread: a tombstone stamped
/// in 1970 is kept by the pass that removes the value it deletes (its
/// retention runs from that pass, not from its timestamp), and goes once
/// `delete_retention_ms` has passed, though nothing is written after it.
#[test]
fn a_tombstone_stamped_long_ago_outlives_its_first_pass_then_goes_with_no_new_writes() {
    let fs = MemFileSystem::new();
    let store = open_with_cleaner(&fs);
    let config = LogConfig {
        compaction: Some(Compaction {
            delete_retention_ms: 1_000,
            ..Compaction::default()
        }),
        ..small_segments(600)
    };
    let p = store.create_partition(id("c", 0), config).unwrap();
    let rec = |key: &str, value: Option<&str>| Rec {
        key: Some(key.as_bytes().to_vec()),
        value: value.map(|v| v.as_bytes().to_vec()),
        ts: 1,
    };
    p.append(&keyed_batch(
        &[rec("gone", Some("v1")), rec("stays", Some("v1"))],
        Codec::None,
    ))
    .unwrap();
    p.append(&keyed_batch(&[rec("gone", None)], Codec::Lz4))
        .unwrap();
    // Other keys, to roll the tombstone's segment and seal it.
    for i in 0..12 {
        let key = format!("filler-{i}");
        p.append(&keyed_batch(
            &[rec(&key, Some(&"x".repeat(100)))],
            Codec::None,
        ))
        .unwrap();
    }
    p.flush().unwrap();
    assert!(p.segment_count() > 2);
    let offsets = |p: &Partition| read_all(p).into_iter().map(|r| r.0).collect::<Vec<i64>>();
    let deadline = Instant::now() + Duration::from_secs(20);
    let first_pass = loop {
        let read = offsets(&p);
        if !read.contains(&0) {
            break read;
        }
        assert!(
            Instant::now() < deadline,
            "the cleaner did not compact within 20 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(
        first_pass.starts_with(&[1, 2]),
        "the tombstone went with the value it deletes: {first_pass:?}"
    );
    while offsets(&p).contains(&2) {
        assert!(
            Instant::now() < deadline,
            "the tombstone outlived its delete horizon by far"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(offsets(&p)[0], 1);
    assert_eq!(p.tombstones_due_ms(), i64::MAX);
    store.close().unwrap();
}

/// `max_lag_ms` (Kafka's `max.compaction.lag.ms`) has the cleaner clean a
/// segment that has waited that long, though the dirty share stays under
/// `min_dirty_per_mille`; a partition without it waits for the share.
#[test]
fn the_cleaner_cleans_a_segment_past_the_max_lag_whatever_the_dirty_share() {
    let fs = MemFileSystem::new();
    let store = open_with_cleaner(&fs);
    // Only a log entirely dirty (a first pass) reaches the share.
    let config = |max_lag_ms| LogConfig {
        compaction: Some(Compaction {
            min_dirty_per_mille: 1000,
            max_lag_ms,
            ..Compaction::default()
        }),
        ..small_segments(600)
    };
    let lagged = store
        .create_partition(id("lagged", 0), config(300))
        .unwrap();
    let waiting = store
        .create_partition(id("waiting", 0), config(i64::MAX))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut appended = HashMap::new();
    for p in [&lagged, &waiting] {
        appended.insert(p.dir().to_owned(), overwritten(p, 12));
        p.flush().unwrap();
    }
    for p in [&lagged, &waiting] {
        while p.dirty_per_mille() > 0 {
            assert!(Instant::now() < deadline, "no first pass within 20 s");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    // More updates: dirty again, but under the share.
    for p in [&lagged, &waiting] {
        appended
            .get_mut(p.dir())
            .unwrap()
            .extend(overwritten(p, 12));
        p.flush().unwrap();
    }
    let waiting_before = read_all(&waiting);
    assert!(waiting.dirty_per_mille() > 0 && waiting.dirty_per_mille() < 1000);
    while lagged.dirty_per_mille() > 0 {
        assert!(
            Instant::now() < deadline,
            "a segment past max_lag_ms was not cleaned within 20 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let report = lagged.compact(NOW_MS).unwrap();
    assert_eq!(report.segments_rewritten, 0);
    let lagged_appended = &appended[lagged.dir()];
    assert_eq!(
        read_all(&lagged),
        model(lagged_appended, report.cleaned_up_to, false)
    );
    assert!(
        waiting.dirty_per_mille() > 0,
        "cleaned without reaching the share"
    );
    assert_eq!(read_all(&waiting), waiting_before);
    store.close().unwrap();
}

/// The wall clock in ms, as the store stamps a segment's creation.
fn wall_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since_epoch.as_millis()).unwrap()
}

/// `pass_due`, the cleaner's trigger, counts only what a pass may clean:
/// dirty segments that `min_lag_ms` or the recovery point hold back neither
/// make the dirty share nor the max lag, since a pass would change nothing
/// (and would run again on every check until they are released). The max
/// lag counts from the first batch's timestamp, as in Kafka.
#[test]
fn a_pass_is_due_only_for_dirty_segments_a_pass_may_clean() {
    const HOUR_MS: i64 = 3_600_000;
    let fs = MemFileSystem::new();
    let store = open(&fs);
    let config = |min_dirty_per_mille| LogConfig {
        compaction: Some(Compaction {
            min_dirty_per_mille,
            min_lag_ms: 1_000,
            max_lag_ms: 60_000,
            ..Compaction::default()
        }),
        // As the broker sets it for a compacted topic: the active segment
        // rolls at the max lag.
        segment_ms_max: 60_000,
        ..small_segments(600)
    };

    // Stamped an hour ahead: min_lag_ms holds every segment back past max_lag_ms.
    let ahead = store.create_partition(id("ahead", 0), config(500)).unwrap();
    let start = wall_ms();
    overwritten_at(&ahead, 12, start + HOUR_MS);
    ahead.flush().unwrap();
    let released = start + HOUR_MS + 1_000;
    assert_eq!(ahead.pass_due(released), None, "above the recovery point");
    ahead.checkpoint_if_advanced().unwrap();
    assert_eq!(
        ahead.pass_due(wall_ms() + 120_000),
        None,
        "all dirty and past max_lag_ms, but min_lag_ms holds every segment back"
    );
    assert_eq!(ahead.pass_due(released), Some(PassDue::DirtyShare(1000)));
    assert!(ahead.compact(released).unwrap().segments_rewritten > 0);
    assert_eq!(ahead.pass_due(released), None, "all clean");

    // Dirty again after a pass, under the share, then past the max lag,
    // counted (as in Kafka) from the first batch's timestamp, minutes
    // before the segments were created.
    let late = store.create_partition(id("late", 0), config(1000)).unwrap();
    let first = start - 240_000;
    overwritten_at(&late, 12, first);
    settle(&late);
    assert!(late.compact(start).unwrap().segments_rewritten > 0);
    // Rolls the active segment (its records are past segment_ms_max by
    // timestamps), which is dirty and waits from `first`.
    overwritten_at(&late, 12, start);
    settle(&late);
    assert_eq!(
        late.pass_due(first + 59_000),
        None,
        "under the share and the max lag"
    );
    late.set_config(config(0));
    let Some(PassDue::DirtyShare(share)) = late.pass_due(first + 59_000) else {
        panic!("no dirty share");
    };
    assert!(share > 0 && share < 1000, "share {share}");
    late.set_config(config(1000));
    assert_eq!(late.pass_due(first + 60_000), Some(PassDue::MaxLag));
    store.close().unwrap();
}

/// `require_keys` (a compacted topic's produce rule): an append holding a
/// record without a key is refused whole, naming each keyless record's
/// index in the first batch that has any, in every codec; keyed appends and
/// logs without the rule take anything.
#[test]
fn an_append_with_keyless_records_is_refused_where_keys_are_required() {
    let fs = MemFileSystem::new();
    let store = open(&fs);
    let p = store
        .create_partition(
            id("c", 0),
            LogConfig {
                require_keys: true,
                ..compacted(600)
            },
        )
        .unwrap();
    let rec = |key: Option<&str>, value: Option<&str>| Rec {
        key: key.map(|k| k.as_bytes().to_vec()),
        value: value.map(|v| v.as_bytes().to_vec()),
        ts: NOW_MS,
    };
    for codec in Codec::ALL {
        let keyed = keyed_batch(&[rec(Some("a"), Some("1")), rec(Some("b"), None)], codec);
        let mixed = keyed_batch(
            &[
                rec(Some("a"), Some("1")),
                rec(None, Some("2")),
                rec(Some("c"), Some("3")),
                rec(None, None),
            ],
            codec,
        );
        let mut two = keyed.clone();
        two.extend_from_slice(&mixed);
        let end = p.high_watermark();
        match p.append(&two) {
            Err(ferrolog_storage::StorageError::KeylessRecords { position, indexes }) => {
                assert_eq!((position, indexes), (keyed.len(), vec![1, 3]), "{codec:?}");
            }
            other => panic!("{codec:?}: {other:?}"),
        }
        assert_eq!(
            p.high_watermark(),
            end,
            "{codec:?}: nothing of the append stored"
        );
        p.append(&keyed).unwrap();
    }
    // Without the rule (a log made compacted later may hold such records).
    p.set_config(compacted(600));
    let keyless = keyed_batch(&[rec(None, Some("x"))], Codec::Zstd);
    p.append(&keyless).unwrap();
    store.close().unwrap();
}

#[test]
fn no_compaction_config_is_a_no_op() {
    let fs = MemFileSystem::new();
    let store = open(&fs);
    let p = store
        .create_partition(id("plain", 0), small_segments(600))
        .unwrap();
    let appended = overwritten(&p, 12);
    settle(&p);
    assert_eq!(
        p.compact(NOW_MS).unwrap(),
        ferrolog_storage::CompactionReport::default()
    );
    assert_eq!(read_all(&p), as_stored(&appended));
}

/// A timestamp lookup goes on past every segment compaction emptied (each
/// keeps its max timestamp, so each still looks like a match) to the first
/// record that is left.
#[test]
fn a_timestamp_lookup_passes_over_the_segments_compaction_emptied() {
    let fs = MemFileSystem::new();
    let store = open(&fs);
    let p = store.create_partition(id("c", 0), compacted(600)).unwrap();
    let appended = overwritten(&p, 24);
    settle(&p);
    let report = p.compact(NOW_MS).unwrap();
    let kept = read_all(&p);
    assert_eq!(kept, model(&appended, report.cleaned_up_to, false));
    let first = kept.first().unwrap().0;
    // Several whole segments lie before the first record left.
    assert!(
        p.segment_count() >= 4 && first >= 60,
        "{report:?}, first {first}"
    );
    let found = p.offset_for_timestamp(0).unwrap();
    assert_eq!(found.map(|f| f.offset), Some(first));
    store.close().unwrap();
}
