//! DeleteRecords: move a partition's log start offset forward (-1 = to the
//! high watermark). Refused on a topic whose `cleanup.policy` does not list
//! `delete` (compact only), as Kafka refuses it.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_records_request::DeleteRecordsPartition;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use crate::broker::Broker;
use crate::errors;
use crate::repeated::merge_by_key;
use crate::topics::Topic;

/// Kafka keys the request by partition: one listed twice is answered once,
/// and the offset listed last is the one applied (KafkaApis
/// handleDeleteRecordsRequest builds a map); a topic listed twice is one.
pub fn handle(broker: &Arc<Broker>, request: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let topics = merge_by_key(request.topics.into_iter().map(|t| (t.name, t.partitions)))
        .into_iter()
        .map(|(name, wanted)| {
            let topic = broker.topics.get(&name);
            let partitions = last_of_each(wanted)
                .iter()
                .map(|p| match &topic {
                    Some(topic) => delete_before(topic, p),
                    None => error(p.partition_index, ResponseError::UnknownTopicOrPartition),
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(name)
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}

/// One entry per partition, where it first appears, with the last offset given for it.
fn last_of_each(wanted: Vec<DeleteRecordsPartition>) -> Vec<DeleteRecordsPartition> {
    merge_by_key(wanted.into_iter().map(|p| (p.partition_index, vec![p])))
        .into_iter()
        .filter_map(|(_, mut entries)| entries.pop())
        .collect()
}

fn delete_before(topic: &Topic, wanted: &DeleteRecordsPartition) -> DeleteRecordsPartitionResult {
    let index = wanted.partition_index;
    let Some(handle) = topic.partition(index) else {
        return error(index, ResponseError::UnknownTopicOrPartition);
    };
    let Ok(partition) = &handle.state else {
        return error(index, ResponseError::KafkaStorageError);
    };
    if !topic.config.cleanup_policy().delete {
        // Kafka's Partition.deleteRecordsOnLeader checks the policy before
        // the offset: "Records of partition t-0 can not be deleted due to the
        // configured policy" (the response has no message field to carry it).
        tracing::info!(partition = ?handle.id,
            "DeleteRecords refused: records of this partition can not be deleted due to the configured policy (cleanup.policy has no delete)");
        return error(index, ResponseError::PolicyViolation);
    }
    let high_watermark = partition.high_watermark();
    let offset = if wanted.offset == -1 {
        high_watermark
    } else {
        wanted.offset
    };
    if offset < 0 || offset > high_watermark {
        return error(index, ResponseError::OffsetOutOfRange);
    }
    match partition.delete_records_before(offset) {
        Ok(low_watermark) => DeleteRecordsPartitionResult::default()
            .with_partition_index(index)
            .with_low_watermark(low_watermark),
        Err(e) => error(index, errors::storage_error(&e)),
    }
}

fn error(index: i32, code: ResponseError) -> DeleteRecordsPartitionResult {
    DeleteRecordsPartitionResult::default()
        .with_partition_index(index)
        .with_low_watermark(-1)
        .with_error_code(code.code())
}
