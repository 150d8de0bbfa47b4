//! Where the record walk reads from: a section in memory ([`Slice`]) or one
//! coming out of a decompressor ([`Stream`]). Both count their position, so
//! the walk can measure a record against its declared length and say where
//! its fields lie.

use std::io::BufRead;

/// Bytes read front to back, counting the position.
pub(super) trait Source {
    fn byte(&mut self) -> Option<u8>;
    /// Skips `n` bytes; false if fewer remain.
    fn skip(&mut self, n: u64) -> bool;
    fn position(&self) -> u64;
    fn at_end(&mut self) -> bool;
}

/// A records section already in memory, read in place.
#[derive(Clone, Debug)]
pub(super) struct Slice<'a> {
    rest: &'a [u8],
    len: usize,
}

impl<'a> Slice<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Slice {
            rest: bytes,
            len: bytes.len(),
        }
    }

    /// The next `n` bytes, if that many remain.
    pub(super) fn take(&mut self, n: u64) -> Option<&'a [u8]> {
        let n = usize::try_from(n).ok()?;
        let (taken, rest) = self.rest.split_at_checked(n)?;
        self.rest = rest;
        Some(taken)
    }
}

impl Source for Slice<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (first, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(*first)
    }

    fn skip(&mut self, n: u64) -> bool {
        self.take(n).is_some()
    }

    fn position(&self) -> u64 {
        (self.len - self.rest.len()) as u64
    }

    fn at_end(&mut self) -> bool {
        self.rest.is_empty()
    }
}

/// A records section read as a decompressor yields it, so the memory used
/// does not grow with what the batch claims to hold.
pub(super) struct Stream<R> {
    reader: R,
    position: u64,
    /// The decompressor's error, if it stopped on one.
    error: Option<String>,
}

impl<R: BufRead> Stream<R> {
    pub(super) fn new(reader: R) -> Self {
        Stream {
            reader,
            position: 0,
            error: None,
        }
    }

    /// Why the decompressor stopped, if it failed.
    pub(super) fn error(&mut self) -> Option<String> {
        self.error.take()
    }

    fn buffered(&mut self) -> &[u8] {
        if self.error.is_some() {
            return &[];
        }
        match self.reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) => {
                self.error = Some(e.to_string());
                &[]
            }
        }
    }
}

impl<R: BufRead> Source for Stream<R> {
    fn byte(&mut self) -> Option<u8> {
        let byte = *self.buffered().first()?;
        self.reader.consume(1);
        self.position += 1;
        Some(byte)
    }

    fn skip(&mut self, mut n: u64) -> bool {
        while n > 0 {
            let available = self.buffered().len();
            if available == 0 {
                return false;
            }
            let step = usize::try_from(n).unwrap_or(usize::MAX).min(available);
            self.reader.consume(step);
            self.position += step as u64;
            n -= step as u64;
        }
        true
    }

    fn position(&self) -> u64 {
        self.position
    }

    fn at_end(&mut self) -> bool {
        self.buffered().is_empty()
    }
}
