//! Helpers for the consumer-group and idempotent-producer tests, on top of the shared broker
//! harness in `tests/common`: a raw Kafka protocol client for requests librdkafka cannot be made
//! to send, and a TCP proxy that can cut a connection at a chosen moment.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Every wait in these tests is bounded by this.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// The smallest session timeout the broker allows by default; expiry tests wait this long.
pub const SESSION_TIMEOUT_MS: &str = "6000";

/// The broker harness is the one every integration test shares.
pub use crate::common::TestBroker;

/// Poll `check` until it returns `Some`, or panic after `TIMEOUT` with `what`.
pub async fn eventually<T>(what: &str, check: impl FnMut() -> Option<T>) -> T {
    crate::common::eventually_within(TIMEOUT, what, check).await
}

/// A minimal Kafka client: one request at a time on one connection.
pub struct RawClient {
    stream: TcpStream,
    correlation_id: i32,
}

impl RawClient {
    pub async fn connect(addr: SocketAddr) -> RawClient {
        RawClient {
            stream: TcpStream::connect(addr).await.expect("connect"),
            correlation_id: 0,
        }
    }

    pub async fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        request: &Req,
    ) -> Resp {
        let mut body = BytesMut::new();
        request.encode(&mut body, version).expect("encode request");
        let mut response = self.call_raw(api_key, version, &body).await;
        Resp::decode(&mut response, version).expect("decode response")
    }

    /// Sends a body encoded by hand (for versions `kafka-protocol` cannot
    /// write); returns the response body after its header.
    pub async fn call_raw(&mut self, api_key: ApiKey, version: i16, request_body: &[u8]) -> Bytes {
        self.try_call_raw(api_key, version, request_body)
            .await
            .expect("the broker answers")
    }

    /// Like [`RawClient::call_raw`]; `None` if the broker closed the connection instead.
    pub async fn try_call_raw(
        &mut self,
        api_key: ApiKey,
        version: i16,
        request_body: &[u8],
    ) -> Option<Bytes> {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("raw-test-client")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, api_key.request_header_version(version))
            .expect("encode header");
        body.put_slice(request_body);
        let mut frame = BytesMut::with_capacity(body.len() + 4);
        frame.put_i32(i32::try_from(body.len()).unwrap());
        frame.put_slice(&body);
        self.stream.write_all(&frame).await.expect("send");
        // A closed connection ends the read early.
        let len = self.stream.read_i32().await.ok()?;
        let mut buf = vec![0u8; usize::try_from(len).unwrap()];
        self.stream.read_exact(&mut buf).await.ok()?;
        let mut buf = Bytes::from(buf);
        let header = ResponseHeader::decode(&mut buf, api_key.response_header_version(version))
            .expect("header");
        assert_eq!(header.correlation_id, self.correlation_id);
        Some(buf)
    }
}

/// Appends a Kafka string of a non-flexible version (i16 length, then the
/// bytes), for request bodies `kafka-protocol` cannot encode.
pub fn put_str(buf: &mut Vec<u8>, text: &str) {
    buf.extend_from_slice(&i16::try_from(text.len()).unwrap().to_be_bytes());
    buf.extend_from_slice(text.as_bytes());
}

/// Reads what `put_str` writes from a response body; `None` for a null (-1).
pub fn get_str(buf: &mut Bytes) -> Option<String> {
    let len = usize::try_from(buf.get_i16()).ok()?;
    Some(String::from_utf8(buf.split_to(len).to_vec()).unwrap())
}

/// A TCP proxy in front of the broker. While `cut_next_produce` is set, the proxy forwards the
/// next Produce request to the broker and then closes both sides without relaying the answer:
/// the append happened, the client never heard of it.
pub struct CuttingProxy {
    pub addr: SocketAddr,
    pub cut_next_produce: Arc<AtomicBool>,
    pub cuts: Arc<std::sync::atomic::AtomicUsize>,
}

impl CuttingProxy {
    /// Bind first (the broker must advertise this address), then `serve` once the broker is up.
    pub async fn bind() -> (CuttingProxy, TcpListener) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy bind");
        let proxy = CuttingProxy {
            addr: listener.local_addr().unwrap(),
            cut_next_produce: Arc::new(AtomicBool::new(false)),
            cuts: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        };
        (proxy, listener)
    }

    pub fn serve(&self, listener: TcpListener, broker: SocketAddr) {
        let cut = self.cut_next_produce.clone();
        let cuts = self.cuts.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let cut = cut.clone();
                let cuts = cuts.clone();
                tokio::spawn(async move {
                    let Ok(upstream) = TcpStream::connect(broker).await else {
                        return;
                    };
                    relay(client, upstream, cut, cuts).await;
                });
            }
        });
    }
}

async fn relay(
    client: TcpStream,
    upstream: TcpStream,
    cut: Arc<AtomicBool>,
    cuts: Arc<std::sync::atomic::AtomicUsize>,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut up_read, mut up_write) = upstream.into_split();
    let (cut_tx, mut cut_rx) = tokio::sync::watch::channel(false);
    let requests = tokio::spawn(async move {
        loop {
            let Ok(len) = client_read.read_i32().await else {
                return;
            };
            let mut body = vec![0u8; usize::try_from(len).unwrap_or(0)];
            if client_read.read_exact(&mut body).await.is_err() {
                return;
            }
            let api_key = (&body[..2]).get_i16();
            let mut frame = len.to_be_bytes().to_vec();
            frame.extend_from_slice(&body);
            let cutting = api_key == ApiKey::Produce as i16 && cut.swap(false, Ordering::SeqCst);
            if cutting {
                // Stop relaying answers first, so this request's answer never reaches the client.
                cut_tx.send_replace(true);
            }
            if up_write.write_all(&frame).await.is_err() {
                return;
            }
            if cutting {
                // Give the broker time to append, then close both sides.
                tokio::time::sleep(Duration::from_millis(300)).await;
                cuts.fetch_add(1, Ordering::SeqCst);
                return;
            }
        }
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            read = up_read.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if *cut_rx.borrow() { break; }
                    if client_write.write_all(&buf[..n]).await.is_err() { break; }
                }
            },
            _ = cut_rx.changed() => break,
        }
    }
    if *cut_rx.borrow() {
        // The cut request must still reach the broker before the connection closes.
        drop(requests.await);
    } else {
        requests.abort();
    }
}
