//! Peers: one per remote address, owning the outgoing queue and the
//! connection to that address.
//!
//! Types: `Peer` and its `PeerState`; submodules `outbox` (the outgoing
//! bytes, encoded in place and written from there), `room` (admission and
//! back-pressure), `backoff` (reconnect delays), `keeper` (the task that
//! connects, the identity checks, and the rules that pick one connection
//! per peer) and `connection` (the task that drives one established
//! connection: reads, writes, pings).
//!
//! A peer is keyed by the remote *listen* address announced in the
//! handshake (and proven: see `keeper`), so a connection we open and one
//! the remote opens to us belong to the same peer. A remote without a
//! listen address (a pure client) is keyed by its socket address and is
//! *incoming-only*: we cannot reconnect to it, and the peer is removed when
//! its connection ends.
//!
//! Outgoing queue semantics:
//! - **One-way messages and at-most-once requests** wait in the outbox
//!   while a connection is being made, and are dropped (and counted) when a
//!   connection or a connection attempt fails. A request whose frame was
//!   never fully written ends with `ConnectionFailed`; one that was written
//!   with `MaybeDelivered`.
//! - **Reliable** frames are kept in a separate map until their sender
//!   releases them (a reply arrived, or the caller gave up), and are copied
//!   into the outbox, in sending order, on every new connection. At least
//!   once while the sender waits.
//! - **Replies and answers** have their own byte budget
//!   (`peer_replies_bytes_max`) and are never refused for the request
//!   limits; a reply meant for a previous incarnation of the peer is
//!   dropped (its requester is gone); past the budget the connection is
//!   reset, so the requesters learn their replies are lost.
//! - Requests, one-way messages and reliable frames are bounded in frames
//!   and bytes (`room`): calls wait for room, first come first served, and
//!   only as many are woken as there is room for; `send` gets `QueueFull`.
//!
//! Invariants: at most one established connection per peer at a time
//! (`PeerState::conn`); a connection task only touches the peer if it is
//! still the peer's current connection (checked by connection id); every
//! pending request registered with a peer is completed when the peer's
//! connection fails (at-most-once calls) or the transport shuts down; no
//! waker is called while the state is borrowed.

pub(crate) mod backoff;
pub(crate) mod connection;
pub(crate) mod keeper;
pub(crate) mod outbox;
pub(crate) mod room;
mod slab;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use moonpool_core::{Instant, JoinHandle, Providers, TaskProvider, sometimes};
use tokio::io::AsyncWrite;

use crate::config::TransportConfig;
use crate::endpoint::Token;
use crate::error::{ConnectionError, RpcError};
use crate::metrics::{PeerStats, add};
use crate::rpc::slot::CallSlot;
use backoff::Backoff;
use outbox::{FrameKind, Outbox};
use room::Room;

/// A task handle of the providers `P`.
pub(crate) type TaskHandle<P> = <<P as Providers>::Task as TaskProvider>::Handle<()>;

/// Incarnations of a peer remembered as replaced.
const RETIRED_INCARNATIONS_MAX: usize = 8;

/// Writes per driver poll, so one busy connection cannot starve the rest.
const WRITES_PER_POLL: usize = 16;

/// The limits a peer applies, copied from the configuration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) queue_frames_max: usize,
    pub(crate) queue_bytes_max: usize,
    pub(crate) reliable_bytes_max: usize,
    pub(crate) replies_bytes_max: usize,
}

impl Limits {
    pub(crate) fn from_config(c: &TransportConfig) -> Limits {
        Limits {
            queue_frames_max: c.peer_queue_frames_max,
            queue_bytes_max: c.peer_queue_bytes_max,
            reliable_bytes_max: c.peer_reliable_bytes_max,
            replies_bytes_max: c.peer_replies_bytes_max,
        }
    }
}

/// An outstanding reliable frame.
pub(crate) struct ReliableFrame {
    pub(crate) frame: Vec<u8>,
    /// Whether a copy waits in the outbox (its bytes count there).
    pub(crate) queued: bool,
    pub(crate) slot: Rc<dyn CallSlot>,
}

