//! Retention and DeleteRecords: whole sealed segments go, the log start moves.
use std::sync::atomic::Ordering;

use super::{Partition, State};
use crate::error::StorageError;
use crate::segment::Segment;
use crate::sync_util::lock;

/// What a retention pass removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub deleted_segments: usize,
    pub deleted_bytes: u64,
    pub log_start_offset: i64,
}

impl Partition {
    /// Deletes sealed segments whose max timestamp is older than
    /// `now_ms - retention_ms`, then the oldest sealed segments while the
    /// partition exceeds `retention_bytes`. The active segment is never deleted.
    pub fn apply_retention(&self, now_ms: i64) -> Result<RetentionReport, StorageError> {
        let config = self.config();
        if self.is_failed() {
            return Ok(RetentionReport {
                log_start_offset: self.log_start_offset(),
                ..RetentionReport::default()
            });
        }
        let removed = {
            let mut state = lock(&self.state);
            let sealed = state.segments.len().saturating_sub(1);
            let mut count = 0;
            if let Some(retention_ms) = config.retention_ms {
                let cutoff = now_ms.saturating_sub(retention_ms);
                count = state
                    .segments
                    .iter()
                    .take(sealed)
                    .take_while(|s| s.max_timestamp.is_none_or(|m| m.timestamp_ms < cutoff))
                    .count();
            }
            if let Some(retention_bytes) = config.retention_bytes {
                let mut total: u64 = state
                    .segments
                    .iter()
                    .skip(count)
                    .map(|s| s.size_bytes)
                    .sum();
                for segment in state.segments.iter().take(sealed).skip(count) {
                    if total.saturating_sub(segment.size_bytes) < retention_bytes {
                        break;
                    }
                    total -= segment.size_bytes;
                    count += 1;
                }
            }
            self.detach_front(&mut state, count)
        };
        self.finish_removal(removed)
    }

    /// Moves the log start offset to `offset` (DeleteRecords) and deletes the
    /// sealed segments wholly below it. Returns the new log start offset.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, StorageError> {
        let high_watermark = self.high_watermark();
        let log_start_offset = self.log_start_offset();
        if offset > high_watermark || offset < 0 {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset,
                high_watermark,
            });
        }
        if offset <= log_start_offset {
            return Ok(log_start_offset);
        }
        let removed = {
            let mut state = lock(&self.state);
            self.check_writable(&state)?;
            self.log_start_offset.fetch_max(offset, Ordering::AcqRel);
            let sealed = state.segments.len().saturating_sub(1);
            let count = state
                .segments
                .iter()
                .take(sealed)
                .take_while(|s| s.next_offset <= offset)
                .count();
            self.detach_front(&mut state, count)
        };
        self.finish_removal(removed).map(|r| r.log_start_offset)
    }

    /// Removes the first `count` segments from the list and moves the log
    /// start offset to the new first segment. Runs under the writer lock.
    fn detach_front(&self, state: &mut State, count: usize) -> Vec<Segment> {
        let removed: Vec<Segment> = state
            .segments
            .drain(..count.min(state.segments.len()))
            .collect();
        // Files waiting for an fsync must not keep deleted segments open
        // (their disk space is only freed when the last descriptor closes).
        let bases: Vec<i64> = removed.iter().map(|s| s.base_offset).collect();
        state.unsynced.retain(|(path, _)| {
            crate::format::names::parse_segment_path(path)
                .is_none_or(|(base, _)| !bases.contains(&base))
        });
        if let Some(first) = state.segments.first() {
            self.log_start_offset
                .fetch_max(first.base_offset, Ordering::AcqRel);
        }
        removed
    }

    /// Persists the new log start offset, then deletes the files. A crash in
    /// between leaves files below the log start, which the next open removes.
    fn finish_removal(&self, removed: Vec<Segment>) -> Result<RetentionReport, StorageError> {
        if removed.is_empty() && lock(&self.checkpoint).log_start_offset == self.log_start_offset()
        {
            return Ok(RetentionReport {
                log_start_offset: self.log_start_offset(),
                ..RetentionReport::default()
            });
        }
        let report = RetentionReport {
            deleted_segments: removed.len(),
            deleted_bytes: removed.iter().map(|s| s.size_bytes).sum(),
            log_start_offset: self.log_start_offset(),
        };
        self.write_checkpoint(false)?;
        for segment in &removed {
            // Readers holding the file keep reading it: unlink leaves open files intact.
            segment.remove_files(self.fs.as_ref())?;
            tracing::info!(partition = %self.id, segment = %segment.log_path.display(),
                bytes = segment.size_bytes, "deleted segment below the log start offset");
        }
        Ok(report)
    }
}
