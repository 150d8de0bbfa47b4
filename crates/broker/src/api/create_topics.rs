//! CreateTopics: one node, so replication factor 1 (or -1, "default").

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::errors;
use crate::repeated::{Occurrence, occurrences};
use crate::topics::{TopicConfig, TopicConfigError, TopicError};

/// `config_source` of a value set on the topic (Kafka's DYNAMIC_TOPIC_CONFIG).
const SOURCE_TOPIC: i8 = 1;
/// `config_source` of a broker default (Kafka's DEFAULT_CONFIG).
const SOURCE_DEFAULT: i8 = 5;

/// A name listed more than once is answered once, refused, and none of its
/// entries is created (ControllerApis.createTopics); the others are created.
pub fn handle(
    broker: &Arc<Broker>,
    request: CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    let names: Vec<_> = request.topics.iter().map(|t| t.name.clone()).collect();
    let results = request
        .topics
        .into_iter()
        .zip(occurrences(&names))
        .filter_map(|(topic, occurrence)| match occurrence {
            Occurrence::Only => Some(create_one(broker, topic, request.validate_only, version)),
            Occurrence::First => Some(failed(
                CreatableTopicResult::default().with_name(topic.name),
                ResponseError::InvalidRequest,
                "Duplicate topic name.".into(),
            )),
            Occurrence::Again => None,
        })
        .collect();
    CreateTopicsResponse::default().with_topics(results)
}

fn create_one(
    broker: &Broker,
    topic: CreatableTopic,
    validate_only: bool,
    version: i16,
) -> CreatableTopicResult {
    // A success's message is null, as Kafka answers it (the codec's default is "").
    let result = CreatableTopicResult::default()
        .with_name(topic.name.clone())
        .with_error_message(None);
    if !matches!(topic.replication_factor, -1 | 1) {
        let message = format!(
            "replication factor {} on a single-node broker",
            topic.replication_factor
        );
        return failed(result, ResponseError::InvalidReplicationFactor, message);
    }
    let partitions = match (topic.num_partitions, topic.assignments.len()) {
        (-1, 0) => broker.config.default_partitions,
        (-1, n) => {
            if let Err((code, message)) = check_assignments(&topic, broker.config.node_id) {
                return failed(result, code, message);
            }
            i32::try_from(n).unwrap_or(i32::MAX)
        }
        (count, 0) => count,
        _ => {
            return failed(
                result,
                ResponseError::InvalidRequest,
                "a manual partition assignment was specified, but numPartitions was not set to -1"
                    .into(),
            );
        }
    };
    let config = match configs_of(&topic) {
        Ok(config) => config,
        Err(e) => return failed(result, errors::topic_error(&e), errors::message(&e)),
    };
    match broker
        .topics
        .create(&topic.name, partitions, config, validate_only)
    {
        Ok(created) => {
            let mut result = result
                .with_topic_id(created.id)
                .with_num_partitions(partitions)
                .with_replication_factor(1);
            if version >= 5 {
                result.configs = Some(described_configs(broker, &created.config));
            }
            result
        }
        Err(e) => failed(result, errors::topic_error(&e), errors::message(&e)),
    }
}

/// A manual assignment must place partitions 0..n, each on this node alone,
/// as Kafka checks it against the brokers it has registered.
fn check_assignments(topic: &CreatableTopic, node_id: i32) -> Result<(), (ResponseError, String)> {
    let invalid = |message: String| (ResponseError::InvalidReplicaAssignment, message);
    if topic.replication_factor != -1 {
        return Err((
            ResponseError::InvalidRequest,
            "a manual partition assignment was specified, but replication factor was not set to -1"
                .into(),
        ));
    }
    let mut indexes: Vec<i32> = topic
        .assignments
        .iter()
        .map(|a| a.partition_index)
        .collect();
    indexes.sort_unstable();
    if indexes
        .iter()
        .zip(0..)
        .any(|(&index, expected)| index != expected)
    {
        return Err(invalid(
            "partitions should be a consecutive 0-based integer sequence".into(),
        ));
    }
    for assignment in &topic.assignments {
        let partition = assignment.partition_index;
        match assignment.broker_ids.as_slice() {
            [] => {
                return Err(invalid(format!(
                    "the manual partition assignment of partition {partition} is an empty replica list"
                )));
            }
            [only] if only.0 == node_id => {}
            [only] => {
                return Err(invalid(format!(
                    "the manual partition assignment includes broker {}, but no such broker is registered (this node is {node_id})",
                    only.0
                )));
            }
            _ => {
                return Err(invalid(format!(
                    "the manual partition assignment of partition {partition} has {} replicas on a single-node broker",
                    assignment.broker_ids.len()
                )));
            }
        }
    }
    Ok(())
}

fn configs_of(topic: &CreatableTopic) -> Result<TopicConfig, TopicError> {
    let mut map = BTreeMap::new();
    for entry in &topic.configs {
        let Some(value) = &entry.value else {
            return Err(TopicError::Config(TopicConfigError::InvalidValue {
                key: entry.name.to_string(),
                value: "null".into(),
                reason: "a value is required".into(),
            }));
        };
        map.insert(entry.name.to_string(), value.to_string());
    }
    Ok(TopicConfig::from_map(map)?)
}

fn described_configs(broker: &Broker, config: &TopicConfig) -> Vec<CreatableTopicConfigs> {
    config
        .entries(&broker.config)
        .into_iter()
        .map(|e| {
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_static_str(e.key))
                .with_value(Some(StrBytes::from_string(e.value)))
                .with_config_source(if e.is_override {
                    SOURCE_TOPIC
                } else {
                    SOURCE_DEFAULT
                })
        })
        .collect()
}

fn failed(
    result: CreatableTopicResult,
    code: ResponseError,
    message: String,
) -> CreatableTopicResult {
    result
        .with_error_code(code.code())
        .with_error_message(Some(StrBytes::from_string(message)))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
}
