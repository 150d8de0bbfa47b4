//! Index files that disagree with their log are rebuilt when a partition
//! opens, after a clean shutdown as after a crash; consistent ones are
//! adopted as they are (FORMAT.md §7). Index files are derived data: damage
//! there must neither change an answer nor fail the partition.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use ferrolog_storage::format::batch::stamp_log_append_time;
use ferrolog_storage::inspect::{self, SegmentSummary};
use ferrolog_storage::io::{FileSystem, MemFileSystem};
use ferrolog_storage::{LogConfig, Partition, Store, StoreOptions, TimestampOffset};

const BATCHES: i64 = 24;
/// Timestamps rise to this batch and fall after it, so the partition's
/// largest timestamp lies in a sealed segment, not in the active one.
const PEAK: i64 = 9;
const PEAK_MAX_MS: i64 = 1_000_001;

/// The first record's timestamp of batch `i` (its second record is 1 ms later).
fn first_ms(i: i64) -> i64 {
    1_000_000 - (i - PEAK).abs() * 1000
}

fn config() -> LogConfig {
    LogConfig {
        // Cut-off = the `now_ms` given to `apply_retention`.
        retention_ms: Some(0),
        ..small_segments(400)
    }
}

fn open(fs: &MemFileSystem) -> Store {
    open_with(fs, config())
}

fn open_with(fs: &MemFileSystem, default_config: LogConfig) -> Store {
    let options = StoreOptions {
        default_config,
        retention_check_interval_ms: None,
        ..mem_options(fs)
    };
    Store::open(Path::new("/data"), options).unwrap()
}

/// Writes `t-0`: `BATCHES` batches of 2 records in segments of about 4
/// batches. A clean close, or a crash after a flush (every sealed segment
/// then lies below the recovery point and is trusted by the next open).
fn write_partition(fs: &MemFileSystem, clean: bool) -> Vec<SegmentSummary> {
    let store = open(fs);
    let p = store.create_partition(id("t", 0), config()).unwrap();
    for i in 0..BATCHES {
        p.append(&batch("x", 2, first_ms(i))).unwrap();
    }
    if clean {
        store.close().unwrap();
    } else {
        p.flush().unwrap();
        p.checkpoint_if_advanced().unwrap();
    }
    let report = inspect::verify_partition(fs, Path::new("/data/t-0")).unwrap();
    assert!(report.is_ok(), "{report:#?}");
    assert!(report.segments.len() >= 4, "{report:#?}");
    report.segments
}

fn time_index_of(segment: &SegmentSummary) -> PathBuf {
    segment.path.with_extension("timeindex")
}

/// The sealed segment holding the peak batch.
fn peak_segment(segments: &[SegmentSummary]) -> usize {
    let at = segments
        .iter()
        .position(|s| s.max_timestamp == Some(PEAK_MAX_MS))
        .unwrap();
    assert!(
        at + 1 < segments.len(),
        "the peak must be in a sealed segment"
    );
    at
}

#[derive(Clone, Copy, Debug)]
enum Damage {
    /// The walkthrough's flip: `b[0] ^= 0x40` makes it about 4.6e18.
    TimestampTooLarge,
    /// Smaller than the truth, still above the entry before it.
    TimestampTooSmall,
    /// A relative offset past the segment's last offset.
    OffsetPastTheSegment,
    /// An offset inside the right batch, not its last one.
    OffsetInsideTheBatch,
}

/// Damages the last entry of a time index, keeping the file's entries in order.
fn damage_last_entry(fs: &MemFileSystem, path: &Path, damage: Damage) {
    let mut bytes = fs.contents(path).unwrap();
    let last = bytes.len() - 12;
    let timestamp = i64::from_be_bytes(bytes[last..last + 8].try_into().unwrap());
    let relative = u32::from_be_bytes(bytes[last + 8..].try_into().unwrap());
    match damage {
        Damage::TimestampTooLarge => bytes[last] ^= 0x40,
        Damage::TimestampTooSmall => {
            let smaller = timestamp - 501;
            bytes[last..last + 8].copy_from_slice(&smaller.to_be_bytes());
        }
        Damage::OffsetPastTheSegment => {
            bytes[last + 8..].copy_from_slice(&(relative + 1000).to_be_bytes());
        }
        Damage::OffsetInsideTheBatch => {
            bytes[last + 8..].copy_from_slice(&(relative - 1).to_be_bytes());
        }
    }
    fs.set_contents(path, bytes);
}

