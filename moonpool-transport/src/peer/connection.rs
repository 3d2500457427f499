//! Driving one established connection: a single future that reads and
//! dispatches frames, writes the peer's queue, and keeps the connection
//! alive.
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
//! 2. keepalive (see below): only when its one timer is due or what it
//!    waits for changed; a busy connection pays a comparison per poll.
//! 3. writes: straight from the peer's outbox, where frames were encoded,
//!    until the socket would block or the outbox is empty.
//!
//! A connection can also be ended from outside its task (`ConnShared::reset`:
//! a newcomer proved it dead, or replies overflowed their budget).
//!
//! # Keepalive
//! One timer per connection end, armed for the next instant something is
//! due, never ticking:
//! - a connection on which nothing was received for the *idle threshold*
//!   (`ping_interval_ms` on the end that dialed, half as long again on the
//!   end that accepted, so the two ends do not ping at once) gets a ping;
//! - a ping is answered within the *answer delay* (`ping_interval_ms`, at
//!   most half of `ping_timeout_ms`): by any frame this end writes
//!   meanwhile, else by a ping of its own, which the other end answers in
//!   turn. An idle connection thus carries one small frame per answer
//!   delay, alternately in each direction: each frame both answers a ping
//!   and is one;
//! - a ping after which nothing at all arrives for `ping_timeout_ms` ends
//!   the connection (`PingTimeout`); any byte counts, so large frames on
//!   slow links are not cut;
//! - an incomplete frame buffered with no frame completed for
//!   `frame_stall_timeout_ms` ends it (`FrameStalled`): pings keep a
//!   connection alive on bytes alone, so a stalled frame would otherwise
//!   never time out.
//!
//! Traffic moves the deadlines later without touching the timer: a timer
//! that fires early finds nothing due and is re-armed (at most once per
//! idle threshold on a busy connection). It is re-armed at once only when
//! a deadline moves earlier or a ping is answered, which on an idle
//! connection happens once per frame.
//!
//! # Buffers
//! Buffers grow with use and shrink when the connection idles: the
//! decoder's read room starts at `READ_CHUNK_MIN` and doubles while reads
//! fill it (up to `READ_CHUNK_MAX`); a frame larger than that grows the
//! buffer to the frame's size while it arrives. When this end pings (idle
//! for its threshold), the decoder and the peer's outbox give their memory
//! back down to their minimum.
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

const READS_PER_POLL: usize = 16;
/// Room offered to the first read of a connection, and again once it idles.
pub(crate) const READ_CHUNK_MIN: usize = 2 * 1024;
/// The most room offered to one read.
const READ_CHUNK_MAX: usize = 64 * 1024;

type Sleep<P> = <<P as Providers>::Time as TimeProvider>::Sleep;

/// Runs the connection `conn_id` of `peer` (to incarnation `incarnation`)
/// until it ends. `dialed`: this end opened the connection.
pub(crate) async fn run<P: Providers, C: Codec>(
    inner: Rc<Inner<P, C>>,
    peer: Rc<Peer<P>>,
    stream: Rc<RefCell<Stream<P>>>,
    conn_id: u64,
    incarnation: u64,
    dialed: bool,
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
    let now = inner.now();
    let keepalive = Keepalive::new(&inner, dialed);
    let driver = Driver {
        decoder: FrameDecoder::new(inner.config.frame_bytes_max),
        read_chunk: READ_CHUNK_MIN,
        need_flush: false,
        timer: None,
        timer_at: Instant::ZERO,
        last_received: now,
        last_frame_at: now,
        ping_sent_at: None,
        answer_owed: None,
        ping_nonce: 0,
        keepalive,
        stream,
        inner: inner.clone(),
        peer: peer.clone(),
        shared,
        incarnation,
    };
    let reason = driver.await;
    connection_lost(&inner, &peer, conn_id, &reason);
}

/// The keepalive delays of one connection end.
struct Keepalive {
    /// Nothing received for this long: ping.
    idle: Duration,
    /// A ping is answered within this long.
    answer: Duration,
    /// Nothing received for this long after our ping: the connection is dead.
    timeout: Duration,
    /// An incomplete frame with no frame completed for this long: stalled.
    stall: Duration,
}

