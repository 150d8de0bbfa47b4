//! The idempotent producer.
//!
//! Layout:
//! - `batch` — the idempotence fields of a v2 batch header (producer id/epoch, sequences).
//! - `state` — per-partition table of each producer's epoch and last five batches; the rules.
//! - `ids`   — producer-id allocation, persisted in blocks so ids are never reused.
//! - `manager` — the produce path's hook: check + append + record under a per-partition lock.
//! - `snapshot` — format of the producer-state snapshot written at clean shutdown.
//! - `atomic_file` — temp + fsync + rename + fsync-dir replacement of small state files.

pub mod atomic_file;
pub mod batch;
pub mod ids;
pub mod manager;
pub mod snapshot;
pub mod state;

pub use manager::{AppendError, ProducerStates};
