//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3), earliest
//! local (-4), latest tiered (-5), or the first offset whose timestamp is at
//! least the one given. The whole log is local, as on a Kafka topic without
//! tiered storage: -4 is the log start and -5 finds nothing (-1).

use std::sync::Arc;

use ferrolog_storage::{StorageError, TimestampOffset};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_request::ListOffsetsPartition;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::broker::Broker;
use crate::errors;
use crate::repeated::{Occurrence, merge_by_key, occurrences};
use crate::topics::Topic;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

/// A partition listed twice is answered once, with INVALID_REQUEST (Kafka's
/// ReplicaManager.fetchOffset, from the request's `duplicatePartitions`); a
/// topic listed twice is answered as one, as Kafka groups its answers by topic.
pub fn handle(
    broker: &Arc<Broker>,
    request: ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    let topics = merge_by_key(request.topics.into_iter().map(|t| (t.name, t.partitions)))
        .into_iter()
        .map(|(name, wanted)| {
            let topic = broker.topics.get(&name);
            let indexes: Vec<i32> = wanted.iter().map(|p| p.partition_index).collect();
            let partitions = wanted
                .iter()
                .zip(occurrences(&indexes))
                .filter_map(|(p, occurrence)| match (occurrence, &topic) {
                    (Occurrence::Again, _) => None,
                    (Occurrence::First, _) => {
                        Some(error(p.partition_index, ResponseError::InvalidRequest))
                    }
                    (Occurrence::Only, None) => Some(error(
                        p.partition_index,
                        ResponseError::UnknownTopicOrPartition,
                    )),
                    (Occurrence::Only, Some(topic)) => Some(lookup(topic, p, version)),
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

fn lookup(
    topic: &Topic,
    wanted: &ListOffsetsPartition,
    version: i16,
) -> ListOffsetsPartitionResponse {
    let index = wanted.partition_index;
    let Some(handle) = topic.partition(index) else {
        return error(index, ResponseError::UnknownTopicOrPartition);
    };
    let Ok(partition) = &handle.state else {
        return error(index, ResponseError::KafkaStorageError);
    };
    let found = |timestamp: i64, offset: i64| {
        ListOffsetsPartitionResponse::default()
            .with_partition_index(index)
            .with_timestamp(timestamp)
            .with_offset(offset)
            .with_leader_epoch(if version >= 4 { 0 } else { -1 })
    };
    let answer = |lookup: Result<Option<TimestampOffset>, StorageError>| match lookup {
        Ok(Some(t)) => found(t.timestamp_ms, t.offset),
        Ok(None) => found(-1, -1),
        Err(e) => error(index, errors::storage_error(&e)),
    };
    match wanted.timestamp {
        LATEST => found(-1, partition.high_watermark()),
        EARLIEST => found(-1, partition.log_start_offset()),
        MAX_TIMESTAMP if version >= 7 => answer(partition.max_timestamp()),
        EARLIEST_LOCAL if version >= 8 => found(-1, partition.log_start_offset()),
        LATEST_TIERED if version >= 9 => found(-1, -1).with_leader_epoch(-1),
        target if target >= 0 => answer(partition.offset_for_timestamp(target)),
        _ => error(index, ResponseError::InvalidRequest),
    }
}

fn error(index: i32, code: ResponseError) -> ListOffsetsPartitionResponse {
    ListOffsetsPartitionResponse::default()
        .with_partition_index(index)
        .with_error_code(code.code())
        .with_timestamp(-1)
        .with_offset(-1)
}
