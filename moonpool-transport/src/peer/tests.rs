//! Unit tests of a peer's queue: limits, reliable frames, answers, the
//! line of waiting calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use moonpool_core::PostcardCodec;
use moonpool_core::tokio_providers::TokioProviders;

use super::room::RoomTicket;
use super::*;
use crate::rpc::slot::ReplySlot;

type TestPeer = Peer<TokioProviders>;

fn addr() -> SocketAddr {
    "10.0.0.1:1".parse().expect("addr")
}

fn config() -> TransportConfig {
    TransportConfig {
        peer_queue_frames_max: 4,
        peer_queue_bytes_max: 100,
        peer_replies_bytes_max: 100,
        ..TransportConfig::default()
    }
}

fn peer() -> Rc<TestPeer> {
    Rc::new(Peer::new(addr(), true, &config()))
}

/// Marks the peer connected to incarnation 1 (no task behind it).
fn connect(p: &TestPeer) {
    let mut st = p.state.borrow_mut();
    st.remote_incarnation = Some(1);
    Peer::requeue_for_connection(&mut st, &p.stats, 1);
    st.conn = Some(ActiveConn {
        id: 1,
        initiated_by_us: true,
        remote_incarnation: 1,
        established_at: Instant::ZERO,
        task: None,
        shared: Rc::new(ConnShared::default()),
        stream: std::rc::Weak::new(),
    });
    p.stats.connections.set(p.stats.connections.get() + 1);
}

/// The connection failed: drops what it must.
fn disconnect(p: &TestPeer) {
    let mut st = p.state.borrow_mut();
    st.conn = None;
    let _ = Peer::clear_queue(&mut st, &p.stats, &p.limits);
}

/// A socket taking at most `budget` more bytes, then blocking.
struct Sink {
    got: Vec<u8>,
    budget: usize,
}

impl AsyncWrite for Sink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.budget == 0 {
            return Poll::Pending;
        }
        let n = buf.len().min(self.budget);
        self.budget -= n;
        self.got.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Writes up to `budget` bytes of the outbox; returns them.
fn write(p: &TestPeer, budget: usize) -> Vec<u8> {
    let mut sink = Sink {
        got: Vec::new(),
        budget,
    };
    let mut cx = Context::from_waker(Waker::noop());
    // Bounded: each turn writes or stops.
    for _ in 0..1000 {
        let progress = p.poll_write(&mut sink, &mut cx).expect("write");
        if !progress.more {
            break;
        }
    }
    sink.got
}

fn drain(p: &TestPeer) -> Vec<u8> {
    write(p, usize::MAX)
}

fn bytes(b: &[u8]) -> impl FnOnce(&mut Vec<u8>) -> Result<(), ()> + '_ {
    move |out| {
        out.extend_from_slice(b);
        Ok(())
    }
}

fn slot() -> Rc<ReplySlot<(), PostcardCodec>> {
    Rc::new(ReplySlot::new(PostcardCodec, addr()))
}

