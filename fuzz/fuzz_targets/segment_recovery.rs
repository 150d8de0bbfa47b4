//! Recovery over a damaged tail. A partition gets a few valid batches, is
//! flushed (so they are below the recovery point), then more batches whose
//! bytes the fuzzer overwrites, extends or cuts; the process "crashes" (no
//! clean shutdown) and the store reopens. Recovery must not panic, must keep
//! every flushed batch, and what it keeps must be whole, CRC-valid batches
//! with dense offsets.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferrolog_storage::format::batch::whole_batch;
use ferrolog_storage::format::builder::{SimpleRecord, encode_batch};
use ferrolog_storage::io::{FileSystem, MemFileSystem};
use ferrolog_storage::{Durability, LogConfig, PartitionId, Store, StoreOptions};
use libfuzzer_sys::fuzz_target;

fn batch(i: u8) -> Vec<u8> {
    let value = vec![i; 1 + usize::from(i) % 40];
    encode_batch(&[SimpleRecord {
        timestamp_ms: 1_000 + i64::from(i),
        key: None,
        value: Some(&value),
    }])
}

fn options(fs: &MemFileSystem) -> StoreOptions {
    StoreOptions {
        fs: Arc::new(fs.clone()) as Arc<dyn FileSystem>,
        ..StoreOptions::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&shape, damage)) = data.split_first() else {
        return;
    };
    let (flushed, unflushed) = (1 + shape % 4, shape / 4 % 4);
    let fs = MemFileSystem::new();
    let id = PartitionId::new("fuzz", 0);
    let log = PathBuf::from("/data/fuzz-0/00000000000000000000.log");
    {
        let store = Store::open(Path::new("/data"), options(&fs)).expect("open");
        let config = LogConfig {
            durability: Durability::Never,
            ..LogConfig::default()
        };
        let partition = store.create_partition(id.clone(), config).expect("create");
        for i in 0..flushed {
            partition.append(&batch(i)).expect("append");
        }
        partition.flush().expect("flush");
        for i in 0..unflushed {
            partition.append(&batch(100 + i)).expect("append");
        }
        // Dropped without close: a crash. Now damage the unflushed tail.
    }
    let durable_len = {
        let mut len = 0;
        for i in 0..flushed {
            len += batch(i).len();
        }
        len
    };
    let mut bytes = fs.contents(&log).expect("log exists");
    let tail_len = bytes.len() - durable_len;
    let (op, payload) = damage
        .split_first()
        .map_or((0, &[][..]), |(op, rest)| (*op, rest));
    match op % 3 {
        0 => bytes.extend_from_slice(payload), // garbage appended
        1 => {
            // bytes of the tail overwritten
            for (i, b) in payload.iter().enumerate().take(tail_len) {
                bytes[durable_len + i] = *b;
            }
        }
        _ => {
            // tail cut
            let cut = payload.first().map_or(0, |c| usize::from(*c)) % (tail_len + 1);
            bytes.truncate(durable_len + cut);
        }
    }
    fs.set_contents(&log, bytes);

    let store = Store::open(Path::new("/data"), options(&fs)).expect("store opens");
    let partition = store
        .partition(&id)
        .expect("damage after the recovery point never fails the partition");
    let hw = partition.high_watermark();
    assert!(
        hw >= i64::from(flushed),
        "recovery lost flushed batches: hw {hw}"
    );
    let read = partition.read(0, 1 << 20).expect("read");
    let (mut rest, mut next) = (&read.records[..], 0i64);
    while !rest.is_empty() {
        let (header, size) =
            whole_batch(rest).expect("recovered log holds only whole, valid batches");
        assert_eq!(header.base_offset, next, "offsets are dense");
        next = header.last_offset() + 1;
        rest = &rest[size..];
    }
    assert_eq!(next, hw);
    store.close().expect("close");
});
