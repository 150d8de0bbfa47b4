//! Model-based property test: random appends, reads, timestamp lookups,
//! rolls, reopens (clean, crash, power loss), retention and DeleteRecords
//! against a plain `Vec` of batches.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::path::Path;

use common::*;
use ferrolog_storage::format::batch::whole_batch;
use ferrolog_storage::format::builder::{SimpleRecord, encode_batch};
use ferrolog_storage::io::MemFileSystem;
use ferrolog_storage::{Durability, LogConfig, Partition, StorageError, Store};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// Batches of (record count, value size, timestamp step).
    Append(Vec<(usize, usize, i64)>),
    Read {
        at: u16,
        max_bytes: usize,
    },
    FindTimestamp {
        at: u16,
    },
    Flush,
    CleanReopen,
    CrashReopen,
    PowerLoss,
    RetainBytes(u64),
    DeleteBefore {
        at: u16,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec((1usize..6, 0usize..120, 0i64..50), 1..4).prop_map(Op::Append),
        4 => (any::<u16>(), 1usize..2000).prop_map(|(at, max_bytes)| Op::Read { at, max_bytes }),
        2 => any::<u16>().prop_map(|at| Op::FindTimestamp { at }),
        1 => Just(Op::Flush),
        1 => Just(Op::CleanReopen),
        1 => Just(Op::CrashReopen),
        1 => Just(Op::PowerLoss),
        1 => (200u64..2000).prop_map(Op::RetainBytes),
        1 => any::<u16>().prop_map(|at| Op::DeleteBefore { at }),
    ]
}

/// One appended batch as the model remembers it.
#[derive(Clone, Debug)]
struct ModelBatch {
    base: i64,
    bytes: Vec<u8>,
    timestamps: Vec<i64>,
}

impl ModelBatch {
    fn last(&self) -> i64 {
        self.base + self.timestamps.len() as i64 - 1
    }
}

struct Harness {
    fs: MemFileSystem,
    store: Option<Store>,
    batches: Vec<ModelBatch>,
    log_start: i64,
    clock_ms: i64,
}

fn model_config() -> LogConfig {
    LogConfig {
        segment_bytes_max: 700,
        index_interval_bytes: 100,
        ..config(Durability::Never)
    }
}

impl Harness {
    fn partition(&self) -> std::sync::Arc<Partition> {
        self.store.as_ref().unwrap().partition(&id("m", 0)).unwrap()
    }

    /// After a power loss the log start may lie beyond every surviving
    /// batch; the log then restarts empty at the log start.
    fn hw(&self) -> i64 {
        self.batches
            .last()
            .map_or(self.log_start, |b| (b.last() + 1).max(self.log_start))
    }

    /// An offset in [log_start, hw] picked by `at`.
    fn pick(&self, at: u16) -> i64 {
        let span = self.hw() - self.log_start + 1;
        self.log_start + i64::from(at) % span
    }

