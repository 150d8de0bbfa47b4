//! Every response schema against `kafka-protocol`'s own encoder at every
//! version it describes, and a hostile length in every guarded response.

use std::collections::BTreeMap;

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};

use super::*;
use crate::versions::client_range;

fn s(v: &'static str) -> StrBytes {
    StrBytes::from_static_str(v)
}

fn name(v: &'static str) -> TopicName {
    TopicName(s(v))
}

fn blob(v: &'static [u8]) -> bytes::Bytes {
    bytes::Bytes::from_static(v)
}

/// An unknown tagged field, for flexible versions only (the encoder refuses
/// tagged fields before them).
fn unknown_tags(version: i16, flexible_since: i16) -> BTreeMap<i32, bytes::Bytes> {
    if version >= flexible_since {
        BTreeMap::from([(99, blob(b"future"))])
    } else {
        BTreeMap::new()
    }
}

/// At every version the schema of `api` describes, the response built for
/// that version is covered exactly; every shorter prefix fails; a trailing
/// byte is tolerated.
fn accepts_every_version<T: Encodable>(api: ApiKey, response: impl Fn(i16) -> T) {
    let (_, versions, _) = layout(api).expect("a schema");
    for version in versions {
        let mut buf = BytesMut::new();
        response(version)
            .encode(&mut buf, version)
            .unwrap_or_else(|e| panic!("{api:?} v{version} encodes: {e}"));
        let walked = walked_bytes(api, version, &buf);
        assert_eq!(
            walked,
            Ok(buf.len()),
            "{api:?} v{version}: the schema must cover exactly the encoded bytes"
        );
        for cut in 0..buf.len() {
            assert!(
                check(api, version, &buf[..cut]).is_err(),
                "{api:?} v{version} cut to {cut} bytes must fail"
            );
        }
        buf.put_u8(0);
        assert_eq!(check(api, version, &buf), Ok(()), "a trailing byte");
    }
}

// Fixed-width fields carry these values, never 0: read as a length by a
// schema that is off by a field, each is larger than any test body, so a
// wrong schema cannot cover the bytes by accident.
const N16: i16 = 0x7f01;
const N32: i32 = 0x7f01_0101;
const N64: i64 = 0x7f01_0101_0101_0101;

/// `value` from `since` on, else the field's default (the encoder refuses a
/// field set in a version without it).
fn from<T>(version: i16, since: i16, value: T, default: T) -> T {
    if version >= since { value } else { default }
}

#[test]
fn api_versions_responses_walk() {
    use api_versions_response::{ApiVersion, FinalizedFeatureKey, SupportedFeatureKey};
    accepts_every_version(ApiKey::ApiVersions, |v| {
        let key = ApiVersion::default()
            .with_api_key(N16)
            .with_min_version(N16)
            .with_max_version(N16)
            .with_unknown_tagged_fields(unknown_tags(v, 3));
        let response = ApiVersionsResponse::default()
            .with_error_code(N16)
            .with_api_keys(vec![key.clone(), key])
            .with_throttle_time_ms(from(v, 1, N32, 0));
        if v < 3 {
            return response;
        }
        response
            .with_supported_features(vec![
                SupportedFeatureKey::default()
                    .with_name(s("metadata.version"))
                    .with_min_version(N16)
                    .with_max_version(N16),
            ])
            .with_finalized_features_epoch(N64)
            .with_finalized_features(vec![
                FinalizedFeatureKey::default()
                    .with_name(s("metadata.version"))
                    .with_max_version_level(N16)
                    .with_min_version_level(N16),
            ])
            .with_zk_migration_ready(true)
            .with_unknown_tagged_fields(unknown_tags(v, 3))
    });
}

