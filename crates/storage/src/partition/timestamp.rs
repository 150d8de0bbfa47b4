//! Timestamp lookups (ListOffsets).
use super::read::{ReadPlan, Target};
use super::{Partition, TimestampOffset};
use crate::error::{IoOp, StorageError};
use crate::format::batch::{self, BatchHeader};
use crate::scan::{ScanItem, ScanMode, Scanner};
use crate::segment::SegmentView;
use crate::sync_util::lock;

impl Partition {
    /// The first record whose timestamp is >= `timestamp_ms`, or None if
    /// every record is older. For uncompressed batches the exact record is
    /// found by walking the records' timestamp deltas; for compressed or
    /// log-append-time batches the answer is the batch's base offset and max
    /// timestamp. The offset is never below the log start offset.
    pub fn offset_for_timestamp(
        &self,
        timestamp_ms: i64,
    ) -> Result<Option<TimestampOffset>, StorageError> {
        let log_start = self.log_start_offset();
        // The first qualifying segment nearly always holds the answer; the
        // second is needed only when its matches all lie below the log start.
        // Each is planned (its indexes mapped) only when it is searched.
        let mut after = None;
        for _ in 0..2 {
            let Some(plan) = self.plan_timestamp(timestamp_ms, log_start, after)? else {
                break;
            };
            let (view, start) = (&plan.view, plan.start_position);
            if let Some(found) = find_in_segment(view, start, timestamp_ms, log_start)? {
                return Ok(Some(found));
            }
            after = Some(plan.base_offset);
        }
        Ok(None)
    }

    /// The first segment after base offset `after` that holds offsets from
    /// `log_start` on and a timestamp at or after `timestamp_ms` (its max
    /// timestamp, a plain value, tells), planned for the search.
    fn plan_timestamp(
        &self,
        timestamp_ms: i64,
        log_start: i64,
        after: Option<i64>,
    ) -> Result<Option<ReadPlan>, StorageError> {
        let mut state = lock(&self.state);
        let qualifies = |s: &crate::segment::Segment| {
            after.is_none_or(|base| s.base_offset > base)
                && s.next_offset > log_start
                && s.max_timestamp
                    .is_some_and(|m| m.timestamp_ms >= timestamp_ms)
        };
        let Some(at) = state.segments.iter().position(qualifies) else {
            return Ok(None);
        };
        self.plan_in(&mut state, at, Target::Timestamp(timestamp_ms))
    }

    /// The largest timestamp in the log and the last offset of the batch that
    /// holds it (batch granularity; see docs/FORMAT.md).
    pub fn max_timestamp(&self) -> Option<TimestampOffset> {
        let state = lock(&self.state);
        let mut best: Option<TimestampOffset> = None;
        for m in state.segments.iter().filter_map(|s| s.max_timestamp) {
            if best.is_none_or(|b| m.timestamp_ms > b.timestamp_ms) {
                best = Some(m);
            }
        }
        best
    }
}

fn find_in_segment(
    view: &SegmentView,
    start: u64,
    target_ms: i64,
    min_offset: i64,
) -> Result<Option<TimestampOffset>, StorageError> {
    if view.mapped.is_some() {
        return find_in_mapped(view, start, target_ms, min_offset);
    }
    let io = |e| StorageError::io(&view.log_path, IoOp::Read, e);
    let mut scanner = Scanner::new(view.log.clone(), ScanMode::Frame, start, view.size_bytes);
    loop {
        match scanner.next_item().map_err(io)? {
            ScanItem::Batch {
                header,
                position,
                size,
            } if header.max_timestamp >= target_ms && header.last_offset() >= min_offset => {
                let bytes = scanner.batch_bytes(position, size).map_err(io)?;
                if let Some(found) = record_at_or_after(&header, bytes, target_ms, min_offset) {
                    return Ok(Some(found));
                }
            }
            ScanItem::Batch { .. } => {}
            ScanItem::End => return Ok(None),
            ScanItem::Damage { position, damage } => {
                return Err(view.corruption(position, damage.to_string()));
            }
        }
    }
}

/// [`find_in_segment`] over a mapped segment: headers walked in place.
fn find_in_mapped(
    view: &SegmentView,
    start: u64,
    target_ms: i64,
    min_offset: i64,
) -> Result<Option<TimestampOffset>, StorageError> {
    for batch in view.mapped_batches(start).into_iter().flatten() {
        let (_, header, bytes) = batch?;
        if header.max_timestamp >= target_ms
            && header.last_offset() >= min_offset
            && let Some(found) = record_at_or_after(&header, bytes, target_ms, min_offset)
        {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// The first record of a batch at or after `min_offset` with timestamp >= target.
fn record_at_or_after(
    header: &BatchHeader,
    bytes: &[u8],
    target_ms: i64,
    min_offset: i64,
) -> Option<TimestampOffset> {
    if header.compression() != 0 || header.is_log_append_time() {
        let offset = header.base_offset.max(min_offset);
        return Some(TimestampOffset {
            timestamp_ms: header.max_timestamp,
            offset,
        });
    }
    batch::record_timestamps(bytes)
        .map(|(offset_delta, ts_delta)| TimestampOffset {
            timestamp_ms: header.base_timestamp.saturating_add(ts_delta),
            offset: header.base_offset + offset_delta,
        })
        .find(|r| r.timestamp_ms >= target_ms && r.offset >= min_offset)
}
