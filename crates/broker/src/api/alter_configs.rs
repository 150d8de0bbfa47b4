//! AlterConfigs: replace a topic's whole set of configs.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::describe_configs::RESOURCE_TOPIC;
use crate::broker::Broker;
use crate::errors;
use crate::topics::{TopicConfig, TopicError};

pub fn handle(broker: &Arc<Broker>, request: AlterConfigsRequest) -> AlterConfigsResponse {
    let responses = request
        .resources
        .into_iter()
        .map(|resource| {
            let response = AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            match replace(broker, &resource, request.validate_only) {
                Ok(()) => response,
                Err((code, message)) => response
                    .with_error_code(code.code())
                    .with_error_message(Some(StrBytes::from_string(message))),
            }
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

fn replace(
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
    let map: BTreeMap<String, String> = resource
        .configs
        .iter()
        .filter_map(|c| {
            c.value
                .as_ref()
                .map(|v| (c.name.to_string(), v.to_string()))
        })
        .collect();
    let config = TopicConfig::from_map(map).map_err(|e| reject(&TopicError::Config(e)))?;
    broker
        .topics
        .set_config(resource.resource_name.as_str(), config, validate_only)
        .map_err(|e| reject(&e))
}

fn reject(error: &TopicError) -> (ResponseError, String) {
    (errors::topic_error(error), errors::message(error))
}
