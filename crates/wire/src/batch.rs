//! The Kafka v2 RecordBatch header: where each field sits and what the
//! attribute bits mean. A batch has the same bytes on the wire and in a
//! segment file, so the storage engine (which parses, validates and stamps
//! headers) and the client (which counts and checks fetched batches) read
//! them through this one layout. `docs/FORMAT.md` §2 describes every byte.
//!
//! ```text
//! { base_offset i64 | batch_length i32 | partition_leader_epoch i32 | magic i8 (=2) | crc u32 |
//!   attributes i16 | last_offset_delta i32 | base_timestamp i64 | max_timestamp i64 |
//!   producer_id i64 | producer_epoch i16 | base_sequence i32 | records_count i32 | records ... }
//! ```
//! All integers are big-endian. `batch_length` counts the bytes after itself;
//! the CRC-32C covers `attributes` to the end, so the base offset (outside
//! it) can be assigned in place.

pub const BASE_OFFSET_AT: usize = 0;
pub const LENGTH_AT: usize = 8;
pub const LEADER_EPOCH_AT: usize = 12;
pub const MAGIC_AT: usize = 16;
pub const CRC_AT: usize = 17;
pub const ATTRIBUTES_AT: usize = 21;
pub const LAST_OFFSET_DELTA_AT: usize = 23;
pub const BASE_TIMESTAMP_AT: usize = 27;
pub const MAX_TIMESTAMP_AT: usize = 35;
pub const PRODUCER_ID_AT: usize = 43;
pub const PRODUCER_EPOCH_AT: usize = 51;
pub const BASE_SEQUENCE_AT: usize = 53;
pub const RECORDS_COUNT_AT: usize = 57;
/// Size of the fixed header; the records section starts here.
pub const HEADER_LEN: usize = 61;
/// Bytes before `batch_length` counts: base offset and the length itself.
pub const LOG_OVERHEAD: usize = 12;
/// Smallest legal `batch_length`: a header with no records.
pub const MIN_LENGTH: i32 = (HEADER_LEN - LOG_OVERHEAD) as i32;
pub const MAGIC_V2: i8 = 2;

/// Attribute bits 0-2: the codec of the records section (0 none, 1 gzip,
/// 2 snappy, 3 lz4, 4 zstd).
pub const COMPRESSION_MASK: i16 = 0x7;
/// Attribute bit 3: timestamps are the broker's append time, which is
/// `max_timestamp` for every record.
pub const LOG_APPEND_TIME_FLAG: i16 = 0x8;
/// Attribute bit 4: the batch belongs to a transaction.
pub const TRANSACTIONAL_FLAG: i16 = 0x10;
/// Attribute bit 5: a control batch (transaction markers), not user records.
pub const CONTROL_FLAG: i16 = 0x20;
/// Attribute bit 6 (KIP-534): `base_timestamp` holds the batch's delete
/// horizon, the time after which compaction may remove its tombstones, not
/// its first record's timestamp. Record timestamps stay `base_timestamp` +
/// delta, so a reader needs nothing new to read them.
pub const DELETE_HORIZON_FLAG: i16 = 0x40;

#[cfg(test)]
mod tests {
    use super::*;

    /// Each field starts where the one before it ends, in the order and the
    /// widths of the layout above, and the records start right after the count.
    #[test]
    fn fields_are_contiguous_in_layout_order() {
        let fields = [
            (BASE_OFFSET_AT, 8),
            (LENGTH_AT, 4),
            (LEADER_EPOCH_AT, 4),
            (MAGIC_AT, 1),
            (CRC_AT, 4),
            (ATTRIBUTES_AT, 2),
            (LAST_OFFSET_DELTA_AT, 4),
            (BASE_TIMESTAMP_AT, 8),
            (MAX_TIMESTAMP_AT, 8),
            (PRODUCER_ID_AT, 8),
            (PRODUCER_EPOCH_AT, 2),
            (BASE_SEQUENCE_AT, 4),
            (RECORDS_COUNT_AT, 4),
        ];
        let mut next = 0;
        for (at, width) in fields {
            assert_eq!(at, next, "field at {at}");
            next = at + width;
        }
        assert_eq!(next, HEADER_LEN);
        assert_eq!(LOG_OVERHEAD, LEADER_EPOCH_AT);
    }
}