#[test]
fn metadata_responses_walk() {
    use metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    accepts_every_version(ApiKey::Metadata, |v| {
        let broker = MetadataResponseBroker::default()
            .with_node_id(BrokerId(N32))
            .with_host(s("localhost"))
            .with_port(N32)
            .with_rack(Some(s("r1")));
        let partition = MetadataResponsePartition::default()
            .with_error_code(N16)
            .with_partition_index(N32)
            .with_leader_id(BrokerId(N32))
            .with_leader_epoch(from(v, 7, N32, -1))
            .with_replica_nodes(vec![BrokerId(1), BrokerId(2)])
            .with_isr_nodes(vec![BrokerId(1)])
            .with_offline_replicas(from(v, 5, vec![BrokerId(2)], vec![]))
            .with_unknown_tagged_fields(unknown_tags(v, 9));
        let topic = MetadataResponseTopic::default()
            .with_error_code(N16)
            .with_name(Some(name("t")))
            .with_topic_id(from(v, 10, uuid::Uuid::from_u128(7), uuid::Uuid::nil()))
            .with_is_internal(true)
            .with_partitions(vec![partition.clone(), partition])
            .with_topic_authorized_operations(from(v, 8, N32, i32::MIN));
        MetadataResponse::default()
            .with_throttle_time_ms(from(v, 3, N32, 0))
            .with_brokers(vec![broker])
            .with_cluster_id(from(v, 2, Some(s("c")), None))
            .with_controller_id(BrokerId(N32))
            .with_topics(vec![topic])
            .with_cluster_authorized_operations(if (8..=10).contains(&v) { N32 } else { i32::MIN })
    });
}

#[test]
fn produce_responses_walk() {
    use produce_response::{
        BatchIndexAndErrorMessage, LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse,
        TopicProduceResponse,
    };
    accepts_every_version(ApiKey::Produce, |v| {
        let mut partition = PartitionProduceResponse::default()
            .with_index(N32)
            .with_error_code(N16)
            .with_base_offset(N64)
            .with_log_append_time_ms(N64)
            .with_log_start_offset(from(v, 5, N64, -1))
            .with_unknown_tagged_fields(unknown_tags(v, 9));
        if v >= 8 {
            partition = partition
                .with_record_errors(vec![
                    BatchIndexAndErrorMessage::default()
                        .with_batch_index(N32)
                        .with_batch_index_error_message(Some(s("bad"))),
                ])
                .with_error_message(Some(s("some bad")));
        }
        let mut response = ProduceResponse::default().with_throttle_time_ms(N32);
        if v >= 10 {
            partition = partition.with_current_leader(
                LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(N32))
                    .with_leader_epoch(N32),
            );
            response = response.with_node_endpoints(vec![
                NodeEndpoint::default()
                    .with_node_id(BrokerId(N32))
                    .with_host(s("h"))
                    .with_port(N32)
                    .with_rack(Some(s("r"))),
            ]);
        }
        let topic = TopicProduceResponse::default()
            .with_name(name("t"))
            .with_partition_responses(vec![partition]);
        response.with_responses(vec![topic.clone(), topic])
    });
}

#[test]
fn fetch_responses_walk() {
    use fetch_response::{
        AbortedTransaction, EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch,
        PartitionData, SnapshotId,
    };
    accepts_every_version(ApiKey::Fetch, |v| {
        let mut partition = PartitionData::default()
            .with_partition_index(N32)
            .with_error_code(N16)
            .with_high_watermark(N64)
            .with_last_stable_offset(N64)
            .with_log_start_offset(from(v, 5, N64, -1))
            .with_aborted_transactions(Some(vec![
                AbortedTransaction::default()
                    .with_producer_id(ProducerId(N64))
                    .with_first_offset(N64),
            ]))
            .with_preferred_read_replica(BrokerId(from(v, 11, N32, -1)))
            .with_records(Some(blob(b"not really a batch")));
        if v >= 12 {
            partition = partition
                .with_diverging_epoch(
                    EpochEndOffset::default()
                        .with_epoch(N32)
                        .with_end_offset(N64),
                )
                .with_current_leader(
                    LeaderIdAndEpoch::default()
                        .with_leader_id(BrokerId(N32))
                        .with_leader_epoch(N32),
                )
                .with_snapshot_id(SnapshotId::default().with_end_offset(N64).with_epoch(N32))
                .with_unknown_tagged_fields(unknown_tags(v, 12));
        }
        let topic = FetchableTopicResponse::default()
            .with_topic(name("t"))
            .with_partitions(vec![partition, PartitionData::default()]);
        FetchResponse::default()
            .with_throttle_time_ms(N32)
            .with_error_code(from(v, 7, N16, 0))
            .with_session_id(from(v, 7, N32, 0))
            .with_responses(vec![topic])
    });
}

#[test]
fn list_offsets_responses_walk() {
    use list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
    accepts_every_version(ApiKey::ListOffsets, |v| {
        let partition = ListOffsetsPartitionResponse::default()
            .with_partition_index(N32)
            .with_error_code(N16)
            .with_timestamp(N64)
            .with_offset(N64)
            .with_leader_epoch(from(v, 4, N32, -1));
        let topic = ListOffsetsTopicResponse::default()
            .with_name(name("t"))
            .with_partitions(vec![partition]);
        ListOffsetsResponse::default()
            .with_throttle_time_ms(from(v, 2, N32, 0))
            .with_topics(vec![topic])
    });
}

