//! Timestamp lookups, max timestamp, retention and DeleteRecords.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use common::*;
use ferrolog_storage::format::batch::set_base_offset;
use ferrolog_storage::format::builder::{
    SimpleRecord, compress_batch, encode_batch, set_attributes,
};
use ferrolog_storage::io::MemFileSystem;
use ferrolog_storage::{BatchError, Durability, LogConfig, StorageError, TimestampOffset};
use ferrolog_wire::compression::Codec;

fn records_at(timestamps: &[i64]) -> Vec<u8> {
    let records: Vec<SimpleRecord<'_>> = timestamps
        .iter()
        .map(|&ts| SimpleRecord {
            timestamp_ms: ts,
            key: None,
            value: Some(b"v"),
        })
        .collect();
    encode_batch(&records)
}

#[test]
fn timestamp_lookup_finds_the_exact_record_in_uncompressed_batches() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let p = store
        .create_partition(id("t", 0), small_segments(250))
        .unwrap();
    p.append(&records_at(&[100, 105, 103])).unwrap(); // offsets 0..=2
    p.append(&records_at(&[110, 120])).unwrap(); // 3..=4
    p.append(&records_at(&[90, 130])).unwrap(); // 5..=6 (timestamps need not rise)
    for _ in 0..10 {
        p.append(&records_at(&[200, 201])).unwrap();
    }
    assert!(p.segment_count() > 2);
    let at = |ts| {
        p.offset_for_timestamp(ts)
            .unwrap()
            .map(|f| (f.offset, f.timestamp_ms))
    };
    assert_eq!(at(0), Some((0, 100)));
    assert_eq!(at(101), Some((1, 105)));
    assert_eq!(at(105), Some((1, 105)));
    assert_eq!(at(106), Some((3, 110)));
    assert_eq!(at(121), Some((6, 130)));
    assert_eq!(at(131), Some((7, 200)));
    assert_eq!(at(202), None);
    assert_eq!(
        p.max_timestamp().unwrap(),
        Some(TimestampOffset {
            timestamp_ms: 201,
            offset: 8
        })
    );
    // The same answers after a clean reopen (indexes from files) and after a crash (rebuilt).
    store.close().unwrap();
    for after_crash in [false, true] {
        let store = mem_store(&fs);
        let p = store.partition(&id("t", 0)).unwrap();
        let at = |ts| {
            p.offset_for_timestamp(ts)
                .unwrap()
                .map(|f| (f.offset, f.timestamp_ms))
        };
        assert_eq!(
            (at(106), at(121), at(202)),
            (Some((3, 110)), Some((6, 130)), None),
            "after crash: {after_crash}"
        );
        assert_eq!(p.max_timestamp().unwrap().unwrap().timestamp_ms, 201);
        if after_crash {
            store.close().unwrap();
        } else {
            drop(store); // a crash: the next open rebuilds the indexes
        }
    }
}

/// `batch` with its records section replaced by `compress`'s output and its
/// attributes naming `codec`: a damaged batch, where `compress_batch` makes a
/// sound one.
fn compressed(batch: &[u8], codec: i16, compress: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    const HEADER: usize = 61;
    let mut out = batch[..HEADER].to_vec();
    out.extend(compress(&batch[HEADER..]));
    let length = i32::try_from(out.len() - 12).unwrap();
    out[8..12].copy_from_slice(&length.to_be_bytes());
    set_attributes(&mut out, codec);
    out
}

/// Kafka walks the records of a compressed batch for both lookups; so does
/// the engine (the Java client's `offsetsForTimes` showed the difference).
#[test]
fn compressed_batches_answer_with_the_exact_record() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let p = store
        .create_partition(id("t", 0), small_segments(250))
        .unwrap();
    p.append(&compress_batch(&records_at(&[10, 20, 40, 30]), Codec::Gzip).unwrap())
        .unwrap(); // offsets 0..=3
    for _ in 0..4 {
        p.append(&records_at(&[35, 36])).unwrap(); // 4..=11
    }
    p.append(&compress_batch(&records_at(&[50, 70, 60, 70]), Codec::Zstd).unwrap())
        .unwrap(); // 12..=15
    assert!(p.segment_count() > 1);

    let check = |p: &ferrolog_storage::Partition, when: &str| {
        let at = |ts| {
            p.offset_for_timestamp(ts)
                .unwrap()
                .map(|f| (f.offset, f.timestamp_ms))
        };
        assert_eq!(
            [at(15), at(25), at(41), at(55), at(65), at(71)],
            [
                Some((1, 20)),
                Some((2, 40)),
                Some((12, 50)),
                Some((13, 70)),
                Some((13, 70)),
                None
            ],
            "{when}"
        );
        // The first record that carries the max timestamp, not the batch's last.
        let max = p.max_timestamp().unwrap().unwrap();
        assert_eq!((max.offset, max.timestamp_ms), (13, 70), "{when}");
    };
    check(&p, "while written");
    drop(store);
    // After a crash the indexes are rebuilt from the log: the same answers.
    let store = mem_store(&fs);
    let p = store.partition(&id("t", 0)).unwrap();
    check(&p, "after a crash");

    // Below the log start the search moves on inside the batch.
    p.delete_records_before(3).unwrap();
    let found = p.offset_for_timestamp(15).unwrap().unwrap();
    assert_eq!((found.offset, found.timestamp_ms), (3, 30));
}

