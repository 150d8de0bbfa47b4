//! The client over a cluster: connects to a bootstrap server, keeps a
//! metadata cache (brokers, and the leader of each partition), and keeps one
//! connection per broker. Nothing here assumes a single broker.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::{Request, StrBytes};

use crate::connection::Connection;
use crate::error::{ClientError, KafkaCode};

/// How to reach the cluster.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port` pairs; the first one that answers is used for metadata.
    pub bootstrap: Vec<String>,
    pub client_id: String,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

impl ClientConfig {
    pub fn new(bootstrap: impl Into<String>) -> Self {
        let bootstrap = bootstrap
            .into()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        Self {
            bootstrap,
            client_id: "ferrolog".to_owned(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// One partition as the metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub partition: i32,
    /// `-1` when there is no leader.
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub error: Option<KafkaCode>,
}

/// One topic as the metadata describes it, partitions sorted by index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub name: String,
    pub topic_id: uuid::Uuid,
    pub is_internal: bool,
    pub partitions: Vec<PartitionMetadata>,
    /// The topic-level error (UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC_EXCEPTION,
    /// LEADER_NOT_AVAILABLE while being created …); `partitions` is empty then.
    pub error: Option<KafkaCode>,
}

/// A broker of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    pub node_id: i32,
    pub addr: String,
}

/// The cluster as one Metadata response describes it.
#[derive(Debug, Clone)]
pub struct ClusterMetadata {
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    pub brokers: Vec<BrokerInfo>,
    pub topics: Vec<TopicMetadata>,
}

/// A shared connection: a tokio mutex because the holder awaits the response
/// while holding it (requests on one connection go one at a time).
pub type SharedConnection = Arc<tokio::sync::Mutex<Connection>>;

/// The client. Cheap to share behind an `Arc`; all methods take `&self`.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    /// The connection metadata and admin requests go to; replaced when it breaks.
    /// A std mutex: held only to clone or swap the `Arc`, never across an await.
    bootstrap: Mutex<SharedConnection>,
    /// Metadata and connection caches. A std mutex: it is held only to read or
    /// replace map entries, never across an await.
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    brokers: BTreeMap<i32, String>,
    topics: HashMap<String, TopicMetadata>,
    connections: HashMap<i32, SharedConnection>,
}