#[test]
fn admin_responses_walk() {
    use create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
    accepts_every_version(ApiKey::CreateTopics, |v| {
        let mut topic = CreatableTopicResult::default()
            .with_name(name("t"))
            .with_error_code(N16)
            .with_error_message(Some(s("no")));
        if v >= 5 {
            topic = topic
                .with_num_partitions(N32)
                .with_replication_factor(N16)
                .with_configs(Some(vec![
                    CreatableTopicConfigs::default()
                        .with_name(s("retention.ms"))
                        .with_value(Some(s("1")))
                        .with_read_only(true)
                        .with_config_source(5)
                        .with_is_sensitive(true),
                ]))
                .with_topic_config_error_code(N16);
        }
        if v >= 7 {
            topic = topic.with_topic_id(uuid::Uuid::from_u128(3));
        }
        CreateTopicsResponse::default()
            .with_throttle_time_ms(N32)
            .with_topics(vec![topic])
    });

    use create_partitions_response::CreatePartitionsTopicResult;
    accepts_every_version(ApiKey::CreatePartitions, |_| {
        let result = CreatePartitionsTopicResult::default()
            .with_name(name("t"))
            .with_error_code(N16)
            .with_error_message(Some(s("no")));
        CreatePartitionsResponse::default()
            .with_throttle_time_ms(N32)
            .with_results(vec![result])
    });

    use delete_topics_response::DeletableTopicResult;
    accepts_every_version(ApiKey::DeleteTopics, |v| {
        let result = DeletableTopicResult::default()
            .with_name(Some(name("t")))
            .with_error_code(N16)
            .with_error_message(from(v, 5, Some(s("gone")), None));
        DeleteTopicsResponse::default()
            .with_throttle_time_ms(N32)
            .with_responses(vec![result])
    });

    use delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
    accepts_every_version(ApiKey::DeleteRecords, |v| {
        let partition = DeleteRecordsPartitionResult::default()
            .with_partition_index(N32)
            .with_low_watermark(7)
            .with_error_code(N16)
            .with_unknown_tagged_fields(unknown_tags(v, 2));
        DeleteRecordsResponse::default()
            .with_throttle_time_ms(N32)
            .with_topics(vec![
                DeleteRecordsTopicResult::default()
                    .with_name(name("t"))
                    .with_partitions(vec![partition]),
            ])
    });

    use describe_configs_response::{
        DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
    };
    accepts_every_version(ApiKey::DescribeConfigs, |v| {
        let config = DescribeConfigsResourceResult::default()
            .with_name(s("retention.ms"))
            .with_value(Some(s("1")))
            .with_read_only(true)
            .with_config_source(5)
            .with_is_sensitive(true)
            .with_synonyms(vec![
                DescribeConfigsSynonym::default()
                    .with_name(s("log.retention.ms"))
                    .with_value(Some(s("2")))
                    .with_source(4),
            ])
            .with_config_type(from(v, 3, 5, 0))
            .with_documentation(from(v, 3, Some(s("doc")), None));
        let result = DescribeConfigsResult::default()
            .with_error_code(N16)
            .with_error_message(Some(s("e")))
            .with_resource_type(2)
            .with_resource_name(s("t"))
            .with_configs(vec![config]);
        DescribeConfigsResponse::default()
            .with_throttle_time_ms(N32)
            .with_results(vec![result])
    });

    use incremental_alter_configs_response::AlterConfigsResourceResponse;
    accepts_every_version(ApiKey::IncrementalAlterConfigs, |_| {
        let resource = AlterConfigsResourceResponse::default()
            .with_error_code(N16)
            .with_error_message(Some(s("no")))
            .with_resource_type(2)
            .with_resource_name(s("t"));
        IncrementalAlterConfigsResponse::default()
            .with_throttle_time_ms(N32)
            .with_responses(vec![resource])
    });

    accepts_every_version(ApiKey::InitProducerId, |v| {
        InitProducerIdResponse::default()
            .with_throttle_time_ms(N32)
            .with_error_code(N16)
            .with_producer_id(ProducerId(N64))
            .with_producer_epoch(N16)
            .with_unknown_tagged_fields(unknown_tags(v, 2))
    });
}

