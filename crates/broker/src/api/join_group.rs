//! JoinGroup (v0–9): parked until the group's join phase completes, then answered with the
//! generation, the chosen protocol, the leader and (for the leader) every member's metadata.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse, RequestHeader};

use super::Outcome;
use crate::broker::Broker;
use crate::group::wire::{check_group_id, code, owned, owned_opt, str_bytes};
use crate::group::{JoinRequest, JoinResult};

pub fn handle(
    broker: &Arc<Broker>,
    header: &RequestHeader,
    request: JoinGroupRequest,
    version: i16,
    peer: std::net::SocketAddr,
) -> Outcome<JoinGroupResponse> {
    let group_id = owned(&request.group_id);
    if let Err(error) = check_group_id(&group_id) {
        return Outcome::Now(encode(
            JoinResult::error(error, &owned(&request.member_id)),
            version,
        ));
    }
    let join = JoinRequest {
        member_id: owned(&request.member_id),
        group_instance_id: owned_opt(request.group_instance_id.as_ref()).filter(|_| version >= 5),
        client_id: owned_opt(header.client_id.as_ref()).unwrap_or_default(),
        // As Kafka shows it (Java's InetAddress::toString): "/127.0.0.1".
        client_host: format!("/{}", peer.ip()),
        session_timeout_ms: request.session_timeout_ms,
        // v0 has no rebalance timeout: Kafka uses the session timeout.
        rebalance_timeout_ms: if version >= 1 {
            request.rebalance_timeout_ms
        } else {
            request.session_timeout_ms
        },
        protocol_type: owned(&request.protocol_type),
        protocols: request
            .protocols
            .iter()
            .map(|p| (owned(&p.name), p.metadata.clone()))
            .collect(),
        require_known_member_id: version >= 4,
    };
    let broker = broker.clone();
    Outcome::Later(Box::pin(async move {
        let result = broker.groups.join(&group_id, join).await;
        encode(result, version)
    }))
}

fn encode(result: JoinResult, version: i16) -> JoinGroupResponse {
    let mut response = JoinGroupResponse::default();
    response.error_code = code(result.error);
    response.generation_id = result.generation_id;
    response.protocol_type = result.protocol_type.as_deref().map(str_bytes);
    // Non-nullable before v7: an unknown protocol is the empty string.
    response.protocol_name = Some(str_bytes(
        result.protocol_name.as_deref().unwrap_or_default(),
    ));
    if version >= 7 {
        response.protocol_name = result.protocol_name.as_deref().map(str_bytes);
    }
    response.leader = str_bytes(&result.leader);
    response.skip_assignment = version >= 9 && result.skip_assignment;
    response.member_id = str_bytes(&result.member_id);
    response.members = result
        .members
        .into_iter()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(str_bytes(&m.member_id))
                .with_group_instance_id(
                    m.group_instance_id
                        .as_deref()
                        .map(str_bytes)
                        .filter(|_| version >= 5),
                )
                .with_metadata(m.metadata)
        })
        .collect();
    if response.error_code == ResponseError::MemberIdRequired.code() && version < 4 {
        // Unreachable (v4+ only); keep old clients on a code they know.
        response.error_code = ResponseError::UnknownMemberId.code();
    }
    response
}
