use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};

use super::*;
use crate::api::served_versions;

fn name(s: &'static str) -> TopicName {
    TopicName(StrBytes::from_static_str(s))
}

/// Every served version of a populated request passes; the same bytes cut
/// short by one fail.
fn accepts_every_served_version<T: Encodable>(
    api_key: ApiKey,
    request: &T,
    versions: std::ops::RangeInclusive<i16>,
) {
    let (min, max) = served_versions(api_key).expect("served");
    for version in versions.filter(|v| (min..=max).contains(v)) {
        let mut buf = BytesMut::new();
        request
            .encode(&mut buf, version)
            .unwrap_or_else(|e| panic!("{api_key:?} v{version} encodes: {e}"));
        let walked = check(api_key, version, &buf);
        assert!(walked.is_ok(), "{api_key:?} v{version}: {walked:?}");
        let cut = check(api_key, version, &buf[..buf.len() - 1]);
        assert!(cut.is_err(), "{api_key:?} v{version} cut short must fail");
        buf.put_u8(0);
        assert!(
            check(api_key, version, &buf).is_err(),
            "{api_key:?} v{version} with a trailing byte must fail"
        );
    }
}

#[test]
fn produce_requests_of_every_served_version_walk() {
    let partition = produce_request::PartitionProduceData::default()
        .with_index(3)
        .with_records(Some(bytes::Bytes::from_static(b"not really a batch")));
    let topic = produce_request::TopicProduceData::default()
        .with_name(name("t"))
        .with_partition_data(vec![partition]);
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_topic_data(vec![topic.clone(), topic]);
    accepts_every_served_version(ApiKey::Produce, &request, 3..=12);
}

#[test]
fn fetch_requests_of_every_served_version_walk() {
    let partition = fetch_request::FetchPartition::default()
        .with_partition(1)
        .with_fetch_offset(9);
    let topic = fetch_request::FetchTopic::default()
        .with_topic(name("t"))
        .with_partitions(vec![partition]);
    let request = FetchRequest::default().with_topics(vec![topic]);
    accepts_every_served_version(ApiKey::Fetch, &request, 4..=12);
    let forgotten = fetch_request::ForgottenTopic::default()
        .with_topic(name("old"))
        .with_partitions(vec![1, 2]);
    let request = request.with_forgotten_topics_data(vec![forgotten]);
    accepts_every_served_version(ApiKey::Fetch, &request, 7..=12);
    let request = request.with_rack_id(StrBytes::from_static_str("rack"));
    accepts_every_served_version(ApiKey::Fetch, &request, 11..=12);
}

#[test]
fn metadata_list_offsets_and_cluster_requests_walk() {
    let topic = metadata_request::MetadataRequestTopic::default().with_name(Some(name("t")));
    let request = MetadataRequest::default().with_topics(Some(vec![topic]));
    accepts_every_served_version(ApiKey::Metadata, &request, 0..=12);
    let partition = list_offsets_request::ListOffsetsPartition::default().with_timestamp(-1);
    let topic = list_offsets_request::ListOffsetsTopic::default()
        .with_name(name("t"))
        .with_partitions(vec![partition]);
    accepts_every_served_version(
        ApiKey::ListOffsets,
        &ListOffsetsRequest::default().with_topics(vec![topic]),
        1..=7,
    );
    accepts_every_served_version(
        ApiKey::DescribeCluster,
        &DescribeClusterRequest::default(),
        0..=2,
    );
    let versions = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("test"))
        .with_client_software_version(StrBytes::from_static_str("1"));
    accepts_every_served_version(ApiKey::ApiVersions, &versions, 3..=4);
}