#[test]
fn describe_log_dirs_responses_walk() {
    use describe_log_dirs_response::{
        DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
    };
    accepts_every_version(ApiKey::DescribeLogDirs, |v| {
        let partition = DescribeLogDirsPartition::default()
            .with_partition_index(N32)
            .with_partition_size(N64)
            .with_offset_lag(N64)
            .with_is_future_key(true)
            .with_unknown_tagged_fields(unknown_tags(v, 2));
        let topic = DescribeLogDirsTopic::default()
            .with_name(name("t"))
            .with_partitions(vec![partition.clone(), partition]);
        let dir = DescribeLogDirsResult::default()
            .with_error_code(N16)
            .with_log_dir(s("/data"))
            .with_topics(vec![topic])
            .with_total_bytes(from(v, 4, N64, -1))
            .with_usable_bytes(from(v, 4, N64, -1));
        DescribeLogDirsResponse::default()
            .with_throttle_time_ms(N32)
            .with_error_code(from(v, 3, N16, 0))
            .with_results(vec![dir])
            .with_unknown_tagged_fields(unknown_tags(v, 2))
    });
}

#[test]
fn group_responses_walk() {
    accepts_every_version(ApiKey::FindCoordinator, |v| {
        FindCoordinatorResponse::default()
            .with_throttle_time_ms(from(v, 1, N32, 0))
            .with_error_code(N16)
            .with_error_message(from(v, 1, Some(s("none")), None))
            .with_node_id(BrokerId(N32))
            .with_host(s("localhost"))
            .with_port(N32)
    });

    use join_group_response::JoinGroupResponseMember;
    accepts_every_version(ApiKey::JoinGroup, |v| {
        let member = JoinGroupResponseMember::default()
            .with_member_id(s("m"))
            .with_group_instance_id(from(v, 5, Some(s("i")), None))
            .with_metadata(blob(b"meta"));
        JoinGroupResponse::default()
            .with_throttle_time_ms(from(v, 2, N32, 0))
            .with_error_code(N16)
            .with_generation_id(N32)
            .with_protocol_type(from(v, 7, Some(s("consumer")), None))
            .with_protocol_name(Some(s("range")))
            .with_leader(s("m"))
            .with_skip_assignment(v >= 9)
            .with_member_id(s("m"))
            .with_members(vec![member.clone(), member])
    });

    accepts_every_version(ApiKey::SyncGroup, |v| {
        SyncGroupResponse::default()
            .with_throttle_time_ms(from(v, 1, N32, 0))
            .with_error_code(N16)
            .with_protocol_type(from(v, 5, Some(s("consumer")), None))
            .with_protocol_name(from(v, 5, Some(s("range")), None))
            .with_assignment(blob(b"assignment"))
    });

    accepts_every_version(ApiKey::Heartbeat, |v| {
        HeartbeatResponse::default()
            .with_throttle_time_ms(from(v, 1, N32, 0))
            .with_error_code(N16)
            .with_unknown_tagged_fields(unknown_tags(v, 4))
    });

    use leave_group_response::MemberResponse;
    accepts_every_version(ApiKey::LeaveGroup, |v| {
        let member = MemberResponse::default()
            .with_member_id(s("m"))
            .with_group_instance_id(Some(s("i")))
            .with_error_code(N16);
        LeaveGroupResponse::default()
            .with_throttle_time_ms(from(v, 1, N32, 0))
            .with_error_code(N16)
            .with_members(from(v, 3, vec![member], vec![]))
    });

    use offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
    accepts_every_version(ApiKey::OffsetCommit, |v| {
        let partition = OffsetCommitResponsePartition::default()
            .with_partition_index(N32)
            .with_error_code(N16);
        let topic = OffsetCommitResponseTopic::default()
            .with_name(name("t"))
            .with_partitions(vec![partition]);
        OffsetCommitResponse::default()
            .with_throttle_time_ms(from(v, 3, N32, 0))
            .with_topics(vec![topic])
    });

    use offset_fetch_response::{OffsetFetchResponsePartition, OffsetFetchResponseTopic};
    accepts_every_version(ApiKey::OffsetFetch, |v| {
        let partition = OffsetFetchResponsePartition::default()
            .with_partition_index(N32)
            .with_committed_offset(N64)
            .with_committed_leader_epoch(from(v, 5, N32, -1))
            .with_metadata(Some(s("md")))
            .with_error_code(N16);
        let topic = OffsetFetchResponseTopic::default()
            .with_name(name("t"))
            .with_partitions(vec![partition]);
        OffsetFetchResponse::default()
            .with_throttle_time_ms(from(v, 3, N32, 0))
            .with_topics(vec![topic])
            .with_error_code(from(v, 2, N16, 0))
    });

    use list_groups_response::ListedGroup;
    accepts_every_version(ApiKey::ListGroups, |v| {
        let group = ListedGroup::default()
            .with_group_id(GroupId(s("g")))
            .with_protocol_type(s("consumer"))
            .with_group_state(from(v, 4, s("Stable"), s("")));
        ListGroupsResponse::default()
            .with_throttle_time_ms(from(v, 1, N32, 0))
            .with_error_code(N16)
            .with_groups(vec![group.clone(), group])
    });

    use describe_groups_response::{DescribedGroup, DescribedGroupMember};
    accepts_every_version(ApiKey::DescribeGroups, |v| {
        let member = DescribedGroupMember::default()
            .with_member_id(s("m"))
            .with_group_instance_id(from(v, 4, Some(s("i")), None))
            .with_client_id(s("c"))
            .with_client_host(s("/127.0.0.1"))
            .with_member_metadata(blob(b"meta"))
            .with_member_assignment(blob(b"assign"));
        let group = DescribedGroup::default()
            .with_error_code(N16)
            .with_group_id(GroupId(s("g")))
            .with_group_state(s("Stable"))
            .with_protocol_type(s("consumer"))
            .with_protocol_data(s("range"))
            .with_members(vec![member])
            .with_authorized_operations(from(v, 3, N32, i32::MIN));
        DescribeGroupsResponse::default()
            .with_throttle_time_ms(from(v, 1, N32, 0))
            .with_groups(vec![group])
    });

    use delete_groups_response::DeletableGroupResult;
    accepts_every_version(ApiKey::DeleteGroups, |_| {
        let result = DeletableGroupResult::default()
            .with_group_id(GroupId(s("g")))
            .with_error_code(N16);
        DeleteGroupsResponse::default()
            .with_throttle_time_ms(N32)
            .with_results(vec![result])
    });
}

