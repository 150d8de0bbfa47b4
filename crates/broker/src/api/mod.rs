//! Request dispatch: one arm per API key, each calling `api::<name>::handle`.
//!
//! A handler runs on the connection's reader task, in request order, so
//! appends from one connection reach a partition in the order they were
//! sent. Work that waits (a Fetch long poll, an fsync for acks=-1) is
//! returned as `Reply::Later`, spawned, and answered in order by the writer.
//! Admin work that touches the disk (creating, deleting and reconfiguring
//! topics) runs on tokio's blocking pool through [`blocking`], awaited by the
//! reader so the connection's order still holds.

use std::future::Future;
use std::sync::Arc;

use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::task::JoinHandle;

use crate::broker::Broker;
use crate::frame::{self, Request};
use crate::outbound::Outbound;

pub mod alter_configs;
pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_configs_v0;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_commit_v0;
pub mod offset_delete;
pub mod offset_fetch;
pub mod primitives;
pub mod produce;
pub mod produce_v0;
pub mod sync_group;

/// The API versions this broker serves — and advertises in ApiVersions.
/// Nothing is listed that is not handled below.
pub const SERVED: &[(ApiKey, i16, i16)] = &[
    // v0–2 so that librdkafka before 2.11.1 compresses (see produce_v0).
    (ApiKey::Produce, 0, 12),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::DescribeConfigs, 0, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeCluster, 0, 2),
    // v0 for kafka-python (see describe_log_dirs); kafka-protocol starts at v1.
    (ApiKey::DescribeLogDirs, 0, 4),
    // Consumer groups and the idempotent producer (group/, producer/).
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    // v0–1 for Sarama (see offset_commit_v0); kafka-protocol and Kafka 4.0 start at v2.
    (ApiKey::OffsetCommit, 0, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::InitProducerId, 0, 4),
];

/// The served version range of `api_key`, if it is served at all.
pub fn served_versions(api_key: ApiKey) -> Option<(i16, i16)> {
    SERVED
        .iter()
        .find(|(key, _, _)| *key == api_key)
        .map(|&(_, min, max)| (min, max))
}

/// Writes one response frame into the connection's pending output.
pub type Encoder = Box<dyn FnOnce(&mut Outbound) -> anyhow::Result<()> + Send>;

/// What the connection sends back for one request.
pub enum Reply {
    /// Ready to encode now.
    Now(Encoder),
    /// Still being worked on (long poll, fsync); answered in order when done.
    Later(JoinHandle<Encoder>),
    /// acks=0 produce: Kafka sends nothing.
    Nothing,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reply::Now(_) => "Reply::Now",
            Reply::Later(_) => "Reply::Later",
            Reply::Nothing => "Reply::Nothing",
        })
    }
}

/// A handler's result: a response now, later, or none.
pub enum Outcome<R> {
    Now(R),
    Later(std::pin::Pin<Box<dyn Future<Output = R> + Send>>),
    Nothing,
}

impl<R> std::fmt::Debug for Outcome<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Now(_) => "Outcome::Now",
            Outcome::Later(_) => "Outcome::Later",
            Outcome::Nothing => "Outcome::Nothing",
        })
    }
}

