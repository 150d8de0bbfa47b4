//! Ferrolog's log engine: partitions of segment files holding Kafka v2 record
//! batches byte for byte. `docs/FORMAT.md` is the binding description of every
//! file it writes, of recovery, and of what each durability policy can lose.
//!
//! A [`Store`] owns one data directory (exclusively, through a lock file) and
//! three threads: background (interval fsyncs, checkpoints, retention),
//! writeback (starts writeback of newly appended pages, a hint) and cleaner
//! (compaction of partitions configured for it). Each
//! [`Partition`] has its own writer lock: `append` validates batches outside
//! it, then assigns offsets and issues one vectored `write` under it; `sync_to`
//! group-commits fsyncs; `read` picks the segment under the lock and does the
//! I/O without it (zero-copy slices of the segment's mapping; the active
//! segment is mapped past its end and only its published prefix is sliced).
//! A failed write or fsync fails the
//! partition until it is reopened.
//!
//! # Layout
//! - [`config`]: per-partition settings ([`LogConfig`], [`Durability`]).
//! - [`error`]: [`StorageError`] (what the broker maps to Kafka codes) and [`BatchError`].
//! - [`id`]: [`PartitionId`] and its directory name.
//! - [`io`]: the narrow file-system seam (real, in-memory with faults) and `write_atomic`.
//! - [`format`](mod@format): the one parser/encoder per on-disk thing (batch header, file
//!   names, offset index, time index, checkpoint). Codecs only, no I/O.
//!   `format::builder` encodes simple batches for tests, benches and tools.
//! - `scan`: walks a segment file batch by batch through the I/O seam.
//! - `segment`: one `.log` + `.index` + `.timeindex` triple and its bookkeeping.
//! - [`partition`]: append, read, lookups, group-committed sync, retention,
//!   compaction (`partition/compaction.rs`, its batch filter in `format::compact`), recovery.
//! - [`store`]: a whole data directory, the background flush thread, the writeback thread
//!   and the cleaner thread (compaction).
//! - [`inspect`]: offline dump and verification used by `ferrolog inspect`.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]
// Tests may unwrap and index: a panic there is a test failure, which is the point.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]

pub mod config;
pub mod error;
pub mod format;
pub mod id;
pub mod inspect;
pub mod io;
pub mod partition;
mod scan;
mod segment;
pub mod store;
mod sync_util;

pub use config::{Compaction, Durability, LogConfig};
pub use error::{BatchError, IoOp, StorageError};
pub use id::PartitionId;
pub use partition::{
    AppendInfo, CompactionReport, Partition, PassDue, ReadResult, RetentionReport, TimestampOffset,
};
pub use store::{Store, StoreOptions};
