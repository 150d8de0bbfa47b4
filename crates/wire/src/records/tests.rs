#![allow(clippy::unwrap_used)]
use super::*;
use crate::compression::tests::compressed;

pub(super) fn varint(out: &mut Vec<u8>, value: i64) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    while raw >= 0x80 {
        out.push((raw as u8) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

pub(super) fn bytes(out: &mut Vec<u8>, field: Option<&[u8]>) {
    match field {
        None => varint(out, -1),
        Some(b) => {
            varint(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}

/// One record's body (after its length), as a producer writes it.
pub(super) fn body(
    offset_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[(&[u8], Option<&[u8]>)],
) -> Vec<u8> {
    let mut out = vec![0]; // attributes
    varint(&mut out, 7); // timestamp delta
    varint(&mut out, offset_delta);
    bytes(&mut out, key);
    bytes(&mut out, value);
    varint(&mut out, headers.len() as i64);
    for (k, v) in headers {
        bytes(&mut out, Some(k));
        bytes(&mut out, *v);
    }
    out
}

pub(super) fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(&mut out, body.len() as i64);
    out.extend_from_slice(body);
    out
}

/// `n` good records: keys, a null key, a null value, headers.
pub(super) fn section(n: i64) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let key = (i % 3 != 1).then_some(&b"key"[..]);
        let value = (i % 4 != 2).then_some(&b"a value"[..]);
        out.extend(framed(&body(
            i,
            key,
            value,
            &[(b"h", Some(b"v")), (b"", None)],
        )));
    }
    out
}

#[test]
fn well_formed_records_pass() {
    for n in [1, 2, 5, 200] {
        check(Codec::None, &section(n), n as i32).unwrap();
        check_all(&section(n)).unwrap();
    }
    check_all(&[]).unwrap();
}

#[test]
fn a_count_that_disagrees_with_the_records_is_refused() {
    assert_eq!(
        check(Codec::None, &section(3), 4),
        Err(RecordError::TooFew {
            announced: 4,
            found: 3
        })
    );
    assert_eq!(
        check(Codec::None, &section(3), 2),
        Err(RecordError::TooMany { announced: 2 })
    );
    assert_eq!(
        check(Codec::None, &[], 1),
        Err(RecordError::TooFew {
            announced: 1,
            found: 0
        })
    );
}

#[test]
fn offset_deltas_must_run_from_zero() {
    let mut s = framed(&body(0, None, Some(b"a"), &[]));
    s.extend(framed(&body(5, None, Some(b"b"), &[])));
    assert_eq!(
        check(Codec::None, &s, 2),
        Err(RecordError::BadField {
            index: 1,
            field: "offset delta",
            value: 5
        })
    );
}

#[test]
fn a_record_length_that_disagrees_with_its_fields_is_refused() {
    let good = body(0, Some(b"k"), Some(b"v"), &[]);
    // Declared one byte longer: the walk reads the next record's first byte as padding.
    let mut longer = Vec::new();
    varint(&mut longer, good.len() as i64 + 1);
    longer.extend_from_slice(&good);
    longer.push(0);
    assert!(matches!(
        check(Codec::None, &longer, 1),
        Err(RecordError::LengthMismatch { index: 0, used, declared }) if used + 1 == declared
    ));
    // Declared one byte shorter.
    let mut shorter = Vec::new();
    varint(&mut shorter, good.len() as i64 - 1);
    shorter.extend_from_slice(&good);
    assert!(matches!(
        check(Codec::None, &shorter, 1),
        Err(RecordError::LengthMismatch { index: 0, .. })
    ));
}

#[test]
fn every_cut_of_a_good_section_is_refused() {
    let whole = section(3);
    for cut in 0..whole.len() {
        assert!(
            check(Codec::None, &whole[..cut], 3).is_err(),
            "cut at {cut}"
        );
    }
}

#[test]
fn garbage_after_a_valid_header_is_refused() {
    // What a CRC cannot catch: a client that computed it over nonsense.
    for garbage in [
        &b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"[..],
        b"hello world",
        b"\x00",
    ] {
        assert!(check(Codec::None, garbage, 1).is_err(), "{garbage:?}");
    }
}

#[test]
fn negative_lengths_other_than_null_are_refused() {
    let mut value = vec![0];
    varint(&mut value, 0);
    varint(&mut value, 0);
    varint(&mut value, -1); // null key
    varint(&mut value, -2); // value length -2
    assert!(matches!(
        check(Codec::None, &framed(&value), 1),
        Err(RecordError::BadField {
            field: "value",
            value: -2,
            ..
        })
    ));
    // A header key may not be null.
    let null_header_key = {
        let mut b = body(0, None, None, &[]);
        b.pop(); // header count 0
        varint(&mut b, 1);
        varint(&mut b, -1);
        varint(&mut b, -1);
        b
    };
    assert!(matches!(
        check(Codec::None, &framed(&null_header_key), 1),
        Err(RecordError::BadField {
            field: "header key",
            value: -1,
            ..
        })
    ));
}

#[test]
fn a_lying_header_count_ends_within_its_record() {
    let mut b = body(0, None, Some(b"v"), &[]);
    b.pop();
    varint(&mut b, i64::from(i32::MAX));
    b.extend_from_slice(&[0x00, 0x01]); // one header: key "", value null
    let result = check(Codec::None, &framed(&b), 1);
    assert!(result.is_err(), "{result:?}");
}

#[test]
fn compressed_sections_are_walked_after_decompression() {
    for codec in [Codec::Gzip, Codec::Snappy, Codec::Lz4, Codec::Zstd] {
        let good = compressed(codec, &section(50));
        check(codec, &good, 50).unwrap_or_else(|e| panic!("{codec:?}: {e}"));
        assert_eq!(
            check(codec, &good, 51),
            Err(RecordError::TooFew {
                announced: 51,
                found: 50
            }),
            "{codec:?}"
        );
        let garbage = compressed(codec, b"hello world, not records");
        assert!(check(codec, &garbage, 1).is_err(), "{codec:?}");
        let cut = &good[..good.len() / 2];
        assert!(check(codec, cut, 50).is_err(), "{codec:?}");
        assert!(
            matches!(
                check(codec, b"\x01\x02not compressed at all", 1),
                Err(RecordError::Decompress(_)
                    | RecordError::TooFew { .. }
                    | RecordError::Truncated { .. })
            ),
            "{codec:?}"
        );
    }
}

#[test]
fn snappy_announcing_more_than_its_ratio_allows_is_refused_before_allocating() {
    // Raw snappy whose length varint says about 4 GiB, and no data.
    let result = check(Codec::Snappy, &[0xff, 0xff, 0xff, 0xff, 0x0f], 1);
    assert!(
        matches!(result, Err(RecordError::Decompress(ref m)) if m.contains("more than")),
        "{result:?}"
    );
}

#[test]
fn decompression_stops_at_the_ceiling() {
    let plain = section(50);
    for codec in [Codec::Gzip, Codec::Snappy, Codec::Lz4, Codec::Zstd] {
        let packed = compressed(codec, &plain);
        check_within(codec, &packed, 50, plain.len(), |_, _| {})
            .unwrap_or_else(|e| panic!("{codec:?}: {e}"));
        let result = check_within(codec, &packed, 50, plain.len() - 1, |_, _| {});
        assert!(
            matches!(result, Err(RecordError::Decompress(ref m)) if m.contains("more than")),
            "{codec:?}: {result:?}"
        );
    }
}
