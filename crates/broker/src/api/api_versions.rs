//! ApiVersions: which API versions this broker serves.
//!
//! A client asking with a version we do not serve gets a v0 body carrying
//! UNSUPPORTED_VERSION and our ranges, so it can retry with one we do; the
//! response header is always v0 for this API.

use bytes::BytesMut;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::Decodable;

use super::{Encoder, Reply, SERVED};
use crate::frame::{self, Request};

const VERSION_MIN: i16 = 0;
const VERSION_MAX: i16 = 4;

/// Whether this broker knows the layout of an ApiVersions request of `version`.
pub fn is_served(version: i16) -> bool {
    (VERSION_MIN..=VERSION_MAX).contains(&version)
}

pub fn handle(request: &Request) -> Reply {
    let requested = request.version();
    let mut response = ApiVersionsResponse::default().with_api_keys(api_keys());
    let version = if is_served(requested) {
        let mut body = request.body.clone();
        let fits = crate::bounds::check(request.api_key, requested, &body).is_ok();
        if !fits || ApiVersionsRequest::decode(&mut body, requested).is_err() {
            response.error_code = ResponseError::InvalidRequest.code();
        }
        requested
    } else {
        response.error_code = ResponseError::UnsupportedVersion.code();
        0
    };
    let correlation_id = request.header.correlation_id;
    let encoder: Encoder = Box::new(move |out: &mut BytesMut| {
        frame::encode_response(out, correlation_id, 0, &response, version)
    });
    Reply::Now(encoder)
}

fn api_keys() -> Vec<ApiVersion> {
    SERVED
        .iter()
        .map(|&(key, min, max)| {
            ApiVersion::default()
                .with_api_key(key as i16)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect()
}
