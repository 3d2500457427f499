//! Driving one established connection: a single future that reads and
//! dispatches frames, writes the peer's queue, and pings.
//!
//! Type: `Driver`, polled by the connection's task until it resolves to
//! the [`ConnectionError`] that ended the connection. One task per
//! connection, no internal channels: the peer's queue wakes the driver
//! directly.
//!
//! Each poll does, with a budget for each step so one busy connection
//! cannot starve the rest of the process:
//! 1. reads: up to `READS_PER_POLL` reads of up to `READ_CHUNK` bytes,
//!    each fed to the [`FrameDecoder`] and every complete frame dispatched
//!    at once. EOF between frames is `Closed`, EOF inside a frame is
//!    `ClosedMidFrame`, a wire error is fatal.
//! 2. the liveness tick: when nothing was received for
//!    `ping_interval_ms`, queue a ping; after `ping_timeout_ms` of silence,
//!    end with `PingTimeout`; when an incomplete frame is buffered and no
//!    frame completed for `frame_stall_timeout_ms`, end with `FrameStalled`
//!    (both ends keep pinging each other on bytes alone, so a stalled
//!    frame would otherwise never time out).
//! 3. writes: batches of queued frames (about `WRITE_BATCH` bytes) until
//!    the socket would block or the queue is empty.
//!
//! Invariant: the decoder's buffer holds at most one maximal frame plus one
//! read chunk, whatever the peer sends.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use moonpool_core::{Codec, Instant, NetworkProvider, Providers, TimeProvider, reachable};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::Peer;
use super::keeper::connection_lost;
use crate::error::{ConnectionError, WireError};
use crate::metrics::add;
use crate::transport::{Control, Inner};
use crate::wire::FrameDecoder;

const READ_CHUNK: usize = 64 * 1024;
const READS_PER_POLL: usize = 16;
const WRITE_BATCH: usize = 64 * 1024;
const WRITES_PER_POLL: usize = 16;

type Stream<P> = <<P as Providers>::Network as NetworkProvider>::Stream;
type Sleep<P> = <<P as Providers>::Time as TimeProvider>::Sleep;

/// Runs the connection `conn_id` of `peer` until it ends.
pub(crate) async fn run<P: Providers, C: Codec>(
    inner: Rc<Inner<P, C>>,
    peer: Rc<Peer<P>>,
    stream: Stream<P>,
    conn_id: u64,
) {
    let tick = tick_period(&inner);
    let driver = Driver {
        decoder: FrameDecoder::new(inner.config.frame_bytes_max),
        read_buf: vec![0u8; READ_CHUNK].into_boxed_slice(),
        write_buf: Vec::new(),
        write_pos: 0,
        need_flush: false,
        tick: Box::pin(inner.p.time().sleep(tick)),
        last_received: inner.now(),
        last_frame_at: inner.now(),
        ping_nonce: 0,
        stream,
        inner: inner.clone(),
        peer: peer.clone(),
    };
    let reason = driver.await;
    connection_lost(&inner, &peer, conn_id, &reason);
}

fn tick_period<P: Providers, C: Codec>(inner: &Inner<P, C>) -> Duration {
    Duration::from_millis((inner.config.ping_interval_ms / 2).max(1))
}

struct Driver<P: Providers, C: Codec> {
    inner: Rc<Inner<P, C>>,
    peer: Rc<Peer<P>>,
    stream: Stream<P>,
    decoder: FrameDecoder,
    read_buf: Box<[u8]>,
    write_buf: Vec<u8>,
    write_pos: usize,
    need_flush: bool,
    tick: Pin<Box<Sleep<P>>>,
    last_received: Instant,
    /// When the last complete frame was decoded (or the connection began).
    last_frame_at: Instant,
    ping_nonce: u64,
}

