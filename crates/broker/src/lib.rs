//! ferrologd: a Kafka-compatible broker over the Ferrolog storage engine.
//!
//! Layout:
//! - `group`    — consumer groups: coordinator state machine and committed offsets.
//! - `producer` — the idempotent producer: producer ids and per-partition sequence state.

pub mod group;
pub mod producer;
