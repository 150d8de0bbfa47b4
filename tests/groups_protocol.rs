//! The group APIs at versions librdkafka does not use (old ones for old clients, new ones for
//! Java clients), driven by a raw protocol client: every version encodes and decodes, and the
//! version-specific behaviour (MEMBER_ID_REQUIRED from v4, `skip_assignment` in v9, the
//! multi-group OffsetFetch of v8+) is as Kafka's.
#![allow(clippy::unwrap_used)]

mod common;
mod groups_support;

use bytes::Bytes;
use groups_support::{RawClient, TestBroker, put_str};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, StrBytes};

const MEMBER_ID_REQUIRED: i16 = 79;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

fn join_request(group: &str, member_id: StrBytes, instance: Option<&str>) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(s(group).into())
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(member_id)
        .with_group_instance_id(instance.map(s))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from_static(b"meta")),
        ])
}

/// Join (with the member-id round trip from v4), sync as the only member, heartbeat.
async fn join_and_sync(
    client: &mut RawClient,
    group: &str,
    version: i16,
    instance: Option<&str>,
) -> JoinGroupResponse {
    let mut joined: JoinGroupResponse = client
        .call(
            ApiKey::JoinGroup,
            version,
            &join_request(group, s(""), instance),
        )
        .await;
    if version >= 4 && instance.is_none() {
        assert_eq!(
            joined.error_code, MEMBER_ID_REQUIRED,
            "JoinGroup v{version}"
        );
        joined = client
            .call(
                ApiKey::JoinGroup,
                version,
                &join_request(group, joined.member_id, instance),
            )
            .await;
    }
    assert_eq!(joined.error_code, 0, "JoinGroup v{version}");
    assert_eq!(joined.leader, joined.member_id, "the only member leads");
    assert_eq!(joined.members.len(), 1);
    let sync_version = version.min(5);
    let sync = SyncGroupRequest::default()
        .with_group_id(s(group).into())
        .with_generation_id(joined.generation_id)
        .with_member_id(joined.member_id.clone())
        .with_group_instance_id(instance.filter(|_| sync_version >= 3).map(s))
        .with_protocol_type(Some(s("consumer")).filter(|_| sync_version >= 5))
        .with_protocol_name(Some(s("range")).filter(|_| sync_version >= 5))
        .with_assignments(vec![
            SyncGroupRequestAssignment::default()
                .with_member_id(joined.member_id.clone())
                .with_assignment(Bytes::from_static(b"assigned")),
        ]);
    let synced: SyncGroupResponse = client.call(ApiKey::SyncGroup, sync_version, &sync).await;
    assert_eq!(
        (synced.error_code, synced.assignment.as_ref()),
        (0, b"assigned".as_slice()),
        "SyncGroup v{sync_version}"
    );
    let heartbeat_version = version.min(4);
    let heartbeat = HeartbeatRequest::default()
        .with_group_id(s(group).into())
        .with_generation_id(joined.generation_id)
        .with_member_id(joined.member_id.clone())
        .with_group_instance_id(instance.filter(|_| heartbeat_version >= 3).map(s));
    let beat: HeartbeatResponse = client
        .call(ApiKey::Heartbeat, heartbeat_version, &heartbeat)
        .await;
    assert_eq!(beat.error_code, 0, "Heartbeat v{heartbeat_version}");
    joined
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_join_group_version_forms_a_group() {
    let broker = TestBroker::start().await;
    let mut client = RawClient::connect(broker.addr).await;
    for version in 0..=9 {
        join_and_sync(&mut client, &format!("g-v{version}"), version, None).await;
    }
    let leave = LeaveGroupRequest::default().with_group_id(s("g-v0").into());
    let left: LeaveGroupResponse = client.call(ApiKey::LeaveGroup, 0, &leave).await;
    assert_eq!(
        left.error_code, 25,
        "an unknown member id is UNKNOWN_MEMBER_ID"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_a_group_nobody_joined_is_an_unknown_member_at_every_version() {
    // As Kafka: from v3 the answer is per member with no top-level error; before v3, the one
    // member's error is the top-level one.
    let broker = TestBroker::start().await;
    let mut client = RawClient::connect(broker.addr).await;
    let member = |id: &str| {
        kafka_protocol::messages::leave_group_request::MemberIdentity::default()
            .with_member_id(s(id))
    };
    for version in 3..=5 {
        let leave = LeaveGroupRequest::default()
            .with_group_id(s("never-joined").into())
            .with_members(vec![member("a"), member("b")]);
        let left: LeaveGroupResponse = client.call(ApiKey::LeaveGroup, version, &leave).await;
        let members: Vec<(String, i16)> = left
            .members
            .iter()
            .map(|m| (m.member_id.to_string(), m.error_code))
            .collect();
        assert_eq!(
            (left.error_code, members),
            (0, vec![("a".to_owned(), 25), ("b".to_owned(), 25)]),
            "LeaveGroup v{version}"
        );
    }
    let leave = LeaveGroupRequest::default()
        .with_group_id(s("never-joined").into())
        .with_member_id(s("a"));
    let left: LeaveGroupResponse = client.call(ApiKey::LeaveGroup, 2, &leave).await;
    assert_eq!(
        (left.error_code, left.members.len()),
        (25, 0),
        "LeaveGroup v2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generation_of_a_group_that_does_not_exist_is_refused_as_kafka_refuses_it() {
    // A member's commit reaching a coordinator that has no such group (a commit after the
    // group was deleted, or sent to the wrong coordinator): Kafka answers ILLEGAL_GENERATION
    // before v9 and GROUP_ID_NOT_FOUND from v9, and stores nothing.
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "topic", 1, &[]).await;
    let mut client = RawClient::connect(broker.addr).await;
    for (version, code) in [(2, 22), (8, 22), (9, 69)] {
        let refused = commit(&mut client, version, "nobody", 4, s("m-1"), 5).await;
        assert_eq!(refused, code, "OffsetCommit v{version}");
    }
    assert_eq!(
        committed(&mut client, "nobody").await.0,
        -1,
        "nothing stored"
    );
    // Once the group holds offsets it exists, empty: a member id is unknown to it.
    assert_eq!(commit(&mut client, 9, "nobody", -1, s(""), 5).await, 0);
    let refused = commit(&mut client, 9, "nobody", 4, s("m-1"), 6).await;
    assert_eq!(refused, 25, "UNKNOWN_MEMBER_ID");
    assert_eq!(committed(&mut client, "nobody").await.0, 5);
}

/// A group nobody joined, known only by its commits (a consumer that assigns
/// itself partitions, or a reset by a tool), has no protocol type, as Kafka
/// answers: admin clients call it a simple consumer group. One that members
/// joined keeps "consumer" once they leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_known_only_by_its_offsets_has_no_protocol_type() {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "topic", 1, &[]).await;
    let mut client = RawClient::connect(broker.addr).await;
    assert_eq!(commit(&mut client, 9, "simple", -1, s(""), 3).await, 0);
    let joined = join_and_sync(&mut client, "joined", 5, None).await;
    let leave = LeaveGroupRequest::default()
        .with_group_id(s("joined").into())
        .with_member_id(joined.member_id.clone());
    let left: LeaveGroupResponse = client.call(ApiKey::LeaveGroup, 2, &leave).await;
    assert_eq!(left.error_code, 0);
    let listed: ListGroupsResponse = client
        .call(ApiKey::ListGroups, 4, &ListGroupsRequest::default())
        .await;
    let mut types: Vec<(String, String)> = listed
        .groups
        .iter()
        .map(|g| (g.group_id.to_string(), g.protocol_type.to_string()))
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            ("joined".to_owned(), "consumer".to_owned()),
            ("simple".to_owned(), String::new())
        ]
    );
    let request = DescribeGroupsRequest::default().with_groups(vec![s("simple").into()]);
    let described: DescribeGroupsResponse = client.call(ApiKey::DescribeGroups, 5, &request).await;
    let group = &described.groups[0];
    assert_eq!(
        (group.group_state.as_str(), group.protocol_type.as_str()),
        ("Empty", "")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_leader_rejoining_at_v9_skips_assignment() {
    let broker = TestBroker::start().await;
    let mut client = RawClient::connect(broker.addr).await;
    let first = join_and_sync(&mut client, "static-v9", 9, Some("pod-1")).await;
    let again: JoinGroupResponse = client
        .call(
            ApiKey::JoinGroup,
            9,
            &join_request("static-v9", s(""), Some("pod-1")),
        )
        .await;
    assert_eq!(again.error_code, 0);
    assert_eq!(again.generation_id, first.generation_id, "no rebalance");
    assert!(
        again.skip_assignment,
        "the leader keeps the current assignment"
    );
    assert_ne!(
        again.member_id, first.member_id,
        "a new member id for the new incarnation"
    );
    // The old incarnation is fenced.
    let heartbeat = HeartbeatRequest::default()
        .with_group_id(s("static-v9").into())
        .with_generation_id(first.generation_id)
        .with_member_id(first.member_id.clone())
        .with_group_instance_id(Some(s("pod-1")));
    let beat: HeartbeatResponse = client.call(ApiKey::Heartbeat, 4, &heartbeat).await;
    assert_eq!(beat.error_code, 82, "FENCED_INSTANCE_ID");
    // LeaveGroup v3+ by instance id.
    let leave = LeaveGroupRequest::default()
        .with_group_id(s("static-v9").into())
        .with_members(vec![
            kafka_protocol::messages::leave_group_request::MemberIdentity::default()
                .with_group_instance_id(Some(s("pod-1"))),
        ]);
    let left: LeaveGroupResponse = client.call(ApiKey::LeaveGroup, 5, &leave).await;
    assert_eq!(
        (
            left.error_code,
            left.members.len(),
            left.members[0].error_code
        ),
        (0, 1, 0)
    );
}

async fn commit(
    client: &mut RawClient,
    version: i16,
    group: &str,
    generation: i32,
    member: StrBytes,
    offset: i64,
) -> i16 {
    let simple = Commit {
        topic: "topic",
        offset,
        metadata: "meta",
    };
    commit_with(client, version, group, generation, member, simple).await
}

/// An offset to commit for partition 0 of `topic`, with its metadata.
struct Commit<'a> {
    topic: &'a str,
    offset: i64,
    metadata: &'a str,
}

async fn commit_with(
    client: &mut RawClient,
    version: i16,
    group: &str,
    generation: i32,
    member: StrBytes,
    Commit {
        topic,
        offset,
        metadata,
    }: Commit<'_>,
) -> i16 {
    let request = OffsetCommitRequest::default()
        .with_group_id(s(group).into())
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(member)
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(s(topic).into())
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(offset)
                        .with_committed_metadata(Some(s(metadata))),
                ]),
        ]);
    let response: OffsetCommitResponse = client.call(ApiKey::OffsetCommit, version, &request).await;
    response.topics[0].partitions[0].error_code
}

