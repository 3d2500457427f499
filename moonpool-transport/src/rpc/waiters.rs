//! Wakeups for several consumers of one queue (a request stream).
//!
//! `WaitList` keeps the consumers waiting for an item, in arrival order.
//! Each new item wakes **one** of them (the longest waiting), which takes
//! it out of the line; a consumer that was woken but went away without
//! taking an item (its future was dropped, e.g. by a `select`) passes the
//! wakeup on to the next in line, so no item is left with everybody
//! asleep. Consumers that poll without an identity (`poll_next(cx)`) are
//! kept apart and woken on every item (they cannot pass a wakeup on).
//!
//! `WaitSlot` is one consumer's registration; dropping it hands a pending
//! wakeup on.
//!
//! Invariants: a consumer id is in `waiting` at most once; ids only grow,
//! so the line is ordered by arrival (a re-registering consumer keeps its
//! id and its place); no waker is called while the list is borrowed; the
//! identity-less list is deduplicated, so it holds at most one waker per
//! distinct polling task.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::Waker;

#[derive(Default)]
struct Lists {
    next_id: u64,
    /// Waiting consumers, ordered by id (a deque: usually one or two).
    waiting: VecDeque<(u64, Waker)>,
    pollers: Vec<Waker>,
}

impl Lists {
    fn position(&self, id: u64) -> Option<usize> {
        self.waiting.iter().position(|(i, _)| *i == id)
    }

    fn remove(&mut self, id: u64) -> bool {
        match self.position(id) {
            Some(at) => {
                self.waiting.remove(at);
                true
            }
            None => false,
        }
    }
}

/// Consumers waiting for items.
#[derive(Default)]
pub(crate) struct WaitList {
    lists: RefCell<Lists>,
}

impl WaitList {
    /// A new item arrived: wakes the longest-waiting consumer, and every
    /// identity-less poller.
    pub(crate) fn notify_one(&self) {
        let (first, pollers) = {
            let mut l = self.lists.borrow_mut();
            let first = l.waiting.pop_front().map(|(_, w)| w);
            let pollers = if l.pollers.is_empty() {
                Vec::new()
            } else {
                std::mem::take(&mut l.pollers)
            };
            (first, pollers)
        };
        if let Some(w) = first {
            w.wake();
        }
        for w in pollers {
            w.wake();
        }
    }

    /// The queue closed: wakes everybody.
    pub(crate) fn notify_all(&self) {
        let (waiting, pollers) = {
            let mut l = self.lists.borrow_mut();
            (
                std::mem::take(&mut l.waiting),
                std::mem::take(&mut l.pollers),
            )
        };
        for w in waiting.into_iter().map(|(_, w)| w).chain(pollers) {
            w.wake();
        }
    }

    /// Registers an identity-less poller, woken on the next item.
    pub(crate) fn add_poller(&self, waker: &Waker) {
        let mut l = self.lists.borrow_mut();
        if !l.pollers.iter().any(|w| w.will_wake(waker)) {
            l.pollers.push(waker.clone());
        }
    }
}

/// One consumer's place in a [`WaitList`]. Dropping it while holding an
/// unused wakeup passes the wakeup to the next consumer in line.
#[doc(hidden)]
#[derive(Default)]
pub struct WaitSlot {
    reg: Option<(Rc<WaitList>, u64)>,
}

impl WaitSlot {
    /// Waits in `list` (keeping its place if it waited before).
    pub(crate) fn register(&mut self, list: &Rc<WaitList>, waker: &Waker) {
        let mut l = list.lists.borrow_mut();
        let id = match &self.reg {
            Some((mine, id)) if Rc::ptr_eq(mine, list) => *id,
            _ => {
                let id = l.next_id;
                l.next_id += 1;
                drop(l);
                self.reg = Some((list.clone(), id));
                l = list.lists.borrow_mut();
                id
            }
        };
        match l.position(id) {
            Some(at) => {
                let w = &mut l.waiting[at].1;
                if !w.will_wake(waker) {
                    *w = waker.clone();
                }
            }
            None => {
                // Back in line at its place (ids only grow).
                let at = l.waiting.partition_point(|(i, _)| *i < id);
                l.waiting.insert(at, (id, waker.clone()));
            }
        }
    }

    /// The consumer took an item (or the queue ended): it no longer waits,
    /// and any wakeup it got was used.
    pub(crate) fn done(&mut self) {
        if let Some((list, id)) = self.reg.take() {
            list.lists.borrow_mut().remove(id);
        }
    }
}

impl Drop for WaitSlot {
    fn drop(&mut self) {
        if let Some((list, id)) = self.reg.take() {
            let was_waiting = list.lists.borrow_mut().remove(id);
            if !was_waiting {
                // Woken for an item it never took: the next one takes over.
                list.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Count(AtomicUsize);
    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        let w = Waker::from(c.clone());
        (c, w)
    }

    #[test]
    fn each_item_wakes_one_waiter_in_arrival_order() {
        let list = Rc::new(WaitList::default());
        let (a, wa) = counter();
        let (b, wb) = counter();
        let (mut sa, mut sb) = (WaitSlot::default(), WaitSlot::default());
        sa.register(&list, &wa);
        sb.register(&list, &wb);
        list.notify_one();
        assert_eq!(
            (a.0.load(Ordering::Relaxed), b.0.load(Ordering::Relaxed)),
            (1, 0)
        );
        list.notify_one();
        assert_eq!(
            (a.0.load(Ordering::Relaxed), b.0.load(Ordering::Relaxed)),
            (1, 1)
        );
        sa.done();
        sb.done();
    }

    #[test]
    fn a_woken_consumer_that_leaves_passes_the_wakeup_on() {
        let list = Rc::new(WaitList::default());
        let (a, wa) = counter();
        let (b, wb) = counter();
        let mut sa = WaitSlot::default();
        let mut sb = WaitSlot::default();
        sa.register(&list, &wa);
        sb.register(&list, &wb);
        list.notify_one();
        assert_eq!(a.0.load(Ordering::Relaxed), 1);
        drop(sa);
        assert_eq!(b.0.load(Ordering::Relaxed), 1, "the wakeup was lost");
        sb.done();
    }

    #[test]
    fn a_consumer_that_leaves_unwoken_wakes_nobody() {
        let list = Rc::new(WaitList::default());
        let (_a, wa) = counter();
        let (b, wb) = counter();
        let mut sa = WaitSlot::default();
        let mut sb = WaitSlot::default();
        sa.register(&list, &wa);
        sb.register(&list, &wb);
        drop(sa);
        assert_eq!(b.0.load(Ordering::Relaxed), 0);
        sb.done();
    }
}
