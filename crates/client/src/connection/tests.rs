//! The connection against a scripted fake broker on 127.0.0.1:0: version
//! fallback, and every way a response can be wrong.

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsResponse, MetadataRequest};
use kafka_protocol::protocol::Encodable;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

const TIMEOUT: Duration = Duration::from_secs(5);

/// Reads one request frame; returns (api version, correlation id).
async fn read_request(stream: &mut TcpStream) -> (i16, i32) {
    let size = stream.read_i32().await.expect("size");
    let mut body = vec![0u8; usize::try_from(size).expect("positive")];
    stream.read_exact(&mut body).await.expect("body");
    let version = i16::from_be_bytes([body[2], body[3]]);
    let correlation = i32::from_be_bytes([body[4], body[5], body[6], body[7]]);
    (version, correlation)
}

async fn write_frame(stream: &mut TcpStream, correlation: i32, body: &[u8]) {
    let mut frame = BytesMut::new();
    frame.put_i32(i32::try_from(4 + body.len()).expect("small"));
    frame.put_i32(correlation);
    frame.put_slice(body);
    stream.write_all(&frame).await.expect("write");
}

fn versions_body(version: i16, error_code: i16) -> Vec<u8> {
    let response = ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(vec![
            ApiVersion::default()
                .with_api_key(ApiKey::ApiVersions as i16)
                .with_min_version(0)
                .with_max_version(3),
            ApiVersion::default()
                .with_api_key(ApiKey::Metadata as i16)
                .with_min_version(0)
                .with_max_version(9),
        ]);
    let mut buf = BytesMut::new();
    response.encode(&mut buf, version).expect("encode");
    buf.to_vec()
}

/// Runs `script` as the broker side of one connection; returns the client's result.
async fn against<F, Fut>(script: F) -> Result<Connection, ClientError>
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        script(stream).await;
    });
    let result = Connection::connect(&addr, "test", TIMEOUT, TIMEOUT).await;
    server.await.expect("server task");
    result
}

/// A connection to a fake broker that answers ApiVersions (Metadata up to
/// v9) and then runs `script` on the stream; returns the connection and the
/// script's task.
async fn negotiated<F, Fut>(
    request_timeout: Duration,
    script: F,
) -> (Connection, tokio::task::JoinHandle<Fut::Output>)
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future + Send,
    Fut::Output: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let (_, correlation) = read_request(&mut s).await;
        write_frame(&mut s, correlation, &versions_body(3, 0)).await;
        script(s).await
    });
    let conn = Connection::connect(&addr, "t", TIMEOUT, request_timeout)
        .await
        .expect("connects");
    (conn, server)
}

#[tokio::test]
async fn negotiates_the_highest_common_version() {
    let conn = against(|mut s| async move {
        let (version, correlation) = read_request(&mut s).await;
        assert_eq!(version, 3);
        write_frame(&mut s, correlation, &versions_body(3, 0)).await;
    })
    .await
    .expect("connects");
    assert_eq!(conn.version_for(ApiKey::Metadata).expect("metadata"), 9);
    assert!(matches!(
        conn.version_for(ApiKey::Produce),
        Err(ClientError::UnsupportedVersion { .. })
    ));
}

#[tokio::test]
async fn falls_back_to_v0_on_unsupported_version() {
    let conn = against(|mut s| async move {
        let (_, correlation) = read_request(&mut s).await;
        // An old broker answers a too-new ApiVersions with a v0 body and error 35.
        write_frame(&mut s, correlation, &versions_body(0, 35)).await;
        let (version, correlation) = read_request(&mut s).await;
        assert_eq!(version, 0);
        write_frame(&mut s, correlation, &versions_body(0, 0)).await;
    })
    .await
    .expect("connects at v0");
    assert!(conn.supports(ApiKey::Metadata));
}

#[tokio::test]
async fn oversized_response_is_refused_before_reading_it() {
    let result = against(|mut s| async move {
        read_request(&mut s).await;
        s.write_all(&i32::MAX.to_be_bytes()).await.expect("write");
    })
    .await;
    assert!(
        matches!(result, Err(ClientError::FrameTooLarge { size_bytes, .. }) if size_bytes == i64::from(i32::MAX))
    );
    let result = against(|mut s| async move {
        read_request(&mut s).await;
        s.write_all(&(-5i32).to_be_bytes()).await.expect("write");
    })
    .await;
    assert!(matches!(result, Err(ClientError::FrameTooLarge { .. })));
}

