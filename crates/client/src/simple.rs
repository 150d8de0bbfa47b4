//! One-call produce and read, for tests and tools that want records in and
//! out without managing batches, leaders or fetch loops.

use crate::batch::{ConsumedRecord, ProducerRecord, ProducerStamp, decode_fetched, encode_batch};
use crate::client::Client;
use crate::error::ClientError;
use crate::fetch::FetchSpec;
use crate::offsets::OffsetSpec;
use crate::produce::{Acks, ProduceAck};
use kafka_protocol::records::Compression;

/// Fetch rounds `read_records` makes at most: it reads up to the end offset
/// seen when it started, so it never waits for records that are not coming.
const READ_ROUNDS_MAX: usize = 10_000;

impl Client {
    /// Encodes `records` as one batch (no producer id) and produces it to
    /// `topic`-`partition`, creating the topic if the broker allows it.
    pub async fn send_records(
        &self,
        topic: &str,
        partition: i32,
        records: &[ProducerRecord],
        compression: Compression,
        acks: Acks,
    ) -> Result<ProduceAck, ClientError> {
        self.topic_or_create(topic).await?;
        let batch = encode_batch(records, compression, ProducerStamp::NONE)?;
        self.produce(topic, partition, batch, acks, 30_000).await
    }

    /// Reads `topic`-`partition` from `offset` up to its end offset at the time
    /// of the call (at most `max_records`).
    pub async fn read_records(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_records: usize,
    ) -> Result<Vec<ConsumedRecord>, ClientError> {
        let end = self
            .list_offsets(topic, &[(partition, OffsetSpec::Latest)])
            .await?;
        let end = end.first().map_or(offset, |o| o.offset);
        let leader = self.leader(topic, partition).await?;
        let (mut position, mut out) = (offset, Vec::new());
        for _ in 0..READ_ROUNDS_MAX {
            if position >= end || out.len() >= max_records {
                break;
            }
            let spec = FetchSpec {
                topic: topic.to_owned(),
                partitions: vec![(partition, position)],
                max_wait_ms: 100,
                min_bytes: 1,
                max_bytes: 8 * 1024 * 1024,
                partition_max_bytes: 8 * 1024 * 1024,
            };
            for fetched in self.fetch(leader, &spec).await? {
                ClientError::check(
                    kafka_protocol::messages::ApiKey::Fetch,
                    fetched.error.map_or(0, |c| c.code()),
                    || format!(" from {topic}-{partition} at offset {position}"),
                )?;
                let decoded = decode_fetched(fetched.records, position)?;
                position = decoded.next_offset.unwrap_or(position).max(position);
                out.extend(decoded.records);
            }
        }
        out.truncate(max_records);
        Ok(out)
    }
}
