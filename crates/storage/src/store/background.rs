//! The store's one background thread: interval fsyncs and the fsync of
//! rolled segments, recovery-point checkpoints and periodic retention for
//! every open partition.
use std::time::Duration;

use super::{Shared, open_partitions};
use crate::config::Durability;
use crate::sync_util::now_ms;

pub(super) fn run(shared: &Shared) {
    let tick = Duration::from_millis(shared.options.flush_check_interval_ms.max(1));
    let checkpoint_every_ms =
        i64::try_from(shared.options.checkpoint_interval_ms).unwrap_or(i64::MAX);
    let retention_every_ms = shared
        .options
        .retention_check_interval_ms
        .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX));
    let (mut last_checkpoint_ms, mut last_retention_ms) = (now_ms(), now_ms());
    loop {
        if super::wait_or_stop(shared, tick) {
            return;
        }
        let now = now_ms();
        let partitions = open_partitions(shared);
        for partition in &partitions {
            if partition.is_failed() {
                continue;
            }
            // A rolled segment is fsynced at the next tick, off the write
            // path, as Kafka flushes at a roll: until then its three files
            // stay open (the sync holds them), and without it they would
            // stay open for a whole interval, or under `never` until close.
            let due = match partition.config().durability {
                Durability::Interval { interval_ms } => {
                    partition.has_unsynced_rolls()
                        || now.saturating_sub(partition.last_sync_ms())
                            >= i64::try_from(interval_ms).unwrap_or(i64::MAX)
                }
                Durability::Never => partition.has_unsynced_rolls(),
                Durability::Always => false,
            };
            if due && partition.has_unsynced() {
                // A failure marks the partition failed and is logged there.
                if let Err(e) = partition.sync_to(partition.high_watermark() - 1) {
                    tracing::error!(partition = %partition.id(), error = %e, "interval fsync failed");
                }
            }
        }
        if now.saturating_sub(last_checkpoint_ms) >= checkpoint_every_ms {
            last_checkpoint_ms = now;
            for partition in partitions.iter().filter(|p| !p.is_failed()) {
                if let Err(e) = partition.checkpoint_if_advanced() {
                    tracing::error!(partition = %partition.id(), error = %e, "checkpoint write failed");
                }
            }
        }
        if retention_every_ms.is_some_and(|every| now.saturating_sub(last_retention_ms) >= every) {
            last_retention_ms = now;
            for partition in &partitions {
                if let Err(e) = partition.apply_retention(now) {
                    tracing::error!(partition = %partition.id(), error = %e, "retention failed");
                }
            }
        }
    }
}
