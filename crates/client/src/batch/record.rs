//! One record of a v2 batch's records section, encoded and decoded here
//! rather than by kafka-protocol: its `Record` keeps headers in a map, which
//! drops all but the last of a repeated key. Kafka allows repeated header
//! keys and keeps their order, so headers stay a list end to end.
//!
//! ```text
//! record: { length varint | attributes i8 | timestamp_delta varlong | offset_delta varint |
//!           key_length varint | key | value_length varint | value |
//!           header_count varint | headers: { key_length varint | key | value_length varint | value } }
//! ```
//! Varints are zig-zag; a key or value length of -1 is null; a header key is never null.

use bytes::{Buf, BufMut, Bytes, BytesMut};

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

/// Takes one record off the front of `section` (decompressed).
pub(super) fn decode(section: &mut Bytes) -> Result<RawRecord, String> {
    let len = read_length(section, "record length", 0)?;
    let mut body = take(section, len, "record")?;
    if !body.has_remaining() {
        return Err("record is cut short: no attributes".into());
    }
    body.advance(1); // attributes: none are defined for records
    let timestamp_delta = read_varint(&mut body, "timestamp delta")?;
    let offset_delta = read_varint(&mut body, "offset delta")?;
    let key = read_bytes(&mut body, "key")?;
    let value = read_bytes(&mut body, "value")?;
    let count = read_length(&mut body, "header count", 0)?;
    // Each header takes at least two bytes: a lying count fails here, before
    // the list is sized from it.
    if count > body.remaining() / 2 {
        return Err(format!(
            "{count} headers cannot fit in the record's {} remaining bytes",
            body.remaining()
        ));
    }
    let mut headers = Vec::with_capacity(count);
    for _ in 0..count {
        let key = read_bytes(&mut body, "header key")?.ok_or("a header key is null")?;
        // Kafka's Java client reads header keys as UTF-8 with replacement,
        // so a key that is not UTF-8 reads as it would there.
        let key = String::from_utf8_lossy(&key).into_owned();
        headers.push((key, read_bytes(&mut body, "header value")?));
    }
    if body.has_remaining() {
        return Err(format!(
            "record declares {len} bytes but its fields end {} bytes earlier",
            body.remaining()
        ));
    }
    Ok(RawRecord {
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers,
    })
}

/// A zig-zag varint of up to 10 bytes (a varlong; varints are its 5-byte subset).
fn read_varint(buf: &mut Bytes, field: &str) -> Result<i64, String> {
    let mut raw = 0u64;
    for shift in (0..70).step_by(7) {
        if !buf.has_remaining() {
            return Err(format!("record is cut short in its {field}"));
        }
        let byte = buf.get_u8();
        raw |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
        }
    }
    Err(format!("record's {field} is a varint longer than 10 bytes"))
}

/// A length or count no smaller than `min` and no larger than an i32.
fn read_length(buf: &mut Bytes, field: &str, min: i64) -> Result<usize, String> {
    let value = read_varint(buf, field)?;
    if value < min || value > i64::from(i32::MAX) {
        return Err(format!("record has an invalid {field}: {value}"));
    }
    Ok(usize::try_from(value).unwrap_or(0))
}

/// A length-prefixed byte string, `None` for length -1.
fn read_bytes(buf: &mut Bytes, field: &str) -> Result<Option<Bytes>, String> {
    let len = read_varint(buf, field)?;
    if len == -1 {
        return Ok(None);
    }
    let len = usize::try_from(len)
        .ok()
        .filter(|&l| l <= i32::MAX as usize)
        .ok_or_else(|| format!("record has an invalid {field} length: {len}"))?;
    take(buf, len, field).map(Some)
}

fn take(buf: &mut Bytes, len: usize, field: &str) -> Result<Bytes, String> {
    if buf.remaining() < len {
        return Err(format!(
            "record's {field} of {len} bytes runs past the {} that remain",
            buf.remaining()
        ));
    }
    Ok(buf.split_to(len))
}