#[test]
fn admin_requests_of_every_served_version_walk() {
    use create_topics_request::{CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig};
    let topic = CreatableTopic::default()
        .with_name(name("t"))
        .with_num_partitions(-1)
        .with_assignments(vec![
            CreatableReplicaAssignment::default().with_broker_ids(vec![BrokerId(1)]),
        ])
        .with_configs(vec![
            CreatableTopicConfig::default()
                .with_name("retention.ms".into())
                .with_value(Some("1".into())),
        ]);
    accepts_every_served_version(
        ApiKey::CreateTopics,
        &CreateTopicsRequest::default().with_topics(vec![topic]),
        2..=7,
    );

    let by_name = DeleteTopicsRequest::default().with_topic_names(vec![name("a"), name("b")]);
    accepts_every_served_version(ApiKey::DeleteTopics, &by_name, 1..=5);
    let state = delete_topics_request::DeleteTopicState::default().with_name(Some(name("a")));
    accepts_every_served_version(
        ApiKey::DeleteTopics,
        &DeleteTopicsRequest::default().with_topics(vec![state]),
        6..=6,
    );

    let partition = delete_records_request::DeleteRecordsPartition::default().with_offset(4);
    let topic = delete_records_request::DeleteRecordsTopic::default()
        .with_name(name("t"))
        .with_partitions(vec![partition]);
    accepts_every_served_version(
        ApiKey::DeleteRecords,
        &DeleteRecordsRequest::default().with_topics(vec![topic]),
        0..=2,
    );

    let resource = describe_configs_request::DescribeConfigsResource::default()
        .with_resource_type(2)
        .with_resource_name("t".into())
        .with_configuration_keys(Some(vec!["retention.ms".into()]));
    let request = DescribeConfigsRequest::default().with_resources(vec![resource]);
    accepts_every_served_version(ApiKey::DescribeConfigs, &request, 1..=4);

    let config = alter_configs_request::AlterableConfig::default()
        .with_name("a".into())
        .with_value(Some("b".into()));
    let resource = alter_configs_request::AlterConfigsResource::default()
        .with_resource_name("t".into())
        .with_configs(vec![config]);
    accepts_every_served_version(
        ApiKey::AlterConfigs,
        &AlterConfigsRequest::default().with_resources(vec![resource]),
        0..=2,
    );

    let config = incremental_alter_configs_request::AlterableConfig::default()
        .with_name("a".into())
        .with_value(None);
    let resource = incremental_alter_configs_request::AlterConfigsResource::default()
        .with_resource_name("t".into())
        .with_configs(vec![config]);
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![resource]);
    accepts_every_served_version(ApiKey::IncrementalAlterConfigs, &request, 0..=1);

    let assignment = create_partitions_request::CreatePartitionsAssignment::default()
        .with_broker_ids(vec![BrokerId(1)]);
    let topic = create_partitions_request::CreatePartitionsTopic::default()
        .with_name(name("t"))
        .with_count(3)
        .with_assignments(Some(vec![assignment]));
    let request = CreatePartitionsRequest::default().with_topics(vec![topic]);
    accepts_every_served_version(ApiKey::CreatePartitions, &request, 0..=3);
}

#[test]
fn a_huge_array_count_is_refused_before_any_allocation() {
    // Metadata v1: topics array claiming i32::MAX elements, then nothing.
    let body = i32::MAX.to_be_bytes();
    let walked = check(ApiKey::Metadata, 1, &body);
    assert!(
        matches!(walked, Err(BoundsError { position: 4, .. })),
        "{walked:?}"
    );
    // Flexible Metadata v12: compact array count of u32::MAX.
    let body = [0xff, 0xff, 0xff, 0xff, 0x0f];
    assert!(check(ApiKey::Metadata, 12, &body).is_err());
    // Produce v3 with a records length past the end.
    let mut body = BytesMut::new();
    body.put_i16(-1);
    body.put_i16(1);
    body.put_i32(1000);
    body.put_i32(1);
    body.put_i16(1);
    body.put_u8(b't');
    body.put_i32(1);
    body.put_i32(0);
    body.put_i32(0x7fff_ffff);
    assert!(check(ApiKey::Produce, 3, &body).is_err());
}

#[test]
fn every_advertised_api_has_a_schema() {
    let missing: Vec<ApiKey> = crate::api::SERVED
        .iter()
        .map(|&(key, _, _)| key)
        .filter(|&key| key != ApiKey::ApiVersions && schema(key).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "advertised without a bounds schema: {missing:?}"
    );
    assert!(schema(ApiKey::ApiVersions).is_some());
}

fn s(text: &'static str) -> StrBytes {
    StrBytes::from_static_str(text)
}

/// `accepts_every_served_version` with a request built for each version
/// (the encoder refuses fields a version does not have).
fn accepts_built<T: Encodable>(
    api_key: ApiKey,
    versions: std::ops::RangeInclusive<i16>,
    build: impl Fn(i16) -> T,
) {
    for version in versions {
        accepts_every_served_version(api_key, &build(version), version..=version);
    }
}

fn when<T>(present: bool, value: T) -> Option<T> {
    present.then_some(value)
}