/// An OffsetCommit v0 or v1 body, which `kafka-protocol` cannot encode: one
/// partition of `topic`, as Sarama writes it (v1 with a commit timestamp of -1).
fn legacy_commit_body(
    version: i16,
    group: &str,
    generation: i32,
    member: &str,
    offset: i64,
) -> Vec<u8> {
    let mut body = Vec::new();
    put_str(&mut body, group);
    if version == 1 {
        body.extend_from_slice(&generation.to_be_bytes());
        put_str(&mut body, member);
    }
    body.extend_from_slice(&1i32.to_be_bytes());
    put_str(&mut body, "topic");
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&0i32.to_be_bytes());
    body.extend_from_slice(&offset.to_be_bytes());
    if version == 1 {
        body.extend_from_slice(&(-1i64).to_be_bytes());
    }
    put_str(&mut body, "legacy");
    body
}

async fn legacy_commit(client: &mut RawClient, version: i16, body: &[u8]) -> i16 {
    let mut response = client.call_raw(ApiKey::OffsetCommit, version, body).await;
    // Responses v0–2 are the same bytes.
    let response = OffsetCommitResponse::decode(&mut response, 2).expect("v0-2 response");
    response.topics[0].partitions[0].error_code
}

async fn committed(client: &mut RawClient, group: &str) -> (i64, Option<String>) {
    let request = OffsetFetchRequest::default()
        .with_group_id(s(group).into())
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(s("topic").into())
                .with_partition_indexes(vec![0]),
        ]));
    let response: OffsetFetchResponse = client.call(ApiKey::OffsetFetch, 1, &request).await;
    let partition = &response.topics[0].partitions[0];
    (
        partition.committed_offset,
        partition.metadata.as_ref().map(|m| m.as_str().to_owned()),
    )
}

