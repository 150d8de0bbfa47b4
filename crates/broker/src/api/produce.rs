//! Produce: append each partition's record batches as they came (never
//! re-encoded), then answer per `acks`: 0 nothing, 1 once appended (in the
//! page cache), -1 once appended and fsynced (group-committed by the engine).

use std::sync::Arc;

use bytes::Bytes;
use ferrolog_storage::{Durability, Partition, StorageError, format};
use ferrolog_wire::compression::Codec;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::messages::produce_request::TopicProduceData;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::{Outcome, produce_v0};
use crate::broker::Broker;
use crate::errors;
use crate::producer::AppendError;
use crate::topics::{PartitionHandle, Topic, validate_topic_name};

mod keys;

/// An append that must be fsynced before acks=-1 is answered.
struct PendingSync {
    topic: usize,
    partition: usize,
    handle: Arc<Partition>,
    last_offset: i64,
}

/// An acks=0 produce that was not (all) appended. Kafka sends no response to
/// acks=0, so it closes the connection instead: the client sees the
/// disconnect, refreshes its metadata, and does not go on writing into a
/// partition that refuses it without ever learning why.
#[derive(Debug, thiserror::Error)]
#[error("acks=0 produce to {topic}-{partition} failed with {code:?}")]
pub struct Unacknowledged {
    pub topic: String,
    pub partition: i32,
    pub code: ResponseError,
}

pub async fn handle(
    broker: &Arc<Broker>,
    request: ProduceRequest,
    version: i16,
) -> Result<Outcome<ProduceResponse>, Unacknowledged> {
    let acks = request.acks;
    let general_error = if !matches!(acks, -1..=1) {
        Some(ResponseError::InvalidRequiredAcks)
    } else if request.transactional_id.is_some() {
        // Transactions are not served; refuse rather than store batches whose
        // commit markers would never come.
        Some(ResponseError::TransactionalIdAuthorizationFailed)
    } else {
        None
    };
    let mut responses = Vec::with_capacity(request.topic_data.len());
    let mut syncs = Vec::new();
    for (t, topic_data) in request.topic_data.into_iter().enumerate() {
        let name = topic_data.name.clone();
        let partitions = match general_error {
            Some(code) => topic_data
                .partition_data
                .iter()
                .map(|p| error_response(p.index, code))
                .collect(),
            None => produce_topic(broker, topic_data, (acks, version), t, &mut syncs).await,
        };
        responses.push(
            TopicProduceResponse::default()
                .with_name(name)
                .with_partition_responses(partitions),
        );
    }
    let response = ProduceResponse::default().with_responses(responses);
    Ok(match acks {
        0 => {
            if let Some(failed) = first_failure(&response) {
                return Err(failed);
            }
            Outcome::Nothing
        }
        -1 if !syncs.is_empty() => Outcome::Later(Box::pin(wait_for_syncs(response, syncs))),
        _ => Outcome::Now(response),
    })
}

/// The first partition of `response` that carries an error.
fn first_failure(response: &ProduceResponse) -> Option<Unacknowledged> {
    response.responses.iter().find_map(|topic| {
        topic
            .partition_responses
            .iter()
            .find(|p| p.error_code != 0)
            .map(|p| Unacknowledged {
                topic: topic.name.to_string(),
                partition: p.index,
                code: ResponseError::try_from_code(p.error_code)
                    .unwrap_or(ResponseError::UnknownServerError),
            })
    })
}

