//! The one place that turns engine and registry errors into Kafka error codes.

use ferrolog_storage::{BatchError, StorageError};
use kafka_protocol::ResponseError;

use crate::topics::{TopicConfigError, TopicError};

/// Kafka error code for a storage error.
pub fn storage_error_code(error: &StorageError) -> i16 {
    storage_error(error).code()
}

/// Kafka error for a storage error.
pub fn storage_error(error: &StorageError) -> ResponseError {
    match error {
        // A damaged frame or CRC may be damage in transit, which clients retry
        // (CORRUPT_MESSAGE is retriable); malformed records, a record count
        // that disagrees with the offsets, nothing at all and an unknown
        // codec are the client's own, which a retry would only repeat.
        StorageError::InvalidBatch { source, .. } => match source {
            BatchError::Records(_) | BatchError::RecordCountMismatch { .. } | BatchError::Empty => {
                ResponseError::InvalidRecord
            }
            BatchError::UnknownCompression { .. } => ResponseError::UnsupportedCompressionType,
            _ => ResponseError::CorruptMessage,
        },
        StorageError::BatchTooLarge { .. } => ResponseError::MessageTooLarge,
        StorageError::KeylessRecords { .. } => ResponseError::InvalidRecord,
        StorageError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        StorageError::UnknownPartition { .. } => ResponseError::UnknownTopicOrPartition,
        StorageError::PartitionExists { .. } => ResponseError::TopicAlreadyExists,
        StorageError::InvalidPartitionId { .. } => ResponseError::InvalidTopicException,
        StorageError::PartitionFailed { .. }
        | StorageError::Io { .. }
        | StorageError::Corruption { .. }
        | StorageError::Compaction { .. }
        | StorageError::Closed => ResponseError::KafkaStorageError,
    }
}

/// Kafka error for a refused or failed produce append (idempotence check or engine).
pub fn append_error(error: &crate::producer::AppendError) -> ResponseError {
    match error {
        crate::producer::AppendError::Storage(source) => storage_error(source),
        crate::producer::AppendError::Rejected(code) => *code,
    }
}

/// Kafka error for a topic registry error.
pub fn topic_error(error: &TopicError) -> ResponseError {
    match error {
        TopicError::InvalidName { .. } | TopicError::Collides { .. } => {
            ResponseError::InvalidTopicException
        }
        TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
        TopicError::Unknown(_) => ResponseError::UnknownTopicOrPartition,
        TopicError::InvalidPartitions { .. } => ResponseError::InvalidPartitions,
        TopicError::Config(TopicConfigError::Unsupported { .. }) => ResponseError::PolicyViolation,
        TopicError::Config(_) => ResponseError::InvalidConfig,
        TopicError::Storage { source, .. } => storage_error(source),
        TopicError::Persist { .. } | TopicError::Load { .. } | TopicError::Decode { .. } => {
            ResponseError::KafkaStorageError
        }
    }
}

/// The error message sent to clients: the error and its causes in one line.
pub fn message(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrolog_storage::PartitionId;

    #[test]
    fn storage_errors_map_to_their_kafka_codes() {
        let id = PartitionId {
            topic: "t".into(),
            partition: 0,
        };
        let failed = StorageError::PartitionFailed {
            id: id.clone(),
            reason: "fsync".into(),
        };
        assert_eq!(
            storage_error_code(&failed),
            ResponseError::KafkaStorageError.code()
        );
        let big = StorageError::BatchTooLarge { size: 10, max: 5 };
        assert_eq!(
            storage_error_code(&big),
            ResponseError::MessageTooLarge.code()
        );
        let invalid = |source| StorageError::InvalidBatch {
            position: 0,
            source,
        };
        let crc = BatchError::CrcMismatch {
            expected: 1,
            actual: 2,
        };
        let records =
            BatchError::Records(ferrolog_wire::records::RecordError::TooMany { announced: 1 });
        let codec = BatchError::UnknownCompression { id: 5 };
        let count = BatchError::RecordCountMismatch {
            records_count: 2,
            last_offset_delta: 0,
        };
        assert_eq!(
            [crc, records, codec, count, BatchError::Empty].map(|e| storage_error(&invalid(e))),
            [
                ResponseError::CorruptMessage,
                ResponseError::InvalidRecord,
                ResponseError::UnsupportedCompressionType,
                ResponseError::InvalidRecord,
                ResponseError::InvalidRecord,
            ]
        );
    }

    #[test]
    fn topic_errors_map_to_their_kafka_codes() {
        let e = TopicError::InvalidName {
            name: "a b".into(),
            reason: "space",
        };
        assert_eq!(topic_error(&e), ResponseError::InvalidTopicException);
        let e = TopicError::Config(TopicConfigError::UnknownKey("x".into()));
        assert_eq!(topic_error(&e), ResponseError::InvalidConfig);
        let e = TopicError::Config(TopicConfigError::Unsupported {
            key: "compression.type".into(),
            value: "zstd".into(),
            why: "batches are stored as the producer compressed them",
        });
        assert_eq!(topic_error(&e), ResponseError::PolicyViolation);
    }
}
