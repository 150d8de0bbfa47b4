//! OffsetDelete (v0): delete a group's committed offsets for some partitions — refused per
//! topic while a live member of the group is subscribed to it.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{
    ConsumerProtocolSubscription, OffsetDeleteRequest, OffsetDeleteResponse,
};
use kafka_protocol::protocol::Decodable;

use super::Outcome;
use crate::broker::Broker;
use crate::group::GroupState;
use crate::group::wire::{check_group_id, owned};

pub fn handle(broker: &Arc<Broker>, request: OffsetDeleteRequest) -> Outcome<OffsetDeleteResponse> {
    let group_id = owned(&request.group_id);
    let known =
        broker.groups.offsets().has_group(&group_id) || broker.groups.describe(&group_id).is_some();
    let group_error = match check_group_id(&group_id) {
        Err(e) => Some(e),
        Ok(()) if !known => Some(ResponseError::GroupIdNotFound),
        Ok(()) => None,
    };
    if let Some(error) = group_error {
        return Outcome::Now(OffsetDeleteResponse::default().with_error_code(error.code()));
    }
    let subscribed = subscribed_topics(broker, &group_id);
    let mut entries = Vec::new();
    let topics: Vec<OffsetDeleteResponseTopic> = request
        .topics
        .iter()
        .map(|t| {
            let refused = subscribed
                .as_ref()
                .is_none_or(|s| s.iter().any(|name| name == t.name.as_str()));
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut out = OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index);
                    if refused {
                        out.error_code = ResponseError::GroupSubscribedToTopic.code();
                    } else {
                        entries.push((owned(&t.name), p.partition_index, None));
                    }
                    out
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    let response = OffsetDeleteResponse::default().with_topics(topics);
    let offsets = broker.groups.offsets().clone();
    Outcome::Later(Box::pin(async move {
        let written = tokio::task::spawn_blocking(move || offsets.commit(&group_id, entries)).await;
        match written {
            Ok(Ok(())) => response,
            _ => response.with_error_code(ResponseError::CoordinatorNotAvailable.code()),
        }
    }))
}

/// Topics the group's live members subscribe to: empty for an empty group; `None` (treat every
/// topic as subscribed, as Kafka does "to be safe") when a member's subscription cannot be
/// read or no protocol is chosen yet.
fn subscribed_topics(broker: &Broker, group_id: &str) -> Option<Vec<String>> {
    let Some((protocol_type, state, metadata)) = broker.groups.member_metadata(group_id) else {
        return Some(Vec::new());
    };
    if matches!(state, GroupState::Empty | GroupState::Dead) {
        return Some(Vec::new());
    }
    if protocol_type != "consumer" {
        return None;
    }
    let mut topics = Vec::new();
    for bytes in metadata? {
        topics.extend(decode_subscription(bytes)?);
    }
    Some(topics)
}

fn decode_subscription(mut bytes: Bytes) -> Option<Vec<String>> {
    if bytes.len() < 2 {
        return None;
    }
    let version = i16::from_be_bytes([bytes[0], bytes[1]]);
    let mut body = bytes.split_off(2);
    // Newer subscription versions start with the same topic list; read them as the newest we know.
    let subscription = ConsumerProtocolSubscription::decode(&mut body, version.clamp(0, 3)).ok()?;
    Some(
        subscription
            .topics
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect(),
    )
}
