//! One record of a v2 batch's records section, encoded here and decoded from
//! `ferrolog_wire::records`' walk rather than by kafka-protocol: its `Record`
//! keeps headers in a map, which drops all but the last of a repeated key.
//! Kafka allows repeated header keys and keeps their order, so headers stay a
//! list end to end.
//!
//! ```text
//! record: { length varint | attributes i8 | timestamp_delta varlong | offset_delta varint |
//!           key_length varint | key | value_length varint | value |
//!           header_count varint | headers: { key_length varint | key | value_length varint | value } }
//! ```
//! Varints are zig-zag; a key or value length of -1 is null; a header key is never null.

use bytes::{BufMut, Bytes, BytesMut};
use ferrolog_wire::records::{Record, RecordError, Records};

use super::ProducerRecord;

/// A record's fields as the records section holds them, relative to its batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RawRecord {
    pub timestamp_delta: i64,
    pub offset_delta: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// Appends `record` at `offset_delta`, its timestamp relative to `base_timestamp_ms`.
pub(super) fn encode(
    out: &mut BytesMut,
    record: &ProducerRecord,
    offset_delta: i64,
    base_timestamp_ms: i64,
) -> Result<(), String> {
    let mut body = BytesMut::with_capacity(body_len_hint(record));
    body.put_i8(0); // attributes: none are defined for records
    put_varint(
        &mut body,
        record.timestamp_ms.wrapping_sub(base_timestamp_ms),
    );
    put_varint(&mut body, offset_delta);
    put_bytes(&mut body, record.key.as_deref(), "key")?;
    put_bytes(&mut body, record.value.as_deref(), "value")?;
    put_varint(&mut body, length(record.headers.len(), "header count")?);
    for (key, value) in &record.headers {
        put_bytes(&mut body, Some(key.as_bytes()), "header key")?;
        put_bytes(&mut body, value.as_deref(), "header value")?;
    }
    put_varint(out, length(body.len(), "record")?);
    out.put_slice(&body);
    Ok(())
}

fn body_len_hint(record: &ProducerRecord) -> usize {
    let headers: usize = record
        .headers
        .iter()
        .map(|(k, v)| 10 + k.len() + v.as_ref().map_or(0, Bytes::len))
        .sum();
    21 + record.key.as_ref().map_or(0, Bytes::len)
        + record.value.as_ref().map_or(0, Bytes::len)
        + headers
}

/// A length as the wire's i32, or why it cannot be one.
fn length(len: usize, what: &str) -> Result<i64, String> {
    i32::try_from(len)
        .map(i64::from)
        .map_err(|_| format!("{what} of {len} bytes is too large for a record"))
}

fn put_bytes(out: &mut BytesMut, bytes: Option<&[u8]>, what: &str) -> Result<(), String> {
    match bytes {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, length(b.len(), what)?);
            out.put_slice(b);
        }
    }
    Ok(())
}

fn put_varint(out: &mut BytesMut, value: i64) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    while raw >= 0x80 {
        out.put_u8((raw as u8 & 0x7f) | 0x80);
        raw >>= 7;
    }
    out.put_u8(raw as u8);
}

/// The records of a decompressed `section`, in order, each walked and checked
/// by `ferrolog_wire::records` (the broker's check of a produced batch) as it
/// is read: the counts and lengths a record announces are proved by its bytes
/// before anything is sized from them. Keys and values are slices of
/// `section`, not copies. An error ends the records.
pub(super) fn decode(section: &Bytes) -> impl Iterator<Item = Result<RawRecord, RecordError>> + '_ {
    Records::new(section).map(|record| record.map(|view| owned(section, &view)))
}

/// `view`, a record of `section`, with its bytes as `Bytes` sharing `section`'s.
fn owned(section: &Bytes, view: &Record<'_>) -> RawRecord {
    let share = |bytes: &[u8]| section.slice_ref(bytes);
    let mut headers = Vec::with_capacity(view.header_count());
    for (key, value) in view.headers() {
        // Kafka's Java client reads header keys as UTF-8 with replacement,
        // so a key that is not UTF-8 reads as it would there.
        let key = String::from_utf8_lossy(key).into_owned();
        headers.push((key, value.map(share)));
    }
    RawRecord {
        timestamp_delta: view.timestamp_delta,
        offset_delta: view.offset_delta,
        key: view.key.map(share),
        value: view.value.map(share),
        headers,
    }
}
