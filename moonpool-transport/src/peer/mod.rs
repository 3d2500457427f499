//! Peers: one per remote address, owning the outgoing queue and the
//! connection to that address.
//!
//! Types: `Peer` and its `PeerState`; submodules [`backoff`]
//! (reconnect delays), `keeper` (the task that connects, and the rules
//! that pick one connection per peer) and `connection` (the task that
//! drives one established connection: reads, writes, pings).
//!
//! A peer is keyed by the remote *listen* address announced in the
//! handshake, so a connection we open and one the remote opens to us belong
//! to the same peer. A remote without a listen address (a pure client) is
//! keyed by its socket address and is *incoming-only*: we cannot reconnect
//! to it, and the peer is removed when its connection ends.
//!
//! Outgoing queue semantics:
//! - **Unreliable** frames wait in the queue while a connection is being
//!   made, and are dropped (and counted) when a connection or a connection
//!   attempt fails. At most once.
//! - **Reliable** frames are kept in a separate map until their sender
//!   releases them (a reply arrived, or the caller gave up), and are queued
//!   again, in sending order, on every new connection. At least once while
//!   the sender waits.
//! - The queue is bounded in frames and bytes; callers wait for space
//!   (back-pressure) or get `QueueFull`.
//!
//! Invariants: at most one established connection per peer at a time
//! (`PeerState::conn`); a connection task only touches the peer if it is
//! still the peer's current connection (checked by connection id); every
//! pending request registered with a peer is completed when the peer's
//! connection fails (at-most-once calls) or the transport shuts down.

pub(crate) mod backoff;
pub(crate) mod connection;
pub(crate) mod keeper;

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use moonpool_core::{Instant, JoinHandle, Providers, TaskProvider, sometimes};

use crate::config::TransportConfig;
use crate::endpoint::Token;
use crate::error::RpcError;
use crate::metrics::{PeerStats, add};
use crate::rpc::slot::ReplySlot;
use backoff::Backoff;

/// A task handle of the providers `P`.
pub(crate) type TaskHandle<P> = <<P as Providers>::Task as TaskProvider>::Handle<()>;

/// One queued frame.
pub(crate) enum Outgoing {
    /// Frame bytes, sent at most once.
    Unreliable(Vec<u8>),
    /// A reference into the reliable map.
    Reliable(u64),
}

/// An outstanding reliable frame.
pub(crate) struct ReliableFrame {
    frame: Vec<u8>,
    /// Whether a `Reliable(seq)` entry for it is in the queue (its bytes
    /// count in `queued_bytes`).
    queued: bool,
}

/// A request waiting for its reply from this peer.
pub(crate) struct PendingCall {
    /// The token the request was sent to (for "endpoint not found").
    pub(crate) dest: Token,
    /// Whether a lost connection ends the call with `MaybeDelivered`.
    pub(crate) at_most_once: bool,
    pub(crate) slot: Rc<ReplySlot>,
}

/// The established connection of a peer.
pub(crate) struct ActiveConn<P: Providers> {
    pub(crate) id: u64,
    pub(crate) initiated_by_us: bool,
    pub(crate) remote_incarnation: u64,
    pub(crate) established_at: Instant,
    pub(crate) task: Option<TaskHandle<P>>,
    pub(crate) writer_waker: Option<Waker>,
}

/// The mutable part of a peer.
pub(crate) struct PeerState<P: Providers> {
    pub(crate) queue: VecDeque<Outgoing>,
    pub(crate) queued_bytes: usize,
    pub(crate) reliable: BTreeMap<u64, ReliableFrame>,
    pub(crate) next_seq: u64,
    pub(crate) conn: Option<ActiveConn<P>>,
    pub(crate) keeper: Option<TaskHandle<P>>,
    pub(crate) keeper_waker: Option<Waker>,
    pub(crate) capacity_waiters: Vec<Waker>,
    pub(crate) pending: BTreeMap<u64, PendingCall>,
    pub(crate) remote_incarnation: Option<u64>,
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
    pub(crate) stats: PeerStats,
    pub(crate) state: RefCell<PeerState<P>>,
}

