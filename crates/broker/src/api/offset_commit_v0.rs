//! OffsetCommit v0 and v1, read into the v2 request the handler takes.
//!
//! Kafka 4.0 dropped both versions, and `kafka-protocol`, generated from its
//! schemas, decodes v2 and later only. But Sarama, a widely used pure-Go client,
//! commits a consumer group's offsets with v1 in its releases up to at least 1.38
//! unless `Consumer.Offsets.Retention` is set. Refused, those commits fail and
//! the group starts from its initial offset after every restart. So this broker
//! reads them here:
//!
//! ```text
//! v0: group_id [topic [partition offset metadata]]
//! v1: group_id generation member_id [topic [partition offset commit_timestamp metadata]]
//! ```
//!
//! v1's commit timestamp is ignored: every commit is stamped with the broker's
//! clock, whose `offsets_retention_minutes` decides expiry. The response of both
//! versions is v2's bytes (Kafka's schema: versions 0 to 2 are the same).

use ferrolog_wire::{Cursor, Truncated};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{GroupId, OffsetCommitRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

/// The oldest version `kafka-protocol` reads and writes itself.
pub const FIRST_DECODED_VERSION: i16 = 2;

/// A v0/v1 body that ends early or holds a string that is not UTF-8.
#[derive(Debug, thiserror::Error)]
#[error("OffsetCommit v{version} body: {problem} at byte {position}")]
pub struct LegacyError {
    pub version: i16,
    pub position: usize,
    pub problem: &'static str,
}

/// Reads a v0 or v1 body. The caller has walked it with the bounds schema
/// first, so counts are bounded by the frame; every read is still checked.
pub fn decode(body: &[u8], version: i16) -> Result<OffsetCommitRequest, LegacyError> {
    let mut r = Reader {
        cursor: Cursor::new(body),
        version,
    };
    let group_id = r.string()?;
    let (generation, member_id) = if version >= 1 {
        (r.i32()?, r.string()?)
    } else {
        // v0 commits carry no membership: Kafka treats them as a consumer
        // that only stores offsets, i.e. generation -1 and no member id.
        (-1, StrBytes::default())
    };
    let topic_count = r.count()?;
    let mut topics = Vec::new();
    for _ in 0..topic_count {
        let name = r.string()?;
        let partition_count = r.count()?;
        let mut partitions = Vec::new();
        for _ in 0..partition_count {
            let index = r.i32()?;
            let offset = r.i64()?;
            if version == 1 {
                let _commit_timestamp = r.i64()?;
            }
            let metadata = r.nullable_string()?;
            partitions.push(
                OffsetCommitRequestPartition::default()
                    .with_partition_index(index)
                    .with_committed_offset(offset)
                    .with_committed_metadata(metadata),
            );
        }
        topics.push(
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(name))
                .with_partitions(partitions),
        );
    }
    Ok(OffsetCommitRequest::default()
        .with_group_id(GroupId(group_id))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(member_id)
        .with_retention_time_ms(-1)
        .with_topics(topics))
}

/// Kafka's primitives over the body, each failing instead of panicking.
struct Reader<'a> {
    cursor: Cursor<'a>,
    version: i16,
}

