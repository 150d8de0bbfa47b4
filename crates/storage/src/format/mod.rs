//! The one encoder/decoder per on-disk thing. Codecs only: no I/O here.
//!
//! Used alike by the writer, the reader, recovery and `ferrolog inspect`, so
//! there is never a second parser to drift. `docs/FORMAT.md` is the binding
//! byte-level description of everything in this module.
pub mod batch;
pub mod builder;
mod bytes_be;
pub mod checkpoint;
pub mod compact;
pub mod names;
pub mod offset_index;
pub mod time_index;

pub use batch::{BatchHeader, BatchStep};
pub use checkpoint::Checkpoint;
pub use offset_index::OffsetIndexEntry;
pub use time_index::TimeIndexEntry;
