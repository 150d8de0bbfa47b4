use super::*;
use crate::format::builder::{SimpleRecord, encode_batch};

fn sample() -> Vec<u8> {
    let recs = [
        SimpleRecord {
            timestamp_ms: 1000,
            key: Some(b"k"),
            value: Some(b"v1"),
        },
        SimpleRecord {
            timestamp_ms: 1005,
            key: None,
            value: Some(b"v2"),
        },
        SimpleRecord {
            timestamp_ms: 999,
            key: None,
            value: None,
        },
    ];
    encode_batch(&recs)
}

#[test]
fn built_batch_is_valid_and_parses() {
    let batch = sample();
    let (header, size) = whole_batch(&batch).unwrap();
    assert_eq!(size, batch.len());
    assert_eq!(header.records_count, 3);
    assert_eq!(header.last_offset_delta, 2);
    assert_eq!(header.max_timestamp, 1005);
    assert_eq!(header.base_timestamp, 1000);
    assert_eq!(header.magic, 2);
}

#[test]
fn every_single_byte_flip_outside_base_offset_and_leader_epoch_is_detected() {
    // The base offset and partition leader epoch lie outside the CRC by
    // design (the broker rewrites them); everything else is covered.
    let batch = sample();
    for at in (LENGTH_AT..LEADER_EPOCH_AT).chain(MAGIC_AT..batch.len()) {
        let mut bad = batch.clone();
        bad[at] ^= 0x40;
        let result = next_batch(&bad);
        let ok = matches!(result, Ok(BatchStep::Batch { .. }));
        assert!(!ok, "flip at byte {at} went unnoticed");
    }
}

#[test]
fn base_offset_patch_keeps_crc_valid() {
    let mut batch = sample();
    set_base_offset(&mut batch, 123_456);
    let (header, _) = whole_batch(&batch).unwrap();
    assert_eq!(header.base_offset, 123_456);
    assert_eq!(header.last_offset(), 123_458);
}

#[test]
fn typed_errors_say_what_is_wrong() {
    let batch = sample();
    let mut crc = batch.clone();
    let last = crc.len() - 1;
    crc[last] ^= 1;
    assert!(matches!(
        next_batch(&crc),
        Err(BatchError::CrcMismatch { .. })
    ));
    let mut magic = batch.clone();
    magic[MAGIC_AT] = 1;
    assert!(matches!(
        next_batch(&magic),
        Err(BatchError::BadMagic { magic: 1 })
    ));
    let mut length = batch.clone();
    length[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&5i32.to_be_bytes());
    assert!(matches!(
        next_batch(&length),
        Err(BatchError::LengthMismatch { length: 5 })
    ));
    assert!(matches!(
        whole_batch(&batch[..30]),
        Err(BatchError::Truncated { .. })
    ));
    assert!(matches!(
        whole_batch(&batch[..batch.len() - 1]),
        Err(BatchError::Truncated { .. })
    ));
    assert!(matches!(
        next_batch(&batch[..batch.len() - 1]),
        Ok(BatchStep::NeedMore { .. })
    ));
}

#[test]
fn record_count_must_match_last_offset_delta() {
    let mut batch = sample();
    batch[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4].copy_from_slice(&7i32.to_be_bytes());
    let crc = compute_crc(&batch);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    assert!(matches!(
        next_batch(&batch),
        Err(BatchError::RecordCountMismatch {
            records_count: 3,
            ..
        })
    ));
}

#[test]
fn record_timestamps_walk_the_records() {
    let batch = sample();
    let deltas: Vec<_> = record_timestamps(&batch).collect();
    assert_eq!(deltas, vec![(0, 0), (1, 5), (2, -1)]);
}

#[test]
fn log_append_time_stamps_every_batch_and_keeps_it_valid() {
    let mut two = sample();
    two.extend_from_slice(&sample());
    stamp_log_append_time(&mut two, 77_000).unwrap();
    let (first, size) = whole_batch(&two).unwrap();
    let (second, _) = whole_batch(&two[size..]).unwrap();
    for header in [first, second] {
        assert!(header.is_log_append_time());
        assert_eq!(header.max_timestamp, 77_000);
        assert_eq!(header.compression(), 0, "the other attributes are kept");
        assert_eq!(header.records_count, 3);
    }
    // The records (with their own timestamps) are as they were.
    assert_eq!(records_section(&two[..size]), records_section(&sample()));

    // A damaged batch is refused, and nothing is rewritten.
    let mut damaged = sample();
    damaged.extend_from_slice(&sample());
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    let before = damaged.clone();
    assert!(matches!(
        stamp_log_append_time(&mut damaged, 1),
        Err(BatchError::CrcMismatch { .. })
    ));
    assert_eq!(damaged, before);
}
