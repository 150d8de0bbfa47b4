//! The store's cleaner thread: every `cleaner_check_interval_ms`, compacts
//! each open partition configured for compaction whose dirty share
//! (`Partition::dirty_per_mille`) reached its `min_dirty_per_mille`, or
//! whose oldest dirty segment is older than its `max_lag_ms`, or whose
//! earliest kept tombstone has reached its delete horizon (so that a topic
//! no one writes to still loses its expired tombstones).
//!
//! Its own thread, not the background one: a pass reads and rewrites whole
//! segments, and must never hold up the interval fsyncs of other partitions.
use std::time::Duration;

use super::{Shared, open_partitions};
use crate::sync_util::{lock, now_ms};

pub(super) fn run(shared: &Shared, interval_ms: u64) {
    let tick = Duration::from_millis(interval_ms.max(1));
    loop {
        if super::wait_or_stop(shared, tick) {
            return;
        }
        for partition in open_partitions(shared) {
            if *lock(&shared.stop) {
                return;
            }
            if partition.is_failed() || partition.is_deleted() {
                continue;
            }
            let Some(compaction) = partition.config().compaction else {
                continue;
            };
            let dirty = partition.dirty_per_mille();
            let now = now_ms();
            let tombstones_due = partition.tombstones_due_ms() <= now;
            let overdue = compaction.max_lag_ms < i64::MAX
                && partition
                    .dirty_since_ms()
                    .is_some_and(|since| since <= now.saturating_sub(compaction.max_lag_ms));
            let dirty_enough = dirty > 0 && dirty >= compaction.min_dirty_per_mille;
            if !(dirty_enough || overdue || tombstones_due) {
                continue;
            }
            match partition.compact(now) {
                // A pass that changed nothing (a lag holds segments back, or
                // nothing was cleanable yet) is not news for an operator.
                Ok(report) if report.segments_rewritten == 0 => tracing::debug!(
                    partition = %partition.id(), dirty_per_mille = dirty,
                    segments_cleaned = report.segments_cleaned,
                    "compaction pass changed nothing"
                ),
                Ok(report) => tracing::info!(
                    partition = %partition.id(), dirty_per_mille = dirty,
                    segments_cleaned = report.segments_cleaned,
                    segments_rewritten = report.segments_rewritten,
                    bytes_before = report.bytes_before, bytes_after = report.bytes_after,
                    records_removed = report.records_removed,
                    tombstones_removed = report.tombstones_removed,
                    horizons_set = report.horizons_set,
                    cleaned_up_to = report.cleaned_up_to,
                    "compaction pass done"
                ),
                Err(e) => {
                    tracing::error!(partition = %partition.id(), error = %e, "compaction pass failed");
                }
            }
        }
    }
}