impl Reader<'_> {
    fn error(&self, problem: &'static str) -> LegacyError {
        LegacyError {
            version: self.version,
            position: self.cursor.position(),
            problem,
        }
    }

    fn ends_early(&self, truncated: Truncated) -> LegacyError {
        LegacyError {
            version: self.version,
            position: truncated.position,
            problem: "the body ends early",
        }
    }

    fn i32(&mut self) -> Result<i32, LegacyError> {
        self.cursor.i32().map_err(|t| self.ends_early(t))
    }

    fn i64(&mut self) -> Result<i64, LegacyError> {
        self.cursor.i64().map_err(|t| self.ends_early(t))
    }

    /// An array count; -1 (null) reads as empty, as `kafka-protocol` does.
    fn count(&mut self) -> Result<usize, LegacyError> {
        Ok(usize::try_from(self.i32()?).unwrap_or(0))
    }

    fn nullable_string(&mut self) -> Result<Option<StrBytes>, LegacyError> {
        let len = self.cursor.i16().map_err(|t| self.ends_early(t))?;
        let Ok(len) = usize::try_from(len) else {
            return Ok(None);
        };
        let bytes = self.cursor.take(len).map_err(|t| self.ends_early(t))?;
        let text = std::str::from_utf8(bytes).map_err(|_| self.error("a string is not UTF-8"))?;
        Ok(Some(StrBytes::from_string(text.to_owned())))
    }

    fn string(&mut self) -> Result<StrBytes, LegacyError> {
        self.nullable_string()?
            .ok_or_else(|| self.error("a non-nullable string is null"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

    use bytes::{BufMut, BytesMut};
    use kafka_protocol::messages::ApiKey;

    use super::*;

    fn put_str(buf: &mut BytesMut, s: &str) {
        buf.put_i16(i16::try_from(s.len()).unwrap());
        buf.put_slice(s.as_bytes());
    }

    /// A v0 or v1 body as Sarama writes it: one topic, two partitions, the
    /// second with null metadata.
    fn body(version: i16) -> BytesMut {
        let mut buf = BytesMut::new();
        put_str(&mut buf, "group");
        if version == 1 {
            buf.put_i32(7);
            put_str(&mut buf, "member-1");
        }
        buf.put_i32(1);
        put_str(&mut buf, "orders");
        buf.put_i32(2);
        for (partition, offset, metadata) in [(0, 42_i64, Some("md")), (2, 9, None)] {
            buf.put_i32(partition);
            buf.put_i64(offset);
            if version == 1 {
                buf.put_i64(-1);
            }
            match metadata {
                Some(m) => put_str(&mut buf, m),
                None => buf.put_i16(-1),
            }
        }
        buf
    }

    #[test]
    fn v1_reads_membership_offsets_and_metadata() {
        let request = decode(&body(1), 1).unwrap();
        assert_eq!(request.group_id.0.as_str(), "group");
        assert_eq!(request.generation_id_or_member_epoch, 7);
        assert_eq!(request.member_id.as_str(), "member-1");
        let topic = &request.topics[0];
        assert_eq!(topic.name.0.as_str(), "orders");
        let read: Vec<_> = topic
            .partitions
            .iter()
            .map(|p| {
                (
                    p.partition_index,
                    p.committed_offset,
                    p.committed_metadata.as_ref().map(|m| m.as_str().to_owned()),
                )
            })
            .collect();
        assert_eq!(read, vec![(0, 42, Some("md".to_owned())), (2, 9, None)]);
    }

    #[test]
    fn v0_has_no_membership() {
        let request = decode(&body(0), 0).unwrap();
        assert_eq!(request.generation_id_or_member_epoch, -1);
        assert!(request.member_id.is_empty());
        assert_eq!(request.topics[0].partitions[1].committed_offset, 9);
    }

    #[test]
    fn the_bounds_schema_covers_exactly_the_legacy_bodies() {
        for version in [0, 1] {
            let body = body(version);
            assert!(crate::bounds::check(ApiKey::OffsetCommit, version, &body).is_ok());
            let cut = &body[..body.len() - 1];
            assert!(crate::bounds::check(ApiKey::OffsetCommit, version, cut).is_err());
            // Cut short: refused, never a panic.
            assert!(decode(cut, version).is_err());
        }
    }

    #[test]
    fn every_truncation_and_bad_string_is_an_error() {
        let body = body(1);
        for len in 0..body.len() {
            assert!(decode(&body[..len], 1).is_err(), "cut at {len}");
        }
        let mut bad = body.to_vec();
        bad[2] = 0xff; // first byte of the group id
        assert!(decode(&bad, 1).is_err());
    }
}
