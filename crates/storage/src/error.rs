//! The storage crate's error types. Every variant keeps its cause so the
//! broker can map errors to Kafka codes by variant, never by text.
use std::fmt;
use std::path::PathBuf;

use crate::id::PartitionId;

/// Which file-system operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoOp {
    Open,
    Read,
    Write,
    SetLen,
    Sync,
    /// Starting writeback (`File::start_writeback`): a hint, but its failure is an I/O failure.
    Writeback,
    SyncDir,
    Rename,
    Remove,
    ReadDir,
    CreateDir,
    Map,
    /// Taking the data directory's exclusive lock: opening `.lock` or locking it.
    Lock,
    /// The lock is held by another process (`WouldBlock` past the wait).
    LockHeld,
}

impl fmt::Display for IoOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            IoOp::Open => "open",
            IoOp::Read => "read",
            IoOp::Write => "write",
            IoOp::SetLen => "set length of",
            IoOp::Sync => "sync",
            IoOp::Writeback => "start writeback of",
            IoOp::SyncDir => "sync directory",
            IoOp::Rename => "rename",
            IoOp::Remove => "remove",
            IoOp::ReadDir => "list directory",
            IoOp::CreateDir => "create directory",
            IoOp::Map => "map",
            IoOp::Lock => "lock",
            IoOp::LockHeld => "lock (is another ferrologd using this data directory?)",
        };
        f.write_str(name)
    }
}

/// What is wrong with a record batch handed to `append`: the broker answers
/// CORRUPT_MESSAGE for a damaged frame or CRC (damage in transit, which a
/// retry may not repeat), INVALID_RECORD for malformed records and
/// UNSUPPORTED_COMPRESSION_TYPE for an unknown codec (a client's mistake,
/// which a retry repeats).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("no record batch in the input")]
    Empty,
    #[error("batch truncated: needs {needed} bytes, {available} available")]
    Truncated { needed: usize, available: usize },
    #[error("batch length field {length} is below the v2 minimum")]
    LengthMismatch { length: i32 },
    #[error("batch magic {magic}, only magic 2 is supported")]
    BadMagic { magic: i8 },
    #[error("batch CRC-32C mismatch: header says {expected:#010x}, bytes give {actual:#010x}")]
    CrcMismatch { expected: u32, actual: u32 },
    #[error("batch holds {records_count} records but its last offset delta is {last_offset_delta}")]
    RecordCountMismatch {
        records_count: i32,
        last_offset_delta: i32,
    },
    #[error("batch compression id {id} is not a codec (0-4)")]
    UnknownCompression { id: i16 },
    #[error("batch records are malformed: {0}")]
    Records(#[from] ferrolog_wire::records::RecordError),
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        path: PathBuf,
        op: IoOp,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid record batch at input byte {position}: {source}")]
    InvalidBatch {
        /// Byte position of the bad batch inside the appended input.
        position: usize,
        #[source]
        source: BatchError,
    },
    #[error("record batch of {size} bytes exceeds the limit of {max} bytes")]
    BatchTooLarge { size: usize, max: u32 },
    /// The log requires keys (`LogConfig::require_keys`) and the batch at
    /// `position` holds records without one.
    #[error("the record batch at input byte {position} holds {} records without a key", indexes.len())]
    KeylessRecords {
        position: usize,
        /// Each keyless record's index in its batch (Kafka's `batchIndex`).
        indexes: Vec<i32>,
    },
    #[error("offset {offset} is outside [{log_start_offset}, {high_watermark}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        high_watermark: i64,
    },
    #[error("partition {id} is failed: {reason}")]
    PartitionFailed { id: PartitionId, reason: String },
    #[error("unknown partition {0}")]
    UnknownPartition(PartitionId),
    #[error("partition {0} already exists")]
    PartitionExists(PartitionId),
    #[error("corruption in {} at byte {position}: {detail}", path.display())]
    Corruption {
        path: PathBuf,
        position: u64,
        detail: String,
    },
    #[error("invalid partition {0}: topic names use [A-Za-z0-9._-], partitions are >= 0")]
    InvalidPartitionId(PartitionId),
    #[error("store or partition is closed")]
    Closed,
    #[error("cannot compact the batch at byte {position} of {}: {source}", path.display())]
    Compaction {
        path: PathBuf,
        position: u64,
        #[source]
        source: crate::format::compact::CompactError,
    },
}

impl StorageError {
    pub(crate) fn io(path: impl Into<PathBuf>, op: IoOp, source: std::io::Error) -> Self {
        StorageError::Io {
            path: path.into(),
            op,
            source,
        }
    }

    /// The batch error inside an `InvalidBatch`, if this is one.
    pub fn batch_error(&self) -> Option<&BatchError> {
        match self {
            StorageError::InvalidBatch { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Extension to attach a path and operation to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn ctx(self, path: &std::path::Path, op: IoOp) -> Result<T, StorageError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, path: &std::path::Path, op: IoOp) -> Result<T, StorageError> {
        self.map_err(|source| StorageError::io(path, op, source))
    }
}

/// An error and its causes on one line, skipping a cause whose text the line
/// already holds: `StorageError::Io` (like the client's errors) quotes its
/// source in its own message and also reports it as the source, so a plain
/// walk of the chain printed it twice.
pub fn chain_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = String::new();
    for cause in std::iter::successors(Some(err), |e| e.source()) {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quoted_source_is_not_repeated() {
        let err = StorageError::io(
            "/data/.lock",
            IoOp::LockHeld,
            std::io::Error::from(std::io::ErrorKind::WouldBlock),
        );
        let line = chain_line(&err);
        assert_eq!(line.matches("operation would block").count(), 1, "{line}");
        assert!(line.starts_with("cannot lock"), "{line}");
    }
}