/// ListOffsets -3 and the segment max timestamps retention goes by are
/// those of the log, and every time index matches the log again.
fn assert_answers_follow_the_log(p: &Partition, segments: &[SegmentSummary], what: &str) {
    let peak = peak_segment(segments);
    assert_eq!(
        p.max_timestamp().unwrap(),
        Some(TimestampOffset {
            timestamp_ms: PEAK_MAX_MS,
            offset: 2 * PEAK + 1,
        }),
        "{what}: max timestamp"
    );
    // Retention deletes the prefix of sealed segments whose max timestamp
    // is below the cut-off: everything before the peak segment, then (a
    // millisecond past the peak) every sealed segment.
    let report = p.apply_retention(PEAK_MAX_MS - 500).unwrap();
    assert_eq!(
        report.log_start_offset, segments[peak].base_offset,
        "{what}: retention with the cut-off just below the peak segment's max"
    );
    let report = p.apply_retention(PEAK_MAX_MS + 1).unwrap();
    let active = segments.last().unwrap();
    assert_eq!(
        report.log_start_offset, active.base_offset,
        "{what}: retention with the cut-off past every max"
    );
}

fn damaged_time_index_is_rebuilt(damage: Damage, clean: bool) {
    let what = format!("{damage:?}, clean shutdown {clean}");
    let fs = MemFileSystem::new();
    let segments = write_partition(&fs, clean);
    let path = time_index_of(&segments[peak_segment(&segments)]);
    let original = fs.contents(&path).unwrap();
    damage_last_entry(&fs, &path, damage);
    assert!(
        !inspect::check_time_index(&fs, &path).unwrap().is_empty(),
        "{what}: inspect sees the damage"
    );

    let store = open(&fs);
    let p = store.partition(&id("t", 0)).unwrap();
    let after_open = fs.contents(&path).unwrap();
    assert_answers_follow_the_log(&p, &segments, &what);
    assert_eq!(
        after_open, original,
        "{what}: the time index was rewritten from the log"
    );
    assert_eq!(p.rebuilt_index_count(), 1, "{what}");
    if !clean {
        assert_eq!(p.recovery_report().unwrap().rebuilt_indexes, 1, "{what}");
    }
}

macro_rules! damaged_time_index_tests {
    ($($name:ident: $damage:ident, $clean:expr;)*) => {$(
        #[test]
        fn $name() {
            damaged_time_index_is_rebuilt(Damage::$damage, $clean);
        }
    )*};
}

damaged_time_index_tests! {
    a_time_index_max_too_large_is_rebuilt_after_a_clean_shutdown: TimestampTooLarge, true;
    a_time_index_max_too_large_is_rebuilt_after_a_crash: TimestampTooLarge, false;
    a_time_index_max_too_small_is_rebuilt_after_a_clean_shutdown: TimestampTooSmall, true;
    a_time_index_max_too_small_is_rebuilt_after_a_crash: TimestampTooSmall, false;
    a_time_index_offset_past_the_segment_is_rebuilt_after_a_clean_shutdown: OffsetPastTheSegment, true;
    a_time_index_offset_past_the_segment_is_rebuilt_after_a_crash: OffsetPastTheSegment, false;
    a_time_index_offset_inside_its_batch_is_rebuilt_after_a_clean_shutdown: OffsetInsideTheBatch, true;
    a_time_index_offset_inside_its_batch_is_rebuilt_after_a_crash: OffsetInsideTheBatch, false;
}

/// The offset index's last entry is where the open's walk of the log's tail
/// starts: a wrong position or offset there is a stale index to rebuild,
/// not damage to the data that fails the partition.
#[test]
fn a_damaged_last_offset_index_entry_is_rebuilt_not_fatal() {
    for (field_at, what) in [(4, "position"), (0, "relative offset")] {
        let fs = MemFileSystem::new();
        let segments = write_partition(&fs, true);
        let path = segments[1].path.with_extension("index");
        let original = fs.contents(&path).unwrap();
        let mut bytes = original.clone();
        let last = bytes.len() - 8 + field_at;
        let value = u32::from_be_bytes(bytes[last..last + 4].try_into().unwrap());
        // Still above the entry before it, so the file's own order holds.
        bytes[last..last + 4].copy_from_slice(&(value + 1).to_be_bytes());
        fs.set_contents(&path, bytes);

        let store = open(&fs);
        let p = store.partition(&id("t", 0)).unwrap();
        assert!(!p.is_failed(), "{what}");
        assert_eq!(fs.contents(&path).unwrap(), original, "{what}");
        assert_eq!(p.rebuilt_index_count(), 1, "{what}");
        assert_eq!(p.high_watermark(), 2 * BATCHES, "{what}");
        assert_answers_follow_the_log(&p, &segments, what);
    }
}

