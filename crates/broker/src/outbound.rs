//! A connection's pending output: encoded response bytes interleaved with
//! shared record bytes (`Bytes` from the engine, often a slice of a mapped
//! segment), written with vectored writes so record batches reach the socket
//! without being copied into an output buffer first.

use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncWriteExt;

/// Slices handed to one `writev` (Linux takes up to 1024; a few dozen already
/// amortise the system call).
const IO_SLICES_MAX: usize = 64;
/// Shared chunks shorter than this are copied into the buffer instead: a
/// separate iovec entry costs more than copying a few hundred bytes.
const SHARED_BYTES_MIN: usize = 4 * 1024;

/// Responses waiting to be written, in order.
#[derive(Debug, Default)]
pub struct Outbound {
    /// Small encoded bytes not yet frozen into `chunks`.
    buf: BytesMut,
    /// Everything before `buf`, in order.
    chunks: Vec<Bytes>,
    /// Bytes in `chunks`.
    chunks_len: usize,
}

impl Outbound {
    pub fn with_capacity(capacity: usize) -> Outbound {
        Outbound {
            buf: BytesMut::with_capacity(capacity),
            chunks: Vec::new(),
            chunks_len: 0,
        }
    }

    /// Where small encodings go (headers, whole non-Fetch responses).
    pub fn buf(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Appends shared bytes after everything written so far, without copying
    /// them unless they are small.
    pub fn put_shared(&mut self, bytes: Bytes) {
        if bytes.len() < SHARED_BYTES_MIN {
            self.buf.extend_from_slice(&bytes);
            return;
        }
        self.freeze_buf();
        self.chunks_len += bytes.len();
        self.chunks.push(bytes);
    }

    /// Bytes pending.
    pub fn len(&self) -> usize {
        self.chunks_len + self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes everything pending and empties `self`, keeping the buffer's
    /// allocation for the next responses.
    pub async fn write_to<W: AsyncWriteExt + Unpin>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        if self.chunks.is_empty() {
            writer.write_all(&self.buf).await?;
            self.buf.clear();
            return Ok(());
        }
        self.freeze_buf();
        let mut pending: std::collections::VecDeque<Bytes> = self.chunks.drain(..).collect();
        self.chunks_len = 0;
        while !pending.is_empty() {
            let slices: Vec<IoSlice<'_>> = pending
                .iter()
                .take(IO_SLICES_MAX)
                .map(|b| IoSlice::new(b))
                .collect();
            let mut written = writer.write_vectored(&slices).await?;
            if written == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            while let Some(front) = pending.front_mut() {
                if written < front.len() {
                    front.advance(written);
                    break;
                }
                written -= front.len();
                pending.pop_front();
            }
        }
        // The frozen buffers are dropped: reclaim the first allocation if no
        // one else holds it.
        self.buf.clear();
        Ok(())
    }

    fn freeze_buf(&mut self) {
        if !self.buf.is_empty() {
            let head = self.buf.split().freeze();
            self.chunks_len += head.len();
            self.chunks.push(head);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_owned_and_shared_bytes_in_order() {
        let mut out = Outbound::with_capacity(16);
        out.buf().extend_from_slice(b"head");
        let big = Bytes::from(vec![7u8; SHARED_BYTES_MIN * 3]);
        out.put_shared(big.clone());
        out.buf().extend_from_slice(b"mid");
        out.put_shared(Bytes::from_static(b"small"));
        out.put_shared(big.clone());
        assert_eq!(out.len(), 4 + big.len() * 2 + 3 + 5);
        let mut sink: Vec<u8> = Vec::new();
        out.write_to(&mut sink).await.expect("write");
        let expected = [&b"head"[..], &big, b"mid", b"small", &big].concat();
        assert_eq!(sink, expected);
        assert!(out.is_empty());
        // Reusable afterwards.
        out.buf().extend_from_slice(b"again");
        out.write_to(&mut sink).await.expect("write");
        assert!(sink.ends_with(b"again"));
    }

    /// A writer that takes at most 5 bytes per call, to exercise partial writes.
    struct Trickle(Vec<u8>);

    impl tokio::io::AsyncWrite for Trickle {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let n = buf.len().min(5);
            self.0.extend_from_slice(&buf[..n]);
            std::task::Poll::Ready(Ok(n))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn partial_writes_resume_where_they_stopped() {
        let mut out = Outbound::default();
        out.buf().extend_from_slice(b"0123456789");
        let big: Bytes = (0..SHARED_BYTES_MIN as u32 + 3)
            .map(|i| i as u8)
            .collect::<Vec<_>>()
            .into();
        out.put_shared(big.clone());
        out.buf().extend_from_slice(b"end");
        let mut sink = Trickle(Vec::new());
        out.write_to(&mut sink).await.expect("write");
        assert_eq!(sink.0, [&b"0123456789"[..], &big, b"end"].concat());
    }
}
