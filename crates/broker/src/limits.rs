//! What clients can make the broker hold, bounded: open connections (in
//! total and per client IP), and bytes in flight.
//!
//! Per connection, a request holds its decoded size (its bytes plus what its
//! decoded elements take, `bounds::decoded_bytes`) plus, for a Fetch, the
//! largest response it may produce (its `max_bytes`, capped at
//! `fetch_response_bytes_max`) until its reply is encoded. Across the broker,
//! only decoded request sizes are counted: reserving every long-poll Fetch's
//! whole `max_bytes` there would make idle consumers queue behind each other.
//! A frame still arriving holds its announced size from the broker's budget
//! while it is read (above the 64 KiB every connection reads into anyway),
//! so clients trickling in large frames cannot hold more than the budget. A
//! request whose decoded size passes both the budget and `max_request_bytes`
//! (thousands of tiny elements, each decoded into a hundred-byte struct)
//! closes its connection.
//!
//!   decoded request bytes held   <= in_flight_bytes_max
//!   request + fetch bytes held   <= connections x in_flight_bytes_per_connection_max

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use kafka_protocol::messages::ApiKey;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::api::{Encoder, Reply};
use crate::config::BrokerConfig;
use crate::frame::Request;

/// Byte offset of `max_bytes` in a Fetch body of every version we serve
/// (after replica_id, max_wait_ms, min_bytes; all fixed-width, before any
/// variable-length field, so the same in flexible versions).
const FETCH_MAX_BYTES_AT: usize = 12;

/// A connection refused at accept.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{open} connections open; the limit is {max}")]
    Total { open: usize, max: usize },
    #[error("{open} connections open from {ip}; the per-IP limit is {max}")]
    PerIp { ip: IpAddr, open: usize, max: usize },
}

/// Broker-wide limits, shared by the accept loop and every connection.
#[derive(Debug)]
pub struct Limits {
    connections_max: usize,
    connections_per_ip_max: usize,
    /// A std Mutex, not a tokio one: it is held for a counter update at
    /// accept and at close, never across an await.
    open: Mutex<OpenConnections>,
    /// Bytes in flight across all connections.
    in_flight: Arc<Semaphore>,
    in_flight_bytes_max: usize,
}

#[derive(Debug, Default)]
struct OpenConnections {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

impl Limits {
    pub fn new(config: &BrokerConfig) -> Arc<Limits> {
        Arc::new(Limits {
            connections_max: config.connections_max,
            connections_per_ip_max: config.connections_per_ip_max,
            open: Mutex::new(OpenConnections::default()),
            in_flight: Arc::new(Semaphore::new(config.in_flight_bytes_max)),
            in_flight_bytes_max: config.in_flight_bytes_max,
        })
    }

    /// Counts a new connection from `ip`, or refuses it over a limit.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionSlot, Refused> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if open.total >= self.connections_max {
            return Err(Refused::Total {
                open: open.total,
                max: self.connections_max,
            });
        }
        let from_ip = open.per_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= self.connections_per_ip_max {
            return Err(Refused::PerIp {
                ip,
                open: from_ip,
                max: self.connections_per_ip_max,
            });
        }
        open.total += 1;
        open.per_ip.insert(ip, from_ip + 1);
        Ok(ConnectionSlot {
            limits: self.clone(),
            ip,
        })
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .total
    }

    fn release(&self, ip: IpAddr) {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_ip.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.per_ip.remove(&ip);
            }
        }
    }
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct ConnectionSlot {
    limits: Arc<Limits>,
    ip: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.limits.release(self.ip);
    }
}

/// One connection's share of the in-flight budget.
#[derive(Debug)]
pub struct InFlight {
    connection: Arc<Semaphore>,
    connection_bytes_max: usize,
    broker: Arc<Semaphore>,
    broker_bytes_max: usize,
    /// The most one request may take decoded: the larger of the broker's
    /// budget and the largest frame, so a request the frame limit lets in is
    /// refused only for what its decoding would add.
    decoded_bytes_max: usize,
    fetch_response_bytes_max: usize,
}

/// Bytes a request holds until its reply is encoded.
#[derive(Debug)]
pub struct Held(
    #[allow(dead_code)] OwnedSemaphorePermit,
    #[allow(dead_code)] OwnedSemaphorePermit,
);

/// A request that would take more memory decoded than the broker lets all
/// requests together hold, and more than its largest frame.
#[derive(Debug, thiserror::Error)]
#[error(
    "request would take about {bytes} bytes decoded; the limit is {max} (the larger of in_flight_bytes_max and max_request_bytes)"
)]
pub struct OverBudget {
    pub bytes: usize,
    pub max: usize,
}

