//! Durability policies and group commit.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use ferrolog_storage::Durability;
use ferrolog_storage::io::MemFileSystem;

/// A store on `fs` with partition t-0 under `Durability::Never`, so that
/// only an explicit `sync_to` or `close` fsyncs it.
fn unsynced_partition(
    fs: &MemFileSystem,
) -> (ferrolog_storage::Store, Arc<ferrolog_storage::Partition>) {
    let store = mem_store(fs);
    let p = store
        .create_partition(id("t", 0), config(Durability::Never))
        .unwrap();
    (store, p)
}

#[test]
fn concurrent_always_appends_share_fsyncs_and_all_survive_power_loss() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let p = store
        .create_partition(id("t", 0), config(Durability::Always))
        .unwrap();
    fs.set_sync_delay(Duration::from_millis(20));
    let before = fs.sync_count();
    let (threads, per_thread) = (8, 10);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let p = Arc::clone(&p);
            std::thread::spawn(move || {
                (0..per_thread)
                    .map(|i| {
                        p.append(&batch(&format!("{t}-{i}"), 1, i))
                            .unwrap()
                            .last_offset
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut offsets: Vec<i64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    offsets.sort_unstable();
    assert_eq!(offsets, (0..threads * per_thread).collect::<Vec<i64>>());
    let syncs = fs.sync_count() - before;
    // One fsync per append would be 80; sharing must cut that substantially.
    assert!(
        syncs < (threads * per_thread / 2) as u64,
        "{syncs} fsyncs for {} appends",
        threads * per_thread
    );
    // Every acknowledged append is on "disk".
    let after = fs.crash();
    drop(store);
    let store = mem_store(&after);
    assert_eq!(
        store.partition(&id("t", 0)).unwrap().high_watermark(),
        threads * per_thread
    );
}

#[test]
fn sync_to_makes_earlier_appends_durable_under_never() {
    let fs = MemFileSystem::new();
    let (store, p) = unsynced_partition(&fs);
    for i in 0..5 {
        p.append(&batch("x", 2, i)).unwrap();
    }
    p.sync_to(9).unwrap();
    assert_eq!(p.recovery_point(), 10);
    p.append(&batch("y", 2, 0)).unwrap();
    let after = fs.crash();
    drop(store);
    assert_eq!(
        mem_store(&after)
            .partition(&id("t", 0))
            .unwrap()
            .high_watermark(),
        10
    );
}

#[test]
fn interval_policy_is_fsynced_by_the_background_thread() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let p = store
        .create_partition(id("t", 0), config(Durability::Interval { interval_ms: 20 }))
        .unwrap();
    p.append(&batch("x", 3, 0)).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while p.recovery_point() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "background fsync never happened"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let after = fs.crash();
    drop(store);
    assert_eq!(
        mem_store(&after)
            .partition(&id("t", 0))
            .unwrap()
            .high_watermark(),
        3
    );
}

#[test]
fn rolled_segments_survive_power_loss_after_sync() {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let p = store
        .create_partition(id("t", 0), small_segments(300))
        .unwrap();
    for i in 0..20 {
        p.append(&batch("x", 2, i)).unwrap();
    }
    assert!(p.segment_count() > 3);
    p.sync_to(39).unwrap();
    p.checkpoint_if_advanced().unwrap();
    let after = fs.crash();
    drop(store);
    let store = mem_store(&after);
    let p = store.partition(&id("t", 0)).unwrap();
    assert_eq!(p.high_watermark(), 40);
    assert_eq!(
        batch_offsets(&p.read(0, 1 << 20).unwrap().records).len(),
        20
    );
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_background_thread_checkpoints_recovery_points_and_applies_retention() {
    let fs = MemFileSystem::new();
    let options = ferrolog_storage::StoreOptions {
        checkpoint_interval_ms: 10,
        retention_check_interval_ms: Some(10),
        flush_check_interval_ms: 5,
        ..mem_options(&fs)
    };
    let store = ferrolog_storage::Store::open(std::path::Path::new("/data"), options).unwrap();
    let config = ferrolog_storage::LogConfig {
        retention_ms: Some(60_000),
        ..small_segments(200)
    };
    let p = store.create_partition(id("t", 0), config).unwrap();
    for i in 0..12 {
        // Timestamps from 1970: every sealed segment is past retention.
        p.append(&batch("x", 2, i)).unwrap();
    }
    p.sync_to(23).unwrap();
    wait_until("retention", || p.segment_count() == 1);
    assert!(p.log_start_offset() > 0);
    // The recovery point reached the checkpoint without anyone asking:
    // truncating fsynced data is now detected as damage.
    let checkpoint = std::path::Path::new("/data/t-0/partition.checkpoint");
    wait_until("checkpoint", || {
        let bytes = fs.contents(checkpoint).unwrap();
        ferrolog_storage::format::Checkpoint::decode(&bytes)
            .unwrap()
            .recovery_point
            == 24
    });
    let active = p.log_start_offset();
    drop(store);
    let log = log_path("t-0", active);
    let bytes = fs.contents(&log).unwrap();
    fs.set_contents(&log, bytes[..bytes.len() - 1].to_vec());
    let store = mem_store(&fs);
    assert_eq!(store.failed_partitions().len(), 1);
}

/// A log sink that takes 200 ms a line, as a full pipe or a stalled journald can.
struct SlowLog;

impl std::io::Write for SlowLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        std::thread::sleep(Duration::from_millis(200));
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// After a failed fsync Linux may have marked the lost pages clean, so a second fsync succeeds
/// for data that never reached the disk. A caller waiting for the failed one must get the
/// error, not become the next leader and fsync again, even while the failure is being logged.
#[test]
fn a_failed_fsync_is_never_retried_by_a_waiting_caller() {
    use ferrolog_storage::io::Fault;
    let fs = MemFileSystem::new();
    let (_store, p) = unsynced_partition(&fs);
    p.append(&batch("a", 1, 1)).unwrap();
    fs.set_sync_delay(Duration::from_millis(100));
    fs.inject(Fault::FailSync {
        path_contains: ".log".into(),
    });
    let syncs_before = fs.sync_count();
    let leader = {
        let p = Arc::clone(&p);
        std::thread::spawn(move || {
            let subscriber = tracing_subscriber::fmt().with_writer(|| SlowLog).finish();
            tracing::subscriber::with_default(subscriber, || p.sync_to(0))
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    let waiter = p.sync_to(0);
    assert!(leader.join().unwrap().is_err());
    assert!(waiter.is_err(), "the waiter was told {waiter:?}");
    assert_eq!(
        fs.sync_count(),
        syncs_before,
        "nothing was fsynced after the failure"
    );
    assert!(p.append(&batch("b", 1, 2)).is_err());
}

/// An append racing `close` is either refused or made durable under the clean marker; it must
/// never leave a checkpoint whose recovery point falls short of the log, which fails the open.
#[test]
fn an_append_racing_close_never_breaks_the_next_open() {
    let fs = MemFileSystem::new();
    let (store, p) = unsynced_partition(&fs);
    p.append(&batch("a", 1, 1)).unwrap();
    fs.set_sync_delay(Duration::from_millis(300));
    let closer = {
        let p = Arc::clone(&p);
        std::thread::spawn(move || p.close())
    };
    // The close is inside its first fsync by now.
    std::thread::sleep(Duration::from_millis(100));
    let raced = p.append(&batch("b", 1, 2));
    closer.join().unwrap().unwrap();
    assert!(
        matches!(raced, Err(ferrolog_storage::StorageError::Closed)),
        "an append during close got {raced:?}"
    );
    drop(p);
    drop(store);
    fs.set_sync_delay(Duration::ZERO);
    let store = mem_store(&fs);
    assert_eq!(store.failed_partitions(), vec![]);
    assert_eq!(store.partition(&id("t", 0)).unwrap().high_watermark(), 1);
}
