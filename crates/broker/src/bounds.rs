//! Checks every length and count in a request body against the bytes that
//! follow it, before `kafka-protocol` decodes the body.
//!
//! The crate's decoders size allocations from the wire (`Vec::with_capacity(n)`
//! for an array count), so a 20-byte request claiming 2^31 elements would ask
//! for hundreds of GB and abort the process. Here each request is walked
//! (by `ferrolog-wire`, the walker the client uses for responses) with a small
//! schema of the versions we serve: every string, bytes field and array must
//! fit in what remains of the frame (an element takes at least one byte).
//! Only then is the body handed to the real decoder, whose allocations are
//! then bounded by the frame size limit.
//!
//! An API without a schema here is refused (fail closed); a test checks that
//! every API advertised in `api::SERVED` has one.

use ferrolog_wire::schema::{NO_FLEXIBLE_VERSION, all, between, since, until};
use ferrolog_wire::{Field, Kind, Schema};
use kafka_protocol::messages::ApiKey;

use crate::frame::Request;

use Kind::{Bytes, I8, I16, I32, I64, Int32s, Str, Strs, Structs, Uuid};

const PRODUCE_PARTITION: &[Field] = &[all(I32), all(Bytes)];
const PRODUCE_TOPIC: &[Field] = &[
    until(12, Str),
    since(13, Uuid),
    all(Structs(PRODUCE_PARTITION)),
];
const PRODUCE: &[Field] = &[
    since(3, Str),
    all(I16),
    all(I32),
    all(Structs(PRODUCE_TOPIC)),
];

const FETCH_PARTITION: &[Field] = &[
    all(I32),
    since(9, I32),
    all(I64),
    since(12, I32),
    since(5, I64),
    all(I32),
];
const FETCH_TOPIC: &[Field] = &[
    until(12, Str),
    since(13, Uuid),
    all(Structs(FETCH_PARTITION)),
];
const FORGOTTEN_TOPIC: &[Field] = &[until(12, Str), since(13, Uuid), all(Int32s)];
const FETCH: &[Field] = &[
    until(14, I32),
    all(I32),
    all(I32),
    since(3, I32),
    since(4, I8),
    since(7, I32),
    since(7, I32),
    all(Structs(FETCH_TOPIC)),
    since(7, Structs(FORGOTTEN_TOPIC)),
    since(11, Str),
];

const LIST_OFFSETS_PARTITION: &[Field] = &[all(I32), since(4, I32), all(I64), until(0, I32)];
const LIST_OFFSETS_TOPIC: &[Field] = &[all(Str), all(Structs(LIST_OFFSETS_PARTITION))];
const LIST_OFFSETS: &[Field] = &[
    all(I32),
    since(2, I8),
    all(Structs(LIST_OFFSETS_TOPIC)),
    since(10, I32),
];

const METADATA_TOPIC: &[Field] = &[since(10, Uuid), all(Str)];
const METADATA: &[Field] = &[
    all(Structs(METADATA_TOPIC)),
    since(4, I8),
    between(8, 10, I8),
    since(8, I8),
];

const API_VERSIONS: &[Field] = &[since(3, Str), since(3, Str)];

const CREATE_ASSIGNMENT: &[Field] = &[all(I32), all(Int32s)];
const CREATE_CONFIG: &[Field] = &[all(Str), all(Str)];
const CREATE_TOPIC: &[Field] = &[
    all(Str),
    all(I32),
    all(I16),
    all(Structs(CREATE_ASSIGNMENT)),
    all(Structs(CREATE_CONFIG)),
];
const CREATE_TOPICS: &[Field] = &[all(Structs(CREATE_TOPIC)), all(I32), since(1, I8)];

const DELETE_TOPIC_STATE: &[Field] = &[all(Str), all(Uuid)];
const DELETE_TOPICS: &[Field] = &[
    since(6, Structs(DELETE_TOPIC_STATE)),
    until(5, Strs),
    all(I32),
];

const DELETE_RECORDS_PARTITION: &[Field] = &[all(I32), all(I64)];
const DELETE_RECORDS_TOPIC: &[Field] = &[all(Str), all(Structs(DELETE_RECORDS_PARTITION))];
const DELETE_RECORDS: &[Field] = &[all(Structs(DELETE_RECORDS_TOPIC)), all(I32)];

const DESCRIBE_CONFIGS_RESOURCE: &[Field] = &[all(I8), all(Str), all(Strs)];
const DESCRIBE_CONFIGS: &[Field] = &[
    all(Structs(DESCRIBE_CONFIGS_RESOURCE)),
    since(1, I8),
    since(3, I8),
];

