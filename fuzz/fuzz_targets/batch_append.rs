//! Arbitrary bytes offered to `Partition::append`, as a Produce request's
//! records field would offer them. Either the append is refused and the log is
//! unchanged, or every byte is accepted and reads back exactly as sent
//! (base offsets aside), with the high watermark advanced by the record count,
//! and timestamp lookups over it answer with offsets in the log. Stamping the
//! same bytes with a log append time either refuses them and changes nothing,
//! or leaves only valid log-append-time batches.
#![no_main]

use std::path::Path;
use std::sync::Arc;

use ferrolog_storage::format::batch::{stamp_log_append_time, whole_batch};
use ferrolog_storage::io::{FileSystem, MemFileSystem};
use ferrolog_storage::{Durability, LogConfig, PartitionId, Store, StoreOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fs = MemFileSystem::new();
    let options = StoreOptions {
        fs: Arc::new(fs.clone()) as Arc<dyn FileSystem>,
        ..StoreOptions::default()
    };
    let store = Store::open(Path::new("/data"), options).expect("empty store opens");
    let config = LogConfig {
        durability: Durability::Never,
        ..LogConfig::default()
    };
    let partition = store
        .create_partition(PartitionId::new("fuzz", 0), config)
        .expect("create");

    let mut stamped = data.to_vec();
    match stamp_log_append_time(&mut stamped, 5) {
        Err(_) => assert_eq!(stamped, data, "a refused stamp changed bytes"),
        Ok(()) => {
            let mut rest = &stamped[..];
            while !rest.is_empty() {
                let (header, size) = whole_batch(rest).expect("a stamped batch stays valid");
                assert!(header.is_log_append_time() && header.max_timestamp == 5);
                rest = &rest[size..];
            }
        }
    }

    match partition.append(data) {
        Err(_) => {
            assert_eq!(
                partition.high_watermark(),
                0,
                "a refused append moved the log"
            );
            let read = partition.read(0, 1 << 20).expect("read of an empty log");
            assert!(
                read.records.is_empty(),
                "a refused append left bytes behind"
            );
        }
        Ok(info) => {
            let mut records = 0i64;
            let mut rest = data;
            while !rest.is_empty() {
                let (header, size) = whole_batch(rest).expect("accepted input is whole batches");
                records += i64::from(header.records_count);
                rest = &rest[size..];
            }
            assert_eq!(info.base_offset, 0);
            assert_eq!(partition.high_watermark(), records);
            let read = partition.read(0, data.len() + 1).expect("read back");
            assert_eq!(read.records.len(), data.len());
            // Base offsets (the first 8 bytes of each batch) were assigned; the rest is as sent.
            let (mut got, mut sent) = (&read.records[..], data);
            while !sent.is_empty() {
                let (_, size) = whole_batch(sent).expect("whole");
                assert_eq!(
                    &got[8..size],
                    &sent[8..size],
                    "batch bytes changed on the way through"
                );
                got = &got[size..];
                sent = &sent[size..];
            }
            // Timestamp lookups walk, and decompress, whatever the records
            // hold: any answer is an offset in the log.
            let in_log = |offset: i64| (0..records).contains(&offset);
            if let Some(max) = partition.max_timestamp().expect("max timestamp") {
                assert!(in_log(max.offset), "max timestamp at {max:?} of {records}");
                for target in [
                    i64::MIN,
                    max.timestamp_ms.saturating_sub(1),
                    max.timestamp_ms,
                ] {
                    if let Some(found) = partition.offset_for_timestamp(target).expect("lookup") {
                        assert!(
                            in_log(found.offset),
                            "{target} found {found:?} of {records}"
                        );
                    }
                }
            }
        }
    }
    store.close().expect("close");
});
