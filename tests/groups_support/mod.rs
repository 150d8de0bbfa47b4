//! Helpers for the consumer-group and idempotent-producer tests: an in-process `ferrologd` on
//! 127.0.0.1:0 with a temporary data directory (restartable on the same directory), a raw Kafka
//! protocol client for requests librdkafka cannot be made to send, and a TCP proxy that can cut
//! a connection at a chosen moment.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use ferrolog_broker::{BrokerConfig, Server};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Every wait in these tests is bounded by this.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// The smallest session timeout the broker allows by default; expiry tests wait this long.
pub const SESSION_TIMEOUT_MS: &str = "6000";

pub struct TestBroker {
    pub addr: SocketAddr,
    pub dir: Arc<TempDir>,
    pub server: Arc<ferrolog_broker::Broker>,
    config: BrokerConfig,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ferrolog_broker::ServerError>>>,
}

impl TestBroker {
    pub async fn start() -> TestBroker {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut BrokerConfig)) -> TestBroker {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let mut config = BrokerConfig {
            listen: "127.0.0.1:0".into(),
            ..BrokerConfig::default()
        };
        config.data_dir = dir.path().to_path_buf();
        config.groups.initial_rebalance_delay_ms = 0;
        adjust(&mut config);
        Self::launch(dir, config).await
    }

    async fn launch(dir: Arc<TempDir>, config: BrokerConfig) -> TestBroker {
        let server = Server::bind(config.clone()).await.expect("broker starts");
        let addr = server.local_addr();
        let broker = server.broker().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            // A dropped sender also means stop.
            drop(stopped.await);
        }));
        TestBroker {
            addr,
            dir,
            server: broker,
            config,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // An error only means the broker task has already ended.
            stop.send(()).unwrap_or_default();
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(TIMEOUT, task)
                .await
                .expect("shutdown in time")
                .unwrap()
                .expect("clean shutdown");
        }
    }

    /// Clean stop, then start again on the same data directory and the same port (so clients
    /// configured with the old address reconnect to the new broker).
    pub async fn restart(mut self) -> TestBroker {
        self.stop().await;
        let (dir, config, addr) = (self.dir.clone(), self.config.clone(), self.addr);
        drop(self);
        Self::relaunch(dir, config, addr).await
    }

    /// Stop without any shutdown work — no flush, no clean-shutdown marker, nothing closed:
    /// what the data directory sees of a crashed process — then start again on it.
    pub async fn crash_and_restart(mut self) -> TestBroker {
        let gone = Arc::downgrade(&self.server);
        if let Some(task) = self.task.take() {
            task.abort();
            drop(task.await);
        }
        let (dir, config, addr) = (self.dir.clone(), self.config.clone(), self.addr);
        drop(self);
        eventually("the crashed broker's state to be released", || {
            (gone.strong_count() == 0).then_some(())
        })
        .await;
        Self::relaunch(dir, config, addr).await
    }

    async fn relaunch(dir: Arc<TempDir>, mut config: BrokerConfig, addr: SocketAddr) -> TestBroker {
        config.listen = addr.to_string();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match Server::bind(config.clone()).await {
                Ok(server) => {
                    let addr = server.local_addr();
                    let broker = server.broker().clone();
                    let (stop, stopped) = oneshot::channel::<()>();
                    let task = tokio::spawn(server.run(async move {
                        drop(stopped.await);
                    }));
                    return TestBroker {
                        addr,
                        dir,
                        server: broker,
                        config,
                        stop: Some(stop),
                        task: Some(task),
                    };
                }
                Err(e) if Instant::now() < deadline => {
                    eprintln!("rebind failed ({e}); retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot restart broker: {e}"),
            }
        }
    }

    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", self.bootstrap());
        config
    }

    pub async fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> =
            self.client_config().create().expect("admin");
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let results = admin
            .create_topics(&[topic], &AdminOptions::new())
            .await
            .expect("create topics");
        for result in results {
            result.expect("topic created");
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // An error only means the broker task has already ended.
            stop.send(()).unwrap_or_default();
        }
    }
}

/// Poll `check` until it returns `Some`, or panic after `TIMEOUT` with `what`.
pub async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
        request.encode(&mut body, version).expect("encode request");
        let mut frame = BytesMut::with_capacity(body.len() + 4);
        frame.put_i32(i32::try_from(body.len()).unwrap());
        frame.put_slice(&body);
        self.stream.write_all(&frame).await.expect("send");
        let len = self.stream.read_i32().await.expect("response length");
        let mut buf = vec![0u8; usize::try_from(len).unwrap()];
        self.stream
            .read_exact(&mut buf)
            .await
            .expect("response body");
        let mut buf = Bytes::from(buf);
        let header = ResponseHeader::decode(&mut buf, api_key.response_header_version(version))
            .expect("header");
        assert_eq!(header.correlation_id, self.correlation_id);
        Resp::decode(&mut buf, version).expect("decode response")
    }
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
