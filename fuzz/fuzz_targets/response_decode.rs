//! A response body as the client's connection gets it (after the response
//! header): the bounds walk, then the codec crate's decoder, for every API
//! and version the client negotiates. Run with `-malloc_limit_mb` (tools/fuzz
//! does): an allocation sized from an unchecked wire count is a crash, so this
//! finds every response whose schema is missing or wrong.
#![no_main]

use bytes::Bytes;
use ferrolog_client::{bounds, versions};
use kafka_protocol::messages::{ApiKey, ResponseKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [key, pick, body @ ..] = data else {
        return;
    };
    let Ok(api) = ApiKey::try_from(i16::from(*key)) else {
        return;
    };
    let Some((min, max)) = versions::client_range(api) else {
        return;
    };
    let version = min + i16::from(*pick) % (max - min + 1);
    if bounds::check(api, version, body).is_err() {
        return;
    }
    let mut body = Bytes::copy_from_slice(body);
    // Whatever the decoder says is fine; aborting or over-allocating is not.
    let _decoded = ResponseKind::decode(api, &mut body, version);
});
