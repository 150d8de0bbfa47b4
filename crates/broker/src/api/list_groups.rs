//! ListGroups (v0–5): every group with members or committed offsets, filtered by state (v4+)
//! and type (v5+; every group here is "classic").

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{ListGroupsRequest, ListGroupsResponse};

use crate::broker::Broker;
use crate::group::wire::str_bytes;

const GROUP_TYPE: &str = "classic";

pub fn handle(broker: &Broker, request: ListGroupsRequest, version: i16) -> ListGroupsResponse {
    let states: Vec<String> = request
        .states_filter
        .iter()
        .map(|s| s.as_str().to_ascii_lowercase())
        .collect();
    let types: Vec<String> = request
        .types_filter
        .iter()
        .map(|s| s.as_str().to_ascii_lowercase())
        .collect();
    if version >= 5 && !types.is_empty() && !types.iter().any(|t| t == GROUP_TYPE) {
        return ListGroupsResponse::default();
    }
    let groups = broker
        .groups
        .list()
        .into_iter()
        .filter(|g| states.is_empty() || states.contains(&g.state.as_str().to_ascii_lowercase()))
        .map(|g| {
            let mut listed = ListedGroup::default()
                .with_group_id(str_bytes(&g.group_id).into())
                .with_protocol_type(str_bytes(&g.protocol_type));
            if version >= 4 {
                listed.group_state = str_bytes(g.state.as_str());
            }
            if version >= 5 {
                listed.group_type = str_bytes(GROUP_TYPE);
            }
            listed
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
