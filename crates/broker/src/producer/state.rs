//! Per-partition idempotent-producer state: for each producer id, its epoch and the last five
//! batches it appended (sequence range → offsets), and the rules that decide whether a new batch
//! is appended, answered as a duplicate, or refused.
//!
//! Pure and synchronous: the caller holds the partition's producer lock across
//! `check` → append → `record`, so the decision and the append are one atomic step.

use std::collections::{HashMap, VecDeque};

use kafka_protocol::ResponseError;

use super::batch::{BatchIdentity, add_sequence};

/// How many recent batches per producer are remembered for duplicate detection (Kafka's
/// `max.in.flight.requests.per.connection` limit for idempotence is 5).
pub const CACHED_BATCHES_MAX: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CachedBatch {
    pub first_sequence: i32,
    pub last_sequence: i32,
    pub first_offset: i64,
    pub last_offset: i64,
}

#[derive(Clone, Debug, Default)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<CachedBatch>,
    /// The table's clock when this producer last appended (or was loaded).
    last_append_ms: i64,
}

/// What to do with an incoming batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Append,
    /// A retry of a batch already in the log: answer with its original offsets, write nothing.
    Duplicate {
        first_offset: i64,
        last_offset: i64,
    },
}

/// Kafka's `producer.id.expiration.ms` default: a producer silent this long is forgotten.
pub const PRODUCER_IDLE_MS_MAX: i64 = 24 * 60 * 60 * 1000;
/// How often `advance_clock` looks for idle producers.
const PRUNE_INTERVAL_MS: i64 = 60 * 1000;

#[derive(Debug, Default)]
pub struct ProducerTable {
    producers: HashMap<i64, ProducerEntry>,
    /// Wall-clock ms as last told by `advance_clock`; 0 until then (tests never prune).
    now_ms: i64,
    last_prune_ms: i64,
}

impl ProducerTable {
    pub fn new() -> ProducerTable {
        ProducerTable::default()
    }

    pub fn producer_count(&self) -> usize {
        self.producers.len()
    }

    /// Decide about `batch` without changing state.
    pub fn check(&self, batch: &BatchIdentity) -> Result<Decision, ResponseError> {
        if !batch.is_idempotent() {
            return Ok(Decision::Append);
        }
        let Some(entry) = self.producers.get(&batch.producer_id) else {
            // Unknown producer (new, or its state aged out of the log): accept and start tracking.
            return Ok(Decision::Append);
        };
        if batch.producer_epoch < entry.epoch {
            return Err(ResponseError::InvalidProducerEpoch);
        }
        if batch.producer_epoch > entry.epoch {
            // A bumped epoch restarts the sequence at 0.
            return if batch.base_sequence == 0 {
                Ok(Decision::Append)
            } else {
                Err(ResponseError::OutOfOrderSequenceNumber)
            };
        }
        let last_sequence = batch.last_sequence();
        if let Some(cached) = entry
            .batches
            .iter()
            .find(|c| c.first_sequence == batch.base_sequence && c.last_sequence == last_sequence)
        {
            return Ok(Decision::Duplicate {
                first_offset: cached.first_offset,
                last_offset: cached.last_offset,
            });
        }
        match entry.batches.back() {
            Some(last) if batch.base_sequence != add_sequence(last.last_sequence, 1) => {
                Err(ResponseError::OutOfOrderSequenceNumber)
            }
            _ => Ok(Decision::Append),
        }
    }

    /// Remember an appended batch (after the append succeeded, or while replaying the log).
    pub fn record(&mut self, batch: &BatchIdentity, first_offset: i64, last_offset: i64) {
        if !batch.is_idempotent() {
            return;
        }
        let now_ms = self.now_ms;
        let entry = self.producers.entry(batch.producer_id).or_default();
        entry.last_append_ms = now_ms;
        if batch.producer_epoch != entry.epoch {
            entry.epoch = batch.producer_epoch;
            entry.batches.clear();
        }
        entry.batches.push_back(CachedBatch {
            first_sequence: batch.base_sequence,
            last_sequence: batch.last_sequence(),
            first_offset,
            last_offset,
        });
        while entry.batches.len() > CACHED_BATCHES_MAX {
            entry.batches.pop_front();
        }
    }

