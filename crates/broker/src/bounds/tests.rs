use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};

use super::*;
use crate::api::served_versions;

fn name(s: &'static str) -> TopicName {
    TopicName(StrBytes::from_static_str(s))
}

/// Every served version of a populated request is covered exactly by its
/// schema; the same bytes cut short by one fail.
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
        let walked = walked_bytes(api_key, version, &buf);
        assert!(
            matches!(walked, Ok(n) if n == buf.len()),
            "{api_key:?} v{version}: the schema must cover exactly the {} bytes: {walked:?}",
            buf.len()
        );
        if let Some(shorter) = buf.len().checked_sub(1) {
            let cut = check(api_key, version, &buf[..shorter]);
            assert!(cut.is_err(), "{api_key:?} v{version} cut short must fail");
        }
        buf.put_u8(0);
        assert!(
            check(api_key, version, &buf).is_ok(),
            "a trailing byte is tolerated"
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
    // `kafka-protocol` writes v3 and later only: v0–2 are v3 without its
    // leading transactional id (null here, i16 -1).
    let mut v3 = BytesMut::new();
    request.encode(&mut v3, 3).expect("Produce v3 encodes");
    let v0 = &v3[2..];
    for version in 0..=2 {
        let walked = walked_bytes(ApiKey::Produce, version, v0);
        assert!(
            matches!(walked, Ok(n) if n == v0.len()),
            "Produce v{version}: {walked:?}"
        );
        let cut = check(ApiKey::Produce, version, &v0[..v0.len() - 1]);
        assert!(cut.is_err(), "Produce v{version} cut short must fail");
    }
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

    let topic = describe_log_dirs_request::DescribableLogDirTopic::default()
        .with_topic(name("t"))
        .with_partitions(vec![0, 2]);
    let some = DescribeLogDirsRequest::default().with_topics(Some(vec![topic.clone(), topic]));
    accepts_every_served_version(ApiKey::DescribeLogDirs, &some, 1..=4);
    let all = DescribeLogDirsRequest::default().with_topics(None);
    accepts_every_served_version(ApiKey::DescribeLogDirs, &all, 1..=4);
    // `kafka-protocol` writes v1 and later only: v0 is v1's bytes.
    let mut v1 = BytesMut::new();
    some.encode(&mut v1, 1).expect("DescribeLogDirs v1 encodes");
    let walked = walked_bytes(ApiKey::DescribeLogDirs, 0, &v1);
    assert!(
        matches!(walked, Ok(n) if n == v1.len()),
        "DescribeLogDirs v0: {walked:?}"
    );
    let cut = check(ApiKey::DescribeLogDirs, 0, &v1[..v1.len() - 1]);
    assert!(cut.is_err(), "DescribeLogDirs v0 cut short must fail");
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
fn every_served_api_has_a_schema() {
    for (api_key, _, _) in crate::api::SERVED {
        assert!(
            schema(*api_key).is_some(),
            "{api_key:?} is served without a bounds schema"
        );
    }
}

#[test]
fn group_requests_of_every_served_version_walk() {
    let s = |v: &'static str| StrBytes::from_static_str(v);
    let find = FindCoordinatorRequest::default().with_key(s("g"));
    accepts_every_served_version(ApiKey::FindCoordinator, &find, 0..=3);
    let find = FindCoordinatorRequest::default().with_coordinator_keys(vec![s("g"), s("h")]);
    accepts_every_served_version(ApiKey::FindCoordinator, &find, 4..=4);

    let protocol = join_group_request::JoinGroupRequestProtocol::default()
        .with_name(s("range"))
        .with_metadata(bytes::Bytes::from_static(b"meta"));
    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_member_id(s("m"))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![protocol.clone(), protocol]);
    accepts_every_served_version(ApiKey::JoinGroup, &join, 0..=9);

    let assignment = sync_group_request::SyncGroupRequestAssignment::default()
        .with_member_id(s("m"))
        .with_assignment(bytes::Bytes::from_static(b"a"));
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_member_id(s("m"))
        .with_assignments(vec![assignment]);
    accepts_every_served_version(ApiKey::SyncGroup, &sync, 0..=5);

    let heartbeat = HeartbeatRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_member_id(s("m"));
    accepts_every_served_version(ApiKey::Heartbeat, &heartbeat, 0..=4);

    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_member_id(s("m"));
    accepts_every_served_version(ApiKey::LeaveGroup, &leave, 0..=2);
    let member = leave_group_request::MemberIdentity::default().with_member_id(s("m"));
    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_members(vec![member]);
    accepts_every_served_version(ApiKey::LeaveGroup, &leave, 3..=5);

    let partition = offset_commit_request::OffsetCommitRequestPartition::default()
        .with_committed_offset(5)
        .with_committed_metadata(Some(s("md")));
    let topic = offset_commit_request::OffsetCommitRequestTopic::default()
        .with_name(name("t"))
        .with_partitions(vec![partition]);
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_member_id(s("m"))
        .with_topics(vec![topic]);
    accepts_every_served_version(ApiKey::OffsetCommit, &commit, 2..=9);

    let topic = offset_fetch_request::OffsetFetchRequestTopic::default()
        .with_name(name("t"))
        .with_partition_indexes(vec![0, 1]);
    let fetch = OffsetFetchRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_topics(Some(vec![topic]));
    accepts_every_served_version(ApiKey::OffsetFetch, &fetch, 1..=7);
    let topics = offset_fetch_request::OffsetFetchRequestTopics::default()
        .with_name(name("t"))
        .with_partition_indexes(vec![3]);
    let group = offset_fetch_request::OffsetFetchRequestGroup::default()
        .with_group_id(GroupId(s("g")))
        .with_topics(Some(vec![topics]));
    accepts_every_served_version(
        ApiKey::OffsetFetch,
        &OffsetFetchRequest::default().with_groups(vec![group]),
        8..=9,
    );

    let describe =
        DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g")), GroupId(s("h"))]);
    accepts_every_served_version(ApiKey::DescribeGroups, &describe, 0..=5);
    accepts_every_served_version(ApiKey::ListGroups, &ListGroupsRequest::default(), 0..=3);
    let list = ListGroupsRequest::default().with_states_filter(vec![s("Stable")]);
    accepts_every_served_version(ApiKey::ListGroups, &list, 4..=4);
    accepts_every_served_version(
        ApiKey::ListGroups,
        &list.with_types_filter(vec![s("classic")]),
        5..=5,
    );
    let delete = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("g"))]);
    accepts_every_served_version(ApiKey::DeleteGroups, &delete, 0..=2);

    let partition =
        offset_delete_request::OffsetDeleteRequestPartition::default().with_partition_index(2);
    let topic = offset_delete_request::OffsetDeleteRequestTopic::default()
        .with_name(name("t"))
        .with_partitions(vec![partition]);
    let delete = OffsetDeleteRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_topics(vec![topic]);
    accepts_every_served_version(ApiKey::OffsetDelete, &delete, 0..=0);

    let init = InitProducerIdRequest::default().with_transaction_timeout_ms(100);
    accepts_every_served_version(ApiKey::InitProducerId, &init, 0..=4);
}

#[test]
fn an_api_without_a_schema_is_refused() {
    // Fail closed: EndTxn is not served and has no schema.
    assert!(check(ApiKey::EndTxn, 0, &[]).is_err());
}

#[test]
fn fuzz_regression_describe_groups_with_a_huge_count() {
    // Found by fuzz/request_decode: DescribeGroups v0 whose 39-byte body
    // declares 872 million group ids; decoding it asked for 27.9 GB.
    let body = [
        0x34, 0x03, 0x00, 0x0e, 0x00, 0x20, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x09, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, 0xe8, 0x00, 0x0e, 0x00, 0x00, 0x03, 0x00,
        0x01, 0x2b, 0x00, 0x03, 0x00, 0x0e, 0x00, 0x00, 0x03,
    ];
    assert!(check(ApiKey::DescribeGroups, 0, &body).is_err());
}