/// How the first length of a hostile body is written.
#[derive(Clone, Copy, Debug)]
enum Length {
    /// An i16 string length of i16::MAX.
    Short,
    /// An i32 array or bytes length of i32::MAX.
    Wide,
    /// A compact length of 2^31 (flexible versions).
    Compact,
    /// A tagged-field count of 2^31 (a flexible body with no other length).
    TaggedCount,
}

/// Per API and version: the bytes of fixed-width fields before the first
/// length, and how that length is written.
const HOSTILE: &[(ApiKey, i16, usize, Length)] = &[
    (ApiKey::ApiVersions, 0, 2, Length::Wide),
    (ApiKey::ApiVersions, 3, 2, Length::Compact),
    (ApiKey::Metadata, 1, 0, Length::Wide),
    (ApiKey::Metadata, 12, 4, Length::Compact),
    (ApiKey::Produce, 3, 0, Length::Wide),
    (ApiKey::Produce, 12, 0, Length::Compact),
    (ApiKey::Fetch, 4, 4, Length::Wide),
    (ApiKey::Fetch, 12, 10, Length::Compact),
    (ApiKey::ListOffsets, 1, 0, Length::Wide),
    (ApiKey::ListOffsets, 7, 4, Length::Compact),
    (ApiKey::CreateTopics, 2, 4, Length::Wide),
    (ApiKey::CreateTopics, 7, 4, Length::Compact),
    (ApiKey::CreatePartitions, 0, 4, Length::Wide),
    (ApiKey::CreatePartitions, 3, 4, Length::Compact),
    (ApiKey::DeleteTopics, 1, 4, Length::Wide),
    (ApiKey::DeleteTopics, 5, 4, Length::Compact),
    (ApiKey::DeleteRecords, 0, 4, Length::Wide),
    (ApiKey::DeleteRecords, 2, 4, Length::Compact),
    (ApiKey::DescribeConfigs, 1, 4, Length::Wide),
    (ApiKey::DescribeConfigs, 4, 4, Length::Compact),
    (ApiKey::IncrementalAlterConfigs, 0, 4, Length::Wide),
    (ApiKey::IncrementalAlterConfigs, 1, 4, Length::Compact),
    (ApiKey::InitProducerId, 4, 16, Length::TaggedCount),
    (ApiKey::FindCoordinator, 0, 6, Length::Short),
    (ApiKey::FindCoordinator, 3, 6, Length::Compact),
    (ApiKey::JoinGroup, 0, 6, Length::Short),
    (ApiKey::JoinGroup, 9, 10, Length::Compact),
    (ApiKey::SyncGroup, 0, 2, Length::Wide),
    (ApiKey::SyncGroup, 5, 6, Length::Compact),
    (ApiKey::Heartbeat, 4, 6, Length::TaggedCount),
    (ApiKey::LeaveGroup, 3, 6, Length::Wide),
    (ApiKey::LeaveGroup, 5, 6, Length::Compact),
    (ApiKey::OffsetCommit, 2, 0, Length::Wide),
    (ApiKey::OffsetCommit, 8, 4, Length::Compact),
    (ApiKey::OffsetFetch, 1, 0, Length::Wide),
    (ApiKey::OffsetFetch, 7, 4, Length::Compact),
    (ApiKey::ListGroups, 0, 2, Length::Wide),
    (ApiKey::ListGroups, 4, 6, Length::Compact),
    (ApiKey::DescribeGroups, 0, 0, Length::Wide),
    (ApiKey::DescribeGroups, 5, 4, Length::Compact),
    (ApiKey::DeleteGroups, 0, 4, Length::Wide),
    (ApiKey::DeleteGroups, 2, 4, Length::Compact),
    (ApiKey::DescribeLogDirs, 1, 4, Length::Wide),
    (ApiKey::DescribeLogDirs, 4, 6, Length::Compact),
];

