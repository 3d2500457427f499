//! The task waker.
//!
//! Built on std's `Wake` trait, so the vtable is std's and this file has no
//! `unsafe`. A waker is `Send + Sync` as the `Waker` contract demands, but
//! it only ever acts on the thread running its simulation: waking looks up
//! the thread's current kernel and checks it is the kernel the task
//! belongs to. A wake from anywhere else (another thread, a later seed holding a
//! stale waker) is ignored and logged, because acting on it would make the
//! execution depend on something outside the seed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Wake;

use super::TaskId;

/// The shared part of a task's waker.
pub(crate) struct TaskWaker {
    kernel_id: u64,
    task: TaskId,
    /// Set while the task's id sits in the ready queue, so repeated wakes
    /// before the next poll enqueue it once. Cleared just before the poll.
    pub(crate) queued: AtomicBool,
}

impl TaskWaker {
    /// The waker of `task` in kernel `kernel_id`; `queued`: the task's id
    /// is in (or about to be pushed onto) the ready queue.
    pub(crate) fn new(kernel_id: u64, task: TaskId, queued: bool) -> TaskWaker {
        TaskWaker {
            kernel_id,
            task,
            queued: AtomicBool::new(queued),
        }
    }
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Load-then-store rather than an atomic swap: only the simulation's
        // own thread acts on the flag (checked below), and a plain store is
        // several times cheaper than a locked exchange on this hot path.
        if self.queued.load(Ordering::Relaxed) {
            return;
        }
        let delivered = crate::kernel::with_current(|kernel| {
            if kernel.id != self.kernel_id {
                return false;
            }
            self.queued.store(true, Ordering::Relaxed);
            kernel.ready.borrow_mut().push_back(self.task);
            true
        });
        if delivered != Some(true) {
            tracing::trace!(task = %self.task, "wake outside its simulation ignored");
        }
    }
}