impl Keepalive {
    fn new<P: Providers, C: Codec>(inner: &Inner<P, C>, dialed: bool) -> Keepalive {
        let c = &inner.config;
        let interval = c.ping_interval_ms.max(1);
        let idle = if dialed {
            interval
        } else {
            interval + interval / 2
        };
        Keepalive {
            idle: Duration::from_millis(idle),
            answer: Duration::from_millis(interval.min(c.ping_timeout_ms / 2).max(1)),
            timeout: Duration::from_millis(c.ping_timeout_ms),
            stall: Duration::from_millis(c.frame_stall_timeout_ms),
        }
    }
}

/// A ping of the peer's, not answered yet.
#[derive(Clone, Copy)]
struct Owed {
    /// When it arrived.
    at: Instant,
    /// Frames written to the peer by then: any later one answers it.
    frames_sent: u64,
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
    /// Room offered to the next read: grows while reads fill it.
    read_chunk: usize,
    need_flush: bool,
    /// The keepalive timer, armed for `timer_at` (none before the first poll).
    timer: Option<Pin<Box<Sleep<P>>>>,
    timer_at: Instant,
    last_received: Instant,
    /// When the last complete frame was decoded (or the connection began).
    last_frame_at: Instant,
    /// Our ping that nothing has arrived since: when it was sent.
    ping_sent_at: Option<Instant>,
    /// The peer's ping we owe an answer.
    answer_owed: Option<Owed>,
    ping_nonce: u64,
    keepalive: Keepalive,
}

/// What one read step saw.
struct ReadOutcome {
    /// The read budget ran out with data possibly left.
    more: bool,
    /// Bytes received.
    bytes: u64,
    /// The largest acknowledgement among the pings that arrived (how many
    /// of our pings the peer had received when it sent them), if any did.
    ping: Option<u64>,
}

impl<P: Providers, C: Codec> Driver<P, C> {
    /// Step 1.
    fn poll_reads(&mut self, cx: &mut Context<'_>) -> Result<ReadOutcome, ConnectionError> {
        let mut seen = ReadOutcome {
            more: false,
            bytes: 0,
            ping: None,
        };
        let mut frames = 0u64;
        let result = self.read_and_dispatch(cx, &mut seen, &mut frames);
        if seen.bytes > 0 {
            add(
                &self.peer.stats.bytes_received,
                "transport.bytes_received",
                seen.bytes,
            );
            self.shared
                .received_bytes
                .set(self.shared.received_bytes.get() + seen.bytes);
        }
        if frames > 0 {
            add(
                &self.peer.stats.frames_received,
                "transport.frames_received",
                frames,
            );
        }
        result.map(|more| ReadOutcome { more, ..seen })
    }

