//! Walks a segment's `.log` file batch by batch through the I/O seam.
//!
//! Two modes: `Verify` reads every batch whole and checks it with
//! [`format::batch::next_stored_batch`] (recovery, inspect: a compacted
//! batch may hold fewer records than its offsets span); `Frame` reads only the
//! 61-byte headers and checks length and magic (lookups over bytes that were
//! verified when they were appended or recovered).
use crate::error::BatchError;
use crate::format::batch::{self, BatchHeader, BatchStep, HEADER_LEN};
use std::sync::Arc;

use crate::io::File;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScanMode {
    Verify,
    Frame,
}

/// Why a scan stopped before the end of the range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Damage {
    /// The range ends inside a batch: `available` bytes of a `needed`-byte batch.
    Torn {
        needed: u64,
        available: u64,
    },
    Invalid(BatchError),
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::Torn { needed, available } => {
                write!(f, "torn batch: {available} of {needed} bytes present")
            }
            Damage::Invalid(e) => write!(f, "invalid batch: {e}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ScanItem {
    Batch {
        header: BatchHeader,
        position: u64,
        size: u64,
    },
    /// Clean end: the position reached the end of the range exactly.
    End,
    Damage {
        position: u64,
        damage: Damage,
    },
}

/// A forward cursor over `[start, end)` of a log file.
pub(crate) struct Scanner {
    file: Arc<dyn File>,
    mode: ScanMode,
    position: u64,
    end: u64,
    buf: Vec<u8>,
    /// File position of `buf[0]`.
    buf_start: u64,
    chunk_bytes: usize,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("position", &self.position)
            .field("end", &self.end)
            .finish()
    }
}

impl Scanner {
    pub(crate) fn new(file: Arc<dyn File>, mode: ScanMode, start: u64, end: u64) -> Self {
        let chunk_bytes = match mode {
            ScanMode::Verify => 1 << 20,
            ScanMode::Frame => 8 << 10,
        };
        Scanner {
            file,
            mode,
            position: start,
            end,
            buf: Vec::new(),
            buf_start: start,
            chunk_bytes,
        }
    }

    /// Makes `buf` cover `[position, position + len)`; `len` never exceeds `end - position`.
    fn fill(&mut self, len: u64) -> std::io::Result<&[u8]> {
        let have_from = self.position.checked_sub(self.buf_start);
        let covered = have_from.is_some_and(|from| from + len <= self.buf.len() as u64);
        if !covered {
            let want = len
                .max(self.chunk_bytes as u64)
                .min(self.end - self.position);
            let want = usize::try_from(want).map_err(std::io::Error::other)?;
            self.buf.resize(want, 0);
            crate::io::read_exact_at(self.file.as_ref(), &mut self.buf, self.position)?;
            self.buf_start = self.position;
        }
        let from =
            usize::try_from(self.position - self.buf_start).map_err(std::io::Error::other)?;
        let len = usize::try_from(len).map_err(std::io::Error::other)?;
        Ok(self.buf.get(from..from + len).unwrap_or_default())
    }

    /// The next batch, the clean end, or the damage that stops the scan.
    /// After `Damage` the scanner stays where it is.
    pub(crate) fn next_item(&mut self) -> std::io::Result<ScanItem> {
        let position = self.position;
        let remaining = self.end.saturating_sub(position);
        if remaining == 0 {
            return Ok(ScanItem::End);
        }
        let torn = |needed: u64| ScanItem::Damage {
            position,
            damage: Damage::Torn {
                needed,
                available: remaining,
            },
        };
        if remaining < HEADER_LEN as u64 {
            return Ok(torn(HEADER_LEN as u64));
        }
        let head = self.fill(HEADER_LEN as u64)?;
        let (header, size) = match batch::frame(head) {
            Ok(found) => found,
            Err(e) => {
                return Ok(ScanItem::Damage {
                    position,
                    damage: Damage::Invalid(e),
                });
            }
        };
        let size = size as u64;
        if size > remaining {
            return Ok(torn(size));
        }
        if self.mode == ScanMode::Verify {
            let whole = self.fill(size)?;
            match batch::next_stored_batch(whole) {
                Ok(BatchStep::Batch { .. }) => {}
                Ok(BatchStep::NeedMore { needed }) => return Ok(torn(needed as u64)),
                Err(e) => {
                    return Ok(ScanItem::Damage {
                        position,
                        damage: Damage::Invalid(e),
                    });
                }
            }
        }
        self.position += size;
        Ok(ScanItem::Batch {
            header,
            position,
            size,
        })
    }

