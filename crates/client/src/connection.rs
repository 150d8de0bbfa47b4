//! One TCP connection to one broker: 4-byte length framing, correlation ids,
//! and ApiVersions negotiation (each request goes out at the highest version
//! both sides support). Requests are sent one at a time; the caller that
//! needs concurrency opens more connections.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::bounds::{self, Refusal};
use crate::error::{ClientError, boxed};
use crate::versions::client_range;

/// Largest response this client accepts. The size is checked before the body
/// is read, so a corrupt or hostile length prefix never becomes an allocation.
pub const RESPONSE_BYTES_MAX: usize = 256 * 1024 * 1024;

/// UNSUPPORTED_VERSION: the broker answers a too-new ApiVersions with a v0 body.
const UNSUPPORTED_VERSION: i16 = 35;

/// The largest encoding buffer a connection keeps between requests.
const SEND_BUFFER_KEPT_BYTES: usize = 4 << 20;

/// A connected, version-negotiated connection.
#[derive(Debug)]
pub struct Connection {
    addr: String,
    client_id: StrBytes,
    reader: BufReader<OwnedReadHalf>,
    writer: BufWriter<OwnedWriteHalf>,
    /// Where response frames are read. Each frame is split off it, and its
    /// allocation is reused once every slice of earlier frames is dropped:
    /// a fresh zeroed buffer per fetch cost page faults and a `memset` as
    /// large as the response itself.
    recv: BytesMut,
    /// Where requests are encoded, sized to each request before encoding and
    /// reused: a produce request copies its records in once, not once per
    /// doubling of a small buffer.
    send: BytesMut,
    next_correlation_id: i32,
    /// api key → (min, max) the broker advertised.
    broker_versions: HashMap<i16, (i16, i16)>,
    request_timeout: Duration,
    /// Set after an I/O error, timeout or unreadable response: the stream may be
    /// mid-frame, so the connection is never used again (the client reconnects).
    broken: bool,
}

