//! Time: a monotonic [`Instant`] that means the same thing in both backends,
//! and the [`TimeProvider`] trait (`now`, `sleep`, `timeout`).
//!
//! An [`Instant`] is a count of nanoseconds since the provider's epoch: the
//! start of the simulation under `moonpool-sim`, the first use of the clock
//! under tokio. It is a plain `u64`, so it is `Copy`, hashable, and prints
//! the same on every run of a seed.
//!
//! Two clocks exist. [`TimeProvider::now`] is the canonical clock that drives
//! timers. [`TimeProvider::timer`] is the process's *local* clock: in
//! simulation it may drift ahead of `now` (as FoundationDB's `timer()` does),
//! so code that compares wall-clock readings across processes (leases,
//! timestamps in messages) sees skew. Timers always use the canonical clock.

use std::fmt;
use std::future::Future;
use std::ops::{Add, AddAssign, Sub};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

/// A point on a provider's monotonic clock, in nanoseconds since its epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    nanos: u64,
}

impl Instant {
    /// The epoch itself: the start of the simulation, or of the real clock.
    pub const ZERO: Instant = Instant { nanos: 0 };

    /// An instant `nanos` nanoseconds after the epoch.
    pub const fn from_nanos(nanos: u64) -> Instant {
        Instant { nanos }
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.nanos
    }

    /// Time since the epoch.
    pub const fn since_epoch(self) -> Duration {
        Duration::from_nanos(self.nanos)
    }

    /// Time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.nanos.saturating_sub(earlier.nanos))
    }

    /// `self + duration`, or `None` on overflow (after ~584 years).
    pub fn checked_add(self, duration: Duration) -> Option<Instant> {
        let add = u64::try_from(duration.as_nanos()).ok()?;
        self.nanos.checked_add(add).map(Instant::from_nanos)
    }

    /// `self + duration`, clamped to the largest representable instant.
    pub fn saturating_add(self, duration: Duration) -> Instant {
        self.checked_add(duration)
            .unwrap_or(Instant { nanos: u64::MAX })
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// Saturating: a deadline beyond the end of representable time is "never".
    fn add(self, rhs: Duration) -> Instant {
        self.saturating_add(rhs)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;

    /// Saturating, like [`Instant::saturating_duration_since`].
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Display for Instant {
    /// Seconds with microsecond precision, e.g. `12.000350s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:06}s",
            self.nanos / 1_000_000_000,
            (self.nanos % 1_000_000_000) / 1_000
        )
    }
}

/// The error of [`TimeProvider::timeout`] when the deadline passed first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("deadline elapsed")]
pub struct Elapsed;

/// Clocks and timers.
///
/// Implemented by `moonpool_sim` over virtual time and by
/// [`TokioTime`](crate::tokio_providers::TokioTime) over tokio's timer.
pub trait TimeProvider: Clone + 'static {
    /// The future returned by [`sleep`](TimeProvider::sleep). Dropping it
    /// cancels the timer: a cancelled timer never advances simulated time.
    type Sleep: Future<Output = ()> + 'static;

    /// The canonical monotonic clock.
    fn now(&self) -> Instant;

    /// This process's local clock, which in simulation may drift ahead of
    /// [`now`](TimeProvider::now). Defaults to `now`.
    fn timer(&self) -> Instant {
        self.now()
    }

    /// Completes once `duration` has passed on the canonical clock. The
    /// deadline is fixed when `sleep` is called, not when first polled.
    fn sleep(&self, duration: Duration) -> Self::Sleep;

    /// Completes at `deadline` (immediately if it has passed).
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        self.sleep(deadline.saturating_duration_since(self.now()))
    }

    /// Runs `future` with a deadline of `duration` from now.
    ///
    /// Resolves to the future's output, or [`Elapsed`] if the deadline came
    /// first (in which case `future` is dropped). If the future is ready on
    /// the same poll as the deadline, the future wins. The timer is cancelled
    /// as soon as the future completes.
    fn timeout<F: Future>(
        &self,
        duration: Duration,
        future: F,
    ) -> impl Future<Output = Result<F::Output, Elapsed>> {
        let sleep = self.sleep(duration);
        async move {
            let mut future = pin!(future);
            let mut sleep = pin!(sleep);
            std::future::poll_fn(|cx| {
                if let Poll::Ready(out) = future.as_mut().poll(cx) {
                    return Poll::Ready(Ok(out));
                }
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
                    Poll::Pending => Poll::Pending,
                }
            })
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instant_arithmetic_saturates() {
        let t = Instant::from_nanos(5);
        assert_eq!(t - Instant::from_nanos(9), Duration::ZERO);
        assert_eq!(Instant::from_nanos(9) - t, Duration::from_nanos(4));
        assert_eq!(
            (t + Duration::MAX).as_nanos(),
            u64::MAX,
            "adding an enormous duration saturates instead of wrapping"
        );
        assert_eq!(t.checked_add(Duration::MAX), None);
    }

    #[test]
    fn instant_displays_seconds_with_micros() {
        assert_eq!(
            Instant::from_nanos(12_000_350_999).to_string(),
            "12.000350s"
        );
        assert_eq!(Instant::ZERO.to_string(), "0.000000s");
    }
}
