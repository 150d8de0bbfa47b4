//! The store's cleaner thread: every `cleaner_check_interval_ms`, compacts
//! each open partition for which a pass is due (`Partition::pass_due`): the
//! dirty share of what it may clean reached its `min_dirty_per_mille`, or
//! the oldest of that is older than its `max_lag_ms`, or its earliest kept
//! tombstone has reached its delete horizon (so that a topic no one writes
//! to still loses its expired tombstones).
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
            let now = now_ms();
            let Some(due) = partition.pass_due(now) else {
                continue;
            };
            match partition.compact(now) {
                // A pass that changed nothing (the dirty records had no
                // later ones to lose) is not news for an operator.
                Ok(report) if report.segments_rewritten == 0 => tracing::debug!(
                    partition = %partition.id(), ?due,
                    segments_cleaned = report.segments_cleaned,
                    "compaction pass changed nothing"
                ),
                Ok(report) => tracing::info!(
                    partition = %partition.id(), ?due,
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
