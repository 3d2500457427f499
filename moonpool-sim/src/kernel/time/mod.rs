//! Virtual time: the event queue and the timers built on it.
//!
//! # Types
//! - [`EventQueue`]: a binary min-heap of `(deadline, sequence)` keys, each
//!   pointing at a slot that holds the event's payload. The sequence number
//!   is global and increasing, so events at the same instant fire in the
//!   order they were scheduled: the order is total and deterministic.
//! - [`Payload`]: a timer (a waker to wake, and whether it fired), a
//!   callback (a closure run by the event loop), or a model event (a
//!   token the loop hands back to the model that scheduled it).
//! - [`sleep::Sleep`]: the future of `sleep`; registers a timer on first
//!   poll, cancels it on drop.
//!
//! # Invariants
//! - Time only moves when nothing is runnable, and only to the deadline of
//!   the next *live* event. A cancelled timer (a dropped `Sleep`, a
//!   `timeout` whose future won) leaves a stale heap key that is discarded
//!   without moving the clock, so cancelled timers never stretch virtual
//!   time.
//! - Stale keys are bounded: once they outnumber live ones (and exceed a
//!   floor), the heap is rebuilt without them.
//! - A slot is identified by index and sequence number; a heap key whose
//!   sequence does not match its slot's is stale.
//! - A slot is freed exactly once per event: only by the path that empties
//!   it (a fired timer seen by its `Sleep`, a release, a callback or model
//!   event popped), each of which requires it full; and a freed slot is
//!   handed out again only empty (asserted in [`EventQueue::schedule`]).

pub(crate) mod sleep;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use std::task::Waker;

use super::Kernel;
use super::executor::WakeTarget;

/// A closure run by the event loop at its deadline.
pub(crate) type Callback = Box<dyn FnOnce()>;

/// What a scheduled event does.
pub(crate) enum Payload {
    /// Wake whoever polled the timer last.
    Timer {
        target: Option<WakeTarget>,
        fired: bool,
    },
    /// Run a closure.
    Callback(Callback),
    /// A model event: a token the loop hands back to the model
    /// ([`ModelEvents::on_event`](super::ModelEvents::on_event)); the
    /// network's names a connection and what to wake. No allocation,
    /// unlike a callback: the network schedules one per delivery on its
    /// hot path.
    Model(u64),
}

struct EventSlot {
    seq: u64,
    payload: Option<Payload>,
}

/// Heap key: `deadline_ns << 64 | seq << SLOT_BITS | slot`. One `u128`
/// comparison orders by deadline, then by sequence number (unique), and the
/// slot rides along in the low bits: the pop loop is the hottest code of
/// the simulator, and this keeps each key at 16 bytes with no tie-breaking
/// branches.
type Key = Reverse<u128>;

/// Bits of the key holding the slot index: up to 16 M pending events.
const SLOT_BITS: u32 = 24;
/// Bits holding the sequence number: 2^40 events per seed.
const SEQ_BITS: u32 = 64 - SLOT_BITS;

fn key(deadline_ns: u64, seq: u64, slot: u32) -> Key {
    Reverse((deadline_ns as u128) << 64 | (seq as u128) << SLOT_BITS | slot as u128)
}

fn unkey(Reverse(k): Key) -> (u64, u64, u32) {
    let low = k as u64;
    (
        (k >> 64) as u64,
        low >> SLOT_BITS,
        (low & ((1 << SLOT_BITS) - 1)) as u32,
    )
}

/// Stale keys tolerated before a rebuild is considered.
const STALE_FLOOR: usize = 4096;

/// A handle to a scheduled event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EventId {
    slot: u32,
    seq: u64,
}

/// An event taken off the queue, ready to fire.
pub(crate) enum Due {
    /// A timer fired; wake this target (if any).
    Timer(Option<WakeTarget>),
    /// Run this callback.
    Callback(Callback),
    /// Hand this token to the model.
    Model(u64),
}

