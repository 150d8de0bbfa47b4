//! Checks every length and count in a response body against the bytes that
//! follow it, before `kafka-protocol` decodes the body: a broken or hostile
//! server (or another service on that port) must not make the client ask for
//! hundreds of GB by claiming 2^31 elements in a small frame.
//!
//! Each response is walked by `ferrolog-wire` (the walker the broker uses for
//! requests) with a schema of the versions this client negotiates, taken
//! from apache/kafka's `*Response.json` and `kafka-protocol`'s generated
//! decoders. A schema describes exactly the versions in its range and no
//! others; an API or version without one is refused (fail closed), and a
//! test checks every version in `versions::client_range` has one.

use std::ops::RangeInclusive;

use ferrolog_wire::schema::{all, between, since, tagged};
use ferrolog_wire::{Field, Kind, Schema, WalkError};
use kafka_protocol::messages::ApiKey;

use Kind::{Bytes, I8, I16, I32, I64, Int32s, Str, Struct, Structs, Uuid};

// ApiVersions. v0 is also the shape of an UNSUPPORTED_VERSION answer.
const API_VERSION: &[Field] = &[all(I16), all(I16), all(I16)];
const FEATURE: &[Field] = &[all(Str), all(I16), all(I16)];
const API_VERSIONS: &[Field] = &[
    all(I16),
    all(Structs(API_VERSION)),
    since(1, I32),
    tagged(0, Structs(FEATURE)),
    tagged(1, I64),
    tagged(2, Structs(FEATURE)),
    tagged(3, I8),
];

const METADATA_BROKER: &[Field] = &[all(I32), all(Str), all(I32), since(1, Str)];
const METADATA_PARTITION: &[Field] = &[
    all(I16),
    all(I32),
    all(I32),
    since(7, I32),
    all(Int32s),
    all(Int32s),
    since(5, Int32s),
];
const METADATA_TOPIC: &[Field] = &[
    all(I16),
    all(Str),
    since(10, Uuid),
    since(1, I8),
    all(Structs(METADATA_PARTITION)),
    since(8, I32),
];
const METADATA: &[Field] = &[
    since(3, I32),
    all(Structs(METADATA_BROKER)),
    since(2, Str),
    since(1, I32),
    all(Structs(METADATA_TOPIC)),
    between(8, 10, I32),
];

// Produce and Fetch share the leader hint and the endpoint of a new leader.
const LEADER_ID_AND_EPOCH: &[Field] = &[all(I32), all(I32)];
const NODE_ENDPOINT: &[Field] = &[all(I32), all(Str), all(I32), all(Str)];

const RECORD_ERROR: &[Field] = &[all(I32), all(Str)];
const PRODUCE_PARTITION: &[Field] = &[
    all(I32),
    all(I16),
    all(I64),
    all(I64),
    since(5, I64),
    since(8, Structs(RECORD_ERROR)),
    since(8, Str),
    tagged(0, Struct(LEADER_ID_AND_EPOCH)),
];
const PRODUCE_TOPIC: &[Field] = &[all(Str), all(Structs(PRODUCE_PARTITION))];
const PRODUCE: &[Field] = &[
    all(Structs(PRODUCE_TOPIC)),
    all(I32),
    tagged(0, Structs(NODE_ENDPOINT)),
];

const ABORTED_TRANSACTION: &[Field] = &[all(I64), all(I64)];
const EPOCH_END_OFFSET: &[Field] = &[all(I32), all(I64)];
const SNAPSHOT_ID: &[Field] = &[all(I64), all(I32)];
const FETCH_PARTITION: &[Field] = &[
    all(I32),
    all(I16),
    all(I64),
    all(I64),
    since(5, I64),
    all(Structs(ABORTED_TRANSACTION)),
    since(11, I32),
    all(Bytes),
    tagged(0, Struct(EPOCH_END_OFFSET)),
    tagged(1, Struct(LEADER_ID_AND_EPOCH)),
    tagged(2, Struct(SNAPSHOT_ID)),
];
const FETCH_TOPIC: &[Field] = &[all(Str), all(Structs(FETCH_PARTITION))];
const FETCH: &[Field] = &[
    all(I32),
    since(7, I16),
    since(7, I32),
    all(Structs(FETCH_TOPIC)),
    tagged(0, Structs(NODE_ENDPOINT)),
];

const LIST_OFFSETS_PARTITION: &[Field] = &[all(I32), all(I16), all(I64), all(I64), since(4, I32)];
const LIST_OFFSETS_TOPIC: &[Field] = &[all(Str), all(Structs(LIST_OFFSETS_PARTITION))];
const LIST_OFFSETS: &[Field] = &[since(2, I32), all(Structs(LIST_OFFSETS_TOPIC))];

