//! The Fetch response on its way to the socket: the crate's encoding, which
//! copies every record batch into the output buffer, against
//! `api::fetch::encode_frame`, which hands the batches over as shared `Bytes`
//! (written with writev). Both end in a write to a sink that discards bytes,
//! as a socket would take them.
//!
//! `cargo bench --bench fetch_encode`
#![allow(clippy::unwrap_used, missing_debug_implementations)]

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput};
use ferrolog_broker::api::fetch::encode_frame;
use ferrolog_broker::frame::encode_response;
use ferrolog_broker::outbound::Outbound;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::io::AsyncWriteExt;

const PARTITIONS: i32 = 8;
const PARTITION_BYTES: usize = 1 << 20;
const VERSION: i16 = 11;

fn response(records: &Bytes) -> FetchResponse {
    let partitions = (0..PARTITIONS)
        .map(|p| {
            PartitionData::default()
                .with_partition_index(p)
                .with_records(Some(records.clone()))
        })
        .collect();
    let topic = FetchableTopicResponse::default()
        .with_topic(TopicName(StrBytes::from_static_str("bench")))
        .with_partitions(partitions);
    FetchResponse::default().with_responses(vec![topic])
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let records = Bytes::from(vec![0x5a_u8; PARTITION_BYTES]);
    let mut group = c.benchmark_group("fetch_response");
    group.throughput(Throughput::Bytes(
        PARTITIONS as u64 * PARTITION_BYTES as u64,
    ));
    group.bench_function("copying (crate encoder)", |b| {
        let mut out = BytesMut::new();
        b.iter(|| {
            out.clear();
            encode_response(&mut out, 1, 0, &response(&records), VERSION).unwrap();
            runtime.block_on(tokio::io::sink().write_all(&out)).unwrap();
        });
    });
    group.bench_function("shared (encode_frame + writev)", |b| {
        let mut out = Outbound::default();
        b.iter(|| {
            encode_frame(&mut out, 1, 0, response(&records), VERSION).unwrap();
            runtime
                .block_on(out.write_to(&mut tokio::io::sink()))
                .unwrap();
        });
    });
    group.finish();
}

criterion::criterion_group!(benches, bench);
criterion::criterion_main!(benches);