impl<P: Providers> Peer<P> {
    pub(crate) fn new(addr: SocketAddr, connectable: bool, config: &TransportConfig) -> Peer<P> {
        Peer {
            addr,
            connectable,
            stats: PeerStats::default(),
            state: RefCell::new(PeerState {
                queue: VecDeque::new(),
                queued_bytes: 0,
                reliable: BTreeMap::new(),
                next_seq: 0,
                conn: None,
                keeper: None,
                keeper_waker: None,
                capacity_waiters: Vec::new(),
                pending: BTreeMap::new(),
                remote_incarnation: None,
                backoff: Backoff::from_config(config),
                probe_until: Instant::ZERO,
                last_activity: Instant::ZERO,
            }),
        }
    }

    /// Whether the queue has room for one more frame of `len` bytes.
    fn has_room(st: &PeerState<P>, len: usize, config: &TransportConfig) -> bool {
        st.queue.len() < config.peer_queue_frames_max
            && (st.queued_bytes == 0 || st.queued_bytes + len <= config.peer_queue_bytes_max)
    }

    /// Resolves once the queue has room (back-pressure).
    pub(crate) fn poll_room(&self, cx: &mut Context<'_>, config: &TransportConfig) -> Poll<()> {
        let mut st = self.state.borrow_mut();
        if Self::has_room(&st, 0, config) {
            return Poll::Ready(());
        }
        // Bounded: one waker per waiting caller, drained on every write.
        st.capacity_waiters.push(cx.waker().clone());
        Poll::Pending
    }

    /// Queues an unreliable frame, or fails with `QueueFull`.
    pub(crate) fn push_unreliable(
        &self,
        frame: Vec<u8>,
        config: &TransportConfig,
    ) -> Result<(), RpcError> {
        let mut st = self.state.borrow_mut();
        if !Self::has_room(&st, frame.len(), config) {
            add(
                &self.stats.unreliable_dropped,
                "transport.unreliable_dropped",
                1,
            );
            return Err(RpcError::QueueFull);
        }
        st.queued_bytes += frame.len();
        st.queue.push_back(Outgoing::Unreliable(frame));
        Self::wake_sender(&mut st);
        Ok(())
    }

    /// Queues an unreliable frame for a call that already waited for room
    /// (accepted even if that room was taken meanwhile).
    pub(crate) fn push_unreliable_admitted(&self, frame: Vec<u8>) {
        let mut st = self.state.borrow_mut();
        st.queued_bytes += frame.len();
        st.queue.push_back(Outgoing::Unreliable(frame));
        Self::wake_sender(&mut st);
    }

    /// Queues a reliable frame (resent on every reconnect until released)
    /// and returns its sequence number. Callers wait for room first; the
    /// frame is accepted even if that room was taken meanwhile.
    pub(crate) fn push_reliable(&self, frame: Vec<u8>) -> u64 {
        let mut st = self.state.borrow_mut();
        let seq = st.next_seq;
        st.next_seq += 1;
        st.queued_bytes += frame.len();
        st.reliable.insert(
            seq,
            ReliableFrame {
                frame,
                queued: true,
            },
        );
        st.queue.push_back(Outgoing::Reliable(seq));
        Self::wake_sender(&mut st);
        seq
    }

    /// Stops resending reliable frame `seq`.
    pub(crate) fn release_reliable(&self, seq: u64) {
        let waiters = {
            let mut st = self.state.borrow_mut();
            match st.reliable.remove(&seq) {
                Some(r) if r.queued => {
                    st.queued_bytes = st.queued_bytes.saturating_sub(r.frame.len());
                    std::mem::take(&mut st.capacity_waiters)
                }
                _ => Vec::new(),
            }
        };
        for w in waiters {
            w.wake();
        }
    }

