//! DescribeConfigs: a topic's effective configs (set on the topic, or the
//! broker default). Broker resources describe as an empty list.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;

/// Kafka's ConfigResource.Type values.
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;
/// Kafka's ConfigSource values used here.
pub const SOURCE_TOPIC: i8 = 1;
pub const SOURCE_DEFAULT: i8 = 5;

pub fn handle(
    broker: &Arc<Broker>,
    request: DescribeConfigsRequest,
    _version: i16,
) -> DescribeConfigsResponse {
    let results = request
        .resources
        .into_iter()
        .map(|resource| describe(broker, resource, request.include_synonyms))
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn describe(
    broker: &Broker,
    resource: DescribeConfigsResource,
    include_synonyms: bool,
) -> DescribeConfigsResult {
    let result = DescribeConfigsResult::default()
        .with_resource_type(resource.resource_type)
        .with_resource_name(resource.resource_name.clone());
    match resource.resource_type {
        RESOURCE_BROKER => result,
        RESOURCE_TOPIC => match broker.topics.get(&resource.resource_name) {
            Some(topic) => {
                let wanted = resource.configuration_keys.as_ref();
                let configs = topic
                    .config
                    .entries(&broker.config)
                    .into_iter()
                    .filter(|e| wanted.is_none_or(|keys| keys.iter().any(|k| k.as_str() == e.key)))
                    .map(|e| {
                        let source = if e.is_override {
                            SOURCE_TOPIC
                        } else {
                            SOURCE_DEFAULT
                        };
                        let value = Some(StrBytes::from_string(e.value));
                        let synonyms = if include_synonyms {
                            vec![
                                DescribeConfigsSynonym::default()
                                    .with_name(StrBytes::from_static_str(e.key))
                                    .with_value(value.clone())
                                    .with_source(source),
                            ]
                        } else {
                            Vec::new()
                        };
                        DescribeConfigsResourceResult::default()
                            .with_name(StrBytes::from_static_str(e.key))
                            .with_value(value)
                            .with_config_source(source)
                            .with_synonyms(synonyms)
                    })
                    .collect();
                result.with_configs(configs)
            }
            // With a message too: some clients (Sarama) look only at it.
            None => result
                .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                .with_error_message(Some(StrBytes::from_string(format!(
                    "topic {} does not exist",
                    resource.resource_name.as_str()
                )))),
        },
        other => result
            .with_error_code(ResponseError::InvalidRequest.code())
            .with_error_message(Some(StrBytes::from_string(format!(
                "resource type {other} is not served"
            )))),
    }
}