/// A request waiting for its reply from this peer.
pub(crate) struct PendingCall {
    /// The token the request was sent to (for "endpoint not found").
    pub(crate) dest: Token,
    /// Whether a lost connection ends the call.
    pub(crate) at_most_once: bool,
    pub(crate) slot: Rc<dyn CallSlot>,
}

/// What the connection task and the rest of the transport share about one
/// connection.
#[derive(Default)]
pub(crate) struct ConnShared {
    /// Bytes received so far (a sign of life).
    pub(crate) received_bytes: Cell<u64>,
    /// Pings received so far: every ping sent on the connection carries it
    /// (see the connection driver's keepalive).
    pub(crate) pings_received: Cell<u64>,
    /// Bytes the connection's read buffer holds (its capacity), published
    /// by the connection task for memory accounting.
    pub(crate) read_buffer_bytes: Cell<usize>,
    /// Set to close the connection from outside its task.
    pub(crate) reset: RefCell<Option<ConnectionError>>,
    /// The connection task's waker, for `reset` and writes from outside
    /// the task.
    pub(crate) waker: RefCell<Option<Waker>>,
    /// Whether a frame was written from outside the connection task since
    /// it last ran (later frames are left to the task, to batch them).
    pub(crate) wrote_through: Cell<bool>,
    /// Whether the last write carried several frames: traffic comes in
    /// bursts, which the connection task batches better than writes from
    /// outside would.
    pub(crate) batching: Cell<bool>,
}

impl ConnShared {
    /// Asks the connection task to end with `why`.
    pub(crate) fn reset(&self, why: ConnectionError) {
        self.reset.borrow_mut().get_or_insert(why);
        let w = self.waker.borrow_mut().take();
        if let Some(w) = w {
            w.wake();
        }
    }
}

/// The established connection of a peer.
pub(crate) struct ActiveConn<P: Providers> {
    pub(crate) id: u64,
    pub(crate) initiated_by_us: bool,
    pub(crate) remote_incarnation: u64,
    pub(crate) established_at: Instant,
    pub(crate) task: Option<TaskHandle<P>>,
    pub(crate) shared: Rc<ConnShared>,
    /// The stream, owned by the connection task (it closes with the task).
    pub(crate) stream: std::rc::Weak<RefCell<Stream<P>>>,
}

/// The stream type of the providers `P`.
pub(crate) type Stream<P> = <<P as Providers>::Network as moonpool_core::NetworkProvider>::Stream;

/// The mutable part of a peer.
pub(crate) struct PeerState<P: Providers> {
    pub(crate) out: Outbox,
    pub(crate) reliable: BTreeMap<u64, ReliableFrame>,
    /// Bytes of the frames in `reliable`.
    pub(crate) reliable_bytes: usize,
    /// Released reliable frames whose copy waits in the outbox unwritten:
    /// the writer skips them.
    pub(crate) skip: BTreeSet<u64>,
    pub(crate) next_seq: u64,
    pub(crate) room: Room,
    pub(crate) conn: Option<ActiveConn<P>>,
    pub(crate) keeper: Option<TaskHandle<P>>,
    pub(crate) keeper_waker: Option<Waker>,
    /// The connection task, parked with nothing to write.
    pub(crate) writer_waker: Option<Waker>,
    /// Calls waiting for a reply from this peer, by index.
    pub(crate) pending: slab::Slab<PendingCall>,
    pub(crate) remote_incarnation: Option<u64>,
    /// Incarnations that were replaced: never accepted again.
    pub(crate) retired: VecDeque<u64>,
    pub(crate) backoff: Backoff,
    pub(crate) probe_until: Instant,
    /// Last time something happened that should keep an unconnected peer
    /// around (a send, a disconnection, a failed attempt).
    pub(crate) last_activity: Instant,
}

