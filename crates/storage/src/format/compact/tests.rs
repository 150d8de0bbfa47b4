use super::*;
use crate::format::batch::BatchStep;
use crate::format::batch::{
    ATTRIBUTES_AT, BASE_OFFSET_AT, CONTROL_FLAG, DELETE_HORIZON_FLAG, LOG_APPEND_TIME_FLAG,
    next_stored_batch, set_base_offset,
};
use crate::format::builder::{SimpleRecord, compress_batch, encode_batch};

const CODECS: [(Codec, i16); 5] = [
    (Codec::None, 0),
    (Codec::Gzip, 1),
    (Codec::Snappy, 2),
    (Codec::Lz4, 3),
    (Codec::Zstd, 4),
];

/// Five records at base offset 100, keys k0..k4 (k2 null), values with the
/// fourth one null, timestamps 1000 + 10 i, compressed with `codec`, with
/// attributes `id`.
fn batch(codec: Codec, id: i16) -> Vec<u8> {
    let keys: [Option<&[u8]>; 5] = [Some(b"k0"), Some(b"k1"), None, Some(b"k3"), Some(b"k4")];
    let records: Vec<SimpleRecord<'_>> = (0..5)
        .map(|i| SimpleRecord {
            timestamp_ms: 1000 + 10 * i as i64,
            key: keys[i],
            value: (i != 3).then_some(&b"some value, some value"[..]),
        })
        .collect();
    let mut out = compress_batch(&encode_batch(&records), codec).unwrap();
    // The codec's id with any other attribute bits the test asks for.
    put(&mut out, ATTRIBUTES_AT, &id.to_be_bytes());
    set_base_offset(&mut out, 100);
    reseal(&mut out);
    out
}

fn header(batch: &[u8]) -> BatchHeader {
    match next_stored_batch(batch).unwrap() {
        BatchStep::Batch { header, size } => {
            assert_eq!(size, batch.len());
            header
        }
        BatchStep::NeedMore { .. } => panic!("not whole"),
    }
}

fn infos(batch: &[u8]) -> Vec<(i64, Option<Vec<u8>>, bool, i64)> {
    let mut out = Vec::new();
    for_each_record(&header(batch), batch, |r| {
        out.push((
            r.offset,
            r.key.map(<[u8]>::to_vec),
            r.is_tombstone,
            r.timestamp_ms,
        ));
    })
    .unwrap();
    out
}

#[test]
fn records_are_seen_with_offsets_keys_tombstones_and_timestamps() {
    for (codec, id) in CODECS {
        let seen = infos(&batch(codec, id));
        let offsets: Vec<i64> = seen.iter().map(|r| r.0).collect();
        assert_eq!(offsets, [100, 101, 102, 103, 104], "{codec:?}");
        assert_eq!(seen[2].1, None);
        assert_eq!(seen[4].1.as_deref(), Some(&b"k4"[..]));
        let tombstones: Vec<bool> = seen.iter().map(|r| r.2).collect();
        assert_eq!(tombstones, [false, false, false, true, false]);
        assert_eq!(seen[3].3, 1030);
    }
}

#[test]
fn a_filtered_batch_keeps_its_header_and_the_kept_records_bytes() {
    for (codec, id) in CODECS {
        let original = batch(codec, id);
        let before = header(&original);
        let filtered = filter_batch(&before, &original, None, |r| r.offset % 2 == 0).unwrap();
        let Some(rewritten) = filtered.rewritten else {
            panic!("{codec:?}: nothing removed");
        };
        assert_eq!(
            (filtered.records_removed, filtered.tombstones_removed),
            (2, 1),
            "{codec:?}"
        );
        let after = header(&rewritten);
        assert_eq!(after.records_count, 3);
        assert_eq!(
            BatchHeader {
                batch_length: before.batch_length,
                crc: before.crc,
                records_count: before.records_count,
                ..after
            },
            before,
            "{codec:?}: only length, crc and count may change"
        );
        assert_eq!(after.crc, compute_crc(&rewritten));
        assert_eq!(rewritten[BASE_OFFSET_AT..8], original[BASE_OFFSET_AT..8]);
        let kept: Vec<i64> = infos(&rewritten).iter().map(|r| r.0).collect();
        assert_eq!(kept, [100, 102, 104], "{codec:?}");
        // The kept records are the original records' bytes.
        let (_, plain_before) = plain_records(&before, &original).unwrap();
        let (_, plain_after) = plain_records(&after, &rewritten).unwrap();
        let originals: Vec<&[u8]> = Records::new(&plain_before)
            .map(|r| r.unwrap().raw())
            .collect();
        let mut expected = Vec::new();
        for i in [0, 2, 4] {
            expected.extend_from_slice(originals[i]);
        }
        assert_eq!(plain_after.as_ref(), &expected[..], "{codec:?}");
    }
}

use super::super::batch::compute_crc;

