//! DeleteTopics: by name (v1–5) or by name or id (v6).
//!
//! The entries are checked as Kafka's controller checks them
//! (ControllerApis.deleteTopics) before anything is deleted: a name or an id
//! listed twice, an entry with both or neither, and a name whose topic's id
//! is listed too are each answered once with INVALID_REQUEST, and their
//! topics are kept.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::broker::Broker;
use crate::errors;
use crate::repeated::{Occurrence, occurrences};

/// What one entry of the request names.
#[derive(Debug, PartialEq, Eq, Hash)]
enum Wanted {
    Name(TopicName),
    Id(Uuid),
    /// Refused as it stands; the index keeps it from matching another.
    Invalid {
        index: usize,
        name: Option<TopicName>,
        id: Uuid,
        why: &'static str,
    },
}

pub fn handle(
    broker: &Arc<Broker>,
    request: DeleteTopicsRequest,
    version: i16,
) -> DeleteTopicsResponse {
    let wanted = entries(request, version);
    let seen = occurrences(&wanted);
    let conflicts = names_of_listed_ids(broker, &wanted, &seen);
    let conflicting_ids: HashSet<Uuid> = conflicts.values().copied().collect();
    let responses = wanted
        .into_iter()
        .zip(seen)
        .filter_map(|(wanted, occurrence)| match (wanted, occurrence) {
            (_, Occurrence::Again) => None,
            (Wanted::Invalid { name, id, why, .. }, _) => Some(refused(name, id, why)),
            (Wanted::Name(name), Occurrence::First) => {
                Some(refused(Some(name), Uuid::nil(), "Duplicate topic name."))
            }
            (Wanted::Id(id), Occurrence::First) => Some(refused(None, id, "Duplicate topic id.")),
            // Answered with the name that resolves to it.
            (Wanted::Id(id), Occurrence::Only) if conflicting_ids.contains(&id) => None,
            (Wanted::Id(id), Occurrence::Only) => Some(delete_one(broker, None, id)),
            (Wanted::Name(name), Occurrence::Only) => match conflicts.get(&name) {
                Some(&id) => Some(refused(
                    Some(name),
                    id,
                    "The provided topic name maps to an ID that was already supplied.",
                )),
                None => Some(delete_one(broker, Some(name), Uuid::nil())),
            },
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}

/// The request's entries: names before v6; from v6 a name or an id, not both.
fn entries(request: DeleteTopicsRequest, version: i16) -> Vec<Wanted> {
    if version < 6 {
        return request.topic_names.into_iter().map(Wanted::Name).collect();
    }
    request
        .topics
        .into_iter()
        .enumerate()
        .map(|(index, t)| match (t.name, t.topic_id.is_nil()) {
            (Some(name), true) => Wanted::Name(name),
            (None, false) => Wanted::Id(t.topic_id),
            (name, nil) => Wanted::Invalid {
                index,
                id: t.topic_id,
                why: if nil {
                    "Neither topic name nor id were specified."
                } else {
                    "You may not specify both topic name and topic id."
                },
                name,
            },
        })
        .collect()
}

/// Names listed once whose topic's id is listed once too, with that id: the
/// same topic asked for twice, which Kafka refuses (by the name) and keeps.
fn names_of_listed_ids(
    broker: &Broker,
    wanted: &[Wanted],
    seen: &[Occurrence],
) -> HashMap<TopicName, Uuid> {
    let listed = |o: &Occurrence| *o == Occurrence::Only;
    let ids: HashSet<Uuid> = wanted
        .iter()
        .zip(seen)
        .filter_map(|(w, o)| match w {
            Wanted::Id(id) if listed(o) => Some(*id),
            _ => None,
        })
        .collect();
    wanted
        .iter()
        .zip(seen)
        .filter_map(|(w, o)| match w {
            Wanted::Name(name) if listed(o) => {
                let id = broker.topics.get(name)?.id;
                ids.contains(&id).then(|| (name.clone(), id))
            }
            _ => None,
        })
        .collect()
}

fn refused(name: Option<TopicName>, id: Uuid, why: &str) -> DeletableTopicResult {
    DeletableTopicResult::default()
        .with_name(name)
        .with_topic_id(id)
        .with_error_code(ResponseError::InvalidRequest.code())
        .with_error_message(Some(StrBytes::from_string(why.to_owned())))
}

fn delete_one(broker: &Broker, name: Option<TopicName>, id: Uuid) -> DeletableTopicResult {
    let resolved = match &name {
        Some(name) => Some(name.to_string()),
        None => broker.topics.get_by_id(id).map(|t| t.name.clone()),
    };
    let result = DeletableTopicResult::default()
        .with_name(name)
        .with_topic_id(id);
    let Some(resolved) = resolved else {
        return result.with_error_code(ResponseError::UnknownTopicId.code());
    };
    match broker.topics.delete(&resolved) {
        Ok(topic) => {
            match broker.groups.offsets().delete_topic(&resolved) {
                Ok(_) => {
                    if let Err(e) = broker.topics.finish_deletion(&resolved) {
                        // Still pending: the next start drops the offsets again (a no-op).
                        tracing::warn!(topic = %resolved, error = %errors::message(&e), "cannot record a finished topic deletion");
                    }
                }
                // The topic is gone either way; the deletion stays pending
                // and the next start drops the offsets.
                Err(e) => {
                    tracing::warn!(topic = %resolved, error = %e, "cannot drop committed offsets of a deleted topic");
                }
            }
            result
                .with_name(Some(TopicName(StrBytes::from_string(resolved))))
                .with_topic_id(topic.id)
        }
        Err(e) => result
            .with_error_code(errors::topic_error(&e).code())
            .with_error_message(Some(StrBytes::from_string(errors::message(&e)))),
    }
}
