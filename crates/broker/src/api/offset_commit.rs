//! OffsetCommit (v0–9; `offset_commit_v0` reads v0–1): validate the member and generation,
//! then write the offsets to the internal log and fsync before answering — a committed offset
//! never moves backwards on a crash.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::Outcome;
use crate::broker::Broker;
use crate::group::offset_record::CommittedOffset;
use crate::group::offsets::METADATA_BYTES_MAX;
use crate::group::wire::{check_stored_group_id, owned, owned_opt};

/// Where one partition's answer goes, and the offset to write if it passed the checks.
struct Slot {
    topic: usize,
    index: i32,
    commit: Result<CommittedOffset, ResponseError>,
}

pub fn handle(
    broker: &Arc<Broker>,
    request: OffsetCommitRequest,
    version: i16,
) -> Outcome<OffsetCommitResponse> {
    let group_id = owned(&request.group_id);
    let instance = request
        .group_instance_id
        .as_ref()
        .filter(|_| version >= 7)
        .map(|s| s.as_str());
    let member_check = check_stored_group_id(&group_id).and_then(|()| {
        broker.groups.check_commit(
            &group_id,
            request.member_id.as_str(),
            instance,
            request.generation_id_or_member_epoch,
            version,
        )
    });
    let now_ms = broker.groups.now_ms();
    let mut slots = Vec::new();
    let names: Vec<String> = request.topics.iter().map(|t| owned(&t.name)).collect();
    // Each topic as it was checked: the write only goes ahead for a topic
    // that is still this one (not deleted, nor created again) when it lands.
    let mut checked: Vec<(String, uuid::Uuid)> = Vec::new();
    for ((t, topic), name) in request.topics.iter().enumerate().zip(&names) {
        let known = broker.topics.get(name);
        if let Some(k) = &known {
            checked.push((name.clone(), k.id));
        }
        for p in &topic.partitions {
            // As Kafka: unknown partitions are answered before the group
            // is asked, then the member is checked, then the metadata.
            let exists = known
                .as_ref()
                .and_then(|k| k.partition(p.partition_index))
                .is_some();
            let checked = if exists {
                member_check
            } else {
                Err(ResponseError::UnknownTopicOrPartition)
            };
            let commit = checked.and_then(|()| {
                let metadata = owned_opt(p.committed_metadata.as_ref());
                // Counted as Kafka counts (Java's String length, UTF-16
                // units), not in bytes, so non-ASCII metadata is not refused
                // early.
                if metadata
                    .as_ref()
                    .is_some_and(|m| m.encode_utf16().count() > METADATA_BYTES_MAX)
                {
                    return Err(ResponseError::OffsetMetadataTooLarge);
                }
                Ok(CommittedOffset {
                    offset: p.committed_offset,
                    leader_epoch: if version >= 6 {
                        p.committed_leader_epoch
                    } else {
                        -1
                    },
                    metadata,
                    commit_timestamp_ms: now_ms,
                })
            });
            slots.push(Slot {
                topic: t,
                index: p.partition_index,
                commit,
            });
        }
    }
    let mut response = OffsetCommitResponse::default();
    response.topics = request
        .topics
        .iter()
        .map(|t| OffsetCommitResponseTopic::default().with_name(t.name.clone()))
        .collect();
    let entries: Vec<(String, i32, CommittedOffset)> = slots
        .iter()
        .filter_map(|s| {
            let name = names.get(s.topic)?.clone();
            s.commit.as_ref().ok().map(|c| (name, s.index, c.clone()))
        })
        .collect();
    if entries.is_empty() {
        return Outcome::Now(fill(response, &slots, None));
    }
    let broker = broker.clone();
    Outcome::Later(Box::pin(async move {
        let groups = broker.groups.clone();
        let topics = broker.clone();
        let live = move |name: &str| {
            let now = topics.topics.get(name).map(|t| t.id);
            checked.iter().any(|(n, id)| n == name && now == Some(*id))
        };
        let written =
            tokio::task::spawn_blocking(move || groups.commit_offsets(&group_id, entries, live))
                .await;
        let mut slots = slots;
        let failure = match written {
            Ok(Ok(refused)) => {
                for slot in slots.iter_mut().filter(|s| s.commit.is_ok()) {
                    if names.get(slot.topic).is_some_and(|n| refused.contains(n)) {
                        slot.commit = Err(ResponseError::UnknownTopicOrPartition);
                    }
                }
                None
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %crate::errors::message(&e), "offset commit failed");
                Some(ResponseError::CoordinatorNotAvailable)
            }
            Err(_) => Some(ResponseError::CoordinatorNotAvailable),
        };
        fill(response, &slots, failure)
    }))
}

/// Every partition's answer in request order; `failure` replaces success if the write failed.
fn fill(
    mut response: OffsetCommitResponse,
    slots: &[Slot],
    failure: Option<ResponseError>,
) -> OffsetCommitResponse {
    for slot in slots {
        let code = match &slot.commit {
            Ok(_) => failure.map_or(0, |e| e.code()),
            Err(e) => e.code(),
        };
        if let Some(topic) = response.topics.get_mut(slot.topic) {
            topic.partitions.push(
                OffsetCommitResponsePartition::default()
                    .with_partition_index(slot.index)
                    .with_error_code(code),
            );
        }
    }
    response
}
