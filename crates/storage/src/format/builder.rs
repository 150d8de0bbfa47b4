//! Encodes v2 batches, uncompressed or compressed as a producer sends them.
//! The engine never builds batches (clients do); this exists for tests,
//! benches and tools that need valid input.
use ferrolog_wire::compression::{self, Codec, CompressError};
use ferrolog_wire::records::put_varint;

use super::batch::{ATTRIBUTES_AT, HEADER_LEN, LENGTH_AT, LOG_OVERHEAD, MAGIC_V2, put, reseal};

/// One record to encode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimpleRecord<'a> {
    pub timestamp_ms: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
}

fn put_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}

/// A record's headers, in order; a key may repeat, as Kafka allows.
pub type Headers<'a> = &'a [(&'a str, Option<&'a [u8]>)];

/// Encodes `records` as one uncompressed batch with base offset 0, producer
/// id -1 and a valid CRC. Empty `records` gives an (invalid) empty batch.
pub fn encode_batch(records: &[SimpleRecord<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_batch_into(&mut out, records);
    out
}

/// Appends one encoded batch to `out` (see [`encode_batch`]).
pub fn encode_batch_into(out: &mut Vec<u8>, records: &[SimpleRecord<'_>]) {
    encode_into(out, records, |r| (*r, &[]));
}

/// Like [`encode_batch`], each record with its headers.
pub fn encode_batch_with_headers(records: &[(SimpleRecord<'_>, Headers<'_>)]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(&mut out, records, |&(record, headers)| (record, headers));
    out
}

fn encode_into<'a, T>(
    out: &mut Vec<u8>,
    records: &'a [T],
    parts: impl Fn(&'a T) -> (SimpleRecord<'a>, Headers<'a>),
) {
    let start = out.len();
    let base_ts = records.first().map_or(0, |r| parts(r).0.timestamp_ms);
    let max_ts = records
        .iter()
        .map(|r| parts(r).0.timestamp_ms)
        .max()
        .unwrap_or(base_ts);
    let count = records.len() as i32;
    out.extend_from_slice(&0i64.to_be_bytes()); // base offset
    out.extend_from_slice(&0i32.to_be_bytes()); // batch length, patched below
    out.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
    out.push(MAGIC_V2 as u8);
    out.extend_from_slice(&0u32.to_be_bytes()); // crc, patched below
    out.extend_from_slice(&0i16.to_be_bytes()); // attributes
    out.extend_from_slice(&(count - 1).max(0).to_be_bytes());
    out.extend_from_slice(&base_ts.to_be_bytes());
    out.extend_from_slice(&max_ts.to_be_bytes());
    out.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    out.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    out.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    out.extend_from_slice(&count.to_be_bytes());
    debug_assert_eq!(out.len() - start, HEADER_LEN);
    let mut body = Vec::new();
    for (i, (record, headers)) in records.iter().map(parts).enumerate() {
        body.clear();
        body.push(0); // record attributes
        put_varint(&mut body, record.timestamp_ms - base_ts);
        put_varint(&mut body, i as i64);
        put_bytes(&mut body, record.key);
        put_bytes(&mut body, record.value);
        put_varint(&mut body, headers.len() as i64);
        for (key, value) in headers {
            put_bytes(&mut body, Some(key.as_bytes()));
            put_bytes(&mut body, *value);
        }
        put_varint(out, body.len() as i64);
        out.extend_from_slice(&body);
    }
    let length = (out.len() - start - LOG_OVERHEAD) as i32;
    if let Some(batch) = out.get_mut(start..) {
        put(batch, LENGTH_AT, &length.to_be_bytes());
        reseal(batch);
    }
}

/// The single uncompressed batch `batch` (from [`encode_batch`]) with its
/// records section compressed by `codec` and its attributes naming it.
pub fn compress_batch(batch: &[u8], codec: Codec) -> Result<Vec<u8>, CompressError> {
    let (header, section) = batch.split_at(HEADER_LEN.min(batch.len()));
    let mut out = header.to_vec();
    out.extend(compression::compress(codec, section)?);
    let length = i32::try_from(out.len().saturating_sub(LOG_OVERHEAD)).unwrap_or(i32::MAX);
    put(&mut out, LENGTH_AT, &length.to_be_bytes());
    set_attributes(&mut out, codec.id());
    Ok(out)
}

/// Rewrites the attributes of the single batch in `batch` and fixes its CRC
/// (e.g. to mark it compressed or log-append-time in tests; the records are
/// left as they are).
pub fn set_attributes(batch: &mut [u8], attributes: i16) {
    put(batch, ATTRIBUTES_AT, &attributes.to_be_bytes());
    reseal(batch);
}
