//! A big-endian reader over a byte slice whose every read is checked: for the
//! few layouts the broker reads by hand (OffsetCommit v0–1, the records of its
//! offsets log), where the bytes come from a peer or from disk.

use std::fmt;

/// A read ran past the end of the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncated {
    /// Where the read that failed began.
    pub position: usize,
}

impl fmt::Display for Truncated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the bytes end early at byte {}", self.position)
    }
}

impl std::error::Error for Truncated {}

/// Reads fixed-width big-endian integers and length-prefixed byte runs.
#[derive(Clone, Debug)]
pub struct Cursor<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8]) -> Cursor<'a> {
        Cursor { bytes, position: 0 }
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Truncated> {
        let bytes: &'a [u8] = self.bytes;
        let taken = self
            .position
            .checked_add(n)
            .and_then(|end| bytes.get(self.position..end))
            .ok_or(Truncated {
                position: self.position,
            })?;
        self.position += n;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Truncated> {
        let position = self.position;
        self.take(N)?.try_into().map_err(|_| Truncated { position })
    }

    pub fn i16(&mut self) -> Result<i16, Truncated> {
        self.array().map(i16::from_be_bytes)
    }

    pub fn u16(&mut self) -> Result<u16, Truncated> {
        self.array().map(u16::from_be_bytes)
    }

    pub fn i32(&mut self) -> Result<i32, Truncated> {
        self.array().map(i32::from_be_bytes)
    }

    pub fn i64(&mut self) -> Result<i64, Truncated> {
        self.array().map(i64::from_be_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_and_stops_at_the_end() {
        let bytes = [0x00, 0x01, 0xff, 0xfe, 0, 0, 0, 7, 9];
        let mut cursor = Cursor::new(&bytes);
        assert_eq!(cursor.i16(), Ok(1));
        assert_eq!(cursor.u16(), Ok(0xfffe));
        assert_eq!(cursor.i32(), Ok(7));
        assert_eq!(cursor.remaining(), 1);
        assert_eq!(cursor.i16(), Err(Truncated { position: 8 }));
        assert_eq!(cursor.take(1), Ok(&[9u8][..]));
        assert_eq!(cursor.take(usize::MAX), Err(Truncated { position: 9 }));
        assert_eq!(cursor.i64(), Err(Truncated { position: 9 }));
    }
}