/// A batch whose records will not decompress, and a log-append-time batch
/// (every record carries the batch's timestamp), answer with the batch: its
/// first record at or after the log start, and its max timestamp. The append
/// refuses malformed records, so those are put in the segment as a file
/// written before that check (or damaged behind a valid CRC) would hold them.
#[test]
fn undecodable_and_log_append_time_batches_answer_with_the_batch() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let p = store
        .create_partition(id("t", 0), config(Durability::Never))
        .unwrap();
    p.append(&records_at(&[10, 11])).unwrap(); // offsets 0..=1
    // Marked gzip, but the records are plain: they do not decompress.
    let mut not_gzip = records_at(&[20, 30, 40]);
    set_attributes(&mut not_gzip, 1);
    let mut append_time = records_at(&[50, 50]);
    set_attributes(&mut append_time, 8);
    // Records that end before the header's count.
    let short = compressed(&records_at(&[60, 70, 80]), 0, |section| {
        section[..section.len() / 2].to_vec()
    });
    assert!(matches!(
        p.append(&not_gzip),
        Err(StorageError::InvalidBatch {
            source: BatchError::Records(_),
            ..
        })
    ));
    assert!(matches!(
        p.append(&short),
        Err(StorageError::InvalidBatch {
            source: BatchError::Records(_),
            ..
        })
    ));
    drop(p);
    drop(store);

    let path = log_path("t-0", 0);
    let mut log = fs.contents(&path).unwrap();
    for (mut batch, base_offset) in [(not_gzip, 2), (append_time, 5), (short, 7)] {
        set_base_offset(&mut batch, base_offset);
        log.extend(batch);
    }
    fs.set_contents(&path, log);
    let store = mem_store(&fs.crash());
    let p = store.partition(&id("t", 0)).unwrap();
    assert_eq!(p.high_watermark(), 10);
    let found = p.offset_for_timestamp(35).unwrap().unwrap();
    assert_eq!((found.offset, found.timestamp_ms), (2, 40));
    let found = p.offset_for_timestamp(45).unwrap().unwrap();
    assert_eq!((found.offset, found.timestamp_ms), (5, 50));
    // The whole short batch answers, nothing is skipped.
    let found = p.offset_for_timestamp(75).unwrap().unwrap();
    assert_eq!((found.offset, found.timestamp_ms), (7, 80));
    // Where the records cannot be read, the max is placed in its batch.
    let max = p.max_timestamp().unwrap().unwrap();
    assert!((7..=9).contains(&max.offset), "{max:?}");
    assert_eq!(max.timestamp_ms, 80);
}