/// The queue of future events.
#[derive(Default)]
pub(crate) struct EventQueue {
    heap: BinaryHeap<Key>,
    slots: Vec<EventSlot>,
    free: Vec<u32>,
    next_seq: u64,
    /// Heap keys whose event was cancelled.
    stale: usize,
}

impl EventQueue {
    /// Schedules `payload` at `deadline_ns`.
    #[inline]
    pub(crate) fn schedule(&mut self, deadline_ns: u64, payload: Payload) -> EventId {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = match self.free.pop() {
            Some(i) => {
                let s = &mut self.slots[i as usize];
                assert!(
                    s.payload.is_none(),
                    "event slot {i} handed out while it still holds an event (freed twice?)"
                );
                s.seq = seq;
                s.payload = Some(payload);
                i
            }
            None => {
                self.slots.push(EventSlot {
                    seq,
                    payload: Some(payload),
                });
                (self.slots.len() - 1) as u32
            }
        };
        assert!(
            slot < 1 << SLOT_BITS && seq < 1 << SEQ_BITS,
            "event queue capacity exceeded: {slot} pending events, {seq} scheduled"
        );
        self.heap.push(key(deadline_ns, seq, slot));
        EventId { slot, seq }
    }

    fn slot_mut(&mut self, id: EventId) -> Option<&mut EventSlot> {
        self.slots
            .get_mut(id.slot as usize)
            .filter(|s| s.seq == id.seq && s.payload.is_some())
    }

    /// Whether the timer `id` has fired; if it has, its slot is freed (the
    /// timer is done with). Stores `waker`'s target if it has not.
    #[inline]
    pub(crate) fn poll_timer(&mut self, id: EventId, kernel: &Kernel, waker: &Waker) -> bool {
        let Some(slot) = self.slot_mut(id) else {
            // Unknown or freed: treat as fired rather than hang forever.
            return true;
        };
        match &mut slot.payload {
            Some(Payload::Timer { fired: true, .. }) => {
                // The target was taken when it fired: nothing left to drop.
                slot.payload = None;
                self.free.push(id.slot);
                true
            }
            Some(Payload::Timer { target, .. }) => {
                match target {
                    Some(old) if kernel.same_target(old, waker) => {}
                    _ => *target = Some(kernel.wake_target(waker)),
                }
                false
            }
            _ => true,
        }
    }

    /// Releases the event `id`: frees its slot, and if it had not fired yet,
    /// leaves its heap key stale. Returns the payload so the caller can drop
    /// it (a waker, a closure) after releasing its borrow.
    #[inline]
    pub(crate) fn release(&mut self, id: EventId) -> Option<Payload> {
        let slot = self.slot_mut(id)?;
        let payload = slot.payload.take();
        let fired = matches!(payload, Some(Payload::Timer { fired: true, .. }));
        self.free.push(id.slot);
        if !fired {
            self.stale += 1;
            self.maybe_compact();
        }
        payload
    }

    /// Rebuilds the heap without stale keys when they dominate it.
    fn maybe_compact(&mut self) {
        if self.stale < STALE_FLOOR || self.stale * 2 < self.heap.len() {
            return;
        }
        let slots = &self.slots;
        self.heap.retain(|k| {
            let (_, seq, slot) = unkey(*k);
            is_pending(slots, slot, seq)
        });
        // (BinaryHeap::retain rebuilds the heap in O(n).)
        self.stale = 0;
    }

