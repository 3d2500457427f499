//! The task waker.
//!
//! Built on std's `Wake` trait, so the vtable is std's and this file has no
//! `unsafe`. A waker is `Send + Sync` as the `Waker` contract demands, but
//! it only ever acts on the thread running its simulation: waking looks up
//! the thread's current kernel and checks it is the kernel the task
//! belongs to. A wake from anywhere else (another thread, a later seed holding a
//! stale waker) is ignored and logged, because acting on it would make the
//! execution depend on something outside the seed. A wake from another OS
//! thread is also noted (see [`foreign_wakes_of`]): the seed it belongs to
//! then fails with `SeedFailure::ForeignWake` naming the task, instead of
//! hanging silently.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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
        match delivered {
            Some(true) => {}
            // Another simulation on this thread: a waker kept from an
            // earlier seed. Its seed is over; nothing to report it to.
            Some(false) => {
                tracing::trace!(task = %self.task, "wake from a later seed ignored");
            }
            // No simulation on this thread: another OS thread.
            None => note_foreign_wake(self.kernel_id, self.task),
        }
    }
}

/// Wakes from other OS threads not yet reported: (kernel id, task).
static FOREIGN_WAKES: Mutex<VecDeque<(u64, TaskId)>> = Mutex::new(VecDeque::new());
/// Whether `FOREIGN_WAKES` may hold something (one relaxed load per seed
/// when it does not).
static FOREIGN_WAKE_SEEN: AtomicBool = AtomicBool::new(false);
/// Foreign wakes kept; older ones are dropped (their seeds are likely over).
const FOREIGN_WAKES_MAX: usize = 64;

#[cold]
fn note_foreign_wake(kernel_id: u64, task: TaskId) {
    tracing::warn!(%task, "a simulated task was woken from another OS thread; ignored");
    let mut wakes = FOREIGN_WAKES.lock().unwrap_or_else(|p| p.into_inner());
    if wakes.len() >= FOREIGN_WAKES_MAX {
        wakes.pop_front();
    }
    wakes.push_back((kernel_id, task));
    FOREIGN_WAKE_SEEN.store(true, Ordering::Release);
}

/// Takes the first wake from another OS thread of a task of kernel
/// `kernel_id` (dropping the others of that kernel), if there was one.
pub(crate) fn foreign_wakes_of(kernel_id: u64) -> Option<TaskId> {
    if !FOREIGN_WAKE_SEEN.load(Ordering::Acquire) {
        return None;
    }
    let mut wakes = FOREIGN_WAKES.lock().unwrap_or_else(|p| p.into_inner());
    let first = wakes.iter().find(|(k, _)| *k == kernel_id).map(|(_, t)| *t);
    wakes.retain(|(k, _)| *k != kernel_id);
    first
}
