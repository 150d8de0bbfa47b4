//! FindCoordinator (v0–4): this single node coordinates every group. Transaction coordinator
//! lookups also point here, so a transactional client reaches InitProducerId and gets a clear
//! refusal there instead of retrying the lookup forever.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::group::wire::str_bytes;

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

pub fn handle(
    broker: &Broker,
    request: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let keys = if version >= 4 {
        request.coordinator_keys
    } else {
        vec![request.key]
    };
    let known_type = matches!(request.key_type, KEY_TYPE_GROUP | KEY_TYPE_TRANSACTION);
    let coordinators: Vec<Coordinator> = keys
        .into_iter()
        .map(|key| coordinator(broker, key, known_type))
        .collect();
    let mut response = FindCoordinatorResponse::default();
    if version >= 4 {
        response.coordinators = coordinators;
    } else if let Some(c) = coordinators.into_iter().next() {
        response.error_code = c.error_code;
        response.error_message = if version >= 1 { c.error_message } else { None };
        response.node_id = c.node_id;
        response.host = c.host;
        response.port = c.port;
    }
    response
}

fn coordinator(broker: &Broker, key: StrBytes, known_type: bool) -> Coordinator {
    let mut c = Coordinator::default().with_key(key);
    if known_type {
        c.node_id = BrokerId(broker.node_id());
        c.host = str_bytes(&broker.advertised_host);
        c.port = broker.advertised_port;
    } else {
        c.node_id = BrokerId(-1);
        c.error_code = ResponseError::InvalidRequest.code();
        c.error_message = Some(str_bytes("unknown coordinator key type"));
    }
    c
}