/// A remote transport, as seen from here.
pub(crate) struct Peer<P: Providers> {
    pub(crate) addr: SocketAddr,
    /// Whether `addr` is a listen address we can connect to.
    pub(crate) connectable: bool,
    pub(crate) limits: Limits,
    pub(crate) stats: PeerStats,
    pub(crate) state: RefCell<PeerState<P>>,
}

/// Why an answer was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AnswerRefused {
    /// It is meant for an incarnation of the peer that is gone.
    Stale,
    /// The replies budget is spent.
    Overflow,
}

/// What one write step did.
pub(crate) struct WriteProgress {
    /// Whether the write budget ran out with bytes left.
    pub(crate) more: bool,
    /// Whether bytes were written (a flush is due).
    pub(crate) wrote: bool,
}

impl<P: Providers> Peer<P> {
    pub(crate) fn new(addr: SocketAddr, connectable: bool, config: &TransportConfig) -> Peer<P> {
        Peer {
            addr,
            connectable,
            limits: Limits::from_config(config),
            stats: PeerStats::default(),
            state: RefCell::new(PeerState {
                out: Outbox::default(),
                reliable: BTreeMap::new(),
                reliable_bytes: 0,
                skip: BTreeSet::new(),
                next_seq: 0,
                room: Room::default(),
                conn: None,
                keeper: None,
                keeper_waker: None,
                writer_waker: None,
                pending: slab::Slab::default(),
                remote_incarnation: None,
                retired: VecDeque::new(),
                backoff: Backoff::from_config(config),
                probe_until: Instant::ZERO,
                last_activity: Instant::ZERO,
            }),
        }
    }

    /// Whether the transport wants a connection to this peer at `now`.
    pub(crate) fn wants_connection(st: &PeerState<P>, now: Instant) -> bool {
        !st.out.is_empty() || !st.reliable.is_empty() || now < st.probe_until
    }

    /// Grants places in line after room was freed, and wakes the granted.
    pub(crate) fn grant_room(&self) {
        let wakers = room::grant(&mut self.state.borrow_mut(), &self.limits);
        for w in wakers {
            w.wake();
        }
    }