#[test]
fn a_length_past_the_frame_is_refused_in_every_guarded_response() {
    for &(api, version, fixed_bytes, length) in HOSTILE {
        let mut body = vec![0u8; fixed_bytes];
        let (bytes, problem): (&[u8], _) = match length {
            Length::Short => (&[0x7f, 0xff], "length larger than the rest of the frame"),
            Length::Wide => (
                &[0x7f, 0xff, 0xff, 0xff],
                "length larger than the rest of the frame",
            ),
            Length::Compact => (
                &[0x80, 0x80, 0x80, 0x80, 0x08],
                "length larger than the rest of the frame",
            ),
            Length::TaggedCount => (
                &[0x80, 0x80, 0x80, 0x80, 0x08],
                "more tagged fields than bytes",
            ),
        };
        body.extend_from_slice(bytes);
        body.extend_from_slice(&[0; 16]);
        let walked = check(api, version, &body);
        let expected = WalkError {
            position: fixed_bytes + bytes.len(),
            problem,
        };
        assert_eq!(
            walked,
            Err(Refusal::Malformed(expected)),
            "{api:?} v{version} with {length:?}"
        );
    }
    for api in ApiKey::iter().filter(|api| layout(*api).is_some()) {
        assert!(
            HOSTILE.iter().any(|(a, ..)| *a == api),
            "{api:?} has no hostile-length case"
        );
    }
}

#[test]
fn every_version_the_client_negotiates_has_a_schema() {
    for api in ApiKey::iter() {
        let Some((min, max)) = client_range(api) else {
            continue;
        };
        for version in min..=max {
            assert!(
                schema(api, version).is_some(),
                "{api:?} v{version} can be negotiated but has no response schema"
            );
        }
    }
}

#[test]
fn an_api_or_version_without_a_schema_is_refused() {
    // Fail closed: EndTxn is never sent, and Metadata v13 is past what the
    // schema describes.
    assert_eq!(check(ApiKey::EndTxn, 0, &[]), Err(Refusal::NoSchema));
    assert_eq!(
        check(ApiKey::Metadata, 13, &[0; 64]),
        Err(Refusal::NoSchema)
    );
}

#[test]
fn a_known_tagged_field_cannot_hide_a_huge_array() {
    // ApiVersions v3: no error, no api keys, no throttle, then one tagged
    // field: SupportedFeatures (tag 0) of declared size 5 whose compact
    // count claims 2^31 - 1 features. The decoder reads a known tag by its
    // type, not its size, so the walk must too.
    let body = [
        0, 0, 1, 0, 0, 0, 0, 1, 0, 5, 0x80, 0x80, 0x80, 0x80, 0x08, 0, 0, 0,
    ];
    let walked = check(ApiKey::ApiVersions, 3, &body);
    assert_eq!(
        walked,
        Err(Refusal::Malformed(WalkError {
            position: 15,
            problem: "length larger than the rest of the frame"
        }))
    );
}
