//! Kafka's primitive types, written by hand for the responses `kafka-protocol`
//! does not encode the way they are sent here: Fetch's skeleton around shared
//! record bytes, and the old versions the crate no longer knows.

use bytes::{BufMut, BytesMut};

/// An array's length: i32 before flexible versions, unsigned varint + 1 in them.
pub fn put_array_len(out: &mut BytesMut, len: usize, flexible: bool) -> anyhow::Result<()> {
    if flexible {
        put_uvarint(out, u32::try_from(len + 1)?);
    } else {
        out.put_i32(i32::try_from(len)?);
    }
    Ok(())
}

/// A string's length and bytes, in the encoding of the version.
pub fn put_string(out: &mut BytesMut, s: &[u8], flexible: bool) -> anyhow::Result<()> {
    if flexible {
        put_uvarint(out, u32::try_from(s.len() + 1)?);
    } else {
        out.put_i16(i16::try_from(s.len())?);
    }
    out.extend_from_slice(s);
    Ok(())
}

/// A nullable string of a non-flexible version: length -1 for null.
pub fn put_nullable_string(out: &mut BytesMut, s: Option<&[u8]>) -> anyhow::Result<()> {
    match s {
        Some(s) => put_string(out, s, false),
        None => {
            out.put_i16(-1);
            Ok(())
        }
    }
}

/// Kafka's unsigned varint: 7 bits a byte, least significant first.
pub fn put_uvarint(out: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        out.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}