    fn read_and_dispatch(
        &mut self,
        cx: &mut Context<'_>,
        seen: &mut ReadOutcome,
        frames: &mut u64,
    ) -> Result<bool, ConnectionError> {
        for _ in 0..READS_PER_POLL {
            let (n, offered) = {
                let room = self.decoder.spare(self.read_chunk);
                let offered = room.len();
                let mut rb = ReadBuf::new(room);
                let mut stream = self.stream.borrow_mut();
                match Pin::new(&mut *stream).poll_read(cx, &mut rb) {
                    Poll::Pending => return Ok(false),
                    Poll::Ready(Err(e)) => return Err(e.into()),
                    Poll::Ready(Ok(())) => {}
                }
                (rb.filled().len(), offered)
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
            if n == offered && self.read_chunk < READ_CHUNK_MAX {
                // The read filled the room offered: offer more next time.
                self.read_chunk *= 2;
            }
            self.decoder.commit(n);
            seen.bytes += n as u64;
            let now = self.inner.now();
            self.last_received = now;
            loop {
                match self.decoder.next_frame() {
                    Ok(Some(frame)) => {
                        self.last_frame_at = now;
                        *frames += 1;
                        let ping = self.inner.dispatch(
                            &self.peer,
                            self.incarnation,
                            frame.token,
                            frame.payload,
                        );
                        if let Some(acked) = ping {
                            let received = &self.shared.pings_received;
                            received.set(received.get() + 1);
                            seen.ping = seen.ping.max(Some(acked));
                        }
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

    /// Records what the reads of this poll mean for the keepalive; returns
    /// whether the timer must be re-armed now (a ping was answered, or one
    /// is owed), rather than left to fire early and re-arm itself.
    fn note_received(&mut self, seen: &ReadOutcome) -> bool {
        let answered = self.ping_sent_at.take().is_some();
        // A ping sent before its sender had our last ping needs no answer:
        // that ping of ours reaches it afterwards (pings that crossed). The
        // two ends' idle thresholds differ, so they do not cross again.
        let owed =
            self.answer_owed.is_none() && seen.ping.is_some_and(|acked| acked >= self.ping_nonce);
        if owed {
            self.answer_owed = Some(Owed {
                at: self.last_received,
                frames_sent: self.peer.stats.frames_sent.get(),
            });
        }
        answered || owed
    }

    /// When the keepalive next has something to do.
    fn next_due(&self) -> Instant {
        let k = &self.keepalive;
        let mut next = match self.ping_sent_at {
            Some(sent) => sent + k.timeout,
            None => self.last_received + k.idle,
        };
        if let Some(owed) = self.answer_owed {
            next = next.min(owed.at + k.answer);
        }
        if self.decoder.buffered() > 0 {
            next = next.min(self.last_frame_at + k.stall);
        }
        next
    }

    /// Does what is due at `now`: ends a dead or stalled connection, pings
    /// an idle one, answers an owed ping.
    fn act(&mut self, now: Instant) -> Result<(), ConnectionError> {
        let k = &self.keepalive;
        if let Some(sent) = self.ping_sent_at
            && now >= sent + k.timeout
        {
            reachable!("a silent connection is closed by the ping timeout");
            add(&self.peer.stats.ping_timeouts, "transport.ping_timeouts", 1);
            return Err(ConnectionError::PingTimeout);
        }
        let buffered = self.decoder.buffered();
        if buffered > 0 && now >= self.last_frame_at + k.stall {
            add(
                &self.peer.stats.frames_stalled,
                "transport.frames_stalled",
                1,
            );
            return Err(ConnectionError::FrameStalled { buffered });
        }
        let owed_due = self.answer_owed.filter(|o| now >= o.at + k.answer);
        if let Some(owed) = owed_due {
            self.answer_owed = None;
            if self.peer.stats.frames_sent.get() != owed.frames_sent {
                // Answered by what we wrote since.
                return Ok(());
            }
        }
        let idle = self.ping_sent_at.is_none() && now >= self.last_received + k.idle;
        if owed_due.is_some() || idle {
            self.ping(now);
        }
        Ok(())
    }

    /// Sends a ping (which also answers the peer's), and gives back the
    /// memory of the buffers: the connection is idle.
    fn ping(&mut self, now: Instant) {
        self.ping_nonce += 1;
        self.ping_sent_at = Some(now);
        self.answer_owed = None;
        add(&self.peer.stats.pings_sent, "transport.pings_sent", 1);
        self.read_chunk = READ_CHUNK_MIN;
        self.decoder.release(READ_CHUNK_MIN);
        self.peer.state.borrow_mut().out.release();
        let acked = self.shared.pings_received.get();
        self.inner.send_control(&self.peer, &Control::Ping(acked));
    }

    /// Step 2: acts on what is due and keeps the timer armed for the next
    /// deadline. `rearm`: the deadlines moved (see `note_received`).
    fn poll_keepalive(
        &mut self,
        cx: &mut Context<'_>,
        mut rearm: bool,
    ) -> Result<(), ConnectionError> {
        // Bounded: each turn acts on a deadline that has passed, which moves
        // every deadline it can into the future.
        for _ in 0..4 {
            let now = self.inner.now();
            let due = self.timer.is_none() || now >= self.timer_at;
            if due {
                self.act(now)?;
            } else if !rearm {
                return Ok(());
            }
            rearm = false;
            let next = self.next_due();
            if !due && next == self.timer_at {
                return Ok(());
            }
            let timer = self
                .timer
                .insert(Box::pin(self.inner.p.time().sleep_until(next)));
            self.timer_at = next;
            if timer.as_mut().poll(cx).is_pending() {
                return Ok(());
            }
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
        let seen = match this.poll_reads(cx) {
            Ok(seen) => seen,
            Err(e) => return Poll::Ready(e),
        };
        let rearm = seen.bytes > 0 && {
            let moved = this.note_received(&seen);
            // A deadline that moved earlier (a stall deadline, once a partial
            // frame is buffered) must be armed now.
            moved || this.next_due() < this.timer_at
        };
        if let Err(e) = this.poll_keepalive(cx, rearm) {
            return Poll::Ready(e);
        }
        this.shared.read_buffer_bytes.set(this.decoder.capacity());
        let more_writes = match this.poll_writes(cx) {
            Ok(more) => more,
            Err(e) => return Poll::Ready(e),
        };
        if seen.more || more_writes {
            // Budget spent: yield to other tasks, then continue.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}
