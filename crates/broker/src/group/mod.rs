//! Consumer groups: the classic group coordinator and committed offsets.
//!
//! Layout:
//! - `member`   — one member: identity, protocols, assignment, session deadline.
//! - `protocol` — choosing the group's assignor among the members' protocols.
//! - `machine`  — the pure state machine (join, sync, heartbeat, leave, expiry) driven by `now_ms`.
//! - `offset_record` — key/value format of the internal offsets log.
//! - `offsets`  — committed offsets: in-memory map over the fsynced internal log, compaction, expiry.
//! - `settings` — the `[groups]` configuration section.
//! - `wire`     — conversions shared by the group API handlers.
//! - `coordinator` — the async layer: parked Join/Sync requests, the ticker, offset commit checks.

pub mod coordinator;
pub mod machine;
pub mod member;
pub mod offset_record;
pub mod offsets;
pub mod protocol;
pub mod settings;
pub mod wire;

pub use coordinator::{CoordinatorConfig, GroupCoordinator, GroupSummary};
pub use machine::{
    Group, GroupConfig, GroupState, JoinRequest, JoinResult, JoinedMember, LeavingMember, Outcome,
    Reply, SyncRequest, SyncResult,
};
pub use settings::GroupSettings;
