//! DescribeLogDirs: the bytes each partition's log holds on its leader (its
//! segment files, Kafka's `Log.size`).
//!
//! A broker describes only its own log directories, so each leader is asked
//! for its own partitions: one request per leader, whatever the number of
//! topics. A follower's copy is not asked for; it holds the same records.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::{ApiKey, DescribeLogDirsRequest};

use crate::client::{Client, TopicMetadata, topic_name};
use crate::error::{ClientError, KafkaCode};

/// What the leaders said of the partitions asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionSizes {
    /// Bytes of each `(topic, partition)` in its leader's log directory. A
    /// partition in none of the answers (no leader, an offline directory) is
    /// not here.
    pub bytes: BTreeMap<(String, i32), u64>,
    /// Log directories that answered with an error instead of their
    /// partitions: a Kafka broker answers KAFKA_STORAGE_ERROR for a directory
    /// it took offline (ferrologd leaves a failed partition out instead).
    pub failed_dirs: Vec<FailedLogDir>,
}

/// A log directory that answered with an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedLogDir {
    pub node_id: i32,
    pub log_dir: String,
    pub code: KafkaCode,
}

impl Client {
    /// The size of every partition of `topics` (as the metadata gave them),
    /// asked of each partition's leader. A broker that does not serve
    /// DescribeLogDirs (older than Kafka 1.0, or ferrologd before it did)
    /// fails this with `UnsupportedVersion`, and one that refuses it
    /// (CLUSTER_AUTHORIZATION_FAILED under ACLs) with `Kafka`: callers that
    /// can do without the sizes go on without them.
    pub async fn partition_sizes(
        &self,
        topics: &[TopicMetadata],
    ) -> Result<PartitionSizes, ClientError> {
        let mut sizes = PartitionSizes::default();
        for (leader, request) in requests_by_leader(topics) {
            let conn = self.broker_connection(leader).await?;
            let response = conn.lock().await.send(&request).await?;
            ClientError::check(ApiKey::DescribeLogDirs, response.error_code, || {
                format!(" by broker {leader}")
            })?;
            for dir in response.results {
                if let Some(code) = KafkaCode::from_code(dir.error_code) {
                    sizes.failed_dirs.push(FailedLogDir {
                        node_id: leader,
                        log_dir: dir.log_dir.to_string(),
                        code,
                    });
                    continue;
                }
                for topic in &dir.topics {
                    // A future log is a copy being moved to another
                    // directory (AlterReplicaLogDirs), not the partition's.
                    for p in topic.partitions.iter().filter(|p| !p.is_future_key) {
                        let size = u64::try_from(p.partition_size).unwrap_or(0);
                        sizes
                            .bytes
                            .insert((topic.name.0.to_string(), p.partition_index), size);
                    }
                }
            }
        }
        Ok(sizes)
    }
}

/// One request per leader naming the partitions it leads; partitions
/// without a leader are not asked about.
fn requests_by_leader(topics: &[TopicMetadata]) -> BTreeMap<i32, DescribeLogDirsRequest> {
    let mut by_leader: BTreeMap<i32, BTreeMap<&str, Vec<i32>>> = BTreeMap::new();
    for topic in topics {
        for p in topic.partitions.iter().filter(|p| p.leader >= 0) {
            by_leader
                .entry(p.leader)
                .or_default()
                .entry(&topic.name)
                .or_default()
                .push(p.partition);
        }
    }
    by_leader
        .into_iter()
        .map(|(leader, topics)| {
            let topics = topics
                .into_iter()
                .map(|(name, partitions)| {
                    DescribableLogDirTopic::default()
                        .with_topic(topic_name(name))
                        .with_partitions(partitions)
                })
                .collect();
            (
                leader,
                DescribeLogDirsRequest::default().with_topics(Some(topics)),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::PartitionMetadata;

    fn topic(name: &str, leaders: &[i32]) -> TopicMetadata {
        TopicMetadata {
            name: name.to_owned(),
            topic_id: uuid::Uuid::nil(),
            is_internal: false,
            partitions: leaders
                .iter()
                .zip(0..)
                .map(|(&leader, partition)| PartitionMetadata {
                    partition,
                    leader,
                    replicas: vec![leader],
                    isr: vec![leader],
                    error: None,
                })
                .collect(),
            error: None,
        }
    }

    #[test]
    fn each_leader_is_asked_for_the_partitions_it_leads_only() {
        let requests = requests_by_leader(&[topic("a", &[1, 2, 1]), topic("b", &[2, -1])]);
        type Topics = Vec<(String, Vec<i32>)>;
        let asked: Vec<(i32, Topics)> = requests
            .into_iter()
            .map(|(leader, request)| {
                let topics = request
                    .topics
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| (t.topic.0.to_string(), t.partitions))
                    .collect();
                (leader, topics)
            })
            .collect();
        assert_eq!(
            asked,
            [
                (1, vec![("a".to_owned(), vec![0, 2])]),
                (
                    2,
                    vec![("a".to_owned(), vec![1]), ("b".to_owned(), vec![0])]
                ),
            ],
            "b-1 has no leader and is not asked about"
        );
    }

    #[test]
    fn no_partitions_no_requests() {
        assert!(requests_by_leader(&[]).is_empty());
        // A topic that names no partition must not become a null list,
        // which would ask for every partition of the broker.
        assert!(requests_by_leader(&[topic("a", &[])]).is_empty());
    }
}
