//! Small conversions shared by the group API handlers (`api/join_group.rs` …): Kafka strings
//! to owned Rust strings, group-id validation, error codes.

use kafka_protocol::ResponseError;
use kafka_protocol::protocol::StrBytes;

/// Longest group id accepted; the offsets log stores lengths as u16 and nobody needs more.
pub const GROUP_ID_BYTES_MAX: usize = 4096;

pub fn owned(s: &StrBytes) -> String {
    s.as_str().to_owned()
}

pub fn owned_opt(s: Option<&StrBytes>) -> Option<String> {
    s.map(owned)
}

pub fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// An empty or oversized group id is INVALID_GROUP_ID: for the membership
/// APIs (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetDelete).
pub fn check_group_id(group_id: &str) -> Result<(), ResponseError> {
    if group_id.is_empty() {
        return Err(ResponseError::InvalidGroupId);
    }
    check_stored_group_id(group_id)
}

/// Only an oversized group id is INVALID_GROUP_ID: for OffsetCommit,
/// OffsetFetch, DescribeGroups and DeleteGroups, where Kafka takes the empty
/// id (old clients commit under it with manual assignment, and kafka-python
/// fails `commit()` on the error).
pub fn check_stored_group_id(group_id: &str) -> Result<(), ResponseError> {
    if group_id.len() > GROUP_ID_BYTES_MAX {
        return Err(ResponseError::InvalidGroupId);
    }
    Ok(())
}

/// Wire error code of an optional error.
pub fn code(error: Option<ResponseError>) -> i16 {
    error.map_or(0, |e| e.code())
}

/// Wire error code of a result.
pub fn result_code<T>(result: &Result<T, ResponseError>) -> i16 {
    match result {
        Ok(_) => 0,
        Err(e) => e.code(),
    }
}
