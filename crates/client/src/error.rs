//! The client's one error type. Every variant keeps its cause, and Kafka error
//! codes are carried as [`KafkaCode`] so callers match on them, never on text.

use std::fmt;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiKey;

/// The error a broker returned, shown by its Kafka name (`UNKNOWN_TOPIC_OR_PARTITION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KafkaCode(pub ResponseError);

impl KafkaCode {
    /// `None` for code 0 (no error).
    pub fn from_code(code: i16) -> Option<Self> {
        ResponseError::try_from_code(code).map(Self)
    }

    /// The numeric wire code.
    pub fn code(&self) -> i16 {
        self.0.code()
    }

    /// The Kafka name in upper snake case, as Kafka's documentation spells it.
    pub fn name(&self) -> String {
        match self.0 {
            ResponseError::Unknown(code) => format!("UNKNOWN_ERROR_CODE_{code}"),
            known => upper_snake(&known.to_string()),
        }
    }
}

impl fmt::Display for KafkaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// `UnknownTopicOrPartition` → `UNKNOWN_TOPIC_OR_PARTITION`.
fn upper_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Everything that can go wrong talking to a broker.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot connect to {addr}: no answer within {timeout_ms} ms")]
    ConnectTimeout { addr: String, timeout_ms: u64 },
    #[error("connection to {addr} failed: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("{addr} closed the connection")]
    Closed { addr: String },
    #[error("no response from {addr} to {api:?} within {timeout_ms} ms")]
    RequestTimeout {
        addr: String,
        api: ApiKey,
        timeout_ms: u64,
    },
    #[error("cannot encode a {api:?} request: {source}")]
    Encode { api: ApiKey, source: BoxError },
    #[error("malformed {api:?} response from {addr}: {source}")]
    Decode {
        addr: String,
        api: ApiKey,
        source: BoxError,
    },
    /// A length or count in the body does not fit in the frame: refused
    /// before decoding, which would have sized an allocation from it.
    #[error("malformed {api:?} v{version} response from {addr}: {problem} at byte {position}")]
    MalformedResponse {
        addr: String,
        api: ApiKey,
        version: i16,
        /// Byte offset in the body (after the response header).
        position: usize,
        problem: &'static str,
    },
    /// This client has no response schema for `api` at `version`, so the
    /// body cannot be checked and is not decoded (fail closed).
    #[error("cannot check a {api:?} v{version} response from {addr}: no response schema for it")]
    UncheckedResponse {
        addr: String,
        api: ApiKey,
        version: i16,
    },
    #[error(
        "response from {addr} announces {size_bytes} bytes, above the {limit_bytes}-byte limit"
    )]
    FrameTooLarge {
        addr: String,
        size_bytes: i64,
        limit_bytes: usize,
    },
    #[error("{addr} is not a Kafka broker: it answered in {answer}")]
    NotKafka { addr: String, answer: &'static str },
    #[error("response from {addr} has correlation id {actual}, expected {expected}")]
    CorrelationMismatch {
        addr: String,
        expected: i32,
        actual: i32,
    },
    #[error("{addr} does not support {api:?} in versions {min}..={max} that this client speaks")]
    UnsupportedVersion {
        addr: String,
        api: ApiKey,
        min: i16,
        max: i16,
    },
    #[error("{api:?}{context} failed: {code}{}", message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Kafka {
        api: ApiKey,
        code: KafkaCode,
        context: String,
        message: Option<String>,
    },
    #[error("unknown topic {topic:?}")]
    UnknownTopic { topic: String },
    /// Refused before sending: the broker would answer a Metadata request
    /// with INVALID_TOPIC_EXCEPTION alone, which does not say why.
    #[error(transparent)]
    InvalidTopicName(#[from] ferrolog_wire::topic_name::InvalidTopicName),
    #[error(
        "topic {topic:?} has {partition_count} partitions; partition {partition} does not exist"
    )]
    UnknownPartition {
        topic: String,
        partition: i32,
        partition_count: usize,
    },
    /// The coordinator knows nothing of the group: GROUP_ID_NOT_FOUND, or what
    /// DescribeGroups before v6 says instead (Dead, no members, no offsets).
    #[error("unknown group {group:?}")]
    UnknownGroup { group: String },
    /// DeleteGroups refused with NON_EMPTY_GROUP; `members` is how many the
    /// group had when asked right after (`None` if that failed).
    #[error("{}", not_empty(group, *members))]
    GroupNotEmpty {
        group: String,
        members: Option<usize>,
    },
    /// JoinGroup refused with INCONSISTENT_GROUP_PROTOCOL: the members speak
    /// no assignor (or protocol type) in common with this client. `theirs` is
    /// what DescribeGroups said right after, empty where it did not say.
    #[error("{}", mismatch(group, theirs, ours))]
    GroupProtocolMismatch {
        group: String,
        theirs: GroupProtocol,
        ours: &'static str,
    },
    #[error("no leader for {topic}-{partition}")]
    NoLeader { topic: String, partition: i32 },
    #[error("broker id {node_id} is not in the cluster metadata")]
    UnknownBroker { node_id: i32 },
    #[error("could not reach any bootstrap server ({})", tried.join("; "))]
    NoBootstrap { tried: Vec<String> },
    #[error("invalid record batch at byte {position}: {reason}")]
    InvalidBatch { position: usize, reason: String },
    #[error("cannot build a record batch: {source}")]
    BatchEncode { source: BoxError },
    #[error("invalid {what}: {source}")]
    Payload {
        what: &'static str,
        source: BoxError,
    },
    #[error("{0}")]
    Protocol(String),
}