/// A waker that counts its wakes.
struct CountingWaker(AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A peer whose queue is full (4 one-byte frames), and a counting waker.
fn full_peer() -> (Rc<TestPeer>, Arc<CountingWaker>, Waker) {
    let p = peer();
    for i in 0..4u8 {
        p.push_oneway(bytes(&[i])).expect("room");
    }
    let count = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let waker = Waker::from(count.clone());
    (p, count, waker)
}

#[test]
fn one_way_messages_beyond_the_frame_limit_are_refused() {
    let p = peer();
    for i in 0..4u8 {
        assert!(p.push_oneway(bytes(&[i])).is_ok());
    }
    assert!(matches!(
        p.push_oneway(bytes(&[9])),
        Err(Ok(RpcError::QueueFull))
    ));
    assert_eq!(p.stats.unreliable_dropped.get(), 1);
    assert_eq!(drain(&p), vec![0, 1, 2, 3]);
}

#[test]
fn one_way_messages_beyond_the_byte_limit_are_refused() {
    let p = peer();
    assert!(p.push_oneway(bytes(&[0; 60])).is_ok());
    assert!(matches!(
        p.push_oneway(bytes(&[0; 60])),
        Err(Ok(RpcError::QueueFull))
    ));
    // A single frame larger than the limit still goes through an empty queue.
    drain(&p);
    assert!(p.push_oneway(bytes(&[0; 150])).is_ok());
}

#[test]
fn a_failure_drops_queued_messages_but_keeps_reliable_ones() {
    let p = peer();
    p.push_oneway(bytes(&[1])).expect("room");
    p.push_reliable(vec![2], slot());
    p.push_oneway(bytes(&[3])).expect("room");
    disconnect(&p);
    assert_eq!(p.state.borrow().out.request_bytes, 0);
    assert_eq!(p.stats.unreliable_dropped.get(), 2);
    connect(&p);
    assert_eq!(drain(&p), vec![2]);
}

#[test]
fn reliable_frames_are_requeued_in_order_until_released() {
    let p = peer();
    connect(&p);
    let a = p.push_reliable(vec![10], slot());
    let _b = p.push_reliable(vec![11], slot());
    let c = p.push_reliable(vec![12], slot());
    assert_eq!(drain(&p), vec![10, 11, 12], "first connection sends all");
    p.release_reliable(a);
    disconnect(&p);
    p.push_oneway(bytes(&[99])).expect("room");
    connect(&p);
    assert_eq!(
        drain(&p),
        vec![11, 12, 99],
        "reconnect resends the unreleased, in order, then what waited"
    );
    assert_eq!(p.stats.reliable_resent.get(), 2);
    p.release_reliable(c);
    disconnect(&p);
    connect(&p);
    assert_eq!(drain(&p), vec![11]);
}

#[test]
fn a_released_reliable_frame_still_queued_is_not_sent_nor_counted() {
    let p = peer();
    connect(&p);
    let a = p.push_reliable(vec![1; 3], slot());
    let b = p.push_reliable(vec![2; 3], slot());
    let _c = p.push_reliable(vec![3; 3], slot());
    assert_eq!(p.state.borrow().out.request_bytes, 9);
    p.release_reliable(b);
    assert_eq!(p.state.borrow().out.request_bytes, 6);
    p.release_reliable(a);
    assert_eq!(p.state.borrow().out.request_bytes, 3);
    assert_eq!(drain(&p), vec![3, 3, 3]);
    assert_eq!(p.stats.frames_sent.get(), 1);
}

#[test]
fn a_partly_written_reliable_frame_is_finished_even_if_released() {
    let p = peer();
    connect(&p);
    let a = p.push_reliable(vec![7; 10], slot());
    assert_eq!(write(&p, 4), vec![7; 4]);
    p.release_reliable(a);
    assert_eq!(
        drain(&p),
        vec![7; 6],
        "a frame cut in the middle corrupts the stream"
    );
    assert_eq!(p.state.borrow().out.request_bytes, 0);
}

#[test]
fn a_request_is_marked_sent_only_once_fully_written() {
    let p = peer();
    connect(&p);
    let s = slot();
    let kind = || outbox::FrameKind::Request { slot: s.clone() };
    assert!(matches!(p.push_built(kind, bytes(&[5; 8])), Ok(None)));
    write(&p, 7);
    assert!(!s.was_sent());
    write(&p, 1);
    assert!(s.was_sent());
}

#[test]
fn freeing_room_wakes_only_as_many_waiters_as_fit() {
    let (p, count, waker) = full_peer();
    let mut cx = Context::from_waker(&waker);
    let mut tickets: Vec<_> = (0..10)
        .map(|_| RoomTicket::new(p.clone(), 1, false))
        .collect();
    for t in &mut tickets {
        assert!(t.poll(&mut cx).is_pending());
    }
    // One frame leaves the queue: room for one more.
    assert_eq!(write(&p, 1), vec![0]);
    assert_eq!(
        count.0.load(Ordering::Relaxed),
        1,
        "every waiter was woken for one frame of room"
    );
    assert!(tickets[0].poll(&mut cx).is_ready());
    assert!(tickets[1].poll(&mut cx).is_pending());
}

#[test]
fn a_granted_waiter_that_leaves_passes_its_place_on() {
    let (p, count, waker) = full_peer();
    let mut cx = Context::from_waker(&waker);
    let mut first = RoomTicket::new(p.clone(), 1, false);
    let mut second = RoomTicket::new(p.clone(), 1, false);
    assert!(first.poll(&mut cx).is_pending());
    assert!(second.poll(&mut cx).is_pending());
    write(&p, 1);
    assert_eq!(count.0.load(Ordering::Relaxed), 1);
    drop(first);
    assert_eq!(count.0.load(Ordering::Relaxed), 2, "the place was lost");
    assert!(second.poll(&mut cx).is_ready());
    second.consume();
}

#[test]
fn answers_pass_the_request_limits_but_not_their_own_budget() {
    let p = peer();
    for i in 0..4u8 {
        p.push_oneway(bytes(&[i])).expect("room");
    }
    for _ in 0..10 {
        assert_eq!(p.push_answer(None, bytes(&[1; 9])), Ok(Ok(())));
    }
    assert_eq!(
        p.push_answer(None, bytes(&[1; 20])),
        Ok(Err(AnswerRefused::Overflow))
    );
    assert_eq!(p.stats.replies_dropped.get(), 1);
    assert_eq!(drain(&p).len(), 4 + 90);
}

#[test]
fn answers_for_another_incarnation_are_dropped() {
    let p = peer();
    connect(&p);
    assert_eq!(
        p.push_answer(Some(2), bytes(&[1])),
        Ok(Err(AnswerRefused::Stale))
    );
    assert_eq!(p.push_answer(Some(1), bytes(&[2])), Ok(Ok(())));
    assert_eq!(drain(&p), vec![2]);
    // Answers queued while disconnected go to the same incarnation only.
    disconnect(&p);
    p.push_answer(Some(1), bytes(&[3]))
        .expect("build")
        .expect("queued");
    let mut st = p.state.borrow_mut();
    st.remote_incarnation = Some(2);
    Peer::requeue_for_connection(&mut st, &p.stats, 2);
    drop(st);
    assert!(drain(&p).is_empty());
    assert_eq!(p.stats.replies_dropped.get(), 2);
}
