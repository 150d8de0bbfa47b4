//! Idempotent append tests against the storage engine in a temporary directory.

use bytes::{Bytes, BytesMut};
use ferrolog_storage::{LogConfig, Store, StoreOptions};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::*;

/// A real, CRC-valid v2 batch of `count` records from producer `pid`/`epoch` starting at `sequence`.
fn batch(pid: i64, epoch: i16, sequence: i32, count: i32) -> Bytes {
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i64::from(i),
            sequence: sequence + i,
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(Bytes::from(format!("v{}", sequence + i))),
            headers: IndexMap::new(),
        })
        .collect();
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut out, records.iter(), &options).expect("encode");
    out.freeze()
}

fn setup() -> (tempfile::TempDir, Store, Arc<Partition>, ProducerStates) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("store");
    let id = PartitionId {
        topic: "t".into(),
        partition: 0,
    };
    let partition = store
        .create_partition(id, LogConfig::default())
        .expect("partition");
    let states = ProducerStates::open(dir.path()).expect("states");
    (dir, store, partition, states)
}

fn rejection(result: Result<AppendInfo, AppendError>) -> Option<ResponseError> {
    result.err().and_then(|e| e.rejection())
}

#[test]
fn a_retried_batch_is_answered_with_its_offsets_and_not_written_twice() {
    let (_dir, _store, partition, states) = setup();
    let first = states
        .append(&partition, &batch(7, 0, 0, 3))
        .expect("append");
    let second = states
        .append(&partition, &batch(7, 0, 3, 2))
        .expect("append");
    assert_eq!((first.base_offset, second.base_offset), (0, 3));
    let retry = states
        .append(&partition, &batch(7, 0, 0, 3))
        .expect("duplicate");
    assert_eq!((retry.base_offset, retry.last_offset), (0, 2));
    assert_eq!(partition.high_watermark(), 5, "no second copy in the log");
}

#[test]
fn gaps_and_stale_epochs_are_refused() {
    let (_dir, _store, partition, states) = setup();
    states
        .append(&partition, &batch(7, 1, 0, 1))
        .expect("append");
    assert_eq!(
        rejection(states.append(&partition, &batch(7, 1, 5, 1))),
        Some(ResponseError::OutOfOrderSequenceNumber)
    );
    assert_eq!(
        rejection(states.append(&partition, &batch(7, 0, 1, 1))),
        Some(ResponseError::InvalidProducerEpoch)
    );
    assert_eq!(partition.high_watermark(), 1);
}

#[test]
fn plain_batches_bypass_the_check_and_several_idempotent_batches_are_refused() {
    let (_dir, _store, partition, states) = setup();
    states
        .append(&partition, &batch(-1, -1, -1, 2))
        .expect("plain");
    states
        .append(&partition, &batch(-1, -1, -1, 2))
        .expect("plain again");
    let mut two = BytesMut::from(&batch(7, 0, 0, 1)[..]);
    two.extend_from_slice(&batch(7, 0, 1, 1));
    assert_eq!(
        rejection(states.append(&partition, &two)),
        Some(ResponseError::InvalidRecord)
    );
    assert_eq!(partition.high_watermark(), 4);
}

#[test]
fn state_is_rebuilt_from_the_log_after_a_restart() {
    let (dir, _store, partition, states) = setup();
    states
        .append(&partition, &batch(7, 0, 0, 3))
        .expect("append");
    drop(states);
    let restarted = ProducerStates::open(dir.path()).expect("states");
    let retry = restarted
        .append(&partition, &batch(7, 0, 0, 3))
        .expect("duplicate");
    assert_eq!(retry.base_offset, 0);
    assert_eq!(partition.high_watermark(), 3);
    assert_eq!(
        rejection(restarted.append(&partition, &batch(7, 0, 9, 1))),
        Some(ResponseError::OutOfOrderSequenceNumber)
    );
}

#[test]
fn a_recreated_partition_starts_with_fresh_state() {
    let (_dir, store, partition, states) = setup();
    states
        .append(&partition, &batch(7, 0, 0, 3))
        .expect("append");
    let id = partition.id().clone();
    drop(partition);
    store.delete_partition(&id).expect("delete");
    let fresh = store
        .create_partition(id, LogConfig::default())
        .expect("recreate");
    let info = states
        .append(&fresh, &batch(7, 0, 0, 3))
        .expect("append to the new partition");
    assert_eq!(info.base_offset, 0);
    assert_eq!(fresh.high_watermark(), 3);
}