impl InFlight {
    pub fn new(limits: &Limits, config: &BrokerConfig) -> InFlight {
        InFlight {
            connection: Arc::new(Semaphore::new(config.in_flight_bytes_per_connection_max)),
            connection_bytes_max: config.in_flight_bytes_per_connection_max,
            broker: limits.in_flight.clone(),
            broker_bytes_max: limits.in_flight_bytes_max,
            decoded_bytes_max: limits
                .in_flight_bytes_max
                .max(config.max_request_bytes as usize),
            fetch_response_bytes_max: config.fetch_response_bytes_max as usize,
        }
    }

    /// Waits until `request`, taking `decoded_bytes` once decoded, fits in
    /// both budgets (the connection stops reading meanwhile, which pushes
    /// back on the client). `reading` is what the frame held from the broker's
    /// budget while it arrived. A request larger than a whole budget takes
    /// all of it rather than waiting forever, so at most one such request is
    /// held at a time; one that would decode past both the broker's budget
    /// and the frame limit is refused.
    pub async fn hold(
        &self,
        request: &Request,
        decoded_bytes: usize,
        reading: Option<OwnedSemaphorePermit>,
    ) -> Result<Held, OverBudget> {
        if decoded_bytes > self.decoded_bytes_max {
            return Err(OverBudget {
                bytes: decoded_bytes,
                max: self.decoded_bytes_max,
            });
        }
        let for_connection = clamp(
            decoded_bytes.saturating_add(self.response_reserve(request)),
            self.connection_bytes_max,
        );
        let for_broker = clamp(decoded_bytes, self.broker_bytes_max);
        // Connection first: a client over its own budget waits without
        // taking any more of the shared one (its frame's share waits with it:
        // the connection's budget comes back as its own earlier requests are
        // answered, which need nothing more).
        let connection = self
            .connection
            .clone()
            .acquire_many_owned(for_connection)
            .await;
        let broker = self.broker_share(for_broker, reading).await;
        match (connection, broker) {
            (Ok(c), Ok(b)) => Ok(Held(c, b)),
            // The semaphores are never closed.
            _ => unreachable!("in-flight semaphores are never closed"),
        }
    }

    /// `bytes` of the broker's budget, topping up what the frame held while
    /// it arrived. Never waits while holding: if the rest is not free now, the
    /// frame's share is given back and the whole is waited for in line, or
    /// frames that each hold part of the budget and want more would wait on
    /// one another for ever.
    async fn broker_share(
        &self,
        bytes: u32,
        reading: Option<OwnedSemaphorePermit>,
    ) -> Result<OwnedSemaphorePermit, tokio::sync::AcquireError> {
        let Some(mut reading) = reading else {
            return self.broker.clone().acquire_many_owned(bytes).await;
        };
        let held = u32::try_from(reading.num_permits()).unwrap_or(u32::MAX);
        let Some(more) = bytes.checked_sub(held).filter(|more| *more > 0) else {
            return Ok(reading);
        };
        match self.broker.clone().try_acquire_many_owned(more) {
            Ok(rest) => {
                reading.merge(rest);
                Ok(reading)
            }
            Err(_) => {
                drop(reading);
                self.broker.clone().acquire_many_owned(bytes).await
            }
        }
    }

    /// Holds `frame_bytes` of the broker's budget while a frame that large
    /// arrives; a frame larger than the budget takes all of it.
    pub async fn hold_arriving(&self, frame_bytes: usize) -> OwnedSemaphorePermit {
        let bytes = clamp(frame_bytes, self.broker_bytes_max);
        match self.broker.clone().acquire_many_owned(bytes).await {
            Ok(permit) => permit,
            Err(_) => unreachable!("in-flight semaphores are never closed"),
        }
    }