const CREATED_CONFIG: &[Field] = &[all(Str), all(Str), all(I8), all(I8), all(I8)];
const CREATED_TOPIC: &[Field] = &[
    all(Str),
    since(7, Uuid),
    all(I16),
    all(Str),
    since(5, I32),
    since(5, I16),
    since(5, Structs(CREATED_CONFIG)),
    tagged(0, I16),
];
const CREATE_TOPICS: &[Field] = &[all(I32), all(Structs(CREATED_TOPIC))];

const CREATE_PARTITIONS_RESULT: &[Field] = &[all(Str), all(I16), all(Str)];
const CREATE_PARTITIONS: &[Field] = &[all(I32), all(Structs(CREATE_PARTITIONS_RESULT))];

const DELETED_TOPIC: &[Field] = &[all(Str), all(I16), since(5, Str)];
const DELETE_TOPICS: &[Field] = &[all(I32), all(Structs(DELETED_TOPIC))];

const DELETED_RECORDS_PARTITION: &[Field] = &[all(I32), all(I64), all(I16)];
const DELETED_RECORDS_TOPIC: &[Field] = &[all(Str), all(Structs(DELETED_RECORDS_PARTITION))];
const DELETE_RECORDS: &[Field] = &[all(I32), all(Structs(DELETED_RECORDS_TOPIC))];

const CONFIG_SYNONYM: &[Field] = &[all(Str), all(Str), all(I8)];
const DESCRIBED_CONFIG: &[Field] = &[
    all(Str),
    all(Str),
    all(I8),
    all(I8),
    all(I8),
    all(Structs(CONFIG_SYNONYM)),
    since(3, I8),
    since(3, Str),
];
const DESCRIBED_RESOURCE: &[Field] = &[
    all(I16),
    all(Str),
    all(I8),
    all(Str),
    all(Structs(DESCRIBED_CONFIG)),
];
const DESCRIBE_CONFIGS: &[Field] = &[all(I32), all(Structs(DESCRIBED_RESOURCE))];

const ALTERED_RESOURCE: &[Field] = &[all(I16), all(Str), all(I8), all(Str)];
const INCREMENTAL_ALTER_CONFIGS: &[Field] = &[all(I32), all(Structs(ALTERED_RESOURCE))];

const INIT_PRODUCER_ID: &[Field] = &[all(I32), all(I16), all(I64), all(I16)];

// Consumer groups.
const FIND_COORDINATOR: &[Field] = &[
    since(1, I32),
    all(I16),
    since(1, Str),
    all(I32),
    all(Str),
    all(I32),
];

const JOIN_MEMBER: &[Field] = &[all(Str), since(5, Str), all(Bytes)];
const JOIN_GROUP: &[Field] = &[
    since(2, I32),
    all(I16),
    all(I32),
    since(7, Str),
    all(Str),
    all(Str),
    since(9, I8),
    all(Str),
    all(Structs(JOIN_MEMBER)),
];

const SYNC_GROUP: &[Field] = &[
    since(1, I32),
    all(I16),
    since(5, Str),
    since(5, Str),
    all(Bytes),
];

const HEARTBEAT: &[Field] = &[since(1, I32), all(I16)];

const LEAVE_MEMBER: &[Field] = &[all(Str), all(Str), all(I16)];
const LEAVE_GROUP: &[Field] = &[since(1, I32), all(I16), since(3, Structs(LEAVE_MEMBER))];

const COMMITTED_PARTITION: &[Field] = &[all(I32), all(I16)];
const COMMITTED_TOPIC: &[Field] = &[all(Str), all(Structs(COMMITTED_PARTITION))];
const OFFSET_COMMIT: &[Field] = &[since(3, I32), all(Structs(COMMITTED_TOPIC))];

const FETCHED_PARTITION: &[Field] = &[all(I32), all(I64), since(5, I32), all(Str), all(I16)];
const FETCHED_TOPIC: &[Field] = &[all(Str), all(Structs(FETCHED_PARTITION))];
const OFFSET_FETCH: &[Field] = &[since(3, I32), all(Structs(FETCHED_TOPIC)), since(2, I16)];

const LISTED_GROUP: &[Field] = &[all(Str), all(Str), since(4, Str)];
const LIST_GROUPS: &[Field] = &[since(1, I32), all(I16), all(Structs(LISTED_GROUP))];

