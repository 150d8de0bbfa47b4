//! LeaveGroup (v0–5): one member (v0–2) or a batch of members by member id or instance id (v3+).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use crate::broker::Broker;
use crate::group::LeavingMember;
use crate::group::wire::{check_group_id, owned, owned_opt, result_code, str_bytes};

pub fn handle(broker: &Broker, request: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
    let group_id = owned(&request.group_id);
    let leaving: Vec<LeavingMember> = if version >= 3 {
        request
            .members
            .iter()
            .map(|m| LeavingMember {
                member_id: owned(&m.member_id),
                group_instance_id: owned_opt(m.group_instance_id.as_ref()),
            })
            .collect()
    } else {
        vec![LeavingMember {
            member_id: owned(&request.member_id),
            group_instance_id: None,
        }]
    };
    let results = check_group_id(&group_id).and_then(|()| broker.groups.leave(&group_id, &leaving));
    let mut response = LeaveGroupResponse::default();
    match results {
        Err(error) => response.error_code = error.code(),
        Ok(results) if version >= 3 => {
            response.members = leaving
                .iter()
                .zip(&results)
                .map(|(m, r)| {
                    MemberResponse::default()
                        .with_member_id(str_bytes(&m.member_id))
                        .with_group_instance_id(m.group_instance_id.as_deref().map(str_bytes))
                        .with_error_code(result_code(r))
                })
                .collect();
        }
        Ok(results) => {
            let first: Result<(), ResponseError> = results.into_iter().next().unwrap_or(Ok(()));
            response.error_code = result_code(&first);
        }
    }
    response
}
