//! CreatePartitions: grow a topic's partition count.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::errors;
use crate::repeated::{Occurrence, occurrences};

/// A topic listed more than once is answered once, refused, and left as it
/// is (ControllerApis.createPartitions): which count was meant is the
/// client's to say, not the last entry's.
pub fn handle(broker: &Arc<Broker>, request: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let names: Vec<_> = request.topics.iter().map(|t| t.name.clone()).collect();
    let results = request
        .topics
        .into_iter()
        .zip(occurrences(&names))
        .filter_map(|(t, occurrence)| {
            let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            let outcome = match occurrence {
                Occurrence::Again => return None,
                Occurrence::First => Err((
                    ResponseError::InvalidRequest,
                    "Duplicate topic name.".to_owned(),
                )),
                Occurrence::Only => broker
                    .topics
                    .add_partitions(&t.name, t.count, request.validate_only)
                    .map_err(|e| (errors::topic_error(&e), errors::message(&e))),
            };
            Some(match outcome {
                Ok(()) => result,
                Err((code, message)) => result
                    .with_error_code(code.code())
                    .with_error_message(Some(StrBytes::from_string(message))),
            })
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}
