//! DeleteTopics: by name (v1–5) or by name or id (v6).

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::broker::Broker;
use crate::errors;

pub fn handle(
    broker: &Arc<Broker>,
    request: DeleteTopicsRequest,
    version: i16,
) -> DeleteTopicsResponse {
    let wanted: Vec<(Option<TopicName>, Uuid)> = if version >= 6 {
        request
            .topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    } else {
        request
            .topic_names
            .into_iter()
            .map(|n| (Some(n), Uuid::nil()))
            .collect()
    };
    let responses = wanted
        .into_iter()
        .map(|(name, id)| delete_one(broker, name, id))
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
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
