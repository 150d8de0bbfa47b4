//! Kafka framing: a 4-byte big-endian length prefix, then the body. Pure
//! codecs over buffers; the socket belongs to `connection.rs`.
//!
//! request  = { size: i32 | api_key: i16 | api_version: i16 | correlation_id: i32 | client_id | [tags] | body }
//! response = { size: i32 | correlation_id: i32 | [tags] | body }

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::bounds::BoundsError;

/// Bytes of the length prefix.
pub const LENGTH_PREFIX_BYTES: usize = 4;
/// api_key + api_version + correlation_id: the fixed start of every request header.
const HEADER_FIXED_BYTES: usize = 8;

/// A frame that must close the connection.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge { size: u64, max: u32 },
    #[error("negative frame length {0}")]
    NegativeLength(i32),
    #[error("frame of {0} bytes is too short for a request header")]
    TooShort(usize),
    #[error("unknown api key {api_key} (correlation id {correlation_id})")]
    UnknownApiKey { api_key: i16, correlation_id: i32 },
    #[error("cannot decode {api_key:?} v{api_version} request header")]
    Header {
        api_key: ApiKey,
        api_version: i16,
        source: anyhow::Error,
    },
}

/// Takes one whole frame body off the front of `buf`, if it holds one.
///
/// The length is checked against `max_bytes` as soon as the 4-byte prefix is
/// available, before any of the body is read or buffered.
pub fn split_frame(buf: &mut BytesMut, max_bytes: u32) -> Result<Option<Bytes>, FrameError> {
    let Some(prefix) = buf.get(..LENGTH_PREFIX_BYTES) else {
        return Ok(None);
    };
    let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    let size = usize::try_from(size).map_err(|_| FrameError::NegativeLength(size))?;
    if size > max_bytes as usize {
        return Err(FrameError::TooLarge {
            size: size as u64,
            max: max_bytes,
        });
    }
    if buf.len() < LENGTH_PREFIX_BYTES + size {
        // Make room for the rest of this frame in one allocation.
        buf.reserve(LENGTH_PREFIX_BYTES + size - buf.len());
        return Ok(None);
    }
    buf.advance(LENGTH_PREFIX_BYTES);
    Ok(Some(buf.split_to(size).freeze()))
}

/// The body size the frame at the front of `buf` announces, once its prefix
/// has arrived (unchecked: [`split_frame`] judges it).
pub fn announced_size(buf: &[u8]) -> Option<usize> {
    let prefix: [u8; LENGTH_PREFIX_BYTES] = buf.get(..LENGTH_PREFIX_BYTES)?.try_into().ok()?;
    usize::try_from(i32::from_be_bytes(prefix)).ok()
}

/// A request frame with its header decoded; `body` is the rest, still encoded.
#[derive(Debug)]
pub struct Request {
    pub api_key: ApiKey,
    pub header: RequestHeader,
    pub body: Bytes,
    /// `body` walked with its schema, once: the in-flight budget charges
    /// what it counts, and the decoder is handed only a body that walked.
    pub walked: Result<ferrolog_wire::Walked, BoundsError>,
}

impl Request {
    pub fn version(&self) -> i16 {
        self.header.request_api_version
    }
}

