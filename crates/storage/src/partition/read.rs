//! The read path: whole batches from the batch holding the requested offset.
use bytes::Bytes;

use super::{Partition, ReadResult};
use crate::error::{IoContext, IoOp, StorageError};
use crate::scan::{ScanItem, ScanMode, Scanner};
use crate::segment::SegmentView;
use crate::sync_util::lock;

/// Where to look for `offset` in one segment, taken under the lock.
#[derive(Debug)]
struct ReadPlan {
    view: SegmentView,
    start_position: u64,
}

impl Partition {
    /// Returns whole batches starting at the one that holds `offset`, up to
    /// `max_bytes` but always at least one whole batch, possibly spanning
    /// segments. `offset == high watermark` gives empty records. Only
    /// published (completely written) batches are visible. The lock is held
    /// only to pick the segment; the I/O runs without it.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadResult, StorageError> {
        let high_watermark = self.high_watermark();
        let log_start_offset = self.log_start_offset();
        if offset < log_start_offset || offset > high_watermark {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset,
                high_watermark,
            });
        }
        let mut out: Vec<u8> = Vec::new();
        let mut cursor = offset;
        while cursor < high_watermark {
            let Some(plan) = self.plan_read(cursor) else {
                break;
            };
            let budget = max_bytes.saturating_sub(out.len());
            let (next, reached_end) =
                read_segment(&plan, cursor, budget, out.is_empty(), &mut out)?;
            if !reached_end || next <= cursor || out.len() >= max_bytes {
                break;
            }
            cursor = next;
        }
        Ok(ReadResult {
            records: Bytes::from(out),
            // Loaded after the reads: a segment may have grown meanwhile, and
            // no returned batch may lie at or above the reported watermark.
            high_watermark: self.high_watermark(),
            log_start_offset,
        })
    }

    /// The segment holding `offset` and the index position to scan from.
    fn plan_read(&self, offset: i64) -> Option<ReadPlan> {
        let state = lock(&self.state);
        let at = state
            .segments
            .partition_point(|s| s.base_offset <= offset)
            .checked_sub(1)?;
        let segment = state.segments.get(at)?;
        Some(ReadPlan {
            view: segment.view(),
            start_position: segment.position_for_offset(offset),
        })
    }
}

/// Finds the batch holding `offset` in the planned segment and appends whole
/// batches to `out` within `budget` (at least one if `must_take_one`).
/// Returns the offset after the last batch taken and whether the segment's
/// end was reached.
///
/// Only the headers between the index entry and the target batch are read
/// one by one; the batches returned are read with one positioned read and
/// then cut at the last whole batch in memory.
fn read_segment(
    plan: &ReadPlan,
    offset: i64,
    budget: usize,
    must_take_one: bool,
    out: &mut Vec<u8>,
) -> Result<(i64, bool), StorageError> {
    let view = &plan.view;
    let Some((start, first_size)) = find_batch(plan, offset)? else {
        return Ok((offset, true));
    };
    if first_size > budget as u64 && !must_take_one {
        return Ok((offset, false));
    }
    let want = (budget as u64).max(first_size).min(view.size_bytes - start);
    let len = usize::try_from(want)
        .map_err(|e| StorageError::io(&view.log_path, IoOp::Read, std::io::Error::other(e)))?;
    let at = out.len();
    out.resize(at + len, 0);
    let dst = out.get_mut(at..).unwrap_or_default();
    crate::io::read_exact_at(view.log.as_ref(), dst, start).ctx(&view.log_path, IoOp::Read)?;
    let (cut, next_offset) = whole_batches_prefix(out.get(at..).unwrap_or_default(), offset);
    out.truncate(at + cut);
    Ok((next_offset, start + cut as u64 == view.size_bytes))
}

/// Position and size of the first batch whose last offset is >= `offset`.
fn find_batch(plan: &ReadPlan, offset: i64) -> Result<Option<(u64, u64)>, StorageError> {
    let view = &plan.view;
    let mut scanner = Scanner::new(
        view.log.clone(),
        ScanMode::Frame,
        plan.start_position,
        view.size_bytes,
    );
    loop {
        match scanner
            .next_item()
            .map_err(|e| StorageError::io(&view.log_path, IoOp::Read, e))?
        {
            ScanItem::Batch {
                header,
                position,
                size,
            } if header.last_offset() >= offset => {
                return Ok(Some((position, size)));
            }
            ScanItem::Batch { .. } => {}
            ScanItem::End => return Ok(None),
            ScanItem::Damage { position, damage } => {
                // Published bytes were validated on append or recovery; damage
                // here means the file changed under us.
                let detail = damage.to_string();
                return Err(StorageError::Corruption {
                    path: view.log_path.clone(),
                    position,
                    detail,
                });
            }
        }
    }
}

/// Length of the longest prefix of `buf` made of whole batches, and the
/// offset after its last batch (`offset` if there is none).
fn whole_batches_prefix(buf: &[u8], offset: i64) -> (usize, i64) {
    let (mut cut, mut next_offset) = (0usize, offset);
    while let Some(rest) = buf.get(cut..) {
        match crate::format::batch::frame(rest) {
            Ok((header, size)) if size <= rest.len() => {
                cut += size;
                next_offset = header.last_offset() + 1;
            }
            _ => break,
        }
    }
    (cut, next_offset)
}