/// A clean open checks a sealed offset index at its last entry only (FORMAT.md
/// §7), so damage further in reaches the reads. It must still never change
/// what a read returns: an entry that names a batch under a smaller offset
/// than its own sends the walk past the records asked for, which would skip
/// them silently, and one whose position lands inside a batch would look like
/// damage to the log and fail the partition.
#[test]
fn a_damaged_middle_offset_index_entry_never_changes_a_read() {
    // Entry 1 of the second segment; the file's own order still holds after each.
    let damages = [
        ("an offset inside the batch before", 0, -1i64),
        ("a position inside its batch", 4, 1),
    ];
    let ts = |offset: i64| first_ms(offset / 2) + offset % 2;
    for ((how, field_at, delta), mapped) in
        damages.into_iter().flat_map(|d| [(d, true), (d, false)])
    {
        let how = format!("{how}, {}", if mapped { "mapped" } else { "read" });
        let fs = MemFileSystem::new();
        let segments = write_partition(&fs, true);
        if !mapped {
            fs.refuse_mappings();
        }
        let path = segments[1].path.with_extension("index");
        let mut bytes = fs.contents(&path).unwrap();
        assert!(bytes.len() >= 3 * 8, "{how}: want a middle entry");
        let at = 8 + field_at;
        let value = i64::from(u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()));
        let damaged = u32::try_from(value + delta).unwrap();
        bytes[at..at + 4].copy_from_slice(&damaged.to_be_bytes());
        fs.set_contents(&path, bytes);

        let store = open(&fs);
        let p = store.partition(&id("t", 0)).unwrap();
        assert_eq!(
            p.rebuilt_index_count(),
            0,
            "{how}: the open does not see it"
        );
        for offset in 0..2 * BATCHES {
            let records = p.read(offset, 1).map(|r| r.records);
            let base_offset = records
                .as_ref()
                .map(|r| i64::from_be_bytes(r[..8].try_into().unwrap()));
            assert_eq!(
                base_offset.as_ref().ok(),
                Some(&(offset - offset % 2)),
                "{how}: read at {offset}: {records:?}"
            );
        }
        for target in (0..2 * BATCHES).map(ts) {
            let first = (0..2 * BATCHES).find(|&o| ts(o) >= target).unwrap();
            assert_eq!(
                p.offset_for_timestamp(target).unwrap().map(|t| t.offset),
                Some(first),
                "{how}: the first record at or after {target}"
            );
        }
        assert!(!p.is_failed(), "{how}");
    }
}

/// Each kind of consistent index must be adopted as it is: the check at open
/// must not mistake one for damage (a rebuild walks the whole segment).
#[test]
fn consistent_indexes_are_adopted_without_a_rebuild() {
    type Append = fn(&Partition, i64);
    let kinds: [(&str, u32, Append); 5] = [
        // Timestamps that rise and fall, an offset-index entry for every batch.
        ("peaked", 0, |p, i| {
            p.append(&batch("x", 2, first_ms(i))).unwrap();
        }),
        // Log-append time: the broker stamps each batch's max timestamp.
        ("stamped", 64, |p, i| {
            let mut appended_late = batch("x", 3, 5);
            stamp_log_append_time(&mut appended_late, 7_000 + i).unwrap();
            p.append(&appended_late).unwrap();
        }),
        // Repeated and missing (-1) timestamps: the first batch to reach the max counts.
        ("flat", 64, |p, i| {
            p.append(&batch("x", 1, if i % 3 == 0 { -1 } else { 500 }))
                .unwrap();
        }),
        // An interval larger than any segment: no offset-index entries at all.
        ("sparse", 1 << 20, |p, i| {
            p.append(&batch("x", 2, first_ms(i))).unwrap();
        }),
        // Nothing appended: one empty segment, empty index files.
        ("empty", 64, |_, _| {}),
    ];
    for (name, index_interval_bytes, append) in kinds {
        let fs = MemFileSystem::new();
        // Partitions found on disk open with the store's default config.
        let config = LogConfig {
            index_interval_bytes,
            ..config()
        };
        let store = open_with(&fs, config.clone());
        let p = store.create_partition(id(name, 0), config.clone()).unwrap();
        for i in 0..BATCHES {
            append(&p, i);
        }
        store.close().unwrap();
        let before = index_files(&fs, name);
        for reopen in 0..2 {
            let store = open_with(&fs, config.clone());
            let p = store.partition(&id(name, 0)).unwrap();
            assert_eq!(p.rebuilt_index_count(), 0, "{name}, reopen {reopen}");
            assert!(p.segment_count() > 1 || name == "empty", "{name}");
            assert_eq!(index_files(&fs, name), before, "{name}, reopen {reopen}");
            if name == "stamped" {
                // The last batch's stamp, at its first record.
                let last_batch = 3 * BATCHES - 3;
                assert_eq!(
                    p.max_timestamp().unwrap(),
                    Some(TimestampOffset {
                        timestamp_ms: 7_000 + BATCHES - 1,
                        offset: last_batch,
                    })
                );
            }
            store.close().unwrap();
        }
    }
}

