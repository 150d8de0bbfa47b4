//! Timestamp lookups (ListOffsets): exact to the record, as on Kafka, in
//! compressed batches too (the one batch that holds the answer is
//! decompressed; one that will not decompress gets a batch-level answer,
//! which never skips a record).
use std::borrow::Cow;

use ferrolog_wire::compression::{self, Codec};

use super::read::{ReadPlan, Target};
use super::{Partition, TimestampOffset};
use crate::error::{IoOp, StorageError};
use crate::format::batch::{self, BatchHeader};
use crate::scan::{ScanItem, ScanMode, Scanner};
use crate::segment::{LogBytes, SegmentView};
use crate::sync_util::lock;

impl Partition {
    /// The first record whose timestamp is >= `timestamp_ms`, or None if
    /// every record is older. The batch that holds it is walked record by
    /// record (decompressed first if it is compressed); in a log-append-time
    /// batch every record has the batch's timestamp, so the answer is its
    /// first record. The offset is never below the log start offset.
    pub fn offset_for_timestamp(
        &self,
        timestamp_ms: i64,
    ) -> Result<Option<TimestampOffset>, StorageError> {
        let log_start = self.log_start_offset();
        // The first qualifying segment nearly always holds the answer. A later
        // one is needed when its matches all lie below the log start, or were
        // removed by compaction (an emptied segment keeps its max timestamp,
        // so it still qualifies): go on until one answers. Each is planned
        // (its indexes mapped) only when it is searched.
        let mut after = None;
        loop {
            let Some(plan) = self.plan_timestamp(timestamp_ms, log_start, after)? else {
                break;
            };
            let (view, start) = (&plan.view, plan.walk_from());
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

    /// The largest timestamp in the log and the first record that carries
    /// it, as Kafka answers ListOffsets' MAX_TIMESTAMP. Each segment keeps its
    /// max timestamp with the last offset of the first batch to reach it; that
    /// batch is read to find the record.
    pub fn max_timestamp(&self) -> Result<Option<TimestampOffset>, StorageError> {
        let log_start = self.log_start_offset();
        let Some((plan, shallow)) = self.plan_max_timestamp()? else {
            return Ok(None);
        };
        let found = match plan {
            Some(plan) => first_in_segment(
                &plan.view,
                plan.walk_from(),
                |header| header.last_offset() >= shallow.offset,
                |header, bytes| {
                    // An index that disagrees with the log: keep what it said.
                    Some(if header.max_timestamp == shallow.timestamp_ms {
                        first_with_max(header, bytes)
                    } else {
                        shallow
                    })
                },
            )?,
            None => None,
        };
        let found = found.unwrap_or(shallow);
        Ok(Some(TimestampOffset {
            offset: found.offset.max(log_start),
            ..found
        }))
    }

    /// The segment holding the log's largest timestamp, planned for reading
    /// at the offset it keeps with it, and that timestamp and offset.
    fn plan_max_timestamp(
        &self,
    ) -> Result<Option<(Option<ReadPlan>, TimestampOffset)>, StorageError> {
        let mut state = lock(&self.state);
        let mut best: Option<(usize, TimestampOffset)> = None;
        for (at, s) in state.segments.iter().enumerate() {
            if let Some(m) = s.max_timestamp
                && best.is_none_or(|(_, b)| m.timestamp_ms > b.timestamp_ms)
            {
                best = Some((at, m));
            }
        }
        let Some((at, shallow)) = best else {
            return Ok(None);
        };
        let plan = self.plan_in(&mut state, at, Target::Offset(shallow.offset))?;
        Ok(Some((plan, shallow)))
    }
}

/// The first record of a batch that carries its max timestamp (the batch's
/// last offset if its records cannot be read).
fn first_with_max(header: &BatchHeader, bytes: &[u8]) -> TimestampOffset {
    let max = TimestampOffset {
        timestamp_ms: header.max_timestamp,
        offset: header.base_offset,
    };
    if header.is_log_append_time() {
        return max;
    }
    plain_records(header, bytes)
        .and_then(|plain| {
            record_times(header, &plain).find(|r| r.timestamp_ms == header.max_timestamp)
        })
        .unwrap_or(TimestampOffset {
            offset: header.last_offset(),
            ..max
        })
}

fn find_in_segment(
    view: &SegmentView,
    start: u64,
    target_ms: i64,
    min_offset: i64,
) -> Result<Option<TimestampOffset>, StorageError> {
    first_in_segment(
        view,
        start,
        |header| header.max_timestamp >= target_ms && header.last_offset() >= min_offset,
        |header, bytes| record_at_or_after(header, bytes, target_ms, min_offset),
    )
}

/// Walks the batches of a segment from `start`; the first batch `wanted`
/// (by its header) for which `pick` (given its bytes) answers gives the answer.
fn first_in_segment(
    view: &SegmentView,
    start: u64,
    wanted: impl Fn(&BatchHeader) -> bool,
    mut pick: impl FnMut(&BatchHeader, &[u8]) -> Option<TimestampOffset>,
) -> Result<Option<TimestampOffset>, StorageError> {
    let log = match &view.bytes {
        LogBytes::File(log) => log.clone(),
        LogBytes::Mapped(_) => {
            for batch in view.mapped_batches(start).into_iter().flatten() {
                let (_, header, bytes) = batch?;
                if wanted(&header)
                    && let Some(found) = pick(&header, bytes)
                {
                    return Ok(Some(found));
                }
            }
            return Ok(None);
        }
    };
    let io = |e| StorageError::io(&view.log_path, IoOp::Read, e);
    let mut scanner = Scanner::new(log, ScanMode::Frame, start, view.size_bytes);
    loop {
        match scanner.next_item().map_err(io)? {
            ScanItem::Batch {
                header,
                position,
                size,
            } if wanted(&header) => {
                let bytes = scanner.batch_bytes(position, size).map_err(io)?;
                if let Some(found) = pick(&header, bytes) {
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

/// The most one compressed batch may decompress to while it is searched: a
/// batch over it (hostile, or absurd) gets a batch-level answer instead.
const SEARCH_DECOMPRESSED_MAX: usize = 64 << 20;

/// The records section of a batch in plain form: in place if uncompressed,
/// else decompressed; None if it will not decompress within the ceiling.
fn plain_records<'a>(header: &BatchHeader, bytes: &'a [u8]) -> Option<Cow<'a, [u8]>> {
    let section = batch::records_section(bytes);
    match Codec::from_attributes(header.attributes)? {
        Codec::None => Some(Cow::Borrowed(section)),
        codec => match compression::decompress(codec, section, SEARCH_DECOMPRESSED_MAX) {
            Ok(plain) => Some(Cow::Owned(plain)),
            Err(error) => {
                tracing::debug!(base_offset = header.base_offset, %error,
                    "timestamp search: batch not decompressed; answering for the whole batch");
                None
            }
        },
    }
}

/// Each record of a plain records section as (timestamp, offset), in order,
/// up to the first that does not parse or claims an offset outside its batch.
/// The broker checks every record before an append, but the engine's own
/// API takes batches on their header's word, and a log can be damaged on disk.
fn record_times<'a>(
    header: &'a BatchHeader,
    plain: &'a [u8],
) -> impl Iterator<Item = TimestampOffset> + 'a {
    batch::section_timestamps(plain)
        .map(|(offset_delta, ts_delta)| TimestampOffset {
            timestamp_ms: header.base_timestamp.saturating_add(ts_delta),
            offset: header.base_offset.saturating_add(offset_delta),
        })
        .take_while(|r| (header.base_offset..=header.last_offset()).contains(&r.offset))
}

/// The first record of a batch at or after `min_offset` with timestamp >= target.
fn record_at_or_after(
    header: &BatchHeader,
    bytes: &[u8],
    target_ms: i64,
    min_offset: i64,
) -> Option<TimestampOffset> {
    let whole_batch = TimestampOffset {
        timestamp_ms: header.max_timestamp,
        offset: header.base_offset.max(min_offset),
    };
    if header.records_count == 0 {
        // Compaction removed every record: no record here to answer with.
        return None;
    }
    if header.is_log_append_time() {
        return Some(whole_batch);
    }
    let Some(plain) = plain_records(header, bytes) else {
        return Some(whole_batch);
    };
    let mut walked = 0i64;
    for record in record_times(header, &plain) {
        if record.timestamp_ms >= target_ms && record.offset >= min_offset {
            return Some(record);
        }
        walked += 1;
    }
    // Every record walked and none qualifies: the search goes on. Records
    // that stop parsing before the count the header gives: answer for the
    // whole batch rather than skip what could not be read.
    (walked < i64::from(header.records_count)).then_some(whole_batch)
}
