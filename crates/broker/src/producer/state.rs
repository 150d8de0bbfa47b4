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

#[derive(Debug, Default)]
pub struct ProducerTable {
    producers: HashMap<i64, ProducerEntry>,
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
        let entry = self.producers.entry(batch.producer_id).or_default();
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
    fn truncation_forgets_batches_before_the_log_start() {
        let mut table = ProducerTable::new();
        apply(&mut table, &batch(1, 0, 0, 1), 0).expect("append");
        apply(&mut table, &batch(2, 0, 0, 1), 10).expect("append");
        table.truncate_before(5);
        assert_eq!(table.producer_count(), 1);
    }
}