async fn produce_topic(
    broker: &Arc<Broker>,
    topic_data: TopicProduceData,
    (acks, version): (i16, i16),
    topic_slot: usize,
    syncs: &mut Vec<PendingSync>,
) -> Vec<PartitionProduceResponse> {
    // The records are judged first, as Kafka validates them before it looks
    // at the topic: records no retry can fix must not create a topic either.
    let checked: Vec<(i32, Result<Bytes, Refusal>)> = topic_data
        .partition_data
        .into_iter()
        .map(|data| (data.index, accepted_records(data.records, version)))
        .collect();
    let name = topic_data.name.as_str();
    let mut topic = None;
    let mut out = Vec::with_capacity(checked.len());
    for (p, (index, records)) in checked.into_iter().enumerate() {
        let records = match records {
            Ok(records) => records,
            Err(Refusal(code, message)) => {
                // Responses below v8 carry no message: the log does.
                tracing::debug!(
                    topic = name,
                    partition = index,
                    version,
                    ?code,
                    message,
                    "produce refused"
                );
                out.push(refused(index, code, message));
                continue;
            }
        };
        let resolved = match topic.take() {
            Some(resolved) => resolved,
            None => resolve_topic(broker, name).await,
        };
        let response = match &resolved {
            Err(code) => error_response(index, *code),
            Ok(resolved) => {
                let (response, sync) =
                    produce_partition(broker, resolved, index, records, acks).await;
                if let Some((handle, last_offset)) = sync {
                    syncs.push(PendingSync {
                        topic: topic_slot,
                        partition: p,
                        handle,
                        last_offset,
                    });
                }
                response
            }
        };
        topic = Some(resolved);
        out.push(response);
    }
    out
}

/// The topic `name`: found, auto-created, or why neither.
async fn resolve_topic(broker: &Arc<Broker>, name: &str) -> Result<Arc<Topic>, ResponseError> {
    match validate_topic_name(name) {
        Err(_) => Err(ResponseError::InvalidTopicException),
        Ok(()) => match broker.topics.get(name) {
            Some(topic) => Ok(topic),
            None => auto_create(broker, name).await,
        },
    }
}

/// The topic `name`, created if the broker allows it. Creating writes and
/// fsyncs, so it runs on the blocking pool.
async fn auto_create(broker: &Arc<Broker>, name: &str) -> Result<Arc<Topic>, ResponseError> {
    let owned = name.to_string();
    let created = super::blocking(broker, ApiKey::Produce, move |b| {
        b.topics.get_or_auto_create(&owned, true)
    });
    match created.await {
        Ok(Ok(Some(topic))) => Ok(topic),
        Ok(Ok(None)) => Err(ResponseError::UnknownTopicOrPartition),
        Ok(Err(e)) => Err(errors::topic_error(&e)),
        Err(e) => {
            tracing::error!(topic = name, error = %e, "auto-create did not finish");
            Err(ResponseError::UnknownServerError)
        }
    }
}

async fn produce_partition(
    broker: &Broker,
    topic: &Topic,
    index: i32,
    records: Bytes,
    acks: i16,
) -> (PartitionProduceResponse, Option<(Arc<Partition>, i64)>) {
    let Some(handle) = topic.partition(index) else {
        return (
            error_response(index, ResponseError::UnknownTopicOrPartition),
            None,
        );
    };
    let partition = match &handle.state {
        Ok(p) => p.clone(),
        Err(_) => {
            return (
                error_response(index, ResponseError::KafkaStorageError),
                None,
            );
        }
    };
    if broker.free_space.below_floor() {
        // Retriable (librdkafka and the Java client retry it): the producer
        // backs off and succeeds once retention or the operator frees space.
        let message = format!(
            "free space {} bytes is below the floor of {} bytes",
            broker.free_space.free_bytes(),
            broker.free_space.floor_bytes()
        );
        return (
            refused(index, ResponseError::KafkaStorageError, message),
            None,
        );
    }
    let min_insync = topic.config.min_insync_replicas();
    if acks == -1 && min_insync > 1 {
        // As Kafka with fewer in-sync replicas than the topic asks for: refused
        // before the append, so a retry cannot duplicate anything.
        let message = format!(
            "min.insync.replicas is {min_insync}, but this broker is the partition's only replica"
        );
        return (
            refused(index, ResponseError::NotEnoughReplicas, message),
            None,
        );
    }
    let (records, log_append_time) = if topic.config.log_append_time() {
        match stamp_append_time(&records) {
            Ok(stamped) => stamped,
            Err(e) => {
                let response = refused(index, ResponseError::CorruptMessage, e.to_string());
                return (response, None);
            }
        }
    } else {
        (records, -1)
    };
    match append(broker, handle, &partition, records).await {
        Ok(info) => {
            let response = PartitionProduceResponse::default()
                .with_index(index)
                .with_base_offset(info.base_offset)
                .with_log_append_time_ms(log_append_time)
                .with_log_start_offset(info.log_start_offset);
            let sync = (acks == -1).then_some((partition, info.last_offset));
            (response, sync)
        }
        // Keys are checked where Kafka's LogValidator checks them: in the
        // append, after the replica count, in the engine's walk of the records.
        Err(AppendError::Storage(StorageError::KeylessRecords { indexes, .. })) => {
            (keyless_refused(&topic.name, index, &indexes), None)
        }
        Err(e) => {
            tracing::debug!(partition = ?handle.id, error = %errors::message(&e), "produce refused");
            let response = refused(index, errors::append_error(&e), errors::message(&e));
            (response, None)
        }
    }
}

