//! Local tasks on tokio's `LocalSet`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tracing::Instrument;

use crate::task::{JoinError, JoinHandle, TaskProvider};

/// Spawns `!Send` tasks with `tokio::task::spawn_local`.
///
/// Must be used inside [`run`](super::run) (or any `LocalSet`): spawning
/// elsewhere panics, as `spawn_local` does.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioTask;

/// A tokio join handle that cancels its task when dropped (unless detached),
/// matching the simulator's handles.
#[derive(Debug)]
#[must_use = "dropping a JoinHandle cancels the task; call .detach() to let it run"]
pub struct TokioJoinHandle<T> {
    inner: Option<tokio::task::JoinHandle<T>>,
}

impl TaskProvider for TokioTask {
    type Handle<T: 'static> = TokioJoinHandle<T>;

    fn spawn<F>(&self, name: &str, future: F) -> TokioJoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let span = tracing::debug_span!("task", name = %name);
        TokioJoinHandle {
            inner: Some(tokio::task::spawn_local(future.instrument(span))),
        }
    }
}

impl<T: 'static> Future for TokioJoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(Err(JoinError::Cancelled));
        };
        Pin::new(inner).poll(cx).map(|result| {
            result.map_err(|e| {
                if e.is_panic() {
                    let payload = e.into_panic();
                    let message = payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "non-string panic payload".to_string());
                    JoinError::Panicked { message }
                } else {
                    JoinError::Cancelled
                }
            })
        })
    }
}

// Inherent, so that a handle's methods work without importing the
// `JoinHandle` trait; the trait's methods call these.
impl<T> TokioJoinHandle<T> {
    /// Lets the task run to completion on its own; its output is discarded.
    pub fn detach(mut self) {
        // Dropping a tokio handle detaches; take it so our Drop does not abort.
        self.inner.take();
    }

    /// Cancels the task; a pending `await` of this handle resolves to
    /// [`JoinError::Cancelled`].
    pub fn abort(&self) {
        if let Some(inner) = &self.inner {
            inner.abort();
        }
    }

    /// Whether the task has completed, been cancelled, or panicked.
    pub fn is_finished(&self) -> bool {
        self.inner.as_ref().is_none_or(|h| h.is_finished())
    }
}

impl<T: 'static> JoinHandle<T> for TokioJoinHandle<T> {
    fn detach(self) {
        TokioJoinHandle::detach(self);
    }

    fn abort(&self) {
        TokioJoinHandle::abort(self);
    }

    fn is_finished(&self) -> bool {
        TokioJoinHandle::is_finished(self)
    }
}

impl<T> Drop for TokioJoinHandle<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            inner.abort();
        }
    }
}