#[test]
fn retention_by_size_deletes_oldest_sealed_segments_and_moves_the_log_start() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let p = store
        .create_partition(id("t", 0), small_segments(300))
        .unwrap();
    for i in 0..30 {
        p.append(&batch("x", 2, i)).unwrap();
    }
    let segments = p.segment_count();
    let total = p.size_bytes();
    p.set_config(LogConfig {
        retention_bytes: Some(total / 2),
        ..small_segments(300)
    });
    let report = p.apply_retention(0).unwrap();
    assert!(report.deleted_segments > 0 && report.deleted_segments < segments);
    assert!(p.size_bytes() >= total / 2, "deleted too much");
    assert!(
        p.size_bytes() - total / 2 < 300,
        "kept a whole extra segment"
    );
    assert_eq!(p.log_start_offset(), report.log_start_offset);
    assert!(matches!(
        p.read(0, 100),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    let first = batch_offsets(&p.read(report.log_start_offset, 1).unwrap().records);
    assert_eq!(first[0].0, report.log_start_offset);
    // Even a zero budget never deletes the active segment.
    p.set_config(LogConfig {
        retention_bytes: Some(0),
        ..small_segments(300)
    });
    p.apply_retention(0).unwrap();
    assert_eq!(p.segment_count(), 1);
    assert_eq!(p.high_watermark(), 60);
    let start = p.log_start_offset();
    drop(store);
    let store = mem_store(&fs);
    let p = store.partition(&id("t", 0)).unwrap();
    assert_eq!((p.log_start_offset(), p.high_watermark()), (start, 60));
}

#[test]
fn retention_by_age_uses_each_segments_max_timestamp() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let p = store
        .create_partition(id("t", 0), small_segments(200))
        .unwrap();
    for i in 0..12 {
        p.append(&batch("x", 2, 1000 * i)).unwrap();
    }
    let segments = p.segment_count();
    assert!(segments >= 4);
    p.set_config(LogConfig {
        retention_ms: Some(5000),
        ..small_segments(200)
    });
    // now = 10_000: segments whose max timestamp is < 5000 go.
    let report = p.apply_retention(10_000).unwrap();
    assert!(report.deleted_segments >= 1);
    let oldest_kept = p.read(p.log_start_offset(), 1).unwrap();
    let offsets = batch_offsets(&oldest_kept.records);
    assert!(
        offsets[0].0 <= 10,
        "deleted a segment holding timestamps >= 5000"
    );
    assert!(p.offset_for_timestamp(0).unwrap().unwrap().offset >= p.log_start_offset());
    assert_eq!(p.apply_retention(10_000).unwrap().deleted_segments, 0);
    let sealed = p.segment_count() - 1;
    assert_eq!(
        p.apply_retention(i64::MAX).unwrap().deleted_segments,
        sealed
    );
    assert_eq!(p.segment_count(), 1);
}

#[test]
fn delete_records_moves_the_log_start_and_persists_it() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let p = store
        .create_partition(id("t", 0), small_segments(300))
        .unwrap();
    for i in 0..20 {
        p.append(&batch("x", 2, i)).unwrap();
    }
    let before = p.segment_count();
    assert_eq!(p.delete_records_before(25).unwrap(), 25);
    assert!(p.segment_count() < before);
    assert_eq!(
        p.delete_records_before(3).unwrap(),
        25,
        "the log start never moves back"
    );
    assert!(matches!(
        p.delete_records_before(41),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        p.read(24, 10),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    // The batch holding 25 starts at 24; it is still returned whole.
    assert_eq!(
        batch_offsets(&p.read(25, 1).unwrap().records),
        vec![(24, 25)]
    );
    assert_eq!(p.delete_records_before(40).unwrap(), 40);
    assert!(p.read(40, 10).unwrap().records.is_empty());
    drop(store);
    let store = mem_store(&fs);
    let p = store.partition(&id("t", 0)).unwrap();
    assert_eq!((p.log_start_offset(), p.high_watermark()), (40, 40));
    assert_eq!(p.append(&batch("y", 1, 0)).unwrap().base_offset, 40);
}

#[test]
fn segments_roll_by_age() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let p = store
        .create_partition(id("t", 0), config(Durability::Never))
        .unwrap();
    p.append(&batch("x", 1, 0)).unwrap();
    p.append(&batch("x", 1, 0)).unwrap();
    assert_eq!(p.segment_count(), 1);
    p.set_config(LogConfig {
        segment_ms_max: 0,
        ..config(Durability::Never)
    });
    p.append(&batch("x", 1, 0)).unwrap();
    assert_eq!(p.segment_count(), 2);
    assert_eq!(batch_offsets(&p.read(0, 1 << 20).unwrap().records).len(), 3);
}

#[test]
fn readers_never_see_a_partial_batch_while_a_writer_appends() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let p = store
        .create_partition(id("t", 0), small_segments(4000))
        .unwrap();
    let writer = {
        let p = Arc::clone(&p);
        std::thread::spawn(move || {
            for i in 0..400 {
                p.append(&batch(&"w".repeat(i % 50), 1 + i % 7, i as i64))
                    .unwrap();
            }
        })
    };
    let mut seen = 0;
    while seen < 400 * 4 {
        let hw = p.high_watermark();
        if hw == 0 {
            continue;
        }
        let result = p.read(0, usize::MAX).unwrap();
        let mut rest = &result.records[..];
        let mut next = 0;
        while !rest.is_empty() {
            let (header, size) =
                ferrolog_storage::format::batch::whole_batch(rest).expect("whole valid batch");
            assert_eq!(header.base_offset, next);
            next = header.last_offset() + 1;
            rest = &rest[size..];
        }
        assert!(
            next >= hw,
            "read returned less than the high watermark seen before it"
        );
        seen = next;
        if writer.is_finished() && next == p.high_watermark() {
            break;
        }
    }
    writer.join().unwrap();
}