const DESCRIBED_MEMBER: &[Field] = &[
    all(Str),
    since(4, Str),
    all(Str),
    all(Str),
    all(Bytes),
    all(Bytes),
];
const DESCRIBED_GROUP: &[Field] = &[
    all(I16),
    all(Str),
    all(Str),
    all(Str),
    all(Str),
    all(Structs(DESCRIBED_MEMBER)),
    since(3, I32),
];
const DESCRIBE_GROUPS: &[Field] = &[since(1, I32), all(Structs(DESCRIBED_GROUP))];

const DELETED_GROUP: &[Field] = &[all(Str), all(I16)];
const DELETE_GROUPS: &[Field] = &[all(I32), all(Structs(DELETED_GROUP))];

const LOG_DIR_PARTITION: &[Field] = &[all(I32), all(I64), all(I64), all(I8)];
const LOG_DIR_TOPIC: &[Field] = &[all(Str), all(Structs(LOG_DIR_PARTITION))];
const LOG_DIR: &[Field] = &[
    all(I16),
    all(Str),
    all(Structs(LOG_DIR_TOPIC)),
    since(4, I64),
    since(4, I64),
];
const DESCRIBE_LOG_DIRS: &[Field] = &[all(I32), since(3, I16), all(Structs(LOG_DIR))];

/// The response schema of `api`, the versions it describes and the first
/// flexible version.
fn layout(api: ApiKey) -> Option<(&'static [Field], RangeInclusive<i16>, i16)> {
    Some(match api {
        ApiKey::ApiVersions => (API_VERSIONS, 0..=3, 3),
        ApiKey::Metadata => (METADATA, 1..=12, 9),
        ApiKey::Produce => (PRODUCE, 3..=12, 9),
        ApiKey::Fetch => (FETCH, 4..=12, 12),
        ApiKey::ListOffsets => (LIST_OFFSETS, 1..=7, 6),
        ApiKey::CreateTopics => (CREATE_TOPICS, 2..=7, 5),
        ApiKey::DeleteTopics => (DELETE_TOPICS, 1..=5, 4),
        ApiKey::CreatePartitions => (CREATE_PARTITIONS, 0..=3, 2),
        ApiKey::DeleteRecords => (DELETE_RECORDS, 0..=2, 2),
        ApiKey::DescribeConfigs => (DESCRIBE_CONFIGS, 1..=4, 4),
        ApiKey::IncrementalAlterConfigs => (INCREMENTAL_ALTER_CONFIGS, 0..=1, 1),
        ApiKey::InitProducerId => (INIT_PRODUCER_ID, 0..=4, 2),
        ApiKey::FindCoordinator => (FIND_COORDINATOR, 0..=3, 3),
        ApiKey::JoinGroup => (JOIN_GROUP, 0..=9, 6),
        ApiKey::SyncGroup => (SYNC_GROUP, 0..=5, 4),
        ApiKey::Heartbeat => (HEARTBEAT, 0..=4, 4),
        ApiKey::LeaveGroup => (LEAVE_GROUP, 0..=5, 4),
        ApiKey::OffsetCommit => (OFFSET_COMMIT, 2..=8, 8),
        ApiKey::OffsetFetch => (OFFSET_FETCH, 1..=7, 6),
        ApiKey::ListGroups => (LIST_GROUPS, 0..=4, 3),
        ApiKey::DescribeGroups => (DESCRIBE_GROUPS, 0..=5, 5),
        ApiKey::DeleteGroups => (DELETE_GROUPS, 0..=2, 2),
        ApiKey::DescribeLogDirs => (DESCRIBE_LOG_DIRS, 1..=4, 2),
        _ => return None,
    })
}

/// The response schema of `api` at `version`, if this client has one.
pub(crate) fn schema(api: ApiKey, version: i16) -> Option<Schema> {
    let (fields, versions, flexible_since) = layout(api)?;
    versions.contains(&version).then_some(Schema {
        fields,
        flexible_since,
    })
}

/// Why a response body was refused before decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No schema for this API at this version: the body cannot be checked.
    NoSchema,
    /// A length, count or field does not fit in the frame.
    Malformed(WalkError),
}

/// Walks `body`, the response of `api` at `version` after its header.
/// Bytes after the last field are tolerated, as the decoder tolerates them.
pub fn check(api: ApiKey, version: i16, body: &[u8]) -> Result<(), Refusal> {
    walked_bytes(api, version, body).map(|_| ())
}

/// How many bytes of `body` the schema covers.
fn walked_bytes(api: ApiKey, version: i16, body: &[u8]) -> Result<usize, Refusal> {
    let schema = schema(api, version).ok_or(Refusal::NoSchema)?;
    ferrolog_wire::walk(&schema, version, body)
        .map(|walked| walked.bytes)
        .map_err(Refusal::Malformed)
}

#[cfg(test)]
mod tests;
