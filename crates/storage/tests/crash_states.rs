//! Simulated crash states (issue 6): random operation sequences, then a power
//! loss that forgets unsynced writes, tears the last ones at a 512-byte
//! boundary and undoes unsynced creates, renames and removals
//! (`MemFileSystem::power_loss`). Recovery must give back a prefix of what was
//! appended that holds everything acknowledged as durable, and the indexes it
//! leaves must equal a rebuild from scratch.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use ferrolog_storage::format::batch::whole_batch;
use ferrolog_storage::io::{FileSystem, MemFileSystem};
use ferrolog_storage::{Durability, LogConfig, PartitionId, Store};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// Append a batch of this many records.
    Append(usize),
    Flush,
    /// DeleteRecords up to this fraction (in 1/8ths) of the high watermark.
    DeleteRecords(u8),
    /// Clean close and reopen.
    Reopen,
    /// Power loss mid-sequence, then reopen.
    PowerLoss(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (1usize..6).prop_map(Op::Append),
        2 => Just(Op::Flush),
        1 => (0u8..8).prop_map(Op::DeleteRecords),
        1 => Just(Op::Reopen),
        1 => any::<u64>().prop_map(Op::PowerLoss),
    ]
}

/// What was appended, in offset order, and how much of it must survive.
#[derive(Debug, Default)]
struct Model {
    /// (base offset, batch bytes as appended) for every acknowledged append.
    batches: Vec<(i64, Vec<u8>)>,
    /// Offsets below this were acknowledged as durable (fsynced).
    durable_end: i64,
    /// The log start offset last requested by DeleteRecords.
    start_requested: i64,
    /// Where the log resumed after the last power loss: offsets below it are
    /// spoken for even if their batches were lost (DeleteRecords may have
    /// durably moved the log start past data that was never synced).
    floor: i64,
}

impl Model {
    fn end(&self) -> i64 {
        self.batches
            .last()
            .map_or(0, |(base, b)| base + records(b))
            .max(self.floor)
    }
}

fn records(batch: &[u8]) -> i64 {
    i64::from(whole_batch(batch).unwrap().0.records_count)
}

fn config(durability: Durability) -> LogConfig {
    LogConfig {
        // Small segments and a dense index: many rolls, many index entries.
        segment_bytes_max: 600,
        index_interval_bytes: 100,
        ..common::config(durability)
    }
}

fn topic() -> PartitionId {
    id("crash", 0)
}

fn open(
    fs: &MemFileSystem,
    durability: Durability,
) -> (Store, std::sync::Arc<ferrolog_storage::Partition>) {
    // Recovery rebuilds indexes with the config the store opens partitions
    // with, so give it this partition's (as the broker does per topic).
    let options = ferrolog_storage::StoreOptions {
        default_config: config(durability),
        ..mem_options(fs)
    };
    let store = Store::open(Path::new("/data"), options).unwrap();
    let partition = match store.partition(&topic()) {
        // The indexes of the segments an open trusts were written before
        // the fsync that let the recovery point pass them: a power loss
        // leaves them whole, so the check against the log adopts them.
        Ok(p) => {
            assert_eq!(p.rebuilt_index_count(), 0);
            p
        }
        Err(_) => store.create_partition(topic(), config(durability)).unwrap(),
    };
    partition.set_config(config(durability));
    (store, partition)
}

/// After a power loss: recovery keeps a prefix of the model holding every durable batch.
fn check_recovered(partition: &ferrolog_storage::Partition, model: &Model) -> i64 {
    let hw = partition.high_watermark();
    assert!(
        hw >= model.durable_end,
        "lost acknowledged durable data: recovered up to {hw}, durable up to {}",
        model.durable_end
    );
    assert!(
        hw <= model.end(),
        "recovered {hw} offsets, only {} appended",
        model.end()
    );
    let start = partition.log_start_offset();
    // An unsynced DeleteRecords may be undone by the power loss, never overdone.
    assert!(
        start <= model.start_requested,
        "log start {start} beyond the requested {}",
        model.start_requested
    );
    let read = partition.read(start, 1 << 24).unwrap();
    let mut rest = &read.records[..];
    let mut expected = model
        .batches
        .iter()
        .skip_while(|(base, b)| base + records(b) <= start);
    while !rest.is_empty() {
        let (header, size) = whole_batch(rest).unwrap();
        let (base, sent) = expected
            .next()
            .expect("recovered a batch that was never appended");
        assert_eq!(header.base_offset, *base, "offsets shifted");
        assert_eq!(
            &rest[8..size],
            &sent[8..],
            "recovered batch differs from the appended one"
        );
        rest = &rest[size..];
    }
    hw
}