/// OffsetDelete of partition 0 of "topic" for `group`.
fn offset_delete_request(group: &str) -> OffsetDeleteRequest {
    OffsetDeleteRequest::default()
        .with_group_id(s(group).into())
        .with_topics(vec![
            OffsetDeleteRequestTopic::default()
                .with_name(s("topic").into())
                .with_partitions(vec![
                    OffsetDeleteRequestPartition::default().with_partition_index(0),
                ]),
        ])
}

/// While a group's first rebalance waits for members, no protocol is chosen and what they
/// subscribe to is unknown: OffsetDelete refuses every topic, as Kafka does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_cannot_be_deleted_while_the_first_rebalance_waits() {
    let broker = TestBroker::start_with(|c| c.groups.initial_rebalance_delay_ms = 3_000).await;
    common::create_topic(&broker, "topic", 1, &[]).await;
    let mut client = RawClient::connect(broker.addr).await;
    assert_eq!(commit(&mut client, 2, "waiting", -1, s(""), 5).await, 0);
    let mut joiner = RawClient::connect(broker.addr).await;
    // v3: no member-id round trip; the join parks for the initial delay.
    let parked = tokio::spawn(async move {
        let join = join_request("waiting", s(""), None);
        let joined: JoinGroupResponse = joiner.call(ApiKey::JoinGroup, 3, &join).await;
        joined.error_code
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while broker
        .server
        .groups
        .describe("waiting")
        .is_none_or(|g| g.members.is_empty())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the join never arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let request = offset_delete_request("waiting");
    let refused: OffsetDeleteResponse = client.call(ApiKey::OffsetDelete, 0, &request).await;
    assert_eq!(
        refused.topics[0].partitions[0].error_code, 86,
        "GROUP_SUBSCRIBED_TO_TOPIC"
    );
    assert_eq!(
        parked.await.unwrap(),
        0,
        "the join completes after the delay"
    );
    assert_eq!(
        committed(&mut client, "waiting").await.0,
        5,
        "the offset is kept"
    );
}

/// As on Kafka, the empty group id is refused by the membership APIs but
/// taken by OffsetCommit and OffsetFetch (a manually assigned consumer with
/// `group_id=''`); and commit metadata is bounded in UTF-16 units, not bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_empty_group_id_commits_and_metadata_is_bounded_in_characters() {
    const INVALID_GROUP_ID: i16 = 24;
    const OFFSET_METADATA_TOO_LARGE: i16 = 12;
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "topic", 1, &[]).await;
    let mut client = RawClient::connect(broker.addr).await;

    let code = commit(&mut client, 2, "", -1, s(""), 7).await;
    assert_eq!(code, 0, "OffsetCommit with the empty group id");
    assert_eq!(
        committed(&mut client, "").await,
        (7, Some("meta".to_owned()))
    );
    let join: JoinGroupResponse = client
        .call(ApiKey::JoinGroup, 5, &join_request("", s(""), None))
        .await;
    assert_eq!(join.error_code, INVALID_GROUP_ID, "JoinGroup");
    let heartbeat = HeartbeatRequest::default()
        .with_group_id(s("").into())
        .with_generation_id(1)
        .with_member_id(s("m"));
    let heartbeat: HeartbeatResponse = client.call(ApiKey::Heartbeat, 3, &heartbeat).await;
    assert_eq!(heartbeat.error_code, INVALID_GROUP_ID, "Heartbeat");

    // 3,000 two-byte characters: 6,000 bytes, within Kafka's 4,096.
    let accented = "é".repeat(3000);
    let wide = Commit {
        topic: "topic",
        offset: 8,
        metadata: &accented,
    };
    let code = commit_with(&mut client, 8, "meta-group", -1, s(""), wide).await;
    assert_eq!(code, 0, "3,000 characters of metadata");
    assert_eq!(
        committed(&mut client, "meta-group").await,
        (8, Some(accented))
    );
    let long = "a".repeat(4097);
    let too_long = Commit {
        topic: "topic",
        offset: 9,
        metadata: &long,
    };
    let code = commit_with(&mut client, 8, "meta-group", -1, s(""), too_long).await;
    assert_eq!(code, OFFSET_METADATA_TOO_LARGE, "4,097 characters");
}

