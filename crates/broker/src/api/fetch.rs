//! Fetch: whole record batches straight from the engine's `Bytes` into the
//! response (never re-encoded), with a long poll that waits on the
//! partitions' append notifiers until `min_bytes` or `max_wait_ms`; a
//! partition error ends the wait at once.
//!
//! Fetch sessions are not kept: every response has session id 0, which tells
//! clients to keep sending full fetch requests.

use std::future::{Future, poll_fn};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use ferrolog_storage::StorageError;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use tokio::time::Instant;
use uuid::Uuid;

use super::Outcome;
pub use encode::encode_frame;

mod encode;
use crate::broker::Broker;
use crate::errors;
use crate::topics::PartitionHandle;

/// Longest long poll honoured, whatever the client asks: a limit on everything.
const MAX_WAIT_MS_MAX: i32 = 60_000;

/// One requested partition, resolved once and read on every poll.
struct Wanted {
    index: i32,
    target: Result<Arc<PartitionHandle>, ResponseError>,
    fetch_offset: i64,
    partition_max_bytes: usize,
}

struct WantedTopic {
    name: TopicName,
    id: Uuid,
    partitions: Vec<Wanted>,
}

/// One pass over every requested partition.
struct Read {
    response: FetchResponse,
    /// Record bytes in the response.
    bytes: usize,
    /// Some partition has an error code.
    error: bool,
}

/// The resolved request.
struct Plan {
    topics: Vec<WantedTopic>,
    min_bytes: usize,
    max_bytes: usize,
}

pub fn handle(
    broker: &Arc<Broker>,
    request: FetchRequest,
    _version: i16,
) -> Outcome<FetchResponse> {
    let plan = resolve(broker, &request);
    let read = plan.read();
    let max_wait_ms = request.max_wait_ms.clamp(0, MAX_WAIT_MS_MAX);
    if plan.answers_now(&read) || max_wait_ms == 0 || plan.has_no_partition() {
        return Outcome::Now(read.response);
    }
    let deadline = Instant::now() + Duration::from_millis(u64::try_from(max_wait_ms).unwrap_or(0));
    let stopping = broker.stopping.subscribe();
    Outcome::Later(Box::pin(long_poll(plan, deadline, stopping)))
}

fn resolve(broker: &Broker, request: &FetchRequest) -> Plan {
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let topic = if t.topic.is_empty() {
                broker.topics.get_by_id(t.topic_id)
            } else {
                broker.topics.get(&t.topic)
            };
            let missing = if t.topic.is_empty() {
                ResponseError::UnknownTopicId
            } else {
                ResponseError::UnknownTopicOrPartition
            };
            let partitions = t
                .partitions
                .iter()
                .map(|p| Wanted {
                    index: p.partition,
                    target: match &topic {
                        None => Err(missing),
                        Some(topic) => topic
                            .partition(p.partition)
                            .cloned()
                            .ok_or(ResponseError::UnknownTopicOrPartition),
                    },
                    fetch_offset: p.fetch_offset,
                    partition_max_bytes: usize::try_from(p.partition_max_bytes).unwrap_or(0),
                })
                .collect();
            WantedTopic {
                name: t.topic.clone(),
                id: t.topic_id,
                partitions,
            }
        })
        .collect();
    Plan {
        topics,
        min_bytes: usize::try_from(request.min_bytes).unwrap_or(0),
        max_bytes: usize::try_from(request.max_bytes).unwrap_or(0),
    }
}

impl Plan {
    fn has_no_partition(&self) -> bool {
        self.topics.iter().all(|t| t.partitions.is_empty())
    }

    /// Enough bytes, or an error to report: as Kafka, a partition error
    /// (offset out of range, unknown partition) is answered at once rather
    /// than after the long poll, so the client can reset or refresh now.
    fn answers_now(&self, read: &Read) -> bool {
        read.bytes >= self.min_bytes || read.error
    }