    /// Wakes whoever moves the queue: the connection, or the keeper.
    fn wake_sender(st: &mut PeerState<P>) {
        let waker = if st.conn.is_some() {
            st.writer_waker.take()
        } else {
            st.keeper_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// A frame was queued: moves it on. While traffic is one message at a
    /// time, the first frame queued since the connection task last ran is
    /// written at once, from here, with the connection task's waker (so a
    /// socket that would block wakes that task): no task switch for a lone
    /// message. Otherwise (a frame already written that way, or traffic in
    /// bursts) the connection task is woken and writes them in one batch.
    fn kick(&self, mut st: std::cell::RefMut<'_, PeerState<P>>) {
        let through = st.conn.as_ref().and_then(|c| {
            if c.shared.wrote_through.get() || c.shared.batching.get() {
                return None;
            }
            let waker = c.shared.waker.borrow().clone()?;
            let stream = c.stream.upgrade()?;
            c.shared.wrote_through.set(true);
            Some((stream, waker, c.shared.clone()))
        });
        let Some((stream, waker, shared)) = through else {
            Self::wake_sender(&mut st);
            return;
        };
        drop(st);
        let Ok(mut stream) = stream.try_borrow_mut() else {
            Self::wake_sender(&mut self.state.borrow_mut());
            return;
        };
        let mut cx = Context::from_waker(&waker);
        match self.poll_write(&mut *stream, &mut cx) {
            Ok(progress) => {
                let flushed = !progress.wrote
                    || matches!(
                        Pin::new(&mut *stream).poll_flush(&mut cx),
                        Poll::Ready(Ok(()))
                    );
                if progress.more || !flushed {
                    waker.wake_by_ref();
                }
            }
            Err(e) => shared.reset(e.into()),
        }
    }

    /// Appends a frame that `build` encodes in place, if it is admitted
    /// (nobody waits and it fits); otherwise removes it and returns its
    /// bytes, for the caller to wait for room. `build` appends one frame,
    /// or nothing and an error.
    pub(crate) fn push_built<E>(
        &self,
        kind: impl FnOnce() -> FrameKind,
        build: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<Option<Vec<u8>>, E> {
        let mut st = self.state.borrow_mut();
        let start = st.out.buf.len();
        if let Err(e) = build(&mut st.out.buf) {
            st.out.buf.truncate(start);
            return Err(e);
        }
        let len = st.out.buf.len() - start;
        if room::admits(&st, len, false, &self.limits) {
            st.out.commit(start, kind());
            self.kick(st);
            return Ok(None);
        }
        let frame = st.out.buf[start..].to_vec();
        st.out.buf.truncate(start);
        Ok(Some(frame))
    }

    /// Appends a whole frame that was admitted (its ticket consumed).
    pub(crate) fn push_admitted(&self, frame: &[u8], kind: FrameKind) {
        let mut st = self.state.borrow_mut();
        st.out.push(frame, kind);
        self.kick(st);
    }

    /// A one-way message: appended if admitted, else `QueueFull`.
    pub(crate) fn push_oneway<E>(
        &self,
        build: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), Result<RpcError, E>> {
        match self.push_built(|| FrameKind::OneWay, build) {
            Ok(None) => Ok(()),
            Ok(Some(_)) => {
                add(
                    &self.stats.unreliable_dropped,
                    "transport.unreliable_dropped",
                    1,
                );
                Err(Ok(RpcError::QueueFull))
            }
            Err(e) => Err(Err(e)),
        }
    }

    /// Queues a reliable frame (copied into the outbox now if connected,
    /// else on the next connection, and on every reconnect until released)
    /// and returns its sequence number. The caller was admitted.
    pub(crate) fn push_reliable(&self, frame: Vec<u8>, slot: Rc<dyn CallSlot>) -> u64 {
        let mut st = self.state.borrow_mut();
        let seq = st.next_seq;
        st.next_seq += 1;
        st.reliable_bytes += frame.len();
        let queued = st.conn.is_some();
        if queued {
            st.out.push(&frame, FrameKind::Reliable { seq });
        }
        st.reliable.insert(
            seq,
            ReliableFrame {
                frame,
                queued,
                slot,
            },
        );
        self.kick(st);
        seq
    }

    /// Stops resending reliable frame `seq`; returns its buffer.
    pub(crate) fn release_reliable(&self, seq: u64) -> Option<Vec<u8>> {
        let (frame, freed) = {
            let mut st = self.state.borrow_mut();
            let r = st.reliable.remove(&seq)?;
            let len = r.frame.len();
            st.reliable_bytes -= len;
            if r.queued && !st.out.is_partly_written(seq) {
                // Its copy is skipped by the writer; its room is free now.
                st.skip.insert(seq);
                st.out.request_bytes -= len;
                st.out.request_frames -= 1;
            }
            (r.frame, st.room.has_waiters())
        };
        if freed {
            self.grant_room();
        }
        Some(frame)
    }

    /// Queues an answer (a reply, a pong, "endpoint not found") that
    /// `build` encodes in place, for the peer's incarnation `incarnation`
    /// (any if `None`). Answers are never refused for the request limits.
    pub(crate) fn push_answer<E>(
        &self,
        incarnation: Option<u64>,
        build: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<Result<(), AnswerRefused>, E> {
        let mut st = self.state.borrow_mut();
        if let (Some(want), Some(current)) = (incarnation, st.remote_incarnation)
            && want != current
        {
            drop(st);
            add(&self.stats.replies_dropped, "transport.replies_dropped", 1);
            return Ok(Err(AnswerRefused::Stale));
        }
        let start = st.out.buf.len();
        if let Err(e) = build(&mut st.out.buf) {
            st.out.buf.truncate(start);
            return Err(e);
        }
        let len = st.out.buf.len() - start;
        if st.out.answer_bytes > 0 && st.out.answer_bytes + len > self.limits.replies_bytes_max {
            st.out.buf.truncate(start);
            drop(st);
            add(&self.stats.replies_dropped, "transport.replies_dropped", 1);
            return Ok(Err(AnswerRefused::Overflow));
        }
        st.out.commit(start, FrameKind::Answer { incarnation });
        self.kick(st);
        Ok(Ok(()))
    }

    /// Writes outbox bytes to `stream` until it would block, the outbox is
    /// empty (then `waker` is kept to be woken by the next frame), or the
    /// budget runs out. Frames fully written are accounted for: their
    /// calls marked sent, their room freed.
    pub(crate) fn poll_write<S: AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        cx: &mut Context<'_>,
    ) -> io::Result<WriteProgress> {
        let mut progress = WriteProgress {
            more: true,
            wrote: false,
        };
        let (mut frames, mut bytes, mut freed) = (0u64, 0u64, false);
        let result = {
            let mut guard = self.state.borrow_mut();
            let st = &mut *guard;
            let mut result = Ok(());
            for _ in 0..WRITES_PER_POLL {
                st.out.compact();
                let end = st.out.writable_end(&mut st.skip);
                if st.out.written == end {
                    if st.out.is_empty() {
                        progress.more = false;
                        match &st.writer_waker {
                            Some(w) if w.will_wake(cx.waker()) => {}
                            _ => st.writer_waker = Some(cx.waker().clone()),
                        }
                    }
                    break;
                }
                let n =
                    match Pin::new(&mut *stream).poll_write(cx, &st.out.buf[st.out.written..end]) {
                        Poll::Pending => {
                            progress.more = false;
                            break;
                        }
                        Poll::Ready(Ok(0)) => {
                            result = Err(io::Error::from(io::ErrorKind::WriteZero));
                            break;
                        }
                        Poll::Ready(Ok(n)) => n,
                        Poll::Ready(Err(e)) => {
                            result = Err(e);
                            break;
                        }
                    };
                progress.wrote = true;
                bytes += n as u64;
                st.out.written += n;
                while let Some(e) = st.out.entries.front() {
                    if st.out.head + e.len > st.out.written {
                        break;
                    }
                    let Some(e) = st.out.entries.pop_front() else {
                        break;
                    };
                    st.out.head += e.len;
                    st.out.account_done(&e);
                    frames += 1;
                    match &e.kind {
                        FrameKind::Request { slot } => {
                            slot.mark_sent();
                            freed = true;
                        }
                        FrameKind::Reliable { seq } => {
                            if let Some(r) = st.reliable.get_mut(seq) {
                                r.queued = false;
                                r.slot.mark_sent();
                            }
                            freed = true;
                        }
                        FrameKind::OneWay => freed = true,
                        FrameKind::Answer { .. } => {}
                    }
                }
            }
            st.out.check();
            freed &= st.room.has_waiters();
            if frames > 0
                && let Some(c) = &st.conn
            {
                c.shared.batching.set(frames > 1);
            }
            result
        };
        if frames > 0 {
            add(&self.stats.frames_sent, "transport.frames_sent", frames);
        }
        if bytes > 0 {
            add(&self.stats.bytes_sent, "transport.bytes_sent", bytes);
        }
        if freed {
            self.grant_room();
        }
        result.map(|()| progress)
    }

    /// Drops every queued frame but the reliable ones (a connection or an
    /// attempt failed) and returns the wakers of the calls granted room.
    pub(crate) fn clear_queue(
        st: &mut PeerState<P>,
        stats: &PeerStats,
        limits: &Limits,
    ) -> Vec<Waker> {
        let dropped = st.out.clear();
        st.skip.clear();
        for r in st.reliable.values_mut() {
            r.queued = false;
        }
        add(
            &stats.unreliable_dropped,
            "transport.unreliable_dropped",
            dropped,
        );
        room::grant(st, limits)
    }

    /// A new connection to incarnation `incarnation` is up: every
    /// outstanding reliable frame goes first, in sending order, then what
    /// was queued meanwhile (minus replies meant for another incarnation).
    pub(crate) fn requeue_for_connection(
        st: &mut PeerState<P>,
        stats: &PeerStats,
        incarnation: u64,
    ) {
        st.skip.clear();
        let dropped = st.out.rebuild_for(&mut st.reliable, incarnation);
        if dropped > 0 {
            add(&stats.replies_dropped, "transport.replies_dropped", dropped);
        }
        if stats.connections.get() > 0 {
            sometimes!(
                !st.reliable.is_empty(),
                "reliable frames are resent on a new connection"
            );
            add(
                &stats.reliable_resent,
                "transport.reliable_resent",
                st.reliable.len() as u64,
            );
        }
        st.out.check();
    }

    /// Remembers `incarnation` as replaced: it is never accepted again.
    pub(crate) fn retire(st: &mut PeerState<P>, incarnation: u64) {
        if !st.retired.contains(&incarnation) {
            st.retired.push_back(incarnation);
            if st.retired.len() > RETIRED_INCARNATIONS_MAX {
                st.retired.pop_front();
            }
        }
    }

    /// Completes the calls a lost connection ends (the at-most-once ones,
    /// or `all`): with `error` if given, else `MaybeDelivered` if their
    /// request was written and `ConnectionFailed` if not. Slots are
    /// completed after the borrow ends.
    pub(crate) fn fail_calls(&self, all: bool, error: Option<RpcError>) {
        let slots: Vec<Rc<dyn CallSlot>> = self
            .state
            .borrow()
            .pending
            .values()
            .filter(|c| all || c.at_most_once)
            .map(|c| c.slot.clone())
            .collect();
        if error.is_none() {
            sometimes!(
                slots.iter().any(|s| s.was_sent()),
                "a lost connection ends at-most-once calls with MaybeDelivered"
            );
            sometimes!(
                slots.iter().any(|s| !s.was_sent()),
                "a failed connection ends unsent calls with ConnectionFailed"
            );
        }
        for s in slots {
            let e = match &error {
                Some(e) => e.clone(),
                None if s.was_sent() => RpcError::MaybeDelivered,
                None => RpcError::ConnectionFailed,
            };
            s.fail(e);
        }
    }

    /// Completes calls sent to `token` with `EndpointNotFound`.
    pub(crate) fn endpoint_not_found(&self, token: Token) {
        add(
            &self.stats.endpoint_not_found,
            "transport.endpoint_not_found",
            1,
        );
        let slots: Vec<Rc<dyn CallSlot>> = self
            .state
            .borrow()
            .pending
            .values()
            .filter(|c| c.dest == token)
            .map(|c| c.slot.clone())
            .collect();
        for s in slots {
            s.fail(RpcError::EndpointNotFound);
        }
    }

    /// Whether the peer has nothing to do: no connection, nothing queued,
    /// no reliable frame, no pending call, no probe, and no activity for
    /// `idle`.
    pub(crate) fn is_idle(&self, now: Instant, idle: std::time::Duration) -> bool {
        let st = self.state.borrow();
        st.conn.is_none()
            && st.out.is_empty()
            && st.reliable.is_empty()
            && st.pending.is_empty()
            && !st.room.has_waiters()
            && now >= st.probe_until
            && now.saturating_duration_since(st.last_activity) >= idle
    }

    /// Aborts the peer's tasks and dissolves its line of waiting calls
    /// (shutdown).
    pub(crate) fn abort_tasks(&self) {
        let (conn, keeper, waiters) = {
            let mut st = self.state.borrow_mut();
            (st.conn.take(), st.keeper.take(), st.room.wake_all())
        };
        if let Some(mut c) = conn
            && let Some(t) = c.task.take()
        {
            t.abort();
        }
        if let Some(k) = keeper {
            k.abort();
        }
        for w in waiters {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests;
