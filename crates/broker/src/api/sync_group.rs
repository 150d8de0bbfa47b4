//! SyncGroup (v0–5): the leader's assignments settle the generation; every member gets its own
//! bytes back (an empty assignment if the leader gave it none).

use std::sync::Arc;

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::Outcome;
use crate::broker::Broker;
use crate::group::wire::{check_group_id, code, owned, owned_opt, str_bytes};
use crate::group::{SyncRequest, SyncResult};

pub fn handle(
    broker: &Arc<Broker>,
    request: SyncGroupRequest,
    version: i16,
) -> Outcome<SyncGroupResponse> {
    let group_id = owned(&request.group_id);
    if let Err(error) = check_group_id(&group_id) {
        return Outcome::Now(encode(SyncResult::error(error), version));
    }
    let sync = SyncRequest {
        member_id: owned(&request.member_id),
        group_instance_id: owned_opt(request.group_instance_id.as_ref()).filter(|_| version >= 3),
        generation_id: request.generation_id,
        protocol_type: owned_opt(request.protocol_type.as_ref()).filter(|_| version >= 5),
        protocol_name: owned_opt(request.protocol_name.as_ref()).filter(|_| version >= 5),
        assignments: request
            .assignments
            .iter()
            .map(|a| (owned(&a.member_id), a.assignment.clone()))
            .collect(),
    };
    let broker = broker.clone();
    Outcome::Later(Box::pin(async move {
        let result = broker.groups.sync(&group_id, sync).await;
        encode(result, version)
    }))
}

fn encode(result: SyncResult, version: i16) -> SyncGroupResponse {
    let mut response = SyncGroupResponse::default();
    response.error_code = code(result.error);
    if version >= 5 {
        response.protocol_type = result.protocol_type.as_deref().map(str_bytes);
        response.protocol_name = result.protocol_name.as_deref().map(str_bytes);
    }
    response.assignment = result.assignment;
    response
}