impl Connection {
    /// Connects and negotiates versions with ApiVersions.
    pub async fn connect(
        addr: &str,
        client_id: &str,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Result<Self, ClientError> {
        let timeout_ms = connect_timeout.as_millis() as u64;
        let stream = tokio::time::timeout(connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::ConnectTimeout {
                addr: addr.to_owned(),
                timeout_ms,
            })?
            .map_err(|source| ClientError::Connect {
                addr: addr.to_owned(),
                source,
            })?;
        // Requests are small and latency-bound; never wait for Nagle.
        stream
            .set_nodelay(true)
            .map_err(|source| ClientError::Connect {
                addr: addr.to_owned(),
                source,
            })?;
        let (read, write) = stream.into_split();
        let mut conn = Self {
            addr: addr.to_owned(),
            client_id: StrBytes::from_string(client_id.to_owned()),
            reader: BufReader::with_capacity(64 * 1024, read),
            writer: BufWriter::with_capacity(64 * 1024, write),
            recv: BytesMut::new(),
            send: BytesMut::new(),
            next_correlation_id: 1,
            broker_versions: HashMap::new(),
            request_timeout,
            broken: false,
        };
        // The handshake gets the same deadline as any request: a broker that accepts
        // connections (its listen backlog does, even when stopped) but never answers must not
        // hang the caller.
        tokio::time::timeout(request_timeout, conn.negotiate())
            .await
            .map_err(|_| conn.timed_out(ApiKey::ApiVersions))??;
        Ok(conn)
    }

    /// The address this connection was opened to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Whether an earlier failure left this connection unusable.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Whether the broker advertised `api` in a version range this client speaks.
    pub fn supports(&self, api: ApiKey) -> bool {
        self.version_for(api).is_ok()
    }

    /// The version a request for `api` is sent at.
    pub fn version_for(&self, api: ApiKey) -> Result<i16, ClientError> {
        let (client_min, client_max) = client_range(api).unwrap_or((0, -1));
        let unsupported = || ClientError::UnsupportedVersion {
            addr: self.addr.clone(),
            api,
            min: client_min,
            max: client_max,
        };
        let &(broker_min, broker_max) = self
            .broker_versions
            .get(&(api as i16))
            .ok_or_else(unsupported)?;
        let version = client_max.min(broker_max);
        if version < client_min.max(broker_min) {
            return Err(unsupported());
        }
        Ok(version)
    }

    /// Sends `request` and waits for its response.
    pub async fn send<R: Request>(&mut self, request: &R) -> Result<R::Response, ClientError> {
        let api = api_key::<R>()?;
        let version = self.version_for(api)?;
        let result = self.send_at(request, version).await;
        self.note(result)
    }

    /// Sends `request` that the broker will not answer (Produce with acks=0).
    pub async fn send_no_response<R: Request>(&mut self, request: &R) -> Result<(), ClientError> {
        let api = api_key::<R>()?;
        let version = self.version_for(api)?;
        let result = self.write_request(request, api, version).await.map(|_| ());
        self.note(result)
    }

    /// Marks the connection broken after any failure that leaves the stream state unknown.
    fn note<T>(&mut self, result: Result<T, ClientError>) -> Result<T, ClientError> {
        if let Err(e) = &result
            && !matches!(
                e,
                ClientError::Encode { .. } | ClientError::UnsupportedVersion { .. }
            )
        {
            self.broken = true;
        }
        result
    }

    async fn send_at<R: Request>(
        &mut self,
        request: &R,
        version: i16,
    ) -> Result<R::Response, ClientError> {
        let api = api_key::<R>()?;
        let correlation_id = self.write_request(request, api, version).await?;
        let frame = tokio::time::timeout(self.request_timeout, self.read_frame())
            .await
            .map_err(|_| self.timed_out(api))??;
        self.decode_response::<R::Response>(frame, api, version, correlation_id)
    }

    /// No answer to `api` within the request timeout.
    fn timed_out(&self, api: ApiKey) -> ClientError {
        ClientError::RequestTimeout {
            addr: self.addr.clone(),
            api,
            timeout_ms: u64::try_from(self.request_timeout.as_millis()).unwrap_or(u64::MAX),
        }
    }

    async fn write_request<R: Request>(
        &mut self,
        request: &R,
        api: ApiKey,
        version: i16,
    ) -> Result<i32, ClientError> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        let header_version = R::header_version(version);
        // A size the encoder disagrees with only costs a reallocation.
        let size = header
            .compute_size(header_version)
            .ok()
            .zip(request.compute_size(version).ok());
        let mut buf = std::mem::take(&mut self.send);
        buf.clear();
        buf.reserve(4 + size.map_or(64, |(h, b)| h + b));
        buf.put_i32(0); // size, patched below
        let encode = |buf: &mut BytesMut| -> anyhow::Result<()> {
            header.encode(buf, header_version)?;
            request.encode(buf, version)
        };
        encode(&mut buf).map_err(|e| ClientError::Encode {
            api,
            source: boxed(e),
        })?;
        let size = i32::try_from(buf.len() - 4).map_err(|_| ClientError::Encode {
            api,
            source: "request larger than 2 GiB".into(),
        })?;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        let io = |source| ClientError::Io {
            addr: self.addr.clone(),
            source,
        };
        self.writer.write_all(&buf).await.map_err(io)?;
        self.writer
            .flush()
            .await
            .map_err(|source| ClientError::Io {
                addr: self.addr.clone(),
                source,
            })?;
        // Kept for the next request unless one unusually large request grew it.
        if buf.capacity() <= SEND_BUFFER_KEPT_BYTES {
            self.send = buf;
        }
        Ok(correlation_id)
    }