#[test]
fn group_requests_of_every_served_version_walk() {
    accepts_built(ApiKey::JoinGroup, 0..=9, |v| {
        JoinGroupRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_member_id(s("m"))
            .with_group_instance_id(when(v >= 5, s("i")))
            .with_protocol_type(s("consumer"))
            .with_reason(when(v >= 8, s("r")))
            .with_protocols(vec![
                join_group_request::JoinGroupRequestProtocol::default()
                    .with_name(s("range"))
                    .with_metadata(bytes::Bytes::from_static(b"meta")),
            ])
    });
    accepts_built(ApiKey::SyncGroup, 0..=5, |v| {
        SyncGroupRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_member_id(s("m"))
            .with_group_instance_id(when(v >= 3, s("i")))
            .with_protocol_type(when(v >= 5, s("consumer")))
            .with_protocol_name(when(v >= 5, s("range")))
            .with_assignments(vec![
                sync_group_request::SyncGroupRequestAssignment::default()
                    .with_member_id(s("m"))
                    .with_assignment(bytes::Bytes::from_static(b"a")),
            ])
    });
    accepts_built(ApiKey::Heartbeat, 0..=4, |v| {
        HeartbeatRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_member_id(s("m"))
            .with_group_instance_id(when(v >= 3, s("i")))
    });
    accepts_built(ApiKey::LeaveGroup, 0..=5, |v| {
        let members = if v >= 3 {
            vec![
                leave_group_request::MemberIdentity::default()
                    .with_member_id(s("m"))
                    .with_group_instance_id(Some(s("i")))
                    .with_reason(when(v >= 5, s("r"))),
            ]
        } else {
            Vec::new()
        };
        LeaveGroupRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_member_id(if v <= 2 { s("m") } else { s("") })
            .with_members(members)
    });
    accepts_built(ApiKey::FindCoordinator, 0..=4, |v| {
        FindCoordinatorRequest::default()
            .with_key(if v <= 3 { s("g") } else { s("") })
            .with_coordinator_keys(if v >= 4 { vec![s("g")] } else { Vec::new() })
    });
}

#[test]
fn offset_and_producer_requests_of_every_served_version_walk() {
    accepts_built(ApiKey::OffsetCommit, 2..=9, |v| {
        OffsetCommitRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_member_id(s("m"))
            .with_group_instance_id(when(v >= 7, s("i")))
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(name("t"))
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_committed_offset(5)
                            .with_committed_metadata(Some(s("md"))),
                    ]),
            ])
    });
    accepts_built(ApiKey::OffsetFetch, 1..=7, |v| {
        OffsetFetchRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_topics(Some(vec![
                offset_fetch_request::OffsetFetchRequestTopic::default()
                    .with_name(name("t"))
                    .with_partition_indexes(vec![0, 1]),
            ]))
            .with_require_stable(v >= 7)
    });
    accepts_built(ApiKey::OffsetFetch, 8..=9, |v| {
        OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s("g")))
                .with_member_id(when(v >= 9, s("m")))
                .with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopics::default()
                        .with_name(name("t"))
                        .with_partition_indexes(vec![0]),
                ])),
        ])
    });
    accepts_built(ApiKey::DescribeGroups, 0..=5, |v| {
        DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(s("g"))])
            .with_include_authorized_operations(v >= 3)
    });
    accepts_built(ApiKey::ListGroups, 3..=5, |v| {
        ListGroupsRequest::default()
            .with_states_filter(if v >= 4 {
                vec![s("Stable")]
            } else {
                Vec::new()
            })
            .with_types_filter(if v >= 5 {
                vec![s("classic")]
            } else {
                Vec::new()
            })
    });
    assert!(
        check(ApiKey::ListGroups, 0, &[]).is_ok(),
        "ListGroups v0-2 has no fields"
    );
    assert!(check(ApiKey::ListGroups, 0, &[0]).is_err());
    accepts_built(ApiKey::DeleteGroups, 0..=2, |_| {
        DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("g"))])
    });
    accepts_built(ApiKey::OffsetDelete, 0..=0, |_| {
        OffsetDeleteRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_topics(vec![
                offset_delete_request::OffsetDeleteRequestTopic::default()
                    .with_name(name("t"))
                    .with_partitions(vec![
                        offset_delete_request::OffsetDeleteRequestPartition::default()
                            .with_partition_index(2),
                    ]),
            ])
    });
    accepts_built(ApiKey::InitProducerId, 0..=4, |_| {
        InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(s("tx"))))
            .with_transaction_timeout_ms(1000)
    });
}

#[test]
fn a_group_request_claiming_a_huge_array_is_refused() {
    // DeleteGroups v0: groups_names count 2^31-1, then nothing.
    let body = [0x7f, 0xff, 0xff, 0xff];
    assert!(check(ApiKey::DeleteGroups, 0, &body).is_err());
    // JoinGroup v0 with a protocol metadata length far past the frame.
    let mut join = BytesMut::new();
    join.put_i16(1);
    join.put_u8(b'g');
    join.put_i32(1000);
    join.put_i16(0);
    join.put_i16(1);
    join.put_u8(b'c');
    join.put_i32(1);
    join.put_i16(1);
    join.put_u8(b'r');
    join.put_i32(i32::MAX);
    assert!(check(ApiKey::JoinGroup, 0, &join).is_err());
}
