//! DescribeCluster: this one node, which is also the controller.

use std::sync::Arc;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use crate::authorized_operations::Resource;
use crate::broker::Broker;

pub fn handle(broker: &Arc<Broker>, request: DescribeClusterRequest) -> DescribeClusterResponse {
    let node = DescribeClusterBroker::default()
        .with_broker_id(BrokerId(broker.node_id()))
        .with_host(StrBytes::from_string(broker.advertised_host.clone()))
        .with_port(broker.advertised_port);
    DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(
            broker.topics.cluster_id().to_string(),
        ))
        .with_controller_id(BrokerId(broker.node_id()))
        .with_brokers(vec![node])
        .with_cluster_authorized_operations(
            Resource::Cluster.answer(request.include_cluster_authorized_operations),
        )
}