/// Sarama commits with v1 unless told a retention time; Kafka 4.0 and
/// `kafka-protocol` dropped v0–1, the broker reads them itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_commit_v0_and_v1_as_old_clients_send_them() {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "topic", 1, &[]).await;
    let mut client = RawClient::connect(broker.addr).await;

    // v0: no membership, as a consumer that only stores offsets.
    let v0 = legacy_commit_body(0, "simple", -1, "", 5);
    assert_eq!(
        legacy_commit(&mut client, 0, &v0).await,
        0,
        "OffsetCommit v0"
    );
    assert_eq!(
        committed(&mut client, "simple").await,
        (5, Some("legacy".to_owned()))
    );

    // v1: the member's generation is checked as in later versions.
    let joined = join_and_sync(&mut client, "members", 5, None).await;
    let member = joined.member_id.as_str().to_owned();
    let v1 = legacy_commit_body(1, "members", joined.generation_id, &member, 7);
    assert_eq!(
        legacy_commit(&mut client, 1, &v1).await,
        0,
        "OffsetCommit v1"
    );
    let stale = legacy_commit_body(1, "members", joined.generation_id + 3, &member, 99);
    assert_eq!(
        legacy_commit(&mut client, 1, &stale).await,
        22,
        "ILLEGAL_GENERATION"
    );
    assert_eq!(
        committed(&mut client, "members").await,
        (7, Some("legacy".to_owned()))
    );

    // Cut short: the connection is closed, as for any malformed request, and
    // nothing is committed.
    let mut cut = RawClient::connect(broker.addr).await;
    let short = legacy_commit_body(1, "members", joined.generation_id, &member, 8);
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        cut.try_call_raw(ApiKey::OffsetCommit, 1, &short[..short.len() - 3]),
    )
    .await
    .expect("answered or closed within 10 s");
    assert!(closed.is_none(), "a truncated v1 body must not be answered");
    assert_eq!(committed(&mut client, "members").await.0, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_commit_fetch_describe_list_and_delete_at_old_and_new_versions() {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "topic", 1, &[]).await;
    let mut client = RawClient::connect(broker.addr).await;
    let joined = join_and_sync(&mut client, "offsets", 5, None).await;
    for (version, offset) in [(2, 10), (5, 11), (9, 12)] {
        let code = commit(
            &mut client,
            version,
            "offsets",
            joined.generation_id,
            joined.member_id.clone(),
            offset,
        )
        .await;
        assert_eq!(code, 0, "OffsetCommit v{version}");
    }
    let stale = commit(
        &mut client,
        9,
        "offsets",
        joined.generation_id + 7,
        joined.member_id.clone(),
        99,
    )
    .await;
    assert_eq!(stale, 22, "ILLEGAL_GENERATION");
    // An unknown topic is answered before the member is checked, as on Kafka.
    let nowhere = Commit {
        topic: "no-such-topic",
        offset: 1,
        metadata: "",
    };
    let stale_and_unknown = commit_with(
        &mut client,
        9,
        "offsets",
        joined.generation_id + 7,
        joined.member_id.clone(),
        nowhere,
    )
    .await;
    assert_eq!(stale_and_unknown, 3, "UNKNOWN_TOPIC_OR_PARTITION");

    for version in [1, 5, 7] {
        let request = OffsetFetchRequest::default()
            .with_group_id(s("offsets").into())
            .with_topics(Some(vec![
                OffsetFetchRequestTopic::default()
                    .with_name(s("topic").into())
                    .with_partition_indexes(vec![0, 1]),
            ]));
        let response: OffsetFetchResponse =
            client.call(ApiKey::OffsetFetch, version, &request).await;
        let partitions = &response.topics[0].partitions;
        assert_eq!(
            (
                partitions[0].committed_offset,
                partitions[0].metadata.as_deref()
            ),
            (12, Some("meta")),
            "v{version}"
        );
        assert_eq!(
            partitions[1].committed_offset, -1,
            "nothing committed for partition 1"
        );
    }
    let request = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id(s("offsets").into())
            .with_topics(Some(vec![
                OffsetFetchRequestTopics::default()
                    .with_name(s("topic").into())
                    .with_partition_indexes(vec![0]),
            ])),
        OffsetFetchRequestGroup::default()
            .with_group_id(s("nobody").into())
            .with_topics(None),
    ]);
    let response: OffsetFetchResponse = client.call(ApiKey::OffsetFetch, 8, &request).await;
    assert_eq!(response.groups.len(), 2);
    assert_eq!(
        response.groups[0].topics[0].partitions[0].committed_offset,
        12
    );
    assert!(
        response.groups[1].topics.is_empty(),
        "an unknown group has no offsets"
    );

    for version in [0, 5] {
        let request = DescribeGroupsRequest::default()
            .with_groups(vec![s("offsets").into(), s("nobody").into()]);
        let response: DescribeGroupsResponse =
            client.call(ApiKey::DescribeGroups, version, &request).await;
        let described = &response.groups[0];
        assert_eq!(
            (
                described.group_state.as_str(),
                described.protocol_data.as_str()
            ),
            ("Stable", "range"),
            "v{version}"
        );
        assert_eq!(described.members[0].member_assignment.as_ref(), b"assigned");
        assert_eq!(
            described.members[0].client_host.as_str(),
            "/127.0.0.1",
            "the member's address, as Kafka prints it"
        );
        assert_eq!(response.groups[1].group_state.as_str(), "Dead");
    }
    let request = ListGroupsRequest::default().with_states_filter(vec![s("Stable")]);
    let response: ListGroupsResponse = client.call(ApiKey::ListGroups, 5, &request).await;
    let listed: Vec<&str> = response
        .groups
        .iter()
        .map(|g| g.group_id.as_str())
        .collect();
    assert_eq!(listed, vec!["offsets"]);
    assert_eq!(response.groups[0].group_type.as_str(), "classic");

    // OffsetDelete is refused while a member is subscribed (raw metadata is not a subscription,
    // so every topic counts as subscribed), then allowed once the group is empty.
    let request = offset_delete_request("offsets");
    let refused: OffsetDeleteResponse = client.call(ApiKey::OffsetDelete, 0, &request).await;
    assert_eq!(
        refused.topics[0].partitions[0].error_code, 86,
        "GROUP_SUBSCRIBED_TO_TOPIC"
    );
    let leave = LeaveGroupRequest::default()
        .with_group_id(s("offsets").into())
        .with_member_id(joined.member_id.clone());
    let left: LeaveGroupResponse = client.call(ApiKey::LeaveGroup, 2, &leave).await;
    assert_eq!(left.error_code, 0);
    let deleted: OffsetDeleteResponse = client.call(ApiKey::OffsetDelete, 0, &request).await;
    assert_eq!(
        (
            deleted.error_code,
            deleted.topics[0].partitions[0].error_code
        ),
        (0, 0)
    );
    assert_eq!(
        broker.server.groups.offsets().fetch("offsets", "topic", 0),
        None
    );

    let request = DeleteGroupsRequest::default().with_groups_names(vec![
        s("offsets").into(),
        s("nobody").into(),
        s("offsets").into(),
    ]);
    let response: DeleteGroupsResponse = client.call(ApiKey::DeleteGroups, 2, &request).await;
    let codes: Vec<i16> = response.results.iter().map(|r| r.error_code).collect();
    // Named twice: both entries answered as the first, as Kafka's coordinator answers them.
    assert_eq!(
        codes,
        vec![0, 69, 0],
        "deleted; GROUP_ID_NOT_FOUND; deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_coordinator_answers_single_and_batched_lookups() {
    let broker = TestBroker::start().await;
    let mut client = RawClient::connect(broker.addr).await;
    for version in 0..=3 {
        let request = FindCoordinatorRequest::default().with_key(s("any-group"));
        let response: FindCoordinatorResponse = client
            .call(ApiKey::FindCoordinator, version, &request)
            .await;
        assert_eq!(
            (response.error_code, response.port),
            (0, i32::from(broker.addr.port())),
            "v{version}"
        );
    }
    let request = FindCoordinatorRequest::default().with_coordinator_keys(vec![s("a"), s("b")]);
    let response: FindCoordinatorResponse = client.call(ApiKey::FindCoordinator, 4, &request).await;
    let keys: Vec<&str> = response
        .coordinators
        .iter()
        .map(|c| c.key.as_str())
        .collect();
    assert_eq!(keys, vec!["a", "b"]);
    assert!(
        response
            .coordinators
            .iter()
            .all(|c| c.error_code == 0 && c.host.as_str() == "127.0.0.1")
    );
}

