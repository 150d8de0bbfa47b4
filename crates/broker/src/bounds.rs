//! Checks every length and count in a request body against the bytes that
//! follow it, before `kafka-protocol` decodes the body.
//!
//! The crate's decoders size allocations from the wire (`Vec::with_capacity(n)`
//! for an array count), so a 20-byte request claiming 2^31 elements would ask
//! for hundreds of GB and abort the process. Here each request is walked with
//! a small schema of the versions we serve: every string, bytes field and
//! array must fit in what remains of the frame (an element takes at least one
//! byte). Only then is
//! the body handed to the real decoder, whose allocations are then bounded by
//! the frame size limit.
//!
//! An API without a schema here is refused (fail closed); a test checks that
//! every API advertised in `api::SERVED` has one.

use kafka_protocol::messages::ApiKey;

/// One field kind of a request schema.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    I8,
    I16,
    I32,
    I64,
    Uuid,
    /// A (nullable) string.
    Str,
    /// (Nullable) bytes, e.g. produce records.
    Bytes,
    /// A (nullable) array of structs with these fields.
    Structs(&'static [Field]),
    /// A (nullable) array of i32.
    Int32s,
    /// A (nullable) array of strings.
    Strs,
}

/// A field present in versions `since..=until`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Field {
    kind: Kind,
    since: i16,
    until: i16,
}

const fn all(kind: Kind) -> Field {
    Field {
        kind,
        since: 0,
        until: i16::MAX,
    }
}
const fn since(version: i16, kind: Kind) -> Field {
    Field {
        kind,
        since: version,
        until: i16::MAX,
    }
}
const fn until(version: i16, kind: Kind) -> Field {
    Field {
        kind,
        since: 0,
        until: version,
    }
}
const fn between(since: i16, until: i16, kind: Kind) -> Field {
    Field { kind, since, until }
}

use Kind::{Bytes, I8, I16, I32, I64, Int32s, Str, Strs, Structs, Uuid};

const PRODUCE_PARTITION: &[Field] = &[all(I32), all(Bytes)];
const PRODUCE_TOPIC: &[Field] = &[
    until(12, Str),
    since(13, Uuid),
    all(Structs(PRODUCE_PARTITION)),
];
const PRODUCE: &[Field] = &[all(Str), all(I16), all(I32), all(Structs(PRODUCE_TOPIC))];

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

const COMMIT_PARTITION: &[Field] = &[all(I32), all(I64), since(6, I32), all(Str)];
const COMMIT_TOPIC: &[Field] = &[all(Str), all(Structs(COMMIT_PARTITION))];
const OFFSET_COMMIT: &[Field] = &[
    all(Str),
    all(I32),
    all(Str),
    since(7, Str),
    until(4, I64),
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

/// Never flexible.
const NO_FLEXIBLE_VERSION: i16 = i16::MAX;

/// The request schema of `api_key` and the first flexible version.
pub(crate) fn schema(api_key: ApiKey) -> Option<(&'static [Field], i16)> {
    Some(match api_key {
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
    })
}

/// A request body whose lengths do not fit in it.
#[derive(Debug, thiserror::Error)]
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

/// How many bytes of `body` the schema covers.
fn walked_bytes(api_key: ApiKey, version: i16, body: &[u8]) -> Result<usize, BoundsError> {
    // Fail closed: a body we cannot walk is never handed to the decoder,
    // which would size allocations from its counts.
    let Some((fields, flexible_since)) = schema(api_key) else {
        return Err(BoundsError {
            api_key,
            version,
            position: 0,
            problem: "no request schema for this API",
        });
    };
    let mut walker = Walker {
        body,
        position: 0,
        version,
        flexible: version >= flexible_since,
    };
    match walker.walk_struct(fields) {
        Ok(()) => Ok(walker.position),
        Err(problem) => Err(BoundsError {
            api_key,
            version,
            position: walker.position,
            problem,
        }),
    }
}

struct Walker<'a> {
    body: &'a [u8],
    position: usize,
    version: i16,
    flexible: bool,
}

type Walked = Result<(), &'static str>;

impl Walker<'_> {
    fn remaining(&self) -> usize {
        self.body.len() - self.position
    }

    fn skip(&mut self, bytes: usize) -> Walked {
        if bytes > self.remaining() {
            return Err("field runs past the end of the frame");
        }
        self.position += bytes;
        Ok(())
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        let bytes = self
            .body
            .get(self.position..self.position + N)
            .ok_or("truncated")?;
        self.position += N;
        bytes.try_into().map_err(|_| "truncated")
    }

    fn uvarint(&mut self) -> Result<u64, &'static str> {
        let mut value = 0u64;
        for shift in (0..35).step_by(7) {
            let [byte] = self.take::<1>()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint longer than 5 bytes")
    }

    /// Length of a string, bytes or array; `None` for null.
    fn length(&mut self, wide: bool) -> Result<Option<usize>, &'static str> {
        let length = if self.flexible {
            self.uvarint()?
                .checked_sub(1)
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        } else if wide {
            let n = i32::from_be_bytes(self.take::<4>()?);
            if n < -1 {
                return Err("negative length");
            }
            usize::try_from(n).ok()
        } else {
            let n = i16::from_be_bytes(self.take::<2>()?);
            if n < -1 {
                return Err("negative length");
            }
            usize::try_from(n).ok()
        };
        match length {
            Some(n) if n > self.remaining() => Err("length larger than the rest of the frame"),
            other => Ok(other),
        }
    }

    fn walk_struct(&mut self, fields: &[Field]) -> Walked {
        let version = self.version;
        for field in fields
            .iter()
            .filter(|f| (f.since..=f.until).contains(&version))
        {
            self.walk_field(field.kind)?;
        }
        if self.flexible {
            self.walk_tagged_fields()
        } else {
            Ok(())
        }
    }

    fn walk_field(&mut self, kind: Kind) -> Walked {
        match kind {
            I8 => self.skip(1),
            I16 => self.skip(2),
            I32 => self.skip(4),
            I64 => self.skip(8),
            Uuid => self.skip(16),
            Str => {
                let n = self.length(false)?.unwrap_or(0);
                self.skip(n)
            }
            Bytes => {
                let n = self.length(true)?.unwrap_or(0);
                self.skip(n)
            }
            Int32s => {
                let n = self.length(true)?.unwrap_or(0);
                self.skip(n.checked_mul(4).ok_or("array too long")?)
            }
            Strs => (0..self.length(true)?.unwrap_or(0)).try_for_each(|_| self.walk_field(Str)),
            Structs(fields) => {
                (0..self.length(true)?.unwrap_or(0)).try_for_each(|_| self.walk_struct(fields))
            }
        }
    }

    fn walk_tagged_fields(&mut self) -> Walked {
        let count = self.uvarint()?;
        if count > self.remaining() as u64 {
            return Err("more tagged fields than bytes");
        }
        for _ in 0..count {
            self.uvarint()?;
            let size = usize::try_from(self.uvarint()?).map_err(|_| "tagged field too large")?;
            self.skip(size)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
