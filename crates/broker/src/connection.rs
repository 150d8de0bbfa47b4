//! One task pair per connection: the reader takes frames in and handles them
//! in request order; the writer sends responses out in that same order, even
//! when one of them (a long-polling Fetch, an acks=-1 Produce) finishes later
//! than the requests after it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};

use crate::api::{self, Reply};
use crate::broker::Broker;
use crate::frame;
use crate::outbound::Outbound;

/// Read buffer size to start with; it grows to the largest frame seen.
const READ_BUFFER_BYTES: usize = 64 * 1024;
/// Responses gathered into one write when they are ready together.
const WRITE_BATCH_BYTES: usize = 256 * 1024;
/// Output buffers larger than this are released after use rather than kept.
const WRITE_BUFFER_KEEP_BYTES: usize = 8 * 1024 * 1024;

/// Serves one client until it disconnects, sends a bad frame, or the broker
/// shuts down (then requests already read are still answered). A client that
/// disconnects is not waited for: answers still being worked on (a long
/// poll, an fsync) finish on their own, and the connection's slot is free.
pub async fn serve(
    broker: Arc<Broker>,
    stream: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
    }
    let (reader, writer) = stream.into_split();
    let (replies, queue) = mpsc::channel(broker.config.max_in_flight_per_connection);
    let (gone, peer_gone) = watch::channel(false);
    let writer = tokio::spawn(write_loop(writer, queue, peer, peer_gone));
    match read_loop(&broker, reader, replies, peer, &mut shutdown).await {
        Ok(Ended::Shutdown) => {}
        Ok(Ended::PeerClosed) => {
            gone.send_replace(true);
        }
        Ok(Ended::PeerLost(reason)) => {
            tracing::info!(%peer, %reason, "closing connection");
            gone.send_replace(true);
        }
        Err(reason) => tracing::info!(%peer, %reason, "closing connection"),
    }
    // The reader is gone (and with it the sender): the writer answers what is
    // queued, then ends; if the peer closed, it answers only what is done.
    if let Err(e) = writer.await {
        tracing::error!(%peer, error = %e, "connection writer failed");
    }
}

/// Why the reader stopped, other than a bad request.
enum Ended {
    /// The client closed its end.
    PeerClosed,
    /// The client went away mid-frame or the connection failed (the reason).
    PeerLost(String),
    /// The broker is stopping.
    Shutdown,
}

