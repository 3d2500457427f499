//! Real time over tokio's timer.

use std::sync::OnceLock;
use std::time::Duration;

use crate::time::{Instant, TimeProvider};

/// The process-wide origin of real [`Instant`]s: the first clock reading.
fn epoch() -> std::time::Instant {
    static EPOCH: OnceLock<std::time::Instant> = OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

/// Real monotonic time; timers are tokio's.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioTime;

impl TimeProvider for TokioTime {
    type Sleep = tokio::time::Sleep;

    fn now(&self) -> Instant {
        // u64 nanoseconds last 584 years from the first reading.
        Instant::from_nanos(epoch().elapsed().as_nanos() as u64)
    }

    fn sleep(&self, duration: Duration) -> tokio::time::Sleep {
        tokio::time::sleep(duration)
    }
}