/// Decodes the request header (v1 or flexible v2, as the API and version say).
pub fn parse_request(mut frame: Bytes) -> Result<Request, FrameError> {
    if frame.len() < HEADER_FIXED_BYTES {
        return Err(FrameError::TooShort(frame.len()));
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let api_version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api_key = ApiKey::try_from(raw_key).map_err(|()| FrameError::UnknownApiKey {
        api_key: raw_key,
        correlation_id,
    })?;
    if api_key == ApiKey::ApiVersions && !crate::api::api_versions::is_served(api_version) {
        // KIP-511: a client opens with its newest ApiVersions, whose header
        // layout may postdate ours. The answer (UNSUPPORTED_VERSION and our
        // ranges) needs only the correlation id, so decode nothing further.
        let header = RequestHeader::default()
            .with_request_api_key(raw_key)
            .with_request_api_version(api_version)
            .with_correlation_id(correlation_id);
        return Ok(Request {
            api_key,
            header,
            walked: crate::bounds::walk(api_key, api_version, &[]),
            body: Bytes::new(),
        });
    }
    let header_version = api_key.request_header_version(api_version);
    let header =
        RequestHeader::decode(&mut frame, header_version).map_err(|source| FrameError::Header {
            api_key,
            api_version,
            source,
        })?;
    Ok(Request {
        api_key,
        header,
        walked: crate::bounds::walk(api_key, api_version, &frame),
        body: frame,
    })
}

/// Appends one response frame (length, header, body) to `out`.
pub fn encode_response<M: Encodable>(
    out: &mut BytesMut,
    correlation_id: i32,
    header_version: i16,
    body: &M,
    version: i16,
) -> anyhow::Result<()> {
    // Size first, so a large Fetch response is copied into the buffer once
    // instead of again on every doubling.
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let size_bytes = header.compute_size(header_version)? + body.compute_size(version)?;
    out.reserve(LENGTH_PREFIX_BYTES + size_bytes);
    encode_response_by(out, correlation_id, header_version, |out| {
        body.encode(out, version)
    })
}

/// Writes a response frame whose body `write_body` writes: for the old
/// versions `kafka-protocol` cannot encode.
pub fn encode_response_by(
    out: &mut BytesMut,
    correlation_id: i32,
    header_version: i16,
    write_body: impl FnOnce(&mut BytesMut) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let start = out.len();
    out.put_i32(0);
    header.encode(out, header_version)?;
    write_body(out)?;
    let size = i32::try_from(out.len() - start - LENGTH_PREFIX_BYTES)?;
    out[start..start + LENGTH_PREFIX_BYTES].copy_from_slice(&size.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_frame_is_refused_from_its_prefix_alone() {
        let mut buf = BytesMut::from(&1_000_000i32.to_be_bytes()[..]);
        let result = split_frame(&mut buf, 1000);
        assert!(matches!(
            result,
            Err(FrameError::TooLarge {
                size: 1_000_000,
                max: 1000
            })
        ));
    }

    #[test]
    fn negative_length_is_refused() {
        let mut buf = BytesMut::from(&(-5i32).to_be_bytes()[..]);
        assert!(matches!(
            split_frame(&mut buf, 1000),
            Err(FrameError::NegativeLength(-5))
        ));
    }

    #[test]
    fn partial_frame_waits_for_more_bytes() {
        let mut buf = BytesMut::new();
        buf.put_i32(3);
        buf.put_u8(1);
        assert!(matches!(split_frame(&mut buf, 1000), Ok(None)));
        buf.put_slice(&[2, 3, 9]);
        let frame = split_frame(&mut buf, 1000).ok().flatten();
        assert_eq!(frame.as_deref(), Some(&[1u8, 2, 3][..]));
        assert_eq!(&buf[..], &[9]);
    }

    #[test]
    fn short_and_unknown_headers_are_errors_not_panics() {
        assert!(matches!(
            parse_request(Bytes::from_static(&[0, 18])),
            Err(FrameError::TooShort(2))
        ));
        let unknown = Bytes::from_static(&[0x7f, 0, 0, 0, 0, 0, 0, 7]);
        assert!(matches!(
            parse_request(unknown),
            Err(FrameError::UnknownApiKey {
                api_key: 0x7f00,
                correlation_id: 7
            })
        ));
        // Metadata v1 header whose client id claims more bytes than remain.
        let torn = Bytes::from_static(&[0, 3, 0, 1, 0, 0, 0, 7, 0, 50, b'a']);
        assert!(matches!(
            parse_request(torn),
            Err(FrameError::Header {
                api_key: ApiKey::Metadata,
                ..
            })
        ));
    }

    #[test]
    fn future_api_versions_needs_only_the_fixed_header() {
        // ApiVersions v9 with a header layout we cannot know: garbage after the correlation id.
        let future = Bytes::from_static(&[0, 18, 0, 9, 0, 0, 0, 5, 0xff, 0xff, 0xff]);
        let request = parse_request(future);
        assert!(
            matches!(&request, Ok(r) if r.api_key == ApiKey::ApiVersions && r.version() == 9 && r.header.correlation_id == 5)
        );
        // A served version still has its header decoded (and refused when torn).
        let torn = Bytes::from_static(&[0, 18, 0, 3, 0, 0, 0, 5, 0, 50]);
        assert!(matches!(
            parse_request(torn),
            Err(FrameError::Header { .. })
        ));
    }

    #[test]
    fn request_header_round_trips() {
        let mut buf = BytesMut::new();
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::Metadata as i16)
            .with_request_api_version(12)
            .with_correlation_id(42);
        header
            .encode(&mut buf, ApiKey::Metadata.request_header_version(12))
            .ok();
        buf.put_slice(b"body");
        let request = parse_request(buf.freeze());
        assert!(
            matches!(&request, Ok(r) if r.api_key == ApiKey::Metadata && r.header.correlation_id == 42 && &r.body[..] == b"body")
        );
    }
}
