#![allow(clippy::unwrap_used)]
use std::io::BufReader;

use proptest::prelude::*;

use super::super::grammar::{Varint, Walk, varint};
use super::super::source::{Slice, Source, Stream};
use super::super::tests::{body, bytes, framed, section, varint as put_varint};
use super::super::{RecordError, check_all};
use super::*;

/// Every item of a walk, the error (if any) last.
fn walk(records: Records<'_>) -> (Vec<Record<'_>>, Option<RecordError>) {
    let mut good = Vec::new();
    for item in records {
        match item {
            Ok(record) => good.push(record),
            Err(e) => return (good, Some(e)),
        }
    }
    (good, None)
}

/// The only error a walk of `section` ends in.
fn error_of(section: &[u8]) -> RecordError {
    walk(Records::new(section)).1.expect("an error")
}

fn headers<'a>(record: &Record<'a>) -> Vec<(&'a [u8], Option<&'a [u8]>)> {
    record.headers().collect()
}

#[test]
fn records_are_viewed_in_place() {
    let s = section(5);
    let (records, error) = walk(Records::new(&s));
    assert_eq!(error, None);
    assert_eq!(records.len(), 5);
    for (i, r) in (0i64..).zip(&records) {
        assert_eq!(r.timestamp_delta, 7);
        assert_eq!(r.offset_delta, i);
        assert_eq!(r.key, (i % 3 != 1).then_some(&b"key"[..]));
        assert_eq!(r.value, (i % 4 != 2).then_some(&b"a value"[..]));
        assert_eq!(r.header_count(), 2);
        assert_eq!(r.headers().len(), 2);
        assert_eq!(
            headers(r),
            vec![(&b"h"[..], Some(&b"v"[..])), (&b""[..], None)]
        );
        // The header bytes are the record's last: key "h", value "v", key "", null.
        assert_eq!(r.header_bytes(), b"\x02h\x02v\x00\x01");
        // Views point into the section, not at copies.
        let key = r.key.unwrap_or_default();
        assert!(key.is_empty() || s.as_ptr_range().contains(&key.as_ptr()));
    }
    assert_eq!(Records::new(&[]).next(), None);
}

#[test]
fn raw_records_concatenate_back_to_the_section() {
    let s = section(5);
    let records: Vec<Record<'_>> = Records::new(&s).map(Result::unwrap).collect();
    let joined: Vec<u8> = records
        .iter()
        .flat_map(|r| r.raw().iter().copied())
        .collect();
    assert_eq!(joined, s);
    // Each starts with its length varint and holds exactly that many bytes after it.
    let mut one = Slice::new(records[2].raw());
    let len = varint(&mut one).unwrap();
    assert_eq!(one.position() + len as u64, records[2].raw().len() as u64);
    // A section of some of the records is read back as those records.
    let kept: Vec<u8> = [&records[1], &records[3]]
        .iter()
        .flat_map(|r| r.raw().iter().copied())
        .collect();
    let again: Vec<Record<'_>> = Records::new(&kept).map(Result::unwrap).collect();
    assert_eq!(again.len(), 2);
    assert_eq!((again[0].offset_delta, again[1].offset_delta), (1, 3));
    assert_eq!(again[1].key, records[3].key);
}

#[test]
fn repeated_header_keys_keep_their_order() {
    let headers_in: [(&[u8], Option<&[u8]>); 3] =
        [(b"a", Some(b"1")), (b"b", None), (b"a", Some(b"2"))];
    let s = framed(&body(0, None, Some(b"v"), &headers_in));
    let record = Records::new(&s).next().unwrap().unwrap();
    assert_eq!(headers(&record), headers_in.to_vec());
}

#[test]
fn offset_deltas_may_have_gaps_unless_counted() {
    let mut s = framed(&body(0, None, Some(b"a"), &[]));
    s.extend(framed(&body(5, None, Some(b"b"), &[])));
    let deltas: Vec<_> = Records::new(&s).map(|r| r.unwrap().offset_delta).collect();
    assert_eq!(deltas, vec![0, 5]);
    let (records, error) = walk(Records::counted(&s, 2));
    assert_eq!(records.len(), 1);
    assert_eq!(
        error,
        Some(RecordError::BadField {
            index: 1,
            field: "offset delta",
            value: 5
        })
    );
}

