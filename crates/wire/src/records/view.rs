//! A decompressed records section read in place: each record is checked
//! exactly as [`check_all`](super::check_all) checks it (the same walk), then
//! handed out as a view of its key, value and headers, so a reader needs
//! no second pass to trust what it decodes.

use std::iter::FusedIterator;
use std::ops::Range;

use super::RecordError;
use super::grammar::{Spans, Walk, put_varint, varint};
use super::source::{Slice, Source};

/// The records of a section in memory, in order; an error ends them.
#[derive(Clone, Debug)]
pub struct Records<'a> {
    section: &'a [u8],
    walk: Walk<Slice<'a>>,
}

impl<'a> Records<'a> {
    /// Every record of `section`, however many: for a reader that has only
    /// the records, not their header. Offset deltas may have gaps, as in a
    /// batch a Kafka broker compacted.
    pub fn new(section: &'a [u8]) -> Self {
        Records {
            section,
            walk: Walk::in_memory(section, None),
        }
    }

    /// Exactly `count` records whose offset deltas run 0, 1, 2, …, as a
    /// producer writes them; a section holding more or fewer ends in
    /// [`RecordError::TooMany`] or [`RecordError::TooFew`].
    pub fn counted(section: &'a [u8], count: i32) -> Self {
        Records {
            section,
            walk: Walk::in_memory(section, Some(count)),
        }
    }

    /// The bytes a walk of this section found at `span`.
    #[inline]
    fn at(&self, span: Range<u64>) -> &'a [u8] {
        // Spans are positions in this same section, so they convert and fit.
        let index = |p: u64| usize::try_from(p).unwrap_or(usize::MAX);
        self.section
            .get(index(span.start)..index(span.end))
            .unwrap_or_default()
    }

    #[inline]
    fn view(&self, spans: Spans) -> Record<'a> {
        Record {
            raw: &[],
            timestamp_delta: spans.timestamp_delta,
            offset_delta: spans.offset_delta,
            key: spans.key.map(|span| self.at(span)),
            value: spans.value.map(|span| self.at(span)),
            header_bytes: self.at(spans.headers),
            header_count: spans.header_count,
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        let start = self.walk.source.position();
        let spans = self.walk.next()?;
        Some(spans.map(|spans| {
            let raw = self.at(start..spans.headers.end);
            Record {
                raw,
                ..self.view(spans)
            }
        }))
    }
}

impl FusedIterator for Records<'_> {}

/// One well-formed record, its fields borrowed from the section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The whole record as the section holds it, its length varint included.
    raw: &'a [u8],
    /// Relative to the batch's base timestamp.
    pub timestamp_delta: i64,
    /// Relative to the batch's base offset; never negative.
    pub offset_delta: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    header_bytes: &'a [u8],
    header_count: u32,
}

impl<'a> Record<'a> {
    /// The headers in record order; a key may repeat.
    pub fn headers(&self) -> Headers<'a> {
        Headers {
            rest: Slice::new(self.header_bytes),
            remaining: self.header_count,
        }
    }

    /// How many headers [`headers`](Self::headers) yields: at most one per
    /// two bytes of the record, so a list can be sized from it.
    pub fn header_count(&self) -> usize {
        self.header_count as usize
    }

    /// The record's bytes as the section holds them, from its length varint
    /// to its last header: copied as they are, they make the same record
    /// in another section (offset and timestamp are deltas from the batch's
    /// base, so it must keep the same base).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Appends the record to `out` with `timestamp_delta` in place of its
    /// own, every other byte as it is: the same record in a batch whose base
    /// timestamp moved (compaction's delete horizon). Its length prefix is
    /// written again, since the delta's varint may change size.
    pub fn write_with_timestamp_delta(&self, timestamp_delta: i64, out: &mut Vec<u8>) {
        // The walk checked these bytes: the prefix, attributes and delta are there.
        let mut fields = Slice::new(self.raw);
        let _length = varint(&mut fields);
        let attributes = fields.byte().unwrap_or(0);
        let _old_delta = varint(&mut fields);
        let rest = self
            .raw
            .get(usize::try_from(fields.position()).unwrap_or(usize::MAX)..)
            .unwrap_or_default();
        let mut delta = Vec::with_capacity(10);
        put_varint(&mut delta, timestamp_delta);
        let body = 1 + delta.len() + rest.len();
        put_varint(out, i64::try_from(body).unwrap_or(i64::MAX));
        out.push(attributes);
        out.extend_from_slice(&delta);
        out.extend_from_slice(rest);
    }

    /// The headers as the record holds them, after their count.
    pub fn header_bytes(&self) -> &'a [u8] {
        self.header_bytes
    }
}

/// A record's headers as (key, value); a header key is never null.
#[derive(Clone, Debug)]
pub struct Headers<'a> {
    rest: Slice<'a>,
    remaining: u32,
}

impl Headers<'_> {
    /// A length-prefixed byte string; the walk checked it, so it reads.
    fn bytes<'a>(rest: &mut Slice<'a>) -> Option<Option<&'a [u8]>> {
        match u64::try_from(varint(rest).ok()?) {
            Ok(len) => rest.take(len).map(Some),
            Err(_) => Some(None),
        }
    }
}

impl<'a> Iterator for Headers<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        self.remaining = self.remaining.checked_sub(1)?;
        let header = Self::bytes(&mut self.rest).and_then(|key| {
            let value = Self::bytes(&mut self.rest)?;
            Some((key.unwrap_or_default(), value))
        });
        if header.is_none() {
            // Not reached for a record the walk passed; ends rather than guesses.
            self.remaining = 0;
        }
        header
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining = self.remaining as usize;
        (remaining, Some(remaining))
    }
}

impl ExactSizeIterator for Headers<'_> {}

impl FusedIterator for Headers<'_> {}

#[cfg(test)]
mod tests;
