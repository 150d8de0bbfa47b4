//! IncrementalAlterConfigs: set or delete single topic configs.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::alter_configs::named_twice;
use super::describe_configs::RESOURCE_TOPIC;
use crate::broker::Broker;
use crate::errors;
use crate::repeated::{Occurrence, occurrences};
use crate::topics::TopicError;

const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

pub fn handle(
    broker: &Arc<Broker>,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let keys: Vec<_> = request
        .resources
        .iter()
        .map(|r| (r.resource_type, r.resource_name.clone()))
        .collect();
    let responses = request
        .resources
        .into_iter()
        .zip(occurrences(&keys))
        .map(|(resource, occurrence)| {
            let response = AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let outcome = match occurrence {
                Occurrence::Only => alter(broker, &resource, request.validate_only),
                Occurrence::First | Occurrence::Again => Err(named_twice()),
            };
            match outcome {
                // Null, as Kafka answers a success (the codec's default is "").
                Ok(()) => response.with_error_message(None),
                Err((code, message)) => response
                    .with_error_code(code.code())
                    .with_error_message(Some(StrBytes::from_string(message))),
            }
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

fn alter(
    broker: &Broker,
    resource: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), (ResponseError, String)> {
    if resource.resource_type != RESOURCE_TOPIC {
        return Err((
            ResponseError::InvalidRequest,
            "only topic configs can be altered".into(),
        ));
    }
    let name = resource.resource_name.as_str();
    let topic = broker.topics.get(name).ok_or_else(|| {
        (
            ResponseError::UnknownTopicOrPartition,
            format!("unknown topic {name}"),
        )
    })?;
    super::alter_configs::check_keys(resource.configs.iter().map(|c| {
        (
            c.name.as_str(),
            c.config_operation == OP_DELETE || c.value.is_some(),
        )
    }))?;
    let mut config = topic.config.clone();
    for entry in &resource.configs {
        let key = entry.name.as_str();
        let changed = match (entry.config_operation, &entry.value) {
            (OP_SET, Some(value)) => config.set(key, value),
            (OP_DELETE, _) => config.remove(key),
            // On a list-typed key only (`cleanup.policy`, the throttled
            // replica lists); on any other, INVALID_CONFIG, as Kafka answers.
            (OP_APPEND, Some(value)) => config.change_list(key, value, false),
            (OP_SUBTRACT, Some(value)) => config.change_list(key, value, true),
            (op, _) => {
                return Err((
                    ResponseError::InvalidRequest,
                    format!("operation {op} on {key} is not supported"),
                ));
            }
        };
        changed.map_err(|e| reject(&TopicError::Config(e)))?;
    }
    broker
        .topics
        .set_config(name, config, validate_only)
        .map_err(|e| reject(&e))
}

fn reject(error: &TopicError) -> (ResponseError, String) {
    (errors::topic_error(error), errors::message(error))
}
