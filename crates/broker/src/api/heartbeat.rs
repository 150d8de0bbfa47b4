//! Heartbeat (v0–4): keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::broker::Broker;
use crate::group::wire::{check_group_id, owned, result_code};

pub fn handle(broker: &Broker, request: HeartbeatRequest, version: i16) -> HeartbeatResponse {
    let group_id = owned(&request.group_id);
    let instance = request
        .group_instance_id
        .as_ref()
        .filter(|_| version >= 3)
        .map(|s| s.as_str());
    let result = check_group_id(&group_id).and_then(|()| {
        broker.groups.heartbeat(
            &group_id,
            request.member_id.as_str(),
            instance,
            request.generation_id,
        )
    });
    HeartbeatResponse::default().with_error_code(result_code(&result))
}