impl Client {
    /// Connects to the first bootstrap server that answers and loads the broker list.
    pub async fn connect(config: ClientConfig) -> Result<Self, ClientError> {
        let conn = connect_bootstrap(&config).await?;
        let client = Self {
            config,
            bootstrap: Mutex::new(conn),
            state: Mutex::new(State::default()),
        };
        client.metadata(Some(&[])).await?;
        Ok(client)
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The bootstrap connection, for requests any broker can answer (admin,
    /// metadata); a broken one is replaced by a new connection first.
    pub async fn any_connection(&self) -> Result<SharedConnection, ClientError> {
        let current = Arc::clone(&lock_conn(&self.bootstrap));
        if !is_broken(&current) {
            return Ok(current);
        }
        let fresh = connect_bootstrap(&self.config).await?;
        *lock_conn(&self.bootstrap) = Arc::clone(&fresh);
        Ok(fresh)
    }

    /// Sends `request` on the bootstrap connection (see `any_connection`).
    pub async fn send_any<R: Request>(&self, request: &R) -> Result<R::Response, ClientError> {
        self.any_connection()
            .await?
            .lock()
            .await
            .send(request)
            .await
    }

    /// Fetches metadata for `topics` (`None` = all topics) without auto-creating them,
    /// and refreshes the cache.
    pub async fn metadata(&self, topics: Option<&[&str]>) -> Result<ClusterMetadata, ClientError> {
        self.metadata_request(topics, false).await
    }

    async fn metadata_request(
        &self,
        topics: Option<&[&str]>,
        auto_create: bool,
    ) -> Result<ClusterMetadata, ClientError> {
        for name in topics.unwrap_or_default() {
            ferrolog_wire::topic_name::check(name)?;
        }
        let request = MetadataRequest::default()
            .with_topics(topics.map(|names| {
                names
                    .iter()
                    .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n))))
                    .collect()
            }))
            .with_allow_auto_topic_creation(auto_create);
        let response = self.send_any(&request).await?;
        let cluster = cluster_from(response)?;
        let mut state = lock(&self.state);
        state.brokers = cluster
            .brokers
            .iter()
            .map(|b| (b.node_id, b.addr.clone()))
            .collect();
        for topic in &cluster.topics {
            state.topics.insert(topic.name.clone(), topic.clone());
        }
        Ok(cluster)
    }

    /// The metadata of one topic, from the cache or the broker.
    /// `UnknownTopic` when the broker does not have it.
    pub async fn topic(&self, name: &str) -> Result<TopicMetadata, ClientError> {
        if let Some(topic) = lock(&self.state).topics.get(name) {
            return Ok(topic.clone());
        }
        self.refresh_topic(name).await
    }

    /// Re-reads one topic's metadata from the broker.
    pub async fn refresh_topic(&self, name: &str) -> Result<TopicMetadata, ClientError> {
        let cluster = self.metadata(Some(&[name])).await?;
        let unknown = || ClientError::UnknownTopic {
            topic: name.to_owned(),
        };
        let topic = cluster
            .topics
            .into_iter()
            .find(|t| t.name == name)
            .ok_or_else(unknown)?;
        if topic.partitions.is_empty() {
            lock(&self.state).topics.remove(name);
            return Err(unknown());
        }
        Ok(topic)
    }

    /// The metadata of `name`, asking the broker to create it if it allows
    /// auto-creation (as producers do). A just-created topic may need a moment
    /// to get leaders, so this retries briefly (bounded: ~2 s).
    pub async fn topic_or_create(&self, name: &str) -> Result<TopicMetadata, ClientError> {
        for _ in 0..20 {
            let cluster = self.metadata_request(Some(&[name]), true).await?;
            let topic = cluster.topics.into_iter().find(|t| t.name == name);
            match topic.as_ref().and_then(|t| t.error.map(|e| e.0)) {
                // Auto-creation is off (or the name is refused): waiting will not help.
                Some(ResponseError::UnknownTopicOrPartition) => break,
                Some(ResponseError::LeaderNotAvailable) | None => {}
                Some(_) => {
                    let code = topic
                        .and_then(|t| t.error)
                        .unwrap_or(KafkaCode(ResponseError::Unknown(-1)));
                    let context = format!(" for topic {name:?}");
                    return Err(ClientError::Kafka {
                        api: ApiKey::Metadata,
                        code,
                        context,
                        message: None,
                    });
                }
            }
            if let Some(t) = topic
                && !t.partitions.is_empty()
                && t.partitions.iter().all(|p| p.leader >= 0)
            {
                return Ok(t);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        lock(&self.state).topics.remove(name);
        Err(ClientError::UnknownTopic {
            topic: name.to_owned(),
        })
    }

    /// Forgets cached metadata (after NOT_LEADER_OR_FOLLOWER and friends).
    pub fn invalidate(&self, topic: &str) {
        lock(&self.state).topics.remove(topic);
    }

    /// The connection to the leader of `topic`-`partition`.
    pub async fn leader_connection(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<SharedConnection, ClientError> {
        let leader = self.leader(topic, partition).await?;
        self.broker_connection(leader).await
    }

    /// The leader's node id of `topic`-`partition`.
    pub async fn leader(&self, topic: &str, partition: i32) -> Result<i32, ClientError> {
        let meta = self.topic(topic).await?;
        let p = meta
            .partitions
            .iter()
            .find(|p| p.partition == partition)
            .ok_or_else(|| ClientError::UnknownPartition {
                topic: topic.to_owned(),
                partition,
                partition_count: meta.partitions.len(),
            })?;
        if p.leader < 0 {
            return Err(ClientError::NoLeader {
                topic: topic.to_owned(),
                partition,
            });
        }
        Ok(p.leader)
    }

    /// The connection to broker `node_id`, opened on first use.
    pub async fn broker_connection(&self, node_id: i32) -> Result<SharedConnection, ClientError> {
        let addr = {
            let state = lock(&self.state);
            if let Some(conn) = state.connections.get(&node_id).filter(|c| !is_broken(c)) {
                return Ok(Arc::clone(conn));
            }
            state
                .brokers
                .get(&node_id)
                .cloned()
                .ok_or(ClientError::UnknownBroker { node_id })?
        };
        let conn = self.open(&addr).await?;
        let mut state = lock(&self.state);
        // Another task may have reconnected meanwhile; keep a healthy one.
        let slot = state
            .connections
            .entry(node_id)
            .or_insert_with(|| Arc::clone(&conn));
        if is_broken(slot) {
            *slot = conn;
        }
        Ok(Arc::clone(slot))
    }

    /// A new connection to `addr`, not cached (group members and long polls use their own).
    pub async fn open(&self, addr: &str) -> Result<SharedConnection, ClientError> {
        let c = &self.config;
        let conn =
            Connection::connect(addr, &c.client_id, c.connect_timeout, c.request_timeout).await?;
        Ok(Arc::new(tokio::sync::Mutex::new(conn)))
    }

    /// The address of broker `node_id`.
    pub fn broker_addr(&self, node_id: i32) -> Option<String> {
        lock(&self.state).brokers.get(&node_id).cloned()
    }
}

/// The first bootstrap server that answers.
async fn connect_bootstrap(config: &ClientConfig) -> Result<SharedConnection, ClientError> {
    let mut tried = Vec::new();
    let mut last = None;
    for addr in &config.bootstrap {
        match Connection::connect(
            addr,
            &config.client_id,
            config.connect_timeout,
            config.request_timeout,
        )
        .await
        {
            Ok(conn) => return Ok(Arc::new(tokio::sync::Mutex::new(conn))),
            Err(e) => {
                tried.push(e.to_string());
                last = Some(e);
            }
        }
    }
    match (tried.len(), last) {
        (1, Some(e)) => Err(e),
        _ => Err(ClientError::NoBootstrap { tried }),
    }
}

/// A connection known to be broken. One in use by another task (locked) is
/// taken as healthy: its user will find out, and the next caller replaces it.
fn is_broken(conn: &SharedConnection) -> bool {
    conn.try_lock().is_ok_and(|c| c.is_broken())
}

fn lock_conn(slot: &Mutex<SharedConnection>) -> std::sync::MutexGuard<'_, SharedConnection> {
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Locks the cache, recovering it if a panicking thread poisoned it: the maps
/// are only ever replaced whole, so they are never left half-updated.
fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

fn cluster_from(response: MetadataResponse) -> Result<ClusterMetadata, ClientError> {
    ClientError::check(ApiKey::Metadata, response.error_code, String::new)?;
    let brokers = response
        .brokers
        .iter()
        .map(|b| BrokerInfo {
            node_id: b.node_id.0,
            addr: format!("{}:{}", b.host.as_str(), b.port),
        })
        .collect();
    let mut topics = Vec::with_capacity(response.topics.len());
    for t in response.topics {
        let Some(name) = t.name.map(|n| n.0.as_str().to_owned()) else {
            continue;
        };
        if let Some(error) = KafkaCode::from_code(t.error_code) {
            topics.push(TopicMetadata {
                name,
                topic_id: t.topic_id,
                is_internal: t.is_internal,
                partitions: vec![],
                error: Some(error),
            });
            continue;
        }
        let mut partitions: Vec<PartitionMetadata> = t
            .partitions
            .iter()
            .map(|p| PartitionMetadata {
                partition: p.partition_index,
                leader: p.leader_id.0,
                replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                error: KafkaCode::from_code(p.error_code),
            })
            .collect();
        partitions.sort_by_key(|p| p.partition);
        topics.push(TopicMetadata {
            name,
            topic_id: t.topic_id,
            is_internal: t.is_internal,
            partitions,
            error: None,
        });
    }
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ClusterMetadata {
        cluster_id: response.cluster_id.map(|c| c.as_str().to_owned()),
        controller_id: response.controller_id.0,
        brokers,
        topics,
    })
}