/// Why a partition's records are refused before the append: the code and
/// the message the client is sent.
#[derive(Debug)]
struct Refusal(ResponseError, String);

/// A partition's records, or why they are refused for what they are: none at
/// all, a message format this broker does not store, or a codec the
/// request's version may not carry. Checked before free space and replicas,
/// as Kafka checks them before the append: a retriable refusal would only
/// have the client retry into this permanent one.
fn accepted_records(records: Option<Bytes>, version: i16) -> Result<Bytes, Refusal> {
    let records = match records {
        Some(records) if !records.is_empty() => records,
        _ => {
            // As Kafka: INVALID_RECORD, not retriable, since a retry would
            // send the same nothing again.
            let message = "no records for the partition".to_owned();
            return Err(Refusal(ResponseError::InvalidRecord, message));
        }
    };
    let legacy = produce_v0::legacy_magic(&records);
    if version >= MAGIC_V2_ONLY_FROM
        && let Some(magic) = legacy
    {
        // A client that speaks Produce v3+ has promised magic 2 batches;
        // Kafka answers the broken promise with INVALID_RECORD. The frame
        // check alone would call it CORRUPT_MESSAGE, which clients retry.
        let message = format!(
            "Produce v{version} requests may carry magic 2 record batches only, not magic {magic}"
        );
        return Err(Refusal(ResponseError::InvalidRecord, message));
    }
    if let Some(magic) = legacy {
        // UNSUPPORTED_FOR_MESSAGE_FORMAT, "the message format version on the
        // broker does not support the request", is what is true: the log
        // holds v2 batches only and nothing converts older messages. Not
        // retriable, so the client fails the records at once.
        let message = format!(
            "magic {magic} messages are not stored: this broker keeps magic 2 record batches only"
        );
        return Err(Refusal(ResponseError::UnsupportedForMessageFormat, message));
    }
    if version < ZSTD_MIN_VERSION && holds_zstd(&records) {
        let message = format!("zstd batches need Produce v{ZSTD_MIN_VERSION} or later");
        return Err(Refusal(ResponseError::UnsupportedCompressionType, message));
    }
    Ok(records)
}

/// The first Produce version whose batches must be magic 2 (Kafka's
/// `ProduceRequest.validateRecords`).
const MAGIC_V2_ONLY_FROM: i16 = 3;

/// As Kafka (KIP-110): a client that speaks Produce below v7 may not read
/// zstd back, so it may not write it either.
const ZSTD_MIN_VERSION: i16 = 7;