    /// The response bytes a Fetch may produce (its `max_bytes`, capped).
    fn response_reserve(&self, request: &Request) -> usize {
        if request.api_key != ApiKey::Fetch {
            return 0;
        }
        let wanted = request
            .body
            .get(FETCH_MAX_BYTES_AT..FETCH_MAX_BYTES_AT + 4)
            .map_or(0, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        usize::try_from(wanted)
            .unwrap_or(0)
            .min(self.fetch_response_bytes_max)
    }
}

fn clamp(bytes: usize, max: usize) -> u32 {
    u32::try_from(bytes.clamp(1, max.max(1))).unwrap_or(u32::MAX)
}

/// Keeps `held` until the reply has been encoded into the output buffer
/// (a Fetch's record bytes are shared with the output, not copied: they
/// stay alive until written, at most one write batch beyond this point).
pub fn release_when_encoded(reply: Reply, held: Held) -> Reply {
    match reply {
        Reply::Now(encoder) => Reply::Now(hold_in(encoder, held)),
        Reply::Later(task) => Reply::Later(tokio::spawn(async move {
            match task.await {
                Ok(encoder) => hold_in(encoder, held),
                Err(e) => {
                    let reason = e.to_string();
                    Box::new(move |_: &mut crate::outbound::Outbound| {
                        Err(anyhow::anyhow!("request task failed: {reason}"))
                    })
                }
            }
        })),
        Reply::Nothing => Reply::Nothing,
    }
}

fn hold_in(encoder: Encoder, held: Held) -> Encoder {
    Box::new(move |out: &mut crate::outbound::Outbound| {
        let result = encoder(out);
        drop(held);
        result
    })
}

/// Caps a Fetch's `max_bytes` at the broker's limit.
pub fn cap_fetch(
    mut request: kafka_protocol::messages::FetchRequest,
    config: &BrokerConfig,
) -> kafka_protocol::messages::FetchRequest {
    request.max_bytes = request
        .max_bytes
        .clamp(0, config.fetch_response_bytes_max as i32);
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(total: usize, per_ip: usize) -> BrokerConfig {
        BrokerConfig {
            connections_max: total,
            connections_per_ip_max: per_ip,
            ..BrokerConfig::default()
        }
    }

    #[test]
    fn connections_are_counted_per_ip_and_in_total_and_released_on_drop() {
        let limits = Limits::new(&config(3, 2));
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let a1 = limits.admit(a);
        let a2 = limits.admit(a);
        assert!(matches!(
            limits.admit(a),
            Err(Refused::PerIp {
                open: 2,
                max: 2,
                ..
            })
        ));
        let b1 = limits.admit(b);
        assert!(matches!(
            limits.admit(b),
            Err(Refused::Total { open: 3, max: 3 })
        ));
        drop(a1);
        assert_eq!(limits.open_connections(), 2);
        let b2 = limits.admit(b);
        assert!(b2.is_ok(), "a closed connection frees its place");
        drop((a2, b1, b2));
        assert_eq!(limits.open_connections(), 0);
    }

    fn metadata_request() -> Request {
        let body = bytes::Bytes::from_static(&[0; 10]);
        Request {
            api_key: ApiKey::Metadata,
            header: kafka_protocol::messages::RequestHeader::default(),
            walked: crate::bounds::walk(ApiKey::Metadata, 0, &body),
            body,
        }
    }

    fn budget(in_flight_bytes_max: usize, max_request_bytes: u32) -> (Arc<Limits>, InFlight) {
        let config = BrokerConfig {
            in_flight_bytes_max,
            max_request_bytes,
            ..BrokerConfig::default()
        };
        let limits = Limits::new(&config);
        let in_flight = InFlight::new(&limits, &config);
        (limits, in_flight)
    }

    #[tokio::test]
    async fn a_request_decoding_past_both_limits_is_refused() {
        let (limits, in_flight) = budget(1000, 2000);
        let held = in_flight.hold(&metadata_request(), 2000, None).await;
        assert!(held.is_ok(), "at the frame limit: takes the whole budget");
        assert_eq!(limits.in_flight.available_permits(), 0);
        drop(held);
        let refused = in_flight.hold(&metadata_request(), 2001, None).await;
        assert!(matches!(
            refused,
            Err(OverBudget {
                bytes: 2001,
                max: 2000
            })
        ));
        assert_eq!(limits.in_flight.available_permits(), 1000);
    }

    #[tokio::test]
    async fn a_frame_held_while_arriving_is_topped_up_or_given_back_to_wait_in_line() {
        let (limits, in_flight) = budget(100, 100);
        let in_flight = Arc::new(in_flight);
        let available = || limits.in_flight.available_permits();
        let reading = in_flight.hold_arriving(60).await;
        assert_eq!(available(), 40);
        let held = in_flight.hold(&metadata_request(), 80, Some(reading)).await;
        assert_eq!(available(), 20, "topped up by what it lacked");
        drop(held);
        assert_eq!(available(), 100);

        // Two frames that hold the whole budget between them and each want
        // more: a frame that cannot top up gives its share back and waits in
        // line, or the two would wait on each other for ever.
        let first = in_flight.hold_arriving(60).await;
        let second = in_flight.hold_arriving(40).await;
        assert_eq!(available(), 0);
        let hold = |reading, bytes| {
            let in_flight = in_flight.clone();
            tokio::spawn(async move {
                let held = in_flight
                    .hold(&metadata_request(), bytes, Some(reading))
                    .await;
                tokio::task::yield_now().await;
                held.map(|_| ())
            })
        };
        let (first, second) = (hold(first, 80), hold(second, 50));
        let both = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            (first.await, second.await)
        })
        .await;
        assert!(matches!(both, Ok((Ok(Ok(())), Ok(Ok(()))))), "{both:?}");
        assert_eq!(available(), 100);
    }

    #[test]
    fn fetch_max_bytes_is_capped() {
        let config = BrokerConfig {
            fetch_response_bytes_max: 1000,
            ..BrokerConfig::default()
        };
        let request = kafka_protocol::messages::FetchRequest::default().with_max_bytes(i32::MAX);
        assert_eq!(cap_fetch(request, &config).max_bytes, 1000);
        let request = kafka_protocol::messages::FetchRequest::default().with_max_bytes(-5);
        assert_eq!(cap_fetch(request, &config).max_bytes, 0);
    }
}