    /// Move the table's clock forward and, once a minute, forget producers idle for longer than
    /// `PRODUCER_IDLE_MS_MAX` — so short-lived producers do not accumulate forever. A forgotten
    /// producer that comes back is treated as new (its next sequence is accepted).
    pub fn advance_clock(&mut self, now_ms: i64) {
        if self.now_ms == 0 {
            // Producers loaded (from a snapshot or the log) before the clock was first set
            // count from now: their real last append time is unknown.
            for entry in self.producers.values_mut() {
                entry.last_append_ms = now_ms;
            }
            self.last_prune_ms = now_ms;
        }
        self.now_ms = self.now_ms.max(now_ms);
        if self.now_ms.saturating_sub(self.last_prune_ms) < PRUNE_INTERVAL_MS {
            return;
        }
        self.last_prune_ms = self.now_ms;
        let horizon_ms = self.now_ms.saturating_sub(PRODUCER_IDLE_MS_MAX);
        self.producers
            .retain(|_, entry| entry.last_append_ms >= horizon_ms);
    }

    /// Every producer with its epoch and cached batches (oldest first), for snapshots.
    pub fn producers(&self) -> impl Iterator<Item = (i64, i16, &VecDeque<CachedBatch>)> {
        self.producers
            .iter()
            .map(|(id, entry)| (*id, entry.epoch, &entry.batches))
    }

    /// Restore one producer from a snapshot.
    pub fn restore(
        &mut self,
        producer_id: i64,
        epoch: i16,
        batches: impl IntoIterator<Item = CachedBatch>,
    ) {
        let mut cached: VecDeque<CachedBatch> = batches.into_iter().collect();
        while cached.len() > CACHED_BATCHES_MAX {
            cached.pop_front();
        }
        self.producers.insert(
            producer_id,
            ProducerEntry {
                epoch,
                batches: cached,
                last_append_ms: self.now_ms,
            },
        );
    }

    /// Forget batches at or after `end_offset` (they are not in the log).
    pub fn truncate_from(&mut self, end_offset: i64) {
        for entry in self.producers.values_mut() {
            entry.batches.retain(|b| b.last_offset < end_offset);
        }
        self.producers.retain(|_, entry| !entry.batches.is_empty());
    }