/// Whether any batch of `records` is zstd-compressed (a malformed tail is
/// left to the engine, which refuses it with its own error).
fn holds_zstd(records: &[u8]) -> bool {
    let mut rest = records;
    while let Ok((header, size)) = format::batch::frame(rest) {
        if Codec::from_attributes(header.attributes) == Some(Codec::Zstd) {
            return true;
        }
        rest = rest.get(size..).unwrap_or_default();
    }
    false
}

/// A copy of `records` carrying the broker's clock as every record's
/// timestamp (`message.timestamp.type = LogAppendTime`), and that time. The
/// one copy of the request's batches a topic pays for asking this.
fn stamp_append_time(records: &Bytes) -> Result<(Bytes, i64), ferrolog_storage::BatchError> {
    let now = crate::group::offsets::wall_clock_ms();
    let mut stamped = records.to_vec();
    ferrolog_storage::format::batch::stamp_log_append_time(&mut stamped, now)?;
    Ok((Bytes::from(stamped), now))
}

/// Appends and wakes long-polling fetches. A partition whose policy fsyncs
/// inside `append` is appended on the blocking pool; otherwise the append is
/// a page-cache write and runs right here. Either way this connection's next
/// request waits, which keeps its appends in order.
async fn append(
    broker: &Broker,
    handle: &PartitionHandle,
    partition: &Arc<Partition>,
    records: Bytes,
) -> Result<ferrolog_storage::AppendInfo, AppendError> {
    let info = if partition.config().durability == Durability::Always {
        let partition = partition.clone();
        let producers = broker.producers.clone();
        match tokio::task::spawn_blocking(move || producers.append(&partition, &records)).await {
            Ok(result) => result?,
            Err(join) => {
                return Err(AppendError::Storage(StorageError::PartitionFailed {
                    id: handle.id.clone(),
                    reason: format!("append task failed: {join}"),
                }));
            }
        }
    } else {
        broker.producers.append(partition, &records)?
    };
    handle.appended.notify_waiters();
    Ok(info)
}

/// acks=-1: fsync every appended partition (concurrently; the engine groups
/// concurrent fsyncs of one partition into one), then answer.
async fn wait_for_syncs(mut response: ProduceResponse, syncs: Vec<PendingSync>) -> ProduceResponse {
    let tasks: Vec<_> = syncs
        .into_iter()
        .map(|s| {
            let task = tokio::task::spawn_blocking(move || s.handle.sync_to(s.last_offset));
            (s.topic, s.partition, task)
        })
        .collect();
    for (t, p, task) in tasks {
        let failed = match task.await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(errors::storage_error(&e)),
            Err(_) => Some(ResponseError::KafkaStorageError),
        };
        if let Some(code) = failed {
            let slot = response
                .responses
                .get_mut(t)
                .and_then(|r| r.partition_responses.get_mut(p));
            if let Some(slot) = slot {
                *slot = error_response(slot.index, code);
            }
        }
    }
    response
}

/// INVALID_RECORD for records without a key on a compacted topic, with
/// Kafka's message and one record error per keyless record (both carried
/// from Produce v8; older versions get the code alone, as from Kafka 4.0).
fn keyless_refused(topic: &str, index: i32, keyless: &[i32]) -> PartitionProduceResponse {
    let record = keys::record_message(topic, index);
    let record_errors = keyless
        .iter()
        .map(|&batch_index| {
            BatchIndexAndErrorMessage::default()
                .with_batch_index(batch_index)
                .with_batch_index_error_message(Some(record.clone().into()))
        })
        .collect();
    let message = keys::refusal_message(keyless, topic, index);
    tracing::debug!(topic, partition = index, message, "produce refused");
    refused(index, ResponseError::InvalidRecord, message).with_record_errors(record_errors)
}

/// An error response that says why, for clients that log the message.
fn refused(index: i32, code: ResponseError, message: String) -> PartitionProduceResponse {
    error_response(index, code).with_error_message(Some(message.into()))
}

fn error_response(index: i32, code: ResponseError) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(code.code())
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1)
}
