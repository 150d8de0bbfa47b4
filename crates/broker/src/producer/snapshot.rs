//! The producer-state snapshot file, `producer_state.snapshot`: every partition's producer
//! table as of a clean shutdown, so a restart need not scan the logs.
//!
//! Grammar (big-endian): `{ magic "FLPS" | version u8 = 1 | partition_count u32 | partition… |
//! crc32c u32 }`, the CRC covering everything before it;
//! `partition = { topic_len u16 | topic utf8 | partition i32 | covered_offset i64 |
//! producer_count u32 | producer… }`;
//! `producer = { producer_id i64 | epoch i16 | batch_count u8 | batch… }`;
//! `batch = { first_sequence i32 | last_sequence i32 | first_offset i64 | last_offset i64 }`.
//! `covered_offset` is the partition's high watermark when the table was taken: batches at or
//! after it are read from the log on load. A snapshot whose `covered_offset` lies beyond the
//! log's end (the log lost its tail) is discarded and the log scanned instead.

use bytes::{Buf, BufMut, BytesMut};
use ferrolog_storage::PartitionId;

use super::state::{CachedBatch, ProducerTable};

pub const SNAPSHOT_FILE_NAME: &str = "producer_state.snapshot";
const MAGIC: &[u8; 4] = b"FLPS";
const VERSION: u8 = 1;

/// One partition's table and the offset it covers.
#[derive(Debug)]
pub struct PartitionSnapshot {
    pub id: PartitionId,
    pub covered_offset: i64,
    pub table: ProducerTable,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnapshotError {
    #[error("producer snapshot ends early")]
    Truncated,
    #[error(
        "producer snapshot checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
    )]
    Checksum { stored: u32, computed: u32 },
    #[error("producer snapshot has bad magic or unknown version")]
    BadHeader,
    #[error("producer snapshot has a topic name that is not UTF-8")]
    NotUtf8,
}

pub fn encode<'a>(
    partitions: impl IntoIterator<Item = (&'a PartitionId, i64, &'a ProducerTable)>,
) -> Vec<u8> {
    let mut body = BytesMut::new();
    let mut count = 0u32;
    for (id, covered_offset, table) in partitions {
        count += 1;
        let topic = id.topic.as_bytes();
        body.put_u16(u16::try_from(topic.len()).unwrap_or(u16::MAX));
        body.put_slice(topic.get(..usize::from(u16::MAX)).unwrap_or(topic));
        body.put_i32(id.partition);
        body.put_i64(covered_offset);
        body.put_u32(u32::try_from(table.producer_count()).unwrap_or(u32::MAX));
        for (producer_id, epoch, batches) in table.producers() {
            body.put_i64(producer_id);
            body.put_i16(epoch);
            body.put_u8(u8::try_from(batches.len()).unwrap_or(u8::MAX));
            for b in batches {
                body.put_i32(b.first_sequence);
                body.put_i32(b.last_sequence);
                body.put_i64(b.first_offset);
                body.put_i64(b.last_offset);
            }
        }
    }
    let mut out = Vec::with_capacity(body.len() + 13);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&body);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

pub fn decode(bytes: &[u8]) -> Result<Vec<PartitionSnapshot>, SnapshotError> {
    let split = bytes.len().checked_sub(4).ok_or(SnapshotError::Truncated)?;
    let (body, crc) = bytes.split_at(split);
    let stored = u32::from_be_bytes(crc.try_into().map_err(|_| SnapshotError::Truncated)?);
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(SnapshotError::Checksum { stored, computed });
    }
    let mut buf = body;
    if buf.len() < 9 || buf.get(..4) != Some(MAGIC.as_slice()) || buf.get(4) != Some(&VERSION) {
        return Err(SnapshotError::BadHeader);
    }
    buf.advance(5);
    let count = buf.get_u32();
    let mut partitions = Vec::new();
    for _ in 0..count {
        partitions.push(decode_partition(&mut buf)?);
    }
    Ok(partitions)
}

fn need(buf: &[u8], n: usize) -> Result<(), SnapshotError> {
    if buf.len() < n {
        Err(SnapshotError::Truncated)
    } else {
        Ok(())
    }
}

fn decode_partition(buf: &mut &[u8]) -> Result<PartitionSnapshot, SnapshotError> {
    need(buf, 2)?;
    let topic_len = usize::from(buf.get_u16());
    need(buf, topic_len + 16)?;
    let topic = String::from_utf8(buf.get(..topic_len).unwrap_or_default().to_vec())
        .map_err(|_| SnapshotError::NotUtf8)?;
    buf.advance(topic_len);
    let partition = buf.get_i32();
    let covered_offset = buf.get_i64();
    let producers = buf.get_u32();
    let mut table = ProducerTable::new();
    for _ in 0..producers {
        need(buf, 11)?;
        let producer_id = buf.get_i64();
        let epoch = buf.get_i16();
        let batch_count = usize::from(buf.get_u8());
        need(buf, batch_count * 24)?;
        let batches: Vec<CachedBatch> = (0..batch_count)
            .map(|_| CachedBatch {
                first_sequence: buf.get_i32(),
                last_sequence: buf.get_i32(),
                first_offset: buf.get_i64(),
                last_offset: buf.get_i64(),
            })
            .collect();
        table.restore(producer_id, epoch, batches);
    }
    Ok(PartitionSnapshot {
        id: PartitionId { topic, partition },
        covered_offset,
        table,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::batch::{batch_identities, tests::fake_batch};

    fn table() -> ProducerTable {
        let mut table = ProducerTable::new();
        for (pid, seq, offset) in [(1, 0, 0), (1, 3, 3), (9, 0, 6)] {
            let bytes = fake_batch(pid, 2, seq, 3);
            let batch = batch_identities(&bytes)
                .next()
                .expect("one")
                .expect("valid");
            table.record(&batch, offset, offset + 2);
        }
        table
    }

    #[test]
    fn round_trips_and_keeps_duplicate_detection() {
        let id = PartitionId {
            topic: "a-topic".into(),
            partition: 3,
        };
        let t = table();
        let bytes = encode([(&id, 9, &t)]);
        let decoded = decode(&bytes).expect("decode");
        assert_eq!(decoded.len(), 1);
        assert_eq!((decoded[0].id.clone(), decoded[0].covered_offset), (id, 9));
        let retry = fake_batch(1, 2, 3, 3);
        let retry = batch_identities(&retry)
            .next()
            .expect("one")
            .expect("valid");
        assert_eq!(
            decoded[0].table.check(&retry),
            Ok(crate::producer::state::Decision::Duplicate {
                first_offset: 3,
                last_offset: 5
            })
        );
    }

    #[test]
    fn damage_anywhere_is_detected() {
        let id = PartitionId {
            topic: "t".into(),
            partition: 0,
        };
        let bytes = encode([(&id, 9, &table())]);
        for position in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[position] ^= 0x01;
            assert!(decode(&damaged).is_err(), "flip at {position} undetected");
        }
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut} undetected");
        }
    }
}