    /// `[position, position + len)` if the buffer already holds it.
    pub(crate) fn buffered(&self, position: u64, len: u64) -> Option<&[u8]> {
        let from = usize::try_from(position.checked_sub(self.buf_start)?).ok()?;
        let len = usize::try_from(len).ok()?;
        self.buf.get(from..from.checked_add(len)?)
    }

    /// The whole bytes of the batch at `[position, position + size)`, which
    /// must be the batch just returned (read again if not buffered).
    pub(crate) fn batch_bytes(&mut self, position: u64, size: u64) -> std::io::Result<&[u8]> {
        let saved = self.position;
        self.position = position;
        let result = self.fill(size).map(|b| b.len());
        self.position = saved;
        let len = result?;
        let from = usize::try_from(position - self.buf_start).map_err(std::io::Error::other)?;
        Ok(self.buf.get(from..from + len).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::builder::{SimpleRecord, encode_batch};
    use crate::io::{FileSystem, MemFileSystem, OpenMode};
    use std::path::Path;

    fn file_with(bytes: &[u8]) -> std::sync::Arc<dyn File> {
        let fs = MemFileSystem::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        let f = fs
            .open(Path::new("/d/x.log"), OpenMode::ReadAppend)
            .unwrap();
        f.append(bytes).unwrap();
        f
    }

    #[test]
    fn scans_batches_then_reports_a_torn_tail() {
        let one = encode_batch(&[SimpleRecord {
            timestamp_ms: 1,
            key: None,
            value: Some(b"abc"),
        }]);
        let mut bytes = one.clone();
        bytes.extend_from_slice(&one);
        bytes.extend_from_slice(&one[..20]);
        let file = file_with(&bytes);
        for mode in [ScanMode::Verify, ScanMode::Frame] {
            let mut scan = Scanner::new(file.clone(), mode, 0, bytes.len() as u64);
            assert!(matches!(
                scan.next_item().unwrap(),
                ScanItem::Batch { position: 0, .. }
            ));
            let second = scan.next_item().unwrap();
            assert!(
                matches!(second, ScanItem::Batch { position, .. } if position == one.len() as u64)
            );
            let third = scan.next_item().unwrap();
            assert!(
                matches!(
                    third,
                    ScanItem::Damage {
                        damage: Damage::Torn { .. },
                        ..
                    }
                ),
                "{third:?}"
            );
        }
    }

    #[test]
    fn verify_mode_catches_a_flipped_byte_that_frame_mode_misses() {
        let mut bytes = encode_batch(&[SimpleRecord {
            timestamp_ms: 1,
            key: None,
            value: Some(b"abc"),
        }]);
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let file = file_with(&bytes);
        let mut verify = Scanner::new(file.clone(), ScanMode::Verify, 0, bytes.len() as u64);
        let item = verify.next_item().unwrap();
        assert!(matches!(
            item,
            ScanItem::Damage {
                damage: Damage::Invalid(BatchError::CrcMismatch { .. }),
                ..
            }
        ));
        let mut frame = Scanner::new(file.clone(), ScanMode::Frame, 0, bytes.len() as u64);
        assert!(matches!(frame.next_item().unwrap(), ScanItem::Batch { .. }));
        assert!(matches!(frame.next_item().unwrap(), ScanItem::End));
    }
}
