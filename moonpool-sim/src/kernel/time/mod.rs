//! Virtual time: the event queue and the timers built on it.
//!
//! # Types
//! - [`EventQueue`]: every scheduled event, ordered by `(deadline,
//!   sequence)`. The sequence number is global and increasing, so events at
//!   the same instant fire in the order they were scheduled: the order is
//!   total and deterministic. Events are *released in batches*, one batch
//!   per deadline ([`EventQueue::next_batch`]): the loop fires every event
//!   of the batch before it polls any task, so the tasks they wake sit in
//!   the ready queue together and ready-order perturbation can reorder
//!   them (two timers at the same instant would otherwise always run in
//!   schedule order, and a race that needs them swapped would never be
//!   explored).
//! - [`Payload`]: a timer (a waker to wake, the task that waits on it, and
//!   whether it fired), a callback (a closure run by the event loop), or a
//!   model event (a token the loop hands back to the model that scheduled
//!   it).
//! - [`sleep::Sleep`]: the future of `sleep`; registers a timer on first
//!   poll, cancels it on drop.
//!
//! # The queue: a heap of deadlines, with groups
//! A binary min-heap of keys `(deadline, sequence, id)`; `id` is an event
//! slot, or a *group* of events that share a deadline. While the queue is
//! small (fewer than [`GROUPING_MIN`] keys: request/response traffic, whose
//! deadlines rarely coincide) every event has its own key. Once it grows
//! past that (thousands of timers, whose deadlines often coincide) events
//! join the group of their deadline, found through a small direct-mapped
//! table of recent deadlines, so one heap key stands for every event due
//! at that instant: the heap shrinks to the number of distinct deadlines,
//! and releasing a batch costs one pop for the whole group. A batch is
//! every key of one deadline merged, sorted by sequence number when more
//! than one key contributed.
//!
//! # Invariants
//! - Time only moves when nothing is runnable, and only to the deadline of
//!   the next *live* event. A cancelled timer (a dropped `Sleep`, a
//!   `timeout` whose future won) leaves a stale entry that is discarded
//!   without moving the clock, so cancelled timers never stretch virtual
//!   time: a batch is released only if it holds a live event.
//! - Stale entries are bounded: once they outnumber live ones (and exceed
//!   a floor), the heap and the groups are rebuilt without them.
//! - A slot is identified by index and sequence number; an entry whose
//!   sequence does not match its slot's is stale.
//! - A slot is freed exactly once per event: only by the path that empties
//!   it (a fired timer seen by its `Sleep`, a release, a callback or model
//!   event fired), each of which requires it full; and a freed slot is
//!   handed out again only empty (asserted in [`EventQueue::schedule`]).
//! - A group is open (takes new events) from its creation until its key
//!   is popped, and its deadline is its key's: an event joins only an open
//!   group of its own deadline, so every event comes out at its deadline.

pub(crate) mod sleep;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::task::Waker;

use moonpool_core::Ratio;

use super::executor::{TaskId, WakeTarget};
use super::{Kernel, draw};

/// Probability that a timer gets a buggified extra delay when the seed's
/// bound is not zero (FoundationDB: 1/4 of `delay`s).
pub const BUGGIFIED_DELAY_P: Ratio = Ratio::new(1, 4);

/// The extra delay of one timer: with probability [`BUGGIFIED_DELAY_P`],
/// `max · U^1000` for a uniform `U` in `[0, 1)` (FoundationDB's
/// `MAX_BUGGIFIED_DELAY * pow(random01(), 1000)`): almost always well
/// under a microsecond, rarely large, so most timers are exact and a few
/// fire late, reordering events that real schedulers may reorder. Integer
/// arithmetic only (a 64-bit fraction raised by squaring), so the value is
/// the same on every platform and build. Counted as `sim.buggified_delay`
/// when it is not zero.
pub(crate) fn buggified_delay(kernel: &Kernel, max_ns: u64) -> u64 {
    if !draw::bool(kernel, BUGGIFIED_DELAY_P) {
        return 0;
    }
    let u = kernel.draw_u64();
    let extra = ((max_ns as u128 * pow_fraction(u, 1000) as u128) >> 64) as u64;
    if extra > 0 {
        let process = kernel.current().map(|(_, p)| p);
        kernel.note("sim.buggified_delay", process, || {
            format!("a timer fires {:.6} ms late", extra as f64 / 1e6)
        });
    }
    extra
}

