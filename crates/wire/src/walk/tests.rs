//! The walker against hand-written bodies of small made-up schemas; the real
//! request and response schemas are tested against `kafka-protocol`'s
//! encoders in the broker and the client.

use super::*;
use crate::schema::{NO_FLEXIBLE_VERSION, all, since, tagged};

const ITEM: &[Field] = &[all(Kind::I16), all(Kind::Str)];
const BODY: &[Field] = &[
    all(Kind::I32),
    all(Kind::Structs(ITEM)),
    since(2, Kind::Int32s),
    all(Kind::Bytes),
];
const OLD: Schema = Schema {
    fields: BODY,
    flexible_since: NO_FLEXIBLE_VERSION,
};

const INNER: &[Field] = &[all(Kind::I32), all(Kind::Int32s)];
const TAGGED: &[Field] = &[
    all(Kind::Str),
    tagged(0, Kind::Struct(INNER)),
    tagged(1, Kind::I64),
];
const FLEXIBLE: Schema = Schema {
    fields: TAGGED,
    flexible_since: 0,
};

/// `{ i32 | [ { i16 | str } ] | (v2+) [i32] | bytes }` with one item.
fn old_body(version: i16) -> Vec<u8> {
    let mut body = vec![0, 0, 0, 7];
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&[0, 1, 0, 2, b'h', b'i']);
    if version >= 2 {
        body.extend_from_slice(&2i32.to_be_bytes());
        body.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]);
    }
    body.extend_from_slice(&(-1i32).to_be_bytes());
    body
}

#[test]
fn a_well_formed_body_is_covered_exactly_at_each_version() {
    for version in [1, 2] {
        let body = old_body(version);
        // One element: the item the decoder will build.
        let walked = Walked {
            bytes: body.len(),
            elements: 1,
        };
        assert_eq!(walk(&OLD, version, &body), Ok(walked), "v{version}");
        for cut in 0..body.len() {
            assert!(
                walk(&OLD, version, &body[..cut]).is_err(),
                "v{version} cut at {cut}"
            );
        }
    }
}

#[test]
fn a_count_or_length_past_the_frame_is_refused_where_it_is_read() {
    let mut body = old_body(1);
    body[4..8].copy_from_slice(&i32::MAX.to_be_bytes());
    let walked = walk(&OLD, 1, &body);
    assert_eq!(
        walked,
        Err(WalkError {
            position: 8,
            problem: "length larger than the rest of the frame"
        })
    );
    let mut body = old_body(1);
    body[10..12].copy_from_slice(&i16::MAX.to_be_bytes());
    assert!(matches!(
        walk(&OLD, 1, &body),
        Err(WalkError { position: 12, .. })
    ));
    let mut body = old_body(1);
    body[4..8].copy_from_slice(&(-2i32).to_be_bytes());
    assert!(matches!(
        walk(&OLD, 1, &body),
        Err(WalkError {
            problem: "negative length",
            ..
        })
    ));
}

#[test]
fn the_error_reads_as_a_phrase_with_its_position() {
    let err = WalkError {
        position: 4,
        problem: "truncated",
    };
    assert_eq!(err.to_string(), "truncated at byte 4");
}

/// Flexible: `{ compact str | tagged fields }`; tag 0 is `{ i32 | [i32] | tags }`.
fn flexible_body(tags: &[u8]) -> Vec<u8> {
    let mut body = vec![3, b'a', b'b'];
    body.extend_from_slice(tags);
    body
}

#[test]
fn known_tagged_fields_are_walked_and_unknown_ones_skipped() {
    // Tag 0 (10 bytes: i32, compact [i32] of 1, no tags), tag 1 (i64), tag 9 (3 opaque bytes).
    let tags = [
        3, 0, 10, 0, 0, 0, 1, 2, 0, 0, 0, 5, 0, 1, 8, 0, 0, 0, 0, 0, 0, 0, 9, 9, 3, 1, 2, 3,
    ];
    let body = flexible_body(&tags);
    // The three tagged fields are the elements (the decoder keeps unknown ones).
    let walked = Walked {
        bytes: body.len(),
        elements: 3,
    };
    assert_eq!(walk(&FLEXIBLE, 0, &body), Ok(walked));
    for cut in 0..body.len() {
        assert!(walk(&FLEXIBLE, 0, &body[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn a_known_tagged_field_cannot_hide_a_huge_array_behind_a_small_size() {
    // The decoder reads tag 0 by its type, not its size of 5: a count of
    // 2^31 inside it must be refused although the size fits.
    let tags = [1, 0, 5, 0, 0, 0, 1, 0x80, 0x80, 0x80, 0x80, 0x08, 0, 0];
    let walked = walk(&FLEXIBLE, 0, &flexible_body(&tags));
    assert!(
        matches!(
            walked,
            Err(WalkError {
                problem: "length larger than the rest of the frame",
                ..
            })
        ),
        "{walked:?}"
    );
    // The right content with the wrong size is refused too.
    let tags = [1, 0, 9, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0];
    assert!(matches!(
        walk(&FLEXIBLE, 0, &flexible_body(&tags)),
        Err(WalkError {
            problem: "tagged field size disagrees with its content",
            ..
        })
    ));
}

#[test]
fn tagged_counts_and_sizes_past_the_frame_are_refused() {
    let huge_count = [0xff, 0xff, 0xff, 0xff, 0x0f];
    assert!(walk(&FLEXIBLE, 0, &flexible_body(&huge_count)).is_err());
    let huge_unknown = [1, 9, 0xff, 0xff, 0xff, 0xff, 0x0f];
    assert!(walk(&FLEXIBLE, 0, &flexible_body(&huge_unknown)).is_err());
    let endless_varint = [0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    assert!(matches!(
        walk(&FLEXIBLE, 0, &flexible_body(&endless_varint)),
        Err(WalkError {
            problem: "varint longer than 5 bytes",
            ..
        })
    ));
}
