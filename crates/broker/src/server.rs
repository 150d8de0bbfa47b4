//! The accept loop and clean shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferrolog_storage::{Store, StoreOptions};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::broker::Broker;
use crate::config::{BrokerConfig, ConfigError};
use crate::topics::{TopicError, TopicRegistry};

/// Pause after a failed accept (e.g. out of file descriptors), so the loop
/// does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Why the broker could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the data directory {path}")]
    Store {
        path: std::path::PathBuf,
        source: ferrolog_storage::StorageError,
    },
    #[error("cannot load topics")]
    Topics(#[from] TopicError),
    #[error("cannot listen on {address}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("bad advertised listener: {0}")]
    Advertised(String),
    #[error("cannot open the committed offsets")]
    Offsets(#[from] crate::group::offsets::OffsetStoreError),
    #[error("cannot open the producer id checkpoint")]
    ProducerIds(#[from] crate::producer::ids::ProducerIdError),
    #[error("cannot close the store cleanly")]
    Close(#[source] ferrolog_storage::StorageError),
}

/// The I/O seams under a broker: real ones by default.
#[derive(Debug)]
pub struct ServerOptions {
    pub store: StoreOptions,
    pub free_space: Arc<dyn crate::disk::FreeSpaceProbe>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            store: StoreOptions::default(),
            free_space: Arc::new(crate::disk::Statvfs),
        }
    }
}

/// A bound, ready broker; `run` serves it.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    broker: Arc<Broker>,
    local_addr: SocketAddr,
}

impl Server {
    /// Opens the data directory (recovering every partition), loads the
    /// topics and binds the listener.
    pub async fn bind(config: BrokerConfig) -> Result<Server, ServerError> {
        Self::bind_with(config, ServerOptions::default()).await
    }

    /// `bind` over the given storage options, e.g. a fault-injecting
    /// `FileSystem` in tests. `default_config` is always taken from `config`.
    pub async fn bind_with_store_options(
        config: BrokerConfig,
        store: StoreOptions,
    ) -> Result<Server, ServerError> {
        Self::bind_with(
            config,
            ServerOptions {
                store,
                ..ServerOptions::default()
            },
        )
        .await
    }

    /// `bind` with the I/O seams chosen by the caller (tests inject faults).
    pub async fn bind_with(
        config: BrokerConfig,
        seams: ServerOptions,
    ) -> Result<Server, ServerError> {
        let ServerOptions {
            store: options,
            free_space,
        } = seams;
        config.validate()?;
        let listener =
            TcpListener::bind(&config.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    address: config.listen.clone(),
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
            address: config.listen.clone(),
            source,
        })?;
        let (advertised_host, advertised_port) =
            Broker::advertised(&config, local_addr).map_err(ServerError::Advertised)?;
        let store_config = config.clone();
        // Recovery reads files: keep it off the async workers.
        let (store, topics, offsets, producers) =
            tokio::task::spawn_blocking(move || open_store(&store_config, options))
                .await
                .map_err(|e| ServerError::Advertised(format!("start-up task failed: {e}")))??;
        tracing::info!(address = %local_addr, advertised = %format!("{advertised_host}:{advertised_port}"),
            data_dir = %config.data_dir.display(), topics = topics.all().len(), "ferrologd listening");
        let groups =
            crate::group::GroupCoordinator::new(config.groups.coordinator_config(), offsets);
        groups.start_ticker();
        let producers = Arc::new(producers);
        let limits = crate::limits::Limits::new(&config);
        let free_space = crate::disk::FreeSpace::start(
            config.data_dir.clone(),
            config.free_space_floor_bytes,
            config.free_space_check_ms,
            free_space,
        );
        let broker = Arc::new(Broker {
            config,
            store,
            topics,
            advertised_host,
            advertised_port,
            groups,
            producers,
            limits,
            free_space,
            stopping: tokio::sync::watch::Sender::new(false),
        });
        Ok(Server {
            listener,
            broker,
            local_addr,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The shared broker state.
    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Serves until `shutdown` completes; then stops accepting, lets every
    /// connection answer the requests it has read, flushes and closes the
    /// store (which writes the clean-shutdown markers).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let (stop, stopped) = watch::channel(false);
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => match self.broker.limits.admit(peer.ip()) {
                        Ok(slot) => {
                            tracing::debug!(%peer, "connection accepted");
                            let serve = crate::connection::serve(self.broker.clone(), stream, peer, stopped.clone());
                            connections.spawn(async move {
                                serve.await;
                                drop(slot);
                            });
                        }
                        // Dropping the stream closes it: the client sees a
                        // closed connection and backs off.
                        Err(refused) => tracing::warn!(%peer, %refused, "connection refused"),
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        tracing::info!(
            connections = connections.len(),
            "shutting down: finishing in-flight requests"
        );
        drop(self.listener);
        // Receivers may all be gone already; then there is nobody to tell.
        stop.send_replace(true);
        // Parked JoinGroup/SyncGroup requests would otherwise hold their connections open
        // until a rebalance timeout, and long-polling fetches until their deadline.
        self.broker.groups.shutdown();
        self.broker.stopping.send_replace(true);
        let grace = Duration::from_millis(self.broker.config.shutdown_grace_ms);
        let drained = tokio::time::timeout(grace, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                connections = connections.len(),
                "connections still busy after the shutdown grace period; closing them"
            );
            connections.shutdown().await;
        }
        let store = self.broker.store.clone();
        let producers = self.broker.producers.clone();
        tokio::task::spawn_blocking(move || {
            // Taken after the last produce; without it a restart rebuilds from the logs.
            if let Err(e) = producers.write_snapshot() {
                tracing::warn!(error = %crate::errors::message(&e), "cannot write the producer snapshot");
            }
            store.close()
        })
            .await
            .map_err(|e| ServerError::Advertised(format!("close task failed: {e}")))?
            .map_err(ServerError::Close)?;
        tracing::info!("clean shutdown complete");
        Ok(())
    }
}

type Opened = (
    Arc<Store>,
    TopicRegistry,
    crate::group::offsets::OffsetStore,
    crate::producer::ProducerStates,
);

fn open_store(config: &BrokerConfig, options: StoreOptions) -> Result<Opened, ServerError> {
    // Partitions found on disk open with the broker defaults; the registry
    // then applies each topic's own configs.
    let default_config = crate::topics::TopicConfig::default()
        .to_log_config(config)
        .map_err(TopicError::Config)?;
    let options = StoreOptions {
        default_config,
        retention_check_interval_ms: Some(config.log.retention_check_interval_ms),
        cleaner_check_interval_ms: Some(config.log.cleaner_check_interval_ms),
        ..options
    };
    let store = Store::open(&config.data_dir, options).map_err(|source| ServerError::Store {
        path: config.data_dir.clone(),
        source,
    })?;
    let store = Arc::new(store);
    for (id, reason) in store.failed_partitions() {
        tracing::error!(partition = ?id, %reason, "partition failed to open; it reports KAFKA_STORAGE_ERROR");
    }
    let topics = TopicRegistry::open(store.clone(), config)?;
    let offsets = crate::group::offsets::OffsetStore::open(&store)?;
    // Deletions a crash interrupted: their partitions are gone (the registry
    // removed them); their committed offsets go too, as DeleteTopics does.
    for name in topics.pending_deletions() {
        offsets.delete_topic(&name)?;
        topics.finish_deletion(&name)?;
    }
    let producers = crate::producer::ProducerStates::open(&config.data_dir)?;
    Ok((store, topics, offsets, producers))
}