/// A group's protocol type (`consumer`, `connect`) and chosen protocol (the
/// assignor of a consumer group: `range`, `cooperative-sticky`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupProtocol {
    pub protocol_type: String,
    pub protocol: String,
}

fn not_empty(group: &str, members: Option<usize>) -> String {
    match members {
        Some(1) => {
            format!("group {group:?} has 1 active member; stop it before deleting the group")
        }
        Some(n) if n > 1 => {
            format!("group {group:?} has {n} active members; stop them before deleting the group")
        }
        // Gone between the refusal and the count: say what the broker said.
        _ => format!("group {group:?} has active members; stop them before deleting the group"),
    }
}

fn mismatch(group: &str, theirs: &GroupProtocol, ours: &str) -> String {
    let why = match (theirs.protocol_type.as_str(), theirs.protocol.as_str()) {
        (kind, _) if !kind.is_empty() && kind != "consumer" => {
            format!("its members are not consumers (protocol type {kind})")
        }
        (_, "") => {
            format!("its members use no assignor this client speaks (it speaks only {ours})")
        }
        (_, assignor) => {
            format!("its members use the {assignor} assignor and this client speaks only {ours}")
        }
    };
    format!("cannot join group {group:?}: {why}")
}

impl ClientError {
    /// The broker could not be reached or the connection failed: trying again
    /// later (on a new connection) may succeed.
    pub fn is_connection_error(&self) -> bool {
        matches!(
            self,
            Self::Connect { .. }
                | Self::ConnectTimeout { .. }
                | Self::Io { .. }
                | Self::Closed { .. }
                | Self::RequestTimeout { .. }
                | Self::NoBootstrap { .. }
        )
    }

    /// Worth trying again: the broker was unreachable, or answered with a
    /// code Kafka marks retriable (NOT_COORDINATOR while a restarted broker
    /// loads its groups, KAFKA_STORAGE_ERROR below the free-space floor).
    pub fn is_retriable(&self) -> bool {
        self.is_connection_error() || self.kafka_code().is_some_and(|c| c.is_retriable())
    }

    /// The Kafka error code, when the broker answered with one.
    pub fn kafka_code(&self) -> Option<ResponseError> {
        match self {
            Self::Kafka { code, .. } => Some(code.0),
            Self::UnknownGroup { .. } => Some(ResponseError::GroupIdNotFound),
            Self::GroupNotEmpty { .. } => Some(ResponseError::NonEmptyGroup),
            Self::GroupProtocolMismatch { .. } => Some(ResponseError::InconsistentGroupProtocol),
            _ => None,
        }
    }