/// `(x / 2^64)^n`, as a 64-bit fraction (rounded down at each product).
fn pow_fraction(x: u64, mut n: u32) -> u64 {
    let mul = |a: u64, b: u64| ((a as u128 * b as u128) >> 64) as u64;
    let mut base = x;
    // One, as a fraction: the largest value below it.
    let mut acc = u64::MAX;
    while n > 0 {
        if n & 1 == 1 {
            acc = mul(acc, base);
        }
        base = mul(base, base);
        n >>= 1;
    }
    acc
}

/// A closure run by the event loop at its deadline.
pub(crate) type Callback = Box<dyn FnOnce()>;

/// What a scheduled event does.
pub(crate) enum Payload {
    /// Wake whoever polled the timer last.
    Timer {
        target: Option<WakeTarget>,
        /// The task that polled the timer (waits on it), if a task did.
        owner: Option<TaskId>,
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

/// Heap key: `deadline << 64 | seq << ID_BITS + 1 | group << ID_BITS | id`.
/// One `u128` comparison orders by deadline, then by sequence number
/// (unique); the id (a slot, or a group when the flag bit is set) rides
/// along in the low bits.
type Key = Reverse<u128>;

/// An event in a batch or a group: `seq << ENTRY_SEQ_SHIFT | slot`.
/// Ordering entries orders them by sequence number.
type Entry = u64;

/// Bits of an id (slot or group index): up to 8 M pending events.
const ID_BITS: u32 = 23;
/// The flag bit marking a group id.
const GROUP_FLAG: u64 = 1 << ID_BITS;
/// Where the sequence number starts in a key's low half and in an entry.
const ENTRY_SEQ_SHIFT: u32 = ID_BITS + 1;
/// Bits of the sequence number: 2^40 events per seed.
const SEQ_BITS: u32 = 64 - ENTRY_SEQ_SHIFT;
const ID_MASK: u64 = (1 << ID_BITS) - 1;

/// Heap keys from which events join groups.
pub(crate) const GROUPING_MIN: usize = 256;
/// Entries of the direct-mapped table of recent deadlines (a power of 2).
const RECENT: usize = 256;

/// Stale entries tolerated before a rebuild is considered.
const STALE_FLOOR: usize = 4096;

fn key(deadline_ns: u64, seq: u64, id: u64) -> Key {
    Reverse((deadline_ns as u128) << 64 | (seq << ENTRY_SEQ_SHIFT | id) as u128)
}

fn entry_slot(entry: Entry) -> u32 {
    (entry & ID_MASK) as u32
}

fn entry_seq(entry: Entry) -> u64 {
    entry >> ENTRY_SEQ_SHIFT
}

/// The slot of `deadline` in the table of recent deadlines.
#[inline]
fn recent_index(deadline: u64) -> usize {
    (deadline.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - RECENT.trailing_zeros())) as usize
}

/// Events that share a deadline, under one heap key.
struct Group {
    deadline: u64,
    open: bool,
    events: Vec<Entry>,
}

/// A handle to a scheduled event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EventId {
    slot: u32,
    seq: u64,
}

/// An event of the released batch, ready to fire.
pub(crate) enum Due {
    /// A timer fired; wake this target (if any).
    Timer(Option<WakeTarget>),
    /// Run this callback.
    Callback(Callback),
    /// Hand this token to the model.
    Model(u64),
}

/// What [`EventQueue::next_batch`] found.
pub(crate) enum Next {
    /// The first event of the batch due at a deadline: the deadline, the
    /// event's sequence number, the event, and whether more may follow.
    Due(u64, u64, Due, bool),
    /// The next live event is due past the limit; nothing fired.
    Beyond,
    /// Nothing is scheduled.
    Empty,
}

