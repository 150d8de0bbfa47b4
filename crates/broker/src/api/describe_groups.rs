//! DescribeGroups (v0–5): state, protocol and members (with metadata and assignment) per group.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use crate::authorized_operations::Resource;
use crate::broker::Broker;
use crate::group::wire::{check_stored_group_id, owned, str_bytes};

pub fn handle(
    broker: &Broker,
    request: DescribeGroupsRequest,
    version: i16,
) -> DescribeGroupsResponse {
    // Kafka fills in the operations of every group described without an
    // error (an unknown one, described as Dead, included), from v3.
    let operations = Resource::Group.answer(version >= 3 && request.include_authorized_operations);
    let groups = request
        .groups
        .iter()
        .map(|id| {
            let mut group = describe(broker, &owned(id), version);
            if group.error_code == 0 {
                group.authorized_operations = operations;
            }
            group
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

fn describe(broker: &Broker, group_id: &str, version: i16) -> DescribedGroup {
    let mut out = DescribedGroup::default().with_group_id(str_bytes(group_id).into());
    if let Err(error) = check_stored_group_id(group_id) {
        out.error_code = error.code();
        return out;
    }
    let Some(summary) = broker.groups.describe(group_id) else {
        // Kafka describes an unknown group as Dead with no members.
        out.group_state = str_bytes("Dead");
        if version >= 6 {
            out.error_code = ResponseError::GroupIdNotFound.code();
        }
        return out;
    };
    out.group_state = str_bytes(summary.state.as_str());
    out.protocol_type = str_bytes(&summary.protocol_type);
    out.protocol_data = str_bytes(&summary.protocol_name);
    out.members = summary
        .members
        .iter()
        .map(|m| {
            DescribedGroupMember::default()
                .with_member_id(str_bytes(&m.member_id))
                .with_group_instance_id(
                    m.group_instance_id
                        .as_deref()
                        .map(str_bytes)
                        .filter(|_| version >= 4),
                )
                .with_client_id(str_bytes(&m.client_id))
                .with_client_host(str_bytes(&m.client_host))
                .with_member_metadata(
                    m.metadata_for(&summary.protocol_name)
                        .cloned()
                        .unwrap_or_default(),
                )
                .with_member_assignment(m.assignment.clone())
        })
        .collect();
    out
}
