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
use crate::repeated::{Occurrence, occurrences};
use crate::topics::{TopicConfig, TopicError};

pub fn handle(broker: &Arc<Broker>, request: AlterConfigsRequest) -> AlterConfigsResponse {
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
                Occurrence::Only => replace(broker, &resource, request.validate_only),
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
    check_keys(
        resource
            .configs
            .iter()
            .map(|c| (c.name.as_str(), c.value.is_some())),
    )?;
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

/// Every entry of a resource listed twice is refused, and none is applied:
/// Kafka's broker refuses them before forwarding the rest to its controller
/// (ConfigAdminManager.preprocess), for AlterConfigs and
/// IncrementalAlterConfigs alike.
pub(super) fn named_twice() -> (ResponseError, String) {
    (
        ResponseError::InvalidRequest,
        "Each resource must appear at most once.".to_owned(),
    )
}

/// Refuses a resource that names a key twice (which of two values, or a set
/// and a delete, would win is the client's mistake to hear about, not an
/// order to guess at) or sets one to null, as Kafka does. Takes each entry's
/// key and whether it carries the value its operation needs.
pub(super) fn check_keys<'a>(
    entries: impl Iterator<Item = (&'a str, bool)>,
) -> Result<(), (ResponseError, String)> {
    let mut seen = std::collections::BTreeSet::new();
    let mut repeated = std::collections::BTreeSet::new();
    for (key, has_value) in entries {
        if !has_value {
            return Err((
                ResponseError::InvalidRequest,
                format!("Null value not supported for : {key}"),
            ));
        }
        if !seen.insert(key) {
            repeated.insert(key);
        }
    }
    if repeated.is_empty() {
        Ok(())
    } else {
        let keys: Vec<&str> = repeated.into_iter().collect();
        Err((
            ResponseError::InvalidRequest,
            format!("Error due to duplicate config keys: {}", keys.join(", ")),
        ))
    }
}

fn reject(error: &TopicError) -> (ResponseError, String) {
    (errors::topic_error(error), errors::message(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_named_twice_or_set_to_null_is_an_invalid_request() {
        assert_eq!(check_keys([("a", true), ("b", true)].into_iter()), Ok(()));
        assert_eq!(
            check_keys([("a", true), ("b", true), ("a", true), ("b", true)].into_iter()),
            Err((
                ResponseError::InvalidRequest,
                "Error due to duplicate config keys: a, b".to_owned()
            ))
        );
        assert_eq!(
            check_keys([("a", false)].into_iter()),
            Err((
                ResponseError::InvalidRequest,
                "Null value not supported for : a".to_owned()
            ))
        );
    }
}