/// Reads frames and dispatches them in order; `Err` carries why the
/// connection is closed.
async fn read_loop(
    broker: &Arc<Broker>,
    mut reader: OwnedReadHalf,
    replies: mpsc::Sender<Reply>,
    peer: SocketAddr,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Ended, String> {
    let mut buf = BytesMut::with_capacity(READ_BUFFER_BYTES);
    let in_flight = crate::limits::InFlight::new(&broker.limits, &broker.config);
    let idle = Duration::from_millis(broker.config.connection_idle_ms_max);
    // One timer for the connection's life, re-armed each time the reader
    // starts waiting: idle means nothing arrived while we were listening.
    let idle_timer = tokio::time::sleep(idle);
    tokio::pin!(idle_timer);
    // What the frame being read holds of the broker's in-flight budget.
    let mut arriving = None;
    loop {
        while let Some(body) = frame::split_frame(&mut buf, broker.config.max_request_bytes)
            .map_err(|e| e.to_string())?
        {
            let request = frame::parse_request(body).map_err(|e| crate::errors::message(&e))?;
            tracing::trace!(%peer, api = ?request.api_key, version = request.version(), "request");
            let decoded_bytes = crate::bounds::decoded_bytes(&request);
            let held = in_flight
                .hold(&request, decoded_bytes, arriving.take())
                .await
                .map_err(|e| e.to_string())?;
            let reply = api::dispatch(broker, request, peer)
                .await
                .map_err(|e| crate::errors::message(&e))?;
            let reply = crate::limits::release_when_encoded(reply, held);
            if replies.send(reply).await.is_err() {
                return Err("writer closed".into());
            }
        }
        if arriving.is_none()
            && let Some(size) = frame::announced_size(&buf)
            && size > READ_BUFFER_BYTES
        {
            arriving = Some(in_flight.hold_arriving(size).await);
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(READ_BUFFER_BYTES);
        }
        // Shutdown is only noticed between frames, never inside a handler, so
        // a request that was read is always completed and answered.
        idle_timer
            .as_mut()
            .reset(tokio::time::Instant::now() + idle);
        let read = tokio::select! {
            read = reader.read_buf(&mut buf) => read,
            _ = shutdown.wait_for(|stop| *stop) => return Ok(Ended::Shutdown),
            () = &mut idle_timer => return Err(format!("idle for {} ms", idle.as_millis())),
        };
        match read {
            Ok(0) if buf.is_empty() => return Ok(Ended::PeerClosed),
            Ok(0) => {
                return Ok(Ended::PeerLost(format!(
                    "peer closed mid-frame ({} bytes pending)",
                    buf.len()
                )));
            }
            Ok(_) => {}
            Err(e) => return Ok(Ended::PeerLost(format!("read failed: {e}"))),
        }
    }
}

/// Writes replies in request order, gathering ready ones into one write;
/// stops waiting for unfinished ones once the peer is gone.
async fn write_loop(
    mut writer: OwnedWriteHalf,
    mut queue: mpsc::Receiver<Reply>,
    peer: SocketAddr,
    mut peer_gone: watch::Receiver<bool>,
) {
    let mut out = Outbound::with_capacity(WRITE_BATCH_BYTES);
    let mut next = queue.recv().await;
    while let Some(reply) = next.take() {
        let reply = match reply {
            Reply::Later(task) if !task.is_finished() => {
                // Dropping the handle detaches the task: it still completes
                // (a produce's fsync, a long poll's deadline), unanswered.
                tokio::select! {
                    done = task => match done {
                        Ok(encoder) => Reply::Now(encoder),
                        Err(e) => {
                            tracing::error!(%peer, error = %e, "request task failed; closing connection");
                            return;
                        }
                    },
                    _ = peer_gone.wait_for(|gone| *gone) => {
                        tracing::debug!(%peer, "peer closed; not waiting for its pending answers");
                        return;
                    }
                }
            }
            other => other,
        };
        if let Err(reason) = encode_reply(reply, &mut out).await {
            tracing::error!(%peer, %reason, "cannot answer request; closing connection");
            return;
        }
        // Gather replies that are already done, without waiting on any.
        while out.len() < WRITE_BATCH_BYTES {
            match queue.try_recv() {
                Ok(Reply::Later(task)) if !task.is_finished() => {
                    next = Some(Reply::Later(task));
                    break;
                }
                Ok(reply) => {
                    if let Err(reason) = encode_reply(reply, &mut out).await {
                        tracing::error!(%peer, %reason, "cannot answer request; closing connection");
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        // Record batches go from the engine's `Bytes` to the socket in one
        // vectored write, never copied into the output buffer.
        if !out.is_empty()
            && let Err(e) = out.write_to(&mut writer).await
        {
            tracing::info!(%peer, error = %e, "write failed; closing connection");
            return;
        }
        if out.buf().capacity() > WRITE_BUFFER_KEEP_BYTES {
            out = Outbound::with_capacity(WRITE_BATCH_BYTES);
        }
        if next.is_none() {
            next = queue.recv().await;
        }
    }
    if let Err(e) = writer.shutdown().await {
        tracing::debug!(%peer, error = %e, "shutdown of the write side failed");
    }
}

async fn encode_reply(reply: Reply, out: &mut Outbound) -> Result<(), String> {
    let encoder = match reply {
        Reply::Now(encoder) => encoder,
        Reply::Later(task) => task
            .await
            .map_err(|e| format!("request task failed: {e}"))?,
        Reply::Nothing => return Ok(()),
    };
    encoder(out).map_err(|e| format!("cannot encode response: {e:#}"))
}