#[test]
fn counted_records_end_in_too_few_or_too_many() {
    let s = section(3);
    let (records, error) = walk(Records::counted(&s, 4));
    assert_eq!(records.len(), 3);
    let too_few = RecordError::TooFew {
        announced: 4,
        found: 3,
    };
    assert_eq!(error, Some(too_few));
    let (records, error) = walk(Records::counted(&s, 2));
    assert_eq!(records.len(), 2);
    assert_eq!(error, Some(RecordError::TooMany { announced: 2 }));
    assert_eq!(walk(Records::counted(&s, 3)).1, None);
}

#[test]
fn an_error_ends_the_records() {
    let mut s = section(2);
    s.push(0x01); // length -1
    let mut records = Records::new(&s);
    assert!(records.next().unwrap().is_ok());
    assert!(records.next().unwrap().is_ok());
    assert!(records.next().unwrap().is_err());
    assert_eq!(records.next(), None);
    assert_eq!(records.next(), None);
}

#[test]
fn every_cut_names_the_field_it_cuts() {
    // One record: length, attributes, ts 7, offset 0, key "k", value "v", one header "h": "x".
    let whole = framed(&body(0, Some(b"k"), Some(b"v"), &[(b"h", Some(b"x"))]));
    let fields = [
        "attributes",
        "timestamp delta",
        "offset delta",
        "key",
        "key",
        "value",
        "value",
        "header count",
        "header key",
        "header key",
        "header value",
        "header value",
    ];
    assert_eq!(whole.len(), fields.len() + 1);
    // A cut at 0 is an empty section: no record, no error.
    assert_eq!(walk(Records::new(&[])).1, None);
    for (cut, field) in (1..).zip(fields) {
        let error = error_of(&whole[..cut]);
        assert_eq!(
            error,
            RecordError::Truncated { index: 0, field },
            "cut at {cut}"
        );
    }
    // A length of two bytes, cut after the first.
    let cut_length = RecordError::Truncated {
        index: 0,
        field: "length",
    };
    assert_eq!(error_of(&[0x80]), cut_length);
}

#[test]
fn an_over_long_varint_is_refused_in_any_field() {
    let eleven = [0xff; 11];
    // The fields before each varint, well formed.
    let cases: [(&[u8], &str); 4] = [
        (&[], "length"),
        (&[0x10, 0x00], "timestamp delta"),
        (&[0x10, 0x00, 0x0e], "offset delta"),
        (&[0x10, 0x00, 0x0e, 0x00], "key"),
    ];
    for (before, field) in cases {
        let s = [before, &eleven[..]].concat();
        let error = error_of(&s);
        let bad = RecordError::BadField {
            index: 0,
            field,
            value: i64::MIN,
        };
        assert_eq!(error, bad, "{field}");
    }
}

#[test]
fn varints_decode_zigzag_up_to_ten_bytes() {
    let read = |bytes: &[u8]| varint(&mut Slice::new(bytes));
    assert_eq!(read(&[0x00]), Ok(0));
    assert_eq!(read(&[0x01]), Ok(-1));
    assert_eq!(read(&[0x02]), Ok(1));
    assert_eq!(read(&[0xac, 0x02]), Ok(150));
    assert_eq!(read(&[0x80]), Err(Varint::Truncated));
    assert_eq!(read(&[]), Err(Varint::Truncated));
    let mut max = Vec::new();
    put_varint(&mut max, i64::MAX);
    assert_eq!(max.len(), 10);
    assert_eq!(read(&max), Ok(i64::MAX));
    assert_eq!(read(&[0x80; 11]), Err(Varint::TooLong));
}