    /// Reads every partition once.
    fn read(&self) -> Read {
        let mut total_bytes = 0;
        let mut error = false;
        let topics = self
            .topics
            .iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let data = read_partition(
                            p,
                            self.max_bytes.saturating_sub(total_bytes),
                            total_bytes == 0,
                        );
                        total_bytes += data.records.as_ref().map_or(0, Bytes::len);
                        error |= data.error_code != 0;
                        data
                    })
                    .collect();
                FetchableTopicResponse::default()
                    .with_topic(t.name.clone())
                    .with_topic_id(t.id)
                    .with_partitions(partitions)
            })
            .collect();
        Read {
            response: FetchResponse::default()
                .with_session_id(0)
                .with_responses(topics),
            bytes: total_bytes,
            error,
        }
    }

    fn handles(&self) -> Vec<Arc<PartitionHandle>> {
        self.topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .filter_map(|p| p.target.as_ref().ok().cloned())
            .collect()
    }
}

fn read_partition(wanted: &Wanted, response_bytes_left: usize, first: bool) -> PartitionData {
    let empty = PartitionData::default()
        .with_partition_index(wanted.index)
        .with_records(Some(Bytes::new()));
    // A partition with no readable log has no offsets: -1, as Kafka answers
    // (its INVALID_HIGH_WATERMARK), not 0, which reads as "empty".
    let unreadable = |code: ResponseError| {
        PartitionData::default()
            .with_partition_index(wanted.index)
            .with_records(Some(Bytes::new()))
            .with_error_code(code.code())
            .with_high_watermark(-1)
            .with_last_stable_offset(-1)
            .with_log_start_offset(-1)
    };
    let handle = match &wanted.target {
        Ok(handle) => handle,
        Err(code) => return unreadable(*code),
    };
    let partition = match &handle.state {
        Ok(p) => p,
        Err(_) => return unreadable(ResponseError::KafkaStorageError),
    };
    // Deleted while this fetch held it (a long poll): the topic is gone, or
    // is another topic now; the client must refresh its metadata.
    if partition.is_deleted() {
        return unreadable(ResponseError::UnknownTopicOrPartition);
    }
    let budget = wanted.partition_max_bytes.min(response_bytes_left);
    if budget == 0 && !first {
        let hw = partition.high_watermark();
        return empty
            .with_high_watermark(hw)
            .with_last_stable_offset(hw)
            .with_log_start_offset(partition.log_start_offset());
    }
    // Only the first partition with data may pass the limits, by one whole
    // batch (KIP-74), so that a consumer always progresses.
    let read = if first {
        partition.read(wanted.fetch_offset, budget.max(1))
    } else {
        partition.read_fitting(wanted.fetch_offset, budget)
    };
    match read {
        Ok(read) => empty
            .with_high_watermark(read.high_watermark)
            .with_last_stable_offset(read.high_watermark)
            .with_log_start_offset(read.log_start_offset)
            .with_records(Some(read.records)),
        Err(e) => {
            if !matches!(e, StorageError::OffsetOutOfRange { .. }) {
                tracing::warn!(partition = ?handle.id, error = %errors::message(&e), "fetch failed");
            }
            let hw = partition.high_watermark();
            empty
                .with_error_code(errors::storage_error_code(&e))
                .with_high_watermark(hw)
                .with_last_stable_offset(hw)
                .with_log_start_offset(partition.log_start_offset())
        }
    }
}

/// Re-reads whenever one of the partitions is appended to, until enough
/// bytes are there, the deadline passes or the server stops.
async fn long_poll(
    plan: Plan,
    deadline: Instant,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> FetchResponse {
    let handles = plan.handles();
    loop {
        // Register interest before reading, so an append between the read
        // and the wait is not missed.
        let mut notified: Vec<_> = handles
            .iter()
            .map(|h| Box::pin(h.appended.notified()))
            .collect();
        for n in &mut notified {
            n.as_mut().enable();
        }
        let read = plan.read();
        if plan.answers_now(&read) || Instant::now() >= deadline {
            return read.response;
        }
        let any_append = poll_fn(|cx| {
            for n in &mut notified {
                if n.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(());
                }
            }
            Poll::Pending
        });
        tokio::select! {
            woken = tokio::time::timeout_at(deadline, any_append) => {
                if woken.is_err() {
                    return plan.read().response;
                }
            }
            // Err: the broker is gone, which is a stop too.
            _ = stopping.wait_for(|stop| *stop) => return plan.read().response,
        }
    }
}