    /// Takes the next live event, discarding stale keys on the way.
    /// Returns its deadline and what to do; the caller moves the clock.
    pub(crate) fn pop_due(&mut self) -> Option<(u64, u64, Due)> {
        while let Some((deadline, seq, slot)) = self.heap.pop().map(unkey) {
            let s = match self.slots.get_mut(slot as usize) {
                Some(s) if s.seq == seq => s,
                _ => {
                    self.stale = self.stale.saturating_sub(1);
                    continue;
                }
            };
            match s.payload.as_mut() {
                Some(Payload::Timer { fired: true, .. }) | None => {
                    // The event was released (or, impossibly, already
                    // fired): this key is stale.
                    self.stale = self.stale.saturating_sub(1);
                    continue;
                }
                Some(Payload::Timer { target, fired }) => {
                    // The slot stays allocated until the Sleep sees `fired`.
                    *fired = true;
                    return Some((deadline, seq, Due::Timer(target.take())));
                }
                Some(Payload::Callback(_)) => {
                    let Some(Payload::Callback(f)) = s.payload.take() else {
                        unreachable!("matched a callback above")
                    };
                    self.free.push(slot);
                    return Some((deadline, seq, Due::Callback(f)));
                }
                Some(Payload::Model(token)) => {
                    let token = *token;
                    s.payload = None;
                    self.free.push(slot);
                    return Some((deadline, seq, Due::Model(token)));
                }
            }
        }
        None
    }

    /// Number of keys in the heap (live and stale).
    #[cfg(test)]
    pub(crate) fn heap_len(&self) -> usize {
        self.heap.len()
    }

    /// Empties the queue, returning the payloads for the caller to drop.
    pub(crate) fn drain(&mut self) -> Vec<Payload> {
        self.heap.clear();
        self.stale = 0;
        self.free.clear();
        let payloads = self
            .slots
            .iter_mut()
            .filter_map(|s| s.payload.take())
            .collect();
        self.slots.clear();
        payloads
    }
}

/// Whether the key `(slot, seq)` still designates an event that has not fired.
fn is_pending(slots: &[EventSlot], slot: u32, seq: u64) -> bool {
    match slots.get(slot as usize) {
        Some(s) if s.seq == seq => match &s.payload {
            Some(Payload::Timer { fired, .. }) => !fired,
            Some(Payload::Callback(_)) | Some(Payload::Model(_)) => true,
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer() -> Payload {
        Payload::Timer {
            target: None,
            fired: false,
        }
    }

    #[test]
    fn events_pop_by_deadline_then_schedule_order() {
        let mut q = EventQueue::default();
        q.schedule(30, timer());
        let a = q.schedule(10, timer());
        let b = q.schedule(10, timer());
        let order: Vec<u64> =
            std::iter::from_fn(|| q.pop_due().map(|(d, s, _)| d * 100 + s)).collect();
        assert_eq!(order, vec![10 * 100 + a.seq, 10 * 100 + b.seq, 30 * 100]);
    }

    #[test]
    fn released_timer_is_skipped_without_reporting_its_deadline() {
        let mut q = EventQueue::default();
        let early = q.schedule(5, timer());
        q.schedule(50, timer());
        q.release(early);
        assert_eq!(q.pop_due().map(|(d, _, _)| d), Some(50));
        assert!(q.pop_due().is_none());
    }

    #[test]
    fn stale_keys_are_compacted_when_they_dominate() {
        let mut q = EventQueue::default();
        let ids: Vec<EventId> = (0..10_000).map(|i| q.schedule(i, timer())).collect();
        for id in &ids[..9_000] {
            q.release(*id);
        }
        assert!(q.heap_len() < 10_000, "heap kept {} keys", q.heap_len());
        assert_eq!(q.pop_due().map(|(d, _, _)| d), Some(9_000));
    }

    #[test]
    #[should_panic(expected = "freed twice")]
    fn a_slot_freed_twice_is_caught_when_handed_out_again() {
        let mut q = EventQueue::default();
        let a = q.schedule(5, timer());
        q.release(a);
        // A second free of the same slot, as a buggy path would do.
        q.free.push(a.slot);
        q.schedule(6, timer());
        q.schedule(7, timer());
    }

    #[test]
    fn reused_slot_does_not_revive_a_stale_key() {
        let mut q = EventQueue::default();
        let old = q.schedule(5, timer());
        q.release(old);
        let new = q.schedule(100, timer());
        assert_eq!(new.slot, old.slot, "the slot is reused");
        assert_eq!(q.pop_due().map(|(d, _, _)| d), Some(100));
    }
}
