//! Join handles of simulated tasks.
//!
//! The spawned future is wrapped in a body that writes its output into a
//! shared [`JoinSlot`]. A guard inside that body writes `Cancelled` if the
//! body is dropped before finishing (abort, handle dropped, process killed,
//! seed torn down), so a waiting joiner always wakes with an outcome.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use moonpool_core::{JoinError, JoinHandle};

use super::{TaskFuture, TaskId};
use crate::kernel::Kernel;

/// Where a task's outcome lands.
pub(crate) enum JoinSlot<T> {
    /// Still running; the waker of whoever awaits the handle.
    Running(Option<Waker>),
    /// Finished, outcome not yet taken.
    Done(Result<T, JoinError>),
    /// Outcome handed to the joiner.
    Taken,
}

/// Writes `Cancelled` into the slot if dropped before `complete`.
struct CompletionGuard<T> {
    slot: Rc<RefCell<JoinSlot<T>>>,
    completed: bool,
}

impl<T> CompletionGuard<T> {
    fn complete(mut self, outcome: Result<T, JoinError>) {
        self.completed = true;
        finish(&self.slot, outcome);
    }
}

impl<T> Drop for CompletionGuard<T> {
    fn drop(&mut self) {
        if !self.completed {
            finish(&self.slot, Err(JoinError::Cancelled));
        }
    }
}

fn finish<T>(slot: &RefCell<JoinSlot<T>>, outcome: Result<T, JoinError>) {
    let previous = std::mem::replace(&mut *slot.borrow_mut(), JoinSlot::Done(outcome));
    if let JoinSlot::Running(Some(waker)) = previous {
        waker.wake();
    }
}

/// Wraps `future` into a task body and the slot its outcome will land in.
pub(crate) fn wrap<F>(future: F) -> (TaskFuture, Rc<RefCell<JoinSlot<F::Output>>>)
where
    F: Future + 'static,
    F::Output: 'static,
{
    let slot = Rc::new(RefCell::new(JoinSlot::Running(None)));
    let guard = CompletionGuard {
        slot: Rc::clone(&slot),
        completed: false,
    };
    let body = Box::pin(async move {
        let guard = guard;
        let output = future.await;
        guard.complete(Ok(output));
    });
    (body, slot)
}

/// The simulator's [`JoinHandle`]: awaiting it yields the task's output;
/// dropping it cancels the task unless it was detached.
#[must_use = "dropping a JoinHandle cancels the task; call .detach() to let it run"]
pub struct SimJoinHandle<T> {
    task: TaskId,
    slot: Rc<RefCell<JoinSlot<T>>>,
    kernel: Weak<Kernel>,
    detached: bool,
}

impl<T> SimJoinHandle<T> {
    pub(crate) fn new(task: TaskId, slot: Rc<RefCell<JoinSlot<T>>>, kernel: Weak<Kernel>) -> Self {
        SimJoinHandle {
            task,
            slot,
            kernel,
            detached: false,
        }
    }

    /// The id of the task.
    pub fn id(&self) -> TaskId {
        self.task
    }

    fn cancel(&self) {
        if let Some(kernel) = self.kernel.upgrade() {
            kernel.cancel_task(self.task);
        }
    }
}

impl<T> std::fmt::Debug for SimJoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimJoinHandle")
            .field("task", &self.task)
            .finish()
    }
}

impl<T: 'static> Future for SimJoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        {
            let mut slot = self.slot.borrow_mut();
            match &mut *slot {
                JoinSlot::Running(waiter) => match waiter {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waiter = Some(cx.waker().clone()),
                },
                JoinSlot::Done(_) => {
                    return match std::mem::replace(&mut *slot, JoinSlot::Taken) {
                        JoinSlot::Done(outcome) => Poll::Ready(outcome),
                        _ => unreachable!("matched Done above"),
                    };
                }
                JoinSlot::Taken => return Poll::Ready(Err(JoinError::Cancelled)),
            }
        }
        // Waiting: a hang report lists the awaiting task after the one it
        // waits for.
        if let Some(kernel) = self.kernel.upgrade() {
            kernel.note_join_wait(self.task);
        }
        Poll::Pending
    }
}

// Inherent, so that a handle's methods work without importing the
// `JoinHandle` trait; the trait's methods call these.
impl<T> SimJoinHandle<T> {
    /// Lets the task run to completion on its own; its output is discarded.
    pub fn detach(mut self) {
        self.detached = true;
    }

    /// Cancels the task: its future is dropped and never polled again; a
    /// pending `await` of this handle resolves to `JoinError::Cancelled`.
    pub fn abort(&self) {
        self.cancel();
    }

    /// Whether the task has completed, been cancelled, or panicked.
    pub fn is_finished(&self) -> bool {
        !matches!(*self.slot.borrow(), JoinSlot::Running(_))
    }
}

impl<T: 'static> JoinHandle<T> for SimJoinHandle<T> {
    fn detach(self) {
        SimJoinHandle::detach(self);
    }

    fn abort(&self) {
        SimJoinHandle::abort(self);
    }

    fn is_finished(&self) -> bool {
        SimJoinHandle::is_finished(self)
    }
}

impl<T> Drop for SimJoinHandle<T> {
    fn drop(&mut self) {
        if !self.detached && matches!(*self.slot.borrow(), JoinSlot::Running(_)) {
            self.cancel();
        }
    }
}
