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
//! 1. reads: up to `READS_PER_POLL` reads straight into the
//!    [`FrameDecoder`]'s spare room (no copy), every complete frame
//!    dispatched at once from the decoder's buffer. EOF between frames is `Closed`, EOF inside a frame is
//!    `ClosedMidFrame`, a wire error is fatal.
//! 2. the liveness tick: when nothing was received for
//!    `ping_interval_ms`, queue a ping; after `ping_timeout_ms` of silence,
//!    end with `PingTimeout`; when an incomplete frame is buffered and no
//!    frame completed for `frame_stall_timeout_ms`, end with `FrameStalled`
//!    (both ends keep pinging each other on bytes alone, so a stalled
//!    frame would otherwise never time out).
//! 3. writes: straight from the peer's outbox, where frames were encoded,
//!    until the socket would block or the outbox is empty.
//!
//! A connection can also be ended from outside its task (`ConnShared::reset`:
//! a newcomer proved it dead, or replies overflowed their budget).
//!
//! Invariant: the decoder's buffer holds at most one maximal frame plus one
//! read chunk, whatever the peer sends.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use moonpool_core::{Codec, Instant, Providers, TimeProvider, reachable};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::keeper::connection_lost;
use super::{ConnShared, Peer, Stream};
use crate::error::{ConnectionError, WireError};
use crate::metrics::add;
use crate::transport::{Control, Inner};
use crate::wire::FrameDecoder;

/// Spare room the decoder keeps for each read.
const READ_CHUNK: usize = 64 * 1024;
const READS_PER_POLL: usize = 16;

type Sleep<P> = <<P as Providers>::Time as TimeProvider>::Sleep;

/// Runs the connection `conn_id` of `peer` (to incarnation `incarnation`)
/// until it ends.
pub(crate) async fn run<P: Providers, C: Codec>(
    inner: Rc<Inner<P, C>>,
    peer: Rc<Peer<P>>,
    stream: Rc<RefCell<Stream<P>>>,
    conn_id: u64,
    incarnation: u64,
) {
    let shared = peer
        .state
        .borrow()
        .conn
        .as_ref()
        .filter(|c| c.id == conn_id)
        .map(|c| c.shared.clone());
    let Some(shared) = shared else {
        return;
    };
    let tick = tick_period(&inner);
    let driver = Driver {
        decoder: FrameDecoder::new(inner.config.frame_bytes_max),
        need_flush: false,
        tick: Box::pin(inner.p.time().sleep(tick)),
        last_received: inner.now(),
        last_frame_at: inner.now(),
        ping_nonce: 0,
        stream,
        inner: inner.clone(),
        peer: peer.clone(),
        shared,
        incarnation,
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
    shared: Rc<ConnShared>,
    /// The remote transport's incarnation.
    incarnation: u64,
    /// Shared with the peer, which may write to it between polls.
    stream: Rc<RefCell<Stream<P>>>,
    decoder: FrameDecoder,
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
        let (mut bytes, mut frames) = (0u64, 0u64);
        let result = self.read_and_dispatch(cx, &mut bytes, &mut frames);
        if bytes > 0 {
            add(
                &self.peer.stats.bytes_received,
                "transport.bytes_received",
                bytes,
            );
            self.shared
                .received_bytes
                .set(self.shared.received_bytes.get() + bytes);
        }
        if frames > 0 {
            add(
                &self.peer.stats.frames_received,
                "transport.frames_received",
                frames,
            );
        }
        result
    }

    fn read_and_dispatch(
        &mut self,
        cx: &mut Context<'_>,
        bytes: &mut u64,
        frames: &mut u64,
    ) -> Result<bool, ConnectionError> {
        for _ in 0..READS_PER_POLL {
            let n = {
                let mut rb = ReadBuf::new(self.decoder.spare(READ_CHUNK));
                let mut stream = self.stream.borrow_mut();
                match Pin::new(&mut *stream).poll_read(cx, &mut rb) {
                    Poll::Pending => return Ok(false),
                    Poll::Ready(Err(e)) => return Err(e.into()),
                    Poll::Ready(Ok(())) => {}
                }
                rb.filled().len()
            };
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
            self.decoder.commit(n);
            *bytes += n as u64;
            let now = self.inner.now();
            self.last_received = now;
            loop {
                match self.decoder.next_frame() {
                    Ok(Some(frame)) => {
                        self.last_frame_at = now;
                        *frames += 1;
                        self.inner.dispatch(
                            &self.peer,
                            self.incarnation,
                            frame.token,
                            frame.payload,
                        );
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
        let mut stream = self.stream.borrow_mut();
        let progress = self.peer.poll_write(&mut *stream, cx)?;
        if progress.wrote {
            self.need_flush = true;
        }
        if self.need_flush {
            match Pin::new(&mut *stream).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.need_flush = false,
                Poll::Ready(Err(e)) => return Err(e.into()),
                Poll::Pending => {}
            }
        }
        Ok(progress.more)
    }
}

impl<P: Providers, C: Codec> Future for Driver<P, C> {
    type Output = ConnectionError;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ConnectionError> {
        let this = &mut *self;
        if this.inner.is_shut_down() {
            return Poll::Ready(ConnectionError::Shutdown);
        }
        if let Some(why) = this.shared.reset.borrow_mut().take() {
            return Poll::Ready(why);
        }
        {
            let mut w = this.shared.waker.borrow_mut();
            match &*w {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *w = Some(cx.waker().clone()),
            }
        }
        // Frames queued from now on may be written from outside again.
        this.shared.wrote_through.set(false);
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