    /// Forget batches wholly before `log_start_offset` (retention or DeleteRecords removed them);
    /// producers left with none are dropped.
    pub fn truncate_before(&mut self, log_start_offset: i64) {
        for entry in self.producers.values_mut() {
            entry.batches.retain(|b| b.last_offset >= log_start_offset);
        }
        self.producers.retain(|_, entry| !entry.batches.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::batch::{batch_identities, tests::fake_batch};

    fn batch(producer_id: i64, epoch: i16, base_sequence: i32, records: i32) -> BatchIdentity {
        let bytes = fake_batch(producer_id, epoch, base_sequence, records);
        batch_identities(&bytes)
            .next()
            .expect("one")
            .expect("valid")
    }

    /// Check then record at `offset`, as the append path does; returns the decision.
    fn apply(
        table: &mut ProducerTable,
        b: &BatchIdentity,
        offset: i64,
    ) -> Result<Decision, ResponseError> {
        let decision = table.check(b)?;
        if decision == Decision::Append {
            table.record(b, offset, offset + i64::from(b.last_offset_delta));
        }
        Ok(decision)
    }

    #[test]
    fn in_order_batches_append_and_retries_are_duplicates() {
        let mut table = ProducerTable::new();
        assert_eq!(
            apply(&mut table, &batch(1, 0, 0, 3), 0),
            Ok(Decision::Append)
        );
        assert_eq!(
            apply(&mut table, &batch(1, 0, 3, 2), 3),
            Ok(Decision::Append)
        );
        assert_eq!(
            apply(&mut table, &batch(1, 0, 0, 3), 99),
            Ok(Decision::Duplicate {
                first_offset: 0,
                last_offset: 2
            })
        );
        assert_eq!(
            apply(&mut table, &batch(1, 0, 3, 2), 99),
            Ok(Decision::Duplicate {
                first_offset: 3,
                last_offset: 4
            })
        );
    }

    #[test]
    fn a_gap_is_out_of_order() {
        let mut table = ProducerTable::new();
        apply(&mut table, &batch(1, 0, 0, 3), 0).expect("append");
        assert_eq!(
            apply(&mut table, &batch(1, 0, 4, 1), 3),
            Err(ResponseError::OutOfOrderSequenceNumber)
        );
    }

    #[test]
    fn a_stale_epoch_is_fenced_and_a_new_epoch_restarts_at_zero() {
        let mut table = ProducerTable::new();
        apply(&mut table, &batch(1, 3, 0, 1), 0).expect("append");
        assert_eq!(
            apply(&mut table, &batch(1, 2, 1, 1), 1),
            Err(ResponseError::InvalidProducerEpoch)
        );
        assert_eq!(
            apply(&mut table, &batch(1, 4, 7, 1), 1),
            Err(ResponseError::OutOfOrderSequenceNumber)
        );
        assert_eq!(
            apply(&mut table, &batch(1, 4, 0, 1), 1),
            Ok(Decision::Append)
        );
        assert_eq!(
            apply(&mut table, &batch(1, 3, 1, 1), 2),
            Err(ResponseError::InvalidProducerEpoch)
        );
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut table = ProducerTable::new();
        for i in 0..7 {
            apply(&mut table, &batch(1, 0, i, 1), i64::from(i)).expect("append");
        }
        assert_eq!(
            apply(&mut table, &batch(1, 0, 2, 1), 9),
            Ok(Decision::Duplicate {
                first_offset: 2,
                last_offset: 2
            })
        );
        // Sequence 1 fell out of the cache: it is no longer recognised as a duplicate.
        assert_eq!(
            apply(&mut table, &batch(1, 0, 1, 1), 9),
            Err(ResponseError::OutOfOrderSequenceNumber)
        );
    }

    #[test]
    fn sequences_wrap_from_i32_max_to_zero() {
        let mut table = ProducerTable::new();
        apply(&mut table, &batch(1, 0, i32::MAX - 1, 2), 0).expect("append");
        assert_eq!(
            apply(&mut table, &batch(1, 0, 0, 1), 2),
            Ok(Decision::Append)
        );
    }

    #[test]
    fn producers_are_independent_and_unknown_ones_are_accepted() {
        let mut table = ProducerTable::new();
        apply(&mut table, &batch(1, 0, 0, 1), 0).expect("append");
        assert_eq!(
            apply(&mut table, &batch(2, 0, 40, 1), 1),
            Ok(Decision::Append)
        );
        assert_eq!(
            apply(&mut table, &batch(-1, -1, -1, 1), 2),
            Ok(Decision::Append)
        );
        assert_eq!(table.producer_count(), 2);
    }

    #[test]
    fn producers_idle_for_a_day_are_forgotten() {
        let mut table = ProducerTable::new();
        apply(&mut table, &batch(1, 0, 0, 1), 0).expect("append");
        let start_ms = 1_700_000_000_000;
        table.advance_clock(start_ms);
        assert_eq!(
            table.producer_count(),
            1,
            "loaded producers count from the first clock reading"
        );
        table.advance_clock(start_ms + PRODUCER_IDLE_MS_MAX / 2);
        apply(&mut table, &batch(2, 0, 0, 1), 1).expect("append");
        table.advance_clock(start_ms + PRODUCER_IDLE_MS_MAX + 1);
        assert_eq!(table.producer_count(), 1, "producer 1 was idle for a day");
        assert_eq!(
            apply(&mut table, &batch(1, 0, 40, 1), 2),
            Ok(Decision::Append),
            "it comes back as new"
        );
    }

    #[test]
    fn truncation_forgets_batches_before_the_log_start() {
        let mut table = ProducerTable::new();
        apply(&mut table, &batch(1, 0, 0, 1), 0).expect("append");
        apply(&mut table, &batch(2, 0, 0, 1), 10).expect("append");
        table.truncate_before(5);
        assert_eq!(table.producer_count(), 1);
    }
}
