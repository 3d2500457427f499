//! Admission to a peer's outgoing queue: the byte and frame limits, and
//! back-pressure that wakes only as many waiting calls as there is room
//! for.
//!
//! A call asks for room for its frame (`len` bytes; `reliable` if it will
//! also be kept for resending). If no call is waiting and the frame fits,
//! it goes in at once. Otherwise it takes a ticket and waits in line
//! (first come, first served). When room frees (frames written, reliable
//! frames released, a failure clearing the queue), `grant` walks the line
//! from the front and, for each waiter that fits, *reserves* its room and
//! wakes it: exactly as many wakes as there is room for, and nobody can
//! take a reserved place. A granted call that is dropped before using its
//! place gives it back and the next in line is considered.
//!
//! Invariants: the reserved counters equal the sums over `granted`; a
//! waiter is in at most one of `waiting` and `granted`; only `grant` moves
//! a waiter from one to the other.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use moonpool_core::Providers;

use super::{Limits, Peer, PeerState};

/// One call waiting for room.
struct Waiting {
    len: usize,
    reliable: bool,
    waker: Waker,
}

/// The line of calls waiting for room, and the room reserved for those
/// granted a place.
#[derive(Default)]
pub(crate) struct Room {
    waiting: BTreeMap<u64, Waiting>,
    granted: BTreeMap<u64, (usize, bool)>,
    reserved_bytes: usize,
    reserved_frames: usize,
    reserved_reliable: usize,
    next_id: u64,
}

impl Room {
    /// Whether calls are waiting in line.
    pub(crate) fn has_waiters(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Takes every waiter out of line without granting anything (the
    /// transport shut down); returns their wakers.
    pub(crate) fn wake_all(&mut self) -> Vec<Waker> {
        std::mem::take(&mut self.waiting)
            .into_values()
            .map(|w| w.waker)
            .collect()
    }
}

/// Whether a frame of `len` bytes fits, counting the reservations.
pub(crate) fn fits<P: Providers>(
    st: &PeerState<P>,
    len: usize,
    reliable: bool,
    limits: &Limits,
) -> bool {
    let bytes = st.out.request_bytes + st.room.reserved_bytes;
    let frames = st.out.request_frames + st.room.reserved_frames;
    let queue =
        frames < limits.queue_frames_max && (bytes == 0 || bytes + len <= limits.queue_bytes_max);
    let outstanding = st.reliable_bytes + st.room.reserved_reliable;
    let kept = !reliable || outstanding == 0 || outstanding + len <= limits.reliable_bytes_max;
    queue && kept
}

/// Whether a frame may go in now, ahead of nobody.
pub(crate) fn admits<P: Providers>(
    st: &PeerState<P>,
    len: usize,
    reliable: bool,
    limits: &Limits,
) -> bool {
    !st.room.has_waiters() && fits(st, len, reliable, limits)
}

/// Grants places to waiters from the front of the line while they fit;
/// returns the wakers to call once the borrow is released.
pub(crate) fn grant<P: Providers>(st: &mut PeerState<P>, limits: &Limits) -> Vec<Waker> {
    let mut wakers = Vec::new();
    while let Some((&id, w)) = st.room.waiting.first_key_value() {
        if !fits(st, w.len, w.reliable, limits) {
            break;
        }
        let Some((_, w)) = st.room.waiting.pop_first() else {
            break;
        };
        st.room.reserved_bytes += w.len;
        st.room.reserved_frames += 1;
        if w.reliable {
            st.room.reserved_reliable += w.len;
        }
        st.room.granted.insert(id, (w.len, w.reliable));
        wakers.push(w.waker);
    }
    wakers
}

/// Gives back the room reserved for `id`.
fn unreserve<P: Providers>(st: &mut PeerState<P>, id: u64) {
    if let Some((len, reliable)) = st.room.granted.remove(&id) {
        st.room.reserved_bytes -= len;
        st.room.reserved_frames -= 1;
        if reliable {
            st.room.reserved_reliable -= len;
        }
    }
}

/// Where a call stands in the line.
enum TicketState {
    /// Not in line yet.
    New,
    /// In line under this id.
    Waiting(u64),
    /// Granted a reserved place under this id.
    Granted(u64),
    /// Admitted (or given up): nothing to give back.
    Done,
}

/// A call's place in the line of one peer. Dropping it gives back what it
/// holds.
pub(crate) struct RoomTicket<P: Providers> {
    peer: Rc<Peer<P>>,
    len: usize,
    reliable: bool,
    state: TicketState,
}

impl<P: Providers> RoomTicket<P> {
    /// A ticket for a frame of `len` bytes.
    pub(crate) fn new(peer: Rc<Peer<P>>, len: usize, reliable: bool) -> RoomTicket<P> {
        RoomTicket {
            peer,
            len,
            reliable,
            state: TicketState::New,
        }
    }

    /// Ready once the frame may go in (a place was granted, or it fits with
    /// nobody ahead), or once the line was dissolved (shutdown: the caller
    /// checks).
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.peer.state.borrow_mut();
        match self.state {
            TicketState::New => {
                if admits(&st, self.len, self.reliable, &self.peer.limits) {
                    self.state = TicketState::Done;
                    return Poll::Ready(());
                }
                let id = st.room.next_id;
                st.room.next_id += 1;
                st.room.waiting.insert(
                    id,
                    Waiting {
                        len: self.len,
                        reliable: self.reliable,
                        waker: cx.waker().clone(),
                    },
                );
                self.state = TicketState::Waiting(id);
                // The line may have been empty with room taken by frames in
                // flight: nothing to grant now; writes will.
                Poll::Pending
            }
            TicketState::Waiting(id) => {
                if st.room.granted.contains_key(&id) {
                    self.state = TicketState::Granted(id);
                    return Poll::Ready(());
                }
                match st.room.waiting.get_mut(&id) {
                    Some(w) => {
                        if !w.waker.will_wake(cx.waker()) {
                            w.waker = cx.waker().clone();
                        }
                        Poll::Pending
                    }
                    None => {
                        // The line was dissolved (shutdown).
                        self.state = TicketState::Done;
                        Poll::Ready(())
                    }
                }
            }
            TicketState::Granted(_) | TicketState::Done => Poll::Ready(()),
        }
    }

    /// The frame goes in now: a reserved place is consumed (the caller
    /// appends the frame in the same borrow-free step, so the room it held
    /// is taken by the frame itself).
    pub(crate) fn consume(&mut self) {
        if let TicketState::Granted(id) = self.state {
            unreserve(&mut self.peer.state.borrow_mut(), id);
        }
        self.state = TicketState::Done;
    }
}

impl<P: Providers> Drop for RoomTicket<P> {
    fn drop(&mut self) {
        let freed = match self.state {
            TicketState::Waiting(id) => {
                let mut st = self.peer.state.borrow_mut();
                if st.room.waiting.remove(&id).is_none() {
                    // Granted after our last poll: give the place back.
                    unreserve(&mut st, id);
                }
                true
            }
            TicketState::Granted(id) => {
                unreserve(&mut self.peer.state.borrow_mut(), id);
                true
            }
            TicketState::New | TicketState::Done => false,
        };
        if freed {
            // The next in line may fit now.
            self.peer.grant_room();
        }
    }
}