#[test]
fn a_clean_shutdown_snapshot_is_loaded_once_and_keeps_duplicates_detected() {
    let (dir, _store, partition, states) = setup();
    states
        .append(&partition, &batch(7, 0, 0, 3))
        .expect("append");
    states.write_snapshot().expect("snapshot");
    drop(states);
    let restarted = ProducerStates::open(dir.path()).expect("states");
    assert!(
        restarted.pending_lock().contains_key(partition.id()),
        "the snapshot was loaded"
    );
    assert!(
        !dir.path().join(SNAPSHOT_FILE_NAME).exists(),
        "a used snapshot is removed"
    );
    let retry = restarted
        .append(&partition, &batch(7, 0, 0, 3))
        .expect("duplicate");
    assert_eq!(retry.base_offset, 0);
    assert_eq!(partition.high_watermark(), 3);
    assert_eq!(restarted.duplicates_answered(), 1);
}

#[test]
fn a_snapshot_beyond_the_log_end_is_ignored() {
    let (dir, _store, partition, states) = setup();
    states
        .append(&partition, &batch(-1, -1, -1, 3))
        .expect("plain");
    // A snapshot claiming batches the log does not have (its tail was lost after the snapshot).
    let mut table = ProducerTable::new();
    let claimed = batch(99, 0, 0, 3);
    let claimed = batch_identities(&claimed)
        .next()
        .expect("one")
        .expect("valid");
    table.record(&claimed, 500, 502);
    let bytes = snapshot::encode([(partition.id(), 1000, &table)]);
    std::fs::write(dir.path().join(SNAPSHOT_FILE_NAME), bytes).expect("write");
    drop(states);
    let restarted = ProducerStates::open(dir.path()).expect("states");
    let info = restarted
        .append(&partition, &batch(99, 0, 0, 3))
        .expect("append, not a phantom duplicate");
    assert_eq!(info.base_offset, 3);
    assert_eq!(partition.high_watermark(), 6);
}

/// On a `Durability::Always` partition, idempotent appends of different
/// producers share fsyncs (group commit) instead of each holding the
/// producer table through its own, and a duplicate is answered only once
/// its original is durable.
#[test]
fn idempotent_appends_to_an_always_partition_share_fsyncs() {
    use ferrolog_storage::io::{FileSystem, MemFileSystem};
    let fs = MemFileSystem::new();
    fs.set_sync_delay(std::time::Duration::from_millis(100));
    let options = StoreOptions {
        fs: Arc::new(fs.clone()) as Arc<dyn FileSystem>,
        ..StoreOptions::default()
    };
    let store = Store::open(Path::new("/data"), options).expect("store");
    let partition = store
        .create_partition(
            PartitionId {
                topic: "t".into(),
                partition: 0,
            },
            LogConfig {
                durability: ferrolog_storage::Durability::Always,
                ..LogConfig::default()
            },
        )
        .expect("partition");
    let states_dir = tempfile::tempdir().expect("tempdir");
    let states = Arc::new(ProducerStates::open(states_dir.path()).expect("states"));
    let producers = 6;
    let before = fs.sync_count();
    let start = Arc::new(std::sync::Barrier::new(producers));
    let threads: Vec<_> = (0..producers)
        .map(|pid| {
            let (states, partition, start) = (states.clone(), partition.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let info = states
                    .append(&partition, &batch(pid as i64 + 1, 0, 0, 2))
                    .expect("append");
                // Acknowledged means durable.
                assert!(partition.recovery_point() > info.last_offset);
            })
        })
        .collect();
    for t in threads {
        t.join().expect("producer thread");
    }
    assert_eq!(partition.high_watermark(), 2 * producers as i64);
    let syncs = fs.sync_count() - before;
    assert!(
        syncs < producers as u64,
        "{producers} concurrent appends took {syncs} fsyncs: they did not share them"
    );
    // A retry of a durable batch is answered with its offsets.
    let retry = states
        .append(&partition, &batch(1, 0, 0, 2))
        .expect("duplicate");
    assert_eq!(retry.last_offset - retry.base_offset, 1);
    assert!(partition.recovery_point() > retry.last_offset);
}
