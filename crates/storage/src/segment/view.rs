//! A read-only view of one segment's log, taken under the partition lock
//! and read after it is released, and the walk over its mapped batches.
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::StorageError;
use crate::format::batch::BatchHeader;
use crate::io::File;
use crate::scan::{ScanItem, ScanMode, Scanner};

/// A read-only view of a segment taken under the partition lock and used
/// after it is released.
#[derive(Debug, Clone)]
pub(crate) struct SegmentView {
    pub(crate) bytes: LogBytes,
    pub(crate) log_path: PathBuf,
    /// Published length: only whole batches lie below it.
    pub(crate) size_bytes: u64,
}

/// Where a view's bytes are read from.
#[derive(Debug, Clone)]
pub(crate) enum LogBytes {
    /// The published bytes, mapped: reads slice them.
    Mapped(Bytes),
    /// The log's file, for positioned reads (it could not be mapped).
    File(Arc<dyn File>),
}

impl SegmentView {
    /// The batches of the mapped published bytes from `start`, in order:
    /// `(position, header, whole batch)`. `None` if the segment is not mapped.
    pub(crate) fn mapped_batches(&self, start: u64) -> Option<MappedBatches<'_>> {
        let LogBytes::Mapped(map) = &self.bytes else {
            return None;
        };
        Some(MappedBatches {
            view: self,
            map,
            at: usize::try_from(start).unwrap_or(usize::MAX),
        })
    }

    /// The header of the batch at `position`, if a whole batch is framed there.
    pub(crate) fn batch_header_at(&self, position: u64) -> Option<BatchHeader> {
        match &self.bytes {
            LogBytes::Mapped(_) => {
                let first = self.mapped_batches(position)?.next()?;
                first.ok().map(|(_, header, _)| header)
            }
            LogBytes::File(log) => {
                let mut scanner =
                    Scanner::new(log.clone(), ScanMode::Frame, position, self.size_bytes);
                match scanner.next_item() {
                    Ok(ScanItem::Batch { header, .. }) => Some(header),
                    _ => None,
                }
            }
        }
    }

    /// Damage found in published bytes. They were validated on append or
    /// recovery, so it means the file changed under us.
    pub(crate) fn corruption(&self, position: u64, detail: String) -> StorageError {
        StorageError::Corruption {
            path: self.log_path.clone(),
            position,
            detail,
        }
    }
}

/// See [`SegmentView::mapped_batches`]. A header that does not frame a whole
/// batch is reported once, as corruption, and ends the walk.
pub(crate) struct MappedBatches<'a> {
    view: &'a SegmentView,
    map: &'a Bytes,
    at: usize,
}

impl<'a> Iterator for MappedBatches<'a> {
    type Item = Result<(u64, BatchHeader, &'a [u8]), StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.map.get(self.at..).filter(|r| !r.is_empty())?;
        let position = self.at as u64;
        let framed = crate::format::batch::frame(rest)
            .ok()
            .and_then(|(header, size)| Some((header, rest.get(..size)?)));
        let Some((header, batch)) = framed else {
            self.at = self.map.len();
            let detail = "published bytes hold a damaged batch header".to_owned();
            return Some(Err(self.view.corruption(position, detail)));
        };
        self.at += batch.len();
        Some(Ok((position, header, batch)))
    }
}