#[tokio::test]
async fn wrong_correlation_id_is_an_error() {
    let result = against(|mut s| async move {
        let (_, correlation) = read_request(&mut s).await;
        write_frame(&mut s, correlation + 7, &versions_body(3, 0)).await;
    })
    .await;
    assert!(matches!(
        result,
        Err(ClientError::CorrelationMismatch { .. })
    ));
}

#[tokio::test]
async fn a_closed_or_garbled_connection_is_an_error() {
    let result = against(|mut s| async move {
        read_request(&mut s).await;
    })
    .await;
    assert!(matches!(result, Err(ClientError::Closed { .. })));
    let result = against(|mut s| async move {
        // Garbage to the v3 request and to the v0 retry that follows it.
        for _ in 0..2 {
            let (_, correlation) = read_request(&mut s).await;
            write_frame(&mut s, correlation, &[0, 0, 0xff, 0xff, 0xff]).await;
        }
    })
    .await;
    // The truncated array count is caught by the bounds walk, before decoding.
    assert!(
        matches!(result, Err(ClientError::MalformedResponse { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn refused_connection_names_the_address() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let err = Connection::connect(&addr, "t", TIMEOUT, TIMEOUT)
        .await
        .expect_err("refused");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot connect to {addr}: ")),
        "{err}"
    );
}

#[tokio::test]
async fn silent_broker_times_out() {
    let (mut conn, server) = negotiated(Duration::from_millis(200), |mut s| async move {
        read_request(&mut s).await;
        // Never answers the Metadata request; keeps the socket open.
        tokio::time::sleep(Duration::from_secs(2)).await;
    })
    .await;
    let result = conn.send(&MetadataRequest::default()).await;
    assert!(
        matches!(
            result,
            Err(ClientError::RequestTimeout {
                api: ApiKey::Metadata,
                ..
            })
        ),
        "{result:?}"
    );
    server.abort();
}

/// A stopped broker's listen backlog still completes the TCP handshake; the ApiVersions
/// handshake must time out like any request instead of hanging the command.
#[tokio::test]
async fn a_broker_silent_from_the_start_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        read_request(&mut s).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    let result = Connection::connect(&addr, "t", TIMEOUT, Duration::from_millis(200)).await;
    assert!(
        matches!(
            result,
            Err(ClientError::RequestTimeout {
                api: ApiKey::ApiVersions,
                ..
            })
        ),
        "{result:?}"
    );
    server.abort();
}

#[tokio::test]
async fn an_http_server_is_named_as_such() {
    let result = against(|mut s| async move {
        read_request(&mut s).await;
        s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            .await
            .expect("write");
    })
    .await;
    assert!(
        matches!(result, Err(ClientError::NotKafka { answer: "HTTP", .. })),
        "{result:?}"
    );
}

/// Frames are cut from one reused buffer: a frame arriving in pieces, two
/// frames glued together after the buffer grew large, a frame still held
/// while the next is read, and a connection closed mid-frame.
#[tokio::test]
async fn frames_are_read_whole_and_held_frames_stay_intact() {
    let frame = |fill: u8, len: usize| {
        let mut f = BytesMut::new();
        f.put_i32(i32::try_from(len).expect("small"));
        f.put_bytes(fill, len);
        f
    };
    let (first, second, third) = (frame(1, 300_000), frame(2, 10), frame(3, 500_000));
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let script = {
        let (first, second, third) = (first.clone(), second.clone(), third.clone());
        move |mut s: TcpStream| async move {
            // The first frame in two pieces.
            s.write_all(&first[..1000]).await.expect("write");
            tokio::time::sleep(Duration::from_millis(20)).await;
            s.write_all(&first[1000..]).await.expect("write");
            // Once it is read (and its buffer free again), two frames glued.
            go_rx.await.expect("go");
            let mut glued = second.to_vec();
            glued.extend_from_slice(&third);
            s.write_all(&glued).await.expect("write");
            // Half a frame, then the connection closes.
            s.write_all(&frame(4, 100)[..50]).await.expect("write");
        }
    };
    let (mut conn, server) = negotiated(TIMEOUT, script).await;
    let got_first = conn.read_frame().await.expect("first");
    assert_eq!(&got_first[..], &first[4..]);
    drop(got_first);
    go_tx.send(()).expect("server waits");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let got_second = conn.read_frame().await.expect("second");
    assert_eq!(&got_second[..], &second[4..], "exactly one frame");
    let got_third = conn.read_frame().await.expect("third");
    assert_eq!(&got_third[..], &third[4..]);
    assert_eq!(
        &got_second[..],
        &second[4..],
        "a held frame is never reused"
    );
    server.await.expect("server task");
    assert!(matches!(
        conn.read_frame().await,
        Err(ClientError::Closed { .. })
    ));
}

/// ApiVersions bodies claiming 2^31 api keys in a few bytes: v3 with a compact
/// count, then v0 (the fallback) with an i32 count.
const HUGE_VERSIONS_V3: &[u8] = &[0, 0, 0x80, 0x80, 0x80, 0x80, 0x08, 0, 0, 0, 0, 0];
const HUGE_VERSIONS_V0: &[u8] = &[0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0];

#[tokio::test]
async fn a_huge_api_versions_array_is_refused_not_allocated() {
    let result = against(|mut s| async move {
        let (_, correlation) = read_request(&mut s).await;
        write_frame(&mut s, correlation, HUGE_VERSIONS_V3).await;
        let (version, correlation) = read_request(&mut s).await;
        assert_eq!(version, 0, "the fallback");
        write_frame(&mut s, correlation, HUGE_VERSIONS_V0).await;
    })
    .await;
    let Err(err) = result else {
        panic!("connected to a hostile server");
    };
    assert!(
        matches!(
            err,
            ClientError::MalformedResponse {
                api: ApiKey::ApiVersions,
                version: 0,
                position: 6,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("malformed ApiVersions v0 response from 127.0.0.1:"),
        "{err}"
    );
}

#[tokio::test]
async fn a_huge_metadata_array_is_refused_not_allocated() {
    let (mut conn, server) = negotiated(TIMEOUT, |mut s| async move {
        let (version, correlation) = read_request(&mut s).await;
        assert_eq!(version, 9, "the highest version both sides speak");
        // Metadata v9 (flexible): response header tags, throttle time, then a
        // compact brokers count of 2^32 - 2 in a 10-byte body.
        let mut frame = BytesMut::new();
        frame.put_i32(4 + 1 + 10);
        frame.put_i32(correlation);
        frame.put_u8(0);
        frame.put_i32(0);
        frame.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0]);
        s.write_all(&frame).await.expect("write");
    })
    .await;
    let result = conn.send(&MetadataRequest::default()).await;
    assert!(
        matches!(
            result,
            Err(ClientError::MalformedResponse {
                api: ApiKey::Metadata,
                version: 9,
                position: 9,
                ..
            })
        ),
        "{result:?}"
    );
    assert!(
        conn.is_broken(),
        "a connection that sent garbage is not reused"
    );
    server.await.expect("server task");
}

/// Requests are encoded into one buffer per connection, sized before
/// encoding: kept for the next request, unless one request grew it past
/// `SEND_BUFFER_KEPT_BYTES`. Every request still arrives whole.
#[tokio::test]
async fn the_encoding_buffer_is_kept_between_requests_unless_one_grew_it_too_far() {
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;

    let (mut conn, server) = negotiated(TIMEOUT, |mut s| async move {
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(read_request(&mut s).await);
        }
        seen
    })
    .await;
    let topics = |count: usize| {
        MetadataRequest::default().with_topics(Some(
            (0..count)
                .map(|i| {
                    let name = StrBytes::from_string(format!("{i:0100}"));
                    MetadataRequestTopic::default().with_name(Some(TopicName(name)))
                })
                .collect(),
        ))
    };
    let medium = topics(1000);
    let first = conn
        .write_request(&medium, ApiKey::Metadata, 9)
        .await
        .expect("sent");
    let kept = conn.send.capacity();
    assert!(kept >= medium.compute_size(9).expect("size"), "{kept}");
    conn.write_request(&topics(1), ApiKey::Metadata, 9)
        .await
        .expect("sent");
    assert_eq!(conn.send.capacity(), kept, "reused, not reallocated");
    let huge = topics(50_000);
    assert!(huge.compute_size(9).expect("size") > SEND_BUFFER_KEPT_BYTES);
    conn.write_request(&huge, ApiKey::Metadata, 9)
        .await
        .expect("sent");
    assert_eq!(
        conn.send.capacity(),
        0,
        "a buffer grown past the limit is let go"
    );
    let seen = server.await.expect("server");
    assert_eq!(seen, [(9, first), (9, first + 1), (9, first + 2)]);
}
