//! ListOffsets: a partition's earliest or latest offset, or the first offset
//! whose timestamp is at or after a given time. DeleteRecords: moving a
//! partition's earliest offset (its log start) forward.

use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, DeleteRecordsRequest, ListOffsetsRequest};

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

/// One partition's answer: its offset, or the error the broker gave for it.
pub type PartitionOffset = (i32, Result<ListedOffset, KafkaCode>);

/// One partition's `(earliest, latest)`, or the error the broker gave for it.
pub type PartitionRange = (i32, Result<(i64, i64), KafkaCode>);

impl Client {
    /// Looks up offsets of several partitions of one topic, grouped by leader;
    /// fails on the first partition the broker answers with an error.
    pub async fn list_offsets(
        &self,
        topic: &str,
        partitions: &[(i32, OffsetSpec)],
    ) -> Result<Vec<ListedOffset>, ClientError> {
        self.list_offsets_each(topic, partitions)
            .await?
            .into_iter()
            .map(|(partition, listed)| listed.map_err(|code| listed_error(topic, partition, code)))
            .collect()
    }

    /// Like `list_offsets`, with each partition's own answer, so one failed
    /// partition (a log the broker could not load) does not hide the others.
    pub async fn list_offsets_each(
        &self,
        topic: &str,
        partitions: &[(i32, OffsetSpec)],
    ) -> Result<Vec<PartitionOffset>, ClientError> {
        let mut out = Vec::with_capacity(partitions.len());
        for (leader, parts) in self.by_leader(topic, partitions).await? {
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
                let listed = match KafkaCode::from_code(p.error_code) {
                    Some(code) => {
                        self.invalidate(topic);
                        Err(code)
                    }
                    None => Ok(ListedOffset {
                        partition: p.partition_index,
                        offset: p.offset,
                        timestamp_ms: p.timestamp,
                    }),
                };
                out.push((p.partition_index, listed));
            }
        }
        out.sort_by_key(|o| o.0);
        Ok(out)
    }

    /// `(earliest, latest)` of every partition of `topic`.
    pub async fn offset_range(&self, topic: &str) -> Result<Vec<(i32, i64, i64)>, ClientError> {
        self.offset_range_each(topic)
            .await?
            .into_iter()
            .map(|(partition, range)| {
                let (earliest, latest) =
                    range.map_err(|code| listed_error(topic, partition, code))?;
                Ok((partition, earliest, latest))
            })
            .collect()
    }

    /// `(earliest, latest)` of every partition of `topic`, each with its own answer.
    pub async fn offset_range_each(&self, topic: &str) -> Result<Vec<PartitionRange>, ClientError> {
        let meta = self.topic(topic).await?;
        let ask = |spec| {
            meta.partitions
                .iter()
                .map(|p| (p.partition, spec))
                .collect::<Vec<_>>()
        };
        let earliest = self
            .list_offsets_each(topic, &ask(OffsetSpec::Earliest))
            .await?;
        let latest = self
            .list_offsets_each(topic, &ask(OffsetSpec::Latest))
            .await?;
        Ok(earliest
            .into_iter()
            .zip(latest)
            .map(|((partition, e), (_, l))| (partition, e.and_then(|e| Ok((e.offset, l?.offset)))))
            .collect())
    }
}

impl Client {
    /// Deletes the records of each `(partition, offset)` of `topic` below
    /// `offset` (-1: the high watermark) by moving the log start there, as
    /// `kafka-delete-records.sh` does. Returns each partition's new log
    /// start, or the error the broker gave for it.
    pub async fn delete_records(
        &self,
        topic: &str,
        before: &[(i32, i64)],
    ) -> Result<Vec<(i32, Result<i64, KafkaCode>)>, ClientError> {
        let mut out = Vec::with_capacity(before.len());
        for (leader, parts) in self.by_leader(topic, before).await? {
            let request = DeleteRecordsRequest::default()
                .with_timeout_ms(30_000)
                .with_topics(vec![
                    DeleteRecordsTopic::default()
                        .with_name(topic_name(topic))
                        .with_partitions(
                            parts
                                .iter()
                                .map(|&(p, offset)| {
                                    DeleteRecordsPartition::default()
                                        .with_partition_index(p)
                                        .with_offset(offset)
                                })
                                .collect(),
                        ),
                ]);
            let conn = self.broker_connection(leader).await?;
            let response = conn.lock().await.send(&request).await?;
            for p in response.topics.iter().flat_map(|t| t.partitions.iter()) {
                let start = match KafkaCode::from_code(p.error_code) {
                    Some(code) => {
                        self.invalidate(topic);
                        Err(code)
                    }
                    None => Ok(p.low_watermark),
                };
                out.push((p.partition_index, start));
            }
        }
        out.sort_by_key(|o| o.0);
        Ok(out)
    }
}

impl Client {
    /// `(partition, T)` pairs of `topic` grouped by their leader's node id:
    /// each group is one request to that broker.
    async fn by_leader<T: Copy>(
        &self,
        topic: &str,
        partitions: &[(i32, T)],
    ) -> Result<std::collections::BTreeMap<i32, Vec<(i32, T)>>, ClientError> {
        let mut groups: std::collections::BTreeMap<i32, Vec<(i32, T)>> = Default::default();
        for &(partition, value) in partitions {
            groups
                .entry(self.leader(topic, partition).await?)
                .or_default()
                .push((partition, value));
        }
        Ok(groups)
    }
}

fn listed_error(topic: &str, partition: i32, code: KafkaCode) -> ClientError {
    ClientError::Kafka {
        api: ApiKey::ListOffsets,
        code,
        context: format!(" for {topic}-{partition}"),
        message: None,
    }
}