/// A request the connection cannot answer: it is closed, as Kafka does.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("{api_key:?} v{version} is not served")]
    Unsupported { api_key: ApiKey, version: i16 },
    #[error(transparent)]
    Bounds(#[from] crate::bounds::BoundsError),
    #[error("cannot decode {api_key:?} v{version} request body")]
    Decode {
        api_key: ApiKey,
        version: i16,
        source: anyhow::Error,
    },
    #[error(transparent)]
    Unacknowledged(#[from] produce::Unacknowledged),
    #[error("{api_key:?} handler did not finish")]
    Aborted {
        api_key: ApiKey,
        source: tokio::task::JoinError,
    },
}

/// Handles one request from `peer`.
pub async fn dispatch(
    broker: &Arc<Broker>,
    request: Request,
    peer: std::net::SocketAddr,
) -> Result<Reply, DispatchError> {
    let api_key = request.api_key;
    let version = request.version();
    if api_key == ApiKey::ApiVersions {
        return Ok(api_versions::handle(&request));
    }
    match served_versions(api_key) {
        Some((min, max)) if (min..=max).contains(&version) => {}
        _ => return Err(DispatchError::Unsupported { api_key, version }),
    }
    let reply = match api_key {
        ApiKey::Produce => respond_with(
            &request,
            produce::handle(broker, decode_produce(&request)?, version).await?,
            encode_produce_frame,
        ),
        ApiKey::Fetch => {
            let fetch = crate::limits::cap_fetch(decode(&request)?, &broker.config);
            respond_with(
                &request,
                fetch::handle(broker, fetch, version),
                fetch::encode_frame,
            )
        }
        ApiKey::ListOffsets => now(
            &request,
            list_offsets::handle(broker, decode(&request)?, version),
        ),
        ApiKey::Metadata => {
            off_workers(&request, broker, move |b, body| {
                metadata::handle(b, body, version)
            })
            .await?
        }
        ApiKey::CreateTopics => {
            off_workers(&request, broker, move |b, body| {
                create_topics::handle(b, body, version)
            })
            .await?
        }
        ApiKey::DeleteTopics => {
            off_workers(&request, broker, move |b, body| {
                delete_topics::handle(b, body, version)
            })
            .await?
        }
        ApiKey::DeleteRecords => off_workers(&request, broker, delete_records::handle).await?,
        ApiKey::DescribeConfigs => respond_with(
            &request,
            Outcome::Now(describe_configs::handle(
                broker,
                decode_describe_configs(&request)?,
                version,
            )),
            encode_describe_configs_frame,
        ),
        ApiKey::AlterConfigs => off_workers(&request, broker, alter_configs::handle).await?,
        ApiKey::CreatePartitions => {
            off_workers(&request, broker, create_partitions::handle).await?
        }
        ApiKey::IncrementalAlterConfigs => {
            off_workers(&request, broker, incremental_alter_configs::handle).await?
        }
        ApiKey::DescribeLogDirs => {
            let body = decode_describe_log_dirs(&request)?;
            // Off the workers: it takes every partition's lock in turn and,
            // from v4, makes a statvfs.
            let response = blocking(broker, api_key, move |b| {
                describe_log_dirs::handle(b, body, version)
            })
            .await?;
            respond_with(
                &request,
                Outcome::Now(response),
                encode_describe_log_dirs_frame,
            )
        }
        ApiKey::DescribeCluster => now(
            &request,
            describe_cluster::handle(broker, decode(&request)?, version),
        ),
        ApiKey::FindCoordinator => now(
            &request,
            find_coordinator::handle(broker, decode(&request)?, version),
        ),
        ApiKey::JoinGroup => respond(
            &request,
            join_group::handle(broker, &request.header, decode(&request)?, version, peer),
        ),
        ApiKey::SyncGroup => respond(
            &request,
            sync_group::handle(broker, decode(&request)?, version),
        ),
        ApiKey::Heartbeat => now(
            &request,
            heartbeat::handle(broker, decode(&request)?, version),
        ),
        ApiKey::LeaveGroup => now(
            &request,
            leave_group::handle(broker, decode(&request)?, version),
        ),
        ApiKey::OffsetCommit => respond_with(
            &request,
            offset_commit::handle(broker, decode_offset_commit(&request)?, version),
            encode_offset_commit_frame,
        ),
        ApiKey::OffsetFetch => now(
            &request,
            offset_fetch::handle(broker, decode(&request)?, version),
        ),
        ApiKey::DescribeGroups => now(
            &request,
            describe_groups::handle(broker, decode(&request)?, version),
        ),
        ApiKey::ListGroups => now(
            &request,
            list_groups::handle(broker, decode(&request)?, version),
        ),
        ApiKey::DeleteGroups => respond(&request, delete_groups::handle(broker, decode(&request)?)),
        ApiKey::OffsetDelete => respond(&request, offset_delete::handle(broker, decode(&request)?)),
        ApiKey::InitProducerId => respond(
            &request,
            init_producer_id::handle(broker, decode(&request)?, version),
        ),
        _ => return Err(DispatchError::Unsupported { api_key, version }),
    };
    Ok(reply)
}

/// Runs `work` on tokio's blocking pool and waits for it. Admin handlers
/// create directories, write files and fsync, one topic after another, under
/// the registry's std mutex: on a runtime worker, two of them would stall
/// every connection of a two-core broker until they finished.
pub(crate) async fn blocking<R: Send + 'static>(
    broker: &Arc<Broker>,
    api_key: ApiKey,
    work: impl FnOnce(&Arc<Broker>) -> R + Send + 'static,
) -> Result<R, DispatchError> {
    let broker = Arc::clone(broker);
    tokio::task::spawn_blocking(move || work(&broker))
        .await
        .map_err(|source| DispatchError::Aborted { api_key, source })
}