/// Every index file of partition `<name>-0`, with its bytes.
fn index_files(fs: &MemFileSystem, name: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = fs
        .read_dir(Path::new(&format!("/data/{name}-0")))
        .unwrap()
        .into_iter()
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "index" || e == "timeindex")
        })
        .map(|p| {
            let bytes = fs.contents(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

/// After a crash, the trusted segments before the recovery point keep their
/// indexes too; only the segments from the recovery point on are scanned.
#[test]
fn a_crash_reopen_adopts_the_trusted_segments_indexes() {
    let fs = MemFileSystem::new();
    let segments = write_partition(&fs, false);
    let sealed = &segments[..segments.len() - 1];
    let before: Vec<Vec<u8>> = sealed
        .iter()
        .map(|s| fs.contents(&time_index_of(s)).unwrap())
        .collect();
    let store = open(&fs);
    let p = store.partition(&id("t", 0)).unwrap();
    let report = p.recovery_report().unwrap();
    assert_eq!(report.scanned_segments, 1, "{report:?}");
    assert_eq!(report.rebuilt_indexes, 0, "{report:?}");
    assert_eq!(p.rebuilt_index_count(), 0);
    let after: Vec<Vec<u8>> = sealed
        .iter()
        .map(|s| fs.contents(&time_index_of(s)).unwrap())
        .collect();
    assert_eq!(after, before);
    assert_answers_follow_the_log(&p, &segments, "undamaged, after a crash");
}

/// After a crash the segments from the recovery point on are scanned and
/// their indexes rebuilt; the files must be rewritten even where the rebuilt
/// index has no entries until its final time entry (a segment smaller than
/// the index interval), or the old files, damage and all, stay.
#[test]
fn a_scanned_segment_gets_its_index_files_rewritten_without_offset_entries() {
    let fs = MemFileSystem::new();
    {
        let store = open(&fs);
        let p = store.create_partition(id("t", 0), config()).unwrap();
        for i in 0..BATCHES {
            p.append(&batch("x", 2, first_ms(i))).unwrap();
        }
        // Index files written, recovery point still 0 on disk: the next
        // open scans every segment.
        p.flush().unwrap();
    }
    let segments = inspect::verify_partition(&fs, Path::new("/data/t-0"))
        .unwrap()
        .segments;
    let path = time_index_of(&segments[peak_segment(&segments)]);
    damage_last_entry(&fs, &path, Damage::TimestampTooLarge);
    // An index interval larger than a segment, as Kafka's default 4 KiB.
    let store = open_with(
        &fs,
        LogConfig {
            index_interval_bytes: 4096,
            ..config()
        },
    );
    let p = store.partition(&id("t", 0)).unwrap();
    assert_eq!(
        p.recovery_report().unwrap().scanned_segments,
        segments.len()
    );
    assert_eq!(
        inspect::check_time_index(&fs, &path).unwrap(),
        Vec::<String>::new()
    );
    let entries = inspect::time_index_entries(&fs, &path).unwrap().0;
    let last = entries.last().unwrap();
    assert_eq!(last.timestamp_ms, PEAK_MAX_MS);
    assert_answers_follow_the_log(&p, &segments, "scanned");
}