    /// Builds a [`ClientError::Kafka`] from a wire code; `Ok` for code 0.
    pub fn check(api: ApiKey, code: i16, context: impl FnOnce() -> String) -> Result<(), Self> {
        match KafkaCode::from_code(code) {
            None => Ok(()),
            Some(code) => Err(Self::Kafka {
                api,
                code,
                context: context(),
                message: None,
            }),
        }
    }

    /// Like [`ClientError::check`], with the broker's error message.
    pub fn check_msg(
        api: ApiKey,
        code: i16,
        message: Option<&str>,
        context: impl FnOnce() -> String,
    ) -> Result<(), Self> {
        match KafkaCode::from_code(code) {
            None => Ok(()),
            Some(code) => Err(Self::Kafka {
                api,
                code,
                context: context(),
                message: message.filter(|m| !m.is_empty()).map(str::to_owned),
            }),
        }
    }
}

/// Converts kafka-protocol's `anyhow` errors into a boxed std error, keeping the chain.
pub(crate) fn boxed(err: anyhow::Error) -> BoxError {
    err.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kafka_spelling() {
        assert_eq!(
            KafkaCode::from_code(3).map(|c| c.name()).as_deref(),
            Some("UNKNOWN_TOPIC_OR_PARTITION")
        );
        assert_eq!(
            KafkaCode::from_code(-1).map(|c| c.name()).as_deref(),
            Some("UNKNOWN_SERVER_ERROR")
        );
        assert_eq!(
            KafkaCode::from_code(9999).map(|c| c.name()).as_deref(),
            Some("UNKNOWN_ERROR_CODE_9999")
        );
        assert!(KafkaCode::from_code(0).is_none());
    }

    #[test]
    fn typed_group_errors_keep_their_kafka_code() {
        let group = || "g".to_owned();
        let codes = [
            ClientError::UnknownGroup { group: group() }.kafka_code(),
            ClientError::GroupNotEmpty {
                group: group(),
                members: Some(1),
            }
            .kafka_code(),
        ];
        assert_eq!(
            codes,
            [
                Some(ResponseError::GroupIdNotFound),
                Some(ResponseError::NonEmptyGroup)
            ]
        );
    }

    #[test]
    fn malformed_response_reads_as_one_line() {
        let err = ClientError::MalformedResponse {
            addr: "127.0.0.1:9092".into(),
            api: ApiKey::Metadata,
            version: 12,
            position: 4,
            problem: "length larger than the rest of the frame",
        };
        assert_eq!(
            err.to_string(),
            "malformed Metadata v12 response from 127.0.0.1:9092: \
             length larger than the rest of the frame at byte 4"
        );
    }

    #[test]
    fn group_errors_read_as_sentences() {
        let not_empty = |members| {
            ClientError::GroupNotEmpty {
                group: "g".into(),
                members,
            }
            .to_string()
        };
        assert_eq!(
            not_empty(Some(1)),
            "group \"g\" has 1 active member; stop it before deleting the group"
        );
        assert_eq!(
            not_empty(Some(3)),
            "group \"g\" has 3 active members; stop them before deleting the group"
        );
        assert_eq!(
            not_empty(None),
            "group \"g\" has active members; stop them before deleting the group"
        );
        let mismatch = |protocol_type: &str, protocol: &str| {
            ClientError::GroupProtocolMismatch {
                group: "g".into(),
                theirs: GroupProtocol {
                    protocol_type: protocol_type.into(),
                    protocol: protocol.into(),
                },
                ours: "range",
            }
            .to_string()
        };
        assert_eq!(
            mismatch("consumer", "cooperative-sticky"),
            "cannot join group \"g\": its members use the cooperative-sticky assignor \
             and this client speaks only range"
        );
        assert_eq!(
            mismatch("connect", "sessioned"),
            "cannot join group \"g\": its members are not consumers (protocol type connect)"
        );
        assert_eq!(
            mismatch("", ""),
            "cannot join group \"g\": its members use no assignor this client speaks \
             (it speaks only range)"
        );
    }

    #[test]
    fn kafka_error_reads_as_one_line() {
        let err = ClientError::check(ApiKey::Produce, 10, || " to t-0".into());
        let text = err.map_err(|e| e.to_string()).err();
        assert_eq!(
            text.as_deref(),
            Some("Produce to t-0 failed: MESSAGE_TOO_LARGE")
        );
    }
}
