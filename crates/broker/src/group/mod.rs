//! Consumer groups: the classic group coordinator and committed offsets.
//!
//! Layout:
//! - `member`   — one member: identity, protocols, assignment, session deadline.
//! - `protocol` — choosing the group's assignor among the members' protocols.
//! - `machine`  — the pure state machine (join, sync, heartbeat, leave, expiry) driven by `now_ms`.

pub mod machine;
pub mod member;
pub mod protocol;

pub use machine::{
    Group, GroupConfig, GroupState, JoinRequest, JoinResult, JoinedMember, LeavingMember, Outcome,
    Reply, SyncRequest, SyncResult,
};
