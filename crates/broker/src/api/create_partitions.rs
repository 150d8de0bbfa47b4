//! CreatePartitions: grow a topic's partition count.

use std::sync::Arc;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::errors;

pub fn handle(broker: &Arc<Broker>, request: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let results = request
        .topics
        .into_iter()
        .map(|t| {
            let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            match broker
                .topics
                .add_partitions(&t.name, t.count, request.validate_only)
            {
                Ok(()) => result,
                Err(e) => result
                    .with_error_code(errors::topic_error(&e).code())
                    .with_error_message(Some(StrBytes::from_string(errors::message(&e)))),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}
