//! OffsetFetch (v1–9): committed offsets with their metadata; -1 where nothing is committed.
//! v1–7 ask for one group; v8+ for several.

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::group::offset_record::CommittedOffset;
use crate::group::wire::{check_stored_group_id, owned, str_bytes};

/// One partition's answer before it is put in a version's shape.
struct Answer {
    partition: i32,
    committed: Option<CommittedOffset>,
}

pub fn handle(broker: &Broker, request: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
    let mut response = OffsetFetchResponse::default();
    if version >= 8 {
        response.groups = request
            .groups
            .iter()
            .map(|g| {
                let wanted = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.clone(), t.partition_indexes.clone()))
                        .collect::<Vec<_>>()
                });
                group_answer(broker, owned(&g.group_id), wanted)
            })
            .collect();
        return response;
    }
    let group_id = owned(&request.group_id);
    if let Err(error) = check_stored_group_id(&group_id) {
        response.error_code = error.code();
        return response;
    }
    let wanted = request.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.clone(), t.partition_indexes.clone()))
            .collect::<Vec<_>>()
    });
    for (name, answers) in answers(broker, &group_id, wanted) {
        let partitions = answers
            .into_iter()
            .map(|a| {
                let (offset, epoch, metadata) = fields(a.committed.as_ref(), version >= 5);
                OffsetFetchResponsePartition::default()
                    .with_partition_index(a.partition)
                    .with_committed_offset(offset)
                    .with_committed_leader_epoch(epoch)
                    .with_metadata(Some(metadata))
            })
            .collect();
        response.topics.push(
            OffsetFetchResponseTopic::default()
                .with_name(name)
                .with_partitions(partitions),
        );
    }
    response
}

fn group_answer(
    broker: &Broker,
    group_id: String,
    wanted: Option<Vec<(TopicName, Vec<i32>)>>,
) -> OffsetFetchResponseGroup {
    let mut group = OffsetFetchResponseGroup::default().with_group_id(str_bytes(&group_id).into());
    if let Err(error) = check_stored_group_id(&group_id) {
        group.error_code = error.code();
        return group;
    }
    for (name, answers) in answers(broker, &group_id, wanted) {
        let partitions = answers
            .into_iter()
            .map(|a| {
                let (offset, epoch, metadata) = fields(a.committed.as_ref(), true);
                OffsetFetchResponsePartitions::default()
                    .with_partition_index(a.partition)
                    .with_committed_offset(offset)
                    .with_committed_leader_epoch(epoch)
                    .with_metadata(Some(metadata))
            })
            .collect();
        group.topics.push(
            OffsetFetchResponseTopics::default()
                .with_name(name)
                .with_partitions(partitions),
        );
    }
    group
}

/// The requested partitions (or, with `None`, every committed one) grouped by topic.
fn answers(
    broker: &Broker,
    group_id: &str,
    wanted: Option<Vec<(TopicName, Vec<i32>)>>,
) -> Vec<(TopicName, Vec<Answer>)> {
    let offsets = broker.groups.offsets();
    match wanted {
        Some(topics) => topics
            .into_iter()
            .map(|(name, partitions)| {
                let answers = partitions
                    .into_iter()
                    .map(|partition| Answer {
                        partition,
                        committed: offsets.fetch(group_id, name.as_str(), partition),
                    })
                    .collect();
                (name, answers)
            })
            .collect(),
        None => {
            let mut out: Vec<(TopicName, Vec<Answer>)> = Vec::new();
            for ((topic, partition), committed) in offsets.group_offsets(group_id) {
                let answer = Answer {
                    partition,
                    committed: Some(committed),
                };
                match out.last_mut() {
                    Some((name, answers)) if name.as_str() == topic => answers.push(answer),
                    _ => out.push((str_bytes(&topic).into(), vec![answer])),
                }
            }
            out
        }
    }
}

/// (offset, leader epoch, metadata) as sent: -1 / -1 / "" when nothing is committed.
fn fields(committed: Option<&CommittedOffset>, with_epoch: bool) -> (i64, i32, StrBytes) {
    match committed {
        None => (-1, -1, StrBytes::default()),
        Some(c) => {
            let epoch = if with_epoch { c.leader_epoch } else { -1 };
            (
                c.offset,
                epoch,
                str_bytes(c.metadata.as_deref().unwrap_or_default()),
            )
        }
    }
}