/// The queue of future events.
#[derive(Default)]
pub(crate) struct EventQueue {
    heap: BinaryHeap<Key>,
    slots: Vec<EventSlot>,
    free: Vec<u32>,
    next_seq: u64,
    /// Entries in groups, live and stale (the others have a heap key each).
    grouped: usize,
    /// Queued entries whose event was released.
    stale: usize,
    groups: Vec<Group>,
    free_groups: Vec<u32>,
    /// Recent deadlines and their groups; `None` while the queue is small.
    recent: Option<Box<[(u64, u32); RECENT]>>,
    /// The released batch, in sequence order, and the next entry to fire.
    batch: Vec<Entry>,
    batch_next: usize,
    /// The deadline of the released batch.
    batch_deadline: u64,
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
            (slot as u64) <= ID_MASK && seq < 1 << SEQ_BITS,
            "event queue capacity exceeded: {slot} pending events, {seq} scheduled"
        );
        match self.recent.as_deref_mut() {
            None => {
                self.heap.push(key(deadline_ns, seq, slot as u64));
                if self.heap.len() >= GROUPING_MIN {
                    self.recent = Some(Box::new([(u64::MAX, u32::MAX); RECENT]));
                }
            }
            Some(recent) => {
                let entry = seq << ENTRY_SEQ_SHIFT | slot as u64;
                self.grouped += 1;
                let r = recent_index(deadline_ns);
                let (deadline, g) = recent[r];
                if deadline == deadline_ns
                    && let Some(group) = self.groups.get_mut(g as usize)
                    && group.open
                    && group.deadline == deadline_ns
                {
                    group.events.push(entry);
                } else {
                    let g = match self.free_groups.pop() {
                        Some(g) => g,
                        None => {
                            self.groups.push(Group {
                                deadline: 0,
                                open: false,
                                events: Vec::new(),
                            });
                            (self.groups.len() - 1) as u32
                        }
                    };
                    let group = &mut self.groups[g as usize];
                    debug_assert!(!group.open && group.events.is_empty());
                    group.deadline = deadline_ns;
                    group.open = true;
                    group.events.push(entry);
                    recent[r] = (deadline_ns, g);
                    self.heap.push(key(deadline_ns, seq, GROUP_FLAG | g as u64));
                }
            }
        }
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
            Some(Payload::Timer { target, owner, .. }) => {
                match target {
                    Some(old) if kernel.same_target(old, waker) => {}
                    _ => {
                        *target = Some(kernel.wake_target(waker));
                        *owner = kernel.current().map(|(task, _)| task);
                    }
                }
                false
            }
            _ => true,
        }
    }

    /// Releases the event `id`: frees its slot, and if it had not fired yet,
    /// leaves its entry stale. Returns the payload so the caller can drop
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

    /// Rebuilds the heap and the groups without stale entries when they
    /// dominate.
    fn maybe_compact(&mut self) {
        if self.stale < STALE_FLOOR || self.stale * 2 < self.queued() {
            return;
        }
        let slots = &self.slots;
        let groups = &mut self.groups;
        let free_groups = &mut self.free_groups;
        let mut grouped = 0;
        self.heap.retain(|Reverse(k)| {
            let low = *k as u64;
            let id = low & ID_MASK;
            if low & GROUP_FLAG == 0 {
                // A single event's key ends with its entry.
                return is_pending(slots, low);
            }
            let group = &mut groups[id as usize];
            group.events.retain(|e| is_pending(slots, *e));
            grouped += group.events.len();
            if group.events.is_empty() {
                group.open = false;
                free_groups.push(id as u32);
                false
            } else {
                true
            }
        });
        // (BinaryHeap::retain rebuilds the heap in O(n).)
        self.grouped = grouped;
        self.stale = 0;
    }

    /// Moves the events of heap key `low` (its low half) into the batch.
    fn take(&mut self, low: u64) {
        let id = low & ID_MASK;
        if low & GROUP_FLAG == 0 {
            // A single event's key ends with its entry.
            self.batch.push(low);
            return;
        }
        let group = &mut self.groups[id as usize];
        group.open = false;
        self.grouped -= group.events.len();
        if self.batch.is_empty() {
            std::mem::swap(&mut self.batch, &mut group.events);
        } else {
            self.batch.append(&mut group.events);
        }
        self.free_groups.push(id as u32);
    }

    /// Releases the events due at the next deadline that has a live one
    /// and fires the first ([`Next::Due`]): that deadline (the caller moves
    /// the clock to it), the event, and whether more of the batch may
    /// follow ([`next_due`](Self::next_due)). Fires nothing if that
    /// deadline is past `limit_ns` ([`Next::Beyond`]) or nothing is
    /// scheduled ([`Next::Empty`]). Stale entries are discarded on the
    /// way, so a cancelled timer never moves the clock. Events scheduled at
    /// that deadline while the batch fires form the next batch.
    #[inline]
    pub(crate) fn next_batch(&mut self, limit_ns: u64) -> Next {
        if self.batch_next < self.batch.len() {
            if self.batch_deadline > limit_ns {
                return Next::Beyond;
            }
            if let Some((seq, due)) = self.next_due() {
                let more = self.batch_next < self.batch.len();
                return Next::Due(self.batch_deadline, seq, due, more);
            }
        }
        loop {
            let Some(Reverse(first)) = self.heap.pop() else {
                return Next::Empty;
            };
            let deadline = (first >> 64) as u64;
            let low = first as u64;
            let alone = low & GROUP_FLAG == 0
                && self
                    .heap
                    .peek()
                    .is_none_or(|Reverse(next)| (next >> 64) as u64 != deadline);
            if alone {
                // The common case of small queues: one event, no batch.
                if deadline > limit_ns && is_pending(&self.slots, low) {
                    self.heap.push(Reverse(first));
                    return Next::Beyond;
                }
                match self.fire(low) {
                    Some((seq, due)) => return Next::Due(deadline, seq, due, false),
                    None => continue,
                }
            }
            self.batch.clear();
            self.batch_next = 0;
            self.take(low);
            let mut merged = false;
            while let Some(&Reverse(next)) = self.heap.peek()
                && (next >> 64) as u64 == deadline
            {
                self.heap.pop();
                self.take(next as u64);
                merged = true;
            }
            if merged {
                // Sequence numbers are unique: the order is total.
                self.batch.sort_unstable();
            }
            self.batch_deadline = deadline;
            let slots = &self.slots;
            let Some(first_live) = self.batch.iter().position(|e| is_pending(slots, *e)) else {
                self.stale = self.stale.saturating_sub(self.batch.len());
                self.batch.clear();
                continue;
            };
            self.stale = self.stale.saturating_sub(first_live);
            self.batch_next = first_live;
            if deadline > limit_ns {
                // Released, not fired: the seed ends here.
                return Next::Beyond;
            }
            if let Some((seq, due)) = self.next_due() {
                let more = self.batch_next < self.batch.len();
                return Next::Due(deadline, seq, due, more);
            }
        }
    }

    /// The next live event of the released batch, with its sequence number;
    /// `None` once the batch is spent.
    #[inline]
    pub(crate) fn next_due(&mut self) -> Option<(u64, Due)> {
        while let Some(&e) = self.batch.get(self.batch_next) {
            self.batch_next += 1;
            if let Some(fired) = self.fire(e) {
                return Some(fired);
            }
        }
        None
    }

    /// Fires the event of `entry`: a timer is marked fired (its slot stays
    /// until its `Sleep` sees it), a callback's or model event's slot is
    /// freed. `None` if the entry is stale.
    #[inline(always)]
    fn fire(&mut self, e: Entry) -> Option<(u64, Due)> {
        let slot = entry_slot(e);
        let s = match self.slots.get_mut(slot as usize) {
            Some(s) if s.seq == entry_seq(e) => s,
            _ => {
                self.stale = self.stale.saturating_sub(1);
                return None;
            }
        };
        match s.payload.as_mut() {
            Some(Payload::Timer { fired: true, .. }) | None => {
                // The event was released (or, impossibly, already fired):
                // this entry is stale.
                self.stale = self.stale.saturating_sub(1);
                None
            }
            Some(Payload::Timer { target, fired, .. }) => {
                *fired = true;
                Some((entry_seq(e), Due::Timer(target.take())))
            }
            Some(Payload::Callback(_)) => {
                let Some(Payload::Callback(f)) = s.payload.take() else {
                    unreachable!("matched a callback above")
                };
                self.free.push(slot);
                Some((entry_seq(e), Due::Callback(f)))
            }
            Some(Payload::Model(token)) => {
                let token = *token;
                s.payload = None;
                self.free.push(slot);
                Some((entry_seq(e), Due::Model(token)))
            }
        }
    }

    /// The tasks waiting on a timer that has not fired, in slot order.
    pub(crate) fn timer_owners(&self) -> Vec<TaskId> {
        self.slots
            .iter()
            .filter_map(|s| match &s.payload {
                Some(Payload::Timer {
                    owner: Some(task),
                    fired: false,
                    ..
                }) => Some(*task),
                _ => None,
            })
            .collect()
    }

    /// Entries queued (live and stale), not counting the released batch:
    /// the heap keys of single events, plus the events of the groups (each
    /// group in the heap, under one key, is one that is not free).
    fn queued(&self) -> usize {
        let group_keys = self.groups.len() - self.free_groups.len();
        self.heap.len() - group_keys + self.grouped
    }

    /// Empties the queue, returning the payloads for the caller to drop.
    pub(crate) fn drain(&mut self) -> Vec<Payload> {
        self.heap.clear();
        self.groups.clear();
        self.free_groups.clear();
        self.recent = None;
        self.batch.clear();
        self.batch_next = 0;
        self.grouped = 0;
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

/// Whether `entry` still designates an event that has not fired.
#[inline]
fn is_pending(slots: &[EventSlot], entry: Entry) -> bool {
    match slots.get(entry_slot(entry) as usize) {
        Some(s) if s.seq == entry_seq(entry) => match &s.payload {
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
            owner: None,
            fired: false,
        }
    }

    /// Every batch as `(deadline, [seq...])`, firing each event.
    fn batches(q: &mut EventQueue) -> Vec<(u64, Vec<u64>)> {
        let mut out = Vec::new();
        while let Next::Due(deadline, first, _, more) = q.next_batch(u64::MAX) {
            let mut seqs = vec![first];
            if more {
                seqs.extend(std::iter::from_fn(|| q.next_due().map(|(s, _)| s)));
            }
            out.push((deadline, seqs));
        }
        out
    }

    #[test]
    fn events_come_out_by_deadline_one_batch_per_deadline_in_schedule_order() {
        let mut q = EventQueue::default();
        let late = q.schedule(30, timer());
        let a = q.schedule(10, timer());
        let b = q.schedule(10, timer());
        let c = q.schedule(20, timer());
        let d = q.schedule(10, timer());
        assert_eq!(
            batches(&mut q),
            vec![
                (10, vec![a.seq, b.seq, d.seq]),
                (20, vec![c.seq]),
                (30, vec![late.seq])
            ]
        );
    }

    #[test]
    fn an_event_scheduled_at_the_released_deadline_waits_for_the_next_batch() {
        let mut q = EventQueue::default();
        let a = q.schedule(10, timer());
        let first = match q.next_batch(u64::MAX) {
            Next::Due(d, s, _, _) => Some((d, s)),
            _ => None,
        };
        assert_eq!(first, Some((10, a.seq)));
        let b = q.schedule(10, timer());
        assert!(q.next_due().is_none(), "b was not in the released batch");
        assert_eq!(batches(&mut q), vec![(10, vec![b.seq])]);
    }

    #[test]
    fn a_large_queue_keeps_one_key_per_deadline_and_batches_stay_in_order() {
        // Many events on few deadlines, scheduled in an order unrelated to
        // their deadlines: the first ones get keys of their own, the rest
        // join groups, and each batch merges both in sequence order.
        let mut q = EventQueue::default();
        let mut expected: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
        let mut x = 7u64;
        for _ in 0..2_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let deadline = (x >> 33) % 64 * 1_000_003;
            let id = q.schedule(deadline, timer());
            expected.entry(deadline).or_default().push(id.seq);
        }
        assert!(
            q.heap.len() <= GROUPING_MIN + 64,
            "{} heap keys for 64 deadlines",
            q.heap.len()
        );
        let got = batches(&mut q);
        assert_eq!(got, expected.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn the_fraction_power_matches_its_definition() {
        let half = 1u64 << 63;
        assert_eq!(pow_fraction(half, 1), half - 1);
        assert_eq!(pow_fraction(half, 2), (1 << 62) - 1);
        // 0.999^1000 ≈ 0.3677 (e^-1.0005): within a part in a million.
        let x = (0.999f64 * 2f64.powi(64)) as u64;
        let got = pow_fraction(x, 1000) as f64 / 2f64.powi(64);
        assert!((got - 0.367_695).abs() < 1e-6, "{got}");
        assert_eq!(
            pow_fraction(u64::MAX / 2, 1000),
            0,
            "0.5^1000 underflows to zero"
        );
    }

    #[test]
    fn an_event_past_the_limit_is_not_fired() {
        let mut q = EventQueue::default();
        let a = q.schedule(50, timer());
        assert!(matches!(q.next_batch(40), Next::Beyond));
        assert!(
            q.timer_owners().is_empty()
                && is_pending(&q.slots, a.seq << ENTRY_SEQ_SHIFT | a.slot as u64)
        );
        assert!(matches!(q.next_batch(60), Next::Due(50, s, _, false) if s == a.seq));
    }

    #[test]
    fn a_released_timer_is_skipped_without_reporting_its_deadline() {
        let mut q = EventQueue::default();
        let early = q.schedule(5, timer());
        let later = q.schedule(50, timer());
        q.release(early);
        assert_eq!(batches(&mut q), vec![(50, vec![later.seq])]);
    }

    #[test]
    fn a_batch_of_released_timers_is_skipped_and_the_next_deadline_stays_reachable() {
        let mut q = EventQueue::default();
        let a = q.schedule(8, timer());
        let b = q.schedule(8, timer());
        let c = q.schedule(9, timer());
        q.release(a);
        q.release(b);
        let first = match q.next_batch(u64::MAX) {
            Next::Due(d, s, _, _) => Some((d, s)),
            _ => None,
        };
        assert_eq!(first, Some((9, c.seq)));
        let d = q.schedule(9, timer());
        assert_eq!(batches(&mut q), vec![(9, vec![d.seq])]);
    }

    #[test]
    fn stale_entries_are_compacted_when_they_dominate() {
        let mut q = EventQueue::default();
        let ids: Vec<EventId> = (0..10_000).map(|i| q.schedule(i, timer())).collect();
        for id in &ids[..9_000] {
            q.release(*id);
        }
        assert!(q.queued() < 10_000, "kept {} entries", q.queued());
        let first = match q.next_batch(u64::MAX) {
            Next::Due(d, s, _, _) => Some((d, s)),
            _ => None,
        };
        assert_eq!(first, Some((9_000, ids[9_000].seq)));
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
    fn a_reused_slot_does_not_revive_a_stale_entry() {
        let mut q = EventQueue::default();
        let old = q.schedule(5, timer());
        q.release(old);
        let new = q.schedule(100, timer());
        assert_eq!(new.slot, old.slot, "the slot is reused");
        assert_eq!(batches(&mut q), vec![(100, vec![new.seq])]);
    }
}