const ALTER_CONFIG: &[Field] = &[all(Str), all(Str)];
const ALTER_RESOURCE: &[Field] = &[all(I8), all(Str), all(Structs(ALTER_CONFIG))];
const ALTER_CONFIGS: &[Field] = &[all(Structs(ALTER_RESOURCE)), all(I8)];

const PARTITIONS_ASSIGNMENT: &[Field] = &[all(Int32s)];
const PARTITIONS_TOPIC: &[Field] = &[all(Str), all(I32), all(Structs(PARTITIONS_ASSIGNMENT))];
const CREATE_PARTITIONS: &[Field] = &[all(Structs(PARTITIONS_TOPIC)), all(I32), all(I8)];

const INCREMENTAL_CONFIG: &[Field] = &[all(Str), all(I8), all(Str)];
const INCREMENTAL_RESOURCE: &[Field] = &[all(I8), all(Str), all(Structs(INCREMENTAL_CONFIG))];
const INCREMENTAL_ALTER_CONFIGS: &[Field] = &[all(Structs(INCREMENTAL_RESOURCE)), all(I8)];

const LOG_DIR_TOPIC: &[Field] = &[all(Str), all(Int32s)];
const DESCRIBE_LOG_DIRS: &[Field] = &[all(Structs(LOG_DIR_TOPIC))];

const DESCRIBE_CLUSTER: &[Field] = &[all(I8), since(1, I8), since(2, I8)];

// Consumer groups and the idempotent producer.
const FIND_COORDINATOR: &[Field] = &[until(3, Str), since(1, I8), since(4, Strs)];

const JOIN_PROTOCOL: &[Field] = &[all(Str), all(Bytes)];
const JOIN_GROUP: &[Field] = &[
    all(Str),
    all(I32),
    since(1, I32),
    all(Str),
    since(5, Str),
    all(Str),
    all(Structs(JOIN_PROTOCOL)),
    since(8, Str),
];

const SYNC_ASSIGNMENT: &[Field] = &[all(Str), all(Bytes)];
const SYNC_GROUP: &[Field] = &[
    all(Str),
    all(I32),
    all(Str),
    since(3, Str),
    since(5, Str),
    since(5, Str),
    all(Structs(SYNC_ASSIGNMENT)),
];

const HEARTBEAT: &[Field] = &[all(Str), all(I32), all(Str), since(3, Str)];

const LEAVE_MEMBER: &[Field] = &[all(Str), all(Str), since(5, Str)];
const LEAVE_GROUP: &[Field] = &[all(Str), until(2, Str), since(3, Structs(LEAVE_MEMBER))];

// v1's commit timestamp and v6's leader epoch never appear together.
const COMMIT_PARTITION: &[Field] = &[
    all(I32),
    all(I64),
    since(6, I32),
    between(1, 1, I64),
    all(Str),
];
const COMMIT_TOPIC: &[Field] = &[all(Str), all(Structs(COMMIT_PARTITION))];
const OFFSET_COMMIT: &[Field] = &[
    all(Str),
    since(1, I32),
    since(1, Str),
    since(7, Str),
    between(2, 4, I64),
    all(Structs(COMMIT_TOPIC)),
];

const FETCH_OFFSETS_TOPIC: &[Field] = &[all(Str), all(Int32s)];
const FETCH_OFFSETS_GROUP: &[Field] = &[
    all(Str),
    since(9, Str),
    since(9, I32),
    all(Structs(FETCH_OFFSETS_TOPIC)),
];
const OFFSET_FETCH: &[Field] = &[
    until(7, Str),
    until(7, Structs(FETCH_OFFSETS_TOPIC)),
    since(8, Structs(FETCH_OFFSETS_GROUP)),
    since(7, I8),
];

const DESCRIBE_GROUPS: &[Field] = &[all(Strs), since(3, I8)];
const LIST_GROUPS: &[Field] = &[since(4, Strs), since(5, Strs)];
const DELETE_GROUPS: &[Field] = &[all(Strs)];

const OFFSET_DELETE_PARTITION: &[Field] = &[all(I32)];
const OFFSET_DELETE_TOPIC: &[Field] = &[all(Str), all(Structs(OFFSET_DELETE_PARTITION))];
const OFFSET_DELETE: &[Field] = &[all(Str), all(Structs(OFFSET_DELETE_TOPIC))];

const INIT_PRODUCER_ID: &[Field] = &[all(Str), all(I32), since(3, I64), since(3, I16)];

