//! DescribeLogDirs: how many bytes each partition's log holds in the one data
//! directory, and from v4 the size and usable space of its file system.
//!
//! A partition's size is Kafka's `Log.size`: the bytes of its segments'
//! `.log` files (indexes not counted), as of the last completed append.
//! `topics` null asks for every partition of every topic; otherwise only the
//! partitions named that exist are answered, and unknown ones are left out,
//! as Kafka leaves them out. The committed-offsets partition
//! (`__consumer_offsets-0`) is not a topic here, and Metadata does not list
//! it, so it is not described either.
//!
//! Kafka takes a whole log directory offline at its first I/O error, and then
//! answers KAFKA_STORAGE_ERROR for the directory, with no topics. Here a
//! failure stops one partition only and the others are still served, so the
//! directory answers for them and a failed partition is left out, as one not
//! served from it: one damaged partition must not hide every size from the
//! tools that poll this. Metadata and the other APIs name the failed one.
//!
//! v0 is v1 byte for byte both ways (v1 only answers before throttling);
//! `kafka-protocol` reads and writes from v1, so v0 is decoded and encoded as
//! v1. kafka-python 2.2's `describe_log_dirs()` sends v0 only.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::topics::Topic;

/// The first version `kafka-protocol` reads and writes; v0 has its bytes.
pub const FIRST_DECODED_VERSION: i16 = 1;

/// The first version whose results carry the volume's total and usable bytes.
const VOLUME_VERSION: i16 = 4;

/// The partitions asked for, by topic: `None` is every partition.
type Wanted = Option<HashMap<String, BTreeSet<i32>>>;

pub fn handle(
    broker: &Arc<Broker>,
    request: DescribeLogDirsRequest,
    version: i16,
) -> DescribeLogDirsResponse {
    let log_dir = absolute(broker.store.data_dir());
    let mut result = DescribeLogDirsResult::default().with_log_dir(StrBytes::from_string(log_dir));
    let wanted = wanted(request);
    let mut topics: Vec<_> = broker
        .topics
        .all()
        .iter()
        .filter_map(|topic| describe(topic, &wanted))
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    result = result.with_topics(topics);
    if version >= VOLUME_VERSION {
        result = with_volume(broker, result);
    }
    DescribeLogDirsResponse::default().with_results(vec![result])
}

/// Each partition asked for once, however often it was named (Kafka answers a set).
fn wanted(request: DescribeLogDirsRequest) -> Wanted {
    let topics = request.topics?;
    let mut wanted: HashMap<String, BTreeSet<i32>> = HashMap::new();
    for topic in topics {
        wanted
            .entry(topic.topic.0.to_string())
            .or_default()
            .extend(topic.partitions);
    }
    Some(wanted)
}

/// The sizes of `topic`'s partitions asked for; `None` if none was.
fn describe(topic: &Topic, wanted: &Wanted) -> Option<DescribeLogDirsTopic> {
    let asked = |index: i32| match wanted {
        None => true,
        Some(wanted) => wanted
            .get(&topic.name)
            .is_some_and(|partitions| partitions.contains(&index)),
    };
    let partitions: Vec<_> = topic
        .partitions
        .iter()
        .filter(|handle| asked(handle.id.partition))
        // A failed partition is not served from the directory: left out.
        .filter_map(|handle| handle.state.as_ref().ok().map(|p| (handle, p)))
        .filter(|(_, partition)| !partition.is_failed())
        .map(|(handle, partition)| {
            DescribeLogDirsPartition::default()
                .with_partition_index(handle.id.partition)
                .with_partition_size(i64::try_from(partition.size_bytes()).unwrap_or(i64::MAX))
                // The only replica: nothing lags, nothing moves to another directory.
                .with_offset_lag(0)
                .with_is_future_key(false)
        })
        .collect();
    (!partitions.is_empty()).then(|| {
        DescribeLogDirsTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.name.clone())))
            .with_partitions(partitions)
    })
}

/// Adds the file system's total and usable bytes. A `statvfs` that fails
/// leaves the fields at -1, their default ("unknown"): the partition sizes
/// are still true, so the directory is not reported as failed for it.
fn with_volume(broker: &Broker, result: DescribeLogDirsResult) -> DescribeLogDirsResult {
    let wide = |bytes: u64| i64::try_from(bytes).unwrap_or(i64::MAX);
    match broker.free_space.volume() {
        Ok(volume) => result
            .with_total_bytes(volume.total_bytes.map_or(-1, wide))
            .with_usable_bytes(wide(volume.usable_bytes)),
        Err(e) => {
            tracing::warn!(error = %e, dir = %broker.store.data_dir().display(), "DescribeLogDirs: cannot measure the data directory's file system");
            result
        }
    }
}

/// The data directory as an absolute path, as Kafka names its log dirs
/// (`toAbsolutePath`: made absolute, symbolic links kept).
fn absolute(dir: &Path) -> String {
    std::path::absolute(dir)
        .unwrap_or_else(|_| dir.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;

    use super::*;

    fn topic(name: &'static str, partitions: Vec<i32>) -> DescribableLogDirTopic {
        DescribableLogDirTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str(name)))
            .with_partitions(partitions)
    }

    #[test]
    fn a_partition_named_twice_is_asked_for_once() {
        let request = DescribeLogDirsRequest::default().with_topics(Some(vec![
            topic("a", vec![1, 0, 1]),
            topic("a", vec![2]),
            topic("b", vec![]),
        ]));
        let asked = wanted(request).expect("a list");
        assert_eq!(asked["a"], BTreeSet::from([0, 1, 2]));
        assert!(asked["b"].is_empty());
        assert!(wanted(DescribeLogDirsRequest::default().with_topics(None)).is_none());
    }
}
