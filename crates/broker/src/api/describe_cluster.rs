//! DescribeCluster: this one node, which is also the controller.
//!
//! It answers as a broker endpoint (v1's `endpoint_type` 1): a request for
//! the controller endpoint (2) or an unknown type is refused as Kafka refuses
//! it, INVALID_REQUEST at v0 (which cannot carry the newer codes).

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use crate::authorized_operations::Resource;
use crate::broker::Broker;

/// Kafka's `EndpointType` ids.
const BROKER_ENDPOINT: i8 = 1;
const CONTROLLER_ENDPOINT: i8 = 2;

pub fn handle(
    broker: &Arc<Broker>,
    request: DescribeClusterRequest,
    version: i16,
) -> DescribeClusterResponse {
    if request.endpoint_type != BROKER_ENDPOINT {
        let (code, message) = if request.endpoint_type == CONTROLLER_ENDPOINT {
            (
                ResponseError::MismatchedEndpointType,
                "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER".to_owned(),
            )
        } else {
            (
                ResponseError::UnsupportedEndpointType,
                format!("Unsupported endpoint type {}", request.endpoint_type),
            )
        };
        let code = if version == 0 {
            ResponseError::InvalidRequest
        } else {
            code
        };
        return DescribeClusterResponse::default()
            .with_error_code(code.code())
            .with_error_message(Some(StrBytes::from_string(message)));
    }
    let node = DescribeClusterBroker::default()
        .with_broker_id(BrokerId(broker.node_id()))
        .with_host(StrBytes::from_string(broker.advertised_host.clone()))
        .with_port(broker.advertised_port);
    DescribeClusterResponse::default()
        .with_endpoint_type(BROKER_ENDPOINT)
        .with_cluster_id(StrBytes::from_string(
            broker.topics.cluster_id().to_string(),
        ))
        .with_controller_id(BrokerId(broker.node_id()))
        .with_brokers(vec![node])
        .with_cluster_authorized_operations(
            Resource::Cluster.answer(request.include_cluster_authorized_operations),
        )
}