    /// Wakes whoever moves the queue: the connection, or the keeper.
    fn wake_sender(st: &mut PeerState<P>) {
        let waker = match st.conn.as_mut() {
            Some(c) => c.writer_waker.take(),
            None => st.keeper_waker.take(),
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Extends the probe window to `until` and wakes the keeper.
    pub(crate) fn touch(&self, now: Instant, until: Instant) {
        let mut st = self.state.borrow_mut();
        st.last_activity = now;
        if st.probe_until < until {
            st.probe_until = until;
        }
        if st.conn.is_none()
            && let Some(w) = st.keeper_waker.take()
        {
            w.wake();
        }
    }

    /// Moves queued frames into `out` (at least one, up to about
    /// `bytes_max` bytes). Returns false if the queue was empty, after
    /// registering `waker` to be woken by the next push.
    pub(crate) fn take_batch(&self, out: &mut Vec<u8>, bytes_max: usize, waker: &Waker) -> bool {
        let mut st = self.state.borrow_mut();
        let mut frames = 0u64;
        let start_len = out.len();
        while out.len() - start_len < bytes_max {
            let Some(item) = st.queue.pop_front() else {
                break;
            };
            match item {
                Outgoing::Unreliable(frame) => {
                    st.queued_bytes = st.queued_bytes.saturating_sub(frame.len());
                    out.extend_from_slice(&frame);
                    frames += 1;
                }
                Outgoing::Reliable(seq) => {
                    if let Some(r) = st.reliable.get_mut(&seq) {
                        r.queued = false;
                        out.extend_from_slice(&r.frame);
                        let len = r.frame.len();
                        st.queued_bytes = st.queued_bytes.saturating_sub(len);
                        frames += 1;
                    }
                }
            }
        }
        let waiters = std::mem::take(&mut st.capacity_waiters);
        if frames == 0
            && let Some(c) = st.conn.as_mut()
        {
            c.writer_waker = Some(waker.clone());
        }
        drop(st);
        for w in waiters {
            w.wake();
        }
        add(&self.stats.frames_sent, "transport.frames_sent", frames);
        add(
            &self.stats.bytes_sent,
            "transport.bytes_sent",
            (out.len() - start_len) as u64,
        );
        frames > 0
    }

    /// Drops every unreliable frame (a connection or attempt failed) and
    /// recomputes the queued bytes.
    pub(crate) fn drop_unreliable(st: &mut PeerState<P>, stats: &PeerStats) -> Vec<Waker> {
        let before = st.queue.len();
        st.queue.retain(|o| matches!(o, Outgoing::Reliable(_)));
        add(
            &stats.unreliable_dropped,
            "transport.unreliable_dropped",
            (before - st.queue.len()) as u64,
        );
        let reliable = &st.reliable;
        st.queued_bytes = st
            .queue
            .iter()
            .map(|o| match o {
                Outgoing::Reliable(seq) => reliable.get(seq).map_or(0, |r| r.frame.len()),
                Outgoing::Unreliable(f) => f.len(),
            })
            .sum();
        std::mem::take(&mut st.capacity_waiters)
    }

    /// Puts every outstanding reliable frame back in the queue, in sending
    /// order, ahead of the unreliable ones (a new connection is up).
    pub(crate) fn requeue_reliable(st: &mut PeerState<P>, stats: &PeerStats) {
        let unreliable: Vec<Outgoing> = st
            .queue
            .drain(..)
            .filter(|o| matches!(o, Outgoing::Unreliable(_)))
            .collect();
        let mut bytes = 0;
        for (seq, r) in st.reliable.iter_mut() {
            bytes += r.frame.len();
            r.queued = true;
            st.queue.push_back(Outgoing::Reliable(*seq));
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
        for o in unreliable {
            if let Outgoing::Unreliable(f) = &o {
                bytes += f.len();
            }
            st.queue.push_back(o);
        }
        st.queued_bytes = bytes;
    }

    /// Completes the at-most-once calls with `MaybeDelivered` (or all calls
    /// with `error` if `all`). Slots are completed after the borrow ends.
    pub(crate) fn fail_calls(&self, all: bool, error: RpcError) {
        let slots: Vec<Rc<ReplySlot>> = self
            .state
            .borrow()
            .pending
            .values()
            .filter(|c| all || c.at_most_once)
            .map(|c| c.slot.clone())
            .collect();
        if error == RpcError::MaybeDelivered {
            sometimes!(
                !slots.is_empty(),
                "a lost connection ends at-most-once calls with MaybeDelivered"
            );
        }
        for s in slots {
            s.complete(Err(error.clone()));
        }
    }

    /// Completes calls sent to `token` with `EndpointNotFound`.
    pub(crate) fn endpoint_not_found(&self, token: Token) {
        add(
            &self.stats.endpoint_not_found,
            "transport.endpoint_not_found",
            1,
        );
        let slots: Vec<Rc<ReplySlot>> = self
            .state
            .borrow()
            .pending
            .values()
            .filter(|c| c.dest == token)
            .map(|c| c.slot.clone())
            .collect();
        for s in slots {
            s.complete(Err(RpcError::EndpointNotFound));
        }
    }

    /// Whether the peer has nothing to do: no connection, nothing queued,
    /// no reliable frame, no pending call, no probe, and no activity for
    /// `idle`.
    pub(crate) fn is_idle(&self, now: Instant, idle: std::time::Duration) -> bool {
        let st = self.state.borrow();
        st.conn.is_none()
            && st.queue.is_empty()
            && st.reliable.is_empty()
            && st.pending.is_empty()
            && now >= st.probe_until
            && now.saturating_duration_since(st.last_activity) >= idle
    }

    /// Aborts the peer's tasks (shutdown).
    pub(crate) fn abort_tasks(&self) {
        let (conn, keeper) = {
            let mut st = self.state.borrow_mut();
            (st.conn.take(), st.keeper.take())
        };
        if let Some(mut c) = conn
            && let Some(t) = c.task.take()
        {
            t.abort();
        }
        if let Some(k) = keeper {
            k.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moonpool_core::tokio_providers::TokioProviders;
    use std::task::Waker;

    type TestPeer = Peer<TokioProviders>;

    fn peer() -> TestPeer {
        Peer::new("10.0.0.1:1".parse().expect("addr"), true, &config())
    }

    fn config() -> TransportConfig {
        TransportConfig {
            peer_queue_frames_max: 4,
            peer_queue_bytes_max: 100,
            ..TransportConfig::default()
        }
    }

    fn drain(p: &TestPeer) -> Vec<u8> {
        let mut out = Vec::new();
        while p.take_batch(&mut out, 1, Waker::noop()) {}
        out
    }

    #[test]
    fn unreliable_frames_beyond_the_frame_limit_are_refused() {
        let p = peer();
        for i in 0..4u8 {
            assert!(p.push_unreliable(vec![i], &config()).is_ok());
        }
        assert_eq!(
            p.push_unreliable(vec![9], &config()),
            Err(RpcError::QueueFull)
        );
        assert_eq!(p.stats.unreliable_dropped.get(), 1);
        assert_eq!(drain(&p), vec![0, 1, 2, 3]);
    }

    #[test]
    fn unreliable_frames_beyond_the_byte_limit_are_refused() {
        let p = peer();
        assert!(p.push_unreliable(vec![0; 60], &config()).is_ok());
        assert_eq!(
            p.push_unreliable(vec![0; 60], &config()),
            Err(RpcError::QueueFull)
        );
        // A single frame larger than the limit still goes through an empty queue.
        drain(&p);
        assert!(p.push_unreliable(vec![0; 150], &config()).is_ok());
    }

    #[test]
    fn a_failure_drops_unreliable_frames_but_keeps_reliable_ones() {
        let p = peer();
        p.push_unreliable(vec![1], &config()).expect("room");
        p.push_reliable(vec![2]);
        p.push_unreliable(vec![3], &config()).expect("room");
        let mut st = p.state.borrow_mut();
        Peer::drop_unreliable(&mut st, &p.stats);
        assert_eq!(st.queued_bytes, 1);
        drop(st);
        assert_eq!(drain(&p), vec![2]);
        assert_eq!(p.stats.unreliable_dropped.get(), 2);
    }

    #[test]
    fn reliable_frames_are_requeued_in_order_until_released() {
        let p = peer();
        let a = p.push_reliable(vec![10]);
        let _b = p.push_reliable(vec![11]);
        let c = p.push_reliable(vec![12]);
        assert_eq!(drain(&p), vec![10, 11, 12], "first connection sends all");
        p.release_reliable(a);
        p.push_unreliable(vec![99], &config()).expect("room");
        p.stats.connections.set(1);
        Peer::requeue_reliable(&mut p.state.borrow_mut(), &p.stats);
        assert_eq!(
            drain(&p),
            vec![11, 12, 99],
            "reconnect resends unreleased, in order"
        );
        assert_eq!(p.stats.reliable_resent.get(), 2);
        p.release_reliable(c);
        Peer::requeue_reliable(&mut p.state.borrow_mut(), &p.stats);
        assert_eq!(drain(&p), vec![11]);
    }

    #[test]
    fn a_released_reliable_frame_still_queued_is_not_sent_nor_counted() {
        let p = peer();
        let s = p.push_reliable(vec![5; 7]);
        assert_eq!(p.state.borrow().queued_bytes, 7);
        p.release_reliable(s);
        assert_eq!(p.state.borrow().queued_bytes, 0);
        assert!(drain(&p).is_empty());
    }
}
