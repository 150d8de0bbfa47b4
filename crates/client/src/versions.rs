//! The highest version of each API this client is written against. The
//! connection picks `min(this, broker's max)`; a higher version may change a
//! field's meaning (Produce/Fetch v13 address topics by id, OffsetFetch v8
//! batches groups), so the ceiling is part of the code, not a guess.

use kafka_protocol::messages::ApiKey;

/// `(min, max)` versions this client can speak for `api`, or `None` if it never sends it.
pub fn client_range(api: ApiKey) -> Option<(i16, i16)> {
    let range = match api {
        ApiKey::ApiVersions => (0, 3),
        ApiKey::Metadata => (1, 12),
        ApiKey::Produce => (3, 12),
        ApiKey::Fetch => (4, 12),
        ApiKey::ListOffsets => (1, 7),
        ApiKey::CreateTopics => (2, 7),
        ApiKey::DeleteTopics => (1, 5),
        ApiKey::CreatePartitions => (0, 3),
        ApiKey::DeleteRecords => (0, 2),
        ApiKey::DescribeConfigs => (1, 4),
        ApiKey::IncrementalAlterConfigs => (0, 1),
        ApiKey::InitProducerId => (0, 4),
        ApiKey::FindCoordinator => (0, 3),
        ApiKey::JoinGroup => (0, 9),
        ApiKey::SyncGroup => (0, 5),
        ApiKey::Heartbeat => (0, 4),
        ApiKey::LeaveGroup => (0, 5),
        ApiKey::OffsetCommit => (2, 8),
        ApiKey::OffsetFetch => (1, 7),
        ApiKey::ListGroups => (0, 4),
        ApiKey::DescribeGroups => (0, 5),
        ApiKey::DeleteGroups => (0, 2),
        // v0 is v1's bytes, which `kafka-protocol` does not write.
        ApiKey::DescribeLogDirs => (1, 4),
        _ => return None,
    };
    Some(range)
}