/// Decodes the request and answers it with `handle` run by [`blocking`]:
/// for the admin handlers, which touch the disk.
async fn off_workers<T, R>(
    request: &Request,
    broker: &Arc<Broker>,
    handle: impl FnOnce(&Arc<Broker>, T) -> R + Send + 'static,
) -> Result<Reply, DispatchError>
where
    T: Decodable + Send + 'static,
    R: Encodable + Send + 'static,
{
    let body: T = decode(request)?;
    let response = blocking(broker, request.api_key, move |b| handle(b, body)).await?;
    Ok(now(request, response))
}

/// Decodes the request body for the request's version.
fn decode<T: Decodable>(request: &Request) -> Result<T, DispatchError> {
    // The decoder allocates from counts on the wire: they were checked by the walk.
    request.walked?;
    let mut body = request.body.clone();
    T::decode(&mut body, request.version()).map_err(|source| DispatchError::Decode {
        api_key: request.api_key,
        version: request.version(),
        source,
    })
}

/// A Produce request of any served version: v0–2, which `kafka-protocol`
/// does not decode, are decoded as the v3 body they are short of. Public so
/// the request fuzz target decodes it exactly as the broker does.
pub fn decode_produce(
    request: &Request,
) -> Result<kafka_protocol::messages::ProduceRequest, DispatchError> {
    let first = produce_v0::FIRST_DECODED_VERSION;
    decode_with_legacy(request, first, |body, _| {
        Decodable::decode(&mut produce_v0::widen(body), first)
    })
}

/// An OffsetCommit request of any served version: v0–1, which
/// `kafka-protocol` does not decode, are read by `offset_commit_v0`. Public
/// so the request fuzz target decodes it exactly as the broker does.
pub fn decode_offset_commit(
    request: &Request,
) -> Result<kafka_protocol::messages::OffsetCommitRequest, DispatchError> {
    decode_with_legacy(
        request,
        offset_commit_v0::FIRST_DECODED_VERSION,
        |body, version| Ok(offset_commit_v0::decode(body, version)?),
    )
}

/// A DescribeConfigs request of any served version: v0, which
/// `kafka-protocol` does not decode, is decoded as the v1 body it is short of.
/// Public so the request fuzz target decodes it exactly as the broker does.
pub fn decode_describe_configs(
    request: &Request,
) -> Result<kafka_protocol::messages::DescribeConfigsRequest, DispatchError> {
    let first = describe_configs_v0::FIRST_DECODED_VERSION;
    decode_with_legacy(request, first, |body, _| {
        Decodable::decode(&mut describe_configs_v0::widen(body), first)
    })
}

/// A DescribeLogDirs request of any served version: v0, which
/// `kafka-protocol` does not decode, is v1's bytes. Public so the request
/// fuzz target decodes it exactly as the broker does.
pub fn decode_describe_log_dirs(
    request: &Request,
) -> Result<kafka_protocol::messages::DescribeLogDirsRequest, DispatchError> {
    let first = describe_log_dirs::FIRST_DECODED_VERSION;
    decode_with_legacy(request, first, |mut body, _| {
        Decodable::decode(&mut body, first)
    })
}

/// Decodes a request of an API whose oldest served versions `kafka-protocol`
/// no longer reads: from `first_decoded` on with the crate, below it with
/// `legacy` (given the body and version), after the same bounds walk.
fn decode_with_legacy<T: Decodable>(
    request: &Request,
    first_decoded: i16,
    legacy: impl FnOnce(&[u8], i16) -> anyhow::Result<T>,
) -> Result<T, DispatchError> {
    if request.version() >= first_decoded {
        return decode(request);
    }
    request.walked?;
    legacy(&request.body, request.version()).map_err(|source| DispatchError::Decode {
        api_key: request.api_key,
        version: request.version(),
        source,
    })
}

