//! ListOffsets: a partition's earliest or latest offset, or the first offset
//! whose timestamp is at or after a given time.

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, ListOffsetsRequest};

use crate::client::{Client, topic_name};
use crate::error::{ClientError, KafkaCode};

/// Which offset to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    Earliest,
    Latest,
    /// First offset with timestamp ≥ this (milliseconds since the epoch).
    Timestamp(i64),
}

impl OffsetSpec {
    fn wire(self) -> i64 {
        match self {
            Self::Earliest => -2,
            Self::Latest => -1,
            Self::Timestamp(ms) => ms,
        }
    }
}

/// The answer for one partition. `offset` is `-1` when no record has a
/// timestamp at or after the one asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: i64,
}

impl Client {
    /// Looks up offsets of several partitions of one topic, grouped by leader.
    pub async fn list_offsets(
        &self,
        topic: &str,
        partitions: &[(i32, OffsetSpec)],
    ) -> Result<Vec<ListedOffset>, ClientError> {
        let mut by_leader: std::collections::BTreeMap<i32, Vec<(i32, OffsetSpec)>> =
            Default::default();
        for &(partition, spec) in partitions {
            by_leader
                .entry(self.leader(topic, partition).await?)
                .or_default()
                .push((partition, spec));
        }
        let mut out = Vec::with_capacity(partitions.len());
        for (leader, parts) in by_leader {
            let request = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![
                    ListOffsetsTopic::default()
                        .with_name(topic_name(topic))
                        .with_partitions(
                            parts
                                .iter()
                                .map(|&(p, spec)| {
                                    ListOffsetsPartition::default()
                                        .with_partition_index(p)
                                        .with_timestamp(spec.wire())
                                })
                                .collect(),
                        ),
                ]);
            let conn = self.broker_connection(leader).await?;
            let response = conn.lock().await.send(&request).await?;
            for p in response.topics.iter().flat_map(|t| t.partitions.iter()) {
                if let Some(code) = KafkaCode::from_code(p.error_code) {
                    self.invalidate(topic);
                    return Err(ClientError::Kafka {
                        api: ApiKey::ListOffsets,
                        code,
                        context: format!(" for {topic}-{}", p.partition_index),
                        message: None,
                    });
                }
                out.push(ListedOffset {
                    partition: p.partition_index,
                    offset: p.offset,
                    timestamp_ms: p.timestamp,
                });
            }
        }
        out.sort_by_key(|o| o.partition);
        Ok(out)
    }

    /// `(earliest, latest)` of every partition of `topic`.
    pub async fn offset_range(&self, topic: &str) -> Result<Vec<(i32, i64, i64)>, ClientError> {
        let meta = self.topic(topic).await?;
        let ids: Vec<i32> = meta.partitions.iter().map(|p| p.partition).collect();
        let earliest = self
            .list_offsets(
                topic,
                &ids.iter()
                    .map(|&p| (p, OffsetSpec::Earliest))
                    .collect::<Vec<_>>(),
            )
            .await?;
        let latest = self
            .list_offsets(
                topic,
                &ids.iter()
                    .map(|&p| (p, OffsetSpec::Latest))
                    .collect::<Vec<_>>(),
            )
            .await?;
        Ok(earliest
            .iter()
            .zip(latest.iter())
            .map(|(e, l)| (e.partition, e.offset, l.offset))
            .collect())
    }
}