#[test]
fn negative_and_oversized_lengths_are_refused() {
    let record_with = |key_len: i64| {
        let mut b = vec![0];
        put_varint(&mut b, 0);
        put_varint(&mut b, 0);
        put_varint(&mut b, key_len);
        framed(&b)
    };
    for (len, value) in [(-2, -2), (-1000, -1000), (i64::from(i32::MAX) + 1, 1 << 31)] {
        let error = error_of(&record_with(len));
        let bad = RecordError::BadField {
            index: 0,
            field: "key",
            value,
        };
        assert_eq!(error, bad);
    }
    let bad_length = RecordError::BadField {
        index: 0,
        field: "length",
        value: -1,
    };
    assert_eq!(error_of(&[0x01]), bad_length);
    let mut negative_count = body(0, None, None, &[]);
    negative_count.pop();
    put_varint(&mut negative_count, -1);
    let bad_count = RecordError::BadField {
        index: 0,
        field: "header count",
        value: -1,
    };
    assert_eq!(error_of(&framed(&negative_count)), bad_count);
}

#[test]
fn a_header_count_larger_than_the_bytes_is_refused() {
    // i32::MAX headers announced, one present: the walk stops at the bytes.
    let mut b = body(0, None, Some(b"v"), &[]);
    b.pop();
    put_varint(&mut b, i64::from(i32::MAX));
    bytes(&mut b, Some(b""));
    bytes(&mut b, None);
    let error = error_of(&framed(&b));
    let cut = RecordError::Truncated {
        index: 0,
        field: "header key",
    };
    assert_eq!(error, cut);
    // Followed by more records, it ends at the record's declared length.
    let mut s = framed(&b);
    s.extend(section(100));
    assert!(matches!(
        error_of(&s),
        RecordError::LengthMismatch { index: 0, .. }
    ));
}

#[test]
fn a_length_that_disagrees_with_the_fields_is_refused() {
    let good = body(0, Some(b"k"), Some(b"v"), &[(b"h", None)]);
    for declared in [good.len() - 1, good.len() + 1] {
        let mut s = Vec::new();
        put_varint(&mut s, declared as i64);
        s.extend_from_slice(&good);
        s.push(0); // a byte for the longer one to claim
        // Either way the walk reads the fields the record holds, and stops.
        let mismatch = RecordError::LengthMismatch {
            index: 0,
            declared: declared as u64,
            used: good.len() as u64,
        };
        let error = error_of(&s);
        assert_eq!(error, mismatch);
    }
}

/// A valid section of up to six records, then up to three bytes flipped.
fn damaged() -> impl Strategy<Value = Vec<u8>> {
    let flips = proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4);
    (0i64..7, flips).prop_map(|(n, flips)| {
        let mut s = section(n);
        for (at, x) in flips {
            if !s.is_empty() {
                let len = s.len();
                s[at % len] ^= x;
            }
        }
        s
    })
}

fn any_section() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![proptest::collection::vec(any::<u8>(), 0..64), damaged()]
}

proptest! {
    /// Whatever the bytes, the walk ends without a panic, agrees with
    /// `check_all`, and every view lies inside the section.
    #[test]
    fn any_bytes_are_walked_safely(s in any_section()) {
        let (records, error) = walk(Records::new(&s));
        prop_assert_eq!(check_all(&s), error.map_or(Ok(()), Err));
        let inside = |b: &[u8]| b.is_empty() || s.as_ptr_range().contains(&b.as_ptr());
        for r in records {
            prop_assert!(r.key.is_none_or(inside) && r.value.is_none_or(inside));
            let headers: Vec<_> = r.headers().collect();
            prop_assert_eq!(headers.len(), r.header_count());
            prop_assert!(headers.iter().all(|(k, v)| inside(k) && v.is_none_or(inside)));
        }
    }

    /// The streaming walk (for compressed sections) and the in-memory one
    /// find the same records and the same error, however the stream is cut
    /// into reads.
    #[test]
    fn a_stream_walks_as_memory_does(s in any_section(), count in 0i32..8, buffer in 1usize..9) {
        let stream = Stream::new(BufReader::with_capacity(buffer, &s[..]));
        let streamed: Vec<_> = Walk::new(stream, Some(count))
            .map(|r| r.map(|spans| spans.offset_delta))
            .collect();
        let in_memory: Vec<_> = Records::counted(&s, count)
            .map(|r| r.map(|record| record.offset_delta))
            .collect();
        prop_assert_eq!(streamed, in_memory);
    }
}