/// Offset index files of every segment of the partition, by name.
fn offset_indexes(fs: &MemFileSystem) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<(PathBuf, Vec<u8>)> = fs
        .read_dir(Path::new("/data/crash-0"))
        .unwrap()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "index"))
        .map(|p| {
            let bytes = fs.contents(&p).unwrap();
            (p, bytes)
        })
        .collect();
    out.sort();
    out
}

/// Recovery's indexes must equal what a rebuild from the logs alone makes:
/// offset indexes byte for byte; time indexes by every answer they give
/// (their bytes also record when the active segment was flushed, which a
/// rebuild cannot know).
fn check_indexes_equal_rebuild(crashed: &MemFileSystem, durability: Durability) {
    // A crashed file system holds nothing unsynced, so this is an identical copy.
    let rebuilt = crashed.power_loss(0);
    for path in rebuilt.read_dir(Path::new("/data/crash-0")).unwrap() {
        if path
            .extension()
            .is_some_and(|e| e == "index" || e == "timeindex")
        {
            rebuilt.remove_file(&path).unwrap();
        }
    }
    let (store_a, recovered) = open(crashed, durability);
    let (store_b, from_scratch) = open(&rebuilt, durability);
    for timestamp_ms in 990..1_100 {
        assert_eq!(
            recovered
                .offset_for_timestamp(timestamp_ms)
                .unwrap()
                .map(|t| t.offset),
            from_scratch
                .offset_for_timestamp(timestamp_ms)
                .unwrap()
                .map(|t| t.offset),
            "time index lookups of {timestamp_ms} differ from a rebuild"
        );
    }
    store_a.close().unwrap();
    store_b.close().unwrap();
    assert_eq!(
        offset_indexes(crashed),
        offset_indexes(&rebuilt),
        "recovered offset indexes differ from a rebuild"
    );
}

fn run(ops: &[Op], durability: Durability, final_seed: u64) {
    let mut fs = MemFileSystem::new();
    let mut model = Model::default();
    let (mut store, mut partition) = open(&fs, durability);
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Append(n) => {
                let batch = batch(&format!("b{i}"), *n, 1_000 + i as i64);
                let info = partition.append(&batch).unwrap();
                assert_eq!(info.base_offset, model.end());
                model.batches.push((info.base_offset, batch));
                if durability == Durability::Always {
                    model.durable_end = model.end();
                }
            }
            Op::Flush => {
                partition.flush().unwrap();
                model.durable_end = model.end();
            }
            Op::DeleteRecords(eighths) => {
                let target = partition.high_watermark() * i64::from(*eighths) / 8;
                if target > partition.log_start_offset() {
                    partition.delete_records_before(target).unwrap();
                    model.start_requested = target;
                }
            }
            Op::Reopen => {
                store.close().unwrap();
                drop(partition);
                drop(store);
                (store, partition) = open(&fs, durability);
                // A clean close fsyncs everything.
                model.durable_end = model.end();
                assert_eq!(partition.high_watermark(), model.end());
            }
            Op::PowerLoss(seed) => {
                let crashed = fs.power_loss(*seed);
                drop(partition);
                drop(store);
                fs = crashed;
                (store, partition) = open(&fs, durability);
                let hw = check_recovered(&partition, &model);
                // What was lost is gone: the model continues from what survived.
                model.batches.retain(|(base, b)| base + records(b) <= hw);
                model.floor = hw;
                model.durable_end = hw;
            }
        }
    }
    let crashed = fs.power_loss(final_seed);
    drop(partition);
    drop(store);
    let untouched = crashed.power_loss(0);
    {
        let (store, partition) = open(&crashed, durability);
        check_recovered(&partition, &model);
        store.close().unwrap();
    }
    check_indexes_equal_rebuild(&untouched, durability);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(120), ..ProptestConfig::default() })]

    #[test]
    fn power_loss_keeps_a_prefix_with_everything_acknowledged_under_always(
        ops in prop::collection::vec(op(), 1..40),
        seed in any::<u64>(),
    ) {
        run(&ops, Durability::Always, seed);
    }

    #[test]
    fn power_loss_keeps_a_prefix_with_everything_flushed_under_never(
        ops in prop::collection::vec(op(), 1..40),
        seed in any::<u64>(),
    ) {
        run(&ops, Durability::Never, seed);
    }
}