/// Kafka drops a deleted topic's committed offsets: a topic created again
/// under the same name starts at 0, and an old offset would make its group
/// skip records. The tombstones survive a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_topic_drops_its_committed_offsets() {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "topic", 1, &[]).await;
    common::create_topic(&broker, "other", 1, &[]).await;
    let mut client = RawClient::connect(broker.addr).await;
    // A group without members may commit with generation -1 (as tools do).
    assert_eq!(commit(&mut client, 8, "g", -1, s(""), 500).await, 0);
    let keep = OffsetCommitRequest::default()
        .with_group_id(s("g").into())
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(s("other").into())
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(7),
                ]),
        ]);
    let response: OffsetCommitResponse = client.call(ApiKey::OffsetCommit, 8, &keep).await;
    assert_eq!(response.topics[0].partitions[0].error_code, 0);

    let delete = DeleteTopicsRequest::default().with_topic_names(vec![s("topic").into()]);
    let response: DeleteTopicsResponse = client.call(ApiKey::DeleteTopics, 4, &delete).await;
    assert_eq!(response.responses[0].error_code, 0);
    let registry: serde_json::Value =
        serde_json::from_slice(&std::fs::read(broker.data_dir().join("topics.json")).unwrap())
            .unwrap();
    assert!(registry.get("deleting").is_none(), "finished: {registry}");
    common::create_topic(&broker, "topic", 1, &[]).await;
    drop(client);
    let broker = broker.restart().await;
    let mut client = RawClient::connect(broker.addr).await;
    let fetch = |topic: &str| {
        OffsetFetchRequest::default()
            .with_group_id(s("g").into())
            .with_topics(Some(vec![
                OffsetFetchRequestTopic::default()
                    .with_name(s(topic).into())
                    .with_partition_indexes(vec![0]),
            ]))
    };
    let response: OffsetFetchResponse = client.call(ApiKey::OffsetFetch, 5, &fetch("topic")).await;
    assert_eq!(
        response.topics[0].partitions[0].committed_offset, -1,
        "the recreated topic has no committed offset"
    );
    let response: OffsetFetchResponse = client.call(ApiKey::OffsetFetch, 5, &fetch("other")).await;
    assert_eq!(
        response.topics[0].partitions[0].committed_offset, 7,
        "other topics keep theirs"
    );
}

