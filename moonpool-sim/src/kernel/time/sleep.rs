//! The simulated `sleep` future.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::{EventId, Payload};
use crate::kernel::Kernel;

/// A model's check when a sleep reaches its deadline: a later deadline to
/// wait for instead, if the model's own notion of the sleep's end has not
/// come yet (a process clock slowed down meanwhile).
pub(crate) type Recheck = Box<dyn Fn() -> Option<u64>>;

/// Completes when virtual time reaches its deadline. The deadline is fixed
/// at creation; the timer is registered on first poll (a sleep that is
/// never polled costs nothing) and released on completion or drop. In a
/// seed with buggified delays (chaos, see `docs/src/runner.md`) the timer may
/// fire later than the deadline, never earlier.
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    kernel: Rc<Kernel>,
    deadline_ns: u64,
    event: Option<EventId>,
    done: bool,
    recheck: Option<Recheck>,
}

impl Sleep {
    pub(crate) fn new(kernel: Rc<Kernel>, deadline_ns: u64) -> Sleep {
        Sleep {
            kernel,
            deadline_ns,
            event: None,
            done: false,
            recheck: None,
        }
    }

    /// A sleep until `deadline_ns` that, when it gets there, asks
    /// `recheck` whether to wait on until a later deadline.
    pub(crate) fn with_recheck(kernel: Rc<Kernel>, deadline_ns: u64, recheck: Recheck) -> Sleep {
        Sleep {
            kernel,
            deadline_ns,
            event: None,
            done: false,
            recheck: Some(recheck),
        }
    }

    /// The deadline on the simulation's true clock, in virtual nanoseconds
    /// (the process's own clock may read otherwise).
    pub fn deadline(&self) -> moonpool_core::Instant {
        moonpool_core::Instant::from_nanos(self.deadline_ns)
    }

    /// The deadline was reached: true if the sleep is over, false if it
    /// now waits for a later one (strictly in the future).
    fn reached(&mut self) -> bool {
        let later = self.recheck.as_ref().and_then(|recheck| recheck());
        match later {
            Some(at) if at > self.kernel.now_ns() => {
                self.deadline_ns = at;
                false
            }
            _ => {
                self.done = true;
                true
            }
        }
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
        if let Some(id) = self.event {
            let fired = self
                .kernel
                .events
                .borrow_mut()
                .poll_timer(id, &self.kernel, cx.waker());
            if !fired {
                return Poll::Pending;
            }
            self.event = None;
            if self.reached() {
                return Poll::Ready(());
            }
        } else {
            self.kernel.ensure_live("a sleep polled");
        }
        // No timer yet (or a recheck moved the deadline later: `reached`
        // only moves it strictly into the future, so this runs once).
        if self.kernel.now_ns() >= self.deadline_ns && self.reached() {
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
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(id) = self.event.take() {
            let payload = self.kernel.events.borrow_mut().release(id);
            drop(payload);
        }
    }
}