    fn reopen(&mut self, fs: MemFileSystem) {
        self.fs = fs;
        self.store = Some(mem_store(&self.fs));
        let p = self.partition();
        // Nothing damages the files here: every index the open trusted
        // must have passed its check against the log, none rebuilt.
        assert_eq!(p.rebuilt_index_count(), 0);
        p.set_config(model_config());
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Append(specs) => self.append(specs),
            Op::Read { at, max_bytes } => self.check_read(self.pick(*at), *max_bytes),
            Op::FindTimestamp { at } => self.check_timestamp(*at),
            Op::Flush => self.partition().flush().unwrap(),
            Op::CleanReopen => {
                self.store.take().unwrap().close().unwrap();
                self.reopen(self.fs.clone());
            }
            Op::CrashReopen => {
                drop(self.store.take());
                self.reopen(self.fs.clone());
            }
            Op::PowerLoss => self.power_loss(),
            Op::RetainBytes(bytes) => {
                let p = self.partition();
                p.set_config(LogConfig {
                    retention_bytes: Some(*bytes),
                    ..model_config()
                });
                let report = p.apply_retention(self.clock_ms).unwrap();
                p.set_config(model_config());
                assert!(report.log_start_offset >= self.log_start);
                self.log_start = report.log_start_offset;
                assert_eq!(p.log_start_offset(), self.log_start);
            }
            Op::DeleteBefore { at } => {
                let target = self.pick(*at);
                let new_start = self.partition().delete_records_before(target).unwrap();
                assert_eq!(new_start, target.max(self.log_start));
                self.log_start = new_start;
            }
        }
        self.check_invariants();
    }

    fn append(&mut self, specs: &[(usize, usize, i64)]) {
        let mut input = Vec::new();
        let mut pending = Vec::new();
        let mut base = self.hw();
        for &(count, value_len, step) in specs {
            let values: Vec<Vec<u8>> = (0..count)
                .map(|i| vec![(base as u8).wrapping_add(i as u8); value_len])
                .collect();
            let timestamps: Vec<i64> = (0..count as i64)
                .map(|i| self.clock_ms + i * step - 20)
                .collect();
            let records: Vec<SimpleRecord<'_>> = values
                .iter()
                .zip(&timestamps)
                .map(|(v, ts)| SimpleRecord {
                    timestamp_ms: *ts,
                    key: None,
                    value: Some(v),
                })
                .collect();
            let bytes = encode_batch(&records);
            input.extend_from_slice(&bytes);
            pending.push(ModelBatch {
                base,
                bytes,
                timestamps,
            });
            base += count as i64;
        }
        self.clock_ms += 37;
        let info = self.partition().append(&input).unwrap();
        assert_eq!(info.base_offset, self.hw());
        assert_eq!(info.last_offset, base - 1);
        self.batches.extend(pending);
    }

    fn check_read(&self, offset: i64, max_bytes: usize) {
        let result = self.partition().read(offset, max_bytes).unwrap();
        assert_eq!(result.high_watermark, self.hw());
        assert_eq!(result.log_start_offset, self.log_start);
        let mut rest = &result.records[..];
        let mut expected = self.batches.iter().skip_while(|b| b.last() < offset);
        let mut first = true;
        while !rest.is_empty() {
            let (header, size) = whole_batch(rest).unwrap();
            let model = expected
                .next()
                .expect("read returned a batch the model lacks");
            assert_eq!(header.base_offset, model.base);
            assert_eq!(
                &rest[8..size],
                &model.bytes[8..],
                "bytes of batch {}",
                model.base
            );
            if first {
                assert!(model.base <= offset && offset <= model.last());
            }
            first = false;
            rest = &rest[size..];
        }
        if offset < self.hw() {
            assert!(
                !result.records.is_empty(),
                "read at {offset} returned nothing"
            );
        }
        let single = result.records.len() == whole_batch(&result.records).map_or(0, |(_, s)| s);
        assert!(
            result.records.len() <= max_bytes || single,
            "over budget with more than one batch"
        );
    }

    fn check_timestamp(&self, at: u16) {
        let target = self.clock_ms - 60 + i64::from(at % 200);
        let found = self.partition().offset_for_timestamp(target).unwrap();
        let expected = self
            .batches
            .iter()
            .flat_map(|b| {
                b.timestamps
                    .iter()
                    .enumerate()
                    .map(move |(i, ts)| (b.base + i as i64, *ts))
            })
            .find(|(offset, ts)| *offset >= self.log_start && *ts >= target);
        assert_eq!(
            found.map(|f| (f.offset, f.timestamp_ms)),
            expected,
            "target {target}"
        );
    }

    fn power_loss(&mut self) {
        let synced = self.partition().recovery_point();
        let after = self.fs.crash();
        drop(self.store.take());
        self.reopen(after);
        let hw = self.partition().high_watermark();
        assert!(
            hw >= synced.min(self.hw()),
            "lost fsynced data: hw {hw} < recovery point {synced}"
        );
        assert!(hw <= self.hw());
        self.batches.retain(|b| b.last() < hw);
        assert_eq!(
            self.hw().max(self.log_start),
            hw.max(self.log_start),
            "hw not on a batch boundary"
        );
        self.log_start = self.partition().log_start_offset();
        if hw == self.log_start {
            self.batches.clear();
        }
    }

    fn check_invariants(&self) {
        let p = self.partition();
        assert_eq!(p.high_watermark(), self.hw());
        assert_eq!(p.log_start_offset(), self.log_start);
        assert!(!p.is_failed());
        // At most 4 sealed segments and the active one hold mappings (log or index).
        assert!(
            p.mapped_segment_count() <= 5,
            "{} segments mapped",
            p.mapped_segment_count()
        );
        let below = self.log_start - 1;
        if below >= 0 {
            assert!(matches!(
                p.read(below, 100),
                Err(StorageError::OffsetOutOfRange { .. })
            ));
        }
        assert!(
            ferrolog_storage::inspect::verify_partition(&self.fs, Path::new("/data/m-0"))
                .unwrap()
                .is_recoverable()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(48), ..ProptestConfig::default() })]

    /// Reads slice mappings, as on the real file system.
    #[test]
    fn partition_behaves_like_a_vec_of_batches(ops in prop::collection::vec(op(), 1..40)) {
        run_model(&ops, MemFileSystem::new());
    }

    /// Reads fall back to positioned reads, as where nothing can be mapped.
    #[test]
    fn partition_behaves_like_a_vec_of_batches_without_mappings(ops in prop::collection::vec(op(), 1..40)) {
        let fs = MemFileSystem::new();
        fs.refuse_mappings();
        run_model(&ops, fs);
    }
}

fn run_model(ops: &[Op], fs: MemFileSystem) {
    let store = mem_store(&fs);
    store.create_partition(id("m", 0), model_config()).unwrap();
    let mut harness = Harness {
        fs,
        store: Some(store),
        batches: Vec::new(),
        log_start: 0,
        clock_ms: 1_000_000,
    };
    for op in ops {
        harness.apply(op);
    }
    // Everything still readable from the start.
    harness.check_read(harness.log_start, usize::MAX);
}