#[test]
fn keeping_all_changes_nothing_and_keeping_none_leaves_the_bare_header() {
    for (codec, id) in CODECS {
        let original = batch(codec, id);
        let h = header(&original);
        let all = filter_batch(&h, &original, None, |_| true).unwrap();
        assert_eq!(
            (all.rewritten, all.tombstones_kept, all.delete_horizon_ms),
            (None, 1, None),
            "{codec:?}"
        );
        let none = filter_batch(&h, &original, Some(9), |_| false).unwrap();
        let Some(empty) = none.rewritten else {
            panic!("nothing removed");
        };
        assert_eq!(none.records_removed, 5);
        assert!(!none.horizon_set, "no tombstone kept, no horizon");
        assert_eq!(empty.len(), HEADER_LEN);
        let e = header(&empty);
        // Uncompressed, as Kafka writes an empty batch; its other attribute bits stay.
        assert_eq!(
            (e.records_count, e.last_offset_delta, e.compression()),
            (0, 4, 0)
        );
        assert_eq!(e.attributes & !7, h.attributes & !7);
        assert_eq!(compute_crc(&empty), e.crc);
        assert!(infos(&empty).is_empty());
    }
}

#[test]
fn control_batches_are_kept_whole_and_show_no_records() {
    let mut control = batch(Codec::None, CONTROL_FLAG);
    reseal(&mut control);
    let h = header(&control);
    assert!(h.is_control());
    assert_eq!(
        filter_batch(&h, &control, Some(9), |_| false).unwrap(),
        Filtered::default()
    );
    assert!(infos(&control).is_empty());
}

#[test]
fn log_append_time_records_carry_the_batch_max_timestamp() {
    let mut b = batch(Codec::Gzip, 1 | LOG_APPEND_TIME_FLAG);
    put(
        &mut b,
        super::super::batch::MAX_TIMESTAMP_AT,
        &777i64.to_be_bytes(),
    );
    reseal(&mut b);
    assert!(infos(&b).iter().all(|r| r.3 == 777));
}

#[test]
fn damaged_compressed_records_are_an_error_not_a_guess() {
    let mut b = batch(Codec::Zstd, 4);
    let last = b.len() - 3;
    b[last] ^= 0xff;
    reseal(&mut b);
    let h = header(&b);
    assert!(matches!(
        filter_batch(&h, &b, None, |_| true),
        Err(CompactError::Records {
            base_offset: 100,
            ..
        })
    ));
}

/// A batch keeping a tombstone is given the horizon (KIP-534's layout: base
/// timestamp and attribute bit 6), every record keeps its timestamp, key and
/// value, and a batch that has a horizon keeps its own.
#[test]
fn a_kept_tombstone_gives_its_batch_a_delete_horizon_and_every_timestamp_stays() {
    const HORIZON: i64 = 5_000_000_000_000;
    for (codec, id) in CODECS {
        let original = batch(codec, id);
        let before = header(&original);
        assert_eq!(before.delete_horizon_ms(), None);
        // Record 0 goes; the tombstone (record 3) stays.
        let filtered =
            filter_batch(&before, &original, Some(HORIZON), |r| r.offset != 100).unwrap();
        assert!(filtered.horizon_set, "{codec:?}");
        assert_eq!(
            (
                filtered.delete_horizon_ms,
                filtered.tombstones_kept,
                filtered.records_removed
            ),
            (Some(HORIZON), 1, 1)
        );
        let stamped = filtered.rewritten.unwrap();
        let after = header(&stamped);
        assert_eq!(after.delete_horizon_ms(), Some(HORIZON), "{codec:?}");
        assert_eq!(after.base_timestamp, HORIZON);
        assert_eq!(after.attributes, before.attributes | DELETE_HORIZON_FLAG);
        assert_eq!(
            (
                after.max_timestamp,
                after.last_offset_delta,
                after.records_count
            ),
            (before.max_timestamp, before.last_offset_delta, 4)
        );
        assert_eq!(compute_crc(&stamped), after.crc);
        let mut want = infos(&original);
        want.remove(0);
        assert_eq!(
            infos(&stamped),
            want,
            "{codec:?}: timestamps over the new base"
        );
        // Keys, values and headers are the records' own.
        let (_, plain) = plain_records(&after, &stamped).unwrap();
        let values: Vec<Option<Vec<u8>>> = Records::new(&plain)
            .map(|r| r.unwrap().value.map(<[u8]>::to_vec))
            .collect();
        assert_eq!(values.iter().filter(|v| v.is_none()).count(), 1);
        // Filtered again with another horizon: its own stays, nothing changes.
        let again = filter_batch(&after, &stamped, Some(HORIZON + 1), |_| true).unwrap();
        assert_eq!(
            (again.rewritten, again.delete_horizon_ms, again.horizon_set),
            (None, Some(HORIZON), false)
        );
        let seen: Vec<Option<i64>> = {
            let mut v = Vec::new();
            for_each_record(&after, &stamped, |r| v.push(r.delete_horizon_ms)).unwrap();
            v
        };
        assert_eq!(seen, [Some(HORIZON); 4]);
        // A record removed later keeps the horizon and the other deltas.
        let later = filter_batch(&after, &stamped, Some(1), |r| r.offset != 101).unwrap();
        let later = later.rewritten.unwrap();
        assert_eq!(header(&later).delete_horizon_ms(), Some(HORIZON));
        want.remove(0);
        assert_eq!(infos(&later), want, "{codec:?}");
    }
}