/// The request schema of `api_key`.
pub(crate) fn schema(api_key: ApiKey) -> Option<Schema> {
    let (fields, flexible_since) = match api_key {
        ApiKey::Produce => (PRODUCE, 9),
        ApiKey::Fetch => (FETCH, 12),
        ApiKey::ListOffsets => (LIST_OFFSETS, 6),
        ApiKey::Metadata => (METADATA, 9),
        ApiKey::ApiVersions => (API_VERSIONS, 3),
        ApiKey::CreateTopics => (CREATE_TOPICS, 5),
        ApiKey::DeleteTopics => (DELETE_TOPICS, 4),
        ApiKey::DeleteRecords => (DELETE_RECORDS, 2),
        ApiKey::DescribeConfigs => (DESCRIBE_CONFIGS, 4),
        ApiKey::AlterConfigs => (ALTER_CONFIGS, 2),
        ApiKey::CreatePartitions => (CREATE_PARTITIONS, 2),
        ApiKey::IncrementalAlterConfigs => (INCREMENTAL_ALTER_CONFIGS, 1),
        ApiKey::DescribeCluster => (DESCRIBE_CLUSTER, 0),
        ApiKey::DescribeLogDirs => (DESCRIBE_LOG_DIRS, 2),
        ApiKey::FindCoordinator => (FIND_COORDINATOR, 3),
        ApiKey::JoinGroup => (JOIN_GROUP, 6),
        ApiKey::SyncGroup => (SYNC_GROUP, 4),
        ApiKey::Heartbeat => (HEARTBEAT, 4),
        ApiKey::LeaveGroup => (LEAVE_GROUP, 4),
        ApiKey::OffsetCommit => (OFFSET_COMMIT, 8),
        ApiKey::OffsetFetch => (OFFSET_FETCH, 6),
        ApiKey::DescribeGroups => (DESCRIBE_GROUPS, 5),
        ApiKey::ListGroups => (LIST_GROUPS, 3),
        ApiKey::DeleteGroups => (DELETE_GROUPS, 2),
        ApiKey::OffsetDelete => (OFFSET_DELETE, NO_FLEXIBLE_VERSION),
        ApiKey::InitProducerId => (INIT_PRODUCER_ID, 2),
        _ => return None,
    };
    Some(Schema {
        fields,
        flexible_since,
    })
}

/// A request body whose lengths do not fit in it.
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error("{api_key:?} v{version} body is malformed at byte {position}: {problem}")]
pub struct BoundsError {
    pub api_key: ApiKey,
    pub version: i16,
    pub position: usize,
    pub problem: &'static str,
}

/// Walks `body` with the schema of `api_key` at `version`.
pub fn check(api_key: ApiKey, version: i16, body: &[u8]) -> Result<(), BoundsError> {
    // Bytes after the last field are tolerated, as the decoder and Kafka
    // tolerate them (librdkafka 2.12 sends some with Metadata v12).
    walked_bytes(api_key, version, body).map(|_| ())
}

/// What a decoded value takes in memory at most, per element the walk counts:
/// `kafka-protocol`'s request structs take 40 to 112 bytes each (a topic of a
/// Metadata request 72, a string 32), an unknown tagged field a map entry.
pub const DECODED_ELEMENT_BYTES: usize = 128;

/// The memory `request` will hold once decoded: its bytes, which the decoded
/// strings and records share, plus [`DECODED_ELEMENT_BYTES`] per element. A
/// body that does not walk costs its bytes (the decoder never sees it).
pub fn decoded_bytes(request: &Request) -> usize {
    let elements = request.walked.map_or(0, |w| w.elements);
    usize::try_from(elements)
        .unwrap_or(usize::MAX)
        .saturating_mul(DECODED_ELEMENT_BYTES)
        .saturating_add(request.body.len())
}

/// How many bytes of `body` the schema covers.
fn walked_bytes(api_key: ApiKey, version: i16, body: &[u8]) -> Result<usize, BoundsError> {
    walk(api_key, version, body).map(|w| w.bytes)
}

/// Walks `body` with the schema of `api_key` at `version`: what it covers
/// and how many values the decoder will build from it.
pub fn walk(
    api_key: ApiKey,
    version: i16,
    body: &[u8],
) -> Result<ferrolog_wire::Walked, BoundsError> {
    // Fail closed: a body we cannot walk is never handed to the decoder,
    // which would size allocations from its counts.
    let Some(schema) = schema(api_key) else {
        return Err(BoundsError {
            api_key,
            version,
            position: 0,
            problem: "no request schema for this API",
        });
    };
    ferrolog_wire::walk(&schema, version, body).map_err(|e| BoundsError {
        api_key,
        version,
        position: e.position,
        problem: e.problem,
    })
}

#[cfg(test)]
mod tests;
