//! The simulated `sleep` future.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::{EventId, Payload};
use crate::kernel::Kernel;

/// Completes when virtual time reaches its deadline. The deadline is fixed
/// at creation; the timer is registered on first poll (a sleep that is
/// never polled costs nothing) and released on completion or drop. In a
/// seed with buggified delays (chaos, see `docs/runner.md`) the timer may
/// fire later than the deadline, never earlier.
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    kernel: Rc<Kernel>,
    deadline_ns: u64,
    event: Option<EventId>,
    done: bool,
}

impl Sleep {
    pub(crate) fn new(kernel: Rc<Kernel>, deadline_ns: u64) -> Sleep {
        Sleep {
            kernel,
            deadline_ns,
            event: None,
            done: false,
        }
    }

    /// The deadline, in virtual nanoseconds.
    pub fn deadline(&self) -> moonpool_core::Instant {
        moonpool_core::Instant::from_nanos(self.deadline_ns)
    }
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline_ns", &self.deadline_ns)
            .field("done", &self.done)
            .finish()
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.done {
            return Poll::Ready(());
        }
        match self.event {
            None => {
                self.kernel.ensure_live("a sleep polled");
                if self.kernel.now_ns() >= self.deadline_ns {
                    self.done = true;
                    return Poll::Ready(());
                }
                let target = self.kernel.wake_target(cx.waker());
                let owner = self.kernel.current().map(|(task, _)| task);
                let mut deadline_ns = self.deadline_ns;
                let delay_max = self.kernel.buggified_delay_ns_max();
                if delay_max != 0 {
                    let extra = super::buggified_delay(&self.kernel, delay_max);
                    deadline_ns = deadline_ns.saturating_add(extra);
                }
                let id = self.kernel.events.borrow_mut().schedule(
                    deadline_ns,
                    Payload::Timer {
                        target: Some(target),
                        owner,
                        fired: false,
                    },
                );
                self.event = Some(id);
                Poll::Pending
            }
            Some(id) => {
                let fired =
                    self.kernel
                        .events
                        .borrow_mut()
                        .poll_timer(id, &self.kernel, cx.waker());
                if fired {
                    self.event = None;
                    self.done = true;
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(id) = self.event.take() {
            let payload = self.kernel.events.borrow_mut().release(id);
            drop(payload);
        }
    }
}