impl<P: Providers, C: Codec> Driver<P, C> {
    /// Step 1. `Ok(true)` if the read budget ran out with data possibly left.
    fn poll_reads(&mut self, cx: &mut Context<'_>) -> Result<bool, ConnectionError> {
        for _ in 0..READS_PER_POLL {
            let mut rb = ReadBuf::new(&mut self.read_buf);
            match Pin::new(&mut self.stream).poll_read(cx, &mut rb) {
                Poll::Pending => return Ok(false),
                Poll::Ready(Err(e)) => return Err(e.into()),
                Poll::Ready(Ok(())) => {}
            }
            let n = rb.filled().len();
            if n == 0 {
                return Err(match self.decoder.finish() {
                    Ok(()) => ConnectionError::Closed,
                    Err(WireError::Truncated { buffered }) => {
                        add(
                            &self.peer.stats.closed_mid_frame,
                            "transport.closed_mid_frame",
                            1,
                        );
                        ConnectionError::ClosedMidFrame { buffered }
                    }
                    Err(e) => e.into(),
                });
            }
            add(
                &self.peer.stats.bytes_received,
                "transport.bytes_received",
                n as u64,
            );
            let now = self.inner.now();
            self.last_received = now;
            self.decoder.feed(&self.read_buf[..n]);
            loop {
                match self.decoder.next_frame() {
                    Ok(Some(frame)) => {
                        self.last_frame_at = now;
                        add(
                            &self.peer.stats.frames_received,
                            "transport.frames_received",
                            1,
                        );
                        self.inner.dispatch(&self.peer, frame.token, frame.payload);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        reachable!("a corrupted frame is detected");
                        self.inner.count_wire_error(Some(&self.peer), &e);
                        tracing::debug!(peer = %self.peer.addr, error = %e, "wire error");
                        return Err(e.into());
                    }
                }
            }
        }
        Ok(true)
    }

    /// Step 2.
    fn poll_tick(&mut self, cx: &mut Context<'_>) -> Result<(), ConnectionError> {
        // Bounded: each iteration re-arms the timer in the future.
        for _ in 0..4 {
            if self.tick.as_mut().poll(cx).is_pending() {
                return Ok(());
            }
            let now = self.inner.now();
            let idle = now.saturating_duration_since(self.last_received);
            let cfg = &self.inner.config;
            if idle >= Duration::from_millis(cfg.ping_timeout_ms) {
                reachable!("a silent connection is closed by the ping timeout");
                add(&self.peer.stats.ping_timeouts, "transport.ping_timeouts", 1);
                return Err(ConnectionError::PingTimeout);
            }
            let buffered = self.decoder.buffered();
            if buffered > 0
                && now.saturating_duration_since(self.last_frame_at)
                    >= Duration::from_millis(cfg.frame_stall_timeout_ms)
            {
                add(
                    &self.peer.stats.frames_stalled,
                    "transport.frames_stalled",
                    1,
                );
                return Err(ConnectionError::FrameStalled { buffered });
            }
            if idle >= Duration::from_millis(cfg.ping_interval_ms) {
                self.ping_nonce += 1;
                add(&self.peer.stats.pings_sent, "transport.pings_sent", 1);
                self.inner
                    .send_control(&self.peer, &Control::Ping(self.ping_nonce));
            }
            self.tick = Box::pin(self.inner.p.time().sleep(tick_period(&self.inner)));
        }
        Ok(())
    }

    /// Step 3. `Ok(true)` if the write budget ran out with frames left.
    fn poll_writes(&mut self, cx: &mut Context<'_>) -> Result<bool, ConnectionError> {
        let mut more = true;
        for _ in 0..WRITES_PER_POLL {
            if self.write_pos == self.write_buf.len() {
                self.write_buf.clear();
                self.write_pos = 0;
                if self.write_buf.capacity() > 4 * WRITE_BATCH {
                    self.write_buf.shrink_to(WRITE_BATCH);
                }
                if !self
                    .peer
                    .take_batch(&mut self.write_buf, WRITE_BATCH, cx.waker())
                {
                    more = false;
                    break;
                }
            }
            match Pin::new(&mut self.stream).poll_write(cx, &self.write_buf[self.write_pos..]) {
                Poll::Pending => {
                    more = false;
                    break;
                }
                Poll::Ready(Ok(0)) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                Poll::Ready(Ok(n)) => {
                    self.write_pos += n;
                    self.need_flush = true;
                }
                Poll::Ready(Err(e)) => return Err(e.into()),
            }
        }
        if self.need_flush {
            match Pin::new(&mut self.stream).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.need_flush = false,
                Poll::Ready(Err(e)) => return Err(e.into()),
                Poll::Pending => {}
            }
        }
        Ok(more)
    }
}

impl<P: Providers, C: Codec> Future for Driver<P, C> {
    type Output = ConnectionError;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ConnectionError> {
        let this = &mut *self;
        if this.inner.is_shut_down() {
            return Poll::Ready(ConnectionError::Shutdown);
        }
        let more_reads = match this.poll_reads(cx) {
            Ok(more) => more,
            Err(e) => return Poll::Ready(e),
        };
        if let Err(e) = this.poll_tick(cx) {
            return Poll::Ready(e);
        }
        let more_writes = match this.poll_writes(cx) {
            Ok(more) => more,
            Err(e) => return Poll::Ready(e),
        };
        if more_reads || more_writes {
            // Budget spent: yield to other tasks, then continue.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}
