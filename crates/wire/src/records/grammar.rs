//! The record grammar, read from any [`Source`]: the one walk behind both the
//! streaming check of a compressed section and the in-memory [`Records`]
//! iterator, so the two can never disagree on what a well-formed record is.
//!
//! [`Records`]: super::Records

use std::ops::Range;

use super::RecordError;
use super::source::{Slice, Source};

/// Where one well-formed record's parts lie in its source, by position.
#[derive(Clone, Debug)]
pub(super) struct Spans {
    pub timestamp_delta: i64,
    pub offset_delta: i64,
    pub key: Option<Range<u64>>,
    pub value: Option<Range<u64>>,
    /// From the first header to the end of the record.
    pub headers: Range<u64>,
    pub header_count: u32,
}

/// Reads records one at a time until `count` are read (then the section must
/// end) or, without a count, until the section ends. It stops after the
/// first error: what follows a malformed record cannot be framed.
#[derive(Clone, Debug)]
pub(super) struct Walk<S> {
    pub source: S,
    count: Option<i64>,
    index: u32,
    finished: bool,
}

impl<'a> Walk<Slice<'a>> {
    /// A walk of `section` in memory; see [`Walk::new`] for `count`.
    pub fn in_memory(section: &'a [u8], count: Option<i32>) -> Self {
        Walk::new(Slice::new(section), count)
    }
}

impl<S: Source> Walk<S> {
    /// With a `count`, the offset deltas must also run 0, 1, 2, …
    pub fn new(source: S, count: Option<i32>) -> Self {
        Walk {
            source,
            count: count.map(i64::from),
            index: 0,
            finished: false,
        }
    }

    fn step(&mut self) -> Option<Result<Spans, RecordError>> {
        let announced = self.count.unwrap_or_default();
        let done = match self.count {
            Some(count) => i64::from(self.index) >= count,
            None => self.source.at_end(),
        };
        if done {
            return (!self.source.at_end()).then_some(Err(RecordError::TooMany { announced }));
        }
        if self.source.at_end() {
            return Some(Err(RecordError::TooFew {
                announced,
                found: self.index,
            }));
        }
        let record = record(&mut self.source, self.index, self.count.is_some());
        self.index = self.index.saturating_add(1);
        Some(record)
    }
}

impl<S: Source> Iterator for Walk<S> {
    type Item = Result<Spans, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let item = self.step();
        self.finished = !matches!(item, Some(Ok(_)));
        item
    }
}

/// Reads record `index`; with `dense`, its offset delta must be `index`.
fn record(source: &mut impl Source, index: u32, dense: bool) -> Result<Spans, RecordError> {
    let mut fields = Fields {
        source,
        index,
        start: 0,
    };
    let declared = fields.count("length")?;
    fields.start = fields.source.position();
    fields
        .source
        .byte()
        .ok_or_else(|| fields.truncated("attributes"))?;
    let timestamp_delta = fields.varint("timestamp delta")?;
    let offset_delta = fields.varint("offset delta")?;
    if dense && offset_delta != i64::from(index) || offset_delta < 0 {
        return Err(fields.bad("offset delta", offset_delta));
    }
    let key = fields.bytes("key", -1)?;
    let value = fields.bytes("value", -1)?;
    let header_count = fields.count("header count")?;
    let headers_start = fields.source.position();
    for _ in 0..header_count {
        fields.bytes("header key", 0)?;
        fields.bytes("header value", -1)?;
        // A header takes at least two bytes, so a lying count ends here
        // rather than after billions of turns.
        if fields.used() > declared {
            break;
        }
    }
    let used = fields.used();
    if used != declared {
        return Err(RecordError::LengthMismatch {
            index,
            declared,
            used,
        });
    }
    Ok(Spans {
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers: headers_start..fields.source.position(),
        // A count is at most i32::MAX, and each header was read.
        header_count: u32::try_from(header_count).unwrap_or(u32::MAX),
    })
}

/// One record's fields, read from `source`.
struct Fields<'a, S> {
    source: &'a mut S,
    index: u32,
    /// Where the record's bytes start, after its length.
    start: u64,
}

// The `#[inline(always)]`s keep a record's reads in one loop. Left to the
// compiler they were outlined, each returning its `Result` through memory,
// and checking a batch of small records took nearly twice as long (27
// against 14 ns a record).
impl<S: Source> Fields<'_, S> {
    /// The bytes of the record read so far.
    fn used(&self) -> u64 {
        self.source.position() - self.start
    }

    fn truncated(&self, field: &'static str) -> RecordError {
        RecordError::Truncated {
            index: self.index,
            field,
        }
    }

    fn bad(&self, field: &'static str, value: i64) -> RecordError {
        RecordError::BadField {
            index: self.index,
            field,
            value,
        }
    }

    #[inline(always)]
    fn varint(&mut self, field: &'static str) -> Result<i64, RecordError> {
        varint(self.source).map_err(|e| match e {
            Varint::Truncated => self.truncated(field),
            Varint::TooLong => self.bad(field, i64::MIN),
        })
    }

    /// A length: an i32 no smaller than `min` (-1 is null where allowed).
    #[inline(always)]
    fn length(&mut self, field: &'static str, min: i64) -> Result<i64, RecordError> {
        let value = self.varint(field)?;
        if value < min || value > i64::from(i32::MAX) {
            return Err(self.bad(field, value));
        }
        Ok(value)
    }

    /// A record length or header count: an i32 no smaller than 0.
    #[inline(always)]
    fn count(&mut self, field: &'static str) -> Result<u64, RecordError> {
        self.length(field, 0).map(i64::unsigned_abs)
    }

    /// A length-prefixed byte string, `None` when null (length -1, which
    /// only a `min` of -1 allows).
    #[inline(always)]
    fn bytes(&mut self, field: &'static str, min: i64) -> Result<Option<Range<u64>>, RecordError> {
        let Ok(len) = u64::try_from(self.length(field, min)?) else {
            return Ok(None);
        };
        let start = self.source.position();
        if self.source.skip(len) {
            Ok(Some(start..start + len))
        } else {
            Err(self.truncated(field))
        }
    }
}

/// Why a varint could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Varint {
    /// The bytes end inside it.
    Truncated,
    /// Its tenth byte still says more follow.
    TooLong,
}

/// Appends `value` as a zig-zag varint (a varlong: up to 10 bytes).
pub fn put_varint(out: &mut Vec<u8>, value: i64) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    while raw >= 0x80 {
        out.push((raw as u8 & 0x7f) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

/// A zig-zag varint of up to 10 bytes (a varlong; varints are its 5-byte subset).
#[inline(always)]
pub(super) fn varint(source: &mut impl Source) -> Result<i64, Varint> {
    let mut raw = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = source.byte().ok_or(Varint::Truncated)?;
        raw |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
        }
    }
    Err(Varint::TooLong)
}
