//! `ferrolog-broker`: a Kafka-protocol broker over the Ferrolog storage engine.
//!
//! # Layout
//! - `config`     — `BrokerConfig`: TOML file, flags, defaults.
//! - `server`     — `Server`: bind, accept loop, clean shutdown.
//! - `limits`     — connection counts and in-flight byte budgets.
//! - `disk`       — the free-space floor below which produce is refused.
//! - `open_files` — raises the process's open-file limit at start-up.
//! - `freed_memory` — keeps freed request buffers in malloc's heaps for the next request.
//! - `connection` — one client: frames in, responses out in request order.
//! - `frame`      — length-prefixed framing and request header decoding (pure).
//! - `outbound`   — a connection's pending output: encoded bytes and shared record bytes, written with writev.
//! - `bounds`     — checks request lengths fit the frame before the body is decoded.
//! - `api`        — dispatch (one arm per API key) and one module per Kafka API.
//! - `repeated`   — entries a request names more than once, found for the APIs to answer once.
//! - `authorized_operations` — the operations bitfield answered when a client asks (no authorizer: all).
//! - `broker`     — `Broker`, the shared state every handler sees.
//! - `topics`     — the topic registry: names, ids, partitions, configs, persisted.
//! - `errors`     — the one mapping from engine and registry errors to Kafka codes.
//! - `group`      — consumer groups: coordinator state machine and committed offsets.
//! - `producer`   — the idempotent producer: producer ids and per-partition sequence state.

pub mod api;
pub mod authorized_operations;
pub mod bounds;
pub mod broker;
pub mod config;
pub mod connection;
pub mod disk;
pub mod errors;
pub mod frame;
pub mod freed_memory;
pub mod group;
pub mod limits;
pub mod open_files;
pub mod outbound;
pub mod producer;
pub mod repeated;
pub mod server;
pub mod topics;

pub use broker::Broker;
pub use config::BrokerConfig;
pub use server::{Server, ServerError, ServerOptions};
