//! A small async Kafka client on the `kafka-protocol` codecs, shared by the
//! `ferrolog` CLI, the integration tests and the load tools. It has no CLI
//! concerns: no printing, no argument parsing, no process exit.
//!
//! # Layout
//! - [`error`] — `ClientError`, the one error type; Kafka error codes keep their name.
//! - [`versions`] — the highest version of each API this client is written against.
//! - [`connection`] — one TCP connection: framing, correlation ids, ApiVersions negotiation.
//! - `bounds` — every length in a response body checked against the frame before it is decoded.
//! - [`client`] — bootstrap, the metadata cache (leader per partition) and a connection per broker.
//! - [`produce`] — Produce and InitProducerId.
//! - [`fetch`] — Fetch.
//! - [`offsets`] — ListOffsets (earliest, latest, by timestamp) and DeleteRecords (moving the log start).
//! - [`admin`] — CreateTopics, DeleteTopics, DescribeConfigs, IncrementalAlterConfigs.
//! - [`log_dirs`] — DescribeLogDirs: each partition's bytes on disk, asked of its leader.
//! - [`group`] — group membership (FindCoordinator, Join/Sync/Heartbeat/Leave) and committed offsets.
//! - [`group_admin`] — ListGroups, DescribeGroups, DeleteGroups.
//! - [`assignment`] — the "consumer" protocol's subscription/assignment payloads and the range assignor.
//! - [`batch`] — building v2 record batches and decoding fetched ones (headers as a list: keys may repeat).
//! - [`decompress`] — codecs for fetched batches, with a ceiling on the decompressed size.
//! - [`partitioner`] — murmur2, exactly as Kafka's Java client computes it.
//! - [`simple`] — one-call `send_records` / `read_records` for tests and tools.

pub mod admin;
pub mod assignment;
pub mod batch;
pub mod bounds;
pub mod client;
pub mod connection;
pub mod decompress;
pub mod error;
pub mod fetch;
pub mod group;
pub mod group_admin;
pub mod log_dirs;
pub mod offsets;
pub mod partitioner;
pub mod produce;
pub mod simple;
pub mod versions;

pub use batch::{ConsumedRecord, DecodedRecords, ProducerRecord, ProducerStamp};
pub use client::{Client, ClientConfig, PartitionMetadata, TopicMetadata};
pub use connection::Connection;
pub use error::{ClientError, GroupProtocol, KafkaCode};
pub use kafka_protocol::ResponseError;
pub use kafka_protocol::messages::ApiKey;
pub use kafka_protocol::records::Compression;
pub use offsets::OffsetSpec;
