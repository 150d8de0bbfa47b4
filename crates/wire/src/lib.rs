//! Kafka wire-format guards, shared by the broker (requests) and the client
//! (responses), and Kafka's rule for topic names.
//!
//! `kafka-protocol`'s decoders size allocations from the wire
//! (`Vec::with_capacity(n)` for an array count, a zeroed buffer for a string),
//! so a 20-byte message claiming 2^31 elements would ask for hundreds of GB
//! and abort the process. Before a body reaches the decoder, it is walked
//! here with a small schema of its layout: every string, bytes field and
//! array must fit in what remains of the frame, and every element is walked,
//! so the decoder's allocations are then bounded by the frame size.
//!
//! The schemas themselves live next to their users: the request schemas in
//! `ferrolog-broker`'s `bounds`, the response schemas in `ferrolog-client`'s
//! `bounds`. This crate does no I/O; its dependencies are the four codecs of
//! [`compression`] and `thiserror`.
//!
//! # Layout
//! - [`schema`] — `Schema`, `Field` and `Kind`: a message layout per version.
//! - [`walk`] — `walk`: checks a body against a schema, returns the bytes it covers.
//! - [`cursor`] — `Cursor`: checked big-endian reads, for layouts read by hand.
//! - [`compression`] — `decompress`: a batch's records section, with a ceiling on the output.
//! - [`records`] — `check`: a batch's records section holds the records its header announces;
//!   `Records`: the same walk over a section in memory, yielding each record as a view.
//! - [`batch`] — the v2 RecordBatch header's field positions and attribute bits, the one
//!   layout the storage engine and the client both read batches through.
//! - [`topic_name`] — `check`: Kafka's rule for topic names, which the broker enforces and
//!   the client checks before it sends a name.

pub mod batch;
pub mod compression;
pub mod cursor;
pub mod records;
pub mod schema;
pub mod topic_name;
pub mod walk;

pub use cursor::{Cursor, Truncated};
pub use schema::{Field, Kind, Schema};
pub use walk::{WalkError, Walked, walk};
