//! A request frame body as the broker's reader gets it: header parse, the
//! bounds walk, then the codec crate's decoder (the broker's own readers for
//! Produce v0–2, OffsetCommit v0–1, DescribeConfigs v0 and DescribeLogDirs v0). Run with
//! `-malloc_limit_mb` (tools/fuzz does): any allocation sized from an
//! unchecked wire count is a crash, so this finds every API whose bounds
//! schema is missing or wrong.
#![no_main]

use bytes::Bytes;
use ferrolog_broker::{api, bounds, frame};
use kafka_protocol::messages::{ApiKey, RequestKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = frame::parse_request(Bytes::copy_from_slice(data)) else {
        return;
    };
    let version = request.version();
    let Some((min, max)) = api::served_versions(request.api_key) else {
        return;
    };
    if !(min..=max).contains(&version) {
        return;
    }
    // Whatever the decoder says is fine; aborting or over-allocating is not.
    if request.api_key == ApiKey::Produce {
        let _decoded = api::decode_produce(&request);
        return;
    }
    if request.api_key == ApiKey::OffsetCommit {
        let _decoded = api::decode_offset_commit(&request);
        return;
    }
    if request.api_key == ApiKey::DescribeConfigs {
        let _decoded = api::decode_describe_configs(&request);
        return;
    }
    if request.api_key == ApiKey::DescribeLogDirs {
        let _decoded = api::decode_describe_log_dirs(&request);
        return;
    }
    if bounds::check(request.api_key, version, &request.body).is_err() {
        return;
    }
    let mut body = request.body.clone();
    let _decoded = RequestKind::decode(request.api_key, &mut body, version);
});