/// DescribeConfigs v0 responses are written by hand, the rest by the crate.
fn encode_describe_configs_frame(
    out: &mut Outbound,
    correlation_id: i32,
    header_version: i16,
    response: kafka_protocol::messages::DescribeConfigsResponse,
    version: i16,
) -> anyhow::Result<()> {
    if version >= describe_configs_v0::FIRST_DECODED_VERSION {
        return encode_frame(out, correlation_id, header_version, response, version);
    }
    frame::encode_response_by(out.buf(), correlation_id, header_version, |body| {
        describe_configs_v0::write_body(body, &response)
    })
}

/// Produce v0–2 responses are written by hand, the rest by the crate.
fn encode_produce_frame(
    out: &mut Outbound,
    correlation_id: i32,
    header_version: i16,
    response: kafka_protocol::messages::ProduceResponse,
    version: i16,
) -> anyhow::Result<()> {
    if version >= produce_v0::FIRST_DECODED_VERSION {
        return encode_frame(out, correlation_id, header_version, response, version);
    }
    frame::encode_response_by(out.buf(), correlation_id, header_version, |body| {
        produce_v0::write_body(body, &response, version)
    })
}

/// OffsetCommit responses v0–2 are the same bytes; `kafka-protocol` writes v2+ only.
fn encode_offset_commit_frame(
    out: &mut Outbound,
    correlation_id: i32,
    header_version: i16,
    response: kafka_protocol::messages::OffsetCommitResponse,
    version: i16,
) -> anyhow::Result<()> {
    let version = version.max(offset_commit_v0::FIRST_DECODED_VERSION);
    encode_frame(out, correlation_id, header_version, response, version)
}

/// DescribeLogDirs v0 responses are v1's bytes; `kafka-protocol` writes v1+ only.
fn encode_describe_log_dirs_frame(
    out: &mut Outbound,
    correlation_id: i32,
    header_version: i16,
    response: kafka_protocol::messages::DescribeLogDirsResponse,
    version: i16,
) -> anyhow::Result<()> {
    let version = version.max(describe_log_dirs::FIRST_DECODED_VERSION);
    encode_frame(out, correlation_id, header_version, response, version)
}

fn now<R: Encodable + Send + 'static>(request: &Request, response: R) -> Reply {
    respond(request, Outcome::Now(response))
}

fn respond<R: Encodable + Send + 'static>(request: &Request, outcome: Outcome<R>) -> Reply {
    respond_with(request, outcome, encode_frame::<R>)
}

/// Writes a response frame with `kafka-protocol`'s encoder.
fn encode_frame<R: Encodable>(
    out: &mut Outbound,
    correlation_id: i32,
    header_version: i16,
    response: R,
    version: i16,
) -> anyhow::Result<()> {
    frame::encode_response(
        out.buf(),
        correlation_id,
        header_version,
        &response,
        version,
    )
}

/// Writes a frame: `(out, correlation id, header version, response, version)`.
type FrameEncoder<R> = fn(&mut Outbound, i32, i16, R, i16) -> anyhow::Result<()>;

/// Like [`respond`], with a response-specific frame encoder (Fetch shares its
/// record bytes with the connection instead of copying them).
fn respond_with<R: Send + 'static>(
    request: &Request,
    outcome: Outcome<R>,
    encode: FrameEncoder<R>,
) -> Reply {
    let correlation_id = request.header.correlation_id;
    let version = request.version();
    let header_version = request.api_key.response_header_version(version);
    let encoder = move |response: R| -> Encoder {
        Box::new(move |out: &mut Outbound| {
            encode(out, correlation_id, header_version, response, version)
        })
    };
    match outcome {
        Outcome::Now(response) => Reply::Now(encoder(response)),
        Outcome::Later(future) => Reply::Later(tokio::spawn(async move { encoder(future.await) })),
        Outcome::Nothing => Reply::Nothing,
    }
}
