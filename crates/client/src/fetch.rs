//! Fetch: one request per leader for a set of partitions of one topic.

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest};

use crate::client::{Client, topic_name};
use crate::error::{ClientError, KafkaCode};

/// What to fetch and how long the broker may wait for data.
#[derive(Debug, Clone)]
pub struct FetchSpec {
    pub topic: String,
    /// `(partition, fetch offset)` — all led by the same broker.
    pub partitions: Vec<(i32, i64)>,
    pub max_wait_ms: i32,
    pub min_bytes: i32,
    pub max_bytes: i32,
    pub partition_max_bytes: i32,
}

/// One partition's share of a fetch response.
#[derive(Debug, Clone)]
pub struct FetchedPartition {
    pub partition: i32,
    pub error: Option<KafkaCode>,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    /// Zero or more whole batches (possibly a trailing partial one).
    pub records: Bytes,
}

impl Client {
    /// Fetches from the broker `leader` (every partition of `spec` must be led by it).
    pub async fn fetch(
        &self,
        leader: i32,
        spec: &FetchSpec,
    ) -> Result<Vec<FetchedPartition>, ClientError> {
        let partitions = spec
            .partitions
            .iter()
            .map(|&(partition, offset)| {
                FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(spec.partition_max_bytes)
            })
            .collect();
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(spec.max_wait_ms)
            .with_min_bytes(spec.min_bytes)
            .with_max_bytes(spec.max_bytes)
            .with_isolation_level(0)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(topic_name(&spec.topic))
                    .with_partitions(partitions),
            ]);
        let conn = self.broker_connection(leader).await?;
        let response = conn.lock().await.send(&request).await?;
        ClientError::check(ApiKey::Fetch, response.error_code, || {
            format!(" from {}", spec.topic)
        })?;
        let mut out = Vec::with_capacity(spec.partitions.len());
        for topic in response.responses {
            for p in topic.partitions {
                out.push(FetchedPartition {
                    partition: p.partition_index,
                    error: KafkaCode::from_code(p.error_code),
                    high_watermark: p.high_watermark,
                    log_start_offset: p.log_start_offset,
                    records: p.records.unwrap_or_default(),
                });
            }
        }
        Ok(out)
    }
}
