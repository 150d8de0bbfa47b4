//! The broker's shared state: one struct, shared as `Arc<Broker>` by every
//! connection. Subsystems (topics, later consumer groups) are fields.

use std::net::SocketAddr;
use std::sync::Arc;

use ferrolog_storage::Store;

use crate::config::BrokerConfig;
use crate::topics::TopicRegistry;

/// Everything a request handler may touch.
#[derive(Debug)]
pub struct Broker {
    pub config: BrokerConfig,
    pub store: Arc<Store>,
    pub topics: TopicRegistry,
    /// Host clients are told to connect to (Metadata, DescribeCluster).
    pub advertised_host: String,
    pub advertised_port: i32,
    /// Consumer groups and committed offsets.
    pub groups: Arc<crate::group::GroupCoordinator>,
    /// Idempotent-producer state and producer-id allocation.
    pub producers: Arc<crate::producer::ProducerStates>,
    /// Connection counts and the broker-wide in-flight budget.
    pub limits: Arc<crate::limits::Limits>,
    /// The free-space floor's latest verdict.
    pub free_space: Arc<crate::disk::FreeSpace>,
    /// Set once the server stops: long-polling fetches answer with what they
    /// have instead of holding the shutdown until their deadline.
    pub stopping: tokio::sync::watch::Sender<bool>,
}

impl Broker {
    /// The node id of this single-node cluster.
    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }

    /// Splits the advertised listener, defaulting to the bound address.
    pub fn advertised(config: &BrokerConfig, bound: SocketAddr) -> Result<(String, i32), String> {
        let Some(listener) = &config.advertised_listener else {
            return Ok((bound.ip().to_string(), i32::from(bound.port())));
        };
        let (host, port) = listener
            .rsplit_once(':')
            .ok_or_else(|| format!("advertised listener {listener:?} is not HOST:PORT"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("advertised listener {listener:?} has a bad port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Ok((host.to_string(), i32::from(port)))
    }
}