    async fn read_frame(&mut self) -> Result<Bytes, ClientError> {
        let size = match self.reader.read_i32().await {
            Ok(size) => size,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(ClientError::Closed {
                    addr: self.addr.clone(),
                });
            }
            Err(source) => {
                return Err(ClientError::Io {
                    addr: self.addr.clone(),
                    source,
                });
            }
        };
        if size.to_be_bytes() == *b"HTTP" {
            // A common mistake: pointing -b at an HTTP port (a proxy, a REST API).
            return Err(ClientError::NotKafka {
                addr: self.addr.clone(),
                answer: "HTTP",
            });
        }
        let size_bytes = usize::try_from(size)
            .ok()
            .filter(|&s| s <= RESPONSE_BYTES_MAX);
        let Some(size_bytes) = size_bytes else {
            return Err(ClientError::FrameTooLarge {
                addr: self.addr.clone(),
                size_bytes: i64::from(size),
                limit_bytes: RESPONSE_BYTES_MAX,
            });
        };
        self.recv.clear();
        self.recv.reserve(size_bytes);
        // Never past this frame: the next one is read by the next request.
        let mut body = (&mut self.reader).take(size_bytes as u64);
        while self.recv.len() < size_bytes {
            match body.read_buf(&mut self.recv).await {
                Ok(0) => {
                    return Err(ClientError::Closed {
                        addr: self.addr.clone(),
                    });
                }
                Ok(_) => {}
                Err(source) => {
                    return Err(ClientError::Io {
                        addr: self.addr.clone(),
                        source,
                    });
                }
            }
        }
        Ok(self.recv.split().freeze())
    }

    fn decode_response<T: Decodable + HeaderVersion>(
        &self,
        mut frame: Bytes,
        api: ApiKey,
        version: i16,
        expected: i32,
    ) -> Result<T, ClientError> {
        let header = ResponseHeader::decode(&mut frame, T::header_version(version))
            .map_err(|e| self.decode_error(api, e))?;
        if header.correlation_id != expected {
            return Err(ClientError::CorrelationMismatch {
                addr: self.addr.clone(),
                expected,
                actual: header.correlation_id,
            });
        }
        self.decode_body(frame, api, version)
    }

    /// Checks every length in `body` (the frame after its header) against
    /// the frame with the response schema of `api`, and only then decodes
    /// it: the decoder sizes allocations from those lengths.
    fn decode_body<T: Decodable>(
        &self,
        mut body: Bytes,
        api: ApiKey,
        version: i16,
    ) -> Result<T, ClientError> {
        bounds::check(api, version, &body).map_err(|refusal| match refusal {
            Refusal::NoSchema => ClientError::UncheckedResponse {
                addr: self.addr.clone(),
                api,
                version,
            },
            Refusal::Malformed(e) => ClientError::MalformedResponse {
                addr: self.addr.clone(),
                api,
                version,
                position: e.position,
                problem: e.problem,
            },
        })?;
        T::decode(&mut body, version).map_err(|e| self.decode_error(api, e))
    }

    fn decode_error(&self, api: ApiKey, source: anyhow::Error) -> ClientError {
        ClientError::Decode {
            addr: self.addr.clone(),
            api,
            source: boxed(source),
        }
    }

    /// ApiVersions at our highest version; a broker that does not know it
    /// answers UNSUPPORTED_VERSION with a v0 body, and we retry at v0.
    async fn negotiate(&mut self) -> Result<(), ClientError> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("ferrolog"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let response = match self.send_api_versions(&request, 3).await {
            Ok(r) if r.error_code != UNSUPPORTED_VERSION => r,
            // An answer we cannot read may come from a broker that knows only v0.
            Ok(_) | Err(ClientError::Decode { .. } | ClientError::MalformedResponse { .. }) => {
                self.send_api_versions(&request, 0).await?
            }
            Err(e) => return Err(e),
        };
        ClientError::check(ApiKey::ApiVersions, response.error_code, String::new)?;
        self.broker_versions = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(())
    }

    async fn send_api_versions(
        &mut self,
        request: &ApiVersionsRequest,
        version: i16,
    ) -> Result<ApiVersionsResponse, ClientError> {
        let api = ApiKey::ApiVersions;
        let correlation_id = self.write_request(request, api, version).await?;
        let mut frame = self.read_frame().await?;
        // The ApiVersions response header is always v0, whatever the request version.
        let header =
            ResponseHeader::decode(&mut frame, 0).map_err(|e| self.decode_error(api, e))?;
        if header.correlation_id != correlation_id {
            return Err(ClientError::CorrelationMismatch {
                addr: self.addr.clone(),
                expected: correlation_id,
                actual: header.correlation_id,
            });
        }
        // An error body is always v0-shaped: decode by peeking the error code first.
        let body_version = if frame.len() >= 2 && (&frame[..2]).get_i16() == UNSUPPORTED_VERSION {
            0
        } else {
            version
        };
        self.decode_body(frame, api, body_version)
    }
}

fn api_key<R: Request>() -> Result<ApiKey, ClientError> {
    ApiKey::try_from(R::KEY)
        .map_err(|()| ClientError::Protocol(format!("unknown api key {}", R::KEY)))
}

#[cfg(test)]
mod tests;