/// A crash between a deletion's registry write and the removal of its
/// partitions and offsets: the next start finishes the deletion instead of
/// adopting the partitions as a topic with default configs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_deletion_cut_short_by_a_crash_is_finished_at_the_next_start() {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "topic", 2, &[("retention.ms", "123456")]).await;
    let mut client = RawClient::connect(broker.addr).await;
    assert_eq!(commit(&mut client, 8, "g", -1, s(""), 500).await, 0);
    drop(client);
    // What the registry's first write leaves: the topic listed as being
    // deleted, its partitions and committed offsets untouched.
    let broker = broker
        .restart_after(|dir| {
            let path = dir.join("topics.json");
            let mut file: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let topics = file["topics"].as_array_mut().unwrap();
            let at = topics.iter().position(|t| t["name"] == "topic").unwrap();
            let record = topics.remove(at);
            file["deleting"] = serde_json::json!([record]);
            std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
            assert!(dir.join("topic-0").exists() && dir.join("topic-1").exists());
        })
        .await;
    let dir = broker.data_dir().to_path_buf();
    assert!(!dir.join("topic-0").exists() && !dir.join("topic-1").exists());
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("topics.json")).unwrap()).unwrap();
    assert!(file.get("deleting").is_none(), "finished: {file}");
    assert!(
        file["topics"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["name"] != "topic"),
        "not adopted back: {file}"
    );
    // Created again, it starts empty, with its own configs and no offsets.
    common::create_topic(&broker, "topic", 1, &[]).await;
    let mut client = RawClient::connect(broker.addr).await;
    let fetch = OffsetFetchRequest::default()
        .with_group_id(s("g").into())
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(s("topic").into())
                .with_partition_indexes(vec![0]),
        ]));
    let response: OffsetFetchResponse = client.call(ApiKey::OffsetFetch, 5, &fetch).await;
    assert_eq!(response.topics[0].partitions[0].committed_offset, -1);
}
