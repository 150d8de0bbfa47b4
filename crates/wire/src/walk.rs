//! Walks a message body with its [`Schema`]: every string, bytes field and
//! array must fit in what remains of the body (an element takes at least one
//! byte), and every element is walked in turn.
//!
//! Grammar (KIP-482): before the flexible version a string is `{ i16 len |
//! bytes }`, bytes and arrays `{ i32 len | … }`, -1 meaning null; from it on
//! every length is an unsigned varint of `len + 1` (0 meaning null), and each
//! struct ends with `{ uvarint count | count × { uvarint tag | uvarint size |
//! size bytes } }`.

use std::fmt;

use crate::schema::{Field, Kind, Schema};

/// Where and why a body does not fit its schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkError {
    /// Byte offset in the body where the walk stopped.
    pub position: usize,
    pub problem: &'static str,
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.problem, self.position)
    }
}

impl std::error::Error for WalkError {}

/// What a walk found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Walked {
    /// How many bytes the schema covers. Bytes after the last field are left
    /// to the caller to judge (the decoders and Kafka tolerate them).
    pub bytes: usize,
    /// Array elements of struct or string type, and tagged fields: each one
    /// a value the decoder will build, which can take a hundred times its
    /// bytes on the wire (an empty topic name: 2 bytes in, 72 out).
    pub elements: u64,
}

/// Walks `body` as `schema` at `version`.
pub fn walk(schema: &Schema, version: i16, body: &[u8]) -> Result<Walked, WalkError> {
    let mut walker = Walker {
        body,
        position: 0,
        version,
        flexible: version >= schema.flexible_since,
        elements: 0,
    };
    match walker.walk_struct(schema.fields) {
        Ok(()) => Ok(Walked {
            bytes: walker.position,
            elements: walker.elements,
        }),
        Err(problem) => Err(WalkError {
            position: walker.position,
            problem,
        }),
    }
}

struct Walker<'a> {
    body: &'a [u8],
    position: usize,
    version: i16,
    flexible: bool,
    elements: u64,
}

type Step = Result<(), &'static str>;

impl Walker<'_> {
    fn remaining(&self) -> usize {
        self.body.len() - self.position
    }

    fn skip(&mut self, bytes: usize) -> Step {
        if bytes > self.remaining() {
            return Err("field runs past the end of the frame");
        }
        self.position += bytes;
        Ok(())
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        let bytes = self
            .body
            .get(self.position..self.position + N)
            .ok_or("truncated")?;
        self.position += N;
        bytes.try_into().map_err(|_| "truncated")
    }

    fn uvarint(&mut self) -> Result<u64, &'static str> {
        let mut value = 0u64;
        for shift in (0..35).step_by(7) {
            let [byte] = self.take::<1>()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint longer than 5 bytes")
    }

    /// Length of a string, bytes or array; `None` for null.
    fn length(&mut self, wide: bool) -> Result<Option<usize>, &'static str> {
        let length = if self.flexible {
            self.uvarint()?
                .checked_sub(1)
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        } else if wide {
            let n = i32::from_be_bytes(self.take::<4>()?);
            if n < -1 {
                return Err("negative length");
            }
            usize::try_from(n).ok()
        } else {
            let n = i16::from_be_bytes(self.take::<2>()?);
            if n < -1 {
                return Err("negative length");
            }
            usize::try_from(n).ok()
        };
        match length {
            Some(n) if n > self.remaining() => Err("length larger than the rest of the frame"),
            other => Ok(other),
        }
    }

    fn walk_struct(&mut self, fields: &[Field]) -> Step {
        let version = self.version;
        for field in fields.iter().filter(|f| f.in_order_at(version)) {
            self.walk_field(field.kind)?;
        }
        if self.flexible {
            self.walk_tagged_fields(fields)
        } else {
            Ok(())
        }
    }

    fn walk_field(&mut self, kind: Kind) -> Step {
        match kind {
            Kind::I8 => self.skip(1),
            Kind::I16 => self.skip(2),
            Kind::I32 => self.skip(4),
            Kind::I64 => self.skip(8),
            Kind::Uuid => self.skip(16),
            Kind::Str => {
                let n = self.length(false)?.unwrap_or(0);
                self.skip(n)
            }
            Kind::Bytes => {
                let n = self.length(true)?.unwrap_or(0);
                self.skip(n)
            }
            Kind::Int32s => {
                let n = self.length(true)?.unwrap_or(0);
                self.skip(n.checked_mul(4).ok_or("array too long")?)
            }
            Kind::Strs => (0..self.length(true)?.unwrap_or(0)).try_for_each(|_| {
                self.elements += 1;
                self.walk_field(Kind::Str)
            }),
            Kind::Struct(fields) => self.walk_struct(fields),
            Kind::Structs(fields) => (0..self.length(true)?.unwrap_or(0)).try_for_each(|_| {
                self.elements += 1;
                self.walk_struct(fields)
            }),
        }
    }

    /// The tagged-field section of a struct with `fields`: a tag the schema
    /// knows is walked by its kind and must fill exactly its declared size;
    /// any other is skipped by its size.
    fn walk_tagged_fields(&mut self, fields: &[Field]) -> Step {
        let count = self.uvarint()?;
        if count > self.remaining() as u64 {
            return Err("more tagged fields than bytes");
        }
        for _ in 0..count {
            self.elements += 1;
            let tag = self.uvarint()?;
            let size = usize::try_from(self.uvarint()?).map_err(|_| "tagged field too large")?;
            let known = fields
                .iter()
                .find(|f| f.tag.is_some_and(|t| u64::from(t) == tag));
            match known {
                Some(field) => {
                    let start = self.position;
                    self.walk_field(field.kind)?;
                    if self.position - start != size {
                        return Err("tagged field size disagrees with its content");
                    }
                }
                None => self.skip(size)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
