//! Tasks: spawning named local tasks, joining them, cancelling them.
//!
//! The model is FoundationDB's: one thread per process, cooperative tasks
//! (actors) that need not be `Send`. A task's [`JoinHandle`] *owns* the task:
//! dropping the handle cancels the task (its future is dropped at once and
//! never polled again), which keeps background work from outliving the code
//! that started it. Call [`JoinHandle::detach`] to let a task run on its own.
//!
//! Cancellation is cooperative in the sense that a task only stops at an
//! `.await` point, and it is immediate in the sense that after `abort` (or
//! the handle's drop) returns, the task is never polled again.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Why a task produced no output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// The task was aborted, its handle dropped, or its process killed.
    #[error("task was cancelled")]
    Cancelled,
    /// The task panicked. (Under simulation a panic fails the whole seed
    /// instead, so this is only seen with real providers.)
    #[error("task panicked: {message}")]
    Panicked {
        /// The panic payload, if it was a string.
        message: String,
    },
}

/// A handle to a spawned task; awaiting it yields the task's output.
///
/// Dropping the handle cancels the task unless it was [detached](Self::detach).
pub trait JoinHandle<T>: Future<Output = Result<T, JoinError>> + Unpin + 'static {
    /// Lets the task run to completion on its own; its output is discarded.
    fn detach(self);

    /// Cancels the task. Its future is dropped and never polled again; a
    /// pending `await` of this handle resolves to [`JoinError::Cancelled`].
    fn abort(&self);

    /// Whether the task has completed, been cancelled, or panicked.
    fn is_finished(&self) -> bool;
}

/// Spawning and yielding.
pub trait TaskProvider: Clone + 'static {
    /// The handle type returned by [`spawn`](TaskProvider::spawn).
    type Handle<T: 'static>: JoinHandle<T>;

    /// Spawns `future` as a new task of the current process. `name` shows up
    /// in traces and in the simulator's stuck-task reports.
    ///
    /// The returned handle cancels the task when dropped; see
    /// [`JoinHandle::detach`].
    #[must_use = "dropping a JoinHandle cancels the task; call .detach() to let it run"]
    fn spawn<F>(&self, name: &str, future: F) -> Self::Handle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static;

    /// Gives other ready tasks a chance to run before this one continues.
    fn yield_now(&self) -> YieldNow {
        YieldNow { yielded: false }
    }
}

/// The future of [`TaskProvider::yield_now`]: pending once, after waking itself.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
